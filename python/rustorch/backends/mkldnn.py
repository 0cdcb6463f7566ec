"""``rustorch.backends.mkldnn``: PyTorch's oneDNN (MKL-DNN) switches.

rustorch does not call oneDNN: its CPU convolutions, pools and products are its own
kernels. So ``is_available()`` is False, as in a PyTorch built without oneDNN, and the flags
are kept (so scripts that set them run unchanged) without changing what runs.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator, Optional

enabled: bool = True
deterministic: bool = False
allow_tf32: bool = False

VERBOSE_OFF = 0
VERBOSE_ON = 1
VERBOSE_ON_CREATION = 2


def is_available() -> bool:
    """False: this build does not use oneDNN."""
    return False


def is_acl_available() -> bool:
    """False: no oneDNN, so no oneDNN + ACL either."""
    return False


class verbose:
    """PyTorch's context manager for oneDNN's verbose log. With no oneDNN there is nothing
    to log: entering and leaving do nothing else (``as`` binds what PyTorch's binds)."""

    def __init__(self, level: int) -> None:
        self.level = level

    def __enter__(self) -> Optional["verbose"]:
        return None if self.level == VERBOSE_OFF else self

    def __exit__(self, *exc: Any) -> bool:
        return False


def set_flags(_enabled: Optional[bool] = None, _deterministic: Optional[bool] = None,
              _allow_tf32: Optional[bool] = None) -> tuple[bool, bool, bool]:
    """Sets the flags given (None keeps one) and returns the previous ones, as PyTorch's."""
    module = sys.modules[__name__]
    names = ("enabled", "deterministic", "allow_tf32")
    orig = tuple(getattr(module, k) for k in names)
    for k, v in zip(names, (_enabled, _deterministic, _allow_tf32)):
        if v is not None:
            setattr(module, k, bool(v))
    return orig  # type: ignore[return-value]


@contextlib.contextmanager
def flags(enabled: bool = False, deterministic: bool = False,
          allow_tf32: bool = True) -> Iterator[None]:
    """PyTorch's context manager: sets the flags and restores the previous ones on exit."""
    orig = set_flags(enabled, deterministic, allow_tf32)
    try:
        yield
    finally:
        set_flags(*orig)
