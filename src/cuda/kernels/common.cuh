// Helpers shared by every rustorch CUDA kernel file. The Rust side (src/cuda/kernels/mod.rs)
// compiles each kernel file once per element type as
//     <dtype prelude> + common.cuh + <kernel file>
// where the prelude defines RT_SUFFIX (the dtype tag appended to every kernel name: f32,
// f64, f16, bf16, i64, i32, i16, i8, u8, b8) and one RT_DTYPE_<TAG> macro. From those this file
// defines
//     scalar_t   the element type in memory
//     acc_t      the type arithmetic is done in (float for the 16-bit float types)
//     RT_FLOAT / RT_INTEGRAL / RT_BOOL / RT_HALF   what kind of dtype it is (0 or 1)
// NVRTC offers no standard headers here, so nothing is #included when compiling for a GPU:
// the 16-bit float types are plain 16-bit structs converted with inline PTX.
//
// The same sources also compile as host C++ (no __CUDACC__) with the shim below, so that the
// tests can run every kernel on the CPU and compare it with the CPU backend
// (src/cuda/host_check.rs): a block's threads run as OS threads, `__syncthreads` is a
// barrier and `__shared__` arrays are statics (blocks run one after another). Kernels
// therefore use shared memory and `__syncthreads` to cooperate, never warp shuffles.

#if !defined(__CUDACC__)
// ---- host shim: kernels as plain C++ functions, the launch grid run as loops ----------------
#include <cmath>
#include <cstring>
struct dim3 {
    unsigned x, y, z;
};
extern thread_local dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static
void rt_shim_sync();
void rt_shim_lock();
void rt_shim_unlock();
#define __syncthreads() rt_shim_sync()
// Atomics under one lock: slow, and exactly what the GPU guarantees.
template <typename T>
inline T atomicAdd(T* p, T v) {
    rt_shim_lock();
    T old = *p;
    *p = old + v;
    rt_shim_unlock();
    return old;
}
template <typename T>
inline T atomicCAS(T* p, T cmp, T v) {
    rt_shim_lock();
    T old = *p;
    if (old == cmp) *p = v;
    rt_shim_unlock();
    return old;
}
template <typename T>
inline T atomicMax(T* p, T v) {
    rt_shim_lock();
    T old = *p;
    if (v > old) *p = v;
    rt_shim_unlock();
    return old;
}
inline float __int_as_float(int i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}
inline int __float_as_int(float f) {
    int i;
    memcpy(&i, &f, 4);
    return i;
}
inline double __longlong_as_double(long long i) {
    double d;
    memcpy(&d, &i, 8);
    return d;
}
inline unsigned __float_as_uint(float f) {
    unsigned i;
    memcpy(&i, &f, 4);
    return i;
}
inline float __uint_as_float(unsigned i) {
    float f;
    memcpy(&f, &i, 4);
    return f;
}
using std::ceil;
using std::cos;
using std::erf;
using std::exp;
using std::expm1;
using std::floor;
using std::fmod;
using std::log;
using std::log1p;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;
using std::trunc;
#define ceilf std::ceil
#define cosf std::cos
#define erff std::erf
#define expf std::exp
#define expm1f std::expm1
#define floorf std::floor
#define fmodf std::fmod
#define logf std::log
#define log1pf std::log1p
#define powf std::pow
#define rintf std::rint
#define sinf std::sin
#define sqrtf std::sqrt
#define tanhf std::tanh
#define truncf std::trunc
#define fabsf std::fabs
using std::fabs;
using std::copysign;
using std::rint;
#endif

#define RT_CAT2(a, b) a##_##b
#define RT_CAT(a, b) RT_CAT2(a, b)
// `KERNEL(add)` names the kernel `add_f32` in the float32 instantiation, and so on, so that
// every instantiation has its own unmangled symbol.
#define KERNEL(name) extern "C" __global__ void RT_CAT(name, RT_SUFFIX)

// The most dimensions a strided kernel accepts (shape and strides travel by value).
#define RT_MAX_DIMS 8
// Largest block the shared-memory reductions accept (blockDim.x must be a power of two).
#define RT_MAX_BLOCK 1024

// ---- the 16-bit float types ------------------------------------------------------------------
struct rt_half {
    unsigned short bits;
};
struct rt_bf16 {
    unsigned short bits;
};

__device__ __forceinline__ float rt_half_to_float(rt_half h) {
#if defined(__CUDACC__)
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h.bits));
    return f;
#else
    // IEEE binary16 to binary32, exactly (subnormals included).
    unsigned sign = (unsigned)(h.bits & 0x8000) << 16;
    unsigned exp = (h.bits >> 10) & 0x1f;
    unsigned man = h.bits & 0x3ff;
    if (exp == 0) {
        float f = (float)man * (1.0f / 16777216.0f);  // man * 2^-24
        return sign ? -f : f;
    }
    if (exp == 31) return __uint_as_float(sign | 0x7f800000 | (man << 13));
    return __uint_as_float(sign | ((exp + 112) << 23) | (man << 13));
#endif
}
__device__ __forceinline__ rt_half rt_float_to_half(float f) {
    rt_half h;
#if defined(__CUDACC__)
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h.bits) : "f"(f));
#else
    // Round to nearest even, as the PTX conversion does.
    unsigned x = __float_as_uint(f);
    unsigned sign = (x >> 16) & 0x8000;
    unsigned absx = x & 0x7fffffff;
    if (absx > 0x7f800000) {
        h.bits = (unsigned short)(sign | 0x7e00);  // NaN
    } else if (absx >= 0x477ff000) {
        h.bits = (unsigned short)(sign | 0x7c00);  // overflow to infinity
    } else if (absx < 0x38800000) {
        // Subnormal (or zero) in half: scale to an integer count of 2^-24 and round.
        float a = __uint_as_float(absx) * 16777216.0f;
        h.bits = (unsigned short)(sign | (unsigned)rint(a));
    } else {
        unsigned mant = absx & 0x7fffff;
        unsigned e = (absx >> 23) - 112;
        unsigned r = (e << 10) | (mant >> 13);
        unsigned rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (r & 1))) r += 1;
        h.bits = (unsigned short)(sign | r);
    }
#endif
    return h;
}
__device__ __forceinline__ float rt_bf16_to_float(rt_bf16 b) {
    return __uint_as_float((unsigned)b.bits << 16);
}
__device__ __forceinline__ rt_bf16 rt_float_to_bf16(float f) {
    rt_bf16 b;
#if defined(__CUDACC__)
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(b.bits) : "f"(f));
#else
    unsigned x = __float_as_uint(f);
    if ((x & 0x7fffffff) > 0x7f800000) {
        b.bits = (unsigned short)((x >> 16) | 0x40);  // quiet NaN
    } else {
        unsigned lsb = (x >> 16) & 1;
        b.bits = (unsigned short)((x + 0x7fff + lsb) >> 16);
    }
#endif
    return b;
}

// ---- the instantiation's types ---------------------------------------------------------------
#if defined(RT_DTYPE_F32)
typedef float scalar_t;
typedef float acc_t;
#define RT_FLOAT 1
#elif defined(RT_DTYPE_F64)
typedef double scalar_t;
typedef double acc_t;
#define RT_FLOAT 1
#elif defined(RT_DTYPE_F16)
typedef rt_half scalar_t;
typedef float acc_t;
#define RT_FLOAT 1
#define RT_HALF 1
#elif defined(RT_DTYPE_BF16)
typedef rt_bf16 scalar_t;
typedef float acc_t;
#define RT_FLOAT 1
#define RT_HALF 1
#elif defined(RT_DTYPE_I64)
typedef long long scalar_t;
typedef long long acc_t;
#define RT_INTEGRAL 1
#elif defined(RT_DTYPE_I32)
typedef int scalar_t;
typedef int acc_t;
#define RT_INTEGRAL 1
#elif defined(RT_DTYPE_I16)
typedef short scalar_t;
typedef short acc_t;
#define RT_INTEGRAL 1
#elif defined(RT_DTYPE_I8)
typedef signed char scalar_t;
typedef signed char acc_t;
#define RT_INTEGRAL 1
#elif defined(RT_DTYPE_U8)
typedef unsigned char scalar_t;
typedef unsigned char acc_t;
#define RT_INTEGRAL 1
#define RT_UNSIGNED 1
#elif defined(RT_DTYPE_B8)
typedef unsigned char scalar_t;
typedef unsigned char acc_t;
#define RT_BOOL 1
#else
#error "no RT_DTYPE_* defined"
#endif
#ifndef RT_FLOAT
#define RT_FLOAT 0
#endif
#ifndef RT_HALF
#define RT_HALF 0
#endif
#ifndef RT_INTEGRAL
#define RT_INTEGRAL 0
#endif
#ifndef RT_BOOL
#define RT_BOOL 0
#endif
#ifndef RT_UNSIGNED
#define RT_UNSIGNED 0
#endif

// Loads and stores between the memory type and the arithmetic type. A bool store keeps
// 0 or 1.
__device__ __forceinline__ acc_t rt_to_acc(scalar_t v) {
#if defined(RT_DTYPE_F16)
    return rt_half_to_float(v);
#elif defined(RT_DTYPE_BF16)
    return rt_bf16_to_float(v);
#else
    return v;
#endif
}
__device__ __forceinline__ scalar_t rt_from_acc(acc_t v) {
#if defined(RT_DTYPE_F16)
    return rt_float_to_half(v);
#elif defined(RT_DTYPE_BF16)
    return rt_float_to_bf16(v);
#elif defined(RT_DTYPE_B8)
    return (scalar_t)(v != 0);
#else
    return v;
#endif
}
__device__ __forceinline__ acc_t rt_load(const scalar_t* p, long long i) { return rt_to_acc(p[i]); }
__device__ __forceinline__ void rt_store(scalar_t* p, long long i, acc_t v) {
    p[i] = rt_from_acc(v);
}

// Values of this instantiation's type from the two common intermediates of a cast, with C
// cast semantics (float to integer truncates through int64, as `Element::from_f64`).
__device__ __forceinline__ scalar_t rt_from_f64(double v) {
#if RT_BOOL
    return (scalar_t)(v != 0.0);
#elif RT_FLOAT
    return rt_from_acc((acc_t)v);
#else
    return (scalar_t)(long long)v;
#endif
}
// A float element converted to this dtype as PyTorch's casts do (x86's conversion): for the
// integers, NaN or a value out of range gives the minimum (int64's range for int64, int32's
// for the others, which keep the int32's low bits), as `float_to_int` in
// src/tensor/dtype.rs.
__device__ __forceinline__ scalar_t rt_cast_from_f64(double v) {
#if RT_BOOL || RT_FLOAT
    return rt_from_f64(v);
#elif defined(RT_DTYPE_I64)
    return (v >= -9223372036854775808.0 && v < 9223372036854775808.0)
               ? (long long)v
               : (long long)(-9223372036854775807LL - 1);
#else
    return (scalar_t)((v > -2147483649.0 && v < 2147483648.0) ? (int)v : (int)(-2147483647 - 1));
#endif
}
__device__ __forceinline__ scalar_t rt_from_i64(long long v) {
#if RT_BOOL
    return (scalar_t)(v != 0);
#elif RT_FLOAT
    return rt_from_acc((acc_t)(double)v);
#else
    return (scalar_t)v;
#endif
}

// A scalar kernel argument: every number travels as both an f64 and an i64 (the Rust side
// fills both), and the kernel takes the one that is exact for its dtype.
struct RtScalar {
    double f;
    long long i;
};
__device__ __forceinline__ acc_t rt_scalar(RtScalar s) {
#if RT_FLOAT
    return (acc_t)s.f;
#elif RT_BOOL
    return (acc_t)(s.i != 0);
#else
    return (acc_t)s.i;
#endif
}

// ---- indexing ----------------------------------------------------------------------------------
// Sizes or strides of up to RT_MAX_DIMS dimensions, passed to kernels by value.
struct Dims {
    long long v[RT_MAX_DIMS];
};

// One operand of a strided kernel: where it starts and how it steps along each dim of the
// iteration shape (0 along broadcast dims).
struct RtView {
    Dims strides;
    long long offset;
};

// Grid-stride loop over [0, n) with 64-bit indices.
#define RT_GRID_LOOP(i, n)                                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
         i += (long long)blockDim.x * gridDim.x)

// Element offset of the `i`-th element (row-major order over `sizes`) of a strided view of
// `ndim` <= RT_MAX_DIMS dimensions. The loop is unrolled over all RT_MAX_DIMS slots so the
// shape and strides are read straight from the kernel parameters (a loop bounded by `ndim`
// would index them dynamically and copy them to local memory). The outermost dim takes what
// is left of `i` without a division: a contiguous operand (merged to one dim) costs one
// multiply, where a 64-bit division per element halved the bandwidth of elementwise ops.
__device__ __forceinline__ long long rt_strided_offset(long long i, int ndim, const Dims& sizes,
                                                       const Dims& strides) {
    long long off = 0;
#pragma unroll
    for (int d = RT_MAX_DIMS - 1; d >= 1; --d) {
        if (d < ndim) {
            const long long s = sizes.v[d];
            const long long q = i / s;
            off += (i - q * s) * strides.v[d];
            i = q;
        }
    }
    // (ndim == 0: a single element, i == 0)
    return ndim > 0 ? off + i * strides.v[0] : off;
}
__device__ __forceinline__ long long rt_offset(long long i, int ndim, const Dims& sizes,
                                               const RtView& v) {
    return v.offset + rt_strided_offset(i, ndim, sizes, v.strides);
}

// ---- failed checks ---------------------------------------------------------------------------
// A check on operand values that fails inside a kernel (an index out of range, an integer
// division by zero) is recorded here; the host reads and clears the record at its next
// read from the device and raises the matching exception (src/cuda/device.rs).
struct RtError {
    int code;
    int dim;
    long long value;
    long long bound;
};
#define RT_ERR_INDEX 1        // IndexError: index {value} out of bounds for dimension {dim} with size {bound}
#define RT_ERR_GATHER 2       // RuntimeError, same message (gather/scatter)
#define RT_ERR_ZERO_DIV 3     // RuntimeError: ZeroDivisionError
#define RT_ERR_TARGET 5       // IndexError: Target {value} is out of bounds.
__device__ __forceinline__ void rt_fail(RtError* e, int code, long long value, long long bound,
                                        int dim) {
    if (atomicCAS(&e->code, 0, code) == 0) {
        e->value = value;
        e->bound = bound;
        e->dim = dim;
    }
}

// ---- math on the arithmetic type -------------------------------------------------------------
// One overload per precision, so kernels read the same for every dtype.
__device__ __forceinline__ float rt_exp(float x) { return expf(x); }
__device__ __forceinline__ double rt_exp(double x) { return exp(x); }
__device__ __forceinline__ float rt_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double rt_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float rt_log(float x) { return logf(x); }
__device__ __forceinline__ double rt_log(double x) { return log(x); }
__device__ __forceinline__ float rt_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double rt_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float rt_fma(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double rt_fma(double a, double b, double c) { return fma(a, b, c); }
__device__ __forceinline__ float rt_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double rt_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float rt_sin(float x) { return sinf(x); }
__device__ __forceinline__ double rt_sin(double x) { return sin(x); }
__device__ __forceinline__ float rt_cos(float x) { return cosf(x); }
__device__ __forceinline__ double rt_cos(double x) { return cos(x); }
__device__ __forceinline__ float rt_tan(float x) { return tanf(x); }
__device__ __forceinline__ double rt_tan(double x) { return tan(x); }
__device__ __forceinline__ float rt_asin(float x) { return asinf(x); }
__device__ __forceinline__ double rt_asin(double x) { return asin(x); }
__device__ __forceinline__ float rt_acos(float x) { return acosf(x); }
__device__ __forceinline__ double rt_acos(double x) { return acos(x); }
__device__ __forceinline__ float rt_atan(float x) { return atanf(x); }
__device__ __forceinline__ float rt_atan2(float y, float x) { return atan2f(y, x); }
__device__ __forceinline__ double rt_atan2(double y, double x) { return atan2(y, x); }
__device__ __forceinline__ double rt_atan(double x) { return atan(x); }
__device__ __forceinline__ float rt_sinh(float x) { return sinhf(x); }
__device__ __forceinline__ double rt_sinh(double x) { return sinh(x); }
__device__ __forceinline__ float rt_cosh(float x) { return coshf(x); }
__device__ __forceinline__ double rt_cosh(double x) { return cosh(x); }
__device__ __forceinline__ float rt_asinh(float x) { return asinhf(x); }
__device__ __forceinline__ double rt_asinh(double x) { return asinh(x); }
__device__ __forceinline__ float rt_acosh(float x) { return acoshf(x); }
__device__ __forceinline__ double rt_acosh(double x) { return acosh(x); }
__device__ __forceinline__ float rt_atanh(float x) { return atanhf(x); }
__device__ __forceinline__ double rt_atanh(double x) { return atanh(x); }
__device__ __forceinline__ float rt_log2(float x) { return log2f(x); }
__device__ __forceinline__ double rt_log2(double x) { return log2(x); }
__device__ __forceinline__ float rt_log10(float x) { return log10f(x); }
__device__ __forceinline__ double rt_log10(double x) { return log10(x); }
__device__ __forceinline__ float rt_exp2(float x) { return exp2f(x); }
__device__ __forceinline__ double rt_exp2(double x) { return exp2(x); }
__device__ __forceinline__ float rt_lgamma(float x) { return lgammaf(x); }
__device__ __forceinline__ double rt_lgamma(double x) { return lgamma(x); }
// ψ(x) and ψ'(x) in double, as src/backend/num.rs's digamma_f64 / trigamma_f64.
__device__ __forceinline__ double rt_digamma(double x) {
    const double pi = 3.14159265358979323846;
    if (x == 0.0) return copysign(__longlong_as_double(0x7ff0000000000000LL), -x);
    double acc = 0.0;
    if (x < 0.0) {
        if (x == floor(x)) return __longlong_as_double(0x7ff8000000000000LL);
        acc = -pi / tan(pi * x);
        x = 1.0 - x;
    }
    while (x < 6.0) {
        acc -= 1.0 / x;
        x += 1.0;
    }
    const double z = 1.0 / (x * x);
    const double series =
        z * (1.0 / 12.0 - z * (1.0 / 120.0 - z * (1.0 / 252.0 - z * (1.0 / 240.0 - z / 132.0))));
    return acc + log(x) - 0.5 / x - series;
}
__device__ __forceinline__ float rt_digamma(float x) { return (float)rt_digamma((double)x); }
// ζ(s, q), Cephes' Hurwitz zeta, as src/backend/num.rs's hurwitz_zeta.
__device__ __forceinline__ double rt_zeta(double s, double q) {
    const double A[12] = {12.0, -720.0, 30240.0, -1209600.0, 47900160.0,
                          -1.8924375803183791606e9, 7.47242496e10, -2.950130727918164224e12,
                          1.1646782814350067249e14, -4.5979787224074726105e15,
                          1.8152105401943546773e17, -7.1661652561756670113e18};
    const double inf = __longlong_as_double(0x7ff0000000000000LL);
    const double nan = __longlong_as_double(0x7ff8000000000000LL);
    const double eps = 2.220446049250313e-16;
    if (s == 1.0) return inf;
    if (s < 1.0) return nan;
    if (q <= 0.0) {
        if (q == floor(q)) return inf;
        if (s != floor(s)) return nan;
    }
    double sum = pow(q, -s), a = q, b = 0.0;
    int i = 0;
    while (i < 9 || a <= 9.0) {
        i += 1;
        a += 1.0;
        b = pow(a, -s);
        sum += b;
        if (fabs(b / sum) < eps) return sum;
    }
    const double w = a;
    sum += b * w / (s - 1.0);
    sum -= 0.5 * b;
    double fac = 1.0, k = 0.0;
    for (int j = 0; j < 12; ++j) {
        fac *= s + k;
        b /= w;
        const double t = fac * b / A[j];
        sum += t;
        if (fabs(t / sum) < eps) break;
        k += 1.0;
        fac *= s + k;
        b /= w;
        k += 1.0;
    }
    return sum;
}
// ψ⁽ⁿ⁾(x) = (−1)ⁿ⁺¹ n! ζ(n + 1, x), n ≥ 1.
__device__ __forceinline__ double rt_polygamma(double x, double n) {
    if (n == 1.0 && x == __longlong_as_double(0x7ff0000000000000LL)) return 0.0;
    double factorial = 1.0;
    for (long long k = 2; k <= (long long)n; ++k) factorial *= (double)k;
    const double sign = ((long long)n % 2 == 0) ? -1.0 : 1.0;
    return sign * factorial * rt_zeta(n + 1.0, x);
}
__device__ __forceinline__ float rt_polygamma(float x, float n) {
    return (float)rt_polygamma((double)x, (double)n);
}
__device__ __forceinline__ float rt_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double rt_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float rt_erf(float x) { return erff(x); }
__device__ __forceinline__ double rt_erf(double x) { return erf(x); }
__device__ __forceinline__ float rt_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double rt_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float rt_floor(float x) { return floorf(x); }
__device__ __forceinline__ double rt_floor(double x) { return floor(x); }
__device__ __forceinline__ float rt_ceil(float x) { return ceilf(x); }
__device__ __forceinline__ double rt_ceil(double x) { return ceil(x); }
__device__ __forceinline__ float rt_trunc(float x) { return truncf(x); }
__device__ __forceinline__ double rt_trunc(double x) { return trunc(x); }
// Half to even, as PyTorch's round (rint rounds in the current mode, which is to nearest).
__device__ __forceinline__ float rt_round(float x) { return rintf(x); }
__device__ __forceinline__ double rt_round(double x) { return rint(x); }
__device__ __forceinline__ float rt_fmod(float x, float y) { return fmodf(x, y); }
__device__ __forceinline__ double rt_fmod(double x, double y) { return fmod(x, y); }
__device__ __forceinline__ float rt_fabs(float x) { return fabsf(x); }
__device__ __forceinline__ double rt_fabs(double x) { return fabs(x); }
__device__ __forceinline__ bool rt_isnan(float x) { return x != x; }
__device__ __forceinline__ bool rt_isnan(double x) { return x != x; }
__device__ __forceinline__ bool rt_isnan(long long) { return false; }
__device__ __forceinline__ bool rt_isnan(int) { return false; }
__device__ __forceinline__ bool rt_isnan(unsigned char) { return false; }
__device__ __forceinline__ float rt_inf(float) { return __int_as_float(0x7f800000); }
__device__ __forceinline__ double rt_inf(double) {
    return __longlong_as_double(0x7ff0000000000000LL);
}
__device__ __forceinline__ float rt_nan(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double rt_nan(double) {
    return __longlong_as_double(0x7ff8000000000000LL);
}
// The lowest and highest values of the arithmetic type (±inf for floats): identities of max
// and min.
__device__ __forceinline__ acc_t rt_lowest() {
#if RT_FLOAT
    return -rt_inf((acc_t)0);
#elif defined(RT_DTYPE_I64)
    return (acc_t)(-9223372036854775807LL - 1);
#elif defined(RT_DTYPE_I32)
    return (acc_t)(-2147483647 - 1);
#elif defined(RT_DTYPE_I16)
    return (acc_t)(-32768);
#elif defined(RT_DTYPE_I8)
    return (acc_t)(-128);
#else
    return (acc_t)0;
#endif
}
__device__ __forceinline__ acc_t rt_highest() {
#if RT_FLOAT
    return rt_inf((acc_t)0);
#elif defined(RT_DTYPE_I64)
    return (acc_t)9223372036854775807LL;
#elif defined(RT_DTYPE_I32)
    return (acc_t)2147483647;
#elif defined(RT_DTYPE_I16)
    return (acc_t)32767;
#elif defined(RT_DTYPE_I8)
    return (acc_t)127;
#else
    return (acc_t)255;
#endif
}

// `maximum` / `minimum` that propagate NaN, as PyTorch's (and the CPU kernels') do.
__device__ __forceinline__ acc_t rt_max_nan(acc_t a, acc_t b) {
#if RT_FLOAT
    if (rt_isnan(a) || rt_isnan(b)) return rt_nan(a);
#endif
    return a >= b ? a : b;
}
__device__ __forceinline__ acc_t rt_min_nan(acc_t a, acc_t b) {
#if RT_FLOAT
    if (rt_isnan(a) || rt_isnan(b)) return rt_nan(a);
#endif
    return a <= b ? a : b;
}

// ---- block reductions ------------------------------------------------------------------------
// Tree reduction of one value per thread over the block through shared memory `smem`
// (blockDim.x entries); blockDim.x must be a power of two. Every thread of the block must
// call it (it synchronises) and every thread gets the result.
template <typename T, typename Op>
__device__ __forceinline__ T rt_block_reduce(T v, T* smem, Op op) {
    const unsigned t = threadIdx.x;
    __syncthreads();  // a previous reduction may still be reading smem[0]
    smem[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) smem[t] = op(smem[t], smem[t + s]);
        __syncthreads();
    }
    return smem[0];
}

// ---- rows × len views (reduce.cu, scan.cu) --------------------------------------------------
// Row r's element j is at base(r) + j * cs. A block takes tiles of W rows, L lanes per row
// (W * L = blockDim.x), lane-fast or row-fast; see reduce.cu for the geometry.
struct RtTile {
    int L;            // lanes per row
    int W;            // rows per tile
    int lane;         // this thread's lane
    int rit;          // this thread's row within the tile
    int step;         // shared-memory distance between neighbouring lanes of a row
    int slot0;        // shared-memory slot of lane 0 of this thread's row
    long long tiles;  // tiles covering `rows`
};

__device__ __forceinline__ RtTile rt_tile(long long rows, int lanes, int row_fast) {
    RtTile g;
    const int b = (int)blockDim.x;
    const int t = (int)threadIdx.x;
    g.L = lanes < 1 ? 1 : (lanes < b ? lanes : b);
    g.W = b / g.L;
    if (row_fast) {
        g.rit = t % g.W;
        g.lane = t / g.W;
        g.step = g.W;
        g.slot0 = g.rit;
    } else {
        g.rit = t / g.L;
        g.lane = t % g.L;
        g.step = 1;
        g.slot0 = g.rit * g.L;
    }
    g.tiles = (rows + g.W - 1) / g.W;
    return g;
}

// Offset of row r's first element.
__device__ __forceinline__ long long rt_row_base(long long r, int nk, const Dims& ks,
                                                 const RtView& kv) {
    if (nk <= 1) return kv.offset + r * kv.strides.v[0];
    return rt_offset(r, nk, ks, kv);
}

// Combines the values of each row's lanes (every thread of the block must call it); each
// thread gets its row's result.
template <typename A, typename Op>
__device__ __forceinline__ A rt_tile_reduce(A v, A* smem, const RtTile& g, Op op) {
    const int t = (int)threadIdx.x;
    __syncthreads();  // a previous reduction may still be reading smem
    smem[t] = v;
    __syncthreads();
    for (int s = g.L / 2; s > 0; s >>= 1) {
        if (g.lane < s) smem[t] = op(smem[t], smem[t + s * g.step]);
        __syncthreads();
    }
    return smem[g.slot0];
}

// 16 bytes of elements, for vector loads.
template <typename T>
struct alignas(16) RtVec {
    T v[16 / sizeof(T)];
};

// Folds f(element, j) with `op` over this lane's columns of [j0, j1): j0 + lane, then every
// L-th. `p` points at the row's element 0. Contiguous rows (cs == 1) are read as aligned
// 16-byte vectors (the lane takes every L-th vector) after a scalar head up to the first
// aligned element; two accumulators (four when strided) keep several loads in flight.
template <typename T, typename A, typename F, typename Op>
__device__ __forceinline__ A rt_fold(const T* p, long long cs, long long j0, long long j1, int lane,
                                     int L, A init, F f, Op op) {
    A a0 = init;
    A a1 = init;
    if (cs == 1) {
        const int V = (int)(16 / sizeof(T));
        const unsigned long long addr = (unsigned long long)(p + j0);
        const long long head = (long long)(((16 - (addr & 15)) & 15) / sizeof(T));
        const long long ja = j0 + head < j1 ? j0 + head : j1;
        for (long long j = j0 + lane; j < ja; j += L) a0 = op(a0, f(p[j], j));
        const long long nvec = (j1 - ja) / V;
        const RtVec<T>* pv = reinterpret_cast<const RtVec<T>*>(p + ja);
        long long k = lane;
        for (; k + L < nvec; k += 2 * (long long)L) {
            const RtVec<T> u = pv[k];
            const RtVec<T> w = pv[k + L];
            const long long ju = ja + k * V;
            const long long jw = ju + (long long)L * V;
#pragma unroll
            for (int e = 0; e < V; ++e) {
                a0 = op(a0, f(u.v[e], ju + e));
                a1 = op(a1, f(w.v[e], jw + e));
            }
        }
        if (k < nvec) {
            const RtVec<T> u = pv[k];
            const long long ju = ja + k * V;
#pragma unroll
            for (int e = 0; e < V; ++e) a0 = op(a0, f(u.v[e], ju + e));
        }
        for (long long j = ja + nvec * V + lane; j < j1; j += L) a1 = op(a1, f(p[j], j));
    } else {
        A a2 = init;
        A a3 = init;
        long long j = j0 + lane;
        for (; j + 3 * (long long)L < j1; j += 4 * (long long)L) {
            const T v0 = p[j * cs];
            const T v1 = p[(j + L) * cs];
            const T v2 = p[(j + 2 * (long long)L) * cs];
            const T v3 = p[(j + 3 * (long long)L) * cs];
            a0 = op(a0, f(v0, j));
            a1 = op(a1, f(v1, j + L));
            a2 = op(a2, f(v2, j + 2 * (long long)L));
            a3 = op(a3, f(v3, j + 3 * (long long)L));
        }
        for (; j < j1; j += L) a0 = op(a0, f(p[j * cs], j));
        a0 = op(a0, a2);
        a1 = op(a1, a3);
    }
    return op(a0, a1);
}

// `*p += v` atomically, with the CPU backend's `add_elem`: wrapping for integers, logical or
// for bool, one rounding for the 16-bit floats. The 8- and 16-bit types have no atomic add of
// their own: a compare-and-swap loop on the aligned 32-bit word holding the element (buffers
// are allocated in whole 32-bit words, so the word is inside the allocation).
__device__ __forceinline__ void rt_atomic_add(scalar_t* p, acc_t v) {
#if defined(RT_DTYPE_F32) || defined(RT_DTYPE_F64) || defined(RT_DTYPE_I32)
    atomicAdd(p, v);
#elif defined(RT_DTYPE_I64)
    atomicAdd((unsigned long long*)p, (unsigned long long)v);
#else
    const unsigned long long addr = (unsigned long long)p;
    unsigned int* word = (unsigned int*)(addr & ~3ull);
    const unsigned int shift = (unsigned int)(addr & 3ull) * 8u;
    const unsigned int mask = (sizeof(scalar_t) == 2 ? 0xffffu : 0xffu) << shift;
    unsigned int old = *(volatile unsigned int*)word;
    unsigned int assumed;
    do {
        assumed = old;
        const unsigned int bits = (assumed & mask) >> shift;
#if RT_HALF
        scalar_t cur;
        cur.bits = (unsigned short)bits;
        const unsigned int nbits = rt_from_acc(rt_to_acc(cur) + v).bits;
#else
        // u8, i8 and i16 wrap (the sum is cut to the type, the mask drops the sign
        // extension); bool: 1 + 1 stores as 1 (rt_from_acc keeps 0 or 1), a logical or.
        const unsigned int nbits = rt_from_acc((acc_t)(bits + v));
#endif
        old = atomicCAS(word, assumed, (assumed & ~mask) | ((nbits << shift) & mask));
    } while (old != assumed);
#endif
}
