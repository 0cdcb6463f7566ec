//! Define-by-run autograd: each op records a [`Node`] whose closure computes the vector-Jacobian
//! product in tensor ops (so `create_graph=True` simply records again), and the engine walks
//! the recorded graph in reverse topological order.

pub mod engine;
pub mod grad_mode;
pub mod meta;
pub mod node;
pub mod saved;

use crate::error::{Error, Result};
use crate::Tensor;
pub use grad_mode::{is_grad_enabled, set_grad_enabled, GradModeGuard};
pub use node::{BackwardFn, Edge, Hook, Node, OutputMeta, PostAccumulateHook};
pub use saved::SavedTensor;
use std::borrow::Cow;
use std::sync::Arc;

/// Whether an op on `inputs` must record a graph node.
#[inline]
pub fn needs_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

/// One input's gradient in a backward rule, computed only when the engine needs it
/// (`need` is that input's flag): `grad_if(need[1], || g.mul(&a))?`.
pub fn grad_if(need: bool, grad: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    need.then(grad).transpose()
}

/// Records a single-output op: `output` gets a node named `name` whose backward maps the
/// output's gradient to one optional gradient per input.
pub fn record<F>(name: &'static str, inputs: &[&Tensor], output: &Tensor, mut backward: F)
where
    F: FnMut(&Tensor, &[bool]) -> Result<Vec<Option<Tensor>>> + Send + 'static,
{
    let edges = inputs.iter().map(|t| t.gradient_edge()).collect();
    let node = Node::new(
        name,
        edges,
        Box::new(move |grads: &[Option<Tensor>], needs: &[bool]| {
            let g = grads[0]
                .as_ref()
                .expect("single-output nodes always receive a gradient");
            backward(g, needs)
        }),
        vec![OutputMeta::of(output)],
    );
    output.set_history(node, 0);
}

/// Records an op with several outputs: `outputs[i]` becomes output `i` of one node named
/// `name`, with `edges` to its inputs, whose backward gets one gradient per output (zeros
/// for those that got none, or `None` without `materialize_grads`) and returns one optional
/// gradient per edge.
pub fn record_outputs(
    name: impl Into<Cow<'static, str>>,
    edges: Vec<Option<Edge>>,
    outputs: &[Tensor],
    backward: BackwardFn,
    materialize_grads: bool,
) {
    let metas = outputs.iter().map(OutputMeta::of).collect();
    let node = Node::build(name, edges, backward, metas, materialize_grads);
    for (i, t) in outputs.iter().enumerate() {
        t.set_history(node.clone(), i);
    }
}

impl Tensor {
    pub fn requires_grad(&self) -> bool {
        self.fresh_meta().requires_grad
    }
    /// This tensor's autograd state, a view's history regenerated first where an in-place
    /// write made it stale ([`Tensor::refresh_view_history`]).
    fn fresh_meta(&self) -> parking_lot::MutexGuard<'_, meta::AutogradMeta> {
        let m = self.0.meta.lock();
        if !m.stale_view(self.0.storage.version()) {
            return m;
        }
        drop(m);
        self.refresh_view_history();
        self.0.meta.lock()
    }
    /// `requires_grad_()`: only leaves of floating dtype may change it, as in PyTorch.
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        let mut m = self.0.meta.lock();
        if m.grad_fn.is_some() {
            if !on {
                return Err(Error::Runtime(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().".into(),
                ));
            }
            return Ok(());
        }
        if on && !self.dtype().is_float() {
            return Err(Error::Runtime(
                "only Tensors of floating point and complex dtype can require gradients".into(),
            ));
        }
        m.requires_grad = on;
        Ok(())
    }
    pub fn grad(&self) -> Option<Tensor> {
        self.0.meta.lock().grad.clone()
    }
    pub fn set_grad(&self, g: Option<Tensor>) -> Result<()> {
        if let Some(g) = &g {
            if g.shape() != self.shape() {
                return Err(Error::Runtime(format!(
                    "assigned grad has data of a different size: {:?} vs {:?}",
                    g.shape(),
                    self.shape()
                )));
            }
            if g.dtype() != self.dtype() {
                return Err(Error::Type(
                    "assigned grad has data of a different type".into(),
                ));
            }
        }
        self.0.meta.lock().grad = g;
        Ok(())
    }
    pub fn grad_fn(&self) -> Option<Arc<Node>> {
        self.fresh_meta().grad_fn.clone()
    }
    pub fn output_nr(&self) -> usize {
        self.fresh_meta().output_nr
    }
    pub fn is_leaf(&self) -> bool {
        self.fresh_meta().grad_fn.is_none()
    }
    pub fn retains_grad(&self) -> bool {
        self.0.meta.lock().retains_grad
    }
    /// Keeps the gradient of a non-leaf in `.grad` after backward (no-op on leaves).
    pub fn retain_grad(&self) -> Result<()> {
        let mut m = self.fresh_meta();
        if !m.requires_grad {
            return Err(Error::Runtime(
                "can't retain_grad on Tensor that has requires_grad=False".into(),
            ));
        }
        if m.grad_fn.is_none() || m.retains_grad {
            return Ok(());
        }
        m.retains_grad = true;
        let nr = m.output_nr;
        m.grad_fn
            .as_ref()
            .unwrap()
            .retained
            .lock()
            .push((nr, Arc::downgrade(&self.0)));
        Ok(())
    }
    /// `register_post_accumulate_grad_hook`: runs with this leaf after each backward pass
    /// has accumulated into its `.grad`.
    pub fn register_post_accumulate_grad_hook(&self, hook: PostAccumulateHook) -> Result<()> {
        let mut m = self.0.meta.lock();
        if !m.requires_grad {
            return Err(Error::Runtime(
                "cannot register a hook on a tensor that doesn't require gradient".into(),
            ));
        }
        if m.grad_fn.is_some() {
            return Err(Error::Runtime(
                "post accumulate grad hooks cannot be registered on non-leaf tensors".into(),
            ));
        }
        m.post_accumulate_hooks.push(hook);
        Ok(())
    }
    /// `register_hook`: runs on this tensor's gradient; may return a replacement.
    pub fn register_hook(&self, hook: Hook) -> Result<()> {
        let mut m = self.fresh_meta();
        if !m.requires_grad {
            return Err(Error::Runtime(
                "cannot register a hook on a tensor that doesn't require gradient".into(),
            ));
        }
        match &m.grad_fn {
            Some(f) => f.register_pre_hook(m.output_nr, hook),
            None => m.hooks.push(hook),
        }
        Ok(())
    }
    /// `detach_()`: drops the history in place.
    pub fn detach_(&self) {
        let mut m = self.0.meta.lock();
        m.grad_fn = None;
        m.requires_grad = false;
        m.output_nr = 0;
    }

    /// The edge a gradient for this tensor flows along (its node, or its leaf accumulator).
    pub(crate) fn gradient_edge(&self) -> Option<Edge> {
        let m = self.fresh_meta();
        if let Some(f) = &m.grad_fn {
            return Some(Edge {
                node: f.clone(),
                input_nr: m.output_nr,
            });
        }
        if !m.requires_grad {
            return None;
        }
        if let Some(acc) = m.grad_accumulator.upgrade() {
            return Some(Edge {
                node: acc,
                input_nr: 0,
            });
        }
        drop(m);
        let acc = Node::accumulator(self);
        self.0.meta.lock().grad_accumulator = Arc::downgrade(&acc);
        Some(Edge {
            node: acc,
            input_nr: 0,
        })
    }

    /// Makes this tensor output `output_nr` of `node`.
    /// A tensor that retains its gradient keeps doing so through its new node, as PyTorch
    /// moves its retain hook after an in-place op.
    pub(crate) fn set_history(&self, node: Arc<Node>, output_nr: usize) {
        let mut m = self.0.meta.lock();
        m.view_version = self.0.storage.version();
        m.requires_grad = true;
        if m.retains_grad {
            if let Some(old) = &m.grad_fn {
                let me = Arc::downgrade(&self.0);
                old.retained.lock().retain(|(_, t)| !t.ptr_eq(&me));
            }
            node.retained
                .lock()
                .push((output_nr, Arc::downgrade(&self.0)));
        }
        m.grad_fn = Some(node);
        m.output_nr = output_nr;
    }

    /// A tensor sharing this one's history but holding its own copy of the data: what an
    /// in-place op records as its input, since the original data is about to be overwritten.
    pub(crate) fn snapshot_with_history(&self) -> Result<Tensor> {
        let copy = self.detach().contiguous_copy()?;
        let m = self.0.meta.lock();
        {
            let mut c = copy.0.meta.lock();
            c.requires_grad = m.requires_grad;
            c.grad_fn = m.grad_fn.clone();
            c.output_nr = m.output_nr;
        }
        if m.grad_fn.is_none() && m.requires_grad {
            // A leaf: route gradients to the leaf's own accumulator.
            drop(m);
            let edge = self.gradient_edge();
            if let Some(e) = edge {
                copy.0.meta.lock().grad_accumulator = Arc::downgrade(&e.node);
            }
        }
        Ok(copy)
    }

    /// `backward()`: accumulates d(self)/d(leaf) into every leaf's `.grad`.
    pub fn backward(
        &self,
        gradient: Option<Tensor>,
        retain_graph: bool,
        create_graph: bool,
        inputs: Option<Vec<Tensor>>,
    ) -> Result<()> {
        let g = match gradient {
            Some(g) => g,
            None => {
                if self.numel() != 1 {
                    return Err(Error::Runtime(
                        "grad can be implicitly created only for scalar outputs".into(),
                    ));
                }
                crate::ops::creation::ones_like(self)?
            }
        };
        engine::backward(vec![(self.clone(), g)], retain_graph, create_graph, inputs)
    }
}
