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
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::{Backend, HostBuffer};
    use crate::cpu::Cpu;
    use crate::tensor::dtype::Element;
    use parking_lot::Mutex;
    use std::sync::Arc;

    /// The host harness keeps a kernel's `__shared__` arrays and its barrier in statics of
    /// the loaded library, so two launches of the same kernel file must not overlap: these
    /// tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// The device's own sizing (the harness shrinks the launches to 16-thread blocks), and
    /// a small one that cuts even short rows into parts and gives lanes of 16, so the
    /// two-pass paths run on the test sizes.
    fn tunings(dev: &Arc<dyn DeviceApi>) -> [Tuning; 2] {
        [
            Tuning::for_device(dev.as_ref()),
            Tuning {
                block: 16,
                target_blocks: 8,
                min_work: 64,
            },
        ]
    }

    /// Float tolerance of a reduction over `len` elements: the tree adds in another order
    /// than the CPU's pairwise / sequential sums, each rounding by up to ~len·eps of the
    /// row's absolute sum (the inputs are in [-3, 3), so relative to the result it scales
    /// with len). The 16-bit types accumulate in float32 on both sides and differ by one
    /// rounding of the result at most.
    fn red_tol(dtype: DType, len: usize) -> f64 {
        let n = len.max(2) as f64;
        match dtype {
            DType::F32 => 1e-6 * n,
            DType::F64 => 1e-14 * n,
            d => tol(d),
        }
    }

    /// `l` reduced over `red` as the op layer arranges it: (permuted layout, rows, len).
    fn arrange(l: &Layout, red: &[usize]) -> (Layout, usize, usize) {
        let kept: Vec<usize> = (0..l.ndim()).filter(|d| !red.contains(d)).collect();
        let order: Vec<i64> = kept.iter().chain(red).map(|&d| d as i64).collect();
        let rows = kept.iter().map(|&d| l.shape[d]).product();
        let len = red.iter().map(|&d| l.shape[d]).product();
        (l.permute(&order).unwrap(), rows, len)
    }

    /// A case: its name, the arranged layout, rows, len, and the buffer length it needs.
    struct Case {
        name: String,
        l: Layout,
        rows: usize,
        len: usize,
        n: usize,
    }

    fn case(name: &str, l: Layout, red: &[usize]) -> Case {
        let n = l.storage_span().1.max(1);
        let (l, rows, len) = arrange(&l, red);
        Case {
            name: format!("{name} {:?}/{:?}+{}", l.shape, l.strides, l.offset),
            l,
            rows,
            len,
            n,
        }
    }

    /// Row-major layouts (lane-fast), leading-dim reductions (row-fast, `sum_cols`), strided,
    /// permuted, broadcast, unmergeable (packed first), long rows, empty ones.
    fn cases() -> Vec<Case> {
        let c = |s: &[usize]| Layout::contiguous(s);
        let strided = |s: &[usize]| layouts(s).pop().unwrap().0;
        let mut v = vec![];
        for (r, n) in [
            (3, 1),
            (4, 7),
            (3, 1000),
            (1, 5000),
            (40, 3),
            (2, 0),
            (0, 4),
        ] {
            v.push(case("rows", c(&[r, n]), &[1]));
        }
        for (n, r) in [(7, 4), (1000, 3), (3, 40), (3000, 2)] {
            v.push(case("leading", c(&[n, r]), &[0]));
        }
        let at_offset = Layout {
            offset: 3,
            ..c(&[50, 4])
        };
        v.push(case("leading at an offset", at_offset, &[0]));
        v.push(case("strided", strided(&[5, 9]), &[1]));
        v.push(case("strided long", strided(&[2, 700]), &[1]));
        v.push(case("strided leading", strided(&[300, 3]), &[0]));
        v.push(case("unmergeable", c(&[2, 3, 4]), &[0, 2]));
        v.push(case("middle", c(&[3, 5, 6]), &[1]));
        v.push(case("leading 2-d", c(&[4, 5, 6]), &[0, 1]));
        v.push(case("all", c(&[4, 5, 6]), &[0, 1, 2]));
        v.push(case(
            "transposed",
            c(&[6, 5, 4]).permute(&[2, 1, 0]).unwrap(),
            &[2],
        ));
        v.push(case(
            "transposed all",
            c(&[30, 40]).transpose(0, 1).unwrap(),
            &[0, 1],
        ));
        let bcast_row = Layout {
            shape: vec![5, 6],
            strides: vec![0, 1],
            offset: 0,
        };
        let bcast_col = Layout {
            shape: vec![5, 6],
            strides: vec![1, 0],
            offset: 2,
        };
        v.push(case("broadcast rows", bcast_row, &[1]));
        v.push(case("broadcast within rows", bcast_col.clone(), &[1]));
        v.push(case("broadcast kept", bcast_col, &[0]));
        v
    }

    /// `h`'s elements mapped through `f` (as f64), same dtype.
    fn map(h: &HostBuffer, mut f: impl FnMut(f64) -> f64) -> HostBuffer {
        let v = as_f64(h);
        crate::with_dtype!(
            h.dtype(),
            T,
            HostBuffer::from_vec(v.iter().map(|&x| T::from_f64(f(x))).collect::<Vec<T>>())
        )
    }

    /// Test data for `op`: products of values near 1 (no overflow, so the order of the
    /// float products does not matter), sparse zeros for all/any, the usual mix otherwise.
    fn op_data(op: ReduceOp, dtype: DType, n: usize, seed: u64) -> HostBuffer {
        let h = data(dtype, n, seed, true);
        match op {
            ReduceOp::Prod if dtype.is_float() => map(&h, |x| 1.0 + x / 64.0),
            ReduceOp::All if dtype != DType::Bool => map(&h, |x| if x == 1.0 { 0.0 } else { x }),
            ReduceOp::Any if dtype != DType::Bool => map(&h, |x| if x == 1.0 { 1.0 } else { 0.0 }),
            _ => h,
        }
    }

    const DTYPES: [DType; 8] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::U8,
        DType::Bool,
    ];

    #[test]
    fn every_reduce_op_matches_the_cpu() {
        if !available("reduce") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        let mut ops = ReduceOp::ALL.to_vec();
        ops.push(ReduceOp::Var { correction: 0.0 });
        ops.push(ReduceOp::Var { correction: 2.5 });
        for t in tunings(&dev) {
            for &op in &ops {
                for dtype in DTYPES
                    .into_iter()
                    .filter(|d| kernels::reduce_dtypes(op).contains(d))
                {
                    for (k, c) in cases().iter().enumerate() {
                        if c.len == 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
                            continue;
                        }
                        let host = op_data(op, dtype, c.n, k as u64 + 1);
                        let got = reduce_with(&t, &put(&dev, &host), &c.l, c.rows, c.len, op)
                            .unwrap_or_else(|e| panic!("{op:?} {dtype:?} {}: {e}", c.name));
                        let want = Cpu::reduce(&host, &c.l, c.rows, c.len, op).unwrap();
                        assert_eq!(got.dtype(), want.dtype());
                        let what = format!("{op:?} {dtype:?} {} {t:?}", c.name);
                        assert_close(&what, &get(&got), &as_f64(&want), red_tol(dtype, c.len));
                    }
                }
            }
        }
    }

    #[test]
    fn nan_propagates_and_empty_rows_give_the_identity() {
        if !available("reduce nan") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        let small = tunings(&dev)[1];
        let mut v = vec![1.0f32; 3000];
        v[2900] = f32::NAN;
        let host = HostBuffer::from_vec(v);
        let l = Layout::contiguous(&[1, 3000]);
        for op in [
            ReduceOp::Sum,
            ReduceOp::Max,
            ReduceOp::Min,
            ReduceOp::Prod,
            ReduceOp::LogSumExp,
        ] {
            let r = get(&reduce_with(&small, &put(&dev, &host), &l, 1, 3000, op).unwrap());
            assert!(r[0].is_nan(), "{op:?}: {r:?}");
        }
        let any = get(&reduce_with(&small, &put(&dev, &host), &l, 1, 3000, ReduceOp::All).unwrap());
        assert_eq!(any, vec![1.0]);
        // Infinite rows: logsumexp does not shift (no NaN from inf − inf).
        let host = HostBuffer::from_vec(vec![
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
            1.0,
            f64::INFINITY,
        ]);
        let l = Layout::contiguous(&[2, 2]);
        let r = get(&reduce(&put(&dev, &host), &l, 2, 2, ReduceOp::LogSumExp).unwrap());
        assert_eq!(r, vec![f64::NEG_INFINITY, f64::INFINITY]);
        // Empty rows.
        let e = put(&dev, &HostBuffer::from_vec(Vec::<f32>::new()));
        let l = Layout::contiguous(&[3, 0]);
        for (op, want) in [
            (ReduceOp::Sum, 0.0),
            (ReduceOp::Prod, 1.0),
            (ReduceOp::All, 1.0),
            (ReduceOp::Any, 0.0),
            (ReduceOp::LogSumExp, f64::NEG_INFINITY),
        ] {
            assert_eq!(
                get(&reduce(&e, &l, 3, 0, op).unwrap()),
                vec![want; 3],
                "{op:?}"
            );
        }
        let var = get(&reduce(&e, &l, 3, 0, ReduceOp::Var { correction: 1.0 }).unwrap());
        assert!(var.iter().all(|v| v.is_nan()));
        let err = reduce(&e, &l, 3, 0, ReduceOp::Max).err().unwrap();
        assert!(matches!(err, Error::Index(_)), "{err}");
        let none = reduce(&e, &Layout::contiguous(&[0, 5]), 0, 5, ReduceOp::Sum).unwrap();
        assert_eq!(none.len(), 0);
        // Unsupported dtypes fail as NotImplemented, and the device works on.
        let i = put(&dev, &HostBuffer::from_vec(vec![1i64, 2, 3]));
        let l = Layout::contiguous(&[1, 3]);
        let err = reduce(&i, &l, 1, 3, ReduceOp::Var { correction: 1.0 })
            .err()
            .unwrap();
        assert!(matches!(err, Error::NotImplemented(_)), "{err}");
        let b = put(&dev, &HostBuffer::from_vec(vec![true, false]));
        let err = reduce(&b, &Layout::contiguous(&[1, 2]), 1, 2, ReduceOp::Sum)
            .err()
            .unwrap();
        assert!(matches!(err, Error::NotImplemented(_)), "{err}");
        assert_eq!(
            get(&reduce(&i, &l, 1, 3, ReduceOp::Sum).unwrap()),
            vec![6.0]
        );
    }

    #[test]
    fn integer_sums_and_products_wrap() {
        if !available("reduce wrap") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        for t in tunings(&dev) {
            let v: Vec<i64> = (0..2000).map(|i| i64::MAX - i).collect();
            let host = HostBuffer::from_vec(v);
            let l = Layout::contiguous(&[1, 2000]);
            for op in [ReduceOp::Sum, ReduceOp::Prod] {
                let got = reduce_with(&t, &put(&dev, &host), &l, 1, 2000, op).unwrap();
                let h =
                    super::super::elementwise::download(&got, &Layout::contiguous(&[1])).unwrap();
                let want = Cpu::reduce(&host, &l, 1, 2000, op).unwrap();
                assert_eq!(h.as_slice::<i64>(), want.as_slice::<i64>(), "{op:?}");
            }
            let host =
                HostBuffer::from_vec((0..3000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
            let l = Layout::contiguous(&[1, 3000]);
            let got = get(&reduce_with(&t, &put(&dev, &host), &l, 1, 3000, ReduceOp::Sum).unwrap());
            assert_eq!(
                got,
                as_f64(&Cpu::reduce(&host, &l, 1, 3000, ReduceOp::Sum).unwrap())
            );
        }
    }

    /// Data with many ties (small integers) and, for floats, a few NaN.
    fn tie_data(dtype: DType, n: usize, seed: u64, nan: bool) -> HostBuffer {
        let ints = data(DType::I64, n, seed, false);
        let h = Cpu::cast(&ints, &Layout::contiguous(&[n]), dtype).unwrap();
        if nan && dtype.is_float() {
            let mut k = 0usize;
            map(&h, |x| {
                k += 1;
                if k % 97 == 50 {
                    f64::NAN
                } else {
                    x
                }
            })
        } else {
            h
        }
    }

    #[test]
    fn arg_extremes_match_the_cpu_with_ties_and_nan() {
        if !available("argmax") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        for t in tunings(&dev) {
            for dtype in DTYPES.into_iter().filter(|&d| d != DType::Bool) {
                for (k, c) in cases().iter().enumerate().filter(|(_, c)| c.len > 0) {
                    for (nan, max) in [(false, true), (false, false), (true, true), (true, false)] {
                        let host = tie_data(dtype, c.n, k as u64 + 3, nan);
                        let (v, i) =
                            arg_reduce_with(&t, &put(&dev, &host), &c.l, c.rows, c.len, max)
                                .unwrap_or_else(|e| panic!("{dtype:?} {}: {e}", c.name));
                        let (wv, wi) = Cpu::arg_reduce(&host, &c.l, c.rows, c.len, max).unwrap();
                        let what = format!("arg max={max} nan={nan} {dtype:?} {} {t:?}", c.name);
                        assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                        assert_eq!(get(&i), as_f64(&wi), "{what}: indices");
                    }
                }
            }
        }
        let b = put(&dev, &HostBuffer::from_vec(vec![true]));
        let l = Layout::contiguous(&[1, 1]);
        assert!(matches!(
            arg_reduce(&b, &l, 1, 1, true),
            Err(Error::NotImplemented(_))
        ));
    }

    /// The fused softmax backward against the CPU's, for every float dtype, rows shorter
    /// and longer than a block, from the CPU's softmax of host data.
    #[test]
    fn softmax_backward_matches_the_cpu() {
        if !available("scan") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        fn span<B>(buf: &B, len: usize) -> Span<'_, B> {
            Span {
                buf,
                offset: 0,
                len,
            }
        }
        for dtype in DTYPES.into_iter().filter(|d| d.is_float()) {
            for (rows, len) in [(3usize, 5usize), (2, 1500), (0, 4)] {
                let n = rows * len;
                let l = Layout::contiguous(&[rows, len]);
                for (op, log) in [(ScanOp::Softmax, false), (ScanOp::LogSoftmax, true)] {
                    let y = Cpu::scan(&data(dtype, n, 3, false), &l, rows, len, op).unwrap();
                    let g = data(dtype, n, 5, false);
                    let want = Cpu::softmax_backward(span(&y, n), span(&g, n), len, log).unwrap();
                    let (dy, dg) = (put(&dev, &y), put(&dev, &g));
                    let got = softmax_backward(span(&dy, n), span(&dg, n), len, log)
                        .unwrap_or_else(|e| panic!("{dtype:?} {rows}x{len} log {log}: {e}"));
                    let what = format!("softmax_backward {dtype:?} {rows}x{len} log {log}");
                    assert_close(&what, &get(&got), &as_f64(&want), red_tol(dtype, len));
                }
            }
        }
    }

    #[test]
    fn scans_match_the_cpu() {
        if !available("scan") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        for t in tunings(&dev) {
            for &op in ScanOp::ALL {
                for dtype in DTYPES
                    .into_iter()
                    .filter(|d| kernels::scan_dtypes(op).contains(d))
                {
                    for (k, c) in cases().iter().enumerate() {
                        let specials = op != ScanOp::Cumsum || k % 2 == 0;
                        let host = data(dtype, c.n, k as u64 + 7, specials);
                        // Products of values near 1 (no overflow, no underflow), as for prod.
                        let host = if op == ScanOp::Cumprod {
                            op_data(ReduceOp::Prod, dtype, c.n, k as u64 + 7)
                        } else {
                            host
                        };
                        let got = scan_with(&t, &put(&dev, &host), &c.l, c.rows, c.len, op)
                            .unwrap_or_else(|e| panic!("{op:?} {dtype:?} {}: {e}", c.name));
                        let want = Cpu::scan(&host, &c.l, c.rows, c.len, op).unwrap();
                        let what = format!("{op:?} {dtype:?} {} {t:?}", c.name);
                        assert_close(&what, &get(&got), &as_f64(&want), red_tol(dtype, c.len));
                    }
                }
            }
        }
        // Rows of -inf (the shift is 0, as on the CPU) and of a large value.
        let host = HostBuffer::from_vec(vec![f32::NEG_INFINITY, f32::NEG_INFINITY, 1000.0, 1000.0]);
        let l = Layout::contiguous(&[2, 2]);
        for op in [ScanOp::Softmax, ScanOp::LogSoftmax] {
            let got = get(&scan(&put(&dev, &host), &l, 2, 2, op).unwrap());
            assert_close(
                &format!("{op:?}"),
                &got,
                &as_f64(&Cpu::scan(&host, &l, 2, 2, op).unwrap()),
                0.0,
            );
        }
        let i = put(&dev, &HostBuffer::from_vec(vec![1i64, 2]));
        let err = scan(&i, &Layout::contiguous(&[1, 2]), 1, 2, ScanOp::Softmax)
            .err()
            .unwrap();
        assert!(matches!(err, Error::NotImplemented(_)), "{err}");
    }

    #[test]
    fn cumulative_extremes_match_the_cpu_with_ties_and_nan() {
        if !available("cummax") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        for dtype in DTYPES.into_iter().filter(|&d| d != DType::Bool) {
            for (k, c) in cases().iter().enumerate() {
                for (nan, max) in [(false, true), (false, false), (true, true), (true, false)] {
                    let host = tie_data(dtype, c.n, k as u64 + 5, nan);
                    let (v, i) = arg_scan(&put(&dev, &host), &c.l, c.rows, c.len, max)
                        .unwrap_or_else(|e| panic!("{dtype:?} {}: {e}", c.name));
                    let (wv, wi) = Cpu::arg_scan(&host, &c.l, c.rows, c.len, max).unwrap();
                    let what = format!("cum max={max} nan={nan} {dtype:?} {}", c.name);
                    assert_eq!(v.dtype(), dtype, "{what}");
                    assert_close(&what, &get(&v), &as_f64(&wv), 0.0);
                    assert_eq!(get(&i), as_f64(&wi), "{what}: indices");
                }
            }
        }
        let b = put(&dev, &HostBuffer::from_vec(vec![true]));
        let l = Layout::contiguous(&[1, 1]);
        assert!(matches!(
            arg_scan(&b, &l, 1, 1, true),
            Err(Error::NotImplemented(_))
        ));
    }

    #[test]
    fn cumprod_wraps_and_logcumsumexp_keeps_infinities() {
        if !available("cumprod") {
            return;
        }
        let _serial = SERIAL.lock();
        let dev = HostDevice::open();
        let l = Layout::contiguous(&[2, 40]);
        let host = HostBuffer::from_vec((0..80).map(|i| i64::MAX - i).collect::<Vec<i64>>());
        let got = scan(&put(&dev, &host), &l, 2, 40, ScanOp::Cumprod).unwrap();
        let h = super::super::elementwise::download(&got, &Layout::contiguous(&[80])).unwrap();
        let want = Cpu::scan(&host, &l, 2, 40, ScanOp::Cumprod).unwrap();
        assert_eq!(h.as_slice::<i64>(), want.as_slice::<i64>());
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        let host =
            HostBuffer::from_vec(vec![-inf, 1e300, -inf, inf, 1.0, inf, inf, -inf, nan, 1.0]);
        let l = Layout::contiguous(&[2, 5]);
        let got = get(&scan(&put(&dev, &host), &l, 2, 5, ScanOp::LogCumSumExp).unwrap());
        let want = as_f64(&Cpu::scan(&host, &l, 2, 5, ScanOp::LogCumSumExp).unwrap());
        assert_close("logcumsumexp infinities", &got, &want, 0.0);
        assert_eq!(&got[..5], &[-inf, 1e300, 1e300, inf, inf]);
    }

    #[test]
    fn launches_fill_the_device_and_split_only_few_rows() {
        let gpu = Tuning {
            block: 512,
            target_blocks: 132 * 6,
            min_work: 16 * 1024,
        };
        // A full sum of 2^28 contiguous floats (an H200's 132 SMs): 792 parts of one row,
        // whole blocks.
        let v = RowsView::contiguous(1, 1 << 28);
        let p = plan(&gpu, &v, 8, true);
        assert_eq!((p.lanes, p.parts, p.items), (512, 792, 792));
        assert_eq!(p.chunk % 64, 0);
        // Many short rows: one lane per row, no split.
        let p = plan(&gpu, &RowsView::contiguous(1 << 20, 7), 8, true);
        assert_eq!((p.lanes, p.parts, p.items), (1, 1, (1 << 20) / 512));
        // A bias gradient: row-fast over 1024 outputs, the 65536 rows cut into parts.
        let mut v = RowsView::contiguous(1024, 65536);
        v.row_fast = true;
        let p = plan(&gpu, &v, 4, true);
        assert_eq!(p.lanes, 1);
        assert!(p.items >= 396 && p.parts > 1, "{p:?}");
        // Row-major views are read in place; leading-dim views are detected.
        if !available("rows view") {
            return;
        }
        let dev = HostDevice::open();
        let x = put(&dev, &HostBuffer::from_vec(vec![0f32; 24]));
        let (v, packed) = rows_view(
            &x,
            &Layout::contiguous(&[4, 6]).transpose(0, 1).unwrap(),
            6,
            4,
        )
        .unwrap();
        assert!(packed.is_none() && v.leading && v.row_fast && v.cs == 6);
        let (l, rows, len) = arrange(&Layout::contiguous(&[2, 3, 4]), &[0, 2]);
        assert!(rows_view(&x, &l, rows, len).unwrap().1.is_some());
    }
}
