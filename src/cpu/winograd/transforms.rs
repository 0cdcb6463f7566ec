//! The transforms of [`super`]: filters (`G·g·Gᵀ` and back), input tiles (`Bᵀ·d·B`),
//! output gradients (`A·dy·Aᵀ`) and products (`Aᵀ·m·A`), each over a whole plane of blocks
//! in one flat loop.

use super::{Plan, Strip};
use crate::backend::num::Num;
use crate::cpu::conv::{all_finite, Fma};
use rayon::prelude::*;
use std::mem::MaybeUninit;

crate::simd_dispatch! {
    /// `A·dy·Aᵀ` of every 2×2 block of an output gradient (four phase planes of `ph`, a
    /// block's values at its index) into `dst` (sixteen rows of blocks), for r = 3. `A`'s
    /// rows: (1,0), (1,1), (1,−1), (0,−1), applied to the block's rows, then to each
    /// result's columns.
    pub(super) fn grad_plane_3<T: Fma>(plane: &[T], ph: usize, dst: &mut [&mut [T]; 16]) -> () {
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
                dst[4 * a][q] = c0;
                dst[4 * a + 1][q] = c0.add(c1);
                dst[4 * a + 2][q] = c0.sub(c1);
                dst[4 * a + 3][q] = c1.neg();
            }
        }
    }
}

crate::simd_dispatch! {
    /// [`grad_plane_3`] for r = 2, into nine rows. `A`'s rows: (1,0), (1,1), (0,1).
    pub(super) fn grad_plane_2<T: Fma>(plane: &[T], ph: usize, dst: &mut [&mut [T]; 9]) -> () {
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
                dst[3 * a][q] = c0;
                dst[3 * a + 1][q] = c0.add(c1);
                dst[3 * a + 2][q] = c1;
            }
        }
    }
}

/// `G` of each algorithm (a tile's side of rows, `r` taps): for F(2×2, 3×3) and
/// F(2×2, 2×2), Lavin and Gray's; for F(4×4, 3×3), interpolated at 0, 1, −1, 2, −½ and
/// infinity rather than their 0, ±1, ±2, for a third of the round-off in float32 at a few
/// more operations in [`input_side_4`]: on the Keras CNN's 32→64 layer the largest error
/// is 1.6·10⁻⁶ of the largest output and 2.3·10⁻⁶ of the largest input gradient, where
/// ±2 gave 4.6·10⁻⁶ and 7.8·10⁻⁶ (a float32 simulation of the same sums: F(2×2, 3×3)
/// 2.4·10⁻⁷, a direct sum 1.5·10⁻⁷).
fn g_matrix(plan: Plan) -> &'static [[f64; 3]] {
    match (plan.r, plan.m) {
        (3, 4) => &[
            [0.5, 0.0, 0.0],
            [1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0],
            [1.0 / 6.0, -1.0 / 6.0, 1.0 / 6.0],
            [1.0 / 30.0, 1.0 / 15.0, 2.0 / 15.0],
            [16.0 / 15.0, -8.0 / 15.0, 4.0 / 15.0],
            [0.0, 0.0, 0.5],
        ],
        (3, _) => &[
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0.0, 0.0, 1.0],
        ],
        _ => &[[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
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

/// Where tap `(i, j)` of product channel `ch` sits among one output channel's phase
/// filters (`[cin / 4, 4, 4]`, the 4×4 filters the phases come from): channel
/// `ch = 4·c + 2·a + b` holds filter channel `c`'s taps of row parity `a` and column parity
/// `b` (space to depth), so its tap `(i, j)` is the filter's tap `(2i + a, 2j + b)`.
fn phase_tap(ch: usize, i: usize, j: usize) -> usize {
    let (c, a, b) = (ch / 4, ch % 4 / 2, ch % 2);
    c * 16 + (2 * i + a) * 4 + 2 * j + b
}

/// The weight gradient from its transform-domain sums `du` (`[(r + 1)², cout, cin]`, the
/// products' channels): `Gᵀ·du·G` per filter, a contiguous `[cout, cin, r, r]`, or with
/// `phases` the filters the phases came from, `[cout, cin / 4, 4, 4]` (the inverse of
/// [`filters`]' space to depth). Output channels run on the threads.
pub(super) fn filter_grads<T: Num>(
    du: &[T],
    (cout, cin): (usize, usize),
    r: usize,
    phases: bool,
) -> Vec<T> {
    let half = T::one().div(T::one().add(T::one()));
    let a = r + 1;
    let mut out = vec![T::zero(); cout * cin * r * r];
    out.par_chunks_mut((cin * r * r).max(1))
        .enumerate()
        .for_each(|(k, fk)| {
            for ch in 0..cin {
                let at = |i: usize, j: usize| {
                    if i < a && j < a {
                        du[((i * a + j) * cout + k) * cin + ch]
                    } else {
                        T::zero()
                    }
                };
                // du·G: each row to `r` columns, then Gᵀ·(du·G) down each column.
                let rows: [[T; 3]; 4] = std::array::from_fn(|i| {
                    grad_side(r, [at(i, 0), at(i, 1), at(i, 2), at(i, 3)], half)
                });
                for j in 0..r {
                    let col = grad_side(r, rows.map(|row| row[j]), half);
                    for (i, &v) in col[..r].iter().enumerate() {
                        let place = if phases {
                            phase_tap(ch, i, j)
                        } else {
                            (ch * r + i) * r + j
                        };
                        fk[place] = v;
                    }
                }
            }
        });
    out
}

/// The filters in the transform domain, `G·g·Gᵀ`: `[rows, pos, cols]`, where `(rows,
/// cols)` are the products' channels `(cout, cin)`, or, `flipped`, the input gradient's
/// `(cin, cout)`: each filter turned 180° and the channel roles swapped. With `phases`,
/// `w` is `[cout, cin / 4, 4, 4]` and product channel `4·c + 2·a + b` is its channel `c`
/// at the taps of row parity `a`, column parity `b` (space to depth); otherwise `w` is
/// `[cout, cin, r, r]`. `None` if a weight is not finite. Rows run on the threads.
pub(super) fn filters<T: Fma>(
    w: &[T],
    (cout, cin): (usize, usize),
    flipped: bool,
    phases: bool,
    plan: Plan,
) -> Option<Vec<T>> {
    if !all_finite(w) {
        return None;
    }
    let rows = if flipped { cin } else { cout };
    let each = plan.pos() * (cout * cin / rows.max(1));
    let gm = g_matrix(plan);
    let filter = Filters {
        w,
        cin,
        flipped,
        phases,
        gm,
    };
    // SAFETY: the chunks cover `u`, and each is zeroed before its row is written.
    let u = unsafe {
        crate::cpu::write_new_vec(rows * each, |u| {
            u.par_chunks_mut(each.max(1))
                .enumerate()
                .for_each(|(row, out)| {
                    // Zeroed by the thread that writes the row, while in its cache.
                    let out = crate::cpu::zero_init(out);
                    match (plan.r, plan.side()) {
                        (3, 6) => filter.row::<3, 6>(row, out),
                        (3, _) => filter.row::<3, 4>(row, out),
                        _ => filter.row_2(row, out),
                    }
                })
        })
    };
    Some(u)
}

/// What [`filters`] reads: the weights, the products' input channels, and `G`.
struct Filters<'a, T> {
    w: &'a [T],
    cin: usize,
    flipped: bool,
    phases: bool,
    gm: &'static [[f64; 3]],
}

impl<T: Fma> Filters<'_, T> {
    /// Row `row` of [`filters`] (its `[pos, cols]`) for r = `R` and a tile's side `A`: the
    /// sizes fixed, so that both products unroll.
    fn row<const R: usize, const A: usize>(&self, row: usize, out: &mut [T]) {
        let cols = out.len() / (A * A);
        for col in 0..cols {
            let (k, ch) = if self.flipped { (col, row) } else { (row, col) };
            let g = self.taps::<R>(k, ch);
            // G·g (A×R), then (G·g)·Gᵀ (A×A), in f64: one rounding per value.
            let gg: [[f64; R]; A] = std::array::from_fn(|i| {
                std::array::from_fn(|j| (0..R).map(|l| self.gm[i][l] * g[l][j]).sum())
            });
            for (i, ggi) in gg.iter().enumerate() {
                for (j, gj) in self.gm[..A].iter().enumerate() {
                    let v: f64 = (0..R).map(|l| ggi[l] * gj[l]).sum();
                    out[(i * A + j) * cols + col] = T::from_f64(v);
                }
            }
        }
    }

    /// [`Filters::row`] for F(2×2, 2×2), whose `G` only adds: `G·g·Gᵀ` of a 2×2 filter
    /// `[[a, b], [c, d]]` written out, in f64 (one rounding per value, as there).
    /// The nine values of a run of filters are gathered and written as nine runs: written
    /// one filter at a time, the stores go to nine places whole rows of `cols` apart (4
    /// KiB for 1 024 columns, the same cache set), and took 15 % of the DCGAN's 256→512
    /// forward.
    fn row_2(&self, row: usize, out: &mut [T]) {
        const RUN: usize = 16;
        let cols = out.len() / 9;
        let mut u = [[T::zero(); RUN]; 9];
        for from in (0..cols).step_by(RUN) {
            let run = RUN.min(cols - from);
            for j in 0..run {
                let col = from + j;
                let (k, ch) = if self.flipped { (col, row) } else { (row, col) };
                let [[a, b], [c, d]] = self.taps::<2>(k, ch);
                let (ab, cd) = (a + b, c + d);
                let values = [a, ab, b, a + c, ab + cd, b + d, c, cd, d];
                for (ui, v) in u.iter_mut().zip(values) {
                    ui[j] = T::from_f64(v);
                }
            }
            for (i, ui) in u.iter().enumerate() {
                out[i * cols + from..][..run].copy_from_slice(&ui[..run]);
            }
        }
    }

    /// Filter `(k, ch)`'s taps as the products see them, turned 180° when flipped.
    fn taps<const R: usize>(&self, k: usize, ch: usize) -> [[f64; R]; R] {
        let (i0, j0) = if self.flipped { (R - 1, R - 1) } else { (0, 0) };
        let turn = |i: usize, j: usize| (i0.abs_diff(i), j0.abs_diff(j));
        if self.phases {
            let f = &self.w[k * (self.cin / 4) * 16..][..(self.cin / 4) * 16];
            std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    let (u, v) = turn(i, j);
                    f[phase_tap(ch, u, v)].to_f64()
                })
            })
        } else {
            let f = &self.w[(k * self.cin + ch) * R * R..][..R * R];
            std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    let (u, v) = turn(i, j);
                    f[u * R + v].to_f64()
                })
            })
        }
    }
}

crate::simd_dispatch! {
    /// The plane at `at` (strides `sy`, `sx`), padded, into its `m²` phase planes (of
    /// `strip`, zeroed before): phase `(a, b)` holds padded row `m·i + a`, column `m·j + b`
    /// at `i·span + col + j`, so a block's tile (`m + r − 1` a side, at most `2·m`) is the
    /// phase planes read at its index and the next row's and column's.
    pub(super) fn phases<T: Fma>(x: &[T], at: isize, strides: [isize; 2], plan: Plan, strip: Strip, col: usize, plane: &mut [T]) -> () {
        if plan.m == 4 {
            phases_of::<T, 4>(x, at, strides, plan, strip, col, plane);
        } else {
            phases_of::<T, 2>(x, at, strides, plan, strip, col, plane);
        }
    }
}

/// A contiguous run `src` of an input row, its first value at padded column `lo`, into
/// the row's `M` phase planes (`planes`, the first from its place, `ph` apart): padded
/// column `M·j + p` to phase `p`'s `j`. The whole groups of `M` are split in blocks of a
/// fixed size ([`split_groups`]); the ragged ends (under `M` values each) go one by one.
#[inline(always)]
fn deinterleave<T: Fma, const M: usize>(src: &[T], lo: usize, planes: &mut [T], ph: usize) {
    let head = ((M - lo % M) % M).min(src.len());
    let whole = (src.len() - head) / M;
    let j0 = (lo + head) / M;
    let mut put = |xc: usize| {
        let xx = xc + lo;
        planes[xx % M * ph + xx / M] = src[xc];
    };
    for xc in 0..head {
        put(xc);
    }
    for xc in head + whole * M..src.len() {
        put(xc);
    }
    let mut rows = planes.chunks_mut(ph);
    let mut dst: [&mut [T]; M] = std::array::from_fn(|_| {
        &mut rows.next().expect("a phase plane per residue")[j0..j0 + whole]
    });
    split_groups(&src[head..][..whole * M], &mut dst);
}

/// `body`'s groups of `M` values into the `M` rows of `dst`: value `M·j + p` to
/// `dst[p][j]`. Blocks of 8 groups, then at most one each of 4, 2 and 1: every block a
/// fixed-size shuffle the compiler makes into a few vector permutes, so a short row (a
/// 26-wide plane: 6 or 13 groups) has no scalar remainder loop. (The Keras CNN's epoch on
/// a Zen 4 machine: this splitting, with the ends, went from 10.7 % of the samples,
/// an iterator chain over the ends a third of that, to 9.1 %; its loads now take most.)
#[inline(always)]
fn split_groups<T: Copy, const M: usize>(body: &[T], dst: &mut [&mut [T]; M]) {
    let mut j = groups_of::<T, M, 8>(body, dst, 0);
    j = groups_of::<T, M, 4>(body, dst, j);
    j = groups_of::<T, M, 2>(body, dst, j);
    groups_of::<T, M, 1>(body, dst, j);
}

/// [`split_groups`] in blocks of `G` groups from group `j` while whole blocks are left;
/// returns the next group.
#[inline(always)]
fn groups_of<T: Copy, const M: usize, const G: usize>(
    body: &[T],
    dst: &mut [&mut [T]; M],
    mut j: usize,
) -> usize {
    let groups = body.len() / M;
    while j + G <= groups {
        let src = &body[M * j..][..M * G];
        for (p, row) in dst.iter_mut().enumerate() {
            let out: &mut [T; G] = (&mut row[j..j + G])
                .try_into()
                .expect("a block of G groups");
            for (g, o) in out.iter_mut().enumerate() {
                *o = src[M * g + p];
            }
        }
        j += G;
    }
    j
}

crate::simd_dispatch! {
    /// Space to depth and [`phases`] in one pass, for F(2×2, 2×2) over
    /// [`super::Source::Phases`]: the plane at `place` (its offset and strides `sy`, `sx`;
    /// `src` is its `h × w` and padding `py`, `px`) into the phase planes of its four
    /// parity channels (of `strip`, zeroed before; channel `2·a + b`'s four at
    /// `(2·a + b)·4·ph`). Padded row `Y`, column `X` is parity channel `(Y mod 2, X mod 2)`'s
    /// row `Y div 2`, column `X div 2`, and so that channel's phase `(Y div 2 mod 2,
    /// X div 2 mod 2)` at `(Y div 4)·span + col + X div 4`: a row's four column residues
    /// (mod 4) go to four places.
    pub(super) fn parity_phases<T: Fma>(x: &[T], place: (isize, [isize; 2]), src: [usize; 4], plan: Plan, strip: Strip, col: usize, planes: &mut [T]) -> () {
        let ((at, [sy, sx]), [h, w, py, px]) = (place, src);
        let (ph, span) = (strip.ph, strip.span);
        // The blocks read padded rows below `4·(th + 1)` and columns below `4·wide`.
        let (lo, hi) = (px, (px + w).min(4 * plan.wide()));
        for y in 0..h.min((4 * plan.th + 4).saturating_sub(py)) {
            let yy = y + py;
            let base = (yy % 2 * 8 + yy / 2 % 2 * 2) * ph + yy / 4 * span + col;
            // Column residue `2·q + b`: parity channel `b`, phase column `q`.
            let (even, odd) = planes[base..].split_at_mut(4 * ph);
            let (e0, e1) = even.split_at_mut(ph);
            let (o0, o1) = odd.split_at_mut(ph);
            let start = at + y as isize * sy;
            // Padded columns `X ≡ r (mod 4)` in `lo..hi`, from the first, every fourth: a
            // copy per residue (rows of a few dozen values, where a vector split's setup
            // and ragged ends cost more than they save).
            for (r, row) in [e0, o0, e1, o1].into_iter().enumerate() {
                let first = lo + (r + 4 - lo % 4) % 4;
                if first >= hi {
                    continue;
                }
                let dst = &mut row[first / 4..][..(hi - first).div_ceil(4)];
                gather(x, start + (first - lo) as isize * sx, 4 * sx, dst);
            }
        }
    }
}

/// `dst[j] = x[from + j·step]` for each `j` (`step` may be zero or negative).
#[inline(always)]
fn gather<T: Copy>(x: &[T], from: isize, step: isize, dst: &mut [T]) {
    if dst.is_empty() {
        return;
    }
    if step == 4 {
        // A constant step: `step_by`'s length would take a division per run.
        let src = x[from as usize..][..4 * dst.len() - 3].chunks(4);
        dst.iter_mut().zip(src).for_each(|(d, v)| *d = v[0]);
    } else if step > 0 {
        let step = step as usize;
        let src = &x[from as usize..][..step * (dst.len() - 1) + 1];
        dst.iter_mut()
            .zip(src.iter().step_by(step))
            .for_each(|(d, &v)| *d = v);
    } else {
        for (j, d) in dst.iter_mut().enumerate() {
            *d = x[(from + j as isize * step) as usize];
        }
    }
}

/// [`phases`] for `m = M`.
#[inline(always)]
fn phases_of<T: Fma, const M: usize>(
    x: &[T],
    at: isize,
    strides: [isize; 2],
    plan: Plan,
    strip: Strip,
    col: usize,
    plane: &mut [T],
) {
    let [sy, sx] = strides;
    let (ph, wide) = (strip.ph, plan.wide());
    // Padded columns `lo..hi` hold the input; the blocks read `m·wide` of them.
    let (lo, hi) = (plan.px, (plan.px + plan.w).min(M * wide));
    // Padded rows `py..py + h` hold the input; the blocks read `m·(th + 1)` of them.
    for y in 0..plan.h.min((M * plan.th + M).saturating_sub(plan.py)) {
        let yy = y + plan.py;
        let start = at + y as isize * sy;
        // The row's phase planes from its first one's place, `ph` apart.
        let base = M * (yy % M) * ph + yy / M * strip.span + col;
        if sx == 1 {
            deinterleave::<T, M>(&x[start as usize..][..hi - lo], lo, &mut plane[base..], ph);
            continue;
        }
        for parity in 0..M {
            // Columns `xx = m·j + parity` in `lo..hi`, read from input column `xx − lo`.
            let (ja, jb) = ((lo + M - 1 - parity) / M, (hi + M - 1 - parity) / M);
            if ja >= jb {
                continue;
            }
            let first = start + (M * ja + parity - lo) as isize * sx;
            let row = base + parity * ph;
            let dst = &mut plane[row + ja..row + jb];
            // Strided columns (a channels-last input, say).
            gather(x, first, M as isize * sx, dst);
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

/// The small integers the F(4×4, 3×3) transforms scale by: 2, 3, 5 and their negatives.
#[derive(Clone, Copy)]
struct Ints<T> {
    two: T,
    three: T,
    five: T,
    neg_two: T,
    neg_five: T,
}

impl<T: Fma> Ints<T> {
    fn new() -> Ints<T> {
        let two = T::one().add(T::one());
        let three = two.add(T::one());
        let five = three.add(two);
        Ints {
            two,
            three,
            five,
            neg_two: two.neg(),
            neg_five: five.neg(),
        }
    }
}

/// `Bᵀ·d` of one side of an F(4×4, 3×3) tile, six values. `Bᵀ`'s rows (for the points of
/// [`g_matrix`]): (2,3,−4,−3,2,0), (0,2,5,1,−2,0), (0,2,1,−5,2,0), (0,−1,−2,1,2,0),
/// (0,−2,1,2,−1,0), (0,2,3,−4,−3,2).
#[inline(always)]
fn input_side_4<T: Fma>(d: [T; 6], k: Ints<T>) -> [T; 6] {
    let p = d[0].add(d[4]).fma(k.neg_two, d[2]);
    let q = d[1].add(d[5]).fma(k.neg_two, d[3]);
    let (a, b) = (d[3].sub(d[1]), d[4].sub(d[2]));
    [
        d[1].sub(d[3]).mul(k.three).fma(k.two, p),
        d[3].fma(k.five, d[2]).fma(k.two, d[1].sub(d[4])),
        d[2].fma(k.neg_five, d[3]).fma(k.two, d[1].add(d[4])),
        a.fma(k.two, b),
        b.neg().fma(k.two, a),
        d[2].sub(d[4]).mul(k.three).fma(k.two, q),
    ]
}

crate::simd_dispatch! {
    /// [`input_plane_3`] for F(4×4, 3×3): `Bᵀ·d·B` of every 6×6 tile of `plane` (sixteen
    /// phase planes of `ph`, rows of `span`) into thirty-six rows of blocks. A tile's rows
    /// are the four phase rows at its index and the first two of the next row; `Bᵀ`
    /// combines them, for each of the four column phases, into six rows (in `rows`); then
    /// `B` combines each of those rows' six columns, the four phases at the block and the
    /// first two at the next one ([`input_side_4`]).
    pub(super) fn input_plane_4<T: Fma>(plane: &[T], ph: usize, span: usize, rows: &mut [T], dst: &mut [&mut [T]; 36]) -> () {
        let nb = dst[0].len();
        let n1 = nb + 1;
        let k = Ints::new();
        for (b, u) in rows.chunks_exact_mut(6 * n1).take(4).enumerate() {
            let d = |i: usize| &plane[(4 * (i % 4) + b) * ph + i / 4 * span..][..n1];
            let (d0, d1, d2, d3, d4, d5) = (d(0), d(1), d(2), d(3), d(4), d(5));
            let (u0, rest) = u.split_at_mut(n1);
            let (u1, rest) = rest.split_at_mut(n1);
            let (u2, rest) = rest.split_at_mut(n1);
            let (u3, rest) = rest.split_at_mut(n1);
            let (u4, u5) = rest.split_at_mut(n1);
            let u5 = &mut u5[..n1];
            for q in 0..n1 {
                let v = input_side_4([d0[q], d1[q], d2[q], d3[q], d4[q], d5[q]], k);
                (u0[q], u1[q], u2[q], u3[q], u4[q], u5[q]) = (v[0], v[1], v[2], v[3], v[4], v[5]);
            }
        }
        let rows = &*rows;
        for (a, out) in dst.chunks_exact_mut(6).enumerate() {
            let c = |k: usize| &rows[((k % 4) * 6 + a) * n1 + k / 4..][..nb];
            let (c0, c1, c2, c3, c4, c5) = (c(0), c(1), c(2), c(3), c(4), c(5));
            let [s0, s1, s2, s3, s4, s5] = out else {
                unreachable!("rows of six")
            };
            let (s0, s1, s2) = (&mut s0[..nb], &mut s1[..nb], &mut s2[..nb]);
            let (s3, s4, s5) = (&mut s3[..nb], &mut s4[..nb], &mut s5[..nb]);
            for q in 0..nb {
                let v = input_side_4([c0[q], c1[q], c2[q], c3[q], c4[q], c5[q]], k);
                (s0[q], s1[q], s2[q], s3[q], s4[q], s5[q]) = (v[0], v[1], v[2], v[3], v[4], v[5]);
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

/// The powers of two [`output_side_4`] scales by: 2, 4, 8, −½, ¼, −⅛.
#[derive(Clone, Copy)]
struct Powers<T>([T; 6]);

impl<T: Fma> Powers<T> {
    fn new() -> Powers<T> {
        let two = T::one().add(T::one());
        let (four, half) = (two.add(two), T::one().div(two));
        let (quarter, eight) = (half.mul(half), four.add(four));
        Powers([
            two,
            four,
            eight,
            half.neg(),
            quarter,
            quarter.mul(half).neg(),
        ])
    }
}

/// `Aᵀ·m` of one side of an F(4×4, 3×3) tile's products, four values. `Aᵀ`'s rows (for
/// the points of [`g_matrix`]): (1,1,1,1,1,0), (0,1,−1,2,−½,0), (0,1,1,4,¼,0),
/// (0,1,−1,8,−⅛,1).
#[inline(always)]
fn output_side_4<T: Fma>(m: [T; 6], Powers(k): Powers<T>) -> [T; 4] {
    let (s, d) = (m[1].add(m[2]), m[1].sub(m[2]));
    [
        m[0].add(s).add(m[3]).add(m[4]),
        d.fma(k[0], m[3]).fma(k[3], m[4]),
        s.fma(k[1], m[3]).fma(k[4], m[4]),
        d.fma(k[2], m[3]).fma(k[5], m[4]).add(m[5]),
    ]
}

/// [`output_side_4`] over rows of `nb`: the six rows of `src` into the first four of
/// `dst`, plus `bias`.
#[inline(always)]
fn output_rows_4<T: Fma>(src: [&[T]; 6], dst: &mut [T], nb: usize, bias: T, k: Powers<T>) {
    let [c0, c1, c2, c3, c4, c5] = src.map(|c| &c[..nb]);
    let (o0, rest) = dst.split_at_mut(nb);
    let (o1, rest) = rest.split_at_mut(nb);
    let (o2, o3) = rest.split_at_mut(nb);
    let o3 = &mut o3[..nb];
    for q in 0..nb {
        let v = output_side_4([c0[q], c1[q], c2[q], c3[q], c4[q], c5[q]], k);
        (o0[q], o1[q], o2[q], o3[q]) = (
            v[0].add(bias),
            v[1].add(bias),
            v[2].add(bias),
            v[3].add(bias),
        );
    }
}

crate::simd_dispatch! {
    /// [`corners_3`] for F(4×4, 3×3), from thirty-six products: each block's sixteen
    /// values, row by row, as the first sixteen rows of `rows`. [`output_side_4`] runs
    /// down each of the six columns into the next twenty-four rows, then along each of the
    /// four rows that leaves.
    pub(super) fn corners_4<T: Fma>(pr: Products<'_, T>, nb: usize, bias: T, rows: &mut [T]) -> () {
        let k = Powers::new();
        let (out, tmp) = rows.split_at_mut(16 * nb);
        for (j, t) in tmp.chunks_exact_mut(4 * nb).take(6).enumerate() {
            let c = std::array::from_fn(|i| &pr.m[pr.at + (6 * i + j) * pr.stride..]);
            output_rows_4(c, t, nb, T::zero(), k);
        }
        let tmp = &*tmp;
        for (a, o) in out.chunks_exact_mut(4 * nb).enumerate() {
            output_rows_4(std::array::from_fn(|j| &tmp[(4 * j + a) * nb..]), o, nb, bias, k);
        }
    }
}

crate::simd_dispatch! {
    /// Depth to space for one plane's gradient, the inverse of [`parity_phases`]: the four
    /// parity planes `src` (`[4, ph, pw]`, parity `(a, b)` at `2·a + b`) as the plane `dst`
    /// (rows of `w`, padded by `py`, `px`; `sides` is `[ph, pw, w]`): row `y` is parity row
    /// `(y + py) div 2` of parity `(y + py) mod 2`, and likewise its columns. What no parity
    /// reaches (no window does) is zero.
    pub(super) fn parity_plane<T: Fma>(src: &[T], sides: [usize; 3], pads: [usize; 2], dst: &mut [MaybeUninit<T>]) -> () {
        let ([ph, pw, w], [py, px]) = (sides, pads);
        // Columns below `reach` are in a parity plane; from `px + odd`, in pairs.
        let reach = w.min((2 * pw).saturating_sub(px));
        let (odd, j) = (px % 2, px.div_ceil(2));
        for (y, row) in dst.chunks_exact_mut(w).enumerate() {
            let (i, a) = ((y + py) / 2, (y + py) % 2);
            let (row, rest) = row.split_at_mut(if i < ph { reach } else { 0 });
            rest.iter_mut().for_each(|v| {
                v.write(T::zero());
            });
            if row.is_empty() {
                continue;
            }
            let line = |b: usize| &src[((2 * a + b) * ph + i) * pw..][..pw];
            let (head, body) = row.split_at_mut(odd.min(row.len()));
            if let Some(v) = head.first_mut() {
                v.write(line(1)[px / 2]);
            }
            interleave([&line(0)[j..], &line(1)[j..]], body);
        }
    }
}

/// Row `y % m` of one image's blocks' values, `src[c]` holding column `c` of each block
/// (one per block), interleaved into `row`.
#[inline(always)]
fn interleave<T: Fma, const M: usize>(src: [&[T]; M], row: &mut [MaybeUninit<T>]) {
    let whole = row.len() / M;
    let (blocks, rest) = row.split_at_mut(whole * M);
    if M == 4 {
        let (a, b, c, d) = (
            &src[0][..whole],
            &src[1][..whole],
            &src[2][..whole],
            &src[3][..whole],
        );
        for ((((o, &a), &b), &c), &d) in blocks.chunks_exact_mut(4).zip(a).zip(b).zip(c).zip(d) {
            o[0].write(a);
            o[1].write(b);
            o[2].write(c);
            o[3].write(d);
        }
    } else {
        let (a, b) = (&src[0][..whole], &src[1][..whole]);
        for ((o, &a), &b) in blocks.chunks_exact_mut(2).zip(a).zip(b) {
            o[0].write(a);
            o[1].write(b);
        }
    }
    for (d, s) in rest.iter_mut().zip(src) {
        d.write(s[whole]);
    }
}

crate::simd_dispatch! {
    /// One image's blocks (columns `col..col + tw` of rows of `span`) of the `m²` values
    /// [`corners_4`], [`corners_3`] or [`corners_2`] leaves in the rows of `rows` (row
    /// `m·a + b` holding each block's value at row `a`, column `b`), interleaved into its
    /// output plane `dst` (`oh × ow`).
    pub(super) fn scatter<T: Fma>(plan: Plan, rows: &[T], span: usize, col: usize, dst: &mut [MaybeUninit<T>]) -> () {
        if plan.m == 4 {
            scatter_of::<T, 4>(plan, rows, span, col, dst);
        } else {
            scatter_of::<T, 2>(plan, rows, span, col, dst);
        }
    }
}

/// [`scatter`] for `m = M`.
#[inline(always)]
fn scatter_of<T: Fma, const M: usize>(
    plan: Plan,
    rows: &[T],
    span: usize,
    col: usize,
    dst: &mut [MaybeUninit<T>],
) {
    let nb = rows.len() / (M * M);
    let (tw, ow) = (plan.tw, plan.ow);
    for (y, row) in dst.chunks_exact_mut(ow).enumerate() {
        let at = y / M * span + col;
        let src: [&[T]; M] = std::array::from_fn(|c| &rows[((y % M) * M + c) * nb + at..][..tw]);
        interleave(src, row);
    }
}
