"""Adadelta, matching ``torch.optim.Adadelta``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch

from ._common import _addcmul_, _check_lr, _scalar, _SingleTensorOptimizer, _step_tensor
from .optimizer import ParamsT

__all__ = ["Adadelta"]


class Adadelta(_SingleTensorOptimizer):
    r"""Implements the Adadelta algorithm (``torch.optim.Adadelta``).

    State: ``step`` (0-dim float32 tensor), ``square_avg``, ``acc_delta``. Update (PyTorch's
    single-tensor path, same operation order):

    .. code-block:: text

        g = -grad if maximize else grad;  g = g + weight_decay * param
        square_avg = square_avg * rho + (1 - rho) * g * g
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = acc_delta * rho + (1 - rho) * delta * delta
        param = param - lr * delta

    ``foreach`` / ``capturable`` / ``differentiable`` are accepted and stored.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, rho, eps = _scalar(group["lr"]), group["rho"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for param in self._params_with_grad(group):
            state = self.state[param]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["square_avg"] = rustorch.zeros_like(param)
                state["acc_delta"] = rustorch.zeros_like(param)
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            state["step"].add_(1)
            grad = param.grad if not maximize else -param.grad
            if weight_decay != 0:
                grad = grad.add(param, alpha=weight_decay)
            _addcmul_(square_avg.mul_(rho), grad, grad, 1 - rho)
            std = square_avg.add(eps).sqrt_()
            delta = acc_delta.add(eps).sqrt_()
            delta.div_(std).mul_(grad)
            _addcmul_(acc_delta.mul_(rho), delta, delta, 1 - rho)
            param.add_(delta, alpha=-lr)
