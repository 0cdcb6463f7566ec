"""Detection ops, as ``torchvision.ops``: box utilities (``nms``, ``batched_nms``,
``box_iou``, ...), ``roi_align`` / ``RoIAlign``, ``roi_pool`` / ``RoIPool``,
``MultiScaleRoIAlign``, ``FeaturePyramidNetwork`` and the ``misc`` layers
(``FrozenBatchNorm2d``, ``Conv2dNormActivation``).

``nms``, ``roi_align`` and ``roi_pool`` run the engine's own kernels; the rest is composed
from tensor ops with torchvision's arithmetic.
"""

from . import boxes, misc
from .boxes import (
    batched_nms,
    box_area,
    box_iou,
    clip_boxes_to_image,
    nms,
    remove_small_boxes,
)
from .feature_pyramid_network import FeaturePyramidNetwork
from .misc import Conv2dNormActivation, FrozenBatchNorm2d
from .poolers import MultiScaleRoIAlign
from .roi_align import RoIAlign, roi_align
from .roi_pool import RoIPool, roi_pool

__all__ = [
    "boxes",
    "misc",
    "nms",
    "batched_nms",
    "box_area",
    "box_iou",
    "clip_boxes_to_image",
    "remove_small_boxes",
    "roi_align",
    "RoIAlign",
    "roi_pool",
    "RoIPool",
    "MultiScaleRoIAlign",
    "FeaturePyramidNetwork",
    "FrozenBatchNorm2d",
    "Conv2dNormActivation",
]
