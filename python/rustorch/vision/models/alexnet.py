"""AlexNet, as ``torchvision.models.alexnet`` (the "one weird trick" variant).

Module names (``features.N``, ``avgpool`` = ``AdaptiveAvgPool2d((6, 6))``,
``classifier.N``), arguments (``num_classes``, ``dropout``) and forward are torchvision's;
like torchvision there is no custom initialisation (the layers' default init).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import rustorch
from rustorch import Tensor, nn

from ._api import Weights, WeightsEnum, _ovewrite_named_param, handle_legacy_interface
from ._api import register_model as _register_model
from ._meta import _IMAGENET_CATEGORIES
from ._presets import ImageClassification

__all__ = ["AlexNet", "AlexNet_Weights", "alexnet"]


class AlexNet(nn.Module):
    """torchvision's ``AlexNet(num_classes=1000, dropout=0.5)``."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = rustorch.flatten(x, 1)
        return self.classifier(x)


class AlexNet_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        transforms=partial(ImageClassification, crop_size=224),
        meta={
            "num_params": 61100840,
            "min_size": (63, 63),
            "categories": _IMAGENET_CATEGORIES,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
            "_metrics": {"ImageNet-1K": {"acc@1": 56.522, "acc@5": 79.066}},
        },
    )
    DEFAULT = IMAGENET1K_V1


@_register_model()
@handle_legacy_interface(weights=("pretrained", AlexNet_Weights.IMAGENET1K_V1))
def alexnet(*, weights: Optional[AlexNet_Weights] = None, progress: bool = True,
            **kwargs: Any) -> AlexNet:
    """AlexNet from `One weird trick for parallelizing convolutional neural networks`, as
    ``torchvision.models.alexnet``.

    Args:
        weights: ``None`` (default init), an :class:`AlexNet_Weights` member or its name. A
            member's file is read from ``$TORCH_HOME/hub/checkpoints`` (nothing is
            downloaded; a missing file raises ``RuntimeError`` naming the path).
        progress: accepted for torchvision compatibility (no download, no progress bar).
        **kwargs: passed to :class:`AlexNet` (``num_classes``, ``dropout``). The deprecated
            ``pretrained=True`` maps to ``AlexNet_Weights.IMAGENET1K_V1`` with torchvision's
            warnings.
    """
    weights = AlexNet_Weights.verify(weights)
    if weights is not None:
        _ovewrite_named_param(kwargs, "num_classes", len(weights.meta["categories"]))
    model = AlexNet(**kwargs)
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
    return model
