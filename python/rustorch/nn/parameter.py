"""``nn.Parameter`` and ``nn.Buffer``, matching ``torch.nn.parameter``."""

from __future__ import annotations

from typing import Any

import rustorch
from rustorch import Tensor

__all__ = ["Parameter", "Buffer"]


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
