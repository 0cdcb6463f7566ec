"""``rustorch.backends.cudnn``: PyTorch's cuDNN switches.

rustorch does not call cuDNN yet: convolutions on a GPU run as im2col + cuBLAS products,
which are deterministic and need no algorithm search. So ``is_available()`` is False, and
the flags are kept (so scripts that set them run unchanged) without changing what runs:
``benchmark`` and ``allow_tf32`` have nothing to choose, ``deterministic`` already holds,
and ``enabled = False`` asks for what already happens.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Any, Iterator, Optional

enabled: bool = True
benchmark: bool = False
benchmark_limit: int = 10
deterministic: bool = False
allow_tf32: bool = True


def is_available() -> bool:
    """False: this build does not use cuDNN."""
    return False


def is_acceptable(tensor: Any) -> bool:
    """Whether cuDNN would take ``tensor``, as PyTorch decides: False when disabled, for a
    tensor that is not a float16/32/64 CUDA tensor, and (with PyTorch's warning) because
    this build has no cuDNN."""
    import rustorch

    if not enabled:
        return False
    dtypes = (rustorch.float16, rustorch.float32, rustorch.float64)
    if tensor.device.type != "cuda" or tensor.dtype not in dtypes:
        return False
    warnings.warn(
        "rustorch does not use cuDNN: convolutions on a GPU run as im2col + cuBLAS products.",
        stacklevel=2,
    )
    return False


def version() -> Optional[int]:
    """None, as PyTorch answers when cuDNN is unavailable."""
    return None


@contextlib.contextmanager
def flags(enabled: bool = False, benchmark: bool = False, benchmark_limit: int = 10,
          deterministic: bool = False, allow_tf32: bool = True) -> Iterator[None]:
    """PyTorch's context manager: sets the five flags (PyTorch's defaults for its arguments)
    and restores the previous values on exit."""
    module = sys.modules[__name__]
    names = ("enabled", "benchmark", "benchmark_limit", "deterministic", "allow_tf32")
    old = {k: getattr(module, k) for k in names}
    new = (enabled, benchmark, benchmark_limit, deterministic, allow_tf32)
    for k, v in zip(names, new):
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)
