// Row sorts: the indices of each contiguous row's elements in sorted order, stable, NaN last
// ascending and first descending (the order of the CPU backend's `sort_rows`).
//
// Each element becomes a (key, index) pair whose key is an unsigned integer ordered as the
// values are (floats: sign-flipped bits with -0.0 as +0.0 and every NaN the largest key;
// signed integers: the sign bit flipped; descending: the key's complement). Pairs compare by
// key, then by index, so the order is total and a bitonic network (not stable by itself)
// gives the stable order. Rows are padded to a power of two `p` with sentinels (largest key,
// an index no element has) that sort after every element.
//
// A row of at most `tile` pairs (tile <= RT_SORT_TILE, chosen by the host) is sorted in
// shared memory by one block, with as many rows per block as fit:
//   sort_rows(out, x, rows, len, p, k, tile, descending)
//       out[r * k + j] = index of the j-th element of row r, j < k
// A longer row goes through global memory, as pairs buffers `keys`/`idx` of rows * p:
//   sort_tiles(keys, idx, x, rows, len, p, tile, descending)
//       the pairs of each tile, sorted in shared memory in the direction a bitonic sort of
//       the whole row wants (stages 2 .. tile)
//   sort_step(keys, idx, pairs, p, size, stride)
//       one compare-exchange pass (stage `size`, distance `stride` >= tile) in global memory
//   sort_merge(keys, idx, out, p, size, k, tile, last)
//       the passes of stage `size` with distances below `tile`, in shared memory, per tile;
//       the last stage writes the first k indices of each row to `out` instead
// Block sizes are any power of two; threads loop over the pairs.

#if defined(RT_DTYPE_F64) || defined(RT_DTYPE_I64)
typedef unsigned long long rt_key_t;
#define RT_SORT_TILE 2048
#else
typedef unsigned int rt_key_t;
#define RT_SORT_TILE 4096
#endif
#define RT_SORT_SENTINEL_INDEX 0x7fffffff

__device__ __forceinline__ rt_key_t rt_sort_key(scalar_t s, int descending) {
    rt_key_t k;
#if RT_FLOAT
    acc_t v = rt_to_acc(s);
    if (rt_isnan(v)) {
        k = ~(rt_key_t)0;
    } else {
        if (v == (acc_t)0) v = (acc_t)0;  // -0.0 ties with 0.0
#if defined(RT_DTYPE_F64)
#if defined(__CUDACC__)
        const rt_key_t bits = (rt_key_t)__double_as_longlong(v);
#else
        rt_key_t bits;
        memcpy(&bits, &v, 8);
#endif
        const rt_key_t sign = 0x8000000000000000ull;
#else
        const rt_key_t bits = __float_as_uint(v);
        const rt_key_t sign = 0x80000000u;
#endif
        k = (bits & sign) ? ~bits : (bits | sign);
    }
#elif defined(RT_DTYPE_I64)
    k = (rt_key_t)s ^ 0x8000000000000000ull;
#elif defined(RT_DTYPE_I32) || defined(RT_DTYPE_I16) || defined(RT_DTYPE_I8)
    // Sign-extended to 32 bits, then the sign bit flipped: unsigned order is signed order.
    k = (rt_key_t)(int)s ^ 0x80000000u;
#else
    k = (rt_key_t)s;
#endif
    return descending ? ~k : k;
}

// Whether pair a sorts after pair b.
__device__ __forceinline__ bool rt_pair_gt(rt_key_t ka, int ia, rt_key_t kb, int ib) {
    return ka > kb || (ka == kb && ia > ib);
}

// Puts pairs i < j of the arrays in ascending (or descending) order.
__device__ __forceinline__ void rt_exchange(rt_key_t* keys, int* idx, long long i, long long j,
                                            bool ascending) {
    const rt_key_t ki = keys[i], kj = keys[j];
    const int ii = idx[i], ij = idx[j];
    if (rt_pair_gt(ki, ii, kj, ij) == ascending) {
        keys[i] = kj;
        keys[j] = ki;
        idx[i] = ij;
        idx[j] = ii;
    }
}

// The passes of bitonic stages lo_size..hi_size over the n (a power of two) pairs in shared
// memory; stage `size` starts at distance min(size, max_stride * 2) / 2. `pos0` is the row
// position of pair 0 and `p` the padded row length: the direction of a pair comes from its
// position in its row, so that each row ends ascending.
__device__ __forceinline__ void rt_bitonic_shared(rt_key_t* keys, int* idx, long long n,
                                                  long long pos0, long long p, long long lo_size,
                                                  long long hi_size, long long max_stride) {
    for (long long size = lo_size; size <= hi_size; size <<= 1) {
        long long stride = size / 2 < max_stride ? size / 2 : max_stride;
        for (; stride > 0; stride >>= 1) {
            for (long long t = threadIdx.x; t < n / 2; t += blockDim.x) {
                const long long i = 2 * stride * (t / stride) + (t & (stride - 1));
                const long long pos = (pos0 + i) & (p - 1);
                rt_exchange(keys, idx, i, i + stride, (pos & size) == 0);
            }
            __syncthreads();
        }
    }
}

KERNEL(sort_rows)(long long* out, const scalar_t* x, long long rows, long long len, long long p,
                  long long k, long long tile, int descending) {
    __shared__ rt_key_t keys[RT_SORT_TILE];
    __shared__ int idx[RT_SORT_TILE];
    const long long segs = tile / p;  // rows per group
    const long long groups = (rows + segs - 1) / segs;
    for (long long g = blockIdx.x; g < groups; g += gridDim.x) {
        const long long r0 = g * segs;
        const long long nr = rows - r0 < segs ? rows - r0 : segs;
        long long active = p;
        while (active < nr * p) active <<= 1;
        for (long long i = threadIdx.x; i < active; i += blockDim.x) {
            const long long r = i / p, pos = i - r * p;
            if (r < nr && pos < len) {
                keys[i] = rt_sort_key(x[(r0 + r) * len + pos], descending);
                idx[i] = (int)pos;
            } else {
                keys[i] = ~(rt_key_t)0;
                idx[i] = RT_SORT_SENTINEL_INDEX;
            }
        }
        __syncthreads();
        rt_bitonic_shared(keys, idx, active, 0, p, 2, p, p);
        for (long long i = threadIdx.x; i < nr * k; i += blockDim.x) {
            const long long r = i / k, j = i - r * k;
            out[(r0 + r) * k + j] = idx[r * p + j];
        }
        __syncthreads();  // the next group overwrites the arrays
    }
}

KERNEL(sort_tiles)(rt_key_t* gkeys, int* gidx, const scalar_t* x, long long rows, long long len,
                   long long p, long long tile, int descending) {
    __shared__ rt_key_t keys[RT_SORT_TILE];
    __shared__ int idx[RT_SORT_TILE];
    const long long tiles = rows * (p / tile);
    for (long long c = blockIdx.x; c < tiles; c += gridDim.x) {
        const long long g0 = c * tile;
        for (long long i = threadIdx.x; i < tile; i += blockDim.x) {
            const long long gi = g0 + i;
            const long long r = gi / p, pos = gi - r * p;
            if (pos < len) {
                keys[i] = rt_sort_key(x[r * len + pos], descending);
                idx[i] = (int)pos;
            } else {
                keys[i] = ~(rt_key_t)0;
                idx[i] = RT_SORT_SENTINEL_INDEX;
            }
        }
        __syncthreads();
        rt_bitonic_shared(keys, idx, tile, g0, p, 2, tile, tile);
        for (long long i = threadIdx.x; i < tile; i += blockDim.x) {
            gkeys[g0 + i] = keys[i];
            gidx[g0 + i] = idx[i];
        }
        __syncthreads();
    }
}

KERNEL(sort_step)(rt_key_t* keys, int* idx, long long pairs, long long p, long long size,
                  long long stride) {
    RT_GRID_LOOP(t, pairs) {
        const long long i = 2 * stride * (t / stride) + (t & (stride - 1));
        rt_exchange(keys, idx, i, i + stride, ((i & (p - 1)) & size) == 0);
    }
}

KERNEL(sort_merge)(rt_key_t* gkeys, int* gidx, long long* out, long long rows, long long p,
                   long long size, long long k, long long tile, int last) {
    __shared__ rt_key_t keys[RT_SORT_TILE];
    __shared__ int idx[RT_SORT_TILE];
    const long long per_row = p / tile;
    const long long tiles = rows * per_row;
    for (long long c = blockIdx.x; c < tiles; c += gridDim.x) {
        const long long g0 = c * tile;
        const long long pos0 = (c - (c / per_row) * per_row) * tile;
        // The last stage only needs the tiles holding a row's first k positions.
        if (last && pos0 >= k) continue;
        for (long long i = threadIdx.x; i < tile; i += blockDim.x) {
            keys[i] = gkeys[g0 + i];
            idx[i] = gidx[g0 + i];
        }
        __syncthreads();
        rt_bitonic_shared(keys, idx, tile, pos0, p, size, size, tile / 2);
        if (last) {
            const long long r = c / per_row;
            for (long long i = threadIdx.x; i < tile && pos0 + i < k; i += blockDim.x) {
                out[r * k + pos0 + i] = idx[i];
            }
        } else {
            for (long long i = threadIdx.x; i < tile; i += blockDim.x) {
                gkeys[g0 + i] = keys[i];
                gidx[g0 + i] = idx[i];
            }
        }
        __syncthreads();
    }
}
