//! Copies, dtype conversions and device moves: `to(dtype)`, `to(device)`, `contiguous`,
//! `clone`.

use crate::autograd::{needs_grad, record};
use crate::error::Result;
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::Tensor;
use std::sync::Arc;

impl Tensor {
    /// `to(dtype)`: the same tensor when the dtype already matches, else a converted copy.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let name = || vec![("dtype", crate::ops::trace::Attr::Str(dtype.name().into()))];
        crate::ops::trace::traced("cast", &[self], name, || {
            let out = self.cast_copy(dtype)?;
            if needs_grad(&[self]) && dtype.is_float() {
                let src = self.dtype();
                record("ToCopyBackward0", &[self], &out, move |g, _| {
                    Ok(vec![Some(g.to_dtype(src)?)])
                });
            }
            Ok(out)
        })
    }

    /// `to(device)`: the same tensor when it is already there, else a copy on `device`
    /// whose gradient flows back to this one's device.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let storage = self.storage().to_device(self.layout(), device)?;
        let out = Tensor::from_storage(storage, self.shape());
        if needs_grad(&[self]) {
            let src = self.device();
            record("ToCopyBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.to_device(src)?)])
            });
        }
        Ok(out)
    }

    /// `pin_memory()`: a copy in page-locked host memory (self when already pinned), so
    /// that copies to a GPU run at full speed. The gradient flows through, as in PyTorch.
    pub fn pin_memory(&self) -> Result<Tensor> {
        if self.is_pinned() {
            return Ok(self.clone());
        }
        let out = Tensor::from_storage(self.storage().pin_memory(self.layout())?, self.shape());
        if needs_grad(&[self]) {
            record("ToCopyBackward0", &[self], &out, |g, _| {
                Ok(vec![Some(g.clone())])
            });
        }
        Ok(out)
    }

    /// `is_pinned()`: whether the storage is page-locked host memory.
    pub fn is_pinned(&self) -> bool {
        self.storage().is_pinned()
    }

    /// `share_memory_()`: moves the storage (with every view of it) into shared memory that
    /// other processes can map; a no-op when it is there already and for GPU tensors.
    pub fn share_memory_(&self) -> Result<()> {
        self.storage().share_memory()
    }

    /// `is_shared()`: whether the storage is in shared memory (always true on a GPU).
    pub fn is_shared(&self) -> bool {
        self.storage().is_shared()
    }

    /// A contiguous copy in `dtype`, with no history.
    pub(crate) fn cast_copy(&self, dtype: DType) -> Result<Tensor> {
        let storage = self.storage().cast(self.layout(), dtype)?;
        Ok(Tensor::from_storage(storage, self.shape()))
    }

    /// A contiguous copy with no history.
    pub(crate) fn contiguous_copy(&self) -> Result<Tensor> {
        self.cast_copy(self.dtype())
    }

    /// This tensor if it is contiguous and alone on its storage, else a contiguous copy: a
    /// buffer the caller may keep and later update in place (accumulated gradients).
    pub(crate) fn into_owned_contiguous(self) -> Result<Tensor> {
        let whole = self.offset() == 0 && self.numel() == self.storage().len();
        if self.is_contiguous() && whole && Arc::strong_count(self.storage()) == 1 {
            Ok(self)
        } else {
            self.contiguous_copy()
        }
    }

    /// `contiguous()`: self when already contiguous.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.clone_tensor()
    }

    /// `clone()`: a contiguous copy that stays in the graph (gradient flows through).
    pub fn clone_tensor(&self) -> Result<Tensor> {
        let out = self.contiguous_copy()?;
        if needs_grad(&[self]) {
            record("CloneBackward0", &[self], &out, |g, _| {
                Ok(vec![Some(g.clone())])
            });
        }
        Ok(out)
    }
}
