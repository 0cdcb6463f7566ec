"""``rustorch.backends``: which accelerator backends exist in this build."""

from . import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
