// Row softmax and log_softmax of a contiguous [rows, cols] buffer (the reduced dimension
// last): one block per row (grid-stride over rows); max, then sum of exp(x - max), then the
// outputs. blockDim.x must be a power of two no larger than RT_MAX_BLOCK.
//   softmax_rows_<dtype>(out, x, rows, cols)
//   log_softmax_rows_<dtype>(out, x, rows, cols)

template <bool LOG>
__device__ __forceinline__ void rt_softmax_rows(scalar_t* out, const scalar_t* x,
                                                long long rows, long long cols) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* row = x + r * cols;
        scalar_t* orow = out + r * cols;
        acc_t mx = rt_neg_inf(static_cast<acc_t>(0));
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
            mx = rt_max_nan(mx, rt_load(row, c));
        }
        mx = rt_block_reduce(mx, smem, RtMax());
        acc_t s = static_cast<acc_t>(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
            s += rt_exp(rt_load(row, c) - mx);
        }
        s = rt_block_reduce(s, smem, RtSum());
        if (LOG) {
            const acc_t lse = rt_log(s);
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
                rt_store(orow, c, rt_load(row, c) - mx - lse);
            }
        } else {
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
                rt_store(orow, c, rt_exp(rt_load(row, c) - mx) / s);
            }
        }
    }
}

KERNEL(softmax_rows)(scalar_t* out, const scalar_t* x, long long rows, long long cols) {
    rt_softmax_rows<false>(out, x, rows, cols);
}

KERNEL(log_softmax_rows)(scalar_t* out, const scalar_t* x, long long rows, long long cols) {
    rt_softmax_rows<true>(out, x, rows, cols);
}
