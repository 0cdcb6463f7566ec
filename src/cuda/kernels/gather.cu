// strided_copy_<dtype>(out, x, n, ndim, sizes, strides, offset): copies the strided view
// (sizes, strides in elements, element offset; up to RT_MAX_DIMS dimensions) of x into the
// contiguous buffer out, in row-major order. This is `.contiguous()` on the device.

KERNEL(strided_copy)(scalar_t* out, const scalar_t* x, long long n, int ndim, Dims sizes,
                     Dims strides, long long offset) {
    RT_GRID_LOOP(i, n) { out[i] = x[offset + rt_strided_offset(i, ndim, sizes, strides)]; }
}
