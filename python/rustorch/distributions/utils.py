"""Helpers shared by the distributions, as ``torch.distributions.utils``.

``broadcast_all``, ``probs_to_logits``, ``logits_to_probs``, ``clamp_probs`` and
``lazy_property`` behave as PyTorch's. ``_erfinv`` and ``_xlogy`` use the engine's kernel
where it has one and are otherwise built from differentiable tensor ops.
"""

from __future__ import annotations

import math
import numbers
from functools import update_wrapper
from typing import Any, Callable, Sequence

import rustorch as torch
from rustorch import Tensor

__all__ = [
    "broadcast_all",
    "logits_to_probs",
    "clamp_probs",
    "probs_to_logits",
    "lazy_property",
    "euler_constant",
]

euler_constant: float = 0.57721566490153286060  # Euler–Mascheroni constant

_Number = (numbers.Number,)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, Tensor)


def _fmt(value: Any) -> Any:
    """What ``f"{value}"`` shows in PyTorch: a 0-dim tensor formats as its Python number."""
    if isinstance(value, Tensor) and value.dim() == 0:
        return value.item()
    return value


def _broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcast of ``shapes`` (``torch.broadcast_shapes``), with PyTorch's error."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape):
            j = ndim - len(shape) + i
            if size == 1:
                continue
            if out[j] == 1:
                out[j] = size
            elif out[j] != size:
                raise RuntimeError(
                    f"Shape mismatch: objects cannot be broadcast to a single shape.  "
                    f"Mismatch is between arg 0 and arg 1: {tuple(shapes[0])} vs {tuple(shape)}"
                )
    return tuple(out)


def _size(shape: Sequence[int] = ()) -> torch.Size:
    return torch.Size(tuple(int(s) for s in shape))


def broadcast_all(*values: Tensor | float) -> tuple[Tensor, ...]:
    """Broadcast tensors and numbers to one shape, as ``torch.distributions.utils.broadcast_all``.

    Numbers become tensors of the first tensor's dtype and device (the default dtype when
    every value is a number). Anything else raises PyTorch's ``ValueError``.
    """
    if not all(isinstance(v, Tensor) or _is_number(v) for v in values):
        raise ValueError(
            "Input arguments must all be instances of Number, "
            "torch.Tensor or objects implementing __torch_function__."
        )
    options: dict[str, Any] = {"dtype": torch.get_default_dtype()}
    for v in values:
        if isinstance(v, Tensor):
            options = {"dtype": v.dtype, "device": v.device}
            break
    tensors = [v if isinstance(v, Tensor) else torch.tensor(v, **options) for v in values]
    shape = _broadcast_shape(*[tuple(t.shape) for t in tensors])
    return tuple(t if tuple(t.shape) == shape else t.expand(*shape) for t in tensors)


def _standard_normal(shape: Sequence[int], dtype: Any, device: Any) -> Tensor:
    return torch.randn(tuple(shape), dtype=dtype, device=device)


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum out the ``dim`` rightmost dimensions of ``value``."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:-dim]) + (-1,)).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Sigmoid of log-odds (binary) or softmax over the last dimension."""
    if is_binary:
        return torch.sigmoid(logits)
    return logits.softmax(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Clamp probabilities to ``[eps, 1 - eps]`` with ``eps`` the dtype's machine epsilon."""
    eps = torch.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds (binary) or log-probabilities of (clamped) probabilities."""
    ps_clamped = clamp_probs(probs)
    if is_binary:
        return torch.log(ps_clamped) - torch.log1p(-ps_clamped)
    return torch.log(ps_clamped)


class lazy_property:
    """A non-data descriptor computing an attribute on first access (under grad mode) and
    caching it on the instance, as PyTorch's ``lazy_property``."""

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        self.wrapped = wrapped
        update_wrapper(self, wrapped)  # type: ignore[arg-type]

    def __get__(self, instance: Any, obj_type: Any = None) -> Any:
        if instance is None:
            return self
        with torch.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


# --------------------------------------------------------------------------------------
# special functions
# --------------------------------------------------------------------------------------

def _lgamma(x: Tensor) -> Tensor:
    """``log|Gamma(x)|`` (the engine's ``lgamma``, differentiable)."""
    return x.lgamma()


def _digamma(x: Tensor) -> Tensor:
    """``digamma(x)`` (the engine's ``digamma``)."""
    return x.digamma()


def _erfinv(y: Tensor) -> Tensor:
    """``erfinv(y)`` for ``-1 < y < 1`` (``+-inf`` at ``+-1``): Giles' approximation refined by
    two Newton steps on ``erf``; its autograd derivative is ``1 / erf'(x)``."""
    if hasattr(y, "erfinv"):
        return y.erfinv()
    with torch.no_grad():
        w = -torch.log((1.0 - y) * (1.0 + y))
        small = w < 5.0
        ws = w - 2.5
        ps = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            ps = c + ps * ws
        wl = w.clamp(min=5.0).sqrt() - 3.0
        pl = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            pl = c + pl * wl
        x0 = torch.where(small, ps, pl) * y
        finite = y.abs() < 1.0
        x0 = torch.where(finite, x0, torch.zeros_like(x0))
    x = x0
    two_over_sqrt_pi = 2.0 / math.sqrt(math.pi)
    for _ in range(2):
        x = x - (torch.erf(x) - y) / (two_over_sqrt_pi * torch.exp(-x * x))
    inf = torch.full_like(y, math.inf)
    x = torch.where(finite, x, torch.where(y > 0, inf, -inf))
    return torch.where(y.abs() > 1.0, torch.full_like(y, math.nan), x)


def _xlogy(x: Tensor, y: Tensor) -> Tensor:
    """``x * log(y)``, 0 where ``x == 0`` (``torch.xlogy``)."""
    if hasattr(torch, "xlogy"):
        return torch.xlogy(x, y)
    x, y = broadcast_all(x, y)
    safe_y = torch.where(x == 0, torch.ones_like(y), y)
    return torch.where(x == 0, torch.zeros_like(x * safe_y), x * safe_y.log())
