//! Matrix products on a GPU: cuBLAS for the float dtypes, the tiled `gemm` kernel
//! (`kernels/gemm.cu`) for the integer dtypes and wherever cuBLAS is missing.
//!
//! The backend's products are row-major (`out[b] = alpha·A_b·B_b`, contiguous `m × n`
//! blocks) and cuBLAS's are column-major, so a product goes to cuBLAS transposed:
//! `Cᵀ = Bᵀ·Aᵀ`, where a row-major `Cᵀ` is the column-major `C` with `ldc = n`. An operand
//! whose rows are contiguous is a column-major matrix of its transpose (no transpose
//! needed); one whose columns are contiguous is read with cuBLAS's transpose flag; anything
//! else (broadcast rows, both strides ≠ 1) is made contiguous first. A batch whose matrices
//! are evenly spaced is one strided-batched call; otherwise each pair is its own call.

use super::buffer::CudaBuffer;
use super::device::{Args, DeviceApi, GemmCall, Kernel};
use super::elementwise::{cast, copy_into, upload};
use super::kernels::GEMM;
use crate::backend::{Arg, HostBuffer, MatBatch};
use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element, Scalar};
use crate::tensor::layout::Layout;
use std::sync::Arc;

/// How a `rows × cols` operand lies in memory, in BLAS terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    /// Element `(r, c)` at `r·ld + c`.
    RowMajor(i64),
    /// Element `(r, c)` at `r + c·ld`.
    ColMajor(i64),
}

/// How a `rows × cols` operand with strides `rs`, `cs` reads as a BLAS matrix, if it does:
/// a dim of size 1 makes its stride irrelevant, and the leading dimension must be at least
/// the length of the contiguous dim (and 1), as BLAS requires.
fn storage(rows: usize, cols: usize, rs: isize, cs: isize) -> Option<Storage> {
    let (rows_i, cols_i) = (rows as i64, cols as i64);
    if cols <= 1 || cs == 1 {
        let ld = if rows <= 1 { cols_i.max(1) } else { rs as i64 };
        if ld >= cols_i.max(1) {
            return Some(Storage::RowMajor(ld));
        }
    }
    if rows <= 1 || rs == 1 {
        let ld = if cols <= 1 { rows_i.max(1) } else { cs as i64 };
        if ld >= rows_i.max(1) {
            return Some(Storage::ColMajor(ld));
        }
    }
    None
}

/// The common difference of evenly spaced (non-decreasing) offsets, 0 for one matrix.
fn progression(offsets: &[usize]) -> Option<i64> {
    let step = match offsets {
        [] | [_] => return Some(0),
        [a, b, ..] => (*b as i64).checked_sub(*a as i64)?,
    };
    let even = offsets
        .windows(2)
        .all(|w| w[1] as i64 - w[0] as i64 == step);
    (even && step >= 0).then_some(step)
}

/// The cuBLAS calls computing `out[b] = alpha·A_b·B_b + beta·out[b]` (row-major, contiguous
/// `m × n` blocks at `c`) for operands at device addresses `a`, `b` (element 0 of their
/// buffers) laid out as `ma`, `mb`; `None` when an operand's strides do not read as a BLAS
/// matrix. Sizes are non-zero.
#[allow(clippy::too_many_arguments)]
fn gemm_calls(
    dtype: DType,
    a: u64,
    ma: &MatBatch,
    b: u64,
    mb: &MatBatch,
    c: u64,
    (m, n, k): (usize, usize, usize),
    alpha: f64,
    beta: f64,
) -> Option<Vec<GemmCall>> {
    let sa = storage(m, k, ma.rs, ma.cs)?;
    let sb = storage(k, n, mb.rs, mb.cs)?;
    // cuBLAS's first operand is B read as the column-major n × k matrix Bᵀ: a row-major B
    // is exactly that; a column-major B is the k × n matrix B, transposed by cuBLAS.
    let (trans_a, lda) = match sb {
        Storage::RowMajor(ld) => (false, ld),
        Storage::ColMajor(ld) => (true, ld),
    };
    // Its second is A read as the k × m matrix Aᵀ, likewise.
    let (trans_b, ldb) = match sa {
        Storage::RowMajor(ld) => (false, ld),
        Storage::ColMajor(ld) => (true, ld),
    };
    let size = dtype.size() as u64;
    let at = |base: u64, off: usize| base + off as u64 * size;
    let call = GemmCall {
        dtype,
        trans_a,
        trans_b,
        m: n as i64,
        n: m as i64,
        k: k as i64,
        alpha,
        a: b,
        lda,
        stride_a: 0,
        b: a,
        ldb,
        stride_b: 0,
        beta,
        c,
        ldc: n as i64,
        stride_c: (m * n) as i64,
        batch: 1,
    };
    let batch = ma.offsets.len();
    if let (Some(step_a), Some(step_b), Some(&a0), Some(&b0)) = (
        progression(&ma.offsets),
        progression(&mb.offsets),
        ma.offsets.first(),
        mb.offsets.first(),
    ) {
        return Some(vec![GemmCall {
            a: at(b, b0),
            stride_a: step_b,
            b: at(a, a0),
            stride_b: step_a,
            batch: batch as i64,
            ..call
        }]);
    }
    Some(
        (0..batch)
            .map(|i| GemmCall {
                a: at(b, mb.offsets[i]),
                b: at(a, ma.offsets[i]),
                c: at(c, i * m * n),
                ..call
            })
            .collect(),
    )
}

/// An operand cuBLAS can read: the caller's buffer, or a contiguous copy of its matrices.
enum Operand<'a> {
    Same(&'a CudaBuffer, &'a MatBatch),
    Copied(CudaBuffer, MatBatch),
}

impl Operand<'_> {
    fn parts(&self) -> (&CudaBuffer, &MatBatch) {
        match self {
            Operand::Same(b, m) => (b, m),
            Operand::Copied(b, m) => (b, m),
        }
    }
}

/// `x`'s `rows × cols` matrices as cuBLAS can read them: as they are when their strides
/// allow, else copied into contiguous row-major matrices (a broadcast batch, all at one
/// offset, is copied once).
fn blas_readable<'a>(
    x: &'a CudaBuffer,
    mx: &'a MatBatch,
    rows: usize,
    cols: usize,
) -> Result<Operand<'a>> {
    if storage(rows, cols, mx.rs, mx.cs).is_some() {
        return Ok(Operand::Same(x, mx));
    }
    let batch = mx.offsets.len();
    let one = rows * cols;
    let matrix = |offset: usize| Layout {
        shape: vec![rows, cols],
        strides: vec![mx.rs, mx.cs],
        offset,
    };
    let packed = MatBatch {
        offsets: (0..batch).map(|i| i * one).collect(),
        rs: cols as isize,
        cs: 1,
    };
    match (progression(&mx.offsets), mx.offsets.first()) {
        (Some(0), Some(&o)) => {
            let copy = cast(x, &matrix(o), x.dtype())?;
            let offsets = vec![0; batch];
            Ok(Operand::Copied(copy, MatBatch { offsets, ..packed }))
        }
        (Some(step), Some(&o)) => {
            let l = Layout {
                shape: vec![batch, rows, cols],
                strides: vec![step as isize, mx.rs, mx.cs],
                offset: o,
            };
            Ok(Operand::Copied(cast(x, &l, x.dtype())?, packed))
        }
        _ => {
            let copy = CudaBuffer::alloc(x.dev(), batch * one, x.dtype())?;
            for (i, &o) in mx.offsets.iter().enumerate() {
                let dst = Layout {
                    shape: vec![rows, cols],
                    strides: vec![cols as isize, 1],
                    offset: i * one,
                };
                copy_into(&copy, &dst, Arg::Buf(x, &matrix(o)))?;
            }
            Ok(Operand::Copied(copy, packed))
        }
    }
}

/// The product through cuBLAS into `out`; `Ok(false)` when the device has no cuBLAS (then
/// nothing was written).
#[allow(clippy::too_many_arguments)]
fn cublas(
    a: &CudaBuffer,
    ma: &MatBatch,
    b: &CudaBuffer,
    mb: &MatBatch,
    mnk: (usize, usize, usize),
    alpha: f64,
    beta: f64,
    out: &CudaBuffer,
) -> Result<bool> {
    let (m, n, k) = mnk;
    let oa = blas_readable(a, ma, m, k)?;
    let ob = blas_readable(b, mb, k, n)?;
    let ((a, ma), (b, mb)) = (oa.parts(), ob.parts());
    let calls = gemm_calls(
        a.dtype(),
        a.device_ptr(),
        ma,
        b.device_ptr(),
        mb,
        out.device_ptr(),
        mnk,
        alpha,
        beta,
    )
    .ok_or_else(|| Error::Runtime("internal error: matmul operands cuBLAS cannot read".into()))?;
    for call in &calls {
        if !out.dev().gemm(call)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A tile count for the grid of the gemm kernel: 16 × 16 tiles of 256-thread blocks.
const KERNEL_BLOCK: u32 = 256;
const KERNEL_TILE: usize = 16;

/// The product with the `gemm` kernel into `out` (added to it when `accumulate`).
#[allow(clippy::too_many_arguments)]
fn kernel(
    dev: &Arc<dyn DeviceApi>,
    a: &CudaBuffer,
    ma: &MatBatch,
    b: &CudaBuffer,
    mb: &MatBatch,
    mnk: (usize, usize, usize),
    alpha: f64,
    accumulate: bool,
    out: &CudaBuffer,
) -> Result<()> {
    let offsets = |mx: &MatBatch| {
        let v: Vec<i64> = mx.offsets.iter().map(|&o| o as i64).collect();
        upload(dev, &HostBuffer::from_vec(v))
    };
    let (a_off, b_off) = (offsets(ma)?, offsets(mb)?);
    let operands = GemmOperands {
        a,
        a_offsets: a_off.device_ptr(),
        a_strides: (ma.rs, ma.cs),
        b,
        b_offsets: b_off.device_ptr(),
        b_strides: (mb.rs, mb.cs),
        batch: ma.offsets.len(),
    };
    launch_gemm(&operands, mnk, alpha, accumulate, out)
}

/// The operands of a batch of products for the `gemm` kernel: matrix `i` of `a` starts at
/// the element offset held by the `i`-th `i64` at the device address `a_offsets` (likewise
/// for `b`); strides are (row, column) in elements.
pub struct GemmOperands<'a> {
    pub a: &'a CudaBuffer,
    pub a_offsets: u64,
    pub a_strides: (isize, isize),
    pub b: &'a CudaBuffer,
    pub b_offsets: u64,
    pub b_strides: (isize, isize),
    pub batch: usize,
}

/// Launches the `gemm` kernel: `out[i] (+)= alpha · A_i @ B_i` for each matrix pair of `o`,
/// `out` contiguous `batch × m × n`. One launch and no host-to-device copy when the
/// offsets are already on the device, so a recurrent layer's small per-step products cost
/// the host a kernel launch where a cuBLAS call costs several times that.
pub fn launch_gemm(
    o: &GemmOperands<'_>,
    (m, n, k): (usize, usize, usize),
    alpha: f64,
    accumulate: bool,
    out: &CudaBuffer,
) -> Result<()> {
    let dtype = o.a.dtype();
    let dev = o.a.dev();
    // alpha as the CPU rounds it to the dtype (`T::from_f64`: float32 for the 16-bit types,
    // a saturating truncation for the integers).
    let alpha = match dtype {
        DType::F64 => Scalar::Float(alpha),
        DType::F32 | DType::F16 | DType::BF16 => Scalar::Float(alpha as f32 as f64),
        _ => Scalar::Int(crate::with_dtype!(dtype, T, T::from_f64(alpha).to_i64())),
    };
    let mut args = Args::new();
    args.arg(out.device_ptr())
        .arg(o.a.device_ptr())
        .arg(o.b.device_ptr())
        .arg(o.a_offsets)
        .arg(o.b_offsets)
        .arg(o.batch as i64)
        .arg(m as i64)
        .arg(n as i64)
        .arg(k as i64)
        .arg(o.a_strides.0 as i64)
        .arg(o.a_strides.1 as i64)
        .arg(o.b_strides.0 as i64)
        .arg(o.b_strides.1 as i64)
        .arg(super::device::KScalar::from(alpha))
        .arg(i32::from(accumulate));
    let tiles = o.batch * m.div_ceil(KERNEL_TILE) * n.div_ceil(KERNEL_TILE);
    let grid = tiles.clamp(1, dev.sm_count() as usize * 32) as u32;
    let k = Kernel {
        file: &GEMM,
        name: "gemm",
    };
    dev.launch(k, dtype, grid, KERNEL_BLOCK, &mut args)
}

/// For each matrix pair `i` (element offsets `ma.offsets[i]`, `mb.offsets[i]`, shared row
/// and column strides), `alpha · a_i @ b_i` (`m × k` by `k × n`), into the contiguous
/// `batch × m × n` output, or added into `acc`'s blocks when given (the call consumes `acc`
/// and returns it). bool fails as PyTorch's `addmm` does.
pub fn matmul(
    a: &CudaBuffer,
    ma: &MatBatch,
    b: &CudaBuffer,
    mb: &MatBatch,
    (m, n, k): (usize, usize, usize),
    alpha: f64,
    acc: Option<CudaBuffer>,
) -> Result<CudaBuffer> {
    let dtype = a.dtype();
    if dtype == DType::Bool {
        return Err(Error::NotImplemented(
            "\"addmm_impl_cuda_\" not implemented for 'Bool'".into(),
        ));
    }
    let batch = ma.offsets.len();
    if mb.offsets.len() != batch || b.dtype() != dtype {
        return Err(Error::Runtime(format!(
            "matmul: operands of {} and {} matrices of {} and {}",
            batch,
            mb.offsets.len(),
            dtype.name(),
            b.dtype().name()
        )));
    }
    let total = batch * m * n;
    let accumulate = acc.is_some();
    let out = match acc {
        Some(acc) if acc.len() >= total && acc.dtype() == dtype => acc,
        Some(acc) => {
            return Err(Error::Runtime(format!(
                "matmul: an accumulator of {} {} for {total} results",
                acc.len(),
                acc.dtype().name()
            )))
        }
        None => CudaBuffer::alloc(a.dev(), total, dtype)?,
    };
    matmul_into(a, ma, b, mb, (m, n, k), alpha, accumulate, &out)?;
    Ok(out)
}

/// [`matmul`] into `out`, which holds at least `batch × m × n` elements of the operands'
/// dtype: written, or added to when `accumulate`.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into(
    a: &CudaBuffer,
    ma: &MatBatch,
    b: &CudaBuffer,
    mb: &MatBatch,
    (m, n, k): (usize, usize, usize),
    alpha: f64,
    accumulate: bool,
    out: &CudaBuffer,
) -> Result<()> {
    let total = ma.offsets.len() * m * n;
    if total == 0 {
        return Ok(());
    }
    if k == 0 {
        // Empty sums: zeros, or the accumulator unchanged.
        if !accumulate {
            copy_into(
                out,
                &Layout::contiguous(&[total]),
                Arg::Scalar(Scalar::Int(0)),
            )?;
        }
        return Ok(());
    }
    let beta = if accumulate { 1.0 } else { 0.0 };
    if a.dtype().is_float() && cublas(a, ma, b, mb, (m, n, k), alpha, beta, out)? {
        return Ok(());
    }
    kernel(a.dev(), a, ma, b, mb, (m, n, k), alpha, accumulate, out)
}

#[cfg(test)]
mod tests;
