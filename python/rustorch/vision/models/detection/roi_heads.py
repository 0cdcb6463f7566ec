"""``torchvision.models.detection.roi_heads``: ``RoIHeads`` (the box and mask branches of
Faster / Mask R-CNN), their losses and the pasting of predicted masks into images.

Keypoint R-CNN's branch (``keypoint_roi_pool`` / ``keypoint_head`` /
``keypoint_predictor``) is not provided: passing one raises ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor, nn
from rustorch.nn import functional as F

from ...ops import boxes as box_ops
from ...ops.roi_align import roi_align
from . import _utils as det_utils

__all__ = [
    "RoIHeads",
    "fastrcnn_loss",
    "maskrcnn_loss",
    "maskrcnn_inference",
    "paste_masks_in_image",
]


def fastrcnn_loss(
    class_logits: Tensor,
    box_regression: Tensor,
    labels: list[Tensor],
    regression_targets: list[Tensor],
) -> tuple[Tensor, Tensor]:
    """``(classification_loss, box_loss)``: cross-entropy over all sampled proposals, and
    smooth L1 (beta 1/9, summed) of the positives' deltas for their ground-truth class,
    divided by the number of sampled proposals."""
    labels_all = rustorch.cat(labels, dim=0)
    targets_all = rustorch.cat(regression_targets, dim=0)
    classification_loss = F.cross_entropy(class_logits, labels_all)
    pos = rustorch.where(labels_all > 0)[0]
    labels_pos = labels_all[pos]
    N = int(class_logits.shape[0])
    box_regression = box_regression.reshape(N, int(box_regression.size(-1)) // 4, 4)
    box_loss = F.smooth_l1_loss(box_regression[pos, labels_pos], targets_all[pos],
                                beta=1 / 9, reduction="sum")
    return classification_loss, box_loss / labels_all.numel()


def maskrcnn_inference(x: Tensor, labels: list[Tensor]) -> tuple[Tensor, ...]:
    """Per image, the ``[n, 1, M, M]`` mask probabilities (sigmoid) of each detection's
    predicted class."""
    mask_prob = x.sigmoid()
    boxes_per_image = [int(lab.shape[0]) for lab in labels]
    labels_all = rustorch.cat(labels)
    index = rustorch.arange(int(x.shape[0]), device=labels_all.device)
    return mask_prob[index, labels_all][:, None].split(boxes_per_image, dim=0)


def project_masks_on_boxes(gt_masks: Tensor, boxes: Tensor, matched_idxs: Tensor, M: int) -> Tensor:
    """The ``[n, M, M]`` crops of the matched ground-truth masks under each box, resampled
    by RoI Align (the mask targets)."""
    rois = rustorch.cat([matched_idxs.to(boxes)[:, None], boxes], dim=1)
    return roi_align(gt_masks[:, None].to(rois), rois, (M, M), 1.0)[:, 0]


def maskrcnn_loss(
    mask_logits: Tensor,
    proposals: list[Tensor],
    gt_masks: list[Tensor],
    gt_labels: list[Tensor],
    mask_matched_idxs: list[Tensor],
) -> Tensor:
    """Binary cross-entropy between each positive proposal's mask logits for its
    ground-truth class and the projected ground-truth mask (0 when there is none)."""
    size = int(mask_logits.shape[-1])
    labels = [gl[idxs] for gl, idxs in zip(gt_labels, mask_matched_idxs)]
    mask_targets = [project_masks_on_boxes(m, p, i, size)
                    for m, p, i in zip(gt_masks, proposals, mask_matched_idxs)]
    labels_all = rustorch.cat(labels, dim=0)
    targets_all = rustorch.cat(mask_targets, dim=0)
    if targets_all.numel() == 0:  # no positive: a zero that keeps the graph
        return mask_logits.sum() * 0
    picked = mask_logits[rustorch.arange(int(labels_all.shape[0]), device=labels_all.device),
                         labels_all]
    return F.binary_cross_entropy_with_logits(picked, targets_all)


def expand_boxes(boxes: Tensor, scale: float) -> Tensor:
    """Scale boxes about their centres by ``scale``."""
    w_half = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    h_half = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    x_c = (boxes[:, 2] + boxes[:, 0]) * 0.5
    y_c = (boxes[:, 3] + boxes[:, 1]) * 0.5
    return rustorch.stack((x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half), dim=1)


def expand_masks(mask: Tensor, padding: int) -> tuple[Tensor, float]:
    """Zero-pad ``[n, 1, M, M]`` masks by ``padding``; returns them and the growth factor."""
    M = int(mask.shape[-1])
    return F.pad(mask, (padding,) * 4), float(M + 2 * padding) / M


def paste_mask_in_image(mask: Tensor, box: list[int], im_h: int, im_w: int) -> Tensor:
    """Resize one ``[M, M]`` mask (bilinear) to its integer box (corners inclusive) and
    place it in an ``[im_h, im_w]`` zero image, cropping what falls outside."""
    x1, y1, x2, y2 = box
    w = max(x2 - x1 + 1, 1)
    h = max(y2 - y1 + 1, 1)
    resized = F.interpolate(mask.expand((1, 1, -1, -1)), size=(h, w), mode="bilinear",
                            align_corners=False)[0][0]
    im_mask = rustorch.zeros((im_h, im_w), dtype=resized.dtype, device=resized.device)
    x_0, x_1 = max(x1, 0), min(x2 + 1, im_w)
    y_0, y_1 = max(y1, 0), min(y2 + 1, im_h)
    if y_1 > y_0 and x_1 > x_0:
        im_mask[y_0:y_1, x_0:x_1] = resized[y_0 - y1:y_1 - y1, x_0 - x1:x_1 - x1]
    return im_mask


def paste_masks_in_image(
    masks: Tensor, boxes: Tensor, img_shape: tuple[int, int], padding: int = 1
) -> Tensor:
    """torchvision's ``paste_masks_in_image``: ``[n, 1, M, M]`` masks in box coordinates to
    ``[n, 1, H, W]`` image masks. Each mask is padded by ``padding`` and its box grown to
    match before both are pasted; box corners are truncated to integers as torchvision."""
    masks, scale = expand_masks(masks, padding=padding)
    int_boxes = expand_boxes(boxes, scale).to(dtype=rustorch.int64).tolist()
    im_h, im_w = int(img_shape[0]), int(img_shape[1])
    pasted = [paste_mask_in_image(m[0], b, im_h, im_w) for m, b in zip(masks, int_boxes)]
    if pasted:
        return rustorch.stack(pasted, dim=0)[:, None]
    return masks.new_empty((0, 1, im_h, im_w))


class RoIHeads(nn.Module):
    """torchvision's ``RoIHeads(box_roi_pool, box_head, box_predictor, fg_iou_thresh,
    bg_iou_thresh, batch_size_per_image, positive_fraction, bbox_reg_weights,
    score_thresh, nms_thresh, detections_per_img, mask_roi_pool=None, mask_head=None,
    mask_predictor=None, keypoint_roi_pool=None, keypoint_head=None,
    keypoint_predictor=None)``.

    Training: the ground-truth boxes join the proposals, which are matched to them by IoU
    (``fg_iou_thresh`` / ``bg_iou_thresh``) and sampled (``batch_size_per_image``,
    ``positive_fraction``); returns ``loss_classifier``, ``loss_box_reg`` and, with a
    mask branch, ``loss_mask``. Evaluation: per-class boxes decoded with
    ``bbox_reg_weights`` (default ``(10, 10, 5, 5)``), clipped, filtered by
    ``score_thresh`` and a side of at least 0.01, NMS per class, the best
    ``detections_per_img`` kept; returns one dict per image with ``boxes``, ``labels``,
    ``scores`` and, with a mask branch, ``masks`` (``[n, 1, M, M]`` probabilities).
    """

    def __init__(
        self,
        box_roi_pool: nn.Module,
        box_head: nn.Module,
        box_predictor: nn.Module,
        fg_iou_thresh: float,
        bg_iou_thresh: float,
        batch_size_per_image: int,
        positive_fraction: float,
        bbox_reg_weights: Optional[tuple[float, float, float, float]],
        score_thresh: float,
        nms_thresh: float,
        detections_per_img: int,
        mask_roi_pool: Optional[nn.Module] = None,
        mask_head: Optional[nn.Module] = None,
        mask_predictor: Optional[nn.Module] = None,
        keypoint_roi_pool: Optional[nn.Module] = None,
        keypoint_head: Optional[nn.Module] = None,
        keypoint_predictor: Optional[nn.Module] = None,
    ) -> None:
        super().__init__()
        if any(m is not None for m in (keypoint_roi_pool, keypoint_head, keypoint_predictor)):
            raise NotImplementedError("RoIHeads: the keypoint branch (Keypoint R-CNN) is not "
                                      "provided by rustorch.vision")
        self.box_similarity = box_ops.box_iou
        self.proposal_matcher = det_utils.Matcher(fg_iou_thresh, bg_iou_thresh,
                                                  allow_low_quality_matches=False)
        self.fg_bg_sampler = det_utils.BalancedPositiveNegativeSampler(batch_size_per_image,
                                                                       positive_fraction)
        if bbox_reg_weights is None:
            bbox_reg_weights = (10.0, 10.0, 5.0, 5.0)
        self.box_coder = det_utils.BoxCoder(bbox_reg_weights)
        self.box_roi_pool = box_roi_pool
        self.box_head = box_head
        self.box_predictor = box_predictor
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img
        self.mask_roi_pool = mask_roi_pool
        self.mask_head = mask_head
        self.mask_predictor = mask_predictor
        self.keypoint_roi_pool = None
        self.keypoint_head = None
        self.keypoint_predictor = None

    def has_mask(self) -> bool:
        return (self.mask_roi_pool is not None and self.mask_head is not None
                and self.mask_predictor is not None)

    def has_keypoint(self) -> bool:
        return False

    def assign_targets_to_proposals(
        self, proposals: list[Tensor], gt_boxes: list[Tensor], gt_labels: list[Tensor]
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Per image: the (clamped) matched ground-truth index of each proposal and its
        label (0 background, -1 ignored)."""
        matched_idxs, labels = [], []
        for props, boxes, gt_lab in zip(proposals, gt_boxes, gt_labels):
            if boxes.numel() == 0:  # an image without objects: all background
                clamped = rustorch.zeros((props.shape[0],), dtype=rustorch.int64,
                                         device=props.device)
                image_labels = rustorch.zeros((props.shape[0],), dtype=rustorch.int64,
                                              device=props.device)
            else:
                matched = self.proposal_matcher(box_ops.box_iou(boxes, props))
                clamped = matched.clamp(min=0)
                image_labels = gt_lab[clamped].to(dtype=rustorch.int64)
                image_labels[matched == self.proposal_matcher.BELOW_LOW_THRESHOLD] = 0
                image_labels[matched == self.proposal_matcher.BETWEEN_THRESHOLDS] = -1
            matched_idxs.append(clamped)
            labels.append(image_labels)
        return matched_idxs, labels

    def subsample(self, labels: list[Tensor]) -> list[Tensor]:
        pos_masks, neg_masks = self.fg_bg_sampler(labels)
        return [rustorch.where(p | n)[0] for p, n in zip(pos_masks, neg_masks)]

    def add_gt_proposals(self, proposals: list[Tensor], gt_boxes: list[Tensor]) -> list[Tensor]:
        return [rustorch.cat((p, g)) for p, g in zip(proposals, gt_boxes)]

    def check_targets(self, targets: Optional[list[dict[str, Tensor]]]) -> None:
        if targets is None:
            raise ValueError("targets should not be None")
        if not all("boxes" in t for t in targets):
            raise ValueError("Every element of targets should have a boxes key")
        if not all("labels" in t for t in targets):
            raise ValueError("Every element of targets should have a labels key")
        if self.has_mask() and not all("masks" in t for t in targets):
            raise ValueError("Every element of targets should have a masks key")

    def select_training_samples(
        self, proposals: list[Tensor], targets: Optional[list[dict[str, Tensor]]]
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], tuple[Tensor, ...]]:
        """The sampled proposals with their matched indices, labels and regression
        targets."""
        self.check_targets(targets)
        assert targets is not None
        dtype, device = proposals[0].dtype, proposals[0].device
        gt_boxes = [t["boxes"].to(dtype) for t in targets]
        gt_labels = [t["labels"] for t in targets]
        proposals = self.add_gt_proposals(proposals, gt_boxes)
        matched_idxs, labels = self.assign_targets_to_proposals(proposals, gt_boxes, gt_labels)
        sampled = self.subsample(labels)
        matched_gt_boxes = []
        for i, inds in enumerate(sampled):
            proposals[i] = proposals[i][inds]
            labels[i] = labels[i][inds]
            matched_idxs[i] = matched_idxs[i][inds]
            boxes = gt_boxes[i]
            if boxes.numel() == 0:
                boxes = rustorch.zeros((1, 4), dtype=dtype, device=device)
            matched_gt_boxes.append(boxes[matched_idxs[i]])
        regression_targets = self.box_coder.encode(matched_gt_boxes, proposals)
        return proposals, matched_idxs, labels, regression_targets

    def postprocess_detections(
        self,
        class_logits: Tensor,
        box_regression: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        device = class_logits.device
        num_classes = int(class_logits.shape[-1])
        boxes_per_image = [int(p.shape[0]) for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals)
        pred_scores = F.softmax(class_logits, -1)
        all_boxes, all_scores, all_labels = [], [], []
        for boxes, scores, image_shape in zip(pred_boxes.split(boxes_per_image, 0),
                                              pred_scores.split(boxes_per_image, 0),
                                              image_shapes):
            boxes = box_ops.clip_boxes_to_image(boxes, image_shape)
            labels = rustorch.arange(num_classes, device=device).view(1, -1).expand_as(scores)
            # every (proposal, class) pair but the background becomes a candidate
            boxes = boxes[:, 1:].reshape(-1, 4)
            scores = scores[:, 1:].reshape(-1)
            labels = labels[:, 1:].reshape(-1)
            inds = rustorch.where(scores > self.score_thresh)[0]
            boxes, scores, labels = boxes[inds], scores[inds], labels[inds]
            keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            keep = box_ops.batched_nms(boxes, scores, labels, self.nms_thresh)
            keep = keep[: self.detections_per_img]
            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
            all_labels.append(labels[keep])
        return all_boxes, all_scores, all_labels

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: Optional[list[dict[str, Tensor]]] = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if targets is not None:
            for t in targets:
                if t["boxes"].dtype not in (rustorch.float32, rustorch.float64, rustorch.float16):
                    raise TypeError("target boxes must of float type, instead got "
                                    f"{t['boxes'].dtype}")
                if t["labels"].dtype != rustorch.int64:
                    raise TypeError("target labels must of int64 type, instead got "
                                    f"{t['labels'].dtype}")

        labels: Any = None
        matched_idxs: Any = None
        if self.training:
            proposals, matched_idxs, labels, regression_targets = self.select_training_samples(
                proposals, targets)

        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)

        result: list[dict[str, Tensor]] = []
        losses: dict[str, Tensor] = {}
        if self.training:
            loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels,
                                                          list(regression_targets))
            losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        else:
            boxes, scores, det_labels = self.postprocess_detections(
                class_logits, box_regression, proposals, image_shapes)
            result = [{"boxes": b, "labels": lab, "scores": s}
                      for b, s, lab in zip(boxes, scores, det_labels)]

        if self.has_mask():
            if self.training:
                # the mask branch trains on the positive proposals only
                mask_proposals, pos_matched_idxs = [], []
                for props, lab, idxs in zip(proposals, labels, matched_idxs):
                    pos = rustorch.where(lab > 0)[0]
                    mask_proposals.append(props[pos])
                    pos_matched_idxs.append(idxs[pos])
            else:
                mask_proposals = [r["boxes"] for r in result]
            mask_features = self.mask_head(self.mask_roi_pool(features, mask_proposals,
                                                              image_shapes))
            mask_logits = self.mask_predictor(mask_features)
            if self.training:
                assert targets is not None
                losses["loss_mask"] = maskrcnn_loss(
                    mask_logits, mask_proposals, [t["masks"] for t in targets],
                    [t["labels"] for t in targets], pos_matched_idxs)
            else:
                probs = maskrcnn_inference(mask_logits, [r["labels"] for r in result])
                for prob, r in zip(probs, result):
                    r["masks"] = prob
        return result, losses
