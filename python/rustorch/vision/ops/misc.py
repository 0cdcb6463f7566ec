"""Building blocks of ``torchvision.ops.misc``: ``FrozenBatchNorm2d`` and
``Conv2dNormActivation``.

``Conv2dNormActivation`` is torchvision's ``Sequential`` of convolution -> norm ->
activation (children named ``0``, ``1``, ``2``), with the same defaults: padding
``(kernel_size - 1) // 2 * dilation``, a convolution bias only when there is no norm layer,
``inplace=True`` passed to the activation.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import rustorch
from rustorch import Tensor, nn

__all__ = ["FrozenBatchNorm2d", "Conv2dNormActivation"]


class FrozenBatchNorm2d(nn.Module):
    """torchvision's ``FrozenBatchNorm2d(num_features, eps=1e-5)``: batch norm with fixed
    statistics and affine parameters.

    ``weight``, ``bias``, ``running_mean`` and ``running_var`` are buffers (not
    parameters), so nothing here is trained; the output is ``x * scale + shift`` with
    ``scale = weight / sqrt(running_var + eps)``, in the same order of operations as
    torchvision. The state dict has no ``num_batches_tracked``; one coming from a
    ``BatchNorm2d`` checkpoint is dropped on load, as torchvision does.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", rustorch.ones(num_features))
        self.register_buffer("bias", rustorch.zeros(num_features))
        self.register_buffer("running_mean", rustorch.zeros(num_features))
        self.register_buffer("running_var", rustorch.ones(num_features))

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight.reshape(1, -1, 1, 1) * (
            self.running_var.reshape(1, -1, 1, 1) + self.eps).rsqrt()
        shift = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + shift

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.weight.shape[0]}, eps={self.eps})"


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
