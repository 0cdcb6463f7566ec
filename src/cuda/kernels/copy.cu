// Fills, strided copies and casts. Instantiated for the destination dtype (`scalar_t`);
// every kernel walks the n elements of an iteration shape `sizes` (ndim dims) in row-major
// order and reads or writes each operand through its own view (strides in elements, 0 along
// broadcast dims).
//
//   fill_<dst>(out, n, ndim, sizes, out_view, value)
//       out[view(i)] = value, for the n positions of the strided view of `out`
//   copy_from_<src>_<dst>(out, in, n, ndim, sizes, out_view, in_view)
//       out[out_view(i)] = cast(in[in_view(i)]), with the CPU backend's cast: a float source
//       or a float/bool destination goes through f64 (a float-to-integer cast truncates
//       through int64), an integer source to an integer destination through int64.

KERNEL(fill)(scalar_t* out, long long n, int ndim, Dims sizes, RtView ov, RtScalar value) {
    const scalar_t v = rt_from_acc(rt_scalar(value));
    RT_GRID_LOOP(i, n) { out[rt_offset(i, ndim, sizes, ov)] = v; }
}

// One copy kernel per source type; `CONV` converts the source element `v`.
#define RT_COPY_FROM(NAME, SRC, CONV)                                                          \
    KERNEL(NAME)(scalar_t* out, const SRC* in, long long n, int ndim, Dims sizes, RtView ov,   \
                 RtView iv) {                                                                  \
        RT_GRID_LOOP(i, n) {                                                                   \
            const SRC v = in[rt_offset(i, ndim, sizes, iv)];                                   \
            out[rt_offset(i, ndim, sizes, ov)] = CONV;                                         \
        }                                                                                      \
    }

RT_COPY_FROM(copy_from_f32, float, rt_cast_from_f64((double)v))
RT_COPY_FROM(copy_from_f64, double, rt_cast_from_f64(v))
RT_COPY_FROM(copy_from_f16, rt_half, rt_cast_from_f64((double)rt_half_to_float(v)))
RT_COPY_FROM(copy_from_bf16, rt_bf16, rt_cast_from_f64((double)rt_bf16_to_float(v)))
RT_COPY_FROM(copy_from_i64, long long, rt_from_i64(v))
RT_COPY_FROM(copy_from_i32, int, rt_from_i64((long long)v))
RT_COPY_FROM(copy_from_i16, short, rt_from_i64((long long)v))
RT_COPY_FROM(copy_from_i8, signed char, rt_from_i64((long long)v))
RT_COPY_FROM(copy_from_u8, unsigned char, rt_from_i64((long long)v))
RT_COPY_FROM(copy_from_b8, unsigned char, rt_from_i64((long long)v))
