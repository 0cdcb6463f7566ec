//! Copies and dtype conversions: `to(dtype)`, `contiguous`, `clone`.

use crate::autograd::{needs_grad, record};
use crate::cpu::copy::cast_storage;
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;
use crate::Tensor;
use std::sync::Arc;

impl Tensor {
    /// `to(dtype)`: the same tensor when the dtype already matches, else a converted copy.
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let out = self.cast_copy(dtype);
        if needs_grad(&[self]) && dtype.is_float() {
            let src = self.dtype();
            record("ToCopyBackward0", &[self], &out, move |g, _| {
                Ok(vec![Some(g.to_dtype(src))])
            });
        }
        out
    }

    /// A contiguous copy in `dtype`, with no history.
    pub(crate) fn cast_copy(&self, dtype: DType) -> Tensor {
        let storage = crate::with_dtype!(dtype, T, cast_storage::<T>(self));
        Tensor::from_parts(Arc::new(storage), Layout::contiguous(self.shape()))
    }

    /// A contiguous copy with no history.
    pub(crate) fn contiguous_copy(&self) -> Tensor {
        self.cast_copy(self.dtype())
    }

    /// This tensor if it is contiguous and alone on its storage, else a contiguous copy: a
    /// buffer the caller may keep and later update in place (accumulated gradients).
    pub(crate) fn into_owned_contiguous(self) -> Tensor {
        let whole = self.offset() == 0 && self.numel() == self.storage().len();
        if self.is_contiguous() && whole && Arc::strong_count(self.storage()) == 1 {
            self
        } else {
            self.contiguous_copy()
        }
    }

    /// `contiguous()`: self when already contiguous.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() {
            return self.clone();
        }
        self.clone_tensor()
    }

    /// `clone()`: a contiguous copy that stays in the graph (gradient flows through).
    pub fn clone_tensor(&self) -> Tensor {
        let out = self.contiguous_copy();
        if needs_grad(&[self]) {
            record("CloneBackward0", &[self], &out, |g, _| {
                Ok(vec![Some(g.clone())])
            });
        }
        out
    }
}
