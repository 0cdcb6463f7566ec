// Elementwise binary ops. For each op NAME two kernels:
//   NAME_<dtype>(out, a, b, n)                      a, b, out contiguous with n elements
//   NAME_strided_<dtype>(out, a, b, n, ndim, sizes, a_strides, b_strides, a_offset, b_offset)
//       out contiguous over the broadcast shape `sizes`; a and b read through their own
//       strides (0 along broadcast dimensions) and element offsets.

__device__ __forceinline__ acc_t rt_add(acc_t x, acc_t y) { return x + y; }
__device__ __forceinline__ acc_t rt_sub(acc_t x, acc_t y) { return x - y; }
__device__ __forceinline__ acc_t rt_mul(acc_t x, acc_t y) { return x * y; }
__device__ __forceinline__ acc_t rt_div(acc_t x, acc_t y) { return x / y; }
__device__ __forceinline__ acc_t rt_maximum(acc_t x, acc_t y) { return rt_max_nan(x, y); }
__device__ __forceinline__ acc_t rt_minimum(acc_t x, acc_t y) { return rt_min_nan(x, y); }
__device__ __forceinline__ acc_t rt_powop(acc_t x, acc_t y) { return rt_pow(x, y); }

#define RT_BINARY(NAME, FN)                                                                 \
    KERNEL(NAME)(scalar_t* out, const scalar_t* a, const scalar_t* b, long long n) {        \
        RT_GRID_LOOP(i, n) { rt_store(out, i, FN(rt_load(a, i), rt_load(b, i))); }          \
    }                                                                                       \
    KERNEL(NAME##_strided)(scalar_t* out, const scalar_t* a, const scalar_t* b, long long n, \
                           int ndim, Dims sizes, Dims a_strides, Dims b_strides,            \
                           long long a_offset, long long b_offset) {                        \
        RT_GRID_LOOP(i, n) {                                                                \
            const long long ia = a_offset + rt_strided_offset(i, ndim, sizes, a_strides);   \
            const long long ib = b_offset + rt_strided_offset(i, ndim, sizes, b_strides);   \
            rt_store(out, i, FN(rt_load(a, ia), rt_load(b, ib)));                           \
        }                                                                                   \
    }

RT_BINARY(add, rt_add)
RT_BINARY(sub, rt_sub)
RT_BINARY(mul, rt_mul)
RT_BINARY(div, rt_div)
RT_BINARY(maximum, rt_maximum)
RT_BINARY(minimum, rt_minimum)
RT_BINARY(pow, rt_powop)
