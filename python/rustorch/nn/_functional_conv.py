"""Convolution, pooling, fold/unfold and padding of ``torch.nn.functional``.

Each function normalises its arguments as PyTorch does (an int or a tuple per spatial dim,
``stride=None`` meaning the kernel size) and calls one op of the Rust core, where the
shape checks, the messages and the backward rules live. ``max_unpool*`` and ``lp_pool*``
are composed from core ops exactly as PyTorch composes them.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence, Union

import rustorch
from rustorch import Tensor
from rustorch.nn.modules.utils import _ntuple
from rustorch.utils._misc import first_outside

_C = rustorch._C

_Size = Union[int, Sequence[int]]

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "unfold",
    "fold",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "interpolate",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
    "affine_grid",
    "grid_sample",
]


def _list(v: _Size, n: int) -> list[int]:
    return [int(x) for x in _ntuple(n)(v)]


def _stride(stride: Optional[_Size], kernel_size: _Size, n: int) -> list[int]:
    if stride is None or (not isinstance(stride, int) and len(stride) == 0):
        return _list(kernel_size, n)
    return _list(stride, n)


def _conv_list(v: _Size, n: int, what: str) -> list[int]:
    """A per-dim convolution argument, with PyTorch's message for a wrong length (the core
    reads the number of spatial dims from these lists, so a wrong one must stop here)."""
    out = _list(v, n)
    if len(out) != n:
        raise RuntimeError(
            f"expected {what} to be a single integer value or a list of {n} values to match "
            f"the convolution dimensions, but got {what}={out}"
        )
    return out


_WORDS = {1: "one", 2: "two", 3: "three"}


def _pool_list(name: str, what: str, v: Optional[_Size], n: int) -> None:
    """PyTorch's message for a pooling argument of the wrong length."""
    if v is None or isinstance(v, int) or len(v) in (1, n) or (what == "stride" and len(v) == 0):
        return
    if name == "max_pool1d":
        kinds = "None, an int, list of ints, or" if what == "stride" else "an int, list of ints or"
        raise RuntimeError(
            f"max_pool1d() {what} must be {kinds} tuple of ints of size 1 but got size {len(v)}"
        )
    if name == "avg_pool1d":
        raise RuntimeError(f"avg_pool1d() argument '{what}' should contain one int (got {len(v)})")
    verb = "be either" if what == "dilation" else "either be"
    if name == "avg_pool3d" and what == "kernel_size":
        verb = "be"
    omitted = " omitted," if what == "stride" else ""
    raise RuntimeError(
        f"{name}: {what} must {verb}{omitted} a single int, or a tuple of {_WORDS[n]} ints"
    )


# ---------------------------------------------------------------------------- convolution


def _conv(n: int, input: Tensor, weight: Tensor, bias: Optional[Tensor], stride: _Size,
          padding: Union[str, _Size], dilation: _Size, groups: int) -> Tensor:
    pad = padding if isinstance(padding, str) else _conv_list(padding, n, "padding")
    return _C._conv(f"conv{n}d", input, weight, bias, _conv_list(stride, n, "stride"), pad,
                    _conv_list(dilation, n, "dilation"), int(groups))


def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _Size = 1,
           padding: Union[str, _Size] = 0, dilation: _Size = 1, groups: int = 1) -> Tensor:
    """``torch.nn.functional.conv1d``: input ``[N, C, L]`` (or unbatched ``[C, L]``)."""
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _Size = 1,
           padding: Union[str, _Size] = 0, dilation: _Size = 1, groups: int = 1) -> Tensor:
    """``torch.nn.functional.conv2d``; ``padding`` may be ``'same'`` or ``'valid'``."""
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: _Size = 1,
           padding: Union[str, _Size] = 0, dilation: _Size = 1, groups: int = 1) -> Tensor:
    """``torch.nn.functional.conv3d``: input ``[N, C, D, H, W]`` (or unbatched)."""
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(n: int, input: Tensor, weight: Tensor, bias: Optional[Tensor],
                    stride: _Size, padding: _Size, output_padding: _Size, groups: int,
                    dilation: _Size) -> Tensor:
    return _C._conv_transpose(f"conv_transpose{n}d", input, weight, bias,
                              _conv_list(stride, n, "stride"), _conv_list(padding, n, "padding"),
                              _conv_list(output_padding, n, "output_padding"), int(groups),
                              _conv_list(dilation, n, "dilation"))


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
                     stride: _Size = 1, padding: _Size = 0, output_padding: _Size = 0,
                     groups: int = 1, dilation: _Size = 1) -> Tensor:
    """``torch.nn.functional.conv_transpose1d`` (weight ``[C_in, C_out/groups, k]``)."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
                     stride: _Size = 1, padding: _Size = 0, output_padding: _Size = 0,
                     groups: int = 1, dilation: _Size = 1) -> Tensor:
    """``torch.nn.functional.conv_transpose2d`` (weight ``[C_in, C_out/groups, kh, kw]``)."""
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None,
                     stride: _Size = 1, padding: _Size = 0, output_padding: _Size = 0,
                     groups: int = 1, dilation: _Size = 1) -> Tensor:
    """``torch.nn.functional.conv_transpose3d``."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def unfold(input: Tensor, kernel_size: _Size, dilation: _Size = 1, padding: _Size = 0,
           stride: _Size = 1) -> Tensor:
    """``torch.nn.functional.unfold`` (im2col): ``[N, C, H, W]`` to ``[N, C·kh·kw, L]``."""
    return _C._unfold(input, _list(kernel_size, 2), _list(dilation, 2), _list(padding, 2),
                      _list(stride, 2))


def fold(input: Tensor, output_size: _Size, kernel_size: _Size, dilation: _Size = 1,
         padding: _Size = 0, stride: _Size = 1) -> Tensor:
    """``torch.nn.functional.fold`` (col2im): sums the blocks back into ``output_size``."""
    return _C._fold(input, _list(output_size, 2), _list(kernel_size, 2), _list(dilation, 2),
                    _list(padding, 2), _list(stride, 2))


# ---------------------------------------------------------------------------- pooling


def _max_pool(n: int, input: Tensor, kernel_size: _Size, stride: Optional[_Size],
              padding: _Size, dilation: _Size, ceil_mode: bool) -> tuple[Tensor, Tensor]:
    for what, v in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding),
                    ("dilation", dilation)):
        _pool_list(f"max_pool{n}d", what, v, n)
    return _C._max_pool(f"max_pool{n}d", input, _list(kernel_size, n),
                        _stride(stride, kernel_size, n), _list(padding, n),
                        _list(dilation, n), bool(ceil_mode))


def max_pool1d_with_indices(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
                            padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.max_pool1d_with_indices``: (values, flat indices)."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_with_indices(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
                            padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.max_pool2d_with_indices``: (values, flat indices)."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool3d_with_indices(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
                            padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.max_pool3d_with_indices``: (values, flat indices)."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool1d(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.max_pool1d``; the indices are flat within each plane.

    As in PyTorch, the CPU's pool without indices (its own kernel) takes floats only; with
    ``return_indices`` (the 2-D pool's kernel) any dtype but bool.
    """
    if not return_indices and input.device.type == "cpu" and not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"max_pool1d_impl\" not implemented for '{input.dtype._scalar_name}'"
        )
    out = _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode)
    return out if return_indices else out[0]


def max_pool2d(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.max_pool2d``; NaN propagates, ties go to the first position."""
    out = _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode)
    return out if return_indices else out[0]


def max_pool3d(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.max_pool3d``."""
    out = _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode)
    return out if return_indices else out[0]


def _avg_pool(n: int, input: Tensor, kernel_size: _Size, stride: Optional[_Size],
              padding: _Size, ceil_mode: bool, count_include_pad: bool,
              divisor_override: Optional[int]) -> Tensor:
    for what, v in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
        _pool_list(f"avg_pool{n}d", what, v, n)
    return _C._avg_pool(f"avg_pool{n}d", input, _list(kernel_size, n),
                        _stride(stride, kernel_size, n), _list(padding, n), bool(ceil_mode),
                        bool(count_include_pad),
                        None if divisor_override is None else int(divisor_override))


def avg_pool1d(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
               padding: _Size = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """``torch.nn.functional.avg_pool1d``."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
               padding: _Size = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """``torch.nn.functional.avg_pool2d`` (PyTorch's divisor rule, ``divisor_override``)."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input: Tensor, kernel_size: _Size, stride: Optional[_Size] = None,
               padding: _Size = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: Optional[int] = None) -> Tensor:
    """``torch.nn.functional.avg_pool3d``."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _output_size(v: Union[None, int, Sequence[Optional[int]]], n: int, input: Tensor,
                 kind: str) -> list[int]:
    """An adaptive pool's output size; ``None`` keeps the input's size (``-1`` to the core).
    A size of the wrong length or below 0 raises PyTorch's error (its 1-d pools run as 2-d
    ones, and their messages say so)."""
    sizes = [None if x is None else int(x) for x in _ntuple(n)(v)]
    name = f"adaptive_{kind}_pool{n}d"
    if isinstance(v, (list, tuple)) and len(v) != n:
        raise RuntimeError(f"{name}: output_size must be {n}" if kind == "avg" else
                           f"{name}(): internal error: output_size.size() must be {n}")
    if any(x is not None and x < 0 for x in sizes):
        # What PyTorch's message prints: the 2-d or 3-d sizes (None read as its -1).
        shown = ([1] if n == 1 else []) + [-1 if x is None else x for x in sizes]
        if kind == "avg":
            listed = ", ".join(map(str, shown)) if n < 3 else "{}, {},{}".format(*shown)
            raise RuntimeError(
                f"adaptive_avg_pool{max(n, 2)}d: elements of output_size must be greater than "
                f"or equal to 0 but received {{{listed}}}"
            )
        shape = list(input.shape[:-n]) + ([1] if n == 1 else []) + shown[-n:]
        raise RuntimeError(
            f"Trying to create tensor with negative dimension {min(shown)}: {shape}"
        )
    return [-1 if x is None else x for x in sizes]


def adaptive_avg_pool1d(input: Tensor, output_size: _Size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool1d``."""
    size = _output_size(output_size, 1, input, "avg")
    return _C._adaptive_avg_pool("adaptive_avg_pool1d", input, size)


def adaptive_avg_pool2d(input: Tensor, output_size: _Size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool2d``; ``None`` entries keep the input size."""
    size = _output_size(output_size, 2, input, "avg")
    return _C._adaptive_avg_pool("adaptive_avg_pool2d", input, size)


def adaptive_avg_pool3d(input: Tensor, output_size: _Size) -> Tensor:
    """``torch.nn.functional.adaptive_avg_pool3d``."""
    size = _output_size(output_size, 3, input, "avg")
    return _C._adaptive_avg_pool("adaptive_avg_pool3d", input, size)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size: _Size,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.adaptive_max_pool1d_with_indices``."""
    size = _output_size(output_size, 1, input, "max")
    return _C._adaptive_max_pool("adaptive_max_pool1d", input, size)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size: _Size,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.adaptive_max_pool2d_with_indices``."""
    size = _output_size(output_size, 2, input, "max")
    return _C._adaptive_max_pool("adaptive_max_pool2d", input, size)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size: _Size,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.adaptive_max_pool3d_with_indices``."""
    size = _output_size(output_size, 3, input, "max")
    return _C._adaptive_max_pool("adaptive_max_pool3d", input, size)


def adaptive_max_pool1d(input: Tensor, output_size: _Size,
                        return_indices: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.adaptive_max_pool1d``."""
    out = adaptive_max_pool1d_with_indices(input, output_size)
    return out if return_indices else out[0]


def adaptive_max_pool2d(input: Tensor, output_size: _Size,
                        return_indices: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.adaptive_max_pool2d``."""
    out = adaptive_max_pool2d_with_indices(input, output_size)
    return out if return_indices else out[0]


def adaptive_max_pool3d(input: Tensor, output_size: _Size,
                        return_indices: bool = False) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.adaptive_max_pool3d``."""
    out = adaptive_max_pool3d_with_indices(input, output_size)
    return out if return_indices else out[0]


def _unpool_size(n: int, input: Tensor, kernel_size: _Size, stride: Optional[_Size],
                 padding: _Size, output_size: Optional[Sequence[int]]) -> list[int]:
    """PyTorch's ``_unpool_output_size``."""
    k, s, p = _list(kernel_size, n), _stride(stride, kernel_size, n), _list(padding, n)
    spatial = list(input.shape[-n:])
    default = [(spatial[d] - 1) * s[d] + k[d] - 2 * p[d] for d in range(n)]
    if output_size is None:
        return default
    if len(output_size) == n + 2:
        output_size = output_size[2:]
    if len(output_size) != n:
        raise ValueError(
            f"output_size should be a sequence containing {n} or {n + 2} elements, "
            f"but it has a length of '{len(output_size)}'"
        )
    for d in range(n):
        lo, hi = default[d] - s[d], default[d] + s[d]
        if not lo < output_size[d] < hi:
            raise ValueError(
                f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})'
            )
    return [int(v) for v in output_size]


def _max_unpool(n: int, input: Tensor, indices: Tensor, kernel_size: _Size,
                stride: Optional[_Size], padding: _Size,
                output_size: Optional[Sequence[int]]) -> Tensor:
    # PyTorch's kernels: on the CPU floats only, on CUDA any dtype but bool (its 1-D
    # unpooling is the 2-D one).
    cpu = input.device.type == "cpu"
    if (not input.dtype.is_floating_point and cpu) or input.dtype == rustorch.bool:
        kernel = f"max_unpool{max(n, 2)}d" if cpu else f"max_unpooling{max(n, 2)}d_forward_kernel"
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{input.dtype._scalar_name}'"
        )
    size = _unpool_size(n, input, kernel_size, stride, padding, output_size)
    lead = list(input.shape[:-n])
    plane = 1
    for v in size:
        plane *= v
    flat = input.reshape(lead + [-1])
    out = rustorch.zeros(lead + [plane], dtype=input.dtype, device=input.device)
    idx = indices.reshape(lead + [-1])
    try:
        out = out.scatter(-1, idx, flat)
    except RuntimeError:
        # PyTorch's message names the first index outside the output plane (its 1d
        # unpooling is the 2d one over a width of 1).
        bad = first_outside(idx, plane)
        if bad is None:
            raise
        dims = "x".join(str(v) for v in (size + [1] if n == 1 else size))
        raise RuntimeError(
            f"Found an invalid max index: {bad} (output volumes are of size {dims})"
        ) from None
    return out.reshape(lead + size)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: _Size,
                 stride: Optional[_Size] = None, padding: _Size = 0,
                 output_size: Optional[Sequence[int]] = None) -> Tensor:
    """``torch.nn.functional.max_unpool1d``: values scattered to their pooled indices."""
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: _Size,
                 stride: Optional[_Size] = None, padding: _Size = 0,
                 output_size: Optional[Sequence[int]] = None) -> Tensor:
    """``torch.nn.functional.max_unpool2d``."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: _Size,
                 stride: Optional[_Size] = None, padding: _Size = 0,
                 output_size: Optional[Sequence[int]] = None) -> Tensor:
    """``torch.nn.functional.max_unpool3d``."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


_Ratio = Union[float, Sequence[float]]


def _fractional_max_pool(n: int, input: Tensor, kernel_size: _Size,
                         output_size: Optional[_Size], output_ratio: Optional[_Ratio],
                         _random_samples: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    name = f"fractional_max_pool{n}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        ratio = _ntuple(n)(output_ratio)
        if n == 2 and len(ratio) > n:  # PyTorch checks the 2-D ratio only
            raise ValueError(
                f"{name} requires output_ratio to either be a single Int or tuple of Ints."
            )
        output_size = [int(input.size(d - n) * ratio[d]) for d in range(n)]
    if _random_samples is None:
        n_batch = 1 if input.dim() == n + 1 else input.size(0)
        _random_samples = rustorch.rand(n_batch, input.size(-n - 1), n, dtype=input.dtype,
                                        device=input.device)
    return _C._fractional_max_pool(n, input, _list(kernel_size, n), _list(output_size, n),
                                   _random_samples)


def fractional_max_pool2d_with_indices(
    input: Tensor, kernel_size: _Size, output_size: Optional[_Size] = None,
    output_ratio: Optional[_Ratio] = None, return_indices: bool = False,
    _random_samples: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.fractional_max_pool2d_with_indices``: (values, flat indices)."""
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                _random_samples)


def fractional_max_pool3d_with_indices(
    input: Tensor, kernel_size: _Size, output_size: Optional[_Size] = None,
    output_ratio: Optional[_Ratio] = None, return_indices: bool = False,
    _random_samples: Optional[Tensor] = None,
) -> tuple[Tensor, Tensor]:
    """``torch.nn.functional.fractional_max_pool3d_with_indices``: (values, flat indices)."""
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                _random_samples)


def fractional_max_pool2d(
    input: Tensor, kernel_size: _Size, output_size: Optional[_Size] = None,
    output_ratio: Optional[_Ratio] = None, return_indices: bool = False,
    _random_samples: Optional[Tensor] = None,
) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.fractional_max_pool2d`` (Graham's fractional max pooling).

    Windows of ``kernel_size`` at pseudo-random steps chosen by ``_random_samples`` (``[N,
    C, 2]`` in ``[0, 1)``, drawn with ``rand`` when not given; width from sample 0, height
    from 1), placed as PyTorch's CPU kernel places them, on every device. The first maximum
    of a window wins ties; a NaN wins over numbers. Unlike PyTorch, ``output_ratio`` may be
    a single float here too (PyTorch's functional form raises ``TypeError`` on it, its
    module does not).
    """
    out = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio,
                                             return_indices, _random_samples)
    return out if return_indices else out[0]


def fractional_max_pool3d(
    input: Tensor, kernel_size: _Size, output_size: Optional[_Size] = None,
    output_ratio: Optional[_Ratio] = None, return_indices: bool = False,
    _random_samples: Optional[Tensor] = None,
) -> Union[Tensor, tuple[Tensor, Tensor]]:
    """``torch.nn.functional.fractional_max_pool3d``; ``_random_samples`` is ``[N, C, 3]``
    (time, height, width from samples 0, 1, 2), otherwise as :func:`fractional_max_pool2d`."""
    out = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio,
                                             return_indices, _random_samples)
    return out if return_indices else out[0]


def _lp_pool(n: int, input: Tensor, norm_type: float, kernel_size: _Size,
             stride: Optional[_Size], ceil_mode: bool) -> Tensor:
    """PyTorch's composition: ``(sign(a)·relu(|a|)·∏k)^(1/p)`` with ``a`` the average of x^p;
    for ``p = ±inf``, as PyTorch, the largest (smallest) ``|x|`` of each window."""
    k = _list(kernel_size, n)
    if norm_type in (math.inf, -math.inf):
        sign = 1.0 if norm_type > 0 else -1.0
        top, _ = _max_pool(n, input.abs() * sign, k, stride, 0, 1, ceil_mode)
        return top * sign
    out = _avg_pool(n, input.pow(norm_type), k, stride, 0, ceil_mode, True, None)
    size = 1
    for v in k:
        size *= v
    return (out.sign() * out.abs().relu()).mul(size).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int,
              stride: Optional[_Size] = None, ceil_mode: bool = False) -> Tensor:
    """``torch.nn.functional.lp_pool1d``."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: _Size,
              stride: Optional[_Size] = None, ceil_mode: bool = False) -> Tensor:
    """``torch.nn.functional.lp_pool2d``."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: _Size,
              stride: Optional[_Size] = None, ceil_mode: bool = False) -> Tensor:
    """``torch.nn.functional.lp_pool3d``."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# ---------------------------------------------------------------------------- padding


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: Optional[float] = None) -> Tensor:
    """``torch.nn.functional.pad``: ``pad`` holds (left, right) pairs from the last dim
    backwards; modes ``constant`` (negative pads crop), ``reflect``, ``replicate``,
    ``circular``."""
    return _C._pad(input, [int(v) for v in pad], mode, None if value is None else float(value))


# ---------------------------------------------------------------------------- pixel shuffle


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``torch.nn.functional.pixel_shuffle``: ``[*, C·r², H, W]`` to ``[*, C, H·r, W·r]``."""
    return _C.pixel_shuffle(input, int(upscale_factor))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``torch.nn.functional.pixel_unshuffle``: ``[*, C, H·r, W·r]`` to ``[*, C·r², H, W]``."""
    return _C.pixel_unshuffle(input, int(downscale_factor))


# ---------------------------------------------------------------------------- resampling

_MODE_DIMS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def interpolate(input: Tensor, size: Optional[_Size] = None,
                scale_factor: Union[None, float, Sequence[float]] = None,
                mode: str = "nearest", align_corners: Optional[bool] = None,
                recompute_scale_factor: Optional[bool] = None,
                antialias: bool = False) -> Tensor:
    """``torch.nn.functional.interpolate``: PyTorch's argument rules and source-coordinate
    mapping for ``nearest``, ``nearest-exact``, ``linear``, ``bilinear``, ``bicubic``,
    ``trilinear``, ``area`` (adaptive average pooling) and ``lanczos`` (antialiased only).
    ``antialias=True`` (bilinear, bicubic, lanczos; 4-D inputs) uses PyTorch's separable
    antialiased filters. uint8 inputs take the nearest modes and, in PyTorch's fixed-point
    arithmetic (the same bytes as its CPU kernels), bilinear, bicubic and lanczos; PyTorch's
    CPU kernels refuse half precision with ``antialias=True``, and so does this one (on CUDA
    every float dtype is taken, lanczos included, which PyTorch's CUDA kernels lack)."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dim = input.dim() - 2
    scales: Optional[list[float]] = None
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    elif size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {list(input.shape[2:])} and output size "
                    f"of {size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                    "and output size in (o1, o2, ...,oK) format."
                )
            output_size = [int(v) for v in size]
        else:
            output_size = [int(size)] * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, "
                    f"but got input with spatial dimensions of {list(input.shape[2:])} and "
                    f"scale_factor of shape {scale_factor}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            scales = [float(v) for v in scale_factor]
        else:
            scales = [float(scale_factor)] * dim
        output_size = [int(input.shape[i + 2] * scales[i]) for i in range(dim)]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if recompute_scale_factor or mode == "area":
        if scales is not None:
            output_size = [math.floor(float(input.shape[i + 2]) * scales[i]) for i in range(dim)]
        scales = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.dim() == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and "
            "requires a 4-D tensor as input"
        )
    if mode == "lanczos" and input.dim() == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    if antialias:
        return _C._resample(input, output_size, scales, mode, bool(align_corners), True)
    if input.dim() not in (3, 4, 5) or mode not in (
        "nearest", "area", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"
    ):
        raise NotImplementedError(
            "Input Error: Only 3D, 4D and 5D input Tensors supported"
            f" (got {input.dim()}D) for the modes: nearest | linear | bilinear | bicubic | "
            f"trilinear | lanczos | area | nearest-exact (got {mode})"
        )
    if mode in _MODE_DIMS and input.dim() != _MODE_DIMS[mode]:
        raise NotImplementedError(
            f"Got {input.dim()}D input, but {mode} mode needs {_MODE_DIMS[mode]}D input"
        )
    if mode == "area":
        return _C._adaptive_avg_pool(f"adaptive_avg_pool{dim}d", input, output_size)
    return _C._resample(input, output_size, scales, mode, bool(align_corners), False)


def upsample(input: Tensor, size: Optional[_Size] = None,
             scale_factor: Union[None, float, Sequence[float]] = None, mode: str = "nearest",
             align_corners: Optional[bool] = None) -> Tensor:
    """``torch.nn.functional.upsample`` (deprecated in PyTorch): ``interpolate``."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: Optional[_Size] = None,
                     scale_factor: Optional[float] = None) -> Tensor:
    """``torch.nn.functional.upsample_nearest``: ``interpolate(mode='nearest')``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: Optional[_Size] = None,
                      scale_factor: Optional[float] = None) -> Tensor:
    """``torch.nn.functional.upsample_bilinear``: bilinear with ``align_corners=True``."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _default_align_corners(align_corners: Optional[bool]) -> bool:
    if align_corners is None:
        warnings.warn(
            "Default grid_sample and affine_grid behavior has changed to align_corners=False "
            "since 1.3.0. Please specify align_corners=True if the old behavior is desired. "
            "See the documentation of grid_sample for details.",
            stacklevel=3,
        )
        return False
    return bool(align_corners)


def affine_grid(theta: Tensor, size: Sequence[int],
                align_corners: Optional[bool] = None) -> Tensor:
    """``torch.nn.functional.affine_grid``: 2-D maps ``theta [N, 2, 3]`` and ``size (N, C,
    H, W)`` give a ``[N, H, W, 2]`` sampling grid, 3-D maps ``theta [N, 3, 4]`` and ``size
    (N, C, D, H, W)`` a ``[N, D, H, W, 3]`` one. PyTorch's checks, warnings and messages."""
    align_corners = _default_align_corners(align_corners)
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    k = len(size) - 2
    if k not in (2, 3):
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    if theta.dim() != 3 or tuple(theta.shape[-2:]) != (k, k + 1):
        raise ValueError(
            f"Expected a batch of {k}D affine matrices of shape Nx{k}x{k + 1} for size "
            f"{size}. Got {theta.shape}."
        )
    if align_corners and min(size[-k:]) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    return _C._affine_grid(theta, [int(v) for v in size], align_corners)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",
                padding_mode: str = "zeros", align_corners: Optional[bool] = None) -> Tensor:
    """``torch.nn.functional.grid_sample`` for 4-D inputs with ``bilinear``, ``nearest`` or
    ``bicubic`` sampling (cubic convolution, A = -0.75, each of the 16 taps padded on its own,
    as PyTorch) and for 5-D inputs (a ``[N, D, H, W, 3]`` grid) with ``bilinear`` (that is,
    trilinear) or ``nearest``; ``zeros``/``border``/``reflection`` padding; differentiable in
    the input and the grid."""
    return _C._grid_sample(input, grid, mode, padding_mode,
                           _default_align_corners(align_corners))
