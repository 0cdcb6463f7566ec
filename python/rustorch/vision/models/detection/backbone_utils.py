"""``torchvision.models.detection.backbone_utils``: ``BackboneWithFPN``,
``resnet_fpn_backbone`` and the helpers the detection builders use.

torchvision's ``mobilenet_backbone`` (for the MobileNetV3 detectors) is not provided.
"""

from __future__ import annotations

import warnings
from typing import Callable, Optional

from rustorch import Tensor, nn

from ...ops import misc as misc_nn_ops
from ...ops.feature_pyramid_network import ExtraFPNBlock, FeaturePyramidNetwork, LastLevelMaxPool
from .. import resnet
from .._api import WeightsEnum, get_model_weights, handle_legacy_interface
from .._utils import IntermediateLayerGetter

__all__ = ["BackboneWithFPN", "resnet_fpn_backbone"]


class BackboneWithFPN(nn.Module):
    """torchvision's ``BackboneWithFPN(backbone, return_layers, in_channels_list,
    out_channels, extra_blocks=None, norm_layer=None)``: ``body``, an
    :class:`IntermediateLayerGetter` of ``backbone``'s ``return_layers``, followed by
    ``fpn``, a :class:`FeaturePyramidNetwork` (``extra_blocks`` defaulting to
    :class:`LastLevelMaxPool`). ``out_channels`` is the FPN's channel count."""

    def __init__(
        self,
        backbone: nn.Module,
        return_layers: dict[str, str],
        in_channels_list: list[int],
        out_channels: int,
        extra_blocks: Optional[ExtraFPNBlock] = None,
        norm_layer: Optional[Callable[..., nn.Module]] = None,
    ) -> None:
        super().__init__()
        if extra_blocks is None:
            extra_blocks = LastLevelMaxPool()
        self.body = IntermediateLayerGetter(backbone, return_layers=return_layers)
        self.fpn = FeaturePyramidNetwork(in_channels_list=in_channels_list,
                                         out_channels=out_channels, extra_blocks=extra_blocks,
                                         norm_layer=norm_layer)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.fpn(self.body(x))


def _imagenet_v1_of(kwargs: dict) -> WeightsEnum:
    return get_model_weights(resnet.__dict__[kwargs["backbone_name"]])["IMAGENET1K_V1"]


@handle_legacy_interface(weights=("pretrained", _imagenet_v1_of))
def resnet_fpn_backbone(
    *,
    backbone_name: str,
    weights: Optional[WeightsEnum],
    norm_layer: Callable[..., nn.Module] = misc_nn_ops.FrozenBatchNorm2d,
    trainable_layers: int = 3,
    returned_layers: Optional[list[int]] = None,
    extra_blocks: Optional[ExtraFPNBlock] = None,
) -> BackboneWithFPN:
    """torchvision's ``resnet_fpn_backbone``: the ResNet ``backbone_name`` (``"resnet50"``,
    ``"resnext101_32x8d"``, ...) built with ``weights`` and ``norm_layer``, its first
    layers frozen (``trainable_layers`` from the last, 0..5), with an FPN over
    ``returned_layers`` (default ``[1, 2, 3, 4]``) of 256 channels."""
    backbone = resnet.__dict__[backbone_name](weights=weights, norm_layer=norm_layer)
    return _resnet_fpn_extractor(backbone, trainable_layers, returned_layers, extra_blocks)


def _resnet_fpn_extractor(
    backbone: resnet.ResNet,
    trainable_layers: int,
    returned_layers: Optional[list[int]] = None,
    extra_blocks: Optional[ExtraFPNBlock] = None,
    norm_layer: Optional[Callable[..., nn.Module]] = None,
) -> BackboneWithFPN:
    if trainable_layers < 0 or trainable_layers > 5:
        raise ValueError(f"Trainable layers should be in the range [0,5], got {trainable_layers}")
    layers_to_train = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        layers_to_train.append("bn1")
    for name, parameter in backbone.named_parameters():
        if not any(name.startswith(layer) for layer in layers_to_train):
            parameter.requires_grad_(False)
    if extra_blocks is None:
        extra_blocks = LastLevelMaxPool()
    if returned_layers is None:
        returned_layers = [1, 2, 3, 4]
    if min(returned_layers) <= 0 or max(returned_layers) >= 5:
        raise ValueError(f"Each returned layer should be in the range [1,4]. Got {returned_layers}")
    return_layers = {f"layer{k}": str(v) for v, k in enumerate(returned_layers)}
    in_channels_stage2 = backbone.inplanes // 8
    in_channels_list = [in_channels_stage2 * 2 ** (i - 1) for i in returned_layers]
    return BackboneWithFPN(backbone, return_layers, in_channels_list, 256,
                           extra_blocks=extra_blocks, norm_layer=norm_layer)


def _validate_trainable_layers(
    is_trained: bool,
    trainable_backbone_layers: Optional[int],
    max_value: int,
    default_value: int,
) -> int:
    """The number of trainable backbone layers: all of them when no pretrained weights are
    used (warning if another value was asked), else the given value or the default."""
    if not is_trained:
        if trainable_backbone_layers is not None:
            warnings.warn(
                "Changing trainable_backbone_layers has no effect if neither pretrained nor "
                "pretrained_backbone have been set to True, falling back to "
                f"trainable_backbone_layers={max_value} so that all layers are trainable",
                stacklevel=3,
            )
        trainable_backbone_layers = max_value
    if trainable_backbone_layers is None:
        trainable_backbone_layers = default_value
    if trainable_backbone_layers < 0 or trainable_backbone_layers > max_value:
        raise ValueError(f"Trainable backbone layers should be in the range [0,{max_value}], "
                         f"got {trainable_backbone_layers} ")
    return trainable_backbone_layers
