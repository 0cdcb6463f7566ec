// Region-of-interest kernels (torchvision's roi_pool), with the CPU backend's semantics
// (src/cpu/roi.rs). Instantiated for the float dtypes.
//
//   roi_pool(out, idx, x, rois, p, total)
//       out [rois, c, ph, pw]: the maximum of each box's bin per channel of the contiguous
//       input x [batch, c, h, w] (values > -FLT_MAX only, so NaNs never win; 0 for an empty
//       bin), idx its flat index in the input plane (-1 for none)
//   roi_pool_backward(gin, g, idx, rois, p, total)
//       gin [batch, c, h, w] (zeroed by the caller): each output's gradient g added at its
//       argmax, with atomic adds (boxes of one image overlap)
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

KERNEL(roi_pool_backward)(scalar_t* gin, const scalar_t* g, const long long* idx,
                          const scalar_t* rois, RtRoiPool p, long long total) {
    RT_GRID_LOOP(o, total) {
        const long long at = idx[o];
        if (at < 0) continue;
        const long long c = (o / (p.pooled_h * p.pooled_w)) % p.channels;
        const long long r = o / (p.pooled_h * p.pooled_w * p.channels);
        const long long image = rt_roi_image(rois, p, r);
        if (image < 0) continue;
        rt_atomic_add(gin + (image * p.channels + c) * p.height * p.width + at, rt_to_acc(g[o]));
    }
}
