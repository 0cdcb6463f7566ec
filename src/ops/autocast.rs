//! Autocast (`torch.autocast`): while it is on for a device type, the products and
//! convolutions — PyTorch's "lower precision" list: `matmul`, `mm`, `bmm`, `addmm` (so
//! `linear`), `conv*` and `conv_transpose*` — cast their floating inputs to the autocast
//! dtype (bfloat16 on the CPU, float16 on CUDA, unless another is chosen) and return that
//! dtype; other ops run in their inputs' dtypes, promoting as usual. Per thread, as
//! PyTorch's. The casts are ordinary differentiable `to` ops, so gradients reach float32
//! parameters in float32.

use crate::error::Result;
use crate::tensor::dtype::DType;
use crate::Tensor;
use std::cell::Cell;

thread_local! {
    static CPU: Cell<Option<DType>> = const { Cell::new(None) };
    static CUDA: Cell<Option<DType>> = const { Cell::new(None) };
}

/// Turns autocast on (`Some(dtype)`) or off (`None`) for the CPU or CUDA on this thread;
/// returns the previous setting.
pub fn set_autocast(cuda: bool, dtype: Option<DType>) -> Option<DType> {
    if cuda {
        CUDA.with(|c| c.replace(dtype))
    } else {
        CPU.with(|c| c.replace(dtype))
    }
}

/// The autocast dtype of the CPU or CUDA on this thread, when autocast is on there.
pub fn autocast_dtype(cuda: bool) -> Option<DType> {
    if cuda {
        CUDA.with(|c| c.get())
    } else {
        CPU.with(|c| c.get())
    }
}

/// `t` in the autocast dtype of its device when autocast is on there and `t` is floating;
/// else `t` itself.
pub fn cast(t: &Tensor) -> Result<Tensor> {
    match autocast_dtype(t.device().is_cuda()) {
        Some(d) if t.dtype().is_float() && t.dtype() != d => t.to_dtype(d),
        _ => Ok(t.clone()),
    }
}
