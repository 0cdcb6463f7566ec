//! Creation ops: filled tensors, ranges, identity, on any device.

use crate::backend::check_host_alloc;
use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::{DType, Element, Scalar};
use crate::tensor::layout::checked_numel;
use crate::tensor::memory_format::MemoryFormat;
use crate::tensor::storage::Storage;
use crate::Tensor;

pub fn full(shape: &[usize], value: Scalar, dtype: DType, device: Device) -> Result<Tensor> {
    value.check_fits(dtype)?;
    let s = Storage::full(device, checked_numel(shape, dtype.size())?, dtype, value)?;
    Ok(Tensor::from_storage(s, shape))
}
pub fn zeros(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
    full(shape, Scalar::Int(0), dtype, device)
}
pub fn ones(shape: &[usize], dtype: DType, device: Device) -> Result<Tensor> {
    full(shape, Scalar::Int(1), dtype, device)
}
/// `t`, a new tensor whose values do not depend on their positions (a fill, or independent
/// draws), laid out as `fmt` asks; with `preserve_format`, as `like` is (PyTorch's `*_like`).
pub fn in_format(t: Tensor, fmt: MemoryFormat, like: Option<&Tensor>) -> Result<Tensor> {
    let layout = match (fmt, like) {
        (MemoryFormat::Preserve, Some(l)) => l.layout().copy_layout(fmt)?.map(|(_, l)| l),
        _ => fmt.new_layout(t.shape())?,
    };
    Ok(match layout {
        Some(l) => Tensor::from_parts(t.storage().clone(), l),
        None => t,
    })
}
/// Zeros of `t`'s shape, dtype and device.
pub fn zeros_like(t: &Tensor) -> Result<Tensor> {
    zeros(t.shape(), t.dtype(), t.device())
}
/// Ones of `t`'s shape, dtype and device.
pub fn ones_like(t: &Tensor) -> Result<Tensor> {
    ones(t.shape(), t.dtype(), t.device())
}

/// The elements of a new tensor of `shape` built in host memory, once its size is known to
/// be representable and within what the machine could allocate (PyTorch's errors otherwise).
pub(crate) fn new_host_elements(shape: &[usize], dtype: DType) -> Result<usize> {
    let n = checked_numel(shape, dtype.size())?;
    check_host_alloc(n * dtype.size())?;
    Ok(n)
}

/// `arange(start, end, step)`: `ceil((end - start) / step)` values, computed as
/// `start + i * step` (not by repeated addition) as PyTorch does.
pub fn arange(start: f64, end: f64, step: f64, dtype: DType, device: Device) -> Result<Tensor> {
    if step == 0.0 {
        return Err(Error::Runtime("step must be nonzero".into()));
    }
    if !(start.is_finite() && end.is_finite()) {
        return Err(Error::Runtime(format!(
            "unsupported range: {start} -> {end}"
        )));
    }
    if (step > 0.0 && end < start) || (step < 0.0 && end > start) {
        return Err(Error::Runtime(
            "upper bound and larger bound inconsistent with step sign".into(),
        ));
    }
    let n = ((end - start) / step).ceil().max(0.0);
    // PyTorch's bound: the count must be an int64 (and its storage's bytes an isize).
    if n >= i64::MAX as f64 {
        return Err(Error::Runtime("invalid size, possible overflow?".into()));
    }
    let n = new_host_elements(&[n as usize], dtype)?;
    crate::with_dtype!(dtype, T, {
        let v: Vec<T> = (0..n)
            .map(|i| T::from_f64(start + i as f64 * step))
            .collect();
        Tensor::from_vec(v, &[n]).to_device(device)
    })
}

/// `linspace`: symmetric from both ends so the last value is exactly `end`, as PyTorch.
pub fn linspace(
    start: f64,
    end: f64,
    steps: usize,
    dtype: DType,
    device: Device,
) -> Result<Tensor> {
    let step = if steps > 1 {
        (end - start) / (steps - 1) as f64
    } else {
        0.0
    };
    new_host_elements(&[steps], dtype)?;
    let half = if steps == 1 { 1 } else { steps / 2 };
    crate::with_dtype!(dtype, T, {
        let v: Vec<T> = (0..steps)
            .map(|i| {
                let x = if i < half {
                    start + step * i as f64
                } else {
                    end - step * (steps - 1 - i) as f64
                };
                T::from_f64(x)
            })
            .collect();
        Tensor::from_vec(v, &[steps]).to_device(device)
    })
}

pub fn eye(n: usize, m: usize, dtype: DType, device: Device) -> Result<Tensor> {
    new_host_elements(&[n, m], dtype)?;
    crate::with_dtype!(dtype, T, {
        let mut v = vec![T::default(); n * m];
        for i in 0..n.min(m) {
            v[i * m + i] = T::from_f64(1.0);
        }
        Tensor::from_vec(v, &[n, m]).to_device(device)
    })
}
