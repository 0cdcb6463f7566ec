//! DLPack export (`Tensor.__dlpack__`): a capsule other libraries (NumPy, JAX, …) read
//! without copying. The capsule owns a handle on the tensor until the consumer's deleter
//! (or, if never consumed, the capsule's destructor) releases it.

use super::tensor::PyTensor;
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::Tensor;
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_void, CStr};

#[repr(C)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *mut i64,
    strides: *mut i64,
    byte_offset: u64,
}

#[repr(C)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// What the capsule keeps alive: the tensor and the shape/stride arrays DLPack points at.
struct Export {
    managed: DLManagedTensor,
    _tensor: Tensor,
    _shape: Vec<i64>,
    _strides: Vec<i64>,
}

const CAPSULE_NAME: &CStr = c"dltensor";
const K_DL_CPU: i32 = 1;
const K_DL_CUDA: i32 = 2;

/// DLPack's (device type, device id) of a device.
fn dl_device_of(d: Device) -> (i32, i32) {
    match d {
        Device::Cpu => (K_DL_CPU, 0),
        Device::Cuda(i) => (K_DL_CUDA, i as i32),
    }
}

unsafe extern "C" fn deleter(m: *mut DLManagedTensor) {
    // SAFETY: `manager_ctx` is the `Box<Export>` leaked in `__dlpack__`; DLPack calls the
    // deleter exactly once.
    unsafe { drop(Box::from_raw((*m).manager_ctx as *mut Export)) };
}

unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: a capsule still named "dltensor" was never consumed, so we still own it; a
    // consumer renames it ("used_dltensor") and takes over calling the deleter.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, CAPSULE_NAME.as_ptr()) == 1 {
            let m =
                ffi::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr()) as *mut DLManagedTensor;
            if let Some(d) = (*m).deleter {
                d(m);
            }
        }
    }
}

fn dl_dtype(d: DType) -> DLDataType {
    let (code, bits) = match d {
        DType::F16 => (2, 16),
        DType::BF16 => (4, 16),
        DType::F32 => (2, 32),
        DType::F64 => (2, 64),
        DType::I64 => (0, 64),
        DType::I32 => (0, 32),
        DType::I16 => (0, 16),
        DType::I8 => (0, 8),
        DType::U8 => (1, 8),
        DType::Bool => (6, 8),
    };
    DLDataType {
        code,
        bits,
        lanes: 1,
    }
}

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<&Bound<'py, PyAny>>,
        max_version: Option<&Bound<'py, PyAny>>,
        dl_device: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (stream, max_version, dl_device, copy);
        if self.inner.requires_grad() {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Can't export tensors that require gradient, use tensor.detach()",
            ));
        }
        let t = self.inner.detach();
        let shape: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
        let strides: Vec<i64> = t.strides().iter().map(|&s| s as i64).collect();
        let mut export = Box::new(Export {
            managed: DLManagedTensor {
                dl_tensor: DLTensor {
                    data: t.data_ptr() as *mut c_void,
                    device: {
                        let (device_type, device_id) = dl_device_of(t.device());
                        DLDevice {
                            device_type,
                            device_id,
                        }
                    },
                    ndim: shape.len() as i32,
                    dtype: dl_dtype(t.dtype()),
                    shape: std::ptr::null_mut(),
                    strides: std::ptr::null_mut(),
                    byte_offset: 0,
                },
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(deleter),
            },
            _tensor: t,
            _shape: shape,
            _strides: strides,
        });
        export.managed.dl_tensor.shape = export._shape.as_mut_ptr();
        export.managed.dl_tensor.strides = export._strides.as_mut_ptr();
        let raw = Box::into_raw(export);
        // SAFETY: `raw` is a live Box; its `managed` field is the first field of a
        // `#[repr(C)]`-free struct, so we take its address explicitly.
        let managed = unsafe {
            (*raw).managed.manager_ctx = raw as *mut c_void;
            &mut (*raw).managed as *mut DLManagedTensor
        };
        // SAFETY: creating a capsule over a pointer that stays valid until the deleter runs;
        // the name is a static C string, as the capsule API requires.
        let cap = unsafe {
            ffi::PyCapsule_New(
                managed as *mut c_void,
                CAPSULE_NAME.as_ptr(),
                Some(capsule_destructor),
            )
        };
        if cap.is_null() {
            // SAFETY: the capsule was not created, so we still own the export.
            unsafe { deleter(managed) };
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `cap` is a new, non-null reference we own.
        Ok(unsafe { Bound::from_owned_ptr(py, cap) })
    }

    fn __dlpack_device__(&self) -> (i32, i32) {
        dl_device_of(self.inner.device())
    }
}
