//! The general strided path: walking several equally-shaped strided operands in row-major
//! order. Dimensions that are contiguous for every operand are merged first, so a walk over
//! a contiguous or merely broadcast tensor runs as a few long inner loops.

pub use crate::tensor::layout::{broadcast_strides, coalesce};

/// Calls `f(offsets)` for every index of `shape` in row-major order, where `offsets[k]` is
/// operand k's element offset (`offsets0[k] + Σ index·strides[k]`).
#[inline]
pub fn walk<const N: usize>(
    shape: &[usize],
    strides: [&[isize]; N],
    offsets0: [usize; N],
    mut f: impl FnMut([usize; N]),
) {
    let n: usize = shape.iter().product();
    walk_runs(shape, strides, offsets0, 0..n, |start, len, step| {
        let mut off: [isize; N] = std::array::from_fn(|k| start[k] as isize);
        for _ in 0..len {
            f(std::array::from_fn(|k| off[k] as usize));
            for k in 0..N {
                off[k] += step[k];
            }
        }
    });
}

/// Calls `f(offsets, len, inner_strides)` for each run of consecutive row-major indices
/// in `range` that share the innermost dimension (after merging dimensions contiguous for
/// every operand): `offsets[k]` is operand k's element offset at the run's first index, and
/// the run's elements lie `inner_strides[k]` apart. Kernels move whole runs at a time (a
/// slice copy, a fill for a broadcast operand, a vector loop) instead of one closure call
/// per element, and threads walk disjoint ranges of one output.
pub fn walk_runs<const N: usize>(
    shape: &[usize],
    strides: [&[isize]; N],
    offsets0: [usize; N],
    range: std::ops::Range<usize>,
    mut f: impl FnMut([usize; N], usize, [isize; N]),
) {
    if range.is_empty() || shape.contains(&0) {
        return;
    }
    let (shape, strides) = coalesce(shape, strides);
    let nd = shape.len();
    if nd == 0 {
        f(offsets0, 1, [0; N]);
        return;
    }
    let inner = shape[nd - 1];
    let inner_strides: [isize; N] = std::array::from_fn(|k| strides[k][nd - 1]);
    // The multi-index of the range's first element over the outer dimensions.
    let (mut outer, mut j) = (range.start / inner, range.start % inner);
    let mut index = vec![0usize; nd - 1];
    let mut base: [isize; N] = std::array::from_fn(|k| offsets0[k] as isize);
    for d in (0..nd - 1).rev() {
        index[d] = outer % shape[d];
        outer /= shape[d];
        for k in 0..N {
            base[k] += index[d] as isize * strides[k][d];
        }
    }
    let mut left = range.len();
    loop {
        let len = (inner - j).min(left);
        f(
            std::array::from_fn(|k| (base[k] + j as isize * inner_strides[k]) as usize),
            len,
            inner_strides,
        );
        left -= len;
        if left == 0 {
            return;
        }
        j = 0;
        // Advance the outer multi-index like an odometer.
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            for k in 0..N {
                base[k] += strides[k][d];
            }
            if index[d] < shape[d] {
                break;
            }
            for k in 0..N {
                base[k] -= strides[k][d] * shape[d] as isize;
            }
            index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_transposed_visits_row_major() {
        // A 2x3 tensor stored column-major (a transpose of a contiguous 3x2).
        let mut seen = vec![];
        walk(&[2, 3], [&[1, 2]], [0], |[o]| seen.push(o));
        assert_eq!(seen, vec![0, 2, 4, 1, 3, 5]);
    }

    /// Every sub-range of a walk visits the same offsets, in the same order, as the
    /// element-by-element walk.
    #[test]
    fn walk_runs_matches_walk_on_every_range() {
        let (shape, st_a, st_b) = ([2usize, 3, 4], [1isize, 2, 6], [0isize, 4, 1]);
        let mut all = vec![];
        walk(&shape, [&st_a, &st_b], [5, 0], |o| all.push(o));
        for start in 0..=all.len() {
            for end in start..=all.len() {
                let mut seen = vec![];
                walk_runs(&shape, [&st_a, &st_b], [5, 0], start..end, |o, len, s| {
                    for i in 0..len as isize {
                        seen.push(std::array::from_fn(|k| (o[k] as isize + i * s[k]) as usize));
                    }
                });
                assert_eq!(seen, all[start..end], "range {start}..{end}");
            }
        }
        let mut n = 0;
        walk_runs(&[], [&[]], [7], 0..1, |[o], len, _| {
            assert_eq!((o, len), (7, 1));
            n += 1;
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn walk_empty_and_scalar() {
        let mut n = 0;
        walk(&[0, 3], [&[3, 1]], [0], |_| n += 1);
        assert_eq!(n, 0);
        walk(&[], [&[]], [5], |[o]| {
            assert_eq!(o, 5);
            n += 1
        });
        assert_eq!(n, 1);
    }
}
