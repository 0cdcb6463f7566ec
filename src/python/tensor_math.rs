//! `Tensor` math methods: arithmetic, unary functions and activations, reductions, linear
//! algebra. Each forwards to the core; shared argument helpers live here too.

use super::convert::*;
use super::tensor::{named_pair, PyTensor, R};
use crate::ops::binary::{binary, binary_alpha, div_rounded, BinaryOp};

use crate::ops::{Operand, Scalar};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

pub(super) fn wrap(r: crate::Result<crate::Tensor>) -> R {
    Ok(PyTensor::new(r?))
}
pub(super) fn wrap_list(
    py: Python<'_>,
    r: crate::Result<Vec<crate::Tensor>>,
) -> PyResult<Py<PyAny>> {
    let v: Vec<PyTensor> = r?.into_iter().map(PyTensor::new).collect();
    Ok(PyTuple::new(py, v)?.into_any().unbind())
}
pub(super) fn opt_scalar(o: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Scalar>> {
    match o {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => scalar_arg(v)
            .map(Some)
            .ok_or_else(|| PyTypeError::new_err("expected a number")),
    }
}
pub(super) fn one_dim(dim: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    Ok(dims_arg(dim)?.map(|d| d[0]))
}

impl PyTensor {
    fn me(&self) -> Operand {
        Operand::Tensor(self.inner.clone())
    }
}

#[pymethods]
impl PyTensor {
    // ---- arithmetic -----------------------------------------------------------------------
    #[pyo3(signature = (other, *, alpha=None))]
    fn add(&self, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        wrap(binary_alpha(
            BinaryOp::Add,
            &self.me(),
            &operand(other)?,
            opt_scalar(alpha)?,
        ))
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub(&self, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        wrap(binary_alpha(
            BinaryOp::Sub,
            &self.me(),
            &operand(other)?,
            opt_scalar(alpha)?,
        ))
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn subtract(&self, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        self.sub(other, alpha)
    }
    fn mul(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Mul, &self.me(), &operand(other)?))
    }
    fn multiply(&self, other: &Bound<'_, PyAny>) -> R {
        self.mul(other)
    }
    /// `div(other, rounding_mode=None|'trunc'|'floor')`.
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn div(&self, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> R {
        wrap(div_rounded(&self.me(), &operand(other)?, rounding_mode))
    }
    #[pyo3(signature = (other, *, rounding_mode=None))]
    fn divide(&self, other: &Bound<'_, PyAny>, rounding_mode: Option<&str>) -> R {
        self.div(other, rounding_mode)
    }
    fn true_divide(&self, other: &Bound<'_, PyAny>) -> R {
        self.div(other, None)
    }
    fn floor_divide(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::FloorDiv, &self.me(), &operand(other)?))
    }
    fn remainder(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Rem, &self.me(), &operand(other)?))
    }
    #[pyo3(signature = (other, rtol=1e-5, atol=1e-8, equal_nan=false))]
    fn isclose(&self, other: PyRef<'_, PyTensor>, rtol: f64, atol: f64, equal_nan: bool) -> R {
        wrap(self.inner.isclose(&other.inner, rtol, atol, equal_nan))
    }
    /// `allclose`: whether every element `isclose` (broadcasting the operands).
    #[pyo3(signature = (other, rtol=1e-5, atol=1e-8, equal_nan=false))]
    fn allclose(
        &self,
        other: PyRef<'_, PyTensor>,
        rtol: f64,
        atol: f64,
        equal_nan: bool,
    ) -> PyResult<bool> {
        let close = self.inner.isclose(&other.inner, rtol, atol, equal_nan)?;
        Ok(close.all_any(None, false, true)?.item_f64()? != 0.0)
    }
    /// `atan2(other)`: the angle of the point `(other, self)`; `other` a tensor, as PyTorch.
    fn atan2(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.atan2(&tensor_arg(other, "atan2")?))
    }
    fn arctan2(&self, other: &Bound<'_, PyAny>) -> R {
        self.atan2(other)
    }
    fn fmod(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Fmod, &self.me(), &operand(other)?))
    }
    fn pow(&self, exponent: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Pow, &self.me(), &operand(exponent)?))
    }
    fn maximum(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.maximum(&tensor_arg(other, "maximum")?))
    }
    fn minimum(&self, other: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.minimum(&tensor_arg(other, "minimum")?))
    }
    fn eq(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Eq, &self.me(), &operand(o)?))
    }
    fn ne(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Ne, &self.me(), &operand(o)?))
    }
    fn lt(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Lt, &self.me(), &operand(o)?))
    }
    fn le(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Le, &self.me(), &operand(o)?))
    }
    fn gt(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Gt, &self.me(), &operand(o)?))
    }
    fn ge(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::Ge, &self.me(), &operand(o)?))
    }
    fn equal(&self, o: PyRef<'_, PyTensor>) -> PyResult<bool> {
        if self.inner.shape() != o.inner.shape() {
            return Ok(false);
        }
        Ok(self
            .inner
            .eq(&o.inner)?
            .all_any(None, false, true)?
            .to_vec::<bool>()?[0])
    }
    fn bitwise_and(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::BitAnd, &self.me(), &operand(o)?))
    }
    fn bitwise_or(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::BitOr, &self.me(), &operand(o)?))
    }
    fn bitwise_xor(&self, o: &Bound<'_, PyAny>) -> R {
        wrap(binary(BinaryOp::BitXor, &self.me(), &operand(o)?))
    }
    fn bitwise_not(&self) -> R {
        wrap(self.inner.bitwise_not())
    }
    fn logical_not(&self) -> R {
        wrap(self.inner.logical_not())
    }
    fn logical_and(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.logical_and(&o.inner))
    }
    fn logical_or(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.logical_or(&o.inner))
    }
    fn logical_xor(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.logical_xor(&o.inner))
    }

    // ---- unary math and activations -------------------------------------------------------
    fn abs(&self) -> R {
        wrap(self.inner.abs())
    }
    fn absolute(&self) -> R {
        wrap(self.inner.abs())
    }
    fn neg(&self) -> R {
        wrap(self.inner.neg())
    }
    fn negative(&self) -> R {
        wrap(self.inner.neg())
    }
    fn exp(&self) -> R {
        wrap(self.inner.exp())
    }
    fn log(&self) -> R {
        wrap(self.inner.log())
    }
    fn log1p(&self) -> R {
        wrap(self.inner.log1p())
    }
    fn expm1(&self) -> R {
        wrap(self.inner.expm1())
    }
    fn sqrt(&self) -> R {
        wrap(self.inner.sqrt())
    }
    fn rsqrt(&self) -> R {
        wrap(self.inner.rsqrt())
    }
    fn sin(&self) -> R {
        wrap(self.inner.sin())
    }
    fn cos(&self) -> R {
        wrap(self.inner.cos())
    }
    fn tanh(&self) -> R {
        wrap(self.inner.tanh())
    }
    fn lgamma(&self) -> R {
        wrap(self.inner.lgamma())
    }
    fn digamma(&self) -> R {
        wrap(self.inner.digamma())
    }
    fn polygamma(&self, n: i64) -> R {
        wrap(self.inner.polygamma(n))
    }
    fn tan(&self) -> R {
        wrap(self.inner.tan())
    }
    fn asin(&self) -> R {
        wrap(self.inner.asin())
    }
    fn acos(&self) -> R {
        wrap(self.inner.acos())
    }
    fn atan(&self) -> R {
        wrap(self.inner.atan())
    }
    fn sinh(&self) -> R {
        wrap(self.inner.sinh())
    }
    fn cosh(&self) -> R {
        wrap(self.inner.cosh())
    }
    fn asinh(&self) -> R {
        wrap(self.inner.asinh())
    }
    fn acosh(&self) -> R {
        wrap(self.inner.acosh())
    }
    fn atanh(&self) -> R {
        wrap(self.inner.atanh())
    }
    fn log2(&self) -> R {
        wrap(self.inner.log2())
    }
    fn log10(&self) -> R {
        wrap(self.inner.log10())
    }
    fn exp2(&self) -> R {
        wrap(self.inner.exp2())
    }
    fn arcsin(&self) -> R {
        wrap(self.inner.asin())
    }
    fn arccos(&self) -> R {
        wrap(self.inner.acos())
    }
    fn arctan(&self) -> R {
        wrap(self.inner.atan())
    }
    fn arcsinh(&self) -> R {
        wrap(self.inner.asinh())
    }
    fn arccosh(&self) -> R {
        wrap(self.inner.acosh())
    }
    fn arctanh(&self) -> R {
        wrap(self.inner.atanh())
    }
    fn sigmoid(&self) -> R {
        wrap(self.inner.sigmoid())
    }
    fn erf(&self) -> R {
        wrap(self.inner.erf())
    }
    fn reciprocal(&self) -> R {
        wrap(self.inner.reciprocal())
    }
    fn square(&self) -> R {
        wrap(self.inner.mul(&self.inner))
    }
    fn relu(&self) -> R {
        wrap(self.inner.relu())
    }
    fn silu(&self) -> R {
        wrap(self.inner.silu())
    }
    #[pyo3(signature = (approximate="none"))]
    fn gelu(&self, approximate: &str) -> R {
        match approximate {
            "none" => wrap(self.inner.gelu(false)),
            "tanh" => wrap(self.inner.gelu(true)),
            a => Err(PyValueError::new_err(format!(
                "approximate argument must be either none or tanh. (got {a})"
            ))),
        }
    }
    #[pyo3(signature = (beta=1.0, threshold=20.0))]
    fn softplus(&self, beta: f64, threshold: f64) -> R {
        wrap(self.inner.softplus(beta, threshold))
    }
    #[pyo3(signature = (negative_slope=0.01))]
    fn leaky_relu(&self, negative_slope: f64) -> R {
        wrap(self.inner.leaky_relu(negative_slope))
    }
    #[pyo3(signature = (alpha=1.0))]
    fn elu(&self, alpha: f64) -> R {
        wrap(self.inner.elu(alpha))
    }
    #[pyo3(signature = (min_val=-1.0, max_val=1.0))]
    fn hardtanh(&self, min_val: f64, max_val: f64) -> R {
        wrap(self.inner.hardtanh(min_val, max_val))
    }
    fn sign(&self) -> R {
        wrap(self.inner.sign())
    }
    fn floor(&self) -> R {
        wrap(self.inner.floor())
    }
    fn ceil(&self) -> R {
        wrap(self.inner.ceil())
    }
    fn trunc(&self) -> R {
        wrap(self.inner.trunc())
    }
    #[pyo3(signature = (decimals=0))]
    fn round(&self, decimals: i64) -> R {
        wrap(self.inner.round(decimals))
    }
    fn isnan(&self) -> R {
        wrap(self.inner.isnan())
    }
    fn isinf(&self) -> R {
        wrap(self.inner.isinf())
    }
    fn isfinite(&self) -> R {
        wrap(self.inner.isfinite())
    }
    /// `clamp(min=None, max=None)`; bounds may be numbers or tensors.
    #[pyo3(signature = (min=None, max=None))]
    pub(super) fn clamp(
        &self,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let is_t =
            |o: Option<&Bound<'_, PyAny>>| o.map(|v| v.cast::<PyTensor>().is_ok()).unwrap_or(false);
        if is_t(min) || is_t(max) {
            let bound = |o: Option<&Bound<'_, PyAny>>| -> PyResult<Option<crate::Tensor>> {
                o.filter(|m| !m.is_none()).map(tensor_like).transpose()
            };
            let (lo, hi) = (bound(min)?, bound(max)?);
            return wrap(self.inner.clamp_tensor(lo.as_ref(), hi.as_ref()));
        }
        wrap(self.inner.clamp(opt_scalar(min)?, opt_scalar(max)?))
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip(&self, min: Option<&Bound<'_, PyAny>>, max: Option<&Bound<'_, PyAny>>) -> R {
        self.clamp(min, max)
    }
    fn lerp(&self, end: PyRef<'_, PyTensor>, weight: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.lerp(&end.inner, &operand(weight)?))
    }
    fn masked_fill(&self, mask: PyRef<'_, PyTensor>, value: &Bound<'_, PyAny>) -> R {
        match scalar_arg(value) {
            Some(v) => wrap(self.inner.masked_fill(&mask.inner, v)),
            None => wrap(
                self.inner
                    .masked_fill_tensor(&mask.inner, &tensor_arg(value, "masked_fill")?),
            ),
        }
    }
    #[pyo3(signature = (diagonal=0))]
    fn triu(&self, diagonal: i64) -> R {
        wrap(self.inner.triangle(diagonal, true))
    }
    #[pyo3(signature = (diagonal=0))]
    fn tril(&self, diagonal: i64) -> R {
        wrap(self.inner.triangle(diagonal, false))
    }
    #[pyo3(name = "where")]
    fn where_(&self, condition: PyRef<'_, PyTensor>, other: &Bound<'_, PyAny>) -> R {
        wrap(crate::ops::ternary::where_(
            &condition.inner,
            &self.me(),
            &operand(other)?,
        ))
    }

    // ---- reductions -----------------------------------------------------------------------
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn sum(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        wrap(
            self.inner
                .sum_dims(dims_arg(dim)?.as_deref(), keepdim, opt_dtype(dtype)?),
        )
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn mean(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        dtype: Option<&Bound<'_, PyAny>>,
    ) -> R {
        wrap(
            self.inner
                .mean_dims(dims_arg(dim)?.as_deref(), keepdim, opt_dtype(dtype)?),
        )
    }
    #[pyo3(signature = (dim=None, keepdim=false, *, dtype=None))]
    fn prod(&self, dim: Option<Dim>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match opt_dtype(dtype)? {
            Some(d) => self.inner.to_dtype(d)?,
            None => self.inner.clone(),
        };
        wrap(x.prod_dims(dim.map(|d| d.0), keepdim))
    }
    /// `max()` → tensor; `max(dim)` → (values, indices); `max(other)` → maximum.
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn max(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        self.max_min(py, dim, keepdim, true)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn min(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> PyResult<Py<PyAny>> {
        self.max_min(py, dim, keepdim, false)
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amax(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        wrap(
            self.inner
                .amax_amin(dims_arg(dim)?.as_deref(), keepdim, true, "AmaxBackward0"),
        )
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn amin(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        wrap(
            self.inner
                .amax_amin(dims_arg(dim)?.as_deref(), keepdim, false, "AminBackward0"),
        )
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmax(&self, dim: Option<Dim>, keepdim: bool) -> R {
        wrap(self.inner.argmax_argmin(dim.map(|d| d.0), keepdim, true))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, dim: Option<Dim>, keepdim: bool) -> R {
        wrap(self.inner.argmax_argmin(dim.map(|d| d.0), keepdim, false))
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn var(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let (dims, unb) = Self::dim_or_unbiased(dim, unbiased)?;
        wrap(self.inner.var_dims(
            dims.as_deref(),
            super::tensor::correction(unb, correction),
            keepdim,
        ))
    }
    #[pyo3(signature = (dim=None, unbiased=None, keepdim=false, *, correction=None))]
    fn std(
        &self,
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        correction: Option<f64>,
    ) -> R {
        let (dims, unb) = Self::dim_or_unbiased(dim, unbiased)?;
        wrap(self.inner.std_dims(
            dims.as_deref(),
            super::tensor::correction(unb, correction),
            keepdim,
        ))
    }
    #[pyo3(signature = (p=None, dim=None, keepdim=false))]
    fn norm(
        &self,
        p: Option<&Bound<'_, PyAny>>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
    ) -> R {
        let p = match p {
            None => 2.0,
            Some(v) if v.is_none() => 2.0,
            Some(v) => match v.extract::<String>() {
                Ok(s) if s == "fro" => 2.0,
                Ok(s) => return Err(PyValueError::new_err(format!("norm: unsupported p '{s}'"))),
                Err(_) => v.extract::<f64>()?,
            },
        };
        wrap(self.inner.norm(p, dims_arg(dim)?.as_deref(), keepdim))
    }
    #[pyo3(signature = (dim, keepdim=false))]
    fn logsumexp(&self, dim: &Bound<'_, PyAny>, keepdim: bool) -> R {
        wrap(
            self.inner
                .logsumexp(&dims_arg(Some(dim))?.unwrap_or_default(), keepdim),
        )
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, dim: Dim, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match opt_dtype(dtype)? {
            Some(d) => self.inner.to_dtype(d)?,
            None => self.inner.clone(),
        };
        wrap(x.softmax(dim.0))
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, dim: Dim, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match opt_dtype(dtype)? {
            Some(d) => self.inner.to_dtype(d)?,
            None => self.inner.clone(),
        };
        wrap(x.log_softmax(dim.0))
    }
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum(&self, dim: Dim, dtype: Option<&Bound<'_, PyAny>>) -> R {
        wrap(self.inner.cumsum(dim.0, opt_dtype(dtype)?))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn all(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        wrap(self.inner.all_any(dims_arg(dim)?.as_deref(), keepdim, true))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn any(&self, dim: Option<&Bound<'_, PyAny>>, keepdim: bool) -> R {
        wrap(
            self.inner
                .all_any(dims_arg(dim)?.as_deref(), keepdim, false),
        )
    }

    // ---- linear algebra -------------------------------------------------------------------
    fn matmul(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.matmul(&o.inner))
    }
    fn mm(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.mm(&o.inner))
    }
    fn bmm(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.bmm(&o.inner))
    }
    fn dot(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.dot(&o.inner))
    }
    fn outer(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.outer(&o.inner))
    }
    fn lerp_(
        slf: &Bound<'_, Self>,
        end: PyRef<'_, PyTensor>,
        weight: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let w = operand(weight)?;
        let e = &end.inner;
        let mut others = vec![e];
        if let Operand::Tensor(t) = &w {
            others.push(t);
        }
        slf.get().inner.apply_inplace(&others, |t| t.lerp(e, &w))?;
        Ok(slf.clone().into_any().unbind())
    }
}

impl PyTensor {
    /// `slf op= other`, returning `slf` itself (as PyTorch's in-place methods do).
    pub(super) fn binary_in_place(
        slf: &Bound<'_, Self>,
        op: BinaryOp,
        other: Operand,
    ) -> PyResult<Py<PyAny>> {
        slf.get().inner.binary_(op, &other)?;
        Ok(slf.clone().into_any().unbind())
    }

    pub(super) fn unary_(
        slf: &Bound<'_, Self>,
        f: impl FnOnce(&crate::Tensor) -> crate::Result<crate::Tensor>,
    ) -> PyResult<Py<PyAny>> {
        slf.get().inner.apply_inplace(&[], f)?;
        Ok(slf.clone().into_any().unbind())
    }
    pub(super) fn max_min(
        &self,
        py: Python<'_>,
        dim: Option<&Bound<'_, PyAny>>,
        keepdim: bool,
        want_max: bool,
    ) -> PyResult<Py<PyAny>> {
        if let Some(d) = dim {
            if let Ok(o) = d.cast::<PyTensor>() {
                let r = if want_max {
                    self.inner.maximum(&o.get().inner)
                } else {
                    self.inner.minimum(&o.get().inner)
                };
                return Ok(Bound::new(py, PyTensor::new(r?))?.into_any().unbind());
            }
        }
        match one_dim(dim)? {
            None => {
                let name = if want_max {
                    "MaxBackward1"
                } else {
                    "MinBackward1"
                };
                let r = self.inner.amax_amin(None, false, want_max, name)?;
                Ok(Bound::new(py, PyTensor::new(r))?.into_any().unbind())
            }
            Some(d) => {
                let (v, i) = self.inner.max_min_dim(d, keepdim, want_max)?;
                named_pair(py, if want_max { "max" } else { "min" }, v, i)
            }
        }
    }
    pub(super) fn dim_or_unbiased(
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Option<Vec<i64>>, Option<bool>)> {
        // `var(True)` is `var(unbiased=True)` in PyTorch's overloads, which take no second
        // `unbiased`.
        if let Some(d) = dim {
            if d.is_instance_of::<pyo3::types::PyBool>() {
                if unbiased.is_some_and(|u| !u.is_none()) {
                    return Err(PyTypeError::new_err(
                        "received an invalid combination of arguments - got (bool, bool), but expected (tuple of ints dim, bool unbiased = True, bool keepdim = False) or (bool unbiased = True)",
                    ));
                }
                return Ok((None, Some(d.extract()?)));
            }
        }
        let unb = match unbiased {
            Some(u) if !u.is_none() => Some(u.extract::<bool>()?),
            _ => None,
        };
        Ok((dims_arg(dim)?, unb))
    }
    pub(super) fn scatter_src(
        t: &crate::Tensor,
        src: Option<&Bound<'_, PyAny>>,
        value: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<crate::Tensor> {
        let v = src
            .filter(|s| !s.is_none())
            .or(value)
            .ok_or_else(|| PyTypeError::new_err("scatter() missing 'src' or 'value'"))?;
        Ok(match scalar_arg(v) {
            Some(s) => s.to_tensor(t.dtype()),
            None => tensor_arg(v, "scatter")?,
        })
    }
}
