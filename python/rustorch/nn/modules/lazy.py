"""Lazy modules, matching ``torch.nn.modules.lazy`` and PyTorch's ``Lazy*`` layers.

A lazy module is built with :class:`~rustorch.nn.parameter.UninitializedParameter` (and
``UninitializedBuffer``) placeholders; a forward pre-hook infers the missing size
(``in_features`` / ``in_channels`` / ``num_features``) from the first input, materialises the
placeholders, initialises them exactly as the regular module does (same RNG draws in the
same order), removes itself and turns the module into its ``cls_to_become``
(``type(LazyLinear(3)(x))`` is :class:`~rustorch.nn.Linear` afterwards), as PyTorch does.

``state_dict`` of an uninitialised module holds the placeholders; loading a regular state
dict into one materialises it (PyTorch's ``_lazy_load_hook``). An optimizer created before
the first forward sees the materialised parameters (see ``UninitializedTensorMixin`` for how
rustorch does this without in-place storage swaps).
"""

from __future__ import annotations

import itertools
from typing import Any, Optional

import rustorch
from rustorch import Tensor
from rustorch.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from rustorch.utils.hooks import RemovableHandle

from .batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d, _NormBase
from .conv import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .linear import Linear

__all__ = [
    "LazyModuleMixin",
    "LazyLinear",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
]


def _factory_kwargs(device: Any, dtype: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if device is not None:
        kwargs["device"] = device
    if dtype is not None:
        kwargs["dtype"] = dtype
    return kwargs


class LazyModuleMixin:
    r"""A mixin for modules that lazily initialize parameters (``torch.nn.modules.lazy``).

    Subclasses define ``initialize_parameters(*args, **kwargs)`` (materialise the
    placeholders from the first input, then ``reset_parameters()``) and ``cls_to_become``.
    The first call runs ``initialize_parameters`` from a forward pre-hook; if placeholders
    remain, ``RuntimeError('module X has not been fully initialized')``; then the hooks are
    removed and ``__class__`` becomes ``cls_to_become``.
    """

    cls_to_become: Optional[type] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        hooks = self._load_state_dict_pre_hooks  # type: ignore[attr-defined]
        self._load_hook = RemovableHandle(hooks)
        hooks[self._load_hook.id] = self._lazy_load_hook
        self._initialize_hook = self.register_forward_pre_hook(  # type: ignore[attr-defined]
            self._infer_parameters, with_kwargs=True
        )

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        # placeholders are saved as they are (a detached copy would lose what they are)
        for name, param in self._parameters.items():  # type: ignore[attr-defined]
            if param is not None:
                if not (is_lazy(param) or keep_vars):
                    param = param.detach()
                destination[prefix + name] = param
        for name, buf in self._buffers.items():  # type: ignore[attr-defined]
            if buf is not None and name not in self._non_persistent_buffers_set:  # type: ignore[attr-defined]
                if not (is_lazy(buf) or keep_vars):
                    buf = buf.detach()
                destination[prefix + name] = buf

    def _lazy_load_hook(
        self,
        state_dict: dict,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list,
        unexpected_keys: list,
        error_msgs: list,
    ) -> None:
        """``load_state_dict`` pre-hook: a placeholder receiving a regular tensor is
        materialised to that tensor's shape first (then the usual copy fills it)."""
        for name, param in itertools.chain(
            self._parameters.items(), self._buffers.items()  # type: ignore[attr-defined]
        ):
            key = prefix + name
            if key in state_dict and param is not None:
                input_param = state_dict[key]
                if is_lazy(param) and not is_lazy(input_param):
                    with rustorch.no_grad():
                        param.materialize(tuple(Tensor.detach(input_param).shape))

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        r"""Initialize parameters according to the input batch properties."""
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {self.__class__.__name__}"
        )

    def has_uninitialized_params(self) -> bool:
        r"""Check if a module has parameters (or buffers) that are not initialized."""
        params = self._parameters.values()  # type: ignore[attr-defined]
        buffers = self._buffers.values()  # type: ignore[attr-defined]
        return any(is_lazy(t) for t in itertools.chain(params, buffers))

    def _infer_parameters(self, module: Any, args: tuple, kwargs: Optional[dict] = None) -> None:
        r"""Infer the sizes and initialise the parameters from the first input batch."""
        kwargs = kwargs if kwargs else {}
        module.initialize_parameters(*args, **kwargs)
        if module.has_uninitialized_params():
            raise RuntimeError(f"module {self._get_name()} has not been fully initialized")  # type: ignore[attr-defined]
        module._initialize_hook.remove()
        module._load_hook.remove()
        delattr(module, "_initialize_hook")
        delattr(module, "_load_hook")
        if module.cls_to_become is not None:
            module.__class__ = module.cls_to_become

    def _replicate_for_data_parallel(self) -> Any:
        raise RuntimeError(
            "Modules with uninitialized parameters can't be used with `DataParallel`. "
            "Run a dummy forward pass to correctly initialize the modules"
        )


# ---------------------------------------------------------------------------- linear


class LazyLinear(LazyModuleMixin, Linear):
    r"""A :class:`~rustorch.nn.Linear` whose ``in_features`` is inferred from the first
    input's last dimension (``torch.nn.LazyLinear``); it becomes a ``Linear`` then."""

    cls_to_become = Linear

    def __init__(
        self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        # bias is hardcoded to False to avoid creating tensor that will soon be overwritten.
        super().__init__(0, 0, False)
        self.weight = UninitializedParameter(**factory_kwargs)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(**factory_kwargs)

    def reset_parameters(self) -> None:
        """Initialise as ``Linear`` once the parameters are materialised."""
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:  # type: ignore[override]
        """Materialise ``weight`` ``(out_features, input.shape[-1])`` and ``bias``."""
        if self.has_uninitialized_params():
            with rustorch.no_grad():
                self.in_features = input.shape[-1]
                self.weight.materialize((self.out_features, self.in_features))
                if self.bias is not None:
                    self.bias.materialize((self.out_features,))
                self.reset_parameters()


# ---------------------------------------------------------------------------- conv


class _LazyConvXdMixin(LazyModuleMixin):
    groups: int
    transposed: bool
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]

    def _lazy_conv_init(self, out_channels: int, bias: bool, factory_kwargs: dict) -> None:
        self.weight = UninitializedParameter(**factory_kwargs)
        self.out_channels = out_channels
        if bias:
            self.bias = UninitializedParameter(**factory_kwargs)

    def reset_parameters(self) -> None:
        """Initialise as the regular convolution once the parameters are materialised."""
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()  # type: ignore[misc]

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Materialise ``weight`` (and ``bias``) with ``in_channels`` from the input."""
        if self.has_uninitialized_params():
            self.in_channels = self._get_in_channels(input)
            if self.in_channels % self.groups != 0:
                raise ValueError("in_channels must be divisible by groups")
            with rustorch.no_grad():
                if self.transposed:
                    shape = (self.in_channels, self.out_channels // self.groups)
                else:
                    shape = (self.out_channels, self.in_channels // self.groups)
                self.weight.materialize((*shape, *self.kernel_size))  # type: ignore[attr-defined]
                if self.bias is not None:  # type: ignore[attr-defined]
                    self.bias.materialize((self.out_channels,))  # type: ignore[attr-defined]
                self.reset_parameters()

    def _get_in_channels(self, input: Tensor) -> int:
        num_spatial_dims = self._get_num_spatial_dims()
        num_dims_no_batch = num_spatial_dims + 1  # +1 for channels dim
        num_dims_batch = num_dims_no_batch + 1
        if input.dim() not in (num_dims_no_batch, num_dims_batch):
            raise RuntimeError(
                f"Expected {num_dims_no_batch}D (unbatched) or {num_dims_batch}D (batched) input "
                f"to {self.__class__.__name__}, but "
                f"got input of size: {input.shape}"
            )
        return input.shape[1] if input.dim() == num_dims_batch else input.shape[0]

    def _get_num_spatial_dims(self) -> int:
        raise NotImplementedError


def _lazy_conv_class(base: type, ndim: int, transposed: bool) -> type:
    """Build ``LazyConv{ndim}d`` / ``LazyConvTranspose{ndim}d`` over ``base``."""
    name = f"Lazy{base.__name__}"

    if transposed:

        def __init__(  # noqa: N807
            self: Any,
            out_channels: int,
            kernel_size: Any,
            stride: Any = 1,
            padding: Any = 0,
            output_padding: Any = 0,
            groups: int = 1,
            bias: bool = True,
            dilation: Any = 1,
            padding_mode: str = "zeros",
            device: Any = None,
            dtype: Any = None,
        ) -> None:
            factory_kwargs = _factory_kwargs(device, dtype)
            # bias is hardcoded to False to avoid creating a tensor soon overwritten;
            # LazyModuleMixin.__init__ runs base's __init__ and then installs its hooks
            LazyModuleMixin.__init__(
                self, 0, 0, kernel_size, stride, padding, output_padding, groups,
                False, dilation, padding_mode, **factory_kwargs,
            )
            self._lazy_conv_init(out_channels, bias, factory_kwargs)

    else:

        def __init__(  # noqa: N807
            self: Any,
            out_channels: int,
            kernel_size: Any,
            stride: Any = 1,
            padding: Any = 0,
            dilation: Any = 1,
            groups: int = 1,
            bias: bool = True,
            padding_mode: str = "zeros",
            device: Any = None,
            dtype: Any = None,
        ) -> None:
            factory_kwargs = _factory_kwargs(device, dtype)
            LazyModuleMixin.__init__(
                self, 0, 0, kernel_size, stride, padding, dilation, groups,
                False, padding_mode, **factory_kwargs,
            )
            self._lazy_conv_init(out_channels, bias, factory_kwargs)

    def _get_num_spatial_dims(self: Any) -> int:
        return ndim

    __init__.__qualname__ = f"{name}.__init__"
    doc = (
        f"A :class:`~rustorch.nn.{base.__name__}` whose ``in_channels`` is inferred from the "
        f"first input's ``size(1)`` (``torch.nn.{name}``); it becomes a ``{base.__name__}`` "
        "then, initialised as the regular module."
    )
    cls = type(
        name,
        (_LazyConvXdMixin, base),
        {
            "__init__": __init__,
            "_get_num_spatial_dims": _get_num_spatial_dims,
            "cls_to_become": base,
            "__doc__": doc,
            "__module__": __name__,
        },
    )
    return cls


LazyConv1d = _lazy_conv_class(Conv1d, 1, False)
LazyConv2d = _lazy_conv_class(Conv2d, 2, False)
LazyConv3d = _lazy_conv_class(Conv3d, 3, False)
LazyConvTranspose1d = _lazy_conv_class(ConvTranspose1d, 1, True)
LazyConvTranspose2d = _lazy_conv_class(ConvTranspose2d, 2, True)
LazyConvTranspose3d = _lazy_conv_class(ConvTranspose3d, 3, True)


# ---------------------------------------------------------------------------- norms


class _LazyNormBase(LazyModuleMixin, _NormBase):
    """Lazy ``_NormBase``: ``num_features`` from ``input.shape[1]`` (PyTorch's defaults:
    ``affine=True``, ``track_running_stats=True``, also for the instance norms)."""

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        factory_kwargs = _factory_kwargs(device, dtype)
        # affine and track_running_stats are hardcoded to False to avoid creating tensors
        # that will soon be overwritten.
        super().__init__(0, eps, momentum, False, False, **factory_kwargs, bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = UninitializedParameter(**factory_kwargs)
            if bias:
                self.bias = UninitializedParameter(**factory_kwargs)
        if self.track_running_stats:
            self.running_mean = UninitializedBuffer(**factory_kwargs)
            self.running_var = UninitializedBuffer(**factory_kwargs)
            self.num_batches_tracked = rustorch.tensor(
                0, dtype=rustorch.long,
                **{k: v for k, v in factory_kwargs.items() if k != "dtype"},
            )

    def reset_parameters(self) -> None:
        """Initialise as the regular norm once the parameters are materialised."""
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor) -> None:  # type: ignore[override]
        """Materialise the affine parameters and running statistics ``(input.shape[1],)``."""
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            with rustorch.no_grad():
                if self.affine:
                    self.weight.materialize((self.num_features,))
                    if self.bias is not None:
                        self.bias.materialize((self.num_features,))
                if self.track_running_stats:
                    self.running_mean.materialize((self.num_features,))
                    self.running_var.materialize((self.num_features,))
                self.reset_parameters()


def _lazy_norm_class(base: type) -> type:
    name = f"Lazy{base.__name__}"
    doc = (
        f"A :class:`~rustorch.nn.{base.__name__}` whose ``num_features`` is inferred from "
        f"the first input's ``size(1)`` (``torch.nn.{name}``); it becomes a "
        f"``{base.__name__}`` then."
    )
    # the lazy base's __init__ first, the regular class's methods (checks, forward) next
    return type(
        name,
        (_LazyNormBase, base),
        {"cls_to_become": base, "__doc__": doc, "__module__": __name__},
    )


LazyBatchNorm1d = _lazy_norm_class(BatchNorm1d)
LazyBatchNorm2d = _lazy_norm_class(BatchNorm2d)
LazyBatchNorm3d = _lazy_norm_class(BatchNorm3d)
LazyInstanceNorm1d = _lazy_norm_class(InstanceNorm1d)
LazyInstanceNorm2d = _lazy_norm_class(InstanceNorm2d)
LazyInstanceNorm3d = _lazy_norm_class(InstanceNorm3d)
