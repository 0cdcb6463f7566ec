//! Autograd bindings: grad mode, `backward`/`grad`, graph nodes as `grad_fn` objects,
//! and custom Python `Function`s recorded as engine nodes.

use super::convert::tensor_arg;
use super::tensor::{py_err_to_rust, PyTensor};
use crate::autograd::{self as ag, Node};
use crate::Tensor;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Gradients as the tuple a node hook receives (None where there is none).
fn grads_tuple<'py>(
    py: Python<'py>,
    grads: &[Option<Tensor>],
) -> crate::Result<Bound<'py, PyTuple>> {
    let items = grads.iter().map(|g| match g {
        Some(t) => PyTensor::new(t.clone())
            .into_pyobject(py)
            .map(|o| o.into_any()),
        None => Ok(py.None().into_bound(py)),
    });
    let items: Vec<Bound<'py, PyAny>> = items.collect::<PyResult<_>>().map_err(py_err_to_rust)?;
    PyTuple::new(py, items).map_err(py_err_to_rust)
}

/// Gradients returned by Python code: each a tensor or None.
fn optional_grads(items: &[Bound<'_, PyAny>], what: &str) -> crate::Result<Vec<Option<Tensor>>> {
    items
        .iter()
        .map(|g| {
            if g.is_none() {
                Ok(None)
            } else {
                tensor_arg(g, what).map(Some).map_err(py_err_to_rust)
            }
        })
        .collect()
}

/// A node hook's result, checked against the gradients it may replace as PyTorch checks it:
/// None (keep them) or a sequence of as many tensors and Nones, with no tensor where there
/// was none.
fn checked_grads(
    hook: &Bound<'_, PyAny>,
    r: &Bound<'_, PyAny>,
    old: &[Option<Tensor>],
) -> crate::Result<Option<Vec<Option<Tensor>>>> {
    if r.is_none() {
        return Ok(None);
    }
    let items: Vec<Bound<'_, PyAny>> = r
        .try_iter()
        .and_then(|it| it.collect())
        .map_err(py_err_to_rust)?;
    optional_grads(&items, "hook").and_then(|new| {
            if new.len() != old.len() {
                let name = hook
                    .getattr("__name__")
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "hook".into());
                return Err(crate::Error::Runtime(format!(
                    "hook '{name}' has returned an incorrect number of values (got {}, but expected {})",
                    new.len(),
                    old.len()
                )));
            }
            if new.iter().zip(old).any(|(n, o)| n.is_some() && o.is_none()) {
                return Err(crate::Error::Runtime(
                    "can't replace a None gradient with a non-None value".into(),
                ));
            }
            Ok(Some(new))
        })
}

/// A graph node as Python sees it (`tensor.grad_fn`): an instance of a subclass named
/// after the node (`AddBackward0`), as PyTorch's `type(y.grad_fn).__name__`.
#[pyclass(name = "Node", module = "rustorch.autograd.graph", frozen, subclass)]
pub struct PyNode {
    node: Arc<Node>,
}

/// The `Node` subclass of each node name, made on first use.
static NODE_TYPES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

impl PyNode {
    /// The Python object of `node`: an instance of its name's `Node` subclass.
    pub fn object(py: Python<'_>, node: Arc<Node>) -> PyResult<Py<PyAny>> {
        let types = NODE_TYPES
            .get_or_init(py, || PyDict::new(py).unbind())
            .bind(py);
        let name = node.name().to_string();
        let ty = match types.get_item(&name)? {
            Some(t) => t,
            None => {
                let attrs = PyDict::new(py);
                attrs.set_item("__module__", "rustorch.autograd.graph")?;
                let bases = PyTuple::new(py, [py.get_type::<PyNode>()])?;
                let t =
                    py.get_type::<pyo3::types::PyType>()
                        .call1((name.as_str(), bases, attrs))?;
                types.set_item(&name, &t)?;
                t
            }
        };
        Ok(ty.call1((PyNode { node },))?.unbind())
    }
}

#[pymethods]
impl PyNode {
    /// `Node(node)`: another handle on the same graph node (how the named subclasses are
    /// instantiated).
    #[new]
    fn py_new(node: PyRef<'_, PyNode>) -> PyNode {
        PyNode {
            node: node.node.clone(),
        }
    }
    fn name(&self) -> String {
        self.node.name().to_string()
    }
    /// `register_prehook(hook)`: `hook(grad_outputs)` runs before the node's backward and may
    /// return replacement gradients (a tuple of the same length), as PyTorch's.
    fn register_prehook(&self, hook: Py<PyAny>) -> super::tensor::RemovableHandle {
        let active = Arc::new(AtomicBool::new(true));
        let flag = active.clone();
        self.node
            .register_node_pre_hook(Arc::new(move |grad_outputs| {
                if !flag.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                Python::attach(|py| {
                    let r = hook
                        .call1(py, (grads_tuple(py, grad_outputs)?,))
                        .map_err(py_err_to_rust)?;
                    checked_grads(hook.bind(py), r.bind(py), grad_outputs)
                })
            }));
        super::tensor::RemovableHandle::from_flag(active)
    }
    /// `register_hook(hook)`: `hook(grad_inputs, grad_outputs)` runs after the node's
    /// backward and may return replacement `grad_inputs`, as PyTorch's.
    fn register_hook(&self, hook: Py<PyAny>) -> super::tensor::RemovableHandle {
        let active = Arc::new(AtomicBool::new(true));
        let flag = active.clone();
        self.node
            .register_post_hook(Arc::new(move |grad_inputs, grad_outputs| {
                if !flag.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                Python::attach(|py| {
                    let args = (
                        grads_tuple(py, grad_inputs)?,
                        grads_tuple(py, grad_outputs)?,
                    );
                    let r = hook.call1(py, args).map_err(py_err_to_rust)?;
                    checked_grads(hook.bind(py), r.bind(py), grad_inputs)
                })
            }));
        super::tensor::RemovableHandle::from_flag(active)
    }
    #[getter]
    fn next_functions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items: Vec<(Option<Py<PyAny>>, usize)> = self
            .node
            .next_edges
            .iter()
            .map(|e| match e {
                Some(e) => Ok((Some(PyNode::object(py, e.node.clone())?), e.input_nr)),
                None => Ok((None, 0)),
            })
            .collect::<PyResult<_>>()?;
        PyTuple::new(py, items)
    }
    /// The leaf an `AccumulateGrad` node feeds.
    #[getter]
    fn variable(&self) -> Option<PyTensor> {
        self.node.variable().map(|t| PyTensor::new(t.clone()))
    }
    fn __repr__(&self) -> String {
        format!(
            "<{} object at {:#x}>",
            self.node.name(),
            Arc::as_ptr(&self.node) as usize
        )
    }
    fn __eq__(&self, other: PyRef<'_, PyNode>) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }
    fn __hash__(&self) -> isize {
        Arc::as_ptr(&self.node) as isize
    }
}

pub fn tensor_seq(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(vec![t.get().inner.clone()]);
    }
    obj.try_iter()?
        .map(|t| tensor_arg(&t?, "autograd"))
        .collect()
}

pub fn tensor_seq_opt(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<Tensor>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => tensor_seq(o).map(Some),
    }
}

/// Pairs outputs with their gradients (ones for scalars when none is given).
fn roots(
    outputs: Vec<Tensor>,
    grads: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<(Tensor, Tensor)>> {
    let grads: Vec<Option<Tensor>> = match grads {
        None => vec![None; outputs.len()],
        Some(g) if g.is_none() => vec![None; outputs.len()],
        Some(g) => {
            if let Ok(t) = g.cast::<PyTensor>() {
                vec![Some(t.get().inner.clone())]
            } else {
                g.try_iter()?
                    .map(|x| {
                        let x = x?;
                        if x.is_none() {
                            Ok(None)
                        } else {
                            tensor_arg(&x, "grad_outputs").map(Some)
                        }
                    })
                    .collect::<PyResult<_>>()?
            }
        }
    };
    if grads.len() != outputs.len() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "grad requires one gradient per output: got {} outputs and {} gradients",
            outputs.len(),
            grads.len()
        )));
    }
    outputs
        .into_iter()
        .zip(grads)
        .map(|(o, g)| {
            let g = match g {
                Some(g) => g,
                None => {
                    if o.numel() != 1 {
                        return Err(pyo3::exceptions::PyRuntimeError::new_err(
                            "grad can be implicitly created only for scalar outputs",
                        ));
                    }
                    crate::ops::creation::ones_like(&o)?
                }
            };
            Ok((o, g))
        })
        .collect()
}

#[pyfunction]
#[pyo3(signature = (tensors, grad_tensors=None, retain_graph=None, create_graph=false, inputs=None))]
pub fn backward(
    tensors: &Bound<'_, PyAny>,
    grad_tensors: Option<&Bound<'_, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    inputs: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let r = roots(tensor_seq(tensors)?, grad_tensors)?;
    Ok(ag::engine::backward(
        r,
        retain_graph.unwrap_or(create_graph),
        create_graph,
        tensor_seq_opt(inputs)?,
    )?)
}

#[pyfunction]
#[pyo3(signature = (outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=false, allow_unused=None, materialize_grads=false))]
#[allow(clippy::too_many_arguments)]
pub fn grad<'py>(
    py: Python<'py>,
    outputs: &Bound<'py, PyAny>,
    inputs: &Bound<'py, PyAny>,
    grad_outputs: Option<&Bound<'py, PyAny>>,
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: Option<bool>,
    materialize_grads: bool,
) -> PyResult<Bound<'py, PyTuple>> {
    let r = roots(tensor_seq(outputs)?, grad_outputs)?;
    let ins = tensor_seq(inputs)?;
    let gs = ag::engine::grad(
        r,
        &ins,
        retain_graph.unwrap_or(create_graph),
        create_graph,
        allow_unused.unwrap_or(materialize_grads),
    )?;
    let out: Vec<Option<PyTensor>> = gs
        .into_iter()
        .zip(&ins)
        .map(|(g, i)| match g {
            Some(g) => Ok(Some(PyTensor::new(g))),
            None if materialize_grads => {
                Ok(Some(PyTensor::new(crate::ops::creation::zeros_like(i)?)))
            }
            None => Ok(None),
        })
        .collect::<crate::Result<_>>()?;
    PyTuple::new(py, out)
}

#[pyfunction]
pub fn is_grad_enabled() -> bool {
    ag::is_grad_enabled()
}
#[pyfunction]
pub fn _set_grad_enabled(on: bool) {
    ag::set_grad_enabled(on)
}
#[pyfunction]
pub fn is_inference_mode_enabled() -> bool {
    ag::grad_mode::is_inference_mode()
}
#[pyfunction]
pub fn _set_inference_mode(on: bool) {
    ag::grad_mode::set_inference_mode(on)
}
#[pyfunction]
pub fn _set_anomaly_enabled(enabled: bool, check_nan: bool) {
    ag::grad_mode::set_anomaly_enabled(enabled, check_nan)
}
#[pyfunction]
pub fn is_anomaly_enabled() -> bool {
    ag::grad_mode::is_anomaly_enabled()
}
#[pyfunction]
pub fn is_anomaly_check_nan_enabled() -> bool {
    ag::grad_mode::is_anomaly_check_nan_enabled()
}

/// Records a Python `Function` call: `outputs` become the outputs of a node whose backward
/// calls `backward(*grads)` and gets one gradient (or None) per entry of `inputs`. Outputs
/// that got no gradient reach `backward` as zeros, or as None without `materialize_grads`.
#[pyfunction]
pub fn _record_function(
    name: String,
    inputs: &Bound<'_, PyList>,
    outputs: &Bound<'_, PyList>,
    backward: Py<PyAny>,
    materialize_grads: bool,
) -> PyResult<()> {
    let inputs: Vec<Option<Tensor>> = inputs
        .iter()
        .map(|o| {
            if o.is_none() {
                Ok(None)
            } else {
                tensor_arg(&o, "Function.apply").map(Some)
            }
        })
        .collect::<PyResult<_>>()?;
    let outs: Vec<Tensor> = outputs
        .iter()
        .map(|o| tensor_arg(&o, "Function.apply"))
        .collect::<PyResult<_>>()?;
    let edges = inputs
        .iter()
        .map(|t| t.as_ref().and_then(|t| t.gradient_edge()))
        .collect();
    let n_in = inputs.len();
    let f: ag::BackwardFn = Box::new(move |grads: &[Option<Tensor>], _needs: &[bool]| {
        Python::attach(|py| {
            let args: Vec<Py<PyAny>> = grads
                .iter()
                .map(|g| match g {
                    Some(g) => {
                        Bound::new(py, PyTensor::new(g.clone())).map(|b| b.into_any().unbind())
                    }
                    None => Ok(py.None()),
                })
                .collect::<PyResult<_>>()
                .map_err(py_err_to_rust)?;
            let r = backward
                .call1(py, PyTuple::new(py, args).map_err(py_err_to_rust)?)
                .map_err(py_err_to_rust)?;
            let r = r.bind(py);
            let items: Vec<Bound<'_, PyAny>> =
                if r.cast::<PyTuple>().is_ok() || r.cast::<PyList>().is_ok() {
                    r.try_iter()
                        .map_err(py_err_to_rust)?
                        .collect::<PyResult<_>>()
                        .map_err(py_err_to_rust)?
                } else {
                    vec![r.clone()]
                };
            if items.len() != n_in {
                return Err(crate::Error::Runtime(format!(
                    "function backward returned an incorrect number of gradients (expected {n_in}, got {})",
                    items.len()
                )));
            }
            optional_grads(&items, "backward")
        })
    });
    ag::record_outputs(name, edges, &outs, f, materialize_grads);
    Ok(())
}
