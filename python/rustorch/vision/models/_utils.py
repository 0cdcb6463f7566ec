"""Helpers of ``torchvision.models._utils`` used by the detection models:
``IntermediateLayerGetter`` and ``_ovewrite_value_param``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional, TypeVar

from rustorch import Tensor, nn

__all__ = ["IntermediateLayerGetter"]


class IntermediateLayerGetter(nn.ModuleDict):
    """torchvision's ``IntermediateLayerGetter(model, return_layers)``: the direct children
    of ``model`` up to the last one named in ``return_layers``, run in registration order;
    ``forward`` returns an ordered dict ``{return_layers[name]: output of child name}``.

    As in torchvision, only direct children can be returned and the model's ``forward``
    must call them in the order they were registered (each once).
    """

    _version = 2

    def __init__(self, model: nn.Module, return_layers: dict[str, str]) -> None:
        if not set(return_layers).issubset([name for name, _ in model.named_children()]):
            raise ValueError("return_layers are not present in model")
        orig_return_layers = return_layers
        remaining = {str(k): str(v) for k, v in return_layers.items()}
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            remaining.pop(name, None)
            if not remaining:
                break
        super().__init__(layers)
        self.return_layers = orig_return_layers

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        out: OrderedDict[str, Tensor] = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


V = TypeVar("V")


def _ovewrite_value_param(param: str, actual: Optional[V], expected: V) -> V:
    """torchvision's helper (name kept): ``expected``, after checking that a value the
    caller gave (``actual`` not ``None``) equals it."""
    if actual is not None and actual != expected:
        raise ValueError(f"The parameter '{param}' expected value {expected} but got {actual} "
                         "instead.")
    return expected
