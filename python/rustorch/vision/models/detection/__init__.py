"""Object detection and instance segmentation models, as
``torchvision.models.detection``: Faster R-CNN and Mask R-CNN with a ResNet-50 FPN
backbone (``fasterrcnn_resnet50_fpn``, ``maskrcnn_resnet50_fpn``), their classes and
weights enums, and the building blocks in the submodules (``rpn``, ``roi_heads``,
``transform``, ``anchor_utils``, ``backbone_utils``, ``_utils``).

Eval and train mode compute torchvision's numbers (see ``tests/test_vision_detection.py``);
the random choice of training anchors / proposals follows rustorch's generator. There is
no TorchScript / ONNX tracing path (torchvision's ``_onnx_*`` variants).

Not provided: the v2 and MobileNetV3 variants, Keypoint R-CNN, RetinaNet, FCOS, SSD and
SSDlite.
"""

from .faster_rcnn import *  # noqa: F403
from .mask_rcnn import *  # noqa: F403
