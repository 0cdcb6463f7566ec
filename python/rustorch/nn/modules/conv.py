"""Convolution layers, matching ``torch.nn.modules.conv``.

Constructor signatures and defaults, parameter shapes, the default initialisation (drawn in
PyTorch's order from the global RNG), state-dict keys, ``repr`` and the constructor's
``ValueError``s are PyTorch's. A non-``'zeros'`` ``padding_mode`` pads the input with
``F.pad`` first and convolves with no padding, as PyTorch does; ``ConvTranspose*d.forward``
takes PyTorch's ``output_size=`` and turns it into an ``output_padding`` with PyTorch's
checks and messages. The lazy variants (``LazyConv*d``) are not provided.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import rustorch
from rustorch import Tensor
from rustorch.nn import functional as F
from rustorch.nn import init
from rustorch.nn.parameter import Parameter

from .module import Module
from .utils import _pair, _reverse_repeat_tuple, _single, _triple

__all__ = [
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
]

_size_1_t = Union[int, tuple[int]]
_size_2_t = Union[int, tuple[int, int]]
_size_3_t = Union[int, tuple[int, int, int]]


def _factory_kwargs(device: Any, dtype: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if device is not None:
        kwargs["device"] = device
    if dtype is not None:
        kwargs["dtype"] = dtype
    return kwargs


class _ConvNd(Module):
    """The shared machinery of ``Conv*d`` and ``ConvTranspose*d`` (``torch.nn._ConvNd``)."""

    __constants__ = [
        "stride",
        "padding",
        "dilation",
        "groups",
        "padding_mode",
        "output_padding",
        "in_channels",
        "out_channels",
        "kernel_size",
    ]

    in_channels: int
    _reversed_padding_repeated_twice: Union[list[int], tuple[int, ...]]
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Union[str, tuple[int, ...]]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int
    padding_mode: str
    weight: Tensor
    bias: Optional[Tensor]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: Union[str, tuple[int, ...]],
        dilation: tuple[int, ...],
        transposed: bool,
        output_padding: tuple[int, ...],
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        valid_padding_strings = {"same", "valid"}
        if isinstance(padding, str):
            if padding not in valid_padding_strings:
                raise ValueError(
                    f"Invalid padding string {padding!r}, should be one of {valid_padding_strings}"
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
        valid_padding_modes = {"zeros", "reflect", "replicate", "circular"}
        if padding_mode not in valid_padding_modes:
            raise ValueError(
                f"padding_mode must be one of {valid_padding_modes}, but got "
                f"padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        # The padding F.pad takes for a non-'zeros' padding_mode (last dim first, each
        # dim's amount on both sides); 'same' puts an odd total's extra position last.
        if isinstance(self.padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * len(kernel_size)
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(len(kernel_size) - 1, -1, -1)):
                    total_padding = d * (k - 1)
                    left_pad = total_padding // 2
                    self._reversed_padding_repeated_twice[2 * i] = left_pad
                    self._reversed_padding_repeated_twice[2 * i + 1] = total_padding - left_pad
        else:
            self._reversed_padding_repeated_twice = _reverse_repeat_tuple(self.padding, 2)

        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(rustorch.empty(shape, **factory_kwargs))
        if bias:
            self.bias = Parameter(rustorch.empty(out_channels, **factory_kwargs))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise ``weight`` and ``bias`` the way PyTorch does."""
        # Setting a=sqrt(5) in kaiming_uniform is the same as initializing with
        # uniform(-1/sqrt(k), 1/sqrt(k)), where k = weight.size(1) * prod(*kernel_size)
        # For more details see: https://github.com/pytorch/pytorch/issues/15314#issuecomment-477448573
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        """Return the extra representation of the module (PyTorch's)."""
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if not hasattr(self, "padding_mode"):
            self.padding_mode = "zeros"


class Conv1d(_ConvNd):
    r"""Apply a 1D convolution over an input signal of several planes (``torch.nn.Conv1d``).

    Input ``(N, C_in, L)`` or unbatched ``(C_in, L)``; ``weight`` is
    ``(out_channels, in_channels / groups, kernel_size)``, ``bias`` ``(out_channels)``, both
    drawn from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with
    :math:`k = \text{groups} / (C_\text{in} \cdot \text{kernel\_size})`.

    Args:
        in_channels: number of channels in the input
        out_channels: number of channels produced by the convolution
        kernel_size: size of the convolving kernel
        stride: stride of the convolution. Default: 1
        padding: padding added to both sides of the input, or ``'valid'`` / ``'same'``.
            Default: 0
        dilation: spacing between kernel elements. Default: 1
        groups: number of blocked connections from input to output channels. Default: 1
        bias: if ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
            Default: ``'zeros'``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_1_t,
        stride: _size_1_t = 1,
        padding: Union[str, _size_1_t] = 0,
        dilation: _size_1_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _single(kernel_size),
            _single(stride),
            padding if isinstance(padding, str) else _single(padding),
            _single(dilation),
            False,
            _single(0),
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        if self.padding_mode != "zeros":
            return F.conv1d(
                F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode),
                weight,
                bias,
                self.stride,
                _single(0),
                self.dilation,
                self.groups,
            )
        return F.conv1d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        """Convolve ``input`` with ``weight`` (plus ``bias``)."""
        return self._conv_forward(input, self.weight, self.bias)


class Conv2d(_ConvNd):
    r"""Apply a 2D convolution over an input image of several planes (``torch.nn.Conv2d``).

    Input ``(N, C_in, H, W)`` or unbatched ``(C_in, H, W)``; ``weight`` is
    ``(out_channels, in_channels / groups, kH, kW)``, ``bias`` ``(out_channels)``, both drawn
    from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with
    :math:`k = \text{groups} / (C_\text{in} \cdot kH \cdot kW)`.

    Args:
        in_channels: number of channels in the input image
        out_channels: number of channels produced by the convolution
        kernel_size: size of the convolving kernel (int or pair)
        stride: stride of the convolution. Default: 1
        padding: padding added to all four sides of the input (int or pair), or
            ``'valid'`` / ``'same'``. Default: 0
        dilation: spacing between kernel elements. Default: 1
        groups: number of blocked connections from input to output channels. Default: 1
        bias: if ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
            Default: ``'zeros'``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: Union[str, _size_2_t] = 0,
        dilation: _size_2_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _pair(kernel_size),
            _pair(stride),
            padding if isinstance(padding, str) else _pair(padding),
            _pair(dilation),
            False,
            _pair(0),
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        if self.padding_mode != "zeros":
            return F.conv2d(
                F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode),
                weight,
                bias,
                self.stride,
                _pair(0),
                self.dilation,
                self.groups,
            )
        return F.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        """Convolve ``input`` with ``weight`` (plus ``bias``)."""
        return self._conv_forward(input, self.weight, self.bias)


class Conv3d(_ConvNd):
    r"""Apply a 3D convolution over an input of several planes (``torch.nn.Conv3d``).

    Input ``(N, C_in, D, H, W)`` or unbatched ``(C_in, D, H, W)``; ``weight`` is
    ``(out_channels, in_channels / groups, kD, kH, kW)``, initialised as in ``Conv2d``.

    Args:
        in_channels: number of channels in the input
        out_channels: number of channels produced by the convolution
        kernel_size: size of the convolving kernel (int or triple)
        stride: stride of the convolution. Default: 1
        padding: padding added to all six sides of the input, or ``'valid'`` / ``'same'``.
            Default: 0
        dilation: spacing between kernel elements. Default: 1
        groups: number of blocked connections from input to output channels. Default: 1
        bias: if ``True``, adds a learnable bias to the output. Default: ``True``
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
            Default: ``'zeros'``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_3_t,
        stride: _size_3_t = 1,
        padding: Union[str, _size_3_t] = 0,
        dilation: _size_3_t = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _triple(kernel_size),
            _triple(stride),
            padding if isinstance(padding, str) else _triple(padding),
            _triple(dilation),
            False,
            _triple(0),
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        if self.padding_mode != "zeros":
            return F.conv3d(
                F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode),
                weight,
                bias,
                self.stride,
                _triple(0),
                self.dilation,
                self.groups,
            )
        return F.conv3d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        """Convolve ``input`` with ``weight`` (plus ``bias``)."""
        return self._conv_forward(input, self.weight, self.bias)


class _ConvTransposeNd(_ConvNd):
    """The shared machinery of ``ConvTranspose*d`` (``torch.nn._ConvTransposeNd``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        padding: tuple[int, ...],
        dilation: tuple[int, ...],
        transposed: bool,
        output_padding: tuple[int, ...],
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for {self.__class__.__name__}'
            )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            transposed,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _output_padding(
        self,
        input: Tensor,
        output_size: Optional[list[int]],
        stride: list[int],
        padding: list[int],
        kernel_size: list[int],
        num_spatial_dims: int,
        dilation: Optional[list[int]] = None,
    ) -> list[int]:
        """The ``output_padding`` that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return list(_single(self.output_padding))
        has_batch_dim = input.dim() == num_spatial_dims + 2
        num_non_spatial_dims = 2 if has_batch_dim else 1
        if len(output_size) == num_non_spatial_dims + num_spatial_dims:
            output_size = output_size[num_non_spatial_dims:]
        if len(output_size) != num_spatial_dims:
            raise ValueError(
                f"ConvTranspose{num_spatial_dims}D: for {input.dim()}D input, output_size "
                f"must have {num_spatial_dims} or {num_non_spatial_dims + num_spatial_dims} "
                f"elements (got {len(output_size)})"
            )
        min_sizes: list[int] = []
        max_sizes: list[int] = []
        for d in range(num_spatial_dims):
            dim_size = (
                (input.size(d + num_non_spatial_dims) - 1) * stride[d]
                - 2 * padding[d]
                + (dilation[d] if dilation is not None else 1) * (kernel_size[d] - 1)
                + 1
            )
            min_sizes.append(dim_size)
            max_sizes.append(min_sizes[d] + stride[d] - 1)
        for i in range(len(output_size)):
            size = output_size[i]
            if size < min_sizes[i] or size > max_sizes[i]:
                # PyTorch names the sizes from dim 2 even for an unbatched input.
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range "
                    f"from {min_sizes} to {max_sizes} (for an input of "
                    f"{rustorch.Size(input.size()[2:])})"
                )
        return [output_size[d] - min_sizes[d] for d in range(num_spatial_dims)]

    def _transposed_forward(
        self, fn: Any, input: Tensor, output_size: Optional[list[int]], k: int
    ) -> Tensor:
        if self.padding_mode != "zeros":
            raise ValueError(
                f"Only `zeros` padding mode is supported for {self.__class__.__name__}"
            )
        output_padding = self._output_padding(
            input,
            output_size,
            list(self.stride),
            list(self.padding),
            list(self.kernel_size),
            k,
            list(self.dilation),
        )
        return fn(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


class ConvTranspose1d(_ConvTransposeNd):
    r"""Apply a 1D transposed convolution operator (``torch.nn.ConvTranspose1d``).

    ``weight`` is ``(in_channels, out_channels / groups, kernel_size)``; weight and bias are
    drawn from :math:`\mathcal{U}(-\sqrt{k}, \sqrt{k})` with
    :math:`k = \text{groups} / (C_\text{out} \cdot \text{kernel\_size})` (PyTorch computes
    the fan-in from the weight's dim 1). ``forward(input, output_size=None)`` accepts the
    wanted output size to resolve the ambiguity of a strided transposed convolution.

    Args:
        in_channels: number of channels in the input
        out_channels: number of channels produced by the convolution
        kernel_size: size of the convolving kernel
        stride: stride of the convolution. Default: 1
        padding: ``dilation * (kernel_size - 1) - padding`` zero-padding is added to both
            sides of the input. Default: 0
        output_padding: additional size added to one side of the output. Default: 0
        groups: number of blocked connections from input to output channels. Default: 1
        bias: if ``True``, adds a learnable bias to the output. Default: ``True``
        dilation: spacing between kernel elements. Default: 1
        padding_mode: only ``'zeros'`` is supported. Default: ``'zeros'``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_1_t,
        stride: _size_1_t = 1,
        padding: _size_1_t = 0,
        output_padding: _size_1_t = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _size_1_t = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _single(kernel_size),
            _single(stride),
            _single(padding),
            _single(dilation),
            True,
            _single(output_padding),
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def forward(self, input: Tensor, output_size: Optional[list[int]] = None) -> Tensor:
        """Apply the transposed convolution; ``output_size`` picks the output padding."""
        return self._transposed_forward(F.conv_transpose1d, input, output_size, 1)


class ConvTranspose2d(_ConvTransposeNd):
    r"""Apply a 2D transposed convolution operator (``torch.nn.ConvTranspose2d``).

    ``weight`` is ``(in_channels, out_channels / groups, kH, kW)``, initialised as in
    ``ConvTranspose1d``; ``forward(input, output_size=None)`` as there.

    Args:
        in_channels: number of channels in the input image
        out_channels: number of channels produced by the convolution
        kernel_size: size of the convolving kernel
        stride: stride of the convolution. Default: 1
        padding: ``dilation * (kernel_size - 1) - padding`` zero-padding is added to both
            sides of each dimension in the input. Default: 0
        output_padding: additional size added to one side of each dimension in the output.
            Default: 0
        groups: number of blocked connections from input to output channels. Default: 1
        bias: if ``True``, adds a learnable bias to the output. Default: ``True``
        dilation: spacing between kernel elements. Default: 1
        padding_mode: only ``'zeros'`` is supported. Default: ``'zeros'``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_2_t,
        stride: _size_2_t = 1,
        padding: _size_2_t = 0,
        output_padding: _size_2_t = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _size_2_t = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _pair(kernel_size),
            _pair(stride),
            _pair(padding),
            _pair(dilation),
            True,
            _pair(output_padding),
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def forward(self, input: Tensor, output_size: Optional[list[int]] = None) -> Tensor:
        """Apply the transposed convolution; ``output_size`` picks the output padding."""
        return self._transposed_forward(F.conv_transpose2d, input, output_size, 2)


class ConvTranspose3d(_ConvTransposeNd):
    r"""Apply a 3D transposed convolution operator (``torch.nn.ConvTranspose3d``).

    ``weight`` is ``(in_channels, out_channels / groups, kD, kH, kW)``, initialised as in
    ``ConvTranspose1d``; ``forward(input, output_size=None)`` as there.

    Args:
        in_channels: number of channels in the input
        out_channels: number of channels produced by the convolution
        kernel_size: size of the convolving kernel
        stride: stride of the convolution. Default: 1
        padding: ``dilation * (kernel_size - 1) - padding`` zero-padding is added to both
            sides of each dimension in the input. Default: 0
        output_padding: additional size added to one side of each dimension in the output.
            Default: 0
        groups: number of blocked connections from input to output channels. Default: 1
        bias: if ``True``, adds a learnable bias to the output. Default: ``True``
        dilation: spacing between kernel elements. Default: 1
        padding_mode: only ``'zeros'`` is supported. Default: ``'zeros'``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _size_3_t,
        stride: _size_3_t = 1,
        padding: _size_3_t = 0,
        output_padding: _size_3_t = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: _size_3_t = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            _triple(kernel_size),
            _triple(stride),
            _triple(padding),
            _triple(dilation),
            True,
            _triple(output_padding),
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def forward(self, input: Tensor, output_size: Optional[list[int]] = None) -> Tensor:
        """Apply the transposed convolution; ``output_size`` picks the output padding."""
        return self._transposed_forward(F.conv_transpose3d, input, output_size, 3)
