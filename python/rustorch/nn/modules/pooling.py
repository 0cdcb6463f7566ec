"""Pooling layers, matching ``torch.nn.modules.pooling``.

Constructor signatures, defaults, the attributes they store (kept as given for
``MaxPool*d``, ``AvgPool2d/3d``, ``LPPool*d`` and the adaptive pools; normalised to tuples
for ``AvgPool1d`` and ``MaxUnpool*d``, as PyTorch does) and therefore ``repr`` are PyTorch's.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module
from .utils import _pair, _single, _triple

__all__ = [
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
]

_size_any_t = Union[int, tuple[int, ...]]
_size_any_opt_t = Union[Optional[int], tuple[Optional[int], ...]]


class _MaxPoolNd(Module):
    __constants__ = ["kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"]
    return_indices: bool
    ceil_mode: bool

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
        dilation: _size_any_t = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return (
            "kernel_size={kernel_size}, stride={stride}, padding={padding}"
            ", dilation={dilation}, ceil_mode={ceil_mode}".format(**self.__dict__)
        )


class MaxPool1d(_MaxPoolNd):
    r"""1D max pooling over an input of several planes (``torch.nn.MaxPool1d``).

    Args:
        kernel_size: the size of the sliding window, must be > 0
        stride: the stride of the window, must be > 0. Default: ``kernel_size``
        padding: implicit negative infinity padding on both sides, at most half the kernel
        dilation: the stride between elements within a window. Default: 1
        return_indices: if ``True``, also return the argmax indices (for ``MaxUnpool1d``)
        ceil_mode: if ``True``, use ceil instead of floor for the output size
    """

    def forward(self, input: Tensor) -> Any:
        """Max-pool ``input`` (and return the indices when ``return_indices``)."""
        return F.max_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )


class MaxPool2d(_MaxPoolNd):
    r"""2D max pooling over an input of several planes (``torch.nn.MaxPool2d``).

    Args:
        kernel_size: the size of the window (int or pair)
        stride: the stride of the window. Default: ``kernel_size``
        padding: implicit negative infinity padding on both sides, at most half the kernel
        dilation: the stride between elements within a window. Default: 1
        return_indices: if ``True``, also return the argmax indices (for ``MaxUnpool2d``)
        ceil_mode: if ``True``, use ceil instead of floor for the output size
    """

    def forward(self, input: Tensor) -> Any:
        """Max-pool ``input`` (and return the indices when ``return_indices``)."""
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )


class MaxPool3d(_MaxPoolNd):
    r"""3D max pooling over an input of several planes (``torch.nn.MaxPool3d``).

    Args:
        kernel_size: the size of the window (int or triple)
        stride: the stride of the window. Default: ``kernel_size``
        padding: implicit negative infinity padding on all sides, at most half the kernel
        dilation: the stride between elements within a window. Default: 1
        return_indices: if ``True``, also return the argmax indices (for ``MaxUnpool3d``)
        ceil_mode: if ``True``, use ceil instead of floor for the output size
    """

    def forward(self, input: Tensor) -> Any:
        """Max-pool ``input`` (and return the indices when ``return_indices``)."""
        return F.max_pool3d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )


class _MaxUnpoolNd(Module):
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    r"""Partial inverse of ``MaxPool1d`` (``torch.nn.MaxUnpool1d``): the maxima go back to
    their ``indices``, every other position is zero.

    Args:
        kernel_size: size of the max pooling window
        stride: stride of the max pooling window. Default: ``kernel_size``
        padding: padding that was added to the input. Default: 0
    """

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if (stride is not None) else kernel_size)
        self.padding = _single(padding)

    def forward(
        self, input: Tensor, indices: Tensor, output_size: Optional[list[int]] = None
    ) -> Tensor:
        """Scatter ``input`` to ``indices`` in a zero tensor of the unpooled size."""
        return F.max_unpool1d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool2d(_MaxUnpoolNd):
    r"""Partial inverse of ``MaxPool2d`` (``torch.nn.MaxUnpool2d``).

    Args:
        kernel_size: size of the max pooling window
        stride: stride of the max pooling window. Default: ``kernel_size``
        padding: padding that was added to the input. Default: 0
    """

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride if (stride is not None) else kernel_size)
        self.padding = _pair(padding)

    def forward(
        self, input: Tensor, indices: Tensor, output_size: Optional[list[int]] = None
    ) -> Tensor:
        """Scatter ``input`` to ``indices`` in a zero tensor of the unpooled size."""
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class MaxUnpool3d(_MaxUnpoolNd):
    r"""Partial inverse of ``MaxPool3d`` (``torch.nn.MaxUnpool3d``).

    Args:
        kernel_size: size of the max pooling window
        stride: stride of the max pooling window. Default: ``kernel_size``
        padding: padding that was added to the input. Default: 0
    """

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride if (stride is not None) else kernel_size)
        self.padding = _triple(padding)

    def forward(
        self, input: Tensor, indices: Tensor, output_size: Optional[list[int]] = None
    ) -> Tensor:
        """Scatter ``input`` to ``indices`` in a zero tensor of the unpooled size."""
        return F.max_unpool3d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )


class _AvgPoolNd(Module):
    __constants__ = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    r"""1D average pooling over an input of several planes (``torch.nn.AvgPool1d``).

    Args:
        kernel_size: the size of the window
        stride: the stride of the window. Default: ``kernel_size``
        padding: implicit zero padding on both sides. Default: 0
        ceil_mode: if ``True``, use ceil instead of floor for the output size
        count_include_pad: if ``True``, the zero padding counts in the average
    """

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        """Average-pool ``input``."""
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )


class AvgPool2d(_AvgPoolNd):
    r"""2D average pooling over an input of several planes (``torch.nn.AvgPool2d``).

    Args:
        kernel_size: the size of the window
        stride: the stride of the window. Default: ``kernel_size``
        padding: implicit zero padding on both sides. Default: 0
        ceil_mode: if ``True``, use ceil instead of floor for the output size
        count_include_pad: if ``True``, the zero padding counts in the average
        divisor_override: if given, the divisor instead of the window's size
    """

    __constants__ = [
        "kernel_size",
        "stride",
        "padding",
        "ceil_mode",
        "count_include_pad",
        "divisor_override",
    ]

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        """Average-pool ``input``."""
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )


class AvgPool3d(_AvgPoolNd):
    r"""3D average pooling over an input of several planes (``torch.nn.AvgPool3d``).

    Args:
        kernel_size: the size of the window
        stride: the stride of the window. Default: ``kernel_size``
        padding: implicit zero padding on all sides. Default: 0
        ceil_mode: if ``True``, use ceil instead of floor for the output size
        count_include_pad: if ``True``, the zero padding counts in the average
        divisor_override: if given, the divisor instead of the window's size
    """

    __constants__ = [
        "kernel_size",
        "stride",
        "padding",
        "ceil_mode",
        "count_include_pad",
        "divisor_override",
    ]

    def __init__(
        self,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        padding: _size_any_t = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        """Average-pool ``input``."""
        return F.avg_pool3d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def __setstate__(self, d: dict) -> None:
        super().__setstate__(d)
        self.__dict__.setdefault("padding", 0)
        self.__dict__.setdefault("ceil_mode", False)
        self.__dict__.setdefault("count_include_pad", True)


class _LPPoolNd(Module):
    __constants__ = ["norm_type", "kernel_size", "stride", "ceil_mode"]
    norm_type: float
    ceil_mode: bool

    def __init__(
        self,
        norm_type: float,
        kernel_size: _size_any_t,
        stride: Optional[_size_any_t] = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return (
            "norm_type={norm_type}, kernel_size={kernel_size}, stride={stride}, "
            "ceil_mode={ceil_mode}".format(**self.__dict__)
        )


class LPPool1d(_LPPoolNd):
    r"""1D power-average pooling (``torch.nn.LPPool1d``):
    :math:`f(X) = \sqrt[p]{\sum_{x \in X} x^{p}}`.

    Args:
        norm_type: the exponent ``p``
        kernel_size: a single int, the size of the window
        stride: a single int, the stride of the window. Default: ``kernel_size``
        ceil_mode: if ``True``, use ceil instead of floor for the output size
    """

    def forward(self, input: Tensor) -> Tensor:
        """Power-average-pool ``input``."""
        return F.lp_pool1d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class LPPool2d(_LPPoolNd):
    r"""2D power-average pooling (``torch.nn.LPPool2d``).

    Args:
        norm_type: the exponent ``p``
        kernel_size: the size of the window
        stride: the stride of the window. Default: ``kernel_size``
        ceil_mode: if ``True``, use ceil instead of floor for the output size
    """

    def forward(self, input: Tensor) -> Tensor:
        """Power-average-pool ``input``."""
        return F.lp_pool2d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class LPPool3d(_LPPoolNd):
    r"""3D power-average pooling (``torch.nn.LPPool3d``).

    Args:
        norm_type: the exponent ``p``
        kernel_size: the size of the window
        stride: the stride of the window. Default: ``kernel_size``
        ceil_mode: if ``True``, use ceil instead of floor for the output size
    """

    def forward(self, input: Tensor) -> Tensor:
        """Power-average-pool ``input``."""
        return F.lp_pool3d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class _AdaptiveMaxPoolNd(Module):
    __constants__ = ["output_size", "return_indices"]
    return_indices: bool

    def __init__(self, output_size: _size_any_opt_t, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    r"""1D adaptive max pooling (``torch.nn.AdaptiveMaxPool1d``): window ``i`` of ``L_out``
    spans ``[floor(i·L/L_out), ceil((i+1)·L/L_out))``.

    Args:
        output_size: the target output length
        return_indices: if ``True``, also return the argmax indices
    """

    def forward(self, input: Tensor) -> Any:
        """Adaptive-max-pool ``input``."""
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    r"""2D adaptive max pooling (``torch.nn.AdaptiveMaxPool2d``).

    Args:
        output_size: the target output size ``(H, W)``, an int for a square, or ``None`` in
            a place to keep that input size
        return_indices: if ``True``, also return the argmax indices
    """

    def forward(self, input: Tensor) -> Any:
        """Adaptive-max-pool ``input``."""
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    r"""3D adaptive max pooling (``torch.nn.AdaptiveMaxPool3d``).

    Args:
        output_size: the target output size ``(D, H, W)``, an int, or ``None`` in a place
            to keep that input size
        return_indices: if ``True``, also return the argmax indices
    """

    def forward(self, input: Tensor) -> Any:
        """Adaptive-max-pool ``input``."""
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class _AdaptiveAvgPoolNd(Module):
    __constants__ = ["output_size"]

    def __init__(self, output_size: _size_any_opt_t) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    r"""1D adaptive average pooling (``torch.nn.AdaptiveAvgPool1d``).

    Args:
        output_size: the target output length
    """

    def forward(self, input: Tensor) -> Tensor:
        """Adaptive-average-pool ``input``."""
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    r"""2D adaptive average pooling (``torch.nn.AdaptiveAvgPool2d``).

    Args:
        output_size: the target output size ``(H, W)``, an int for a square, or ``None`` in
            a place to keep that input size
    """

    def forward(self, input: Tensor) -> Tensor:
        """Adaptive-average-pool ``input``."""
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    r"""3D adaptive average pooling (``torch.nn.AdaptiveAvgPool3d``).

    Args:
        output_size: the target output size ``(D, H, W)``, an int, or ``None`` in a place
            to keep that input size
    """

    def forward(self, input: Tensor) -> Tensor:
        """Adaptive-average-pool ``input``."""
        return F.adaptive_avg_pool3d(input, self.output_size)


class _FractionalMaxPoolNd(Module):
    __constants__ = ["kernel_size", "return_indices", "output_size", "output_ratio"]
    _n = 2

    def __init__(self, kernel_size: Union[int, tuple[int, ...]],
                 output_size: Optional[Union[int, tuple[int, ...]]] = None,
                 output_ratio: Optional[Union[float, tuple[float, ...]]] = None,
                 return_indices: bool = False, _random_samples: Optional[Tensor] = None) -> None:
        super().__init__()
        n = self._n
        tup = _pair if n == 2 else _triple
        if n == 3 and ((isinstance(kernel_size, int) and kernel_size <= 0) or (
                isinstance(kernel_size, (tuple, list)) and not all(k > 0 for k in kernel_size))):
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        self.kernel_size = tup(kernel_size)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = tup(output_size) if output_size is not None else None
        self.output_ratio = tup(output_ratio) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(
                f"FractionalMaxPool{n}d requires specifying either an output size, or a "
                "pooling ratio"
            )
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    r"""2D fractional max pooling (``torch.nn.FractionalMaxPool2d``), Graham's pooling of
    ``kernel_size`` windows at pseudo-random steps to ``output_size`` or ``output_ratio`` of
    the input (in ``(0, 1)``). ``_random_samples`` (a buffer, ``[N, C, 2]``) fixes the steps;
    without it each call draws new ones. ``repr`` is PyTorch's (``FractionalMaxPool2d()``).
    """

    def forward(self, input: Tensor) -> Any:
        """Fractional-max-pool ``input``."""
        return F.fractional_max_pool2d(input, self.kernel_size, self.output_size,
                                       self.output_ratio, self.return_indices,
                                       _random_samples=self._random_samples)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    r"""3D fractional max pooling (``torch.nn.FractionalMaxPool3d``); ``_random_samples`` is
    ``[N, C, 3]``, otherwise as :class:`FractionalMaxPool2d`."""

    _n = 3

    def forward(self, input: Tensor) -> Any:
        """Fractional-max-pool ``input``."""
        return F.fractional_max_pool3d(input, self.kernel_size, self.output_size,
                                       self.output_ratio, self.return_indices,
                                       _random_samples=self._random_samples)
