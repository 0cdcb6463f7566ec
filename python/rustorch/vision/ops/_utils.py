"""Box-format helpers of the detection ops (``torchvision.ops._utils``)."""

from __future__ import annotations

from typing import Union

import rustorch
from rustorch import Tensor


def convert_boxes_to_roi_format(boxes: list[Tensor]) -> Tensor:
    """``[K, 5]`` boxes (batch index, x1, y1, x2, y2) from one ``[L, 4]`` tensor per image."""
    concat_boxes = rustorch.cat(list(boxes), dim=0)
    ids = rustorch.cat(
        [rustorch.full_like(b[:, :1], i) for i, b in enumerate(boxes)], dim=0
    )
    return rustorch.cat([ids, concat_boxes], dim=1)


def check_roi_boxes_shape(boxes: Union[Tensor, list[Tensor]]) -> None:
    """torchvision's checks: a ``[K, 5]`` tensor or a list of ``[L, 4]`` tensors, else
    ``AssertionError`` with its message."""
    if isinstance(boxes, (list, tuple)):
        for b in boxes:
            if not (isinstance(b, Tensor) and b.dim() == 2 and b.size(1) == 4):
                raise AssertionError("The shape of the tensor in the boxes list is not correct "
                                     "as List[Tensor[L, 4]]")
    elif isinstance(boxes, Tensor):
        if not (boxes.dim() == 2 and boxes.size(1) == 5):
            raise AssertionError("The boxes tensor shape is not correct as Tensor[K, 5]")
    else:
        raise AssertionError("boxes is expected to be a Tensor[L, 5] or a List[Tensor[K, 4]]")
