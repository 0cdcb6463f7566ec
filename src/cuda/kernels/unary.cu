// Unary ops, one kernel per `UnaryOp` (src/backend/op.rs gives each variant's CPU formula;
// these are the same formulas, in the same order of operations). The output is
// contiguous; the input is read through its view (for the in-place forms, the output
// itself: each element is read by the thread that then writes it):
//   NAME_<dtype>(out, in, n, ndim, sizes, in_view, p0, p1)
// p0 and p1 carry the op's parameters (`UnaryOp::params`). The numeric ops are defined for
// every numeric dtype, the float ones for the float dtypes (16-bit types compute in float).

// A parameter as the arithmetic type: integer types saturate (and take NaN as 0), as Rust's
// `as` does on the CPU.
__device__ __forceinline__ acc_t rt_param(double v) {
#if RT_FLOAT
    return (acc_t)v;
#else
    if (v != v) return (acc_t)0;
    if (v <= (double)rt_lowest()) return rt_lowest();
    if (v >= (double)rt_highest()) return rt_highest();
    return (acc_t)v;
#endif
}

#define RT_UNARY(NAME, EXPR)                                                                   \
    KERNEL(NAME)(scalar_t* out, const scalar_t* in, long long n, int ndim, Dims sizes,         \
                 RtView iv, double p0d, double p1d) {                                          \
        const acc_t p0 = rt_param(p0d);                                                        \
        const acc_t p1 = rt_param(p1d);                                                        \
        (void)p0;                                                                              \
        (void)p1;                                                                              \
        RT_GRID_LOOP(i, n) {                                                                   \
            const acc_t x = rt_load(in, rt_offset(i, ndim, sizes, iv));                        \
            rt_store(out, i, (EXPR));                                                          \
        }                                                                                      \
    }

#define ZERO ((acc_t)0)
#define ONE ((acc_t)1)

#if RT_FLOAT
#define RT_ROUNDING(f) f(x)
#else
#define RT_ROUNDING(f) x
#endif

// Numeric ops.
RT_UNARY(neg, (acc_t)(ZERO - x))
RT_UNARY(abs, x < ZERO ? (acc_t)(ZERO - x) : x)
// 0 also for NaN and -0.0, as PyTorch.
RT_UNARY(sign, x > ZERO ? ONE : (x < ZERO ? (acc_t)(ZERO - ONE) : ZERO))
RT_UNARY(floor, RT_ROUNDING(rt_floor))
RT_UNARY(ceil, RT_ROUNDING(rt_ceil))
RT_UNARY(round, RT_ROUNDING(rt_round))
RT_UNARY(trunc, RT_ROUNDING(rt_trunc))
RT_UNARY(relu, (x > ZERO || rt_isnan(x)) ? x : ZERO)
// Bounds in turn (the upper one wins when lo > hi); NaN stays NaN.
RT_UNARY(clamp, rt_isnan(x) ? x : ((x < p0 ? p0 : x) > p1 ? p1 : (x < p0 ? p0 : x)))

#if RT_FLOAT
#define RT_HALF_C ((acc_t)0.5)
#define RT_FRAC_1_SQRT_2 ((acc_t)0.70710678118654752440)
#define RT_SQRT_2_OVER_PI ((acc_t)0.79788456080286535588)
RT_UNARY(exp, rt_exp(x))
RT_UNARY(log, rt_log(x))
RT_UNARY(log1p, rt_log1p(x))
RT_UNARY(expm1, rt_expm1(x))
RT_UNARY(sqrt, rt_sqrt(x))
RT_UNARY(rsqrt, ONE / rt_sqrt(x))
RT_UNARY(sin, rt_sin(x))
RT_UNARY(cos, rt_cos(x))
RT_UNARY(tan, rt_tan(x))
RT_UNARY(asin, rt_asin(x))
RT_UNARY(acos, rt_acos(x))
RT_UNARY(atan, rt_atan(x))
RT_UNARY(sinh, rt_sinh(x))
RT_UNARY(cosh, rt_cosh(x))
RT_UNARY(asinh, rt_asinh(x))
RT_UNARY(acosh, rt_acosh(x))
RT_UNARY(atanh, rt_atanh(x))
RT_UNARY(log2, rt_log2(x))
RT_UNARY(log10, rt_log10(x))
RT_UNARY(exp2, rt_exp2(x))
RT_UNARY(lgamma, rt_lgamma(x))
RT_UNARY(digamma, rt_digamma(x))
RT_UNARY(tanh, rt_tanh(x))
RT_UNARY(sigmoid, ONE / (ONE + rt_exp(-x)))
RT_UNARY(erf, rt_erf(x))
RT_UNARY(reciprocal, ONE / x)
RT_UNARY(cube, x * x * x)
RT_UNARY(gelu, RT_HALF_C * x * (ONE + rt_erf(x * RT_FRAC_1_SQRT_2)))
RT_UNARY(gelu_tanh,
         RT_HALF_C * x * (ONE + rt_tanh(RT_SQRT_2_OVER_PI * (x + (acc_t)0.044715 * x * x * x))))
RT_UNARY(silu, x / (ONE + rt_exp(-x)))
// p0 = beta, p1 = threshold.
RT_UNARY(softplus, x * p0 > p1 ? x : rt_log1p(rt_exp(x * p0)) / p0)
// p0 = negative slope.
RT_UNARY(leaky_relu, x > ZERO ? x : x * p0)
// p0 = alpha.
RT_UNARY(elu, x > ZERO ? x : p0 * rt_expm1(x))
// p0 = n (≥ 1).
RT_UNARY(polygamma, rt_polygamma(x, p0))
#endif
