"""``torch.compile`` for rustorch: a no-op that returns the model or function unchanged.

rustorch executes every op eagerly in its Rust engine; there is no graph capture, no
TorchDynamo and no Inductor, so nothing is compiled. ``compile`` exists so that PyTorch
code calling ``torch.compile(model)`` (or decorating a function with ``@torch.compile`` /
``@torch.compile(mode="max-autotune")``) runs unchanged. Every argument PyTorch accepts is
accepted and ignored; the result is the very object passed in, so its outputs, gradients
and ``state_dict`` keys are the eager ones (PyTorch's compiled module is an
``OptimizedModule`` whose state-dict keys carry an ``_orig_mod.`` prefix: rustorch's do not).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def compile(  # noqa: A001 - PyTorch's name
    model: _F | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable[..., Any] = "inductor",
    mode: str | None = None,
    options: dict[str, Any] | None = None,
    disable: bool = False,
) -> _F | Callable[[_F], _F]:
    """Return ``model`` unchanged: rustorch runs eagerly and compiles nothing.

    Matches ``torch.compile``'s signature and both decorator forms: ``compile(fn)`` and
    ``@compile`` give ``fn`` back; ``compile(mode=...)`` / ``@compile(...)`` without a model
    give a decorator that returns its argument. As PyTorch, ``mode`` and ``options`` may not
    both be given (RuntimeError), and a ``model`` that is not callable is an AssertionError
    with PyTorch's message (raised by TorchDynamo there).
    """
    if mode is not None and options is not None:
        raise RuntimeError(
            "Either mode or options can be specified, but both can't be specified at the "
            "same time."
        )
    if model is None:

        def decorator(fn: _F) -> _F:
            return compile(  # type: ignore[return-value]
                fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                options=options, disable=disable,
            )

        return decorator
    if not callable(model):
        raise AssertionError(  # PyTorch's exception type and text
            f"A callable function is expected, but {type(model)} is provided."
        )
    return model
