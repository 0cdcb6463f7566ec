"""Activation modules, matching ``torch.nn.modules.activation`` (names, defaults, reprs)."""

from __future__ import annotations

import warnings
from typing import Optional

import rustorch
from rustorch import Tensor
from rustorch.nn import functional as F
from rustorch.nn.parameter import Parameter

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
    "PReLU",
    "GLU",
    "LogSigmoid",
    "Mish",
    "Hardswish",
    "Hardsigmoid",
    "SELU",
    "CELU",
    "Softsign",
    "Tanhshrink",
    "Threshold",
    "Softmin",
    "Softmax2d",
    "Hardshrink",
    "Softshrink",
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


class _InplaceActivation(Module):
    """An element-wise activation with PyTorch's ``inplace`` flag and repr."""

    __constants__ = ["inplace"]
    inplace: bool

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return "inplace=True" if self.inplace else ""


class PReLU(Module):
    r"""``max(0, x) + a * min(0, x)`` with a learnable ``a`` (``torch.nn.PReLU``): one
    shared ``weight`` or ``num_parameters`` of them (one per input channel, dim 1), all
    initialised to ``init``."""

    __constants__ = ["num_parameters"]
    num_parameters: int

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: object = None,
        dtype: object = None,
    ) -> None:
        kwargs = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        self.num_parameters = num_parameters
        super().__init__()
        self.init = init
        self.weight = Parameter(rustorch.empty(num_parameters, **kwargs))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fill ``weight`` with ``init``."""
        with rustorch.no_grad():
            self.weight.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:
        """Apply PReLU."""
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    r"""Gated linear unit ``a * sigmoid(b)`` over the halves of ``dim`` (``torch.nn.GLU``)."""

    __constants__ = ["dim"]
    dim: int

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        """Apply GLU."""
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"dim={self.dim}"


class LogSigmoid(Module):
    r"""Apply :math:`\log \sigma(x)` element-wise (``torch.nn.LogSigmoid``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply log-sigmoid."""
        return F.logsigmoid(input)


class Mish(_InplaceActivation):
    r"""Apply :math:`x \tanh(\mathrm{softplus}(x))` element-wise (``torch.nn.Mish``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply Mish."""
        return F.mish(input, inplace=self.inplace)


class Hardswish(_InplaceActivation):
    r"""Apply ``x * relu6(x + 3) / 6`` element-wise (``torch.nn.Hardswish``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply Hardswish."""
        return F.hardswish(input, self.inplace)

    def extra_repr(self) -> str:
        """PyTorch prints no arguments for Hardswish."""
        return ""


class Hardsigmoid(_InplaceActivation):
    r"""Apply ``relu6(x + 3) / 6`` element-wise (``torch.nn.Hardsigmoid``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply Hardsigmoid."""
        return F.hardsigmoid(input, self.inplace)

    def extra_repr(self) -> str:
        """PyTorch prints no arguments for Hardsigmoid."""
        return ""


class SELU(_InplaceActivation):
    r"""Apply the scaled ELU with PyTorch's ``alpha`` and ``scale`` (``torch.nn.SELU``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply SELU."""
        return F.selu(input, self.inplace)


class CELU(Module):
    r"""Apply ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (``torch.nn.CELU``)."""

    __constants__ = ["alpha", "inplace"]
    alpha: float
    inplace: bool

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply CELU."""
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"alpha={self.alpha}{inplace_str}"


class Softsign(Module):
    r"""Apply :math:`x / (1 + |x|)` element-wise (``torch.nn.Softsign``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply Softsign."""
        return F.softsign(input)


class Tanhshrink(Module):
    r"""Apply :math:`x - \tanh(x)` element-wise (``torch.nn.Tanhshrink``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply Tanhshrink."""
        return F.tanhshrink(input)


class Threshold(Module):
    r"""Replace ``x <= threshold`` by ``value`` (``torch.nn.Threshold``)."""

    __constants__ = ["threshold", "value", "inplace"]
    threshold: float
    value: float
    inplace: bool

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply the threshold."""
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace_str}"


class Softmin(Module):
    r"""Apply ``softmax(-x)`` along ``dim`` (``torch.nn.Softmin``)."""

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
        """Apply softmin."""
        return F.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"dim={self.dim}"


class Softmax2d(Module):
    r"""Softmax over the channels of a ``(N, C, H, W)`` or ``(C, H, W)`` input
    (``torch.nn.Softmax2d``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply softmax over dim -3."""
        if input.dim() not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead"
            )
        return F.softmax(input, -3, _stacklevel=5)


class Hardshrink(Module):
    r"""``x`` where ``|x| > lambd``, else 0 (``torch.nn.Hardshrink``)."""

    __constants__ = ["lambd"]
    lambd: float

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        """Apply Hardshrink."""
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"{self.lambd}"


class Softshrink(Module):
    r"""Shrink towards 0 by ``lambd``, 0 inside ``[-lambd, lambd]`` (``torch.nn.Softshrink``)."""

    __constants__ = ["lambd"]
    lambd: float

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        """Apply Softshrink."""
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return str(self.lambd)
