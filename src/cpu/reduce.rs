//! Reduction kernels over contiguous rows: the op layer arranges the reduced dims last, so
//! every kernel here sees `rows` runs of `len` contiguous elements.

use super::PAR_THRESHOLD;
use crate::backend::num::{Float, Num};
use crate::tensor::dtype::Element;

/// Independent partial sums in the base case: four 8-lane vectors, so the adds pipeline
/// instead of waiting on one accumulator's latency.
const LANES: usize = 64;

// The tree in `lanes_sum` halves from this width.
const _: () = assert!(LANES == 64);

crate::simd_dispatch! {
    /// Pairwise summation: error grows with log(n), not n, so float32 sums of 10^7 terms stay
    /// accurate. The base case ([`lanes_sum`]) keeps `LANES` partial sums, which the
    /// compiler vectorises.
    pub fn pairwise_sum<T: Num>(x: &[T]) -> T {
        if x.len() <= PAIRWISE_BASE {
            return lanes_sum(x);
        }
        // Split on a multiple of LANES so the halves keep the vector-friendly base case.
        let mid = (x.len() / 2).div_ceil(LANES) * LANES;
        pairwise_sum(&x[..mid]).add(pairwise_sum(&x[mid..]))
    }
}

/// The longest run [`pairwise_sum`] sums in one pass of [`lanes_sum`].
const PAIRWISE_BASE: usize = 4096;

/// The base case of [`pairwise_sum`]: `LANES` partial sums over whole chunks, added in a
/// tree, then the tail in order (a run shorter than `LANES` is summed in order from zero,
/// which is what the tree of zeros would give).
#[inline(always)]
fn lanes_sum<T: Num>(x: &[T]) -> T {
    let (chunks, rest) = x.as_chunks::<LANES>();
    let mut s = T::zero();
    if !chunks.is_empty() {
        let mut acc = [T::zero(); LANES];
        for c in chunks {
            for k in 0..LANES {
                acc[k] = acc[k].add(c[k]);
            }
        }
        // Constant widths, so that every index is known and the partial sums stay in
        // registers through the loop above (a computed width kept them on the stack).
        for width in [32, 16, 8, 4, 2, 1] {
            for k in 0..width {
                acc[k] = acc[k].add(acc[k + width]);
            }
        }
        s = acc[0];
    }
    for &v in rest {
        s = s.add(v);
    }
    s
}

crate::simd_dispatch! {
    /// [`pairwise_sum`] of each `len`-long run of `data` into `out`: a block of rows in one
    /// call, so that short rows cost no call and dispatch each.
    pub fn sum_block<T: Num>(data: &[T], len: usize, out: &mut [T]) -> () {
        for (o, r) in out.iter_mut().zip(data.chunks_exact(len)) {
            *o = if len <= PAIRWISE_BASE { lanes_sum(r) } else { pairwise_sum(r) };
        }
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
    let mut out = vec![T::zero(); rows];
    per_row_block(data, len, &mut out, |d, o| sum_block(d, len, o));
    out
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

/// `block(d, o)` on each thread's block of whole rows of `data` (`len` each, `len > 0`) and
/// the matching part of `out` (one value per row); one block on the calling thread when the
/// work is small.
fn per_row_block<T: Element, R: Send>(
    data: &[T],
    len: usize,
    out: &mut [R],
    block: impl Fn(&[T], &mut [R]) + Sync,
) {
    if out.is_empty() {
        return;
    }
    let per = thread_block(out.len(), len) / len;
    let items: Vec<_> = out.chunks_mut(per).zip(data.chunks(per * len)).collect();
    super::team::for_each_part(items, |(o, d)| block(d, o));
}

/// Whether `v` replaces the running maximum `best` in [`run_extreme`]: a NaN `best` stays,
/// a NaN `v` replaces a number, ties keep `best`.
#[inline(always)]
fn replaces_max<T: Num>(v: T, best: T) -> bool {
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let not_below = !(v <= best);
    !best.is_nan() && not_below
}

/// [`replaces_max`] for the running minimum.
#[inline(always)]
fn replaces_min<T: Num>(v: T, best: T) -> bool {
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let not_above = !(v >= best);
    !best.is_nan() && not_above
}

/// The extreme of a non-empty run by `replaces`, kept in lanes (a compare and a blend per
/// vector, where [`arg_extreme_rows`]' index-tracking loop stays scalar), then the tail in
/// order. Which of two equal values (±0) wins depends on their lanes.
#[inline(always)]
fn lanes_extreme<T: Num>(r: &[T], replaces: impl Fn(T, T) -> bool) -> T {
    let pick = |b: T, v: T| if replaces(v, b) { v } else { b };
    // `WIDE` lanes over whole runs of them (four vectors of float32, so that four compares
    // are in flight where one set of `MAX_LANES` waits on each), folded to `MAX_LANES`.
    const WIDE: usize = 4 * MAX_LANES;
    let (wide, r) = r.as_chunks::<WIDE>();
    let mut lanes: Option<[T; MAX_LANES]> = None;
    if let Some((first, wide)) = wide.split_first() {
        let mut all = *first;
        for c in wide {
            for k in 0..WIDE {
                all[k] = pick(all[k], c[k]);
            }
        }
        let mut one: [T; MAX_LANES] = std::array::from_fn(|k| all[k]);
        for set in 1..4 {
            for k in 0..MAX_LANES {
                one[k] = pick(one[k], all[set * MAX_LANES + k]);
            }
        }
        lanes = Some(one);
    }
    let (chunks, rest) = r.as_chunks::<MAX_LANES>();
    let mut chunks = chunks.iter();
    let mut lanes = match lanes.or_else(|| chunks.next().copied()) {
        Some(lanes) => lanes,
        None => return rest[1..].iter().fold(rest[0], |b, &v| pick(b, v)),
    };
    for c in chunks {
        for k in 0..MAX_LANES {
            lanes[k] = pick(lanes[k], c[k]);
        }
    }
    // The lanes in halves (a few vector steps where a chain through them is scalar), then
    // the tail in order.
    let mut width = MAX_LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            lanes[k] = pick(lanes[k], lanes[k + width]);
        }
    }
    rest.iter().fold(lanes[0], |b, &v| pick(b, v))
}

/// The max (or min) of a non-empty run as PyTorch's `amax`: NaN wins (the run's first NaN,
/// as [`arg_extreme_rows`] gives).
#[inline(always)]
fn run_extreme<T: Num>(r: &[T], want_max: bool) -> T {
    let best = if want_max {
        lanes_extreme(r, replaces_max)
    } else {
        lanes_extreme(r, replaces_min)
    };
    if best.is_nan() {
        r.iter().copied().find(|v| v.is_nan()).unwrap_or(best)
    } else {
        best
    }
}

crate::simd_dispatch! {
    /// The max (or min) of each `len`-long run of `data` into `out` (see [`run_extreme`]).
    pub fn extreme_block<T: Num>(data: &[T], len: usize, want_max: bool, out: &mut [T]) -> () {
        for (o, r) in out.iter_mut().zip(data.chunks_exact(len)) {
            *o = run_extreme(r, want_max);
        }
    }
}

crate::simd_dispatch! {
    /// Folds each `acc.len()`-long row of `data` into `acc` element by element, the max (or
    /// min) as [`run_extreme`] takes it, in order: a column's first NaN wins.
    pub fn extreme_rows_into<T: Num>(data: &[T], want_max: bool, acc: &mut [T]) -> () {
        if want_max {
            fold_rows(data, acc, replaces_max)
        } else {
            fold_rows(data, acc, replaces_min)
        }
    }
}

/// Folds each `acc.len()`-long row of `data` into `acc` element by element by `replaces`.
#[inline(always)]
fn fold_rows<T: Num>(data: &[T], acc: &mut [T], replaces: impl Fn(T, T) -> bool) {
    for row in data.chunks_exact(acc.len()) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a = if replaces(v, *a) { v } else { *a };
        }
    }
}

/// The max (or min) of each of the `rows` runs of `len > 0` elements (`amax`/`amin`), NaN
/// winning: vectorised, a block of rows per thread, and one long row split between threads.
pub fn extreme_rows<T: Num>(data: &[T], rows: usize, len: usize, want_max: bool) -> Vec<T> {
    if rows == 1 && len >= PAR_THRESHOLD {
        let chunk = super::team_part(len);
        let parts = super::team::map_indices(len.div_ceil(chunk), |p| {
            let part = &data[p * chunk..((p + 1) * chunk).min(len)];
            let mut best = [T::zero()];
            extreme_block(part, part.len(), want_max, &mut best);
            best[0]
        });
        // The parts in order, so the first NaN wins as in one pass.
        let mut best = [parts[0]];
        extreme_rows_into(&parts[1..], want_max, &mut best);
        return best.to_vec();
    }
    let mut out = vec![T::zero(); rows];
    per_row_block(data, len, &mut out, |d, o| {
        extreme_block(d, len, want_max, o)
    });
    out
}

/// The max (or min) over the first and last dims of a row-major `outer × rows × inner`
/// block (`outer > 0`), read in place: a reduction over leading dims (`inner` 1) folds
/// whole rows element by element, so it vectorises instead of gathering every column into
/// a row first. One run of the outer index per thread, folded in order.
pub fn extreme_middle<T: Num>(
    data: &[T],
    outer: usize,
    rows: usize,
    inner: usize,
    want_max: bool,
) -> Vec<T> {
    let block = rows * inner;
    let part = |range: std::ops::Range<usize>| {
        if inner == 1 {
            let mut acc = data[range.start * block..][..block].to_vec();
            extreme_rows_into(
                &data[(range.start + 1) * block..range.end * block],
                want_max,
                &mut acc,
            );
            return acc;
        }
        let mut acc: Option<Vec<T>> = None;
        let mut runs = vec![T::zero(); rows];
        for a in range {
            extreme_block(&data[a * block..][..block], inner, want_max, &mut runs);
            match &mut acc {
                None => acc = Some(runs.clone()),
                Some(acc) => extreme_rows_into(&runs, want_max, acc),
            }
        }
        acc.unwrap_or(runs)
    };
    if block == 0 || data.len() < PAR_THRESHOLD || outer < 2 {
        return part(0..outer);
    }
    let per = outer.div_ceil(super::team::parts());
    let parts = super::team::map_indices(outer.div_ceil(per), |p| {
        part(p * per..((p + 1) * per).min(outer))
    });
    let mut parts = parts.into_iter();
    let mut acc = parts.next().unwrap_or_default();
    for part in parts {
        extreme_rows_into(&part, want_max, &mut acc);
    }
    acc
}

crate::simd_dispatch! {
    /// `Σ (x − mean)²` of a run, in `MAX_LANES` partial sums so that it vectorises.
    pub fn squared_deviations<T: Float>(x: &[T], mean: T) -> T {
        let mut lanes = [T::zero(); MAX_LANES];
        let (chunks, rest) = x.as_chunks::<MAX_LANES>();
        for c in chunks {
            for k in 0..MAX_LANES {
                let d = c[k].sub(mean);
                lanes[k] = lanes[k].add(d.mul(d));
            }
        }
        for &v in rest {
            let d = v.sub(mean);
            lanes[0] = lanes[0].add(d.mul(d));
        }
        let mut width = MAX_LANES;
        while width > 1 {
            width /= 2;
            for k in 0..width {
                lanes[k] = lanes[k].add(lanes[k + width]);
            }
        }
        lanes[0]
    }
}

/// Variance of each row with `correction` (Bessel's when 1), two-pass for accuracy; both
/// passes vectorised, and one long row (a full `var()`) split between threads.
pub fn var_rows<T: Float>(data: &[T], rows: usize, len: usize, correction: f64) -> Vec<T> {
    if len == 0 {
        return vec![T::lit(f64::NAN); rows];
    }
    let (n, denom) = (
        T::lit(len as f64),
        T::lit((len as f64 - correction).max(0.0)),
    );
    if rows == 1 && len >= PAR_THRESHOLD {
        let mean = sum_rows(data, 1, len)[0].div(n);
        let chunk = super::team_part(len);
        let parts = super::team::map_indices(len.div_ceil(chunk), |p| {
            squared_deviations(&data[p * chunk..((p + 1) * chunk).min(len)], mean)
        });
        return vec![pairwise_sum(&parts).div(denom)];
    }
    per_row(data, len, |r| {
        squared_deviations(r, pairwise_sum(r).div(n)).div(denom)
    })
}

/// log(Σ exp(x)) of each row, shifted by the row max so large inputs do not overflow; a
/// block of rows per thread (see [`logsumexp_block`]).
pub fn logsumexp_rows<T: Float>(data: &[T], rows: usize, len: usize) -> Vec<T> {
    if len == 0 {
        return vec![T::lit(f64::NEG_INFINITY); rows];
    }
    let mut out = vec![T::zero(); rows];
    per_row_block(data, len, &mut out, |d, o| logsumexp_block(d, len, o));
    out
}

crate::simd_dispatch! {
    /// log(Σ exp(x)) of each `len`-long row of `data` into `out`: the row's maximum in
    /// lanes, then `e^{x − max}` summed in lanes, so both passes vectorise (the scalar
    /// folds they replace called `exp` one element at a time).
    pub fn logsumexp_block<T: Float>(data: &[T], len: usize, out: &mut [T]) -> () {
        for (o, r) in out.iter_mut().zip(data.chunks_exact(len)) {
            let m = row_max(r);
            if m.is_inf() {
                // All -inf gives -inf; any +inf gives +inf: no shift (it would make NaN).
                *o = r.iter().fold(T::zero(), |a, &b| a.add(b.exp())).ln();
                continue;
            }
            let mut lanes = [T::zero(); MAX_LANES];
            let (chunks, rest) = r.as_chunks::<MAX_LANES>();
            for c in chunks {
                for k in 0..MAX_LANES {
                    lanes[k] = lanes[k].add(c[k].sub(m).exp());
                }
            }
            for &x in rest {
                lanes[0] = lanes[0].add(x.sub(m).exp());
            }
            *o = m.add(pairwise_sum(&lanes).ln());
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
}
