"""``torch.autocast`` / ``torch.amp.autocast``: mixed precision for the products and
convolutions (the switch lives in Rust, ``src/ops/autocast.rs``, which lists the ops)."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Optional, TypeVar

from .. import _C

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_DTYPES = {"cpu": "bfloat16", "cuda": "float16"}


class autocast:  # noqa: N801 - PyTorch's name
    """``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: inside the
    block (or the decorated function) ``matmul``/``mm``/``bmm``/``addmm``/``linear`` and the
    convolutions run in ``dtype`` (default bfloat16 on "cpu", float16 on "cuda"), as
    PyTorch's lower-precision op list; other ops keep their inputs' dtypes. Nested blocks
    and ``enabled=False`` restore the outer setting on exit. ``cache_enabled`` is accepted
    (rustorch keeps no cast cache). Unlike PyTorch, the ops PyTorch forces to float32 under
    autocast (losses, softmax on CUDA, …) are not listed: they run in their inputs' dtype,
    which for a loss over a float32 target promotes to float32."""

    def __init__(self, device_type: str, dtype: Optional[Any] = None, enabled: bool = True,
                 cache_enabled: Optional[bool] = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(
                f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _DEFAULT_DTYPES:
            raise RuntimeError(
                f"User specified an unsupported autocast device_type '{device_type}'")
        import rustorch

        self.device = device_type
        self.fast_dtype = (getattr(rustorch, _DEFAULT_DTYPES[device_type]) if dtype is None
                           else dtype)
        self._enabled = enabled
        if enabled and device_type == "cuda" and not rustorch.cuda.is_available():
            warnings.warn(
                "User provided device_type of 'cuda', but CUDA is not available. Disabling",
                UserWarning, stacklevel=2)
            self._enabled = False
        self._prev: Any = None

    def __enter__(self) -> autocast:
        self._prev = _C._get_autocast(self.device)
        _C._set_autocast(self.device, self.fast_dtype if self._enabled else None)
        return self

    def __exit__(self, *exc: Any) -> None:
        _C._set_autocast(self.device, self._prev)

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast supports ``device_type`` ("cpu" and "cuda")."""
    return device_type in _DEFAULT_DTYPES


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether autocast is on for ``device_type`` on this thread."""
    return _C._get_autocast(device_type) is not None


def get_autocast_dtype(device_type: str) -> Any:
    """The dtype autocast uses (or would use) for ``device_type``."""
    import rustorch

    d = _C._get_autocast(device_type)
    return d if d is not None else getattr(rustorch, _DEFAULT_DTYPES[device_type])
