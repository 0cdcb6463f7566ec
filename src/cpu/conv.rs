//! Direct 2-D convolution for few channels (LeNet's 3→6 and 6→16 5×5 layers), where
//! im2col + gemm spends its time writing and packing a patch matrix whose inner dimension
//! (`cin·kh·kw`) is too short to pay for it.
//!
//! The forward and the input gradient are one kernel, [`pitched_image`]: a correlation over
//! a zero-padded copy of the input whose rows share one pitch with the positions computed,
//! so that a vector of output positions runs across rows and every load is a whole vector
//! with no bounds test. It keeps a block of output channels times a few vectors of positions
//! in registers and broadcasts each weight once for all of them. The weight gradient
//! multiplies the output gradient's rows (zero-padded to whole vectors) with shifted input
//! rows, image by image, and adds the parts' partial sums in a fixed order, so a run is
//! repeatable. Layers whose output channels fill one or two whole vectors (LeNet's 6→16)
//! run the forward and the weight gradient with the channels across the lanes instead
//! ([`channels`]), where no lane computes padding.

mod channels;
mod planes;

use super::copy::gather;
use super::window::zeroed_planes;
use super::{team, PAR_THRESHOLD};
use crate::backend::num::Num;
use crate::simd_dispatch;
use crate::tensor::dtype::Element;
use crate::tensor::layout::Layout;
use planes::{padded, Planes};

/// The widest vector the kernels use (one AVX-512 register of float32): the unit of their
/// data layouts (row pitches, slack). Their register blocks use [`registers`]' width.
const LANES: usize = 16;
/// The most output channels one pass keeps in registers.
const BLOCK: usize = 6;
// `by_blocks!` instantiates block sizes up to 8.
const _: () = assert!(BLOCK <= 8);

/// The floats the direct kernels run on: a fused multiply-add (one instruction in the AVX2
/// and AVX-512 copies, which are the only ones [`fits`] lets run).
pub trait Fma: Num + Element {
    /// `self + a·b`, rounded once.
    fn fma(self, a: Self, b: Self) -> Self;
    /// Neither infinite nor NaN.
    fn finite(self) -> bool;
}

impl Fma for f32 {
    #[inline(always)]
    fn fma(self, a: f32, b: f32) -> f32 {
        a.mul_add(b, self)
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

impl Fma for f64 {
    #[inline(always)]
    fn fma(self, a: f64, b: f64) -> f64 {
        a.mul_add(b, self)
    }
    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }
}

/// Whether the direct kernels beat im2col + gemm for a convolution with these channels and
/// kernel (stride 1, no dilation, one group); needs the vector copies (AVX2+FMA or
/// AVX-512). Measured on 2 AVX-512 cores, layer forward + backward: LeNet's 3→6 5×5 went
/// from 17 to 46 GFLOP/s and its 6→16 5×5 from 15 to 43; 64→128 3×3 stays a product.
pub fn fits(cin: usize, cout: usize, kh: usize, kw: usize) -> bool {
    vector_kernels_fit(cin * kh * kw, 256, cout)
}

/// Whether [`input_grad`] beats a product and col2im for the input gradient of a
/// convolution with these channels and kernel (the correlation it runs has `cout` input
/// channels and `cin` output channels). LeNet's 6→16 5×5 layer, batch 64, two threads: the
/// input gradient (a 16→6 correlation, 400 terms per position) took 0.62 ms as a product and
/// col2im, 0.45 ms here (PyTorch: 0.45 ms).
pub fn fits_input_grad(cout: usize, cin: usize, kh: usize, kw: usize) -> bool {
    vector_kernels_fit(cout * kh * kw, 512, cin)
}

/// The direct kernels' common bound: at most `bound` terms per output position and 32
/// output channels, on a CPU with the vector copies (AVX2+FMA or AVX-512).
fn vector_kernels_fit(terms: usize, bound: usize, outputs: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::math::has_avx2() && terms <= bound && outputs <= 32
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (terms, bound, outputs);
        false
    }
}

/// Calls `$call` with `$c` a constant equal to `$value`, one of the listed sizes (the last
/// is taken for any value not listed before it): one instantiation of `$call` per size.
macro_rules! with_const {
    ($value:expr, [$($n:literal),+ ; $last:literal], |$c:ident| $call:expr) => {
        match $value {
            $($n => {
                const $c: usize = $n;
                $call
            })+
            _ => {
                const $c: usize = $last;
                $call
            }
        }
    };
}
pub(crate) use with_const;

/// Runs `$call` for each block of up to [`BLOCK`] of `$cout` output channels, with `$co`
/// the block's first channel and `$cb` its size as a constant (one instantiation per size).
macro_rules! by_blocks {
    ($cout:expr, |$co:ident, $cb:ident| $call:expr) => {
        by_blocks!($cout, BLOCK, |$co, $cb| $call)
    };
    ($cout:expr, $block:expr, |$co:ident, $cb:ident| $call:expr) => {{
        let mut $co = 0;
        while $co < $cout {
            let size = ($cout - $co).min($block);
            with_const!(size, [8, 7, 6, 5, 4, 3, 2; 1], |$cb| $call);
            $co += size;
        }
    }};
}

/// The sizes of one weight gradient: `[n, cin, h, w]` with `[cout, cin, kh, kw]`, the
/// output `[n, cout, oh, ow]`, and the padded input planes' rows `ph`.
#[derive(Clone, Copy)]
pub struct Geom {
    n: usize,
    cin: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    ph: usize,
}

impl Geom {
    fn new(x: &[usize], w: &[usize], padding: [usize; 2]) -> Geom {
        let (oh, ow) = (
            x[2] + 2 * padding[0] + 1 - w[2],
            x[3] + 2 * padding[1] + 1 - w[3],
        );
        Geom {
            n: x[0],
            cin: x[1],
            cout: w[0],
            kh: w[2],
            kw: w[3],
            oh,
            ow,
            ph: oh + w[2] - 1,
        }
    }
}

/// The convolution of the view `xl` (`[n, cin, h, w]`) with `wl` (`[cout, cin, kh, kw]`),
/// stride 1, `padding` zeros on each side, plus `bias`: a contiguous `[n, cout, oh, ow]`.
///
/// The padded input rows are `pitch = w + 2·padding` apart and the output positions are
/// counted on the same pitch, so one vector of positions runs across rows (the
/// `kw − 1` positions per row past the output's width are computed and dropped). Where the
/// output channels fill whole vectors, they run across the lanes instead
/// ([`channels::forward`]).
pub fn forward<T: Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    wl: &Layout,
    bias: Option<(&[T], &Layout)>,
    padding: [usize; 2],
) -> Vec<T> {
    let (n, cin, h, wd) = (xl.shape[0], xl.shape[1], xl.shape[2], xl.shape[3]);
    let (cout, kh, kw) = (wl.shape[0], wl.shape[2], wl.shape[3]);
    let rows = h + 2 * padding[0];
    let pitch = wd + 2 * padding[1];
    let (oh, ow) = (rows + 1 - kh, pitch + 1 - kw);
    let len = n * cout * oh * ow;
    if len == 0 {
        return Vec::new();
    }
    if channels::fits_forward::<T>(cin, cout, [kh, kw], [oh, ow]) {
        let (w, bias) = (gather(w, wl), bias.map(|(b, l)| gather(b, l)));
        return channels::forward(x, xl, &w, bias.as_deref(), padding, [cout, kh, kw]);
    }
    let g = Pitched::new(cin, cout, [kh, kw], pitch, rows * pitch, oh, ow)
        .live(padding[0]..padding[0] + h);
    let xp = Planes::new(x, xl, padding, [rows, pitch], g.reach());
    let w = pack_blocks(&gather(w, wl), cout, cin * kh * kw);
    let bias = bias.map(|(b, l)| gather(b, l));
    zeroed_planes(len, cout * oh * ow, |img, o| {
        pitched_image(xp.image(img), &w, bias.as_deref(), &g, o)
    })
}

/// The gradient of [`forward`] with respect to its input: the output gradient view `gl`
/// (`[n, cout, oh, ow]`) correlated with the weight turned around in both spatial dims and
/// with its channel dims swapped, over `kernel − 1 − padding` zeros (at most the kernel's
/// reach: `padding < kernel`): a contiguous `[n, cin, h, w]`.
///
/// The gradient planes are laid out with a row pitch of `w + padding`, so that a row's right
/// border is the next row's left one and one vector of output positions runs across rows:
/// without padding the result is written in place, with it, `padding` columns per row are
/// computed and dropped.
pub fn input_grad<T: Fma>(
    gr: &[T],
    gl: &Layout,
    w: &[T],
    wl: &Layout,
    padding: [usize; 2],
) -> Vec<T> {
    let (cout, cin, kh, kw) = (wl.shape[0], wl.shape[1], wl.shape[2], wl.shape[3]);
    let (n, oh, ow) = (gl.shape[0], gl.shape[2], gl.shape[3]);
    let (h, wd) = (oh + kh - 1 - 2 * padding[0], ow + kw - 1 - 2 * padding[1]);
    let len = n * cin * h * wd;
    if len == 0 || cout == 0 {
        return vec![T::zero(); len];
    }
    let w = gather(w, wl);
    let mut turned = vec![T::zero(); w.len()];
    for co in 0..cout {
        for ci in 0..cin {
            for ky in 0..kh {
                for kx in 0..kw {
                    turned[((ci * cout + co) * kh + ky) * kw + kx] =
                        w[((co * cin + ci) * kh + kh - 1 - ky) * kw + kw - 1 - kx];
                }
            }
        }
    }
    let pitch = wd + padding[1];
    let rows = h + kh - 1;
    let (top, left) = (kh - 1 - padding[0], kw - 1 - padding[1]);
    let g = Pitched::new(cout, cin, [kh, kw], pitch, rows * pitch, h, wd).live(top..top + oh);
    let xp = Planes::new(gr, gl, [top, left], [rows, pitch], g.reach());
    let turned = pack_blocks(&turned, cin, cout * kh * kw);
    zeroed_planes(len, cin * h * wd, |img, o| {
        pitched_image(xp.image(img), &turned, None, &g, o)
    })
}

/// The sizes of one pitched correlation (see [`pitched_image`]).
#[derive(Clone, Copy)]
pub struct Pitched {
    cin: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    /// The distance between rows, in the input and in the positions computed.
    pitch: usize,
    /// The elements of one input plane.
    plane: usize,
    /// The positions computed per output plane: `rows · pitch`.
    npos: usize,
    /// The leading positions of each row kept in the output (at most `pitch`).
    width: usize,
    /// The input rows of each plane that may hold anything but zeros (the rest are
    /// padding, whose terms the kernel skips where a whole run of positions meets only them).
    live: [usize; 2],
}

impl Pitched {
    fn new(
        cin: usize,
        cout: usize,
        [kh, kw]: [usize; 2],
        pitch: usize,
        plane: usize,
        rows: usize,
        width: usize,
    ) -> Pitched {
        Pitched {
            cin,
            cout,
            kh,
            kw,
            pitch,
            plane,
            npos: rows * pitch,
            width,
            live: [0, plane / pitch.max(1)],
        }
    }

    /// The same, with only input rows `live` of each plane holding anything but zeros.
    fn live(self, live: std::ops::Range<usize>) -> Pitched {
        Pitched {
            live: [live.start, live.end],
            ..self
        }
    }

    /// How far one image's reads reach from its first element: whole vectors past the
    /// last plane's last position, plus the window's reach.
    fn reach(&self) -> usize {
        self.cin.saturating_sub(1) * self.plane
            + self.npos.div_ceil(LANES) * LANES
            + (self.kh - 1) * self.pitch
            + self.kw
    }
}

/// `w` (`[cout, kk]`) in the blocks of output channels the kernels take: block `co..co + cb`
/// from `co·kk` on, its `cb` weights side by side for each of the `kk` terms.
fn pack_blocks<T: Copy>(w: &[T], cout: usize, kk: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(cout * kk);
    let mut co = 0;
    while co < cout {
        let cb = (cout - co).min(BLOCK);
        for k in 0..kk {
            out.extend((co..co + cb).map(|c| w[c * kk + k]));
        }
        co += cb;
    }
    out
}

simd_dispatch! {
    /// One image of a correlation whose rows share one pitch: for each position
    /// `q < npos`, `Σ w[c][ci][ky][kx] · xp[ci·plane + q + ky·pitch + kx]` (plus `bias[c]`),
    /// stored at row `q / pitch`, column `q % pitch` of output plane `c` when the column
    /// is below `width`; a block of output channels at a time, `w` as [`pack_blocks`] lays
    /// it out.
    pub fn pitched_image<T: Fma>(xp: &[T], w: &[T], bias: Option<&[T]>, g: &Pitched, out: &mut [T]) -> () {
        by_blocks!(g.cout, |co, CB| pitched_block::<T, CB>(xp, w, bias, g, co, out));
    }
}

/// The vector registers of the copy running (32 with AVX-512, 16 with AVX2) and the
/// elements of `T` one of them holds. The kernels' data layouts are cut for [`LANES`], the
/// widest case, and their register blocks for these.
pub(crate) fn registers<T>() -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    let (count, bytes) = if super::math::has_avx512() {
        (32, 64)
    } else {
        (16, 32)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (count, bytes) = (16, 32);
    (count, bytes / std::mem::size_of::<T>())
}

/// Output channels `co..co + CB` of [`pitched_image`]: runs of `NV` vectors of positions,
/// `CB · NV` accumulators (at most 18 of 32 vector registers, or 12 of 16 with their
/// inputs beside them, so that none spills), then single vectors.
#[inline(always)]
fn pitched_block<T: Fma, const CB: usize>(
    xp: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &Pitched,
    co: usize,
    out: &mut [T],
) {
    let kk = g.cin * g.kh * g.kw;
    let packed = w[co * kk..][..kk * CB].as_chunks::<CB>().0;
    let rows: Vec<usize> = (0..g.cin * g.kh)
        .map(|r| (r / g.kh) * g.plane + (r % g.kh) * g.pitch)
        .collect();
    let init: [T; CB] = std::array::from_fn(|c| bias.map_or(T::zero(), |b| b[co + c]));
    let run = Run {
        xp,
        packed,
        rows: &rows,
        init,
        g,
        co,
    };
    // Measured on 2 AVX2 cores (LeNet's layers and their input gradients): the accumulators
    // and one vector of inputs per run in 14 of the 16 registers.
    let (regs, lanes) = registers::<T>();
    let nv = if regs >= 32 { 18 / CB } else { 14 / (CB + 1) }.clamp(1, 4);
    with_const!(lanes, [16, 8; 4], |V| {
        let nvec = g.npos.div_ceil(V);
        let mut v = 0;
        macro_rules! runs {
            ($nv:literal) => {
                while nvec - v >= $nv {
                    run.vectors::<$nv, V>(v * V, out);
                    v += $nv;
                }
            };
        }
        match nv {
            4 => runs!(4),
            3 => runs!(3),
            2 => runs!(2),
            _ => {}
        }
        runs!(1);
    })
}

/// One block of output channels of [`pitched_image`] and what its runs share.
struct Run<'a, T, const CB: usize> {
    xp: &'a [T],
    /// The block's weights side by side for each (input channel, kernel row, column).
    packed: &'a [[T; CB]],
    /// Where each (input channel, kernel row) pair's input rows start.
    rows: &'a [usize],
    init: [T; CB],
    g: &'a Pitched,
    co: usize,
}

impl<T: Fma, const CB: usize> Run<'_, T, CB> {
    /// `NV` vectors of `V` positions from `q0`: for each term, the `NV` input vectors are
    /// loaded once and each weight is broadcast once for its `NV` multiply-adds.
    #[inline(always)]
    fn vectors<const NV: usize, const V: usize>(&self, q0: usize, out: &mut [T]) {
        let g = self.g;
        let mut acc: [[[T; V]; NV]; CB] = std::array::from_fn(|c| [[self.init[c]; V]; NV]);
        let span = NV * V + g.kw - 1;
        // The rows start in increasing order, so the last one reaches furthest. Checked here
        // once: a checked slice per row left a panic path in the loop below, and the
        // accumulators were stored to memory at each of its turns.
        assert!(self
            .rows
            .last()
            .is_none_or(|&r| r + q0 + span <= self.xp.len()));
        // The kernel rows that meet a live input row from some output row of this run; the
        // others only meet padding (and, where a window wraps past the pitch, the next row's
        // left border, padding too), whose terms are zero.
        let (first, last) = (q0 / g.pitch, (q0 + NV * V - 1) / g.pitch);
        let ky1 = g.live[1].saturating_sub(first).min(g.kh);
        let ky0 = g.live[0].saturating_sub(last).min(ky1);
        let by_channel = self
            .rows
            .chunks_exact(g.kh)
            .zip(self.packed.chunks_exact(g.kh * g.kw));
        // One loop over the (input channel, kernel row) pairs, so that the accumulators stay
        // in registers across it.
        for (rows, ws) in by_channel {
            // SAFETY: `ky0 ≤ ky1 ≤ kh`, the length of `rows`, and `ws` holds `kh · kw` weights.
            // (Checked slices would leave a panic path in the loop, and the accumulators in
            // memory.)
            let (rows, ws) = unsafe {
                (
                    rows.get_unchecked(ky0..ky1),
                    ws.get_unchecked(ky0 * g.kw..ky1 * g.kw),
                )
            };
            for (&row, wr) in rows.iter().zip(ws.chunks_exact(g.kw)) {
                // SAFETY: `row ≤ rows.last()`, so `row + q0 + span ≤ xp.len()` (asserted above).
                let seg = unsafe { self.xp.get_unchecked(row + q0..row + q0 + span) };
                for (kx, wv) in wr.iter().enumerate() {
                    // Loaded ahead of the multiply-adds, so that they form one block in which
                    // each broadcast weight serves all `NV` vectors.
                    let xs: [[T; V]; NV] = std::array::from_fn(|nv| {
                        let at = kx + nv * V;
                        // SAFETY: `kx < kw` and `nv < NV`, so `at + V ≤ NV·V + kw − 1`,
                        // the length of `seg`. (A checked index here would leave a panic path
                        // in the loop, and the accumulators in memory.)
                        let v = unsafe { seg.get_unchecked(at..at + V) };
                        std::array::from_fn(|i| v[i])
                    });
                    for (a, &wc) in acc.iter_mut().zip(wv) {
                        for (a, x) in a.iter_mut().zip(&xs) {
                            for (a, &xv) in a.iter_mut().zip(x) {
                                *a = a.fma(wc, xv);
                            }
                        }
                    }
                }
            }
        }
        let plane_out = g.npos / g.pitch * g.width;
        for (c, a) in acc.iter().enumerate() {
            let plane = &mut out[(self.co + c) * plane_out..][..plane_out];
            for (nv, a) in a.iter().enumerate() {
                // A copy, so that the stores' variable indexing never reaches `acc` (which
                // would keep it in memory through the loop above).
                let lanes: [T; V] = std::array::from_fn(|i| a[i]);
                store_pitched(plane, &lanes, q0 + nv * V, g);
            }
        }
    }
}

/// The lanes of `a` (positions `q..q + V` on the pitch of `g`, those below `npos`)
/// stored in the output plane `plane` (rows `width` long), row segment by row segment.
///
/// A segment is stored as a whole vector where the plane has room for one: the lanes past
/// it land on positions that come later in the plane, which later stores overwrite, so
/// every store is one fixed-size copy rather than a call for a few elements.
#[inline(always)]
fn store_pitched<T: Num, const V: usize>(plane: &mut [T], a: &[T; V], q: usize, g: &Pitched) {
    let len = V.min(g.npos.saturating_sub(q));
    let mut wide = [T::zero(); 2 * LANES];
    wide[..V].copy_from_slice(a);
    let mut j = 0;
    while j < len {
        let (y, x) = ((q + j) / g.pitch, (q + j) % g.pitch);
        let run = (g.pitch - x).min(len - j);
        if x < g.width {
            let keep = (g.width - x).min(run);
            let at = y * g.width + x;
            match plane.get_mut(at..at + V) {
                Some(d) => d.copy_from_slice(&wide[j..][..V]),
                None => plane[at..][..keep].copy_from_slice(&wide[j..][..keep]),
            }
        }
        j += run;
    }
}

/// The gradient of [`forward`] with respect to its weight: the input view `xl`
/// (`[n, cin, h, w]`) against the output gradient view `gl` (`[n, cout, oh, ow]`), as a
/// contiguous `[cout, cin, kh, kw]` — or `None` when what its terms read holds an infinity
/// or NaN (the input, and when the input is read in place, the few elements of storage
/// just past an image).
///
/// Input and gradient planes share one row pitch (a whole number of vectors, at least a
/// padded input row), so each weight's terms are a single dot product of the gradient plane
/// with the input plane shifted by `ky·pitch + kx`. The gradient's pitch columns beyond the
/// output are zero, and the input values they meet are multiplied by that zero — exact only
/// for finite inputs, hence the `None`. Where the output channels fill whole vectors, they
/// run across the lanes instead ([`channels::weight_grad`], which computes only terms).
pub fn weight_grad<T: Fma>(
    x: &[T],
    xl: &Layout,
    gr: &[T],
    gl: &Layout,
    kernel: [usize; 2],
    padding: [usize; 2],
) -> Option<Vec<T>> {
    let wshape = [gl.shape[1], xl.shape[1], kernel[0], kernel[1]];
    let g = Geom::new(&xl.shape, &wshape, padding);
    if channels::fits::<T>(g.cin, g.cout, g.kh, g.kw) {
        return Some(channels::weight_grad(x, xl, gr, gl, &g, padding));
    }
    let pitch = (g.ow + g.kw - 1).div_ceil(LANES) * LANES;
    let slack = weight_grad_slack(pitch, g.kw);
    let plane_x = g.cin * g.ph * pitch;
    let xp = Planes::new(x, xl, padding, [g.ph, pitch], plane_x + slack);
    let gp = padded(gr, gl, 0, 0, g.oh, pitch, 0);
    let plane_g = g.cout * g.oh * pitch;
    let len = wshape.iter().product::<usize>();
    // Fixed parts of the batch, each summing its images; the parts are added in order.
    let parts = if g.n * plane_g >= PAR_THRESHOLD {
        g.n.min(team::parts()).max(1)
    } else {
        1
    };
    let part = |p: usize| {
        let mut dw = vec![[T::zero(); LANES]; len];
        for img in (p * g.n / parts)..((p + 1) * g.n / parts) {
            let xi = xp.image(img);
            // Everything the image's terms read, checked by the thread about to read it.
            if !all_finite(xi) {
                return None;
            }
            weight_grad_image(xi, &gp[img * plane_g..][..plane_g], &g, pitch, &mut dw);
        }
        Some(dw)
    };
    let mut sums: Vec<Option<Vec<[T; LANES]>>> = vec![None; parts];
    team::for_each_part(sums.iter_mut().enumerate().collect(), |(p, s)| *s = part(p));
    let sums = sums.into_iter().collect::<Option<Vec<_>>>()?;
    let dw = team::sum_in_order(sums, |d: &mut [T; LANES], v| {
        for i in 0..LANES {
            d[i] = d[i].add(v[i]);
        }
    })
    .unwrap_or_else(|| vec![[T::zero(); LANES]; len]);
    Some(
        dw.iter()
            .map(|v| v.iter().fold(T::zero(), |s, &e| s.add(e)))
            .collect(),
    )
}

simd_dispatch! {
    /// Whether no element of `x` is infinite or NaN: checked lane by lane without an early
    /// exit, so that it vectorises.
    pub(crate) fn all_finite<T: Fma>(x: &[T]) -> bool {
        let (chunks, rest) = x.as_chunks::<LANES>();
        let mut ok = [true; LANES];
        for c in chunks {
            for (ok, v) in ok.iter_mut().zip(c) {
                *ok &= v.finite();
            }
        }
        ok.iter().all(|&b| b) && rest.iter().all(|v| v.finite())
    }
}

simd_dispatch! {
    /// One image's terms of the weight gradient, added to the per-lane sums `dw`: kernel
    /// rows in groups of `KY` (all of them up to 5), output channels in blocks of at most
    /// 16 / `KY` (AVX-512) or 11 / `KY` (AVX2), so that a group's `CB · KY` sums stay in
    /// registers. `xp` holds
    /// [`weight_grad_slack`] elements past the image's planes.
    pub fn weight_grad_image<T: Fma>(xp: &[T], gp: &[T], g: &Geom, pitch: usize, dw: &mut [[T; LANES]]) -> () {
        let (regs, lanes) = registers::<T>();
        let budget = if regs >= 32 { 16 } else { 11 };
        macro_rules! rows {
            ($ky:literal) => {{
                const KY: usize = $ky;
                with_const!(lanes, [16, 8; 4], |V| by_blocks!(g.cout, (budget / KY).clamp(1, BLOCK), |co, CB| {
                    weight_grad_block::<T, CB, KY, V>(xp, gp, g, pitch, co, dw)
                }))
            }};
        }
        match g.kh {
            1 => rows!(1),
            2 => rows!(2),
            3 => rows!(3),
            5 => rows!(5),
            _ => rows!(4),
        }
    }
}

/// The elements [`weight_grad_image`] reads past an image's padded planes: a last group of
/// kernel rows may run up to 3 rows past the kernel (computed and dropped), each read a
/// vector long, shifted by up to `kw − 1`.
fn weight_grad_slack(pitch: usize, kw: usize) -> usize {
    3 * pitch + kw + LANES
}

/// Weight-gradient terms of output channels `co..co + CB`: for each (input channel, kernel
/// column) and group of `KY` kernel rows, the `CB` gradient planes dotted with the input
/// plane shifted by each (row, column), a vector at a time, kept per lane. (Grouped by rows,
/// not columns: the rows' loads lie a pitch apart, where the columns' overlap, and the
/// compiler merges overlapping loads through memory.)
#[inline(always)]
// `j` indexes the `CB` gradient rows and the `KY` input rows alike.
#[allow(clippy::needless_range_loop)]
fn weight_grad_block<T: Fma, const CB: usize, const KY: usize, const V: usize>(
    xp: &[T],
    gp: &[T],
    g: &Geom,
    pitch: usize,
    co: usize,
    dw: &mut [[T; LANES]],
) {
    let span = g.oh * pitch;
    let nv = span / V;
    // Every row cut to one length, so the loop indexes them unchecked.
    let grows: [&[[T; V]]; CB] =
        std::array::from_fn(|c| &gp[(co + c) * span..][..span].as_chunks::<V>().0[..nv]);
    let kk = g.kh * g.kw;
    for ci in 0..g.cin {
        for kx in 0..g.kw {
            for ky0 in (0..g.kh).step_by(KY) {
                let xrows: [&[T]; KY] =
                    std::array::from_fn(|k| &xp[(ci * g.ph + ky0 + k) * pitch + kx..][..span]);
                let mut acc = [[[T::zero(); V]; KY]; CB];
                for j in 0..nv {
                    let xs: [[T; V]; KY] = std::array::from_fn(|k| {
                        // SAFETY: `j < nv`, so `(j + 1)·V ≤ span`, the row's length.
                        let v = unsafe { xrows[k].get_unchecked(j * V..(j + 1) * V) };
                        std::array::from_fn(|i| v[i])
                    });
                    let gs: [[T; V]; CB] = std::array::from_fn(|c| grows[c][j]);
                    for (a, gv) in acc.iter_mut().zip(&gs) {
                        for (a, xv) in a.iter_mut().zip(&xs) {
                            for ((a, &gv), &xv) in a.iter_mut().zip(gv).zip(xv) {
                                *a = a.fma(gv, xv);
                            }
                        }
                    }
                }
                for (c, a) in acc.iter().enumerate() {
                    for (k, a) in a.iter().enumerate().take(g.kh - ky0) {
                        let d = &mut dw[((co + c) * g.cin + ci) * kk + (ky0 + k) * g.kw + kx];
                        for (d, &v) in d.iter_mut().zip(a) {
                            *d = d.add(v);
                        }
                    }
                }
            }
        }
    }
}
