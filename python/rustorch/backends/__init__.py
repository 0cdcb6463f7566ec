"""``rustorch.backends``: which accelerator backends exist in this build."""

from . import cuda, cudnn, mkldnn, mps

__all__ = ["cuda", "cudnn", "mkldnn", "mps"]
