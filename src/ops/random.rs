//! Random sampling ops. Each device has its own seeded generator (see `cpu::random` for the
//! CPU's algorithm); `manual_seed` seeds them all, as PyTorch's does.

use crate::autograd::{grad_if, needs_grad, record};
use crate::backend::Distribution;
use crate::error::{Error, Result};
use crate::ops::Operand;
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::layout::checked_numel;
use crate::tensor::storage::Storage;
use crate::Tensor;

pub use crate::cpu::random::{
    default_generator, using_generator, Generator, SharedGenerator, DEFAULT_SEED, STATE_BYTES,
};

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
        Err(Error::NotImplemented(format!(
            "\"{op}\" not implemented for '{}'",
            dtype.scalar_name()
        )))
    }
}

fn sample(shape: &[usize], dtype: DType, device: Device, dist: Distribution) -> Result<Tensor> {
    let s = Storage::random(device, checked_numel(shape, dtype.size())?, dtype, dist)?;
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

/// Dropout's mask: with probability `keep` an element is kept, as 1 or, `scaled`, as
/// `1/keep`; else 0; of `shape` in the float `dtype`. ATen's `_dropout_impl` draws
/// `bernoulli_(1 − p)` and divides it by `1 − p`; with `keep = 1 − p` this is that mask in
/// one pass, its `1/keep` computed as that division is: in float64 for float64, else in
/// float32 (the 16-bit types' arithmetic too), rounded to the dtype. An integer or bool
/// `dtype` gets the error PyTorch's arithmetic on the mask gives: its division, or for the
/// alpha dropouts (not `scaled`) its `mask − 1` times a float, where a bool mask is int64.
pub fn dropout_mask(
    shape: &[usize],
    keep: f64,
    scaled: bool,
    dtype: DType,
    device: Device,
) -> Result<Tensor> {
    if !dtype.is_float() {
        let named = if !scaled && dtype == DType::Bool {
            DType::I64
        } else {
            dtype
        };
        return Err(Error::Runtime(format!(
            "result type Float can't be cast to the desired output type {}",
            named.scalar_name()
        )));
    }
    let value = match (scaled, dtype) {
        (false, _) => 1.0,
        (true, DType::F64) => 1.0 / keep,
        (true, _) => (1.0 / keep as f32) as f64,
    };
    sample(
        shape,
        dtype,
        device,
        Distribution::Bernoulli { p: keep, value },
    )
}

/// `normal(mean, std)`: one draw from N(mean, std²) per element of the broadcast of the two
/// (float) tensors. Not differentiable, as PyTorch's (its gradients are zero).
pub fn normal(mean: &Tensor, std: &Tensor) -> Result<Tensor> {
    let shape = crate::tensor::layout::broadcast_shapes(mean.shape(), std.shape())?;
    let dtype = DType::promote(mean.dtype(), std.dtype());
    float_dtype("normal", dtype)?;
    let (mean, std) = (
        mean.detach().to_dtype(dtype)?,
        std.detach().to_dtype(dtype)?,
    );
    let least = if std.numel() > 0 {
        std.amax_amin(None, false, false, "AminBackward0")?
            .item_f64()?
    } else {
        0.0
    };
    if least < 0.0 {
        return Err(Error::Runtime(format!(
            "normal expects all elements of std >= 0.0, but found std {least}"
        )));
    }
    randn(&shape, dtype, mean.device())?.mul(&std)?.add(&mean)
}

/// `torch.bernoulli(p)`: each element 1 with probability `p`'s element (each in `[0, 1]`),
/// else 0, in `p`'s (floating) dtype and on its device: a uniform draw compared with `p`.
/// As PyTorch's, the result takes part in autograd when `p` requires grad, with a zero
/// gradient (`BernoulliBackward0`).
pub fn bernoulli(p: &Tensor) -> Result<Tensor> {
    float_dtype("bernoulli_tensor_cpu_p_", p.dtype())?;
    let probs = p.detach();
    if probs.numel() > 0 {
        let least = probs
            .amax_amin(None, false, false, "AminBackward0")?
            .item_f64()?;
        let most = probs
            .amax_amin(None, false, true, "AmaxBackward0")?
            .item_f64()?;
        // NaN fails both comparisons, as PyTorch's check.
        if !(least >= 0.0 && most <= 1.0) {
            return Err(Error::Runtime(
                "bernoulli: expected every element of p in [0, 1] (Expected p_in >= 0 && p_in <= 1 to be true, but got false.)".into(),
            ));
        }
    }
    let u = sample(
        probs.shape(),
        probs.dtype(),
        probs.device(),
        Distribution::Uniform { lo: 0.0, hi: 1.0 },
    )?;
    let drawn = crate::ops::binary::binary(
        crate::ops::binary::BinaryOp::Lt,
        &Operand::Tensor(u),
        &Operand::Tensor(probs),
    )?
    .to_dtype(p.dtype())?;
    if needs_grad(&[p]) {
        let (shape, dtype, device) = (p.shape().to_vec(), p.dtype(), p.device());
        record("BernoulliBackward0", &[p], &drawn, move |_, need| {
            Ok(vec![grad_if(need[0], || {
                crate::ops::creation::zeros(&shape, dtype, device)
            })?])
        });
    }
    Ok(drawn)
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
    int_bounds(dtype, low, high)?;
    sample(
        shape,
        DType::I64,
        device,
        Distribution::RandInt { low, high },
    )?
    .to_dtype_raw(dtype)
}

/// PyTorch's errors for integer draws in `[from, high)` that a small integer `dtype` cannot
/// hold (rather than wrapped draws).
fn int_bounds(dtype: DType, from: i64, high: i64) -> Result<()> {
    let (lo, hi, name) = match dtype {
        DType::Bool => (0, 1, "bool"),
        DType::U8 => (0, u8::MAX as i64, "unsigned char"),
        DType::I8 => (i8::MIN as i64, i8::MAX as i64, "signed char"),
        DType::I16 => (i16::MIN as i64, i16::MAX as i64, "short"),
        DType::I32 => (i32::MIN as i64, i32::MAX as i64, "int"),
        _ => return Ok(()),
    };
    for (what, v) in [("from", from), ("to - 1", high - 1)] {
        if !(lo..=hi).contains(&v) {
            return Err(Error::Runtime(format!(
                "{what} is out of bounds for {name}"
            )));
        }
    }
    Ok(())
}

/// A random permutation of `0..n`.
pub fn randperm(n: usize, dtype: DType, device: Device) -> Result<Tensor> {
    super::creation::new_host_elements(&[n], DType::I64)?;
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
        self.write_samples(dtype, Distribution::Bernoulli { p, value: 1.0 })
    }
    /// `bernoulli(p)` with a number: a tensor of self's shape, dtype and device, each
    /// element 1 with probability `p`.
    pub fn bernoulli_like(&self, p: f64) -> Result<Tensor> {
        let out = crate::ops::creation::zeros_like(self)?;
        out.bernoulli_(p)?;
        Ok(out)
    }
    /// `bernoulli_(p)` with a tensor of probabilities that broadcasts to self's shape: each
    /// element 1 with its probability, else 0, written in self's dtype.
    pub fn bernoulli_tensor_(&self, p: &Tensor) -> Result<()> {
        let drawn = bernoulli(&p.expand_to(self.shape())?.detach())?;
        self.copy_(&drawn)
    }
    /// `random_(from, to)`: integers drawn uniformly from `[from, to)`, stored in self's
    /// dtype; `to` defaults to one past the largest integer the dtype holds exactly (2^24
    /// for float32, 2^53 for float64, 2^11 for float16, 2^8 for bfloat16, the type's maximum
    /// for integers, 1 for bool), as PyTorch's `random_()` and `random_(from)`.
    pub fn random_(&self, from: i64, to: Option<i64>) -> Result<()> {
        self.check_inplace()?;
        self.check_no_internal_overlap()?;
        let top = match self.dtype() {
            DType::Bool => 1,
            DType::U8 => u8::MAX as i64,
            DType::I8 => i8::MAX as i64,
            DType::I16 => i16::MAX as i64,
            DType::I32 => i32::MAX as i64,
            // `[from, 2^63 − 1)`: the sampler's bound is exclusive and an i64.
            DType::I64 => i64::MAX - 1,
            DType::F16 => 1 << 11,
            DType::BF16 => 1 << 8,
            DType::F32 => 1 << 24,
            DType::F64 => 1 << 53,
        };
        let high = to.unwrap_or(top + 1);
        if from >= high {
            return Err(Error::Runtime(format!(
                "random_ expects 'from' to be less than 'to', but got from={from} >= to={high}"
            )));
        }
        int_bounds(self.dtype(), from, high)?;
        let draws = sample(
            self.shape(),
            DType::I64,
            self.device(),
            Distribution::RandInt { low: from, high },
        )?
        .to_dtype_raw(self.dtype())?;
        self.storage()
            .copy_from(self.layout(), (draws.storage(), draws.layout()))?;
        self.storage().bump_version();
        Ok(())
    }
    /// Writes samples of `dist` in self's dtype into self (no history).
    fn fill_from(&self, dist: Distribution) -> Result<()> {
        self.write_samples(self.dtype(), dist)
    }
    fn write_samples(&self, dtype: DType, dist: Distribution) -> Result<()> {
        self.check_inplace()?;
        self.check_no_internal_overlap()?;
        let samples = sample(self.shape(), dtype, self.device(), dist)?;
        self.storage()
            .copy_from(self.layout(), (samples.storage(), samples.layout()))?;
        self.storage().bump_version();
        Ok(())
    }

    /// `multinomial(num_samples, replacement=False)`: indices drawn from each row of the
    /// 1-D or 2-D weights `self` (int64, `[rows, num_samples]` or `[num_samples]`).
    ///
    /// With replacement, each draw is the number of cumulative probabilities at or below a
    /// uniform sample (inverse transform); without, the rows' `num_samples` largest
    /// `p / e` for exponential samples `e` (the exponential-race trick PyTorch uses too), so
    /// both run on any device from existing kernels. Draws come from the device's generator
    /// but not in PyTorch's order: seeded runs repeat, yet differ from PyTorch's.
    pub fn multinomial(&self, num_samples: usize, replacement: bool) -> Result<Tensor> {
        if !(1..=2).contains(&self.dim()) {
            return Err(Error::Runtime("prob_dist must be 1 or 2 dim".into()));
        }
        if !self.dtype().is_float() {
            return Err(Error::Runtime(format!(
                "multinomial only supports floating-point dtypes for input, got: {}",
                self.dtype().scalar_name()
            )));
        }
        if num_samples == 0 {
            return Err(Error::Runtime("cannot sample n_sample <= 0 samples".into()));
        }
        let categories = self.shape()[self.dim() - 1];
        if !replacement && num_samples > categories {
            return Err(Error::Runtime(
                "cannot sample n_sample > prob_dist.size(-1) samples without replacement".into(),
            ));
        }
        let _off = crate::autograd::GradModeGuard::new(false);
        let p = self
            .reshape(&[-1, categories as i64])?
            .to_dtype(DType::F64)?;
        let rows = p.shape()[0];
        let bad = p
            .lt_scalar(0.0)?
            .logical_or(&p.isfinite()?.logical_not()?)?;
        if any_true(&bad)? {
            return Err(Error::Runtime(
                "probability tensor contains either `inf`, `nan` or element < 0".into(),
            ));
        }
        let total = p.sum_dims(Some(&[1]), true, None)?;
        if any_true(&total.le_scalar(0.0)?)? {
            return Err(Error::Runtime(
                "invalid multinomial distribution (sum of probabilities <= 0)".into(),
            ));
        }
        let out = if replacement {
            let cdf = p.div(&total)?.cumsum(1, None)?; // [rows, categories]
            let u = rand(&[rows, num_samples], DType::F64, self.device())?;
            // Categories whose cumulative probability is at or below the draw come before it.
            let below = cdf.unsqueeze(1)?.le(&u.unsqueeze(2)?)?;
            below.sum_dims(Some(&[2]), false, Some(DType::I64))?.clamp(
                None,
                Some(crate::tensor::dtype::Scalar::Int((categories - 1) as i64)),
            )?
        } else {
            // Zero weights lose every race, so they come last, as PyTorch returns them
            // when a row has fewer positive weights than draws.
            let e = rand(&[rows, categories], DType::F64, self.device())?
                .rsub_scalar(1.0)?
                .log()?
                .neg()?;
            p.div(&e)?.topk(num_samples, 1, true)?.1
        };
        if self.dim() == 1 {
            out.reshape(&[num_samples as i64])
        } else {
            Ok(out)
        }
    }
}

/// Whether any element of a bool tensor holds (read back to the host).
fn any_true(t: &Tensor) -> Result<bool> {
    Ok(t.all_any(None, false, false)?.to_vec::<bool>()?[0])
}
