//! Random sampling on a GPU: Philox4x32-10 (`kernels/random.cu`), keyed by the device's seed
//! and a counter the device hands out (`DeviceApi::philox`), as PyTorch's CUDA generator is.
//!
//! Each launch reserves the 32-bit words it draws from the device's counter, so successive
//! calls draw disjoint parts of one stream and, after `manual_seed(s)`, the same calls give
//! the same numbers. The streams differ from the CPU generator's (and from PyTorch's, whose
//! Philox offsets are per thread); the distributions are the same: uniform floats from 24
//! (float32, 16-bit) or 53 (float64) random bits, normals by Box–Muller, integers by a
//! multiply-shift of 64 random bits, Bernoulli draws as a 53-bit uniform below `p`.

use super::buffer::CudaBuffer;
use super::device::{Args, DeviceApi, Kernel};
use super::elementwise::launch_elementwise;
use super::kernels::RANDOM;
use crate::backend::Distribution;
use crate::error::{Error, Result};
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The seed of the last `manual_seed`, which devices opened afterwards start from
/// (PyTorch's default seed until then).
static DEFAULT_SEED: AtomicU64 = AtomicU64::new(crate::cpu::random::DEFAULT_SEED);

/// The seed a device opened now starts its generator from: the last `manual_seed`'s, or
/// PyTorch's default seed. `Gpu::open` (device.rs) seeds a new device's generator with it.
pub fn default_seed() -> u64 {
    DEFAULT_SEED.load(Ordering::Relaxed)
}

/// The kernel that samples `dist` and the 32-bit words one sample of `dtype` takes (the
/// `RT_WORDS` of `random.cu`).
fn kernel_of(dist: Distribution, dtype: DType) -> (&'static str, u64) {
    let float_words = if dtype == DType::F64 { 2 } else { 1 };
    match dist {
        Distribution::Uniform { .. } => ("uniform", float_words),
        Distribution::Normal { .. } => ("normal", float_words),
        Distribution::Bernoulli { .. } => ("bernoulli", 2),
        Distribution::RandInt { .. } => ("randint", 2),
    }
}

/// `n` samples of `dist` in `dtype` from `dev`'s generator: uniform and normal in the float
/// dtypes, Bernoulli in the float dtypes and bool, integers in int64 (other dtypes fail with
/// PyTorch's "not implemented for" message).
pub fn random(
    dev: &Arc<dyn DeviceApi>,
    n: usize,
    dtype: DType,
    dist: Distribution,
) -> Result<CudaBuffer> {
    let out = CudaBuffer::alloc(dev, n, dtype)?;
    if n == 0 {
        return Ok(out);
    }
    let (name, words) = kernel_of(dist, dtype);
    let total = (n as u64)
        .checked_mul(words)
        .ok_or_else(|| Error::Runtime(format!("random: {n} samples are too many")))?;
    let (seed, offset) = dev.philox(total);
    // The first 4-word group not drawn before (offsets advance by whole groups).
    let base = offset.div_ceil(4);
    let mut args = Args::new();
    args.arg(out.device_ptr()).arg(n as i64).arg(seed).arg(base);
    match dist {
        Distribution::Uniform { lo, hi } => args.arg(lo).arg(hi),
        Distribution::Normal { mean, std } => args.arg(mean).arg(std),
        Distribution::Bernoulli { p, value } => args.arg(p).arg(value),
        Distribution::RandInt { low, high } => args.arg(low).arg(high.wrapping_sub(low) as u64),
    };
    let groups = total.div_ceil(4) as usize;
    let k = Kernel {
        file: &RANDOM,
        name,
    };
    launch_elementwise(dev, k, dtype, groups, &mut args)?;
    Ok(out)
}

/// A random permutation of `0..n` (int64): the order that sorts `n` random 62-bit keys
/// (ties, which have probability about n²/2⁶³, keep index order).
pub fn randperm(dev: &Arc<dyn DeviceApi>, n: usize) -> Result<CudaBuffer> {
    if n == 0 {
        return CudaBuffer::alloc(dev, 0, DType::I64);
    }
    let keys = random(
        dev,
        n,
        DType::I64,
        Distribution::RandInt {
            low: 0,
            high: 1 << 62,
        },
    )?;
    super::index::sort(&keys, &Layout::contiguous(&[1, n]), 1, n, false, n)
}

/// Reseeds device `device`'s generator (opening the device), and makes devices opened later
/// start from `seed`. Without a GPU there is nothing to seed.
pub fn manual_seed(device: usize, seed: u64) -> Result<()> {
    DEFAULT_SEED.store(seed, Ordering::Relaxed);
    if super::runtime::device_count() == 0 {
        return Ok(());
    }
    super::device::gpu(device)?.manual_seed(seed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::host_check::testing::*;
    use super::super::host_check::{available, HostDevice};
    use super::*;
    use crate::tensor::dtype::Element;

    /// Philox4x32-10 in Rust, to check the kernel's stream word for word.
    fn philox(seed: u64, ctr: [u32; 4]) -> [u32; 4] {
        let [mut c0, mut c1, mut c2, mut c3] = ctr;
        let (mut k0, mut k1) = (seed as u32, (seed >> 32) as u32);
        for _ in 0..10 {
            let p0 = 0xD251_1F53u64 * c0 as u64;
            let p1 = 0xCD9E_8D57u64 * c2 as u64;
            (c0, c1, c2, c3) = (
                (p1 >> 32) as u32 ^ c1 ^ k0,
                p1 as u32,
                (p0 >> 32) as u32 ^ c3 ^ k1,
                p0 as u32,
            );
            k0 = k0.wrapping_add(0x9E37_79B9);
            k1 = k1.wrapping_add(0xBB67_AE85);
        }
        [c0, c1, c2, c3]
    }

    /// The reference implementation reproduces Random123's known-answer vectors.
    #[test]
    fn philox_reference_matches_the_known_answers() {
        assert_eq!(
            philox(0, [0; 4]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox(u64::MAX, [u32::MAX; 4]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox(
                0x299f_31d0_a409_3822,
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    /// Mean and variance of samples.
    fn moments(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    /// Whether `got` is within 5 standard errors of `want` (`sd` one sample's deviation).
    fn near(got: f64, want: f64, sd: f64, n: usize) -> bool {
        (got - want).abs() <= 5.0 * sd / (n as f64).sqrt() + 1e-12
    }

    #[test]
    fn the_kernel_draws_the_philox_stream() {
        if !available("philox stream") {
            return;
        }
        let dev = HostDevice::open();
        dev.manual_seed(0x1234_5678_9abc_def0);
        let n = 37;
        let got = get(&random(
            &dev,
            n,
            DType::F32,
            Distribution::Uniform { lo: 0.0, hi: 1.0 },
        )
        .unwrap());
        let ints = get(&random(
            &dev,
            9,
            DType::I64,
            Distribution::RandInt {
                low: -5,
                high: 1 << 40,
            },
        )
        .unwrap());
        for (i, &g) in got.iter().enumerate() {
            let w = philox(0x1234_5678_9abc_def0, [(i / 4) as u32, 0, 0, 0])[i % 4];
            assert_eq!(g, (w >> 8) as f64 / (1u64 << 24) as f64, "sample {i}");
        }
        // 37 words were drawn: 10 groups; the integers start at group 10.
        for (i, &g) in ints.iter().enumerate() {
            let w = philox(0x1234_5678_9abc_def0, [(10 + i / 2) as u32, 0, 0, 0]);
            let r = ((w[2 * (i % 2)] as u64) << 32) | w[2 * (i % 2) + 1] as u64;
            let want = -5 + ((r as u128 * ((1u128 << 40) + 5)) >> 64) as i64;
            assert_eq!(g, want as f64, "integer {i}");
        }
    }

    #[test]
    fn uniform_samples_are_in_range_with_the_right_moments() {
        if !available("uniform") {
            return;
        }
        let dev = HostDevice::open();
        let n = 20000;
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            for (lo, hi) in [(0.0, 1.0), (-3.0, 5.0), (1.0, 2.0)] {
                let v = get(&random(&dev, n, dtype, Distribution::Uniform { lo, hi }).unwrap());
                assert!(
                    v.iter().all(|&x| x >= lo && x < hi),
                    "{dtype:?} [{lo}, {hi})"
                );
                let (mean, var) = moments(&v);
                let w = hi - lo;
                let sd = w / 12f64.sqrt();
                let tol = if dtype.is_half() { 0.01 * w } else { 0.0 };
                assert!(
                    near(mean, (lo + hi) / 2.0, sd, n) || (mean - (lo + hi) / 2.0).abs() < tol,
                    "{dtype:?} mean {mean}"
                );
                assert!((var / (sd * sd) - 1.0).abs() < 0.05, "{dtype:?} var {var}");
            }
        }
        // A value that rounds up to `hi` becomes `lo`: 1 + u with u ≥ 1 − 2⁻²⁴ rounds to 2.0
        // in float32; every float32 in [1, 2) below 2 stays.
        let v = get(&random(
            &dev,
            4096,
            DType::F32,
            Distribution::Uniform { lo: 1.0, hi: 2.0 },
        )
        .unwrap());
        assert!(v.iter().all(|&x| (1.0..2.0).contains(&x)));
        let v = get(&random(
            &dev,
            3,
            DType::F32,
            Distribution::Uniform { lo: 2.0, hi: 2.0 },
        )
        .unwrap());
        assert_eq!(v, vec![2.0; 3]);
    }

    #[test]
    fn normal_samples_have_the_right_moments() {
        if !available("normal") {
            return;
        }
        let dev = HostDevice::open();
        let n = 20001;
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let (mu, sigma) = (1.5, 2.0);
            let v = get(&random(
                &dev,
                n,
                dtype,
                Distribution::Normal {
                    mean: mu,
                    std: sigma,
                },
            )
            .unwrap());
            assert!(v.iter().all(|x| x.is_finite()), "{dtype:?}");
            let (mean, var) = moments(&v);
            assert!(near(mean, mu, sigma, n), "{dtype:?} mean {mean}");
            // The variance of a sample variance of normals is 2σ⁴/(n−1).
            assert!(
                near(var, sigma * sigma, 2f64.sqrt() * sigma * sigma, n),
                "{dtype:?} var {var}"
            );
            // The tails: about 4.55% beyond two standard deviations.
            let far = v.iter().filter(|&&x| (x - mu).abs() > 2.0 * sigma).count() as f64 / n as f64;
            assert!((far - 0.0455).abs() < 0.008, "{dtype:?} tails {far}");
            // Successive pairs are uncorrelated (the cos and sin halves of one pair too).
            let corr: f64 = v.windows(2).map(|w| (w[0] - mu) * (w[1] - mu)).sum::<f64>()
                / ((n - 1) as f64 * sigma * sigma);
            assert!(corr.abs() < 0.04, "{dtype:?} correlation {corr}");
        }
    }

    #[test]
    fn randint_and_bernoulli_have_the_right_distribution() {
        if !available("randint") {
            return;
        }
        let dev = HostDevice::open();
        let n = 20000;
        let v = get(&random(
            &dev,
            n,
            DType::I64,
            Distribution::RandInt { low: -3, high: 7 },
        )
        .unwrap());
        let mut counts = [0usize; 10];
        for &x in &v {
            assert!((-3.0..7.0).contains(&x) && x.fract() == 0.0, "{x}");
            counts[(x + 3.0) as usize] += 1;
        }
        // Each value about n/10 times (a binomial's deviation is 42 here).
        assert!(
            counts.iter().all(|&c| (c as f64 - 2000.0).abs() < 250.0),
            "{counts:?}"
        );
        // A large span reaches its whole range.
        let big = get(&random(
            &dev,
            1000,
            DType::I64,
            Distribution::RandInt {
                low: 0,
                high: 1 << 62,
            },
        )
        .unwrap());
        assert!(
            big.iter().any(|&x| x > (1u64 << 61) as f64)
                && big.iter().any(|&x| x < (1u64 << 61) as f64)
        );
        for dtype in [DType::Bool, DType::F32, DType::F16, DType::F64, DType::BF16] {
            for p in [0.0, 0.3, 1.0] {
                let v = get(
                    &random(&dev, n, dtype, Distribution::Bernoulli { p, value: 1.0 }).unwrap(),
                );
                assert!(v.iter().all(|&x| x == 0.0 || x == 1.0));
                let (mean, _) = moments(&v);
                assert!(
                    near(mean, p, (p * (1.0 - p)).sqrt(), n),
                    "{dtype:?} p={p}: {mean}"
                );
            }
        }
        // Dropout's scaled mask: `value` rounded to the dtype, or 0, at the rate p; the same
        // seed gives the mask a bool draw gives.
        let scale = 1.0 / 0.9;
        for dtype in [DType::F32, DType::F64, DType::F16] {
            let draw = |value| {
                dev.manual_seed(5);
                get(&random(&dev, n, dtype, Distribution::Bernoulli { p: 0.9, value }).unwrap())
            };
            let (m, k) = (draw(scale), draw(1.0));
            let on = crate::with_dtype!(dtype, T, <T as Element>::from_f64(scale).to_f64());
            assert!(on != 1.0 && (on - scale).abs() < 1e-3, "{dtype:?}: {on}");
            assert!(m.iter().zip(&k).all(|(&v, &b)| v == b * on), "{dtype:?}");
            let (mean, _) = moments(&k);
            assert!(near(mean, 0.9, 0.3, n), "{dtype:?}: {mean}");
        }
    }

    #[test]
    fn seeding_repeats_a_sequence_and_successive_calls_differ() {
        if !available("seeding") {
            return;
        }
        let dev = HostDevice::open();
        let draw = |dev: &Arc<dyn DeviceApi>| {
            [
                get(&random(
                    dev,
                    7,
                    DType::F32,
                    Distribution::Uniform { lo: 0.0, hi: 1.0 },
                )
                .unwrap()),
                get(&random(
                    dev,
                    5,
                    DType::F64,
                    Distribution::Normal {
                        mean: 0.0,
                        std: 1.0,
                    },
                )
                .unwrap()),
                get(&random(
                    dev,
                    6,
                    DType::I64,
                    Distribution::RandInt { low: 0, high: 1000 },
                )
                .unwrap()),
                get(&random(
                    dev,
                    64,
                    DType::Bool,
                    Distribution::Bernoulli { p: 0.5, value: 1.0 },
                )
                .unwrap()),
            ]
        };
        dev.manual_seed(42);
        let first = draw(&dev);
        let second = draw(&dev);
        for (a, b) in first.iter().zip(&second) {
            assert_ne!(a, b, "successive calls gave the same numbers");
        }
        dev.manual_seed(42);
        assert_eq!(draw(&dev), first);
        dev.manual_seed(43);
        assert_ne!(draw(&dev)[0], first[0]);
        // Empty draws work and draw nothing.
        dev.manual_seed(42);
        assert!(random(
            &dev,
            0,
            DType::F32,
            Distribution::Uniform { lo: 0.0, hi: 1.0 }
        )
        .unwrap()
        .is_empty());
        assert_eq!(draw(&dev), first);
    }

    #[test]
    fn other_dtypes_are_not_implemented() {
        if !available("random dtypes") {
            return;
        }
        let dev = HostDevice::open();
        let Err(e) = random(
            &dev,
            3,
            DType::I32,
            Distribution::Normal {
                mean: 0.0,
                std: 1.0,
            },
        ) else {
            panic!("normal int32 succeeded");
        };
        assert_eq!(e.to_string(), "\"normal_cuda\" not implemented for 'Int'");
    }

    #[test]
    fn randperm_is_a_permutation() {
        if !available("randperm") {
            return;
        }
        let dev = HostDevice::open();
        assert!(randperm(&dev, 0).unwrap().is_empty());
        for n in [1, 2, 17, 300] {
            let p = get(&randperm(&dev, n).unwrap());
            let mut sorted = p.clone();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(
                sorted,
                (0..n).map(|i| i as f64).collect::<Vec<_>>(),
                "n = {n}"
            );
            if n > 2 {
                let q = get(&randperm(&dev, n).unwrap());
                assert_ne!(p, q, "two permutations of {n} were equal");
            }
        }
        dev.manual_seed(5);
        let a = get(&randperm(&dev, 50).unwrap());
        dev.manual_seed(5);
        assert_eq!(get(&randperm(&dev, 50).unwrap()), a);
    }

    #[test]
    fn manual_seed_without_a_gpu_only_sets_the_default_seed() {
        if super::super::runtime::device_count() > 0 {
            return;
        }
        manual_seed(0, 99).unwrap();
        assert_eq!(default_seed(), 99);
        manual_seed(3, crate::cpu::random::DEFAULT_SEED).unwrap();
        assert_eq!(default_seed(), crate::cpu::random::DEFAULT_SEED);
    }
}
