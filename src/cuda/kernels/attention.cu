// Attention weights, with the formulas of src/cpu/attention.rs: for row r of the scores x
// (contiguous rows x len) and key j,
//     t_j = scale * x_j + mask_j, or -inf for j > r mod L under a causal mask of L queries
//     y_j = exp(t_j - shift) / sum_j exp(t_j - shift), shift = max_j t_j (0 when it is -inf,
//           so that a fully masked row gives 0/0 = NaN, or zeros when `safe`; a row holding
//           +inf gives NaN)
//     out_j = keep_j ? y_j * ks : 0                          with dropout, ks = 1 / (1 - p)
//
//   attention_softmax_rows_<dtype>(y, out, x, rows, len, mask, nk, sizes, mview, mcs,
//                                  causal, scale, safe, keep, ks)
// `mask` (x's dtype, or null) is read at mview's offset + the strided offset of row r over
// the `nk` leading dims `sizes` + j * mcs; `causal` is L, or 0 for none; `keep` (bools, rows
// x len, or null) selects dropout, when `out` is written too.
//
//   attention_softmax_backward_rows_<dtype>(gx, y, g, rows, len, keep, ks, scale)
// The scores' gradient from the weights y and the gradient g of the op's output (both
// contiguous rows x len): gd_j = keep ? g_j * keep_j * ks : g_j, then
//     gx_j = scale * y_j * (gd_j - sum_j gd_j * y_j).
//
// One block per row (grid-stride over rows), blockDim.x a power of two no larger than
// RT_MAX_BLOCK; the sums are block tree reductions in acc_t (float for the 16-bit types,
// whose results are rounded once).

struct RtAttnMax {
    // NaN never wins, as the CPU's row_max.
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const { return b > a ? b : a; }
};
struct RtAttnSum {
    __device__ __forceinline__ acc_t operator()(acc_t a, acc_t b) const { return a + b; }
};

KERNEL(attention_softmax_rows)(scalar_t* y, scalar_t* out, const scalar_t* x, long long rows,
                               long long len, const scalar_t* mask, int nk, Dims sizes,
                               RtView mview, long long mcs, long long causal, double scale,
                               int safe, const unsigned char* keep, double ks) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const acc_t zero = static_cast<acc_t>(0);
    const acc_t sc = static_cast<acc_t>(scale);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* xr = x + r * len;
        const long long mbase = mask ? rt_offset(r, nk, sizes, mview) : 0;
        const long long last = causal > 0 ? r % causal : len;
        // The row's scores t_j, read again by each pass (they stay in cache).
        auto t = [&](long long j) -> acc_t {
            if (j > last) return -rt_inf(zero);
            acc_t v = rt_load(xr, j) * sc;
            if (mask) v += rt_load(mask, mbase + j * mcs);
            return v;
        };
        acc_t mx = -rt_inf(zero);
        for (long long j = threadIdx.x; j < len; j += blockDim.x) mx = RtAttnMax()(mx, t(j));
        mx = rt_block_reduce(mx, smem, RtAttnMax());
        scalar_t* yr = y + r * len;
        scalar_t* o = out ? out + r * len : nullptr;
        const unsigned char* kr = keep ? keep + r * len : nullptr;
        if (mx == rt_inf(zero) || (safe && mx == -rt_inf(zero))) {
            // A +inf in the row: NaN throughout; every key left out with `safe`: zeros.
            const acc_t v = mx == rt_inf(zero) ? rt_nan(zero) : zero;
            for (long long j = threadIdx.x; j < len; j += blockDim.x) {
                rt_store(yr, j, v);
                if (o) rt_store(o, j, kr[j] ? v : zero);
            }
            continue;
        }
        const acc_t shift = mx == -rt_inf(zero) ? zero : mx;
        acc_t s = zero;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) s += rt_exp(t(j) - shift);
        s = rt_block_reduce(s, smem, RtAttnSum());
        const acc_t inv = static_cast<acc_t>(1) / s;
        const acc_t k = static_cast<acc_t>(ks);
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            const acc_t v = rt_exp(t(j) - shift) * inv;
            rt_store(yr, j, v);
            if (o) rt_store(o, j, kr[j] ? v * k : zero);
        }
    }
}

KERNEL(attention_softmax_backward_rows)(scalar_t* gx, const scalar_t* y, const scalar_t* g,
                                        long long rows, long long len,
                                        const unsigned char* keep, double ks, double scale) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const acc_t zero = static_cast<acc_t>(0);
    const acc_t k = static_cast<acc_t>(ks);
    const acc_t sc = static_cast<acc_t>(scale);
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* yr = y + r * len;
        const scalar_t* gr = g + r * len;
        const unsigned char* kr = keep ? keep + r * len : nullptr;
        auto gd = [&](long long j) -> acc_t {
            const acc_t v = rt_load(gr, j);
            return kr ? (kr[j] ? v * k : zero) : v;
        };
        acc_t s = zero;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) s += gd(j) * rt_load(yr, j);
        s = rt_block_reduce(s, smem, RtAttnSum());
        scalar_t* o = gx + r * len;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            rt_store(o, j, sc * (rt_load(yr, j) * (gd(j) - s)));
        }
    }
}
