// Row scans (`ScanOp`) over a `rows × len` view, written as a contiguous `rows × len` output
// (src/cuda/reduce.rs). The input is read as in reduce.cu: row r's element j at
// base(r) + j * cs, base(r) from the kept dims (`nk`, `ks`, `kv`); a block takes tiles of W
// rows with L lanes each, lane-fast or row-fast (`row_fast`), as described there.
//
//   softmax_rows / log_softmax_rows(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast)
//       floats; whole rows: the max (NaN skipped; a row holding +inf gives NaN throughout,
//       an all -inf row shifts by 0, as the CPU), the sum of exp(x - m), then
//       softmax = exp(x - m) * (1 / s), log_softmax = (x - m) - ln s
//   softmax_backward_rows / log_softmax_backward_rows(out, y, g, rows, len)
//       floats; the input gradient from the output y and its gradient g (both contiguous
//       rows x len): y * (g - sum(g * y)), or g - exp(y) * sum(g), the row's sum a block tree
//       reduction in acc_t. One block per row (grid-stride over rows), blockDim.x a power of
//       two no larger than RT_MAX_BLOCK.
//   cumsum_rows(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast, parts, chunk, carry, flags)
//       numeric; inclusive prefix sums (integers wrap, the 16-bit types accumulate in float).
//       Each lane sums RT_SCAN_K consecutive elements, the lanes' totals are scanned in shared
//       memory, and a running carry moves along the row L * RT_SCAN_K elements at a time.
//       A long row may be cut into `parts` runs of `chunk` elements scanned by different
//       blocks: `carry` (not null) then holds the inclusive scan of the runs' sums (rows ×
//       parts, the arithmetic type), and run p starts from carry[r * parts + p - 1]. The host
//       computes it with reduce.cu's sum_rows (partials) and this kernel over those partials:
//       RT_IN_ACC reads contiguous arithmetic-type rows, RT_OUT_ACC writes them.
//   cumprod_rows(out, x, rows, len, nk, ks, kv, cs)
//       numeric; inclusive prefix products (integers wrap, the 16-bit types accumulate in
//       float, as the CPU).
//   logcumsumexp_rows(out, x, rows, len, nk, ks, kv, cs)
//       floats; log of the running sum of exp, by rt_log_add_exp (PyTorch's
//       _log_add_exp_helper: running max with rescaling, so nothing overflows).
//   cummax_rows / cummin_rows(values, indices, x, rows, len, nk, ks, kv, cs)
//       numeric; the running extreme and the int64 index it was taken from: an element
//       replaces it when NaN or, the running value not being NaN, when >= (<=) it (ties
//       take the last index, each NaN its own), as the CPU's cum_extreme_rows.
//   These three run one thread per row (a grid-stride loop over rows), walking the row in
//   order: simple and exact in the CPU's order of operations. They are not used on a hot
//   path; a row-parallel scan (as cumsum_rows) would be the upgrade for long rows.

#define RT_IN_ACC 1
#define RT_OUT_ACC 2
#define RT_SCAN_K 4

// Folds f(element) over this lane's columns of [0, len) (common.cuh's rt_fold on elements
// converted to the arithmetic type).
template <typename F, typename Op>
__device__ __forceinline__ acc_t rt_fold_row(const scalar_t* p, long long cs, long long len,
                                             int lane, int L, acc_t init, F f, Op op) {
    return rt_fold(
        p, cs, 0, len, lane, L, init, [&](scalar_t v, long long) { return f(rt_to_acc(v)); }, op);
}

__device__ __forceinline__ acc_t rt_wadd(acc_t a, acc_t b) {
#if RT_INTEGRAL && !RT_UNSIGNED
    return (acc_t)((unsigned long long)a + (unsigned long long)b);
#else
    return (acc_t)(a + b);
#endif
}

struct RtAdd {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return rt_wadd(a, b); }
};

#if RT_FLOAT
// ---- softmax / log_softmax ------------------------------------------------------------------
struct RtMaxSkipNan {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return b > a ? b : a; }
};

template <bool LOG>
__device__ __forceinline__ void rt_softmax_rows(scalar_t* out, const scalar_t* x, long long rows,
                                                long long len, int nk, const Dims& ks,
                                                const RtView& kv, long long cs, int lanes,
                                                int row_fast) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const RtTile g = rt_tile(rows, lanes, row_fast);
    const acc_t inf = rt_inf((acc_t)0);
    for (long long tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
        const long long r = tile * g.W + g.rit;
        const bool live = r < rows;
        const scalar_t* p = x + (live ? rt_row_base(r, nk, ks, kv) : 0);
        const long long n = live ? len : 0;
        acc_t m = rt_fold_row(p, cs, n, g.lane, g.L, -inf, [](acc_t v) { return v; },
                              RtMaxSkipNan());
        m = rt_tile_reduce(m, smem, g, RtMaxSkipNan());
        // A +inf in the row makes every result NaN (inf - inf), as in PyTorch; an all -inf
        // row shifts by 0 (its results are NaN all the same).
        const bool nan_row = m == inf;
        if (m == inf || m == -inf) m = (acc_t)0;
        acc_t s = rt_fold_row(p, cs, n, g.lane, g.L, (acc_t)0,
                              [&](acc_t v) { return rt_exp(v - m); }, RtAdd());
        s = rt_tile_reduce(s, smem, g, RtAdd());
        scalar_t* o = out + r * len;
        if (LOG) {
            const acc_t ls = rt_log(s);
            for (long long j = g.lane; j < n; j += g.L) {
                rt_store(o, j, nan_row ? rt_nan(m) : (rt_load(p, j * cs) - m) - ls);
            }
        } else {
            const acc_t inv = (acc_t)1 / s;
            for (long long j = g.lane; j < n; j += g.L) {
                rt_store(o, j, nan_row ? rt_nan(m) : rt_exp(rt_load(p, j * cs) - m) * inv);
            }
        }
    }
}

KERNEL(softmax_rows)(scalar_t* out, const scalar_t* x, long long rows, long long len, int nk,
                     Dims ks, RtView kv, long long cs, int lanes, int row_fast) {
    rt_softmax_rows<false>(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast);
}
KERNEL(log_softmax_rows)(scalar_t* out, const scalar_t* x, long long rows, long long len, int nk,
                         Dims ks, RtView kv, long long cs, int lanes, int row_fast) {
    rt_softmax_rows<true>(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast);
}

template <bool LOG>
__device__ __forceinline__ void rt_softmax_backward_rows(scalar_t* out, const scalar_t* y,
                                                         const scalar_t* g, long long rows,
                                                         long long len) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const scalar_t* yr = y + r * len;
        const scalar_t* gr = g + r * len;
        acc_t s = (acc_t)0;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            s += LOG ? rt_load(gr, j) : rt_load(gr, j) * rt_load(yr, j);
        }
        s = rt_block_reduce(s, smem, RtAdd());
        scalar_t* o = out + r * len;
        for (long long j = threadIdx.x; j < len; j += blockDim.x) {
            const acc_t yv = rt_load(yr, j);
            const acc_t gv = rt_load(gr, j);
            rt_store(o, j, LOG ? gv - rt_exp(yv) * s : yv * (gv - s));
        }
    }
}

KERNEL(softmax_backward_rows)(scalar_t* out, const scalar_t* y, const scalar_t* g,
                              long long rows, long long len) {
    rt_softmax_backward_rows<false>(out, y, g, rows, len);
}
KERNEL(log_softmax_backward_rows)(scalar_t* out, const scalar_t* y, const scalar_t* g,
                                  long long rows, long long len) {
    rt_softmax_backward_rows<true>(out, y, g, rows, len);
}
#endif  // RT_FLOAT

#if !RT_BOOL
// ---- cumsum -----------------------------------------------------------------------------------
template <typename T, typename Load, typename Store>
__device__ __forceinline__ void rt_cumsum_rows(const T* x, long long rows, long long len, int nk,
                                               const Dims& ks, const RtView& kv, long long cs,
                                               int lanes, int row_fast, long long parts,
                                               long long chunk, const acc_t* carry, Load load,
                                               Store store) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    const int t = (int)threadIdx.x;
    const RtTile g = rt_tile(rows, lanes, row_fast);
    const long long items = g.tiles * parts;
    const long long span = (long long)g.L * RT_SCAN_K;
    for (long long item = blockIdx.x; item < items; item += gridDim.x) {
        const long long tile = item / parts;
        const long long part = item - tile * parts;
        const long long r = tile * g.W + g.rit;
        const bool live = r < rows;
        const long long j0 = part * chunk;
        const long long j1 = j0 + chunk < len ? j0 + chunk : len;
        const T* p = x + (live ? rt_row_base(r, nk, ks, kv) : 0);
        acc_t c = (acc_t)0;
        if (live && carry != nullptr && part > 0) c = carry[r * parts + part - 1];
        // j0 and j1 are the same for the whole block, so every thread runs every round.
        for (long long b = j0; b < j1; b += span) {
            const long long jb = b + (long long)g.lane * RT_SCAN_K;
            acc_t loc[RT_SCAN_K];
            acc_t run = (acc_t)0;
#pragma unroll
            for (int k = 0; k < RT_SCAN_K; ++k) {
                const long long j = jb + k;
                if (live && j < j1) run = rt_wadd(run, load(p, j * cs));
                loc[k] = run;
            }
            // Inclusive scan of the lanes' totals (Hillis-Steele).
            __syncthreads();
            smem[t] = run;
            __syncthreads();
            for (int off = 1; off < g.L; off <<= 1) {
                const acc_t add = g.lane >= off ? smem[t - off * g.step] : (acc_t)0;
                __syncthreads();
                smem[t] = rt_wadd(add, smem[t]);
                __syncthreads();
            }
            const acc_t before = rt_wadd(c, g.lane > 0 ? smem[t - g.step] : (acc_t)0);
            c = rt_wadd(c, smem[g.slot0 + (g.L - 1) * g.step]);
            if (live) {
#pragma unroll
                for (int k = 0; k < RT_SCAN_K; ++k) {
                    const long long j = jb + k;
                    if (j < j1) store(r * len + j, rt_wadd(before, loc[k]));
                }
            }
        }
    }
}

KERNEL(cumsum_rows)(void* out, const void* x, long long rows, long long len, int nk, Dims ks,
                    RtView kv, long long cs, int lanes, int row_fast, long long parts,
                    long long chunk, const void* carry, int flags) {
    const acc_t* cy = (const acc_t*)carry;
    auto store = [&](long long i, acc_t v) {
        if (flags & RT_OUT_ACC) {
            ((acc_t*)out)[i] = v;
        } else {
            rt_store((scalar_t*)out, i, v);
        }
    };
    if (flags & RT_IN_ACC) {
        rt_cumsum_rows((const acc_t*)x, rows, len, nk, ks, kv, cs, lanes, row_fast, parts, chunk,
                       cy, [](const acc_t* p, long long i) { return p[i]; }, store);
    } else {
        rt_cumsum_rows((const scalar_t*)x, rows, len, nk, ks, kv, cs, lanes, row_fast, parts,
                       chunk, cy, [](const scalar_t* p, long long i) { return rt_load(p, i); },
                       store);
    }
}
#endif  // !RT_BOOL

#if !RT_BOOL
// ---- cumprod, cummax / cummin: one thread per row ---------------------------------------------
__device__ __forceinline__ acc_t rt_wmul(acc_t a, acc_t b) {
#if RT_INTEGRAL && !RT_UNSIGNED
    return (acc_t)((unsigned long long)a * (unsigned long long)b);
#else
    return (acc_t)(a * b);
#endif
}

KERNEL(cumprod_rows)(scalar_t* out, const scalar_t* x, long long rows, long long len, int nk,
                     Dims ks, RtView kv, long long cs) {
    RT_GRID_LOOP(r, rows) {
        const scalar_t* p = x + rt_row_base(r, nk, ks, kv);
        acc_t acc = (acc_t)1;
        for (long long j = 0; j < len; ++j) {
            acc = rt_wmul(acc, rt_load(p, j * cs));
            rt_store(out, r * len + j, acc);
        }
    }
}

template <bool MAX>
__device__ __forceinline__ void rt_cum_extreme_rows(scalar_t* values, long long* indices,
                                                    const scalar_t* x, long long rows,
                                                    long long len, int nk, const Dims& ks,
                                                    const RtView& kv, long long cs) {
    RT_GRID_LOOP(r, rows) {
        const scalar_t* p = x + rt_row_base(r, nk, ks, kv);
        acc_t best = len > 0 ? rt_load(p, 0) : (acc_t)0;
        long long at = 0;
        for (long long j = 0; j < len; ++j) {
            const acc_t v = rt_load(p, j * cs);
            const bool better = MAX ? v >= best : v <= best;
            if (rt_isnan(v) || (!rt_isnan(best) && better)) {
                best = v;
                at = j;
            }
            rt_store(values, r * len + j, best);
            indices[r * len + j] = at;
        }
    }
}

KERNEL(cummax_rows)(scalar_t* values, long long* indices, const scalar_t* x, long long rows,
                    long long len, int nk, Dims ks, RtView kv, long long cs) {
    rt_cum_extreme_rows<true>(values, indices, x, rows, len, nk, ks, kv, cs);
}
KERNEL(cummin_rows)(scalar_t* values, long long* indices, const scalar_t* x, long long rows,
                    long long len, int nk, Dims ks, RtView kv, long long cs) {
    rt_cum_extreme_rows<false>(values, indices, x, rows, len, nk, ks, kv, cs);
}
#endif  // !RT_BOOL

#if RT_FLOAT
// ---- logcumsumexp: one thread per row ---------------------------------------------------------
// log(e^x + e^y) = max + log1p(e^(min - max)); equal infinities give x (the formula would
// make inf - inf = NaN); a NaN y is both min and max, so NaN propagates.
__device__ __forceinline__ acc_t rt_log_add_exp(acc_t x, acc_t y) {
    acc_t lo, hi;
    if (rt_isnan(y)) {
        lo = y;
        hi = y;
    } else if (y < x) {
        lo = y;
        hi = x;
    } else if (x < y) {
        lo = x;
        hi = y;
    } else {
        lo = x;
        hi = x;
    }
    const acc_t inf = rt_inf((acc_t)0);
    if (lo != hi || (lo != inf && lo != -inf)) return rt_log1p(rt_exp(lo - hi)) + hi;
    return x;
}

KERNEL(logcumsumexp_rows)(scalar_t* out, const scalar_t* x, long long rows, long long len,
                          int nk, Dims ks, RtView kv, long long cs) {
    RT_GRID_LOOP(r, rows) {
        const scalar_t* p = x + rt_row_base(r, nk, ks, kv);
        acc_t acc = -rt_inf((acc_t)0);
        for (long long j = 0; j < len; ++j) {
            acc = rt_log_add_exp(rt_load(p, j * cs), acc);
            rt_store(out, r * len + j, acc);
        }
    }
}
#endif  // RT_FLOAT
