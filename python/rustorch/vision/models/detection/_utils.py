"""The box machinery of ``torchvision.models.detection._utils``: ``BoxCoder`` (box <->
regression targets), ``Matcher`` (boxes to ground truth by IoU),
``BalancedPositiveNegativeSampler`` and ``overwrite_eps``.

Arithmetic is written in torchvision's order of operations, so encoded targets and
decoded boxes are the same float32 numbers.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import rustorch
from rustorch import Tensor, nn

from ...ops.misc import FrozenBatchNorm2d

__all__ = [
    "BalancedPositiveNegativeSampler",
    "BoxCoder",
    "Matcher",
    "encode_boxes",
    "overwrite_eps",
    "retrieve_out_channels",
]


class BalancedPositiveNegativeSampler:
    """Pick at most ``batch_size_per_image`` elements per image, at most
    ``positive_fraction`` of them positive (torchvision's sampler).

    Called with one ``matched_idxs`` tensor per image (``>= 1`` positive, ``0`` negative,
    ``-1`` ignored); returns two lists of ``uint8`` masks (positives, negatives) of the
    same shapes. The choice among candidates is random (``rustorch.randperm``), so it
    follows rustorch's generator, not PyTorch's; when every candidate fits in the budget
    the result is deterministic.
    """

    def __init__(self, batch_size_per_image: int, positive_fraction: float) -> None:
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        pos_masks, neg_masks = [], []
        for matched in matched_idxs:
            positive = rustorch.where(matched >= 1)[0]
            negative = rustorch.where(matched == 0)[0]
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            perm_pos = rustorch.randperm(positive.numel(), device=positive.device)[:num_pos]
            perm_neg = rustorch.randperm(negative.numel(), device=negative.device)[:num_neg]
            chosen_pos, chosen_neg = positive[perm_pos], negative[perm_neg]
            pos_mask = rustorch.zeros_like(matched, dtype=rustorch.uint8)
            neg_mask = rustorch.zeros_like(matched, dtype=rustorch.uint8)
            pos_mask[chosen_pos] = 1
            neg_mask[chosen_neg] = 1
            pos_masks.append(pos_mask)
            neg_masks.append(neg_mask)
        return pos_masks, neg_masks


def encode_boxes(reference_boxes: Tensor, proposals: Tensor, weights: Tensor) -> Tensor:
    """The ``[N, 4]`` regression targets ``(dx, dy, dw, dh)`` that move each proposal onto
    its reference box, scaled by ``weights`` ``(wx, wy, ww, wh)``."""
    wx, wy, ww, wh = weights[0], weights[1], weights[2], weights[3]
    px1, py1, px2, py2 = (proposals[:, i].unsqueeze(1) for i in range(4))
    gx1, gy1, gx2, gy2 = (reference_boxes[:, i].unsqueeze(1) for i in range(4))

    ex_widths = px2 - px1
    ex_heights = py2 - py1
    ex_ctr_x = px1 + 0.5 * ex_widths
    ex_ctr_y = py1 + 0.5 * ex_heights

    gt_widths = gx2 - gx1
    gt_heights = gy2 - gy1
    gt_ctr_x = gx1 + 0.5 * gt_widths
    gt_ctr_y = gy1 + 0.5 * gt_heights

    dx = wx * (gt_ctr_x - ex_ctr_x) / ex_widths
    dy = wy * (gt_ctr_y - ex_ctr_y) / ex_heights
    dw = ww * rustorch.log(gt_widths / ex_widths)
    dh = wh * rustorch.log(gt_heights / ex_heights)
    return rustorch.cat((dx, dy, dw, dh), dim=1)


class BoxCoder:
    """torchvision's ``BoxCoder(weights, bbox_xform_clip=log(1000 / 16))``: encodes boxes
    as center offsets relative to a reference box's size and log size ratios, each scaled
    by ``weights``; decoding clamps the log ratios at ``bbox_xform_clip``."""

    def __init__(
        self,
        weights: tuple[float, float, float, float],
        bbox_xform_clip: float = math.log(1000.0 / 16),
    ) -> None:
        self.weights = weights
        self.bbox_xform_clip = bbox_xform_clip

    def encode(self, reference_boxes: list[Tensor], proposals: list[Tensor]) -> tuple[Tensor, ...]:
        """Per-image targets: the lists are concatenated, encoded, and split back."""
        counts = [len(b) for b in reference_boxes]
        targets = self.encode_single(rustorch.cat(reference_boxes, dim=0),
                                     rustorch.cat(proposals, dim=0))
        return targets.split(counts, 0)

    def encode_single(self, reference_boxes: Tensor, proposals: Tensor) -> Tensor:
        weights = rustorch.as_tensor(self.weights, dtype=reference_boxes.dtype,
                                     device=reference_boxes.device)
        return encode_boxes(reference_boxes, proposals, weights)

    def decode(self, rel_codes: Tensor, boxes: list[Tensor]) -> Tensor:
        """Decode ``rel_codes`` against the concatenated per-image ``boxes``; returns
        ``[sum N, K, 4]`` for ``K`` codes per box."""
        if not isinstance(boxes, (list, tuple)):
            raise AssertionError("This function expects boxes of type list or tuple.")
        if not isinstance(rel_codes, Tensor):
            raise AssertionError("This function expects rel_codes of type torch.Tensor.")
        box_sum = sum(int(b.size(0)) for b in boxes)
        if box_sum > 0:
            rel_codes = rel_codes.reshape(box_sum, -1)
        pred_boxes = self.decode_single(rel_codes, rustorch.cat(list(boxes), dim=0))
        if box_sum > 0:
            pred_boxes = pred_boxes.reshape(box_sum, -1, 4)
        return pred_boxes

    def decode_single(self, rel_codes: Tensor, boxes: Tensor) -> Tensor:
        """Apply ``rel_codes [N, 4K]`` to ``boxes [N, 4]``; returns ``[N, 4K]``."""
        boxes = boxes.to(rel_codes.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights

        wx, wy, ww, wh = self.weights
        dx = rel_codes[:, 0::4] / wx
        dy = rel_codes[:, 1::4] / wy
        # the clamp keeps exp() finite for wild predictions
        dw = rustorch.clamp(rel_codes[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = rustorch.clamp(rel_codes[:, 3::4] / wh, max=self.bbox_xform_clip)

        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        half_w = 0.5 * (rustorch.exp(dw) * widths[:, None])
        half_h = 0.5 * (rustorch.exp(dh) * heights[:, None])
        corners = (pred_ctr_x - half_w, pred_ctr_y - half_h, pred_ctr_x + half_w,
                   pred_ctr_y + half_h)
        return rustorch.stack(corners, dim=2).flatten(1)


class Matcher:
    """torchvision's ``Matcher(high_threshold, low_threshold,
    allow_low_quality_matches=False)``.

    Called with an ``[M, N]`` quality matrix (ground truth x predictions), returns for each
    prediction the index of its best ground truth, or ``BELOW_LOW_THRESHOLD`` (-1) when
    the best quality is below ``low_threshold``, or ``BETWEEN_THRESHOLDS`` (-2) when it is
    in ``[low, high)``. With ``allow_low_quality_matches``, the predictions that are the
    best for some ground truth (ties included) keep their match whatever its quality.
    """

    BELOW_LOW_THRESHOLD = -1
    BETWEEN_THRESHOLDS = -2

    def __init__(
        self, high_threshold: float, low_threshold: float, allow_low_quality_matches: bool = False
    ) -> None:
        if low_threshold > high_threshold:
            raise AssertionError("low_threshold should be <= high_threshold")
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix: Tensor) -> Tensor:
        if match_quality_matrix.numel() == 0:
            if match_quality_matrix.shape[0] == 0:
                raise ValueError(
                    "No ground-truth boxes available for one of the images during training")
            raise ValueError("No proposal boxes available for one of the images during training")
        matched_vals, matches = match_quality_matrix.max(dim=0)
        all_matches = matches.clone() if self.allow_low_quality_matches else None
        below = matched_vals < self.low_threshold
        between = (matched_vals >= self.low_threshold) & (matched_vals < self.high_threshold)
        matches[below] = self.BELOW_LOW_THRESHOLD
        matches[between] = self.BETWEEN_THRESHOLDS
        if all_matches is not None:
            self.set_low_quality_matches_(matches, all_matches, match_quality_matrix)
        return matches

    def set_low_quality_matches_(
        self, matches: Tensor, all_matches: Tensor, match_quality_matrix: Tensor
    ) -> None:
        """Give back their best match to the predictions that are some ground truth's
        highest-quality prediction (including ties), in place."""
        best_per_gt = match_quality_matrix.max(dim=1)[0]
        pred_inds = rustorch.where(match_quality_matrix == best_per_gt[:, None])[1]
        matches[pred_inds] = all_matches[pred_inds]


def overwrite_eps(model: nn.Module, eps: float) -> None:
    """Set ``eps`` of every :class:`FrozenBatchNorm2d` in ``model`` (torchvision applies
    ``eps=0`` to its original COCO checkpoints, trained before the eps fix)."""
    for module in model.modules():
        if isinstance(module, FrozenBatchNorm2d):
            module.eps = eps


def retrieve_out_channels(model: nn.Module, size: tuple[int, int]) -> list[int]:
    """The channel count of each output of ``model`` on a ``(width, height) = size`` zero
    image, computed in eval mode without gradients."""
    was_training = model.training
    model.eval()
    with rustorch.no_grad():
        device = next(model.parameters()).device
        features = model(rustorch.zeros((1, 3, size[1], size[0]), device=device))
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        out_channels = [int(x.size(1)) for x in features.values()]
    if was_training:
        model.train()
    return out_channels
