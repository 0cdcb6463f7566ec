//! The transforms of [`super`]: filters (`G·g·Gᵀ` and back), input tiles (`Bᵀ·d·B`),
//! output gradients (`A·dy·Aᵀ`) and products (`Aᵀ·m·A`), each over a whole plane of blocks
//! in one flat loop.

use super::{Plan, Strip};
use crate::backend::num::Num;
use crate::cpu::conv::{all_finite, Fma};
use std::mem::MaybeUninit;

crate::simd_dispatch! {
    /// `A·dy·Aᵀ` of every 2×2 block of an output gradient (four phase planes of `ph`, a
    /// block's values at its index) into `dst` (sixteen rows of blocks), for r = 3. `A`'s
    /// rows: (1,0), (1,1), (1,−1), (0,−1), applied to the block's rows, then to each
    /// result's columns.
    pub(super) fn grad_plane_3<T: Fma>(plane: &[T], ph: usize, dst: &mut [&mut [MaybeUninit<T>]; 16]) -> () {
        let nb = dst[0].len();
        let y = |phase: usize| &plane[phase * ph..][..nb];
        let (y00, y01, y10, y11) = (y(0), y(1), y(2), y(3));
        for q in 0..nb {
            // A·dy: four rows of two.
            let r = [
                [y00[q], y01[q]],
                [y00[q].add(y10[q]), y01[q].add(y11[q])],
                [y00[q].sub(y10[q]), y01[q].sub(y11[q])],
                [y10[q].neg(), y11[q].neg()],
            ];
            for (a, [c0, c1]) in r.into_iter().enumerate() {
                dst[4 * a][q].write(c0);
                dst[4 * a + 1][q].write(c0.add(c1));
                dst[4 * a + 2][q].write(c0.sub(c1));
                dst[4 * a + 3][q].write(c1.neg());
            }
        }
    }
}

crate::simd_dispatch! {
    /// [`grad_plane_3`] for r = 2, into nine rows. `A`'s rows: (1,0), (1,1), (0,1).
    pub(super) fn grad_plane_2<T: Fma>(plane: &[T], ph: usize, dst: &mut [&mut [MaybeUninit<T>]; 9]) -> () {
        let nb = dst[0].len();
        let y = |phase: usize| &plane[phase * ph..][..nb];
        let (y00, y01, y10, y11) = (y(0), y(1), y(2), y(3));
        for q in 0..nb {
            // A·dy: three rows of two.
            let r = [
                [y00[q], y01[q]],
                [y00[q].add(y10[q]), y01[q].add(y11[q])],
                [y10[q], y11[q]],
            ];
            for (a, [c0, c1]) in r.into_iter().enumerate() {
                dst[3 * a][q].write(c0);
                dst[3 * a + 1][q].write(c0.add(c1));
                dst[3 * a + 2][q].write(c1);
            }
        }
    }
}

/// One side of `G·g·Gᵀ`: `G` times a column of `r` taps (the first `r` of `v`), `r + 1`
/// values (the first of the result). `G`'s rows for r = 3: (1,0,0), ½(1,1,1), ½(1,−1,1),
/// (0,0,1); for r = 2: (1,0), (1,1), (0,1).
fn filter_side<T: Num>(r: usize, v: [T; 3], half: T) -> [T; 4] {
    if r == 3 {
        [
            v[0],
            v[0].add(v[1]).add(v[2]).mul(half),
            v[0].sub(v[1]).add(v[2]).mul(half),
            v[2],
        ]
    } else {
        [v[0], v[0].add(v[1]), v[1], T::zero()]
    }
}

/// One side of `Gᵀ·du·G`: `Gᵀ` times a column of `r + 1` values, `r` taps (the first of
/// the result). `Gᵀ`'s rows for r = 3: (1,½,½,0), (0,½,−½,0), (0,½,½,1); for r = 2:
/// (1,1,0), (0,1,1).
fn grad_side<T: Num>(r: usize, v: [T; 4], half: T) -> [T; 3] {
    if r == 3 {
        let (s, d) = (v[1].add(v[2]).mul(half), v[1].sub(v[2]).mul(half));
        [v[0].add(s), d, s.add(v[3])]
    } else {
        [v[0].add(v[1]), v[1].add(v[2]), T::zero()]
    }
}

/// The weight gradient from its transform-domain sums `du` (`[(r + 1)², cout, cin]`):
/// `Gᵀ·du·G` per filter, a contiguous `[cout, cin, r, r]`.
pub(super) fn filter_grads<T: Num>(du: &[T], cout: usize, cin: usize, r: usize) -> Vec<T> {
    let half = T::one().div(T::one().add(T::one()));
    let a = r + 1;
    let mut out = vec![T::zero(); cout * cin * r * r];
    for (kc, f) in out.chunks_exact_mut(r * r).enumerate() {
        let at = |i: usize, j: usize| {
            if i < a && j < a {
                du[(i * a + j) * cout * cin + kc]
            } else {
                T::zero()
            }
        };
        // du·G: each row to `r` columns, then Gᵀ·(du·G) down each column.
        let rows: [[T; 3]; 4] =
            std::array::from_fn(|i| grad_side(r, [at(i, 0), at(i, 1), at(i, 2), at(i, 3)], half));
        for j in 0..r {
            let col = grad_side(r, [rows[0][j], rows[1][j], rows[2][j], rows[3][j]], half);
            for (i, &v) in col[..r].iter().enumerate() {
                f[i * r + j] = v;
            }
        }
    }
    out
}

/// The filters in the transform domain, `G·g·Gᵀ`: `[(r + 1)², cout', cin']` where the
/// primed counts are `w`'s (`[cout, cin, r, r]`), or, `flipped`, the input gradient's: each
/// filter turned 180° and the channel roles swapped. `None` if a weight is not finite.
pub(super) fn filters<T: Fma>(
    w: &[T],
    cout: usize,
    cin: usize,
    flipped: bool,
    r: usize,
) -> Option<Vec<T>> {
    if !all_finite(w) {
        return None;
    }
    let (rows, cols) = if flipped { (cin, cout) } else { (cout, cin) };
    let half = T::one().div(T::one().add(T::one()));
    let a = r + 1;
    let mut u = vec![T::zero(); a * a * rows * cols];
    for row in 0..rows {
        for col in 0..cols {
            let (k, ch) = if flipped { (col, row) } else { (row, col) };
            let f = &w[(k * cin + ch) * r * r..][..r * r];
            let g = |i: usize, j: usize| match (i < r && j < r, flipped) {
                (false, _) => T::zero(),
                (true, true) => f[(r - 1 - i) * r + r - 1 - j],
                (true, false) => f[i * r + j],
            };
            // G·g (a×r) column by column, then (G·g)·Gᵀ (a×a) row by row.
            let gg: [[T; 4]; 3] =
                std::array::from_fn(|j| filter_side(r, [g(0, j), g(1, j), g(2, j)], half));
            for i in 0..a {
                let t = filter_side(r, [gg[0][i], gg[1][i], gg[2][i]], half);
                for (j, &v) in t[..a].iter().enumerate() {
                    u[((i * a + j) * rows + row) * cols + col] = v;
                }
            }
        }
    }
    Some(u)
}

crate::simd_dispatch! {
    /// The plane at `at` (strides `sy`, `sx`), padded, into its four phase planes (of
    /// `strip`, zeroed before): phase `(a, b)` holds padded row `2·i + a`, column `2·j + b`
    /// at `i·span + col + j`, so a block's tile (4×4, or 3×3 for r = 2) is the four phase
    /// planes read at its index and the next row's and column's.
    pub(super) fn phases<T: Fma>(x: &[T], at: isize, strides: [isize; 2], plan: Plan, strip: Strip, col: usize, plane: &mut [T]) -> () {
        let [sy, sx] = strides;
        let (ph, wide) = (strip.ph, plan.wide());
        // Padded columns `lo..hi` hold the input; the blocks read `2·wide` of them.
        let (lo, hi) = (plan.px, (plan.px + plan.w).min(2 * wide));
        // Padded rows `py..py + h` hold the input; the blocks read `2·(th + 1)` of them.
        for y in 0..plan.h.min((2 * plan.th + 2).saturating_sub(plan.py)) {
            let yy = y + plan.py;
            let start = at + y as isize * sy;
            for parity in 0..2 {
                // Columns `xx = 2·j + parity` in `lo..hi`, read from input column `xx − lo`.
                let (ja, jb) = ((lo + 1 - parity) / 2, (hi + 1 - parity) / 2);
                if ja >= jb {
                    continue;
                }
                let first = start + (2 * ja + parity - lo) as isize * sx;
                let row = (2 * (yy % 2) + parity) * ph + yy / 2 * strip.span + col;
                let dst = &mut plane[row + ja..row + jb];
                if sx == 1 {
                    let src = &x[first as usize..][..2 * (jb - ja) - 1];
                    dst.iter_mut()
                        .zip(src.iter().step_by(2))
                        .for_each(|(d, &v)| *d = v);
                } else if sx > 0 {
                    // Strided columns, such as a phase of a phase (`Source::Phases`, every
                    // fourth element).
                    let step = 2 * sx as usize;
                    let src = &x[first as usize..][..step * (jb - ja - 1) + 1];
                    dst.iter_mut()
                        .zip(src.iter().step_by(step))
                        .for_each(|(d, &v)| *d = v);
                } else {
                    for (j, d) in dst.iter_mut().enumerate() {
                        *d = x[(first + 2 * j as isize * sx) as usize];
                    }
                }
            }
        }
    }
}

crate::simd_dispatch! {
    /// `Bᵀ·d·B` of every block of `plane` (four phase planes of `ph`, rows of `span`) into
    /// `dst` (sixteen rows of blocks), for r = 3. `Bᵀ` first combines each block's four
    /// rows — even and odd phase rows at its index and the next row's — into four (two
    /// phases each, in `rows`); then `B` combines each of those rows' four columns — even
    /// and odd at the block and the next one. `Bᵀ`'s rows: (1,0,−1,0), (0,1,1,0), (0,−1,1,0), (0,1,0,−1).
    pub(super) fn input_plane_3<T: Fma>(plane: &[T], ph: usize, span: usize, rows: &mut [T], dst: &mut [&mut [T]; 16]) -> () {
        let nb = dst[0].len();
        let n1 = nb + 1;
        for (b, u) in rows.chunks_exact_mut(4 * n1).take(2).enumerate() {
            let p0 = &plane[b * ph..][..ph];
            let p1 = &plane[(2 + b) * ph..][..ph];
            let (d0, d2) = (&p0[..n1], &p0[span..][..n1]);
            let (d1, d3) = (&p1[..n1], &p1[span..][..n1]);
            let (u0, rest) = u.split_at_mut(n1);
            let (u1, rest) = rest.split_at_mut(n1);
            let (u2, u3) = rest.split_at_mut(n1);
            let u3 = &mut u3[..n1];
            for q in 0..n1 {
                u0[q] = d0[q].sub(d2[q]);
                u1[q] = d1[q].add(d2[q]);
                u2[q] = d2[q].sub(d1[q]);
                u3[q] = d1[q].sub(d3[q]);
            }
        }
        let (even, odd) = rows.split_at(4 * n1);
        for (a, out) in dst.chunks_exact_mut(4).enumerate() {
            let (e, o) = (&even[a * n1..][..n1], &odd[a * n1..][..n1]);
            let (c0, c1, c2, c3) = (&e[..nb], &o[..nb], &e[1..], &o[1..]);
            let [s0, s1, s2, s3] = out else {
                unreachable!("rows of four")
            };
            let (s0, s1, s2, s3) = (&mut s0[..nb], &mut s1[..nb], &mut s2[..nb], &mut s3[..nb]);
            for q in 0..nb {
                s0[q] = c0[q].sub(c2[q]);
                s1[q] = c1[q].add(c2[q]);
                s2[q] = c2[q].sub(c1[q]);
                s3[q] = c1[q].sub(c3[q]);
            }
        }
    }
}

crate::simd_dispatch! {
    /// [`input_plane_3`] for r = 2: `Bᵀ·d·B` of every 3×3 tile into nine rows. `Bᵀ`'s
    /// rows: (1,−1,0), (0,1,0), (0,−1,1); a tile's rows are the even and odd phase rows at
    /// its index and the even one of the next row (three, for each column phase, in
    /// `rows`), then likewise its columns.
    pub(super) fn input_plane_2<T: Fma>(plane: &[T], ph: usize, span: usize, rows: &mut [T], dst: &mut [&mut [T]; 9]) -> () {
        let nb = dst[0].len();
        let n1 = nb + 1;
        for (b, u) in rows.chunks_exact_mut(3 * n1).take(2).enumerate() {
            let p0 = &plane[b * ph..][..ph];
            let p1 = &plane[(2 + b) * ph..][..ph];
            let (d0, d1, d2) = (&p0[..n1], &p1[..n1], &p0[span..][..n1]);
            let (u0, rest) = u.split_at_mut(n1);
            let (u1, u2) = rest.split_at_mut(n1);
            let u2 = &mut u2[..n1];
            for q in 0..n1 {
                u0[q] = d0[q].sub(d1[q]);
                u1[q] = d1[q];
                u2[q] = d2[q].sub(d1[q]);
            }
        }
        let (even, odd) = rows.split_at(3 * n1);
        for (a, out) in dst.chunks_exact_mut(3).enumerate() {
            let (e, o) = (&even[a * n1..][..n1], &odd[a * n1..][..n1]);
            let (c0, c1, c2) = (&e[..nb], &o[..nb], &e[1..]);
            let [s0, s1, s2] = out else {
                unreachable!("rows of three")
            };
            let (s0, s1, s2) = (&mut s0[..nb], &mut s1[..nb], &mut s2[..nb]);
            for q in 0..nb {
                s0[q] = c0[q].sub(c1[q]);
                s1[q] = c1[q];
                s2[q] = c2[q].sub(c1[q]);
            }
        }
    }
}

/// One output channel's products for a tile of images: product `pos` of block `q` is
/// `m[at + pos·stride + q]`.
#[derive(Clone, Copy)]
pub(super) struct Products<'a, T> {
    pub(super) m: &'a [T],
    pub(super) at: usize,
    pub(super) stride: usize,
}

crate::simd_dispatch! {
    /// `Aᵀ·m·A` of each of `nb` blocks' sixteen products plus `bias`, for r = 3: the
    /// block's four values, top left, top right, bottom left, bottom right, as four rows of
    /// `rows`. `Aᵀ`'s rows: (1,1,1,0), (0,1,−1,−1).
    pub(super) fn corners_3<T: Fma>(pr: Products<'_, T>, nb: usize, bias: T, rows: &mut [T]) -> () {
        let m = |pos: usize| &pr.m[pr.at + pos * pr.stride..][..nb];
        let (m0, m1, m2, m3) = (m(0), m(1), m(2), m(3));
        let (m4, m5, m6, m7) = (m(4), m(5), m(6), m(7));
        let (m8, m9, m10, m11) = (m(8), m(9), m(10), m(11));
        let (m12, m13, m14, m15) = (m(12), m(13), m(14), m(15));
        let (y0, rest) = rows.split_at_mut(nb);
        let (y1, rest) = rest.split_at_mut(nb);
        let (y2, y3) = rest.split_at_mut(nb);
        let y3 = &mut y3[..nb];
        for q in 0..nb {
            // Aᵀ·m: rows (1,1,1,0) and (0,1,−1,−1) of each of the four columns.
            let t = [
                m0[q].add(m4[q]).add(m8[q]),
                m1[q].add(m5[q]).add(m9[q]),
                m2[q].add(m6[q]).add(m10[q]),
                m3[q].add(m7[q]).add(m11[q]),
            ];
            let u = [
                m4[q].sub(m8[q]).sub(m12[q]),
                m5[q].sub(m9[q]).sub(m13[q]),
                m6[q].sub(m10[q]).sub(m14[q]),
                m7[q].sub(m11[q]).sub(m15[q]),
            ];
            y0[q] = t[0].add(t[1]).add(t[2]).add(bias);
            y1[q] = t[1].sub(t[2]).sub(t[3]).add(bias);
            y2[q] = u[0].add(u[1]).add(u[2]).add(bias);
            y3[q] = u[1].sub(u[2]).sub(u[3]).add(bias);
        }
    }
}

crate::simd_dispatch! {
    /// [`corners_3`] for r = 2, from nine products. `Aᵀ`'s rows: (1,1,0), (0,1,1).
    pub(super) fn corners_2<T: Fma>(pr: Products<'_, T>, nb: usize, bias: T, rows: &mut [T]) -> () {
        let m = |pos: usize| &pr.m[pr.at + pos * pr.stride..][..nb];
        let (m0, m1, m2) = (m(0), m(1), m(2));
        let (m3, m4, m5) = (m(3), m(4), m(5));
        let (m6, m7, m8) = (m(6), m(7), m(8));
        let (y0, rest) = rows.split_at_mut(nb);
        let (y1, rest) = rest.split_at_mut(nb);
        let (y2, y3) = rest.split_at_mut(nb);
        let y3 = &mut y3[..nb];
        for q in 0..nb {
            // Aᵀ·m: rows (1,1,0) and (0,1,1) of each of the three columns.
            let t = [m0[q].add(m3[q]), m1[q].add(m4[q]), m2[q].add(m5[q])];
            let u = [m3[q].add(m6[q]), m4[q].add(m7[q]), m5[q].add(m8[q])];
            y0[q] = t[0].add(t[1]).add(bias);
            y1[q] = t[1].add(t[2]).add(bias);
            y2[q] = u[0].add(u[1]).add(bias);
            y3[q] = u[1].add(u[2]).add(bias);
        }
    }
}

crate::simd_dispatch! {
    /// One image's blocks (columns `col..col + tw` of rows of `span`) of the four values
    /// [`corners_3`] or [`corners_2`] leaves in the four rows of `rows`, interleaved into
    /// its output plane `dst` (`oh × ow`). Whether every value written was finite.
    pub(super) fn scatter<T: Fma>(plan: Plan, rows: &[T], span: usize, col: usize, dst: &mut [MaybeUninit<T>]) -> bool {
        let nb = rows.len() / 4;
        let (y0, rest) = rows.split_at(nb);
        let (y1, rest) = rest.split_at(nb);
        let (y2, y3) = rest.split_at(nb);
        let (tw, ow) = (plan.tw, plan.ow);
        let mut finite = true;
        for (y, row) in dst.chunks_exact_mut(ow).enumerate() {
            let (ya, yb) = if y % 2 == 0 { (y0, y1) } else { (y2, y3) };
            let at = y / 2 * span + col;
            let (ya, yb) = (&ya[at..][..tw], &yb[at..][..ow / 2]);
            finite &= ya.iter().chain(yb).fold(true, |ok, v| ok & v.finite());
            let (pairs, rest) = row.split_at_mut(ow / 2 * 2);
            for ((pair, &a), &b) in pairs.chunks_exact_mut(2).zip(ya).zip(yb) {
                pair[0].write(a);
                pair[1].write(b);
            }
            if let Some(last) = rest.first_mut() {
                last.write(ya[tw - 1]);
            }
        }
        finite
    }
}
