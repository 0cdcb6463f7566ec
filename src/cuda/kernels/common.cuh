// Helpers shared by every rustorch CUDA kernel file. The Rust side (src/cuda/kernels/mod.rs)
// compiles each kernel file once per element type as
//     <dtype prefix> + common.cuh + <kernel file>
// where the prefix defines
//     scalar_t   the element type in memory (float, double; later __half, __nv_bfloat16)
//     acc_t      the type arithmetic is done in (float for float and the 16-bit types)
//     RT_SUFFIX  the dtype tag appended to every kernel name (f32, f64, ...)
// NVRTC offers no standard headers here, so nothing is #included.

#define RT_CAT2(a, b) a##_##b
#define RT_CAT(a, b) RT_CAT2(a, b)
// `KERNEL(add)` names the kernel `add_f32` in the float32 instantiation, and so on, so that
// every instantiation has its own unmangled symbol.
#define KERNEL(name) extern "C" __global__ void RT_CAT(name, RT_SUFFIX)

// The most dimensions a strided kernel accepts (shape and strides travel by value).
#define RT_MAX_DIMS 8
// Largest block the shared-memory reductions accept (blockDim.x must be a power of two).
#define RT_MAX_BLOCK 1024

// Sizes or strides of up to RT_MAX_DIMS dimensions, passed to kernels by value.
struct Dims {
    long long v[RT_MAX_DIMS];
};

// Grid-stride loop over [0, n) with 64-bit indices.
#define RT_GRID_LOOP(i, n)                                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
         i += (long long)blockDim.x * gridDim.x)

__device__ __forceinline__ acc_t rt_load(const scalar_t* p, long long i) {
    return static_cast<acc_t>(p[i]);
}
__device__ __forceinline__ void rt_store(scalar_t* p, long long i, acc_t v) {
    p[i] = static_cast<scalar_t>(v);
}

// Math on the arithmetic type, one overload per precision, so kernels read the same for
// every dtype and never depend on headers.
__device__ __forceinline__ float rt_exp(float x) { return expf(x); }
__device__ __forceinline__ double rt_exp(double x) { return exp(x); }
__device__ __forceinline__ float rt_log(float x) { return logf(x); }
__device__ __forceinline__ double rt_log(double x) { return log(x); }
__device__ __forceinline__ float rt_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double rt_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float rt_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double rt_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float rt_sin(float x) { return sinf(x); }
__device__ __forceinline__ double rt_sin(double x) { return sin(x); }
__device__ __forceinline__ float rt_cos(float x) { return cosf(x); }
__device__ __forceinline__ double rt_cos(double x) { return cos(x); }
__device__ __forceinline__ float rt_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double rt_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float rt_erf(float x) { return erff(x); }
__device__ __forceinline__ double rt_erf(double x) { return erf(x); }
__device__ __forceinline__ float rt_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double rt_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float rt_abs(float x) { return fabsf(x); }
__device__ __forceinline__ double rt_abs(double x) { return fabs(x); }
__device__ __forceinline__ bool rt_isnan(float x) { return x != x; }
__device__ __forceinline__ bool rt_isnan(double x) { return x != x; }
__device__ __forceinline__ float rt_neg_inf(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double rt_neg_inf(double) {
    return __longlong_as_double(0xfff0000000000000LL);
}
__device__ __forceinline__ float rt_nan(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double rt_nan(double) {
    return __longlong_as_double(0x7ff8000000000000LL);
}

// `maximum` / `minimum` that propagate NaN, as PyTorch's (and the CPU kernels') do.
__device__ __forceinline__ acc_t rt_max_nan(acc_t a, acc_t b) {
    if (rt_isnan(a) || rt_isnan(b)) return rt_nan(a);
    return a >= b ? a : b;
}
__device__ __forceinline__ acc_t rt_min_nan(acc_t a, acc_t b) {
    if (rt_isnan(a) || rt_isnan(b)) return rt_nan(a);
    return a <= b ? a : b;
}

struct RtSum {
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const { return a + b; }
};
struct RtMax {
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const {
        return rt_max_nan(a, b);
    }
};

// Tree reduction of one value per thread over the block through shared memory `smem`
// (RT_MAX_BLOCK entries); blockDim.x must be a power of two. Every thread of the block must
// call it (it synchronises) and every thread gets the result.
template <typename Op>
__device__ __forceinline__ acc_t rt_block_reduce(acc_t v, acc_t* smem, Op op) {
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

// Element offset of the `i`-th element (row-major order over `sizes`) of a strided view of
// `ndim` <= RT_MAX_DIMS dimensions. The loop is unrolled over all RT_MAX_DIMS slots so the
// shape and strides are read straight from the kernel parameters (a loop bounded by `ndim`
// would index them dynamically and copy them to local memory).
__device__ __forceinline__ long long rt_strided_offset(long long i, int ndim, const Dims& sizes,
                                                       const Dims& strides) {
    long long off = 0;
#pragma unroll
    for (int d = RT_MAX_DIMS - 1; d >= 0; --d) {
        if (d < ndim) {
            const long long s = sizes.v[d];
            const long long q = i / s;
            off += (i - q * s) * strides.v[d];
            i = q;
        }
    }
    return off;
}
