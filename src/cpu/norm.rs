//! Batch-norm kernels over a contiguous `[n, c, s]` buffer (channel `ch` is the `n` runs
//! `x[(i·c + ch)·s ..][..s]`): the per-channel statistics, the backward's per-channel sums,
//! and one per-channel affine pass that both the forward's normalisation and the input
//! gradient are. Statistics take two passes (the mean, then the squared deviations from
//! it), as PyTorch's CPU kernel; each run is summed in `T` lanes a block at a time and the
//! blocks in `f64`, so long channels keep float32's accuracy. Channels (statistics) and
//! planes (affine) are split over the thread team when the tensor is large.

use super::window::zeroed_planes;
use super::PAR_THRESHOLD;
use crate::backend::num::Float;
use crate::backend::LayerNormGrads;
use crate::simd_dispatch;
use std::mem::MaybeUninit;

/// Elements summed in `T` lanes before their sum joins the `f64` total.
const BLOCK: usize = 4096;
/// Independent partial sums (the compiler keeps them in vector registers).
const LANES: usize = 16;

simd_dispatch! {
    /// Over channel `ch` of `[n, c, s]` operands: `(Σ (x − m), Σ (x − m)·(y − my))`, the
    /// second 0 when `y` is empty. Each run is summed in `T` lanes; the lanes join the `f64`
    /// totals every [`BLOCK`] elements.
    pub fn channel_sums<T: Float>(x: &[T], m: T, y: &[T], my: T, ch: usize, dims: [usize; 3]) -> (f64, f64) {
        let [n, c, s] = dims;
        let (mut t1, mut t2) = (0.0, 0.0);
        let (mut a1, mut a2) = ([T::zero(); LANES], [T::zero(); LANES]);
        let (mut r1, mut r2) = (T::zero(), T::zero());
        let mut pending = 0;
        for i in 0..n {
            let at = (i * c + ch) * s;
            let xr = &x[at..at + s];
            let xc = xr.chunks_exact(LANES);
            let xt = xc.remainder();
            if y.is_empty() {
                for xv in xc {
                    for k in 0..LANES {
                        a1[k] = a1[k].add(xv[k].sub(m));
                    }
                }
                for &v in xt {
                    r1 = r1.add(v.sub(m));
                }
            } else {
                let yr = &y[at..at + s];
                let yc = yr.chunks_exact(LANES);
                let yt = yc.remainder();
                for (xv, yv) in xc.zip(yc) {
                    for k in 0..LANES {
                        let d = xv[k].sub(m);
                        a1[k] = a1[k].add(d);
                        a2[k] = a2[k].add(d.mul(yv[k].sub(my)));
                    }
                }
                for (&v, &w) in xt.iter().zip(yt) {
                    let d = v.sub(m);
                    r1 = r1.add(d);
                    r2 = r2.add(d.mul(w.sub(my)));
                }
            }
            pending += s;
            if pending >= BLOCK || i + 1 == n {
                for k in 0..LANES {
                    t1 += a1[k].to_f64();
                    t2 += a2[k].to_f64();
                }
                t1 += r1.to_f64();
                t2 += r2.to_f64();
                (a1, a2) = ([T::zero(); LANES], [T::zero(); LANES]);
                (r1, r2) = (T::zero(), T::zero());
                pending = 0;
            }
        }
        (t1, t2)
    }
}

simd_dispatch! {
    /// Planes `p0..` of the affine pass into `out` (whole planes of `s` elements):
    /// `(x − center)·a + b`, plus `y·d` when `y` is non-empty, with channel `p % c`'s values.
    pub fn affine_planes<T: Float>(out: &mut [T], x: &[T], y: &[T], k: &Coefficients<T>, p0: usize, c: usize, s: usize) -> () {
        for (j, o) in out.chunks_mut(s).enumerate() {
            let p = p0 + j;
            let ch = p % c;
            let (m, a, b) = (k.center[ch], k.a[ch], k.b[ch]);
            let xr = &x[p * s..][..s];
            if y.is_empty() {
                for (o, &v) in o.iter_mut().zip(xr) {
                    *o = v.sub(m).mul(a).add(b);
                }
            } else {
                let d = k.d[ch];
                for ((o, &v), &w) in o.iter_mut().zip(xr).zip(&y[p * s..][..s]) {
                    *o = v.sub(m).mul(a).add(b).add(w.mul(d));
                }
            }
        }
    }
}

/// `f(ch)` for each of `c` channels of a tensor of `total` elements, in parallel when large.
fn per_channel<R: Send>(c: usize, total: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if total >= PAR_THRESHOLD && c > 1 {
        super::team::map_indices(c, f)
    } else {
        (0..c).map(f).collect()
    }
}

/// The per-channel mean and biased variance of `x` (`[n, c, s]`, contiguous).
pub fn stats<T: Float>(x: &[T], dims: [usize; 3]) -> (Vec<T>, Vec<T>) {
    let [n, c, s] = dims;
    let (m, total) = ((n * s) as f64, n * c * s);
    let mean = per_channel(c, total, |ch| {
        T::lit(channel_sums(x, T::zero(), &[], T::zero(), ch, dims).0 / m)
    });
    let var = per_channel(c, total, |ch| {
        T::lit(channel_sums(x, mean[ch], x, mean[ch], ch, dims).1 / m)
    });
    (mean, var)
}

/// The backward's per-channel sums over `g` and `x` (both `[n, c, s]`, contiguous), in one
/// pass: `Σ g` and `Σ g·(x − mean)`.
pub fn grad_sums<T: Float>(g: &[T], x: &[T], mean: &[T], dims: [usize; 3]) -> (Vec<T>, Vec<T>) {
    let total = dims.iter().product();
    per_channel(dims[1], total, |ch| {
        let (p, q) = channel_sums(g, T::zero(), x, mean[ch], ch, dims);
        (T::lit(p), T::lit(q))
    })
    .into_iter()
    .unzip()
}

/// Per-channel coefficients of [`affine`]: `center`, `a`, `b`, and `d` when `y` is given.
pub struct Coefficients<'a, T> {
    pub center: &'a [T],
    pub a: &'a [T],
    pub b: &'a [T],
    pub d: &'a [T],
}

/// `(x − center)·a + b`, plus `y·d` when `y` is non-empty, per channel of `[n, c, s]`
/// contiguous operands: a new contiguous buffer.
pub fn affine<T: Float>(x: &[T], y: &[T], k: &Coefficients<T>, [n, c, s]: [usize; 3]) -> Vec<T> {
    // Tasks of whole planes, at least a few thousand elements each.
    let planes = BLOCK.div_ceil(s.max(1));
    zeroed_planes(n * c * s, planes * s, |t, o| {
        affine_planes(o, x, y, k, t * planes, c, s)
    })
}

/// `Σ f(v)` over a row in `T` lanes, the lanes joining an `f64` total every [`BLOCK`]
/// elements (inlined into the `simd_dispatch!` kernels below, so it vectorises).
#[inline(always)]
fn row_sum<T: Float>(r: &[T], f: impl Fn(T) -> T) -> f64 {
    let mut total = 0.0;
    for block in r.chunks(BLOCK) {
        let mut lanes = [T::zero(); LANES];
        let chunks = block.chunks_exact(LANES);
        let mut rest = T::zero();
        for &v in chunks.remainder() {
            rest = rest.add(f(v));
        }
        for c in chunks {
            for k in 0..LANES {
                lanes[k] = lanes[k].add(f(c[k]));
            }
        }
        total += lanes.iter().map(|v| v.to_f64()).sum::<f64>() + rest.to_f64();
    }
    total
}

/// Over one row of a layer-norm backward: `(Σ g·w, Σ g·w·(x − mean))`, `w` taken as 1
/// when empty; in lanes as [`row_sum`], in one pass.
#[inline(always)]
fn grad_row_sums<T: Float>(g: &[T], x: &[T], w: &[T], mean: T) -> (f64, f64) {
    let (mut ta, mut tc) = (0.0, 0.0);
    for (i, (gb, xb)) in g.chunks(BLOCK).zip(x.chunks(BLOCK)).enumerate() {
        let (mut la, mut lc) = ([T::zero(); LANES], [T::zero(); LANES]);
        let (mut ra, mut rc) = (T::zero(), T::zero());
        let (gc, xc) = (gb.chunks_exact(LANES), xb.chunks_exact(LANES));
        let tail = gc.remainder().len();
        if w.is_empty() {
            for (gv, xv) in gc.zip(xc) {
                for k in 0..LANES {
                    la[k] = la[k].add(gv[k]);
                    lc[k] = lc[k].add(gv[k].mul(xv[k].sub(mean)));
                }
            }
            for (&gv, &xv) in gb[gb.len() - tail..].iter().zip(&xb[xb.len() - tail..]) {
                ra = ra.add(gv);
                rc = rc.add(gv.mul(xv.sub(mean)));
            }
        } else {
            let wb = &w[i * BLOCK..][..gb.len()];
            for ((gv, xv), wv) in gc.zip(xc).zip(wb.chunks_exact(LANES)) {
                for k in 0..LANES {
                    let p = gv[k].mul(wv[k]);
                    la[k] = la[k].add(p);
                    lc[k] = lc[k].add(p.mul(xv[k].sub(mean)));
                }
            }
            let start = gb.len() - tail;
            for ((&gv, &xv), &wv) in gb[start..].iter().zip(&xb[start..]).zip(&wb[start..]) {
                let p = gv.mul(wv);
                ra = ra.add(p);
                rc = rc.add(p.mul(xv.sub(mean)));
            }
        }
        ta += la.iter().map(|v| v.to_f64()).sum::<f64>() + ra.to_f64();
        tc += lc.iter().map(|v| v.to_f64()).sum::<f64>() + rc.to_f64();
    }
    (ta, tc)
}

simd_dispatch! {
    /// Layer norm of the contiguous rows of `len` in `x` into `out` (every element
    /// written): the row's mean, its biased variance from the squared deviations (two
    /// passes, the row staying in cache), then `(x − mean)·rstd·w + b` with
    /// `rstd = 1/√(var + ε)`, `w` and `b` (`len` long) skipped when empty. Each row's
    /// mean and rstd go to `mean` and `rstd`.
    pub fn layer_norm_block<T: Float>(x: &[T], wb: [&[T]; 2], out: &mut [MaybeUninit<T>], mean: &mut [T], rstd: &mut [T], len: usize, eps: f64) -> () {
        let [w, b] = wb;
        let rows = out.chunks_exact_mut(len).zip(x.chunks_exact(len));
        for ((o, r), (mean, rstd)) in rows.zip(mean.iter_mut().zip(rstd.iter_mut())) {
            let m = T::lit(row_sum(r, |v| v) / len as f64);
            let var = row_sum(r, |v| {
                let d = v.sub(m);
                d.mul(d)
            }) / len as f64;
            let k = T::lit(1.0 / (var + eps).sqrt());
            (*mean, *rstd) = (m, k);
            let (mean, rstd) = (m, k);
            match (w.is_empty(), b.is_empty()) {
                (true, true) => {
                    for (o, &v) in o.iter_mut().zip(r) {
                        o.write(v.sub(mean).mul(rstd));
                    }
                }
                (false, true) => {
                    for ((o, &v), &w) in o.iter_mut().zip(r).zip(w) {
                        o.write(v.sub(mean).mul(rstd).mul(w));
                    }
                }
                (true, false) => {
                    for ((o, &v), &b) in o.iter_mut().zip(r).zip(b) {
                        o.write(v.sub(mean).mul(rstd).add(b));
                    }
                }
                (false, false) => {
                    for (((o, &v), &w), &b) in o.iter_mut().zip(r).zip(w).zip(b) {
                        o.write(v.sub(mean).mul(rstd).mul(w).add(b));
                    }
                }
            }
        }
    }
}

simd_dispatch! {
    /// The input gradient of [`layer_norm_block`] for its rows, into `out` (every element
    /// written): with `x̂ = (x − mean)·rstd` and `gw = g·w` (`g` when `w` is empty),
    /// `rstd·(gw − Σgw/len − x̂·Σgw·x̂/len)`. When `sums` is not empty (`2·len` long) it
    /// also adds each row's `g·x̂` to `sums[..len]` and `g` to `sums[len..]` (the weight's
    /// and the bias's gradients, summed over rows).
    pub fn layer_norm_backward_block<T: Float>(g: &[T], x: &[T], stats: [&[T]; 2], w: &[T], out: &mut [MaybeUninit<T>], sums: &mut [T], len: usize) -> () {
        let [mean, rstd] = stats;
        let rows = out.chunks_exact_mut(len).zip(x.chunks_exact(len).zip(g.chunks_exact(len)));
        for ((o, (r, gr)), (&mean, &rstd)) in rows.zip(mean.iter().zip(rstd)) {
            let (a, c) = grad_row_sums(gr, r, w, mean);
            let n = len as f64;
            let ka = T::lit(a / n);
            let kc = T::lit(c * rstd.to_f64() * rstd.to_f64() / n);
            if w.is_empty() {
                for ((o, &gv), &xv) in o.iter_mut().zip(gr).zip(r) {
                    o.write(rstd.mul(gv.sub(ka).sub(xv.sub(mean).mul(kc))));
                }
            } else {
                for (((o, &gv), &xv), &wv) in o.iter_mut().zip(gr).zip(r).zip(w) {
                    o.write(rstd.mul(gv.mul(wv).sub(ka).sub(xv.sub(mean).mul(kc))));
                }
            }
            if !sums.is_empty() {
                let (sw, sb) = sums.split_at_mut(len);
                for (((sw, sb), &gv), &xv) in sw.iter_mut().zip(sb.iter_mut()).zip(gr).zip(r) {
                    *sw = sw.add(gv.mul(xv.sub(mean).mul(rstd)));
                    *sb = sb.add(gv);
                }
            }
        }
    }
}

/// Layer norm of each contiguous row of `len` elements of `x` (see [`layer_norm_block`];
/// `w`, `b` empty when absent): the output, and each row's mean and `rstd`. Large inputs
/// are split into one block of whole rows per thread.
pub fn layer_norm<T: Float>(x: &[T], w: &[T], b: &[T], len: usize, eps: f64) -> [Vec<T>; 3] {
    let rows = x.len().checked_div(len).unwrap_or(0);
    let (mut mean, mut rstd) = (vec![T::zero(); rows], vec![T::zero(); rows]);
    if rows == 0 {
        return [vec![T::zero(); x.len()], mean, rstd];
    }
    let block = super::reduce::thread_block(rows, len);
    // SAFETY: the blocks cover the output, each paired with the same rows of `x` and of
    // the statistics, and `layer_norm_block` writes every element of its block.
    let out = unsafe {
        super::write_new_vec(x.len(), |out| {
            let items: Vec<_> = out
                .chunks_mut(block)
                .zip(x.chunks(block))
                .zip(
                    mean.chunks_mut(block / len)
                        .zip(rstd.chunks_mut(block / len)),
                )
                .collect();
            super::team::for_each_part(items, |((o, x), (m, r))| {
                layer_norm_block(x, [w, b], o, m, r, len, eps)
            });
        })
    };
    [out, mean, rstd]
}

/// The input gradient of [`layer_norm`] from the output gradient `g` and the forward's
/// input and statistics (see [`layer_norm_backward_block`]), and with `params` the weight's
/// and the bias's gradients `(Σ g·x̂, Σ g)` over rows (each thread sums its rows, then
/// the threads' sums are added).
pub fn layer_norm_backward<T: Float>(
    g: &[T],
    x: &[T],
    [mean, rstd]: [&[T]; 2],
    w: &[T],
    len: usize,
    params: bool,
) -> LayerNormGrads<Vec<T>> {
    let rows = x.len().checked_div(len).unwrap_or(0);
    if rows == 0 {
        let zeros = || vec![T::zero(); len];
        return (vec![T::zero(); x.len()], params.then(|| (zeros(), zeros())));
    }
    let block = super::reduce::thread_block(rows, len);
    let parts = rows.div_ceil(block / len);
    let mut sums = vec![vec![T::zero(); if params { 2 * len } else { 0 }]; parts];
    // SAFETY: the blocks cover the output, each paired with the same rows of `g`, `x` and
    // the statistics, and `layer_norm_backward_block` writes every element of its block.
    let gx = unsafe {
        super::write_new_vec(x.len(), |out| {
            let rb = block / len;
            let items: Vec<_> = out
                .chunks_mut(block)
                .zip(g.chunks(block).zip(x.chunks(block)))
                .zip(mean.chunks(rb).zip(rstd.chunks(rb)))
                .zip(sums.iter_mut())
                .collect();
            super::team::for_each_part(items, |(((o, (g, x)), (m, r)), s)| {
                layer_norm_backward_block(g, x, [m, r], w, o, s, len)
            });
        })
    };
    let grads = params.then(|| {
        let mut total = sums.pop().expect("at least one part");
        for s in &sums {
            for (t, &v) in total.iter_mut().zip(s) {
                *t = t.add(v);
            }
        }
        let gb = total.split_off(len);
        (total, gb)
    });
    (gx, grads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u64) -> Vec<f64> {
        (0..len)
            .map(|i| (((i as u64 * 2654435761 + seed) % 1000) as f64) / 100.0 - 3.0)
            .collect()
    }

    #[test]
    fn stats_and_grad_sums_match_a_direct_sum() {
        // Odd sizes: runs shorter and longer than a lane block and than `BLOCK`.
        for dims in [[3, 5, 7], [2, 3, 5000], [1, 1, 1], [4, 2, 33]] {
            let [n, c, s] = dims;
            let (x, g) = (data(n * c * s, 1), data(n * c * s, 7));
            let (mean, var) = stats(&x, dims);
            let (sg, sgx) = grad_sums(&g, &x, &mean, dims);
            for ch in 0..c {
                let idx: Vec<usize> = (0..n)
                    .flat_map(|i| (0..s).map(move |j| (i * c + ch) * s + j))
                    .collect();
                let m = idx.len() as f64;
                let mu = idx.iter().map(|&k| x[k]).sum::<f64>() / m;
                let v = idx.iter().map(|&k| (x[k] - mu).powi(2)).sum::<f64>() / m;
                let want_g: f64 = idx.iter().map(|&k| g[k]).sum();
                let want_gx: f64 = idx.iter().map(|&k| g[k] * (x[k] - mu)).sum();
                assert!((mean[ch] - mu).abs() < 1e-12, "{dims:?} mean");
                assert!((var[ch] - v).abs() < 1e-10, "{dims:?} var");
                assert!((sg[ch] - want_g).abs() < 1e-8, "{dims:?} sum g");
                assert!((sgx[ch] - want_gx).abs() < 1e-8, "{dims:?} sum g(x-m)");
            }
        }
    }

    #[test]
    fn affine_applies_each_channel_s_coefficients() {
        let dims = [2, 3, 40];
        let (x, y) = (data(240, 3), data(240, 5));
        let k = Coefficients {
            center: &[0.5, -1.0, 2.0],
            a: &[2.0, 3.0, -1.0],
            b: &[0.1, 0.2, 0.3],
            d: &[1.5, -0.5, 4.0],
        };
        for with_y in [false, true] {
            let yy: &[f64] = if with_y { &y } else { &[] };
            let out = affine(&x, yy, &k, dims);
            for (p, o) in out.iter().enumerate() {
                let ch = (p / 40) % 3;
                let mut want = (x[p] - k.center[ch]) * k.a[ch] + k.b[ch];
                if with_y {
                    want += y[p] * k.d[ch];
                }
                assert!((o - want).abs() < 1e-12);
            }
        }
    }
}
