"""Image classification models and the ``detection`` sub-package, as ``torchvision.models``.

Every builder (``resnet18``, ``vgg16_bn``, ``mobilenet_v2``, ...) is a module-level
function, so ``models.__dict__["resnet18"]`` works as in torchvision scripts, and is also
registered for :func:`list_models` / :func:`get_model`. Module, parameter and buffer names
are torchvision's, so a torchvision ``state_dict`` loads with ``strict=True``.

``weights=`` takes ``None``, a ``*_Weights`` member or its name. Nothing is downloaded:
the file is looked up in the torch hub cache (``$TORCH_HOME/hub/checkpoints/<file name of
weights.url>``, ``TORCH_HOME`` defaulting to ``~/.cache/torch``) and read either as a
PyTorch checkpoint (zip or legacy layout, without unpickling arbitrary objects) or as a
:func:`rustorch.save` file; a missing file raises ``RuntimeError`` naming the path.

Provided: ResNet 18/34/50/101/152, ResNeXt 50_32x4d/101_32x8d/101_64x4d, Wide ResNet
50_2/101_2, VGG 11/13/16/19 (+ ``_bn``), AlexNet, SqueezeNet 1_0/1_1, MobileNetV2 and
Inception v3; in :mod:`~rustorch.vision.models.detection`, Faster R-CNN and Mask R-CNN
ResNet-50 FPN (``fasterrcnn_resnet50_fpn``, ``maskrcnn_resnet50_fpn``). Not provided: the
other torchvision classification models (DenseNet, GoogLeNet, EfficientNet, ViT, ...),
the other detection models (v2 and MobileNetV3 R-CNNs, Keypoint R-CNN, RetinaNet, FCOS,
SSD), and the segmentation, video, optical-flow and quantization sub-packages.
"""

from . import detection
from ._api import (
    Weights,
    WeightsEnum,
    get_model,
    get_model_builder,
    get_model_weights,
    get_weight,
    list_models,
)
from .alexnet import *  # noqa: F403
from .inception import *  # noqa: F403
from .mobilenetv2 import *  # noqa: F403
from .resnet import *  # noqa: F403
from .squeezenet import *  # noqa: F403
from .vgg import *  # noqa: F403
