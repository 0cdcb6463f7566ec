// Advanced indexing, gather/scatter along a dim, and nonzero. Instantiated for the element
// type of the tensor that is read or written (`scalar_t`); index tensors are always int64.
// Index values are checked as they are read: a bad one is recorded with `rt_fail` (the host
// raises it at its next read) and the element is skipped (reads give 0).
//
//   index_offsets_i64(offs, n, ndim, sizes, k, ix, base, err)
//       for each of the n entries of the (merged) index shape `sizes`: the element offset
//       base + sum_j wrap(ix.ptr[j][view_j(i)]) * ix.stride[j] into the indexed tensor, or -1
//       when an index is out of range (RT_ERR_INDEX: IndexError)
//   index_gather(out, src, offs, n, rest_n, rdim, rsizes, rstrides)
//       out[i] = src[offs[i / rest_n] + rest(i % rest_n)], n = entries * rest_n
//   index_put(dst, vals, offs, n, rest_n, rdim, rsizes, rstrides, vdim, vsizes, vv, value,
//             scalar_vals, accumulate)
//       dst[offs[i / rest_n] + rest(i % rest_n)] (+)= vals[vv(i)] (or the number `value`)
//   gather_dim(out, src, idx, n, ndim, sizes, iv, sv, size, stride_d, dim, err)
//       out[i] = src[sv(i) + idx[iv(i)] * stride_d] (RT_ERR_GATHER when out of [0, size))
//   scatter_dim(dst, idx, src, n, ndim, sizes, iv, dv, sv, value, scalar_src, size, stride_d,
//               dim, accumulate, err)
//       dst[dv(i) + idx[iv(i)] * stride_d] (+)= src[sv(i)] (or the number `value`)
//   nonzero_count(counts, x, n, ndim, sizes, xv, chunk, nchunks)
//       counts[c] = the nonzero elements among elements [c * chunk, (c + 1) * chunk)
//   nonzero_write(out, x, starts, n, ndim, sizes, xv, odim, osizes, chunk, nchunks)
//       writes the odim coordinates (over `osizes`, the tensor's own shape) of each nonzero
//       element of chunk c, in order, at rows starts[c], starts[c] + 1, ...

// The most index tensors one advanced index takes (`IndexArgs` on the Rust side).
#define RT_MAX_INDICES 8

struct RtIndices {
    const long long* ptr[RT_MAX_INDICES];
    RtView view[RT_MAX_INDICES];  // each index tensor's strides over the index shape
    long long size[RT_MAX_INDICES];    // the size of the dim it indexes
    long long stride[RT_MAX_INDICES];  // the stride of that dim in the indexed tensor
};

// The coordinates of the i-th element (row-major over `sizes`, ndim dims), into c[0..ndim).
__device__ __forceinline__ void rt_coords(long long i, int ndim, const Dims& sizes,
                                          long long* c) {
#pragma unroll
    for (int d = RT_MAX_DIMS - 1; d >= 0; --d) {
        c[d] = 0;
        if (d < ndim) {
            const long long s = sizes.v[d];
            const long long q = i / s;
            c[d] = i - q * s;
            i = q;
        }
    }
}

// The element offset of coordinates c in view v.
__device__ __forceinline__ long long rt_at(const long long* c, int ndim, const RtView& v) {
    long long off = v.offset;
#pragma unroll
    for (int d = 0; d < RT_MAX_DIMS; ++d) {
        if (d < ndim) off += c[d] * v.strides.v[d];
    }
    return off;
}

KERNEL(index_offsets)(long long* offs, long long n, int ndim, Dims sizes, int k, RtIndices ix,
                      long long base, RtError* err) {
    RT_GRID_LOOP(i, n) {
        long long c[RT_MAX_DIMS];
        rt_coords(i, ndim, sizes, c);
        long long off = base;
#pragma unroll
        for (int j = 0; j < RT_MAX_INDICES; ++j) {
            if (j < k && off >= 0) {
                const long long raw = ix.ptr[j][rt_at(c, ndim, ix.view[j])];
                const long long size = ix.size[j];
                const long long v = raw < 0 ? raw + size : raw;
                if (v < 0 || v >= size) {
                    rt_fail(err, RT_ERR_INDEX, raw, size, j);
                    off = -1;
                } else {
                    off += v * ix.stride[j];
                }
            }
        }
        offs[i] = off;
    }
}

KERNEL(index_gather)(scalar_t* out, const scalar_t* src, const long long* offs, long long n,
                     long long rest_n, int rdim, Dims rsizes, Dims rstrides) {
    RT_GRID_LOOP(i, n) {
        const long long e = i / rest_n;
        const long long o = offs[e];
        out[i] = o < 0 ? scalar_t{}
                       : src[o + rt_strided_offset(i - e * rest_n, rdim, rsizes, rstrides)];
    }
}

KERNEL(index_put)(scalar_t* dst, const scalar_t* vals, const long long* offs, long long n,
                  long long rest_n, int rdim, Dims rsizes, Dims rstrides, int vdim, Dims vsizes,
                  RtView vv, RtScalar value, int scalar_vals, int accumulate) {
    const scalar_t number = rt_from_acc(rt_scalar(value));
    RT_GRID_LOOP(i, n) {
        const long long e = i / rest_n;
        const long long o = offs[e];
        if (o < 0) continue;
        const long long d = o + rt_strided_offset(i - e * rest_n, rdim, rsizes, rstrides);
        const scalar_t v = scalar_vals ? number : vals[rt_offset(i, vdim, vsizes, vv)];
        if (accumulate) {
            rt_atomic_add(dst + d, rt_to_acc(v));
        } else {
            dst[d] = v;
        }
    }
}

KERNEL(gather_dim)(scalar_t* out, const scalar_t* src, const long long* idx, long long n,
                   int ndim, Dims sizes, RtView iv, RtView sv, long long size, long long stride_d,
                   int dim, RtError* err) {
    RT_GRID_LOOP(i, n) {
        long long c[RT_MAX_DIMS];
        rt_coords(i, ndim, sizes, c);
        // No negative indices, as PyTorch's gather.
        const long long v = idx[rt_at(c, ndim, iv)];
        if (v < 0 || v >= size) {
            rt_fail(err, RT_ERR_GATHER, v, size, dim);
            out[i] = scalar_t{};
        } else {
            out[i] = src[rt_at(c, ndim, sv) + v * stride_d];
        }
    }
}

KERNEL(scatter_dim)(scalar_t* dst, const long long* idx, const scalar_t* src, long long n,
                    int ndim, Dims sizes, RtView iv, RtView dv, RtView sv, RtScalar value,
                    int scalar_src, long long size, long long stride_d, int dim, int accumulate,
                    RtError* err) {
    const scalar_t number = rt_from_acc(rt_scalar(value));
    RT_GRID_LOOP(i, n) {
        long long c[RT_MAX_DIMS];
        rt_coords(i, ndim, sizes, c);
        const long long v = idx[rt_at(c, ndim, iv)];
        if (v < 0 || v >= size) {
            rt_fail(err, RT_ERR_GATHER, v, size, dim);
            continue;
        }
        const long long at = rt_at(c, ndim, dv) + v * stride_d;
        const scalar_t s = scalar_src ? number : src[rt_at(c, ndim, sv)];
        if (accumulate) {
            rt_atomic_add(dst + at, rt_to_acc(s));
        } else {
            dst[at] = s;
        }
    }
}

// Whether an element counts for nonzero: NaN does, -0.0 does not.
__device__ __forceinline__ bool rt_is_nonzero(scalar_t v) {
#if RT_HALF
    return (v.bits & 0x7fffu) != 0;
#else
    return v != (scalar_t)0;
#endif
}

struct RtAddCount {
    __device__ __forceinline__ long long operator()(long long a, long long b) const {
        return a + b;
    }
};

KERNEL(nonzero_count)(long long* counts, const scalar_t* x, long long n, int ndim, Dims sizes,
                      RtView xv, long long chunk, long long nchunks) {
    __shared__ long long smem[RT_MAX_BLOCK];
    for (long long c = blockIdx.x; c < nchunks; c += gridDim.x) {
        const long long lo = c * chunk;
        const long long hi = lo + chunk < n ? lo + chunk : n;
        long long cnt = 0;
        for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) {
            cnt += rt_is_nonzero(x[rt_offset(i, ndim, sizes, xv)]) ? 1 : 0;
        }
        cnt = rt_block_reduce(cnt, smem, RtAddCount());
        if (threadIdx.x == 0) counts[c] = cnt;
    }
}

// Each block walks its chunk in tiles of blockDim.x elements; an inclusive scan of the
// tile's flags (Hillis-Steele, in shared memory) gives each nonzero element its row.
KERNEL(nonzero_write)(long long* out, const scalar_t* x, const long long* starts, long long n,
                      int ndim, Dims sizes, RtView xv, int odim, Dims osizes, long long chunk,
                      long long nchunks) {
    __shared__ int scan[RT_MAX_BLOCK];
    const unsigned t = threadIdx.x;
    for (long long c = blockIdx.x; c < nchunks; c += gridDim.x) {
        long long base = starts[c];
        const long long lo = c * chunk;
        const long long hi = lo + chunk < n ? lo + chunk : n;
        for (long long t0 = lo; t0 < hi; t0 += blockDim.x) {
            const long long i = t0 + t;
            const int f = (i < hi && rt_is_nonzero(x[rt_offset(i, ndim, sizes, xv)])) ? 1 : 0;
            scan[t] = f;
            __syncthreads();
            for (unsigned off = 1; off < blockDim.x; off <<= 1) {
                const int add = t >= off ? scan[t - off] : 0;
                __syncthreads();
                scan[t] += add;
                __syncthreads();
            }
            const int incl = scan[t];
            const int total = scan[blockDim.x - 1];
            if (f) {
                long long co[RT_MAX_DIMS];
                rt_coords(i, odim, osizes, co);
                long long* row = out + (base + incl - 1) * odim;
#pragma unroll
                for (int d = 0; d < RT_MAX_DIMS; ++d) {
                    if (d < odim) row[d] = co[d];
                }
            }
            base += total;
            __syncthreads();  // the next tile overwrites `scan`
        }
    }
}
