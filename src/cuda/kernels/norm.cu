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
// The two reductions take one block per channel (grid-stride over channels; blockDim.x a
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
