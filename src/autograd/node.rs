//! Graph nodes: one per recorded op, holding its backward closure and edges to the nodes
//! of its inputs.

use crate::error::{Error, Result};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::TensorImpl;
use crate::Tensor;
use parking_lot::Mutex;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Gradients w.r.t. a node's outputs in, gradients w.r.t. its inputs out (one per edge).
/// The mask says which inputs need a gradient at all.
pub type BackwardFn =
    Box<dyn FnMut(&[Option<Tensor>], &[bool]) -> Result<Vec<Option<Tensor>>> + Send>;
/// A tensor hook: sees the gradient, may return a replacement. A hook on one output of a
/// node with several sees `None` when that output got no gradient, as PyTorch's.
pub type Hook = Arc<dyn Fn(Option<&Tensor>) -> Result<Option<Tensor>> + Send + Sync>;
/// A hook called with a leaf once its `.grad` holds the new gradient.
pub type PostAccumulateHook = Arc<dyn Fn(&Tensor) -> Result<()> + Send + Sync>;
/// A node's gradients (one per output or per input; `None` where there is none).
pub type Grads = Vec<Option<Tensor>>;
/// `grad_fn.register_prehook`: sees the gradients of the node's outputs before it runs, may
/// return replacements.
pub type NodePreHook = Arc<dyn Fn(&[Option<Tensor>]) -> Result<Option<Grads>> + Send + Sync>;
/// `grad_fn.register_hook`: sees the gradients the node computed for its inputs and those of
/// its outputs after it ran, may return replacements for the former.
pub type NodePostHook =
    Arc<dyn Fn(&[Option<Tensor>], &[Option<Tensor>]) -> Result<Option<Grads>> + Send + Sync>;

/// Where a gradient goes: input slot `input_nr` of `node`.
#[derive(Clone)]
pub struct Edge {
    pub node: Arc<Node>,
    pub input_nr: usize,
}

/// What a node knows of one of its outputs: enough to make zeros standing in for a
/// gradient that never arrived, on the right device.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputMeta {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub device: Device,
}

impl OutputMeta {
    pub fn of(t: &Tensor) -> OutputMeta {
        OutputMeta {
            shape: t.shape().to_vec(),
            dtype: t.dtype(),
            device: t.device(),
        }
    }
    /// Zeros of this output's shape, dtype and device.
    pub fn zeros(&self) -> Result<Tensor> {
        crate::ops::creation::zeros(&self.shape, self.dtype, self.device)
    }
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

pub struct Node {
    pub name: Cow<'static, str>,
    /// Creation order; later nodes run first when several are ready (as PyTorch).
    pub seq: u64,
    pub next_edges: Vec<Option<Edge>>,
    /// `None` once released after a backward without `retain_graph`.
    pub(crate) backward: Mutex<Option<BackwardFn>>,
    /// Set for `AccumulateGrad` nodes: the leaf receiving the gradient.
    pub(crate) accumulate_into: Option<Tensor>,
    /// Hooks of the tensors this node produced, keyed by output number.
    pub(crate) pre_hooks: Mutex<Vec<(usize, Hook)>>,
    /// The node's own pre-hooks (`register_prehook`), after its tensors' hooks.
    pub(crate) node_pre_hooks: Mutex<Vec<NodePreHook>>,
    /// The node's hooks on its results (`register_hook`).
    pub(crate) post_hooks: Mutex<Vec<NodePostHook>>,
    /// Non-leaf outputs that asked `retain_grad()`.
    pub(crate) retained: Mutex<Vec<(usize, Weak<TensorImpl>)>>,
    /// Each output's shape, dtype and device, to stand in zeros for outputs that got no
    /// gradient.
    pub(crate) outputs: Vec<OutputMeta>,
    /// Whether the backward of a node with several outputs gets zeros for those that got no
    /// gradient (`true`, PyTorch's default) or `None` (`ctx.set_materialize_grads(False)`).
    pub(crate) materialize_grads: bool,
}

impl Node {
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        next_edges: Vec<Option<Edge>>,
        backward: BackwardFn,
        outputs: Vec<OutputMeta>,
    ) -> Arc<Node> {
        Node::build(name, next_edges, backward, outputs, true)
    }

    /// A node as [`Node::new`]'s, whose backward gets zeros (`materialize_grads`) or `None`
    /// for outputs that got no gradient.
    pub fn build(
        name: impl Into<Cow<'static, str>>,
        next_edges: Vec<Option<Edge>>,
        backward: BackwardFn,
        outputs: Vec<OutputMeta>,
        materialize_grads: bool,
    ) -> Arc<Node> {
        Arc::new(Node {
            name: name.into(),
            seq: SEQUENCE.fetch_add(1, Ordering::Relaxed),
            next_edges,
            backward: Mutex::new(Some(backward)),
            accumulate_into: None,
            pre_hooks: Mutex::new(vec![]),
            node_pre_hooks: Mutex::new(vec![]),
            post_hooks: Mutex::new(vec![]),
            retained: Mutex::new(vec![]),
            outputs,
            materialize_grads,
        })
    }

    pub(crate) fn accumulator(leaf: &Tensor) -> Arc<Node> {
        Arc::new(Node {
            name: "AccumulateGrad".into(),
            seq: SEQUENCE.fetch_add(1, Ordering::Relaxed),
            next_edges: vec![],
            backward: Mutex::new(None),
            accumulate_into: Some(leaf.clone()),
            pre_hooks: Mutex::new(vec![]),
            node_pre_hooks: Mutex::new(vec![]),
            post_hooks: Mutex::new(vec![]),
            retained: Mutex::new(vec![]),
            outputs: vec![OutputMeta::of(leaf)],
            materialize_grads: true,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn is_accumulator(&self) -> bool {
        self.accumulate_into.is_some()
    }
    /// The leaf an `AccumulateGrad` node feeds.
    pub fn variable(&self) -> Option<&Tensor> {
        self.accumulate_into.as_ref()
    }
    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }
    pub fn register_pre_hook(&self, output_nr: usize, hook: Hook) {
        self.pre_hooks.lock().push((output_nr, hook));
    }
    /// `register_prehook`: `hook` runs on the output gradients before the node does.
    pub fn register_node_pre_hook(&self, hook: NodePreHook) {
        self.node_pre_hooks.lock().push(hook);
    }
    /// `register_hook`: `hook` runs on the node's input gradients after it ran.
    pub fn register_post_hook(&self, hook: NodePostHook) {
        self.post_hooks.lock().push(hook);
    }

    /// Runs the backward closure for the inputs flagged in `needs` (released nodes raise
    /// PyTorch's second-backward error).
    pub(crate) fn call(
        &self,
        grads: &[Option<Tensor>],
        needs: &[bool],
        retain: bool,
    ) -> Result<Vec<Option<Tensor>>> {
        let mut slot = self.backward.lock();
        let f = slot.as_mut().ok_or_else(|| {
            Error::Runtime(
                "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time or if you need to access saved tensors after calling backward.".into(),
            )
        })?;
        // A node reached only for a gradient it receives (`autograd.grad` w.r.t. its
        // output) computes nothing.
        let out = if needs.contains(&true) {
            f(grads, needs)
        } else {
            Ok(vec![None; needs.len()])
        };
        if !retain {
            *slot = None;
        }
        out
    }
}

impl Drop for Node {
    /// Frees a long chain of nodes iteratively: the default recursive drop would overflow
    /// the stack on a 100 000-op graph.
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = self
            .next_edges
            .drain(..)
            .flatten()
            .map(|e| e.node)
            .collect();
        while let Some(node) = stack.pop() {
            if let Ok(mut inner) = Arc::try_unwrap(node) {
                stack.extend(inner.next_edges.drain(..).flatten().map(|e| e.node));
            }
        }
    }
}
