"""Layer, group, RMS and local response normalization, matching
``torch.nn.modules.normalization`` (parameters, initialisation, ``extra_repr``)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Optional, Union

import rustorch
from rustorch import Tensor
from rustorch.nn import functional as F
from rustorch.nn import init
from rustorch.nn.parameter import Parameter

from .batchnorm import _factory_kwargs
from .module import Module

__all__ = ["LocalResponseNorm", "LayerNorm", "GroupNorm", "RMSNorm"]

_shape_t = Union[int, Sequence[int]]


def _as_shape(normalized_shape: _shape_t) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        return (int(normalized_shape),)
    return tuple(normalized_shape)


class LocalResponseNorm(Module):
    r"""Local response normalization across channels (``torch.nn.LocalResponseNorm``).

    .. math:: b_c = a_c\left(k + \frac{\alpha}{n}\sum_{c'} a_{c'}^2\right)^{-\beta}

    over a window of ``size`` neighbouring channels (zero-padded).

    Args:
        size: amount of neighbouring channels used for normalization
        alpha: multiplicative factor. Default: 0.0001
        beta: exponent. Default: 0.75
        k: additive factor. Default: 1
    """

    __constants__ = ["size", "alpha", "beta", "k"]
    size: int
    alpha: float
    beta: float
    k: float

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.local_response_norm``."""
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LayerNorm(Module):
    r"""Layer normalization over the last ``len(normalized_shape)`` dims
    (``torch.nn.LayerNorm``).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta

    with the biased variance; ``weight`` (init 1) and ``bias`` (init 0) have shape
    ``normalized_shape``.

    Args:
        normalized_shape: an int or the trailing shape to normalise over
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        elementwise_affine: learnable ``weight`` and ``bias``. Default: ``True``
        bias: with ``elementwise_affine``, whether to learn ``bias``. Default: ``True``
    """

    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]
    normalized_shape: tuple[int, ...]
    eps: float
    elementwise_affine: bool

    def __init__(
        self,
        normalized_shape: _shape_t,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(rustorch.empty(self.normalized_shape, **factory_kwargs))
            if bias:
                self.bias = Parameter(rustorch.empty(self.normalized_shape, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weight`` to 1, ``bias`` to 0."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.layer_norm``."""
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class GroupNorm(Module):
    r"""Group normalization (``torch.nn.GroupNorm``): the channels split into
    ``num_groups`` groups, each normalised over its channels and positions, then a
    per-channel affine transform.

    Args:
        num_groups: number of groups to separate the channels into
        num_channels: number of channels expected in input
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        affine: learnable per-channel ``weight`` (init 1) and ``bias`` (init 0).
            Default: ``True``
        bias: with ``affine``, whether to learn ``bias`` (keyword only). Default: ``True``
    """

    __constants__ = ["num_groups", "num_channels", "eps", "affine"]
    num_groups: int
    num_channels: int
    eps: float
    affine: bool

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if self.affine:
            self.weight = Parameter(rustorch.empty(num_channels, **factory_kwargs))
            if bias:
                self.bias = Parameter(rustorch.empty(num_channels, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weight`` to 1, ``bias`` to 0."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.group_norm``."""
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}, bias={self.bias is not None}"
        )


class RMSNorm(Module):
    r"""Root mean square layer normalization (``torch.nn.RMSNorm``).

    .. math:: y = \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}} * \gamma

    over the last ``len(normalized_shape)`` dims.

    Args:
        normalized_shape: an int or the trailing shape to normalise over
        eps: a value added to the denominator; ``None`` (default) is
            ``torch.finfo(x.dtype).eps``
        elementwise_affine: learnable ``weight`` (init 1). Default: ``True``
    """

    __constants__ = ["normalized_shape", "eps", "elementwise_affine"]
    normalized_shape: tuple[int, ...]
    eps: Optional[float]
    elementwise_affine: bool

    def __init__(
        self,
        normalized_shape: _shape_t,
        eps: Optional[float] = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if self.elementwise_affine:
            self.weight = Parameter(rustorch.empty(self.normalized_shape, **factory_kwargs))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weight`` to 1."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        """Apply ``F.rms_norm``."""
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}"
        )
