//! The seeded generator and random sampling ops.
//!
//! Algorithm: xoshiro256** seeded through SplitMix64 (documented so seeded runs can be
//! reproduced elsewhere); uniform floats take the top 24 (float32) or 53 (float64) bits;
//! normals use the Box–Muller transform. Streams differ from PyTorch's (mt19937/Philox):
//! a seeded run repeats itself, not PyTorch's numbers.

use crate::error::{Error, Result};
use crate::tensor::dtype::{DType, Element};
use crate::tensor::layout::numel;
use crate::Tensor;
use parking_lot::Mutex;

/// PyTorch's default seed.
pub const DEFAULT_SEED: u64 = 67280421310721;

pub struct Generator {
    s: [u64; 4],
    seed: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^ (z >> 31)
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
}

static GLOBAL: Mutex<Option<Generator>> = Mutex::new(None);

/// Runs `f` with the default CPU generator.
pub fn with_generator<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut g = GLOBAL.lock();
    f(g.get_or_insert_with(|| Generator::new(DEFAULT_SEED)))
}

pub fn manual_seed(seed: u64) {
    *GLOBAL.lock() = Some(Generator::new(seed));
}
pub fn initial_seed() -> u64 {
    with_generator(|g| g.seed())
}

fn uniform_values(n: usize, dtype: DType, lo: f64, hi: f64) -> Tensor {
    with_generator(|g| {
        crate::with_dtype!(dtype, T, {
            let v: Vec<T> = (0..n)
                .map(|_| {
                    let u = if dtype == DType::F64 {
                        g.next_f64()
                    } else {
                        g.next_f32()
                    };
                    T::from_f64(lo + (hi - lo) * u)
                })
                .collect();
            Tensor::from_vec(v, &[n])
        })
    })
}

fn normal_values(n: usize, dtype: DType, mean: f64, std: f64) -> Tensor {
    with_generator(|g| {
        let mut v = Vec::with_capacity(n + 1);
        while v.len() < n {
            // Box–Muller: two independent normals from two uniforms.
            let u1 = 1.0 - g.next_f64();
            let u2 = g.next_f64();
            let r = (-2.0 * u1.ln()).sqrt();
            let th = 2.0 * std::f64::consts::PI * u2;
            v.push(mean + std * r * th.cos());
            v.push(mean + std * r * th.sin());
        }
        v.truncate(n);
        crate::with_dtype!(
            dtype,
            T,
            Tensor::from_vec(v.into_iter().map(T::from_f64).collect::<Vec<T>>(), &[n])
        )
    })
}

fn float_dtype(op: &str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(Error::Runtime(format!(
            "\"{op}\" not implemented for '{}'",
            dtype.name()
        )))
    }
}

pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
    float_dtype("check_uniform_bounds", dtype)?;
    uniform_values(numel(shape), dtype, 0.0, 1.0)
        .reshape(&shape.iter().map(|&s| s as i64).collect::<Vec<_>>())
}

pub fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
    float_dtype("normal_kernel_cpu", dtype)?;
    normal_values(numel(shape), dtype, 0.0, 1.0)
        .reshape(&shape.iter().map(|&s| s as i64).collect::<Vec<_>>())
}

pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if high <= low {
        return Err(Error::Runtime(format!(
            "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )));
    }
    let span = (high - low) as u64;
    let v: Vec<i64> = with_generator(|g| {
        (0..numel(shape))
            .map(|_| low + g.below(span) as i64)
            .collect()
    });
    Ok(Tensor::from_vec(v, shape).to_dtype_raw(dtype))
}

/// A random permutation of `0..n` (Fisher–Yates).
pub fn randperm(n: usize, dtype: DType) -> Tensor {
    let mut v: Vec<i64> = (0..n as i64).collect();
    with_generator(|g| {
        for i in (1..n).rev() {
            let j = g.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    });
    Tensor::from_vec(v, &[n]).to_dtype_raw(dtype)
}

impl Tensor {
    /// `uniform_(a, b)`.
    pub fn uniform_(&self, a: f64, b: f64) -> Result<()> {
        float_dtype("check_uniform_bounds", self.dtype())?;
        if a > b {
            return Err(Error::Runtime(format!(
                "uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
            )));
        }
        let v = uniform_values(self.numel(), self.dtype(), a, b);
        self.fill_from(&v)
    }
    /// `normal_(mean, std)`.
    pub fn normal_(&self, mean: f64, std: f64) -> Result<()> {
        float_dtype("normal_kernel_cpu", self.dtype())?;
        if std < 0.0 {
            return Err(Error::Runtime(format!(
                "normal expects std >= 0.0, but found std {std}"
            )));
        }
        let v = normal_values(self.numel(), self.dtype(), mean, std);
        self.fill_from(&v)
    }
    /// `bernoulli_(p)`: each element 1 with probability p, else 0.
    pub fn bernoulli_(&self, p: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::Runtime(format!(
                "bernoulli_ expects p to be in [0, 1], but got p={p}"
            )));
        }
        let u = uniform_values(self.numel(), DType::F64, 0.0, 1.0);
        let m: Vec<bool> = u.to_vec::<f64>().into_iter().map(|x| x < p).collect();
        self.fill_from(&Tensor::from_vec(m, &[self.numel()]))
    }
    /// Writes a flat tensor of self's element count into self (no history).
    fn fill_from(&self, flat: &Tensor) -> Result<()> {
        let _guard = crate::autograd::GradModeGuard::new(false);
        let shaped = flat.reshape(&self.shape().iter().map(|&s| s as i64).collect::<Vec<_>>())?;
        crate::cpu::copy::copy_into(self, &shaped);
        self.storage().bump_version();
        Ok(())
    }
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
}
