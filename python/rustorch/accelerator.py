"""``rustorch.accelerator``: the device-agnostic accelerator API of PyTorch, answered by CUDA
(the only accelerator this build has)."""

from __future__ import annotations

from typing import Any

from . import cuda


def is_available() -> bool:
    """Whether an accelerator (a CUDA GPU) is available."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Any:
    """``device("cuda")`` when a GPU is available, else None."""
    from . import device

    if cuda.is_available():
        return device("cuda")
    return None


def device_count() -> int:
    return cuda.device_count()


def current_device_index() -> int:
    return cuda.current_device()


def set_device_index(device: Any) -> None:
    cuda.set_device(device)


def synchronize(device: Any = None) -> None:
    """Waits for the queued work of an accelerator device."""
    cuda.synchronize(device)
