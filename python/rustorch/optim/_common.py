"""Shared helpers of the single-tensor optimizers (Adadelta, Adamax, NAdam, RAdam, ASGD,
Rprop): option validation and the ``step(closure)`` skeleton, as PyTorch's."""

from __future__ import annotations

from typing import Any, Callable, Optional

import rustorch
from rustorch import Tensor

from .optimizer import Optimizer, _enable_grad


def _check_lr(lr: Any) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_betas_eps_wd(betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _scalar(x: Any) -> float:
    return x.item() if isinstance(x, Tensor) else x


def _step_tensor(value: float = 0.0) -> Tensor:
    """A 0-dim step / scalar state entry, float32 as PyTorch's ``_get_scalar_dtype()``."""
    return rustorch.tensor(value)


def _addcmul_(t: Tensor, a: Tensor, b: Tensor, value: float) -> Tensor:
    """``t.addcmul_(a, b, value=value)``: ``t + value * a * b``, in that order."""
    return t.add_(a.mul(value).mul_(b))


def _addcdiv_(t: Tensor, a: Tensor, b: Tensor, value: float) -> Tensor:
    """``t.addcdiv_(a, b, value=value)``: ``t + value * a / b``, in that order."""
    return t.add_(a.mul(value).div_(b))


class _SingleTensorOptimizer(Optimizer):
    """``step``: evaluate the closure with grad enabled, then ``self._update_group(group)``
    for every group (under ``no_grad``: the base class wraps ``step``)."""

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _params_with_grad(self, group: dict[str, Any]) -> list[Tensor]:
        name = type(self).__name__
        out = []
        for p in group["params"]:
            if p.grad is None:
                continue
            if getattr(p.grad, "is_sparse", False):
                raise RuntimeError(f"{name} does not support sparse gradients")
            out.append(p)
        return out

    def step(self, closure: Optional[Callable[[], float]] = None) -> Optional[float]:
        """Perform a single optimization step.

        Args:
            closure (Callable, optional): A closure that reevaluates the model
                and returns the loss.
        """
        loss = None
        if closure is not None:
            with _enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss
