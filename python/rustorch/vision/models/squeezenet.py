"""SqueezeNet 1.0 and 1.1, as ``torchvision.models.squeezenet``.

Module names (``features.N`` with ``Fire`` blocks ``squeeze``/``expand1x1``/``expand3x3``,
``classifier.1`` the final 1x1 convolution), arguments (``version``, ``num_classes``,
``dropout``), initialisation (``kaiming_uniform_`` convolutions, ``normal(0, 0.01)`` final
convolution, zero biases) and forward are torchvision's. Random draws differ from
PyTorch's.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import rustorch
from rustorch import Tensor, nn
from rustorch.nn import init

from ._api import Weights, WeightsEnum, _ovewrite_named_param, handle_legacy_interface
from ._api import register_model as _register_model
from ._meta import _IMAGENET_CATEGORIES
from ._presets import ImageClassification

__all__ = [
    "SqueezeNet", "Fire", "SqueezeNet1_0_Weights", "SqueezeNet1_1_Weights", "squeezenet1_0",
    "squeezenet1_1",
]


class Fire(nn.Module):
    """Squeeze (1x1) then concatenated 1x1 and 3x3 expansions, each followed by ReLU."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                 expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return rustorch.cat(
            [self.expand1x1_activation(self.expand1x1(x)),
             self.expand3x3_activation(self.expand3x3(x))], 1,
        )


class SqueezeNet(nn.Module):
    """torchvision's ``SqueezeNet(version="1_0", num_classes=1000, dropout=0.5)``."""

    def __init__(self, version: str = "1_0", num_classes: int = 1000,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=7, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(96, 16, 64, 64),
                Fire(128, 16, 64, 64),
                Fire(128, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 32, 128, 128),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(512, 64, 256, 256),
            )
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        else:
            raise ValueError(f"Unsupported SqueezeNet version {version}: 1_0 or 1_1 expected")

        # The final convolution is initialised differently from the rest
        final_conv = nn.Conv2d(512, self.num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.classifier(x)
        return rustorch.flatten(x, 1)


def _squeezenet(version: str, weights: Optional[WeightsEnum], progress: bool,
                **kwargs: Any) -> SqueezeNet:
    if weights is not None:
        _ovewrite_named_param(kwargs, "num_classes", len(weights.meta["categories"]))
    model = SqueezeNet(version, **kwargs)
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
    return model


_COMMON_META = {
    "categories": _IMAGENET_CATEGORIES,
    "recipe": "https://github.com/pytorch/vision/pull/49#issuecomment-277560717",
}


class SqueezeNet1_0_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        url="https://download.pytorch.org/models/squeezenet1_0-b66bff10.pth",
        transforms=partial(ImageClassification, crop_size=224),
        meta={**_COMMON_META, "min_size": (21, 21), "num_params": 1248424,
              "_metrics": {"ImageNet-1K": {"acc@1": 58.092, "acc@5": 80.42}}},
    )
    DEFAULT = IMAGENET1K_V1


class SqueezeNet1_1_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        transforms=partial(ImageClassification, crop_size=224),
        meta={**_COMMON_META, "min_size": (17, 17), "num_params": 1235496,
              "_metrics": {"ImageNet-1K": {"acc@1": 58.178, "acc@5": 80.624}}},
    )
    DEFAULT = IMAGENET1K_V1


@_register_model()
@handle_legacy_interface(weights=("pretrained", SqueezeNet1_0_Weights.IMAGENET1K_V1))
def squeezenet1_0(*, weights: Optional[SqueezeNet1_0_Weights] = None, progress: bool = True,
                  **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.0, as ``torchvision.models.squeezenet1_0``.

    Args:
        weights: ``None`` (random init), a :class:`SqueezeNet1_0_Weights` member or its
            name, read from ``$TORCH_HOME/hub/checkpoints`` (nothing is downloaded; a
            missing file raises ``RuntimeError`` naming the path).
        progress: accepted for torchvision compatibility (no download).
        **kwargs: passed to :class:`SqueezeNet` (``num_classes``, ``dropout``).
    """
    weights = SqueezeNet1_0_Weights.verify(weights)
    return _squeezenet("1_0", weights, progress, **kwargs)


@_register_model()
@handle_legacy_interface(weights=("pretrained", SqueezeNet1_1_Weights.IMAGENET1K_V1))
def squeezenet1_1(*, weights: Optional[SqueezeNet1_1_Weights] = None, progress: bool = True,
                  **kwargs: Any) -> SqueezeNet:
    """SqueezeNet 1.1 (2.4x less computation than 1.0), as
    ``torchvision.models.squeezenet1_1``.

    Args:
        weights: ``None`` (random init), a :class:`SqueezeNet1_1_Weights` member or its
            name, read from ``$TORCH_HOME/hub/checkpoints`` (nothing is downloaded; a
            missing file raises ``RuntimeError`` naming the path).
        progress: accepted for torchvision compatibility (no download).
        **kwargs: passed to :class:`SqueezeNet` (``num_classes``, ``dropout``).
    """
    weights = SqueezeNet1_1_Weights.verify(weights)
    return _squeezenet("1_1", weights, progress, **kwargs)
