"""``rustorch.backends``: which accelerator backends exist in this build."""

from . import mps

__all__ = ["mps"]
