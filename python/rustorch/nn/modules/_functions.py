"""The autograd function behind ``nn.SyncBatchNorm`` (PyTorch's
``torch.nn.modules._functions.SyncBatchNorm``): batch normalization whose statistics, and
whose input gradient's sums, cover the whole process group's batch.

Each rank reduces its own batch to per-channel (mean, biased variance, count); the ranks
exchange those with one ``all_gather`` and combine them as the parallel-variance formula
does (no catastrophic cancellation), then normalise locally. Backward all-reduces the two
per-channel sums the input gradient needs (Σ dy and Σ dy·(x − mean)); the weight and bias
gradients stay local, as PyTorch's (``DistributedDataParallel`` averages them with the
other parameters). The element-wise work is rustorch's ops; this module only orchestrates
the collectives.
"""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor
from rustorch.autograd.function import Function, FunctionCtx


def _reduce_dims(x: Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def _per_channel(v: Tensor, x: Tensor) -> Tensor:
    """A ``[C]`` vector shaped to broadcast over ``x`` (``[N, C, *]``)."""
    return v.reshape([1, -1] + [1] * (x.dim() - 2))


class SyncBatchNorm(Function):
    """``forward(input, weight, bias, running_mean, running_var, eps, momentum,
    process_group, world_size)``; statistics over every rank's batch."""

    @staticmethod
    def forward(ctx: FunctionCtx, input: Tensor, weight: Optional[Tensor],
                bias: Optional[Tensor], running_mean: Optional[Tensor],
                running_var: Optional[Tensor], eps: float, momentum: float,
                process_group: Any, world_size: int) -> Tensor:
        import rustorch.distributed as dist

        x = input.contiguous()
        c = x.size(1)
        count = x.numel() // max(c, 1)
        # Statistics in float32 at least (as PyTorch's kernels accumulate half inputs).
        acc = x if x.dtype == rustorch.float64 else x.float()
        dims = _reduce_dims(x)
        mean = acc.mean(dims)
        var = acc.var(dims, correction=0)
        local = rustorch.cat([mean, var, rustorch.full((1,), float(count), dtype=acc.dtype,
                                                       device=acc.device)])
        gathered = rustorch.empty(world_size * local.numel(), dtype=local.dtype,
                                  device=local.device)
        dist.all_gather_into_tensor(gathered, local, process_group)
        g = gathered.reshape(world_size, -1)
        counts = g[:, 2 * c:]
        # A rank with an empty batch has NaN statistics and weighs nothing.
        empty = counts == 0
        means = g[:, :c].masked_fill(empty, 0.0)
        variances = g[:, c:2 * c].masked_fill(empty, 0.0)
        total = counts.sum()
        if float(total) <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{list(input.shape)}"
            )
        g_mean = (means * counts).sum(0) / total
        g_var = ((variances + (means - g_mean) ** 2) * counts).sum(0) / total
        invstd = (g_var + eps).rsqrt()
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(g_mean.to(running_mean.dtype), alpha=momentum)
        if running_var is not None:
            unbiased = g_var * (total / (total - 1))
            running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
        scale = invstd if weight is None else invstd * weight.to(acc.dtype)
        out = (acc - _per_channel(g_mean, x)) * _per_channel(scale, x)
        if bias is not None:
            out = out + _per_channel(bias.to(acc.dtype), x)
        ctx.save_for_backward(acc, weight, g_mean, invstd, total)
        ctx.process_group = process_group
        ctx.input_dtype = input.dtype
        return out.to(input.dtype)

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: Tensor) -> tuple[Any, ...]:
        import rustorch.distributed as dist

        acc, weight, mean, invstd, total = ctx.saved_tensors
        dy = grad_output.contiguous().to(acc.dtype)
        dims = _reduce_dims(acc)
        xhat = (acc - _per_channel(mean, acc)) * _per_channel(invstd, acc)
        sum_dy = dy.sum(dims)
        sum_dy_xhat = (dy * xhat).sum(dims)
        grad_weight = sum_dy_xhat if weight is not None and ctx.needs_input_grad[1] else None
        grad_bias = sum_dy if ctx.needs_input_grad[2] else None
        grad_input = None
        if ctx.needs_input_grad[0]:
            sums = rustorch.cat([sum_dy, sum_dy_xhat])
            dist.all_reduce(sums, group=ctx.process_group)
            c = sum_dy.numel()
            mean_dy, mean_dy_xhat = sums[:c] / total, sums[c:] / total
            scale = invstd if weight is None else invstd * weight.to(acc.dtype)
            grad_input = ((dy - _per_channel(mean_dy, acc) - xhat * _per_channel(mean_dy_xhat, acc))
                          * _per_channel(scale, acc)).to(ctx.input_dtype)
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        if grad_bias is not None:
            grad_bias = grad_bias.to(weight.dtype if weight is not None else acc.dtype)
        return grad_input, grad_weight, grad_bias, None, None, None, None, None, None
