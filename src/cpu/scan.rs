//! Softmax and the scans along a dim on the CPU: softmax and log-softmax (and their
//! backward) over contiguous rows or down the columns of a middle dim, and the cumulative
//! ops (cumsum, cumprod, logcumsumexp, cummax/cummin) over rows or columns.

use super::reduce::{pairwise_sum, row_max, thread_block, MAX_LANES};
use super::PAR_THRESHOLD;
use crate::backend::num::{Float, Num};
use crate::tensor::dtype::Element;
use std::mem::MaybeUninit;

/// Rows up to this long sum their exponentials in lanes during the exponential pass; longer
/// rows sum them pairwise in a pass of their own.
const FUSED_SUM_LEN: usize = 4096;

crate::simd_dispatch! {
    /// Softmax (or log-softmax) of the contiguous rows of `data` into `out` (same length,
    /// every element written): the row's maximum in lanes, `e^{x − max}` in one pass that
    /// also sums the exponentials in lanes (pairwise in a pass of its own for rows longer
    /// than [`FUSED_SUM_LEN`]), then the scaling pass; each pass vectorises.
    pub fn softmax_block<T: Float>(data: &[T], out: &mut [MaybeUninit<T>], len: usize, log: bool) -> () {
        for (o, r) in out.chunks_exact_mut(len).zip(data.chunks_exact(len)) {
            let m = row_max(r);
            if m.is_inf() && m > T::zero() {
                // A +inf in the row: `inf − inf` makes every result NaN, as in PyTorch.
                o.iter_mut().for_each(|o| {
                    o.write(T::lit(f64::NAN));
                });
                continue;
            }
            // An all −inf row shifts by 0 (its results are NaN all the same).
            let m = if m.is_inf() { T::zero() } else { m };
            let mut lanes = [T::zero(); MAX_LANES];
            let (oc, rc) = (o.chunks_exact_mut(MAX_LANES), r.chunks_exact(MAX_LANES));
            let tail = rc.remainder().len();
            for (o, r) in oc.zip(rc) {
                for k in 0..MAX_LANES {
                    let e = r[k].sub(m).exp();
                    o[k].write(e);
                    lanes[k] = lanes[k].add(e);
                }
            }
            for (o, &x) in o[len - tail..].iter_mut().zip(&r[len - tail..]) {
                lanes[0] = lanes[0].add(*o.write(x.sub(m).exp()));
            }
            // SAFETY: the two loops above wrote every element of the row.
            let o = unsafe { std::slice::from_raw_parts_mut(o.as_mut_ptr().cast::<T>(), len) };
            let s = if len <= FUSED_SUM_LEN { pairwise_sum(&lanes) } else { pairwise_sum(o) };
            if log {
                // (x − m) − ln s, not x − (m + ln s): the shift cancels exactly first.
                let ls = s.ln();
                for (o, &x) in o.iter_mut().zip(r) {
                    *o = x.sub(m).sub(ls);
                }
            } else {
                let inv = T::one().div(s);
                for o in o.iter_mut() {
                    *o = o.mul(inv);
                }
            }
        }
    }
}

/// Softmax (or log-softmax) of each contiguous row of `len` elements; large inputs are
/// split into one block of whole rows per thread.
pub fn softmax_rows<T: Float>(data: &[T], len: usize, log: bool) -> Vec<T> {
    let rows = data.len().checked_div(len).unwrap_or(0);
    if rows == 0 {
        return vec![T::zero(); data.len()];
    }
    let block = thread_block(rows, len);
    // SAFETY: the blocks cover the output, each paired with the same rows of `data`, and
    // `softmax_block` writes every element of its block.
    unsafe {
        super::write_new_vec(data.len(), |out| {
            let items: Vec<_> = out.chunks_mut(block).zip(data.chunks(block)).collect();
            super::team::for_each_part(items, |(o, d)| softmax_block(d, o, len, log));
        })
    }
}

crate::simd_dispatch! {
    /// The input gradient of softmax (`log` false) or log-softmax over the contiguous rows
    /// of `len` elements, from the op's output `y` and its gradient `g`, into `out` (same
    /// length, every element written): `y·(g − Σ g·y)`, or `g − e^y·Σ g`; one pass for the
    /// row's sum, kept in lanes, and one for the output.
    pub fn softmax_backward_block<T: Float>(y: &[T], g: &[T], out: &mut [MaybeUninit<T>], len: usize, log: bool) -> () {
        let rows = out.chunks_exact_mut(len).zip(y.chunks_exact(len).zip(g.chunks_exact(len)));
        for (o, (y, g)) in rows {
            let mut lanes = [T::zero(); MAX_LANES];
            let (yc, gc) = (y.chunks_exact(MAX_LANES), g.chunks_exact(MAX_LANES));
            let tail = yc.remainder().len();
            for (y, g) in yc.zip(gc) {
                for k in 0..MAX_LANES {
                    lanes[k] = lanes[k].add(if log { g[k] } else { g[k].mul(y[k]) });
                }
            }
            for (&y, &g) in y[len - tail..].iter().zip(&g[len - tail..]) {
                lanes[0] = lanes[0].add(if log { g } else { g.mul(y) });
            }
            let s = pairwise_sum(&lanes);
            for (o, (&y, &g)) in o.iter_mut().zip(y.iter().zip(g)) {
                o.write(if log { g.sub(y.exp().mul(s)) } else { y.mul(g.sub(s)) });
            }
        }
    }
}

/// [`softmax_backward_block`] over `y.len() / len` rows, split into one block of whole rows
/// per thread when large.
pub fn softmax_backward_rows<T: Float>(y: &[T], g: &[T], len: usize, log: bool) -> Vec<T> {
    let rows = y.len().checked_div(len).unwrap_or(0);
    if rows == 0 {
        return vec![T::zero(); y.len()];
    }
    let block = thread_block(rows, len);
    // SAFETY: the blocks cover the output, each paired with the same rows of `y` and `g`,
    // and `softmax_backward_block` writes every element of its block.
    unsafe {
        super::write_new_vec(y.len(), |out| {
            let items: Vec<_> = out
                .chunks_mut(block)
                .zip(y.chunks(block).zip(g.chunks(block)))
                .collect();
            super::team::for_each_part(items, |(o, (y, g))| {
                softmax_backward_block(y, g, o, len, log)
            });
        })
    }
}

/// `scan(rows, out_rows, len)` over blocks of whole rows of `data` (`len` each) into a new
/// vector, one block per thread when the work is large.
fn scan_rows<T: Element>(
    data: &[T],
    len: usize,
    scan: impl Fn(&[T], &mut [MaybeUninit<T>], usize) + Sync,
) -> Vec<T> {
    let rows = data.len().checked_div(len).unwrap_or(0);
    if rows == 0 {
        return data.to_vec();
    }
    let block = thread_block(rows, len);
    // SAFETY: the blocks cover the output, each paired with the same rows of `data`, and
    // each `scan` writes every element of its block.
    unsafe {
        super::write_new_vec(data.len(), |out| {
            let items: Vec<_> = out.chunks_mut(block).zip(data.chunks(block)).collect();
            super::team::for_each_part(items, |(o, d)| scan(d, o, len));
        })
    }
}

/// Rows a prefix scan runs side by side in [`interleaved_scan`].
const SCAN_GROUP: usize = 8;

/// Inclusive prefix scans by `op` from `init` of the rows of `d` (`len` each) into `o`,
/// `SCAN_GROUP` rows in step: each running value waits on its previous `op`, so one row
/// at a time is bound by the add's latency, while the group's chains overlap. Each row's
/// values are the same as scanned alone.
#[inline(always)]
fn interleaved_scan<T: Num>(
    d: &[T],
    o: &mut [MaybeUninit<T>],
    len: usize,
    init: T,
    op: impl Fn(T, T) -> T,
) {
    for (o, d) in o
        .chunks_mut(SCAN_GROUP * len)
        .zip(d.chunks(SCAN_GROUP * len))
    {
        let n = d.len() / len;
        let mut acc = [init; SCAN_GROUP];
        if n == SCAN_GROUP {
            for k in 0..len {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = op(*a, d[i * len + k]);
                    o[i * len + k].write(*a);
                }
            }
        } else {
            for (o, d) in o.chunks_exact_mut(len).zip(d.chunks_exact(len)) {
                let mut a = init;
                for (o, &v) in o.iter_mut().zip(d) {
                    a = op(a, v);
                    o.write(a);
                }
            }
        }
    }
}

/// Inclusive prefix sums of each row.
pub fn cumsum_rows<T: Num>(data: &[T], len: usize) -> Vec<T> {
    scan_rows(data, len, |d, o, len| {
        interleaved_scan(d, o, len, T::zero(), T::add)
    })
}

/// Inclusive prefix products of each row (integers wrap).
pub fn cumprod_rows<T: Num>(data: &[T], len: usize) -> Vec<T> {
    scan_rows(data, len, |d, o, len| {
        interleaved_scan(d, o, len, T::one(), T::mul)
    })
}

/// Width of the column tiles of [`softmax_columns`] and [`cumsum_columns`]: four
/// 16-float vectors per row of the tile, its running values kept in registers.
const COL_TILE: usize = 64;

/// Inner sizes below this take the row path: the column kernels vectorise along `inner`.
pub const MIN_MIDDLE_INNER: usize = 8;

/// `kernel(block, first_column, out_rows)` over the middle dim of the row-major
/// `outer × len × inner` `data` (a scan over a dim that is not the last), into a new
/// vector in the same order, where the row path would transpose the input and its result.
/// Each piece of the work is a range of columns of one `len × inner` block, handed that
/// block, the first column and the matching slice of each of its `len` rows of the
/// output; whole blocks per thread when there are enough of them, else each block's
/// columns split between the threads.
fn middle_scan<T: Element>(
    data: &[T],
    len: usize,
    inner: usize,
    kernel: impl Fn(&[T], usize, &mut [&mut [MaybeUninit<T>]]) + Sync,
) -> Vec<T> {
    let block = len * inner;
    if data.is_empty() {
        return Vec::new();
    }
    let outer = data.len() / block;
    let parts = if data.len() >= PAR_THRESHOLD {
        super::team::parts()
    } else {
        1
    };
    let width = inner
        .div_ceil(parts.div_ceil(outer))
        .next_multiple_of(MAX_LANES)
        .min(inner);
    // SAFETY: every element of the output lies in one row slice of one piece, and each
    // `kernel` writes every element of its row slices.
    unsafe {
        super::write_new_vec(data.len(), |out| {
            let mut pieces = Vec::new();
            for (a, ob) in out.chunks_mut(block).enumerate() {
                let mut cols: Vec<Vec<&mut [MaybeUninit<T>]>> = (0..inner.div_ceil(width))
                    .map(|_| Vec::with_capacity(len))
                    .collect();
                for row in ob.chunks_mut(inner) {
                    for (c, seg) in cols.iter_mut().zip(row.chunks_mut(width)) {
                        c.push(seg);
                    }
                }
                pieces.extend(
                    cols.into_iter()
                        .enumerate()
                        .map(|(c, rows)| (a, c * width, rows)),
                );
            }
            let per = pieces.len().div_ceil(parts);
            let mut items = Vec::with_capacity(parts);
            while !pieces.is_empty() {
                let rest = pieces.split_off(per.min(pieces.len()));
                items.push(std::mem::replace(&mut pieces, rest));
            }
            super::team::for_each_part(items, |group| {
                for (a, c0, mut rows) in group {
                    kernel(&data[a * block..][..block], c0, &mut rows);
                }
            });
        })
    }
}

crate::simd_dispatch! {
    /// Inclusive prefix sums down the columns `c0..` of the row-major `len × inner` block
    /// `x` into `out` (one slice per row, each as wide as the columns), a tile of
    /// `COL_TILE` columns at a time: each row adds a vector of columns to the running sums,
    /// in the same order as the row path's scan.
    pub fn cumsum_columns<T: Num>(x: &[T], inner: usize, c0: usize, out: &mut [&mut [MaybeUninit<T>]]) -> () {
        let width = out.first().map_or(0, |r| r.len());
        for t in (0..width).step_by(COL_TILE) {
            let w = COL_TILE.min(width - t);
            let mut acc = [T::zero(); COL_TILE];
            for (j, o) in out.iter_mut().enumerate() {
                let xr = &x[j * inner + c0 + t..][..w];
                for ((a, o), &v) in acc.iter_mut().zip(&mut o[t..t + w]).zip(xr) {
                    *a = a.add(v);
                    o.write(*a);
                }
            }
        }
    }
}

/// Inclusive prefix sums along the middle dim of a row-major `outer × len × inner` block.
pub fn cumsum_middle<T: Num>(data: &[T], len: usize, inner: usize) -> Vec<T> {
    middle_scan(data, len, inner, |x, c0, out| {
        cumsum_columns(x, inner, c0, out)
    })
}

crate::simd_dispatch! {
    /// Softmax (or log-softmax) down the columns `c0..` of the row-major `len × inner`
    /// block `x` into `out` (one slice per row, each as wide as the columns), a tile of
    /// `COL_TILE` columns at a time so the tile stays in cache across its passes: the
    /// columns' maxima (NaN ignored), `e^{x − max}` and its sums, then the scaling — the
    /// values [`softmax_block`] gives a row, each pass vectorised along the columns. A +∞
    /// in a column makes its results NaN (`∞ − ∞`), and an all −∞ one shifts by 0, as there.
    pub fn softmax_columns<T: Float>(x: &[T], inner: usize, c0: usize, out: &mut [&mut [MaybeUninit<T>]], log: bool) -> () {
        let width = out.first().map_or(0, |r| r.len());
        let row = |j: usize, t: usize, w: usize| &x[j * inner + c0 + t..][..w];
        for t in (0..width).step_by(COL_TILE) {
            let w = COL_TILE.min(width - t);
            let mut m = [T::lit(f64::NEG_INFINITY); COL_TILE];
            for j in 0..out.len() {
                for (m, &v) in m.iter_mut().zip(row(j, t, w)) {
                    *m = if v > *m { v } else { *m };
                }
            }
            for m in &mut m {
                if m.is_inf() && *m < T::zero() {
                    *m = T::zero();
                }
            }
            let mut s = [T::zero(); COL_TILE];
            for (j, o) in out.iter_mut().enumerate() {
                let o = &mut o[t..t + w];
                for (((s, &m), o), &v) in s.iter_mut().zip(&m).zip(o).zip(row(j, t, w)) {
                    let e = v.sub(m).exp();
                    *s = s.add(e);
                    if !log {
                        o.write(e);
                    }
                }
            }
            if log {
                let ls = s.map(|s| s.ln());
                for (j, o) in out.iter_mut().enumerate() {
                    let o = &mut o[t..t + w];
                    for (((o, &m), &ls), &v) in o.iter_mut().zip(&m).zip(&ls).zip(row(j, t, w)) {
                        // (x − m) − ln s, as the row path.
                        o.write(v.sub(m).sub(ls));
                    }
                }
            } else {
                let inv = s.map(|s| T::one().div(s));
                for o in out.iter_mut() {
                    // SAFETY: the pass above wrote the exponentials into this tile.
                    let o = unsafe { super::assume_init(&mut o[t..t + w]) };
                    for (o, &inv) in o.iter_mut().zip(&inv) {
                        *o = o.mul(inv);
                    }
                }
            }
        }
    }
}

/// Softmax (or log-softmax) along the middle dim of a row-major `outer × len × inner`
/// block, in place of order (see [`softmax_columns`]).
pub fn softmax_middle<T: Float>(data: &[T], len: usize, inner: usize, log: bool) -> Vec<T> {
    middle_scan(data, len, inner, |x, c0, out| {
        softmax_columns(x, inner, c0, out, log)
    })
}

/// `log(e^x + e^y)` as PyTorch's `_log_add_exp_helper`: `max + log1p(e^(min − max))`, the
/// running maximum rescaling the smaller term so nothing overflows. When both are the same
/// infinity the formula would give `inf − inf` = NaN, so `x` is returned; NaN propagates
/// (a NaN `y` is taken as both min and max).
#[inline]
pub fn log_add_exp<T: Float>(x: T, y: T) -> T {
    let (lo, hi) = if y.is_nan() {
        (y, y)
    } else if y < x {
        (y, x)
    } else if x < y {
        (x, y)
    } else {
        // Equal, or `x` NaN (std::min / std::max return their first argument then).
        (x, x)
    };
    if lo != hi || !lo.is_inf() {
        lo.sub(hi).exp().ln_1p().add(hi)
    } else {
        x
    }
}

/// `log Σ_{k≤j} e^{x_k}` along each row, from −∞.
pub fn logcumsumexp_rows<T: Float>(data: &[T], len: usize) -> Vec<T> {
    scan_rows(data, len, |d, o, len| {
        for (o, d) in o.chunks_exact_mut(len).zip(d.chunks_exact(len)) {
            let mut acc = T::lit(f64::NEG_INFINITY);
            for (o, &v) in o.iter_mut().zip(d) {
                acc = log_add_exp(v, acc);
                o.write(acc);
            }
        }
    })
}

/// Running max (or min) of each row and the int64 index it was taken from, as PyTorch's
/// `cummax_cummin_helper`: an element replaces the running value when it is NaN or, the
/// running value not being NaN, when it is `>=` (`<=`) it — so ties move the index to the
/// last equal element, and each NaN moves it to itself.
pub fn cum_extreme_rows<T: Num>(data: &[T], len: usize, want_max: bool) -> (Vec<T>, Vec<i64>) {
    let mut vals = data.to_vec();
    let mut idx = vec![0i64; data.len()];
    if len == 0 {
        return (vals, idx);
    }
    for (row, irow) in vals.chunks_mut(len).zip(idx.chunks_mut(len)) {
        let mut best = row[0];
        let mut at = 0i64;
        for (j, (v, i)) in row.iter_mut().zip(irow.iter_mut()).enumerate() {
            let x = *v;
            let better = if want_max { x >= best } else { x <= best };
            if x.is_nan() || (!best.is_nan() && better) {
                best = x;
                at = j as i64;
            }
            *v = best;
            *i = at;
        }
    }
    (vals, idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_for_large_inputs() {
        let x = [1000.0f32, 1000.0];
        assert_eq!(softmax_rows(&x, 2, false), [0.5, 0.5]);
        let o = softmax_rows(&x, 2, true);
        assert!((o[0] + std::f32::consts::LN_2).abs() < 1e-6);
        // Rows longer than the fused sum's bound, and rows with a tail past the lanes.
        for len in [FUSED_SUM_LEN + 3, 37] {
            let x: Vec<f64> = (0..2 * len).map(|i| (i % 11) as f64 * 0.3).collect();
            for row in softmax_rows(&x, len, false).chunks(len) {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
    }

    /// The fused backward against the composite formulas, for rows with and without a tail.
    #[test]
    fn softmax_backward_matches_the_formulas() {
        for len in [37usize, 64] {
            let x: Vec<f64> = (0..3 * len)
                .map(|i| ((i * 7) % 13) as f64 * 0.25 - 1.0)
                .collect();
            let g: Vec<f64> = (0..3 * len)
                .map(|i| ((i * 5) % 11) as f64 * 0.5 - 2.0)
                .collect();
            for log in [false, true] {
                let y = softmax_rows(&x, len, log);
                let got = softmax_backward_rows(&y, &g, len, log);
                for r in 0..3 {
                    let (y, g, got) = (
                        &y[r * len..][..len],
                        &g[r * len..][..len],
                        &got[r * len..][..len],
                    );
                    let s: f64 = if log {
                        g.iter().sum()
                    } else {
                        y.iter().zip(g).map(|(a, b)| a * b).sum()
                    };
                    for j in 0..len {
                        let want = if log {
                            g[j] - y[j].exp() * s
                        } else {
                            y[j] * (g[j] - s)
                        };
                        assert!(
                            (got[j] - want).abs() < 1e-12,
                            "len {len} log {log} row {r} col {j}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn cumulative_extremes_take_the_last_tie_and_each_nan() {
        let (v, i) = cum_extreme_rows(&[1.0f64, 3.0, 3.0, 2.0, f64::NAN, 5.0, f64::NAN], 7, true);
        assert_eq!(&i, &[0, 1, 2, 2, 4, 4, 6]);
        assert_eq!(&v[..4], &[1.0, 3.0, 3.0, 3.0]);
        assert!(v[4..].iter().all(|x| x.is_nan()));
        let (v, i) = cum_extreme_rows(&[2i32, 1, 1, 3, 1], 5, false);
        assert_eq!((v, i), (vec![2, 1, 1, 1, 1], vec![0, 1, 2, 2, 4]));
    }

    #[test]
    fn logcumsumexp_is_stable_and_keeps_infinities() {
        let inf = f64::INFINITY;
        let r = logcumsumexp_rows(&[-inf, 1e30, -inf, inf, 1.0], 5);
        assert_eq!(r, vec![-inf, 1e30, 1e30, inf, inf]);
        let r = logcumsumexp_rows(&[1000.0f32, 1000.0], 2);
        assert!((r[1] - 1000.0 - std::f32::consts::LN_2).abs() < 1e-3);
        assert!(logcumsumexp_rows(&[inf, inf, f64::NAN, 1.0], 4)[2..]
            .iter()
            .all(|x| x.is_nan()));
    }
}
