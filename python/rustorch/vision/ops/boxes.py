"""Box utilities of ``torchvision.ops.boxes``: ``nms``, ``batched_nms``, ``box_area``,
``box_iou``, ``clip_boxes_to_image`` and ``remove_small_boxes``.

Boxes are ``(x1, y1, x2, y2)`` rows unless a ``fmt`` says otherwise. ``nms`` is the engine's
own kernel (``rustorch._C._nms``); everything else is composed from tensor ops with
torchvision's arithmetic, so the results are the same numbers.
"""

from __future__ import annotations

import rustorch
from rustorch import _C, Tensor

__all__ = [
    "nms",
    "batched_nms",
    "remove_small_boxes",
    "clip_boxes_to_image",
    "box_area",
    "box_iou",
]

_AXIS_ALIGNED_FMTS = ("xyxy", "xywh", "cxcywh")


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """``torchvision.ops.nms``: greedy non-maximum suppression.

    Boxes are visited by decreasing score (equal scores keep their input order); a box is
    kept unless its IoU with an already kept box is greater than ``iou_threshold``.

    Args:
        boxes: ``[N, 4]`` boxes ``(x1, y1, x2, y2)``.
        scores: ``[N]`` scores, same dtype as ``boxes``.
        iou_threshold: boxes overlapping a kept one by more than this are discarded.

    Returns:
        the int64 indices of the kept boxes, by decreasing score.
    """
    return _C._nms(boxes, scores, float(iou_threshold))


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """``torchvision.ops.batched_nms``: :func:`nms` run independently per category
    ``idxs``; returns the kept indices by decreasing score.

    As torchvision, small inputs (at most 4000 box coordinates on the CPU, 100 000 on CUDA)
    take one :func:`nms` over boxes shifted apart per category (the coordinate-offset
    trick); larger ones run :func:`nms` once per category, which avoids the precision lost
    to large offsets. The two paths can differ on boxes whose IoU is within rounding of the
    threshold, so following the same switch point keeps the results torchvision's.
    """
    limit = 4000 if boxes.device.type == "cpu" else 100_000
    if boxes.numel() > limit:
        return _batched_nms_per_category(boxes, scores, idxs, iou_threshold)
    return _batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold)


def _batched_nms_coordinate_trick(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float
) -> Tensor:
    if boxes.numel() == 0:
        return rustorch.empty((0,), dtype=rustorch.int64, device=boxes.device)
    # each category is moved past the largest coordinate of the previous one, so boxes
    # of different categories cannot overlap and one nms call treats them independently
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def _batched_nms_per_category(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float
) -> Tensor:
    keep_mask = rustorch.zeros_like(scores, dtype=rustorch.bool)
    for category in rustorch.unique(idxs):
        members = rustorch.where(idxs == category)[0]
        kept = nms(boxes[members], scores[members], iou_threshold)
        keep_mask[members[kept]] = True
    keep = rustorch.where(keep_mask)[0]
    return keep[scores[keep].sort(descending=True, stable=True)[1]]


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """``torchvision.ops.remove_small_boxes``: the indices of the boxes whose width and
    height are both at least ``min_size``."""
    widths = boxes[..., 2] - boxes[..., 0]
    heights = boxes[..., 3] - boxes[..., 1]
    return rustorch.where((widths >= min_size) & (heights >= min_size))[0]


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``torchvision.ops.clip_boxes_to_image``: clamp x coordinates to ``[0, width]`` and
    y coordinates to ``[0, height]`` of ``size = (height, width)``; any leading
    dimensions are kept."""
    height, width = size
    xs = boxes[..., 0::2].clamp(min=0, max=width)
    ys = boxes[..., 1::2].clamp(min=0, max=height)
    # interleave back to x1, y1, x2, y2
    return rustorch.stack((xs, ys), dim=boxes.dim()).reshape(boxes.shape)


def _upcast(t: Tensor) -> Tensor:
    """Half-precision floats to float32 and small integers to int32, so products of
    coordinates do not overflow (torchvision's ``_upcast``)."""
    if t.is_floating_point():
        return t if t.dtype in (rustorch.float32, rustorch.float64) else t.float()
    return t if t.dtype in (rustorch.int32, rustorch.int64) else t.int()


def _check_fmt(fmt: str, what: str) -> None:
    if fmt not in _AXIS_ALIGNED_FMTS:
        raise ValueError(
            f"Unsupported {what} for given format {fmt}; supported: {', '.join(_AXIS_ALIGNED_FMTS)}"
        )


def box_area(boxes: Tensor, fmt: str = "xyxy") -> Tensor:
    """``torchvision.ops.box_area``: the area of each ``[..., 4]`` box, in ``fmt``
    ``"xyxy"``, ``"xywh"`` or ``"cxcywh"``."""
    _check_fmt(fmt, "Bounding Box area")
    boxes = _upcast(boxes)
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _corners(boxes: Tensor, fmt: str) -> tuple[Tensor, Tensor]:
    """Top-left and bottom-right corners ``[..., 2]`` of boxes in ``fmt``."""
    if fmt == "xyxy":
        return boxes[..., :2], boxes[..., 2:]
    if fmt == "xywh":
        return boxes[..., :2], boxes[..., :2] + boxes[..., 2:]
    half = boxes[..., 2:] / 2
    return boxes[..., :2] - half, boxes[..., :2] + half


def _box_inter_union(boxes1: Tensor, boxes2: Tensor, fmt: str = "xyxy") -> tuple[Tensor, Tensor]:
    area1 = box_area(boxes1, fmt=fmt)
    area2 = box_area(boxes2, fmt=fmt)
    tl1, br1 = _corners(boxes1, fmt)
    tl2, br2 = _corners(boxes2, fmt)
    # pairwise [..., N, M, 2] overlap rectangle
    lt = rustorch.max(tl1[..., :, None, :], tl2[..., None, :, :])
    rb = rustorch.min(br1[..., :, None, :], br2[..., None, :, :])
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[..., :, None] + area2[..., None, :] - inter
    return inter, union


def box_iou(boxes1: Tensor, boxes2: Tensor, fmt: str = "xyxy") -> Tensor:
    """``torchvision.ops.box_iou``: the ``[..., N, M]`` intersection-over-union of every
    pair of ``boxes1 [..., N, 4]`` and ``boxes2 [..., M, 4]``.

    ``fmt`` is ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``; torchvision's rotated
    formats (``"cxcywhr"``, ``"xywhr"``, ``"xyxyxyxy"``) are not provided and raise
    ``ValueError``.
    """
    _check_fmt(fmt, "Box IoU Calculation")
    inter, union = _box_inter_union(boxes1, boxes2, fmt=fmt)
    return inter / union
