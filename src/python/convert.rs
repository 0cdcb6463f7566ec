//! Python values to engine arguments and back: shapes, dims, dtypes, numbers, nested lists.

use super::tensor::PyTensor;
use crate::ops::index::IndexItem;
use crate::ops::{Operand, Scalar};
use crate::tensor::device::Device;
use crate::tensor::dtype::DType;
use crate::tensor::memory_format::MemoryFormat;
use crate::Tensor;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyEllipsis, PyFloat, PyInt, PyList, PyNone, PySlice, PyTuple};

/// The `rustorch.dtype` objects (`rustorch.float32`, …).
#[pyclass(name = "dtype", module = "rustorch", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyDType(pub DType);

/// `pub fn $name(py, value) -> Py<$class>`: the one Python object of each value of `$enum`
/// (every value in `$enum::ALL`, indexed by its discriminant), made on first use.
macro_rules! singletons {
    ($(#[$doc:meta])* $name:ident: $enum:ty => $class:ident) => {
        $(#[$doc])*
        pub fn $name(py: Python<'_>, value: $enum) -> Py<$class> {
            static OBJECTS: pyo3::sync::PyOnceLock<Vec<Py<$class>>> =
                pyo3::sync::PyOnceLock::new();
            let all = OBJECTS.get_or_init(py, || {
                <$enum>::ALL
                    .iter()
                    .map(|&v| Py::new(py, $class(v)).expect(stringify!($class)))
                    .collect()
            });
            all[value as usize].clone_ref(py)
        }
    };
}

singletons!(
    /// The one Python object of each dtype, so that `t.dtype is rustorch.float32` holds and
    /// a dtype pickles as the module global it is.
    dtype_object: DType => PyDType
);

#[pymethods]
impl PyDType {
    fn __repr__(&self) -> String {
        format!("rustorch.{}", self.0.name())
    }
    #[getter]
    fn is_floating_point(&self) -> bool {
        self.0.is_float()
    }
    #[getter]
    fn is_signed(&self) -> bool {
        !matches!(self.0, DType::U8 | DType::Bool)
    }
    #[getter]
    fn itemsize(&self) -> usize {
        self.0.size()
    }
    /// Pickles as its name, a global of the `rustorch` module (as PyTorch's dtypes do).
    fn __reduce__(&self) -> &'static str {
        self.0.name()
    }
    /// PyTorch's scalar type name (`"Float"`, `"Long"`), as its messages print dtypes.
    #[getter]
    fn _scalar_name(&self) -> &'static str {
        self.0.scalar_name()
    }
    /// PyTorch's legacy tensor type name (`"FloatTensor"`).
    #[getter]
    fn _legacy_name(&self) -> &'static str {
        self.0.legacy_name()
    }
}

/// The `rustorch.memory_format` objects (`rustorch.channels_last`, …).
#[pyclass(name = "memory_format", module = "rustorch", frozen, eq, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PyMemoryFormat(pub MemoryFormat);

singletons!(
    /// The one Python object of each memory format (so that `is` compares them, and they
    /// pickle as the module globals they are).
    memory_format_object: MemoryFormat => PyMemoryFormat
);

#[pymethods]
impl PyMemoryFormat {
    fn __repr__(&self) -> String {
        format!("rustorch.{}", self.0.name())
    }
    /// Pickles as its name, a global of the `rustorch` module (as PyTorch's do).
    fn __reduce__(&self) -> &'static str {
        self.0.name()
    }
}

/// The `memory_format=` argument of `fname`, `default` when absent or None; PyTorch's
/// `TypeError` for anything but a memory format.
pub fn memory_format_arg(
    obj: Option<&Bound<'_, PyAny>>,
    fname: &str,
    default: MemoryFormat,
) -> PyResult<MemoryFormat> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(default),
        Some(o) => o.cast::<PyMemoryFormat>().map(|f| f.get().0).map_err(|_| {
            PyTypeError::new_err(format!(
                "{fname}(): argument 'memory_format' must be torch.memory_format, not {}",
                o.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        }),
    }
}

/// A dtype argument: a `rustorch.dtype`, or Python's `float`/`int`/`bool` as PyTorch accepts.
pub fn dtype_arg(obj: &Bound<'_, PyAny>) -> PyResult<DType> {
    if let Ok(d) = obj.cast::<PyDType>() {
        return Ok(d.get().0);
    }
    let py = obj.py();
    if obj.is(py.get_type::<PyFloat>()) {
        return Ok(DType::F64);
    }
    if obj.is(py.get_type::<PyBool>()) {
        return Ok(DType::Bool);
    }
    if obj.is(py.get_type::<PyInt>()) {
        return Ok(DType::I64);
    }
    Err(PyTypeError::new_err(format!(
        "expected a dtype, got {}",
        obj.get_type().name()?
    )))
}

/// A device argument as PyTorch takes it: a `rustorch.device` (or anything with `type` and
/// `index`), a string (`"cpu"`, `"cuda"`, `"cuda:1"`), or an int (a CUDA ordinal).
pub fn device_arg(obj: &Bound<'_, PyAny>) -> PyResult<Device> {
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        let i: i64 = obj.extract()?;
        return usize::try_from(i).map(Device::Cuda).map_err(|_| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "Device index must not be negative, got {i}"
            ))
        });
    }
    if let Ok(text) = obj.extract::<String>() {
        return Ok(Device::parse(&text, crate::backend::current_cuda_device())?);
    }
    if let (Ok(kind), Ok(index)) = (obj.getattr("type"), obj.getattr("index")) {
        let kind: String = kind.extract()?;
        let text = match index.extract::<Option<usize>>()? {
            Some(i) => format!("{kind}:{i}"),
            None => kind,
        };
        return Ok(Device::parse(&text, crate::backend::current_cuda_device())?);
    }
    Err(PyTypeError::new_err(format!(
        "expected a device, got {}",
        obj.get_type().name()?
    )))
}

pub fn opt_device(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Device>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => device_arg(o).map(Some),
    }
}

/// `_C._parse_device("cuda:1")` → `("cuda", 1)`: the one parser behind `rustorch.device`.
#[pyfunction]
pub fn _parse_device(text: &str) -> PyResult<(&'static str, Option<usize>)> {
    let d = Device::parse(text, usize::MAX)?;
    // A bare "cuda" keeps no index, as `torch.device("cuda").index is None`.
    Ok(match d {
        Device::Cuda(usize::MAX) => ("cuda", None),
        d => (d.kind(), d.index()),
    })
}

pub fn opt_dtype(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DType>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => dtype_arg(o).map(Some),
    }
}

/// A Python number (not a tensor), or None.
pub fn scalar_arg(obj: &Bound<'_, PyAny>) -> Option<Scalar> {
    if obj.is_instance_of::<PyBool>() {
        return obj.extract::<bool>().ok().map(Scalar::Bool);
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().ok().map(Scalar::Int);
    }
    if obj.is_instance_of::<PyFloat>() {
        return obj.extract::<f64>().ok().map(Scalar::Float);
    }
    // NumPy scalars and other numbers: ints first (so int64 stays integral), then floats.
    if obj.hasattr("__index__").unwrap_or(false)
        && !obj.hasattr("shape").map(|_| false).unwrap_or(false)
    {
        if let Ok(i) = obj
            .call_method0("__index__")
            .and_then(|v| v.extract::<i64>())
        {
            return Some(Scalar::Int(i));
        }
    }
    if obj.hasattr("__float__").unwrap_or(false) && obj.cast::<PyTensor>().is_err() {
        if let Ok(f) = obj
            .call_method0("__float__")
            .and_then(|v| v.extract::<f64>())
        {
            return Some(Scalar::Float(f));
        }
    }
    None
}

/// The other side of a binary op: a tensor or a Python number.
pub fn operand(obj: &Bound<'_, PyAny>) -> PyResult<Operand> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(Operand::Tensor(t.get().inner.clone()));
    }
    if let Some(s) = scalar_arg(obj) {
        return Ok(Operand::Scalar(s));
    }
    Err(PyTypeError::new_err(format!(
        "unsupported operand type: expected Tensor or number, got {}",
        obj.get_type().name()?
    )))
}

/// PyTorch's `TypeError` for a method called without its varargs (`x.permute()`).
pub fn require_args(args: &Bound<'_, PyTuple>, method: &str, arg: &str) -> PyResult<()> {
    if args.is_empty() {
        return Err(PyTypeError::new_err(format!(
            "{method}() missing 1 required positional arguments: \"{arg}\""
        )));
    }
    Ok(())
}

pub fn tensor_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Tensor> {
    obj.cast::<PyTensor>()
        .map(|t| t.get().inner.clone())
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{what}: expected Tensor as argument, but got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })
}

/// A tensor, or anything `tensor()` accepts (for arguments PyTorch also converts).
pub fn tensor_like(obj: &Bound<'_, PyAny>) -> PyResult<Tensor> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        return Ok(t.get().inner.clone());
    }
    data_to_tensor(obj, None)
}

fn int_of(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<PyFloat>() {
        return Err(PyTypeError::new_err(format!(
            "expected int, got {}",
            obj.get_type().name()?
        )));
    }
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = &t.get().inner;
        if t.numel() == 1 && !t.dtype().is_float() {
            return Ok(t.to_vec::<i64>()?[0]);
        }
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        // An int beyond int64: PyTorch's message for it.
        return i
            .extract::<i64>()
            .map_err(|_| PyValueError::new_err("Overflow when unpacking long long"));
    }
    obj.call_method0("__index__")
        .and_then(|v| v.extract::<i64>())
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "expected int, got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })
}

/// `*size` arguments: ints as varargs, or one tuple/list/Size.
pub fn shape_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<i64>> {
    if args.len() == 1 {
        let a = args.get_item(0)?;
        if a.cast::<PyTuple>().is_ok() || a.cast::<PyList>().is_ok() {
            return int_list(&a);
        }
    }
    args.iter()
        .enumerate()
        .map(|(i, a)| size_of(&a, i))
        .collect()
}

/// Item `i` of a size: an int, or PyTorch's `TypeError` for one beyond int64.
fn size_of(obj: &Bound<'_, PyAny>, i: usize) -> PyResult<i64> {
    int_of(obj).map_err(|e| {
        if obj.is_instance_of::<PyInt>() && e.is_instance_of::<PyValueError>(obj.py()) {
            PyTypeError::new_err(format!(
                "argument 'size' failed to unpack the object at pos {} with error \"Overflow when unpacking long long\"",
                i + 1
            ))
        } else {
            e
        }
    })
}

pub fn int_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if obj.cast::<PyTuple>().is_ok() || obj.cast::<PyList>().is_ok() {
        return obj
            .try_iter()?
            .enumerate()
            .map(|(i, a)| size_of(&a?, i))
            .collect();
    }
    Ok(vec![size_of(obj, 0)?])
}

/// Sizes, rejecting negatives as PyTorch does for creation functions.
pub fn size_args(args: &Bound<'_, PyTuple>) -> PyResult<Vec<usize>> {
    sizes_from(shape_args(args)?)
}
pub fn sizes_from(s: Vec<i64>) -> PyResult<Vec<usize>> {
    s.into_iter()
        .map(|v| {
            if v < 0 {
                Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "Trying to create tensor with negative dimension {v}: {v}"
                )))
            } else {
                Ok(v as usize)
            }
        })
        .collect()
}

/// One dimension: an int (or an object with `__index__`), never a bool, which PyTorch's
/// argument parser refuses for a dimension (`x.sum(True)` is a `TypeError` there).
fn dim_of(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("dim must be int, not bool"));
    }
    int_of(obj)
}

/// A dimension argument of a binding (see [`dim_of`]).
#[derive(Clone, Copy, Debug)]
pub struct Dim(pub i64);

impl<'a, 'py> FromPyObject<'a, 'py> for Dim {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        dim_of(&obj).map(Dim)
    }
}

/// `dim` arguments: None, an int, or a tuple/list of ints; not a bool, nor one first in
/// the tuple (PyTorch's parser checks the first item's type: "must be tuple of ints, but
/// found element of type bool at pos 0"; later bools are 0 and 1 there).
pub fn dims_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i64>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) if o.cast::<PyTuple>().is_ok() || o.cast::<PyList>().is_ok() => o
            .try_iter()?
            .enumerate()
            .map(|(i, a)| {
                let a = a?;
                if i == 0 && a.is_instance_of::<PyBool>() {
                    return Err(PyTypeError::new_err(
                        "argument 'dim' must be tuple of ints, but found element of type bool at pos 0",
                    ));
                }
                int_of(&a)
            })
            .collect::<PyResult<Vec<i64>>>()
            .map(Some),
        Some(o) => Ok(Some(vec![dim_of(o)?])),
    }
}

/// One `x[...]` subscript to index items.
pub fn index_items(obj: &Bound<'_, PyAny>) -> PyResult<Vec<IndexItem>> {
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|o| index_item(&o)).collect();
    }
    if let Ok(l) = obj.cast::<PyList>() {
        if list_is_tuple(l) {
            let py = obj.py();
            let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
            PyErr::warn(
                py,
                &category,
                c"Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted as tensor index, x[torch.tensor(seq)], which will result either in an error or a different result",
                1,
            )?;
            return l.iter().map(|o| index_item(&o)).collect();
        }
    }
    Ok(vec![index_item(obj)?])
}

/// PyTorch's `treatSequenceAsTuple` for a list subscript: shorter than 32 and holding a
/// tensor, a sequence, a slice, `...` or `None`, it is the tuple of its items (`x[[[0, 1],
/// [1, 0]]]` is `x[[0, 1], [1, 0]]`, as PyTorch up to 2.13 does, with its deprecation
/// warning); otherwise one index tensor.
fn list_is_tuple(l: &Bound<'_, PyList>) -> bool {
    l.len() < 32
        && l.iter().any(|o| {
            o.cast::<PyTensor>().is_ok()
                || o.cast::<PyList>().is_ok()
                || o.cast::<PyTuple>().is_ok()
                || o.cast::<PySlice>().is_ok()
                || o.is_instance_of::<PyEllipsis>()
                || o.is_none()
        })
}

fn opt_int(o: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    if o.is_none() {
        Ok(None)
    } else {
        int_of(o).map(Some)
    }
}

fn index_item(o: &Bound<'_, PyAny>) -> PyResult<IndexItem> {
    if o.is_instance_of::<PyNone>() {
        return Ok(IndexItem::NewAxis);
    }
    if o.is_instance_of::<PyEllipsis>() {
        return Ok(IndexItem::Ellipsis);
    }
    if let Ok(s) = o.cast::<PySlice>() {
        let step = opt_int(&s.getattr("step")?)?.unwrap_or(1);
        if step <= 0 {
            return Err(PyValueError::new_err("step must be greater than zero"));
        }
        return Ok(IndexItem::Slice(
            opt_int(&s.getattr("start")?)?,
            opt_int(&s.getattr("stop")?)?,
            step,
        ));
    }
    if let Ok(t) = o.cast::<PyTensor>() {
        let t = t.get().inner.clone();
        if t.dim() == 0 && !t.dtype().is_float() && t.dtype() != DType::Bool {
            return Ok(IndexItem::Int(t.to_vec::<i64>()?[0]));
        }
        return Ok(IndexItem::Tensor(t));
    }
    if o.is_instance_of::<PyBool>() {
        return Ok(IndexItem::Tensor(Tensor::scalar(o.extract::<bool>()?)));
    }
    if o.is_instance_of::<PyInt>() || (o.hasattr("__index__")? && !o.hasattr("shape")?) {
        return Ok(IndexItem::Int(int_of(o)?));
    }
    if o.cast::<PyList>().is_ok() || o.hasattr("__array_interface__")? || o.hasattr("shape")? {
        let t = data_to_tensor(o, None)?;
        if t.dtype().is_float() {
            return Err(pyo3::exceptions::PyIndexError::new_err(
                "tensors used as indices must be long, int, byte or bool tensors",
            ));
        }
        return Ok(IndexItem::Tensor(t));
    }
    Err(pyo3::exceptions::PyIndexError::new_err(format!(
        "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {})",
        o.get_type().name()?
    )))
}

/// Nested Python data, flattened with its shape and the dtype PyTorch would infer.
struct Flat {
    shape: Vec<usize>,
    values: Vec<f64>,
    ints: Vec<i64>,
    kind: DType,
}

/// PyTorch's bound on the nesting of `tensor()` data (deeper raises, rather than recursing
/// until the stack overflows).
const MAX_NESTING: usize = 128;

fn flatten(obj: &Bound<'_, PyAny>, depth: usize, out: &mut Flat) -> PyResult<()> {
    let is_seq = obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok();
    if is_seq && depth >= MAX_NESTING {
        return Err(PyValueError::new_err(format!(
            "too many dimensions '{}'",
            obj.get_type().name()?
        )));
    }
    if is_seq {
        let n = obj.len()?;
        if out.shape.len() == depth {
            out.shape.push(n);
        } else if out.shape.len() <= depth || out.shape[depth] != n {
            return Err(PyValueError::new_err(format!(
                "expected sequence of length {} at dim {} (got {})",
                out.shape.get(depth).copied().unwrap_or(0),
                depth,
                n
            )));
        }
        for item in obj.try_iter()? {
            flatten(&item?, depth + 1, out)?;
        }
        return Ok(());
    }
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = &t.get().inner;
        return flatten_tensor(t, depth, out);
    }
    if obj.hasattr("__array_interface__")? && !obj.hasattr("__float__")?
        || obj.hasattr("shape")? && obj.hasattr("dtype")? && obj.getattr("shape")?.len()? > 0
    {
        let t = super::numpy::from_array(obj)?;
        return flatten_tensor(&t, depth, out);
    }
    if out.shape.len() > depth {
        return Err(PyValueError::new_err(format!(
            "expected sequence of length {} at dim {} (got a number)",
            out.shape[depth], depth
        )));
    }
    if !out.values.is_empty() && out.shape.len() != depth {
        return Err(PyValueError::new_err("inconsistent nesting of sequences"));
    }
    let kind = if obj.is_instance_of::<PyBool>() || obj.get_type().name()? == "bool_" {
        DType::Bool
    } else if obj.is_instance_of::<PyFloat>() {
        DType::default_float()
    } else {
        match scalar_arg(obj) {
            Some(Scalar::Int(_)) => DType::I64,
            Some(Scalar::Float(_)) => DType::default_float(),
            Some(Scalar::Bool(_)) => DType::Bool,
            None => {
                return Err(PyTypeError::new_err(format!(
                    "new(): invalid data type '{}'",
                    obj.get_type().name()?
                )))
            }
        }
    };
    out.kind = out.kind.max(kind);
    match scalar_arg(obj) {
        Some(Scalar::Int(i)) => {
            out.ints.push(i);
            out.values.push(i as f64);
        }
        Some(s) => {
            out.ints.push(s.to_f64() as i64);
            out.values.push(s.to_f64());
        }
        None => unreachable!(),
    }
    Ok(())
}

fn flatten_tensor(t: &Tensor, depth: usize, out: &mut Flat) -> PyResult<()> {
    if out.shape.len() == depth {
        out.shape.extend_from_slice(t.shape());
    } else if out.shape[depth..] != *t.shape() {
        return Err(PyValueError::new_err(
            "expected tensors of equal shape in sequence",
        ));
    }
    out.kind = out.kind.max(t.dtype());
    out.ints.extend(t.to_vec::<i64>()?);
    out.values.extend(t.to_vec::<f64>()?);
    Ok(())
}

/// `tensor(data, dtype)`: nested lists, numbers, NumPy arrays, tensors.
pub fn data_to_tensor(obj: &Bound<'_, PyAny>, dtype: Option<DType>) -> PyResult<Tensor> {
    if let Ok(t) = obj.cast::<PyTensor>() {
        let t = t.get().inner.detach();
        return Ok(t
            .to_dtype_raw(dtype.unwrap_or(t.dtype()))?
            .contiguous_copy()?);
    }
    if obj.hasattr("__array_interface__")?
        && obj.cast::<PyList>().is_err()
        && !obj.is_instance_of::<PyFloat>()
        && !obj.is_instance_of::<PyInt>()
    {
        let t = super::numpy::from_array(obj)?;
        let t = t.contiguous_copy()?;
        return Ok(match dtype {
            Some(d) => t.to_dtype_raw(d)?,
            None => t,
        });
    }
    let mut flat = Flat {
        shape: vec![],
        values: vec![],
        ints: vec![],
        kind: DType::Bool,
    };
    flatten(obj, 0, &mut flat)?;
    let kind = if flat.values.is_empty() && flat.kind == DType::Bool {
        DType::default_float()
    } else {
        flat.kind
    };
    // Inferred floats are the default dtype; inferred ints int64.
    let inferred = match kind {
        DType::F64 | DType::F32 if obj.cast::<PyTensor>().is_err() && flat_has_only_python(obj) => {
            DType::default_float()
        }
        k => k,
    };
    let target = dtype.unwrap_or(inferred);
    check_int_range(&flat, kind.is_float(), target)?;
    let t = if kind.is_float() || target.is_float() {
        Tensor::from_vec(flat.values, &flat.shape).to_dtype_raw(target)
    } else {
        Tensor::from_vec(flat.ints, &flat.shape).to_dtype_raw(target)
    };
    Ok(t?)
}

/// PyTorch's check of Python numbers written into an integer tensor ([`Scalar::overflows`],
/// with the dtype's Python name in the message); floats into float types saturate to
/// infinity instead, as there.
fn check_int_range(flat: &Flat, floats: bool, target: DType) -> PyResult<()> {
    if target.is_float() {
        return Ok(());
    }
    let over = if floats {
        flat.values
            .iter()
            .any(|&v| Scalar::Float(v).overflows(target))
    } else {
        flat.ints.iter().any(|&i| Scalar::Int(i).overflows(target))
    };
    if !over {
        return Ok(());
    }
    Err(PyRuntimeError::new_err(format!(
        "value cannot be converted to type {} without overflow",
        target.name()
    )))
}

/// Whether nested data is plain Python numbers (whose floats default to float32).
fn flat_has_only_python(obj: &Bound<'_, PyAny>) -> bool {
    if let Ok(l) = obj.cast::<PyList>() {
        return l
            .iter()
            .next()
            .map(|o| flat_has_only_python(&o))
            .unwrap_or(true);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t
            .iter()
            .next()
            .map(|o| flat_has_only_python(&o))
            .unwrap_or(true);
    }
    obj.cast::<PyTensor>().is_err()
}
