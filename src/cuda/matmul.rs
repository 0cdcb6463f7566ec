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
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::backend::Backend;
    use crate::cpu::Cpu;

    /// Runs `calls` with cuBLAS's semantics over one f64 memory (addresses are byte
    /// addresses into it), checking the leading dimensions as cuBLAS does.
    fn run_calls(calls: &[GemmCall], mem: &mut [f64]) {
        for c in calls {
            assert_eq!(c.a % 8, 0);
            let (a0, b0, c0) = ((c.a / 8) as i64, (c.b / 8) as i64, (c.c / 8) as i64);
            let rows_a = if c.trans_a { c.k } else { c.m };
            let rows_b = if c.trans_b { c.n } else { c.k };
            assert!(c.lda >= rows_a.max(1), "lda {c:?}");
            assert!(c.ldb >= rows_b.max(1), "ldb {c:?}");
            assert!(c.ldc >= c.m.max(1), "ldc {c:?}");
            for p in 0..c.batch {
                let (pa, pb, pc) = (
                    a0 + p * c.stride_a,
                    b0 + p * c.stride_b,
                    c0 + p * c.stride_c,
                );
                for i in 0..c.m {
                    for j in 0..c.n {
                        let mut s = 0.0;
                        for l in 0..c.k {
                            let x = if c.trans_a {
                                mem[(pa + l + i * c.lda) as usize]
                            } else {
                                mem[(pa + i + l * c.lda) as usize]
                            };
                            let y = if c.trans_b {
                                mem[(pb + j + l * c.ldb) as usize]
                            } else {
                                mem[(pb + l + j * c.ldb) as usize]
                            };
                            s += x * y;
                        }
                        let o = (pc + i + j * c.ldc) as usize;
                        mem[o] = c.alpha * s + c.beta * mem[o];
                    }
                }
            }
        }
    }

    /// The row-major product the backend defines.
    fn reference(
        a: &[f64],
        ma: &MatBatch,
        b: &[f64],
        mb: &MatBatch,
        (m, n, k): (usize, usize, usize),
        alpha: f64,
    ) -> Vec<f64> {
        let mut out = vec![];
        for (&oa, &ob) in ma.offsets.iter().zip(&mb.offsets) {
            for i in 0..m {
                for j in 0..n {
                    let s: f64 = (0..k)
                        .map(|p| {
                            a[(oa as isize + i as isize * ma.rs + p as isize * ma.cs) as usize]
                                * b[(ob as isize + p as isize * mb.rs + j as isize * mb.cs)
                                    as usize]
                        })
                        .sum();
                    out.push(alpha * s);
                }
            }
        }
        out
    }

    /// A batch of `count` matrices, `rows × cols`, stored row-major or transposed, at
    /// offsets `start + i·step` (or the given offsets).
    fn batch(offsets: Vec<usize>, rows: usize, cols: usize, transposed: bool) -> MatBatch {
        if transposed {
            MatBatch {
                offsets,
                rs: 1,
                cs: rows as isize,
            }
        } else {
            MatBatch {
                offsets,
                rs: cols as isize,
                cs: 1,
            }
        }
    }

    /// Every stride pattern the mapping accepts, run with cuBLAS's semantics, gives the
    /// row-major product; the others are refused.
    #[test]
    fn the_column_major_mapping_reproduces_the_row_major_product() {
        let (m, n, k) = (3, 4, 5);
        let mut cases = vec![];
        for ta in [false, true] {
            for tb in [false, true] {
                // One pair; an evenly spaced batch; a broadcast operand; uneven offsets.
                cases.push((batch(vec![2], m, k, ta), batch(vec![1], k, n, tb)));
                cases.push((
                    batch(vec![0, 15, 30], m, k, ta),
                    batch(vec![0, 20, 40], k, n, tb),
                ));
                cases.push((
                    batch(vec![0, 15, 30], m, k, ta),
                    batch(vec![7, 7, 7], k, n, tb),
                ));
                cases.push((
                    batch(vec![30, 0, 15], m, k, ta),
                    batch(vec![0, 40, 20], k, n, tb),
                ));
            }
        }
        // Padded rows (leading dimension beyond the row length).
        cases.push((
            MatBatch {
                offsets: vec![0],
                rs: 8,
                cs: 1,
            },
            MatBatch {
                offsets: vec![0],
                rs: 1,
                cs: 9,
            },
        ));
        for (ma, mb) in &cases {
            let a: Vec<f64> = (0..64).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
            let b: Vec<f64> = (0..64).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
            let total = ma.offsets.len() * m * n;
            let mut mem = [a.clone(), b.clone(), vec![1.0; total]].concat();
            let calls = gemm_calls(DType::F64, 0, ma, 64 * 8, mb, 128 * 8, (m, n, k), 2.0, 1.0)
                .expect("a BLAS layout");
            let even = progression(&ma.offsets).is_some() && progression(&mb.offsets).is_some();
            assert_eq!(
                calls.len(),
                if even { 1 } else { ma.offsets.len() },
                "{ma:?} {mb:?}"
            );
            run_calls(&calls, &mut mem);
            let want: Vec<f64> = reference(&a, ma, &b, mb, (m, n, k), 2.0)
                .iter()
                .map(|x| x + 1.0)
                .collect();
            assert_eq!(&mem[128..], &want[..], "{ma:?} {mb:?}");
        }
        // Size-1 dims make their stride irrelevant: a row vector with a broadcast row
        // stride, a column vector with any column stride.
        let (m, n, k) = (1, 3, 4);
        let ma = MatBatch {
            offsets: vec![0],
            rs: 0,
            cs: 2,
        };
        let mb = MatBatch {
            offsets: vec![1],
            rs: 3,
            cs: 1,
        };
        let calls = gemm_calls(
            DType::F64,
            0,
            &ma,
            64 * 8,
            &mb,
            128 * 8,
            (m, n, k),
            1.0,
            0.0,
        )
        .unwrap();
        let a: Vec<f64> = (0..64).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..64).map(|i| (i % 5) as f64).collect();
        let mut mem = [a.clone(), b.clone(), vec![f64::NAN; m * n]].concat();
        // beta = 0 must not read C; the reference executor multiplies NaN by 0, so clear it.
        mem[128..].iter_mut().for_each(|x| *x = 0.0);
        run_calls(&calls, &mut mem);
        assert_eq!(
            &mem[128..],
            &reference(&a, &ma, &b, &mb, (m, n, k), 1.0)[..]
        );
        let mb = MatBatch {
            offsets: vec![0],
            rs: 5,
            cs: 0,
        };
        assert_eq!(storage(4, 1, 5, 0), Some(Storage::RowMajor(5)));
        assert!(gemm_calls(DType::F64, 0, &ma, 0, &mb, 0, (1, 1, 4), 1.0, 0.0).is_some());
        // Broadcast rows, both strides ≠ 1, or overlapping rows are refused.
        assert_eq!(storage(3, 4, 0, 1), None);
        assert_eq!(storage(3, 4, 8, 2), None);
        assert_eq!(storage(3, 4, 2, 1), None);
        assert_eq!(storage(3, 4, 1, 2), None);
        assert_eq!(storage(3, 4, 1, 3), Some(Storage::ColMajor(3)));
        assert_eq!(progression(&[4, 2]), None);
        assert_eq!(progression(&[3, 3, 3]), Some(0));
    }

    /// Compares the GPU product with the CPU's for one case.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        dev: &Arc<dyn DeviceApi>,
        dtype: DType,
        ma: &MatBatch,
        mb: &MatBatch,
        mnk: (usize, usize, usize),
        alpha: f64,
        with_acc: bool,
        what: &str,
    ) {
        let len = |mx: &MatBatch, r: usize, c: usize| {
            mx.offsets.iter().max().copied().unwrap_or(0)
                + r.saturating_sub(1) * mx.rs as usize
                + c.saturating_sub(1) * mx.cs as usize
                + 1
        };
        let (m, n, k) = mnk;
        let ha = data(dtype, len(ma, m, k), 3, false);
        let hb = data(dtype, len(mb, k, n), 4, false);
        let total = ma.offsets.len() * m * n;
        let hacc = with_acc.then(|| data(dtype, total, 5, false));
        let got = matmul(
            &put(dev, &ha),
            ma,
            &put(dev, &hb),
            mb,
            mnk,
            alpha,
            hacc.as_ref().map(|h| put(dev, h)),
        )
        .unwrap();
        let want = Cpu::matmul(&ha, ma, &hb, mb, mnk, alpha, hacc.clone()).unwrap();
        let t = match dtype {
            DType::F32 => 1e-5,
            DType::F16 => 2e-3 * k as f64,
            DType::BF16 => 1.6e-2 * k as f64,
            d => tol(d),
        };
        assert_eq!(got.dtype(), dtype);
        assert_close(
            &format!("{what} {dtype:?} {ma:?} {mb:?} {mnk:?} alpha {alpha} acc {with_acc}"),
            &get(&got),
            &as_f64(&want),
            t,
        );
    }

    #[test]
    fn products_match_the_cpu() {
        if !available("matmul") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [
            DType::F32,
            DType::F64,
            DType::F16,
            DType::BF16,
            DType::I64,
            DType::I32,
            DType::U8,
        ] {
            // Sizes around the host's 4 × 4 tiles, and a row and a column vector.
            for (m, n, k) in [(3, 5, 7), (9, 6, 13), (1, 7, 5), (6, 1, 9), (4, 4, 4)] {
                for ta in [false, true] {
                    for tb in [false, true] {
                        let ma = batch(vec![0], m, k, ta);
                        let mb = batch(vec![2], k, n, tb);
                        compare(&dev, dtype, &ma, &mb, (m, n, k), 1.0, false, "single");
                        compare(&dev, dtype, &ma, &mb, (m, n, k), -1.5, true, "accumulated");
                        // A batch of three against one broadcast right operand.
                        let ma = batch(vec![0, m * k, 2 * m * k], m, k, ta);
                        let mb = batch(vec![1, 1, 1], k, n, tb);
                        compare(&dev, dtype, &ma, &mb, (m, n, k), 2.0, false, "broadcast");
                    }
                }
            }
            // Uneven offsets, strided (padded) rows, a broadcast row stride.
            let ma = MatBatch {
                offsets: vec![20, 0, 7],
                rs: 6,
                cs: 1,
            };
            let mb = MatBatch {
                offsets: vec![3, 3, 30],
                rs: 2,
                cs: 9,
            };
            compare(&dev, dtype, &ma, &mb, (3, 4, 5), 0.5, true, "uneven");
            let ma = MatBatch {
                offsets: vec![0, 5, 2],
                rs: 0,
                cs: 1,
            };
            compare(
                &dev,
                dtype,
                &ma,
                &mb,
                (3, 4, 5),
                1.0,
                false,
                "broadcast rows",
            );
        }
    }

    #[test]
    fn empty_products_and_bool() {
        if !available("matmul empty") {
            return;
        }
        let dev = HostDevice::open();
        for dtype in [DType::F32, DType::I64, DType::F16] {
            let one = batch(vec![0], 3, 0, false);
            let other = batch(vec![0], 0, 4, false);
            compare(&dev, dtype, &one, &other, (3, 4, 0), 1.0, false, "k = 0");
            compare(
                &dev,
                dtype,
                &one,
                &other,
                (3, 4, 0),
                1.0,
                true,
                "k = 0 with acc",
            );
            compare(
                &dev,
                dtype,
                &batch(vec![0], 0, 5, false),
                &batch(vec![0], 5, 4, false),
                (0, 4, 5),
                1.0,
                false,
                "m = 0",
            );
            compare(
                &dev,
                dtype,
                &batch(vec![], 2, 2, false),
                &batch(vec![], 2, 2, false),
                (2, 2, 2),
                1.0,
                false,
                "no matrices",
            );
        }
        let hb = HostBuffer::from_vec(vec![true; 4]);
        let b = put(&dev, &hb);
        let mb = batch(vec![0], 2, 2, false);
        let Err(e) = matmul(&b, &mb, &b, &mb, (2, 2, 2), 1.0, None) else {
            panic!("bool matmul")
        };
        let Err(cpu) = Cpu::matmul(&hb, &mb, &hb, &mb, (2, 2, 2), 1.0, None) else {
            panic!("bool matmul on the CPU")
        };
        assert_eq!(e.to_string(), cpu.to_string().replace("_cpu_", "_cuda_"));
    }

    /// Operands cuBLAS cannot read are copied into matrices it can, holding the same values.
    #[test]
    fn unreadable_operands_are_copied_faithfully() {
        if !available("matmul copies") {
            return;
        }
        let dev = HostDevice::open();
        let host: Vec<f64> = (0..200).map(|i| i as f64).collect();
        let x = put(&dev, &HostBuffer::from_vec(host.clone()));
        let (rows, cols) = (3, 4);
        let cases = [
            MatBatch {
                offsets: vec![5, 5, 5],
                rs: 0,
                cs: 1,
            },
            MatBatch {
                offsets: vec![0, 40, 80],
                rs: 9,
                cs: 2,
            },
            MatBatch {
                offsets: vec![60, 1, 17],
                rs: 2,
                cs: 11,
            },
            MatBatch {
                offsets: vec![3, 3],
                rs: 1,
                cs: 1,
            },
            MatBatch {
                offsets: vec![0, 12],
                rs: 4,
                cs: 1,
            },
        ];
        for mx in &cases {
            let op = blas_readable(&x, mx, rows, cols).unwrap();
            let (buf, packed) = op.parts();
            assert!(
                storage(rows, cols, packed.rs, packed.cs).is_some(),
                "{mx:?}"
            );
            assert_eq!(
                matches!(op, Operand::Same(..)),
                storage(rows, cols, mx.rs, mx.cs).is_some()
            );
            let vals = get(buf);
            for (i, (&o, &p)) in mx.offsets.iter().zip(&packed.offsets).enumerate() {
                for r in 0..rows {
                    for c in 0..cols {
                        let want =
                            host[(o as isize + r as isize * mx.rs + c as isize * mx.cs) as usize];
                        let got =
                            vals[(p as isize + r as isize * packed.rs + c as isize * packed.cs)
                                as usize];
                        assert_eq!(got, want, "{mx:?} matrix {i} ({r}, {c})");
                    }
                }
            }
        }
    }

    /// Integer products wrap as the CPU's do, and integer alphas are truncated as there.
    #[test]
    fn integer_products_wrap_and_truncate_alpha() {
        if !available("matmul wrap") {
            return;
        }
        let dev = HostDevice::open();
        let mx = batch(vec![0], 2, 2, false);
        let big = HostBuffer::from_vec(vec![i64::MAX, 3, 1 << 62, -7]);
        let small = HostBuffer::from_vec(vec![200u8, 17, 255, 3]);
        for (h, alpha) in [(&big, 3.0), (&small, 2.7), (&small, -1.0)] {
            let got = matmul(
                &put(&dev, h),
                &mx,
                &put(&dev, h),
                &mx,
                (2, 2, 2),
                alpha,
                None,
            )
            .unwrap();
            let want = Cpu::matmul(h, &mx, h, &mx, (2, 2, 2), alpha, None).unwrap();
            let got = super::super::elementwise::download(&got, &Layout::contiguous(&[4])).unwrap();
            assert_eq!(
                got.as_bytes(),
                want.as_bytes(),
                "{:?} alpha {alpha}",
                h.dtype()
            );
        }
    }
}
