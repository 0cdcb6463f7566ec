//! `Tensor` shape and data-movement methods: views, gathering and ordering, in-place ops.
//! Each forwards to the core.

use super::convert::*;
use super::generator::drawing_from;
use super::tensor::{named_pair, PyTensor, R};
use crate::ops::binary::BinaryOp;

use super::tensor_math::{opt_scalar, wrap, wrap_list};
use crate::ops::unary::UnaryOp;
use crate::ops::{Operand, Scalar};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

/// In-place forms of argument-free unary ops: `relu_()` runs `relu` and writes back into
/// `self`, returning `self`.
macro_rules! unary_inplace_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
                    Self::unary_(slf, |x| x.$op())
                }
            )*
        }
    };
}

/// In-place activations whose backward reads their result: `relu_()` writes `relu` into
/// `self` with no copy of the original kept for backward (see `Tensor::unary_`).
macro_rules! activation_inplace_methods {
    ($($name:ident => $op:ident),* $(,)?) => {
        #[pymethods]
        impl PyTensor {
            $(
                fn $name(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
                    slf.get().inner.unary_(UnaryOp::$op)?;
                    Ok(slf.clone().into_any().unbind())
                }
            )*
        }
    };
}

activation_inplace_methods!(relu_ => Relu, sigmoid_ => Sigmoid, tanh_ => Tanh, exp_ => Exp);

unary_inplace_methods!(
    sqrt_ => sqrt,
    neg_ => neg,
    abs_ => abs,
    log_ => log,
    log1p_ => log1p,
    expm1_ => expm1,
    rsqrt_ => rsqrt,
    sin_ => sin,
    cos_ => cos,
    tan_ => tan,
    asin_ => asin,
    acos_ => acos,
    atan_ => atan,
    sinh_ => sinh,
    cosh_ => cosh,
    asinh_ => asinh,
    acosh_ => acosh,
    atanh_ => atanh,
    log2_ => log2,
    log10_ => log10,
    exp2_ => exp2,
    lgamma_ => lgamma,
    digamma_ => digamma,
    erf_ => erf,
    reciprocal_ => reciprocal,
    floor_ => floor,
    ceil_ => ceil,
    trunc_ => trunc,
    sign_ => sign,
    logical_not_ => logical_not,
    bitwise_not_ => bitwise_not,
);

#[pymethods]
impl PyTensor {
    // ---- views ----------------------------------------------------------------------------
    #[pyo3(signature = (*shape))]
    fn view(&self, shape: &Bound<'_, PyTuple>) -> R {
        if shape.is_empty() {
            return Err(PyTypeError::new_err(
                "view() received an invalid combination of arguments - got (), but expected one of:\n * (torch.dtype dtype)\n * (tuple of ints size)\n",
            ));
        }
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
        require_args(shape, "reshape", "shape")?;
        wrap(self.inner.reshape(&shape_args(shape)?))
    }
    fn reshape_as(&self, other: PyRef<'_, PyTensor>) -> R {
        let s: Vec<i64> = other.inner.shape().iter().map(|&v| v as i64).collect();
        wrap(self.inner.reshape(&s))
    }
    fn transpose(&self, dim0: Dim, dim1: Dim) -> R {
        wrap(self.inner.transpose(dim0.0, dim1.0))
    }
    fn swapaxes(&self, dim0: Dim, dim1: Dim) -> R {
        wrap(self.inner.transpose(dim0.0, dim1.0))
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
        require_args(dims, "permute", "dims")?;
        wrap(self.inner.permute(&shape_args(dims)?))
    }
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, dim: Option<&Bound<'_, PyAny>>) -> R {
        wrap(self.inner.squeeze(dims_arg(dim)?.as_deref()))
    }
    fn unsqueeze(&self, dim: Dim) -> R {
        wrap(self.inner.unsqueeze(dim.0))
    }
    #[pyo3(signature = (*sizes))]
    fn expand(&self, sizes: &Bound<'_, PyTuple>) -> R {
        require_args(sizes, "expand", "size")?;
        wrap(self.inner.expand(&shape_args(sizes)?))
    }
    fn expand_as(&self, other: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.expand_to(other.inner.shape()))
    }
    #[pyo3(signature = (*sizes))]
    fn repeat(&self, sizes: &Bound<'_, PyTuple>) -> R {
        require_args(sizes, "repeat", "repeats")?;
        wrap(self.inner.repeat(&shape_args(sizes)?))
    }
    #[pyo3(signature = (repeats, dim=None, *, output_size=None))]
    fn repeat_interleave(
        &self,
        repeats: &Bound<'_, PyAny>,
        dim: Option<Dim>,
        output_size: Option<usize>,
    ) -> R {
        let r = match repeats.extract::<PyRef<'_, PyTensor>>() {
            Ok(t) => {
                let t = t.inner.clone();
                return wrap(self.inner.repeat_interleave(
                    crate::ops::view::Repeats::Each(&t),
                    dim.map(|d| d.0),
                    output_size,
                ));
            }
            Err(_) => crate::ops::view::Repeats::All(repeats.extract::<i64>()?),
        };
        wrap(
            self.inner
                .repeat_interleave(r, dim.map(|d| d.0), output_size),
        )
    }
    #[pyo3(signature = (start_dim=Dim(0), end_dim=Dim(-1)))]
    fn flatten(&self, start_dim: Dim, end_dim: Dim) -> R {
        wrap(self.inner.flatten(start_dim.0, end_dim.0))
    }
    fn unflatten(&self, dim: Dim, sizes: &Bound<'_, PyAny>) -> R {
        wrap(self.inner.unflatten(dim.0, &int_list(sizes)?))
    }
    fn narrow(&self, dim: Dim, start: i64, length: i64) -> R {
        if length < 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "narrow(): length must be non-negative.",
            ));
        }
        wrap(self.inner.narrow(dim.0, start, length as usize))
    }
    fn select(&self, dim: Dim, index: i64) -> R {
        wrap(self.inner.select(dim.0, index))
    }
    #[pyo3(signature = (dim=Dim(0)))]
    fn unbind(&self, py: Python<'_>, dim: Dim) -> PyResult<Py<PyAny>> {
        wrap_list(py, self.inner.unbind(dim.0))
    }
    #[pyo3(signature = (split_size_or_sections, dim=Dim(0)))]
    fn split(
        &self,
        py: Python<'_>,
        split_size_or_sections: &Bound<'_, PyAny>,
        dim: Dim,
    ) -> PyResult<Py<PyAny>> {
        if split_size_or_sections.cast::<PyList>().is_ok()
            || split_size_or_sections.cast::<PyTuple>().is_ok()
        {
            let s = sizes_from(int_list(split_size_or_sections)?)?;
            return wrap_list(py, self.inner.split_sizes(&s, dim.0));
        }
        let n: i64 = split_size_or_sections.extract()?;
        if n < 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "split expects split_size be non-negative, but got split_size={n}"
            )));
        }
        wrap_list(py, self.inner.split(n as usize, dim.0))
    }
    #[pyo3(signature = (chunks, dim=Dim(0)))]
    fn chunk(&self, py: Python<'_>, chunks: i64, dim: Dim) -> PyResult<Py<PyAny>> {
        wrap_list(py, self.inner.chunk(chunks.max(0) as usize, dim.0))
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
        let offset = match storage_offset {
            Some(o) => usize::try_from(o).map_err(|_| {
                pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "Tensor: invalid storage offset {o}"
                ))
            })?,
            None => self.inner.offset(),
        };
        wrap(self.inner.as_strided(&size, &stride, offset))
    }

    // ---- gathering and ordering -----------------------------------------------------------
    fn gather(&self, dim: Dim, index: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.gather(dim.0, &index.inner))
    }
    #[pyo3(signature = (dim, index, src=None, *, value=None, reduce=None))]
    fn scatter(
        &self,
        dim: Dim,
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
        wrap(self.inner.scatter(dim.0, &index.inner, &src, acc))
    }
    #[pyo3(signature = (dim, index, src=None, *, value=None, reduce=None))]
    fn scatter_(
        slf: &Bound<'_, Self>,
        dim: Dim,
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
    fn scatter_add(&self, dim: Dim, index: PyRef<'_, PyTensor>, src: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.scatter(dim.0, &index.inner, &src.inner, true))
    }
    fn scatter_add_(
        slf: &Bound<'_, Self>,
        dim: Dim,
        index: PyRef<'_, PyTensor>,
        src: PyRef<'_, PyTensor>,
    ) -> PyResult<Py<PyAny>> {
        let me = slf.get();
        me.inner.apply_inplace(&[&src.inner], |x| {
            x.scatter(dim.0, &index.inner, &src.inner, true)
        })?;
        Ok(slf.clone().into_any().unbind())
    }
    fn index_select(&self, dim: Dim, index: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.index_select(dim.0, &index.inner))
    }
    fn masked_select(&self, mask: PyRef<'_, PyTensor>) -> R {
        wrap(self.inner.masked_select(&mask.inner))
    }
    #[pyo3(signature = (*, as_tuple=false))]
    fn nonzero(&self, py: Python<'_>, as_tuple: bool) -> PyResult<Py<PyAny>> {
        if as_tuple {
            return wrap_list(py, self.inner.nonzero_tuple());
        }
        let nz = self.inner.nonzero()?;
        Ok(Bound::new(py, PyTensor::new(nz))?.into_any().unbind())
    }
    #[pyo3(signature = (dim=Dim(-1), descending=false, stable=false))]
    fn sort(
        &self,
        py: Python<'_>,
        dim: Dim,
        descending: bool,
        stable: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = stable;
        let (v, i) = self.inner.sort(dim.0, descending)?;
        named_pair(py, "sort", v, i)
    }
    #[pyo3(signature = (dim=Dim(-1), descending=false, stable=false))]
    fn argsort(&self, dim: Dim, descending: bool, stable: bool) -> R {
        let _ = stable;
        wrap(self.inner.argsort(dim.0, descending))
    }
    #[pyo3(signature = (k, dim=Dim(-1), largest=true, sorted=true))]
    fn topk(
        &self,
        py: Python<'_>,
        k: i64,
        dim: Dim,
        largest: bool,
        sorted: bool,
    ) -> PyResult<Py<PyAny>> {
        let _ = sorted;
        if k < 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "selected index k out of range",
            ));
        }
        let (v, i) = self.inner.topk(k as usize, dim.0, largest)?;
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
            .binary_alpha_(BinaryOp::Add, &operand(other)?, opt_scalar(alpha)?)?;
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
            .binary_alpha_(BinaryOp::Sub, &operand(other)?, opt_scalar(alpha)?)?;
        Ok(slf.clone().into_any().unbind())
    }
    fn mul_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::binary_in_place(slf, BinaryOp::Mul, operand(other)?)
    }
    fn bitwise_and_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::binary_in_place(slf, BinaryOp::BitAnd, operand(other)?)
    }
    fn bitwise_or_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::binary_in_place(slf, BinaryOp::BitOr, operand(other)?)
    }
    fn bitwise_xor_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::binary_in_place(slf, BinaryOp::BitXor, operand(other)?)
    }
    fn logical_and_(slf: &Bound<'_, Self>, other: PyRef<'_, PyTensor>) -> PyResult<Py<PyAny>> {
        let o = other.inner.clone();
        Self::unary_(slf, |x| x.logical_and(&o))
    }
    fn logical_or_(slf: &Bound<'_, Self>, other: PyRef<'_, PyTensor>) -> PyResult<Py<PyAny>> {
        let o = other.inner.clone();
        Self::unary_(slf, |x| x.logical_or(&o))
    }
    fn logical_xor_(slf: &Bound<'_, Self>, other: PyRef<'_, PyTensor>) -> PyResult<Py<PyAny>> {
        let o = other.inner.clone();
        Self::unary_(slf, |x| x.logical_xor(&o))
    }
    fn div_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::binary_in_place(slf, BinaryOp::Div, operand(other)?)
    }
    fn atan2_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let other = Operand::Tensor(tensor_arg(other, "atan2_")?);
        Self::binary_in_place(slf, BinaryOp::Atan2, other)
    }
    fn arctan2_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::atan2_(slf, other)
    }
    fn pow_(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::binary_in_place(slf, BinaryOp::Pow, operand(other)?)
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
            None => {
                let t = tensor_arg(value, "masked_fill_")?;
                crate::ops::ternary::check_fill_value(&t)?;
                Scalar::Float(t.item_f64()?)
            }
        };
        me.inner
            .apply_fill_inplace(&[], |x| x.masked_fill(&mask.inner, v))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (diagonal=0))]
    fn triu_(slf: &Bound<'_, Self>, diagonal: i64) -> PyResult<Py<PyAny>> {
        slf.get()
            .inner
            .apply_inplace(&[], |x| x.triangle(diagonal, true))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (diagonal=0))]
    fn tril_(slf: &Bound<'_, Self>, diagonal: i64) -> PyResult<Py<PyAny>> {
        slf.get()
            .inner
            .apply_inplace(&[], |x| x.triangle(diagonal, false))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (a=0.0, b=1.0, *, generator=None))]
    fn uniform_(
        slf: &Bound<'_, Self>,
        a: f64,
        b: f64,
        generator: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let t = &slf.get().inner;
        drawing_from(generator, t.device(), || Ok(t.uniform_(a, b)?))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (mean=0.0, std=1.0, *, generator=None))]
    fn normal_(
        slf: &Bound<'_, Self>,
        mean: f64,
        std: f64,
        generator: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let t = &slf.get().inner;
        drawing_from(generator, t.device(), || Ok(t.normal_(mean, std)?))?;
        Ok(slf.clone().into_any().unbind())
    }
    #[pyo3(signature = (num_samples, replacement=false, *, generator=None))]
    fn multinomial(
        &self,
        num_samples: i64,
        replacement: bool,
        generator: Option<&Bound<'_, PyAny>>,
    ) -> R {
        let t = &self.inner;
        // A count below 1 gets the op's "n_sample <= 0" error.
        let num_samples = usize::try_from(num_samples).unwrap_or(0);
        let out = drawing_from(generator, t.device(), || {
            Ok(t.multinomial(num_samples, replacement)?)
        })?;
        wrap(Ok(out))
    }
    /// `random_()`, `random_(to)`, `random_(from, to)` (PyTorch's three overloads; `to` may
    /// be None, and both may be given by keyword).
    #[pyo3(signature = (*args, to=None, generator=None, **kwargs))]
    fn random_(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, PyTuple>,
        to: Option<i64>,
        generator: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let from_kw: Option<i64> = match kwargs {
            Some(k) => match k.get_item("from")? {
                Some(v) => Some(v.extract()?),
                None => None,
            },
            None => None,
        };
        let given: Vec<Option<i64>> = args.extract()?;
        let (from, to) = match (given.as_slice(), from_kw, to) {
            ([], f, t) => (f.unwrap_or(0), t),
            ([t], None, None) if from_kw.is_none() => (0, *t),
            ([f], None, t) => (f.unwrap_or(0), t),
            ([f, t], None, None) => (f.unwrap_or(0), *t),
            _ => {
                return Err(PyTypeError::new_err(
                    "random_() received an invalid combination of arguments - expected (), (int to), or (int from, int to)",
                ))
            }
        };
        let t = &slf.get().inner;
        drawing_from(generator, t.device(), || Ok(t.random_(from, to)?))?;
        Ok(slf.clone().into_any().unbind())
    }
    /// `bernoulli_(p=0.5, *, generator=None)`: `p` a number, or a tensor of probabilities
    /// that broadcasts to self's shape.
    #[pyo3(signature = (p=None, *, generator=None))]
    fn bernoulli_(
        slf: &Bound<'_, Self>,
        p: Option<&Bound<'_, PyAny>>,
        generator: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let t = &slf.get().inner;
        match p.map(|p| p.cast::<PyTensor>()) {
            Some(Ok(p)) => {
                let p = &p.get().inner;
                drawing_from(generator, t.device(), || Ok(t.bernoulli_tensor_(p)?))?;
            }
            _ => {
                let p = p.map(|p| p.extract::<f64>()).transpose()?.unwrap_or(0.5);
                drawing_from(generator, t.device(), || Ok(t.bernoulli_(p)?))?;
            }
        }
        Ok(slf.clone().into_any().unbind())
    }
    /// `bernoulli(*, generator=None)`: each element 1 with probability self's, else 0
    /// (`torch.bernoulli(input)`); `bernoulli(p)`: a tensor like self, each element 1 with
    /// probability `p`.
    #[pyo3(signature = (p=None, *, generator=None))]
    fn bernoulli(&self, p: Option<f64>, generator: Option<&Bound<'_, PyAny>>) -> R {
        let t = &self.inner;
        let out = drawing_from(generator, t.device(), || {
            Ok(match p {
                None => crate::ops::random::bernoulli(t)?,
                Some(p) => t.bernoulli_like(p)?,
            })
        })?;
        wrap(Ok(out))
    }
    #[pyo3(signature = (negative_slope=0.01))]
    fn leaky_relu_(slf: &Bound<'_, Self>, negative_slope: f64) -> PyResult<Py<PyAny>> {
        slf.get().inner.unary_(UnaryOp::LeakyRelu {
            slope: negative_slope,
        })?;
        Ok(slf.clone().into_any().unbind())
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
