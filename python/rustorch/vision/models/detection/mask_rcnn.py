"""Mask R-CNN, as ``torchvision.models.detection.mask_rcnn``: ``MaskRCNN``, its mask
heads (``MaskRCNNHeads``, ``MaskRCNNPredictor``) and the ResNet-50 FPN builder
``maskrcnn_resnet50_fpn`` with ``MaskRCNN_ResNet50_FPN_Weights``.

Module, parameter and buffer names, constructor arguments and defaults are torchvision's,
so a torchvision ``state_dict`` loads with ``strict=True`` (including checkpoints from
before torchvision 0.13, whose mask head was named ``mask_fcn1`` ...). The v2 variant is
not provided.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Optional

from rustorch import nn

from ...ops import misc as misc_nn_ops
from ...ops.poolers import MultiScaleRoIAlign
from .._api import Weights, WeightsEnum, handle_legacy_interface
from .._api import register_model as _register_model
from .._meta import _COCO_CATEGORIES
from .._presets import ObjectDetection
from ..resnet import ResNet50_Weights
from .faster_rcnn import FasterRCNN, _build_resnet50_fpn

__all__ = [
    "MaskRCNN",
    "MaskRCNN_ResNet50_FPN_Weights",
    "maskrcnn_resnet50_fpn",
]


class MaskRCNN(FasterRCNN):
    """torchvision's ``MaskRCNN(backbone, num_classes=None, ..., mask_roi_pool=None,
    mask_head=None, mask_predictor=None, **kwargs)``: :class:`FasterRCNN` (same arguments,
    same order) plus a mask branch on the RoI heads. By default masks are pooled at 14x14
    from FPN levels ``"0"``-``"3"`` (sampling ratio 2), go through four 3x3 256-channel
    convolutions and a 2x transposed convolution, and are predicted at 28x28 per class.

    Eval mode adds ``masks`` to each image's detections: ``[N, 1, H, W]`` float
    probabilities pasted into the input image (threshold at 0.5 for binary masks). Train
    mode (targets with ``masks``, ``[N, H, W]`` uint8) adds ``loss_mask``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: Optional[int] = None,
        # transform parameters
        min_size: int = 800,
        max_size: int = 1333,
        image_mean: Optional[list[float]] = None,
        image_std: Optional[list[float]] = None,
        # RPN parameters
        rpn_anchor_generator: Optional[Any] = None,
        rpn_head: Optional[nn.Module] = None,
        rpn_pre_nms_top_n_train: int = 2000,
        rpn_pre_nms_top_n_test: int = 1000,
        rpn_post_nms_top_n_train: int = 2000,
        rpn_post_nms_top_n_test: int = 1000,
        rpn_nms_thresh: float = 0.7,
        rpn_fg_iou_thresh: float = 0.7,
        rpn_bg_iou_thresh: float = 0.3,
        rpn_batch_size_per_image: int = 256,
        rpn_positive_fraction: float = 0.5,
        rpn_score_thresh: float = 0.0,
        # Box parameters
        box_roi_pool: Optional[MultiScaleRoIAlign] = None,
        box_head: Optional[nn.Module] = None,
        box_predictor: Optional[nn.Module] = None,
        box_score_thresh: float = 0.05,
        box_nms_thresh: float = 0.5,
        box_detections_per_img: int = 100,
        box_fg_iou_thresh: float = 0.5,
        box_bg_iou_thresh: float = 0.5,
        box_batch_size_per_image: int = 512,
        box_positive_fraction: float = 0.25,
        bbox_reg_weights: Optional[tuple[float, float, float, float]] = None,
        # Mask parameters
        mask_roi_pool: Optional[MultiScaleRoIAlign] = None,
        mask_head: Optional[nn.Module] = None,
        mask_predictor: Optional[nn.Module] = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(mask_roi_pool, (MultiScaleRoIAlign, type(None))):
            raise TypeError("mask_roi_pool should be of type MultiScaleRoIAlign or None instead "
                            f"of {type(mask_roi_pool)}")
        if num_classes is not None and mask_predictor is not None:
            raise ValueError("num_classes should be None when mask_predictor is specified")
        out_channels = backbone.out_channels
        if mask_roi_pool is None:
            mask_roi_pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2", "3"],
                                               output_size=14, sampling_ratio=2)
        if mask_head is None:
            mask_head = MaskRCNNHeads(out_channels, (256, 256, 256, 256), 1)
        if mask_predictor is None:
            mask_predictor = MaskRCNNPredictor(256, 256, num_classes)

        super().__init__(
            backbone,
            num_classes,
            min_size,
            max_size,
            image_mean,
            image_std,
            rpn_anchor_generator,
            rpn_head,
            rpn_pre_nms_top_n_train,
            rpn_pre_nms_top_n_test,
            rpn_post_nms_top_n_train,
            rpn_post_nms_top_n_test,
            rpn_nms_thresh,
            rpn_fg_iou_thresh,
            rpn_bg_iou_thresh,
            rpn_batch_size_per_image,
            rpn_positive_fraction,
            rpn_score_thresh,
            box_roi_pool,
            box_head,
            box_predictor,
            box_score_thresh,
            box_nms_thresh,
            box_detections_per_img,
            box_fg_iou_thresh,
            box_bg_iou_thresh,
            box_batch_size_per_image,
            box_positive_fraction,
            bbox_reg_weights,
            **kwargs,
        )
        self.roi_heads.mask_roi_pool = mask_roi_pool
        self.roi_heads.mask_head = mask_head
        self.roi_heads.mask_predictor = mask_predictor


class MaskRCNNHeads(nn.Sequential):
    """torchvision's ``MaskRCNNHeads(in_channels, layers, dilation, norm_layer=None)``: one
    3x3 :class:`Conv2dNormActivation` (ReLU) per entry of ``layers``, Kaiming-normal
    (``fan_out``) weights and zero biases. Children are ``0``, ``1``, ...; checkpoints
    with torchvision's old names (``mask_fcn1`` ...) load as well."""

    _version = 2

    def __init__(
        self,
        in_channels: int,
        layers: Any,
        dilation: int,
        norm_layer: Optional[Callable[..., nn.Module]] = None,
    ) -> None:
        blocks = []
        next_feature = in_channels
        for layer_features in layers:
            blocks.append(misc_nn_ops.Conv2dNormActivation(
                next_feature, layer_features, kernel_size=3, stride=1, padding=dilation,
                dilation=dilation, norm_layer=norm_layer))
            next_feature = layer_features
        super().__init__(*blocks)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # version 1: bare convolutions named mask_fcn1, mask_fcn2, ...
        if local_metadata.get("version") is None or local_metadata["version"] < 2:
            for i in range(len(self)):
                for kind in ("weight", "bias"):
                    old = f"{prefix}mask_fcn{i + 1}.{kind}"
                    if old in state_dict:
                        state_dict[f"{prefix}{i}.0.{kind}"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)


class MaskRCNNPredictor(nn.Sequential):
    """torchvision's ``MaskRCNNPredictor(in_channels, dim_reduced, num_classes)``: a 2x2
    stride-2 transposed convolution (``conv5_mask``), ReLU, and a 1x1 convolution to one
    mask logit map per class (``mask_fcn_logits``). Weights are Kaiming-normal
    (``fan_out``); biases keep their default initialisation, as torchvision."""

    def __init__(self, in_channels: int, dim_reduced: int, num_classes: int) -> None:
        super().__init__(OrderedDict([
            ("conv5_mask", nn.ConvTranspose2d(in_channels, dim_reduced, 2, 2, 0)),
            ("relu", nn.ReLU(inplace=True)),
            ("mask_fcn_logits", nn.Conv2d(dim_reduced, num_classes, 1, 1, 0)),
        ]))
        for name, param in self.named_parameters():
            if "weight" in name:
                nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu")


class MaskRCNN_ResNet50_FPN_Weights(WeightsEnum):
    COCO_V1 = Weights(
        url="https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth",
        transforms=ObjectDetection,
        meta={
            "categories": _COCO_CATEGORIES,
            "min_size": (1, 1),
            "num_params": 44401393,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/detection#mask-r-cnn",
            "_metrics": {"COCO-val2017": {"box_map": 37.9, "mask_map": 34.6}},
            "_ops": 134.38,
            "_file_size": 169.84,
            "_docs": "These weights were produced by following a similar training recipe as on "
                     "the paper.",
        },
    )
    DEFAULT = COCO_V1


@_register_model()
@handle_legacy_interface(
    weights=("pretrained", MaskRCNN_ResNet50_FPN_Weights.COCO_V1),
    weights_backbone=("pretrained_backbone", ResNet50_Weights.IMAGENET1K_V1),
)
def maskrcnn_resnet50_fpn(
    *,
    weights: Optional[MaskRCNN_ResNet50_FPN_Weights] = None,
    progress: bool = True,
    num_classes: Optional[int] = None,
    weights_backbone: Optional[ResNet50_Weights] = ResNet50_Weights.IMAGENET1K_V1,
    trainable_backbone_layers: Optional[int] = None,
    **kwargs: Any,
) -> MaskRCNN:
    """Mask R-CNN with a ResNet-50 FPN backbone, as
    ``torchvision.models.detection.maskrcnn_resnet50_fpn``.

    Args:
        weights: ``None`` (random init), a :class:`MaskRCNN_ResNet50_FPN_Weights` member
            or its name; the file is read from ``$TORCH_HOME/hub/checkpoints`` (nothing is
            downloaded; a missing file raises ``RuntimeError`` naming the path). It sets
            ``num_classes`` to 91 and ignores ``weights_backbone``.
        progress: accepted for torchvision compatibility (no download).
        num_classes: output classes including the background (default 91).
        weights_backbone: the ResNet-50 weights for the backbone; like torchvision the
            default is ``ResNet50_Weights.IMAGENET1K_V1``, so its file must be in the hub
            cache unless ``weights_backbone=None`` is passed.
        trainable_backbone_layers: 0..5 backbone layers left trainable, counted from the
            last (default 3 with pretrained weights; all 5 without).
        **kwargs: passed to :class:`MaskRCNN`. The deprecated ``pretrained=`` /
            ``pretrained_backbone=`` map to ``COCO_V1`` / ``IMAGENET1K_V1`` with
            torchvision's warnings.
    """
    return _build_resnet50_fpn(MaskRCNN, MaskRCNN_ResNet50_FPN_Weights, weights, progress,
                               num_classes, weights_backbone, trainable_backbone_layers,
                               **kwargs)
