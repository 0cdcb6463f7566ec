"""PyTorch's legacy tensor API, which old tutorials are full of.

``torch.FloatTensor(2, 3)`` and the other typed classes, ``torch.cuda.FloatTensor``,
``torch.autograd.Variable``, ``torch.set_default_tensor_type`` and ``Tensor.storage()``.
The constructors are Rust's (``_C._legacy_new``, the same as ``torch.Tensor(...)`` and
``Tensor.new``); this module gives them PyTorch's class objects.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator

from . import _C
from ._C import Tensor

# (class name, dtype name): the legacy classes of the dtypes rustorch has.
_TYPES = (
    ("FloatTensor", "float32"),
    ("DoubleTensor", "float64"),
    ("HalfTensor", "float16"),
    ("BFloat16Tensor", "bfloat16"),
    ("LongTensor", "int64"),
    ("IntTensor", "int32"),
    ("ShortTensor", "int16"),
    ("CharTensor", "int8"),
    ("ByteTensor", "uint8"),
    ("BoolTensor", "bool"),
)


class _TensorType(type):
    """The metaclass of the legacy classes (PyTorch's ``torch.tensortype``): calling a class
    runs the legacy constructor for its dtype and device, and ``isinstance(t, cls)`` holds
    for tensors of that dtype on that kind of device."""

    dtype: Any
    is_cuda: bool

    def __call__(cls, *args: Any, device: Any = None) -> Tensor:  # type: ignore[override]
        if device is None:
            device = "cuda" if cls.is_cuda else "cpu"
        return _C._legacy_new(cls.dtype, device, *args)

    def __instancecheck__(cls, obj: Any) -> bool:
        return (
            isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.is_cuda == cls.is_cuda
        )

    def __repr__(cls) -> str:
        prefix = "torch.cuda." if cls.is_cuda else "torch."
        return f"<class '{prefix}{cls.__name__}'>"


def _tensor_types(is_cuda: bool) -> dict[str, _TensorType]:
    module = "rustorch.cuda" if is_cuda else "rustorch"
    return {
        name: _TensorType(
            name,
            (),
            {"dtype": getattr(_C, dt), "is_cuda": is_cuda, "__module__": module,
             "__doc__": f"Legacy ``{module}.{name}``: ``{name}(*sizes)`` or ``{name}(data)``."},
        )
        for name, dt in _TYPES
    }


CPU_TYPES = _tensor_types(False)
CUDA_TYPES = _tensor_types(True)


def set_default_tensor_type(t: Any) -> None:
    """``torch.set_default_tensor_type``: a legacy class or its name
    (``"torch.cuda.FloatTensor"``) sets the default dtype and device together. Deprecated in
    PyTorch 2.1 and warns as it does; only floating-point types are accepted."""
    warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
        "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    if isinstance(t, str):
        name = t.removeprefix("torch.")
        is_cuda = name.startswith("cuda.")
        cls = (CUDA_TYPES if is_cuda else CPU_TYPES).get(name.removeprefix("cuda."))
        if cls is None:
            raise TypeError(f"invalid type: '{t}'")
        t = cls
    if not isinstance(t, _TensorType):
        raise TypeError(f"invalid type: '{t!r}'")
    _C._set_default_dtype(t.dtype)
    _C._set_default_device("cuda" if t.is_cuda else "cpu")


class _VariableMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """``torch.autograd.Variable(data, requires_grad=False, volatile=False)``: since PyTorch
    0.4 every tensor is a Variable; this returns a new leaf tensor sharing ``data``'s memory,
    and ``isinstance(t, Variable)`` holds for every tensor. ``volatile`` has no effect and
    warns, as in PyTorch (use ``torch.no_grad()``)."""

    def __new__(  # type: ignore[misc]
        cls, data: Any = None, requires_grad: bool = False, volatile: bool = False
    ) -> Tensor:
        if volatile:
            warnings.warn(
                "volatile was removed and now has no effect. Use `with torch.no_grad():` "
                "instead.",
                UserWarning,
                stacklevel=2,
            )
        if data is None:
            data = _C.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Variable data has to be a tensor, but got {type(data).__name__}"
            )
        return data.detach().requires_grad_(requires_grad)


class TypedStorage:
    """``Tensor.storage()``: the whole one-dimensional memory under a tensor, from element 0
    (a view that shares it: writes show through). PyTorch warns that ``TypedStorage`` is
    deprecated; this one does not."""

    def __init__(self, tensor: Tensor) -> None:
        n = tensor._storage_numel()
        self._flat = tensor.detach().as_strided((n,), (1,), 0)

    @property
    def dtype(self) -> Any:
        return self._flat.dtype

    @property
    def device(self) -> Any:
        return self._flat.device

    @property
    def is_cuda(self) -> bool:
        return self._flat.is_cuda

    def size(self) -> int:
        return self._flat.numel()

    def __len__(self) -> int:
        return self._flat.numel()

    def element_size(self) -> int:
        return self._flat.element_size()

    def nbytes(self) -> int:
        return self._flat.numel() * self._flat.element_size()

    def data_ptr(self) -> int:
        return self._flat.data_ptr()

    def tolist(self) -> list[Any]:
        return self._flat.tolist()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.tolist())

    def __getitem__(self, idx: Any) -> Any:
        out = self._flat[idx]
        return out.item() if out.dim() == 0 else TypedStorage(out.contiguous())

    def __setitem__(self, idx: Any, value: Any) -> None:
        self._flat[idx] = value

    def fill_(self, value: Any) -> TypedStorage:
        self._flat.fill_(value)
        return self

    def copy_(self, source: Any) -> TypedStorage:
        self._flat.copy_(source._flat if isinstance(source, TypedStorage) else source)
        return self

    def clone(self) -> TypedStorage:
        return TypedStorage(self._flat.clone())

    def cpu(self) -> TypedStorage:
        return self if not self.is_cuda else TypedStorage(self._flat.cpu())

    def untyped(self) -> UntypedStorage:
        return UntypedStorage(self._flat)

    def __repr__(self) -> str:
        body = "\n".join(f" {v}" for v in self.tolist())
        head = f"[rustorch.storage.TypedStorage(dtype={self.dtype}, device={self.device}) "
        return f"{body}\n{head}of size {len(self)}]"


class UntypedStorage:
    """``Tensor.untyped_storage()``: the memory under a tensor in bytes. It reports its size
    (``nbytes``, ``len``), address and device; reading bytes of a non-``uint8`` tensor would
    reinterpret its memory, which rustorch does not do, so indexing is left out."""

    def __init__(self, tensor: Tensor) -> None:
        self._typed = TypedStorage(tensor)

    @property
    def device(self) -> Any:
        return self._typed.device

    def nbytes(self) -> int:
        return self._typed.nbytes()

    def size(self) -> int:
        return self._typed.nbytes()

    def __len__(self) -> int:
        return self._typed.nbytes()

    def data_ptr(self) -> int:
        return self._typed.data_ptr()

    def element_size(self) -> int:
        return 1


def _storage(self: Tensor) -> TypedStorage:
    """``Tensor.storage()``: see ``TypedStorage``."""
    return TypedStorage(self)


def _untyped_storage(self: Tensor) -> UntypedStorage:
    """``Tensor.untyped_storage()``: see ``UntypedStorage``."""
    return UntypedStorage(self)


Tensor.storage = _storage  # type: ignore[attr-defined]
Tensor.untyped_storage = _untyped_storage  # type: ignore[attr-defined]
