"""``torchvision.ops.roi_pool`` and ``RoIPool``: max pooling of regions of interest (Fast
R-CNN), on the engine's own kernels (CPU and CUDA) with their gradient."""

from __future__ import annotations

from typing import Union

from rustorch import _C, Tensor, nn

from ._utils import check_roi_boxes_shape, convert_boxes_to_roi_format


def _pair(v: Union[int, tuple[int, int], list[int]]) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"output_size must be an int or a pair of ints, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def roi_pool(
    input: Tensor,
    boxes: Union[Tensor, list[Tensor]],
    output_size: Union[int, tuple[int, int]],
    spatial_scale: float = 1.0,
) -> Tensor:
    """``torchvision.ops.roi_pool``: the ``[K, C, oh, ow]`` maxima of ``output_size`` bins
    of each box over the ``[N, C, H, W]`` ``input``.

    ``boxes`` is a ``[K, 5]`` tensor (batch index, x1, y1, x2, y2) or a list of ``[L, 4]``
    tensors, one per image; box corners are scaled by ``spatial_scale`` and rounded, each
    box covers at least one pixel, and a bin's rows are ``floor(i·h/oh) .. ceil((i+1)·h/oh)``
    of the box, as torchvision computes them. Matches torchvision's values and gradient; an
    empty bin (a box partly outside the input) gives 0. Differs: a batch index outside
    ``0..N`` pools nothing (torchvision reads out of bounds), and the gradient can be
    differentiated again (torchvision's is once-differentiable).
    """
    check_roi_boxes_shape(boxes)
    rois = boxes if isinstance(boxes, Tensor) else convert_boxes_to_roi_format(boxes)
    return _C._roi_pool(input, rois, _pair(output_size), float(spatial_scale))


class RoIPool(nn.Module):
    """``torchvision.ops.RoIPool(output_size, spatial_scale)``: :func:`roi_pool` as a
    module, with torchvision's ``repr``."""

    def __init__(self, output_size: Union[int, tuple[int, int]], spatial_scale: float) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: Union[Tensor, list[Tensor]]) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale})")
