"""NAdam, matching ``torch.optim.NAdam``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch

from ._common import (
    _addcdiv_,
    _addcmul_,
    _check_betas_eps_wd,
    _check_lr,
    _scalar,
    _SingleTensorOptimizer,
    _step_tensor,
)
from .adam import _lerp_
from .optimizer import ParamsT

__all__ = ["NAdam"]


class NAdam(_SingleTensorOptimizer):
    r"""Implements the NAdam algorithm, Adam with Nesterov momentum (``torch.optim.NAdam``).

    State: ``step`` and ``mu_product`` (0-dim float32 tensors, the product kept in float32 as
    PyTorch does), ``exp_avg``, ``exp_avg_sq``. Update (PyTorch's single-tensor path):

    .. code-block:: text

        mu = beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay));  mu_next likewise at step+1
        mu_product *= mu
        exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_avg_sq = beta2 * exp_avg_sq + (1-beta2) g^2
        denom = sqrt(exp_avg_sq / (1 - beta2 ** step)) + eps
        param += -lr (1 - mu) / (1 - mu_product) * g / denom
        param += -lr mu_next / (1 - mu_product * mu_next) * exp_avg / denom

    ``decoupled_weight_decay=True`` decays ``param *= 1 - lr * weight_decay`` (NAdamW).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        _check_betas_eps_wd(betas, eps, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps = _scalar(group["lr"]), group["eps"]
        beta1, beta2 = group["betas"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        momentum_decay = group["momentum_decay"]
        for param in self._params_with_grad(group):
            state = self.state[param]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["mu_product"] = _step_tensor(1.0)
                state["exp_avg"] = rustorch.zeros_like(param)
                state["exp_avg_sq"] = rustorch.zeros_like(param)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            mu_product, step_t = state["mu_product"], state["step"]
            grad = param.grad if not maximize else -param.grad
            step_t.add_(1)
            step = _scalar(step_t)
            bias_correction2 = 1 - beta2**step
            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    param.mul_(1 - lr * weight_decay)
                else:
                    grad = grad.add(param, alpha=weight_decay)
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product.mul_(mu)
            _lerp_(exp_avg, grad, 1 - beta1)
            _addcmul_(exp_avg_sq.mul_(beta2), grad, grad, 1 - beta2)
            denom = exp_avg_sq.div(bias_correction2).sqrt()
            mu_product_value = _scalar(mu_product)
            mu_product_next = mu_product_value * mu_next
            denom.add_(eps)
            _addcdiv_(param, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product_value))
            _addcdiv_(param, exp_avg, denom, (-lr * mu_next) / (1.0 - mu_product_next))
