//! Copies, dtype conversions and device moves: `to(dtype)`, `to(device)`, `contiguous`,
//! `clone`.

use crate::autograd::{needs_grad, record};
use crate::error::Result;
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;
use std::sync::Arc;

impl Tensor {
    /// `to(dtype)`: the same tensor when the dtype already matches, else a converted copy
    /// laid out as this tensor (`preserve_format`).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.to_copy(dtype, MemoryFormat::Preserve)
    }

    /// `to(dtype, memory_format=fmt, copy=True)`: always a copy, in `dtype` and laid out as
    /// `fmt` says, whose gradient flows back (`ToCopyBackward0`) when `dtype` is a float.
    pub fn to_copy(&self, dtype: DType, fmt: MemoryFormat) -> Result<Tensor> {
        let name = || vec![("dtype", crate::ops::trace::Attr::Str(dtype.name().into()))];
        crate::ops::trace::traced("cast", &[self], name, || {
            let out = self.copy_as(fmt, |t| t.cast_copy(dtype))?;
            if needs_grad(&[self]) && dtype.is_float() {
                let src = self.dtype();
                record("ToCopyBackward0", &[self], &out, move |g, _| {
                    Ok(vec![Some(g.to_dtype(src)?)])
                });
            }
            Ok(out)
        })
    }

    /// `to(device)`: the same tensor when it is already there, else a copy on `device` laid
    /// out as this one, whose gradient flows back to this one's device.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let out = self.copy_as(MemoryFormat::Preserve, |t| {
            let storage = t.storage().to_device(t.layout(), device)?;
            Ok(Tensor::from_storage(storage, t.shape()))
        })?;
        if needs_grad(&[self]) {
            let src = self.device();
            record("ToCopyBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.to_device(src)?)])
            });
        }
        Ok(out)
    }

    /// `copy` (which makes a row-major copy of what it is given, with no history) applied to
    /// this tensor's dims in the order a copy in `fmt` stores them, and read back in this
    /// tensor's order: a copy laid out as PyTorch lays out `fmt`.
    fn copy_as(
        &self,
        fmt: MemoryFormat,
        copy: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let Some((order, layout)) = self.layout().copy_layout(fmt)? else {
            return copy(self);
        };
        let c = copy(&self.ordered(self.shape(), &order))?;
        Ok(Tensor::from_parts(c.storage().clone(), layout))
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

    /// This gradient as a leaf's first `.grad`: owned (no other handle shares its storage)
    /// and laid out by PyTorch's contract for a leaf's gradient, as `leaf` is when `leaf` is
    /// dense (a channels-last weight gets a channels-last gradient, a transposed leaf a
    /// transposed one), else row-major.
    pub(crate) fn into_grad_for(self, leaf: &Tensor) -> Result<Tensor> {
        let layout = leaf.layout();
        if layout.is_contiguous() || !layout.is_dense() {
            return self.into_owned_contiguous();
        }
        let whole = self.offset() == 0 && self.numel() == self.storage().len();
        if self.strides() == leaf.strides() && whole && Arc::strong_count(self.storage()) == 1 {
            return Ok(self);
        }
        match layout.copy_layout(MemoryFormat::Preserve)? {
            Some((order, l)) => {
                let c = self.ordered(self.shape(), &order).contiguous_copy()?;
                Ok(Tensor::from_parts(c.storage().clone(), l))
            }
            None => self.into_owned_contiguous(),
        }
    }

    /// `contiguous()`: self when already contiguous.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        self.clone_tensor()
    }

    /// `contiguous(memory_format=fmt)`: self when already dense in `fmt`'s order, else a copy
    /// that is (PyTorch refuses `preserve_format` here).
    pub fn contiguous_as(&self, fmt: MemoryFormat) -> Result<Tensor> {
        if fmt == MemoryFormat::Preserve {
            return Err(crate::error::Error::Runtime(
                "preserve memory format is unsupported by the contiguous operator".into(),
            ));
        }
        if self.layout().is_contiguous_as(fmt) {
            return Ok(self.clone());
        }
        self.clone_as(fmt)
    }

    /// A contiguous copy that stays in the graph (gradient flows through), for the engine's
    /// own use; `clone()` is [`Tensor::clone_as`].
    pub fn clone_tensor(&self) -> Result<Tensor> {
        self.clone_as(MemoryFormat::Contiguous)
    }

    /// `clone(memory_format=fmt)`: a copy laid out as `fmt` says (by default, PyTorch's
    /// `preserve_format`, this tensor's own strides when it is dense) that stays in the graph.
    pub fn clone_as(&self, fmt: MemoryFormat) -> Result<Tensor> {
        let out = self.copy_as(fmt, |t| t.contiguous_copy())?;
        if needs_grad(&[self]) {
            record("CloneBackward0", &[self], &out, |g, _| {
                Ok(vec![Some(g.clone())])
            });
        }
        Ok(out)
    }
}
