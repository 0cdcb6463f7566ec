"""Adamax, matching ``torch.optim.Adamax``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch

from ._common import (
    _addcdiv_,
    _check_betas_eps_wd,
    _check_lr,
    _scalar,
    _SingleTensorOptimizer,
    _step_tensor,
)
from .adam import _lerp_
from .optimizer import ParamsT

__all__ = ["Adamax"]


class Adamax(_SingleTensorOptimizer):
    r"""Implements the Adamax algorithm, Adam with the infinity norm (``torch.optim.Adamax``).

    State: ``step`` (0-dim float32 tensor), ``exp_avg``, ``exp_inf``. Update (PyTorch's
    single-tensor path):

    .. code-block:: text

        g = -grad if maximize else grad;  g = g + weight_decay * param
        exp_avg = lerp(exp_avg, g, 1 - beta1)
        exp_inf = max(exp_inf * beta2, |g| + eps)
        param = param - lr / (1 - beta1 ** step) * exp_avg / exp_inf
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps = _scalar(group["lr"]), group["eps"]
        beta1, beta2 = group["betas"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for param in self._params_with_grad(group):
            state = self.state[param]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["exp_avg"] = rustorch.zeros_like(param)
                state["exp_inf"] = rustorch.zeros_like(param)
            exp_avg, exp_inf, step_t = state["exp_avg"], state["exp_inf"], state["step"]
            grad = param.grad if not maximize else -param.grad
            step_t.add_(1)
            if weight_decay != 0:
                grad = grad.add(param, alpha=weight_decay)
            _lerp_(exp_avg, grad, 1 - beta1)
            exp_inf.copy_(rustorch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps)))
            bias_correction = 1 - beta1 ** _scalar(step_t)
            clr = lr / bias_correction
            _addcdiv_(param, exp_avg, exp_inf, -clr)
