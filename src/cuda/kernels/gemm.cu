// A plain batched matrix product, for the integer dtypes and for devices without cuBLAS
// (floats normally go to cuBLAS):
//
//   gemm_<dtype>(out, a, b, a_off, b_off, batch, m, n, k, a_rs, a_cs, b_rs, b_cs, alpha,
//                accumulate)
//
// For each matrix pair i < batch, with A_i(r, p) = a[a_off[i] + r * a_rs + p * a_cs] (m x k)
// and B_i(p, c) = b[b_off[i] + p * b_rs + c * b_cs] (k x n), writes the contiguous row-major
// block out[i * m * n ...] = alpha * (A_i @ B_i), or adds it to what is there when
// `accumulate` (out = out + alpha * (A_i @ B_i), as the CPU backend: the product is scaled
// first, then added). Products accumulate in acc_t (float for the 16-bit types, rounded
// once on store), in order of p; integer arithmetic wraps. `a_off`, `b_off` are device
// arrays of `batch` element offsets.
//
// Each block computes T x T tiles of the output (grid-stride over all tiles of all
// matrices), staging T x T tiles of A and B through shared memory, one output element per
// thread; T is the largest power of two with T * T <= blockDim.x (up to 32), so any
// power-of-two block size works (threads beyond T * T help load the tiles).

#define RT_GEMM_MAX_TILE 32

// Wrapping integer arithmetic (signed overflow is undefined in C++), plain float arithmetic.
__device__ __forceinline__ acc_t rt_gemm_mul(acc_t x, acc_t y) {
#if RT_INTEGRAL
    return (acc_t)((unsigned long long)x * (unsigned long long)y);
#else
    return x * y;
#endif
}
__device__ __forceinline__ acc_t rt_gemm_add(acc_t x, acc_t y) {
#if RT_INTEGRAL
    return (acc_t)((unsigned long long)x + (unsigned long long)y);
#else
    return x + y;
#endif
}

KERNEL(gemm)(scalar_t* out, const scalar_t* a, const scalar_t* b, const long long* a_off,
             const long long* b_off, long long batch, long long m, long long n, long long k,
             long long a_rs, long long a_cs, long long b_rs, long long b_cs, RtScalar alpha,
             int accumulate) {
    __shared__ acc_t sa[RT_GEMM_MAX_TILE][RT_GEMM_MAX_TILE + 1];
    __shared__ acc_t sb[RT_GEMM_MAX_TILE][RT_GEMM_MAX_TILE + 1];
    unsigned tile = 1;
    while (tile < RT_GEMM_MAX_TILE && (tile * 2) * (tile * 2) <= blockDim.x) tile *= 2;
    const long long T = tile;
    const acc_t al = rt_scalar(alpha);
    const long long tiles_m = (m + T - 1) / T, tiles_n = (n + T - 1) / T;
    const long long per_matrix = tiles_m * tiles_n;
    const long long total = batch * per_matrix;
    const long long tr = threadIdx.x / T, tc = threadIdx.x % T;  // this thread's output
    const bool computes = threadIdx.x < T * T;
    for (long long t = blockIdx.x; t < total; t += gridDim.x) {
        const long long mat = t / per_matrix;
        const long long i0 = (t % per_matrix) / tiles_n * T, j0 = (t % per_matrix) % tiles_n * T;
        const scalar_t* am = a + a_off[mat];
        const scalar_t* bm = b + b_off[mat];
        acc_t acc = static_cast<acc_t>(0);
        for (long long p0 = 0; p0 < k; p0 += T) {
            __syncthreads();  // the previous tile's products are done with the tiles
            for (long long e = threadIdx.x; e < T * T; e += blockDim.x) {
                const long long r = e / T, c = e % T;
                // A's tile: rows i0.., columns p0..; B's tile: rows p0.., columns j0...
                sa[r][c] = (i0 + r < m && p0 + c < k) ? rt_load(am, (i0 + r) * a_rs + (p0 + c) * a_cs)
                                                      : static_cast<acc_t>(0);
                sb[r][c] = (p0 + r < k && j0 + c < n) ? rt_load(bm, (p0 + r) * b_rs + (j0 + c) * b_cs)
                                                      : static_cast<acc_t>(0);
            }
            __syncthreads();
            if (computes) {
                const long long steps = k - p0 < T ? k - p0 : T;
                for (long long q = 0; q < steps; ++q) acc = rt_gemm_add(acc, rt_gemm_mul(sa[tr][q], sb[q][tc]));
            }
        }
        const long long i = i0 + tr, j = j0 + tc;
        if (computes && i < m && j < n) {
            scalar_t* o = out + mat * m * n + i * n + j;
            const acc_t v = rt_gemm_mul(al, acc);
            *o = rt_from_acc(accumulate ? rt_gemm_add(rt_to_acc(*o), v) : v);
        }
    }
}
