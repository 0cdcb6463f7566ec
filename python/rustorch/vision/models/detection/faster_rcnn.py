"""Faster R-CNN, as ``torchvision.models.detection.faster_rcnn``: ``FasterRCNN``, its
heads (``TwoMLPHead``, ``FastRCNNConvFCHead``, ``FastRCNNPredictor``) and the ResNet-50
FPN builder ``fasterrcnn_resnet50_fpn`` with ``FasterRCNN_ResNet50_FPN_Weights``.

Module, parameter and buffer names, constructor arguments and defaults are torchvision's,
so a torchvision ``state_dict`` loads with ``strict=True``. The v2 and MobileNetV3 variants
are not provided.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from rustorch import Tensor, nn
from rustorch.nn import functional as F

from ...ops import misc as misc_nn_ops
from ...ops.poolers import MultiScaleRoIAlign
from .._api import Weights, WeightsEnum, handle_legacy_interface
from .._api import register_model as _register_model
from .._meta import _COCO_CATEGORIES
from .._presets import ObjectDetection
from .._utils import _ovewrite_value_param
from ..resnet import ResNet50_Weights, resnet50
from ._utils import overwrite_eps
from .anchor_utils import AnchorGenerator
from .backbone_utils import _resnet_fpn_extractor, _validate_trainable_layers
from .generalized_rcnn import GeneralizedRCNN
from .roi_heads import RoIHeads
from .rpn import RegionProposalNetwork, RPNHead
from .transform import GeneralizedRCNNTransform

__all__ = [
    "FasterRCNN",
    "FasterRCNN_ResNet50_FPN_Weights",
    "fasterrcnn_resnet50_fpn",
]


def _default_anchorgen() -> AnchorGenerator:
    anchor_sizes = ((32,), (64,), (128,), (256,), (512,))
    return AnchorGenerator(anchor_sizes, ((0.5, 1.0, 2.0),) * len(anchor_sizes))


class FasterRCNN(GeneralizedRCNN):
    """torchvision's ``FasterRCNN(backbone, num_classes=None, ...)``.

    ``backbone`` must have an ``out_channels`` attribute and return a tensor or an ordered
    dict of feature maps. The keyword arguments and their defaults are torchvision's:
    transform (``min_size=800``, ``max_size=1333``, ``image_mean``, ``image_std``), RPN
    (``rpn_anchor_generator``, ``rpn_head``, ``rpn_pre_nms_top_n_train=2000``,
    ``rpn_pre_nms_top_n_test=1000``, ``rpn_post_nms_top_n_train=2000``,
    ``rpn_post_nms_top_n_test=1000``, ``rpn_nms_thresh=0.7``, ``rpn_fg_iou_thresh=0.7``,
    ``rpn_bg_iou_thresh=0.3``, ``rpn_batch_size_per_image=256``,
    ``rpn_positive_fraction=0.5``, ``rpn_score_thresh=0.0``) and box head
    (``box_roi_pool``, ``box_head``, ``box_predictor``, ``box_score_thresh=0.05``,
    ``box_nms_thresh=0.5``, ``box_detections_per_img=100``, ``box_fg_iou_thresh=0.5``,
    ``box_bg_iou_thresh=0.5``, ``box_batch_size_per_image=512``,
    ``box_positive_fraction=0.25``, ``bbox_reg_weights=None``); other keywords go to
    :class:`GeneralizedRCNNTransform`. ``num_classes`` (background included) is required
    unless ``box_predictor`` is given.

    Eval mode returns, per image, ``boxes`` ``[N, 4]`` (x1, y1, x2, y2 in input pixels),
    ``labels`` (int64) and ``scores``; train mode with targets returns ``loss_classifier``,
    ``loss_box_reg``, ``loss_objectness`` and ``loss_rpn_box_reg``. The random sampling
    of training anchors and proposals uses rustorch's generator.
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
        rpn_anchor_generator: Optional[AnchorGenerator] = None,
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
        **kwargs: Any,
    ) -> None:
        if not hasattr(backbone, "out_channels"):
            raise ValueError(
                "backbone should contain an attribute out_channels specifying the number of "
                "output channels (assumed to be the same for all the levels)")
        if not isinstance(rpn_anchor_generator, (AnchorGenerator, type(None))):
            raise TypeError("rpn_anchor_generator should be of type AnchorGenerator or None "
                            f"instead of {type(rpn_anchor_generator)}")
        if not isinstance(box_roi_pool, (MultiScaleRoIAlign, type(None))):
            raise TypeError("box_roi_pool should be of type MultiScaleRoIAlign or None instead "
                            f"of {type(box_roi_pool)}")
        if num_classes is not None:
            if box_predictor is not None:
                raise ValueError("num_classes should be None when box_predictor is specified")
        elif box_predictor is None:
            raise ValueError("num_classes should not be None when box_predictor is not specified")

        out_channels = backbone.out_channels
        if rpn_anchor_generator is None:
            rpn_anchor_generator = _default_anchorgen()
        if rpn_head is None:
            rpn_head = RPNHead(out_channels, rpn_anchor_generator.num_anchors_per_location()[0])
        rpn = RegionProposalNetwork(
            rpn_anchor_generator,
            rpn_head,
            rpn_fg_iou_thresh,
            rpn_bg_iou_thresh,
            rpn_batch_size_per_image,
            rpn_positive_fraction,
            dict(training=rpn_pre_nms_top_n_train, testing=rpn_pre_nms_top_n_test),
            dict(training=rpn_post_nms_top_n_train, testing=rpn_post_nms_top_n_test),
            rpn_nms_thresh,
            score_thresh=rpn_score_thresh,
        )

        if box_roi_pool is None:
            box_roi_pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2", "3"], output_size=7,
                                              sampling_ratio=2)
        if box_head is None:
            resolution = box_roi_pool.output_size[0]
            box_head = TwoMLPHead(out_channels * resolution**2, 1024)
        if box_predictor is None:
            box_predictor = FastRCNNPredictor(1024, num_classes)
        roi_heads = RoIHeads(
            box_roi_pool,
            box_head,
            box_predictor,
            box_fg_iou_thresh,
            box_bg_iou_thresh,
            box_batch_size_per_image,
            box_positive_fraction,
            bbox_reg_weights,
            box_score_thresh,
            box_nms_thresh,
            box_detections_per_img,
        )

        if image_mean is None:
            image_mean = [0.485, 0.456, 0.406]
        if image_std is None:
            image_std = [0.229, 0.224, 0.225]
        transform = GeneralizedRCNNTransform(min_size, max_size, image_mean, image_std, **kwargs)
        super().__init__(backbone, rpn, roi_heads, transform)


class TwoMLPHead(nn.Module):
    """torchvision's ``TwoMLPHead(in_channels, representation_size)``: flatten, then
    ``fc6`` and ``fc7``, each followed by a ReLU."""

    def __init__(self, in_channels: int, representation_size: int) -> None:
        super().__init__()
        self.fc6 = nn.Linear(in_channels, representation_size)
        self.fc7 = nn.Linear(representation_size, representation_size)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(start_dim=1)
        return F.relu(self.fc7(F.relu(self.fc6(x))))


class FastRCNNConvFCHead(nn.Sequential):
    """torchvision's ``FastRCNNConvFCHead(input_size, conv_layers, fc_layers,
    norm_layer=None)``: 3x3 :class:`Conv2dNormActivation` blocks, a flatten, then
    ``Linear`` + ReLU pairs (the v2 models' box head)."""

    def __init__(
        self,
        input_size: tuple[int, int, int],
        conv_layers: list[int],
        fc_layers: list[int],
        norm_layer: Optional[Callable[..., nn.Module]] = None,
    ) -> None:
        in_channels, in_height, in_width = input_size
        blocks: list[nn.Module] = []
        previous = in_channels
        for channels in conv_layers:
            blocks.append(misc_nn_ops.Conv2dNormActivation(previous, channels,
                                                           norm_layer=norm_layer))
            previous = channels
        blocks.append(nn.Flatten())
        previous = previous * in_height * in_width
        for features in fc_layers:
            blocks.append(nn.Linear(previous, features))
            blocks.append(nn.ReLU(inplace=True))
            previous = features
        super().__init__(*blocks)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)


class FastRCNNPredictor(nn.Module):
    """torchvision's ``FastRCNNPredictor(in_channels, num_classes)``: class logits
    (``cls_score``) and per-class box deltas (``bbox_pred``, ``4 * num_classes``)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.cls_score = nn.Linear(in_channels, num_classes)
        self.bbox_pred = nn.Linear(in_channels, num_classes * 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() == 4 and list(x.shape[2:]) != [1, 1]:
            raise AssertionError("x has the wrong shape, expecting the last two dimensions to "
                                 f"be [1,1] instead of {list(x.shape[2:])}")
        x = x.flatten(start_dim=1)
        return self.cls_score(x), self.bbox_pred(x)


_COMMON_META = {"categories": _COCO_CATEGORIES, "min_size": (1, 1)}


class FasterRCNN_ResNet50_FPN_Weights(WeightsEnum):
    COCO_V1 = Weights(
        url="https://download.pytorch.org/models/fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
        transforms=ObjectDetection,
        meta={
            **_COMMON_META,
            "num_params": 41755286,
            "recipe": "https://github.com/pytorch/vision/tree/main/references/detection"
                      "#faster-r-cnn-resnet-50-fpn",
            "_metrics": {"COCO-val2017": {"box_map": 37.0}},
            "_ops": 134.38,
            "_file_size": 159.743,
            "_docs": "These weights were produced by following a similar training recipe as on "
                     "the paper.",
        },
    )
    DEFAULT = COCO_V1


def _build_resnet50_fpn(
    model_cls: Callable[..., GeneralizedRCNN],
    weights_cls: type[WeightsEnum],
    weights: Optional[WeightsEnum],
    progress: bool,
    num_classes: Optional[int],
    weights_backbone: Optional[ResNet50_Weights],
    trainable_backbone_layers: Optional[int],
    **kwargs: Any,
) -> GeneralizedRCNN:
    """The v1 ResNet-50 FPN builders' common body: the weights checked, the backbone built
    (frozen batch norm and the first layers frozen, 3 trainable by default, when pretrained
    weights are used; plain ``BatchNorm2d`` and everything trainable otherwise), the model
    built and the weights loaded (with their batch-norm ``eps`` set to 0, as torchvision)."""
    weights = weights_cls.verify(weights)
    weights_backbone = ResNet50_Weights.verify(weights_backbone)
    if weights is not None:
        weights_backbone = None
        num_classes = _ovewrite_value_param("num_classes", num_classes,
                                            len(weights.meta["categories"]))
    elif num_classes is None:
        num_classes = 91
    is_trained = weights is not None or weights_backbone is not None
    trainable_backbone_layers = _validate_trainable_layers(is_trained, trainable_backbone_layers,
                                                           5, 3)
    norm_layer = misc_nn_ops.FrozenBatchNorm2d if is_trained else nn.BatchNorm2d
    backbone = resnet50(weights=weights_backbone, progress=progress, norm_layer=norm_layer)
    backbone = _resnet_fpn_extractor(backbone, trainable_backbone_layers)
    model = model_cls(backbone, num_classes=num_classes, **kwargs)
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
        if weights == weights_cls.COCO_V1:
            overwrite_eps(model, 0.0)
    return model


@_register_model()
@handle_legacy_interface(
    weights=("pretrained", FasterRCNN_ResNet50_FPN_Weights.COCO_V1),
    weights_backbone=("pretrained_backbone", ResNet50_Weights.IMAGENET1K_V1),
)
def fasterrcnn_resnet50_fpn(
    *,
    weights: Optional[FasterRCNN_ResNet50_FPN_Weights] = None,
    progress: bool = True,
    num_classes: Optional[int] = None,
    weights_backbone: Optional[ResNet50_Weights] = ResNet50_Weights.IMAGENET1K_V1,
    trainable_backbone_layers: Optional[int] = None,
    **kwargs: Any,
) -> FasterRCNN:
    """Faster R-CNN with a ResNet-50 FPN backbone, as
    ``torchvision.models.detection.fasterrcnn_resnet50_fpn``.

    Args:
        weights: ``None`` (random init), a :class:`FasterRCNN_ResNet50_FPN_Weights` member
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
        **kwargs: passed to :class:`FasterRCNN`. The deprecated ``pretrained=`` /
            ``pretrained_backbone=`` map to ``COCO_V1`` / ``IMAGENET1K_V1`` with
            torchvision's warnings.
    """
    return _build_resnet50_fpn(FasterRCNN, FasterRCNN_ResNet50_FPN_Weights, weights, progress,
                               num_classes, weights_backbone, trainable_backbone_layers,
                               **kwargs)
