//! Products with a right operand packed once and used many times: a recurrent layer
//! multiplies by the same `W_hh` at every step, forward and back. The `gemm` crate packs its
//! right operand again at each call, and for a step's few rows (a batch of 20 by `W_hhᵀ`,
//! 200 × 800) that packing cost a quarter of the product. Here the operand is packed once
//! per layer call into panels two vectors wide, and each step's product is a register block
//! of rows × one panel, the panel's rows streamed from L1.

use super::conv::{registers, with_const, Fma};
use super::matmul::MatRef;
use crate::simd_dispatch;

/// A right operand `b` (`k × n`) packed in panels of `width` columns (two vectors of the
/// running SIMD copy): panel `p` holds columns `p·width..(p + 1)·width` row after row, with
/// zeros past column `n`.
pub struct PackedRhs<T> {
    data: Vec<T>,
    k: usize,
    n: usize,
    width: usize,
}

impl<T: Fma> PackedRhs<T> {
    /// Packs the `k × n` matrix read from `b` through `mb`.
    pub fn new(b: &[T], mb: MatRef, k: usize, n: usize) -> Self {
        Self::stacked(&[(b, mb, k)], n)
    }

    /// Packs the matrices `(b, mb, k)` (each `k × n`, read from `b` through `mb`) stacked
    /// one above the next: a product by it is the sum of the products by each, for a left
    /// operand whose rows hold the parts' rows side by side.
    pub fn stacked(parts: &[(&[T], MatRef, usize)], n: usize) -> Self {
        let width = 2 * registers::<T>().1;
        let panels = n.div_ceil(width);
        let k = parts.iter().map(|p| p.2).sum();
        // Written in order, panel row by panel row. The reads are a piece of one row of `b`
        // (`W_hh`, the backward's operand), or one element of each of `width` columns (for
        // `W_hhᵀ`, the forward's: rows of `W_hh`), whose cache lines the next rows reuse.
        let mut data = Vec::with_capacity(panels * k * width);
        for p in 0..panels {
            let cols = p * width..((p + 1) * width).min(n);
            for &(b, mb, k) in parts {
                let (rs, cs) = (mb.rs as usize, mb.cs as usize);
                for kk in 0..k {
                    let row = &b[mb.offset + kk * rs + cols.start * cs..];
                    if cs == 1 {
                        data.extend_from_slice(&row[..cols.len()]);
                    } else {
                        data.extend(row.iter().step_by(cs).take(cols.len()));
                    }
                    data.resize(data.len() + width - cols.len(), T::zero());
                }
            }
        }
        Self { data, k, n, width }
    }
}

/// The most rows one register block holds: with AVX-512 8 rows × 2 vectors (16 of 32
/// registers), with AVX2 6 × 2 (12 of 16, beside the panel's two vectors and a broadcast).
fn block_rows<T>() -> usize {
    if registers::<T>().0 >= 32 {
        8
    } else {
        6
    }
}

/// `c = a·b`, or `c += a·b` with `accumulate`: `a` is `rows × b.k` with row pitch `lda`,
/// `c` is `rows × b.n` with row pitch `ldc`, both row-major from their first element.
pub fn product<T: Fma>(
    a: &[T],
    lda: usize,
    rows: usize,
    b: &PackedRhs<T>,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
) {
    if rows == 0 || b.n == 0 {
        return;
    }
    assert!(
        lda >= b.k
            && ldc >= b.n
            && a.len() >= (rows - 1) * lda + b.k
            && c.len() >= (rows - 1) * ldc + b.n,
        "panel product: operands shorter than {rows} rows"
    );
    product_rows(a, lda, rows, b, c, ldc, accumulate);
}

simd_dispatch! {
    /// [`product`] over its checked operands: for each panel, blocks of rows.
    fn product_rows<T: Fma>(a: &[T], lda: usize, rows: usize, b: &PackedRhs<T>, c: &mut [T], ldc: usize, accumulate: bool) -> () {
        let most = block_rows::<T>();
        with_const!(b.width, [32, 16; 8], |W| {
            for (p, panel) in b.data.chunks_exact(b.k * W).enumerate() {
                let cols = (b.n - p * W).min(W);
                let mut r0 = 0;
                while r0 < rows {
                    let size = (rows - r0).min(most);
                    let block = Block { a: &a[r0 * lda..], lda, k: b.k, panel, cols, accumulate };
                    let c = &mut c[r0 * ldc + p * W..];
                    with_const!(size, [8, 7, 6, 5, 4, 3, 2; 1], |R| block.run::<W, R>(c, ldc));
                    r0 += size;
                }
            }
        });
    }
}

/// One register block's operands: rows of `a` from its first, one panel of `W` columns
/// (`cols` of them real).
struct Block<'a, T> {
    a: &'a [T],
    lda: usize,
    k: usize,
    panel: &'a [T],
    cols: usize,
    accumulate: bool,
}

impl<T: Fma> Block<'_, T> {
    /// `R` rows × the panel into `c` (rows at pitch `ldc`, the panel's first column first).
    #[inline(always)]
    fn run<const W: usize, const R: usize>(&self, c: &mut [T], ldc: usize) {
        let (k, lda, cols) = (self.k, self.lda, self.cols);
        assert!(
            self.a.len() >= (R - 1) * lda + k
                && self.panel.len() >= k * W
                && c.len() >= (R - 1) * ldc + cols
        );
        // The accumulators start at zero and `c` is added at the store, a whole panel's
        // rows as fixed-size (vector) loads and stores: loading `c` into them first, at a
        // variable length, made each row a `memmove` call and kept the block's setup out
        // of line in the quick profile (no change measured in the release build).
        let mut acc = [[T::zero(); W]; R];
        for kk in 0..k {
            // SAFETY: `kk < k`, and the panel holds `k·W` elements (asserted above). (A
            // checked index would leave a panic path in the loop, and the accumulators in
            // memory.)
            let bv: [T; W] =
                std::array::from_fn(|l| unsafe { *self.panel.get_unchecked(kk * W + l) });
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `r < R` and `kk < k`, so `r·lda + kk ≤ (R − 1)·lda + k − 1`,
                // within `a` (asserted above).
                let av = unsafe { *self.a.get_unchecked(r * lda + kk) };
                for (x, &bl) in acc.iter_mut().zip(&bv) {
                    *x = x.fma(av, bl);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // A copy, so that the store's variable length never reaches `acc`.
            let row: [T; W] = *acc;
            let put = |d: &mut T, v: T| *d = if self.accumulate { d.add(v) } else { v };
            match c[r * ldc..].first_chunk_mut::<W>() {
                Some(dst) if cols == W => dst.iter_mut().zip(row).for_each(|(d, v)| put(d, v)),
                _ => c[r * ldc..][..cols]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(d, v)| put(d, v)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix from the start of its storage, with row step `rs` and column step `cs`.
    fn strided(rs: isize, cs: isize) -> MatRef {
        MatRef { offset: 0, rs, cs }
    }

    /// Every row count up to two blocks and a ragged last panel, with and without
    /// accumulation, the operand read by rows and by columns, against a plain triple loop.
    #[test]
    fn matches_a_plain_product() {
        let (k, n) = (37, 45);
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        // `b` read transposed (element (kk, j) at j·k + kk), and `bt`, its transpose, as it is.
        let bt: Vec<f64> = (0..k * n).map(|i| b[(i % n) * k + i / n]).collect();
        let by_columns = strided(1, k as isize);
        let by_rows = strided(n as isize, 1);
        for packed in [
            PackedRhs::new(&b, by_columns, k, n),
            PackedRhs::new(&bt, by_rows, k, n),
        ] {
            check_products(&packed, &b, k, n);
        }
    }

    fn check_products(packed: &PackedRhs<f64>, b: &[f64], k: usize, n: usize) {
        for rows in 1..=17 {
            let lda = k + 3;
            let a: Vec<f64> = (0..rows * lda)
                .map(|i| ((i * 5) % 11) as f64 - 5.0)
                .collect();
            for accumulate in [false, true] {
                let ldc = n + 2;
                let mut c: Vec<f64> = (0..rows * ldc).map(|i| i as f64).collect();
                let before = c.clone();
                product(&a, lda, rows, packed, &mut c, ldc, accumulate);
                for r in 0..rows {
                    for j in 0..ldc {
                        let want = if j >= n {
                            before[r * ldc + j]
                        } else {
                            let dot: f64 = (0..k).map(|kk| a[r * lda + kk] * b[j * k + kk]).sum();
                            dot + if accumulate { before[r * ldc + j] } else { 0.0 }
                        };
                        assert_eq!(c[r * ldc + j], want, "rows {rows}, ({r}, {j})");
                    }
                }
            }
        }
    }

    /// Three matrices (different `k`; read by rows, by columns, and with both steps past 1)
    /// packed stacked, by rows holding the parts side by side: the sum of the products,
    /// added to the output, against a plain loop: a small case and a larger one (more
    /// panels, a ragged last one).
    #[test]
    fn stacked_parts_sum() {
        for (k1, k2, k3, n) in [(5, 19, 3, 37), (40, 150, 7, 301)] {
            let w1: Vec<f64> = (0..k1 * n).map(|i| ((i * 3) % 7) as f64 - 3.0).collect();
            // `w2` read transposed (element (kk, j) at j·k2 + kk), as the forward reads `W_hh`.
            let w2: Vec<f64> = (0..k2 * n).map(|i| ((i * 11) % 9) as f64 - 4.0).collect();
            // `w3`: element (kk, j) at kk·2n + 2j.
            let w3: Vec<f64> = (0..k3 * 2 * n)
                .map(|i| ((i * 7) % 5) as f64 - 2.0)
                .collect();
            let parts = [
                (&w1[..], strided(n as isize, 1), k1),
                (&w2[..], strided(1, k2 as isize), k2),
                (&w3[..], strided(2 * n as isize, 2), k3),
            ];
            let packed = PackedRhs::stacked(&parts, n);
            let k = k1 + k2 + k3;
            for rows in 1..=11 {
                let a: Vec<f64> = (0..rows * k).map(|i| ((i * 5) % 11) as f64 - 5.0).collect();
                let mut c: Vec<f64> = (0..rows * n).map(|i| i as f64).collect();
                product(&a, k, rows, &packed, &mut c, n, true);
                for r in 0..rows {
                    for j in 0..n {
                        let a = &a[r * k..];
                        let d1: f64 = (0..k1).map(|kk| a[kk] * w1[kk * n + j]).sum();
                        let d2: f64 = (0..k2).map(|kk| a[k1 + kk] * w2[j * k2 + kk]).sum();
                        let d3: f64 = (0..k3)
                            .map(|kk| a[k1 + k2 + kk] * w3[kk * 2 * n + 2 * j])
                            .sum();
                        let want = (r * n + j) as f64 + d1 + d2 + d3;
                        assert_eq!(c[r * n + j], want, "n {n}, rows {rows}, ({r}, {j})");
                    }
                }
            }
        }
    }
}
