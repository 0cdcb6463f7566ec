//! `rustorch._C._cuda_*`: device discovery for `rustorch.cuda`. Answers "no device" (never
//! raises, never panics) on machines without a driver, and in builds without the `cuda`
//! feature.

use pyo3::prelude::*;

/// Whether a CUDA driver sees at least one device (`torch.cuda.is_available()`).
#[pyfunction]
pub fn _cuda_is_available(py: Python<'_>) -> bool {
    _cuda_device_count(py) > 0
}

/// The number of CUDA devices; 0 without a driver (`torch.cuda.device_count()`).
#[pyfunction]
pub fn _cuda_device_count(py: Python<'_>) -> usize {
    // The first call initialises the driver (`cuInit`), which can take a while on a GPU
    // machine, so the GIL is released meanwhile.
    #[cfg(feature = "cuda")]
    {
        py.detach(crate::cuda::runtime::device_count)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = py;
        0
    }
}

/// The name of CUDA device `index` (`torch.cuda.get_device_name(index)`); `RuntimeError`
/// when there is no such device.
#[pyfunction]
pub fn _cuda_get_device_name(py: Python<'_>, index: usize) -> PyResult<String> {
    #[cfg(feature = "cuda")]
    {
        Ok(py.detach(|| crate::cuda::runtime::device_name(index))?)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (py, index);
        Err(pyo3::exceptions::PyAssertionError::new_err(
            "Torch not compiled with CUDA enabled",
        ))
    }
}
