"""More activation functions of ``torch.nn.functional``, composed from rustorch tensor ops.

Each is a composition of core ops (``softplus``, ``elu``, ``hardtanh``, ``clamp``,
``where``, ``masked_fill``, ``softmax``...), so autograd and every device come for free;
the compositions follow PyTorch's kernels so values agree to rounding and gradients agree
everywhere except on measure-zero boundary points where PyTorch picks a one-sided
derivative that the composition does not (noted per function).

``inplace=True`` writes the result into ``input`` (``input.copy_(result)``, or a core
in-place op where one does the job) and returns ``input``, as PyTorch's in-place variants.
"""

from __future__ import annotations

from typing import Optional

import rustorch
from rustorch import Tensor

__all__ = [
    "prelu",
    "logsigmoid",
    "mish",
    "hardswish",
    "hardsigmoid",
    "selu",
    "celu",
    "softsign",
    "tanhshrink",
    "threshold",
    "softmin",
    "hardshrink",
    "softshrink",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _source(input: Tensor, inplace: bool) -> Tensor:
    """What an in-place op computes from: a clone when autograd records the op (the graph
    must not keep the values ``copy_`` is about to overwrite), else ``input`` itself."""
    if inplace and input.requires_grad and rustorch.is_grad_enabled():
        return input.clone()
    return input


def _finish(input: Tensor, result: Tensor, inplace: bool) -> Tensor:
    if inplace:
        return input.copy_(result)
    return result


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    r"""``max(0, x) + weight * min(0, x)`` with one ``weight`` per channel (dim 1) or one
    shared, as ``torch.nn.functional.prelu``; same shape errors as PyTorch."""
    if weight.dim() > 1:
        raise RuntimeError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}"
        )
    n_weights = weight.numel()
    if n_weights != 1:
        channels = input.shape[1] if input.dim() >= 2 else 1
        if n_weights != channels:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter "
                f"numbers = {n_weights} and channel size = {channels}."
            )
        shape = [1] * input.dim()
        shape[1] = n_weights
        w = weight.reshape(shape)
    else:
        w = weight.reshape(())
    return rustorch.where(input > 0, input, w * input)


def logsigmoid(input: Tensor) -> Tensor:
    r""":math:`\log \sigma(x)`, computed stably as ``-softplus(-x)``
    (``torch.nn.functional.logsigmoid``)."""
    return -rustorch.softplus(-input, 1.0, 20.0)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    r""":math:`x \tanh(\mathrm{softplus}(x))` element-wise (``torch.nn.functional.mish``)."""
    x = _source(input, inplace)
    result = x * rustorch.tanh(rustorch.softplus(x, 1.0, 20.0))
    return _finish(input, result, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    r"""``min(max(x + 3, 0), 6) / 6`` (``torch.nn.functional.hardsigmoid``); gradient
    ``1/6`` on the open interval ``(-3, 3)`` and 0 elsewhere, as PyTorch."""
    x = _source(input, inplace)
    result = (x + 3.0).hardtanh(0.0, 6.0) / 6.0
    return _finish(input, result, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    r"""``x * min(max(x + 3, 0), 6) / 6`` (``torch.nn.functional.hardswish``).

    The gradient is PyTorch's (``x / 3 + 0.5`` inside ``(-3, 3)``, 0 below, 1 above)
    except at exactly ``x = +-3`` (PyTorch gives 1.5 and -0.5 there, this gives 1 and 0).
    """
    x = _source(input, inplace)
    result = x * (x + 3.0).hardtanh(0.0, 6.0) / 6.0
    return _finish(input, result, inplace)


def _elu_like(input: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    """PyTorch's elu kernel: ``scale * x`` for ``x > 0``, else
    ``alpha * scale * expm1(x * input_scale)``; the negative branch sees ``min(x, 0)`` so it
    never overflows (and its gradient never leaks NaN through ``where``)."""
    neg = (input.clamp(max=0.0) * input_scale).expm1() * (alpha * scale)
    pos = input if scale == 1.0 else input * scale
    return rustorch.where(input > 0, pos, neg)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    r"""``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))`` with PyTorch's constants
    (``torch.nn.functional.selu``)."""
    x = _source(input, inplace)
    result = _elu_like(x, _SELU_ALPHA, _SELU_SCALE, 1.0)
    return _finish(input, result, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    r"""``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (``torch.nn.functional.celu``)."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    x = _source(input, inplace)
    result = _elu_like(x, alpha, 1.0, 1.0 / alpha)
    return _finish(input, result, inplace)


def softsign(input: Tensor) -> Tensor:
    r""":math:`x / (1 + |x|)` (``torch.nn.functional.softsign``, the same composition)."""
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    r""":math:`x - \tanh(x)` (``torch.nn.functional.tanhshrink``)."""
    return input - input.tanh()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    r"""``value`` where ``x <= threshold``, else ``x`` (NaN stays NaN), as
    ``torch.nn.functional.threshold``; the gradient is 0 where replaced."""
    mask = input <= threshold
    if inplace:
        return input.masked_fill_(mask, value)
    return input.masked_fill(mask, value)


def softmin(
    input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype: object = None
) -> Tensor:
    r"""``softmax(-x)`` along ``dim`` (``torch.nn.functional.softmin``)."""
    from rustorch.nn.functional import _get_softmax_dim

    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return rustorch.softmax(-input, dim)


def _check_lambd(input: Tensor, lambd: float) -> None:
    if lambd < 0:
        name = {"float32": "Float", "float64": "Double", "float16": "Half",
                "bfloat16": "BFloat16"}.get(str(input.dtype).rsplit(".", 1)[-1], str(input.dtype))
        top = "3.40282e+38" if name == "Float" else "1.79769e+308"
        raise RuntimeError(
            f"lambda must be in range [0, {top}] for input dtype {name}, but found {lambd:g}"
        )


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    r"""``0`` where ``-lambd <= x <= lambd``, else ``x`` (``torch.nn.functional.hardshrink``)."""
    return input.masked_fill((input >= -lambd) & (input <= lambd), 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    r"""``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0
    (``torch.nn.functional.softshrink``): ``x - clamp(x, -lambd, lambd)``, NaN stays NaN."""
    _check_lambd(input, lambd)
    return input - input.clamp(-lambd, lambd)
