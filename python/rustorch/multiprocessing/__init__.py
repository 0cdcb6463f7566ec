"""``rustorch.multiprocessing``: Python's :mod:`multiprocessing` with tensors that travel
between processes through shared memory, and ``spawn`` (``torch.multiprocessing``'s API).

Importing it registers reductions with :class:`multiprocessing.reduction.ForkingPickler`, so a
CPU tensor put on a ``Queue``, sent through a ``Pipe`` or passed to a ``Process`` started with
``spawn`` or ``forkserver`` is moved into shared memory (``Tensor.share_memory_()``) and the
receiver maps the same memory: writes on either side are seen by the other, as in PyTorch.
Tensors shared before a ``fork`` stay shared in the child. ``Module.share_memory()`` shares a
model's parameters for Hogwild-style training.

Differences from PyTorch: both sharing strategies (``file_descriptor``, ``file_system``) pass
a file descriptor of an anonymous memory file (``memfd_create``), so nothing is left in
``/dev/shm`` when a process dies; CUDA tensors are sent by value (copied), not through CUDA
IPC handles.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing import *  # noqa: F403

from .reductions import init_reductions
from .spawn import (
    ProcessContext,
    ProcessException,
    ProcessExitedException,
    ProcessRaisedException,
    SpawnContext,
    spawn,
    start_processes,
)

__all__ = [
    "set_sharing_strategy",
    "get_sharing_strategy",
    "get_all_sharing_strategies",
    "spawn",
    "start_processes",
    "ProcessContext",
    "SpawnContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
]
__all__ += multiprocessing.__all__  # type: ignore[attr-defined]

_all_sharing_strategies = {"file_descriptor", "file_system"}
_sharing_strategy = "file_descriptor"


def set_sharing_strategy(new_strategy: str) -> None:
    """Sets the strategy for sharing CPU tensors (``file_descriptor`` or ``file_system``;
    both pass a descriptor of an anonymous memory file here)."""
    global _sharing_strategy
    if new_strategy not in _all_sharing_strategies:
        raise AssertionError(f"Invalid sharing strategy: {new_strategy}")
    _sharing_strategy = new_strategy


def get_sharing_strategy() -> str:
    """The current strategy for sharing CPU tensors."""
    return _sharing_strategy


def get_all_sharing_strategies() -> set[str]:
    """The sharing strategies this platform supports."""
    return set(_all_sharing_strategies)


init_reductions()
