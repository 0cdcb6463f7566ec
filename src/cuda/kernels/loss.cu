// Fused cross-entropy of logits rows, with the formula and order of operations of
// src/cpu/fused.rs (`cross_entropy_row`): for a row x of C logits and target class t,
//     mx    = the largest non-NaN logit (-inf if none); shift = mx, or 0 if mx is infinite
//     lse   = shift + log(sum_c exp(x_c - shift))
//     nll   = w_t * (lse - x_t)
//     loss  = nll                                                 without label smoothing
//           = (1 - eps) * nll + (eps / C) * sum_c w_c * (lse - x_c)        with it
// (w_c = 1 without class weights), and the row's weight w_t. A row whose target is
// `ignore_index` gives 0 and 0; another target outside [0, C) records RT_ERR_TARGET (the
// host raises PyTorch's IndexError at its next read) and gives 0 and 0.
//
//   cross_entropy_rows_<dtype>(losses, row_w, x, rows, cols, target, t_stride, weight,
//                              w_stride, ignore_index, one_minus_eps, eps_over_c,
//                              smoothing, err)
// `x` is a contiguous rows x cols block; `target` (int64) and `weight` (x's dtype, or null)
// are read with element strides. One block per row (grid-stride over rows); blockDim.x a
// power of two no larger than RT_MAX_BLOCK. The sums are block tree reductions in acc_t
// (float for the 16-bit types, whose results are rounded once).

struct RtCeMax {
    // NaN never wins, as the CPU's fold (`if b > a { b } else { a }`).
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const { return b > a ? b : a; }
};
struct RtCeSum {
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const { return a + b; }
};

KERNEL(cross_entropy_rows)(scalar_t* losses, scalar_t* row_w, const scalar_t* x, long long rows,
                           long long cols, const long long* target, long long t_stride,
                           const scalar_t* weight, long long w_stride, long long ignore_index,
                           double one_minus_eps, double eps_over_c, int smoothing,
                           RtError* err) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const acc_t zero = static_cast<acc_t>(0);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        // The target is the same for every thread, so the branches below are uniform and
        // every thread reaches every barrier.
        const long long t = target[r * t_stride];
        if (t == ignore_index || t < 0 || t >= cols) {
            if (threadIdx.x == 0) {
                if (t != ignore_index) rt_fail(err, RT_ERR_TARGET, t, cols, 0);
                rt_store(losses, r, zero);
                rt_store(row_w, r, zero);
            }
            continue;
        }
        const scalar_t* row = x + r * cols;
        acc_t mx = -rt_inf(zero);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) mx = RtCeMax()(mx, rt_load(row, c));
        mx = rt_block_reduce(mx, smem, RtCeMax());
        const acc_t shift = (mx == rt_inf(zero) || mx == -rt_inf(zero)) ? zero : mx;
        acc_t s = zero;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += rt_exp(rt_load(row, c) - shift);
        s = rt_block_reduce(s, smem, RtCeSum());
        const acc_t lse = shift + rt_log(s);
        const acc_t wt = weight != nullptr ? rt_load(weight, t * w_stride) : static_cast<acc_t>(1);
        const acc_t nll = wt * (lse - rt_load(row, t));
        acc_t loss = nll;
        if (smoothing) {
            acc_t sm = zero;
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
                const acc_t wc =
                    weight != nullptr ? rt_load(weight, c * w_stride) : static_cast<acc_t>(1);
                sm += wc * (lse - rt_load(row, c));
            }
            sm = rt_block_reduce(sm, smem, RtCeSum());
            loss = static_cast<acc_t>(one_minus_eps) * nll + static_cast<acc_t>(eps_over_c) * sm;
        }
        if (threadIdx.x == 0) {
            rt_store(losses, r, loss);
            rt_store(row_w, r, wt);
        }
    }
}

// The input gradient of cross_entropy_rows without label smoothing, with the CPU's formula
// (`cross_entropy_backward_row` in src/cpu/fused.rs): for row r with scale s (the row's
// weight times the upstream gradient) and target t,
//     out_c = exp(x_c - shift) * (s / sum_c exp(x_c - shift)) - (c == t ? s : 0),
// a target outside [0, C) adding nothing, and a row holding +inf giving NaN throughout.
//
//   cross_entropy_backward_rows_<dtype>(out, x, rows, cols, target, t_stride, scale)
// `x` and `out` are contiguous rows x cols blocks, `scale` `rows` contiguous elements of x's
// dtype, `target` int64 read with a stride. One block per row, as cross_entropy_rows.
KERNEL(cross_entropy_backward_rows)(scalar_t* out, const scalar_t* x, long long rows,
                                    long long cols, const long long* target,
                                    long long t_stride, const scalar_t* scale) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const acc_t zero = static_cast<acc_t>(0);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* row = x + r * cols;
        scalar_t* o = out + r * cols;
        acc_t mx = -rt_inf(zero);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) mx = RtCeMax()(mx, rt_load(row, c));
        mx = rt_block_reduce(mx, smem, RtCeMax());
        if (mx == rt_inf(zero)) {
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) rt_store(o, c, rt_nan(zero));
            continue;
        }
        const acc_t shift = mx == -rt_inf(zero) ? zero : mx;
        acc_t s = zero;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += rt_exp(rt_load(row, c) - shift);
        s = rt_block_reduce(s, smem, RtCeSum());
        const acc_t sc = rt_load(scale, r);
        const acc_t k = sc / s;
        const long long t = target[r * t_stride];
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
            const acc_t v = rt_exp(rt_load(row, c) - shift) * k;
            rt_store(o, c, c == t ? v - sc : v);
        }
    }
}
