//! Module-level functions of `rustorch._C`: creation, joining, random, einsum.

use super::convert::*;
use super::generator::drawing_from_kw;
use super::tensor::PyTensor;
use crate::ops::{creation, random, Operand};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

type R = PyResult<PyTensor>;

/// The result of a creation function: `requires_grad=` applied, or written into `out=` (of
/// the result's shape: rustorch does not resize tensors in place).
pub(super) fn finish(t: Tensor, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    let kw = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(kwargs.map(|k| k.get_item(name)).transpose()?.flatten())
    };
    if let Some(rg) = kw("requires_grad")? {
        if rg.extract::<bool>()? {
            t.set_requires_grad(true)?;
        }
    }
    match kw("out")?.filter(|o| !o.is_none()) {
        None => Ok(PyTensor::new(t)),
        Some(out) => {
            let out = out.cast::<PyTensor>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "argument 'out' must be Tensor, not {}",
                    out.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            let o = &out.get().inner;
            if o.shape() != t.shape() {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "out= has shape {:?} but the result has shape {:?}; rustorch does not resize tensors in place, so pass an out of the result's shape",
                    o.shape(),
                    t.shape()
                )));
            }
            o.copy_(&t)?;
            Ok(PyTensor::new(o.clone()))
        }
    }
}

pub(super) fn kw_dtype(kwargs: Option<&Bound<'_, PyDict>>, default: DType) -> PyResult<DType> {
    match kwargs.map(|k| k.get_item("dtype")).transpose()?.flatten() {
        Some(d) if !d.is_none() => dtype_arg(&d),
        _ => Ok(default),
    }
}

thread_local! {
    /// The device creation functions use when given none (`torch.set_default_device`);
    /// per thread, as PyTorch's.
    static DEFAULT_DEVICE: std::cell::Cell<Device> = const { std::cell::Cell::new(Device::Cpu) };
}

/// The device creation functions use when given none.
pub fn default_device() -> Device {
    DEFAULT_DEVICE.with(|d| d.get())
}

/// `_C._set_default_device(device)`; returns the previous default as a string.
#[pyfunction]
pub fn _set_default_device(device: &Bound<'_, PyAny>) -> PyResult<String> {
    let d = opt_device(Some(device))?.unwrap_or(Device::Cpu);
    Ok(DEFAULT_DEVICE.with(|c| c.replace(d)).to_string())
}

/// `_C._get_default_device()`, as a string.
#[pyfunction]
pub fn _get_default_device() -> String {
    default_device().to_string()
}

/// `_C._set_default_dtype(dtype)`: the default float dtype (`torch.set_default_dtype`).
#[pyfunction]
pub fn _set_default_dtype(d: &Bound<'_, PyAny>) -> PyResult<()> {
    if DType::set_default_float(dtype_arg(d)?) {
        Ok(())
    } else {
        Err(pyo3::exceptions::PyTypeError::new_err(
            "only floating-point types are supported as the default type",
        ))
    }
}

/// `_C._legacy_new(dtype, device, *args)`: the constructor of `torch.FloatTensor` and the
/// other legacy tensor classes (see `tensor::legacy_new`).
#[pyfunction]
#[pyo3(signature = (dtype, device, *args))]
pub fn _legacy_new(
    dtype: &Bound<'_, PyAny>,
    device: &Bound<'_, PyAny>,
    args: &Bound<'_, PyTuple>,
) -> R {
    let device = opt_device(Some(device))?.unwrap_or(Device::Cpu);
    Ok(PyTensor::new(super::tensor::legacy_new(
        args,
        dtype_arg(dtype)?,
        device,
    )?))
}

/// `_C._set_autocast(device_type, dtype)`: autocast on (`dtype`) or off (None) for "cpu" or
/// "cuda" on this thread; returns the previous dtype (or None).
#[pyfunction]
pub fn _set_autocast(
    py: Python<'_>,
    device_type: &str,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Py<PyDType>>> {
    let cuda = autocast_device(device_type)?;
    let d = dtype.map(dtype_arg).transpose()?;
    if let Some(d) = d {
        if !matches!(d, DType::F16 | DType::BF16) {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "In {device_type} autocast, but the target dtype is not supported. Disabling autocast.\n{device_type} Autocast only supports dtypes of torch.bfloat16, torch.float16 currently."
            )));
        }
    }
    Ok(crate::ops::autocast::set_autocast(cuda, d).map(|d| super::convert::dtype_object(py, d)))
}

/// `_C._get_autocast(device_type)`: the autocast dtype on this thread, or None when off.
#[pyfunction]
pub fn _get_autocast(py: Python<'_>, device_type: &str) -> PyResult<Option<Py<PyDType>>> {
    Ok(
        crate::ops::autocast::autocast_dtype(autocast_device(device_type)?)
            .map(|d| super::convert::dtype_object(py, d)),
    )
}

fn autocast_device(device_type: &str) -> PyResult<bool> {
    match device_type {
        "cpu" => Ok(false),
        "cuda" => Ok(true),
        other => Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "User specified an unsupported autocast device_type '{other}'"
        ))),
    }
}

/// `_C._get_default_dtype()`.
#[pyfunction]
pub fn _get_default_dtype(py: Python<'_>) -> Py<PyDType> {
    super::convert::dtype_object(py, DType::default_float())
}

/// The `device=` of a creation function, `default` when absent or None.
pub(super) fn kw_device(kwargs: Option<&Bound<'_, PyDict>>, default: Device) -> PyResult<Device> {
    Ok(opt_device(
        kwargs
            .map(|k| k.get_item("device"))
            .transpose()?
            .flatten()
            .as_ref(),
    )?
    .unwrap_or(default))
}

/// The `memory_format=` of a creation function, `default` when absent or None.
fn kw_format(
    kwargs: Option<&Bound<'_, PyDict>>,
    fname: &str,
    default: MemoryFormat,
) -> PyResult<MemoryFormat> {
    let f = kwargs
        .map(|k| k.get_item("memory_format"))
        .transpose()?
        .flatten();
    memory_format_arg(f.as_ref(), fname, default)
}

pub(super) fn check_kwargs(kwargs: Option<&Bound<'_, PyDict>>, fname: &str) -> PyResult<()> {
    if let Some(kw) = kwargs {
        for k in kw.keys() {
            let k: String = k.extract()?;
            if !matches!(
                k.as_str(),
                "dtype"
                    | "device"
                    | "requires_grad"
                    | "layout"
                    | "pin_memory"
                    | "memory_format"
                    | "out"
                    | "generator"
                    | "start"
                    | "end"
                    | "step"
            ) {
                return Err(PyTypeError::new_err(format!(
                    "{fname}() got an unexpected keyword argument '{k}'"
                )));
            }
        }
    }
    Ok(())
}

type Maker = fn(&[usize], DType, Device) -> crate::Result<Tensor>;

/// A creation function's size: its positional sizes or its `size=` keyword, exactly one
/// (PyTorch: `zeros()` is a `TypeError`, `zeros(size=(2, 3))` a 2×3 tensor).
fn size_or_kwarg(
    size: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    fname: &str,
) -> PyResult<Vec<usize>> {
    let keyword = match kwargs {
        Some(kw) => kw.get_item("size")?,
        None => None,
    };
    match (size.is_empty(), keyword) {
        (false, None) => size_args(size),
        (true, Some(k)) => sizes_from(int_list(&k)?),
        (false, Some(_)) => Err(PyTypeError::new_err(format!(
            "{fname}() got multiple values for argument 'size'"
        ))),
        (true, None) => Err(PyTypeError::new_err(format!(
            "{fname}() missing 1 required positional arguments: \"size\""
        ))),
    }
}

/// `kwargs` less `key` (a copy, when it holds it).
fn kwargs_without<'py>(
    kwargs: Option<&Bound<'py, PyDict>>,
    key: &str,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Some(kw) = kwargs else { return Ok(None) };
    if !kw.contains(key)? {
        return Ok(Some(kw.clone()));
    }
    let rest = kw.copy()?;
    rest.del_item(key)?;
    Ok(Some(rest))
}

/// A creation function of a size and keywords; `draws` says whether it samples (and so
/// takes `generator=`).
macro_rules! filled {
    ($name:ident, $f:expr, draws = $draws:expr) => {
        filled!($name, $f, draws = $draws, formats = false);
    };
    ($name:ident, $f:expr, draws = $draws:expr, formats = $formats:expr) => {
        #[pyfunction]
        #[pyo3(signature = (*size, **kwargs))]
        pub fn $name(size: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
            let shape = size_or_kwarg(size, kwargs, stringify!($name))?;
            let kwargs = kwargs_without(kwargs, "size")?;
            let kwargs = kwargs.as_ref();
            check_kwargs(kwargs, stringify!($name))?;
            for (key, allowed) in [("generator", $draws), ("memory_format", $formats)] {
                if !allowed && kwargs.is_some_and(|k| k.contains(key).unwrap_or(false)) {
                    return Err(PyTypeError::new_err(format!(
                        "{}() got an unexpected keyword argument '{key}'",
                        stringify!($name)
                    )));
                }
            }
            let dtype = kw_dtype(kwargs, DType::default_float())?;
            let device = kw_device(kwargs, default_device())?;
            let make: Maker = $f;
            let t = drawing_from_kw(kwargs, device, || Ok(make(&shape, dtype, device)?))?;
            let f = kw_format(kwargs, stringify!($name), MemoryFormat::Contiguous)?;
            finish(creation::in_format(t, f, None)?, kwargs)
        }
    };
}
filled!(zeros, creation::zeros, draws = false);
filled!(ones, creation::ones, draws = false);
filled!(empty, creation::zeros, draws = false, formats = true);
filled!(rand, random::rand, draws = true);
filled!(randn, random::randn, draws = true);

#[pyfunction]
#[pyo3(signature = (size, fill_value, **kwargs))]
pub fn full(
    size: &Bound<'_, PyAny>,
    fill_value: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> R {
    check_kwargs(kwargs, "full")?;
    let s = scalar_arg(fill_value)
        .ok_or_else(|| PyTypeError::new_err("full(): fill_value must be a number"))?;
    let dtype = kw_dtype(kwargs, s.dtype())?;
    let device = kw_device(kwargs, default_device())?;
    let shape = sizes_from(int_list(size)?)?;
    finish(creation::full(&shape, s, dtype, device)?, kwargs)
}

macro_rules! like {
    ($name:ident, $f:expr) => {
        #[pyfunction]
        #[pyo3(signature = (input, **kwargs))]
        pub fn $name(input: PyRef<'_, PyTensor>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
            check_kwargs(kwargs, stringify!($name))?;
            let dtype = kw_dtype(kwargs, input.inner.dtype())?;
            let device = kw_device(kwargs, input.inner.device())?;
            let make: Maker = $f;
            let t = make(input.inner.shape(), dtype, device)?;
            let f = kw_format(kwargs, stringify!($name), MemoryFormat::Preserve)?;
            finish(creation::in_format(t, f, Some(&input.inner))?, kwargs)
        }
    };
}
like!(zeros_like, creation::zeros);
like!(ones_like, creation::ones);
like!(empty_like, creation::zeros);
like!(rand_like, random::rand);
like!(randn_like, random::randn);

#[pyfunction]
#[pyo3(signature = (input, fill_value, **kwargs))]
pub fn full_like(
    input: PyRef<'_, PyTensor>,
    fill_value: &Bound<'_, PyAny>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> R {
    check_kwargs(kwargs, "full_like")?;
    let s = scalar_arg(fill_value)
        .ok_or_else(|| PyTypeError::new_err("full_like(): fill_value must be a number"))?;
    let dtype = kw_dtype(kwargs, input.inner.dtype())?;
    let device = kw_device(kwargs, input.inner.device())?;
    let t = creation::full(input.inner.shape(), s, dtype, device)?;
    let f = kw_format(kwargs, "full_like", MemoryFormat::Preserve)?;
    finish(creation::in_format(t, f, Some(&input.inner))?, kwargs)
}

/// `tensor(data, dtype=None, device=None, requires_grad=False)`: always copies.
#[pyfunction]
#[pyo3(signature = (data, **kwargs))]
pub fn tensor(data: &Bound<'_, PyAny>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    check_kwargs(kwargs, "tensor")?;
    let dtype = match kwargs.map(|k| k.get_item("dtype")).transpose()?.flatten() {
        Some(d) if !d.is_none() => Some(dtype_arg(&d)?),
        _ => None,
    };
    let t = data_to_tensor(data, dtype)?;
    if kwargs
        .and_then(|k| k.get_item("requires_grad").ok().flatten())
        .map(|v| v.extract::<bool>())
        .transpose()?
        .unwrap_or(false)
        && !t.dtype().is_float()
    {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "Only Tensors of floating point and complex dtype can require gradients",
        ));
    }
    let device = kw_device(kwargs, default_device())?;
    finish(t.to_device(device)?, kwargs)
}

/// `as_tensor(data, dtype=None, device=None)`: no copy for a tensor or NumPy array of the
/// right dtype and device.
#[pyfunction]
#[pyo3(signature = (data, dtype=None, device=None))]
pub fn as_tensor(
    data: &Bound<'_, PyAny>,
    dtype: Option<&Bound<'_, PyAny>>,
    device: Option<&Bound<'_, PyAny>>,
) -> R {
    let dtype = opt_dtype(dtype)?;
    let device = opt_device(device)?;
    let t = if let Ok(t) = data.cast::<PyTensor>() {
        t.get().inner.clone()
    } else if data.cast::<numpy::PyUntypedArray>().is_ok() {
        super::numpy::from_array(data)?
    } else {
        data_to_tensor(data, dtype)?
    };
    let t = t.to_dtype(dtype.unwrap_or(t.dtype()))?;
    let fresh = !data.is_instance_of::<PyTensor>() && data.cast::<numpy::PyUntypedArray>().is_err();
    let target = device.unwrap_or(if fresh { default_device() } else { t.device() });
    Ok(PyTensor::new(t.to_device(target)?))
}

/// `arange(end)`, `arange(start, end, step=1)`; int64 for integer arguments.
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
pub fn arange(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    check_kwargs(kwargs, "arange")?;
    let num = |a: &Bound<'_, PyAny>| {
        scalar_arg(a).ok_or_else(|| PyTypeError::new_err("arange(): arguments must be numbers"))
    };
    let pos: Vec<crate::Scalar> = args.iter().map(|a| num(&a)).collect::<PyResult<_>>()?;
    let kw = |k: &str| -> PyResult<Option<crate::Scalar>> {
        match kwargs.map(|d| d.get_item(k)).transpose()?.flatten() {
            Some(v) => num(&v).map(Some),
            None => Ok(None),
        }
    };
    let one = crate::Scalar::Int(1);
    let zero = crate::Scalar::Int(0);
    // arange(end) | arange(start, end[, step]), each also by keyword.
    let (start, end, step) = match (pos.len(), kw("end")?) {
        (0, Some(e)) => (kw("start")?.unwrap_or(zero), e, kw("step")?.unwrap_or(one)),
        (1, Some(e)) => (pos[0], e, kw("step")?.unwrap_or(one)),
        (1, None) => (zero, pos[0], kw("step")?.unwrap_or(one)),
        (2, None) => (pos[0], pos[1], kw("step")?.unwrap_or(one)),
        (3, None) => (pos[0], pos[1], pos[2]),
        _ => {
            return Err(PyTypeError::new_err(
                "arange() received an invalid combination of arguments",
            ))
        }
    };
    let all_int = [start, end, step]
        .iter()
        .all(|s| matches!(s, crate::Scalar::Int(_) | crate::Scalar::Bool(_)));
    let (start, end, step) = (start.to_f64(), end.to_f64(), step.to_f64());
    let dtype = kw_dtype(
        kwargs,
        if all_int {
            DType::I64
        } else {
            DType::default_float()
        },
    )?;
    let device = kw_device(kwargs, default_device())?;
    finish(creation::arange(start, end, step, dtype, device)?, kwargs)
}

#[pyfunction]
#[pyo3(signature = (start, end, steps, **kwargs))]
pub fn linspace(start: f64, end: f64, steps: i64, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    if steps < 0 {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "number of steps must be non-negative",
        ));
    }
    let dtype = kw_dtype(kwargs, DType::default_float())?;
    let device = kw_device(kwargs, default_device())?;
    finish(
        creation::linspace(start, end, steps as usize, dtype, device)?,
        kwargs,
    )
}

#[pyfunction]
#[pyo3(signature = (n, m=None, **kwargs))]
pub fn eye(n: i64, m: Option<i64>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    let m = m.unwrap_or(n);
    if n < 0 || m < 0 {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "n must be greater or equal to 0, got {n}"
        )));
    }
    let dtype = kw_dtype(kwargs, DType::default_float())?;
    let device = kw_device(kwargs, default_device())?;
    finish(
        creation::eye(n as usize, m as usize, dtype, device)?,
        kwargs,
    )
}
/// `randint(low=0, high, size)`.
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
pub fn randint(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    let kw = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(kwargs.map(|k| k.get_item(name)).transpose()?.flatten())
    };
    let missing = || PyTypeError::new_err("randint() missing required argument 'size'");
    // Positional: (high, size) or (low, high, size), the size possibly given as `size=`.
    let mut pos: Vec<Bound<'_, PyAny>> = args.iter().collect();
    let size = match kw("size")? {
        Some(s) => s,
        None if pos.len() >= 2 => pos.pop().ok_or_else(missing)?,
        None => return Err(missing()),
    };
    let int = |v: Option<Bound<'_, PyAny>>, default: i64| -> PyResult<i64> {
        v.map(|v| v.extract())
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    let (low, high) = match pos.len() {
        0 => (int(kw("low")?, 0)?, int(kw("high")?, 0)?),
        1 => (int(kw("low")?, 0)?, pos[0].extract()?),
        2 => (pos[0].extract()?, pos[1].extract()?),
        n => {
            return Err(PyTypeError::new_err(format!(
                "randint() takes at most 3 positional arguments ({} given)",
                n + 1
            )))
        }
    };
    let shape = sizes_from(int_list(&size)?)?;
    let dtype = kw_dtype(kwargs, DType::I64)?;
    let device = kw_device(kwargs, default_device())?;
    let t = drawing_from_kw(kwargs, device, || {
        Ok(random::randint(low, high, &shape, dtype, device)?)
    })?;
    finish(t, kwargs)
}

#[pyfunction]
#[pyo3(signature = (n, **kwargs))]
pub fn randperm(n: i64, kwargs: Option<&Bound<'_, PyDict>>) -> R {
    if n < 0 {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "n must be non-negative, got{n}"
        )));
    }
    let dtype = kw_dtype(kwargs, DType::I64)?;
    let device = kw_device(kwargs, default_device())?;
    let t = drawing_from_kw(kwargs, device, || {
        Ok(random::randperm(n as usize, dtype, device)?)
    })?;
    finish(t, kwargs)
}

/// Seeds the CPU generator and every GPU's.
#[pyfunction]
pub fn manual_seed(seed: i64) -> PyResult<()> {
    Ok(random::manual_seed(seed as u64)?)
}

/// `torch.default_generator`.
#[pyfunction]
pub fn _default_generator() -> super::generator::PyGenerator {
    super::generator::default_generator()
}

#[pyfunction]
pub fn initial_seed() -> u64 {
    random::initial_seed()
}

fn tensor_list(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Tensor>> {
    if obj.cast::<PyTensor>().is_ok() {
        return Err(PyTypeError::new_err(format!(
            "{what}(): argument 'tensors' must be tuple of Tensors, not Tensor"
        )));
    }
    obj.try_iter()?.map(|t| tensor_arg(&t?, what)).collect()
}

#[pyfunction]
#[pyo3(signature = (tensors, dim=Dim(0)))]
pub fn cat(tensors: &Bound<'_, PyAny>, dim: Dim) -> R {
    Ok(PyTensor::new(crate::ops::join::cat(
        &tensor_list(tensors, "cat")?,
        dim.0,
    )?))
}

#[pyfunction]
#[pyo3(signature = (tensors, dim=Dim(0)))]
pub fn stack(tensors: &Bound<'_, PyAny>, dim: Dim) -> R {
    Ok(PyTensor::new(crate::ops::join::stack(
        &tensor_list(tensors, "stack")?,
        dim.0,
    )?))
}

/// `where(condition, input, other)`; inputs may be numbers.
#[pyfunction]
#[pyo3(name = "where", signature = (condition, input=None, other=None))]
pub fn where_(
    py: Python<'_>,
    condition: PyRef<'_, PyTensor>,
    input: Option<&Bound<'_, PyAny>>,
    other: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    match (input, other) {
        (Some(a), Some(b)) => {
            let r = crate::ops::ternary::where_(&condition.inner, &operand(a)?, &operand(b)?)?;
            Ok(Bound::new(py, PyTensor::new(r))?.into_any().unbind())
        }
        (None, None) => {
            let cols = condition
                .inner
                .nonzero_tuple()?
                .into_iter()
                .map(PyTensor::new);
            Ok(PyTuple::new(py, cols)?.into_any().unbind())
        }
        _ => Err(PyTypeError::new_err("where() takes 1 or 3 arguments")),
    }
}

/// The letters of an einsum sublist (`[0, 1, Ellipsis]` → `"ab..."`): subscripts 0–25 are
/// `a`–`z`, 26–51 `A`–`Z`, as PyTorch's.
fn sublist_letters(list: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut out = String::new();
    for item in list.try_iter()? {
        let item = item?;
        if item.is(list.py().Ellipsis()) {
            out.push_str("...");
            continue;
        }
        let i: i64 = item.extract()?;
        out.push(match i {
            0..=25 => (b'a' + i as u8) as char,
            26..=51 => (b'A' + (i - 26) as u8) as char,
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "einsum(): subscript in subscript list is not within the valid range [0, 52), got {i}"
                )))
            }
        });
    }
    Ok(out)
}

/// `einsum(equation, *operands)`, or the sublist form
/// `einsum(op1, sublist1, op2, sublist2, ..., [out_sublist])`.
#[pyfunction]
#[pyo3(signature = (*args))]
pub fn einsum(args: &Bound<'_, PyTuple>) -> R {
    let first = args
        .get_item(0)
        .map_err(|_| PyTypeError::new_err("einsum(): must specify the equation string and at least one operand, or at least one operand and its subscripts list"))?;
    let (equation, ops): (String, Vec<Tensor>) = if let Ok(eq) = first.extract::<String>() {
        let operands = args.get_slice(1, args.len());
        let ops = if operands.len() == 1 && operands.get_item(0)?.cast::<PyTensor>().is_err() {
            tensor_list(&operands.get_item(0)?, "einsum")?
        } else {
            operands
                .iter()
                .map(|o| tensor_arg(&o, "einsum"))
                .collect::<PyResult<_>>()?
        };
        (eq, ops)
    } else {
        let (mut ops, mut inputs) = (vec![], vec![]);
        let mut i = 0;
        while i + 1 < args.len() {
            ops.push(tensor_arg(&args.get_item(i)?, "einsum")?);
            inputs.push(sublist_letters(&args.get_item(i + 1)?)?);
            i += 2;
        }
        let mut eq = inputs.join(",");
        if i < args.len() {
            eq.push_str("->");
            eq.push_str(&sublist_letters(&args.get_item(i)?)?);
        }
        (eq, ops)
    };
    let equation = equation.as_str();
    Ok(PyTensor::new(crate::ops::matmul::einsum(equation, &ops)?))
}

/// `one_hot(input, num_classes=-1)` (`nn.functional.one_hot`).
#[pyfunction]
#[pyo3(signature = (input, num_classes=-1))]
pub fn one_hot(input: PyRef<'_, PyTensor>, num_classes: i64) -> R {
    Ok(PyTensor::new(input.inner.one_hot(num_classes)?))
}

/// `embedding(input, weight, padding_idx, scale_grad_by_freq)` (`nn.functional.embedding`,
/// which renormalises `max_norm` rows first).
#[pyfunction]
#[pyo3(signature = (input, weight, padding_idx=None, scale_grad_by_freq=false))]
pub fn _embedding(
    input: PyRef<'_, PyTensor>,
    weight: PyRef<'_, PyTensor>,
    padding_idx: Option<i64>,
    scale_grad_by_freq: bool,
) -> R {
    Ok(PyTensor::new(crate::ops::gather::embedding(
        &weight.inner,
        &input.inner,
        padding_idx,
        scale_grad_by_freq,
    )?))
}

#[pyfunction]
pub fn result_type(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<Py<PyDType>> {
    let py = a.py();
    let (mut ts, mut ss) = (vec![], vec![]);
    for o in [a, b] {
        match operand(o)? {
            Operand::Tensor(t) => ts.push(t),
            Operand::Scalar(s) => ss.push(s),
        }
    }
    let refs: Vec<&Tensor> = ts.iter().collect();
    Ok(super::convert::dtype_object(
        py,
        crate::ops::result_type(&refs, &ss),
    ))
}

/// Fused `cross_entropy` for 2-D logits and int64 class targets (used by `nn.functional`).
#[pyfunction]
#[pyo3(signature = (input, target, weight=None, ignore_index=-100, label_smoothing=0.0, reduction="mean"))]
pub fn _cross_entropy(
    input: PyRef<'_, PyTensor>,
    target: PyRef<'_, PyTensor>,
    weight: Option<PyRef<'_, PyTensor>>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: &str,
) -> R {
    let r = crate::ops::loss::Reduction::parse(reduction)?;
    let w = weight.as_ref().map(|w| &w.inner);
    Ok(PyTensor::new(crate::ops::loss::cross_entropy(
        &input.inner,
        &target.inner,
        w,
        ignore_index,
        label_smoothing,
        r,
    )?))
}

fn tensors(list: &Bound<'_, PyAny>) -> PyResult<Vec<Tensor>> {
    list.try_iter()?
        .map(|t| tensor_arg(&t?, "optimizer"))
        .collect()
}

/// Fused SGD step over a parameter group; returns the momentum buffers.
#[pyfunction]
#[pyo3(signature = (params, grads, momentum_buffers, *, lr, momentum, dampening, weight_decay, nesterov, maximize))]
#[allow(clippy::too_many_arguments)]
pub fn _sgd_step(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    momentum_buffers: &Bound<'_, PyAny>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
) -> PyResult<Py<PyAny>> {
    let bufs: Vec<Option<Tensor>> = momentum_buffers
        .try_iter()?
        .map(|b| {
            let b = b?;
            if b.is_none() {
                Ok(None)
            } else {
                tensor_arg(&b, "optimizer").map(Some)
            }
        })
        .collect::<PyResult<_>>()?;
    let o = crate::ops::optim::SgdOptions {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
        maximize,
    };
    let out = crate::ops::optim::sgd_step(&tensors(params)?, &tensors(grads)?, &bufs, &o)?;
    let items: Vec<Option<PyTensor>> = out.into_iter().map(|b| b.map(PyTensor::new)).collect();
    Ok(pyo3::types::PyList::new(py, items)?.into_any().unbind())
}

/// Fused Adam/AdamW step over a parameter group (`steps`: step numbers after increment).
#[pyfunction]
#[pyo3(signature = (params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled))]
#[allow(clippy::too_many_arguments)]
pub fn _adam_step(
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    exp_avgs: &Bound<'_, PyAny>,
    exp_avg_sqs: &Bound<'_, PyAny>,
    max_exp_avg_sqs: &Bound<'_, PyAny>,
    steps: Vec<f64>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled: bool,
) -> PyResult<()> {
    let o = crate::ops::optim::AdamOptions {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        amsgrad,
        maximize,
        decoupled,
    };
    Ok(crate::ops::optim::adam_step(
        &tensors(params)?,
        &tensors(grads)?,
        &tensors(exp_avgs)?,
        &tensors(exp_avg_sqs)?,
        &tensors(max_exp_avg_sqs)?,
        &steps,
        &o,
    )?)
}

/// `_C._trace_start()`: turns on the engine's op-recording mode on this thread
/// (`rustorch.onnx.export` runs the model under it).
#[pyfunction]
pub fn _trace_start() {
    crate::ops::trace::start();
}

/// One recorded op as Python sees it: its name, its inputs and outputs as `(id, tensor)`
/// pairs, and its attributes.
type TracedPy<'py> = (
    &'static str,
    Vec<(usize, PyTensor)>,
    Vec<(usize, PyTensor)>,
    Bound<'py, PyDict>,
);

/// `_C._trace_stop()`: turns the recording off and returns the ops it recorded, in order.
#[pyfunction]
pub fn _trace_stop(py: Python<'_>) -> PyResult<Vec<TracedPy<'_>>> {
    use crate::ops::trace::{id, stop, Attr};
    let pair = |t: &Tensor| (id(t), PyTensor::new(t.clone()));
    stop()
        .into_iter()
        .map(|op| {
            let attrs = PyDict::new(py);
            for (k, v) in &op.attrs {
                match v {
                    Attr::Int(i) => attrs.set_item(k, i)?,
                    Attr::Ints(v) => attrs.set_item(k, v)?,
                    Attr::Float(f) => attrs.set_item(k, f)?,
                    Attr::Str(s) => attrs.set_item(k, s)?,
                    Attr::Bool(b) => attrs.set_item(k, b)?,
                }
            }
            Ok((
                op.op,
                op.inputs.iter().map(pair).collect(),
                op.outputs.iter().map(pair).collect(),
                attrs,
            ))
        })
        .collect()
}

/// `_C._trace_id(tensor)`: the tensor's identity in a trace.
#[pyfunction]
pub fn _trace_id(t: PyRef<'_, PyTensor>) -> usize {
    crate::ops::trace::id(&t.inner)
}
