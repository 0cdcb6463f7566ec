//! The op-recording mode: while a trace is on (this thread), each traced op called from
//! outside another traced op is recorded with its input and output tensors and its
//! attributes, in call order. `rustorch.onnx.export` runs a model once under it and maps
//! the records to ONNX operators; ops a traced op runs inside itself are not recorded.
//!
//! An op is traced by running its body through [`traced`]; when no trace is on that is one
//! thread-local read.

use crate::error::Result;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};

/// An attribute of a recorded op.
#[derive(Clone, Debug)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl From<crate::ops::Scalar> for Attr {
    /// A number operand, its kind kept (type promotion depends on it).
    fn from(s: crate::ops::Scalar) -> Attr {
        match s {
            crate::ops::Scalar::Bool(b) => Attr::Bool(b),
            crate::ops::Scalar::Int(i) => Attr::Int(i),
            crate::ops::Scalar::Float(f) => Attr::Float(f),
        }
    }
}

/// One recorded op: its name (the engine's, e.g. `conv`, `addmm`, `relu`), its tensor
/// inputs and outputs, and its attributes.
#[derive(Clone)]
pub struct TracedOp {
    pub op: &'static str,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    pub attrs: Vec<(&'static str, Attr)>,
}

thread_local! {
    /// Whether a trace is on: the one read an untraced call pays.
    static ON: Cell<bool> = const { Cell::new(false) };
    static TRACE: RefCell<Option<Vec<TracedOp>>> = const { RefCell::new(None) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Starts recording on this thread (a trace already on is discarded).
pub fn start() {
    TRACE.with(|t| *t.borrow_mut() = Some(Vec::new()));
    ON.with(|on| on.set(true));
    DEPTH.with(|d| d.set(0));
}

/// Stops recording and returns the ops recorded since [`start`] (none when it was off).
pub fn stop() -> Vec<TracedOp> {
    ON.with(|on| on.set(false));
    TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default()
}

/// Whether a trace is on (this thread). An op the exporter has no mapping for runs as its
/// composite then.
pub fn tracing() -> bool {
    ON.with(Cell::get)
}

/// Restores the depth when a traced op returns (or fails).
struct Depth;

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs the op `op` (`f`) over `inputs`; while a trace is on and no traced op encloses this
/// one, records it with `attrs()`. The recorded tensors are kept alive by the trace, so a
/// tensor's identity (its handle's address) is unique within it.
pub fn traced(
    op: &'static str,
    inputs: &[&Tensor],
    attrs: impl FnOnce() -> Vec<(&'static str, Attr)>,
    f: impl FnOnce() -> Result<Tensor>,
) -> Result<Tensor> {
    traced_outputs(op, inputs, attrs, f, |t| vec![t.clone()])
}

/// [`traced`] for an op with several outputs: `outputs` lists the tensors of its result
/// that the record keeps.
pub fn traced_outputs<R>(
    op: &'static str,
    inputs: &[&Tensor],
    attrs: impl FnOnce() -> Vec<(&'static str, Attr)>,
    f: impl FnOnce() -> Result<R>,
    outputs: impl FnOnce(&R) -> Vec<Tensor>,
) -> Result<R> {
    if !tracing() {
        return f();
    }
    let outer = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get() == 1
    });
    let depth = Depth;
    let out = f()?;
    drop(depth);
    if outer {
        push(TracedOp {
            op,
            inputs: inputs.iter().map(|&t| t.clone()).collect(),
            outputs: outputs(&out),
            attrs: attrs(),
        });
    }
    Ok(out)
}

fn push(rec: TracedOp) {
    TRACE.with(|t| {
        if let Some(ops) = t.borrow_mut().as_mut() {
            ops.push(rec);
        }
    });
}

/// Records that the handle `to` now holds `from`'s value: an in-place op wrote `from` into
/// `to`, or `to` is a snapshot of `from` (outside any traced op, as [`traced`] records).
pub fn alias(to: &Tensor, from: &Tensor) {
    if !tracing() || DEPTH.with(|d| d.get()) > 0 {
        return;
    }
    push(TracedOp {
        op: "alias",
        inputs: vec![from.clone()],
        outputs: vec![to.clone()],
        attrs: Vec::new(),
    });
}

/// A tensor handle's identity within a trace.
pub fn id(t: &Tensor) -> usize {
    std::sync::Arc::as_ptr(&t.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_outermost_traced_ops_and_nothing_when_off() {
        let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], &[2, 2]);
        let _ = x.relu().unwrap();
        assert!(stop().is_empty(), "no trace was on");
        start();
        let y = x.relu().unwrap();
        // flatten runs reshape inside itself: one record.
        let z = y.flatten(0, -1).unwrap();
        let ops = stop();
        let names: Vec<_> = ops.iter().map(|o| o.op).collect();
        assert_eq!(names, ["relu", "flatten"]);
        assert_eq!(id(&ops[0].inputs[0]), id(&x));
        assert_eq!(id(&ops[0].outputs[0]), id(&y));
        assert_eq!(id(&ops[1].inputs[0]), id(&y));
        assert_eq!(id(&ops[1].outputs[0]), id(&z));
        let _ = x.relu().unwrap();
        assert!(stop().is_empty(), "the trace stopped");
    }
}
