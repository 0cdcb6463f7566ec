"""Padding layers, matching ``torch.nn.modules.padding``.

Each module stores ``padding`` as the tuple PyTorch stores (``(left, right)`` for 1d,
``(left, right, top, bottom)`` for 2d, six values for 3d) and calls ``F.pad`` with it, so
values, gradients, ``repr`` and errors are ``F.pad``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module
from .utils import _ntuple, _pair, _quadruple

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]

_size_2_t = Union[int, tuple[int, int]]
_size_4_t = Union[int, tuple[int, int, int, int]]
_size_6_t = Union[int, tuple[int, int, int, int, int, int]]


class _CircularPadNd(Module):
    __constants__ = ["padding"]
    padding: Sequence[int]

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        """Pad ``input`` circularly."""
        self._check_input_dim(input)
        return F.pad(input, self.padding, "circular")

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"{self.padding}"


class CircularPad1d(_CircularPadNd):
    r"""Pad the last dim circularly (``torch.nn.CircularPad1d``); input ``(C, W)`` or
    ``(N, C, W)``.

    Args:
        padding: an int for both sides, or ``(left, right)``
    """

    padding: tuple[int, int]

    def __init__(self, padding: _size_2_t) -> None:
        super().__init__()
        self.padding = _pair(padding)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class CircularPad2d(_CircularPadNd):
    r"""Pad the last two dims circularly (``torch.nn.CircularPad2d``); input ``(C, H, W)`` or
    ``(N, C, H, W)``.

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom)``
    """

    padding: tuple[int, int, int, int]

    def __init__(self, padding: _size_4_t) -> None:
        super().__init__()
        self.padding = _quadruple(padding)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 3 and input.dim() != 4:
            raise ValueError(f"expected 3D or 4D input (got {input.dim()}D input)")


class CircularPad3d(_CircularPadNd):
    r"""Pad the last three dims circularly (``torch.nn.CircularPad3d``); input
    ``(C, D, H, W)`` or ``(N, C, D, H, W)``.

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom, front, back)``
    """

    padding: tuple[int, int, int, int, int, int]

    def __init__(self, padding: _size_6_t) -> None:
        super().__init__()
        self.padding = _ntuple(6)(padding)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4 and input.dim() != 5:
            raise ValueError(f"expected 4D or 5D input (got {input.dim()}D input)")


class _ConstantPadNd(Module):
    __constants__ = ["padding", "value"]
    value: float
    padding: Sequence[int]

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        """Pad ``input`` with ``value``."""
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    r"""Pad the last dim with a constant (``torch.nn.ConstantPad1d``); negative amounts crop.

    Args:
        padding: an int for both sides, or ``(left, right)``
        value: the fill value
    """

    padding: tuple[int, int]

    def __init__(self, padding: _size_2_t, value: float) -> None:
        super().__init__(value)
        self.padding = _pair(padding)


class ConstantPad2d(_ConstantPadNd):
    r"""Pad the last two dims with a constant (``torch.nn.ConstantPad2d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom)``
        value: the fill value
    """

    __constants__ = ["padding", "value"]
    padding: tuple[int, int, int, int]

    def __init__(self, padding: _size_4_t, value: float) -> None:
        super().__init__(value)
        self.padding = _quadruple(padding)


class ConstantPad3d(_ConstantPadNd):
    r"""Pad the last three dims with a constant (``torch.nn.ConstantPad3d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom, front, back)``
        value: the fill value
    """

    padding: tuple[int, int, int, int, int, int]

    def __init__(self, padding: _size_6_t, value: float) -> None:
        super().__init__(value)
        self.padding = _ntuple(6)(padding)


class _ReflectionPadNd(Module):
    __constants__ = ["padding"]
    padding: Sequence[int]

    def forward(self, input: Tensor) -> Tensor:
        """Pad ``input`` with its reflection (the edge not repeated)."""
        return F.pad(input, self.padding, "reflect")

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"{self.padding}"


class ReflectionPad1d(_ReflectionPadNd):
    r"""Pad the last dim with its reflection (``torch.nn.ReflectionPad1d``).

    Args:
        padding: an int for both sides, or ``(left, right)``; each below the dim's size
    """

    padding: tuple[int, int]

    def __init__(self, padding: _size_2_t) -> None:
        super().__init__()
        self.padding = _pair(padding)


class ReflectionPad2d(_ReflectionPadNd):
    r"""Pad the last two dims with their reflection (``torch.nn.ReflectionPad2d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom)``
    """

    padding: tuple[int, int, int, int]

    def __init__(self, padding: _size_4_t) -> None:
        super().__init__()
        self.padding = _quadruple(padding)


class ReflectionPad3d(_ReflectionPadNd):
    r"""Pad the last three dims with their reflection (``torch.nn.ReflectionPad3d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom, front, back)``
    """

    padding: tuple[int, int, int, int, int, int]

    def __init__(self, padding: _size_6_t) -> None:
        super().__init__()
        self.padding = _ntuple(6)(padding)


class _ReplicationPadNd(Module):
    __constants__ = ["padding"]
    padding: Sequence[int]

    def forward(self, input: Tensor) -> Tensor:
        """Pad ``input`` by repeating its edge values."""
        return F.pad(input, self.padding, "replicate")

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"{self.padding}"


class ReplicationPad1d(_ReplicationPadNd):
    r"""Pad the last dim by repeating its edges (``torch.nn.ReplicationPad1d``).

    Args:
        padding: an int for both sides, or ``(left, right)``
    """

    padding: tuple[int, int]

    def __init__(self, padding: _size_2_t) -> None:
        super().__init__()
        self.padding = _pair(padding)


class ReplicationPad2d(_ReplicationPadNd):
    r"""Pad the last two dims by repeating their edges (``torch.nn.ReplicationPad2d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom)``
    """

    padding: tuple[int, int, int, int]

    def __init__(self, padding: _size_4_t) -> None:
        super().__init__()
        self.padding = _quadruple(padding)


class ReplicationPad3d(_ReplicationPadNd):
    r"""Pad the last three dims by repeating their edges (``torch.nn.ReplicationPad3d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom, front, back)``
    """

    padding: tuple[int, int, int, int, int, int]

    def __init__(self, padding: _size_6_t) -> None:
        super().__init__()
        self.padding = _ntuple(6)(padding)


class ZeroPad1d(ConstantPad1d):
    r"""Pad the last dim with zeros (``torch.nn.ZeroPad1d``).

    Args:
        padding: an int for both sides, or ``(left, right)``
    """

    padding: tuple[int, int]

    def __init__(self, padding: _size_2_t) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    r"""Pad the last two dims with zeros (``torch.nn.ZeroPad2d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom)``
    """

    padding: tuple[int, int, int, int]

    def __init__(self, padding: _size_4_t) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    r"""Pad the last three dims with zeros (``torch.nn.ZeroPad3d``).

    Args:
        padding: an int for all sides, or ``(left, right, top, bottom, front, back)``
    """

    padding: tuple[int, int, int, int, int, int]

    def __init__(self, padding: _size_6_t) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"{self.padding}"
