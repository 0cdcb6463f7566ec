"""``nn.Parameter``, ``nn.Buffer`` and the uninitialised (lazy) kinds, matching
``torch.nn.parameter``."""

from __future__ import annotations

import weakref
from typing import Any, Optional

import rustorch
from rustorch import Tensor

__all__ = [
    "Parameter",
    "Buffer",
    "UninitializedParameter",
    "UninitializedBuffer",
    "is_lazy",
]


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    """Unpickling helper: ``Parameter(data, requires_grad)`` (``torch._utils``' counterpart)."""
    return Parameter(data, requires_grad)


def _plain(t: Tensor) -> Tensor:
    """A detached tensor sharing ``t``'s data whose type is the base ``Tensor`` class."""
    out = Tensor.detach(t)
    if type(out) is not Tensor:
        out = Tensor._make_subclass(Tensor, out, False)
    return out


class Parameter(Tensor):
    r"""A kind of Tensor that is to be considered a module parameter.

    Parameters are :class:`~rustorch.Tensor` subclasses that have a very special property
    when used with :class:`Module` s: when they are assigned as Module attributes they are
    automatically added to the list of its parameters, and will appear e.g. in the
    :meth:`~Module.parameters` iterator. Assigning a plain Tensor doesn't have such effect.

    Matches ``torch.nn.Parameter``: the new parameter shares ``data``'s storage, is detached
    from any graph (a leaf) and has ``requires_grad=True`` unless told otherwise; its repr is
    ``'Parameter containing:\n' + repr(tensor)``; it pickles and deep-copies as a parameter.

    Args:
        data (Tensor): parameter tensor (an empty tensor when ``None``).
        requires_grad (bool, optional): if the parameter requires gradient. Default: ``True``
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = rustorch.empty(0)
        return Tensor._make_subclass(cls, data, requires_grad)

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(_plain(self).clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __repr__(self) -> str:
        # print the data as a plain tensor (``tensor(...)``) with this parameter's flag
        alias = Tensor._make_subclass(Tensor, self, self.requires_grad)
        return "Parameter containing:\n" + Tensor.__repr__(alias)

    def __reduce_ex__(self, proto: Any) -> tuple:
        # The data travels as a plain tensor (the core pickles those), so loading never needs
        # more than this module's ``_rebuild_parameter``.
        return (_rebuild_parameter, (_plain(self), self.requires_grad))


class Buffer:
    r"""A marker for a tensor that should be registered as a module buffer.

    ``module.x = nn.Buffer(t, persistent=False)`` is ``module.register_buffer('x', t,
    persistent=False)``, as in ``torch.nn.Buffer``. Unlike PyTorch (where ``Buffer`` is a
    Tensor subclass) this is a thin holder: assigning it stores the wrapped tensor itself.
    """

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        if data is None:
            data = rustorch.empty(0)
        self.data = data
        self.persistent = persistent


# ---------------------------------------------------------------------------- lazy

_UNINIT_SHAPE_MSG = (
    "Can't access the shape of an uninitialized parameter or buffer. "
    "This error usually happens in `load_state_dict` when trying to load "
    "an uninitialized parameter into an initialized one. "
    "Call `forward` to initialize the parameters before accessing their attributes."
)


class UninitializedTensorMixin:
    r"""What :class:`UninitializedParameter` and :class:`UninitializedBuffer` share
    (``torch.nn.parameter.UninitializedTensorMixin``).

    The placeholder holds an empty tensor carrying the dtype, device and ``requires_grad``
    the materialised tensor will get; :meth:`materialize` creates it.

    Difference from PyTorch: rustorch tensors cannot change their storage or shape in place
    (``Tensor.data`` cannot be assigned), so :meth:`materialize` cannot turn *this object*
    into the materialised tensor as PyTorch does. Instead it creates a new
    :class:`Parameter` (or plain tensor for buffers), puts it in every module that holds the
    placeholder (modules register themselves as holders), and records it as the
    placeholder's successor; optimizers replace a materialised placeholder in their
    ``param_groups`` by its successor before each ``step`` / ``zero_grad`` /
    ``state_dict``. So code that reads ``module.weight`` and optimizers created before the
    first forward behave as in PyTorch; only a reference to the placeholder kept elsewhere
    stays the (still uninitialised) placeholder.
    """

    cls_to_become: Any = None

    def _lazy_init(self) -> None:
        self.__dict__["_lazy_holders"] = []
        self.__dict__["_lazy_successor"] = None

    def _add_holder(self, module: Any, name: str, kind: str) -> None:
        """Record that ``module._parameters[name]`` (``kind='p'``) or ``module._buffers[name]``
        (``kind='b'``) holds this placeholder, so :meth:`materialize` can replace it there."""
        holders = self.__dict__.setdefault("_lazy_holders", [])
        holders.append((weakref.ref(module), name, kind))

    def _replace_in_holders(self, new: Tensor) -> None:
        self.__dict__["_lazy_successor"] = new
        for ref, name, kind in self.__dict__.get("_lazy_holders", []):
            module = ref()
            if module is None:
                continue
            store = module.__dict__.get("_parameters" if kind == "p" else "_buffers")
            if store is not None and store.get(name) is self:
                store[name] = new
                if isinstance(new, UninitializedTensorMixin):
                    new._add_holder(module, name, kind)

    def _resolved(self) -> Tensor:
        """The tensor that replaced this placeholder (following the chain), or ``self``."""
        out: Any = self
        while isinstance(out, UninitializedTensorMixin):
            nxt = out.__dict__.get("_lazy_successor")
            if nxt is None:
                break
            out = nxt
        return out

    def _make_materialized(self, data: Tensor) -> Tensor:
        raise NotImplementedError

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        r"""Create a Parameter or Tensor with the same properties of the uninitialized one.

        Given a shape, it materializes a tensor on the same device and with the same
        ``dtype`` as the current one, or the given ones. The new (uninitialised-memory)
        tensor replaces this placeholder in the modules that hold it (see the class notes).

        Args:
            shape (tuple): the shape for the materialized tensor.
            device: the desired device of the parameters and buffers in this module.
            dtype: the desired floating point type of the floating point parameters and
                buffers in this module.
        """
        base = Tensor.detach(self)
        if device is None:
            device = base.device
        if dtype is None:
            dtype = base.dtype
        if isinstance(shape, int):
            shape = (shape,)
        data = rustorch.empty(tuple(shape), device=device, dtype=dtype)
        self._replace_in_holders(self._make_materialized(data))

    def _converted(self, data: Tensor) -> Tensor:
        """A placeholder like this one whose dtype/device are ``data``'s (``Module._apply``)."""
        raise NotImplementedError

    @property
    def shape(self) -> Any:
        raise RuntimeError(_UNINIT_SHAPE_MSG)

    def share_memory_(self) -> Any:
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. "
            "Call `forward` to initialize the parameters before calling "
            "`module.share_memory()`."
        )

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"

    def __reduce_ex__(self, proto: Any) -> tuple:
        return (self.__class__, (self.requires_grad,))  # type: ignore[attr-defined]


def is_lazy(param: Any) -> bool:
    """Return whether ``param`` is an ``UninitializedParameter`` or ``UninitializedBuffer``."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    r"""A parameter that is not initialized (``torch.nn.parameter.UninitializedParameter``).

    Uninitialized Parameters are a special case of :class:`Parameter` where the shape of the
    data is still unknown: its ``shape`` raises, its repr is ``<UninitializedParameter>``,
    and :meth:`materialize` gives it a shape (see :class:`UninitializedTensorMixin` for how
    rustorch does that without changing the object in place). The default device or dtype
    used at materialisation can be set at construction (``device=``, ``dtype=``).
    """

    cls_to_become = Parameter

    def __new__(
        cls, requires_grad: bool = True, device: Any = None, dtype: Any = None
    ) -> UninitializedParameter:
        kwargs: dict[str, Any] = {}
        if device is not None:
            kwargs["device"] = device
        if dtype is not None:
            kwargs["dtype"] = dtype
        data = rustorch.empty(0, **kwargs)
        out = Tensor._make_subclass(cls, data, requires_grad)
        out._lazy_init()
        return out

    def _make_materialized(self, data: Tensor) -> Tensor:
        return Parameter(data, self.requires_grad)

    def _converted(self, data: Tensor) -> Tensor:
        return type(self)(self.requires_grad, data.device, data.dtype)

    def __deepcopy__(self, memo: dict) -> UninitializedParameter:
        if id(self) in memo:
            return memo[id(self)]
        base = Tensor.detach(self)
        result = type(self)(self.requires_grad, base.device, base.dtype)
        memo[id(self)] = result
        return result


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    r"""A buffer that is not initialized (``torch.nn.parameter.UninitializedBuffer``).

    The buffer counterpart of :class:`UninitializedParameter`: materialises to a plain tensor
    (``requires_grad=False`` by default); ``persistent`` says whether it is saved in
    ``state_dict`` when assigned to a module attribute.
    """

    cls_to_become = Tensor

    def __new__(
        cls,
        requires_grad: bool = False,
        device: Any = None,
        dtype: Any = None,
        persistent: bool = True,
    ) -> UninitializedBuffer:
        kwargs: dict[str, Any] = {}
        if device is not None:
            kwargs["device"] = device
        if dtype is not None:
            kwargs["dtype"] = dtype
        data = rustorch.empty(0, **kwargs)
        out = Tensor._make_subclass(cls, data, requires_grad)
        out._lazy_init()
        out.__dict__["persistent"] = persistent
        out.__dict__["_is_buffer"] = True
        return out

    def _make_materialized(self, data: Tensor) -> Tensor:
        return data.requires_grad_(self.requires_grad) if self.requires_grad else data

    def _converted(self, data: Tensor) -> Tensor:
        return type(self)(
            self.requires_grad, data.device, data.dtype, self.__dict__.get("persistent", True)
        )

    def __deepcopy__(self, memo: dict) -> UninitializedBuffer:
        if id(self) in memo:
            return memo[id(self)]
        base = Tensor.detach(self)
        result = type(self)(
            self.requires_grad, base.device, base.dtype, self.__dict__.get("persistent", True)
        )
        memo[id(self)] = result
        return result


def _resolve(t: Optional[Tensor]) -> Optional[Tensor]:
    """``t``, or what replaced it if it is a materialised placeholder."""
    if isinstance(t, UninitializedTensorMixin):
        return t._resolved()
    return t
