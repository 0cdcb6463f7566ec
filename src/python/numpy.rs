//! NumPy exchange without copies: NumPy arrays become tensors over the array's memory
//! (the array is kept alive by the storage), and tensors expose `__array_interface__`
//! so `np.asarray(t)` views the tensor's storage.

use super::tensor::PyTensor;
use crate::tensor::dtype::DType;
use crate::tensor::layout::Layout;
use crate::tensor::storage::Storage;
use crate::Tensor;
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::ptr::NonNull;
use std::sync::Arc;

fn dtype_of(array: &Bound<'_, PyUntypedArray>) -> PyResult<DType> {
    let d = array.dtype();
    let kind: String = d.getattr("kind")?.extract()?;
    let size: usize = d.getattr("itemsize")?.extract()?;
    let native: String = d.getattr("byteorder")?.extract()?;
    if native == ">" {
        return Err(PyValueError::new_err(
            "given numpy array has byte order different from the native byte order. Conversion between byte orders is currently not supported.",
        ));
    }
    Ok(match (kind.as_str(), size) {
        ("f", 2) => DType::F16,
        ("f", 4) => DType::F32,
        ("f", 8) => DType::F64,
        ("i", 8) => DType::I64,
        ("i", 4) => DType::I32,
        ("i", 2) => DType::I16,
        ("i", 1) => DType::I8,
        ("u", 1) => DType::U8,
        ("b", 1) => DType::Bool,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "can't convert np.ndarray of type numpy.{}. The only supported types are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool.",
                d.getattr("name")?
            )))
        }
    })
}

/// A tensor over a NumPy array's memory (anything `np.asarray` accepts is converted first).
pub fn from_array(obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    let py = obj.py();
    let arr = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => py
            .import("numpy")?
            .call_method1("asarray", (obj,))?
            .cast_into::<PyUntypedArray>()?,
    };
    let dtype = dtype_of(&arr)?;
    let item = dtype.size() as isize;
    let shape: Vec<usize> = arr.shape().to_vec();
    let byte_strides: Vec<isize> = arr.strides().to_vec();
    if byte_strides.iter().any(|s| s % item != 0) {
        return Err(PyRuntimeError::new_err(
            "given numpy array strides not a multiple of the element byte size",
        ));
    }
    let strides: Vec<isize> = byte_strides.iter().map(|s| s / item).collect();
    // SAFETY: reading the data pointer of a live ndarray through NumPy's C struct.
    let data = unsafe { (*arr.as_array_ptr()).fields.data } as *mut u8;
    let numel: usize = shape.iter().product();
    // The storage starts at the lowest address the array touches (negative strides reach back).
    let (mut lo, mut hi) = (0isize, 0isize);
    if numel > 0 {
        for (&d, &s) in shape.iter().zip(&strides) {
            let ext = (d as isize - 1) * s;
            if ext < 0 {
                lo += ext
            } else {
                hi += ext
            }
        }
    }
    let len = if numel == 0 {
        0
    } else {
        (hi - lo + 1) as usize
    };
    let start = data.wrapping_offset(lo * item);
    let owner: Py<PyAny> = arr.clone().into_any().unbind();
    let ptr = NonNull::new(start).unwrap_or(NonNull::dangling());
    let layout = Layout {
        shape,
        strides,
        offset: (-lo) as usize,
    };
    if dtype == DType::Bool && len > 0 {
        // SAFETY: `ptr..ptr+len` bytes lie within the array's buffer (as above); read only.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr() as *const u8, len) };
        if bytes.iter().any(|&b| b > 1) {
            // Bytes other than 0 and 1 (a `uint8` array viewed as bool, a crafted file):
            // a normalised copy, so that every op reads them as PyTorch's kernels do.
            let fixed: Vec<bool> = bytes.iter().map(|&b| b != 0).collect();
            return Ok(Tensor::from_parts(
                Arc::new(Storage::from_vec(fixed)),
                layout,
            ));
        }
    }
    // SAFETY: `ptr..ptr+len` elements lie within the array's buffer (computed from its shape
    // and strides), the dtype matches NumPy's, and the array object (the owner) keeps the
    // buffer alive for the storage's lifetime.
    let storage = unsafe { Storage::from_foreign(ptr, len, dtype, Box::new(owner)) };
    Ok(Tensor::from_parts(Arc::new(storage), layout))
}

/// NumPy's type string of a dtype; NumPy has no bfloat16, as PyTorch says.
fn typestr(d: DType) -> PyResult<&'static str> {
    Ok(match d {
        DType::BF16 => return Err(PyTypeError::new_err("Got unsupported ScalarType BFloat16")),
        DType::F16 => "<f2",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I16 => "<i2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::Bool => "|b1",
    })
}

/// The `__array_interface__` dict of a tensor (version 3), pointing at its storage.
pub fn array_interface<'py>(py: Python<'py>, t: &Tensor) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("shape", PyTuple::new(py, t.shape())?)?;
    d.set_item("typestr", typestr(t.dtype())?)?;
    d.set_item("data", (t.data_ptr(), false))?;
    let item = t.dtype().size() as isize;
    let strides: Vec<isize> = t.strides().iter().map(|s| s * item).collect();
    d.set_item("strides", PyTuple::new(py, strides)?)?;
    d.set_item("version", 3)?;
    Ok(d)
}

/// `from_numpy(ndarray)`: shares memory.
#[pyfunction]
pub fn from_numpy(array: &Bound<'_, PyAny>) -> PyResult<PyTensor> {
    if array.cast::<PyUntypedArray>().is_err() {
        return Err(PyTypeError::new_err(format!(
            "expected np.ndarray (got {})",
            array.get_type().name()?
        )));
    }
    Ok(PyTensor::new(from_array(array)?))
}
