//! Bindings of the diagonal, rearranging, `index_*` update (`index_put` too) and `unique`
//! ops (their math is in `ops::view`, `ops::rearrange`, `ops::index`, `ops::gather`,
//! `ops::unique`, `ops::matmul`).

use super::convert::*;
use super::tensor::PyTensor;
use super::tensor_math::wrap;
use crate::ops::gather::IndexUpdate;
use crate::ops::unique::Unique;
use crate::tensor::dtype::DType;
use crate::Tensor;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

type R = PyResult<PyTensor>;

/// `unique`'s result as PyTorch returns it: the values alone, or a tuple with the inverse
/// and/or the counts.
fn unique_result(py: Python<'_>, u: Unique, inverse: bool, counts: bool) -> PyResult<Py<PyAny>> {
    let values = Bound::new(py, PyTensor::new(u.values))?.into_any();
    if !inverse && !counts {
        return Ok(values.unbind());
    }
    let mut items = vec![values];
    if inverse {
        items.push(Bound::new(py, PyTensor::new(u.inverse))?.into_any());
    }
    if counts {
        items.push(Bound::new(py, PyTensor::new(u.counts))?.into_any());
    }
    Ok(PyTuple::new(py, items)?.into_any().unbind())
}

/// A value argument of `index_fill`: a number or a 0-d tensor.
fn fill_value(value: &Bound<'_, PyAny>, dtype: DType) -> PyResult<Tensor> {
    match scalar_arg(value) {
        Some(s) => Ok(s.to_tensor(dtype)),
        None => tensor_arg(value, "index_fill"),
    }
}

/// Shifts or dims given as an int or a sequence.
fn ints(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    match obj.extract::<i64>() {
        Ok(v) => Ok(vec![v]),
        Err(_) => int_list(obj),
    }
}

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (offset=0, dim1=Dim(0), dim2=Dim(1)))]
    fn diagonal(&self, offset: i64, dim1: Dim, dim2: Dim) -> R {
        wrap(self.inner.diagonal(offset, dim1.0, dim2.0))
    }
    #[pyo3(signature = (offset=0, dim1=Dim(-2), dim2=Dim(-1)))]
    fn diag_embed(&self, offset: i64, dim1: Dim, dim2: Dim) -> R {
        wrap(self.inner.diag_embed(offset, dim1.0, dim2.0))
    }
    #[pyo3(signature = (diagonal=0))]
    fn diag(&self, diagonal: i64) -> R {
        wrap(self.inner.diag(diagonal))
    }
    fn trace(&self) -> R {
        wrap(self.inner.trace())
    }
    fn ravel(&self) -> R {
        wrap(self.inner.reshape(&[-1]))
    }
    fn mv(&self, vec: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.mv(&vec.inner))
    }
    /// `movedim(source, destination)`: each an int or a sequence of ints.
    fn movedim(&self, source: &Bound<'_, PyAny>, destination: &Bound<'_, PyAny>) -> R {
        let (s, d) = (
            dims_arg(Some(source))?.unwrap_or_default(),
            dims_arg(Some(destination))?.unwrap_or_default(),
        );
        wrap(self.inner.movedim(&s, &d))
    }
    /// `moveaxis`, NumPy's name for [`movedim`](Self::movedim).
    fn moveaxis(&self, source: &Bound<'_, PyAny>, destination: &Bound<'_, PyAny>) -> R {
        self.movedim(source, destination)
    }
    #[pyo3(signature = (dim=None))]
    fn count_nonzero(&self, dim: Option<&Bound<'_, PyAny>>) -> R {
        wrap(self.inner.count_nonzero(dims_arg(dim)?.as_deref()))
    }
    fn take(&self, index: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.take(&index.inner))
    }
    #[pyo3(signature = (*dims))]
    fn flip(&self, dims: &Bound<'_, PyTuple>) -> R {
        require_args(dims, "flip", "dims")?;
        let dims = if dims.len() == 1 {
            dims_arg(Some(&dims.get_item(0)?))?.unwrap_or_default()
        } else {
            dims_arg(Some(dims.as_any()))?.unwrap_or_default()
        };
        wrap(self.inner.flip(&dims))
    }
    fn fliplr(&self) -> R {
        if self.inner.dim() < 2 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Input must be >= 2-d.",
            ));
        }
        wrap(self.inner.flip(&[1]))
    }
    fn flipud(&self) -> R {
        if self.inner.dim() < 1 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Input must be >= 1-d.",
            ));
        }
        wrap(self.inner.flip(&[0]))
    }
    #[pyo3(signature = (shifts, dims=None))]
    fn roll(&self, shifts: &Bound<'_, PyAny>, dims: Option<&Bound<'_, PyAny>>) -> R {
        let dims = dims_arg(dims)?.unwrap_or_default();
        wrap(self.inner.roll(&ints(shifts)?, &dims))
    }
    #[pyo3(signature = (k=1, dims=None))]
    fn rot90(&self, k: i64, dims: Option<&Bound<'_, PyAny>>) -> R {
        let dims = dims_arg(dims)?.unwrap_or(vec![0, 1]);
        wrap(self.inner.rot90(k, &dims))
    }
    fn kron(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.kron(&other.inner))
    }
    /// `cross(other, dim=None)`: with no dim, the first dim of size 3 (PyTorch's deprecated
    /// default, without its warning).
    #[pyo3(signature = (other, dim=None))]
    fn cross(&self, other: PyRef<'_, PyTensor>, dim: Option<Dim>) -> R {
        let dim = dim.map_or_else(
            || {
                self.inner
                    .shape()
                    .iter()
                    .position(|&s| s == 3)
                    .map_or(-1, |d| d as i64)
            },
            |d| d.0,
        );
        wrap(self.inner.cross(&other.inner, dim))
    }
    #[pyo3(signature = (dim, index, source, *, alpha=1.0))]
    fn index_add(
        &self,
        dim: Dim,
        index: PyRef<'_, PyTensor>,
        source: PyRef<'_, PyTensor>,
        alpha: f64,
    ) -> R {
        wrap(
            self.inner
                .index_update(IndexUpdate::Add, dim.0, &index.inner, &source.inner, alpha),
        )
    }
    #[pyo3(signature = (indices, values, accumulate=false))]
    fn index_put(
        &self,
        indices: Vec<PyRef<'_, PyTensor>>,
        values: PyRef<'_, PyTensor>,
        accumulate: bool,
    ) -> R {
        let idx: Vec<Tensor> = indices.iter().map(|t| t.inner.clone()).collect();
        wrap(
            self.inner
                .index_put_tensors(&idx, &values.inner, accumulate),
        )
    }
    #[pyo3(signature = (indices, values, accumulate=false))]
    fn index_put_(
        slf: &Bound<'_, Self>,
        indices: Vec<PyRef<'_, PyTensor>>,
        values: PyRef<'_, PyTensor>,
        accumulate: bool,
    ) -> PyResult<Py<PyAny>> {
        let idx: Vec<Tensor> = indices.iter().map(|t| t.inner.clone()).collect();
        slf.get().inner.apply_inplace(&[&values.inner], |x| {
            x.index_put_tensors(&idx, &values.inner, accumulate)
        })?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (dim, index, source, *, alpha=1.0))]
    fn index_add_(
        slf: &Bound<'_, Self>,
        dim: Dim,
        index: PyRef<'_, PyTensor>,
        source: PyRef<'_, PyTensor>,
        alpha: f64,
    ) -> PyResult<Py<PyAny>> {
        slf.get().inner.apply_inplace(&[&source.inner], |x| {
            x.index_update(IndexUpdate::Add, dim.0, &index.inner, &source.inner, alpha)
        })?;
        Ok(slf.clone().into_any().unbind())
    }
    fn index_copy(&self, dim: Dim, index: PyRef<'_, PyTensor>, source: PyRef<'_, PyTensor>) -> R {
        wrap(
            self.inner
                .index_update(IndexUpdate::Copy, dim.0, &index.inner, &source.inner, 1.0),
        )
    }
    fn index_copy_(
        slf: &Bound<'_, Self>,
        dim: Dim,
        index: PyRef<'_, PyTensor>,
        source: PyRef<'_, PyTensor>,
    ) -> PyResult<Py<PyAny>> {
        slf.get().inner.apply_inplace(&[&source.inner], |x| {
            x.index_update(IndexUpdate::Copy, dim.0, &index.inner, &source.inner, 1.0)
        })?;
        Ok(slf.clone().into_any().unbind())
    }
    fn index_fill(&self, dim: Dim, index: PyRef<'_, PyTensor>, value: &Bound<'_, PyAny>) -> R {
        let v = fill_value(value, self.inner.dtype())?;
        wrap(self.inner.index_fill(dim.0, &index.inner, &v))
    }
    fn index_fill_(
        slf: &Bound<'_, Self>,
        dim: Dim,
        index: PyRef<'_, PyTensor>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let v = fill_value(value, slf.get().inner.dtype())?;
        slf.get()
            .inner
            .apply_fill_inplace(&[&v], |x| x.index_fill(dim.0, &index.inner, &v))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (sorted=true, return_inverse=false, return_counts=false, dim=None))]
    fn unique(
        &self,
        py: Python<'_>,
        sorted: bool,
        return_inverse: bool,
        return_counts: bool,
        dim: Option<Dim>,
    ) -> PyResult<Py<PyAny>> {
        let _ = sorted; // always sorted, as PyTorch's CPU result
        unique_result(
            py,
            self.inner.unique(dim.map(|d| d.0))?,
            return_inverse,
            return_counts,
        )
    }
    #[pyo3(signature = (return_inverse=false, return_counts=false, dim=None))]
    fn unique_consecutive(
        &self,
        py: Python<'_>,
        return_inverse: bool,
        return_counts: bool,
        dim: Option<Dim>,
    ) -> PyResult<Py<PyAny>> {
        unique_result(
            py,
            self.inner.unique_consecutive(dim.map(|d| d.0))?,
            return_inverse,
            return_counts,
        )
    }
}

/// `meshgrid(*tensors, indexing="ij")` (a single list or tuple of tensors also works).
#[pyfunction]
#[pyo3(signature = (*tensors, indexing=None))]
pub fn meshgrid<'py>(
    py: Python<'py>,
    tensors: &Bound<'py, PyTuple>,
    indexing: Option<&str>,
) -> PyResult<Bound<'py, PyTuple>> {
    let items: Vec<Bound<'py, PyAny>> = match tensors.len() {
        1 if tensors.get_item(0)?.cast::<PyTensor>().is_err() => {
            tensors.get_item(0)?.try_iter()?.collect::<PyResult<_>>()?
        }
        _ => tensors.iter().collect(),
    };
    let ts: Vec<Tensor> = items
        .iter()
        .map(|t| tensor_arg(t, "meshgrid"))
        .collect::<PyResult<_>>()?;
    let xy = match indexing {
        None => {
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyUserWarning>(),
                c"torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                2,
            )?;
            false
        }
        Some("ij") => false,
        Some("xy") => true,
        Some(other) => {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {other}"
            )))
        }
    };
    let out = crate::ops::rearrange::meshgrid(&ts, xy)?;
    PyTuple::new(py, out.into_iter().map(PyTensor::new))
}

/// `normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
/// requires_grad=False)`: tensors or numbers for `mean` and `std`; with two numbers,
/// `size` gives the shape.
#[pyfunction]
#[pyo3(signature = (mean=None, std=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=false, out=None))]
#[allow(clippy::too_many_arguments)]
pub fn normal(
    py: Python<'_>,
    mean: Option<&Bound<'_, PyAny>>,
    std: Option<&Bound<'_, PyAny>>,
    size: Option<&Bound<'_, PyAny>>,
    generator: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
    requires_grad: bool,
    out: Option<&Bound<'_, PyAny>>,
) -> R {
    let tensor = |o: Option<&Bound<'_, PyAny>>| {
        o.and_then(|v| v.cast::<PyTensor>().ok().map(|t| t.get().inner.clone()))
    };
    let number = |o: Option<&Bound<'_, PyAny>>, d: f64| -> PyResult<f64> {
        o.map(|v| v.extract::<f64>())
            .transpose()
            .map(|v| v.unwrap_or(d))
    };
    let scalar = |v: f64, like: &Tensor| crate::ops::Scalar::Float(v).to_tensor(like.dtype());
    let on = match tensor(mean).or_else(|| tensor(std)) {
        Some(t) => t.device(),
        None => opt_device(device)?.unwrap_or(super::functions::default_device()),
    };
    let t = super::generator::drawing_from(generator, on, || {
        Ok(match (tensor(mean), tensor(std)) {
            (Some(m), Some(s)) => crate::ops::random::normal(&m, &s)?,
            (Some(m), None) => crate::ops::random::normal(&m, &scalar(number(std, 1.0)?, &m))?,
            (None, Some(s)) => crate::ops::random::normal(&scalar(number(mean, 0.0)?, &s), &s)?,
            (None, None) => {
                let size = size.ok_or_else(|| {
                pyo3::exceptions::PyTypeError::new_err(
                    "normal() received an invalid combination of arguments: with a number for both mean and std, size is required",
                )
            })?;
                let shape = sizes_from(int_list(size)?)?;
                let dt = dtype
                    .map(dtype_arg)
                    .transpose()?
                    .unwrap_or(DType::default_float());
                let dev = opt_device(device)?.unwrap_or(super::functions::default_device());
                let base = crate::ops::creation::full(
                    &shape,
                    crate::ops::Scalar::Float(number(mean, 0.0)?),
                    dt,
                    dev,
                )?;
                crate::ops::random::normal(&base, &scalar(number(std, 1.0)?, &base))?
            }
        })
    })?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("requires_grad", requires_grad)?;
    if let Some(out) = out {
        kwargs.set_item("out", out)?;
    }
    super::functions::finish(t, Some(&kwargs))
}

/// `cdist(x1, x2, p=2.0, compute_mode=...)`.
#[pyfunction]
#[pyo3(signature = (x1, x2, p=2.0, compute_mode=None))]
pub fn cdist(
    x1: PyRef<'_, PyTensor>,
    x2: PyRef<'_, PyTensor>,
    p: f64,
    compute_mode: Option<&str>,
) -> R {
    let _ = compute_mode;
    wrap(x1.inner.cdist(&x2.inner, p))
}
