//! Pooling kernels: max pooling (fixed, adaptive and fractional windows, the window's argmax
//! kept for backward) and average pooling with its adjoint, over three spatial dims
//! ([`Window::to_3d`]) plane by plane, as the sliding-window kernels of [`super::window`].

use super::window::{axes, each_window, inside, per_plane, strides, zeroed_planes, Axis};
use super::{team, PAR_THRESHOLD};
use crate::backend::num::Num;
use crate::backend::{AvgDivisor, Window};
use crate::simd_dispatch;
use crate::tensor::layout::Layout;

/// The window positions `lo..hi` of output `o` along `ax` that fall inside the input, with
/// the window's first input position and step.
#[inline]
fn window_inside(ax: &Axis, o: usize) -> (isize, isize, usize, usize) {
    let (start, step, k) = ax.window(o);
    let n = ax.input as isize;
    let lo = if start >= 0 {
        0
    } else {
        ((-start) as usize).div_ceil(step as usize)
    };
    let hi = if start >= n {
        0
    } else {
        (((n - 1 - start) / step) as usize + 1).min(k)
    };
    (start, step, lo.min(k), hi.max(lo.min(k)))
}

/// Max pooling: the maxima of each window (NaN wins, padding never does) and their flat
/// indices in the input plane (the first of ties, the last NaN, as PyTorch's
/// `val > max || isnan(val)`; 0 and -1 for a window wholly in the padding).
pub fn max_pool<T: Num>(x: &[T], l: &Layout, w: &Window) -> (Vec<T>, Vec<i64>) {
    let a = axes(w);
    let (sn, sc, s) = strides(l);
    let c = l.shape[1];
    let on = w.output_numel();
    let planes = l.shape[0] * c;
    // Each axis's windows once, not once per output (their divisions dominate small windows).
    let tables: [Vec<(isize, isize, usize, usize)>; 3] =
        std::array::from_fn(|d| (0..a[d].output).map(|o| window_inside(&a[d], o)).collect());
    // Two spatial dims whose every window lies wholly inside the input (no padding, no
    // partial window from `ceil_mode`): each output row takes its windows' positions in scan
    // order across the whole row, without branches.
    let inside_2d = !w.adaptive
        && a[0].output == 1
        && a[0].kernel == 1
        && (1..3).all(|d| {
            a[d].padding == 0
                && a[d].output > 0
                && (a[d].output as isize - 1) * a[d].stride
                    + (a[d].kernel as isize - 1) * a[d].dilation
                    < a[d].input as isize
        })
        && s[2] > 0;
    let pairs = (1..3).all(|d| a[d].kernel == 2 && a[d].stride == 2 && a[d].dilation == 1)
        && s[2] == 1
        && s[1] >= 0;
    let plane = |p: usize, vo: &mut [T], io: &mut [i64]| {
        let base = l.offset as isize + (p / c) as isize * sn + (p % c) as isize * sc;
        if inside_2d && pairs {
            // 2×2 windows, stride 2, unit-stride rows: each output row from two input rows.
            let (ow, iw) = (a[2].output, a[2].input);
            max_pool_pairs(&x[base as usize..], s[1] as usize, iw, ow, vo, io);
            return;
        }
        if inside_2d {
            let (ay, ax) = (&a[1], &a[2]);
            let mut vals = vec![T::zero(); ax.output];
            let step = (ax.stride * s[2]) as usize;
            for (oy, (vr, ir)) in vo
                .chunks_mut(ax.output)
                .zip(io.chunks_mut(ax.output))
                .enumerate()
            {
                for ky in 0..ay.kernel as isize {
                    let y = oy as isize * ay.stride + ky * ay.dilation;
                    for kx in 0..ax.kernel as isize {
                        let start = (base + y * s[1] + kx * ax.dilation * s[2]) as usize;
                        let at0 = (y as usize * ax.input) as i64 + (kx * ax.dilation) as i64;
                        let src = x[start..].iter().step_by(step);
                        if ky == 0 && kx == 0 {
                            vr.iter_mut().zip(src).for_each(|(v, &e)| *v = e);
                            for (o, i) in ir.iter_mut().enumerate() {
                                *i = at0 + o as i64 * ax.stride as i64;
                            }
                        } else {
                            vals.iter_mut().zip(src).for_each(|(v, &e)| *v = e);
                            fold_max(&vals, vr, ir, at0, ax.stride as i64);
                        }
                    }
                }
            }
            return;
        }
        let mut o = 0;
        for &(z0, dz, zl, zh) in &tables[0] {
            for &(y0, dy, yl, yh) in &tables[1] {
                for &(x0, dx, xl, xh) in &tables[2] {
                    let (mut best, mut at) = (T::zero(), -1i64);
                    for i in zl..zh {
                        let z = z0 + i as isize * dz;
                        for j in yl..yh {
                            let y = y0 + j as isize * dy;
                            let row = base + z * s[0] + y * s[1];
                            let flat = (z as usize * a[1].input + y as usize) * a[2].input;
                            for k in xl..xh {
                                let xx = x0 + k as isize * dx;
                                let v = x[(row + xx * s[2]) as usize];
                                if at < 0 || v > best || v.is_nan() {
                                    best = v;
                                    at = (flat + xx as usize) as i64;
                                }
                            }
                        }
                    }
                    vo[o] = best;
                    io[o] = at;
                    o += 1;
                }
            }
        }
    };
    maxima_by_plane(planes, on, plane)
}

/// The maxima and their indices, `on` of each per plane, made plane by plane by
/// `plane(p, values, indices)`; when large, the planes in one contiguous run per thread of
/// the team, as [`per_plane`] (each run zeroed by its thread: most paths read before they
/// write).
fn maxima_by_plane<T: Num>(
    planes: usize,
    on: usize,
    plane: impl Fn(usize, &mut [T], &mut [i64]) + Sync,
) -> (Vec<T>, Vec<i64>) {
    let mut vals = super::uninit_vec::<T>(planes * on);
    let mut idx = super::uninit_vec::<i64>(planes * on);
    if on > 0 && planes > 0 {
        let per = if planes * on >= PAR_THRESHOLD {
            planes.div_ceil(team::parts().min(planes))
        } else {
            planes
        };
        let runs: Vec<_> = vals
            .chunks_mut(per * on)
            .zip(idx.chunks_mut(per * on))
            .enumerate()
            .collect();
        team::for_each_part(runs, |(r, (v, i))| {
            let (v, i) = (super::zero_init(v), super::zero_init(i));
            for (p, (v, i)) in v.chunks_mut(on).zip(i.chunks_mut(on)).enumerate() {
                plane(r * per + p, v, i);
            }
        });
    }
    // SAFETY: the runs cover both vectors, and each run was zeroed before its planes ran
    // (with no planes or outputs, both are empty).
    unsafe { (super::vec_assume_init(vals), super::vec_assume_init(idx)) }
}

/// Fractional max pooling (PyTorch's `fractional_max_pool{2,3}d`): each window spans
/// `w.kernel` positions along the three axes of [`Window::to_3d`] from first positions given
/// per plane in `starts` (plane `p`'s `Σ output` entries from `p · Σ output`, the axes in
/// order), all inside the input. The maxima and their flat indices in the input plane, as
/// [`max_pool`] (the first of ties, the last NaN).
pub fn fractional_max_pool<T: Num>(
    x: &[T],
    l: &Layout,
    w: &Window,
    starts: &[usize],
) -> (Vec<T>, Vec<i64>) {
    let w = w.to_3d();
    let (sn, sc, s) = strides(l);
    let c = l.shape[1];
    let per: usize = w.output.iter().sum();
    let (k, input) = (&w.kernel, &w.input);
    let plane = |p: usize, vo: &mut [T], io: &mut [i64]| {
        let base = l.offset as isize + (p / c) as isize * sn + (p % c) as isize * sc;
        let (sz, rest) = starts[p * per..][..per].split_at(w.output[0]);
        let (sy, sx) = rest.split_at(w.output[1]);
        let mut o = 0;
        for &z0 in sz {
            for &y0 in sy {
                for &x0 in sx {
                    let (mut best, mut at) = (T::zero(), -1i64);
                    for z in z0..z0 + k[0] {
                        for y in y0..y0 + k[1] {
                            let row = base + z as isize * s[0] + y as isize * s[1];
                            let flat = (z * input[1] + y) * input[2];
                            for xx in x0..x0 + k[2] {
                                let v = x[(row + xx as isize * s[2]) as usize];
                                if at < 0 || v > best || v.is_nan() {
                                    best = v;
                                    at = (flat + xx) as i64;
                                }
                            }
                        }
                    }
                    vo[o] = best;
                    io[o] = at;
                    o += 1;
                }
            }
        }
    };
    maxima_by_plane(l.shape[0] * c, w.output_numel(), plane)
}

/// The gradient of [`max_pool`]: each output's gradient `g` (view `gl`, `[n, c, *output]`)
/// added at its window's argmax `idx` (contiguous, as [`max_pool`] returned it) of a zeroed
/// `[n, c, *input]`, outputs in ascending order. An index outside the plane (a window wholly
/// in the padding has -1) adds nothing.
pub fn max_pool_backward<T: Num>(g: &[T], gl: &Layout, idx: &[i64], w: &Window) -> Vec<T> {
    let a = axes(w);
    let (sn, sc, s) = strides(gl);
    let c = gl.shape[1];
    let (lin, lout) = (w.input_numel(), w.output_numel());
    let dense = gl.is_contiguous();
    zeroed_planes(gl.shape[0] * c * lin, lin, |p, o: &mut [T]| {
        let at = &idx[p * lout..][..lout];
        let mut add = |i: i64, v: T| {
            if let Some(d) = usize::try_from(i).ok().and_then(|i| o.get_mut(i)) {
                *d = d.add(v);
            }
        };
        if dense {
            let gp = &g[gl.offset + p * lout..][..lout];
            at.iter().zip(gp).for_each(|(&i, &v)| add(i, v));
            return;
        }
        let base = gl.offset as isize + (p / c) as isize * sn + (p % c) as isize * sc;
        let mut k = 0;
        for oz in 0..a[0].output as isize {
            for oy in 0..a[1].output as isize {
                for ox in 0..a[2].output as isize {
                    add(
                        at[k],
                        g[(base + oz * s[0] + oy * s[1] + ox * s[2]) as usize],
                    );
                    k += 1;
                }
            }
        }
    })
}

simd_dispatch! {
    /// The 2×2, stride-2 max-pool windows of one plane (`best.len() / ow` rows of `ow`
    /// outputs) whose input rows are unit-stride and `rs` apart, from `x[0]` on, flat
    /// indices counted on a width of `iw`: output row `oy` from input rows `2·oy` and
    /// `2·oy + 1`, positions in scan order (the first maximum wins, the last NaN over
    /// everything), as [`fold_max`]. Eight outputs at a time: a group may run past its row
    /// (into the next row's outputs, which are written after it, and input `x` holds; the
    /// plane's last group keeps only its outputs); a single output is computed only where a
    /// group would read past `x`.
    pub fn max_pool_pairs<T: Num>(x: &[T], rs: usize, iw: usize, ow: usize, best: &mut [T], at: &mut [i64]) -> () {
        const G: usize = 8;
        let n = best.len();
        for oy in 0..n.checked_div(ow).unwrap_or(0) {
            let mut ox = 0;
            while ox < ow {
                let (o, i0) = (oy * ow + ox, 2 * oy * rs + 2 * ox);
                let at0 = (2 * (oy * iw + ox)) as i64;
                if i0 + rs + 2 * G <= x.len() {
                    let (r0, r1) = (&x[i0..][..2 * G], &x[i0 + rs..][..2 * G]);
                    let (b, a) = pair_maxima::<T, G>(r0, r1, at0, iw as i64);
                    if o + G <= n {
                        best[o..o + G].copy_from_slice(&b);
                        at[o..o + G].copy_from_slice(&a);
                    } else {
                        best[o..].copy_from_slice(&b[..n - o]);
                        at[o..].copy_from_slice(&a[..n - o]);
                    }
                    ox += G;
                } else {
                    let (r0, r1) = (&x[i0..][..2], &x[i0 + rs..][..2]);
                    let (b, a) = pair_maxima::<T, 1>(r0, r1, at0, iw as i64);
                    (best[o], at[o]) = (b[0], a[0]);
                    ox += 1;
                }
            }
        }
    }
}

/// `N` windows of [`max_pool_pairs`] from rows `r0` and `r1` (`2·N` elements each, `r0[0]`
/// at flat index `at0`, the rows `w` apart): their maxima and flat indices. Branch-free, so
/// it vectorises.
#[inline(always)]
fn pair_maxima<T: Num, const N: usize>(r0: &[T], r1: &[T], at0: i64, w: i64) -> ([T; N], [i64; N]) {
    let (mut best, mut at) = ([T::zero(); N], [0i64; N]);
    let (p0, p1) = (r0.as_chunks::<2>().0, r1.as_chunks::<2>().0);
    for o in 0..N {
        let (mut bv, mut off) = (p0[o][0], 0);
        for (v, k) in [(p0[o][1], 1), (p1[o][0], w), (p1[o][1], w + 1)] {
            let take = (v > bv) | v.is_nan();
            bv = if take { v } else { bv };
            off = if take { k } else { off };
        }
        best[o] = bv;
        at[o] = at0 + 2 * o as i64 + off;
    }
    (best, at)
}

simd_dispatch! {
    /// One window position's values for a row of outputs (`vals[o]` at flat index
    /// `at0 + o·step`) folded into the row's running maxima and their indices: the first
    /// maximum wins, and the last NaN over everything (PyTorch's `val > max || isnan(val)`).
    /// Branch-free, so it vectorizes.
    pub fn fold_max<T: Num>(vals: &[T], best: &mut [T], at: &mut [i64], at0: i64, step: i64) -> () {
        for (o, ((b, i), &v)) in best.iter_mut().zip(at.iter_mut()).zip(vals).enumerate() {
            let take = (v > *b) | v.is_nan();
            *b = if take { v } else { *b };
            *i = if take { at0 + o as i64 * step } else { *i };
        }
    }
}

/// The divisor of output `(oz, oy, ox)`'s window under `d` (PyTorch's rule: with
/// `count_include_pad` the window clipped to the padded input, else to the input).
#[inline]
fn divisor(a: &[Axis; 3], o: [usize; 3], d: AvgDivisor) -> f64 {
    if let Some(v) = d.divisor_override {
        return v as f64;
    }
    let mut padded = 1usize;
    let mut valid = 1usize;
    for (ax, &oi) in a.iter().zip(&o) {
        let (start, step, k) = ax.window(oi);
        if ax.adaptive {
            padded *= k;
            valid *= k;
            continue;
        }
        let end = (start + (k as isize - 1) * step + 1).min(ax.input as isize + ax.padding);
        padded *= (end - start).max(0) as usize;
        valid *= (end.min(ax.input as isize) - start.max(0)).max(0) as usize;
    }
    if d.count_include_pad {
        padded as f64
    } else {
        valid as f64
    }
}

/// The output coordinates of flat output index `o`.
#[inline]
fn coords(a: &[Axis; 3], o: usize) -> [usize; 3] {
    [
        o / (a[1].output * a[2].output),
        (o / a[2].output) % a[1].output,
        o % a[2].output,
    ]
}

/// Average pooling.
pub fn avg_pool<T: Num>(x: &[T], l: &Layout, w: &Window, d: AvgDivisor) -> Vec<T> {
    let a = axes(w);
    let (sn, sc, s) = strides(l);
    let c = l.shape[1];
    let on = w.output_numel();
    zeroed_planes(l.shape[0] * c * on, on, |p, vo| {
        let base = l.offset as isize + (p / c) as isize * sn + (p % c) as isize * sc;
        let mut acc = 0f64;
        let mut cur = 0;
        let finish = |acc: f64, o: usize| T::from_f64(acc / divisor(&a, coords(&a, o), d));
        each_window(&a, |o, z, y, xx| {
            if o != cur {
                vo[cur] = finish(acc, cur);
                acc = 0.0;
                cur = o;
            }
            if inside(z, a[0].input) && inside(y, a[1].input) && inside(xx, a[2].input) {
                acc += x[(base + z * s[0] + y * s[1] + xx * s[2]) as usize].to_f64();
            }
        });
        vo[cur] = finish(acc, cur);
    })
}

/// The adjoint of [`avg_pool`]: each output's gradient over its divisor, added to every
/// input position of its window.
pub fn avg_pool_backward<T: Num>(g: &[T], l: &Layout, w: &Window, d: AvgDivisor) -> Vec<T> {
    let a = axes(w);
    let (sn, sc, s) = strides(l);
    let c = l.shape[1];
    let plane_in = w.input_numel();
    let mut out = vec![0f64; l.shape[0] * c * plane_in];
    per_plane(&mut out, plane_in, |p, io| {
        let base = l.offset as isize + (p / c) as isize * sn + (p % c) as isize * sc;
        let (mut cur, mut v) = (usize::MAX, 0.0);
        each_window(&a, |o, z, y, xx| {
            if o != cur {
                let [oz, oy, ox] = coords(&a, o);
                let at = base + oz as isize * s[0] + oy as isize * s[1] + ox as isize * s[2];
                v = g[at as usize].to_f64() / divisor(&a, [oz, oy, ox], d);
                cur = o;
            }
            if inside(z, a[0].input) && inside(y, a[1].input) && inside(xx, a[2].input) {
                io[(z as usize * a[1].input + y as usize) * a[2].input + xx as usize] += v;
            }
        });
    });
    out.into_iter().map(T::from_f64).collect()
}
