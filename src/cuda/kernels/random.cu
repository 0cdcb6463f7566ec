// Random sampling with Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC'11), the counter-based generator PyTorch's CUDA backend also uses: the
// 128-bit output for counter c under key k is a pure function of (c, k), so every thread
// computes its own numbers and a seeded sequence repeats exactly.
//
// Stream layout (the host side, src/cuda/random.rs, relies on it): the key is the device's
// 64-bit seed (low word, high word); the launch draws `words` 32-bit numbers, which the
// host reserves with `philox(words)` and which start at 4-word group `base`. Group g of the
// launch is Philox(counter = (base + g) as 128 bits, key): four 32-bit words. A sample takes
// `RT_WORDS` words (1: a float from 24 bits; 2: a double from 53 bits, a 64-bit integer, a
// Bernoulli draw), so group g makes samples [g * 4 / RT_WORDS, (g + 1) * 4 / RT_WORDS).
//
//   uniform_<dtype>(out, n, seed, base, lo, hi)           lo + (hi - lo) * u, u in [0, 1)
//   normal_<dtype>(out, n, seed, base, mean, std)          Box–Muller, two normals a pair
//   bernoulli_<dtype>(out, n, seed, base, p, value)        u < p (u with 53 bits): value, or 0
//   randint_i64(out, n, seed, base, low, span)             low + floor(r * span / 2^64)

// Words per sample of uniform and normal: 2 for float64 (53-bit uniforms), else 1.
#if defined(RT_DTYPE_F64)
#define RT_FLOAT_WORDS 2
#else
#define RT_FLOAT_WORDS 1
#endif

struct RtPhilox {
    unsigned w[4];
};

// The high half of a 32x32-bit product (`__umulhi`, written portably for the host shim).
__device__ __forceinline__ unsigned rt_mulhi32(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}

// Philox4x32 with 10 rounds of counter `ctr` (a 128-bit counter whose high 64 bits are 0)
// under key `seed`.
__device__ __forceinline__ RtPhilox rt_philox(unsigned long long seed, unsigned long long ctr) {
    unsigned c0 = (unsigned)ctr, c1 = (unsigned)(ctr >> 32), c2 = 0u, c3 = 0u;
    unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        const unsigned hi0 = rt_mulhi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const unsigned hi1 = rt_mulhi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    RtPhilox out;
    out.w[0] = c0;
    out.w[1] = c1;
    out.w[2] = c2;
    out.w[3] = c3;
    return out;
}

// A uniform in [0, 1) from the top 24 bits of a word (exact in float).
__device__ __forceinline__ double rt_u24(unsigned w) { return (double)(w >> 8) * (1.0 / 16777216.0); }
// 64 random bits from two words.
__device__ __forceinline__ unsigned long long rt_u64(unsigned hi, unsigned lo) {
    return ((unsigned long long)hi << 32) | lo;
}
// A uniform in [0, 1) from the top 53 of 64 bits (exact in double).
__device__ __forceinline__ double rt_u53(unsigned hi, unsigned lo) {
    return (double)(rt_u64(hi, lo) >> 11) * (1.0 / 9007199254740992.0);
}

// The number of 4-word groups that make n samples of `words` words each.
__device__ __forceinline__ long long rt_groups(long long n, int words) {
    return (n * words + 3) / 4;
}

#if RT_FLOAT
// Uniform in [lo, hi): computed in double as the CPU backend does, rounded once to the
// dtype. A value that rounds up to `hi` becomes `lo`, as PyTorch's CUDA uniform_ does (the
// interval stays half-open after rounding).
KERNEL(uniform)(scalar_t* out, long long n, unsigned long long seed, unsigned long long base,
                double lo, double hi) {
    const acc_t top = rt_to_acc(rt_from_f64(hi));
    const scalar_t low = rt_from_f64(lo);
    const long long groups = rt_groups(n, RT_FLOAT_WORDS);
    RT_GRID_LOOP(g, groups) {
        const RtPhilox r = rt_philox(seed, base + (unsigned long long)g);
#pragma unroll
        for (int j = 0; j < 4 / RT_FLOAT_WORDS; ++j) {
            const long long i = g * (4 / RT_FLOAT_WORDS) + j;
            if (i < n) {
#if RT_FLOAT_WORDS == 2
                const double u = rt_u53(r.w[2 * j], r.w[2 * j + 1]);
#else
                const double u = rt_u24(r.w[j]);
#endif
                scalar_t v = rt_from_f64(lo + (hi - lo) * u);
                if (lo < hi && rt_to_acc(v) >= top) v = low;
                out[i] = v;
            }
        }
    }
}

// Normal(mean, std) by Box–Muller, as the CPU backend: u1 in (0, 1], u2 in [0, 1),
// r = sqrt(-2 ln u1), and the pair (mean + std r cos 2πu2, mean + std r sin 2πu2), computed
// in the arithmetic type (float for the 16-bit types, rounded once).
KERNEL(normal)(scalar_t* out, long long n, unsigned long long seed, unsigned long long base,
               double mean, double std) {
    const acc_t mu = static_cast<acc_t>(mean);
    const acc_t sd = static_cast<acc_t>(std);
    const acc_t two_pi = static_cast<acc_t>(6.283185307179586476925286766559);
    const long long groups = rt_groups(n, RT_FLOAT_WORDS);
    RT_GRID_LOOP(g, groups) {
        const RtPhilox r = rt_philox(seed, base + (unsigned long long)g);
#pragma unroll
        for (int pair = 0; pair < 2 / RT_FLOAT_WORDS; ++pair) {
#if RT_FLOAT_WORDS == 2
            const acc_t u1 = static_cast<acc_t>(1.0 - rt_u53(r.w[0], r.w[1]));
            const acc_t u2 = static_cast<acc_t>(rt_u53(r.w[2], r.w[3]));
#else
            const acc_t u1 = static_cast<acc_t>(1.0 - rt_u24(r.w[2 * pair]));
            const acc_t u2 = static_cast<acc_t>(rt_u24(r.w[2 * pair + 1]));
#endif
            const acc_t rad = rt_sqrt(static_cast<acc_t>(-2) * rt_log(u1));
            const acc_t th = two_pi * u2;
            const long long i = g * (4 / RT_FLOAT_WORDS) + 2 * pair;
            if (i < n) rt_store(out, i, mu + sd * rad * rt_cos(th));
            if (i + 1 < n) rt_store(out, i + 1, mu + sd * rad * rt_sin(th));
        }
    }
}
#endif

#if RT_FLOAT || RT_BOOL
// `value` (rounded to the dtype; true for a nonzero value in bool) with probability p (a
// 53-bit uniform below p), else 0.
KERNEL(bernoulli)(scalar_t* out, long long n, unsigned long long seed, unsigned long long base,
                  double p, double value) {
    const scalar_t on = rt_from_f64(value), off = rt_from_i64(0);
    const long long groups = rt_groups(n, 2);
    RT_GRID_LOOP(g, groups) {
        const RtPhilox r = rt_philox(seed, base + (unsigned long long)g);
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const long long i = 2 * g + j;
            if (i < n) out[i] = rt_u53(r.w[2 * j], r.w[2 * j + 1]) < p ? on : off;
        }
    }
}
#endif

#if defined(RT_DTYPE_I64)
// The high 64 bits of a 64x64-bit product, from 32-bit halves (portable: no __umul64hi or
// 128-bit integers in the host shim).
__device__ __forceinline__ unsigned long long rt_mulhi64(unsigned long long a,
                                                         unsigned long long b) {
    const unsigned long long a_lo = a & 0xffffffffull, a_hi = a >> 32;
    const unsigned long long b_lo = b & 0xffffffffull, b_hi = b >> 32;
    const unsigned long long ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo;
    const unsigned long long hh = a_hi * b_hi;
    const unsigned long long mid = (ll >> 32) + (lh & 0xffffffffull) + (hl & 0xffffffffull);
    return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

// Uniform integers in [low, low + span) (span as an unsigned 64-bit count; the sum wraps as
// the CPU's): floor(r * span / 2^64) of a 64-bit random r (Lemire's multiply-shift without
// the rejection step: its bias is at most span / 2^64, below 1e-9 for spans under 2^34).
KERNEL(randint)(scalar_t* out, long long n, unsigned long long seed, unsigned long long base,
                long long low, unsigned long long span) {
    const long long groups = rt_groups(n, 2);
    RT_GRID_LOOP(g, groups) {
        const RtPhilox r = rt_philox(seed, base + (unsigned long long)g);
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const long long i = 2 * g + j;
            if (i < n) {
                const unsigned long long x = rt_u64(r.w[2 * j], r.w[2 * j + 1]);
                out[i] = (long long)((unsigned long long)low + rt_mulhi64(x, span));
            }
        }
    }
}
#endif
