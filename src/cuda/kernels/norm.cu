// Batch-norm kernels over a contiguous [n, c, s] tensor (src/cuda/norm.rs, the CPU's
// src/cpu/norm.rs): channel ch is the n runs x[(i * c + ch) * s + j], j < s. Per-channel
// values (statistics, sums, coefficients) are acc_t: float for the 16-bit types and float32,
// double for float64.
//
//   channel_stats(mean, var, x, n, c, s)
//       the mean, then the biased variance as the mean of squared deviations from it (two
//       passes, as the CPU).
//   channel_grad_sums(sum_g, sum_gx, g, x, mean, n, c, s)
//       sum of g, and sum of g * (x - mean).
//   channel_affine(out, x, center, a, b, y, d, n, c, s)
//       out = (x - center) * a + b, plus y * d when y is not null; one thread per element.
//
//
// Layer-norm kernels over the contiguous rows of len elements (the CPU's layer_norm in
// src/cpu/norm.rs); w and b are len long (null when absent), mean and rstd one per row:
//
//   layer_norm_rows(out, mean, rstd, x, w, b, rows, len, eps)
//       the row's mean, its biased variance from the squared deviations (two passes), then
//       out = (x - mean) * rstd * w + b with rstd = 1 / sqrt(var + eps) (in double).
//   layer_norm_backward_rows(gx, g, x, mean, rstd, w, rows, len)
//       gx = rstd * (g*w - sum(g*w)/len - xh * sum(g*w*xh)/len), xh = (x - mean) * rstd.
//   layer_norm_param_grads(gw, gb, g, x, mean, rstd, rows, len)
//       per column j: gw = sum over rows of g * xh, gb = sum of g. A block takes
//       cols = min(32, blockDim.x) columns and blockDim.x / cols row lanes that stride over
//       the rows and are summed in shared memory; blockDim.x a power of two.
//
// The two reductions, and the two row kernels, take one block per channel (row) (grid-stride over channels; blockDim.x a
// power of two no larger than RT_MAX_BLOCK) and sum in a block tree, so they agree with the
// CPU within rounding.

struct RtNormSum {
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const { return a + b; }
};

// Element k (< n * s) of channel ch.
__device__ __forceinline__ long long rt_channel_at(long long k, long long ch, long long c,
                                                   long long s) {
    const long long i = k / s;
    return (i * c + ch) * s + (k - i * s);
}

KERNEL(channel_stats)(acc_t* mean, acc_t* var, const scalar_t* x, long long n, long long c,
                      long long s) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const long long m = n * s;
    for (long long ch = blockIdx.x; ch < c; ch += gridDim.x) {
        acc_t t = static_cast<acc_t>(0);
        for (long long k = threadIdx.x; k < m; k += blockDim.x) t += rt_load(x, rt_channel_at(k, ch, c, s));
        const acc_t mu = rt_block_reduce(t, smem, RtNormSum()) / static_cast<acc_t>(m);
        acc_t q = static_cast<acc_t>(0);
        for (long long k = threadIdx.x; k < m; k += blockDim.x) {
            const acc_t dv = rt_load(x, rt_channel_at(k, ch, c, s)) - mu;
            q += dv * dv;
        }
        q = rt_block_reduce(q, smem, RtNormSum());
        if (threadIdx.x == 0) {
            mean[ch] = mu;
            var[ch] = q / static_cast<acc_t>(m);
        }
    }
}

KERNEL(channel_grad_sums)(acc_t* sum_g, acc_t* sum_gx, const scalar_t* g, const scalar_t* x,
                          const acc_t* mean, long long n, long long c, long long s) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const long long m = n * s;
    for (long long ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const acc_t mu = mean[ch];
        acc_t t = static_cast<acc_t>(0), u = static_cast<acc_t>(0);
        for (long long k = threadIdx.x; k < m; k += blockDim.x) {
            const long long at = rt_channel_at(k, ch, c, s);
            const acc_t gv = rt_load(g, at);
            t += gv;
            u += gv * (rt_load(x, at) - mu);
        }
        t = rt_block_reduce(t, smem, RtNormSum());
        u = rt_block_reduce(u, smem, RtNormSum());
        if (threadIdx.x == 0) {
            sum_g[ch] = t;
            sum_gx[ch] = u;
        }
    }
}

KERNEL(channel_affine)(scalar_t* out, const scalar_t* x, const acc_t* center, const acc_t* a,
                       const acc_t* b, const scalar_t* y, const acc_t* d, long long n,
                       long long c, long long s) {
    const long long total = n * c * s;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long ch = (i / s) % c;
        acc_t v = (rt_load(x, i) - center[ch]) * a[ch] + b[ch];
        if (y != nullptr) v += rt_load(y, i) * d[ch];
        rt_store(out, i, v);
    }
}

KERNEL(layer_norm_rows)(scalar_t* out, acc_t* mean, acc_t* rstd, const scalar_t* x,
                        const scalar_t* w, const scalar_t* b, long long rows, long long len,
                        double eps) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* xr = x + r * len;
        acc_t t = static_cast<acc_t>(0);
        for (long long j = threadIdx.x; j < len; j += blockDim.x) t += rt_load(xr, j);
        const acc_t mu = rt_block_reduce(t, smem, RtNormSum()) / static_cast<acc_t>(len);
        acc_t q = static_cast<acc_t>(0);
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            const acc_t dv = rt_load(xr, j) - mu;
            q += dv * dv;
        }
        q = rt_block_reduce(q, smem, RtNormSum());
        const acc_t k = static_cast<acc_t>(
            1.0 / sqrt(static_cast<double>(q) / static_cast<double>(len) + eps));
        scalar_t* o = out + r * len;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            acc_t v = (rt_load(xr, j) - mu) * k;
            if (w != nullptr) v *= rt_load(w, j);
            if (b != nullptr) v += rt_load(b, j);
            rt_store(o, j, v);
        }
        if (threadIdx.x == 0) {
            mean[r] = mu;
            rstd[r] = k;
        }
    }
}

KERNEL(layer_norm_backward_rows)(scalar_t* gx, const scalar_t* g, const scalar_t* x,
                                 const acc_t* mean, const acc_t* rstd, const scalar_t* w,
                                 long long rows, long long len) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* xr = x + r * len;
        const scalar_t* gr = g + r * len;
        const acc_t mu = mean[r], k = rstd[r];
        acc_t a = static_cast<acc_t>(0), c = static_cast<acc_t>(0);
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            acc_t p = rt_load(gr, j);
            if (w != nullptr) p *= rt_load(w, j);
            a += p;
            c += p * (rt_load(xr, j) - mu);
        }
        a = rt_block_reduce(a, smem, RtNormSum()) / static_cast<acc_t>(len);
        c = rt_block_reduce(c, smem, RtNormSum()) * k * k / static_cast<acc_t>(len);
        scalar_t* o = gx + r * len;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            acc_t p = rt_load(gr, j);
            if (w != nullptr) p *= rt_load(w, j);
            rt_store(o, j, k * (p - a - (rt_load(xr, j) - mu) * c));
        }
    }
}

KERNEL(layer_norm_param_grads)(acc_t* gw, acc_t* gb, const scalar_t* g, const scalar_t* x,
                               const acc_t* mean, const acc_t* rstd, long long rows,
                               long long len) {
    __shared__ acc_t sw[RT_MAX_BLOCK];
    __shared__ acc_t sb[RT_MAX_BLOCK];
    const int cols = blockDim.x < 32 ? (int)blockDim.x : 32;
    const int col = threadIdx.x % cols, lane = threadIdx.x / cols, lanes = blockDim.x / cols;
    for (long long j0 = blockIdx.x * (long long)cols; j0 < len; j0 += gridDim.x * (long long)cols) {
        const long long j = j0 + col;
        acc_t tw = static_cast<acc_t>(0), tb = static_cast<acc_t>(0);
        if (j < len) {
            for (long long r = lane; r < rows; r += lanes) {
                const acc_t gv = rt_load(g, r * len + j);
                tw += gv * (rt_load(x, r * len + j) - mean[r]) * rstd[r];
                tb += gv;
            }
        }
        __syncthreads();  // the previous columns' sums may still be read
        sw[threadIdx.x] = tw;
        sb[threadIdx.x] = tb;
        __syncthreads();
        if (lane == 0 && j < len) {
            for (int l = 1; l < lanes; ++l) {
                tw += sw[l * cols + col];
                tb += sb[l * cols + col];
            }
            gw[j] = tw;
            gb[j] = tb;
        }
    }
}
