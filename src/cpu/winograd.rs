//! 3×3 convolutions at unit stride by Winograd's minimal filtering F(2×2, 3×3) (Lavin and
//! Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Each 4×4 input tile
//! `d` and 3×3 filter `g` go to a 4×4 transform domain (`Bᵀ·d·B`, `G·g·Gᵀ`). There the
//! convolution is sixteen products, `[cout, cin]` by `[cin, tiles]`, one per transform
//! position. Each product tile comes back as a 2×2 block of outputs (`Aᵀ·m·A`). That is
//! 16 multiplications per block where im2col's product makes 36: 2.25× fewer.
//!
//! As in [`super::im2col`], a batch runs a tile of images at a time. The tiles are shared
//! between the threads; each tile's transforms and products run on one thread and stay in
//! its cache. The input gradient is the same algorithm: the output gradient convolved with
//! the filters flipped and transposed, padded by `2 − padding`.
//!
//! The transforms add and subtract neighbouring values. So an infinity or NaN in the
//! inputs, or a transform's sum overflowing, would spread to outputs that a direct product
//! leaves finite, or give NaN where it gives an infinity. Any of these leaves a result that
//! is not all finite: such a result is dropped (`None`), and the convolution takes im2col,
//! whose results are PyTorch's.

use super::conv::Fma;
use super::im2col::{assume_init, Tiles};
use super::matmul::{GemmElem, MatRef};
use crate::backend::num::Num;
use crate::backend::Window;
use crate::tensor::layout::Layout;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

/// Transform positions: the 4×4 tile.
const POS: usize = 16;

/// Both channel counts at least this. With fewer, the sixteen products are too thin for
/// the transforms to pay, and the direct kernel or im2col is faster.
const MIN_CHANNELS: usize = 16;

/// One image plane's geometry: input `h × w`, output `oh × ow`, padding `py`, `px`, and
/// the 2×2 output blocks, `th × tw` of them.
#[derive(Clone, Copy, Debug)]
struct Plan {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    py: usize,
    px: usize,
    th: usize,
    tw: usize,
}

impl Plan {
    /// The plan of a 3×3 convolution from `input` to `output` with `padding`, or `None`
    /// when a padding is over 2 (the input gradient pads by `2 − padding`) or a plane is
    /// empty.
    fn new(input: &[usize], output: &[usize], padding: &[usize]) -> Option<Plan> {
        let sizes = input.iter().chain(output).all(|&v| v > 0);
        (padding.iter().all(|&p| p <= 2) && sizes).then(|| Plan {
            h: input[0],
            w: input[1],
            oh: output[0],
            ow: output[1],
            py: padding[0],
            px: padding[1],
            th: output[0].div_ceil(2),
            tw: output[1].div_ceil(2),
        })
    }

    /// The input gradient's plan: from the output back to the input, padded by
    /// `2 − padding`.
    fn transposed(&self) -> Plan {
        Plan {
            h: self.oh,
            w: self.ow,
            oh: self.h,
            ow: self.w,
            py: 2 - self.py,
            px: 2 - self.px,
            th: self.h.div_ceil(2),
            tw: self.w.div_ceil(2),
        }
    }

    /// Blocks per image as the products see them: `th` rows of `tw + 1`, the last of each
    /// row past the output (computed and dropped, so every transform runs over a whole
    /// plane as one flat loop).
    fn blocks(&self) -> usize {
        self.th * self.wide()
    }

    /// Blocks per row, the dropped one included.
    fn wide(&self) -> usize {
        self.tw + 1
    }

    /// One phase plane ([`phases`]): `th + 1` rows of [`Plan::wide`], and one more
    /// element that the last block's transform reads.
    fn phase(&self) -> usize {
        (self.th + 1) * self.wide() + 1
    }
}

/// The plan of `win` with `cin` → `cout` channels, when it takes this path: a 2-D 3×3
/// window at unit stride and dilation, padded by at most 2, both channel counts at least
/// [`MIN_CHANNELS`].
fn plan(win: &Window, cin: usize, cout: usize) -> Option<Plan> {
    let fits = win.kernel == [3, 3]
        && win.stride == [1, 1]
        && win.dilation == [1, 1]
        && !win.adaptive
        && cin.min(cout) >= MIN_CHANNELS;
    fits.then(|| Plan::new(&win.input, &win.output, &win.padding))
        .flatten()
}

/// The convolution of `x` (`[n, cin, h, w]`, any strides) with `w` (contiguous `[cout,
/// cin, 3, 3]`), plus `bias`: a contiguous `[n, cout, oh, ow]`. `None` where the window
/// does not take this path ([`plan`]), the batch has too few tiles to share, or the result
/// is not all finite.
pub fn forward<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    bias: Option<&[T]>,
    win: &Window,
) -> Option<Vec<T>> {
    forward_in(x, xl, w, bias, win, Tiles::new)
}

/// [`forward`] with the batch cut by `tiles(n, blocks per image)`.
fn forward_in<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    bias: Option<&[T]>,
    win: &Window,
    tiles: fn(usize, usize) -> Option<Tiles>,
) -> Option<Vec<T>> {
    let (n, cin) = (xl.shape[0], xl.shape[1]);
    let cout = w.len() / (9 * cin).max(1);
    let plan = plan(win, cin, cout)?;
    let tiles = tiles(n, plan.blocks())?;
    let u = filters(w, cout, cin, false)?;
    run(x, xl, &u, (cin, cout), plan, bias, tiles)
}

/// The input gradient of [`forward`]: `g` (contiguous `[n, cout, oh, ow]`) through `w`
/// (contiguous `[cout, cin, 3, 3]`), a contiguous `[n, cin, h, w]`; `None` as there.
pub fn input_grad<T: GemmElem + Fma>(
    g: &[T],
    n: usize,
    w: &[T],
    cin: usize,
    win: &Window,
) -> Option<Vec<T>> {
    input_grad_in(g, n, w, cin, win, Tiles::new)
}

/// [`input_grad`] with the batch cut by `tiles(n, blocks per image)`.
fn input_grad_in<T: GemmElem + Fma>(
    g: &[T],
    n: usize,
    w: &[T],
    cin: usize,
    win: &Window,
    tiles: fn(usize, usize) -> Option<Tiles>,
) -> Option<Vec<T>> {
    let cout = w.len() / (9 * cin).max(1);
    let plan = plan(win, cin, cout)?.transposed();
    let tiles = tiles(n, plan.blocks())?;
    let u = filters(w, cout, cin, true)?;
    let gl = Layout::contiguous(&[n, cout, plan.h, plan.w]);
    run(g, &gl, &u, (cout, cin), plan, None, tiles)
}

/// The weight gradient of [`forward`]: `g` (contiguous `[n, cout, oh, ow]`) against `x`
/// (`[n, cin, h, w]`, any strides), summed over the batch: a contiguous `[cout, cin, 3,
/// 3]`, or `None` as there. In the transform domain it is sixteen products of the output
/// gradient's blocks (`A·dy·Aᵀ`) by the input's (`Bᵀ·d·B`) over all blocks, taken back by
/// `Gᵀ·…·G`. Each thread sums its run of tiles, and the runs are added in order, so a run
/// repeats.
pub fn weight_grad<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    g: &[T],
    cout: usize,
    win: &Window,
) -> Option<Vec<T>> {
    weight_grad_in(x, xl, g, cout, win, Tiles::new)
}

/// [`weight_grad`] with the batch cut by `tiles(n, blocks per image)`.
fn weight_grad_in<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    g: &[T],
    cout: usize,
    win: &Window,
    tiles: fn(usize, usize) -> Option<Tiles>,
) -> Option<Vec<T>> {
    let (n, cin) = (xl.shape[0], xl.shape[1]);
    let plan = plan(win, cin, cout)?;
    let tiles = tiles(n, plan.blocks())?;
    let nb = plan.blocks();
    let count = tiles.count();
    let parts = super::team::parts().clamp(1, count);
    let run = |part: usize| {
        let mut s = Scratch::new(plan, (cin, cout), tiles.per());
        let mut acc = vec![T::zero(); POS * cout * cin];
        for i in (part * count / parts)..((part + 1) * count / parts) {
            let (b, t) = tiles.tile(i);
            let p = t * nb;
            inputs(x, xl, b, t, cin, plan, &mut s);
            output_grads(g, b, t, cout, plan, &mut s);
            // SAFETY: `output_grads` wrote the first `16·cout·p` elements.
            let dm = unsafe { assume_init(&mut s.m[..POS * cout * p]) };
            for pos in 0..POS {
                // `[cout, p] @ [p, cin]`: the gradients' blocks by the inputs' transposed.
                let vt = MatRef {
                    offset: pos * cin * p,
                    rs: 1,
                    cs: p as isize,
                };
                T::gemm(
                    dm,
                    dense(pos * cout * p, p),
                    &s.v,
                    vt,
                    &mut acc[pos * cout * cin..][..cout * cin],
                    (cout, cin, p),
                    T::one(),
                    T::one(),
                    1,
                );
            }
        }
        acc
    };
    let sums: Vec<Vec<T>> = (0..parts)
        .into_par_iter()
        .map(|part| super::team::as_part(|| run(part)))
        .collect();
    let mut sums = sums.into_iter();
    let mut total = sums.next()?;
    for part in sums {
        total
            .iter_mut()
            .zip(&part)
            .for_each(|(a, &b)| *a = a.add(b));
    }
    // A non-finite input or gradient, or an overflowing transform, leaves a non-finite sum
    // (a dropped block's zero gradient times an infinity is NaN).
    let gw = filter_grads(&total, cout, cin);
    gw.iter().fold(true, |ok, v| ok & v.finite()).then_some(gw)
}

/// Transforms the output gradients of images `b..b + t` (`g`, contiguous `[n, cout, oh,
/// ow]`) into `s.m` (`[16, cout, t·blocks]`): `A·dy·Aᵀ` of each 2×2 block, zeros past the
/// output.
fn output_grads<T: Fma>(g: &[T], b: usize, t: usize, cout: usize, plan: Plan, s: &mut Scratch<T>) {
    let nb = plan.blocks();
    let (p, l) = (t * nb, plan.oh * plan.ow);
    // The output planes read as unpadded inputs: phase (a, b) holds row 2·i + a, column
    // 2·j + b of the gradient, a block's four values at its index.
    let unpadded = Plan {
        h: plan.oh,
        w: plan.ow,
        py: 0,
        px: 0,
        ..plan
    };
    for i in 0..t {
        for k in 0..cout {
            let at = ((b + i) * cout + k) * l;
            phases(
                g,
                at as isize,
                [plan.ow as isize, 1],
                unpadded,
                &mut s.plane,
            );
            let mut rows = s.m[k * p + i * nb..].chunks_mut(cout * p);
            let mut dst: [&mut [MaybeUninit<T>]; POS] =
                std::array::from_fn(|_| &mut rows.next().expect("16 rows")[..nb]);
            grad_plane(&s.plane, plan.phase(), &mut dst);
        }
    }
}

crate::simd_dispatch! {
    /// `A·dy·Aᵀ` of every 2×2 block of an output gradient (four phase planes of `ph`, a
    /// block's values at its index) into `dst` (sixteen rows of blocks). `A`'s rows: (1,0),
    /// (1,1), (1,−1), (0,−1), applied to the block's rows, then to each result's columns.
    fn grad_plane<T: Fma>(plane: &[T], ph: usize, dst: &mut [&mut [MaybeUninit<T>]; 16]) -> () {
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

/// The weight gradient from its transform-domain sums `du` (`[16, cout, cin]`): `Gᵀ·du·G`
/// per filter, a contiguous `[cout, cin, 3, 3]`. `Gᵀ`'s rows: (1,½,½,0), (0,½,−½,0),
/// (0,½,½,1).
fn filter_grads<T: Num>(du: &[T], cout: usize, cin: usize) -> Vec<T> {
    let half = T::one().div(T::one().add(T::one()));
    let back = |v: [T; 4]| {
        let (s, d) = (v[1].add(v[2]).mul(half), v[1].sub(v[2]).mul(half));
        [v[0].add(s), d, s.add(v[3])]
    };
    let mut out = vec![T::zero(); cout * cin * 9];
    for (kc, f) in out.chunks_exact_mut(9).enumerate() {
        let at = |r: usize, c: usize| du[(r * 4 + c) * cout * cin + kc];
        // du·G: each of the four rows to three columns, then Gᵀ·(du·G) down each column.
        let rows: [[T; 3]; 4] =
            std::array::from_fn(|r| back([at(r, 0), at(r, 1), at(r, 2), at(r, 3)]));
        for j in 0..3 {
            let col = back([rows[0][j], rows[1][j], rows[2][j], rows[3][j]]);
            for (i, v) in col.into_iter().enumerate() {
                f[i * 3 + j] = v;
            }
        }
    }
    out
}

/// The filters in the transform domain, `G·g·Gᵀ`: `[16, cout', cin']` where the primed
/// counts are `w`'s (`[cout, cin, 3, 3]`), or, `flipped`, the input gradient's: each
/// filter turned 180° and the channel roles swapped. `None` if a weight is not finite.
fn filters<T: Fma>(w: &[T], cout: usize, cin: usize, flipped: bool) -> Option<Vec<T>> {
    if !w.iter().fold(true, |ok, v| ok & v.finite()) {
        return None;
    }
    let (rows, cols) = if flipped { (cin, cout) } else { (cout, cin) };
    let half = T::one().div(T::one().add(T::one()));
    let mut u = vec![T::zero(); POS * rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let (k, ch) = if flipped { (c, r) } else { (r, c) };
            let f = &w[(k * cin + ch) * 9..][..9];
            let g = |i: usize, j: usize| {
                if flipped {
                    f[(2 - i) * 3 + 2 - j]
                } else {
                    f[i * 3 + j]
                }
            };
            // G·g (4×3), then (G·g)·Gᵀ (4×4); G's rows: (1,0,0), ½(1,1,1), ½(1,−1,1), (0,0,1).
            let side =
                |a: T, b: T, c: T| [a, a.add(b).add(c).mul(half), a.sub(b).add(c).mul(half), c];
            let gg: [[T; 4]; 3] = std::array::from_fn(|j| side(g(0, j), g(1, j), g(2, j)));
            for i in 0..4 {
                let t = side(gg[0][i], gg[1][i], gg[2][i]);
                for (j, &v) in t.iter().enumerate() {
                    u[((i * 4 + j) * rows + r) * cols + c] = v;
                }
            }
        }
    }
    Some(u)
}

/// A dense row-major matrix with `cols` columns starting at `offset`.
fn dense(offset: usize, cols: usize) -> MatRef {
    MatRef {
        offset,
        rs: cols as isize,
        cs: 1,
    }
}

/// One thread's working memory, kept from tile to tile.
struct Scratch<T> {
    /// The transformed inputs, `[16, cin, blocks]`.
    v: Vec<T>,
    /// The products, `[16, cout, blocks]` (or, for the weight gradient, the transformed
    /// output gradients).
    m: Vec<MaybeUninit<T>>,
    /// One zero-padded input plane, as four phase planes ([`phases`]).
    plane: Vec<T>,
    /// Rows between the two halves of a transform.
    rows: Vec<T>,
}

impl<T: Num> Scratch<T> {
    /// Room for tiles of `per` images of `plan` with these channels.
    fn new(plan: Plan, (cin, cout): (usize, usize), per: usize) -> Scratch<T> {
        let nb = plan.blocks();
        Scratch {
            v: vec![T::zero(); POS * cin * per * nb],
            m: vec![MaybeUninit::uninit(); POS * cout * per * nb],
            plane: vec![T::zero(); 4 * plan.phase()],
            rows: vec![T::zero(); 8 * (nb + 1)],
        }
    }
}

/// The convolution by the transformed filters `u` (`[16, cout, cin]`) of `x` (`[n, cin,
/// plan.h, plan.w]`, any strides), plus `bias`, tile by tile of images; `None` if the
/// result is not all finite.
fn run<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    u: &[T],
    (cin, cout): (usize, usize),
    plan: Plan,
    bias: Option<&[T]>,
    tiles: Tiles,
) -> Option<Vec<T>> {
    let l = plan.oh * plan.ow;
    let nb = plan.blocks();
    let finite = AtomicBool::new(true);
    let scratch = || Scratch::new(plan, (cin, cout), tiles.per());
    let tile = |s: &mut Scratch<T>, i: usize, o: &mut [MaybeUninit<T>]| {
        let (b, t) = tiles.tile(i);
        let p = t * nb;
        inputs(x, xl, b, t, cin, plan, s);
        for pos in 0..POS {
            T::gemm_into(
                u,
                dense(pos * cout * cin, cin),
                &s.v,
                dense(pos * cin * p, p),
                &mut s.m[pos * cout * p..][..cout * p],
                (cout, p, cin),
                T::one(),
                1,
            );
        }
        // SAFETY: the sixteen products wrote the first `16·cout·p` elements.
        let m = unsafe { assume_init(&mut s.m[..POS * cout * p]) };
        for (j, dst) in o.chunks_mut(l).enumerate() {
            let (img, k) = (j / cout, j % cout);
            let bv = bias.map_or(T::zero(), |b| b[k]);
            let products = Products {
                m,
                at: k * p + img * nb,
                stride: cout * p,
            };
            if !output_plane(products, plan, bv, &mut s.rows, dst) {
                finite.store(false, Ordering::Relaxed);
            }
        }
    };
    // SAFETY: the chunks cover the output, and each tile writes every element of its chunk
    // (`output_plane` writes every output of its images).
    let out = unsafe {
        super::write_new_vec(tiles.n() * cout * l, |out| {
            out.par_chunks_mut(tiles.per() * cout * l)
                .enumerate()
                .for_each_init(scratch, |s, (i, o)| super::team::as_part(|| tile(s, i, o)))
        })
    };
    finite.into_inner().then_some(out)
}

/// Transforms images `b..b + t` of `x` into `s.v` (`[16, cin, t·blocks]`).
fn inputs<T: Fma>(
    x: &[T],
    xl: &Layout,
    b: usize,
    t: usize,
    cin: usize,
    plan: Plan,
    s: &mut Scratch<T>,
) {
    let st = &xl.strides;
    let nb = plan.blocks();
    let p = t * nb;
    for i in 0..t {
        for c in 0..cin {
            let base = xl.offset as isize + (b + i) as isize * st[0] + c as isize * st[1];
            phases(x, base, [st[2], st[3]], plan, &mut s.plane);
            let mut rows = s.v[c * p + i * nb..].chunks_mut(cin * p);
            let mut dst: [&mut [T]; POS] =
                std::array::from_fn(|_| &mut rows.next().expect("16 rows")[..nb]);
            input_plane(&s.plane, plan.phase(), plan.wide(), &mut s.rows, &mut dst);
        }
    }
}

crate::simd_dispatch! {
    /// The plane at `at` (strides `sy`, `sx`), zero-padded, as its four phase planes: phase
    /// `(a, b)` holds padded row `2·i + a`, column `2·j + b` at `i·wide + j`, so a block's
    /// sixteen inputs are four phase planes read at its index and the next row's and column's.
    fn phases<T: Fma>(x: &[T], at: isize, strides: [isize; 2], plan: Plan, plane: &mut [T]) -> () {
        let [sy, sx] = strides;
        plane.fill(T::zero());
        let (ph, wide) = (plan.phase(), plan.wide());
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
                let row = (2 * (yy % 2) + parity) * ph + yy / 2 * wide;
                let dst = &mut plane[row + ja..row + jb];
                if sx == 1 {
                    let src = &x[first as usize..][..2 * (jb - ja) - 1];
                    dst.iter_mut()
                        .zip(src.iter().step_by(2))
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
    /// `Bᵀ·d·B` of every block of `plane` (four phase planes of `ph`, rows of `wide`) into
    /// `dst` (sixteen rows of blocks). `Bᵀ` first combines each block's four rows — even
    /// and odd phase rows at its index and the next row's — into four (two phases each,
    /// in `rows`); then `B` combines each of those rows' four columns — even and odd at the
    /// block and the next one. `Bᵀ`'s rows: (1,0,−1,0), (0,1,1,0), (0,−1,1,0), (0,1,0,−1).
    fn input_plane<T: Fma>(plane: &[T], ph: usize, wide: usize, rows: &mut [T], dst: &mut [&mut [T]; 16]) -> () {
        let nb = dst[0].len();
        let n1 = nb + 1;
        for (b, u) in rows.chunks_exact_mut(4 * n1).take(2).enumerate() {
            let p0 = &plane[b * ph..][..ph];
            let p1 = &plane[(2 + b) * ph..][..ph];
            let (d0, d2) = (&p0[..n1], &p0[wide..][..n1]);
            let (d1, d3) = (&p1[..n1], &p1[wide..][..n1]);
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

/// One output channel's products for one image: product `pos` of block `q` is
/// `m[at + pos·stride + q]`.
#[derive(Clone, Copy)]
struct Products<'a, T> {
    m: &'a [T],
    at: usize,
    stride: usize,
}

crate::simd_dispatch! {
    /// `Aᵀ·m·A` of each block's sixteen products plus `bias` into the output plane `dst`
    /// (`oh × ow`): four values per block over the whole plane (into `rows`), then
    /// interleaved into the output rows. `Aᵀ`'s rows: (1,1,1,0), (0,1,−1,−1). Whether
    /// every value was finite (the dropped blocks' included: one flat pass vectorises).
    fn output_plane<T: Fma>(pr: Products<'_, T>, plan: Plan, bias: T, rows: &mut [T], dst: &mut [MaybeUninit<T>]) -> bool {
        let nb = plan.blocks();
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
        let finite = [&*y0, &*y1, &*y2, &*y3]
            .iter()
            .all(|y| y.iter().fold(true, |ok, v| ok & v.finite()));
        let (tw, ow) = (plan.tw, plan.ow);
        for (y, row) in dst.chunks_exact_mut(ow).enumerate() {
            let (ya, yb) = if y % 2 == 0 { (&*y0, &*y1) } else { (&*y2, &*y3) };
            let at = y / 2 * plan.wide();
            let (ya, yb) = (&ya[at..][..tw], &yb[at..][..tw]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct 3×3 convolution of a contiguous `[n, cin, h, w]` by `[cout, cin, 3, 3]`,
    /// padded by `pad`, plus `bias`.
    fn naive(
        x: &[f64],
        [n, cin, h, w]: [usize; 4],
        wt: &[f64],
        cout: usize,
        pad: [usize; 2],
        bias: &[f64],
    ) -> Vec<f64> {
        let (oh, ow) = (h + 2 * pad[0] - 2, w + 2 * pad[1] - 2);
        let mut y = vec![0.0; n * cout * oh * ow];
        for i in 0..n {
            for k in 0..cout {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = bias[k];
                        for c in 0..cin {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let (yy, xx) = (
                                        (oy + ky) as isize - pad[0] as isize,
                                        (ox + kx) as isize - pad[1] as isize,
                                    );
                                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w
                                    {
                                        acc += x
                                            [((i * cin + c) * h + yy as usize) * w + xx as usize]
                                            * wt[((k * cin + c) * 3 + ky) * 3 + kx];
                                    }
                                }
                            }
                        }
                        y[((i * cout + k) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn window(h: usize, w: usize, pad: [usize; 2]) -> Window {
        Window {
            input: vec![h, w],
            output: vec![h + 2 * pad[0] - 2, w + 2 * pad[1] - 2],
            kernel: vec![3, 3],
            stride: vec![1, 1],
            padding: pad.to_vec(),
            dilation: vec![1, 1],
            adaptive: false,
        }
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-12 * (1.0 + y.abs()),
                "element {i}: {x} against {y}"
            );
        }
    }

    /// Tiles of three images (the last one shorter), whatever the thread count.
    fn threes(n: usize, _blocks: usize) -> Option<Tiles> {
        Some(Tiles::fixed(n, 3))
    }

    #[test]
    fn forward_and_input_grad_match_the_direct_convolution() {
        for (n, cin, cout, h, w, pad) in [
            (7, 16, 16, 13, 13, [1, 1]),
            (4, 17, 20, 9, 12, [0, 0]),
            (3, 16, 18, 7, 6, [2, 1]),
            (5, 20, 16, 15, 11, [0, 2]),
        ] {
            let x = values(n * cin * h * w, 1);
            let wt = values(cout * cin * 9, 2);
            let bias = values(cout, 3);
            let win = window(h, w, pad);
            let xl = Layout::contiguous(&[n, cin, h, w]);
            let y = forward_in(&x, &xl, &wt, Some(&bias), &win, threes).expect("takes the path");
            close(&y, &naive(&x, [n, cin, h, w], &wt, cout, pad, &bias));
            // The input gradient is the convolution of the output gradient by the flipped,
            // transposed filters, padded by 2 − pad.
            let (oh, ow) = (win.output[0], win.output[1]);
            let g = values(n * cout * oh * ow, 4);
            let gx = input_grad_in(&g, n, &wt, cin, &win, threes).expect("takes the path");
            let mut flipped = vec![0.0; cin * cout * 9];
            for k in 0..cout {
                for c in 0..cin {
                    for t in 0..9 {
                        flipped[(c * cout + k) * 9 + 8 - t] = wt[(k * cin + c) * 9 + t];
                    }
                }
            }
            let want = naive(
                &g,
                [n, cout, oh, ow],
                &flipped,
                cin,
                [2 - pad[0], 2 - pad[1]],
                &vec![0.0; cin],
            );
            close(&gx, &want);
            // The weight gradient: each output gradient times the inputs its filter tap saw.
            let gw = weight_grad_in(&x, &xl, &g, cout, &win, threes).expect("takes the path");
            let mut want = vec![0.0; cout * cin * 9];
            for i in 0..n {
                for k in 0..cout {
                    for c in 0..cin {
                        for t in 0..9 {
                            let (ky, kx) = (t / 3, t % 3);
                            for oy in 0..oh {
                                for ox in 0..ow {
                                    let (yy, xx) = (
                                        (oy + ky) as isize - pad[0] as isize,
                                        (ox + kx) as isize - pad[1] as isize,
                                    );
                                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w
                                    {
                                        want[(k * cin + c) * 9 + t] += g
                                            [((i * cout + k) * oh + oy) * ow + ox]
                                            * x[((i * cin + c) * h + yy as usize) * w
                                                + xx as usize];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            close(&gw, &want);
        }
    }

    #[test]
    fn strided_input_and_declined_cases() {
        let (n, cin, cout, h, w) = (4, 16, 16, 10, 10);
        // Every other element of a twice-as-wide plane.
        let wide = values(n * cin * h * 2 * w, 5);
        let xl = Layout {
            shape: vec![n, cin, h, w],
            strides: vec![
                (cin * h * 2 * w) as isize,
                (h * 2 * w) as isize,
                2 * w as isize,
                2,
            ],
            offset: 1,
        };
        let x: Vec<f64> = (0..n * cin * h * w)
            .map(|e| {
                let (i, c, y, xx) = (e / (cin * h * w), e / (h * w) % cin, e / w % h, e % w);
                wide[1 + ((i * cin + c) * h + y) * 2 * w + 2 * xx]
            })
            .collect();
        let wt = values(cout * cin * 9, 6);
        let win = window(h, w, [1, 1]);
        let y = forward_in(&wide, &xl, &wt, None, &win, threes).expect("takes the path");
        close(
            &y,
            &naive(&x, [n, cin, h, w], &wt, cout, [1, 1], &vec![0.0; cout]),
        );
        // Not finite, too few channels, a padding over 2, a stride: declined.
        let mut bad = wide.clone();
        bad[1 + 2 * 37] = f64::INFINITY;
        assert!(forward_in(&bad, &xl, &wt, None, &win, threes).is_none());
        let g = values(n * cout * h * w, 7);
        let mut badg = g.clone();
        badg[301] = f64::NEG_INFINITY;
        assert!(weight_grad_in(&wide, &xl, &g, cout, &win, threes).is_some());
        assert!(weight_grad_in(&wide, &xl, &badg, cout, &win, threes).is_none());
        assert!(weight_grad_in(&bad, &xl, &g, cout, &win, threes).is_none());
        let mut badw = wt.clone();
        badw[4] = f64::NAN;
        assert!(forward_in(&wide, &xl, &badw, None, &win, threes).is_none());
        let narrow = Layout::contiguous(&[n, 8, h, w]);
        assert!(forward_in(&x, &narrow, &wt[..cout * 8 * 9], None, &win, threes).is_none());
        let mut far = window(h, w, [3, 3]);
        assert!(forward_in(&wide, &xl, &wt, None, &far, threes).is_none());
        far = window(h, w, [1, 1]);
        far.stride = vec![2, 2];
        assert!(forward_in(&wide, &xl, &wt, None, &far, threes).is_none());
    }
}
