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
    if shape.contains(&0) {
        return;
    }
    let (shape, strides) = coalesce(shape, strides);
    let nd = shape.len();
    if nd == 0 {
        f(offsets0);
        return;
    }
    let inner = shape[nd - 1];
    let inner_strides: [isize; N] = std::array::from_fn(|k| strides[k][nd - 1]);
    let mut index = vec![0usize; nd - 1];
    let mut base: [isize; N] = std::array::from_fn(|k| offsets0[k] as isize);
    loop {
        let mut off = base;
        for _ in 0..inner {
            f(std::array::from_fn(|k| off[k] as usize));
            for k in 0..N {
                off[k] += inner_strides[k];
            }
        }
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
