//! Matrix products. Floats go through the `gemm` crate, which reads the operands through
//! their strides (a transposed operand is never copied) and picks its SIMD kernel at run
//! time; integer dtypes use a plain loop, as they are rare and PyTorch has no BLAS for them.

use super::elementwise::Num;
use crate::tensor::dtype::Element;
use rayon::prelude::*;

/// A strided matrix operand: element offset, row stride, column stride.
#[derive(Clone, Copy, Debug)]
pub struct MatRef {
    pub offset: usize,
    pub rs: isize,
    pub cs: isize,
}

/// From this many multiply-adds on, `gemm` parallelises a product itself.
const PAR_FLOPS: usize = 1 << 23;

/// Between this many multiply-adds and `PAR_FLOPS`, a product is split by rows into one
/// single-threaded `gemm` per thread. At the sizes of small models (64×784×128) `gemm`'s own
/// parallel scheme costs more than it saves (measured: 137 µs on one thread, 195 µs on two),
/// while halves of the rows run side by side in 80 µs.
const SPLIT_FLOPS: usize = 1 << 19;

/// The fewest rows a row-split part gets (a multiple of the micro-kernels' row blocks).
const SPLIT_MIN_ROWS: usize = 16;

pub trait GemmElem: Num {
    /// `out[m×n] (contiguous) = alpha·out + beta·a·b`. `out` starts zeroed when `alpha` is 0.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        a: &[Self],
        ma: MatRef,
        b: &[Self],
        mb: MatRef,
        out: &mut [Self],
        m: usize,
        n: usize,
        k: usize,
        alpha: Self,
        beta: Self,
        threads: usize,
    );
}

macro_rules! impl_gemm_float {
    ($($t:ty),*) => {$(
        impl GemmElem for $t {
            fn gemm(a: &[Self], ma: MatRef, b: &[Self], mb: MatRef, out: &mut [Self], m: usize, n: usize, k: usize, alpha: Self, beta: Self, threads: usize) {
                if m == 0 || n == 0 {
                    return;
                }
                debug_assert!(out.len() >= m * n);
                let macs = m * n * k;
                if threads > 1 && (SPLIT_FLOPS..PAR_FLOPS).contains(&macs) && m >= 2 * SPLIT_MIN_ROWS {
                    let rows = m.div_ceil(threads).next_multiple_of(SPLIT_MIN_ROWS);
                    out[..m * n].par_chunks_mut(rows * n).enumerate().for_each(|(i, part)| {
                        let first = MatRef { offset: (ma.offset as isize + (i * rows) as isize * ma.rs) as usize, ..ma };
                        Self::gemm(a, first, b, mb, part, part.len() / n, n, k, alpha, beta, 1);
                    });
                    return;
                }
                let par = if threads > 1 && m * n * k >= PAR_FLOPS {
                    gemm::Parallelism::Rayon(threads)
                } else {
                    gemm::Parallelism::None
                };
                // SAFETY: the op layer checked the shapes, so every (row, col) the strides reach
                // lies within `a`, `b` (their layouts' spans) and `out` (m×n contiguous); `out`
                // is a fresh buffer that aliases neither operand.
                unsafe {
                    gemm::gemm(
                        m, n, k,
                        out.as_mut_ptr(), 1, n as isize, alpha != 0.0,
                        a.as_ptr().add(ma.offset), ma.cs, ma.rs,
                        b.as_ptr().add(mb.offset), mb.cs, mb.rs,
                        alpha, beta, false, false, false, par,
                    );
                }
            }
        }
    )*};
}
impl_gemm_float!(f32, f64);

macro_rules! impl_gemm_int {
    ($($t:ty),*) => {$(
        impl GemmElem for $t {
            fn gemm(a: &[Self], ma: MatRef, b: &[Self], mb: MatRef, out: &mut [Self], m: usize, n: usize, k: usize, alpha: Self, beta: Self, _threads: usize) {
                let at = |i: usize, p: usize| a[(ma.offset as isize + i as isize * ma.rs + p as isize * ma.cs) as usize];
                let bt = |p: usize, j: usize| b[(mb.offset as isize + p as isize * mb.rs + j as isize * mb.cs) as usize];
                for i in 0..m {
                    for j in 0..n {
                        let mut acc: Self = 0;
                        for p in 0..k {
                            acc = acc.add(at(i, p).mul(bt(p, j)));
                        }
                        let o = &mut out[i * n + j];
                        *o = alpha.mul(*o).add(beta.mul(acc));
                    }
                }
            }
        }
    )*};
}
impl_gemm_int!(i64, i32, u8);

/// Batched product: for each batch b, `out[b] = a[b] @ b[b]` with per-batch element offsets.
pub fn batched<T: GemmElem + Element>(
    a: &[T],
    a_offsets: &[usize],
    (a_rs, a_cs): (isize, isize),
    b: &[T],
    b_offsets: &[usize],
    (b_rs, b_cs): (isize, isize),
    (m, n, k): (usize, usize, usize),
) -> Vec<T> {
    let batches = a_offsets.len();
    let mut out = vec![T::zero(); batches * m * n];
    if m * n == 0 {
        return out;
    }
    let threads = rayon::current_num_threads();
    let one = |(i, o): (usize, &mut [T])| {
        let ma = MatRef {
            offset: a_offsets[i],
            rs: a_rs,
            cs: a_cs,
        };
        let mb = MatRef {
            offset: b_offsets[i],
            rs: b_rs,
            cs: b_cs,
        };
        T::gemm(
            a,
            ma,
            b,
            mb,
            o,
            m,
            n,
            k,
            T::zero(),
            T::one(),
            if batches > 1 { 1 } else { threads },
        );
    };
    if batches > 1 && batches * m * n * k >= PAR_FLOPS {
        out.par_chunks_mut(m * n).enumerate().for_each(one);
    } else {
        out.chunks_mut(m * n).enumerate().for_each(one);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_reads_transposed_operand_in_place() {
        // a = [[1,2],[3,4]]; b^T stored row-major as [[5,7],[6,8]] means b = [[5,6],[7,8]].
        let a = [1.0f64, 2., 3., 4.];
        let bt = [5.0f64, 7., 6., 8.];
        let out = batched(&a, &[0], (2, 1), &bt, &[0], (1, 2), (2, 2, 2));
        assert_eq!(out, vec![19., 22., 43., 50.]);
        let ai = [1i64, 2, 3, 4];
        let bi = [5i64, 6, 7, 8];
        assert_eq!(
            batched(&ai, &[0], (2, 1), &bi, &[0], (2, 1), (2, 2, 2)),
            vec![19, 22, 43, 50]
        );
    }
}
