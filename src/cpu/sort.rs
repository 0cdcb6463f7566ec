//! Sorting kernels: the order of each row, as indices.
//!
//! Each row's elements are sorted as `(value, position)` pairs under a total order (NaN
//! above everything, as PyTorch sorts; ties by position), so an unstable sort gives the
//! stable order. `topk`'s first `k` are selected in linear time: for a few (up to
//! [`FEW`]) by one pass that keeps them in order, most elements rejected by one comparison
//! with the last kept; for more by `select_nth`, then only those are sorted. Rows are
//! shared out between the threads; a single long row (`unique`'s flattened input, `sort`
//! of a vector) is sorted by a parallel sort.

use super::PAR_THRESHOLD;
use crate::tensor::dtype::Element;
use rayon::prelude::*;
use std::cmp::Ordering;

/// The most elements of a row that `topk` keeps in order in one pass.
const FEW: usize = 16;

/// Total order with NaN above everything, as PyTorch sorts.
fn cmp_nan_last<T: Element>(a: &T, b: &T) -> Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => {
            // Only NaN is unordered with itself.
            let is_nan = |v: &T| v.partial_cmp(v).is_none();
            is_nan(a).cmp(&is_nan(b))
        }
    }
}

/// The indices of each contiguous `len`-long row's first `k` elements in sorted order
/// (stable: equal elements keep their order).
pub fn sort_rows<T: Element>(data: &[T], len: usize, descending: bool, k: usize) -> Vec<i64> {
    let rows = data.len().checked_div(len).unwrap_or(0);
    let mut out = vec![0i64; rows * k];
    if k == 0 {
        return out;
    }
    let order = |a: &(T, usize), b: &(T, usize)| {
        let o = cmp_nan_last(&a.0, &b.0);
        let o = if descending { o.reverse() } else { o };
        o.then(a.1.cmp(&b.1))
    };
    let one_row = |row: &[T], dst: &mut [i64], parallel: bool| {
        if k <= FEW && k * 4 < len {
            // The first `k` so far, in order; a later element equal to the last is after
            // it (its position is larger), so only one strictly before it gets in.
            let mut kept: Vec<(T, usize)> = Vec::with_capacity(k + 1);
            for (i, &v) in row.iter().enumerate() {
                let e = (v, i);
                if kept.len() == k {
                    if order(&e, &kept[k - 1]) != Ordering::Less {
                        continue;
                    }
                    kept.pop();
                }
                let at = kept.partition_point(|p| order(p, &e) == Ordering::Less);
                kept.insert(at, e);
            }
            for (d, p) in dst.iter_mut().zip(&kept) {
                *d = p.1 as i64;
            }
            return;
        }
        let mut pairs: Vec<(T, usize)> = row.iter().copied().zip(0..).collect();
        if k < len {
            pairs.select_nth_unstable_by(k - 1, order);
            pairs.truncate(k);
        }
        if parallel {
            pairs.par_sort_unstable_by(order);
        } else {
            pairs.sort_unstable_by(order);
        }
        for (d, p) in dst.iter_mut().zip(&pairs) {
            *d = p.1 as i64;
        }
    };
    if data.len() < PAR_THRESHOLD {
        for (row, dst) in data.chunks(len).zip(out.chunks_mut(k)) {
            one_row(row, dst, false);
        }
    } else if rows == 1 {
        one_row(data, &mut out, true);
    } else {
        // Enough rows per task that each is worth a thread's hand-off.
        let per = PAR_THRESHOLD.div_ceil(len).max(1);
        data.par_chunks(len)
            .zip(out.par_chunks_mut(k))
            .with_min_len(per)
            .for_each(|(row, dst)| one_row(row, dst, false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_sorts_last_and_ties_stay_in_order() {
        let row = [2.0f64, f64::NAN, 1.0, 2.0];
        assert_eq!(sort_rows(&row, 4, false, 4), vec![2, 0, 3, 1]);
        assert_eq!(sort_rows(&row, 4, true, 2), vec![1, 0]);
    }

    /// Every path (one thread, rows on the threads, one long row; all `k` and a few)
    /// against a stable sort of the indices.
    #[test]
    fn every_path_matches_a_stable_sort() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Few distinct values, so ties are common; some NaN.
            match (state >> 33) % 23 {
                0 => f32::NAN,
                v => (v % 7) as f32 - 3.0,
            }
        };
        for (rows, len) in [(3, 50), (700, 97), (1, 70_000)] {
            let data: Vec<f32> = (0..rows * len).map(|_| next()).collect();
            for descending in [false, true] {
                for k in [len, 30, 5, 1] {
                    let mut want = Vec::new();
                    for row in data.chunks(len) {
                        let mut ix: Vec<usize> = (0..len).collect();
                        ix.sort_by(|&a, &b| {
                            let o = cmp_nan_last(&row[a], &row[b]);
                            if descending {
                                o.reverse()
                            } else {
                                o
                            }
                        });
                        want.extend(ix[..k].iter().map(|&i| i as i64));
                    }
                    assert_eq!(
                        sort_rows(&data, len, descending, k),
                        want,
                        "{rows}×{len} k={k}"
                    );
                }
            }
        }
    }
}
