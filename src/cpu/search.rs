//! Sorted search (`searchsorted`, `bucketize`): a binary search per value.

use super::PAR_THRESHOLD;
use crate::tensor::dtype::Element;
use rayon::prelude::*;
use std::cmp::Ordering;

/// The insertion point of `v` in the sorted `seq`: the first position whose element is
/// `>= v` (`right`: `> v`). The comparisons are PyTorch's (`!(mid >= v)` moves right), so a
/// NaN value — and any value facing NaN boundaries — goes to the end, as there.
#[inline]
pub fn insertion_point<T: Element>(seq: &[T], v: T, right: bool) -> usize {
    let (mut lo, mut hi) = (0usize, seq.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let m = seq[mid];
        // PyTorch's `!(m >= v)` (`!(m > v)` on the right): an incomparable pair (a NaN
        // on either side) moves right too.
        let go_right = match m.partial_cmp(&v) {
            Some(Ordering::Less) | None => true,
            Some(Ordering::Equal) => right,
            Some(Ordering::Greater) => false,
        };
        if go_right {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// For each of the `rows × per_row` contiguous `values`, its insertion point in row
/// `r` of the contiguous `rows × len` `seq` (one row shared by all when `seq` has a single
/// row), converted to `I` (int64 or int32). Parallel over values for large inputs.
pub fn search_sorted<T: Element, I: Send + TryFrom<usize>>(
    seq: &[T],
    len: usize,
    values: &[T],
    per_row: usize,
    right: bool,
) -> Vec<I> {
    let shared = seq.len() == len;
    let one = |(k, &v): (usize, &T)| {
        let r = if shared || per_row == 0 {
            0
        } else {
            k / per_row
        };
        let p = insertion_point(&seq[r * len..(r + 1) * len], v, right);
        // A position is at most `len`, which the op layer checked fits `I`.
        I::try_from(p).unwrap_or_else(|_| unreachable!("position {p} fits the output type"))
    };
    if values.len() >= PAR_THRESHOLD / 4 && super::team::parts() > 1 {
        values.par_iter().enumerate().map(one).collect()
    } else {
        values.iter().enumerate().map(one).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_and_right_insertion_points() {
        let seq = [1.0f64, 2.0, 2.0, 3.0];
        let vals = [0.0, 2.0, 2.5, 9.0, f64::NAN];
        let l: Vec<i64> = search_sorted(&seq, 4, &vals, 5, false);
        let r: Vec<i64> = search_sorted(&seq, 4, &vals, 5, true);
        assert_eq!(l, vec![0, 1, 3, 4, 4]);
        assert_eq!(r, vec![0, 3, 3, 4, 4]);
        // One sorted row per row of values.
        let seq = [1i32, 5, 10, 20];
        let got: Vec<i32> = search_sorted(&seq, 2, &[4, 7, 15, 25], 2, false);
        assert_eq!(got, vec![1, 2, 1, 2]);
    }
}
