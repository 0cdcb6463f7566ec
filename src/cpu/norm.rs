//! Batch-norm kernels over a contiguous `[n, c, s]` buffer (channel `ch` is the `n` runs
//! `x[(i·c + ch)·s ..][..s]`): the per-channel statistics, the backward's per-channel sums,
//! and one per-channel affine pass that both the forward's normalisation and the input
//! gradient are. Statistics take two passes (the mean, then the squared deviations from
//! it), as PyTorch's CPU kernel; each run is summed in `T` lanes a block at a time and the
//! blocks in `f64`, so long channels keep float32's accuracy. Channels (statistics) and
//! planes (affine) are split over the thread team when the tensor is large.

use super::window::per_plane;
use super::PAR_THRESHOLD;
use crate::backend::num::Float;
use crate::simd_dispatch;

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
    let mut out = vec![T::zero(); n * c * s];
    // Tasks of whole planes, at least a few thousand elements each.
    let planes = BLOCK.div_ceil(s.max(1));
    per_plane(&mut out, planes * s, |t, o| {
        affine_planes(o, x, y, k, t * planes, c, s)
    });
    out
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
