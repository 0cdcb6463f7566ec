// The detection kernels of torchvision (roi_pool, roi_align, nms), with the CPU backend's
// semantics (src/cpu/roi.rs). Instantiated for the float dtypes.
//
//   roi_pool(out, idx, x, rois, p, total)
//       out [rois, c, ph, pw]: the maximum of each box's bin per channel of the contiguous
//       input x [batch, c, h, w] (values > -FLT_MAX only, so NaNs never win; 0 for an empty
//       bin), idx its flat index in the input plane (-1 for none)
//   roi_pool_backward(gin, g, idx, rois, p, total)
//       gin [batch, c, h, w] in acc_t (zeroed by the caller; the 16-bit floats sum in
//       float32, as the CPU does): each output's gradient g added at its argmax, with atomic
//       adds (boxes of one image overlap)
//   roi_align(out, x, rois, p, total)
//       out [rois, c, ph, pw]: the mean of each bin's grid of bilinear samples of x
//   roi_align_backward(gin, g, rois, p, total)
//       gin [batch, c, h, w] in acc_t (zeroed by the caller; the 16-bit floats sum in
//       float32, as the CPU does): each output's gradient over its bin's sample count,
//       spread on each sample's four pixels with atomic adds
//   nms_mask(mask, boxes, n, words, iou_threshold, total)
//       mask [n, words] of 64-bit words: bit j of row i set when j > i and the IoU of boxes i
//       and j (of the [n, 4] boxes sorted by score) exceeds iou_threshold; the host scans it
//
// The box geometry is computed in acc_t (the 16-bit floats in float32), as the CPU does.

struct RtRoiPool {
    long long batch;
    long long channels;
    long long height;
    long long width;
    long long rois;
    long long pooled_h;
    long long pooled_w;
    double spatial_scale;
};

__device__ __forceinline__ acc_t rt_roi_trunc(acc_t x) {
    return x < (acc_t)0 ? -rt_floor(-x) : rt_floor(x);
}

// Half away from zero (C's round), as torchvision rounds box corners; clamped to +-2^40 (NaN
// to 0) so that the integer casts below stay defined for any input.
__device__ __forceinline__ long long rt_roi_round(acc_t x) {
    acc_t t = rt_roi_trunc(x);
    const acc_t frac = x - t;  // exact
    if (frac >= (acc_t)0.5) {
        t = t + (acc_t)1;
    } else if (frac <= (acc_t)-0.5) {
        t = t - (acc_t)1;
    }
    const acc_t lim = (acc_t)1099511627776.0;
    if (t != t) return 0;  // NaN
    if (t < -lim) t = -lim;
    if (t > lim) t = lim;
    return (long long)t;
}

// Rows (or columns) lo..hi of bin i of a box starting at `start`, clipped to [0, limit].
__device__ __forceinline__ void rt_roi_span(long long i, acc_t bin, long long start,
                                            long long limit, long long* lo, long long* hi) {
    long long a = (long long)rt_floor((acc_t)i * bin) + start;
    long long b = (long long)rt_ceil((acc_t)(i + 1) * bin) + start;
    *lo = a < 0 ? 0 : (a > limit ? limit : a);
    *hi = b < 0 ? 0 : (b > limit ? limit : b);
}

// Box r's image: its batch index, truncated; -1 when outside the batch.
__device__ __forceinline__ long long rt_roi_image(const scalar_t* rois, const RtRoiPool& p,
                                                  long long r) {
    const acc_t b = rt_roi_trunc(rt_to_acc(rois[r * 5]));
    return (b >= (acc_t)0 && b < (acc_t)p.batch) ? (long long)b : -1;
}

// The span of bin (i, j) of box r.
__device__ __forceinline__ void rt_roi_bin(const scalar_t* rois, const RtRoiPool& p,
                                           long long r, long long i, long long j,
                                           long long* h0, long long* h1, long long* w0,
                                           long long* w1) {
    const scalar_t* roi = rois + r * 5;
    const acc_t scale = (acc_t)p.spatial_scale;
    const long long x1 = rt_roi_round(rt_to_acc(roi[1]) * scale);
    const long long y1 = rt_roi_round(rt_to_acc(roi[2]) * scale);
    const long long x2 = rt_roi_round(rt_to_acc(roi[3]) * scale);
    const long long y2 = rt_roi_round(rt_to_acc(roi[4]) * scale);
    const long long rh = y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1;
    const long long rw = x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1;
    rt_roi_span(i, (acc_t)rh / (acc_t)p.pooled_h, y1, p.height, h0, h1);
    rt_roi_span(j, (acc_t)rw / (acc_t)p.pooled_w, x1, p.width, w0, w1);
}

KERNEL(roi_pool)(scalar_t* out, long long* idx, const scalar_t* x, const scalar_t* rois,
                 RtRoiPool p, long long total) {
    RT_GRID_LOOP(o, total) {
        const long long j = o % p.pooled_w;
        long long t = o / p.pooled_w;
        const long long i = t % p.pooled_h;
        t /= p.pooled_h;
        const long long c = t % p.channels;
        const long long r = t / p.channels;
        long long h0, h1, w0, w1;
        rt_roi_bin(rois, p, r, i, j, &h0, &h1, &w0, &w1);
        const long long image = rt_roi_image(rois, p, r);
        acc_t best = (acc_t)0;
        long long at = -1;
        if (image >= 0 && h1 > h0 && w1 > w0) {
            best = (acc_t)(-3.40282346638528859812e+38);
            const scalar_t* plane = x + (image * p.channels + c) * p.height * p.width;
            for (long long h = h0; h < h1; ++h) {
                for (long long w = w0; w < w1; ++w) {
                    const acc_t v = rt_to_acc(plane[h * p.width + w]);
                    if (v > best) {
                        best = v;
                        at = h * p.width + w;
                    }
                }
            }
        }
        out[o] = rt_from_acc(best);
        idx[o] = at;
    }
}

KERNEL(roi_pool_backward)(acc_t* gin, const scalar_t* g, const long long* idx,
                          const scalar_t* rois, RtRoiPool p, long long total) {
    RT_GRID_LOOP(o, total) {
        const long long at = idx[o];
        if (at < 0) continue;
        const long long c = (o / (p.pooled_h * p.pooled_w)) % p.channels;
        const long long r = o / (p.pooled_h * p.pooled_w * p.channels);
        const long long image = rt_roi_image(rois, p, r);
        if (image < 0) continue;
        atomicAdd(gin + (image * p.channels + c) * p.height * p.width + at, rt_to_acc(g[o]));
    }
}

// ---- roi_align ----------------------------------------------------------------------------

struct RtRoiAlign {
    RtRoiPool pool;
    long long sampling_ratio;
    long long aligned;
};

// The largest adaptive grid side (RoiAlign::MAX_GRID).
#define RT_ROI_MAX_GRID 1024

// A box's geometry: the corner its bins start from, a bin's sides, its grid and image.
struct RtAlignBox {
    acc_t y0, x0, bin_h, bin_w, count;
    long long grid_h, grid_w, image;
};

__device__ __forceinline__ long long rt_roi_grid(long long ratio, acc_t bin) {
    if (ratio > 0) return ratio;
    const acc_t g = rt_ceil(bin);
    if (!(g > (acc_t)0)) return 0;  // also NaN
    return g > (acc_t)RT_ROI_MAX_GRID ? RT_ROI_MAX_GRID : (long long)g;
}

__device__ __forceinline__ RtAlignBox rt_align_box(const scalar_t* rois, const RtRoiAlign& p,
                                                   long long r) {
    const scalar_t* roi = rois + r * 5;
    const acc_t scale = (acc_t)p.pool.spatial_scale;
    const acc_t offset = p.aligned ? (acc_t)0.5 : (acc_t)0;
    RtAlignBox b;
    b.image = rt_roi_image(rois, p.pool, r);
    b.x0 = rt_to_acc(roi[1]) * scale - offset;
    b.y0 = rt_to_acc(roi[2]) * scale - offset;
    acc_t w = rt_to_acc(roi[3]) * scale - offset - b.x0;
    acc_t h = rt_to_acc(roi[4]) * scale - offset - b.y0;
    if (!p.aligned) {
        w = w < (acc_t)1 ? (acc_t)1 : w;
        h = h < (acc_t)1 ? (acc_t)1 : h;
    }
    b.bin_h = h / (acc_t)p.pool.pooled_h;
    b.bin_w = w / (acc_t)p.pool.pooled_w;
    b.grid_h = rt_roi_grid(p.sampling_ratio, b.bin_h);
    b.grid_w = rt_roi_grid(p.sampling_ratio, b.bin_w);
    const long long n = b.grid_h * b.grid_w;
    b.count = (acc_t)(n > 1 ? n : 1);
    return b;
}

// One axis of a bilinear sample: the low and high pixel and the distance past the low one.
__device__ __forceinline__ void rt_roi_axis(acc_t v, long long n, long long* lo, long long* hi,
                                            acc_t* l) {
    if (v < (acc_t)0) v = (acc_t)0;
    long long low = (long long)v;
    if (low >= n - 1) {
        *lo = *hi = n - 1;
        *l = (acc_t)0;
    } else {
        *lo = low;
        *hi = low + 1;
        *l = v - (acc_t)low;
    }
}

// The four pixels and weights of a sample at (y, x); false more than a pixel outside.
__device__ __forceinline__ bool rt_roi_taps(acc_t y, acc_t x, long long height, long long width,
                                            long long* at, acc_t* wt) {
    if (!(y >= (acc_t)-1 && y <= (acc_t)height && x >= (acc_t)-1 && x <= (acc_t)width)) {
        return false;
    }
    long long y_lo, y_hi, x_lo, x_hi;
    acc_t ly, lx;
    rt_roi_axis(y, height, &y_lo, &y_hi, &ly);
    rt_roi_axis(x, width, &x_lo, &x_hi, &lx);
    const acc_t hy = (acc_t)1 - ly, hx = (acc_t)1 - lx;
    at[0] = y_lo * width + x_lo;
    at[1] = y_lo * width + x_hi;
    at[2] = y_hi * width + x_lo;
    at[3] = y_hi * width + x_hi;
    wt[0] = hy * hx;
    wt[1] = hy * lx;
    wt[2] = ly * hx;
    wt[3] = ly * lx;
    return true;
}

// Output o's box r, channel c and bin (i, j).
__device__ __forceinline__ void rt_roi_output(long long o, const RtRoiPool& q, long long* r,
                                              long long* c, long long* i, long long* j) {
    *j = o % q.pooled_w;
    long long t = o / q.pooled_w;
    *i = t % q.pooled_h;
    t /= q.pooled_h;
    *c = t % q.channels;
    *r = t / q.channels;
}

// Calls f(at, wt) with the four pixels and weights of each sample of bin (i, j) of box b.
template <typename F>
__device__ __forceinline__ void rt_align_samples(const RtAlignBox& b, const RtRoiPool& q,
                                                 long long i, long long j, F f) {
    const acc_t top = b.y0 + (acc_t)i * b.bin_h, left = b.x0 + (acc_t)j * b.bin_w;
    for (long long iy = 0; iy < b.grid_h; ++iy) {
        const acc_t y = top + ((acc_t)iy + (acc_t)0.5) * b.bin_h / (acc_t)b.grid_h;
        for (long long ix = 0; ix < b.grid_w; ++ix) {
            const acc_t x = left + ((acc_t)ix + (acc_t)0.5) * b.bin_w / (acc_t)b.grid_w;
            long long at[4];
            acc_t wt[4];
            if (rt_roi_taps(y, x, q.height, q.width, at, wt)) f(at, wt);
        }
    }
}

KERNEL(roi_align)(scalar_t* out, const scalar_t* x, const scalar_t* rois, RtRoiAlign p,
                  long long total) {
    RT_GRID_LOOP(o, total) {
        long long r, c, i, j;
        rt_roi_output(o, p.pool, &r, &c, &i, &j);
        const RtAlignBox b = rt_align_box(rois, p, r);
        acc_t sum = (acc_t)0;
        if (b.image >= 0) {
            const scalar_t* plane = x + (b.image * p.pool.channels + c) * p.pool.height *
                                            p.pool.width;
            rt_align_samples(b, p.pool, i, j, [&](const long long* at, const acc_t* wt) {
                sum += wt[0] * rt_to_acc(plane[at[0]]) + wt[1] * rt_to_acc(plane[at[1]]) +
                       wt[2] * rt_to_acc(plane[at[2]]) + wt[3] * rt_to_acc(plane[at[3]]);
            });
        }
        out[o] = rt_from_acc(sum / b.count);
    }
}

KERNEL(roi_align_backward)(acc_t* gin, const scalar_t* g, const scalar_t* rois, RtRoiAlign p,
                           long long total) {
    RT_GRID_LOOP(o, total) {
        long long r, c, i, j;
        rt_roi_output(o, p.pool, &r, &c, &i, &j);
        const RtAlignBox b = rt_align_box(rois, p, r);
        if (b.image < 0) continue;
        const acc_t share = rt_to_acc(g[o]) / b.count;
        acc_t* plane = gin + (b.image * p.pool.channels + c) * p.pool.height * p.pool.width;
        rt_align_samples(b, p.pool, i, j, [&](const long long* at, const acc_t* wt) {
            for (int k = 0; k < 4; ++k) atomicAdd(plane + at[k], share * wt[k]);
        });
    }
}

// ---- nms ----------------------------------------------------------------------------------

__device__ __forceinline__ acc_t rt_box_iou(const scalar_t* a, const scalar_t* b) {
    const acc_t ax1 = rt_to_acc(a[0]), ay1 = rt_to_acc(a[1]), ax2 = rt_to_acc(a[2]),
                ay2 = rt_to_acc(a[3]);
    const acc_t bx1 = rt_to_acc(b[0]), by1 = rt_to_acc(b[1]), bx2 = rt_to_acc(b[2]),
                by2 = rt_to_acc(b[3]);
    const acc_t left = ax1 > bx1 ? ax1 : bx1, right = ax2 < bx2 ? ax2 : bx2;
    const acc_t top = ay1 > by1 ? ay1 : by1, bottom = ay2 < by2 ? ay2 : by2;
    acc_t w = right - left, h = bottom - top;
    w = w > (acc_t)0 ? w : (acc_t)0;
    h = h > (acc_t)0 ? h : (acc_t)0;
    const acc_t inter = w * h;
    const acc_t area_a = (ax2 - ax1) * (ay2 - ay1), area_b = (bx2 - bx1) * (by2 - by1);
    return inter / (area_a + area_b - inter);
}

KERNEL(nms_mask)(unsigned long long* mask, const scalar_t* boxes, long long n, long long words,
                 double iou_threshold, long long total) {
    RT_GRID_LOOP(o, total) {
        const long long i = o / words, w = o % words;
        unsigned long long bits = 0;
        const long long end = (w + 1) * 64 < n ? (w + 1) * 64 : n;
        for (long long j = w * 64 > i + 1 ? w * 64 : i + 1; j < end; ++j) {
            if ((double)rt_box_iou(boxes + i * 4, boxes + j * 4) > iou_threshold) {
                bits |= 1ULL << (j - w * 64);
            }
        }
        mask[o] = bits;
    }
}
