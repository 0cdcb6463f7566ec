"""``torch.amp`` for rustorch: :class:`GradScaler` (see :mod:`.grad_scaler`).

Also provides ``rustorch.cuda.amp.GradScaler`` (PyTorch's deprecated spelling) when
``rustorch.cuda`` has no ``amp`` of its own. Autocast is not defined here.
"""

from __future__ import annotations

import sys
import types

from .. import cuda as _cuda
from .grad_scaler import CudaGradScaler as _CudaGradScaler
from .grad_scaler import GradScaler, OptState

__all__ = ["GradScaler", "OptState"]

_CudaGradScaler.__name__ = _CudaGradScaler.__qualname__ = "GradScaler"
_cuda_amp = getattr(_cuda, "amp", None)
if _cuda_amp is None:
    _cuda_amp = types.ModuleType(
        "rustorch.cuda.amp", "``torch.cuda.amp``: the deprecated ``GradScaler`` spelling.")
    sys.modules["rustorch.cuda.amp"] = _cuda_amp
    _cuda.amp = _cuda_amp  # type: ignore[attr-defined]
if not hasattr(_cuda_amp, "GradScaler"):
    _cuda_amp.GradScaler = _CudaGradScaler  # type: ignore[attr-defined]
