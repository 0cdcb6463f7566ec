//! Tensors an op keeps for its backward, with the version they had when saved.

use super::node::Node;
use crate::error::{Error, Result};
use crate::Tensor;
use std::sync::{Arc, Weak};

/// A saved tensor. Its history is kept as a weak reference: the node that produced it is
/// reachable through the saving node's edges anyway, and a strong one would make a cycle
/// when an op saves its own output (exp, tanh, sigmoid, softmax).
pub struct SavedTensor {
    data: Tensor,
    /// A saved leaf that requires grad: kept as is, so higher-order gradients reach it.
    leaf: bool,
    grad_fn: Option<Weak<Node>>,
    output_nr: usize,
    version: u64,
}

impl SavedTensor {
    pub fn new(t: &Tensor) -> SavedTensor {
        let meta = t.fresh_meta();
        let version = t.storage().version();
        match &meta.grad_fn {
            Some(f) => SavedTensor {
                data: t.detach(),
                leaf: false,
                grad_fn: Some(Arc::downgrade(f)),
                output_nr: meta.output_nr,
                version,
            },
            // A view that needs no grad is kept detached: its base may be the tensor whose
            // history saves it (an in-place op reading a view of what it writes).
            None => SavedTensor {
                data: if meta.requires_grad || meta.view_base.is_none() {
                    t.clone()
                } else {
                    t.detach()
                },
                leaf: meta.requires_grad,
                grad_fn: None,
                output_nr: 0,
                version,
            },
        }
    }

    /// The saved tensor, with its history when it still exists; an error if it was modified
    /// in place since it was saved.
    pub fn unpack(&self) -> Result<Tensor> {
        let now = self.data.storage().version();
        if now != self.version {
            // PyTorch names the producer by its node's name less "Backward" ("output 0 of
            // Mul", "of LeakyRelu1"), and says nothing of a leaf.
            let producer = self
                .grad_fn
                .as_ref()
                .and_then(|w| w.upgrade())
                .map(|n| {
                    let name = n.name();
                    let short = name
                        .strip_suffix("Backward0")
                        .map_or_else(|| name.replacen("Backward", "", 1), str::to_string);
                    format!(", which is output {} of {short},", self.output_nr)
                })
                .unwrap_or_default();
            return Err(Error::Runtime(format!(
                "one of the variables needed for gradient computation has been modified by an inplace operation: [torch.{} {}]{} is at version {}; expected version {} instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).",
                self.data.dtype().legacy_name(),
                crate::tensor::layout::fmt_shape(self.data.shape()),
                producer,
                now,
                self.version
            )));
        }
        if self.leaf {
            return Ok(self.data.clone());
        }
        match self.grad_fn.as_ref().and_then(|w| w.upgrade()) {
            Some(node) => {
                let t = self.data.detach();
                {
                    let mut m = t.0.meta.lock();
                    m.requires_grad = true;
                    m.grad_fn = Some(node);
                    m.output_nr = self.output_nr;
                }
                Ok(t)
            }
            None => Ok(self.data.clone()),
        }
    }
}
