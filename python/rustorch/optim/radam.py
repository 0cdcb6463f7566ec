"""RAdam, matching ``torch.optim.RAdam``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch

from ._common import (
    _addcmul_,
    _check_betas_eps_wd,
    _check_lr,
    _scalar,
    _SingleTensorOptimizer,
    _step_tensor,
)
from .adam import _lerp_
from .optimizer import ParamsT

__all__ = ["RAdam"]


class RAdam(_SingleTensorOptimizer):
    r"""Implements the RAdam algorithm, rectified Adam (``torch.optim.RAdam``).

    State: ``step`` (0-dim float32 tensor), ``exp_avg``, ``exp_avg_sq``. With
    ``rho_inf = 2 / (1 - beta2) - 1`` and
    ``rho_t = rho_inf - 2 step beta2^step / (1 - beta2^step)`` the update is the rectified
    adaptive step when ``rho_t > 5``, else plain momentum SGD on the bias-corrected first
    moment, computed in PyTorch's single-tensor order. ``decoupled_weight_decay=True``
    decays ``param *= 1 - lr * weight_decay`` (RAdamW).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
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
                state["exp_avg_sq"] = rustorch.zeros_like(param)
            exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
            grad = param.grad if not maximize else -param.grad
            step_t.add_(1)
            step = _scalar(step_t)
            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    param.mul_(1 - lr * weight_decay)
                else:
                    grad = grad.add(param, alpha=weight_decay)
            _lerp_(exp_avg, grad, 1 - beta1)
            _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            bias_corrected_exp_avg = exp_avg / bias_correction1
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
            if rho_t > 5.0:
                rect = (
                    (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                ) ** 0.5
                adaptive_lr = (bias_correction2**0.5) / exp_avg_sq.sqrt().add_(eps)
                param.add_(bias_corrected_exp_avg * lr * adaptive_lr * rect, alpha=-1.0)
            else:
                param.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
