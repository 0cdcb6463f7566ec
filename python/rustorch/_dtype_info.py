"""``torch.finfo`` and ``torch.iinfo``: the numerical properties of a dtype, with PyTorch's
attribute names, values and reprs."""

from __future__ import annotations

from typing import Any

from . import _C

# bits, eps, max, tiny (smallest normal), resolution (10^-digits)
_FLOATS = {
    "float16": (16, 2.0**-10, 65504.0, 2.0**-14, 0.001),
    "bfloat16": (16, 2.0**-7, 3.3895313892515355e38, 2.0**-126, 0.01),
    "float32": (32, 2.0**-23, 3.4028234663852886e38, 2.0**-126, 1e-06),
    "float64": (64, 2.0**-52, 1.7976931348623157e308, 2.0**-1022, 1e-15),
}
# bits, min, max
_INTS = {
    "uint8": (8, 0, 255),
    "int8": (8, -(2**7), 2**7 - 1),
    "int16": (16, -(2**15), 2**15 - 1),
    "int32": (32, -(2**31), 2**31 - 1),
    "int64": (64, -(2**63), 2**63 - 1),
}


def _name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.").removeprefix("rustorch.")


class finfo:  # noqa: N801 - PyTorch's name
    """``torch.finfo(dtype=None)``: ``bits``, ``eps``, ``max``, ``min``, ``tiny`` (also
    ``smallest_normal``), ``resolution`` and ``dtype`` (a string) of a floating dtype; the
    default dtype when none is given. A non-float dtype raises ``TypeError`` as PyTorch."""

    def __init__(self, type: Any = None) -> None:  # noqa: A002 - PyTorch's argument name
        name = _name(_C._get_default_dtype() if type is None else type)
        if name not in _FLOATS:
            raise TypeError(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to "
                "handle 'torch.finfo'"
            )
        self.bits, self.eps, self.max, self.tiny, self.resolution = _FLOATS[name]
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("finfo", self.dtype))

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
            f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
            f"tiny={self.tiny:g}, dtype={self.dtype})"
        )


class iinfo:  # noqa: N801 - PyTorch's name
    """``torch.iinfo(dtype)``: ``bits``, ``min``, ``max`` and ``dtype`` (a string) of an
    integer dtype. A float or bool dtype raises ``TypeError`` as PyTorch."""

    def __init__(self, type: Any) -> None:  # noqa: A002 - PyTorch's argument name
        name = _name(type)
        if name not in _INTS:
            raise TypeError(
                "torch.iinfo() requires an integer input type. Use torch.finfo to handle "
                "'torch.iinfo'"
            )
        self.bits, self.min, self.max = _INTS[name]
        self.dtype = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self) -> int:
        return hash(("iinfo", self.dtype))

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"
