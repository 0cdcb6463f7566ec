//! `rustorch._C._cuda_*`: the device queries, memory statistics, events and settings behind
//! `rustorch.cuda`. Queries answer "no device" (never raise, never panic) on machines
//! without a driver; nothing here opens a device that no tensor has used, except the calls
//! that must (`synchronize`, properties, events).

use crate::cuda::{self, device::DeviceApi, event::Event};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

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
    py.detach(cuda::runtime::device_count)
}

/// The name of CUDA device `index` (`torch.cuda.get_device_name(index)`); `RuntimeError`
/// when there is no such device.
#[pyfunction]
pub fn _cuda_get_device_name(py: Python<'_>, index: usize) -> PyResult<String> {
    Ok(py.detach(|| cuda::runtime::device_name(index))?)
}

/// Records Python's `sys.path`, under which NVIDIA's library wheels are looked for.
#[pyfunction]
pub fn _cuda_set_search_path(entries: Vec<PathBuf>) {
    cuda::loader::set_search_path(entries);
}

#[pyfunction]
pub fn _cuda_current_device() -> usize {
    cuda::current_device()
}

#[pyfunction]
pub fn _cuda_set_device(index: usize) -> PyResult<()> {
    Ok(cuda::set_device(index)?)
}

/// Waits for the work queued on device `index`, and reports failed in-kernel checks.
#[pyfunction]
pub fn _cuda_synchronize(py: Python<'_>, index: usize) -> PyResult<()> {
    Ok(py.detach(|| cuda::device::gpu(index)?.synchronize())?)
}

/// `(name, total_memory, major, minor, multi_processor_count)` of device `index`.
#[pyfunction]
pub fn _cuda_device_properties(index: usize) -> PyResult<(String, usize, i32, i32, u32)> {
    let g = cuda::device::gpu(index)?;
    let (major, minor) = g.capability();
    Ok((
        g.name().to_string(),
        g.total_memory(),
        major,
        minor,
        g.sm_count(),
    ))
}

/// The caching allocator's statistics of device `index` as a dict (zeros for a device no
/// tensor has used yet, as PyTorch answers before CUDA is initialised).
#[pyfunction]
pub fn _cuda_memory_stats(py: Python<'_>, index: usize) -> PyResult<Bound<'_, PyDict>> {
    let stats = cuda::device::opened()
        .into_iter()
        .find(|g| g.ordinal() == index)
        .map(|g| g.memory_stats())
        .unwrap_or_default();
    let d = PyDict::new(py);
    d.set_item("allocated_bytes.all.current", stats.allocated)?;
    d.set_item("allocated_bytes.all.peak", stats.max_allocated)?;
    d.set_item("reserved_bytes.all.current", stats.reserved)?;
    d.set_item("reserved_bytes.all.peak", stats.max_reserved)?;
    d.set_item("num_alloc_retries", stats.num_alloc_retries)?;
    d.set_item("num_ooms", stats.num_ooms)?;
    Ok(d)
}

/// Resets the peak statistics of device `index` (if it was used).
#[pyfunction]
pub fn _cuda_reset_peak_memory_stats(index: usize) {
    for g in cuda::device::opened() {
        if g.ordinal() == index {
            g.reset_peak_memory_stats();
        }
    }
}

/// Frees the cached, unused blocks of every device used so far.
#[pyfunction]
pub fn _cuda_empty_cache() {
    for g in cuda::device::opened() {
        g.empty_cache();
    }
}

/// `(free, total)` bytes of device `index`, as the driver reports them.
#[pyfunction]
pub fn _cuda_mem_get_info(index: usize) -> PyResult<(usize, usize)> {
    Ok(cuda::device::gpu(index)?.mem_get_info()?)
}

/// Seeds the generator of device `index` (`torch.cuda.manual_seed`).
#[pyfunction]
pub fn _cuda_manual_seed(index: usize, seed: i64) -> PyResult<()> {
    use crate::backend::Backend;
    Ok(cuda::Cuda::manual_seed(index, seed as u64)?)
}

#[pyfunction]
pub fn _cuda_get_allow_tf32() -> bool {
    cuda::blas::allow_tf32()
}

#[pyfunction]
pub fn _cuda_set_allow_tf32(on: bool) {
    cuda::blas::set_allow_tf32(on)
}

/// A CUDA event (`torch.cuda.Event`'s engine side).
#[pyclass(name = "_CudaEvent", module = "rustorch._C")]
pub struct PyEvent {
    event: Event,
}

#[pymethods]
impl PyEvent {
    #[new]
    fn new(index: usize, enable_timing: bool) -> PyResult<Self> {
        Ok(PyEvent {
            event: Event::new(index, enable_timing)?,
        })
    }
    fn record(&mut self) -> PyResult<()> {
        Ok(self.event.record()?)
    }
    fn synchronize(&self, py: Python<'_>) -> PyResult<()> {
        Ok(py.detach(|| self.event.synchronize())?)
    }
    fn query(&self) -> PyResult<bool> {
        Ok(self.event.query()?)
    }
    fn elapsed_time(&self, end: PyRef<'_, PyEvent>) -> PyResult<f32> {
        Ok(self.event.elapsed_ms(&end.event)?)
    }
}
