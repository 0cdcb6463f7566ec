// Sliding windows over the trailing three spatial dims of an [n, c, z, y, x] tensor (fewer
// spatial dims arrive with leading dims of size 1): im2col / col2im and max / average
// pooling, with the CPU backend's semantics (src/cpu/window.rs). One thread per element of
// the result; the adjoints (col2im, avg_pool_backward) gather over the windows that cover
// each input element instead of scattering with atomics, so they are deterministic and sum
// in the CPU's order (output positions ascending).
//
//   im2col(out, x, total, channels, w, xv)
//       out [c*K, n, L] (contiguous, K = prod kernel, L = prod output: the batch inside each
//       row block, so one product covers the whole batch) from x, read through
//       xv = (strides n, c, z, y, x; offset); 0 where the window is in the padding
//   col2im(out, cols, total, channels, w, cv)
//       out [n, c, *input] (contiguous), the sum of cols (strides n, row, column in cv) over
//       every (window position, output position) pair that lands on the element
//   max_pool(out, idx, x, total, channels, w, xv)
//       out [n, c, *output]: each window's maximum (NaN wins: the last one; the first of ties) and its flat
//       index within the input plane in idx (0 and -1 for a window wholly in the padding)
//   fractional_max_pool(out, idx, x, total, channels, w, xv, starts)    (floats)
//       as max_pool over windows of w.k positions (no padding) whose first positions are
//       per plane: plane p's out[0] + out[1] + out[2] entries of starts from p times that
//   max_pool_backward(out, g, idx, total, channels, w, gv)
//       out [n, c, *input]: the sum of g (read through gv) over the outputs whose window
//       holds the element and whose argmax (idx, contiguous [n, c, *output]) it is
//   avg_pool(out, x, total, channels, w, xv, count_include_pad, has_override, divisor_override)
//       out [n, c, *output]: each window's sum (in acc_t) over its divisor
//   avg_pool_backward(out, g, total, channels, w, gv, count_include_pad, has_override,
//                     divisor_override)
//       out [n, c, *input]: the sum of g / divisor over the outputs whose window holds the
//       element, g read through gv (strides n, c, z, y, x of the [n, c, *output] gradient)
//   resample_axis(out, x, start, len, weights, a, total)    (floats)
//       one axis of a separable resampling (ResampleAxis on the Rust side): out [outer,
//       output, inner] from the contiguous x [outer, input, inner], output position o the
//       sum over j < len[o] of weights[o*taps + j] * x[start[o] + j], in acc_t
//   resample_fixed(out, x, start, len, weights, a, total)    (uint8 only)
//       the same in PyTorch's uint8 fixed point: int16 weights, the int32 sum plus
//       2^(bits-1) shifted right by bits and clamped to [0, 255]
//
// `total` is the result's element count and `channels` its c (c*K rows for col2im's input).

// The windows of the three spatial dims (`WindowArgs` on the Rust side). Output position o
// of dim d covers o*stride - padding + k*dilation for k < kernel, or with `adaptive`
// floor(o*in/out) .. ceil((o+1)*in/out).
struct RtWindow {
    long long in[3];
    long long out[3];
    long long k[3];
    long long stride[3];
    long long pad[3];
    long long dil[3];
    long long adaptive;
};

// The window of output position o along dim d: first input position (negative in the
// padding), step and number of positions.
__device__ __forceinline__ void rt_window(const RtWindow& w, int d, long long o, long long* start,
                                          long long* step, long long* len) {
    if (w.adaptive) {
        const long long s = o * w.in[d] / w.out[d];
        const long long e = ((o + 1) * w.in[d] + w.out[d] - 1) / w.out[d];
        *start = s;
        *step = 1;
        *len = e - s;
    } else {
        *start = o * w.stride[d] - w.pad[d];
        *step = w.dil[d];
        *len = w.k[d];
    }
}

__device__ __forceinline__ bool rt_inside(long long v, long long n) { return v >= 0 && v < n; }

// The spatial coordinates of flat position i over sizes s[0..3).
__device__ __forceinline__ void rt_coords3(long long i, const long long* s, long long* c) {
    c[2] = i % s[2];
    i /= s[2];
    c[1] = i % s[1];
    c[0] = i / s[1];
}

// Offset of plane p (= batch * channels + channel) in view v.
__device__ __forceinline__ long long rt_plane(long long p, long long channels, const RtView& v) {
    return v.offset + (p / channels) * v.strides.v[0] + (p % channels) * v.strides.v[1];
}

// PyTorch's divisor of output o's window (src/cpu/window.rs `divisor`): the window clipped
// to the padded input with count_include_pad, else to the input; adaptive windows are whole.
__device__ __forceinline__ acc_t rt_divisor(const RtWindow& w, const long long* o,
                                            int count_include_pad, int has_override,
                                            long long divisor_override) {
    if (has_override) return (acc_t)divisor_override;
    long long padded = 1;
    long long valid = 1;
#pragma unroll
    for (int d = 0; d < 3; ++d) {
        long long start, step, len;
        rt_window(w, d, o[d], &start, &step, &len);
        if (w.adaptive) {
            padded *= len;
            valid *= len;
            continue;
        }
        long long end = start + (len - 1) * step + 1;
        if (end > w.in[d] + w.pad[d]) end = w.in[d] + w.pad[d];
        const long long p = end - start;
        const long long v = (end < w.in[d] ? end : w.in[d]) - (start > 0 ? start : 0);
        padded *= p > 0 ? p : 0;
        valid *= v > 0 ? v : 0;
    }
    return (acc_t)(count_include_pad ? padded : valid);
}

// The output positions along dim d whose window holds input position i, in ascending order:
// calls f(o, k) with k the window position. Non-adaptive: o*stride = i + pad - k*dil for
// k from kernel-1 down to 0 (o ascends as k descends). Adaptive: o in
// [floor(i*out/in), ceil((i+1)*out/in)), exactly the windows that contain i.
template <typename F>
__device__ __forceinline__ void rt_covering(const RtWindow& w, int d, long long i, F f) {
    if (w.adaptive) {
        const long long o0 = i * w.out[d] / w.in[d];
        const long long o1 = ((i + 1) * w.out[d] + w.in[d] - 1) / w.in[d];
        for (long long o = o0; o < o1; ++o) f(o, 0);
        return;
    }
    for (long long k = w.k[d] - 1; k >= 0; --k) {
        const long long t = i + w.pad[d] - k * w.dil[d];
        if (t < 0) continue;
        const long long o = t / w.stride[d];
        if (o * w.stride[d] == t && o < w.out[d]) f(o, k);
    }
}

KERNEL(im2col)(scalar_t* out, const scalar_t* x, long long total, long long channels, RtWindow w,
               RtView xv) {
    const long long L = w.out[0] * w.out[1] * w.out[2];
    const long long K = w.k[0] * w.k[1] * w.k[2];
    RT_GRID_LOOP(i, total) {
        const long long r = i / L;
        const long long n = total / (channels * K * L);
        const long long ck = r / n;
        long long o[3], k[3];
        rt_coords3(i - r * L, w.out, o);
        rt_coords3(ck % K, w.k, k);
        scalar_t v{};
        bool in = true;
        long long off = rt_plane((r - ck * n) * channels + ck / K, channels, xv);
#pragma unroll
        for (int d = 0; d < 3; ++d) {
            const long long p = o[d] * w.stride[d] - w.pad[d] + k[d] * w.dil[d];
            in = in && rt_inside(p, w.in[d]);
            off += p * xv.strides.v[2 + d];
        }
        if (in) v = x[off];
        out[i] = v;
    }
}

// The sums and maxima: numeric dtypes (col2im, max_pool), floats (the averages).
#if !RT_BOOL
KERNEL(col2im)(scalar_t* out, const scalar_t* cols, long long total, long long channels,
               RtWindow w, RtView cv) {
    const long long P = w.in[0] * w.in[1] * w.in[2];
    const long long K = w.k[0] * w.k[1] * w.k[2];
    RT_GRID_LOOP(i, total) {
        const long long p = i / P;
        long long c[3];
        rt_coords3(i - p * P, w.in, c);
        // Row (channel * K + k) of batch p / channels.
        const long long base = cv.offset + (p / channels) * cv.strides.v[0] +
                               (p % channels) * K * cv.strides.v[1];
        acc_t acc = 0;
        rt_covering(w, 0, c[0], [&](long long oz, long long kz) {
            rt_covering(w, 1, c[1], [&](long long oy, long long ky) {
                rt_covering(w, 2, c[2], [&](long long ox, long long kx) {
                    const long long row = (kz * w.k[1] + ky) * w.k[2] + kx;
                    const long long col = (oz * w.out[1] + oy) * w.out[2] + ox;
                    acc = acc + rt_load(cols, base + row * cv.strides.v[1] + col * cv.strides.v[2]);
                });
            });
        });
        rt_store(out, i, acc);
    }
}

// A window's running maximum and its flat index in the input plane, the positions taken in
// scan order: the first wins ties, the last NaN over everything (PyTorch's
// `val > max || isnan(val)`); a window with no position keeps 0 and -1.
struct RtArgmax {
    scalar_t best{};
    acc_t value = 0;
    long long at = -1;
    __device__ __forceinline__ void take(const scalar_t* x, long long base, const RtView& xv,
                                         const RtWindow& w, long long z, long long y,
                                         long long xx) {
        const scalar_t v =
            x[base + z * xv.strides.v[2] + y * xv.strides.v[3] + xx * xv.strides.v[4]];
        const acc_t va = rt_to_acc(v);
        if (at < 0 || va > value || rt_isnan(va)) {
            best = v;
            value = va;
            at = (z * w.in[1] + y) * w.in[2] + xx;
        }
    }
};

KERNEL(max_pool)(scalar_t* out, long long* idx, const scalar_t* x, long long total,
                 long long channels, RtWindow w, RtView xv) {
    const long long L = w.out[0] * w.out[1] * w.out[2];
    RT_GRID_LOOP(i, total) {
        const long long p = i / L;
        long long o[3], s[3], st[3], n[3];
        rt_coords3(i - p * L, w.out, o);
#pragma unroll
        for (int d = 0; d < 3; ++d) rt_window(w, d, o[d], &s[d], &st[d], &n[d]);
        const long long base = rt_plane(p, channels, xv);
        RtArgmax m;
        for (long long a = 0; a < n[0]; ++a) {
            const long long z = s[0] + a * st[0];
            if (!rt_inside(z, w.in[0])) continue;
            for (long long b = 0; b < n[1]; ++b) {
                const long long y = s[1] + b * st[1];
                if (!rt_inside(y, w.in[1])) continue;
                for (long long e = 0; e < n[2]; ++e) {
                    const long long xx = s[2] + e * st[2];
                    if (rt_inside(xx, w.in[2])) m.take(x, base, xv, w, z, y, xx);
                }
            }
        }
        out[i] = m.best;
        idx[i] = m.at;
    }
}

#endif  // !RT_BOOL

#if RT_FLOAT
KERNEL(fractional_max_pool)(scalar_t* out, long long* idx, const scalar_t* x, long long total,
                            long long channels, RtWindow w, RtView xv, const long long* starts) {
    const long long L = w.out[0] * w.out[1] * w.out[2];
    const long long per = w.out[0] + w.out[1] + w.out[2];
    RT_GRID_LOOP(i, total) {
        const long long p = i / L;
        long long o[3];
        rt_coords3(i - p * L, w.out, o);
        const long long* first = starts + p * per;
        const long long z0 = first[o[0]], y0 = first[w.out[0] + o[1]];
        const long long x0 = first[w.out[0] + w.out[1] + o[2]];
        const long long base = rt_plane(p, channels, xv);
        RtArgmax m;
        for (long long z = z0; z < z0 + w.k[0]; ++z)
            for (long long y = y0; y < y0 + w.k[1]; ++y)
                for (long long xx = x0; xx < x0 + w.k[2]; ++xx) m.take(x, base, xv, w, z, y, xx);
        out[i] = m.best;
        idx[i] = m.at;
    }
}

KERNEL(avg_pool)(scalar_t* out, const scalar_t* x, long long total, long long channels,
                 RtWindow w, RtView xv, int count_include_pad, int has_override,
                 long long divisor_override) {
    const long long L = w.out[0] * w.out[1] * w.out[2];
    RT_GRID_LOOP(i, total) {
        const long long p = i / L;
        long long o[3], s[3], st[3], n[3];
        rt_coords3(i - p * L, w.out, o);
#pragma unroll
        for (int d = 0; d < 3; ++d) rt_window(w, d, o[d], &s[d], &st[d], &n[d]);
        const long long base = rt_plane(p, channels, xv);
        acc_t acc = 0;
        for (long long a = 0; a < n[0]; ++a) {
            const long long z = s[0] + a * st[0];
            if (!rt_inside(z, w.in[0])) continue;
            for (long long b = 0; b < n[1]; ++b) {
                const long long y = s[1] + b * st[1];
                if (!rt_inside(y, w.in[1])) continue;
                for (long long e = 0; e < n[2]; ++e) {
                    const long long xx = s[2] + e * st[2];
                    if (!rt_inside(xx, w.in[2])) continue;
                    acc = acc + rt_load(x, base + z * xv.strides.v[2] + y * xv.strides.v[3] +
                                               xx * xv.strides.v[4]);
                }
            }
        }
        rt_store(out, i, acc / rt_divisor(w, o, count_include_pad, has_override, divisor_override));
    }
}

KERNEL(max_pool_backward)(scalar_t* out, const scalar_t* g, const long long* idx,
                          long long total, long long channels, RtWindow w, RtView gv) {
    const long long P = w.in[0] * w.in[1] * w.in[2];
    const long long L = w.out[0] * w.out[1] * w.out[2];
    RT_GRID_LOOP(i, total) {
        const long long p = i / P;
        const long long flat = i - p * P;
        long long c[3];
        rt_coords3(flat, w.in, c);
        const long long base = rt_plane(p, channels, gv);
        acc_t acc = 0;
        rt_covering(w, 0, c[0], [&](long long oz, long long) {
            rt_covering(w, 1, c[1], [&](long long oy, long long) {
                rt_covering(w, 2, c[2], [&](long long ox, long long) {
                    if (idx[p * L + (oz * w.out[1] + oy) * w.out[2] + ox] != flat) return;
                    acc = acc + rt_load(g, base + oz * gv.strides.v[2] + oy * gv.strides.v[3] +
                                               ox * gv.strides.v[4]);
                });
            });
        });
        rt_store(out, i, acc);
    }
}

KERNEL(avg_pool_backward)(scalar_t* out, const scalar_t* g, long long total, long long channels,
                          RtWindow w, RtView gv, int count_include_pad, int has_override,
                          long long divisor_override) {
    const long long P = w.in[0] * w.in[1] * w.in[2];
    RT_GRID_LOOP(i, total) {
        const long long p = i / P;
        long long c[3];
        rt_coords3(i - p * P, w.in, c);
        const long long base = rt_plane(p, channels, gv);
        acc_t acc = 0;
        rt_covering(w, 0, c[0], [&](long long oz, long long) {
            rt_covering(w, 1, c[1], [&](long long oy, long long) {
                rt_covering(w, 2, c[2], [&](long long ox, long long) {
                    const long long o[3] = {oz, oy, ox};
                    const acc_t v = rt_load(g, base + oz * gv.strides.v[2] +
                                                   oy * gv.strides.v[3] + ox * gv.strides.v[4]);
                    acc = acc + v / rt_divisor(w, o, count_include_pad, has_override,
                                               divisor_override);
                });
            });
        });
        rt_store(out, i, acc);
    }
}
#endif  // RT_FLOAT

// ---- resampling -----------------------------------------------------------------------------

// The sizes of one resampling axis (`ResampleArgs` on the Rust side).
struct RtResample {
    long long input;
    long long inner;
    long long output;
    long long taps;
    long long bits;
};

// Where output element i's sources start in x, and its position o along the axis.
__device__ __forceinline__ long long rt_resample_src(const RtResample& a, const long long* start,
                                                     long long i, long long* o) {
    const long long c = i % a.inner;
    *o = (i / a.inner) % a.output;
    const long long b = i / (a.inner * a.output);
    return (b * a.input + start[*o]) * a.inner + c;
}

#if RT_FLOAT
KERNEL(resample_axis)(scalar_t* out, const scalar_t* x, const long long* start,
                      const long long* len, const double* weights, RtResample a,
                      long long total) {
    RT_GRID_LOOP(i, total) {
        long long o;
        const scalar_t* src = x + rt_resample_src(a, start, i, &o);
        const double* w = weights + o * a.taps;
        acc_t acc = 0;
        for (long long j = 0; j < len[o]; ++j) acc = acc + (acc_t)w[j] * rt_load(src, j * a.inner);
        rt_store(out, i, acc);
    }
}
#endif  // RT_FLOAT

#if defined(RT_DTYPE_U8)
KERNEL(resample_fixed)(scalar_t* out, const scalar_t* x, const long long* start,
                       const long long* len, const short* weights, RtResample a,
                       long long total) {
    RT_GRID_LOOP(i, total) {
        long long o;
        const scalar_t* src = x + rt_resample_src(a, start, i, &o);
        const short* w = weights + o * a.taps;
        int acc = 1 << (a.bits - 1);
        for (long long j = 0; j < len[o]; ++j) acc += (int)w[j] * (int)src[j * a.inner];
        acc >>= a.bits;
        out[i] = (scalar_t)(acc < 0 ? 0 : (acc > 255 ? 255 : acc));
    }
}
#endif  // RT_DTYPE_U8
