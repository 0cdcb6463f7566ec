//! Region-of-interest kernels (torchvision's `roi_pool`): each box's bins, the maximum of
//! each bin per channel, and the gradient added back at the argmaxes. Forward splits the
//! `(box, channel)` planes of the output over the team, backward the `(image, channel)`
//! planes of the input gradient (each plane gathers from the boxes of its image, so no two
//! threads add to one element).

use super::window::per_plane;
use crate::backend::num::Num;
use crate::backend::RoiPool;
use crate::tensor::dtype::Element;

/// One box's bins: its batch index (`None` outside the batch) and, per bin in row-major
/// order, the input rows `h0..h1` and columns `w0..w1` it covers (empty when `h1 <= h0` or
/// `w1 <= w0`).
struct RoiBins {
    image: Option<usize>,
    bins: Vec<(usize, usize, usize, usize)>,
}

/// The bins of box `roi` (batch index, x1, y1, x2, y2), computed in `T`'s precision: each
/// product and quotient rounded to `T`, as torchvision's kernel computes them in `T`.
fn roi_bins<T: Element>(roi: &[T], p: &RoiPool) -> RoiBins {
    let in_t = |v: f64| T::from_f64(v).to_f64();
    let scale = in_t(p.spatial_scale);
    // torchvision's `round`: half away from zero; clamped to ±2^40 (NaN to 0), as the CUDA
    // kernel does to keep its integer casts defined.
    const LIM: f64 = (1u64 << 40) as f64;
    let at = |v: T| in_t(v.to_f64() * scale).round().clamp(-LIM, LIM) as i64;
    // The batch index truncated, as torchvision's integer cast.
    let b = roi[0].to_f64().trunc();
    let image = (b >= 0.0 && b < p.batch as f64).then_some(b as usize);
    let (x1, y1, x2, y2) = (at(roi[1]), at(roi[2]), at(roi[3]), at(roi[4]));
    let roi_h = (y2 - y1 + 1).max(1);
    let roi_w = (x2 - x1 + 1).max(1);
    let bin_h = in_t(roi_h as f64 / p.pooled_h as f64);
    let bin_w = in_t(roi_w as f64 / p.pooled_w as f64);
    let span = |i: usize, bin: f64, start: i64, limit: usize| {
        let lo = in_t(i as f64 * bin).floor() as i64 + start;
        let hi = in_t((i + 1) as f64 * bin).ceil() as i64 + start;
        let clip = |v: i64| v.clamp(0, limit as i64) as usize;
        (clip(lo), clip(hi))
    };
    let mut bins = Vec::with_capacity(p.pooled_h * p.pooled_w);
    for i in 0..p.pooled_h {
        let (h0, h1) = span(i, bin_h, y1, p.height);
        for j in 0..p.pooled_w {
            let (w0, w1) = span(j, bin_w, x1, p.width);
            bins.push((h0, h1, w0, w1));
        }
    }
    RoiBins { image, bins }
}

/// Every box's bins.
fn all_bins<T: Element>(rois: &[T], p: &RoiPool) -> Vec<RoiBins> {
    rois.chunks_exact(5)
        .take(p.rois)
        .map(|r| roi_bins(r, p))
        .collect()
}

/// RoI max pooling: see [`crate::backend::Backend::roi_pool`]. As torchvision's kernel,
/// each bin starts from `-f32::MAX` and index -1 and takes a value only when it is greater
/// (NaNs never win; a bin of values at or below `-f32::MAX` keeps both).
pub fn roi_pool<T: Num>(x: &[T], rois: &[T], p: &RoiPool) -> (Vec<T>, Vec<i64>) {
    let boxes = all_bins(rois, p);
    let (plane, bins) = (p.height * p.width, p.pooled_h * p.pooled_w);
    let lowest = T::from_f64(f32::MIN as f64);
    // One output plane (box, channel) per call, values and indices side by side.
    let mut pairs: Vec<(T, i64)> = vec![(T::zero(), -1); p.rois * p.channels * bins];
    per_plane(&mut pairs, bins, |q, out| {
        let (r, c) = (q / p.channels, q % p.channels);
        let b = &boxes[r];
        let Some(image) = b.image else { return };
        let src = &x[(image * p.channels + c) * plane..][..plane];
        for (o, &(h0, h1, w0, w1)) in out.iter_mut().zip(&b.bins) {
            if h1 <= h0 || w1 <= w0 {
                continue;
            }
            *o = (lowest, -1);
            for h in h0..h1 {
                for (w, &v) in src[h * p.width..][w0..w1].iter().enumerate() {
                    if v > o.0 {
                        *o = (v, (h * p.width + w0 + w) as i64);
                    }
                }
            }
        }
    });
    pairs.into_iter().unzip()
}

/// The gradient of [`roi_pool`]: see [`crate::backend::Backend::roi_pool_backward`]. Each
/// input plane adds, box by box in order, the gradients of the bins whose argmax it holds.
pub fn roi_pool_backward<T: Num>(g: &[T], idx: &[i64], rois: &[T], p: &RoiPool) -> Vec<T> {
    let boxes = all_bins(rois, p);
    let (plane, bins) = (p.height * p.width, p.pooled_h * p.pooled_w);
    let mut out = vec![T::zero(); p.batch * p.channels * plane];
    per_plane(&mut out, plane, |q, o| {
        let (image, c) = (q / p.channels, q % p.channels);
        for (r, b) in boxes.iter().enumerate() {
            if b.image != Some(image) {
                continue;
            }
            let at = (r * p.channels + c) * bins;
            for (&i, &v) in idx[at..at + bins].iter().zip(&g[at..at + bins]) {
                if let Some(d) = usize::try_from(i).ok().and_then(|i| o.get_mut(i)) {
                    *d = d.add(v);
                }
            }
        }
    });
    out
}
