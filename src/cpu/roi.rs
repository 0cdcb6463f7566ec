//! Detection kernels (torchvision's `roi_pool`, `roi_align` and `nms`). RoI pooling: each
//! box's bins, the maximum of each bin per channel, and the gradient added back at the
//! argmaxes. RoI Align: each bin the mean of bilinear samples, and the gradient spread back
//! on their pixels. Forwards split the output's boxes (or `(box, channel)` planes) over the
//! team, backwards the `(image, channel)` planes of the input gradient (each plane gathers
//! from the boxes of its image, so no two threads add to one element). NMS: the greedy scan.

use super::window::per_plane;
use crate::backend::num::Num;
use crate::backend::{RoiAlign, RoiPool};
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

/// `v` rounded to `T`'s precision: `T`'s arithmetic emulated in f64 (exact for the basic
/// operations of f32, whose products and quotients f64 rounds once more without error).
fn in_t<T: Element>(v: f64) -> f64 {
    T::from_f64(v).to_f64()
}

/// One box of [`roi_align`]: its image (`None` outside the batch), the corner its bins start
/// from, a bin's height and width, its sampling grid and the divisor of its bins' sums.
struct AlignBox {
    image: Option<usize>,
    y0: f64,
    x0: f64,
    bin_h: f64,
    bin_w: f64,
    grid_h: usize,
    grid_w: usize,
    count: f64,
}

/// The sampling grid side of a bin of `bin` input pixels (see [`RoiAlign`]).
fn grid_side(sampling_ratio: i64, bin: f64) -> usize {
    if sampling_ratio > 0 {
        return sampling_ratio as usize;
    }
    let g = bin.ceil();
    if g.is_nan() || g <= 0.0 {
        0
    } else {
        g.min(RoiAlign::MAX_GRID as f64) as usize
    }
}

/// The geometry of box `roi` (batch index, x1, y1, x2, y2), in `T`'s precision.
fn align_box<T: Element>(roi: &[T], p: &RoiAlign) -> AlignBox {
    let q = &p.pool;
    let scale = in_t::<T>(q.spatial_scale);
    let offset = if p.aligned { 0.5 } else { 0.0 };
    let at = |v: T| in_t::<T>(in_t::<T>(v.to_f64() * scale) - offset);
    let b = roi[0].to_f64().trunc();
    let image = (b >= 0.0 && b < q.batch as f64).then_some(b as usize);
    let (x0, y0, x1, y1) = (at(roi[1]), at(roi[2]), at(roi[3]), at(roi[4]));
    let (mut h, mut w) = (in_t::<T>(y1 - y0), in_t::<T>(x1 - x0));
    if !p.aligned {
        // torchvision's `max(side, 1)`: a NaN side stays NaN.
        h = if h < 1.0 { 1.0 } else { h };
        w = if w < 1.0 { 1.0 } else { w };
    }
    let bin_h = in_t::<T>(h / q.pooled_h as f64);
    let bin_w = in_t::<T>(w / q.pooled_w as f64);
    let (grid_h, grid_w) = (
        grid_side(p.sampling_ratio, bin_h),
        grid_side(p.sampling_ratio, bin_w),
    );
    AlignBox {
        image,
        y0,
        x0,
        bin_h,
        bin_w,
        grid_h,
        grid_w,
        count: (grid_h * grid_w).max(1) as f64,
    }
}

/// The four pixels (flat plane indices) and weights of a bilinear sample at `(y, x)` of a
/// `height × width` plane, in `T`'s precision; `None` more than one pixel outside it.
fn bilinear<T: Element>(y: f64, x: f64, height: usize, width: usize) -> Option<[(usize, T); 4]> {
    if !(y >= -1.0 && y <= height as f64 && x >= -1.0 && x <= width as f64) {
        return None;
    }
    // One axis: the low and high pixel and the distance past the low one.
    let axis = |v: f64, n: usize| {
        let v = v.max(0.0);
        let low = v as usize;
        if low + 1 >= n {
            (n - 1, n - 1, 0.0)
        } else {
            (low, low + 1, in_t::<T>(v - low as f64))
        }
    };
    let (y_lo, y_hi, ly) = axis(y, height);
    let (x_lo, x_hi, lx) = axis(x, width);
    let (hy, hx) = (in_t::<T>(1.0 - ly), in_t::<T>(1.0 - lx));
    let w = |a: f64, b: f64| T::from_f64(a * b);
    Some([
        (y_lo * width + x_lo, w(hy, hx)),
        (y_lo * width + x_hi, w(hy, lx)),
        (y_hi * width + x_lo, w(ly, hx)),
        (y_hi * width + x_hi, w(ly, lx)),
    ])
}

impl AlignBox {
    /// Calls `f(bin, taps)` for each bilinear sample of each bin, bins in row-major order.
    fn for_each_sample<T: Element>(&self, p: &RoiPool, mut f: impl FnMut(usize, [(usize, T); 4])) {
        let (gh, gw) = (self.grid_h as f64, self.grid_w as f64);
        for i in 0..p.pooled_h {
            let top = in_t::<T>(self.y0 + in_t::<T>(i as f64 * self.bin_h));
            for iy in 0..self.grid_h {
                let y = in_t::<T>(top + in_t::<T>(in_t::<T>((iy as f64 + 0.5) * self.bin_h) / gh));
                for j in 0..p.pooled_w {
                    let left = in_t::<T>(self.x0 + in_t::<T>(j as f64 * self.bin_w));
                    for ix in 0..self.grid_w {
                        let x = in_t::<T>(
                            left + in_t::<T>(in_t::<T>((ix as f64 + 0.5) * self.bin_w) / gw),
                        );
                        if let Some(taps) = bilinear::<T>(y, x, p.height, p.width) {
                            f(i * p.pooled_w + j, taps);
                        }
                    }
                }
            }
        }
    }
}

/// RoI Align: see [`crate::backend::Backend::roi_align`]. Each box's samples are found once
/// and then read in every channel.
pub fn roi_align<T: Num>(x: &[T], rois: &[T], p: &RoiAlign) -> Vec<T> {
    let q = &p.pool;
    let (plane, bins) = (q.height * q.width, q.pooled_h * q.pooled_w);
    let mut out = vec![T::zero(); q.rois * q.channels * bins];
    per_plane(&mut out, q.channels * bins, |r, out| {
        let b = align_box(&rois[r * 5..r * 5 + 5], p);
        let Some(image) = b.image else { return };
        let mut samples: Vec<(usize, [(usize, T); 4])> = Vec::new();
        b.for_each_sample::<T>(q, |bin, taps| samples.push((bin, taps)));
        let count = T::from_f64(b.count);
        for (c, o) in out.chunks_exact_mut(bins).enumerate() {
            let src = &x[(image * q.channels + c) * plane..][..plane];
            for &(bin, taps) in &samples {
                let v = taps
                    .iter()
                    .fold(T::zero(), |acc, &(i, w)| acc.add(w.mul(src[i])));
                o[bin] = o[bin].add(v);
            }
            for v in o.iter_mut() {
                *v = v.div(count);
            }
        }
    });
    out
}

/// The gradient of [`roi_align`]: see [`crate::backend::Backend::roi_align_backward`].
/// Each input plane adds, box by box in order, its share of each sample's gradient.
pub fn roi_align_backward<T: Num>(g: &[T], rois: &[T], p: &RoiAlign) -> Vec<T> {
    let q = &p.pool;
    let boxes: Vec<AlignBox> = rois
        .chunks_exact(5)
        .take(q.rois)
        .map(|r| align_box(r, p))
        .collect();
    let (plane, bins) = (q.height * q.width, q.pooled_h * q.pooled_w);
    let mut out = vec![T::zero(); q.batch * q.channels * plane];
    per_plane(&mut out, plane, |at, o| {
        let (image, c) = (at / q.channels, at % q.channels);
        for (r, b) in boxes.iter().enumerate() {
            if b.image != Some(image) {
                continue;
            }
            let count = T::from_f64(b.count);
            let grad = &g[(r * q.channels + c) * bins..][..bins];
            b.for_each_sample::<T>(q, |bin, taps| {
                let share = grad[bin].div(count);
                for (i, w) in taps {
                    o[i] = o[i].add(share.mul(w));
                }
            });
        }
    });
    out
}

/// Greedy non-maximum suppression: see [`crate::backend::Backend::nms`]. Each kept box
/// removes the later boxes it overlaps by more than `iou_threshold`.
pub fn nms<T: Element>(boxes: &[T], iou_threshold: f64) -> Vec<usize> {
    let b: Vec<[f64; 4]> = boxes
        .chunks_exact(4)
        .map(|c| [c[0].to_f64(), c[1].to_f64(), c[2].to_f64(), c[3].to_f64()])
        .collect();
    let area: Vec<f64> = b
        .iter()
        .map(|c| in_t::<T>(in_t::<T>(c[2] - c[0]) * in_t::<T>(c[3] - c[1])))
        .collect();
    let mut removed = vec![false; b.len()];
    let mut keep = Vec::new();
    for i in 0..b.len() {
        if removed[i] {
            continue;
        }
        keep.push(i);
        for j in i + 1..b.len() {
            if !removed[j] && iou::<T>(&b[i], &b[j], area[i], area[j]) > iou_threshold {
                removed[j] = true;
            }
        }
    }
    keep
}

/// The IoU of boxes `a` and `b` with areas `aa` and `ab`, in `T`'s precision.
fn iou<T: Element>(a: &[f64; 4], b: &[f64; 4], aa: f64, ab: f64) -> f64 {
    let w = in_t::<T>(a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = in_t::<T>(a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = in_t::<T>(w * h);
    in_t::<T>(inter / in_t::<T>(in_t::<T>(aa + ab) - inter))
}
