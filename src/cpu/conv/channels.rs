//! The direct weight gradient with the output channels across the vector lanes, for layers
//! whose output channels fill one or two whole vectors (LeNet's 6→16 5×5 layer, 16 float32
//! lanes). The position-vector kernel ([`super::weight_grad_image`]) runs its vectors along
//! rows padded to a whole vector and computes the padding too (6 of 16 lanes on that
//! layer's 10-wide rows); here every lane of every multiply-add is a term, the input is
//! broadcast from its padded planes, and the gradient is transposed once per image to
//! positions × channels.

use super::planes::Planes;
use super::{registers, team, with_const, Fma, Geom, PAR_THRESHOLD};
use crate::simd_dispatch;
use crate::tensor::layout::Layout;
use std::ops::Range;

/// Whether [`weight_grad`] runs for `cin` input and `cout` output channels and a `kh × kw`
/// kernel: 3×3 or 5×5, one or two vectors of output channels, on a CPU with 32 vector
/// registers (the accumulators of a 5×5 kernel take 25 of them), and at least [`TERMS`]
/// terms per output.
pub(super) fn fits<T>(cin: usize, cout: usize, kh: usize, kw: usize) -> bool {
    let (regs, lanes) = registers::<T>();
    regs >= 32
        && cout.is_multiple_of(lanes)
        && (1..=2).contains(&(cout / lanes))
        && matches!((kh, kw), (3, 3) | (5, 5))
        && cin * kh * kw >= TERMS
}

/// The fewest terms per output for which the channel-vector kernels pay for their
/// transposes (of the output gradient, or of the output: an element each, where the terms
/// are `cin·kh·kw` multiply-adds across the lanes). Measured on 2 AVX-512 cores, batch 64,
/// float32: LeNet's 6→16 5×5 layer (150 terms) runs its forward in 0.16 ms (0.23 ms with
/// positions across the lanes), the Keras CNN's 1→32 3×3 layer (9 terms) in 0.89 ms (0.63
/// ms, in a run minutes apart).
const TERMS: usize = 64;

/// The gradient of [`super::forward`] with respect to its weight, as [`super::weight_grad`]
/// (which calls this where [`fits`] holds), contiguous `[cout, cin, kh, kw]`. Every term it
/// computes is one of the convolution's (the input's padding included), so unlike the
/// position-vector kernel it needs no finite input.
pub(super) fn weight_grad<T: Fma>(
    x: &[T],
    xl: &Layout,
    gr: &[T],
    gl: &Layout,
    g: &Geom,
    padding: [usize; 2],
) -> Vec<T> {
    let pw = g.ow + g.kw - 1;
    let plane = g.ph * pw;
    // A last group of kernel rows may run past the kernel (computed and dropped).
    let xp = Planes::new(x, xl, padding, [g.ph, pw], g.cin * plane + g.kh * pw);
    let len = g.cout * g.cin * g.kh * g.kw;
    if g.oh * g.ow == 0 {
        return vec![T::zero(); len];
    }
    let parts = if g.n * g.cout * g.oh * g.ow >= PAR_THRESHOLD {
        g.n.min(team::parts()).max(1)
    } else {
        1
    };
    let part = |p: usize| {
        let imgs = (p * g.n / parts)..((p + 1) * g.n / parts);
        let gt = transposed(gr, gl, imgs.clone());
        let mut dw = vec![T::zero(); len];
        weight_grad_part(&xp, &gt, imgs, g, pw, &mut dw);
        dw
    };
    let mut sums: Vec<Vec<T>> = vec![Vec::new(); parts];
    team::for_each_part(sums.iter_mut().enumerate().collect(), |(p, s)| *s = part(p));
    team::sum_in_order(sums, |d: &mut T, v| *d = d.add(v)).unwrap_or_else(|| vec![T::zero(); len])
}

/// Images `imgs` of the gradient view `gl` (`[n, cout, oh, ow]`) as positions × channels:
/// `[imgs, oh·ow, cout]`, contiguous.
fn transposed<T: Fma>(gr: &[T], gl: &Layout, imgs: Range<usize>) -> Vec<T> {
    let (c, oh, ow) = (gl.shape[1], gl.shape[2], gl.shape[3]);
    let s = &gl.strides;
    let mut out = Vec::with_capacity(imgs.len() * oh * ow * c);
    for img in imgs {
        let base = gl.offset as isize + img as isize * s[0];
        for y in 0..oh as isize {
            for x in 0..ow as isize {
                let at = base + y * s[2] + x * s[3];
                out.extend((0..c as isize).map(|ch| gr[(at + ch * s[1]) as usize]));
            }
        }
    }
    out
}

simd_dispatch! {
    /// The terms of images `imgs` (`gt` their gradient as [`transposed`] lays it out) added
    /// to `dw`, for each input channel and group of kernel rows: the group's taps times the
    /// channel vectors in registers across all the images' positions.
    fn weight_grad_part<T: Fma>(xp: &Planes<'_, T>, gt: &[T], imgs: Range<usize>, g: &Geom, pw: usize, dw: &mut [T]) -> () {
        let (_, lanes) = registers::<T>();
        let cv = g.cout / lanes;
        with_const!(lanes, [16, 8; 4], |V| match (g.kw, cv) {
            (5, 1) => part::<T, V, 5, 5, 1>(xp, gt, imgs, g, pw, dw),
            (5, _) => part::<T, V, 2, 5, 2>(xp, gt, imgs, g, pw, dw),
            (_, 1) => part::<T, V, 3, 3, 1>(xp, gt, imgs, g, pw, dw),
            _ => part::<T, V, 3, 3, 2>(xp, gt, imgs, g, pw, dw),
        })
    }
}

/// [`weight_grad_part`] with `KY` kernel rows of `KX` taps and `CV` vectors of `V`
/// channels in registers: `KY · KX · CV` accumulators (at most 25).
#[inline(always)]
fn part<T: Fma, const V: usize, const KY: usize, const KX: usize, const CV: usize>(
    xp: &Planes<'_, T>,
    gt: &[T],
    imgs: Range<usize>,
    g: &Geom,
    pw: usize,
    dw: &mut [T],
) {
    let plane = g.ph * pw;
    let npos = g.oh * g.ow;
    let gt = gt.as_chunks::<V>().0;
    assert!(KX == g.kw && CV * V == g.cout && gt.len() == imgs.len() * npos * CV);
    let groups = g.kh.div_ceil(KY);
    // Per (input channel, group of kernel rows): each image's sums added in, image by image.
    let mut total = vec![[[[T::zero(); V]; CV]; KX]; KY * g.cin * groups];
    for (i, img) in imgs.enumerate() {
        let xi = xp.image(img);
        // The furthest a group reaches: its last row (`oy = oh − 1`, `ky0 + KY − 1` with
        // `ky0 ≤ kh − 1`) in the last channel, within the planes' slack of `kh` rows.
        assert!(g.cin * plane + (KY - 1) * pw <= xi.len());
        let gi = &gt[i * npos * CV..][..npos * CV];
        for ci in 0..g.cin {
            for (r, ky0) in (0..g.kh).step_by(KY).enumerate() {
                let at = ci * plane + ky0 * pw;
                // SAFETY: `ci < cin` and `ky0 + oh ≤ ph`, so `at + (oh + KY − 1)·pw ≤
                // cin·plane + (KY − 1)·pw ≤ xi.len()` (asserted above).
                let acc = unsafe { terms::<T, V, KY, KX, CV>(xi, gi, at, g, pw) };
                let sums = &mut total[(ci * groups + r) * KY..][..KY];
                for (s, a) in sums.iter_mut().zip(&acc) {
                    for (s, a) in s.iter_mut().flatten().zip(a.iter().flatten()) {
                        for (s, &a) in s.iter_mut().zip(a) {
                            *s = s.add(a);
                        }
                    }
                }
            }
        }
    }
    let kk = g.kh * g.kw;
    for ci in 0..g.cin {
        for ky in 0..g.kh {
            let row = &total[(ci * groups + ky / KY) * KY + ky % KY];
            for (kx, acc) in row.iter().enumerate() {
                for (c, a) in acc.iter().enumerate() {
                    for (l, &v) in a.iter().enumerate() {
                        dw[((c * V + l) * g.cin + ci) * kk + ky * g.kw + kx] = v;
                    }
                }
            }
        }
    }
}

/// One image's terms of `KY` kernel rows (from the input row at `at`) times the gradient
/// `gi` (positions × `CV` channel vectors), summed over its output positions. A function of
/// its own that returns the sums, so that they stay in registers through its loops.
///
/// # Safety
/// `xi` must hold `at + (oh + KY − 1)·pw` elements: every row the terms read, `pw` long.
#[inline(always)]
unsafe fn terms<T: Fma, const V: usize, const KY: usize, const KX: usize, const CV: usize>(
    xi: &[T],
    gi: &[[T; V]],
    at: usize,
    g: &Geom,
    pw: usize,
) -> [[[[T; V]; CV]; KX]; KY] {
    let mut acc = [[[[T::zero(); V]; CV]; KX]; KY];
    for oy in 0..g.oh {
        let at = at + oy * pw;
        let gr = &gi[oy * g.ow * CV..][..g.ow * CV];
        for ox in 0..g.ow {
            let gv: [[T; V]; CV] = std::array::from_fn(|c| gr[ox * CV + c]);
            for (k, acc) in acc.iter_mut().enumerate() {
                for (kx, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: `ox + kx < ow + kw − 1 = pw` and `k < KY`, so the index is
                    // below `at + (oh + KY − 1)·pw ≤ xi.len()` (the caller's promise). (A
                    // checked index leaves a panic path in the loop, and the accumulators
                    // in memory.)
                    let b = unsafe { *xi.get_unchecked(at + k * pw + ox + kx) };
                    for (a, gv) in acc.iter_mut().zip(&gv) {
                        for (a, &gv) in a.iter_mut().zip(gv) {
                            *a = a.fma(gv, b);
                        }
                    }
                }
            }
        }
    }
    acc
}

/// The block of output positions [`forward`] keeps in registers for a `kw`-wide kernel and
/// `cv` vectors of channels: `rows × cols` positions, at most 25 accumulators beside the
/// `cv` weight vectors.
fn forward_block(kw: usize, cv: usize) -> (usize, usize) {
    match (kw, cv) {
        (5, 1) => (5, 5),
        (_, 1) => (4, 6),
        _ => (2, 6),
    }
}

/// Whether [`forward`] runs: as [`fits`], on an output of at least one block.
pub(super) fn fits_forward<T>(
    cin: usize,
    cout: usize,
    [kh, kw]: [usize; 2],
    [oh, ow]: [usize; 2],
) -> bool {
    let (_, lanes) = registers::<T>();
    let (r, c) = forward_block(kw, cout / lanes.max(1));
    fits::<T>(cin, cout, kh, kw) && oh >= r && ow >= c
}

/// The sizes of one [`forward`]: the padded input planes (`rows × pw`), the kernel and the
/// output.
#[derive(Clone, Copy)]
pub(super) struct Dense {
    cin: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    rows: usize,
    pw: usize,
    oh: usize,
    ow: usize,
}

/// [`super::forward`] (which calls this where [`fits_forward`] holds) with the output
/// channels across the vector lanes: blocks of output positions times the channel vectors
/// in registers, each weight vector loaded once per term for the whole block and each input
/// value broadcast; an image's outputs are stored as positions × channels and transposed
/// into its planes. Every lane is an output (the position-vector kernel computes the
/// `kw − 1` columns past each row too).
pub(super) fn forward<T: Fma>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    bias: Option<&[T]>,
    padding: [usize; 2],
    [cout, kh, kw]: [usize; 3],
) -> Vec<T> {
    let (n, cin) = (xl.shape[0], xl.shape[1]);
    let (rows, pw) = (xl.shape[2] + 2 * padding[0], xl.shape[3] + 2 * padding[1]);
    let g = Dense {
        cin,
        cout,
        kh,
        kw,
        rows,
        pw,
        oh: rows + 1 - kh,
        ow: pw + 1 - kw,
    };
    let xp = Planes::new(x, xl, padding, [rows, pw], cin * rows * pw);
    // `[cin·kh·kw, cout]`: each term's weights for all the output channels side by side.
    let kk = cin * kh * kw;
    let mut wv = vec![T::zero(); kk * cout];
    for (co, wr) in w.chunks_exact(kk).enumerate() {
        for (t, &v) in wr.iter().enumerate() {
            wv[t * cout + co] = v;
        }
    }
    let plane = cout * g.oh * g.ow;
    super::zeroed_planes(n * plane, plane, |img, o| {
        forward_image(xp.image(img), &wv, bias, &g, o)
    })
}

simd_dispatch! {
    /// One image of [`forward`]: `xi` its padded planes, `wv` the weights term by term.
    fn forward_image<T: Fma>(xi: &[T], wv: &[T], bias: Option<&[T]>, g: &Dense, out: &mut [T]) -> () {
        let (_, lanes) = registers::<T>();
        let cv = g.cout / lanes;
        with_const!(lanes, [16, 8; 4], |V| match (g.kw, cv) {
            (5, 1) => image::<T, V, 5, 5, 5, 1>(xi, wv, bias, g, out),
            (5, _) => image::<T, V, 2, 6, 5, 2>(xi, wv, bias, g, out),
            (_, 1) => image::<T, V, 4, 6, 3, 1>(xi, wv, bias, g, out),
            _ => image::<T, V, 2, 6, 3, 2>(xi, wv, bias, g, out),
        })
    }
}

/// [`forward_image`] with blocks of `R × C` positions ([`forward_block`]), a `KX`-wide
/// kernel and `CV` vectors of `V` channels. The last block of each row and column starts
/// early enough to end at the output's edge, computing some positions twice.
#[inline(always)]
fn image<
    T: Fma,
    const V: usize,
    const R: usize,
    const C: usize,
    const KX: usize,
    const CV: usize,
>(
    xi: &[T],
    wv: &[T],
    bias: Option<&[T]>,
    g: &Dense,
    out: &mut [T],
) {
    let plane = g.rows * g.pw;
    let npos = g.oh * g.ow;
    let wv = wv.as_chunks::<V>().0;
    assert!(
        KX == g.kw
            && CV * V == g.cout
            && g.oh >= R
            && g.ow >= C
            && xi.len() >= g.cin * plane
            && wv.len() == g.cin * g.kh * KX * CV
    );
    let init: [[T; V]; CV] =
        std::array::from_fn(|c| std::array::from_fn(|l| bias.map_or(T::zero(), |b| b[c * V + l])));
    let mut tmp = vec![[T::zero(); V]; npos * CV];
    let starts = |n: usize, b: usize| (0..n).step_by(b).map(move |s| s.min(n - b));
    for oy0 in starts(g.oh, R) {
        for ox0 in starts(g.ow, C) {
            let mut acc = [[init; C]; R];
            for ci in 0..g.cin {
                for ky in 0..g.kh {
                    let at = ci * plane + (oy0 + ky) * g.pw + ox0;
                    let ws = &wv[((ci * g.kh + ky) * KX) * CV..][..KX * CV];
                    for kx in 0..KX {
                        let w: [[T; V]; CV] = std::array::from_fn(|c| ws[kx * CV + c]);
                        for (r, acc) in acc.iter_mut().enumerate() {
                            for (c, acc) in acc.iter_mut().enumerate() {
                                // SAFETY: `oy0 + r + ky ≤ oh − 1 + kh − 1 < rows` and
                                // `ox0 + c + kx ≤ ow − 1 + kw − 1 < pw`, so the index is
                                // within channel `ci`'s plane, below `cin · plane ≤
                                // xi.len()` (asserted above). (A checked index leaves a
                                // panic path in the loop, and the accumulators in memory.)
                                let b = unsafe { *xi.get_unchecked(at + r * g.pw + c + kx) };
                                for (a, w) in acc.iter_mut().zip(&w) {
                                    for (a, &w) in a.iter_mut().zip(w) {
                                        *a = a.fma(w, b);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let q = (oy0 + r) * g.ow + ox0;
                tmp[q * CV..][..C * CV].copy_from_slice(acc.as_flattened());
            }
        }
    }
    // Positions × channels into the channels' planes.
    let tmp = tmp.as_flattened();
    for (co, o) in out.chunks_exact_mut(npos).enumerate() {
        for (q, o) in o.iter_mut().enumerate() {
            *o = tmp[q * g.cout + co];
        }
    }
}
