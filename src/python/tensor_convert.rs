//! `Tensor` conversion methods: `item`, `tolist`, NumPy and the buffer protocol, dtype and
//! device moves, the legacy typed constructors. Each forwards to the core.

use super::convert::*;
use super::tensor::*;
use super::tensor_math::wrap;
use crate::ops::Scalar;
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

#[pymethods]
impl PyTensor {
    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.inner.numel() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "a Tensor with {} elements cannot be converted to Scalar",
                self.inner.numel()
            )));
        }
        scalar_to_py(py, &self.inner, 0)
    }
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        tolist(py, &self.inner)
    }
    fn numpy<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        host_only(&slf.get().inner)?;
        if slf.get().inner.requires_grad() {
            return Err(PyRuntimeError::new_err(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.",
            ));
        }
        py.import("numpy")?.call_method1("asarray", (slf,))
    }
    fn __float__(&self) -> PyResult<f64> {
        Ok(self.inner.item_f64()?)
    }
    /// Integer tensors give their value exactly; floats truncate as Python's `int(float)`
    /// (NaN a `ValueError`, infinities an `OverflowError`, large values exact).
    fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if !self.inner.dtype().is_float() {
            self.inner.item_f64()?; // the one-element check and its error
            return Ok(self.inner.to_vec::<i64>()?[0].into_pyobject(py)?.into_any());
        }
        let v = self.inner.item_f64()?;
        pyo3::types::PyFloat::new(py, v).call_method0("__int__")
    }
    fn __index__(&self) -> PyResult<i64> {
        if self.inner.dtype().is_float() || self.inner.numel() != 1 {
            return Err(PyTypeError::new_err(
                "only integer tensors of a single element can be converted to an index",
            ));
        }
        Ok(self.inner.to_vec::<i64>()?[0])
    }
    fn __bool__(&self) -> PyResult<bool> {
        if self.inner.numel() != 1 {
            return Err(PyRuntimeError::new_err(format!(
                "Boolean value of Tensor with {} is ambiguous",
                if self.inner.numel() == 0 {
                    "no values"
                } else {
                    "more than one value"
                }
            )));
        }
        Ok(self.inner.item_f64()? != 0.0)
    }
    /// `to(dtype)`, `to(device)`, `to(other)`, `to(device, dtype)`; the same tensor when
    /// nothing changes (unless `copy=True`).
    #[pyo3(signature = (*args, **kwargs))]
    fn to(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let mut dtype = None;
        let mut device = None;
        let mut copy = false;
        let mut format = MemoryFormat::Preserve;
        let mut consider = |o: &Bound<'_, PyAny>| -> PyResult<()> {
            if o.is_none() {
                return Ok(());
            }
            if let Ok(t) = o.cast::<PyTensor>() {
                dtype = Some(t.get().inner.dtype());
                device = Some(t.get().inner.device());
            } else if let Ok(d) = dtype_arg(o) {
                dtype = Some(d);
            } else {
                device = Some(device_arg(o)?);
            }
            Ok(())
        };
        for a in args.iter() {
            consider(&a)?;
        }
        if let Some(kw) = kwargs {
            for (k, v) in kw.iter() {
                match k.extract::<String>()?.as_str() {
                    "dtype" | "device" => consider(&v)?,
                    "copy" => copy = v.extract()?,
                    "memory_format" => format = memory_format_arg(Some(&v), "to", format)?,
                    "non_blocking" => {}
                    other => {
                        return Err(PyTypeError::new_err(format!(
                            "to() got an unexpected keyword argument '{other}'"
                        )))
                    }
                }
            }
        }
        let t = &slf.get().inner;
        let (d, dev) = (dtype.unwrap_or(t.dtype()), device.unwrap_or(t.device()));
        // As PyTorch, a format is kept when it is the one the strides suggest.
        let laid_out = format == MemoryFormat::Preserve || t.layout().suggested_format() == format;
        if d == t.dtype() && dev == t.device() && !copy && laid_out {
            return Ok(slf.clone().into_any().unbind());
        }
        // A move keeps the layout; the cast (or the copy) then lays it out as asked.
        let moved = t.to_device(dev)?;
        let out = if moved.same(t) || d != t.dtype() || !laid_out {
            moved.to_copy(d, format)?
        } else {
            moved
        };
        Ok(Bound::new(slf.py(), PyTensor::new(out))?
            .into_any()
            .unbind())
    }
    /// `cuda(device=None)`: a copy on a GPU (the current one by default), or self if there.
    #[pyo3(signature = (device=None, non_blocking=false))]
    fn cuda(
        slf: &Bound<'_, Self>,
        device: Option<&Bound<'_, PyAny>>,
        non_blocking: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = non_blocking;
        let dev = match opt_device(device)? {
            Some(d @ Device::Cuda(_)) => d,
            Some(d) => {
                return Err(PyRuntimeError::new_err(format!(
                    "Invalid device, must be cuda device, got {d}"
                )))
            }
            None => Device::Cuda(crate::backend::current_cuda_device()),
        };
        to_device_or_self(slf, dev)
    }
    /// `pin_memory()`: a copy in page-locked host memory (self when already pinned).
    #[pyo3(signature = (device=None))]
    fn pin_memory(slf: &Bound<'_, Self>, device: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let _ = device;
        let t = &slf.get().inner;
        if t.is_pinned() {
            return Ok(slf.clone().into_any().unbind());
        }
        Ok(Bound::new(slf.py(), PyTensor::new(t.pin_memory()?))?
            .into_any()
            .unbind())
    }
    fn is_pinned(&self) -> bool {
        self.inner.is_pinned()
    }
    /// `share_memory_()`: moves the storage into shared memory (a memory file other processes
    /// map); a no-op when already shared and for CUDA tensors. Returns self.
    fn share_memory_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        slf.get().inner.share_memory_()?;
        Ok(slf.clone().into_any().unbind())
    }
    /// `is_shared()`: whether the storage is in shared memory (always true for CUDA tensors).
    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }
    /// `cpu()`: a copy in host memory, or self if there.
    fn cpu(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_device_or_self(slf, Device::Cpu)
    }
    #[pyo3(signature = (dtype=None))]
    fn r#type(slf: &Bound<'_, Self>, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        match dtype {
            None => Ok(legacy_type_name(&slf.get().inner)
                .into_pyobject(py)?
                .into_any()
                .unbind()),
            Some(d) => {
                let (d, cuda) = legacy_type_arg(d)?;
                let mut t = slf.get().inner.to_dtype(d)?;
                match cuda {
                    Some(true) if !t.device().is_cuda() => t = t.to_device(Device::Cuda(0))?,
                    Some(false) if t.device().is_cuda() => t = t.to_device(Device::Cpu)?,
                    _ => {}
                }
                Ok(Bound::new(py, PyTensor::new(t))?.into_any().unbind())
            }
        }
    }
    fn type_as(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.to_dtype(other.inner.dtype()))
    }
    fn float(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::F32)
    }
    fn double(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::F64)
    }
    fn half(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::F16)
    }
    fn bfloat16(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::BF16)
    }
    fn long(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::I64)
    }
    fn int(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::I32)
    }
    fn short(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::I16)
    }
    fn char(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::I8)
    }
    fn byte(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::U8)
    }
    fn bool(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        to_or_self(slf, DType::Bool)
    }
    #[pyo3(signature = (memory_format=None))]
    fn contiguous(
        slf: &Bound<'_, Self>,
        memory_format: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let f = memory_format_arg(memory_format, "contiguous", MemoryFormat::Contiguous)?;
        let t = &slf.get().inner;
        let c = t.contiguous_as(f)?;
        if c.same(t) {
            return Ok(slf.clone().into_any().unbind());
        }
        Ok(Bound::new(slf.py(), PyTensor::new(c))?.into_any().unbind())
    }
    /// `clone(memory_format=torch.preserve_format)`: a copy with this tensor's strides when it
    /// is dense (else its dims' order), or laid out as the format asks.
    #[pyo3(signature = (*, memory_format=None))]
    fn clone(&self, memory_format: Option<&Bound<'_, PyAny>>) -> R {
        let f = memory_format_arg(memory_format, "clone", MemoryFormat::Preserve)?;
        wrap(self.inner.clone_as(f))
    }
    fn __reduce__<'py>(slf: &Bound<'py, Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = &slf.get().inner;
        let data = py
            .import("numpy")?
            .call_method1(
                "ascontiguousarray",
                (slf.call_method0("detach")?.call_method0("cpu")?,),
            )?
            .call_method0("tobytes")?;
        let rebuild = py.import("rustorch._utils")?.getattr("_rebuild_tensor")?;
        let args = (
            data,
            t.dtype().name(),
            PyTuple::new(py, t.shape())?,
            t.requires_grad(),
            t.device().to_string(),
        );
        Ok((rebuild, args).into_pyobject(py)?.into_any())
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        slf.py()
            .import("rustorch._tensor_str")?
            .getattr("_str")?
            .call1((slf,))?
            .extract()
    }
    /// `new_zeros(*size, dtype=None, device=None, requires_grad=False, ...)`: this
    /// tensor's dtype and device unless given.
    #[pyo3(signature = (*size, **kwargs))]
    fn new_zeros(&self, size: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
        self.new_filled("new_zeros", size_args(size)?, Scalar::Int(0), kwargs)
    }
    #[pyo3(signature = (*size, **kwargs))]
    fn new_ones(&self, size: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
        self.new_filled("new_ones", size_args(size)?, Scalar::Int(1), kwargs)
    }
    #[pyo3(signature = (*size, **kwargs))]
    fn new_empty(&self, size: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
        self.new_filled("new_empty", size_args(size)?, Scalar::Int(0), kwargs)
    }
    #[pyo3(signature = (size, fill_value, **kwargs))]
    fn new_full(
        &self,
        size: &Bound<'_, PyAny>,
        fill_value: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> R {
        let v = scalar_arg(fill_value)
            .ok_or_else(|| PyTypeError::new_err("new_full(): fill_value must be a number"))?;
        self.new_filled("new_full", sizes_from(int_list(size)?)?, v, kwargs)
    }
    fn new_tensor(&self, data: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
        let t = data_to_tensor(data, Some(self.inner.dtype()))?;
        Ok(PyTensor::new(t.to_device(self.inner.device())?))
    }
}

/// `self` when already on `device`, else a copy there.
fn to_device_or_self(slf: &Bound<'_, PyTensor>, device: Device) -> PyResult<Py<PyAny>> {
    let t = &slf.get().inner;
    if t.device() == device {
        return Ok(slf.clone().into_any().unbind());
    }
    Ok(Bound::new(slf.py(), PyTensor::new(t.to_device(device)?))?
        .into_any()
        .unbind())
}

/// PyTorch's legacy type name of a tensor: `torch.FloatTensor`, `torch.cuda.LongTensor`.
fn legacy_type_name(t: &Tensor) -> String {
    let cuda = if t.device().is_cuda() { "cuda." } else { "" };
    format!("torch.{cuda}{}", t.dtype().legacy_name())
}

/// The argument of `t.type(...)`: a dtype, a legacy type name (`"torch.cuda.FloatTensor"`)
/// or a legacy tensor class (`torch.LongTensor`, which carries `dtype` and `is_cuda`).
/// Returns the dtype and, for the legacy forms, whether the type lives on CUDA.
fn legacy_type_arg(obj: &Bound<'_, PyAny>) -> PyResult<(DType, Option<bool>)> {
    if let Ok(name) = obj.extract::<String>() {
        let rest = name.strip_prefix("torch.").unwrap_or(&name);
        let (cuda, rest) = match rest.strip_prefix("cuda.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        return DType::ALL
            .iter()
            .find(|d| d.legacy_name() == rest)
            .map(|&d| (d, Some(cuda)))
            .ok_or_else(|| PyValueError::new_err(format!("invalid type: '{name}'")));
    }
    if obj.is_instance_of::<PyType>() && obj.hasattr("is_cuda")? {
        let d = dtype_arg(&obj.getattr("dtype")?)?;
        return Ok((d, Some(obj.getattr("is_cuda")?.extract()?)));
    }
    Ok((dtype_arg(obj)?, None))
}

/// `self` when already of `dtype` (PyTorch returns the same object), else a converted copy.
fn to_or_self(slf: &Bound<'_, PyTensor>, dtype: DType) -> PyResult<Py<PyAny>> {
    let t = &slf.get().inner;
    if t.dtype() == dtype {
        return Ok(slf.clone().into_any().unbind());
    }
    Ok(Bound::new(slf.py(), PyTensor::new(t.to_dtype(dtype)?))?
        .into_any()
        .unbind())
}
