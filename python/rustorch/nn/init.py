"""Parameter initialisation, matching ``torch.nn.init``.

Every function fills its tensor in place under ``no_grad`` and returns it. Bounds and
standard deviations are computed exactly as PyTorch computes them, and random draws are
made with the tensor's own ``uniform_`` / ``normal_`` (one call per tensor, as PyTorch), so
a seeded initialisation consumes the global RNG in the same order.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Optional

import numpy as np

import rustorch
from rustorch import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]


def _gen_kwargs(generator: Any) -> dict[str, Any]:
    return {} if generator is None else {"generator": generator}


def _uniform(tensor: Tensor, a: float, b: float, generator: Any) -> Tensor:
    return tensor.uniform_(a, b, **_gen_kwargs(generator))


def _normal(tensor: Tensor, mean: float, std: float, generator: Any) -> Tensor:
    return tensor.normal_(mean, std, **_gen_kwargs(generator))


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    r"""Return the recommended gain value for the given nonlinearity function.

    ============ ==========================================
    nonlinearity gain
    ============ ==========================================
    Linear / Identity / Conv{1,2,3}D / Sigmoid  :math:`1`
    Tanh                                        :math:`\frac{5}{3}`
    ReLU                                        :math:`\sqrt{2}`
    Leaky Relu   :math:`\sqrt{\frac{2}{1 + \text{negative\_slope}^2}}`
    SELU                                        :math:`\frac{3}{4}`
    ============ ==========================================
    """
    linear_fns = [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    ]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    elif nonlinearity == "tanh":
        return 5.0 / 3
    elif nonlinearity == "relu":
        return math.sqrt(2.0)
    elif nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, int) or isinstance(param, float):
            # True/False are instances of int, hence check above
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    elif nonlinearity == "selu":
        return 3.0 / 4  # Value found empirically (https://github.com/pytorch/pytorch/pull/50664)
    else:
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    r"""Fill the input Tensor with values drawn from :math:`\mathcal{U}(a, b)`."""
    with rustorch.no_grad():
        return _uniform(tensor, a, b, generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    r"""Fill the input Tensor with values drawn from :math:`\mathcal{N}(\text{mean}, \text{std}^2)`."""  # noqa: E501
    with rustorch.no_grad():
        return _normal(tensor, mean, std, generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Any = None,
) -> Tensor:
    r"""Fill the tensor from a normal distribution truncated to ``[a, b]``.

    Where the tensor has ``erfinv_`` this is PyTorch's inverse-CDF method (same draws);
    otherwise the values are drawn by rejection from ``normal_(mean, std)`` (same
    distribution, different stream of random numbers).
    """
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    if hasattr(tensor, "erfinv_"):

        def norm_cdf(x: float) -> float:
            # Computes standard normal cumulative distribution function
            return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

        with rustorch.no_grad():
            lo = norm_cdf((a - mean) / std)
            hi = norm_cdf((b - mean) / std)
            _uniform(tensor, 2 * lo - 1, 2 * hi - 1, generator)
            tensor.erfinv_()
            tensor.mul_(std * math.sqrt(2.0))
            tensor.add_(mean)
            tensor.copy_(tensor.clamp(min=a, max=b))
            return tensor
    with rustorch.no_grad():
        result = rustorch.empty(_shape(tensor), dtype=tensor.dtype)
        _normal(result, mean, std, generator)
        valid = (result >= a) & (result <= b)
        for _ in range(1000):
            if bool(valid.all()):
                break
            draw = rustorch.empty(_shape(tensor), dtype=tensor.dtype)
            _normal(draw, mean, std, generator)
            result = rustorch.where(valid, result, draw)
            valid = (result >= a) & (result <= b)
        result = result.clamp(min=a, max=b)
        tensor.copy_(result)
    return tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    r"""Fill the input Tensor with the value :math:`\text{val}`."""
    with rustorch.no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    r"""Fill the input Tensor with the scalar value `1`."""
    with rustorch.no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor: Tensor) -> Tensor:
    r"""Fill the input Tensor with the scalar value `0`."""
    with rustorch.no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    r"""Fill the 2-dimensional input Tensor with the identity matrix."""
    if tensor.dim() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = _shape(tensor)
    with rustorch.no_grad():
        eye = rustorch.from_numpy(np.eye(rows, cols, dtype=_np_dtype(tensor)))
        tensor.copy_(eye)
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    r"""Fill a 3-, 4- or 5-dimensional convolution weight with the Dirac delta, as PyTorch's:
    each of a group's first ``min(out/groups, in)`` output channels passes its input channel
    through the window's centre; the rest is zero."""
    dimensions = tensor.dim()
    if dimensions not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = _shape(tensor)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = sizes[0] // groups
    delta = np.zeros(sizes, dtype=_np_dtype(tensor))
    centre = tuple(v // 2 for v in sizes[2:])
    for g in range(groups):
        for d in range(min(per_group, sizes[1])):
            delta[(g * per_group + d, d) + centre] = 1
    with rustorch.no_grad():
        tensor.copy_(rustorch.from_numpy(delta))
    return tensor


def _np_dtype(tensor: Tensor) -> Any:
    name = str(tensor.dtype).rsplit(".", 1)[-1]
    return np.dtype("bool" if name == "bool" else name)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    dimensions = tensor.dim()
    if dimensions < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    shape = _shape(tensor)
    num_input_fmaps = shape[1]
    num_output_fmaps = shape[0]
    receptive_field_size = 1
    for s in shape[2:]:
        receptive_field_size *= s
    fan_in = num_input_fmaps * receptive_field_size
    fan_out = num_output_fmaps * receptive_field_size
    return fan_in, fan_out


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    r"""Glorot uniform: :math:`\mathcal{U}(-a, a)`, :math:`a = \text{gain} \sqrt{6/(\text{fan\_in} + \text{fan\_out})}`."""  # noqa: E501
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # Calculate uniform bounds from standard deviation
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    r"""Glorot normal: :math:`\mathcal{N}(0, \text{std}^2)`, :math:`\text{std} = \text{gain} \sqrt{2/(\text{fan\_in} + \text{fan\_out})}`."""  # noqa: E501
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    r"""He uniform: :math:`\mathcal{U}(-b, b)`, :math:`b = \text{gain} \sqrt{3 / \text{fan\_mode}}`.

    ``Linear`` uses ``a=sqrt(5)``, which gives :math:`b = 1/\sqrt{\text{fan\_in}}`.
    """
    if 0 in _shape(tensor):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std  # Calculate uniform bounds from standard deviation
    with rustorch.no_grad():
        return _uniform(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: Any = None,
) -> Tensor:
    r"""He normal: :math:`\mathcal{N}(0, \text{std}^2)`, :math:`\text{std} = \text{gain} / \sqrt{\text{fan\_mode}}`."""  # noqa: E501
    if 0 in _shape(tensor):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    with rustorch.no_grad():
        return _normal(tensor, 0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    r"""Fill the input with a (semi) orthogonal matrix, as ``torch.nn.init.orthogonal_``.

    A ``(rows, numel // rows)`` matrix is drawn from :math:`\mathcal{N}(0, 1)` with the
    tensor's ``normal_``, QR-decomposed with NumPy (LAPACK, like PyTorch), its ``Q`` sign-
    corrected by ``sign(diag(R))`` and scaled by ``gain``.
    """
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    shape = _shape(tensor)
    if 0 in shape:
        # no-op
        return tensor
    rows = shape[0]
    cols = math.prod(shape) // rows
    with rustorch.no_grad():
        flattened = rustorch.empty((rows, cols), dtype=tensor.dtype)
        _normal(flattened, 0, 1, generator)
        flat = np.array(flattened.numpy(), copy=True)
        if rows < cols:
            flat = flat.T
        # Compute the qr factorization
        q, r = np.linalg.qr(flat)
        # Make Q uniform according to https://arxiv.org/pdf/math-ph/0609050.pdf
        d = np.diag(r, 0)
        ph = np.sign(d)
        q *= ph
        if rows < cols:
            q = q.T
        q = np.ascontiguousarray(q.reshape(shape)).astype(_np_dtype(tensor))
        tensor.copy_(rustorch.from_numpy(q))
        tensor.mul_(gain)
    return tensor


# ---------------------------------------------------------------------------- deprecated


def _make_deprecate(meth: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The old, underscore-less spelling of ``meth``: warns (``FutureWarning``, PyTorch's
    text) and calls it, as ``torch.nn.init._make_deprecate``."""
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = rf"""
    {old_name}(...)

    .. warning::
        This method is now deprecated in favor of :func:`rustorch.nn.init.{new_name}`.

    See :func:`~rustorch.nn.init.{new_name}` for details."""
    deprecated_init.__name__ = old_name
    deprecated_init.__qualname__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
