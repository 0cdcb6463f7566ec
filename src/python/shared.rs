//! The two halves of sending a CPU tensor to another process through shared memory
//! (`rustorch.multiprocessing`'s reductions): the sender moves the storage into a memory
//! file and hands on its descriptor; the receiver maps the file and views it with the same
//! sizes, strides and offset.

use super::convert::dtype_arg;
use super::tensor::PyTensor;
use crate::tensor::storage::Storage;
use crate::Tensor;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::os::fd::{FromRawFd, OwnedFd};

/// Moves `t`'s storage into shared memory (if not there) and answers the memory file's
/// descriptor (still owned by the storage) and the storage's element count.
#[pyfunction]
pub fn _share_fd(t: &PyTensor) -> PyResult<(i32, usize)> {
    let s = t.inner.storage();
    if s.device().is_cuda() {
        return Err(PyRuntimeError::new_err(format!(
            "_share_fd: a {} tensor has no host memory to share",
            s.device()
        )));
    }
    s.share_memory()?;
    let fd = s
        .host()
        .and_then(|h| h.shared_fd())
        .expect("a CPU storage just moved into shared memory");
    Ok((fd, s.len()))
}

/// A tensor viewing `numel` elements of `dtype` in the memory file `fd` (which it takes
/// over and closes when freed) with the given sizes, strides and offset, bounds-checked.
#[pyfunction]
pub fn _from_shared_fd(
    fd: i32,
    numel: usize,
    dtype: &Bound<'_, PyAny>,
    size: Vec<usize>,
    stride: Vec<isize>,
    offset: usize,
) -> PyResult<PyTensor> {
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "_from_shared_fd: invalid file descriptor {fd}"
        )));
    }
    // SAFETY: the caller (rustorch.multiprocessing's rebuild) hands over an open descriptor
    // it owns, from `DupFd.detach()`, which nothing else closes; taken first so that it is
    // closed on every error below.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let dtype = dtype_arg(dtype)?;
    let storage = Storage::from_shared_fd(fd, numel, dtype)?;
    let whole = Tensor::from_storage(storage, vec![numel]);
    Ok(PyTensor::new(whole.as_strided(&size, &stride, offset)?))
}
