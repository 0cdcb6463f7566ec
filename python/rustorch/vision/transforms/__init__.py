"""Image transforms, matching ``torchvision.transforms``: the transform classes (also in
:mod:`.transforms`), the functional API :mod:`.functional` and :class:`InterpolationMode`.

Images are tensors ``(..., C, H, W)``, PIL images (Pillow is optional) or the
``H x W (x C)`` uint8 NumPy arrays rustorch's datasets return where torchvision's return
PIL images.
"""

from . import functional
from .functional import InterpolationMode
from .transforms import *  # noqa: F403
from .transforms import __all__ as _transforms_all

__all__ = ["functional", "InterpolationMode", *_transforms_all]
