"""``rustorch.backends.cuda``: switches of the CUDA backend, as ``torch.backends.cuda``."""

from __future__ import annotations

from .. import _C
from .. import cuda as _cuda


class _MatmulConfig:
    """``torch.backends.cuda.matmul``: ``allow_tf32`` lets float32 products use TF32 tensor
    cores (10-bit mantissa inputs, float32 accumulation). False by default, as in PyTorch."""

    @property
    def allow_tf32(self) -> bool:
        return bool(_C._cuda_get_allow_tf32())

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        _C._cuda_set_allow_tf32(bool(value))


matmul = _MatmulConfig()


def is_built() -> bool:
    """True: this build has the CUDA backend (it still needs a driver and a GPU to run)."""
    return True


def is_available() -> bool:
    return _cuda.is_available()
