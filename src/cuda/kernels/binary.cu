// Binary ops, one kernel per `BinaryOp` (src/backend/op.rs gives each variant's CPU formula;
// these are the same formulas), and `where`. The output is contiguous over the broadcast
// shape; each operand is read through its view, or is a number (bit 1 of `mode`: `a` is
// the scalar `as`, bit 2: `b` is `bs`):
//   NAME_<dtype>(out, a, b, n, ndim, sizes, a_view, b_view, as, bs, mode, err)
// Comparisons write bool (0/1 bytes). Integer floor division and remainder by zero, and
// integer powers with negative exponents, record an error in `err` (see common.cuh) and
// write 0.
//   where_<dtype>(out, cond, a, b, n, ndim, sizes, c_view, a_view, b_view, cs, as, bs, mode)
//       out[i] = cond ? a : b; mode bits 1, 2, 4: cond, a, b are scalars.
//   fused3_<dtype>(out, a, b, c, n, ndim, sizes, a_view, b_view, c_view, as, bs, cs, mode,
//                  op, value)    (floats)
//       addcmul (op 0), lerp (op 1; op 2: weight `value`) or add with alpha (op 3) with fused
//       multiply-adds, or GELU's backward (op 4; op 5: its tanh form) or SiLU's (op 6), a the
//       gradient and b the input; mode bits as where's.

#define RT_OPERANDS                                                                            \
    const acc_t x = (mode & 1) ? rt_scalar(as) : rt_load(a, rt_offset(i, ndim, sizes, av));   \
    const acc_t y = (mode & 2) ? rt_scalar(bs) : rt_load(b, rt_offset(i, ndim, sizes, bv));

#define RT_BINARY_SIGNATURE(NAME, OUT)                                                         \
    KERNEL(NAME)(OUT* out, const scalar_t* a, const scalar_t* b, long long n, int ndim,        \
                 Dims sizes, RtView av, RtView bv, RtScalar as, RtScalar bs, int mode,         \
                 RtError* err)

// The elements' loop; STORE writes element `i` from the operands `x` and `y`. When every
// operand is a number or dense over the one merged dim, each thread takes four elements a
// step (a block-stride apart, so a warp's accesses stay coalesced) and issues all their
// loads before it uses any: one element per thread left too few bytes in flight to reach
// the memory bandwidth. Other layouts go through the strided offsets.
#define RT_BINARY_LOOP(STORE)                                                                  \
    if (ndim == 1 && ((mode & 1) || av.strides.v[0] == 1) &&                                   \
        ((mode & 2) || bv.strides.v[0] == 1)) {                                                \
        const long long step = (long long)blockDim.x * gridDim.x;                              \
        for (long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x; i0 < n;          \
             i0 += 4 * step) {                                                                 \
            acc_t xs[4], ys[4];                                                                \
            _Pragma("unroll") for (int u = 0; u < 4; ++u) {                                    \
                const long long i = i0 + u * step;                                             \
                if (i < n) {                                                                   \
                    xs[u] = (mode & 1) ? rt_scalar(as) : rt_load(a, av.offset + i);            \
                    ys[u] = (mode & 2) ? rt_scalar(bs) : rt_load(b, bv.offset + i);            \
                }                                                                              \
            }                                                                                  \
            _Pragma("unroll") for (int u = 0; u < 4; ++u) {                                    \
                const long long i = i0 + u * step;                                             \
                if (i < n) {                                                                   \
                    const acc_t x = xs[u];                                                     \
                    const acc_t y = ys[u];                                                     \
                    STORE;                                                                     \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    } else {                                                                                   \
        RT_GRID_LOOP(i, n) {                                                                   \
            RT_OPERANDS                                                                        \
            STORE;                                                                             \
        }                                                                                      \
    }

// An op whose result has the operands' dtype.
#define RT_ARITH(NAME, EXPR)                                                                   \
    RT_BINARY_SIGNATURE(NAME, scalar_t) {                                                      \
        (void)err;                                                                             \
        RT_BINARY_LOOP(rt_store(out, i, (EXPR)))                                               \
    }

// A comparison: a bool result.
#define RT_COMPARE(NAME, EXPR)                                                                 \
    RT_BINARY_SIGNATURE(NAME, unsigned char) {                                                 \
        (void)err;                                                                             \
        RT_BINARY_LOOP(out[i] = (unsigned char)((EXPR) ? 1 : 0))                               \
    }

#if RT_FLOAT
// Python's float floor division, as the CPU's `Num::floor_div`.
__device__ __forceinline__ acc_t rt_floor_div(acc_t x, acc_t y) {
    if (y == (acc_t)0) return x / y;
    const acc_t m = rt_fmod(x, y);
    acc_t d = (x - m) / y;
    if (m != (acc_t)0 && ((y < (acc_t)0) != (m < (acc_t)0))) d -= (acc_t)1;
    if (d == (acc_t)0) {
        const acc_t q = x / y;
        return (q < (acc_t)0 || (q == (acc_t)0 && 1 / q < 0)) ? -(acc_t)0 : (acc_t)0;
    }
    acc_t f = rt_floor(d);
    if (d - f > (acc_t)0.5) f += (acc_t)1;
    return f;
}
// Python's modulo: the result takes the divisor's sign.
__device__ __forceinline__ acc_t rt_rem(acc_t x, acc_t y) {
    const acc_t r = rt_fmod(x, y);
    return (r != (acc_t)0 && ((r < (acc_t)0) != (y < (acc_t)0))) ? r + y : r;
}
#define RT_DIV_OP(x, y) ((x) / (y))
#define RT_FLOORDIV(x, y) rt_floor_div(x, y)
#define RT_REM(x, y) rt_rem(x, y)
#define RT_FMOD(x, y) rt_fmod(x, y)
#define RT_POW(x, y) rt_pow(x, y)
#define RT_ATAN2(x, y) rt_atan2(x, y)
#elif RT_INTEGRAL
// Integer arithmetic wraps, as the CPU's (and PyTorch's); the unsigned type holds the bits.
typedef unsigned long long rt_bits;
// Truncating division that wraps (MIN / -1 == MIN) instead of trapping.
__device__ __forceinline__ acc_t rt_div_trunc(acc_t x, acc_t y) {
#if RT_UNSIGNED
    return x / y;
#else
    if (y == (acc_t)-1) return (acc_t)((rt_bits)0 - (rt_bits)x);
    return x / y;
#endif
}
__device__ __forceinline__ acc_t rt_int_floor_div(acc_t x, acc_t y, RtError* err) {
    if (y == 0) {
        rt_fail(err, RT_ERR_ZERO_DIV, 0, 0, 0);
        return 0;
    }
    const acc_t q = rt_div_trunc(x, y);
    const acc_t r = (acc_t)((rt_bits)x - (rt_bits)q * (rt_bits)y);
    return (r != 0 && ((x < 0) != (y < 0))) ? (acc_t)(q - 1) : q;
}
__device__ __forceinline__ acc_t rt_int_rem(acc_t x, acc_t y, RtError* err) {
    if (y == 0) {
        rt_fail(err, RT_ERR_ZERO_DIV, 0, 0, 0);
        return 0;
    }
    const acc_t q = rt_div_trunc(x, y);
    const acc_t r = (acc_t)((rt_bits)x - (rt_bits)q * (rt_bits)y);
    return (r != 0 && ((r < 0) != (y < 0))) ? (acc_t)((rt_bits)r + (rt_bits)y) : r;
}
__device__ __forceinline__ acc_t rt_int_fmod(acc_t x, acc_t y, RtError* err) {
    if (y == 0) {
        rt_fail(err, RT_ERR_ZERO_DIV, 0, 0, 0);
        return 0;
    }
    const acc_t q = rt_div_trunc(x, y);
    return (acc_t)((rt_bits)x - (rt_bits)q * (rt_bits)y);
}
// A negative exponent (a tensor's: the op layer refuses a negative number) gives 1 for a
// base of 1, ±1 for -1 and 0 otherwise, as PyTorch's integer pow.
__device__ __forceinline__ acc_t rt_int_pow(acc_t x, acc_t y) {
    if (y < 0) {
        if (x == 1) return 1;
        if ((long long)x == -1) return (y & 1) ? x : (acc_t)1;
        return 0;
    }
    rt_bits base = (rt_bits)x, result = 1;
    unsigned long long e = (unsigned long long)y;
    while (e) {
        if (e & 1) result *= base;
        base *= base;
        e >>= 1;
    }
    return (acc_t)result;
}
// Integer true division is never launched (the op layer computes it in float); it is
// defined, as the CPU's `Num::div`, so every arithmetic op has every numeric dtype.
#define RT_DIV_OP(x, y) ((y) == 0 ? (acc_t)0 : rt_div_trunc(x, y))
#define RT_FLOORDIV(x, y) rt_int_floor_div(x, y, err)
#define RT_REM(x, y) rt_int_rem(x, y, err)
#define RT_FMOD(x, y) rt_int_fmod(x, y, err)
#define RT_POW(x, y) rt_int_pow(x, y)
// Integers are promoted to float by the op layer first; this form goes through double.
#define RT_ATAN2(x, y) (acc_t)rt_atan2((double)(x), (double)(y))
#endif

#if RT_FLOAT || RT_INTEGRAL
#if RT_INTEGRAL
#define RT_WRAP(e) (acc_t)(e)
#else
#define RT_WRAP(e) (e)
#endif
RT_ARITH(add, RT_WRAP(x + y))
RT_ARITH(sub, RT_WRAP(x - y))
RT_ARITH(mul, RT_WRAP(x * y))
// True division (integer operands are promoted to float by the op layer first).
RT_ARITH(div, RT_DIV_OP(x, y))
RT_ARITH(floor_divide, RT_FLOORDIV(x, y))
RT_ARITH(remainder, RT_REM(x, y))
RT_ARITH(fmod, RT_FMOD(x, y))
RT_ARITH(pow, RT_POW(x, y))
RT_ARITH(atan2, RT_ATAN2(x, y))
RT_ARITH(maximum, rt_max_nan(x, y))
RT_ARITH(minimum, rt_min_nan(x, y))
// relu's backward: the gradient x where y > 0.
RT_ARITH(threshold_backward, y > (acc_t)0 ? x : (acc_t)0)
#endif

RT_COMPARE(eq, x == y)
RT_COMPARE(ne, x != y)
RT_COMPARE(lt, x < y)
RT_COMPARE(le, x <= y)
RT_COMPARE(gt, x > y)
RT_COMPARE(ge, x >= y)

#if RT_INTEGRAL || RT_BOOL
RT_ARITH(bitwise_and, (acc_t)(x & y))
RT_ARITH(bitwise_or, (acc_t)(x | y))
RT_ARITH(bitwise_xor, (acc_t)(x ^ y))
#endif

#if RT_FLOAT
// addcmul (op 0: a + (value·b)·c) and lerp (op 1: a + c·(b − a) for |c| < 0.5, else
// b − (b − a)·(1 − c); op 2: the same with the weight `value`, c unread) and add with alpha
// (op 3: a + value·b, c unread), each product and sum one fused multiply-add, as PyTorch's
// kernels; GELU's backward (op 4, exact; op 5, tanh form: a·gelu'(b), c unread) and SiLU's
// (op 6: a·silu'(b), c unread).
KERNEL(fused3)(scalar_t* out, const scalar_t* a, const scalar_t* b, const scalar_t* c,
               long long n, int ndim, Dims sizes, RtView av, RtView bv, RtView cv, RtScalar as,
               RtScalar bs, RtScalar cs, int mode, int op, double value) {
    RT_GRID_LOOP(i, n) {
        const acc_t x = (mode & 1) ? rt_scalar(as) : rt_to_acc(a[rt_offset(i, ndim, sizes, av)]);
        const acc_t y = (mode & 2) ? rt_scalar(bs) : rt_to_acc(b[rt_offset(i, ndim, sizes, bv)]);
        const acc_t z = op >= 2     ? (acc_t)value
                        : (mode & 4) ? rt_scalar(cs)
                                     : rt_to_acc(c[rt_offset(i, ndim, sizes, cv)]);
        acc_t r;
        if (op == 0) {
            r = rt_fma((acc_t)value * y, z, x);
        } else if (op == 3) {
            r = rt_fma(z, y, x);
        } else if (op == 4) {
            // x·(Φ(y) + y·φ(y)): GELU's backward at y for the gradient x.
            const acc_t cdf = (acc_t)0.5 * ((acc_t)1 + rt_erf(y * (acc_t)0.70710678118654752440));
            const acc_t pdf = (acc_t)0.39894228040143267794 * rt_exp(y * y * (acc_t)-0.5);
            r = x * (cdf + y * pdf);
        } else if (op == 5) {
            // The same for GELU's tanh approximation, k = √(2/π), c = 0.044715.
            const acc_t k = (acc_t)0.79788456080286535588, c = (acc_t)0.044715;
            const acc_t y2 = y * y;
            const acc_t t = rt_tanh(k * (y + c * y2 * y));
            const acc_t left = (acc_t)0.5 * ((acc_t)1 + t);
            const acc_t inner = k * ((acc_t)1 + (acc_t)3 * c * y2);
            r = x * (left + (acc_t)0.5 * y * ((acc_t)1 - t * t) * inner);
        } else if (op == 6) {
            // SiLU's backward: x·σ(y)·(1 + y·(1 − σ(y))).
            const acc_t s = (acc_t)1 / ((acc_t)1 + rt_exp(-y));
            r = x * s * ((acc_t)1 + y * ((acc_t)1 - s));
        } else {
            const acc_t d = y - x;
            r = (z < (acc_t)0.5 && z > (acc_t)-0.5) ? rt_fma(z, d, x) : rt_fma(-d, (acc_t)1 - z, y);
        }
        out[i] = rt_from_acc(r);
    }
}
#endif  // RT_FLOAT

KERNEL(where)(scalar_t* out, const unsigned char* c, const scalar_t* a, const scalar_t* b,
              long long n, int ndim, Dims sizes, RtView cv, RtView av, RtView bv, RtScalar cs,
              RtScalar as, RtScalar bs, int mode) {
    RT_GRID_LOOP(i, n) {
        const bool take_a =
            (mode & 1) ? cs.i != 0 : c[rt_offset(i, ndim, sizes, cv)] != 0;
        scalar_t v;
        if (take_a) {
            v = (mode & 2) ? rt_from_acc(rt_scalar(as)) : a[rt_offset(i, ndim, sizes, av)];
        } else {
            v = (mode & 4) ? rt_from_acc(rt_scalar(bs)) : b[rt_offset(i, ndim, sizes, bv)];
        }
        out[i] = v;
    }
}
