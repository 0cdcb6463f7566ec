"""ASGD, matching ``torch.optim.ASGD``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch

from ._common import _check_lr, _scalar, _SingleTensorOptimizer, _step_tensor
from .optimizer import ParamsT

__all__ = ["ASGD"]


class ASGD(_SingleTensorOptimizer):
    r"""Implements Averaged Stochastic Gradient Descent (``torch.optim.ASGD``).

    State: ``step``, ``eta``, ``mu`` (0-dim float32 tensors, so ``eta`` and ``mu`` are
    rounded to float32 as in PyTorch) and ``ax`` (the average). Update:

    .. code-block:: text

        g = -grad if maximize else grad;  g = g + weight_decay * param
        param = param * (1 - lambd * eta) - eta * g
        ax = ax + (param - ax) * mu   if mu != 1   else   param
        eta = lr / (1 + lambd * lr * step) ** alpha;   mu = 1 / max(1, step - t0)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lambd, alpha, t0 = _scalar(group["lr"]), group["lambd"], group["alpha"], group["t0"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for param in self._params_with_grad(group):
            state = self.state[param]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["eta"] = _step_tensor(lr)
                state["mu"] = _step_tensor(1.0)
                state["ax"] = rustorch.zeros_like(param)
            mu, ax, eta, step_t = state["mu"], state["ax"], state["eta"], state["step"]
            grad = param.grad if not maximize else -param.grad
            step_t.add_(1)
            if weight_decay != 0:
                grad = grad.add(param, alpha=weight_decay)
            eta_value = _scalar(eta)
            param.mul_(1 - lambd * eta_value)
            param.add_(grad, alpha=-eta_value)
            mu_value = _scalar(mu)
            if mu_value != 1:
                ax.add_(param.sub(ax).mul_(mu_value))
            else:
                ax.copy_(param)
            step = _scalar(step_t)
            eta.fill_(lr / ((1 + lambd * lr * step) ** alpha))
            mu.fill_(1 / max(1, step - t0))
