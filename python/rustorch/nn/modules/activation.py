"""Activation modules, matching ``torch.nn.modules.activation`` (names, defaults, reprs)."""

from __future__ import annotations

import warnings
from typing import Optional

import rustorch
from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module

__all__ = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "GELU",
    "SiLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Softplus",
    "Hardtanh",
]


class ReLU(Module):
    r"""Apply the rectified linear unit function element-wise: :math:`\max(0, x)`.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    __constants__ = ["inplace"]
    inplace: bool

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply ReLU."""
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return "inplace=True" if self.inplace else ""


class Hardtanh(Module):
    r"""Apply the HardTanh function element-wise: clamp to ``[min_val, max_val]``."""

    __constants__ = ["min_val", "max_val", "inplace"]
    min_val: float
    max_val: float
    inplace: bool

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: Optional[float] = None,
        max_value: Optional[float] = None,
    ) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`",
                FutureWarning,
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`",
                FutureWarning,
                stacklevel=2,
            )
            max_val = max_value
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError(
                f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )

    def forward(self, input: Tensor) -> Tensor:
        """Apply Hardtanh."""
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{inplace_str}"


class ReLU6(Hardtanh):
    r"""Apply :math:`\min(\max(0, x), 6)` element-wise."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    r"""Apply the Sigmoid function element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply sigmoid."""
        return rustorch.sigmoid(input)


class Tanh(Module):
    r"""Apply the Hyperbolic Tangent (Tanh) function element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply tanh."""
        return rustorch.tanh(input)


class SiLU(Module):
    r"""Apply the Sigmoid Linear Unit (SiLU / swish) :math:`x * \sigma(x)` element-wise."""

    __constants__ = ["inplace"]
    inplace: bool

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply SiLU."""
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return "inplace=True" if self.inplace else ""


class ELU(Module):
    r"""Apply the Exponential Linear Unit element-wise (``x`` or ``alpha * (exp(x) - 1)``)."""

    __constants__ = ["alpha", "inplace"]
    alpha: float
    inplace: bool

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply ELU."""
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"alpha={self.alpha}{inplace_str}"


class GELU(Module):
    r"""Apply the Gaussian Error Linear Units function (``approximate='none'`` or ``'tanh'``)."""

    __constants__ = ["approximate"]
    approximate: str

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        """Apply GELU."""
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"approximate={repr(self.approximate)}"


class LeakyReLU(Module):
    r"""Apply :math:`\max(0, x) + \text{negative\_slope} * \min(0, x)` element-wise."""

    __constants__ = ["inplace", "negative_slope"]
    inplace: bool
    negative_slope: float

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply LeakyReLU."""
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace_str}"


class Softplus(Module):
    r"""Apply :math:`\frac{1}{\beta} \log(1 + \exp(\beta x))`, linear above ``threshold``."""

    __constants__ = ["beta", "threshold"]
    beta: float
    threshold: float

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        """Apply Softplus."""
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    r"""Apply the Softmax function along ``dim`` (rescales to sum to 1)."""

    __constants__ = ["dim"]
    dim: Optional[int]

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if not hasattr(self, "dim"):
            self.dim = None

    def forward(self, input: Tensor) -> Tensor:
        """Apply softmax."""
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"dim={self.dim}"


class LogSoftmax(Module):
    r"""Apply :math:`\log(\text{Softmax}(x))` along ``dim``."""

    __constants__ = ["dim"]
    dim: Optional[int]

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__()
        self.dim = dim

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if not hasattr(self, "dim"):
            self.dim = None

    def forward(self, input: Tensor) -> Tensor:
        """Apply log-softmax."""
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"dim={self.dim}"
