//! `rustorch.Generator` (`torch.Generator`): a CPU generator object that sampling ops draw
//! from when given as `generator=`, and `default_generator`, the one behind `manual_seed`.
//! Arguments are converted here; the generator itself is the core's.

use super::tensor::PyTensor;
use crate::ops::random::{self, Generator, SharedGenerator};
use crate::tensor::device::Device;
use crate::Tensor;
use parking_lot::Mutex;
use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// `torch.Generator`: a seeded CPU generator.
#[pyclass(name = "Generator", module = "rustorch", frozen)]
pub struct PyGenerator {
    gen: SharedGenerator,
}

#[pymethods]
impl PyGenerator {
    /// `Generator(device='cpu')`, seeded with PyTorch's default seed. CUDA generator objects
    /// are not provided (seed a GPU with `rustorch.cuda.manual_seed`).
    #[new]
    #[pyo3(signature = (device=None))]
    fn py_new(device: Option<&Bound<'_, PyAny>>) -> PyResult<PyGenerator> {
        if let Some(d) = super::convert::opt_device(device)? {
            if d != Device::Cpu {
                return Err(PyNotImplementedError::new_err(format!(
                    "Generator objects on {d} are not supported yet; seed the GPU with rustorch.cuda.manual_seed"
                )));
            }
        }
        Ok(PyGenerator {
            gen: Arc::new(Mutex::new(Generator::new(random::DEFAULT_SEED))),
        })
    }
    /// Reseeds the generator; returns it.
    fn manual_seed(slf: &Bound<'_, Self>, seed: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let seed = seed_arg(seed)?;
        *slf.get().gen.lock() = Generator::new(seed);
        Ok(slf.clone().into_any().unbind())
    }
    /// The seed it was last seeded with.
    fn initial_seed(&self) -> u64 {
        self.gen.lock().seed()
    }
    /// Reseeds from the operating system's randomness; returns the new seed.
    fn seed(&self) -> u64 {
        let s = std::collections::hash_map::RandomState::new();
        let seed = std::hash::BuildHasher::hash_one(&s, std::time::SystemTime::now());
        *self.gen.lock() = Generator::new(seed);
        seed
    }
    /// The state as a uint8 tensor (`set_state` restores it).
    fn get_state(&self) -> PyTensor {
        let bytes = self.gen.lock().state();
        PyTensor::new(Tensor::from_vec(bytes.to_vec(), &[bytes.len()]))
    }
    /// Restores a state from `get_state`; returns the generator.
    fn set_state(slf: &Bound<'_, Self>, new_state: PyRef<'_, PyTensor>) -> PyResult<Py<PyAny>> {
        let t = &new_state.inner;
        if t.dtype() != crate::DType::U8 {
            return Err(PyTypeError::new_err(format!(
                "expected a torch.ByteTensor, but got {}",
                t.dtype().legacy_name()
            )));
        }
        let bytes: Vec<u8> = t.to_vec()?;
        let g = Generator::from_state(&bytes).ok_or_else(|| {
            PyRuntimeError::new_err(format!(
                "Expected a state of {} bytes from Generator.get_state(), got {}",
                random::STATE_BYTES,
                bytes.len()
            ))
        })?;
        *slf.get().gen.lock() = g;
        Ok(slf.clone().into_any().unbind())
    }
    #[getter]
    fn device<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        super::tensor::device_obj(py, Device::Cpu)
    }
}

/// The default CPU generator as a `Generator` object (`torch.default_generator`).
pub fn default_generator() -> PyGenerator {
    PyGenerator {
        gen: random::default_generator().clone(),
    }
}

/// A seed argument: an int in [-2**63, 2**64) (a negative one wraps, as PyTorch's).
fn seed_arg(seed: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(v) = seed.extract::<u64>() {
        return Ok(v);
    }
    if let Ok(v) = seed.extract::<i64>() {
        return Ok(v as u64);
    }
    Err(PyRuntimeError::new_err("Overflow when unpacking long long"))
}

/// Runs `body` drawing from `generator` (a `generator=` argument; None: the device's own
/// generator) for an op on `device`.
pub fn drawing_from<T>(
    generator: Option<&Bound<'_, PyAny>>,
    device: Device,
    body: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    let Some(g) = generator.filter(|g| !g.is_none()) else {
        return body();
    };
    let g = g.cast::<PyGenerator>().map_err(|_| {
        PyTypeError::new_err(format!(
            "generator must be a torch.Generator, not {}",
            g.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    if device != Device::Cpu {
        return Err(PyRuntimeError::new_err(format!(
            "Expected a '{}' device type for generator but found 'cpu'",
            device.kind()
        )));
    }
    random::using_generator(&g.get().gen, body)
}

/// [`drawing_from`] with the generator from a `generator=` keyword.
pub fn drawing_from_kw<T>(
    kwargs: Option<&Bound<'_, PyDict>>,
    device: Device,
    body: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    let g = match kwargs {
        Some(k) => k.get_item("generator")?,
        None => None,
    };
    drawing_from(g.as_ref(), device, body)
}
