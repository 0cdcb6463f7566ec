"""``torchvision.models.detection.image_list.ImageList``."""

from __future__ import annotations

from typing import Any

from rustorch import Tensor

__all__ = ["ImageList"]


class ImageList:
    """Images of different sizes padded into one ``[N, C, H, W]`` tensor, with each
    image's ``(height, width)`` before padding in ``image_sizes``."""

    def __init__(self, tensors: Tensor, image_sizes: list[tuple[int, int]]) -> None:
        self.tensors = tensors
        self.image_sizes = image_sizes

    def to(self, device: Any) -> "ImageList":
        return ImageList(self.tensors.to(device), self.image_sizes)
