"""``rustorch.backends``: which accelerator backends exist in this build."""

from . import cuda, mps

__all__ = ["cuda", "mps"]
