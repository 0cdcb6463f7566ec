"""Gradient clipping, matching ``torch.nn.utils.clip_grad``."""

from __future__ import annotations

import math
import warnings
from typing import Iterable, Optional, Union

import rustorch
from rustorch import Tensor

__all__ = [
    "clip_grad_norm",
    "clip_grad_norm_",
    "clip_grad_value_", "get_total_norm",
    "clip_grads_with_norm_",
]

_tensor_or_tensors = Union[Tensor, Iterable[Tensor]]


def _as_list(tensors: _tensor_or_tensors) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _vector_norm(t: Tensor, norm_type: float) -> Tensor:
    """``torch.linalg.vector_norm(t, norm_type)`` over all elements, from core ops."""
    if norm_type == math.inf:
        return t.abs().max()
    if norm_type == -math.inf:
        return t.abs().min()
    if norm_type == 2.0:
        return (t * t).sum().sqrt()
    if norm_type == 1.0:
        return t.abs().sum()
    if norm_type == 0.0:
        return (t != 0).to(t.dtype).sum()
    return (t.abs() ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(
    tensors: _tensor_or_tensors,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> Tensor:
    r"""Compute the norm of an iterable of tensors: the norm of their individual norms.

    ``foreach`` is accepted for compatibility and ignored.
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return rustorch.tensor(0.0)
    with rustorch.no_grad():
        norms = [_vector_norm(g, norm_type) for g in tensors]
        total_norm = _vector_norm(rustorch.stack(norms), norm_type)
    if error_if_nonfinite:
        value = float(total_norm.item())
        if math.isnan(value) or math.isinf(value):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from "
                "`parameters` is non-finite, so it cannot be clipped. To disable "
                "this error and scale the gradients by the non-finite norm anyway, "
                "set `error_if_nonfinite=False`"
            )
    return total_norm


def clip_grads_with_norm_(
    parameters: _tensor_or_tensors,
    max_norm: float,
    total_norm: Tensor,
    foreach: Optional[bool] = None,
) -> None:
    r"""Scale the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))``."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return
    max_norm = float(max_norm)
    with rustorch.no_grad():
        clip_coef = max_norm / (total_norm + 1e-6)
        # Note: multiplying by the clamped coef is redundant when the coef is clamped to 1,
        # but doing so avoids a `if clip_coef < 1:` conditional (as PyTorch does).
        clip_coef_clamped = clip_coef.clamp(max=1.0)
        for g in grads:
            g.mul_(clip_coef_clamped)


def clip_grad_norm_(
    parameters: _tensor_or_tensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> Tensor:
    r"""Clip the gradient norm of an iterable of parameters, as ``torch.nn.utils.clip_grad_norm_``.

    The norm is computed over the norms of the individual gradients, as if they were
    concatenated into a single vector. Gradients are modified in-place.

    Args:
        parameters: an iterable of Tensors or a single Tensor that will have gradients normalized
        max_norm: max norm of the gradients
        norm_type: type of the used p-norm. Can be ``'inf'`` for infinity norm.
        error_if_nonfinite: if True, an error is thrown if the total norm of the gradients
            from :attr:`parameters` is ``nan``, ``inf``, or ``-inf``. Default: False
        foreach: accepted for compatibility; ignored.

    Returns:
        Total norm of the parameter gradients (viewed as a single vector).
    """
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_value_(
    parameters: _tensor_or_tensors, clip_value: float, foreach: Optional[bool] = None
) -> None:
    r"""Clip the gradients of an iterable of parameters at specified value (in place).

    Gradients are clamped to ``[-clip_value, clip_value]``; ``foreach`` is ignored.
    """
    clip_value = float(clip_value)
    with rustorch.no_grad():
        for p in _as_list(parameters):
            g = p.grad
            if g is not None:
                g.copy_(g.clamp(min=-clip_value, max=clip_value))


def clip_grad_norm(
    parameters: _tensor_or_tensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> Tensor:
    r"""Clip the gradient norm of an iterable of parameters.

    .. warning::
        This method is now deprecated in favor of :func:`rustorch.nn.utils.clip_grad_norm_`
        (it warns with PyTorch's ``FutureWarning`` and calls it).
    """
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated "
        "in favor of `torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
