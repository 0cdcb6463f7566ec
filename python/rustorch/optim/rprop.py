"""Rprop, matching ``torch.optim.Rprop``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch

from ._common import _check_lr, _scalar, _SingleTensorOptimizer, _step_tensor
from .optimizer import ParamsT

__all__ = ["Rprop"]


class Rprop(_SingleTensorOptimizer):
    r"""Implements the resilient backpropagation algorithm (``torch.optim.Rprop``).

    State: ``step`` (0-dim float32 tensor), ``prev`` (previous gradient), ``step_size``
    (per element, starting at ``lr``). Update (PyTorch's single-tensor path):

    .. code-block:: text

        s = sign(g * prev) -> etaplus where > 0, etaminus where < 0, 1 where 0
        step_size = clamp(step_size * s, step_size_min, step_size_max)
        g = 0 where s == etaminus
        param = param - sign(g) * step_size;   prev = g
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        maximize = group["maximize"]
        for param in self._params_with_grad(group):
            state = self.state[param]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["prev"] = rustorch.zeros_like(param)
                state["step_size"] = rustorch.full_like(param.grad, _scalar(group["lr"]))
            prev, step_size = state["prev"], state["step_size"]
            grad = param.grad if not maximize else -param.grad
            state["step"].add_(1)
            sign = grad.mul(prev).sign()
            factor = (
                sign.masked_fill(sign > 0, etaplus)
                .masked_fill(sign < 0, etaminus)
                .masked_fill(sign == 0, 1)
            )
            step_size.mul_(factor).clamp_(step_size_min, step_size_max)
            grad = grad.masked_fill(factor == etaminus, 0)
            param.add_(grad.sign().mul_(step_size).neg_())
            prev.copy_(grad)
