"""Functional interface, matching ``torch.nn.functional``.

Everything here is composed from rustorch's core tensor operations, so autograd comes for
free. The names, signatures, defaults, warnings and error messages follow PyTorch, and the
formulas follow PyTorch's kernels (e.g. ``binary_cross_entropy`` clamps its logs at -100,
``binary_cross_entropy_with_logits`` uses ``(1 - t) * x - log_sigmoid(x)``), so values and
gradients agree with PyTorch to floating-point rounding.

Functions whose ``inplace=True`` PyTorch honours are in place here when the core tensor has
the matching in-place method (``relu_``, ``leaky_relu_``, ``elu_``, ``hardtanh_``);
otherwise the result is computed out of place (same values; the input is left unchanged).
"""

from __future__ import annotations

import math
import warnings
from typing import Optional

import rustorch
from rustorch import Tensor
from rustorch.utils._misc import dtype_name, first_outside

__all__ = [
    "glu",
    "normalize",
    "cosine_similarity",
    "linear",
    "bilinear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "hardtanh",
    "one_hot",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
]


# ---------------------------------------------------------------------------- helpers


class _Reduction:
    """Reduction-string handling of ``torch.nn._reduction``."""

    @staticmethod
    def get_enum(reduction: str) -> int:
        if reduction == "none":
            return 0
        if reduction == "mean":
            return 1
        if reduction == "elementwise_mean":
            warnings.warn(
                "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                stacklevel=3,
            )
            return 1
        if reduction == "sum":
            return 2
        raise ValueError(f"{reduction} is not a valid value for reduction")

    @staticmethod
    def legacy_get_string(
        size_average: Optional[bool], reduce: Optional[bool], emit_warning: bool = True
    ) -> str:
        warning = (
            "size_average and reduce args will be deprecated, please use reduction='{}' instead."
        )
        if size_average is None:
            size_average = True
        if reduce is None:
            reduce = True
        if size_average and reduce:
            ret = "mean"
        elif reduce:
            ret = "sum"
        else:
            ret = "none"
        if emit_warning:
            warnings.warn(warning.format(ret), stacklevel=3)
        return ret


def _reduction_name(size_average: Optional[bool], reduce: Optional[bool], reduction: str) -> str:
    if size_average is not None or reduce is not None:
        reduction = _Reduction.legacy_get_string(size_average, reduce)
    if reduction == "elementwise_mean":
        _Reduction.get_enum(reduction)
        return "mean"
    _Reduction.get_enum(reduction)  # validates
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    return loss.sum()


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _size_str(t: Tensor) -> str:
    # what ``str(tensor.size())`` prints in PyTorch: torch.Size([2, 3])
    return f"torch.Size({list(_shape(t))})"


def _warn_size_mismatch(input: Tensor, target: Tensor) -> None:
    if _shape(target) != _shape(input):
        warnings.warn(
            f"Using a target size ({_size_str(target)}) that is different to the input size "
            f"({_size_str(input)}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _is_float(t: Tensor) -> bool:
    return dtype_name(t.dtype) in ("float32", "float64", "float16", "bfloat16")


def _numel(t: Tensor) -> int:
    return math.prod(_shape(t))


def _inplace_method(input: Tensor, name: str) -> Optional[object]:
    return getattr(input, name, None)


# ---------------------------------------------------------------------------- linear


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    r"""Apply a linear transformation to the incoming data: :math:`y = xA^T + b`.

    Shapes as in ``torch.nn.functional.linear``: input ``(*, in_features)``, weight
    ``(out_features, in_features)`` or ``(in_features)``, bias ``(out_features)`` or ``()``.
    """
    if (
        input.dim() >= 2
        and weight.dim() == 2
        and bias is not None
        and bias.dim() <= 1
        and bias.dtype == input.dtype == weight.dtype
    ):
        # One fused kernel (gemm accumulating onto the broadcast bias), as PyTorch's addmm;
        # leading dims folded into the rows, as PyTorch's linear folds them.
        if input.dim() == 2:
            return rustorch.addmm(bias, input, weight.t())
        rows = input.reshape(-1, input.shape[-1])
        out = rustorch.addmm(bias, rows, weight.t())
        return out.reshape(*input.shape[:-1], weight.shape[0])
    if weight.dim() == 1:
        out = rustorch.matmul(input, weight)
    else:
        out = rustorch.matmul(input, weight.t())
    if bias is not None:
        out = out + bias
    return out


def bilinear(
    input1: Tensor, input2: Tensor, weight: Tensor, bias: Optional[Tensor] = None
) -> Tensor:
    r"""Apply a bilinear transformation: :math:`y = x_1^T A x_2 + b`.

    input1 ``(*, in1)``, input2 ``(*, in2)``, weight ``(out, in1, in2)``, bias ``(out)``;
    output ``(*, out)``, as ``torch.nn.functional.bilinear``.
    """
    if weight.dim() != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-dimensional, but got {weight.dim()}")
    out_features, in1, in2 = _shape(weight)
    lead = _shape(input1)[:-1]
    if _shape(input1)[-1] != in1:
        raise RuntimeError(
            f"bilinear(): input1 size does not match weight size: got {_shape(input1)[-1]} "
            f"but expected {in1}"
        )
    if _shape(input2)[-1] != in2:
        raise RuntimeError(
            f"bilinear(): input2 size does not match weight size: got {_shape(input2)[-1]} "
            f"but expected {in2}"
        )
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # (N, in1) @ (in1, out*in2) -> (N, out, in2), then contract with x2 over in2
    w = weight.permute(1, 0, 2).reshape(in1, out_features * in2)
    t = rustorch.matmul(x1, w).reshape(-1, out_features, in2)
    out = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, out_features)


# ---------------------------------------------------------------------------- activations


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    r"""Apply the rectified linear unit function element-wise: :math:`\max(0, x)`."""
    if inplace:
        method = _inplace_method(input, "relu_")
        if method is not None:
            return method()
    return rustorch.relu(input)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    r"""Apply :math:`\min(\max(0, x), 6)` element-wise."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    r"""Apply :math:`\max(0, x) + \text{negative\_slope} * \min(0, x)` element-wise."""
    if inplace:
        method = _inplace_method(input, "leaky_relu_")
        if method is not None:
            return method(negative_slope)
    return input.leaky_relu(negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    r"""Apply the Exponential Linear Unit element-wise: ``x if x > 0 else alpha*(exp(x)-1)``."""
    if inplace:
        method = _inplace_method(input, "elu_")
        if method is not None:
            return method(alpha)
    return input.elu(alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    r"""Apply the Gaussian Error Linear Unit (``approximate='none'`` or ``'tanh'``)."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return rustorch.gelu(input, approximate=approximate)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    r"""Gated linear unit: :math:`a \otimes \sigma(b)` for the two halves ``a``, ``b`` of
    ``input`` along ``dim`` (``torch.nn.functional.glu``)."""
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.dim()} is size {size}"
        )
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Optional[Tensor] = None
) -> Tensor:
    r""":math:`v / \max(\lVert v \rVert_p, \epsilon)` along ``dim``, as PyTorch's
    ``torch.nn.functional.normalize`` (the same composition)."""
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return input / denom


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    r"""Cosine similarity along ``dim`` of ``x1`` and ``x2`` broadcast together
    (``torch.nn.functional.cosine_similarity``): each input is divided by its norm clamped
    to ``eps`` before the dot product, as ATen does, whose clamp is not differentiated (the
    gradient goes through the norm itself, also below ``eps``)."""

    def clamped_norm(x: Tensor) -> Tensor:
        n = x.norm(2, dim, keepdim=True)
        return n + (n.clamp(min=eps) - n).detach()

    return ((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2))).sum(dim)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    r"""Apply the Sigmoid Linear Unit :math:`x * \sigma(x)` element-wise."""
    return rustorch.silu(input)


def sigmoid(input: Tensor) -> Tensor:
    r"""Apply :math:`1 / (1 + \exp(-x))` element-wise."""
    return rustorch.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    r"""Apply the hyperbolic tangent element-wise."""
    return rustorch.tanh(input)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(
    input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: object = None
) -> Tensor:
    r"""Apply softmax along ``dim`` (cast to ``dtype`` first when given)."""
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return rustorch.softmax(input, dim)


def log_softmax(
    input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: object = None
) -> Tensor:
    r"""Apply :math:`\log(\text{softmax}(x))` along ``dim`` (cast to ``dtype`` first)."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return rustorch.log_softmax(input, dim)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    r"""Apply :math:`\frac{1}{\beta} \log(1 + \exp(\beta x))`, linear above ``threshold``."""
    return rustorch.softplus(input, beta, threshold)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    r"""Clamp the input element-wise to ``[min_val, max_val]``; the gradient passes inside
    the open interval only, as PyTorch's ``hardtanh_backward``."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        method = _inplace_method(input, "hardtanh_")
        if method is not None:
            return method(min_val, max_val)
    return input.hardtanh(min_val, max_val)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    r"""Return an int64 tensor of shape ``(*, num_classes)`` with a 1 at each class index.

    ``num_classes=-1`` infers it as one more than the largest value, as PyTorch does.
    """
    return rustorch._C.one_hot(tensor, num_classes)


# ---------------------------------------------------------------------------- losses


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    weight: Optional[Tensor] = None,
) -> Tensor:
    r"""Mean (or summed / element-wise) absolute error, as ``torch.nn.functional.l1_loss``."""
    _warn_size_mismatch(input, target)
    reduction = _reduction_name(size_average, reduce, reduction)
    loss = (input - target).abs()
    if weight is not None:
        if _shape(weight) != _shape(input):
            raise ValueError("Weights and input must have the same size.")
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    weight: Optional[Tensor] = None,
) -> Tensor:
    r"""Mean (or summed / element-wise) squared error, as ``torch.nn.functional.mse_loss``."""
    _warn_size_mismatch(input, target)
    reduction = _reduction_name(size_average, reduce, reduction)
    diff = input - target
    loss = diff * diff
    if weight is not None:
        if _shape(weight) != _shape(input):
            raise ValueError("Weights and input must have the same size.")
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    r"""Smooth L1: ``0.5 z^2 / beta`` if ``z < beta`` else ``z - 0.5 beta`` (``z = |x - y|``)."""
    _warn_size_mismatch(input, target)
    reduction = _reduction_name(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    z = (input - target).abs()
    if beta == 0.0:
        return _reduce(z, reduction)
    loss = rustorch.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Optional[Tensor] = None,
) -> Tensor:
    r"""Huber: ``0.5 z^2`` if ``z < delta`` else ``delta (z - 0.5 delta)`` (``z = |x - y|``)."""
    _warn_size_mismatch(input, target)
    _Reduction.get_enum(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    z = (input - target).abs()
    loss = rustorch.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))
    if weight is not None:
        if _shape(weight) != _shape(input):
            raise ValueError("Weights and input must have the same size.")
        loss = loss * weight
    return _reduce(loss, reduction)


def _class_dim(input: Tensor) -> int:
    if input.dim() == 0:
        raise ValueError("Expected input to have at least 1 dimension (got 0)")
    return 0 if input.dim() == 1 else 1


def _check_nll_shapes(input: Tensor, target: Tensor, weight: Optional[Tensor]) -> Tensor:
    """Validate class-index targets and class weights against ``input``; returns the target
    to use."""
    classes = _shape(input)[_class_dim(input)]
    if weight is not None and _numel(weight) != classes:
        # PyTorch's two messages: its 1-D/2-D kernel's, and its N-d one's.
        if input.dim() <= 2:
            raise RuntimeError(
                f"weight tensor should be defined either for all {classes} classes or no "
                f"classes but got weight tensor of shape: {list(_shape(weight))}"
            )
        raise RuntimeError("weight tensor should be defined either for all or no classes")
    if input.dim() == 1:
        if target.dim() > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if target.dim() == 1:
            if _shape(target)[0] != 1:
                raise ValueError(
                    f"Expected input batch_size (1) to match target batch_size "
                    f"({_shape(target)[0]})."
                )
            target = target.reshape(())
        return target
    if _shape(input)[0] != _shape(target)[0]:
        raise ValueError(
            f"Expected input batch_size ({_shape(input)[0]}) to match target batch_size "
            f"({_shape(target)[0]})."
        )
    expected = _shape(input)[:1] + _shape(input)[2:]
    if _shape(target) != expected:
        raise RuntimeError(
            f"Expected target size {list(expected)}, got {list(_shape(target))}"
        )
    return target


def _nll_from_log_probs(
    logp: Tensor, target: Tensor, weight: Optional[Tensor], ignore_index: int, reduction: str
) -> tuple[Tensor, Tensor]:
    """Negative log likelihood of class ``target`` under log-probabilities ``logp``.

    Returns ``(reduced_loss, w)`` where ``w`` is each target's weight (0 where ignored), so
    ``mean`` is ``sum(w * -logp[target]) / sum(w)`` exactly as PyTorch's ``nll_loss``.
    """
    class_dim = _class_dim(logp)
    ignored = target == ignore_index
    safe_target = target.masked_fill(ignored, 0)
    try:
        picked = logp.gather(class_dim, safe_target.unsqueeze(class_dim)).squeeze(class_dim)
    except RuntimeError:
        # PyTorch's error names the first target outside [0, C).
        bad = first_outside(safe_target, _shape(logp)[class_dim])
        if bad is None:
            raise
        raise IndexError(f"Target {bad} is out of bounds.") from None
    if weight is not None:
        w = weight.gather(0, safe_target.reshape(-1)).reshape(_shape(safe_target))
        w = w.masked_fill(ignored, 0.0)
    else:
        w = (target != ignore_index).to(logp.dtype)
    # A select, not only the weight 0: an ignored target passes no gradient even when all
    # are ignored (the mean's divisor is then 0), as PyTorch's.
    loss = (-picked * w).masked_fill(ignored, 0.0)
    if reduction == "none":
        return loss, w
    if reduction == "sum":
        return loss.sum(), w
    return loss.sum() / w.sum(), w


def _cross_entropy_indices(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor],
    ignore_index: int,
    label_smoothing: float,
    reduction: str,
) -> Tensor:
    """Cross entropy of logits ``input`` against class indices ``target``.

    The single place that computes it (the fused-kernel swap point): ``log_softmax`` over
    the class dimension, NLL with ``weight`` / ``ignore_index``, and PyTorch's label
    smoothing ``(1 - ls) * nll + ls / C * smooth`` where ``smooth`` is the (weighted) sum
    of ``-log p`` over classes, normalised like the NLL term for ``mean``.
    """
    if (
        input.dim() == 2
        and target.dim() == 1
        and target.dtype == rustorch.int64
        and input.dtype.is_floating_point
        and (weight is None or weight.dtype == input.dtype)
    ):
        # 2-D logits: the fused Rust kernel (log-softmax + NLL in one pass).
        return rustorch._C._cross_entropy(
            input, target, weight, ignore_index, label_smoothing, reduction
        )
    class_dim = _class_dim(input)
    logp = rustorch.log_softmax(input, class_dim)
    nll, w = _nll_from_log_probs(logp, target, weight, ignore_index, reduction)
    if label_smoothing <= 0.0:
        return nll
    n_classes = _shape(input)[class_dim]
    if weight is not None:
        shape = [1] * logp.dim()
        shape[class_dim] = n_classes
        smooth = -(logp * weight.reshape(shape)).sum(class_dim)
    else:
        smooth = -logp.sum(class_dim)
    smooth = smooth.masked_fill(target == ignore_index, 0.0)
    if reduction == "mean":
        if weight is not None:
            ret = smooth.sum() / w.sum()
        else:
            ret = smooth.sum() / (target != ignore_index).sum()
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth
    return (1 - label_smoothing) * nll + ret * (label_smoothing / n_classes)


def _cross_entropy_probs(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor],
    label_smoothing: float,
    reduction: str,
) -> Tensor:
    class_dim = _class_dim(input)
    n_classes = _shape(input)[class_dim]
    logp = rustorch.log_softmax(input, class_dim)
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + (label_smoothing / n_classes)
    prod = logp * target
    if weight is not None:
        shape = [1] * logp.dim()
        shape[class_dim] = n_classes
        prod = prod * weight.reshape(shape)
    if reduction == "none":
        return -prod.sum(class_dim)
    if reduction == "sum":
        return -prod.sum()
    numel = _numel(input)
    if numel == 0:
        return -prod.sum() * float("nan")
    return -prod.sum() / (numel // n_classes)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Cross entropy between logits ``input`` and ``target``, as ``F.cross_entropy``.

    ``input`` is ``(C)``, ``(N, C)`` or ``(N, C, d1, ...)``. ``target`` holds class indices
    (shape without the class dimension, int64; ``ignore_index`` entries contribute nothing)
    or class probabilities (same shape as ``input``, floating point). ``weight`` rescales
    classes; ``label_smoothing`` in ``[0, 1]`` mixes in the uniform distribution.
    """
    reduction = _reduction_name(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    if _shape(input) == _shape(target) and input.dim() > 0:
        if not _is_float(target):
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, "
                f"got {_legacy_scalar_name(target)}"
            )
        return _cross_entropy_probs(input, target, weight, label_smoothing, reduction)
    target = _check_nll_shapes(input, target, weight)
    return _cross_entropy_indices(input, target, weight, ignore_index, label_smoothing, reduction)


def _legacy_scalar_name(t: Tensor) -> str:
    return str(t.dtype._scalar_name)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    size_average: Optional[bool] = None,
    ignore_index: int = -100,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Negative log likelihood loss on log-probabilities ``input``, as ``F.nll_loss``."""
    reduction = _reduction_name(size_average, reduce, reduction)
    target = _check_nll_shapes(input, target, weight)
    loss, _ = _nll_from_log_probs(input, target, weight, ignore_index, reduction)
    return loss


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross entropy between probabilities ``input`` and ``target``.

    PyTorch's formula: ``(t - 1) * max(log1p(-x), -100) - t * max(log(x), -100)``, times
    ``weight`` (broadcast), then reduced.
    """
    reduction = _reduction_name(size_average, reduce, reduction)
    if _shape(target) != _shape(input):
        raise ValueError(
            f"Using a target size ({_size_str(target)}) that is different to the input size "
            f"({_size_str(input)}) is deprecated. Please ensure they have the same size."
        )
    if _numel(input) > 0:
        with rustorch.no_grad():
            lo, hi = float(input.min().item()), float(input.max().item())
        if lo < 0 or hi > 1:
            raise RuntimeError("all elements of input should be between 0 and 1")
    log_x = rustorch.log(input).clamp(min=-100.0)
    log_1mx = rustorch.log1p(-input).clamp(min=-100.0)
    loss = (target - 1) * log_1mx - target * log_x
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    pos_weight: Optional[Tensor] = None,
) -> Tensor:
    r"""Sigmoid + binary cross entropy in one numerically stable expression.

    PyTorch's formula: ``(1 - t) * x - log_sigmoid(x) * (1 + (pos_weight - 1) * t)``,
    times ``weight``, reduced; ``log_sigmoid(x) = -softplus(-x)``.
    """
    reduction = _reduction_name(size_average, reduce, reduction)
    if _shape(target) != _shape(input):
        raise ValueError(
            f"Target size ({_size_str(target)}) must be the same as input size "
            f"({_size_str(input)})"
        )
    log_sigmoid = -rustorch.softplus(-input, 1.0, 20.0)
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        log_sigmoid = log_sigmoid * log_weight
    loss = (1 - target) * input - log_sigmoid
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    r"""Kullback-Leibler divergence, ``input`` being log-probabilities (``F.kl_div``).

    Pointwise ``target * (log(target) - input)`` (``0`` where ``target == 0``), or
    ``exp(target) * (target - input)`` with ``log_target``; ``reduction`` is ``'none'``,
    ``'sum'``, ``'mean'`` (over all elements, with PyTorch's warning) or ``'batchmean'``.
    """
    if size_average is not None or reduce is not None:
        reduction = _Reduction.legacy_get_string(size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the "
                "support size.'batchmean' divides only by the batch size, and aligns with the "
                "KL div math definition.'mean' will be changed to behave the same as "
                "'batchmean' in the next major release.",
                stacklevel=2,
            )
        if reduction != "batchmean":
            _Reduction.get_enum(reduction)
    if log_target:
        loss = rustorch.exp(target) * (target - input)
    else:
        safe = target.masked_fill(target == 0, 1.0)
        loss = target * rustorch.log(safe) - target * input
    if reduction == "batchmean":
        reduced = loss.sum()
        if input.dim() != 0:
            reduced = reduced / _shape(input)[0]
        return reduced
    return _reduce(loss, reduction)


# Convolution, pooling, fold/unfold and padding live in their own module.
from rustorch.nn._functional_conv import *  # noqa: E402, F403
from rustorch.nn._functional_conv import __all__ as _conv_all  # noqa: E402

__all__ += _conv_all


# Normalization and dropout live in their own module.
from rustorch.nn._functional_norm import *  # noqa: E402, F403
from rustorch.nn._functional_norm import __all__ as _norm_all  # noqa: E402

__all__ += _norm_all


# Embeddings live in their own module.
from rustorch.nn._functional_sparse import *  # noqa: E402, F403
from rustorch.nn._functional_sparse import __all__ as _sparse_all  # noqa: E402

__all__ += _sparse_all


# Attention lives in its own module.
from rustorch.nn._functional_attention import *  # noqa: E402, F403
from rustorch.nn._functional_attention import __all__ as _attention_all  # noqa: E402

__all__ += _attention_all


# More activations live in their own module.
from rustorch.nn._functional_activation import *  # noqa: E402, F403
from rustorch.nn._functional_activation import __all__ as _activation_all  # noqa: E402

__all__ += _activation_all


# More losses live in their own module.
from rustorch.nn._functional_loss import *  # noqa: E402, F403
from rustorch.nn._functional_loss import __all__ as _loss_all  # noqa: E402

__all__ += _loss_all
