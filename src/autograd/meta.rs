//! Per-tensor autograd state.

use super::node::{Hook, Node, PostAccumulateHook};
use crate::tensor::TensorImpl;
use crate::Tensor;
use std::sync::{Arc, Weak};

#[derive(Default)]
pub struct AutogradMeta {
    pub requires_grad: bool,
    pub grad: Option<Tensor>,
    /// The node that produced this tensor; `None` for leaves.
    pub grad_fn: Option<Arc<Node>>,
    /// Which output of `grad_fn` this tensor is.
    pub output_nr: usize,
    pub retains_grad: bool,
    /// A leaf's accumulator, weak so the leaf does not keep its graph alive.
    pub grad_accumulator: Weak<Node>,
    /// Hooks of a leaf (run before accumulation); a non-leaf's hooks live on its `grad_fn`.
    pub hooks: Vec<Hook>,
    /// A leaf's hooks run after its gradient is accumulated (`register_post_accumulate_grad_hook`).
    pub post_accumulate_hooks: Vec<PostAccumulateHook>,
    /// For a view, the tensor whose storage it views (the root of a chain of views), weak so
    /// that a view does not keep its base's graph alive: an in-place op on the view rewires
    /// the base's history (see `ops::inplace`).
    pub view_base: Option<Weak<TensorImpl>>,
}
