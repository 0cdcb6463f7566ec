//! Random sampling ops. Each device has its own seeded generator (see `cpu::random` for the
//! CPU's algorithm); `manual_seed` seeds them all, as PyTorch's does.

use crate::backend::Distribution;
use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::layout::numel;
use crate::tensor::storage::Storage;
use crate::Tensor;

pub use crate::cpu::random::DEFAULT_SEED;

/// Seeds the generators of the CPU and every GPU.
pub fn manual_seed(seed: u64) -> Result<()> {
    Storage::manual_seed_all(seed)
}

/// The seed of the CPU generator.
pub fn initial_seed() -> u64 {
    crate::cpu::random::initial_seed()
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

fn sample(shape: &[usize], dtype: DType, device: Device, dist: Distribution) -> Result<Tensor> {
    let s = Storage::random(device, numel(shape), dtype, dist)?;
    Ok(Tensor::from_storage(s, shape))
}

pub fn rand(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
    float_dtype("check_uniform_bounds", dtype)?;
    sample(
        shape,
        dtype,
        device,
        Distribution::Uniform { lo: 0.0, hi: 1.0 },
    )
}

pub fn randn(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
    float_dtype("normal_kernel_cpu", dtype)?;
    sample(
        shape,
        dtype,
        device,
        Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        },
    )
}

pub fn randint(
    low: i64,
    high: i64,
    shape: &[usize],
    dtype: DType,
    device: Device,
) -> Result<Tensor> {
    if high <= low {
        return Err(Error::Runtime(format!(
            "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )));
    }
    sample(
        shape,
        DType::I64,
        device,
        Distribution::RandInt { low, high },
    )?
    .to_dtype_raw(dtype)
}

/// A random permutation of `0..n`.
pub fn randperm(n: usize, dtype: DType, device: Device) -> Result<Tensor> {
    Tensor::from_storage(Storage::randperm(device, n)?, [n]).to_dtype_raw(dtype)
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
        self.fill_from(Distribution::Uniform { lo: a, hi: b })
    }
    /// `normal_(mean, std)`.
    pub fn normal_(&self, mean: f64, std: f64) -> Result<()> {
        float_dtype("normal_kernel_cpu", self.dtype())?;
        if std < 0.0 {
            return Err(Error::Runtime(format!(
                "normal expects std >= 0.0, but found std {std}"
            )));
        }
        self.fill_from(Distribution::Normal { mean, std })
    }
    /// `bernoulli_(p)`: each element 1 with probability p, else 0.
    pub fn bernoulli_(&self, p: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::Runtime(format!(
                "bernoulli_ expects p to be in [0, 1], but got p={p}"
            )));
        }
        let dtype = if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::Bool
        };
        self.write_samples(dtype, Distribution::Bernoulli { p })
    }
    /// Writes samples of `dist` in self's dtype into self (no history).
    fn fill_from(&self, dist: Distribution) -> Result<()> {
        self.write_samples(self.dtype(), dist)
    }
    fn write_samples(&self, dtype: DType, dist: Distribution) -> Result<()> {
        let samples = sample(self.shape(), dtype, self.device(), dist)?;
        self.storage()
            .copy_from(self.layout(), (samples.storage(), samples.layout()))?;
        self.storage().bump_version();
        Ok(())
    }
}
