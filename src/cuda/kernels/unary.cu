// Elementwise unary ops on contiguous buffers: NAME_<dtype>(out, x, n). (Strided inputs are
// made contiguous first by the gather kernel.) Formulas follow the CPU kernels in
// src/ops/unary.rs, so results agree to rounding.

__device__ __forceinline__ acc_t rt_one() { return static_cast<acc_t>(1); }

__device__ __forceinline__ acc_t rt_neg(acc_t x) { return -x; }
__device__ __forceinline__ acc_t rt_absop(acc_t x) { return rt_abs(x); }
__device__ __forceinline__ acc_t rt_expop(acc_t x) { return rt_exp(x); }
__device__ __forceinline__ acc_t rt_logop(acc_t x) { return rt_log(x); }
__device__ __forceinline__ acc_t rt_sqrtop(acc_t x) { return rt_sqrt(x); }
__device__ __forceinline__ acc_t rt_rsqrt(acc_t x) { return rt_one() / rt_sqrt(x); }
__device__ __forceinline__ acc_t rt_sinop(acc_t x) { return rt_sin(x); }
__device__ __forceinline__ acc_t rt_cosop(acc_t x) { return rt_cos(x); }
__device__ __forceinline__ acc_t rt_tanhop(acc_t x) { return rt_tanh(x); }
__device__ __forceinline__ acc_t rt_sigmoid(acc_t x) { return rt_one() / (rt_one() + rt_exp(-x)); }
// relu keeps NaN, as PyTorch's does.
__device__ __forceinline__ acc_t rt_relu(acc_t x) {
    return (x > static_cast<acc_t>(0) || rt_isnan(x)) ? x : static_cast<acc_t>(0);
}
// gelu, exact (erf) form: x/2 * (1 + erf(x / sqrt(2))).
__device__ __forceinline__ acc_t rt_gelu(acc_t x) {
    const acc_t k = static_cast<acc_t>(0.70710678118654752440);  // 1/sqrt(2)
    return static_cast<acc_t>(0.5) * x * (rt_one() + rt_erf(x * k));
}
__device__ __forceinline__ acc_t rt_silu(acc_t x) { return x / (rt_one() + rt_exp(-x)); }

#define RT_UNARY(NAME, FN)                                                  \
    KERNEL(NAME)(scalar_t* out, const scalar_t* x, long long n) {           \
        RT_GRID_LOOP(i, n) { rt_store(out, i, FN(rt_load(x, i))); }         \
    }

RT_UNARY(neg, rt_neg)
RT_UNARY(abs, rt_absop)
RT_UNARY(exp, rt_expop)
RT_UNARY(log, rt_logop)
RT_UNARY(sqrt, rt_sqrtop)
RT_UNARY(rsqrt, rt_rsqrt)
RT_UNARY(sin, rt_sinop)
RT_UNARY(cos, rt_cosop)
RT_UNARY(tanh, rt_tanhop)
RT_UNARY(sigmoid, rt_sigmoid)
RT_UNARY(relu, rt_relu)
RT_UNARY(gelu, rt_gelu)
RT_UNARY(silu, rt_silu)

// softplus(x) = log1p(exp(beta x)) / beta, or x where beta x > threshold.
KERNEL(softplus)(scalar_t* out, const scalar_t* x, long long n, double beta, double threshold) {
    const acc_t b = static_cast<acc_t>(beta);
    const acc_t t = static_cast<acc_t>(threshold);
    RT_GRID_LOOP(i, n) {
        const acc_t v = rt_load(x, i);
        rt_store(out, i, v * b > t ? v : rt_log1p(rt_exp(v * b)) / b);
    }
}
