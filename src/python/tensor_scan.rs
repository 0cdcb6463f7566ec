//! Bindings of the cumulative scans (`cumprod`, `cummax`, `cummin`, `logcumsumexp`), the
//! sorted search (`searchsorted`, `bucketize`) and the counts (`histc`, `bincount`):
//! argument conversion only (`crate::ops::reduce`, `crate::ops::search`).

use super::convert::{operand, opt_dtype, Dim};
use super::tensor::{values_indices, PyTensor, R};
use crate::ops::search::{self, SearchOptions};
use pyo3::prelude::*;

#[pymethods]
impl PyTensor {
    /// `cumprod(dim, *, dtype=None)`.
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumprod(&self, dim: Dim, dtype: Option<&Bound<'_, PyAny>>) -> R {
        Ok(PyTensor::new(self.inner.cumprod(dim.0, opt_dtype(dtype)?)?))
    }
    /// `cumprod_(dim, *, dtype=None)`, in place.
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumprod_(
        slf: &Bound<'_, Self>,
        dim: Dim,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let dtype = opt_dtype(dtype)?;
        slf.get()
            .inner
            .apply_inplace(&[], |x| x.cumprod(dim.0, dtype))?;
        Ok(slf.clone().into_any().unbind())
    }
    /// `cummax(dim)` → `torch.return_types.cummax(values, indices)`.
    fn cummax(&self, py: Python<'_>, dim: Dim) -> PyResult<Py<PyAny>> {
        let (v, i) = self.inner.cummax_cummin(dim.0, true)?;
        values_indices(py, "cummax", v, i)
    }
    /// `cummin(dim)` → `torch.return_types.cummin(values, indices)`.
    fn cummin(&self, py: Python<'_>, dim: Dim) -> PyResult<Py<PyAny>> {
        let (v, i) = self.inner.cummax_cummin(dim.0, false)?;
        values_indices(py, "cummin", v, i)
    }
    fn logcumsumexp(&self, dim: Dim) -> R {
        Ok(PyTensor::new(self.inner.logcumsumexp(dim.0)?))
    }
    /// `histc(bins=100, min=0, max=0)`.
    #[pyo3(signature = (bins=100, min=0.0, max=0.0))]
    fn histc(&self, bins: i64, min: f64, max: f64) -> R {
        Ok(PyTensor::new(self.inner.histc(bins, min, max)?))
    }
    /// `bincount(weights=None, minlength=0)`.
    #[pyo3(signature = (weights=None, minlength=0))]
    fn bincount(&self, weights: Option<PyRef<'_, PyTensor>>, minlength: i64) -> R {
        let w = weights.as_ref().map(|w| &w.inner);
        Ok(PyTensor::new(self.inner.bincount(w, minlength)?))
    }
}

/// `torch.searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
/// sorter=None)`; `input` may be a number.
#[pyfunction]
#[pyo3(signature = (sorted_sequence, input, *, out_int32=false, right=false, side=None, sorter=None))]
pub fn searchsorted(
    sorted_sequence: PyRef<'_, PyTensor>,
    input: &Bound<'_, PyAny>,
    out_int32: bool,
    right: bool,
    side: Option<String>,
    sorter: Option<PyRef<'_, PyTensor>>,
) -> R {
    let o = SearchOptions {
        out_int32,
        right,
        side: side.as_deref(),
        sorter: sorter.as_ref().map(|s| &s.inner),
    };
    Ok(PyTensor::new(search::searchsorted(
        &sorted_sequence.inner,
        &operand(input)?,
        o,
    )?))
}

/// `torch.bucketize(input, boundaries, *, out_int32=False, right=False)`; `input` may be a
/// number.
#[pyfunction]
#[pyo3(signature = (input, boundaries, *, out_int32=false, right=false))]
pub fn bucketize(
    input: &Bound<'_, PyAny>,
    boundaries: PyRef<'_, PyTensor>,
    out_int32: bool,
    right: bool,
) -> R {
    Ok(PyTensor::new(search::bucketize(
        &operand(input)?,
        &boundaries.inner,
        out_int32,
        right,
    )?))
}
