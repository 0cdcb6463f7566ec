//! `Tensor` methods beyond the operators: math, reductions, views, gathering, in place.
//! Each is a one-line forward to the core.

use super::convert::*;
use super::tensor::{named_pair, PyTensor, R};
use crate::ops::binary::{binary, BinaryOp};

use crate::ops::unary::UnaryOp;
use crate::ops::{Operand, Scalar};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

fn wrap(r: crate::Result<crate::Tensor>) -> R {
    Ok(PyTensor::new(r?))
}
fn wrap_list(py: Python<'_>, r: crate::Result<Vec<crate::Tensor>>) -> PyResult<Py<PyAny>> {
    let v: Vec<PyTensor> = r?.into_iter().map(PyTensor::new).collect();
    Ok(PyTuple::new(py, v)?.into_any().unbind())
}
fn opt_scalar(o: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Scalar>> {
    match o {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => scalar_arg(v)
            .map(Some)
            .ok_or_else(|| PyTypeError::new_err("expected a number")),
    }
}
fn one_dim(dim: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
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
        wrap(binary(
            BinaryOp::Add,
            &self.me(),
            &Self::scaled(other, alpha)?,
        ))
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub(&self, other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> R {
        wrap(binary(
            BinaryOp::Sub,
            &self.me(),
            &Self::scaled(other, alpha)?,
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
        let o = operand(other)?;
        match rounding_mode {
            None => wrap(binary(BinaryOp::Div, &self.me(), &o)),
            Some("floor") => wrap(binary(BinaryOp::FloorDiv, &self.me(), &o)),
            Some("trunc") => {
                let q = binary(BinaryOp::Div, &self.me(), &o)?.trunc()?;
                let dtype = crate::ops::result_type(&[&self.inner], &[]);
                let dtype = match &o {
                    Operand::Tensor(t) => crate::DType::promote(dtype, t.dtype()),
                    Operand::Scalar(s) => crate::ops::result_type(&[&self.inner], &[*s]),
                };
                Ok(PyTensor::new(q.to_dtype(dtype)))
            }
            Some(m) => Err(PyValueError::new_err(format!(
                "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{m}'"
            ))),
        }
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
            .to_vec::<bool>()[0])
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
        wrap(self.inner.to_dtype(crate::DType::Bool).bitwise_not())
    }
    fn logical_and(&self, o: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.logical_and(&o.inner))
    }
    fn logical_or(&self, o: PyRef<'_, PyTensor>) -> R {
        let b = crate::DType::Bool;
        wrap(self.inner.to_dtype(b).bitwise_or(&o.inner.to_dtype(b)))
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
    fn isnan(&self) -> PyTensor {
        PyTensor::new(self.inner.isnan())
    }
    fn isinf(&self) -> PyTensor {
        PyTensor::new(self.inner.isinf())
    }
    fn isfinite(&self) -> PyTensor {
        PyTensor::new(self.inner.isfinite())
    }
    /// `clamp(min=None, max=None)`; bounds may be numbers or tensors.
    #[pyo3(signature = (min=None, max=None))]
    fn clamp(&self, min: Option<&Bound<'_, PyAny>>, max: Option<&Bound<'_, PyAny>>) -> R {
        let is_t =
            |o: Option<&Bound<'_, PyAny>>| o.map(|v| v.cast::<PyTensor>().is_ok()).unwrap_or(false);
        if is_t(min) || is_t(max) {
            let mut r = self.inner.clone();
            if let Some(m) = min.filter(|m| !m.is_none()) {
                r = r.maximum(&tensor_like(m)?)?;
            }
            if let Some(m) = max.filter(|m| !m.is_none()) {
                r = r.minimum(&tensor_like(m)?)?;
            }
            return Ok(PyTensor::new(r));
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
        let v = match scalar_arg(value) {
            Some(s) => s,
            None => Scalar::Float(tensor_arg(value, "masked_fill")?.item_f64()?),
        };
        wrap(self.inner.masked_fill(&mask.inner, v))
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
    fn prod(&self, dim: Option<i64>, keepdim: bool, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match opt_dtype(dtype)? {
            Some(d) => self.inner.to_dtype(d),
            None => self.inner.clone(),
        };
        wrap(x.prod_dims(dim, keepdim))
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
    fn argmax(&self, dim: Option<i64>, keepdim: bool) -> R {
        wrap(self.inner.argmax_argmin(dim, keepdim, true))
    }
    #[pyo3(signature = (dim=None, keepdim=false))]
    fn argmin(&self, dim: Option<i64>, keepdim: bool) -> R {
        wrap(self.inner.argmax_argmin(dim, keepdim, false))
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
        wrap(self.inner.logsumexp(&int_list(dim)?, keepdim))
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn softmax(&self, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match opt_dtype(dtype)? {
            Some(d) => self.inner.to_dtype(d),
            None => self.inner.clone(),
        };
        wrap(x.softmax(dim))
    }
    #[pyo3(signature = (dim, dtype=None))]
    fn log_softmax(&self, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        let x = match opt_dtype(dtype)? {
            Some(d) => self.inner.to_dtype(d),
            None => self.inner.clone(),
        };
        wrap(x.log_softmax(dim))
    }
    #[pyo3(signature = (dim, *, dtype=None))]
    fn cumsum(&self, dim: i64, dtype: Option<&Bound<'_, PyAny>>) -> R {
        wrap(self.inner.cumsum(dim, opt_dtype(dtype)?))
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

    // ---- views ----------------------------------------------------------------------------
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> R {
        if shape.len() == 1 {
            let a = shape.get_item(0)?;
            if a.cast::<PyTensor>().is_err() {
                if let Ok(d) = dtype_arg(&a) {
                    if d != self.inner.dtype() {
                        return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                            "view(dtype) reinterpretation is not supported",
                        ));
                    }
                    return Ok(PyTensor::new(self.inner.clone()));
                }
            }
        }
        wrap(self.inner.view(&shape_args(shape)?))
    }
    fn view_as(&self, other: PyRef<'_, PyTensor>) -> R {
        let s: Vec<i64> = other.inner.shape().iter().map(|&v| v as i64).collect();
        wrap(self.inner.view(&s))
    }
    #[pyo3(signature = (*shape))]
    fn reshape(&self, shape: &Bound<'_, PyTuple>) -> R {
        wrap(self.inner.reshape(&shape_args(shape)?))
    }
    fn reshape_as(&self, other: PyRef<'_, PyTensor>) -> R {
        let s: Vec<i64> = other.inner.shape().iter().map(|&v| v as i64).collect();
        wrap(self.inner.reshape(&s))
    }
    fn transpose(&self, dim0: i64, dim1: i64) -> R {
        wrap(self.inner.transpose(dim0, dim1))
    }
    fn swapaxes(&self, dim0: i64, dim1: i64) -> R {
        wrap(self.inner.transpose(dim0, dim1))
    }
    fn t(&self) -> R {
        wrap(self.inner.t())
    }
    #[getter(T)]
    fn big_t(&self) -> R {
        let n = self.inner.dim() as i64;
        wrap(self.inner.permute(&(0..n).rev().collect::<Vec<_>>()))
    }
    #[getter(mT)]
    fn m_t(&self) -> R {
        if self.inner.dim() < 2 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.",
            ));
        }
        wrap(self.inner.transpose(-2, -1))
    }
    #[pyo3(signature = (*dims))]
    fn permute(&self, dims: &Bound<'_, PyTuple>) -> R {
        wrap(self.inner.permute(&shape_args(dims)?))
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> R {
        wrap(self.inner.squeeze(dims_arg(dim)?.as_deref()))
    }
    fn unsqueeze(&self, dim: i64) -> R {
        wrap(self.inner.unsqueeze(dim))
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> R {
        if sizes.is_empty() {
            return Err(PyTypeError::new_err(
                "expand() missing 1 required positional arguments: \"size\"",
            ));
        }
        wrap(self.inner.expand(&shape_args(sizes)?))
    }
    fn expand_as(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.expand_to(other.inner.shape()))
    }
    #[pyo3(signature = (*sizes))]
    fn repeat(&self, sizes: &Bound<'_, PyTuple>) -> R {
        wrap(repeat(&self.inner, &shape_args(sizes)?))
    }
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    fn flatten(&self, start_dim: i64, end_dim: i64) -> R {
        wrap(self.inner.flatten(start_dim, end_dim))
    }
    fn unflatten(&self, dim: i64, sizes: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.unflatten(dim, &int_list(sizes)?))
    }
    fn narrow(&self, dim: i64, start: i64, length: i64) -> R {
        if length < 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "narrow(): length must be non-negative.",
            ));
        }
        wrap(self.inner.narrow(dim, start, length as usize))
    }
    fn select(&self, dim: i64, index: i64) -> R {
        wrap(self.inner.select(dim, index))
    }
    #[pyo3(signature = (dim=0))]
    fn unbind(&self, py: Python<'_>, dim: i64) -> PyResult<Py<PyAny>> {
        wrap_list(py, self.inner.unbind(dim))
    }
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split(
        &self,
        py: Python<'_>,
        split_size_or_sections: &Bound<'_, PyAny>,
        dim: i64,
    ) -> PyResult<Py<PyAny>> {
        if split_size_or_sections.cast::<PyList>().is_ok()
            || split_size_or_sections.cast::<PyTuple>().is_ok()
        {
            let s = sizes_from(int_list(split_size_or_sections)?)?;
            return wrap_list(py, self.inner.split_sizes(&s, dim));
        }
        let n: i64 = split_size_or_sections.extract()?;
        wrap_list(py, self.inner.split(n.max(0) as usize, dim))
    }
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk(&self, py: Python<'_>, chunks: i64, dim: i64) -> PyResult<Py<PyAny>> {
        wrap_list(py, self.inner.chunk(chunks.max(0) as usize, dim))
    }
    #[pyo3(signature = (size, stride, storage_offset=None))]
    fn as_strided(
        &self,
        size: &Bound<'_, PyAny>,
        stride: &Bound<'_, PyAny>,
        storage_offset: Option<i64>,
    ) -> R {
        let size = sizes_from(int_list(size)?)?;
        let stride: Vec<isize> = int_list(stride)?.into_iter().map(|v| v as isize).collect();
        wrap(
            self.inner.as_strided(
                &size,
                &stride,
                storage_offset
                    .map(|o| o.max(0) as usize)
                    .unwrap_or(self.inner.offset()),
            ),
        )
    }

    // ---- gathering and ordering -----------------------------------------------------------
    fn gather(&self, dim: i64, index: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.gather(dim, &index.inner))
    }
    #[pyo3(signature = (dim, index, src=None, *, value=None, reduce=None))]
    fn scatter(
        &self,
        dim: i64,
        index: PyRef<'_, PyTensor>,
        src: Option<&Bound<'_, PyAny>>,
        value: Option<&Bound<'_, PyAny>>,
        reduce: Option<&str>,
    ) -> R {
        let src = Self::scatter_src(&self.inner, src, value)?;
        let acc = match reduce {
            None => false,
            Some("add") => true,
            Some(r) => {
                return Err(PyValueError::new_err(format!(
                    "reduce argument must be either add or multiply, got {r}"
                )))
            }
        };
        wrap(self.inner.scatter(dim, &index.inner, &src, acc))
    }
    #[pyo3(signature = (dim, index, src=None, *, value=None, reduce=None))]
    fn scatter_(
        slf: &Bound<'_, Self>,
        dim: i64,
        index: PyRef<'_, PyTensor>,
        src: Option<&Bound<'_, PyAny>>,
        value: Option<&Bound<'_, PyAny>>,
        reduce: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        let me = slf.get();
        let new = me.scatter(dim, index, src, value, reduce)?;
        me.inner.apply_inplace(&[], |_| Ok(new.inner.clone()))?;
        Ok(slf.clone().into_any().unbind())
    }
    fn scatter_add(&self, dim: i64, index: PyRef<'_, PyTensor>, src: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.scatter(dim, &index.inner, &src.inner, true))
    }
    fn scatter_add_(
        slf: &Bound<'_, Self>,
        dim: i64,
        index: PyRef<'_, PyTensor>,
        src: PyRef<'_, PyTensor>,
    ) -> PyResult<Py<PyAny>> {
        let me = slf.get();
        me.inner.apply_inplace(&[&src.inner], |x| {
            x.scatter(dim, &index.inner, &src.inner, true)
        })?;
        Ok(slf.clone().into_any().unbind())
    }
    fn index_select(&self, dim: i64, index: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.index_select(dim, &index.inner))
    }
    fn masked_select(&self, mask: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.masked_select(&mask.inner))
    }
    #[pyo3(signature = (*, as_tuple=false))]
    fn nonzero(&self, py: Python<'_>, as_tuple: bool) -> PyResult<Py<PyAny>> {
        let nz = self.inner.nonzero()?;
        if as_tuple {
            let cols: Vec<crate::Tensor> = (0..self.inner.dim().max(1) as i64)
                .map(|k| {
                    if self.inner.dim() == 0 {
                        nz.reshape(&[-1])
                    } else {
                        nz.select(1, k).map(|c| c.contiguous())
                    }
                })
                .collect::<crate::Result<_>>()?;
            return wrap_list(py, Ok(cols));
        }
        Ok(Bound::new(py, PyTensor::new(nz))?.into_any().unbind())
    }
    #[pyo3(signature = (dim=-1, descending=false, stable=false))]
    fn sort(
        &self,
        py: Python<'_>,
        dim: i64,
        descending: bool,
        stable: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = stable;
        let (v, i) = self.inner.sort(dim, descending)?;
        named_pair(py, "sort", v, i)
    }
    #[pyo3(signature = (dim=-1, descending=false, stable=false))]
    fn argsort(&self, dim: i64, descending: bool, stable: bool) -> R {
        let _ = stable;
        wrap(self.inner.argsort(dim, descending))
    }
    #[pyo3(signature = (k, dim=-1, largest=true, sorted=true))]
    fn topk(
        &self,
        py: Python<'_>,
        k: i64,
        dim: i64,
        largest: bool,
        sorted: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = sorted;
        if k < 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "selected index k out of range",
            ));
        }
        let (v, i) = self.inner.topk(k as usize, dim, largest)?;
        named_pair(py, "topk", v, i)
    }

    // ---- in place -------------------------------------------------------------------------
    #[pyo3(signature = (other, *, alpha=None))]
    fn add_(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        alpha: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        slf.get()
            .inner
            .binary_(BinaryOp::Add, &Self::scaled(other, alpha)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (other, *, alpha=None))]
    fn sub_(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        alpha: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        slf.get()
            .inner
            .binary_(BinaryOp::Sub, &Self::scaled(other, alpha)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn mul_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        slf.get().inner.binary_(BinaryOp::Mul, &operand(other)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn div_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        slf.get().inner.binary_(BinaryOp::Div, &operand(other)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn pow_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        slf.get().inner.binary_(BinaryOp::Pow, &operand(other)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (src, non_blocking=false))]
    fn copy_(
        slf: &Bound<'_, Self>,
        src: &Bound<'_, PyAny>,
        non_blocking: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = non_blocking;
        slf.get().inner.copy_(&tensor_like(src)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn fill_(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let v = match scalar_arg(value) {
            Some(s) => s,
            None => Scalar::Float(tensor_arg(value, "fill_")?.item_f64()?),
        };
        slf.get().inner.fill_(v)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn zero_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        slf.get().inner.zero_()?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clamp_(
        slf: &Bound<'_, Self>,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let me = slf.get();
        let new = me.clamp(min, max)?;
        me.inner.apply_inplace(&[], |_| Ok(new.inner.clone()))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (min=None, max=None))]
    fn clip_(
        slf: &Bound<'_, Self>,
        min: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Self::clamp_(slf, min, max)
    }
    fn masked_fill_(
        slf: &Bound<'_, Self>,
        mask: PyRef<'_, PyTensor>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let me = slf.get();
        let v = match scalar_arg(value) {
            Some(s) => s,
            None => Scalar::Float(tensor_arg(value, "masked_fill_")?.item_f64()?),
        };
        me.inner
            .apply_inplace(&[], |x| x.masked_fill(&mask.inner, v))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (a=0.0, b=1.0))]
    fn uniform_(slf: &Bound<'_, Self>, a: f64, b: f64) -> PyResult<Py<PyAny>> {
        slf.get().inner.uniform_(a, b)?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (mean=0.0, std=1.0))]
    fn normal_(slf: &Bound<'_, Self>, mean: f64, std: f64) -> PyResult<Py<PyAny>> {
        slf.get().inner.normal_(mean, std)?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (p=0.5))]
    fn bernoulli_(slf: &Bound<'_, Self>, p: f64) -> PyResult<Py<PyAny>> {
        slf.get().inner.bernoulli_(p)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn relu_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.relu())
    }
    fn sigmoid_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.sigmoid())
    }
    fn tanh_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.tanh())
    }
    fn exp_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.exp())
    }
    fn sqrt_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.sqrt())
    }
    fn neg_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.neg())
    }
    fn abs_(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.abs())
    }
    #[pyo3(signature = (negative_slope=0.01))]
    fn leaky_relu_(slf: &Bound<'_, Self>, negative_slope: f64) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.leaky_relu(negative_slope))
    }
    #[pyo3(signature = (alpha=1.0))]
    fn elu_(slf: &Bound<'_, Self>, alpha: f64) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.unary(UnaryOp::Elu { alpha }))
    }
    #[pyo3(signature = (min_val=-1.0, max_val=1.0))]
    fn hardtanh_(slf: &Bound<'_, Self>, min_val: f64, max_val: f64) -> PyResult<Py<PyAny>> {
        Self::unary_(slf, |x| x.hardtanh(min_val, max_val))
    }
}

impl PyTensor {
    fn scaled(other: &Bound<'_, PyAny>, alpha: Option<&Bound<'_, PyAny>>) -> PyResult<Operand> {
        let o = operand(other)?;
        let Some(a) = alpha else { return Ok(o) };
        let a = scalar_arg(a).ok_or_else(|| PyTypeError::new_err("alpha must be a number"))?;
        if a.to_f64() == 1.0 {
            return Ok(o);
        }
        Ok(match o {
            Operand::Tensor(t) => Operand::Tensor(binary(
                BinaryOp::Mul,
                &Operand::Tensor(t),
                &Operand::Scalar(a),
            )?),
            Operand::Scalar(s) => Operand::Scalar(match (s, a) {
                (Scalar::Int(x), Scalar::Int(y)) => Scalar::Int(x.wrapping_mul(y)),
                _ => Scalar::Float(s.to_f64() * a.to_f64()),
            }),
        })
    }
    fn unary_(
        slf: &Bound<'_, Self>,
        f: impl FnOnce(&crate::Tensor) -> crate::Result<crate::Tensor>,
    ) -> PyResult<Py<PyAny>> {
        slf.get().inner.apply_inplace(&[], f)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn max_min(
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
    fn dim_or_unbiased(
        dim: Option<&Bound<'_, PyAny>>,
        unbiased: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Option<Vec<i64>>, Option<bool>)> {
        // `var(True)` is `var(unbiased=True)` in PyTorch's overloads.
        if let Some(d) = dim {
            if d.is_instance_of::<pyo3::types::PyBool>() {
                return Ok((None, Some(d.extract()?)));
            }
        }
        let unb = match unbiased {
            Some(u) if !u.is_none() => Some(u.extract::<bool>()?),
            _ => None,
        };
        Ok((dims_arg(dim)?, unb))
    }
    fn scatter_src(
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

/// `repeat(*sizes)`: tiles the tensor (expand of an unsqueezed view, then reshape).
fn repeat(t: &crate::Tensor, reps: &[i64]) -> crate::Result<crate::Tensor> {
    if reps.len() < t.dim() {
        return Err(crate::Error::Runtime(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor".into(),
        ));
    }
    let lead = reps.len() - t.dim();
    let mut shape: Vec<i64> = vec![1; lead];
    shape.extend(t.shape().iter().map(|&s| s as i64));
    let x = t.reshape(&shape)?;
    let mut inter: Vec<i64> = vec![];
    let mut expand: Vec<i64> = vec![];
    let mut out: Vec<i64> = vec![];
    for (&r, &s) in reps.iter().zip(&shape) {
        inter.extend([1, s]);
        expand.extend([r, s]);
        out.push(r * s);
    }
    x.reshape(&inter)?
        .expand(&expand)?
        .contiguous()
        .reshape(&out)
}
