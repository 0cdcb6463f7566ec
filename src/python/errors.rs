//! Rust errors to Python exceptions: each variant to the exception PyTorch raises.

use crate::error::Error;
use pyo3::exceptions::{
    PyIndexError, PyNotImplementedError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::PyErr;

pyo3::create_exception!(
    rustorch,
    OutOfMemoryError,
    PyRuntimeError,
    "A device allocation failed even after the cache was freed (`torch.cuda.OutOfMemoryError`)."
);

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Runtime(m) => PyRuntimeError::new_err(m),
            Error::Index(m) => PyIndexError::new_err(m),
            Error::Type(m) => PyTypeError::new_err(m),
            Error::Value(m) => PyValueError::new_err(m),
            Error::NotImplemented(m) => PyNotImplementedError::new_err(m),
            Error::OutOfMemory(m) => OutOfMemoryError::new_err(m),
            Error::Foreign(m, original) => match original.0.downcast_ref::<PyErr>() {
                Some(e) => pyo3::Python::attach(|py| e.clone_ref(py)),
                None => PyRuntimeError::new_err(m),
            },
        }
    }
}
