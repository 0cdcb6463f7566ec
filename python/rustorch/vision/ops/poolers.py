"""``torchvision.ops.poolers``: ``MultiScaleRoIAlign``, RoI Align over the levels of a
feature pyramid, each box pooled from the level its size picks (eq. 1 of the FPN paper).

As torchvision, the per-level scales and the level mapper are inferred from the feature
map and image sizes on the first call and then kept for later calls.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import rustorch
from rustorch import Tensor, nn

from .boxes import box_area
from .roi_align import roi_align

__all__ = ["LevelMapper", "initLevelMapper", "MultiScaleRoIAlign"]


class LevelMapper:
    """The pyramid level of each box: ``floor(canonical_level + log2(sqrt(area) /
    canonical_scale) + eps)`` clamped to ``[k_min, k_max]``, returned relative to
    ``k_min`` (torchvision's ``LevelMapper``)."""

    def __init__(
        self,
        k_min: int,
        k_max: int,
        canonical_scale: int = 224,
        canonical_level: int = 4,
        eps: float = 1e-6,
    ) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.s0 = canonical_scale
        self.lvl0 = canonical_level
        self.eps = eps

    def __call__(self, boxlists: list[Tensor]) -> Tensor:
        s = rustorch.sqrt(rustorch.cat([box_area(b) for b in boxlists]))
        levels = rustorch.floor(self.lvl0 + rustorch.log2(s / self.s0)
                                + rustorch.tensor(self.eps, dtype=s.dtype, device=s.device))
        levels = rustorch.clamp(levels, min=self.k_min, max=self.k_max)
        return levels.to(rustorch.int64) - self.k_min


def initLevelMapper(
    k_min: int,
    k_max: int,
    canonical_scale: int = 224,
    canonical_level: int = 4,
    eps: float = 1e-6,
) -> LevelMapper:
    """torchvision's factory of :class:`LevelMapper` (name kept)."""
    return LevelMapper(k_min, k_max, canonical_scale, canonical_level, eps)


def _convert_to_roi_format(boxes: list[Tensor]) -> Tensor:
    concat = rustorch.cat(boxes, dim=0)
    ids = rustorch.cat([rustorch.full_like(b[:, :1], i) for i, b in enumerate(boxes)], dim=0)
    return rustorch.cat([ids, concat], dim=1)


def _infer_scale(feature: Tensor, original_size: list[int]) -> float:
    # the scale is assumed to be 2 ** -k: the ratio of the sizes rounded in log2 (in
    # float32, as torchvision's tensor arithmetic)
    approx = float(feature.shape[-2]) / float(original_size[0])
    return 2 ** float(rustorch.tensor(approx).log2().round())


def _setup_scales(
    features: list[Tensor],
    image_shapes: list[tuple[int, int]],
    canonical_scale: int,
    canonical_level: int,
) -> tuple[list[float], LevelMapper]:
    if not image_shapes:
        raise ValueError("images list should not be empty")
    max_h = max(int(s[0]) for s in image_shapes)
    max_w = max(int(s[1]) for s in image_shapes)
    scales = [_infer_scale(f, [max_h, max_w]) for f in features]
    # the levels of the pyramid: each one halves the resolution
    lvl_min = -math.log2(scales[0])
    lvl_max = -math.log2(scales[-1])
    return scales, initLevelMapper(int(lvl_min), int(lvl_max), canonical_scale=canonical_scale,
                                   canonical_level=canonical_level)


def _filter_input(x: dict[str, Tensor], featmap_names: list[str]) -> list[Tensor]:
    return [v for k, v in x.items() if k in featmap_names]


def _multiscale_roi_align(
    x_filtered: list[Tensor],
    boxes: list[Tensor],
    output_size: tuple[int, int],
    sampling_ratio: int,
    scales: Optional[list[float]],
    mapper: Optional[LevelMapper],
) -> Tensor:
    if scales is None or mapper is None:
        raise ValueError("scales and mapper should not be None")
    rois = _convert_to_roi_format(boxes)
    if len(x_filtered) == 1:
        return roi_align(x_filtered[0], rois, output_size, scales[0], sampling_ratio)
    levels = mapper(boxes)
    first = x_filtered[0]
    result = rustorch.zeros((rois.shape[0], first.shape[1]) + tuple(output_size),
                            dtype=first.dtype, device=first.device)
    for level, (feature, scale) in enumerate(zip(x_filtered, scales)):
        in_level = rustorch.where(levels == level)[0]
        pooled = roi_align(feature, rois[in_level], output_size, scale, sampling_ratio)
        result[in_level] = pooled.to(result.dtype)
    return result


class MultiScaleRoIAlign(nn.Module):
    """torchvision's ``MultiScaleRoIAlign(featmap_names, output_size, sampling_ratio, *,
    canonical_scale=224, canonical_level=4)``.

    ``forward(x, boxes, image_shapes)``: ``x`` an ordered dict of feature maps (those named
    in ``featmap_names`` are used, finest first), ``boxes`` one ``[L, 4]`` tensor per image
    in image coordinates, ``image_shapes`` the ``(height, width)`` of each image as fed to
    the backbone. Returns ``[sum L, C, oh, ow]``.
    """

    def __init__(
        self,
        featmap_names: list[str],
        output_size: Union[int, tuple[int], list[int]],
        sampling_ratio: int,
        *,
        canonical_scale: int = 224,
        canonical_level: int = 4,
    ) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.featmap_names = featmap_names
        self.sampling_ratio = sampling_ratio
        self.output_size = tuple(output_size)
        self.scales: Optional[list[float]] = None
        self.map_levels: Optional[LevelMapper] = None
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        x_filtered = _filter_input(x, self.featmap_names)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(
                x_filtered, image_shapes, self.canonical_scale, self.canonical_level)
        return _multiscale_roi_align(x_filtered, boxes, self.output_size, self.sampling_ratio,
                                     self.scales, self.map_levels)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(featmap_names={self.featmap_names}, "
                f"output_size={self.output_size}, sampling_ratio={self.sampling_ratio})")
