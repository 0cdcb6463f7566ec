"""Normalization and dropout of ``torch.nn.functional``.

``batch_norm``, ``instance_norm``, ``layer_norm``, ``group_norm``, ``rms_norm`` and
``local_response_norm`` are composites in the Rust core (``rustorch._C``), so they run on
every device and their gradients (double backward included) come from the primitives.
Signatures, defaults, the argument checks PyTorch makes in Python (with their exception
types and messages) and the running-statistics updates follow PyTorch; the other checks
raise from the core with ATen's messages.

``dropout``, the channel-wise dropouts (``dropout1d/2d/3d``, ``feature_alpha_dropout``) and
``alpha_dropout`` follow ATen's ``_dropout_impl``: one Bernoulli draw per element (or per
sample and channel), survivors scaled by ``1/(1-p)``; the alpha variants keep SELU's mean
and variance with the same affine correction as PyTorch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Optional, Union

import rustorch
from rustorch import _C, Tensor

__all__ = [
    "batch_norm",
    "instance_norm",
    "layer_norm",
    "group_norm",
    "rms_norm",
    "local_response_norm",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
]

_shape_t = Union[int, Sequence[int]]


def _verify_batch_size(size: Sequence[int]) -> None:
    """PyTorch's check that each channel sees more than one value in training."""
    size_prods = size[0]
    for i in range(len(size) - 2):
        size_prods *= size[i + 2]
    if size_prods == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {size}"
        )


def _verify_spatial_size(size: Sequence[int]) -> None:
    """PyTorch's check that instance norm sees more than one position per channel."""
    size_prods = 1
    for i in range(2, len(size)):
        size_prods *= size[i]
    if size_prods == 1:
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size {size}"
        )


def batch_norm(
    input: Tensor,
    running_mean: Optional[Tensor],
    running_var: Optional[Tensor],
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    r"""Batch normalization over every dim but the channel dim 1 (``F.batch_norm``).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \gamma + \beta

    In training the batch's statistics normalise (biased variance) and ``running_mean`` /
    ``running_var``, when given, are updated in place without autograd as
    ``r = momentum * stat + (1 - momentum) * r`` with the unbiased variance; otherwise the
    running statistics normalise. Raises PyTorch's ``ValueError`` for a single value per
    channel in training and for a non-positive ``eps``.
    """
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    elif eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    return _C._batch_norm(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )


def instance_norm(
    input: Tensor,
    running_mean: Optional[Tensor] = None,
    running_var: Optional[Tensor] = None,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample over its positions (``F.instance_norm``).

    With ``use_input_stats`` the running statistics, when given, move towards the batch
    average of the per-instance statistics (unbiased variance), as PyTorch's; without it
    they normalise, per channel.
    """
    if use_input_stats:
        _verify_spatial_size(input.size())
    return _C._instance_norm(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )


def layer_norm(
    input: Tensor,
    normalized_shape: _shape_t,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims (``F.layer_norm``).

    Biased variance; ``weight`` and ``bias`` (shape ``normalized_shape``) scale and shift
    element-wise. Shape mismatches raise PyTorch's ``RuntimeError`` messages; a bare int
    ``normalized_shape`` its ``TypeError`` (``nn.LayerNorm`` takes one, the function not).
    """
    if isinstance(normalized_shape, int):
        raise TypeError(
            "layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, "
            "not int"
        )
    return _C._layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise groups of channels of each sample (``F.group_norm``).

    The ``C`` channels split into ``num_groups`` consecutive groups, each normalised over
    its channels and positions; ``weight`` and ``bias`` are per channel.
    """
    if input.dim() < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.dim()}"
        )
    size = input.size()
    _verify_batch_size([size[0] * size[1] // num_groups, num_groups, *size[2:]])
    return _C._group_norm(input, num_groups, weight, bias, eps)


def rms_norm(
    input: Tensor,
    normalized_shape: _shape_t,
    weight: Optional[Tensor] = None,
    eps: Optional[float] = None,
) -> Tensor:
    """Root-mean-square normalization over the last dims (``F.rms_norm``).

    ``y = x / sqrt(mean(x**2) + eps) * weight``; ``eps=None`` is
    ``torch.finfo(input.dtype).eps``, as PyTorch's.
    """
    return _C._rms_norm(input, normalized_shape, weight, eps)


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """Local response normalization across channels (``F.local_response_norm``).

    Each element is divided by ``(k + alpha * avg(x**2))**beta``, the average taken over
    ``size`` neighbouring channels with zero padding counted, as PyTorch's average pool.
    As in PyTorch, an empty input is returned as it is, and the dtypes that pool refuses
    (``avg_pool2d`` for 3-D inputs, ``avg_pool3d`` otherwise: on the CPU, integers other
    than int64, bool, and half floats beyond 3-D) raise its ``NotImplementedError``.
    """
    return _C._local_response_norm(input, size, alpha, beta, k)


# ---------------------------------------------------------------------------- dropout


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _masked(input: Tensor, p: float, training: bool, inplace: bool, feature: bool,
            alpha: bool) -> Tensor:
    """ATen's ``_dropout_impl``: a Bernoulli(1-p) mask per element, or per sample and
    channel (``feature``), scaled by ``1/(1-p)``; ``alpha`` keeps SELU's statistics. The
    scaled mask is drawn in one pass; an integer or bool input raises PyTorch's cast
    error."""
    if p == 0.0 or not training or input.numel() == 0:
        return input
    if feature and input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    if p == 1.0:
        zero = rustorch.zeros((), dtype=input.dtype, device=input.device)
        return input.mul_(zero) if inplace else input * zero
    shape = tuple(input.shape)
    if feature:
        shape = shape[:2] + (1,) * (len(shape) - 2)
    if not alpha:
        scale = _C._dropout_mask(input, shape, 1.0 - p, True)
        return input.mul_(scale) if inplace else input * scale
    keep = _C._dropout_mask(input, shape, 1.0 - p, False)
    selu_alpha = 1.7580993408473766
    a = 1.0 / math.sqrt((selu_alpha * selu_alpha * p + 1) * (1 - p))
    b = (keep - 1.0) * (selu_alpha * a) + selu_alpha * a * p
    if inplace:
        return input.mul_(keep * a).add_(b)
    return input * (keep * a) + b


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    r"""During training, randomly zero elements of the input with probability ``p``.

    Survivors are scaled by :math:`\frac{1}{1-p}` (PyTorch's inverted dropout); the mask is
    drawn on the input's device from its generator (``rustorch.rand``). Identity when not
    training or ``p == 0``.
    """
    _check_p(p)
    return _masked(input, p, training, inplace, feature=False, alpha=False)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input (``F.dropout1d``)."""
    _check_p(p)
    inp_dim = input.dim()
    if inp_dim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {inp_dim}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
    is_batched = inp_dim == 3
    x = input if is_batched else input.unsqueeze(0)
    result = _masked(x, p, training, inplace, feature=True, alpha=False)
    if not is_batched:
        return input if inplace else result.squeeze(0)
    return result


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, H, W)`` input (``F.dropout2d``).

    As PyTorch, other ranks warn, and a 3-D input is taken as ``(N, C, L)`` (with a
    warning), not as an unbatched image.
    """
    _check_p(p)
    inp_dim = input.dim()
    if inp_dim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {inp_dim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout2d "
            "exists to provide channel-wise dropout on inputs with 2 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if inp_dim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _masked(input, p, training, inplace, feature=True, alpha=False)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input
    (``F.dropout3d``); other ranks warn, as PyTorch."""
    _check_p(p)
    inp_dim = input.dim()
    if inp_dim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {inp_dim}-D input to dropout3d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout3d "
            "exists to provide channel-wise dropout on inputs with 3 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    is_batched = inp_dim == 5
    x = input if is_batched else input.unsqueeze(0)
    result = _masked(x, p, training, inplace, feature=True, alpha=False)
    if not is_batched:
        return input if inplace else result.squeeze(0)
    return result


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's zero mean and unit variance (``F.alpha_dropout``).

    Dropped elements take SELU's negative saturation value and the result is affinely
    corrected, with PyTorch's constants. Note ``training`` defaults to ``False``, as in
    PyTorch.
    """
    _check_p(p)
    return _masked(input, p, training, inplace, feature=False, alpha=True)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels (``F.feature_alpha_dropout``)."""
    _check_p(p)
    return _masked(input, p, training, inplace, feature=True, alpha=True)
