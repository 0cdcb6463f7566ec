"""``rustorch.cuda``: this build has no CUDA backend, so nothing is available (as PyTorch's
CPU-only builds answer)."""

from __future__ import annotations


def is_available() -> bool:
    """False: this build has no CUDA backend."""
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored without a GPU, as PyTorch does."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored without a GPU, as PyTorch does."""


def synchronize() -> None:
    raise RuntimeError("Torch not compiled with CUDA enabled")
