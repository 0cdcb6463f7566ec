"""Custom differentiable ops from Python (``torch.autograd.Function``).

``forward`` runs with recording off; then one engine node is recorded whose backward calls
the class's ``backward(ctx, *grads)``. As in PyTorch, ``backward`` returns one gradient per
``forward`` argument (None for non-tensors).
"""

from __future__ import annotations

from typing import Any

from .. import _C
from .grad_mode import no_grad


class FunctionCtx:
    """The ``ctx`` object: saved tensors, ``needs_input_grad``, arbitrary attributes."""

    def __init__(self) -> None:
        self.saved_tensors: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tuple(tensors)

    def mark_non_differentiable(self, *tensors: Any) -> None:
        self.non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call
    with ``YourFunction.apply(*args)``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the backward function for custom autograd.Function."
        )

    @classmethod
    def apply(cls, *args: Any) -> Any:
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        outputs = list(out) if isinstance(out, tuple) else [out]
        if _C.is_grad_enabled() and any(ctx.needs_input_grad):
            # Outputs that are inputs returned as-is get a fresh handle, as PyTorch's views.
            outputs = [o.view_as(o) if any(o is a for a in args) else o for o in outputs]
            inputs = [a if isinstance(a, _C.Tensor) else None for a in args]

            def backward(*grads: Any) -> Any:
                r = cls.backward(ctx, *grads)
                return r if isinstance(r, tuple) else (r,)

            _C._record_function(cls.__name__ + "Backward", inputs, outputs, backward,
                                ctx.materialize_grads)
        return tuple(outputs) if isinstance(out, tuple) else outputs[0]
