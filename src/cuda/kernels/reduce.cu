// Row reductions (`ReduceOp`) and the arg-extremes over a `rows × len` view (src/cuda/reduce.rs).
//
// Row r's element j is at  base(r) + j * cs,  where base(r) is the offset of index r in the
// kept dims (`nk` merged dims: sizes `ks`, strides and offset `kv`; one multiply when
// nk <= 1) and `cs` the stride of the merged reduced dims.
//
// Geometry. A block takes a tile of W rows at a time, `L` threads ("lanes") per row, W * L =
// blockDim.x (L = min(lanes, blockDim.x); both powers of two). `row_fast` chooses how threads
// map to (row, lane): lane-fast (thread t is lane t % L of row t / L) when a row's elements are
// close together (cs == 1: neighbouring threads read neighbouring elements); row-fast (row
// t % W, lane t / W) when neighbouring rows are closer than neighbouring elements (a reduction
// over leading dims: neighbouring threads read neighbouring rows). A lane folds every L-th
// element of its row — with 16-byte vector loads when cs == 1 — and the lanes of a row are
// combined by a shared-memory tree.
//
// Parts. Each row is cut into `parts` runs of `chunk` elements (the last one shorter); a work
// item is (tile, part) and the grid strides over items, so a few long rows (a full `x.sum()`)
// still fill the GPU. With parts > 1 the host launches twice: the first pass writes each
// item's partial result in the arithmetic type (flag RT_OUT_ACC, a rows × parts buffer), the
// second reduces those rows (flag RT_IN_ACC, contiguous). var and logsumexp need the whole
// row (two passes over it) and always run with parts == 1.
//
// Kernels (every one writes out[r * parts + part]):
//   <op>_rows(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast, parts, chunk, flags)
//       op = sum, prod, max, min (numeric; flags RT_IN_ACC / RT_OUT_ACC),
//            all, any (every dtype; a bool output; the second pass is the bool kernel)
//   sum_cols(out, x, offset, rows, len, lanes, parts, chunk, flags)
//       the sum over the leading dims of a contiguous tensor: row stride 1, cs = rows
//   var_rows(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast, correction)   floats
//   logsumexp_rows(out, x, rows, len, nk, ks, kv, cs, lanes, row_fast)         floats
//   argmax_rows / argmin_rows(out_v, out_i, x, x_i, rows, len, nk, ks, kv, cs, lanes,
//       row_fast, parts, chunk, flags)   (value, int64 index); with RT_IN_ACC the values are
//       partials and x_i their indices
//
// Semantics (the CPU backend's): integer sums and products wrap; the 16-bit types accumulate in
// float and round once; max/min propagate NaN; argmax/argmin take the first NaN, else the
// first of equal extremes, whatever order the tree combines in; var is two-pass with a
// max(len - correction, 0) denominator; logsumexp shifts by the row max (NaN ignored), not
// at all when that max is infinite. Empty rows and rows == 0 never reach these kernels.

#define RT_IN_ACC 1
#define RT_OUT_ACC 2

// The value kernels that stream long rows (sum, prod, max, min, all, any, sum_cols) are
// register-bounded for blocks of at most 512 threads, three per multiprocessor (40
// registers, no spills): 1536 resident threads, each with two 16-byte loads in flight, are
// what an HBM3 GPU needs to approach its bandwidth (56 registers unbounded would leave two
// blocks). The host launches 512-thread blocks; these kernels take at most that many.
#if defined(__CUDACC__)
#define RT_STREAM_BOUNDS __launch_bounds__(512, 3)
#else
#define RT_STREAM_BOUNDS
#endif
#define RT_STREAM_KERNEL(name) extern "C" __global__ void RT_STREAM_BOUNDS RT_CAT(name, RT_SUFFIX)

// The reduction loop over work items: f(element, j, r) gives an element's contribution,
// store(i, value) writes item (r, part)'s result at i = r * parts + part.
template <typename T, typename A, typename F, typename Op, typename Store>
__device__ __forceinline__ void rt_reduce_rows(const T* x, long long rows, long long len, int nk,
                                               const Dims& ks, const RtView& kv, long long cs,
                                               int lanes, int row_fast, long long parts,
                                               long long chunk, A init, F f, Op op, Store store,
                                               A* smem) {
    const RtTile g = rt_tile(rows, lanes, row_fast);
    const long long items = g.tiles * parts;
    for (long long item = blockIdx.x; item < items; item += gridDim.x) {
        const long long tile = item / parts;
        const long long part = item - tile * parts;
        const long long r = tile * g.W + g.rit;
        const long long j0 = part * chunk;
        const long long j1 = j0 + chunk < len ? j0 + chunk : len;
        A acc = init;
        if (r < rows) {
            acc = rt_fold(
                x + rt_row_base(r, nk, ks, kv), cs, j0, j1, g.lane, g.L, init,
                [&](T v, long long j) { return f(v, j, r); }, op);
        }
        acc = rt_tile_reduce(acc, smem, g, op);
        if (r < rows && g.lane == 0) store(r * parts + part, acc);
    }
}

// ---- integer arithmetic that wraps (signed overflow is undefined in C++) -------------------
__device__ __forceinline__ acc_t rt_wadd(acc_t a, acc_t b) {
#if RT_INTEGRAL && !RT_UNSIGNED
    return (acc_t)((unsigned long long)a + (unsigned long long)b);
#else
    return (acc_t)(a + b);
#endif
}
__device__ __forceinline__ acc_t rt_wmul(acc_t a, acc_t b) {
#if RT_INTEGRAL && !RT_UNSIGNED
    return (acc_t)((unsigned long long)a * (unsigned long long)b);
#else
    return (acc_t)(a * b);
#endif
}

#define RT_ROW_PARAMS                                                                          \
    void *out, const void *x, long long rows, long long len, int nk, Dims ks, RtView kv,       \
        long long cs, int lanes, int row_fast, long long parts, long long chunk, int flags
#define RT_ROW_ARGS rows, len, nk, ks, kv, cs, lanes, row_fast, parts, chunk

// ---- all / any: every dtype, a bool result ----------------------------------------------------
template <bool ALL>
__device__ __forceinline__ void rt_all_any(RT_ROW_PARAMS) {
    __shared__ unsigned char smem[RT_MAX_BLOCK];
    (void)flags;
    unsigned char* o = (unsigned char*)out;
    rt_reduce_rows(
        (const scalar_t*)x, RT_ROW_ARGS, (unsigned char)(ALL ? 1 : 0),
        [](scalar_t v, long long, long long) {
            return (unsigned char)(rt_to_acc(v) != (acc_t)0);
        },
        [](unsigned char a, unsigned char b) {
            return (unsigned char)(ALL ? (a & b) : (a | b));
        },
        [&](long long i, unsigned char v) { o[i] = v; }, smem);
}

RT_STREAM_KERNEL(all_rows)(RT_ROW_PARAMS) { rt_all_any<true>(out, x, RT_ROW_ARGS, flags); }
RT_STREAM_KERNEL(any_rows)(RT_ROW_PARAMS) { rt_all_any<false>(out, x, RT_ROW_ARGS, flags); }

#if !RT_BOOL
// ---- sum, prod, max, min ----------------------------------------------------------------------
template <typename Op>
__device__ __forceinline__ void rt_numeric_rows(RT_ROW_PARAMS, acc_t init, Op op) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    auto store = [&](long long i, acc_t v) {
        if (flags & RT_OUT_ACC) {
            ((acc_t*)out)[i] = v;
        } else {
            rt_store((scalar_t*)out, i, v);
        }
    };
    if (flags & RT_IN_ACC) {
        rt_reduce_rows(
            (const acc_t*)x, RT_ROW_ARGS, init, [](acc_t v, long long, long long) { return v; },
            op, store, smem);
    } else {
        rt_reduce_rows(
            (const scalar_t*)x, RT_ROW_ARGS, init,
            [](scalar_t v, long long, long long) { return rt_to_acc(v); }, op, store, smem);
    }
}

struct RtAdd {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return rt_wadd(a, b); }
};
struct RtMul {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return rt_wmul(a, b); }
};
struct RtMaxNan {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return rt_max_nan(a, b); }
};
struct RtMinNan {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return rt_min_nan(a, b); }
};

RT_STREAM_KERNEL(sum_rows)(RT_ROW_PARAMS) {
    rt_numeric_rows(out, x, RT_ROW_ARGS, flags, (acc_t)0, RtAdd());
}
RT_STREAM_KERNEL(prod_rows)(RT_ROW_PARAMS) {
    rt_numeric_rows(out, x, RT_ROW_ARGS, flags, (acc_t)1, RtMul());
}
RT_STREAM_KERNEL(max_rows)(RT_ROW_PARAMS) {
    rt_numeric_rows(out, x, RT_ROW_ARGS, flags, rt_lowest(), RtMaxNan());
}
RT_STREAM_KERNEL(min_rows)(RT_ROW_PARAMS) {
    rt_numeric_rows(out, x, RT_ROW_ARGS, flags, rt_highest(), RtMinNan());
}

// Row r's element j at offset + r + j * rows: a tile's rows are neighbours in memory, so the
// row-fast mapping reads whole runs of consecutive elements.
RT_STREAM_KERNEL(sum_cols)(void* out, const void* x, long long offset, long long rows,
                           long long len, int lanes, long long parts, long long chunk, int flags) {
    Dims ks;
    RtView kv;
    ks.v[0] = rows;
    kv.strides.v[0] = 1;
    kv.offset = offset;
    rt_numeric_rows(out, x, rows, len, 1, ks, kv, rows, lanes, 1, parts, chunk, flags, (acc_t)0,
                    RtAdd());
}

// ---- argmax / argmin -------------------------------------------------------------------------
struct RtArg {
    acc_t v;
    long long i;
};

// The better of two (value, index) pairs: a NaN, else the larger (smaller) value, the smaller
// index among equals — the same answer in any combining order.
template <bool MAX>
struct RtArgBest {
    __device__ RtArg operator()(RtArg a, RtArg b) const {
        const bool an = rt_isnan(a.v);
        const bool bn = rt_isnan(b.v);
        if (an || bn) {
            if (an && bn) return b.i < a.i ? b : a;
            return an ? a : b;
        }
        if (MAX ? (b.v > a.v) : (b.v < a.v)) return b;
        if (b.v == a.v && b.i < a.i) return b;
        return a;
    }
};

template <bool MAX>
__device__ __forceinline__ void rt_arg_rows(void* out_v, long long* out_i, const void* x,
                                            const long long* x_i, long long rows, long long len,
                                            int nk, Dims ks, RtView kv, long long cs, int lanes,
                                            int row_fast, long long parts, long long chunk,
                                            int flags) {
    __shared__ RtArg smem[RT_MAX_BLOCK];
    // The identity loses to any element: the worst value, with an index past every real one.
    RtArg init;
    init.v = MAX ? rt_lowest() : rt_highest();
    init.i = 9223372036854775807LL;
    auto store = [&](long long i, RtArg a) {
        if (flags & RT_OUT_ACC) {
            ((acc_t*)out_v)[i] = a.v;
        } else {
            rt_store((scalar_t*)out_v, i, a.v);
        }
        out_i[i] = a.i;
    };
    if (flags & RT_IN_ACC) {
        // Partial results: contiguous rows of `len` (value, index) pairs.
        rt_reduce_rows(
            (const acc_t*)x, RT_ROW_ARGS, init,
            [&](acc_t v, long long j, long long r) {
                RtArg a;
                a.v = v;
                a.i = x_i[r * len + j];
                return a;
            },
            RtArgBest<MAX>(), store, smem);
    } else {
        rt_reduce_rows(
            (const scalar_t*)x, RT_ROW_ARGS, init,
            [](scalar_t v, long long j, long long) {
                RtArg a;
                a.v = rt_to_acc(v);
                a.i = j;
                return a;
            },
            RtArgBest<MAX>(), store, smem);
    }
}

KERNEL(argmax_rows)(void* out_v, long long* out_i, const void* x, const long long* x_i,
                    long long rows, long long len, int nk, Dims ks, RtView kv, long long cs,
                    int lanes, int row_fast, long long parts, long long chunk, int flags) {
    rt_arg_rows<true>(out_v, out_i, x, x_i, RT_ROW_ARGS, flags);
}
KERNEL(argmin_rows)(void* out_v, long long* out_i, const void* x, const long long* x_i,
                    long long rows, long long len, int nk, Dims ks, RtView kv, long long cs,
                    int lanes, int row_fast, long long parts, long long chunk, int flags) {
    rt_arg_rows<false>(out_v, out_i, x, x_i, RT_ROW_ARGS, flags);
}
#endif  // !RT_BOOL

#if RT_FLOAT
// ---- var, logsumexp: whole rows, two passes over each ------------------------------------------
#define RT_WHOLE_ROW_PARAMS                                                                    \
    scalar_t *out, const scalar_t *x, long long rows, long long len, int nk, Dims ks,          \
        RtView kv, long long cs, int lanes, int row_fast

// The larger of two values, skipping NaN (the CPU's `if b > a { b } else { a }` fold).
struct RtMaxSkipNan {
    __device__ acc_t operator()(acc_t a, acc_t b) const { return b > a ? b : a; }
};

// Runs body(r, live, fold) for each tile of rows, where fold(f, init, op) folds f(x) over the
// whole row and combines the row's lanes (every thread of the block calls it).
template <typename Body>
__device__ __forceinline__ void rt_whole_rows(const scalar_t* x, long long rows, long long len,
                                              int nk, const Dims& ks, const RtView& kv,
                                              long long cs, int lanes, int row_fast, Body body) {
    const RtTile g = rt_tile(rows, lanes, row_fast);
    for (long long tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
        const long long r = tile * g.W + g.rit;
        const bool live = r < rows;
        const scalar_t* p = x + (live ? rt_row_base(r, nk, ks, kv) : 0);
        auto fold = [&](auto f, acc_t init, auto op, acc_t* smem) {
            acc_t acc = init;
            if (live) {
                acc = rt_fold(
                    p, cs, 0, len, g.lane, g.L, init,
                    [&](scalar_t v, long long) { return f(rt_to_acc(v)); }, op);
            }
            return rt_tile_reduce(acc, smem, g, op);
        };
        body(r, live && g.lane == 0, fold);
    }
}

KERNEL(var_rows)(RT_WHOLE_ROW_PARAMS, double correction) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    double denom = (double)len - correction;
    denom = denom > 0.0 ? denom : 0.0;  // Rust's f64::max(_, 0.0), NaN included
    rt_whole_rows(x, rows, len, nk, ks, kv, cs, lanes, row_fast,
                  [&](long long r, bool writer, auto fold) {
                      const acc_t s = fold([](acc_t v) { return v; }, (acc_t)0, RtAdd(), smem);
                      const acc_t mean = s / (acc_t)len;
                      const acc_t q = fold(
                          [&](acc_t v) {
                              const acc_t d = v - mean;
                              return d * d;
                          },
                          (acc_t)0, RtAdd(), smem);
                      if (writer) rt_store(out, r, q / (acc_t)denom);
                  });
}

KERNEL(logsumexp_rows)(RT_WHOLE_ROW_PARAMS) {
    __shared__ acc_t smem[RT_MAX_BLOCK];
    rt_whole_rows(x, rows, len, nk, ks, kv, cs, lanes, row_fast,
                  [&](long long r, bool writer, auto fold) {
                      const acc_t inf = rt_inf((acc_t)0);
                      const acc_t m =
                          fold([](acc_t v) { return v; }, -inf, RtMaxSkipNan(), smem);
                      // All -inf gives -inf, any +inf +inf: no shift then (it would make NaN).
                      const bool infinite = m == inf || m == -inf;
                      const acc_t shift = infinite ? (acc_t)0 : m;
                      const acc_t s =
                          fold([&](acc_t v) { return rt_exp(v - shift); }, (acc_t)0, RtAdd(), smem);
                      if (writer) rt_store(out, r, infinite ? rt_log(s) : m + rt_log(s));
                  });
}
#endif  // RT_FLOAT
