"""Building blocks from ``torchvision.ops.misc`` used by the models here.

``Conv2dNormActivation`` is torchvision's ``Sequential`` of convolution -> norm ->
activation (children named ``0``, ``1``, ``2``), with the same defaults: padding
``(kernel_size - 1) // 2 * dilation``, a convolution bias only when there is no norm layer,
``inplace=True`` passed to the activation. ``_make_divisible`` is
``torchvision.models._utils._make_divisible``.
"""

from __future__ import annotations

from typing import Callable, Optional

from rustorch import nn

__all__ = ["Conv2dNormActivation"]


def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` without going down by more than 10% (from
    the TensorFlow MobileNet code, as torchvision)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class Conv2dNormActivation(nn.Sequential):
    """torchvision's ``Conv2dNormActivation`` (2-D only; ``kernel_size``, ``stride``,
    ``padding`` and ``dilation`` as ints or tuples)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: Optional[int] = None,
        groups: int = 1,
        norm_layer: Optional[Callable[..., nn.Module]] = nn.BatchNorm2d,
        activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
        dilation: int = 1,
        inplace: Optional[bool] = True,
        bias: Optional[bool] = None,
    ) -> None:
        if padding is None:
            if isinstance(kernel_size, int) and isinstance(dilation, int):
                padding = (kernel_size - 1) // 2 * dilation
            else:
                ks = kernel_size if isinstance(kernel_size, tuple) else (kernel_size,) * 2
                dl = dilation if isinstance(dilation, tuple) else (dilation,) * 2
                padding = tuple((k - 1) // 2 * d for k, d in zip(ks, dl))  # type: ignore
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                      dilation=dilation, groups=groups, bias=bias)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            params = {} if inplace is None else {"inplace": inplace}
            layers.append(activation_layer(**params))
        super().__init__(*layers)
        self.out_channels = out_channels
