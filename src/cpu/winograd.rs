//! Convolutions by Winograd's minimal filtering (Lavin and Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2016): F(m×m, r×r), m×m output blocks of an r×r window
//! at unit stride, for F(2×2, 3×3), F(4×4, 3×3) and F(2×2, 2×2). Each `(m + r − 1)²` input
//! tile `d` and r×r filter `g` go to the transform domain (`Bᵀ·d·B`, `G·g·Gᵀ`). There the
//! convolution is `(m + r − 1)²` products, `[cout, cin]` by `[cin, tiles]`, one per
//! transform position. Each product tile comes back as an m×m block of outputs (`Aᵀ·m·A`).
//! Per output, F(2×2, 3×3) makes 4 multiplications where im2col's product makes 9 (2.25×
//! fewer), F(4×4, 3×3) 2.25 (4× fewer), and F(2×2, 2×2) 2.25 where it makes 4 (1.78×
//! fewer).
//!
//! 3×3 windows at unit stride take F(4×4, 3×3) directly on planes of at least 8×8
//! outputs, F(2×2, 3×3) on smaller ones and for the weight gradient ([`Plan::wider`]).
//! 4×4 windows at stride 2 (the DCGAN's layers, and their transposed convolutions) take
//! F(2×2, 2×2) once the padded input is split into its four (row, column) parity phases:
//! each phase is a channel of its own, seen through a 2×2 window at unit stride (space to
//! depth: one pass over an input plane fills its four phases' planes).
//!
//! As in [`super::im2col`], a batch runs a tile of images at a time. The tiles are shared
//! between the threads; each tile's transforms and products run on one thread and stay in
//! its cache. The transforms run over whole rows of blocks plus one past each row, and that
//! block is dropped before the products (on the DCGAN's 8×8 and 4×4 outputs it would be a
//! quarter and a half of their work). The input gradient is the same algorithm: the output gradient convolved with
//! the filters flipped and transposed, padded by `r − 1 − padding`; for the 4×4 windows
//! that gives the phases' gradients, put back in place (depth to space).
//!
//! The transforms add and subtract neighbouring values. So an infinity or NaN in the
//! inputs, or a transform's sum overflowing, would spread to outputs that a direct product
//! leaves finite, or give NaN where it gives an infinity. Any of these leaves a result that
//! is not all finite: such a result is dropped (`None`), and the convolution takes im2col,
//! whose results are PyTorch's.

use super::assume_init;
use super::conv::{all_finite, Fma};
use super::im2col::Tiles;
use super::matmul::{GemmElem, MatRef, SharedLhs};
use crate::backend::num::Num;
use crate::backend::Window;
use crate::tensor::layout::Layout;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use transforms::{
    corners_2, corners_3, corners_4, filter_grads, filters, grad_plane_2, grad_plane_3,
    input_plane_2, input_plane_3, input_plane_4, parity_phases, parity_plane, phases, scatter,
    Products,
};

/// Both channel counts (the products') at least this. With fewer, the products are too
/// thin for the transforms to pay, and the direct kernel or im2col is faster.
const MIN_CHANNELS: usize = 16;

/// Output sides at least these for a 4×4 window at stride 2 to take the phases, by what
/// is computed ([`Pass`]). The DCGAN's layers at batch 64
/// (one-off script, a quick build, im2col's time beside each):
/// - forward: 128→256 on 16×16 (8×8 outputs) 15.8–17.0 ms against 22.2, 256→512 on 8×8
///   18.2–18.5 against 21.9–23.0;
/// - weight gradient: 128→256 on 16×16 21.9–22.1 against 24.6–26.5; 256→512 on 8×8
///   (four blocks an image, so its products sum over few columns) 35 against 25.7;
/// - input gradient: its blocks cover the phases' `(o + 1)²` gradients, so on an 8×8
///   output it makes 25 blocks of nine products (900 per pair of channels) where im2col
///   makes 1 024: the transposed 256→128 from 8×8 took 26.8–27.1 ms against 25.4–25.6.
const MIN_PHASE_OUTPUT: [usize; 3] = [4, 8, 16];

/// What a convolution computes: the forward, the weight gradient or the input gradient.
#[derive(Clone, Copy, Debug)]
enum Pass {
    Forward = 0,
    Weight = 1,
    Input = 2,
}

/// Output sides at least this for F(4×4, 3×3) ([`Plan::wider`]).
const MIN_WIDE_OUTPUT: usize = 8;

/// One image plane's geometry for F(m×m, r×r): input `h × w`, output `oh × ow`, padding
/// `py`, `px`, and the m×m output blocks, `th × tw` of them. For the 4×4 windows the input
/// is the phases, `(oh + 1) × (ow + 1)` unpadded ([`Source::Phases`] says where they are).
#[derive(Clone, Copy, Debug)]
struct Plan {
    r: usize,
    m: usize,
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
    /// The F(2×2, r×r) plan of an r×r convolution from `input` to `output` with `padding`,
    /// or `None` when a padding is over `r − 1` (the input gradient pads by
    /// `r − 1 − padding`) or a plane is empty.
    fn new(r: usize, input: &[usize], output: &[usize], padding: &[usize]) -> Option<Plan> {
        let sizes = input.iter().chain(output).all(|&v| v > 0);
        (padding.iter().all(|&p| p < r) && sizes).then(|| Plan {
            r,
            m: 2,
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
    /// `r − 1 − padding`.
    fn transposed(&self) -> Plan {
        Plan {
            h: self.oh,
            w: self.ow,
            oh: self.h,
            ow: self.w,
            py: self.r - 1 - self.py,
            px: self.r - 1 - self.px,
            th: self.h.div_ceil(self.m),
            tw: self.w.div_ceil(self.m),
            ..*self
        }
    }

    /// The plan with the larger F(4×4, 3×3) blocks where they pay: a 3×3 window over
    /// planes whose outputs are at least [`MIN_WIDE_OUTPUT`] a side. Its products make 36
    /// multiplications per 16 outputs where F(2×2, 3×3) makes 64. (The weight gradient keeps
    /// F(2×2, 3×3): its filter transform back, `Gᵀ·du·G`, would scale the sums' round-off
    /// by F(4×4)'s larger coefficients.)
    fn wider(self, source: Source) -> Plan {
        let sides = self.oh.min(self.ow) >= MIN_WIDE_OUTPUT;
        if self.r == 3 && sides && matches!(source, Source::Planes) {
            Plan {
                m: 4,
                th: self.oh.div_ceil(4),
                tw: self.ow.div_ceil(4),
                ..self
            }
        } else {
            self
        }
    }

    /// A tile's side, `m + r − 1`.
    fn side(&self) -> usize {
        self.m + self.r - 1
    }

    /// Transform positions: the tile's.
    fn pos(&self) -> usize {
        self.side() * self.side()
    }

    /// The phase planes: `m²`.
    fn phases(&self) -> usize {
        self.m * self.m
    }

    /// Blocks per image as the products see them: `th × tw`.
    fn blocks(&self) -> usize {
        self.th * self.tw
    }

    /// Blocks per image as the transforms make them: `th` rows of `tw + 1`, the last of
    /// each row past the output, so that every transform runs over a whole plane as one
    /// flat loop ([`pack`] drops it before the products).
    fn spread(&self) -> usize {
        self.th * self.wide()
    }

    /// What a tile of images is cut by ([`Tiles::new`]'s positions per image): the
    /// blocks, or for F(4×4, 3×3) three times them. Its 36 products per block make a tile's
    /// working set per block 2.25× F(2×2, 3×3)'s, and tiles of a third as many blocks keep
    /// the products in the core's cache. The Keras CNN's 32→64 layer on 26×26, batch 64,
    /// forward and forward + backward, in one build: tiles of half as many blocks 4.5 and
    /// 18.6–19.3 ms, a third 4.4–4.5 and 16.2–16.6, a quarter 4.3–4.4 and 16.2–16.4
    /// (F(2×2, 3×3): 4.7 and 19.1).
    fn tile_blocks(&self) -> usize {
        self.blocks() * if self.m == 4 { 3 } else { 1 }
    }

    /// Blocks per row, the dropped one included.
    fn wide(&self) -> usize {
        self.tw + 1
    }

    /// The phase planes of a tile of `t` images side by side ([`phases`]).
    fn strip(&self, t: usize) -> Strip {
        let span = t * self.wide();
        Strip {
            span,
            ph: (self.th + 1) * span + 1,
        }
    }
}

/// A tile's images side by side in its phase planes ([`phases`]): image `i`'s blocks in
/// columns `i·wide..(i + 1)·wide` of rows of `span`, so that a transform runs over the whole
/// tile in one flat loop. A phase plane is `th + 1` such rows and one more element that the
/// last block's transform reads: `ph`. (A row's dropped block reads the next image's first
/// column, or, for the last image, the first image's in the next row.)
#[derive(Clone, Copy, Debug)]
struct Strip {
    span: usize,
    ph: usize,
}

/// Where the products' input channels come from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// Channel `c` is the input's channel `c`, its planes as the plan says.
    Planes,
    /// Space to depth: channel `4·c + 2·a + b` is the input's channel `c` (`h × w`, padded
    /// by `py`, `px`) at rows `2·i + a` and columns `2·j + b` of the padded plane.
    Phases {
        h: usize,
        w: usize,
        py: usize,
        px: usize,
    },
}

impl Source {
    /// The products' input channels for `cin` of the input's.
    fn channels(&self, cin: usize) -> usize {
        match self {
            Source::Planes => cin,
            Source::Phases { .. } => 4 * cin,
        }
    }
}

/// The plan of `win` with `cin` → `cout` channels and where its inputs come from, when it
/// takes this path: a 2-D window at dilation 1 that is 3×3 at unit stride padded by at
/// most 2, or 4×4 at stride 2 padded by at most 3 with outputs of at least
/// [`MIN_PHASE_OUTPUT`] a side for `pass`, and both of the products' channel counts at least
/// [`MIN_CHANNELS`].
fn plan(win: &Window, cin: usize, cout: usize, pass: Pass) -> Option<(Plan, Source)> {
    if win.input.len() != 2 || win.dilation != [1, 1] || win.adaptive {
        return None;
    }
    let (plan, source) = if win.kernel == [3, 3] && win.stride == [1, 1] {
        (
            Plan::new(3, &win.input, &win.output, &win.padding)?,
            Source::Planes,
        )
    } else if win.kernel == [4, 4]
        && win.stride == [2, 2]
        && win.padding.iter().all(|&p| p < 4)
        && win
            .output
            .iter()
            .all(|&o| o >= MIN_PHASE_OUTPUT[pass as usize])
    {
        // The 2×2 windows over the phases: one more phase row and column than outputs.
        let (oh, ow) = (win.output[0], win.output[1]);
        let source = Source::Phases {
            h: win.input[0],
            w: win.input[1],
            py: win.padding[0],
            px: win.padding[1],
        };
        (
            Plan::new(2, &[oh + 1, ow + 1], &win.output, &[0, 0])?,
            source,
        )
    } else {
        return None;
    };
    (source.channels(cin).min(cout) >= MIN_CHANNELS).then_some((plan, source))
}

/// The convolution of `x` (`[n, cin, h, w]`, any strides) with `w` (contiguous `[cout,
/// cin, k, k]`), plus `bias`: a contiguous `[n, cout, oh, ow]`. `None` where the window
/// does not take this path ([`plan`]), the batch has too few tiles to share, or the result
/// is not all finite.
pub fn forward<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    bias: Option<&[T]>,
    win: &Window,
) -> Option<Vec<T>> {
    forward_in(x, xl, w, bias, win, batch_tiles)
}

/// [`forward`] with the batch cut by `tiles(n, blocks per image, source)`.
fn forward_in<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    bias: Option<&[T]>,
    win: &Window,
    tiles: Cut,
) -> Option<Vec<T>> {
    let (n, cin) = (xl.shape[0], xl.shape[1]);
    let cout = w.len() / (win.kernel_numel() * cin).max(1);
    let (plan, source) = plan(win, cin, cout, Pass::Forward)?;
    let plan = plan.wider(source);
    let tiles = tiles(n, plan.tile_blocks(), source)?;
    let phased = matches!(source, Source::Phases { .. });
    let u = filters(w, (cout, source.channels(cin)), false, phased, plan)?;
    let products = (source.channels(cin), cout);
    run(x, xl, source, &u, products, plan, bias, tiles)
}

/// The input gradient of [`forward`]: `g` (contiguous `[n, cout, oh, ow]`) through `w`
/// (contiguous `[cout, cin, k, k]`), a contiguous `[n, cin, h, w]`; `None` as there, and
/// for the 4×4 windows where im2col's products take the tile units.
pub fn input_grad<T: GemmElem + Fma>(
    g: &[T],
    n: usize,
    w: &[T],
    cin: usize,
    win: &Window,
) -> Option<Vec<T>> {
    input_grad_in(g, n, w, cin, win, batch_tiles)
}

/// [`input_grad`] with the batch cut by `tiles(n, blocks per image, source)`.
fn input_grad_in<T: GemmElem + Fma>(
    g: &[T],
    n: usize,
    w: &[T],
    cin: usize,
    win: &Window,
    tiles: Cut,
) -> Option<Vec<T>> {
    let cout = w.len() / (win.kernel_numel() * cin).max(1);
    let (forward, source) = plan(win, cin, cout, Pass::Input)?;
    // Where im2col's products (per image: `[cin·k², cout] @ [cout, oh·ow]`) run on tile
    // units, they beat the phases' transforms: the DCGAN's 64→128 layer on 32×32, batch 64,
    // took 12.1–13.0 ms against 15.2–16.6 (its transposed 128→64 forward 10.6–11.1 against
    // 14.3–14.7), where this path's forward and weight gradient stayed ahead.
    let products = (cin * win.kernel_numel(), win.output_numel(), cout);
    if matches!(source, Source::Phases { .. }) && T::on_tile_units(products) {
        return None;
    }
    let plan = forward.transposed().wider(source);
    let tiles = tiles(n, plan.tile_blocks(), source)?;
    let channels = source.channels(cin);
    let phased = matches!(source, Source::Phases { .. });
    let u = filters(w, (cout, channels), true, phased, plan)?;
    let gl = Layout::contiguous(&[n, cout, plan.h, plan.w]);
    let out = run(
        g,
        &gl,
        Source::Planes,
        &u,
        (cout, channels),
        plan,
        None,
        tiles,
    )?;
    Some(match source {
        Source::Planes => out,
        Source::Phases { h, w, py, px } => {
            put_back(&out, n * cin, [plan.oh, plan.ow], [h, w, py, px])
        }
    })
}

/// Depth to space: the phases' gradients `out` (`[planes, 4, ph, pw]`) as the input's
/// (`[planes, h, w]`, padded by `py`, `px`), a plane at a time ([`parity_plane`]).
fn put_back<T: Fma>(
    out: &[T],
    planes: usize,
    [ph, pw]: [usize; 2],
    [h, w, py, px]: [usize; 4],
) -> Vec<T> {
    let each = 4 * ph * pw;
    // SAFETY: the chunks cover the result, and `parity_plane` writes every element of its
    // plane.
    unsafe {
        super::write_new_vec(planes * h * w, |dx| {
            dx.par_chunks_mut(h * w)
                .enumerate()
                .for_each(|(nc, plane)| {
                    parity_plane(&out[nc * each..][..each], [ph, pw, w], [py, px], plane)
                })
        })
    }
}

/// The weight gradient of [`forward`]: `g` (contiguous `[n, cout, oh, ow]`) against `x`
/// (`[n, cin, h, w]`, any strides), summed over the batch: a contiguous `[cout, cin, k,
/// k]`, or `None` as there. In the transform domain it is `(r + 1)²` products of the output
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
    weight_grad_in(x, xl, g, cout, win, grad_tiles)
}

/// Columns (images × blocks) a tile of the weight gradient's products sums over, at most.
/// A thread's first tile writes its `pos × cout × cin` sums and each later one reads and
/// adds to them. The DCGAN's 128→256 layer on 16×16 took 21.9–22.1 ms with tiles of 256
/// columns, 24.6–25.3 with 512 and 25.6–26.6 with one tile per thread; its 64→128 layer
/// on 32×32 21.0–21.2, 23.1–25.2 and 25.6–27.4.
const GRAD_COLS: usize = 256;

/// How a batch of `n` images of `blocks` blocks each is cut into tiles, by where the
/// products' inputs come from; `None` for im2col.
type Cut = fn(usize, usize, Source) -> Option<Tiles>;

/// The forward's and the input gradient's tiles. The phases take [`Tiles::shared`]: the
/// DCGAN's 256→512 layer on 8×8 has four blocks an image, too few for tiles of
/// [`Tiles::new`]'s width to give every thread two. 3×3 windows keep [`Tiles::new`]: a
/// batch too small for it takes im2col, whose float32 round-off is below F(4×4, 3×3)'s on
/// wide layers (128→128 channels on 14×14: 2.4·10⁻⁶ of the largest output, over the tests'
/// 2·10⁻⁶).
fn batch_tiles(n: usize, blocks: usize, source: Source) -> Option<Tiles> {
    match source {
        Source::Phases { .. } => Tiles::shared(n, blocks),
        Source::Planes => Tiles::new(n, blocks),
    }
}

/// The weight gradient's tiles: for the phases, of at most [`GRAD_COLS`] columns (and at
/// most one per thread's share of the batch), or `None` where the kernels may use one
/// thread only; 3×3 windows as [`batch_tiles`].
fn grad_tiles(n: usize, blocks: usize, source: Source) -> Option<Tiles> {
    if matches!(source, Source::Planes) {
        return Tiles::new(n, blocks);
    }
    let threads = super::team::parts();
    let per = (GRAD_COLS / blocks.max(1)).clamp(1, n.div_ceil(threads.max(1)).max(1));
    (threads >= 2 && n > 0 && blocks > 0).then(|| Tiles::fixed(n, per))
}

/// [`weight_grad`] with the batch cut by `tiles(n, blocks per image, source)`.
fn weight_grad_in<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    g: &[T],
    cout: usize,
    win: &Window,
    tiles: Cut,
) -> Option<Vec<T>> {
    let (n, cin) = (xl.shape[0], xl.shape[1]);
    let (plan, source) = plan(win, cin, cout, Pass::Weight)?;
    let tiles = tiles(n, plan.blocks(), source)?;
    let channels = source.channels(cin);
    let (nb, pos) = (plan.blocks(), plan.pos());
    let count = tiles.count();
    let parts = super::team::parts().clamp(1, count);
    let run = |part: usize| {
        let mut s = Scratch::new(plan, source, (channels, cout), tiles.per());
        let mut acc = super::uninit_vec(pos * cout * channels);
        let first = part * count / parts;
        for i in first..((part + 1) * count / parts) {
            let (b, t) = tiles.tile(i);
            let p = t * nb;
            inputs(x, xl, source, b, t, channels, plan, &mut s);
            output_grads(g, b, t, cout, plan, &mut s);
            // SAFETY: `output_grads` wrote the first `pos·cout·p` elements.
            let dm = unsafe { assume_init(&mut s.m[..pos * cout * p]) };
            for k in 0..pos {
                // `[cout, p] @ [p, channels]`: the gradients' blocks by the inputs'
                // transposed, written by the part's first tile and added to by the rest.
                let vt = MatRef {
                    offset: k * channels * p,
                    rs: 1,
                    cs: p as isize,
                };
                let lhs = MatRef::dense(k * cout * p, p);
                let (dst, mnk) = (
                    &mut acc[k * cout * channels..][..cout * channels],
                    (cout, channels, p),
                );
                if i == first {
                    T::gemm_into(dm, lhs, &s.v, vt, dst, mnk, T::one(), 1);
                } else {
                    // SAFETY: the part's first tile wrote every element.
                    let dst = unsafe { assume_init(dst) };
                    T::gemm(dm, lhs, &s.v, vt, dst, mnk, T::one(), T::one(), 1);
                }
            }
        }
        // SAFETY: every part has a tile (`parts` is at most `count`), whose products wrote
        // all of `acc`.
        unsafe { super::vec_assume_init(acc) }
    };
    let sums: Vec<Vec<T>> = (0..parts)
        .into_par_iter()
        .map(|part| super::team::as_part(|| run(part)))
        .collect();
    let total = super::team::sum_in_order(sums, |a: &mut T, b| *a = a.add(b))?;
    // A non-finite input or gradient, or an overflowing transform, leaves a non-finite sum
    // (a zero gradient past the output times an infinity is NaN).
    let phased = matches!(source, Source::Phases { .. });
    let gw = filter_grads(&total, (cout, channels), plan.r, phased);
    all_finite(&gw).then_some(gw)
}

/// Transforms the output gradients of images `b..b + t` (`g`, contiguous `[n, cout, oh,
/// ow]`) into `s.m` (`[pos, cout, t·blocks]`): `A·dy·Aᵀ` of each 2×2 block, zeros past the
/// output.
fn output_grads<T: Fma>(g: &[T], b: usize, t: usize, cout: usize, plan: Plan, s: &mut Scratch<T>) {
    let (p, wide, l) = (t * plan.blocks(), t * plan.spread(), plan.oh * plan.ow);
    // The output planes read as unpadded inputs: phase (a, b) holds row 2·i + a, column
    // 2·j + b of the gradient, a block's four values at its index.
    let unpadded = Plan {
        h: plan.oh,
        w: plan.ow,
        py: 0,
        px: 0,
        ..plan
    };
    let strip = plan.strip(t);
    // Every channel writes the same places: what it leaves (past the output) stays zero.
    s.plane[..plan.phases() * strip.ph].fill(T::zero());
    for k in 0..cout {
        for i in 0..t {
            let at = ((b + i) * cout + k) * l;
            let strides = [plan.ow as isize, 1];
            let col = i * plan.wide();
            phases(g, at as isize, strides, unpadded, strip, col, &mut s.plane);
        }
        let mut rows = s.spread.chunks_exact_mut(wide);
        let mut row = || rows.next().expect("a row per position");
        if plan.r == 3 {
            grad_plane_3(&s.plane, strip.ph, &mut std::array::from_fn(|_| row()));
        } else {
            grad_plane_2(&s.plane, strip.ph, &mut std::array::from_fn(|_| row()));
        }
        let dst = s.m[k * p..].chunks_mut(cout * p).map(|row| &mut row[..p]);
        for (src, dst) in s.spread.chunks_exact(wide).zip(dst) {
            pack(src, plan.wide(), dst, |d, v| {
                d.write(v);
            });
        }
    }
}

/// One thread's working memory, kept from tile to tile.
struct Scratch<T> {
    /// The transformed inputs, `[pos, cin, blocks]`.
    v: Vec<T>,
    /// The products, `[pos, cout, blocks]` (or, for the weight gradient, the transformed
    /// output gradients).
    m: Vec<MaybeUninit<T>>,
    /// A tile's zero-padded input planes of one channel, as its `m²` phase planes
    /// ([`phases`]); for [`Source::Phases`], of an input channel's four parity channels
    /// ([`parity_phases`]).
    plane: Vec<T>,
    /// Rows between the two halves of a transform, and the blocks' outputs before
    /// [`scatter`] interleaves them.
    rows: Vec<T>,
    /// One channel's transform, `[pos, t·spread]`, before [`pack`] drops the blocks past
    /// each row.
    spread: Vec<T>,
}

impl<T: Num> Scratch<T> {
    /// Room for tiles of `per` images of `plan` with these (the products') channels, read
    /// from `source`.
    fn new(plan: Plan, source: Source, (cin, cout): (usize, usize), per: usize) -> Scratch<T> {
        let (nb, pos, spread) = (plan.blocks(), plan.pos(), per * plan.spread());
        Scratch {
            v: vec![T::zero(); pos * cin * per * nb],
            m: vec![MaybeUninit::uninit(); pos * cout * per * nb],
            plane: vec![T::zero(); plan.phases() * plan.strip(per).ph * source.channels(1)],
            rows: vec![T::zero(); (plan.m * plan.side() + plan.phases()) * (spread + 1)],
            spread: vec![T::zero(); pos * spread],
        }
    }
}

/// `src`, rows of `wide` blocks (the transforms' layout), without the last block of each
/// row, into `dst` (the products' layout), each value through `put`.
fn pack<T: Copy, D>(src: &[T], wide: usize, dst: &mut [D], put: impl Fn(&mut D, T)) {
    let tw = wide - 1;
    for (s, d) in src.chunks_exact(wide).zip(dst.chunks_exact_mut(tw)) {
        for (d, &v) in d.iter_mut().zip(&s[..tw]) {
            put(d, v);
        }
    }
}

/// The convolution by the transformed filters `u` (`[cout, pos, cin]`) of `x` (`[n, cin,
/// plan.h, plan.w]` as `source` reads it, any strides), plus `bias`, tile by tile of
/// images; `None` if the result is not all finite. `cin` and `cout` are the products'.
#[allow(clippy::too_many_arguments)]
fn run<T: GemmElem + Fma>(
    x: &[T],
    xl: &Layout,
    source: Source,
    u: &[T],
    (cin, cout): (usize, usize),
    plan: Plan,
    bias: Option<&[T]>,
    tiles: Tiles,
) -> Option<Vec<T>> {
    let l = plan.oh * plan.ow;
    let (nb, pos) = (plan.blocks(), plan.pos());
    let finite = AtomicBool::new(true);
    let scratch = || Scratch::new(plan, source, (cin, cout), tiles.per());
    let filters: Vec<SharedLhs<T>> = (0..pos)
        .map(|k| {
            SharedLhs::new(
                u,
                MatRef {
                    offset: k * cin,
                    rs: (pos * cin) as isize,
                    cs: 1,
                },
                (cout, cin),
                tiles.per() * nb,
            )
        })
        .collect();
    let tile = |s: &mut Scratch<T>, i: usize, o: &mut [MaybeUninit<T>]| {
        let (b, t) = tiles.tile(i);
        let p = t * nb;
        inputs(x, xl, source, b, t, cin, plan, s);
        for (k, f) in filters.iter().enumerate() {
            let m = &mut s.m[k * cout * p..][..cout * p];
            f.gemm_into(&s.v, MatRef::dense(k * cin * p, p), m, p, T::one());
        }
        // SAFETY: the products wrote the first `pos·cout·p` elements.
        let m = unsafe { assume_init(&mut s.m[..pos * cout * p]) };
        for k in 0..cout {
            let bv = bias.map_or(T::zero(), |b| b[k]);
            let products = Products {
                m,
                at: k * p,
                stride: cout * p,
            };
            match (plan.r, plan.m) {
                (3, 4) => corners_4(products, p, bv, &mut s.rows),
                (3, _) => corners_3(products, p, bv, &mut s.rows),
                _ => corners_2(products, p, bv, &mut s.rows),
            }
            for img in 0..t {
                let dst = &mut o[(img * cout + k) * l..][..l];
                let col = img * plan.tw;
                scatter(plan, &s.rows[..plan.phases() * p], t * plan.tw, col, dst);
            }
        }
        // SAFETY: `scatter` wrote every output of the tile's images.
        if !all_finite(unsafe { assume_init(o) }) {
            finite.store(false, Ordering::Relaxed);
        }
    };
    // SAFETY: the chunks cover the output, and each tile writes every element of its chunk
    // (`scatter` writes every output of its images).
    let out = unsafe {
        super::write_new_vec(tiles.n() * cout * l, |out| {
            out.par_chunks_mut(tiles.per() * cout * l)
                .enumerate()
                .for_each_init(scratch, |s, (i, o)| super::team::as_part(|| tile(s, i, o)))
        })
    };
    finite.into_inner().then_some(out)
}

/// Transforms images `b..b + t` of `x` into `s.v` (`[pos, cin, t·blocks]`), channel by
/// channel as `source` reads them (`cin` of them).
#[allow(clippy::too_many_arguments)]
fn inputs<T: Fma>(
    x: &[T],
    xl: &Layout,
    source: Source,
    b: usize,
    t: usize,
    cin: usize,
    plan: Plan,
    s: &mut Scratch<T>,
) {
    let st = &xl.strides;
    let (p, wide) = (t * plan.blocks(), t * plan.spread());
    let strip = plan.strip(t);
    for c in 0..cin {
        // The padding stays zero from channel to channel: they all write the same places.
        let plane = match source {
            Source::Planes => {
                if c == 0 {
                    s.plane[..plan.phases() * strip.ph].fill(T::zero());
                }
                for i in 0..t {
                    let at = xl.offset as isize + (b + i) as isize * st[0] + c as isize * st[1];
                    let col = i * plan.wide();
                    phases(x, at, [st[2], st[3]], plan, strip, col, &mut s.plane);
                }
                &s.plane[..plan.phases() * strip.ph]
            }
            Source::Phases { h, w, py, px } => {
                // Channel `c` is parity `c mod 4` of the input's channel `c / 4`: the
                // four are split together, at the first of them.
                let quad = 4 * plan.phases() * strip.ph;
                if c % 4 == 0 {
                    if c == 0 {
                        s.plane[..quad].fill(T::zero());
                    }
                    for i in 0..t {
                        let image = xl.offset as isize + (b + i) as isize * st[0];
                        let at = image + (c / 4) as isize * st[1];
                        let (src, col) = ([h, w, py, px], i * plan.wide());
                        let place = (at, [st[2], st[3]]);
                        parity_phases(x, place, src, plan, strip, col, &mut s.plane);
                    }
                }
                &s.plane[c % 4 * quad / 4..][..quad / 4]
            }
        };
        let mut rows = s.spread.chunks_exact_mut(wide);
        let mut row = || rows.next().expect("a row per position");
        if plan.m == 4 {
            let mut dst = std::array::from_fn(|_| row());
            input_plane_4(plane, strip.ph, strip.span, &mut s.rows, &mut dst);
        } else if plan.r == 3 {
            let mut dst = std::array::from_fn(|_| row());
            input_plane_3(plane, strip.ph, strip.span, &mut s.rows, &mut dst);
        } else {
            let mut dst = std::array::from_fn(|_| row());
            input_plane_2(plane, strip.ph, strip.span, &mut s.rows, &mut dst);
        }
        let dst = s.v[c * p..].chunks_mut(cin * p).map(|row| &mut row[..p]);
        for (src, dst) in s.spread.chunks_exact(wide).zip(dst) {
            pack(src, plan.wide(), dst, |d, v| *d = v);
        }
    }
}

#[cfg(test)]
mod tests;
mod transforms;
