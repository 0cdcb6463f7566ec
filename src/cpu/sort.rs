//! Sorting kernels: the order of each row, as indices.

use crate::tensor::dtype::Element;
use std::cmp::Ordering;

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
    let mut out = Vec::with_capacity(rows * k);
    for row in data.chunks(len.max(1)) {
        let mut ix: Vec<usize> = (0..row.len()).collect();
        ix.sort_by(|&a, &b| {
            let o = cmp_nan_last(&row[a], &row[b]);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        out.extend(ix[..k.min(ix.len())].iter().map(|&i| i as i64));
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
}
