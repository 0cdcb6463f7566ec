"""Batch normalization, matching ``torch.nn.modules.batchnorm``.

Same parameters and buffers as PyTorch (``weight``, ``bias``, ``running_mean``,
``running_var``, ``num_batches_tracked``), so state dicts move between the libraries; the
same initialisation, input-dim checks, ``extra_repr`` and momentum rules (``momentum=None``
is a cumulative average over ``num_batches_tracked`` batches).
"""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor
from rustorch.nn import functional as F
from rustorch.nn import init
from rustorch.nn.parameter import Parameter

from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"]


def _factory_kwargs(device: Any, dtype: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if device is not None:
        kwargs["device"] = device
    if dtype is not None:
        kwargs["dtype"] = dtype
    return kwargs


class _NormBase(Module):
    """Common base of ``_InstanceNorm`` and ``_BatchNorm``: affine parameters and running
    statistics, created and reset as PyTorch's."""

    _version = 2
    __constants__ = ["track_running_stats", "momentum", "eps", "num_features", "affine"]
    num_features: int
    eps: float
    momentum: Optional[float]
    affine: bool
    track_running_stats: bool

    def __init__(
        self,
        num_features: int,
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
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if self.affine:
            self.weight = Parameter(rustorch.empty(num_features, **factory_kwargs))
            if bias:
                self.bias = Parameter(rustorch.empty(num_features, **factory_kwargs))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", rustorch.zeros(num_features, **factory_kwargs))
            self.register_buffer("running_var", rustorch.ones(num_features, **factory_kwargs))
            self.register_buffer(
                "num_batches_tracked",
                rustorch.tensor(0, dtype=rustorch.long, device=device),
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Zero ``running_mean`` and ``num_batches_tracked``, fill ``running_var`` with 1."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics; ``weight`` to 1 and ``bias`` to 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(
        self,
        state_dict: dict,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list,
        unexpected_keys: list,
        error_msgs: list,
    ) -> None:
        # State dicts older than version 2 have no num_batches_tracked: keep ours, as PyTorch.
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats:
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = (
                    self.num_batches_tracked
                    if self.num_batches_tracked is not None
                    else rustorch.tensor(0, dtype=rustorch.long)
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
            error_msgs,
        )


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        """Normalise with batch statistics in training (updating the running ones) and with
        the running statistics in eval mode, when they are tracked."""
        self._check_input_dim(input)
        exponential_average_factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                exponential_average_factor = 1.0 / float(self.num_batches_tracked)
        # Batch statistics in training, and in eval mode when there are no buffers.
        if self.training:
            bn_training = True
        else:
            bn_training = (self.running_mean is None) and (self.running_var is None)
        # Buffers are passed when they are updated (training and tracked) or used (eval).
        use_buffers = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if use_buffers else None,
            self.running_var if use_buffers else None,
            self.weight,
            self.bias,
            bn_training,
            exponential_average_factor,
            self.eps,
        )


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization over a 2D ``(N, C)`` or 3D ``(N, C, L)`` input
    (``torch.nn.BatchNorm1d``).

    .. math:: y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} * \gamma + \beta

    Training uses the batch's biased variance; the running variance is updated with the
    unbiased one, ``running = (1 - momentum) * running + momentum * batch_stat``, or as a
    cumulative average over ``num_batches_tracked`` when ``momentum=None``.

    Args:
        num_features: number of features or channels :math:`C` of the input
        eps: a value added to the denominator for numerical stability. Default: 1e-5
        momentum: the weight of the new batch in the running statistics, or ``None`` for a
            cumulative moving average. Default: 0.1
        affine: learnable ``weight`` (init 1) and ``bias`` (init 0). Default: ``True``
        track_running_stats: keep running statistics (used in eval mode); when ``False``
            batch statistics are used in both modes. Default: ``True``
        bias: with ``affine``, whether to learn ``bias`` (keyword only). Default: ``True``
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    r"""Batch normalization over a 4D ``(N, C, H, W)`` input (``torch.nn.BatchNorm2d``).

    The arguments and statistics are those of :class:`BatchNorm1d`.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    r"""Batch normalization over a 5D ``(N, C, D, H, W)`` input (``torch.nn.BatchNorm3d``).

    The arguments and statistics are those of :class:`BatchNorm1d`.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")


class SyncBatchNorm(_BatchNorm):
    r"""Batch normalization whose statistics cover the batches of every rank of a process
    group (``torch.nn.SyncBatchNorm``), for ``(N, C, +)`` inputs.

    In training, with ``rustorch.distributed`` initialised and more than one rank in
    ``process_group`` (default: the whole world), the mean and variance are those of all
    ranks' batches together, and the running statistics are updated with them; otherwise
    (eval mode, one rank, no process group) it is :func:`F.batch_norm`, as PyTorch's.
    :meth:`convert_sync_batchnorm` swaps a model's ``BatchNorm*d`` layers for it. Unlike
    PyTorch's, which takes GPU inputs only, CPU tensors synchronise too (over the process
    group's Open MPI backend).

    Args:
        num_features, eps, momentum, affine, track_running_stats, bias: as
            :class:`BatchNorm1d`
        process_group: the group whose ranks share statistics (``None``: the world)
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input: Tensor) -> None:
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input: Tensor) -> Tensor:
        """Normalise ``input`` with the group's batch statistics (training) or as
        :class:`BatchNorm1d` does."""
        import rustorch.distributed as dist

        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_buffers = not self.training or self.track_running_stats
        running_mean = self.running_mean if use_buffers else None
        running_var = self.running_var if use_buffers else None
        need_sync = bn_training and self.training and dist.is_available() and dist.is_initialized()
        world_size = 1
        if need_sync:
            group = self.process_group or dist.group.WORLD
            world_size = dist.get_world_size(group)
            need_sync = world_size > 1
        if not need_sync:
            return F.batch_norm(input, running_mean, running_var, self.weight, self.bias,
                                bn_training, factor, self.eps)
        from ._functions import SyncBatchNorm as _SyncBatchNormFunction

        return _SyncBatchNormFunction.apply(input, self.weight, self.bias, running_mean,
                                            running_var, self.eps, factor, group, world_size)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every ``BatchNorm*d`` layer (at any depth) replaced by a
        :class:`SyncBatchNorm` sharing its parameters and buffers (a new layer when
        ``module`` itself is one), as PyTorch's."""
        output = module
        if isinstance(module, _BatchNorm):
            output = cls(module.num_features, module.eps, module.momentum, module.affine,
                         module.track_running_stats, process_group,
                         bias=module.bias is not None)
            if module.affine:
                with rustorch.no_grad():
                    output.weight = module.weight
                    output.bias = module.bias
            output.running_mean = module.running_mean
            output.running_var = module.running_var
            output.num_batches_tracked = module.num_batches_tracked
            output.training = module.training
            if hasattr(module, "qconfig"):
                output.qconfig = module.qconfig
        for name, child in module.named_children():
            output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return output
