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


class device_index:  # noqa: N801 - PyTorch's name
    """``torch.accelerator.device_index(idx)``: a context manager making ``idx`` the current
    accelerator device inside it (``None`` changes nothing), as ``cuda.device``."""

    def __init__(self, device: Any) -> None:
        self.idx = device
        self.prev: int | None = None

    def __enter__(self) -> None:
        if self.idx is not None:
            self.prev = cuda.current_device()
            cuda.set_device(self.idx)

    def __exit__(self, *exc: Any) -> None:
        if self.prev is not None:
            cuda.set_device(self.prev)
