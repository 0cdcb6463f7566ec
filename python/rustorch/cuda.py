"""``rustorch.cuda``: CUDA device discovery.

The extension is built with the CUDA backend, which opens the NVIDIA driver at run time; on a
machine without one (or without a GPU) the driver probe finds nothing, quickly. Nothing
touches the driver at import: the first query does, once.

Tensors cannot live on the GPU yet. Until they can, ``is_available()`` is False and
``device_count()`` is 0 even where a GPU is present, as a CPU-only PyTorch build answers, so
scripts that pick ``"cuda" if torch.cuda.is_available() else "cpu"`` run on the CPU instead
of failing. What the driver sees is reported by ``_driver_device_count()``.
"""

from __future__ import annotations

from typing import Any

from . import _C

# Flipped when tensors can be placed on a GPU (issue 5's device backend).
_TENSORS_ON_GPU = False


def is_available() -> bool:
    """Whether CUDA tensors can be used: a driver sees a GPU and this build can place tensors
    on it (not yet, so False)."""
    return _TENSORS_ON_GPU and bool(_C._cuda_is_available())


def device_count() -> int:
    """The number of GPUs usable for tensors (0 until tensors can live on a GPU)."""
    return int(_C._cuda_device_count()) if _TENSORS_ON_GPU else 0


def _driver_device_count() -> int:
    """The number of GPUs the CUDA driver sees (0 without a driver), whether or not this
    build can use them."""
    return int(_C._cuda_device_count())


def _device_index(device: Any) -> int:
    """The device ordinal of ``device`` (None, an int, ``"cuda:1"`` or a ``device``), as
    PyTorch's ``_get_device_index``: None and a bare ``"cuda"`` mean the current device, 0."""
    if device is None:
        return 0
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    kind = getattr(device, "type", None)
    if kind is not None:
        index = getattr(device, "index", None)
    else:
        text = str(device)
        kind, _, idx = text.partition(":")
        index = int(idx) if idx else None
    if kind != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {device}")
    return 0 if index is None else int(index)


def get_device_name(device: Any = None) -> str:
    """The name of a GPU, e.g. ``"NVIDIA H100 80GB HBM3"``; ``RuntimeError`` without one."""
    index = _device_index(device)
    if index < 0:
        raise RuntimeError(f"Invalid device id {index}")
    return str(_C._cuda_get_device_name(index))


def manual_seed(seed: int) -> None:
    """Accepted and ignored without a GPU, as PyTorch does."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored without a GPU, as PyTorch does."""


def synchronize(device: Any = None) -> None:
    """Waits for all queued GPU work. Raises, as a CPU-only PyTorch build does, while
    ``is_available()`` is False."""
    if not is_available():
        raise RuntimeError("Torch not compiled with CUDA enabled")
