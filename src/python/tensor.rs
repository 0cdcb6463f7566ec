//! The `rustorch.Tensor` class: a thin handle; every method forwards to the Rust core.

use super::convert::*;
use super::numpy::array_interface;
use super::tensor_math::wrap;
use crate::autograd::Hook;
use crate::ops::binary::{binary, BinaryOp};
use crate::ops::{Operand, Scalar};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};
use pyo3::BoundObject;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[pyclass(name = "Tensor", module = "rustorch", subclass, frozen, weakref, dict)]
pub struct PyTensor {
    pub inner: Tensor,
}

impl PyTensor {
    pub fn new(inner: Tensor) -> PyTensor {
        PyTensor { inner }
    }
}

pub type R = PyResult<PyTensor>;

static SIZE_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static RETURN_TYPES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `rustorch.Size(shape)`, the tuple subclass defined in Python.
pub fn size_obj<'py>(py: Python<'py>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    let t = PyTuple::new(py, shape)?;
    match SIZE_TYPE.get(py) {
        Some(ty) => ty.bind(py).call1((t,)),
        None => Ok(t.into_any()),
    }
}

#[pyfunction]
pub fn _set_python_types(
    py: Python<'_>,
    size: Bound<'_, PyType>,
    return_types: Bound<'_, PyAny>,
) -> PyResult<()> {
    let _ = SIZE_TYPE.set(py, size.unbind());
    let _ = RETURN_TYPES.set(py, return_types.unbind());
    Ok(())
}

/// PyTorch's legacy constructor (`torch.Tensor(...)`, `torch.FloatTensor(...)`, `t.new(...)`)
/// for `dtype` on `device`: no arguments, an empty 1-d tensor; sizes (ints or a
/// `torch.Size`), an uninitialised tensor of that shape; a list, tuple or array, its data; a
/// tensor, that tensor, which must have the dtype and device already.
pub fn legacy_new(args: &Bound<'_, PyTuple>, dtype: DType, device: Device) -> PyResult<Tensor> {
    let py = args.py();
    if args.is_empty() {
        return Ok(crate::ops::creation::zeros(&[0], dtype, device)?);
    }
    let first = args.get_item(0)?;
    if let Ok(t) = first.cast::<PyTensor>() {
        let t = &t.get().inner;
        if args.len() > 1 || t.dtype() != dtype || t.device() != device {
            return Err(PyTypeError::new_err(format!(
                "expected {} on {device} (got {} on {})",
                dtype.name(),
                t.dtype().name(),
                t.device()
            )));
        }
        return Ok(t.detach());
    }
    let is_size = SIZE_TYPE
        .get(py)
        .is_some_and(|ty| first.is_instance(ty.bind(py)).unwrap_or(false));
    let is_data = first.cast::<PyList>().is_ok()
        || (first.cast::<PyTuple>().is_ok() && !is_size)
        || first.hasattr("__array_interface__")?;
    if args.len() == 1 && is_data {
        return Ok(data_to_tensor(&first, Some(dtype))?.to_device(device)?);
    }
    Ok(crate::ops::creation::zeros(
        &size_args(args)?,
        dtype,
        device,
    )?)
}

/// A `torch.return_types.NAME(values, indices)` named tuple.
pub fn values_indices(py: Python<'_>, name: &str, v: Tensor, i: Tensor) -> PyResult<Py<PyAny>> {
    let pair = (PyTensor::new(v), PyTensor::new(i));
    match RETURN_TYPES.get(py) {
        Some(rt) => Ok(rt.bind(py).getattr(name)?.call1(pair)?.unbind()),
        None => Ok(pair.into_pyobject(py)?.into_any().unbind()),
    }
}

pub fn correction_arg(unbiased: Option<bool>, correction: Option<f64>) -> f64 {
    match (correction, unbiased) {
        (Some(c), _) => c,
        (None, Some(false)) => 0.0,
        _ => 1.0,
    }
}

/// Hook handles: `remove()` disables the hook.
#[pyclass(module = "rustorch.utils.hooks")]
pub struct RemovableHandle {
    active: Arc<AtomicBool>,
}

impl RemovableHandle {
    pub fn from_flag(active: Arc<AtomicBool>) -> RemovableHandle {
        RemovableHandle { active }
    }
}

#[pymethods]
impl RemovableHandle {
    fn remove(&self) {
        self.active.store(false, Ordering::Relaxed);
    }
}

/// A Python exception raised by a callback the engine ran, carried through the engine and
/// re-raised unchanged at the boundary.
pub fn py_err_to_rust(e: PyErr) -> crate::Error {
    let msg = Python::attach(|py| e.value(py).to_string());
    crate::Error::Foreign(msg, crate::error::ForeignError(Arc::new(e)))
}

/// A Python callable as an engine hook (called with the GIL).
pub fn py_hook(f: Py<PyAny>, active: Arc<AtomicBool>) -> Hook {
    Arc::new(move |g: Option<&Tensor>| {
        if !active.load(Ordering::Relaxed) {
            return Ok(None);
        }
        Python::attach(|py| {
            let g = g.map(|g| PyTensor::new(g.clone()));
            let r = f.call1(py, (g,)).map_err(py_err_to_rust)?;
            let r = r.bind(py);
            if r.is_none() {
                Ok(None)
            } else {
                tensor_arg(r, "hook").map(Some).map_err(py_err_to_rust)
            }
        })
    })
}

impl PyTensor {
    /// A tensor of `size` filled with `value`, of self's dtype and device (`new_*`).
    /// `new_*`'s tensor of `size` filled with `value`, in the `dtype` and on the `device`
    /// of the keyword arguments (this tensor's by default), with `requires_grad`.
    pub(super) fn new_filled(
        &self,
        name: &str,
        size: Vec<usize>,
        value: Scalar,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> R {
        super::functions::check_kwargs(kwargs, name)?;
        let dtype = super::functions::kw_dtype(kwargs, self.inner.dtype())?;
        let device = super::functions::kw_device(kwargs, self.inner.device())?;
        super::functions::finish(
            crate::ops::creation::full(&size, value, dtype, device)?,
            kwargs,
        )
    }
    fn bin(&self, op: BinaryOp, other: &Bound<'_, PyAny>) -> R {
        wrap(binary(
            op,
            &Operand::Tensor(self.inner.clone()),
            &operand(other)?,
        ))
    }
    fn rbin(&self, op: BinaryOp, other: &Bound<'_, PyAny>) -> R {
        wrap(binary(
            op,
            &operand(other)?,
            &Operand::Tensor(self.inner.clone()),
        ))
    }
}

#[pymethods]
impl PyTensor {
    /// `Tensor(data)` / `Tensor(*sizes)`: the default dtype, as PyTorch's legacy constructor
    /// (a tensor argument is shared as it is: `_make_subclass` passes one of any dtype).
    #[new]
    #[pyo3(signature = (*args))]
    fn py_new(args: &Bound<'_, PyTuple>) -> PyResult<Self> {
        if let Ok(Ok(t)) = args.get_item(0).map(|a| a.cast_into::<PyTensor>()) {
            return Ok(PyTensor::new(t.get().inner.detach()));
        }
        let device = super::functions::default_device();
        Ok(PyTensor::new(legacy_new(
            args,
            DType::default_float(),
            device,
        )?))
    }

    /// `t.new(*args, device=None)`: the legacy constructor with `t`'s dtype and device.
    #[pyo3(name = "new", signature = (*args, device=None))]
    fn legacy_new_like(&self, args: &Bound<'_, PyTuple>, device: Option<&Bound<'_, PyAny>>) -> R {
        let device = opt_device(device)?.unwrap_or(self.inner.device());
        Ok(PyTensor::new(legacy_new(args, self.inner.dtype(), device)?))
    }

    /// The number of elements of the storage under this tensor (`untyped_storage().nbytes()`
    /// divided by the element size).
    fn _storage_numel(&self) -> usize {
        self.inner.storage().len()
    }

    /// `Tensor._make_subclass(cls, data, requires_grad)`: a `cls` instance sharing `data`.
    #[staticmethod]
    #[pyo3(signature = (cls, data, require_grad=false))]
    fn _make_subclass<'py>(
        cls: &Bound<'py, PyType>,
        data: &Bound<'py, PyTensor>,
        require_grad: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = cls.py();
        let obj = py
            .get_type::<PyTensor>()
            .call_method1("__new__", (cls, data))?;
        obj.cast::<PyTensor>()?
            .get()
            .inner
            .set_requires_grad(require_grad)?;
        Ok(obj)
    }

    // ---- metadata -------------------------------------------------------------------------
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        size_obj(py, self.inner.shape())
    }
    #[pyo3(signature = (dim=None))]
    fn size<'py>(&self, py: Python<'py>, dim: Option<Dim>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => size_obj(py, self.inner.shape()),
            Some(d) => {
                let d = crate::error::wrap_dim(d.0, self.inner.dim())?;
                Ok(self
                    .inner
                    .shape()
                    .get(d)
                    .copied()
                    .unwrap_or(1)
                    .into_pyobject(py)?
                    .into_any())
            }
        }
    }
    #[getter]
    fn dtype(&self, py: Python<'_>) -> Py<PyDType> {
        super::convert::dtype_object(py, self.inner.dtype())
    }
    #[getter(device)]
    fn device_getter<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        device_obj(py, self.inner.device())
    }
    #[getter]
    fn is_cuda(&self) -> bool {
        self.inner.device().is_cuda()
    }
    #[getter]
    fn is_cpu(&self) -> bool {
        !self.inner.device().is_cuda()
    }
    /// The CUDA ordinal, or -1 for a CPU tensor.
    #[pyo3(name = "get_device")]
    fn device_index(&self) -> i64 {
        self.inner.device().index().map_or(-1, |i| i as i64)
    }
    #[getter]
    fn ndim(&self) -> usize {
        self.inner.dim()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn ndimension(&self) -> usize {
        self.inner.dim()
    }
    fn numel(&self) -> usize {
        self.inner.numel()
    }
    fn nelement(&self) -> usize {
        self.inner.numel()
    }
    fn element_size(&self) -> usize {
        self.inner.dtype().size()
    }
    #[pyo3(signature = (dim=None))]
    fn stride<'py>(&self, py: Python<'py>, dim: Option<Dim>) -> PyResult<Bound<'py, PyAny>> {
        match dim {
            None => Ok(PyTuple::new(py, self.inner.strides())?.into_any()),
            Some(d) if self.inner.dim() == 0 => Err(crate::error::Error::Index(format!(
                "Dimension specified as {} but tensor has no dimensions",
                d.0
            ))
            .into()),
            Some(d) => {
                let d = crate::error::wrap_dim(d.0, self.inner.dim())?;
                Ok(self.inner.strides()[d].into_pyobject(py)?.into_any())
            }
        }
    }
    fn storage_offset(&self) -> usize {
        self.inner.offset()
    }
    fn data_ptr(&self) -> usize {
        self.inner.data_ptr()
    }
    /// `is_contiguous(memory_format=torch.contiguous_format)`: whether the tensor is dense in
    /// that format's order.
    #[pyo3(signature = (memory_format=None))]
    fn is_contiguous(&self, memory_format: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        let f = memory_format_arg(memory_format, "is_contiguous", MemoryFormat::Contiguous)?;
        Ok(self.inner.layout().is_contiguous_as(f))
    }
    fn is_floating_point(&self) -> bool {
        self.inner.dtype().is_float()
    }
    fn __len__(&self) -> PyResult<usize> {
        if self.inner.dim() == 0 {
            return Err(PyTypeError::new_err("len() of a 0-d tensor"));
        }
        Ok(self.inner.shape()[0])
    }
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.inner.dim() == 0 {
            return Err(PyTypeError::new_err("iteration over a 0-d tensor"));
        }
        let parts: Vec<PyTensor> = self
            .inner
            .unbind(0)?
            .into_iter()
            .map(PyTensor::new)
            .collect();
        PyList::new(py, parts)?.try_iter().map(|i| i.into_any())
    }
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }
    /// The address of the tensor's implementation (PyTorch's `_cdata`): equal for two Python
    /// wrappers of one tensor, such as a parameter and the leaf its `AccumulateGrad` feeds.
    #[getter]
    fn _cdata(&self) -> usize {
        std::sync::Arc::as_ptr(&self.inner.0) as usize
    }
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        host_only(&self.inner)?;
        array_interface(py, &self.inner)
    }

    // ---- autograd state -------------------------------------------------------------------
    #[getter]
    fn get_requires_grad(&self) -> bool {
        self.inner.requires_grad()
    }
    #[setter]
    fn set_requires_grad(&self, v: bool) -> PyResult<()> {
        Ok(self.inner.set_requires_grad(v)?)
    }
    #[pyo3(signature = (requires_grad=true))]
    fn requires_grad_(slf: &Bound<'_, Self>, requires_grad: bool) -> PyResult<Py<PyAny>> {
        slf.get().inner.set_requires_grad(requires_grad)?;
        Ok(slf.clone().into_any().unbind())
    }
    #[getter]
    fn get_grad(&self) -> Option<PyTensor> {
        self.inner.grad().map(PyTensor::new)
    }
    #[setter]
    fn set_grad(&self, g: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let g = match g {
            Some(g) if !g.is_none() => Some(tensor_arg(g, "grad")?),
            _ => None,
        };
        Ok(self.inner.set_grad(g)?)
    }
    #[getter]
    fn grad_fn(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.inner
            .grad_fn()
            .map(|n| super::autograd::PyNode::object(py, n))
            .transpose()
    }
    #[getter]
    fn is_leaf(&self) -> bool {
        self.inner.is_leaf()
    }
    /// `_version`: the count of in-place writes to this tensor's memory (shared with its
    /// views), which saved tensors check, as PyTorch's version counter.
    #[getter]
    fn _version(&self) -> u64 {
        self.inner.storage().version()
    }
    /// Whether this is an inference tensor (made in `inference_mode`, or a view of one).
    fn is_inference(&self) -> bool {
        self.inner.is_inference()
    }
    #[getter]
    fn retains_grad(&self) -> bool {
        self.inner.retains_grad()
    }
    #[getter]
    fn output_nr(&self) -> usize {
        self.inner.output_nr()
    }
    fn retain_grad(&self) -> PyResult<()> {
        Ok(self.inner.retain_grad()?)
    }
    #[getter]
    fn data(&self) -> PyTensor {
        PyTensor::new(self.inner.detach())
    }
    #[setter]
    fn set_data(&self, _v: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(pyo3::exceptions::PyNotImplementedError::new_err(
            "assigning to Tensor.data is not supported; use `t.data.copy_(new)` (same shape) or create a new tensor",
        ))
    }
    fn detach(&self) -> PyTensor {
        PyTensor::new(self.inner.detach())
    }
    fn detach_(slf: &Bound<'_, Self>) -> Py<PyAny> {
        slf.get().inner.detach_();
        slf.clone().into_any().unbind()
    }
    fn register_hook(&self, hook: Py<PyAny>) -> PyResult<RemovableHandle> {
        let active = Arc::new(AtomicBool::new(true));
        self.inner.register_hook(py_hook(hook, active.clone()))?;
        Ok(RemovableHandle { active })
    }
    /// Calls `hook(tensor)` after each backward pass has accumulated into this leaf's
    /// `.grad` (PyTorch's hook gets the same tensor; here a new wrapper of it).
    fn register_post_accumulate_grad_hook(&self, hook: Py<PyAny>) -> PyResult<RemovableHandle> {
        let active = Arc::new(AtomicBool::new(true));
        let flag = active.clone();
        self.inner
            .register_post_accumulate_grad_hook(Arc::new(move |t: &Tensor| {
                if !flag.load(Ordering::Relaxed) {
                    return Ok(());
                }
                Python::attach(|py| {
                    hook.call1(py, (PyTensor::new(t.clone()),))
                        .map(drop)
                        .map_err(py_err_to_rust)
                })
            }))?;
        Ok(RemovableHandle { active })
    }
    #[pyo3(signature = (gradient=None, retain_graph=None, create_graph=false, inputs=None))]
    fn backward(
        &self,
        py: Python<'_>,
        gradient: Option<&Bound<'_, PyAny>>,
        retain_graph: Option<bool>,
        create_graph: bool,
        inputs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let g = match gradient {
            Some(g) if !g.is_none() => Some(tensor_like(g)?),
            _ => None,
        };
        let inputs = super::autograd::tensor_seq_opt(inputs)?;
        let t = self.inner.clone();
        let retain = retain_graph.unwrap_or(create_graph);
        let _ = py;
        Ok(t.backward(g, retain, create_graph, inputs)?)
    }

    // ---- operators ------------------------------------------------------------------------
    fn __add__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Add, o)
    }
    fn __radd__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::Add, o)
    }
    fn __sub__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Sub, o)
    }
    fn __rsub__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::Sub, o)
    }
    fn __mul__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Mul, o)
    }
    fn __rmul__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::Mul, o)
    }
    fn __truediv__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Div, o)
    }
    fn __rtruediv__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::Div, o)
    }
    fn __floordiv__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::FloorDiv, o)
    }
    fn __rfloordiv__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::FloorDiv, o)
    }
    fn __mod__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Rem, o)
    }
    fn __rmod__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::Rem, o)
    }
    /// `x ** o`; a three-argument `pow(x, o, m)` is Python's `TypeError`, as PyTorch's.
    fn __pow__(&self, o: &Bound<'_, PyAny>, m: Option<&Bound<'_, PyAny>>) -> R {
        if let Some(m) = m.filter(|m| !m.is_none()) {
            return Err(PyTypeError::new_err(format!(
                "unsupported operand type(s) for ** or pow(): 'Tensor', '{}', '{}'",
                o.get_type().name()?,
                m.get_type().name()?
            )));
        }
        self.bin(BinaryOp::Pow, o)
    }
    fn __rpow__(&self, o: &Bound<'_, PyAny>, _m: Option<&Bound<'_, PyAny>>) -> R {
        self.rbin(BinaryOp::Pow, o)
    }
    fn __and__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::BitAnd, o)
    }
    fn __rand__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::BitAnd, o)
    }
    fn __or__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::BitOr, o)
    }
    fn __ror__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::BitOr, o)
    }
    fn __xor__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::BitXor, o)
    }
    fn __rxor__(&self, o: &Bound<'_, PyAny>) -> R {
        self.rbin(BinaryOp::BitXor, o)
    }
    fn __eq__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Eq, o)
    }
    fn __ne__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Ne, o)
    }
    fn __lt__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Lt, o)
    }
    fn __le__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Le, o)
    }
    fn __gt__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Gt, o)
    }
    fn __ge__(&self, o: &Bound<'_, PyAny>) -> R {
        self.bin(BinaryOp::Ge, o)
    }
    fn __matmul__(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.matmul(&tensor_arg(o, "matmul")?))
    }
    fn __rmatmul__(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(tensor_arg(o, "matmul")?.matmul(&self.inner))
    }
    fn __neg__(&self) -> R {
        wrap(self.inner.neg())
    }
    fn __pos__(&self) -> PyTensor {
        PyTensor::new(self.inner.clone())
    }
    fn __abs__(&self) -> R {
        wrap(self.inner.abs())
    }
    fn __invert__(&self) -> R {
        wrap(self.inner.bitwise_not())
    }
    fn __iadd__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::Add, &operand(o)?)?)
    }
    fn __isub__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::Sub, &operand(o)?)?)
    }
    fn __imul__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::Mul, &operand(o)?)?)
    }
    fn __itruediv__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::Div, &operand(o)?)?)
    }
    fn __ifloordiv__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::FloorDiv, &operand(o)?)?)
    }
    fn __imod__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::Rem, &operand(o)?)?)
    }
    fn __ipow__(&self, o: &Bound<'_, PyAny>, _m: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::Pow, &operand(o)?)?)
    }
    fn __iand__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::BitAnd, &operand(o)?)?)
    }
    fn __ior__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::BitOr, &operand(o)?)?)
    }
    fn __ixor__(&self, o: &Bound<'_, PyAny>) -> PyResult<()> {
        Ok(self.inner.binary_(BinaryOp::BitXor, &operand(o)?)?)
    }

    // ---- indexing -------------------------------------------------------------------------
    fn __getitem__(&self, idx: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.index(&index_items(idx)?))
    }
    fn __setitem__(&self, idx: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = match scalar_arg(value) {
            Some(s) => s.to_tensor(self.inner.dtype()),
            None => tensor_like(value)?,
        };
        Ok(self.inner.index_put_(&index_items(idx)?, &v)?)
    }
    fn __contains__(&self, v: &Bound<'_, PyAny>) -> PyResult<bool> {
        let eq = binary(
            BinaryOp::Eq,
            &Operand::Tensor(self.inner.clone()),
            &operand(v)?,
        )?;
        Ok(eq.all_any(None, false, false)?.to_vec::<bool>()?[0])
    }
}

/// PyTorch's refusal to hand GPU memory to NumPy.
pub(super) fn host_only(t: &Tensor) -> PyResult<()> {
    match t.device() {
        Device::Cpu => Ok(()),
        d => Err(PyTypeError::new_err(format!(
            "can't convert {d} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."
        ))),
    }
}

/// A `rustorch.device` object for `d`.
pub fn device_obj(py: Python<'_>, d: Device) -> PyResult<Bound<'_, PyAny>> {
    let cls = py.import("rustorch")?.getattr("device")?;
    match d.index() {
        Some(i) => cls.call1((d.kind(), i)),
        None => cls.call1((d.kind(),)),
    }
}

/// Element `i` (row-major) of `t` as a Python number of the matching type.
pub fn scalar_to_py<'py>(py: Python<'py>, t: &Tensor, i: usize) -> PyResult<Bound<'py, PyAny>> {
    let t = t.reshape(&[-1])?;
    let one = t.narrow(0, i as i64, 1)?;
    Ok(match t.dtype() {
        d if d.is_float() => one.to_vec::<f64>()?[0].into_pyobject(py)?.into_any(),
        DType::Bool => one.to_vec::<bool>()?[0]
            .into_pyobject(py)?
            .to_owned()
            .into_any(),
        _ => one.to_vec::<i64>()?[0].into_pyobject(py)?.into_any(),
    })
}

/// `tolist()`: nested lists of Python numbers.
pub fn tolist<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyAny>> {
    fn build<'py, T: Copy + IntoPyObject<'py>>(
        py: Python<'py>,
        v: &[T],
        shape: &[usize],
    ) -> PyResult<Bound<'py, PyAny>> {
        if shape.is_empty() {
            return Ok(v[0]
                .into_pyobject(py)
                .map_err(Into::into)?
                .into_any()
                .into_bound());
        }
        let step = shape[1..].iter().product::<usize>();
        let items: Vec<Bound<'py, PyAny>> = (0..shape[0])
            .map(|i| build(py, &v[i * step..(i + 1) * step], &shape[1..]))
            .collect::<PyResult<_>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
    let shape = t.shape().to_vec();
    match t.dtype() {
        d if d.is_float() => build(py, &t.to_vec::<f64>()?, &shape),
        DType::Bool => build(py, &t.to_vec::<bool>()?, &shape),
        _ => build(py, &t.to_vec::<i64>()?, &shape),
    }
}

pub(crate) use correction_arg as correction;
pub(crate) use values_indices as named_pair;
