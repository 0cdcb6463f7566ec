"""``torchvision.models.detection.rpn``: ``RPNHead`` and ``RegionProposalNetwork``."""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor, nn
from rustorch.nn import functional as F

from ...ops import boxes as box_ops
from ...ops.misc import Conv2dNormActivation
from . import _utils as det_utils
from .anchor_utils import AnchorGenerator
from .image_list import ImageList

__all__ = ["RPNHead", "RegionProposalNetwork", "AnchorGenerator"]


class RPNHead(nn.Module):
    """torchvision's ``RPNHead(in_channels, num_anchors, conv_depth=1)``: ``conv_depth``
    3x3 convolution + ReLU blocks shared by every level, then 1x1 convolutions giving
    ``num_anchors`` objectness logits (``cls_logits``) and ``4 * num_anchors`` box deltas
    (``bbox_pred``). Weights are drawn from N(0, 0.01), biases 0.

    Checkpoints from before torchvision 0.13 (``conv.weight``) load as well.
    """

    _version = 2

    def __init__(self, in_channels: int, num_anchors: int, conv_depth: int = 1) -> None:
        super().__init__()
        self.conv = nn.Sequential(*[
            Conv2dNormActivation(in_channels, in_channels, kernel_size=3, norm_layer=None)
            for _ in range(conv_depth)
        ])
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1, stride=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, kernel_size=1, stride=1)
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, std=0.01)
                if layer.bias is not None:
                    nn.init.constant_(layer.bias, 0)

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
        # version 1: a single bare convolution named "conv"
        if local_metadata.get("version") is None or local_metadata["version"] < 2:
            for kind in ("weight", "bias"):
                old = f"{prefix}conv.{kind}"
                if old in state_dict:
                    state_dict[f"{prefix}conv.0.0.{kind}"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)

    def forward(self, x: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, bbox_reg = [], []
        for feature in x:
            t = self.conv(feature)
            logits.append(self.cls_logits(t))
            bbox_reg.append(self.bbox_pred(t))
        return logits, bbox_reg


def permute_and_flatten(layer: Tensor, N: int, A: int, C: int, H: int, W: int) -> Tensor:
    """``[N, A*C, H, W]`` -> ``[N, H*W*A, C]`` (location-major, as the anchors)."""
    return layer.view(N, -1, C, H, W).permute(0, 3, 4, 1, 2).reshape(N, -1, C)


def concat_box_prediction_layers(
    box_cls: list[Tensor], box_regression: list[Tensor]
) -> tuple[Tensor, Tensor]:
    """Flatten the per-level head outputs into ``[N * total anchors, C]`` objectness and
    ``[N * total anchors, 4]`` deltas, ordered like the concatenated anchors."""
    cls_flat, reg_flat = [], []
    for cls_level, reg_level in zip(box_cls, box_regression):
        N, AxC, H, W = (int(s) for s in cls_level.shape)
        A = int(reg_level.shape[1]) // 4
        C = AxC // A
        cls_flat.append(permute_and_flatten(cls_level, N, A, C, H, W))
        reg_flat.append(permute_and_flatten(reg_level, N, A, 4, H, W))
    return (rustorch.cat(cls_flat, dim=1).flatten(0, -2),
            rustorch.cat(reg_flat, dim=1).reshape(-1, 4))


class RegionProposalNetwork(nn.Module):
    """torchvision's ``RegionProposalNetwork(anchor_generator, head, fg_iou_thresh,
    bg_iou_thresh, batch_size_per_image, positive_fraction, pre_nms_top_n, post_nms_top_n,
    nms_thresh, score_thresh=0.0)``.

    Proposals: decode the head's deltas on the anchors, keep the ``pre_nms_top_n`` best
    anchors per level, clip to the image, drop boxes with a side under 1e-3 and scores
    under ``score_thresh``, run NMS per level and keep the ``post_nms_top_n`` best
    (``pre_nms_top_n`` / ``post_nms_top_n`` are dicts with ``"training"`` and ``"testing"``
    entries). In training it also returns ``loss_objectness`` (binary cross-entropy over
    the sampled anchors) and ``loss_rpn_box_reg`` (smooth L1 with beta 1/9 over the
    positives, divided by the number sampled).
    """

    def __init__(
        self,
        anchor_generator: AnchorGenerator,
        head: nn.Module,
        fg_iou_thresh: float,
        bg_iou_thresh: float,
        batch_size_per_image: int,
        positive_fraction: float,
        pre_nms_top_n: dict[str, int],
        post_nms_top_n: dict[str, int],
        nms_thresh: float,
        score_thresh: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = head
        self.box_coder = det_utils.BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self.box_similarity = box_ops.box_iou
        self.proposal_matcher = det_utils.Matcher(fg_iou_thresh, bg_iou_thresh,
                                                  allow_low_quality_matches=True)
        self.fg_bg_sampler = det_utils.BalancedPositiveNegativeSampler(batch_size_per_image,
                                                                       positive_fraction)
        self._pre_nms_top_n = pre_nms_top_n
        self._post_nms_top_n = post_nms_top_n
        self.nms_thresh = nms_thresh
        self.score_thresh = score_thresh
        self.min_size = 1e-3

    def pre_nms_top_n(self) -> int:
        return self._pre_nms_top_n["training" if self.training else "testing"]

    def post_nms_top_n(self) -> int:
        return self._post_nms_top_n["training" if self.training else "testing"]

    def assign_targets_to_anchors(
        self, anchors: list[Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Per image: float labels (1 foreground, 0 background, -1 ignored) and the matched
        ground-truth box of every anchor."""
        labels, matched_gt_boxes = [], []
        for anchors_per_image, target in zip(anchors, targets):
            gt_boxes = target["boxes"]
            if gt_boxes.numel() == 0:  # an image without objects: all background
                device = anchors_per_image.device
                matched = rustorch.zeros(tuple(anchors_per_image.shape), dtype=rustorch.float32,
                                         device=device)
                image_labels = rustorch.zeros((anchors_per_image.shape[0],),
                                              dtype=rustorch.float32, device=device)
            else:
                quality = self.box_similarity(gt_boxes, anchors_per_image)
                matched_idxs = self.proposal_matcher(quality)
                # -1 / -2 would index out of range with a single ground truth: clamp
                matched = gt_boxes[matched_idxs.clamp(min=0)]
                image_labels = (matched_idxs >= 0).to(dtype=rustorch.float32)
                image_labels[matched_idxs == self.proposal_matcher.BELOW_LOW_THRESHOLD] = 0.0
                image_labels[matched_idxs == self.proposal_matcher.BETWEEN_THRESHOLDS] = -1.0
            labels.append(image_labels)
            matched_gt_boxes.append(matched)
        return labels, matched_gt_boxes

    def _get_top_n_idx(self, objectness: Tensor, num_anchors_per_level: list[int]) -> Tensor:
        picked = []
        offset = 0
        for ob in objectness.split(num_anchors_per_level, 1):
            num_anchors = int(ob.shape[1])
            top_n = min(self.pre_nms_top_n(), num_anchors)
            _, idx = ob.topk(top_n, dim=1)
            picked.append(idx + offset)
            offset += num_anchors
        return rustorch.cat(picked, dim=1)

    def filter_proposals(
        self,
        proposals: Tensor,
        objectness: Tensor,
        image_shapes: list[tuple[int, int]],
        num_anchors_per_level: list[int],
    ) -> tuple[list[Tensor], list[Tensor]]:
        num_images = int(proposals.shape[0])
        device = proposals.device
        objectness = objectness.detach().reshape(num_images, -1)  # no gradient into scores
        levels = rustorch.cat([
            rustorch.full((n,), idx, dtype=rustorch.int64, device=device)
            for idx, n in enumerate(num_anchors_per_level)
        ], 0).reshape(1, -1).expand_as(objectness)

        top_n_idx = self._get_top_n_idx(objectness, num_anchors_per_level)
        batch_idx = rustorch.arange(num_images, device=device)[:, None]
        objectness = objectness[batch_idx, top_n_idx]
        levels = levels[batch_idx, top_n_idx]
        proposals = proposals[batch_idx, top_n_idx]
        objectness_prob = rustorch.sigmoid(objectness)

        final_boxes, final_scores = [], []
        for boxes, scores, lvl, img_shape in zip(proposals, objectness_prob, levels, image_shapes):
            boxes = box_ops.clip_boxes_to_image(boxes, img_shape)
            keep = box_ops.remove_small_boxes(boxes, self.min_size)
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = rustorch.where(scores >= self.score_thresh)[0]
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = box_ops.batched_nms(boxes, scores, lvl, self.nms_thresh)
            keep = keep[: self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_scores.append(scores[keep])
        return final_boxes, final_scores

    def compute_loss(
        self,
        objectness: Tensor,
        pred_bbox_deltas: Tensor,
        labels: list[Tensor],
        regression_targets: list[Tensor],
    ) -> tuple[Tensor, Tensor]:
        """``(objectness_loss, box_loss)`` over a balanced sample of the anchors."""
        pos_masks, neg_masks = self.fg_bg_sampler(labels)
        sampled_pos = rustorch.where(rustorch.cat(pos_masks, dim=0))[0]
        sampled_neg = rustorch.where(rustorch.cat(neg_masks, dim=0))[0]
        sampled = rustorch.cat([sampled_pos, sampled_neg], dim=0)
        objectness = objectness.flatten()
        labels_all = rustorch.cat(labels, dim=0)
        targets_all = rustorch.cat(regression_targets, dim=0)
        box_loss = F.smooth_l1_loss(pred_bbox_deltas[sampled_pos], targets_all[sampled_pos],
                                    beta=1 / 9, reduction="sum") / sampled.numel()
        objectness_loss = F.binary_cross_entropy_with_logits(objectness[sampled],
                                                             labels_all[sampled])
        return objectness_loss, box_loss

    def forward(
        self,
        images: ImageList,
        features: dict[str, Tensor],
        targets: Optional[list[dict[str, Tensor]]] = None,
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        """Returns one ``[n, 4]`` proposal tensor per image and the loss dict (empty in
        eval mode)."""
        feature_list = list(features.values())
        objectness, pred_bbox_deltas = self.head(feature_list)
        anchors = self.anchor_generator(images, feature_list)
        num_images = len(anchors)
        num_anchors_per_level = [int(o.shape[1]) * int(o.shape[2]) * int(o.shape[3])
                                 for o in objectness]
        objectness, pred_bbox_deltas = concat_box_prediction_layers(objectness, pred_bbox_deltas)
        # proposals are not back-propagated through (Faster R-CNN's approximate training)
        proposals = self.box_coder.decode(pred_bbox_deltas.detach(), anchors)
        proposals = proposals.view(num_images, -1, 4)
        boxes, _scores = self.filter_proposals(proposals, objectness, images.image_sizes,
                                               num_anchors_per_level)
        losses: dict[str, Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("targets should not be None")
            labels, matched_gt_boxes = self.assign_targets_to_anchors(anchors, targets)
            regression_targets = self.box_coder.encode(matched_gt_boxes, anchors)
            loss_objectness, loss_rpn_box_reg = self.compute_loss(
                objectness, pred_bbox_deltas, labels, list(regression_targets))
            losses = {"loss_objectness": loss_objectness, "loss_rpn_box_reg": loss_rpn_box_reg}
        return boxes, losses
