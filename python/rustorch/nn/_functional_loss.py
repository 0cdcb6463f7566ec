"""More loss functions of ``torch.nn.functional``, composed from rustorch tensor ops.

The formulas are ATen's (``aten/src/ATen/native/Loss.cpp``, ``LossMultiMargin.cpp``,
``Distance.cpp``) or PyTorch's Python ones, written with the same operations in the same
order, so values agree with PyTorch to rounding and autograd gives PyTorch's gradients
(except at measure-zero kinks such as a hinge exactly at 0). Reductions, the deprecated
``size_average`` / ``reduce`` spellings and the validation errors follow PyTorch.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import rustorch
from rustorch import Tensor

__all__ = [
    "pairwise_distance",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "triplet_margin_loss",
    "multi_margin_loss",
]


def _reduction(size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> str:
    from rustorch.nn.functional import _reduction_name

    return _reduction_name(size_average, reduce, reduction)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    return loss.sum()


def _size(t: Tensor) -> str:
    return f"torch.Size({list(t.shape)})"


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    r"""``‖x1 - x2 + eps‖_p`` over the last dimension (``torch.nn.functional.pairwise_distance``,
    ATen's formula)."""
    output_dim = max(x1.dim(), x2.dim())
    innermost_dim = output_dim - 1
    if output_dim == 0:
        return (x1 - x2 + eps).abs()
    return (x1 - x2 + eps).norm(p, innermost_dim, keepdim=keepdim)


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""``1 - cos(x1, x2)`` where ``y == 1``, ``max(0, cos(x1, x2) - margin)`` where
    ``y == -1`` (``torch.nn.functional.cosine_embedding_loss``; ATen's ``1e-12`` in the
    squared magnitudes)."""
    reduction = _reduction(size_average, reduce, reduction)
    targ_dim = target.dim()
    if targ_dim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if targ_dim == 1 and (input1.dim() != 2 or input2.dim() != 2):
        raise RuntimeError(
            "1D target tensor expects 2D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    if targ_dim == 0 and (input1.dim() != 1 or input2.dim() != 1):
        raise RuntimeError(
            "0D target tensor expects 1D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    eps = 1e-12
    prod_sum = (input1 * input2).sum(targ_dim)
    mag_square1 = (input1 * input1).sum(targ_dim) + eps
    mag_square2 = (input2 * input2).sum(targ_dim) + eps
    denom = (mag_square1 * mag_square2).sqrt()
    cos = prod_sum / denom
    zeros = rustorch.zeros_like(cos)
    pos = 1 - cos
    neg = (cos - margin).clamp(min=0)
    output = rustorch.where(target == 1, pos, zeros) + rustorch.where(target == -1, neg, zeros)
    return _reduce(output, reduction)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""``max(0, -y * (x1 - x2) + margin)`` (``torch.nn.functional.margin_ranking_loss``)."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {_size(input1)}, input2: {_size(input2)}, target: {_size(target)} "
        )
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""``x`` where ``y == 1``, ``max(0, margin - x)`` where ``y == -1``
    (``torch.nn.functional.hinge_embedding_loss``, ATen's formula)."""
    reduction = _reduction(size_average, reduce, reduction)
    zeros = rustorch.zeros_like(input)
    margin_clamp = (margin - input).clamp(min=0)
    output_margin = rustorch.where(target != 1, margin_clamp, zeros)
    output_self = rustorch.where(target != -1, input, zeros)
    return _reduce(output_margin + output_self, reduction)


def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""``log(1 + exp(-y * x))`` (``torch.nn.functional.soft_margin_loss``; ATen's
    ``log1p(exp(.))``, which overflows to ``inf`` for ``-y * x`` beyond the dtype's
    ``exp`` range exactly as PyTorch does)."""
    reduction = _reduction(size_average, reduce, reduction)
    return _reduce(rustorch.log1p(rustorch.exp(-input * target)), reduction)


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""``-mean_c [y log σ(x) + (1 - y) log σ(-x)]`` per sample
    (``torch.nn.functional.multilabel_soft_margin_loss``, PyTorch's composition)."""
    from rustorch.nn._functional_activation import logsigmoid

    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    n_classes = input.shape[class_dim]
    loss = loss.sum(class_dim) / n_classes
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: Optional[bool] = None,
    eps: float = 1e-8,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Poisson negative log likelihood (``torch.nn.functional.poisson_nll_loss``):
    ``exp(x) - y * x`` (``log_input``) or ``x - y * log(x + eps)``, plus the Stirling term
    ``y log y - y + 0.5 log(2 pi y)`` for ``y > 1`` when ``full``."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    if reduction != "none" and reduction != "mean" and reduction != "sum":
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = rustorch.exp(input) - target * input
    else:
        loss = input - target * rustorch.log(input + eps)
    if full:
        stirling = target * rustorch.log(target) - target + 0.5 * rustorch.log(
            2 * math.pi * target
        )
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Union[Tensor, float],
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    r"""Gaussian negative log likelihood (``torch.nn.functional.gaussian_nll_loss``):
    ``0.5 * (log(max(var, eps)) + (x - y)^2 / max(var, eps))`` (+ ``0.5 log(2 pi)`` when
    ``full``); ``var`` may be a float, the input's shape, or one dimension short / size 1 in
    one dimension (homoscedastic), as PyTorch. The clamp is invisible to autograd, as
    PyTorch's ``clamp_`` under ``no_grad``."""
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * rustorch.ones_like(input)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    in_shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:
            var = var.unsqueeze(-1)
        elif input.dim() == var.dim() and sum(
            y for x, y in zip(in_shape, var_shape) if x != y
        ) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction != "none" and reduction != "mean" and reduction != "sum":
        raise ValueError(reduction + " is not valid")
    # clamp for stability, the clamp itself not differentiated (PyTorch clamps in place
    # under no_grad): var + (clamped - var).detach()
    with rustorch.no_grad():
        shift = var.clamp(min=eps) - var
    var = var + shift
    loss = 0.5 * (rustorch.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the ``p``-norm pairwise distance
    (``eps`` added to the difference); ``swap`` uses ``min(d(a, n), d(p, n))``
    (``torch.nn.functional.triplet_margin_loss``)."""
    reduction = _reduction(size_average, reduce, reduction)
    a_dim, p_dim, n_dim = anchor.dim(), positive.dim(), negative.dim()
    if not (a_dim == p_dim and p_dim == n_dim):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {a_dim}D, positive {p_dim}D, and negative "
            f"{n_dim}D inputs"
        )
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_swap = pairwise_distance(positive, negative, p, eps)
        dist_neg = rustorch.minimum(dist_neg, dist_swap)
    output = (margin + dist_pos - dist_neg).clamp(min=0)
    return _reduce(output, reduction)


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Optional[Tensor] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Multi-class hinge loss (``torch.nn.functional.multi_margin_loss``): per sample,
    ``sum_{j != y} max(0, margin - x[y] + x[j])^p * weight[y] / C``."""
    reduction = _reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    if input.dim() > 2:
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(input.shape)}"
        )
    x = input.reshape(1, -1) if input.dim() <= 1 else input
    n, c = x.shape
    y = target.reshape(-1)
    if y.numel() != n:
        raise RuntimeError(
            f"inconsistent target size, expected {n} but got {list(target.shape)}"
        )
    if n > 0:
        lo, hi = int(y.min().item()), int(y.max().item())
        if lo < 0 or hi >= c:
            raise RuntimeError("target out of range")
    x_y = x.gather(1, y.unsqueeze(1))
    z = (margin - x_y + x).clamp(min=0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.gather(0, y).unsqueeze(1)
    is_target = rustorch.arange(c, device=x.device).unsqueeze(0) == y.unsqueeze(1)
    loss = z.masked_fill(is_target, 0).sum(1) / c
    if reduction == "none":
        return loss.reshape(target.shape) if input.dim() <= 1 else loss
    return _reduce(loss, reduction)
