//! Bindings of the sums of a scaled input and a scaled product or quotient: `addmm`,
//! `baddbmm`, `addbmm`, `addmv`, `addr` (`crate::ops::matmul`, `crate::ops::blas`),
//! `addcmul` and `addcdiv` (`crate::ops::ternary`), and their in-place forms: argument
//! conversion only.

use super::convert::*;
use super::tensor::{PyTensor, R};
use super::tensor_math::wrap;
use crate::ops::Scalar;
use crate::Tensor;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// `β·self + α·product(a, b)` (`crate::ops::blas`): each op `name(a, b, *, beta=1,
/// alpha=1)` and its in-place form `name_`.
macro_rules! blas_sums {
    ($($name:ident, $name_:ident, $a:ident, $b:ident;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = ($a, $b, *, beta=None, alpha=None))]
                fn $name(
                    &self,
                    $a: PyRef<'_, PyTensor>,
                    $b: PyRef<'_, PyTensor>,
                    beta: Coef<'_>,
                    alpha: Coef<'_>,
                ) -> R {
                    let (op, x, y) = (stringify!($name), &$a.inner, &$b.inner);
                    let (be, al) = (coef(op, "beta", beta)?, coef(op, "alpha", alpha)?);
                    wrap(self.inner.$name(x, y, be, al))
                }
                #[pyo3(signature = ($a, $b, *, beta=None, alpha=None))]
                fn $name_(
                    slf: &Bound<'_, Self>,
                    $a: PyRef<'_, PyTensor>,
                    $b: PyRef<'_, PyTensor>,
                    beta: Coef<'_>,
                    alpha: Coef<'_>,
                ) -> PyResult<Py<PyAny>> {
                    let (op, x, y) = (stringify!($name_), &$a.inner, &$b.inner);
                    let (be, al) = (coef(op, "beta", beta)?, coef(op, "alpha", alpha)?);
                    in_place(slf, [x, y], |t| t.$name(x, y, be, al))
                }
            )*
        }
    };
}

blas_sums! {
    baddbmm, baddbmm_, batch1, batch2;
    addbmm, addbmm_, batch1, batch2;
    addmv, addmv_, mat, vec;
    addr, addr_, vec1, vec2;
}

/// `self + (value·tensor1) op tensor2` (`crate::ops::ternary`): each op `name(tensor1,
/// tensor2, *, value=1)` and its in-place form `name_`.
macro_rules! pointwise_sums {
    ($($name:ident, $name_:ident;)*) => {
        #[pymethods]
        impl PyTensor {
            $(
                #[pyo3(signature = (tensor1, tensor2, *, value=None))]
                fn $name(
                    &self,
                    tensor1: PyRef<'_, PyTensor>,
                    tensor2: PyRef<'_, PyTensor>,
                    value: Coef<'_>,
                ) -> R {
                    let v = coef(stringify!($name), "value", value)?;
                    wrap(self.inner.$name(&tensor1.inner, &tensor2.inner, v))
                }
                #[pyo3(signature = (tensor1, tensor2, *, value=None))]
                fn $name_(
                    slf: &Bound<'_, Self>,
                    tensor1: PyRef<'_, PyTensor>,
                    tensor2: PyRef<'_, PyTensor>,
                    value: Coef<'_>,
                ) -> PyResult<Py<PyAny>> {
                    let v = coef(stringify!($name_), "value", value)?;
                    let (x, y) = (&tensor1.inner, &tensor2.inner);
                    in_place(slf, [x, y], |t| t.$name(x, y, v))
                }
            )*
        }
    };
}

pointwise_sums! {
    addcmul, addcmul_;
    addcdiv, addcdiv_;
}

#[pymethods]
impl PyTensor {
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
    #[pyo3(signature = (mat1, mat2, *, beta=1.0, alpha=1.0))]
    fn addmm_(
        slf: &Bound<'_, Self>,
        mat1: PyRef<'_, PyTensor>,
        mat2: PyRef<'_, PyTensor>,
        beta: f64,
        alpha: f64,
    ) -> PyResult<Py<PyAny>> {
        let (x, y) = (&mat1.inner, &mat2.inner);
        in_place(slf, [x, y], |t| t.addmm(x, y, beta, alpha))
    }
}

/// `slf = f(slf)` for the in-place forms, returning `slf` itself (as PyTorch's in-place
/// methods do).
fn in_place(
    slf: &Bound<'_, PyTensor>,
    others: [&Tensor; 2],
    f: impl FnOnce(&Tensor) -> crate::Result<Tensor>,
) -> PyResult<Py<PyAny>> {
    slf.get().inner.apply_inplace(&others, f)?;
    Ok(slf.clone().into_any().unbind())
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
