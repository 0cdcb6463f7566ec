//! Reduction kernels over contiguous rows: the op layer arranges the reduced dims last, so
//! every kernel here sees `rows` runs of `len` contiguous elements.

use super::PAR_THRESHOLD;
use crate::backend::num::{Float, Num};
use crate::tensor::dtype::Element;
use std::mem::MaybeUninit;

/// Independent partial sums in the base case: four 8-lane vectors, so the adds pipeline
/// instead of waiting on one accumulator's latency.
const LANES: usize = 64;

crate::simd_dispatch! {
    /// Pairwise summation: error grows with log(n), not n, so float32 sums of 10^7 terms stay
    /// accurate. The base case keeps `LANES` partial sums, which the compiler vectorises.
    pub fn pairwise_sum<T: Num>(x: &[T]) -> T {
        const BASE: usize = 4096;
        if x.len() <= BASE {
            let mut acc = [T::zero(); LANES];
            let chunks = x.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for k in 0..LANES {
                    acc[k] = acc[k].add(c[k]);
                }
            }
            let mut width = LANES;
            while width > 1 {
                width /= 2;
                for k in 0..width {
                    acc[k] = acc[k].add(acc[k + width]);
                }
            }
            let mut s = acc[0];
            for &v in rest {
                s = s.add(v);
            }
            return s;
        }
        // Split on a multiple of LANES so the halves keep the vector-friendly base case.
        let mid = (x.len() / 2).div_ceil(LANES) * LANES;
        pairwise_sum(&x[..mid]).add(pairwise_sum(&x[mid..]))
    }
}

/// Applies `f` to each of the `rows` runs of `len` elements; parallel when the work is large.
pub fn per_row<T: Element, R: Send>(
    data: &[T],
    len: usize,
    f: impl Fn(&[T]) -> R + Sync + Send,
) -> Vec<R> {
    if len == 0 {
        let rows = if data.is_empty() { 0 } else { data.len() };
        return (0..rows).map(|_| f(&[])).collect();
    }
    if data.len() >= PAR_THRESHOLD && data.len() / len > 1 {
        super::team::map_indices(data.len() / len, |r| f(&data[r * len..(r + 1) * len]))
    } else {
        data.chunks(len).map(f).collect()
    }
}

/// Sum of each row, with a parallel split inside long rows (full reductions).
pub fn sum_rows<T: Num>(data: &[T], rows: usize, len: usize) -> Vec<T> {
    if len == 0 {
        return vec![T::zero(); rows];
    }
    if rows == 1 && len >= PAR_THRESHOLD * 4 {
        // One run per thread, each a multiple of the vector width, summed pairwise.
        let chunk = super::team_part(len);
        let parts = super::team::map_indices(len.div_ceil(chunk), |p| {
            pairwise_sum(&data[p * chunk..((p + 1) * chunk).min(len)])
        });
        return vec![pairwise_sum(&parts)];
    }
    per_row(data, len, pairwise_sum)
}

/// Column sums of a row-major `n × inner` block, summing whole rows at a time so the inner
/// loop vectorises.
pub fn sum_leading<T: Num>(data: &[T], inner: usize) -> Vec<T> {
    let mut acc = vec![T::zero(); inner];
    if inner == 0 {
        return acc;
    }
    let rows = data.len() / inner;
    if data.len() >= PAR_THRESHOLD && rows > 1 {
        // One run of rows per thread into its own sums, added up at the end.
        let per = rows.div_ceil(super::team::parts());
        let parts = super::team::map_indices(rows.div_ceil(per), |p| {
            let mut part = vec![T::zero(); inner];
            add_rows_into(
                &data[p * per * inner..((p + 1) * per).min(rows) * inner],
                &mut part,
            );
            part
        });
        for part in parts {
            add_rows_into(&part, &mut acc);
        }
    } else {
        add_rows_into(data, &mut acc);
    }
    acc
}

/// Sums of a row-major `outer × rows × inner` block over its first and last dims: `rows`
/// sums of `outer · inner` elements each (per-channel sums of an NCHW tensor), each
/// `inner`-long run summed pairwise in place, the runs added over `outer` in order.
pub fn sum_middle<T: Num>(data: &[T], outer: usize, rows: usize, inner: usize) -> Vec<T> {
    if rows == 0 || inner == 0 {
        return vec![T::zero(); rows];
    }
    let block = rows * inner;
    let part = |range: std::ops::Range<usize>| {
        let mut acc = vec![T::zero(); rows];
        for a in range {
            add_run_sums(&data[a * block..][..block], inner, &mut acc);
        }
        acc
    };
    if data.len() < PAR_THRESHOLD || outer < 2 {
        return part(0..outer);
    }
    // One run of the outer index per thread into its own sums, added up in order.
    let per = outer.div_ceil(super::team::parts());
    let parts = super::team::map_indices(outer.div_ceil(per), |p| {
        part(p * per..((p + 1) * per).min(outer))
    });
    let mut acc = vec![T::zero(); rows];
    for part in parts {
        add_rows_into(&part, &mut acc);
    }
    acc
}

crate::simd_dispatch! {
    /// Adds the sum of each `inner`-long run of `block` into the matching element of `acc`:
    /// runs of a few hundred elements (a feature map's plane) in 16 partial sums, which
    /// vectorise without [`pairwise_sum`]'s 64-wide base case leaving most of a short run
    /// to a scalar tail; long ones pairwise.
    pub fn add_run_sums<T: Num>(block: &[T], inner: usize, acc: &mut [T]) -> () {
        for (s, run) in acc.iter_mut().zip(block.chunks_exact(inner)) {
            let sum = if inner > 4096 {
                pairwise_sum(run)
            } else {
                let (chunks, rest) = run.as_chunks::<16>();
                let mut lanes = [T::zero(); 16];
                for c in chunks {
                    for (l, &v) in lanes.iter_mut().zip(c) {
                        *l = l.add(v);
                    }
                }
                lanes.iter().chain(rest).fold(T::zero(), |a, &v| a.add(v))
            };
            *s = s.add(sum);
        }
    }
}

crate::simd_dispatch! {
    /// Adds each `acc.len()`-long row of `data` into `acc`.
    pub fn add_rows_into<T: Num>(data: &[T], acc: &mut [T]) -> () {
        for row in data.chunks_exact(acc.len()) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = a.add(v);
            }
        }
    }
}

pub fn prod_rows<T: Num>(data: &[T], rows: usize, len: usize) -> Vec<T> {
    if len == 0 {
        return vec![T::one(); rows];
    }
    per_row(data, len, |r| r.iter().fold(T::one(), |a, &b| a.mul(b)))
}

/// (value, index) of the max (or min) of each row; NaN wins, first occurrence on ties,
/// as PyTorch's `max(dim)`.
pub fn arg_extreme_rows<T: Num>(data: &[T], len: usize, want_max: bool) -> Vec<(T, i64)> {
    per_row(data, len, |r| {
        let mut best = r[0];
        let mut at = 0usize;
        if best.is_nan() {
            return (best, 0);
        }
        for (i, &v) in r.iter().enumerate().skip(1) {
            if v.is_nan() {
                return (v, i as i64);
            }
            if (want_max && v > best) || (!want_max && v < best) {
                best = v;
                at = i;
            }
        }
        (best, at as i64)
    })
}

/// Variance of each row with `correction` (Bessel's when 1), two-pass for accuracy.
pub fn var_rows<T: Float>(data: &[T], rows: usize, len: usize, correction: f64) -> Vec<T> {
    if len == 0 {
        return vec![T::lit(f64::NAN); rows];
    }
    per_row(data, len, |r| {
        let mean = pairwise_sum(r).div(T::lit(len as f64));
        let mut acc = T::zero();
        for &v in r {
            let d = v.sub(mean);
            acc = acc.add(d.mul(d));
        }
        let denom = (len as f64 - correction).max(0.0);
        acc.div(T::lit(denom))
    })
}

/// log(Σ exp(x)) of each row, shifted by the row max so large inputs do not overflow.
pub fn logsumexp_rows<T: Float>(data: &[T], rows: usize, len: usize) -> Vec<T> {
    if len == 0 {
        return vec![T::lit(f64::NEG_INFINITY); rows];
    }
    per_row(data, len, |r| {
        let m = r
            .iter()
            .fold(T::lit(f64::NEG_INFINITY), |a, &b| if b > a { b } else { a });
        if m.is_inf() {
            // All -inf gives -inf; any +inf gives +inf: no shift (it would make NaN).
            return r.iter().fold(T::zero(), |a, &b| a.add(b.exp())).ln();
        }
        let s = r.iter().fold(T::zero(), |a, &b| a.add(b.sub(m).exp()));
        m.add(s.ln())
    })
}

/// Lanes of the running maxima in [`row_max`].
pub(super) const MAX_LANES: usize = 16;

/// The largest element of a row (NaN ignored, −∞ for an empty row), kept in lanes so the
/// loop vectorises inside the `simd_dispatch!` kernels that inline it (softmax,
/// cross-entropy).
#[inline(always)]
pub fn row_max<T: Float>(r: &[T]) -> T {
    let mut lanes = [T::lit(f64::NEG_INFINITY); MAX_LANES];
    let chunks = r.chunks_exact(MAX_LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..MAX_LANES {
            if c[k] > lanes[k] {
                lanes[k] = c[k];
            }
        }
    }
    lanes
        .iter()
        .chain(rest)
        .fold(T::lit(f64::NEG_INFINITY), |a, &b| if b > a { b } else { a })
}

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

/// The elements in each thread's block of whole rows of `len` (all rows in one block when
/// the work is small).
pub(super) fn thread_block(rows: usize, len: usize) -> usize {
    let parts = if rows * len >= PAR_THRESHOLD {
        super::team::parts().min(rows).max(1)
    } else {
        1
    };
    rows.div_ceil(parts) * len
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

/// Inclusive prefix sums of each row.
pub fn cumsum_rows<T: Num>(data: &[T], len: usize) -> Vec<T> {
    let mut out = data.to_vec();
    if len == 0 {
        return out;
    }
    for row in out.chunks_mut(len) {
        let mut acc = T::zero();
        for v in row {
            acc = acc.add(*v);
            *v = acc;
        }
    }
    out
}

/// Inclusive prefix products of each row (integers wrap).
pub fn cumprod_rows<T: Num>(data: &[T], len: usize) -> Vec<T> {
    let mut out = data.to_vec();
    if len == 0 {
        return out;
    }
    for row in out.chunks_mut(len) {
        let mut acc = T::one();
        for v in row {
            acc = acc.mul(*v);
            *v = acc;
        }
    }
    out
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
    let mut out = data.to_vec();
    if len == 0 {
        return out;
    }
    for row in out.chunks_mut(len) {
        let mut acc = T::lit(f64::NEG_INFINITY);
        for v in row {
            acc = log_add_exp(*v, acc);
            *v = acc;
        }
    }
    out
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
    fn float32_sum_of_1e7_tenths_is_accurate() {
        let x = vec![0.1f32; 10_000_000];
        let s = sum_rows(&x, 1, x.len())[0] as f64;
        let exact = 0.1f32 as f64 * 1e7;
        assert!(((s - exact) / exact).abs() < 1e-4, "{s} vs {exact}");
    }

    #[test]
    fn sum_middle_matches_plain_sums() {
        // Small blocks on one thread; one large enough to be split between threads.
        for (outer, rows, inner) in [(3, 4, 5), (2, 1, 7), (1, 3, 2), (64, 6, 784)] {
            let data: Vec<f64> = (0..outer * rows * inner)
                .map(|i| ((i * 7919) % 101) as f64 - 50.0)
                .collect();
            let want: Vec<f64> = (0..rows)
                .map(|r| {
                    (0..outer)
                        .flat_map(|a| (0..inner).map(move |b| (a, b)))
                        .map(|(a, b)| data[(a * rows + r) * inner + b])
                        .sum()
                })
                .collect();
            assert_eq!(sum_middle(&data, outer, rows, inner), want);
        }
        assert_eq!(sum_middle::<f32>(&[], 4, 3, 0), vec![0.0; 3]);
    }

    #[test]
    fn argmax_takes_first_tie_and_nan() {
        assert_eq!(
            arg_extreme_rows(&[1.0f32, 3.0, 3.0], 3, true),
            vec![(3.0, 1)]
        );
        let r = arg_extreme_rows(&[1.0f64, f64::NAN, 3.0], 3, true);
        assert!(r[0].0.is_nan() && r[0].1 == 1);
    }

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

    /// Column sums split between threads (a block past the parallel threshold, rows not a
    /// multiple of the thread count) against plain sums.
    #[test]
    fn sum_leading_matches_plain_column_sums() {
        for (rows, inner) in [(1001usize, 67usize), (3, 5)] {
            let data: Vec<f64> = (0..rows * inner)
                .map(|i| ((i * 31) % 17) as f64 - 8.0)
                .collect();
            let got = sum_leading(&data, inner);
            for (c, &g) in got.iter().enumerate() {
                let want: f64 = (0..rows).map(|r| data[r * inner + c]).sum();
                assert_eq!(g, want, "{rows}x{inner} column {c}");
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
