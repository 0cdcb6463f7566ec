"""``torchvision.ops.roi_align`` and ``RoIAlign``: bilinear average pooling of regions of
interest (Mask R-CNN), on the engine's own kernels (``rustorch._C._roi_align``) with their
gradient."""

from __future__ import annotations

from typing import Union

from rustorch import _C, Tensor, nn

from ._utils import check_roi_boxes_shape, convert_boxes_to_roi_format
from .roi_pool import _pair


def roi_align(
    input: Tensor,
    boxes: Union[Tensor, list[Tensor]],
    output_size: Union[int, tuple[int, int]],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """``torchvision.ops.roi_align``: the ``[K, C, oh, ow]`` average of bilinear samples
    in each of the ``output_size`` bins of each box over the ``[N, C, H, W]`` ``input``.

    Args:
        input: the feature maps.
        boxes: a ``[K, 5]`` tensor (batch index, x1, y1, x2, y2) or a list of ``[L, 4]``
            tensors, one per image.
        output_size: ``(oh, ow)`` or one int for both.
        spatial_scale: factor from box coordinates to ``input`` coordinates (e.g. 1/4 for
            a feature map of stride 4).
        sampling_ratio: samples per bin side; ``<= 0`` uses ``ceil(box side / bins)``
            per box, as torchvision.
        aligned: shift boxes by -0.5 pixel (Detectron2's alignment) and allow boxes
            thinner than a pixel; ``False`` is the legacy behaviour, where box sides are at
            least 1.

    Samples more than a pixel outside the input count as 0, as in torchvision's kernels.
    """
    check_roi_boxes_shape(boxes)
    rois = boxes if isinstance(boxes, Tensor) else convert_boxes_to_roi_format(boxes)
    return _C._roi_align(input, rois, _pair(output_size), float(spatial_scale),
                         int(sampling_ratio), bool(aligned))


class RoIAlign(nn.Module):
    """``torchvision.ops.RoIAlign(output_size, spatial_scale, sampling_ratio,
    aligned=False)``: :func:`roi_align` as a module, with torchvision's ``repr``."""

    def __init__(
        self,
        output_size: Union[int, tuple[int, int]],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois: Union[Tensor, list[Tensor]]) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
                f"aligned={self.aligned})")
