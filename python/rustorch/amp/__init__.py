"""``torch.amp`` for rustorch: :class:`autocast` (see :mod:`.autocast_mode`) and
:class:`GradScaler` (see :mod:`.grad_scaler`).

Also provides ``rustorch.cuda.amp.GradScaler`` and ``autocast`` (PyTorch's deprecated
spellings) when ``rustorch.cuda`` has no ``amp`` of its own.
"""

from __future__ import annotations

import sys
import types

from .. import cuda as _cuda
from .autocast_mode import (
    autocast,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_enabled,
)
from .grad_scaler import CudaGradScaler as _CudaGradScaler
from .grad_scaler import GradScaler, OptState

__all__ = [
    "GradScaler",
    "OptState",
    "autocast",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_enabled",
]

_CudaGradScaler.__name__ = _CudaGradScaler.__qualname__ = "GradScaler"
_cuda_amp = getattr(_cuda, "amp", None)
if _cuda_amp is None:
    _cuda_amp = types.ModuleType(
        "rustorch.cuda.amp", "``torch.cuda.amp``: the deprecated ``GradScaler`` spelling.")
    sys.modules["rustorch.cuda.amp"] = _cuda_amp
    _cuda.amp = _cuda_amp  # type: ignore[attr-defined]
if not hasattr(_cuda_amp, "GradScaler"):
    _cuda_amp.GradScaler = _CudaGradScaler  # type: ignore[attr-defined]


class _CudaAutocast(autocast):
    """``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``:
    deprecated in PyTorch for ``torch.amp.autocast("cuda", ...)``, and warns as it does."""

    def __init__(self, enabled: bool = True, dtype: object = None,
                 cache_enabled: bool = True) -> None:
        import warnings

        warnings.warn(
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
            "`torch.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


_CudaAutocast.__name__ = _CudaAutocast.__qualname__ = "autocast"
if not hasattr(_cuda_amp, "autocast"):
    _cuda_amp.autocast = _CudaAutocast  # type: ignore[attr-defined]
