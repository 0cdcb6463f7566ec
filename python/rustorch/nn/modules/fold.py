"""Sliding-block layers, matching ``torch.nn.modules.fold``: ``Unfold`` (im2col) and
``Fold`` (col2im, summing overlapping blocks). Both take 2D spatial inputs, as PyTorch's.
"""

from __future__ import annotations

from typing import Union

from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module

__all__ = ["Fold", "Unfold"]

_size_any_t = Union[int, tuple[int, ...]]


class Fold(Module):
    r"""Combine an array of sliding local blocks into a large containing tensor
    (``torch.nn.Fold``): ``(N, C·∏kernel_size, L)`` to ``(N, C, *output_size)``, summing
    where blocks overlap.

    Args:
        output_size: the spatial shape of the output
        kernel_size: the size of the sliding blocks
        dilation: the stride of elements within a block. Default: 1
        padding: implicit zero padding on both sides of the input. Default: 0
        stride: the stride of the sliding blocks. Default: 1
    """

    __constants__ = ["output_size", "kernel_size", "dilation", "padding", "stride"]
    output_size: _size_any_t
    kernel_size: _size_any_t
    dilation: _size_any_t
    padding: _size_any_t
    stride: _size_any_t

    def __init__(
        self,
        output_size: _size_any_t,
        kernel_size: _size_any_t,
        dilation: _size_any_t = 1,
        padding: _size_any_t = 0,
        stride: _size_any_t = 1,
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        """Fold the blocks of ``input`` into the output tensor."""
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return (
            "output_size={output_size}, kernel_size={kernel_size}, "
            "dilation={dilation}, padding={padding}, stride={stride}".format(**self.__dict__)
        )


class Unfold(Module):
    r"""Extract sliding local blocks from a batched input tensor (``torch.nn.Unfold``):
    ``(N, C, H, W)`` to ``(N, C·∏kernel_size, L)``.

    Args:
        kernel_size: the size of the sliding blocks
        dilation: the stride of elements within a block. Default: 1
        padding: implicit zero padding on both sides of the input. Default: 0
        stride: the stride of the sliding blocks. Default: 1
    """

    __constants__ = ["kernel_size", "dilation", "padding", "stride"]
    kernel_size: _size_any_t
    dilation: _size_any_t
    padding: _size_any_t
    stride: _size_any_t

    def __init__(
        self,
        kernel_size: _size_any_t,
        dilation: _size_any_t = 1,
        padding: _size_any_t = 0,
        stride: _size_any_t = 1,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        """Extract the sliding blocks of ``input``."""
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        return (
            "kernel_size={kernel_size}, dilation={dilation}, padding={padding},"
            " stride={stride}".format(**self.__dict__)
        )
