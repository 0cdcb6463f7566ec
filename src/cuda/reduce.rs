//! Row reductions, arg-extremes and row scans on a GPU (`Backend::{reduce, arg_reduce,
//! scan}`), with the CPU backend's results (`crate::cpu::reduce`): the kernels are in
//! `kernels/reduce.cu` and `kernels/scan.cu`.
//!
//! The op layer hands over a layout whose first dims are the kept ones (`rows` in all) and
//! whose last dims are reduced (`len`). When the reduced dims merge into one stride, the
//! kernels read the input in place: row `r`'s element `j` at `base(r) + j·cs`, `base` from
//! the kept dims (any strides, merged where they allow). Otherwise the view is made
//! contiguous first (one strided copy).
//!
//! How the work is spread (see the head of `reduce.cu`): a block takes tiles of rows, with
//! as many threads per row as the row's length calls for — a thread per row for short rows,
//! a whole block for long ones — and the threads of a tile map to (row, lane) so that
//! neighbouring threads read neighbouring addresses: along the row when it is contiguous,
//! across rows when the rows are the closer neighbours (a reduction over leading dims, e.g.
//! a bias gradient, which for `Sum` on a contiguous tensor goes to the `sum_cols` kernel as
//! the CPU backend's `sum_leading` does). When there are too few tiles to fill the GPU (a
//! full `x.sum()`), each row is cut into parts reduced by different blocks, and a second
//! launch reduces the parts' partial results (kept in the arithmetic type: float32 for the
//! 16-bit types), as PyTorch's reductions split a long row over blocks. `var` and
//! `logsumexp`, which read each row twice, and softmax keep a row in one block. A long
//! cumsum is cut the same way: partial sums of the parts, their scan, then each part scanned
//! from its carry.
//!
//! Floating-point results can differ from the CPU's in the last bits: the tree combines
//! terms in another order than the CPU's pairwise and sequential sums.

use super::buffer::CudaBuffer;
use super::device::{grid_for, Args, DeviceApi, Dims, Kernel, View, MAX_DIMS};
use super::elementwise;
use super::kernels::{self, REDUCE, SCAN};
use crate::backend::{ReduceOp, ScanOp, Span};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Scalar};
use crate::tensor::layout::{coalesce, Layout};

/// Kernel flag: the input is partial results in the arithmetic type (contiguous rows).
const IN_ACC: i32 = 1;
/// Kernel flag: write partial results in the arithmetic type.
const OUT_ACC: i32 = 2;
/// Consecutive elements one lane of the cumsum kernel takes per round (`RT_SCAN_K`).
const SCAN_K: usize = 4;

/// How launches are sized.
#[derive(Clone, Copy, Debug)]
struct Tuning {
    /// Threads per block (a power of two, at most 1024).
    block: usize,
    /// Blocks that fill the device: rows are cut into parts until there are this many items.
    target_blocks: usize,
    /// The fewest elements worth a block of their own when a row is cut into parts.
    min_work: usize,
}

impl Tuning {
    /// 512-thread blocks (the most the streaming kernels of `reduce.cu` declare) and six
    /// blocks' worth of items per multiprocessor: a whole number of waves both for the
    /// register-bounded value kernels (three resident blocks) and the others (two).
    fn for_device(dev: &dyn DeviceApi) -> Tuning {
        Tuning {
            block: 512,
            target_blocks: dev.sm_count().max(1) as usize * 6,
            min_work: 16 * 1024,
        }
    }
    /// The grid for `items` work items (the kernels loop over any excess).
    fn grid(&self, items: usize) -> u32 {
        items.clamp(1, self.target_blocks * 8) as u32
    }
}

/// A `rows × len` view: row `r`'s element `j` at `base(r) + j·cs`, where `base(r)` is the
/// offset of index `r` of the kept dims (`nk` dims of sizes `ks`, strides and offset `kv`).
#[derive(Clone, Debug)]
struct RowsView {
    rows: usize,
    len: usize,
    nk: i32,
    ks: Dims,
    kv: View,
    cs: i64,
    /// Neighbouring rows are closer in memory than neighbouring elements of a row.
    row_fast: bool,
    /// The view is a contiguous `len × rows` block (reduction over leading dims).
    leading: bool,
}

impl RowsView {
    /// Contiguous rows of `len` elements (a packed copy, or partial results).
    fn contiguous(rows: usize, len: usize) -> RowsView {
        let mut ks = Dims::default();
        let mut kv = View::default();
        ks.v[0] = rows as i64;
        kv.strides.v[0] = len as i64;
        RowsView {
            rows,
            len,
            nk: 1,
            ks,
            kv,
            cs: 1,
            row_fast: false,
            leading: false,
        }
    }

    /// The row arguments every row kernel takes, in order: rows, len, nk, ks, kv, cs, lanes,
    /// row_fast.
    fn push(&self, args: &mut Args, lanes: usize) {
        args.arg(self.rows as i64)
            .arg(self.len as i64)
            .arg(self.nk)
            .arg(self.ks)
            .arg(self.kv)
            .arg(self.cs)
            .arg(lanes as i32)
            .arg(i32::from(self.row_fast));
    }
}

/// The view of `x` under `l` as `rows × len` rows (both nonzero), reading `x` in place when
/// the reduced dims merge into one stride, else from a contiguous copy (returned with the
/// view: the buffer to read).
fn rows_view(
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
) -> Result<(RowsView, Option<CudaBuffer>)> {
    let mut prod = 1usize;
    let split = (0..=l.shape.len()).find(|&k| {
        if k > 0 {
            prod *= l.shape[k - 1];
        }
        prod == rows
    });
    let Some(k) = split.filter(|_| rows * len == l.numel()) else {
        return Err(Error::Runtime(format!(
            "internal error: a {rows} × {len} reduction of a view of shape {:?}",
            l.shape
        )));
    };
    let (kshape, [kstrides]) = coalesce(&l.shape[..k], [&l.strides[..k]]);
    let (rshape, [rstrides]) = coalesce(&l.shape[k..], [&l.strides[k..]]);
    if rshape.len() > 1 || kshape.len() > MAX_DIMS {
        let packed = elementwise::cast(x, l, x.dtype())?;
        return Ok((RowsView::contiguous(rows, len), Some(packed)));
    }
    let cs = rstrides.first().map_or(1, |&s| s as i64);
    let mut ks = Dims::default();
    let mut kv = View {
        offset: l.offset as i64,
        ..View::default()
    };
    for (d, (&s, &st)) in kshape.iter().zip(&kstrides).enumerate() {
        ks.v[d] = s as i64;
        kv.strides.v[d] = st as i64;
    }
    let inner = kstrides.last().map(|&s| s as i64);
    Ok((
        RowsView {
            rows,
            len,
            nk: kshape.len() as i32,
            ks,
            kv,
            cs,
            row_fast: inner.is_some_and(|s| s.unsigned_abs() < cs.unsigned_abs()),
            leading: rows >= 2 && kshape.len() == 1 && inner == Some(1) && cs == rows as i64,
        },
        None,
    ))
}

/// The shape of one launch over a [`RowsView`]: threads per row (`lanes`), and each row cut
/// into `parts` runs of `chunk` elements; `items` = tiles × parts.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Plan {
    lanes: usize,
    parts: usize,
    chunk: usize,
    items: usize,
}

/// Plans a launch over `v`: a lane takes at least `unit` elements of a row, and rows are
/// cut into parts (when `split`) until the tiles and parts make `target_blocks` items, each
/// of at least `min_work` elements.
fn plan(t: &Tuning, v: &RowsView, unit: usize, split: bool) -> Plan {
    let b = t.block;
    let lanes_for = |n: usize| n.div_ceil(unit).next_power_of_two().clamp(1, b);
    let (mut lanes, w) = if v.row_fast {
        let w = v.rows.next_power_of_two().clamp(1, b);
        (b / w, w)
    } else {
        let l = lanes_for(v.len);
        (l, b / l)
    };
    let tiles = v.rows.div_ceil(w);
    let mut parts = 1;
    let mut chunk = v.len.max(1);
    if split && tiles < t.target_blocks {
        let by_work = w.min(v.rows) * v.len / t.min_work.max(1);
        parts = t.target_blocks.div_ceil(tiles).min(by_work).max(1);
        if parts > 1 {
            // Whole 64-element runs keep every part's start 16-byte aligned when the row is.
            chunk = v.len.div_ceil(parts).next_multiple_of(64);
            parts = v.len.div_ceil(chunk);
            if !v.row_fast {
                lanes = lanes_for(chunk);
            }
        }
    }
    let tiles = v.rows.div_ceil(b / lanes);
    Plan {
        lanes,
        parts,
        chunk,
        items: tiles * parts,
    }
}

/// Elements a lane of a folding kernel should take at least: two 16-byte vectors when the
/// rows are contiguous, four loads otherwise.
fn fold_unit(v: &RowsView, dtype: DType) -> usize {
    if v.cs == 1 {
        2 * (16 / dtype.size())
    } else {
        4
    }
}

/// The type partial results are kept in: float32 for the 16-bit types.
fn acc_dtype(d: DType) -> DType {
    if d.is_half() {
        DType::F32
    } else {
        d
    }
}

fn not_implemented(kernel: &str, d: DType) -> Error {
    Error::NotImplemented(format!(
        "\"{kernel}_cuda\" not implemented for '{}'",
        d.scalar_name()
    ))
}

fn kernel(file: &'static kernels::KernelFile, name: &'static str) -> Kernel {
    Kernel { file, name }
}

/// One value per row (bool for `All`/`Any`, else the input's dtype).
pub fn reduce(
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    op: ReduceOp,
) -> Result<CudaBuffer> {
    reduce_with(&Tuning::for_device(x.dev().as_ref()), x, l, rows, len, op)
}

fn reduce_with(
    t: &Tuning,
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    op: ReduceOp,
) -> Result<CudaBuffer> {
    let dtype = x.dtype();
    if !kernels::reduce_dtypes(op).contains(&dtype) {
        return Err(not_implemented(op.kernel(), dtype));
    }
    let dev = x.dev();
    let out_dtype = match op {
        ReduceOp::All | ReduceOp::Any => DType::Bool,
        _ => dtype,
    };
    if rows == 0 {
        return CudaBuffer::alloc(dev, 0, out_dtype);
    }
    if len == 0 {
        let identity = match op {
            ReduceOp::Sum => Scalar::Int(0),
            ReduceOp::Prod => Scalar::Int(1),
            ReduceOp::All => Scalar::Bool(true),
            ReduceOp::Any => Scalar::Bool(false),
            ReduceOp::Var { .. } => Scalar::Float(f64::NAN),
            ReduceOp::LogSumExp => Scalar::Float(f64::NEG_INFINITY),
            ReduceOp::Max | ReduceOp::Min => {
                return Err(Error::Index(format!(
                    "{}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.",
                    if op == ReduceOp::Max { "max" } else { "min" }
                )))
            }
        };
        return elementwise::full(dev, rows, out_dtype, identity);
    }
    let (v, packed) = rows_view(x, l, rows, len)?;
    let src = packed.as_ref().unwrap_or(x);
    let out = CudaBuffer::alloc(dev, rows, out_dtype)?;
    match op {
        ReduceOp::Var { .. } | ReduceOp::LogSumExp => {
            // Whole rows in one block: the second pass over a row needs the first's result.
            let p = plan(t, &v, fold_unit(&v, dtype), false);
            let mut args = Args::new();
            args.arg(out.device_ptr()).arg(src.device_ptr());
            v.push(&mut args, p.lanes);
            if let ReduceOp::Var { correction } = op {
                args.arg(correction);
            }
            dev.launch(
                kernel(&REDUCE, op.kernel()),
                dtype,
                t.grid(p.items),
                t.block as u32,
                &mut args,
            )?;
        }
        _ => reduce_parts(t, src, &v, op, &out)?,
    }
    Ok(out)
}

/// Launches one pass of a partable reduction kernel (`<op>_rows`, or `sum_cols` for a
/// `leading` view) of `x` as `v` into `out`.
#[allow(clippy::too_many_arguments)]
fn launch_pass(
    t: &Tuning,
    name: &'static str,
    dtype: DType,
    out: u64,
    x: &CudaBuffer,
    v: &RowsView,
    p: &Plan,
    flags: i32,
) -> Result<()> {
    let mut args = Args::new();
    args.arg(out).arg(x.device_ptr());
    if name == "sum_cols" {
        args.arg(v.kv.offset)
            .arg(v.rows as i64)
            .arg(v.len as i64)
            .arg(p.lanes as i32);
    } else {
        v.push(&mut args, p.lanes);
    }
    args.arg(p.parts as i64).arg(p.chunk as i64).arg(flags);
    x.dev().launch(
        kernel(&REDUCE, name),
        dtype,
        t.grid(p.items),
        t.block as u32,
        &mut args,
    )
}

/// Sum, prod, max, min, all, any: one pass, or two when the rows are cut into parts (the
/// partials are reduced by the same kernel; for all/any by its bool instantiation).
fn reduce_parts(
    t: &Tuning,
    x: &CudaBuffer,
    v: &RowsView,
    op: ReduceOp,
    out: &CudaBuffer,
) -> Result<()> {
    let dtype = x.dtype();
    let name = if op == ReduceOp::Sum && v.leading {
        "sum_cols"
    } else {
        op.kernel()
    };
    let p = plan(t, v, fold_unit(v, dtype), true);
    if p.parts == 1 {
        return launch_pass(t, name, dtype, out.device_ptr(), x, v, &p, 0);
    }
    let logical = matches!(op, ReduceOp::All | ReduceOp::Any);
    let (pdtype, pflags) = if logical {
        (DType::Bool, 0)
    } else {
        (acc_dtype(dtype), OUT_ACC)
    };
    let partial = CudaBuffer::alloc(x.dev(), v.rows * p.parts, pdtype)?;
    launch_pass(t, name, dtype, partial.device_ptr(), x, v, &p, pflags)?;
    let pv = RowsView::contiguous(v.rows, p.parts);
    let p2 = plan(t, &pv, fold_unit(&pv, pdtype), false);
    let (dtype2, flags2) = if logical {
        (DType::Bool, 0)
    } else {
        (dtype, IN_ACC)
    };
    launch_pass(
        t,
        op.kernel(),
        dtype2,
        out.device_ptr(),
        &partial,
        &pv,
        &p2,
        flags2,
    )
}

/// Each row's max (or min) and its int64 index: NaN wins (the first one), else the first of
/// equal extremes, as the CPU's `arg_extreme_rows`.
pub fn arg_reduce(
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    max: bool,
) -> Result<(CudaBuffer, CudaBuffer)> {
    arg_reduce_with(&Tuning::for_device(x.dev().as_ref()), x, l, rows, len, max)
}

fn arg_reduce_with(
    t: &Tuning,
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    max: bool,
) -> Result<(CudaBuffer, CudaBuffer)> {
    let dtype = x.dtype();
    let what = if max { "max" } else { "min" };
    if !kernels::NUMERIC.contains(&dtype) {
        return Err(not_implemented(what, dtype));
    }
    let dev = x.dev();
    if rows == 0 {
        return Ok((
            CudaBuffer::alloc(dev, 0, dtype)?,
            CudaBuffer::alloc(dev, 0, DType::I64)?,
        ));
    }
    if len == 0 {
        return Err(Error::Index(format!(
            "{what}(): Expected reduction dim to have non-zero size."
        )));
    }
    let (v, packed) = rows_view(x, l, rows, len)?;
    let src = packed.as_ref().unwrap_or(x);
    let name = if max { "argmax_rows" } else { "argmin_rows" };
    let launch = |out_v: &CudaBuffer,
                  out_i: &CudaBuffer,
                  x: &CudaBuffer,
                  x_i: u64,
                  v: &RowsView,
                  p: &Plan,
                  flags: i32| {
        let mut args = Args::new();
        args.arg(out_v.device_ptr())
            .arg(out_i.device_ptr())
            .arg(x.device_ptr())
            .arg(x_i);
        v.push(&mut args, p.lanes);
        args.arg(p.parts as i64).arg(p.chunk as i64).arg(flags);
        dev.launch(
            kernel(&REDUCE, name),
            dtype,
            t.grid(p.items),
            t.block as u32,
            &mut args,
        )
    };
    let values = CudaBuffer::alloc(dev, rows, dtype)?;
    let indices = CudaBuffer::alloc(dev, rows, DType::I64)?;
    let p = plan(t, &v, fold_unit(&v, dtype), true);
    if p.parts == 1 {
        launch(&values, &indices, src, 0, &v, &p, 0)?;
    } else {
        let pdtype = acc_dtype(dtype);
        let pv_buf = CudaBuffer::alloc(dev, rows * p.parts, pdtype)?;
        let pi_buf = CudaBuffer::alloc(dev, rows * p.parts, DType::I64)?;
        launch(&pv_buf, &pi_buf, src, 0, &v, &p, OUT_ACC)?;
        let pv = RowsView::contiguous(rows, p.parts);
        let p2 = plan(t, &pv, fold_unit(&pv, pdtype), false);
        launch(
            &values,
            &indices,
            &pv_buf,
            pi_buf.device_ptr(),
            &pv,
            &p2,
            IN_ACC,
        )?;
    }
    Ok((values, indices))
}

/// The row arguments of the one-thread-per-row kernels (cumprod, logcumsumexp, cummax,
/// cummin): rows, len, nk, ks, kv, cs.
fn push_row_walk(args: &mut Args, v: &RowsView) {
    args.arg(v.rows as i64)
        .arg(v.len as i64)
        .arg(v.nk)
        .arg(v.ks)
        .arg(v.kv)
        .arg(v.cs);
}

/// Each row's running max (or min) and the int64 index it came from, contiguous `rows ×
/// len`, as the CPU's `cum_extreme_rows` (one thread per row: see `scan.cu`).
pub fn arg_scan(
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    max: bool,
) -> Result<(CudaBuffer, CudaBuffer)> {
    let dtype = x.dtype();
    let name = if max { "cummax_rows" } else { "cummin_rows" };
    if !kernels::has_kernel(&SCAN, name, dtype) {
        return Err(not_implemented(
            if max { "cummax" } else { "cummin" },
            dtype,
        ));
    }
    let dev = x.dev();
    let values = CudaBuffer::alloc(dev, rows * len, dtype)?;
    let indices = CudaBuffer::alloc(dev, rows * len, DType::I64)?;
    if rows == 0 || len == 0 {
        return Ok((values, indices));
    }
    let (v, packed) = rows_view(x, l, rows, len)?;
    let src = packed.as_ref().unwrap_or(x);
    let mut args = Args::new();
    args.arg(values.device_ptr())
        .arg(indices.device_ptr())
        .arg(src.device_ptr());
    push_row_walk(&mut args, &v);
    let (grid, block) = grid_for(dev.as_ref(), rows);
    dev.launch(kernel(&SCAN, name), dtype, grid, block, &mut args)?;
    Ok((values, indices))
}

/// Each row mapped to a row (softmax, log-softmax, cumsum), contiguous `rows × len`.
pub fn scan(x: &CudaBuffer, l: &Layout, rows: usize, len: usize, op: ScanOp) -> Result<CudaBuffer> {
    scan_with(&Tuning::for_device(x.dev().as_ref()), x, l, rows, len, op)
}

fn scan_with(
    t: &Tuning,
    x: &CudaBuffer,
    l: &Layout,
    rows: usize,
    len: usize,
    op: ScanOp,
) -> Result<CudaBuffer> {
    let dtype = x.dtype();
    if !kernels::scan_dtypes(op).contains(&dtype) {
        return Err(not_implemented(op.kernel(), dtype));
    }
    let dev = x.dev();
    let out = CudaBuffer::alloc(dev, rows * len, dtype)?;
    if rows == 0 || len == 0 {
        return Ok(out);
    }
    let (v, packed) = rows_view(x, l, rows, len)?;
    let src = packed.as_ref().unwrap_or(x);
    if matches!(op, ScanOp::Cumprod | ScanOp::LogCumSumExp) {
        let mut args = Args::new();
        args.arg(out.device_ptr()).arg(src.device_ptr());
        push_row_walk(&mut args, &v);
        let (grid, block) = grid_for(dev.as_ref(), rows);
        dev.launch(kernel(&SCAN, op.kernel()), dtype, grid, block, &mut args)?;
        return Ok(out);
    }
    if op != ScanOp::Cumsum {
        // A row's three passes (max, sum, output) stay in one block.
        let p = plan(t, &v, fold_unit(&v, dtype), false);
        let mut args = Args::new();
        args.arg(out.device_ptr()).arg(src.device_ptr());
        v.push(&mut args, p.lanes);
        dev.launch(
            kernel(&SCAN, op.kernel()),
            dtype,
            t.grid(p.items),
            t.block as u32,
            &mut args,
        )?;
        return Ok(out);
    }
    let cumsum = |out: u64, x: &CudaBuffer, v: &RowsView, p: &Plan, carry: u64, flags: i32| {
        let mut args = Args::new();
        args.arg(out).arg(x.device_ptr());
        v.push(&mut args, p.lanes);
        args.arg(p.parts as i64)
            .arg(p.chunk as i64)
            .arg(carry)
            .arg(flags);
        dev.launch(
            kernel(&SCAN, "cumsum_rows"),
            dtype,
            t.grid(p.items),
            t.block as u32,
            &mut args,
        )
    };
    let p = plan(t, &v, SCAN_K, true);
    if p.parts == 1 {
        cumsum(out.device_ptr(), src, &v, &p, 0, 0)?;
        return Ok(out);
    }
    // Long rows in parts: the parts' sums, their inclusive scan (the carries), the parts.
    let pdtype = acc_dtype(dtype);
    let sums = CudaBuffer::alloc(dev, rows * p.parts, pdtype)?;
    launch_pass(
        t,
        "sum_rows",
        dtype,
        sums.device_ptr(),
        src,
        &v,
        &p,
        OUT_ACC,
    )?;
    let carries = CudaBuffer::alloc(dev, rows * p.parts, pdtype)?;
    let pv = RowsView::contiguous(rows, p.parts);
    let p2 = plan(t, &pv, SCAN_K, false);
    cumsum(carries.device_ptr(), &sums, &pv, &p2, 0, IN_ACC | OUT_ACC)?;
    cumsum(out.device_ptr(), src, &v, &p, carries.device_ptr(), 0)?;
    Ok(out)
}

/// The input gradient of softmax (or log-softmax) over rows of `len`, from its output `y`
/// and that output's gradient `g` (contiguous runs of one length and dtype); one block per
/// row, as wide as the row.
pub fn softmax_backward(
    y: Span<'_, CudaBuffer>,
    g: Span<'_, CudaBuffer>,
    len: usize,
    log: bool,
) -> Result<CudaBuffer> {
    let dtype = y.buf.dtype();
    let name = if log {
        "log_softmax_backward_rows"
    } else {
        "softmax_backward_rows"
    };
    if !kernels::has_kernel(&SCAN, name, dtype) {
        return Err(not_implemented(name, dtype));
    }
    if g.len != y.len || g.buf.dtype() != dtype {
        return Err(Error::Runtime(format!(
            "softmax_backward: expected a gradient of {} elements of {}, got {} of {}",
            y.len,
            dtype.name(),
            g.len,
            g.buf.dtype().name()
        )));
    }
    let dev = y.buf.dev();
    let out = CudaBuffer::alloc(dev, y.len, dtype)?;
    let rows = y.len.checked_div(len).unwrap_or(0);
    if rows == 0 {
        return Ok(out);
    }
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(y.buf.ptr_at(y.offset))
        .arg(g.buf.ptr_at(g.offset))
        .arg(rows as i64)
        .arg(len as i64);
    let block = len.next_power_of_two().clamp(32, 1024) as u32;
    let grid = rows.min(dev.sm_count() as usize * 32).max(1) as u32;
    dev.launch(kernel(&SCAN, name), dtype, grid, block, &mut args)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
