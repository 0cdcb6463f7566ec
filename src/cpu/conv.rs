//! Direct 2-D convolution for few channels (LeNet's 3→6 and 6→16 5×5 layers), where
//! im2col + gemm spends its time writing and packing a patch matrix whose inner dimension
//! (`cin·kh·kw`) is too short to pay for it.
//!
//! Both kernels read a zero-padded copy of the input whose rows are long enough for whole
//! vectors, so every load is a full vector and no output position needs a bounds test. The
//! forward keeps a block of output channels in registers and slides one vector of output
//! positions across a row; the weight gradient multiplies the output gradient's rows (also
//! zero-padded to whole vectors) with shifted input rows, image by image, and adds the parts'
//! partial sums in a fixed order, so a run is repeatable.

use super::copy::gather;
use super::window::per_plane;
use super::PAR_THRESHOLD;
use crate::backend::num::Num;
use crate::simd_dispatch;
use crate::tensor::layout::Layout;
use rayon::prelude::*;

/// Output positions per vector: one AVX-512 register of float32.
const LANES: usize = 16;
/// The most output channels one pass keeps in registers.
const BLOCK: usize = 8;

/// The floats the direct kernels run on: a fused multiply-add (one instruction in the AVX2
/// and AVX-512 copies, which are the only ones [`fits`] lets run).
pub trait Fma: Num {
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
/// from 17 to 46 GFLOP/s and its 6→16 5×5 from 15 to 43; the latter's input gradient (a
/// 16→6 5×5 correlation, 400 terms per output) ran slower direct (33) than as a product
/// and col2im, hence the bound of 256 terms; 64→128 3×3 stays a product.
pub fn fits(cin: usize, cout: usize, kh: usize, kw: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::math::has_avx2() && cin * kh * kw <= 256 && cout <= 32
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (cin, cout, kh, kw);
        false
    }
}

/// Runs `$call` for each block of up to [`BLOCK`] of `$cout` output channels, with `$co`
/// the block's first channel and `$cb` its size as a constant (one instantiation per size).
macro_rules! by_blocks {
    ($cout:expr, |$co:ident, $cb:ident| $call:expr) => {{
        let mut $co = 0;
        while $co < $cout {
            let size = ($cout - $co).min(BLOCK);
            match size {
                8 => {
                    const $cb: usize = 8;
                    $call
                }
                7 => {
                    const $cb: usize = 7;
                    $call
                }
                6 => {
                    const $cb: usize = 6;
                    $call
                }
                5 => {
                    const $cb: usize = 5;
                    $call
                }
                4 => {
                    const $cb: usize = 4;
                    $call
                }
                3 => {
                    const $cb: usize = 3;
                    $call
                }
                2 => {
                    const $cb: usize = 2;
                    $call
                }
                _ => {
                    const $cb: usize = 1;
                    $call
                }
            }
            $co += size;
        }
    }};
}

/// The sizes of one direct convolution: `[n, cin, h, w]` with `[cout, cin, kh, kw]`, the
/// output `[n, cout, oh, ow]`, and the padded input planes `ph × pw`.
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
    pw: usize,
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
            // Whole vectors of output positions, plus the window's reach.
            pw: ow.div_ceil(LANES) * LANES + w[3] - 1,
        }
    }
}

/// The view `l` (`[n, c, h, w]`) copied into `rows × cols` planes at `(top, left)`, zeros
/// around it and `slack` zeros after the last plane; each element written once.
fn padded<T: Num>(
    x: &[T],
    l: &Layout,
    top: usize,
    left: usize,
    rows: usize,
    cols: usize,
    slack: usize,
) -> Vec<T> {
    let (n, c, h, w) = (l.shape[0], l.shape[1], l.shape[2], l.shape[3]);
    let s = &l.strides;
    let zero = T::zero();
    let mut out = Vec::with_capacity(n * c * rows * cols + slack);
    for img in 0..n {
        for ch in 0..c {
            out.extend(std::iter::repeat_n(zero, top * cols));
            let plane = l.offset as isize + img as isize * s[0] + ch as isize * s[1];
            for y in 0..h {
                out.extend(std::iter::repeat_n(zero, left));
                let row = plane + y as isize * s[2];
                if s[3] == 1 {
                    out.extend_from_slice(&x[row as usize..][..w]);
                } else {
                    out.extend((0..w as isize).map(|i| x[(row + i * s[3]) as usize]));
                }
                out.extend(std::iter::repeat_n(zero, cols - left - w));
            }
            out.extend(std::iter::repeat_n(zero, (rows - top - h) * cols));
        }
    }
    out.extend(std::iter::repeat_n(zero, slack));
    out
}

/// The convolution of the view `xl` (`[n, cin, h, w]`) with `wl` (`[cout, cin, kh, kw]`),
/// stride 1, `padding` zeros on each side, plus `bias`: a contiguous `[n, cout, oh, ow]`.
pub fn forward<T: Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    wl: &Layout,
    bias: Option<(&[T], &Layout)>,
    padding: [usize; 2],
) -> Vec<T> {
    let g = Geom::new(&xl.shape, &wl.shape, padding);
    let xp = padded(x, xl, padding[0], padding[1], g.ph, g.pw, 0);
    let w = gather(w, wl);
    let bias = bias.map(|(b, l)| gather(b, l));
    let plane_in = g.cin * g.ph * g.pw;
    let mut out = vec![T::zero(); g.n * g.cout * g.oh * g.ow];
    per_plane(&mut out, g.cout * g.oh * g.ow, |img, o| {
        forward_image(
            &xp[img * plane_in..][..plane_in],
            &w,
            bias.as_deref(),
            &g,
            o,
        )
    });
    out
}

simd_dispatch! {
    /// One image's output planes, a block of output channels at a time.
    pub fn forward_image<T: Fma>(xp: &[T], w: &[T], bias: Option<&[T]>, g: &Geom, out: &mut [T]) -> () {
        by_blocks!(g.cout, |co, CB| forward_block::<T, CB>(xp, w, bias, g, co, out));
    }
}

/// Output channels `co..co + CB` of one image: for each vector of output positions, the
/// `CB` accumulators take every (input channel, kernel row, kernel column) term in turn.
#[inline(always)]
fn forward_block<T: Fma, const CB: usize>(
    xp: &[T],
    w: &[T],
    bias: Option<&[T]>,
    g: &Geom,
    co: usize,
    out: &mut [T],
) {
    let kk = g.cin * g.kh * g.kw;
    // The block's weights side by side for each (input channel, kernel row, kernel column).
    let packed: Vec<[T; CB]> = (0..kk)
        .map(|k| std::array::from_fn(|c| w[(co + c) * kk + k]))
        .collect();
    let init: [T; CB] = std::array::from_fn(|c| bias.map_or(T::zero(), |b| b[co + c]));
    for oy in 0..g.oh {
        for ox in (0..g.ow).step_by(LANES) {
            let mut acc: [[T; LANES]; CB] = std::array::from_fn(|c| [init[c]; LANES]);
            for ci in 0..g.cin {
                for ky in 0..g.kh {
                    let row = &xp[(ci * g.ph + oy + ky) * g.pw + ox..][..LANES + g.kw - 1];
                    let wr = &packed[(ci * g.kh + ky) * g.kw..][..g.kw];
                    for (xs, wv) in row.windows(LANES).zip(wr) {
                        let Some(xs) = xs.first_chunk::<LANES>() else {
                            continue;
                        };
                        for (a, &wc) in acc.iter_mut().zip(wv) {
                            for (a, &xv) in a.iter_mut().zip(xs) {
                                *a = a.fma(wc, xv);
                            }
                        }
                    }
                }
            }
            let len = LANES.min(g.ow - ox);
            for (c, a) in acc.iter().enumerate() {
                out[((co + c) * g.oh + oy) * g.ow + ox..][..len].copy_from_slice(&a[..len]);
            }
        }
    }
}

/// The gradient of [`forward`] with respect to its input: the output gradient view `gl`
/// (`[n, cout, oh, ow]`) correlated with the weight turned around in both spatial dims and
/// with its channel dims swapped, over `kernel − 1 − padding` zeros (at most the kernel's
/// reach: `padding < kernel`): a contiguous `[n, cin, h, w]`.
pub fn input_grad<T: Fma>(
    gr: &[T],
    gl: &Layout,
    w: &[T],
    wl: &Layout,
    padding: [usize; 2],
) -> Vec<T> {
    let (cout, cin, kh, kw) = (wl.shape[0], wl.shape[1], wl.shape[2], wl.shape[3]);
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
    forward(
        gr,
        gl,
        &turned,
        &Layout::contiguous(&[cin, cout, kh, kw]),
        None,
        [kh - 1 - padding[0], kw - 1 - padding[1]],
    )
}

/// The gradient of [`forward`] with respect to its weight: the input view `xl`
/// (`[n, cin, h, w]`) against the output gradient view `gl` (`[n, cout, oh, ow]`), as a
/// contiguous `[cout, cin, kh, kw]` — or `None` when the input holds an infinity or NaN.
///
/// Input and gradient planes share one row pitch (a whole number of vectors, at least a
/// padded input row), so each weight's terms are a single dot product of the gradient plane
/// with the input plane shifted by `ky·pitch + kx`. The gradient's pitch columns beyond the
/// output are zero, and the input values they meet are multiplied by that zero — exact only
/// for finite inputs, hence the `None`.
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
    let pitch = (g.ow + g.kw - 1).div_ceil(LANES) * LANES;
    // A row of slack: the last plane's shifted reads run up to `kw − 1` past its end.
    let xp = padded(x, xl, padding[0], padding[1], g.ph, pitch, pitch);
    // A fold without an early exit, so it vectorizes.
    if !xp.iter().fold(true, |ok, v| ok & v.finite()) {
        return None;
    }
    let gp = padded(gr, gl, 0, 0, g.oh, pitch, 0);
    let (plane_x, plane_g) = (g.cin * g.ph * pitch, g.cout * g.oh * pitch);
    let len = wshape.iter().product::<usize>();
    // Fixed parts of the batch, each summing its images; the parts are added in order.
    let parts = if g.n * plane_g >= PAR_THRESHOLD {
        g.n.min(rayon::current_num_threads()).max(1)
    } else {
        1
    };
    let part = |p: usize| {
        let mut dw = vec![[T::zero(); LANES]; len];
        for img in (p * g.n / parts)..((p + 1) * g.n / parts) {
            weight_grad_image(
                &xp[img * plane_x..][..plane_x + g.kw - 1],
                &gp[img * plane_g..][..plane_g],
                &g,
                pitch,
                &mut dw,
            );
        }
        dw
    };
    let sums: Vec<Vec<[T; LANES]>> = if parts > 1 {
        (0..parts).into_par_iter().map(part).collect()
    } else {
        vec![part(0)]
    };
    let mut sums = sums.into_iter();
    let mut dw = sums.next().unwrap_or_else(|| vec![[T::zero(); LANES]; len]);
    for s in sums {
        for (d, v) in dw.iter_mut().zip(s) {
            for i in 0..LANES {
                d[i] = d[i].add(v[i]);
            }
        }
    }
    Some(
        dw.iter()
            .map(|v| v.iter().fold(T::zero(), |s, &e| s.add(e)))
            .collect(),
    )
}

simd_dispatch! {
    /// One image's terms of the weight gradient, added to the per-lane sums `dw`.
    pub fn weight_grad_image<T: Fma>(xp: &[T], gp: &[T], g: &Geom, pitch: usize, dw: &mut [[T; LANES]]) -> () {
        by_blocks!(g.cout, |co, CB| weight_grad_block::<T, CB>(xp, gp, g, pitch, co, dw));
    }
}

/// Weight-gradient terms of output channels `co..co + CB`: for each (input channel, kernel
/// row, kernel column), the `CB` gradient planes dotted with the input plane shifted by that
/// kernel position, a vector at a time, kept per lane.
#[inline(always)]
fn weight_grad_block<T: Fma, const CB: usize>(
    xp: &[T],
    gp: &[T],
    g: &Geom,
    pitch: usize,
    co: usize,
    dw: &mut [[T; LANES]],
) {
    let span = g.oh * pitch;
    let grows: [&[[T; LANES]]; CB] =
        std::array::from_fn(|c| gp[(co + c) * span..][..span].as_chunks::<LANES>().0);
    let kk = g.kh * g.kw;
    for ci in 0..g.cin {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let (xs, _) = xp[(ci * g.ph + ky) * pitch + kx..][..span].as_chunks::<LANES>();
                // Every row cut to one length, so the loop indexes them unchecked.
                let nv = xs.len();
                let rows: [&[[T; LANES]]; CB] = std::array::from_fn(|c| &grows[c][..nv]);
                let mut acc = [[T::zero(); LANES]; CB];
                for (j, xv) in xs.iter().enumerate() {
                    for (a, gr) in acc.iter_mut().zip(&rows) {
                        let gv = &gr[j];
                        for ((a, &gv), &xv) in a.iter_mut().zip(gv).zip(xv) {
                            *a = a.fma(gv, xv);
                        }
                    }
                }
                for (c, a) in acc.iter().enumerate() {
                    let d = &mut dw[((co + c) * g.cin + ci) * kk + ky * g.kw + kx];
                    for (d, &v) in d.iter_mut().zip(a) {
                        *d = d.add(v);
                    }
                }
            }
        }
    }
}
