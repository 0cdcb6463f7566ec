"""``rustorch.cuda.nccl``: the NCCL library behind the ``"nccl"`` process groups, as
``torch.cuda.nccl``.

NCCL is opened at run time (``libnccl.so.2``, from NVIDIA's ``nvidia-nccl-cu13`` wheel under
``sys.path``, ``RUSTORCH_CUDA_LIB_DIR`` or the system's library path); it opens without a GPU.
Only the queries are here; the collectives are ``rustorch.distributed``'s. PyTorch's direct
multi-GPU calls of this module (``nccl.all_reduce(inputs)`` over several devices of one
process) are not provided: rustorch runs one process per GPU.
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import _C

__all__ = ["is_available", "version"]


def version() -> tuple[int, int, int]:
    """NCCL's version as ``(major, minor, patch)``; raises ``RuntimeError`` saying where it
    was looked for when NCCL cannot be opened."""
    return tuple(_C._nccl_version())  # type: ignore[return-value]


def is_available(tensors: Sequence[Any]) -> bool:
    """Whether NCCL can run a collective over ``tensors``: NCCL opens, and every tensor is a
    CUDA tensor, each on its own device (PyTorch's rule)."""
    if not _C._nccl_available():
        return False
    devices = set()
    for t in tensors:
        if not getattr(t, "is_cuda", False):
            return False
        if t.get_device() in devices:
            return False
        devices.add(t.get_device())
    return True
