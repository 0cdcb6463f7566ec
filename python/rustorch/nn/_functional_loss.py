"""More loss functions of ``torch.nn.functional``, composed from rustorch tensor ops.

The formulas are ATen's (``aten/src/ATen/native/Loss.cpp``, ``LossMultiMargin.cpp``,
``Distance.cpp``, ``LossCTC.cpp``) or PyTorch's Python ones, written with the same operations
in the same order, so values agree with PyTorch to rounding and autograd gives PyTorch's
gradients (except at measure-zero kinks such as a hinge exactly at 0). Reductions, the
deprecated ``size_average`` / ``reduce`` spellings and the validation errors follow PyTorch.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence, Union

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
    "ctc_loss",
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


# --------------------------------------------------------------------------------------
# CTC loss
# --------------------------------------------------------------------------------------

_CTC_CHECK = " (while checking arguments for ctc_loss_allocate_outputs)"
_INTEGRAL_DTYPES = ("uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64")
_SCALAR_TYPE_NAMES = {
    "float16": "Half",
    "bfloat16": "BFloat16",
    "int8": "Char",
    "uint8": "Byte",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "bool": "Bool",
    "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}


def _ctc_lengths(
    input_lengths: Union[Tensor, Sequence[int]], target_lengths: Union[Tensor, Sequence[int]]
) -> tuple[list[int], list[int]]:
    """The lengths as Python ints, accepting PyTorch's two overloads (both tensors or both
    sequences of ints)."""

    def int_seq(x: Any) -> bool:
        return isinstance(x, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in x
        )

    if isinstance(input_lengths, Tensor) and isinstance(target_lengths, Tensor):
        for name, t in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
            if str(t.dtype).rsplit(".", 1)[-1] not in _INTEGRAL_DTYPES:
                raise RuntimeError(f"{name} must be integral")
        return (
            [int(v) for v in input_lengths.reshape(-1).tolist()],
            [int(v) for v in target_lengths.reshape(-1).tolist()],
        )
    if int_seq(input_lengths) and int_seq(target_lengths):
        return list(input_lengths), list(target_lengths)  # type: ignore[arg-type]

    def kind(x: Any) -> str:
        return "Tensor" if isinstance(x, Tensor) else type(x).__name__

    raise TypeError(
        "ctc_loss() received an invalid combination of arguments - got (Tensor, Tensor, "
        f"{kind(input_lengths)}, {kind(target_lengths)}, int, int, bool), but expected one of:\n"
        " * (Tensor log_probs, Tensor targets, tuple of ints input_lengths, tuple of ints "
        "target_lengths, int blank = 0, int reduction = at::Reduction::Mean, "
        "bool zero_infinity = False)\n"
        " * (Tensor log_probs, Tensor targets, Tensor input_lengths, Tensor target_lengths, "
        "int blank = 0, int reduction = at::Reduction::Mean, bool zero_infinity = False)\n"
    )


def _ctc_check(
    log_probs: Tensor, targets: Tensor, il: list[int], tl: list[int], blank: int
) -> None:
    """ATen's argument checks (``ctc_loss_allocate_outputs``), in its order and words."""
    name = str(log_probs.dtype).rsplit(".", 1)[-1]
    if name not in ("float32", "float64"):
        kernel = "ctc_loss_cuda" if log_probs.device.type == "cuda" else "ctc_loss_cpu"
        raise NotImplementedError(
            f'"{kernel}" not implemented for \'{_SCALAR_TYPE_NAMES.get(name, name)}\''
        )
    if log_probs.dim() != 3:
        raise RuntimeError(
            f"Expected 3-dimensional tensor, but got {log_probs.dim()}-dimensional tensor for "
            f"argument #1 'log_probs'{_CTC_CHECK}"
        )
    if not 1 <= targets.dim() <= 2:
        raise RuntimeError(
            f"Expected 1 to 2 dimensions, but got {targets.dim()}-dimensional tensor for "
            f"argument #2 'targets'{_CTC_CHECK}"
        )
    t_max, batch_size, num_labels = log_probs.shape
    if not 0 <= blank < num_labels:
        raise RuntimeError("blank must be in label range")
    if len(il) != batch_size:
        raise RuntimeError("input_lengths must be of size batch_size")
    if len(tl) != batch_size:
        raise RuntimeError("target_lengths must be of size batch_size")
    for length in tl:
        if length < 0:
            raise RuntimeError(
                f"Expected target_lengths to have value at least 0, but got value {length}"
                + _CTC_CHECK
            )
    if targets.dim() == 1:
        expected, dim = sum(tl), 0
    else:
        expected, dim = batch_size, 0
    if targets.shape[dim] != expected:
        raise RuntimeError(
            f"Expected tensor to have size {expected} at dimension {dim}, but got size "
            f"{targets.shape[dim]} for argument #2 'targets'{_CTC_CHECK}"
        )
    if targets.dim() == 2 and targets.shape[1] < max(tl, default=0):
        raise RuntimeError(
            f"Expected tensor to have size at least {max(tl)} at dimension 1, but got size "
            f"{targets.shape[1]} for argument #2 'targets'{_CTC_CHECK}"
        )
    for length in il:
        if length < 0:
            raise RuntimeError(
                f"Expected input_lengths to have value at least 0, but got value {length}"
                + _CTC_CHECK
            )
        if length > t_max:
            raise RuntimeError(
                f"Expected input_lengths to have value at most {t_max}, but got value {length}"
                + _CTC_CHECK
            )


def _logaddexp_masked(*xs: Tensor) -> Tensor:
    """``log(sum(exp(x)))`` of same-shape tensors, ATen's CTC formula (max taken out, a max of
    ``-inf`` replaced by 0, summed left to right), and ``-inf`` with a zero gradient where
    every term is ``-inf`` (plain ``logsumexp`` would give NaN gradients there)."""
    with rustorch.no_grad():
        m = xs[0].detach()
        for x in xs[1:]:
            m = rustorch.maximum(m, x.detach())
        m = m.masked_fill(m == -math.inf, 0)
    s = rustorch.exp(xs[0] - m)
    for x in xs[1:]:
        s = s + rustorch.exp(x - m)
    dead = s == 0
    return rustorch.log(s.masked_fill(dead, 1)).masked_fill(dead, -math.inf) + m


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Union[Tensor, Sequence[int]],
    target_lengths: Union[Tensor, Sequence[int]],
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    r"""The Connectionist Temporal Classification loss (``torch.nn.functional.ctc_loss``).

    ``log_probs`` is ``(T, N, C)`` or unbatched ``(T, C)`` (log-probabilities, e.g. from
    ``log_softmax``); ``targets`` is padded ``(N, S)`` or the concatenation of all targets
    (1-D, ``sum(target_lengths)`` long); the lengths are both tensors (any integer dtype) or
    both sequences of ints, as PyTorch's two overloads. The loss of each sample is the
    negative log-likelihood of its target over all alignments: ATen's alpha recursion in log
    space over the blank-extended target, composed from rustorch ops (vectorised over the
    batch and the extended sequence, one loop over time steps), so autograd differentiates
    it. ``'mean'`` divides each loss by its target length (at least 1) and averages, as
    PyTorch; ``zero_infinity`` zeroes infinite losses (impossible alignments) and their
    gradients.

    Gradients equal PyTorch's, which are not the plain derivative: ATen's backward returns
    ``exp(log_probs) - gamma`` (the gradient *as if* through ``log_softmax``; the same
    gradient reaches logits either way), so an ``exp(log_probs)`` term is added through a
    zero-valued surrogate for ``t < input_length``; and, as in PyTorch, an infinite loss
    without ``zero_infinity`` has NaN gradients for ``t < input_length``. Differences: label
    values are checked by ``gather`` (PyTorch reads out-of-range labels unchecked), and
    double backward is composed rather than unsupported.
    """
    from rustorch.nn.functional import _Reduction

    _Reduction.get_enum(reduction)  # PyTorch validates the reduction first (ValueError)
    il, tl = _ctc_lengths(input_lengths, target_lengths)
    if log_probs.numel() == 0:
        raise RuntimeError("log_probs tensor must not be empty")
    is_batched = log_probs.dim() == 3
    lp = log_probs if is_batched else log_probs.unsqueeze(1)
    _ctc_check(lp, targets, il, tl, blank)

    t_max, n, _ = lp.shape
    dev, dtype = lp.device, lp.dtype
    s_max = max(tl)
    length = 2 * s_max + 1
    tgt = targets.to(device=dev, dtype=rustorch.int64)
    il_t = rustorch.tensor(il, dtype=rustorch.int64, device=dev)
    tl_t = rustorch.tensor(tl, dtype=rustorch.int64, device=dev)

    # the padded (N, S) targets; positions past a target's length become blanks
    pos = rustorch.arange(s_max, device=dev).unsqueeze(0)  # (1, S)
    in_target = pos < tl_t.unsqueeze(1)  # (N, S)
    if tgt.dim() == 1:
        if tgt.numel() == 0:
            padded = rustorch.full((n, s_max), blank, dtype=rustorch.int64, device=dev)
        else:
            offsets = rustorch.cumsum(tl_t, 0) - tl_t
            flat = (offsets.unsqueeze(1) + pos).clamp(max=tgt.numel() - 1)
            padded = tgt.gather(0, flat.reshape(-1)).reshape(n, s_max)
    else:
        padded = tgt[:, :s_max]
    padded = padded.masked_fill(~in_target, blank)

    # the extended label sequence l' (blank, l1, blank, l2, ..., blank): (N, L)
    blanks = rustorch.full((n, s_max), blank, dtype=rustorch.int64, device=dev)
    ext = rustorch.cat(
        [
            rustorch.stack([blanks, padded], 2).reshape(n, 2 * s_max),
            rustorch.full((n, 1), blank, dtype=rustorch.int64, device=dev),
        ],
        1,
    )
    # s-2 -> s is allowed where l'[s] != l'[s-2] (a label differing from the previous one)
    no_skip = ext[:, 2:] == ext[:, :-2]  # (N, L-2)
    # the emissions log_probs[t, n, l'[s]] for every step at once: (T, N, L)
    emit = lp.gather(2, ext.unsqueeze(0).expand(t_max, n, length))

    neg_col = rustorch.full((n, 2), -math.inf, dtype=dtype, device=dev)

    def shifted(x: Tensor, k: int) -> Tensor:  # x[:, s - k], -inf for s < k
        return rustorch.cat([neg_col[:, :k], x], 1)[:, :length]

    # alpha before the first step: the empty prefix, log 1 at s = 0
    alpha = rustorch.full((n, length), -math.inf, dtype=dtype, device=dev)
    alpha[:, 0] = 0
    for t in range(max(il, default=0)):
        a1 = shifted(alpha, 1)
        a2 = shifted(alpha[:, : max(length - 2, 0)].masked_fill(no_skip, -math.inf), 2)
        new = _logaddexp_masked(alpha, a1, a2) + emit[t]
        alpha = rustorch.where((t < il_t).unsqueeze(1), new, alpha)

    # log-likelihood: the last label or the final blank at input_length - 1
    ends = rustorch.stack([2 * tl_t, (2 * tl_t - 1).clamp(min=0)], 1)
    last = alpha.gather(1, ends)
    l1 = last[:, 0]
    l2 = last[:, 1].masked_fill(tl_t == 0, -math.inf)
    nll = -_logaddexp_masked(l1, l2)

    # PyTorch's gradient adds exp(log_probs) for t < input_length (see the docstring)
    steps = rustorch.arange(t_max, device=dev).unsqueeze(1) < il_t.unsqueeze(0)  # (T, N)
    e = rustorch.exp(lp)
    with rustorch.no_grad():
        e_value = e.detach()
        keep = steps.unsqueeze(2) & rustorch.isfinite(e_value)
        infinite = nll.detach() == math.inf
    surrogate = (e - e_value).masked_fill(~keep, 0)  # zero-valued, gradient exp(log_probs)
    res = nll + surrogate.sum((0, 2))
    if not zero_infinity and bool(infinite.any()):
        # an infinite loss has NaN gradients (ATen: exp(-inf + inf)); sqrt(0) - sqrt(0)
        # is 0 with gradient inf - inf = NaN
        z = surrogate.masked_fill(~infinite.unsqueeze(0).unsqueeze(2), 0)
        res = res + (rustorch.sqrt(z) - rustorch.sqrt(z)).sum((0, 2))
    if zero_infinity:
        res = rustorch.where(infinite, rustorch.zeros((), dtype=dtype, device=dev), res)

    if reduction == "mean":
        return (res / tl_t.to(dtype).clamp(min=1)).mean()
    if reduction == "sum":
        return res.sum()
    return res if is_batched else res.squeeze(0)
