//! The CPU's seeded generator and sampling kernels.
//!
//! Algorithm: xoshiro256** seeded through SplitMix64 (documented so seeded runs can be
//! reproduced elsewhere); uniform floats take the top 24 (float32) or 53 (float64) bits;
//! normals use the Box–Muller transform. Uniform, Bernoulli and normal draws of at least
//! [`BULK_MIN`] elements come from [`LANES`] xoshiro256** streams run side by side (so that
//! they vectorise), each seeded through SplitMix64 from one draw of the generator's own
//! stream; element `i` of a block of [`BLOCK`] comes from lane `i mod LANES` of the block's
//! streams, seeded in block order, so the blocks can be drawn on several threads and still
//! give the same numbers on any number of them. Bulk normals come 2·[`LANES`] at a time,
//! as PyTorch's CPU `normal_` makes them 16 at a time: the first [`LANES`] are `r·cos θ`
//! and the next `r·sin θ` of the same pairs ([`normal_lanes`]). Streams differ from
//! PyTorch's (mt19937/Philox): a seeded run repeats itself, not PyTorch's numbers.

use crate::backend::Distribution;
use crate::tensor::dtype::{DType, Element};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

/// PyTorch's default seed.
pub const DEFAULT_SEED: u64 = 67280421310721;

#[derive(Clone)]
pub struct Generator {
    s: [u64; 4],
    seed: u64,
}

/// The bytes of a generator's state: its seed, then the four state words (little-endian).
pub const STATE_BYTES: usize = 40;

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E3779B97F4A7C15);
            mix(x)
        };
        Generator {
            s: [next(), next(), next(), next()],
            seed,
        }
    }
    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }
    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [0, 1) with 24 random bits (exactly representable in float32).
    pub fn next_f32(&mut self) -> f64 {
        (self.next_u64() >> 40) as f64 * (1.0 / (1u64 << 24) as f64)
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift with rejection: unbiased.
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let t = n.wrapping_neg() % n;
            while (m as u64) < t {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The state as bytes (`Generator.get_state()`).
    pub fn state(&self) -> [u8; STATE_BYTES] {
        let mut out = [0u8; STATE_BYTES];
        for (i, w) in std::iter::once(self.seed).chain(self.s).enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
    /// A generator in the state `bytes` (from [`Generator::state`]); `None` if they are not
    /// one (the wrong length, or the all-zero state xoshiro never leaves).
    pub fn from_state(bytes: &[u8]) -> Option<Generator> {
        if bytes.len() != STATE_BYTES {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8"));
        let s = [word(1), word(2), word(3), word(4)];
        (s != [0; 4]).then_some(Generator { s, seed: word(0) })
    }
}

/// A generator that several holders draw from (the default one, or a `Generator` object).
pub type SharedGenerator = Arc<Mutex<Generator>>;

/// The default CPU generator.
pub fn default_generator() -> &'static SharedGenerator {
    static GLOBAL: OnceLock<SharedGenerator> = OnceLock::new();
    GLOBAL.get_or_init(|| Arc::new(Mutex::new(Generator::new(DEFAULT_SEED))))
}

thread_local! {
    /// The generator a `generator=` argument put in place on this thread, if any.
    static CURRENT: RefCell<Option<SharedGenerator>> = const { RefCell::new(None) };
}

/// Runs `f` with the CPU generator: the one [`using_generator`] put in place on this
/// thread, else the default one.
pub fn with_generator<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let current = CURRENT.with(|c| c.borrow().clone());
    let g = current.as_ref().unwrap_or_else(|| default_generator());
    let mut g = g.lock();
    f(&mut g)
}

/// Runs `body` with `gen` as this thread's CPU generator (an op's `generator=` argument).
/// Sampling kernels draw on the calling thread, so the ops inside `body` draw from `gen`.
pub fn using_generator<R>(gen: &SharedGenerator, body: impl FnOnce() -> R) -> R {
    struct Restore(Option<SharedGenerator>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(gen.clone())));
    body()
}

pub fn manual_seed(seed: u64) {
    *default_generator().lock() = Generator::new(seed);
}
pub fn initial_seed() -> u64 {
    with_generator(|g| g.seed())
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

/// Streams of the bulk sampler.
pub const LANES: usize = 8;
/// Uniform and Bernoulli draws of fewer elements come from the generator's own stream.
pub const BULK_MIN: usize = 256;
/// Elements drawn from one set of lanes (a multiple of [`LANES`]): a draw of more is split
/// into blocks that run on the team's threads.
pub const BLOCK: usize = 1 << 16;

/// [`LANES`] xoshiro256** states, word-major so that a step over the lanes vectorises.
struct Lanes {
    s: [[u64; LANES]; 4],
}

impl Lanes {
    /// Lanes seeded through SplitMix64 from one draw each of `g`'s stream.
    fn from(g: &mut Generator) -> Lanes {
        let mut s = [[0; LANES]; 4];
        for lane in 0..LANES {
            let mut x = g.next_u64();
            for word in &mut s {
                x = x.wrapping_add(0x9E3779B97F4A7C15);
                word[lane] = mix(x);
            }
        }
        Lanes { s }
    }

    /// One xoshiro256** step of every lane (`·5` and `·9` as shifts and adds, which
    /// vectorise without a 64-bit multiply).
    #[inline(always)]
    fn next(&mut self) -> [u64; LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut r = [0; LANES];
        for l in 0..LANES {
            let x = s1[l].wrapping_add(s1[l] << 2).rotate_left(7);
            r[l] = x.wrapping_add(x << 3);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
        r
    }
}

crate::simd_dispatch! {
    /// Fills `out` with `lo + span·u`, `u` uniform in [0, 1) from the top 24 (`wide` false)
    /// or 53 bits of each lane's draw.
    fn uniform_lanes<T: Element>(l: &mut Lanes, out: &mut [MaybeUninit<T>], lo: f64, span: f64, wide: bool) -> () {
        for chunk in out.chunks_mut(LANES) {
            let r = l.next();
            for (o, &x) in chunk.iter_mut().zip(&r) {
                let u = if wide {
                    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
                } else {
                    ((x >> 40) as u32 as i32) as f64 * (1.0 / (1u64 << 24) as f64)
                };
                o.write(T::from_f64(lo + span * u));
            }
        }
    }
}

crate::simd_dispatch! {
    /// Fills `out` with Bernoulli draws: `on` when the top 53 bits of the lane's draw are
    /// below `threshold` (`u < p` for the uniform `u` they make, without the float), else
    /// zero.
    fn bernoulli_lanes<T: Element>(l: &mut Lanes, out: &mut [MaybeUninit<T>], threshold: u64, on: T) -> () {
        let off = T::from_bool(false);
        for chunk in out.chunks_mut(LANES) {
            let r = l.next();
            for (o, &x) in chunk.iter_mut().zip(&r) {
                o.write(if (x >> 11) < threshold { on } else { off });
            }
        }
    }
}

/// `sin 2πu` and `cos 2πu` for `u = q/4 + f/4`, `q` the quadrant (0–3) and `f` in [0, 1):
/// Taylor polynomials of the angle `φ = f·π/2` within its quadrant (`terms` of each: to
/// `φ¹⁵`/`φ¹⁴` for float32, `φ²³`/`φ²²` for float64, whose remainders at π/2 are below
/// half an ulp), then
/// the quadrant's turn by selects, so a loop over it vectorises. `f64` math with `wide`,
/// else `f32`.
macro_rules! sincos_turn {
    ($t:ty, $q:expr, $f:expr, $terms:expr) => {{
        let phi: $t = $f * std::f64::consts::FRAC_PI_2 as $t;
        let p2 = phi * phi;
        // sin φ = φ·(1 − φ²/(2·3)·(1 − φ²/(4·5)·(…))), cos φ = 1 − φ²/(1·2)·(1 − …).
        let (mut s, mut c): ($t, $t) = (1.0, 1.0);
        for k in (1..=$terms).rev() {
            let k = k as $t;
            s = 1.0 - p2 * (1.0 / ((2.0 * k) * (2.0 * k + 1.0))) * s;
            c = 1.0 - p2 * (1.0 / ((2.0 * k - 1.0) * (2.0 * k))) * c;
        }
        let s = phi * s;
        let q = $q;
        let (sin, cos) = if q & 1 == 0 { (s, c) } else { (c, -s) };
        if q & 2 == 0 {
            (sin, cos)
        } else {
            (-sin, -cos)
        }
    }};
}

crate::simd_dispatch! {
    /// Fills `out` with normal draws, `mean + std·z`: each 2·[`LANES`] elements from two
    /// lane steps by Box–Muller, `z = r·cos θ` (the first [`LANES`]) and `r·sin θ` (the
    /// next), `r = √(−2·ln u₁)` with `u₁ ∈ (0, 1]` from the first step and `θ = 2π·u₂` from
    /// the second (its top two bits the quadrant, the rest the fraction within it). A
    /// final shorter chunk takes the first of them. Float64 (`wide`) takes 53-bit uniforms and
    /// computes in float64; the other types compute in float32 from 24-bit ones.
    fn normal_lanes<T: Element>(l: &mut Lanes, out: &mut [MaybeUninit<T>], mean: f64, std: f64, wide: bool) -> () {
        for chunk in out.chunks_mut(2 * LANES) {
            let (a, b) = (l.next(), l.next());
            let mut z = [0.0f64; 2 * LANES];
            if wide {
                for i in 0..LANES {
                    let u1 = 1.0 - (a[i] >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                    let r = (-2.0 * u1.ln()).sqrt();
                    let k = b[i] >> 11;
                    let f = (k & ((1 << 51) - 1)) as f64 * (1.0 / (1u64 << 51) as f64);
                    let (sin, cos) = sincos_turn!(f64, k >> 51, f, 11);
                    z[i] = r * cos;
                    z[i + LANES] = r * sin;
                }
            } else {
                for i in 0..LANES {
                    let u1 = 1.0 - ((a[i] >> 40) as u32 as i32) as f32 * (1.0 / (1u32 << 24) as f32);
                    let r = (-2.0 * crate::backend::num::ln_f32(u1)).sqrt();
                    let k = (b[i] >> 40) as u32;
                    let f = ((k & ((1 << 22) - 1)) as i32) as f32 * (1.0 / (1u32 << 22) as f32);
                    let (sin, cos) = sincos_turn!(f32, k >> 22, f, 7);
                    z[i] = (r * cos) as f64;
                    z[i + LANES] = (r * sin) as f64;
                }
            }
            for (o, &v) in chunk.iter_mut().zip(&z) {
                o.write(T::from_f64(mean + std * v));
            }
        }
    }
}

/// `n` draws in blocks of [`BLOCK`], each from lanes seeded in block order from `g`, written
/// by `fill` (which must write every element it is handed); the blocks are shared out
/// between the team.
fn bulk<T: Element>(
    g: &mut Generator,
    n: usize,
    fill: impl Fn(&mut Lanes, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    let mut lanes: Vec<Lanes> = (0..n.div_ceil(BLOCK)).map(|_| Lanes::from(g)).collect();
    let write = |out: &mut [MaybeUninit<T>]| {
        let count = lanes.len();
        let mut blocks = lanes.iter_mut().zip(out.chunks_mut(BLOCK));
        // Part `p` takes blocks `p·count/parts .. (p + 1)·count/parts`.
        let n_parts = super::team::parts().clamp(1, count.max(1));
        let parts: Vec<Vec<_>> = (0..n_parts)
            .map(|p| {
                let take = (p + 1) * count / n_parts - p * count / n_parts;
                blocks.by_ref().take(take).collect()
            })
            .collect();
        super::team::for_each_part(parts, |part| {
            for (l, o) in part {
                fill(l, o);
            }
        });
    };
    // SAFETY: the blocks cover the vector and `fill` writes each element of its block.
    unsafe { super::write_new_vec(n, write) }
}

/// `n` samples of `dist` as elements of `T`, from the CPU generator.
pub fn sample<T: Element>(n: usize, dist: Distribution) -> Vec<T> {
    with_generator(|g| match dist {
        Distribution::Uniform { lo, hi } if n >= BULK_MIN => {
            let wide = T::DTYPE == DType::F64;
            bulk(g, n, |l, out| uniform_lanes(l, out, lo, hi - lo, wide))
        }
        Distribution::Bernoulli { p, value } if n >= BULK_MIN => {
            // u = k·2⁻⁵³ < p exactly when the integer k < ⌈p·2⁵³⌉ (p·2⁵³ is exact).
            let threshold = (p.clamp(0.0, 1.0) * (1u64 << 53) as f64).ceil() as u64;
            let on = T::from_f64(value);
            bulk(g, n, |l, out| bernoulli_lanes(l, out, threshold, on))
        }
        Distribution::Normal { mean, std } if n >= BULK_MIN => {
            let wide = T::DTYPE == DType::F64;
            bulk(g, n, |l, out| normal_lanes(l, out, mean, std, wide))
        }
        Distribution::Uniform { lo, hi } => (0..n)
            .map(|_| {
                let u = if T::DTYPE == DType::F64 {
                    g.next_f64()
                } else {
                    g.next_f32()
                };
                T::from_f64(lo + (hi - lo) * u)
            })
            .collect(),
        Distribution::Normal { mean, std } => {
            let mut v = Vec::with_capacity(n + 1);
            while v.len() < n {
                // Box–Muller: two independent normals from two uniforms.
                let u1 = 1.0 - g.next_f64();
                let u2 = g.next_f64();
                let r = (-2.0 * u1.ln()).sqrt();
                let th = 2.0 * std::f64::consts::PI * u2;
                v.push(T::from_f64(mean + std * r * th.cos()));
                v.push(T::from_f64(mean + std * r * th.sin()));
            }
            v.truncate(n);
            v
        }
        Distribution::RandInt { low, high } => {
            let span = high.wrapping_sub(low) as u64;
            (0..n)
                .map(|_| T::from_i64(low.wrapping_add(g.below(span) as i64)))
                .collect()
        }
        Distribution::Bernoulli { p, value } => {
            let (on, off) = (T::from_f64(value), T::from_bool(false));
            (0..n)
                .map(|_| if g.next_f64() < p { on } else { off })
                .collect()
        }
    })
}

/// A random permutation of `0..n` (Fisher–Yates).
pub fn randperm(n: usize) -> Vec<i64> {
    let mut v: Vec<i64> = (0..n as i64).collect();
    with_generator(|g| {
        for i in (1..n).rev() {
            let j = g.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_generators_repeat_and_below_is_in_range() {
        let (mut a, mut b) = (Generator::new(7), Generator::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(10) < 10);
            b.below(10);
        }
        let u = a.next_f32();
        assert!((0.0..1.0).contains(&u));
    }

    /// The bulk sampler: a seeded draw repeats, moves the generator on, and gives uniform,
    /// uncorrelated values (mean, variance, the correlation of neighbours, which come from
    /// different lanes, and of elements `LANES` apart, which come from one) and Bernoulli
    /// draws at the rate `p`.
    #[test]
    fn bulk_draws_repeat_and_look_uniform() {
        let n = 1 << 16;
        let uniform = Distribution::Uniform { lo: 0.0, hi: 1.0 };
        // A generator of its own: tests on other threads draw from the default one.
        let seeded = || -> SharedGenerator { Arc::new(Mutex::new(Generator::new(11))) };
        let gen = seeded();
        let (a, b) = using_generator(&gen, || {
            (sample::<f32>(n, uniform), sample::<f32>(n, uniform))
        });
        assert_eq!(a, using_generator(&seeded(), || sample::<f32>(n, uniform)));
        assert_ne!(a, b);
        let u: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = u.iter().sum::<f64>() / n as f64;
        let var = u.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.002, "variance {var}");
        for lag in [1, LANES] {
            let c = (0..n - lag)
                .map(|i| (u[i] - mean) * (u[i + lag] - mean))
                .sum::<f64>()
                / ((n - lag) as f64 * var);
            assert!(c.abs() < 0.02, "correlation at lag {lag}: {c}");
        }
        let wide: Vec<f64> = sample(n, Distribution::Uniform { lo: -2.0, hi: 3.0 });
        assert!(wide.iter().all(|v| (-2.0..3.0).contains(v)));
        // A draw of several blocks: its first block is a one-block draw's, the later blocks
        // differ from it, and the whole looks uniform.
        let big = using_generator(&seeded(), || sample::<f32>(2 * BLOCK + 100, uniform));
        let one = using_generator(&seeded(), || sample::<f32>(BLOCK, uniform));
        assert_eq!(big[..BLOCK], one[..]);
        assert_ne!(big[BLOCK..2 * BLOCK], one[..]);
        let mean = big.iter().map(|&v| v as f64).sum::<f64>() / big.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        for p in [0.0, 0.1, 0.9, 1.0] {
            let k: Vec<bool> = sample(n, Distribution::Bernoulli { p, value: 1.0 });
            let rate = k.iter().filter(|&&b| b).count() as f64 / n as f64;
            assert!((rate - p).abs() < 0.01, "p {p}: rate {rate}");
        }
        // Dropout's scaled mask: `value` or 0, at the rate `p`, in bulk and one by one; the
        // same seed gives the mask a bool draw gives.
        for count in [n, BULK_MIN - 1] {
            let scale = 1.0 / 0.7;
            let bernoulli = |value| Distribution::Bernoulli { p: 0.7, value };
            let m: Vec<f32> = using_generator(&seeded(), || sample(count, bernoulli(scale)));
            let k: Vec<bool> = using_generator(&seeded(), || sample(count, bernoulli(1.0)));
            for (&v, &b) in m.iter().zip(&k) {
                assert_eq!(v, if b { scale as f32 } else { 0.0 });
            }
            let rate = k.iter().filter(|&&b| b).count() as f64 / count as f64;
            assert!((rate - 0.7).abs() < 0.05, "{count}: rate {rate}");
        }
    }

    /// The integer threshold decides as `u < p` does, at and around p's own grid point.
    #[test]
    fn bernoulli_threshold_is_the_float_comparison() {
        let mut g = Generator::new(3);
        for p in [0.1, 0.25, 0.5, 1.0 / 3.0, 0.9999] {
            let threshold = (p * (1u64 << 53) as f64).ceil() as u64;
            let at = (p * (1u64 << 53) as f64) as u64;
            let ks = (0..1000)
                .map(|_| g.next_u64() >> 11)
                .chain(at.saturating_sub(2)..at + 3);
            for k in ks {
                let u = k as f64 * (1.0 / (1u64 << 53) as f64);
                assert_eq!(k < threshold, u < p, "p {p} k {k}");
            }
        }
    }

    /// The quadrant-turned Taylor polynomials against the library's sine and cosine.
    #[test]
    fn sincos_turn_matches_std() {
        for q in 0u32..4 {
            for i in 0..=4096 {
                let f = i as f64 / 4096.0 * (1.0 - f64::EPSILON);
                let theta = std::f64::consts::TAU * (q as f64 + f) / 4.0;
                let (s64, c64) = sincos_turn!(f64, q, f, 11);
                assert!((s64 - theta.sin()).abs() < 1.5e-15, "f64 sin q={q} f={f}");
                assert!((c64 - theta.cos()).abs() < 1.5e-15, "f64 cos q={q} f={f}");
                let (s32, c32) = sincos_turn!(f32, q, f as f32, 7);
                assert!(
                    (s32 as f64 - theta.sin()).abs() < 2.5e-7,
                    "f32 sin q={q} f={f}"
                );
                assert!(
                    (c32 as f64 - theta.cos()).abs() < 2.5e-7,
                    "f32 cos q={q} f={f}"
                );
            }
        }
    }

    /// Bulk normal draws, both widths, odd lengths: moments, tails, and the cosine and
    /// sine halves of each pair uncorrelated.
    #[test]
    fn bulk_normals_look_normal() {
        let seeded = || -> SharedGenerator { Arc::new(Mutex::new(Generator::new(5))) };
        let n = 2 * BLOCK + 37;
        let normal = Distribution::Normal {
            mean: 1.5,
            std: 2.0,
        };
        let a: Vec<f64> = using_generator(&seeded(), || sample(n, normal));
        let b: Vec<f32> = using_generator(&seeded(), || sample(n, normal));
        for z in [a, b.iter().map(|&v| v as f64).collect::<Vec<_>>()] {
            let z: Vec<f64> = z.iter().map(|v| (v - 1.5) / 2.0).collect();
            let mean = z.iter().sum::<f64>() / n as f64;
            let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            assert!(mean.abs() < 0.01, "mean {mean}");
            assert!((var - 1.0).abs() < 0.015, "variance {var}");
            let tail = z.iter().filter(|v| v.abs() > 2.0).count() as f64 / n as f64;
            assert!((tail - 0.0455).abs() < 0.003, "tail {tail}");
            let c = z
                .chunks_exact(2 * LANES)
                .flat_map(|c| (0..LANES).map(move |i| c[i] * c[i + LANES]))
                .sum::<f64>()
                / (n / 2) as f64;
            assert!(c.abs() < 0.02, "cos/sin correlation {c}");
        }
    }
}
