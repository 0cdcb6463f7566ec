// Row-wise reductions of a contiguous [rows, cols] buffer: one block per row (grid-stride
// over rows), each thread folding a strided slice of the row, then a shared-memory tree.
// blockDim.x must be a power of two no larger than RT_MAX_BLOCK.
//   sum_rows_<dtype>(out, x, rows, cols)   out[r] = sum of row r (0 for empty rows)
//   max_rows_<dtype>(out, x, rows, cols)   out[r] = max of row r, NaN if the row has one

template <typename Op>
__device__ __forceinline__ void rt_reduce_rows(scalar_t* out, const scalar_t* x, long long rows,
                                               long long cols, acc_t init, Op op) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* row = x + r * cols;
        acc_t acc = init;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) acc = op(acc, rt_load(row, c));
        acc = rt_block_reduce(acc, smem, op);
        if (threadIdx.x == 0) rt_store(out, r, acc);
    }
}

KERNEL(sum_rows)(scalar_t* out, const scalar_t* x, long long rows, long long cols) {
    rt_reduce_rows(out, x, rows, cols, static_cast<acc_t>(0), RtSum());
}

KERNEL(max_rows)(scalar_t* out, const scalar_t* x, long long rows, long long cols) {
    rt_reduce_rows(out, x, rows, cols, rt_neg_inf(static_cast<acc_t>(0)), RtMax());
}
