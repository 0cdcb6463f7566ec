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
    /// For a view, the tensor whose storage it views (the root of a chain of views): an
    /// in-place op on the view rewires the base's history, and a view written through its
    /// base takes the base's present history (see `ops::inplace`). Held strongly, as
    /// PyTorch's, so that a view outliving its base still sees a write made through it; a
    /// saved view is kept detached (`SavedTensor`), so that an op saving a view of the
    /// tensor it writes makes no cycle.
    pub view_base: Option<Arc<TensorImpl>>,
    /// For a view, how it was made: whether an in-place op may rewrite its history.
    pub view_creation: ViewCreation,
    /// For a view, its storage's version when its history was set: once the storage moves
    /// on, the history is regenerated from the base's (see `ops::inplace`).
    pub view_version: u64,
}

impl AutogradMeta {
    /// Whether this view's history predates the last in-place write into `version`'s
    /// storage.
    pub fn stale_view(&self, version: u64) -> bool {
        self.view_base.is_some() && self.view_version != version
    }
}

/// How a view was made, as PyTorch's `CreationMeta`: an in-place op on a view rewrites its
/// base's history (see `ops::inplace`), which is refused with grad mode on when the view
/// came from a function returning several views (`chunk`, `split`, `unbind`), or was made
/// of a base that requires grad while grad mode was off or in inference mode. A view of
/// such a view inherits its tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ViewCreation {
    /// Made while recording: its history can be rewritten.
    #[default]
    Default,
    /// One of several views returned by one function.
    MultiOutput,
    /// Made with grad mode off, of a base that requires grad.
    NoGrad,
    /// Made in inference mode, of a normal base that requires grad.
    Inference,
}

impl ViewCreation {
    /// The tag of a view made as `made` of a view tagged `self` (PyTorch's
    /// `propagate_creation_meta`): a plain view keeps its parent's tag, and an inference
    /// tag is never replaced.
    pub fn then(self, made: ViewCreation) -> ViewCreation {
        match (self, made) {
            (parent, ViewCreation::Default) | (parent @ ViewCreation::Inference, _) => parent,
            (_, made) => made,
        }
    }

    /// PyTorch's refusal of an in-place op on a view tagged `self` while grad mode is on,
    /// where the view has history `grad_fn` (output `output_nr` of it), or, `indirect`, of
    /// the use of such a view after its base or another view of it was written in place;
    /// `None` for a plain view.
    pub fn refusal(
        self,
        grad_fn: Option<&str>,
        output_nr: usize,
        indirect: bool,
    ) -> Option<String> {
        let reason = match self {
            ViewCreation::Default => return None,
            ViewCreation::MultiOutput => "This view is the output of a function that returns multiple views. Such functions do not allow the output views to be modified inplace. You should replace the inplace operation by an out-of-place one.",
            ViewCreation::NoGrad => "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view and the inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked).",
            ViewCreation::Inference => "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view and the inplace either both inside the inference_mode block (if you don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked).",
        };
        // PyTorch names the op, not its node: `SplitBackward0` is "Split".
        let op = grad_fn.map(|n| n.trim_end_matches(|c: char| c.is_ascii_digit()));
        let op = op.map(|n| n.strip_suffix("Backward").unwrap_or(n));
        let modified = if indirect {
            "its base or another view of its base has been"
        } else {
            "is being"
        };
        let head = match (self, op) {
            (ViewCreation::MultiOutput, Some(op)) => {
                format!("Output {output_nr} of {op} is a view and {modified} modified inplace.")
            }
            (_, op) => {
                let prefix = op.map_or("A view was created in".to_string(), |op| {
                    format!("Output {output_nr} of {op} is a view of a view which was created in")
                });
                let (mode, now) = if self == ViewCreation::Inference {
                    ("inference mode", "in normal mode")
                } else {
                    ("no_grad mode", "with grad mode enabled")
                };
                format!("{prefix} {mode} and {modified} modified inplace {now}.")
            }
        };
        Some(format!("{head} {reason}"))
    }
}
