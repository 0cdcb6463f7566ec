//! Bindings of the sums of a scaled input and a scaled product or quotient: `addmm`,
//! `baddbmm`, `addbmm`, `addmv`, `addr` (`crate::ops::matmul`, `crate::ops::blas`),
//! `addcmul` and `addcdiv` (`crate::ops::ternary`), and their in-place forms: argument
//! conversion only.

use super::convert::*;
use super::tensor::{PyTensor, R};
use super::tensor_math::wrap;
use crate::ops::Scalar;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

#[pymethods]
impl PyTensor {
    #[pyo3(signature = (batch1, batch2, *, beta=None, alpha=None))]
    fn baddbmm(
        &self,
        batch1: PyRef<'_, PyTensor>,
        batch2: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> R {
        let (b, a) = (
            coef("baddbmm", "beta", beta)?,
            coef("baddbmm", "alpha", alpha)?,
        );
        wrap(self.inner.baddbmm(&batch1.inner, &batch2.inner, b, a))
    }
    #[pyo3(signature = (batch1, batch2, *, beta=None, alpha=None))]
    fn addbmm(
        &self,
        batch1: PyRef<'_, PyTensor>,
        batch2: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> R {
        let (b, a) = (
            coef("addbmm", "beta", beta)?,
            coef("addbmm", "alpha", alpha)?,
        );
        wrap(self.inner.addbmm(&batch1.inner, &batch2.inner, b, a))
    }
    #[pyo3(signature = (mat, vec, *, beta=None, alpha=None))]
    fn addmv(
        &self,
        mat: PyRef<'_, PyTensor>,
        vec: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> R {
        let (b, a) = (coef("addmv", "beta", beta)?, coef("addmv", "alpha", alpha)?);
        wrap(self.inner.addmv(&mat.inner, &vec.inner, b, a))
    }
    #[pyo3(signature = (vec1, vec2, *, beta=None, alpha=None))]
    fn addr(
        &self,
        vec1: PyRef<'_, PyTensor>,
        vec2: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> R {
        let (b, a) = (coef("addr", "beta", beta)?, coef("addr", "alpha", alpha)?);
        wrap(self.inner.addr(&vec1.inner, &vec2.inner, b, a))
    }
    #[pyo3(signature = (tensor1, tensor2, *, value=None))]
    fn addcmul(
        &self,
        tensor1: PyRef<'_, PyTensor>,
        tensor2: PyRef<'_, PyTensor>,
        value: Coef<'_>,
    ) -> R {
        let v = coef("addcmul", "value", value)?;
        wrap(self.inner.addcmul(&tensor1.inner, &tensor2.inner, v))
    }
    #[pyo3(signature = (tensor1, tensor2, *, value=None))]
    fn addcdiv(
        &self,
        tensor1: PyRef<'_, PyTensor>,
        tensor2: PyRef<'_, PyTensor>,
        value: Coef<'_>,
    ) -> R {
        let v = coef("addcdiv", "value", value)?;
        wrap(self.inner.addcdiv(&tensor1.inner, &tensor2.inner, v))
    }
    #[pyo3(signature = (batch1, batch2, *, beta=None, alpha=None))]
    fn baddbmm_(
        slf: &Bound<'_, Self>,
        batch1: PyRef<'_, PyTensor>,
        batch2: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> PyResult<Py<PyAny>> {
        let (b, a) = (
            coef("baddbmm_", "beta", beta)?,
            coef("baddbmm_", "alpha", alpha)?,
        );
        let (x, y) = (&batch1.inner, &batch2.inner);
        Self::ternary_(slf, [x, y], |t| t.baddbmm(x, y, b, a))
    }
    #[pyo3(signature = (batch1, batch2, *, beta=None, alpha=None))]
    fn addbmm_(
        slf: &Bound<'_, Self>,
        batch1: PyRef<'_, PyTensor>,
        batch2: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> PyResult<Py<PyAny>> {
        let (b, a) = (
            coef("addbmm_", "beta", beta)?,
            coef("addbmm_", "alpha", alpha)?,
        );
        let (x, y) = (&batch1.inner, &batch2.inner);
        Self::ternary_(slf, [x, y], |t| t.addbmm(x, y, b, a))
    }
    #[pyo3(signature = (mat, vec, *, beta=None, alpha=None))]
    fn addmv_(
        slf: &Bound<'_, Self>,
        mat: PyRef<'_, PyTensor>,
        vec: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> PyResult<Py<PyAny>> {
        let (b, a) = (
            coef("addmv_", "beta", beta)?,
            coef("addmv_", "alpha", alpha)?,
        );
        let (x, y) = (&mat.inner, &vec.inner);
        Self::ternary_(slf, [x, y], |t| t.addmv(x, y, b, a))
    }
    #[pyo3(signature = (vec1, vec2, *, beta=None, alpha=None))]
    fn addr_(
        slf: &Bound<'_, Self>,
        vec1: PyRef<'_, PyTensor>,
        vec2: PyRef<'_, PyTensor>,
        beta: Coef<'_>,
        alpha: Coef<'_>,
    ) -> PyResult<Py<PyAny>> {
        let (b, a) = (coef("addr_", "beta", beta)?, coef("addr_", "alpha", alpha)?);
        let (x, y) = (&vec1.inner, &vec2.inner);
        Self::ternary_(slf, [x, y], |t| t.addr(x, y, b, a))
    }
    #[pyo3(signature = (tensor1, tensor2, *, value=None))]
    fn addcmul_(
        slf: &Bound<'_, Self>,
        tensor1: PyRef<'_, PyTensor>,
        tensor2: PyRef<'_, PyTensor>,
        value: Coef<'_>,
    ) -> PyResult<Py<PyAny>> {
        let v = coef("addcmul_", "value", value)?;
        let (x, y) = (&tensor1.inner, &tensor2.inner);
        Self::ternary_(slf, [x, y], |t| t.addcmul(x, y, v))
    }
    #[pyo3(signature = (tensor1, tensor2, *, value=None))]
    fn addcdiv_(
        slf: &Bound<'_, Self>,
        tensor1: PyRef<'_, PyTensor>,
        tensor2: PyRef<'_, PyTensor>,
        value: Coef<'_>,
    ) -> PyResult<Py<PyAny>> {
        let v = coef("addcdiv_", "value", value)?;
        let (x, y) = (&tensor1.inner, &tensor2.inner);
        Self::ternary_(slf, [x, y], |t| t.addcdiv(x, y, v))
    }
    #[pyo3(signature = (mat1, mat2, *, beta=1.0, alpha=1.0))]
    fn addmm_(
        slf: &Bound<'_, Self>,
        mat1: PyRef<'_, PyTensor>,
        mat2: PyRef<'_, PyTensor>,
        beta: f64,
        alpha: f64,
    ) -> PyResult<Py<PyAny>> {
        let (x, y) = (&mat1.inner, &mat2.inner);
        Self::ternary_(slf, [x, y], |t| t.addmm(x, y, beta, alpha))
    }
    #[pyo3(signature = (mat1, mat2, *, beta=1.0, alpha=1.0))]
    fn addmm(
        &self,
        mat1: PyRef<'_, PyTensor>,
        mat2: PyRef<'_, PyTensor>,
        beta: f64,
        alpha: f64,
    ) -> R {
        wrap(self.inner.addmm(&mat1.inner, &mat2.inner, beta, alpha))
    }
}

impl PyTensor {
    /// `slf = f(slf)` for the in-place forms of the ops with two tensor operands.
    fn ternary_(
        slf: &Bound<'_, Self>,
        others: [&crate::Tensor; 2],
        f: impl FnOnce(&crate::Tensor) -> crate::Result<crate::Tensor>,
    ) -> PyResult<Py<PyAny>> {
        slf.get().inner.apply_inplace(&others, f)?;
        Ok(slf.clone().into_any().unbind())
    }
}

/// A coefficient argument (`beta`, `alpha`, `value`) as given.
type Coef<'py> = Option<Bound<'py, PyAny>>;

/// A coefficient argument as a number (1 when omitted), or PyTorch's `TypeError`.
fn coef(op: &str, name: &str, v: Coef<'_>) -> PyResult<Scalar> {
    match v {
        None => Ok(Scalar::Int(1)),
        Some(v) => scalar_arg(&v).ok_or_else(|| {
            let ty = v
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            PyTypeError::new_err(format!(
                "{op}(): argument '{name}' must be Number, not {ty}"
            ))
        }),
    }
}
