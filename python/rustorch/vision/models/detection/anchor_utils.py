"""``torchvision.models.detection.anchor_utils.AnchorGenerator``."""

from __future__ import annotations

from typing import Any

import rustorch
from rustorch import Tensor, nn

from .image_list import ImageList

__all__ = ["AnchorGenerator"]


class AnchorGenerator(nn.Module):
    """torchvision's ``AnchorGenerator(sizes=((128, 256, 512),), aspect_ratios=((0.5, 1.0,
    2.0),))``: for feature map ``i``, ``len(sizes[i]) * len(aspect_ratios[i])`` anchors at
    every location (aspect ratio = height / width).

    The zero-centred cell anchors are rounded to integers, then shifted to every feature
    map location ``(x * stride_w, y * stride_h)``, where the stride is the padded image size
    divided (floor) by the feature map size. Anchors are ordered location-major, then
    aspect ratio, then size, as torchvision. ``forward(image_list, feature_maps)`` returns
    one ``[sum_i H_i W_i A_i, 4]`` tensor per image.
    """

    def __init__(
        self,
        sizes: Any = ((128, 256, 512),),
        aspect_ratios: Any = ((0.5, 1.0, 2.0),),
    ) -> None:
        super().__init__()
        if not isinstance(sizes[0], (list, tuple)):
            sizes = tuple((s,) for s in sizes)
        if not isinstance(aspect_ratios[0], (list, tuple)):
            aspect_ratios = (aspect_ratios,) * len(sizes)
        self.sizes = sizes
        self.aspect_ratios = aspect_ratios
        self.cell_anchors = [self.generate_anchors(s, a) for s, a in zip(sizes, aspect_ratios)]

    def generate_anchors(
        self,
        scales: list[int],
        aspect_ratios: list[float],
        dtype: Any = rustorch.float32,
        device: Any = "cpu",
    ) -> Tensor:
        """The ``[len(aspect_ratios) * len(scales), 4]`` zero-centred, rounded anchors."""
        scales_t = rustorch.as_tensor(scales, dtype=dtype, device=device)
        ratios = rustorch.as_tensor(aspect_ratios, dtype=dtype, device=device)
        h_ratios = rustorch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales_t[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales_t[None, :]).view(-1)
        return (rustorch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()

    def set_cell_anchors(self, dtype: Any, device: Any) -> None:
        self.cell_anchors = [a.to(dtype=dtype, device=device) for a in self.cell_anchors]

    def num_anchors_per_location(self) -> list[int]:
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    def grid_anchors(self, grid_sizes: list[list[int]], strides: list[list[int]]) -> list[Tensor]:
        """The anchors of each feature map: every cell anchor at every location."""
        if not len(grid_sizes) == len(strides) == len(self.cell_anchors):
            raise AssertionError(
                "Anchors should be Tuple[Tuple[int]] because each feature map could potentially "
                "have different sizes and aspect ratios. There needs to be a match between the "
                "number of feature maps passed and the number of sizes / aspect ratios specified.")
        anchors = []
        for (grid_h, grid_w), (stride_h, stride_w), base in zip(grid_sizes, strides,
                                                                self.cell_anchors):
            device = base.device
            shifts_x = rustorch.arange(0, grid_w, dtype=rustorch.int32, device=device) * stride_w
            shifts_y = rustorch.arange(0, grid_h, dtype=rustorch.int32, device=device) * stride_h
            shift_y, shift_x = rustorch.meshgrid(shifts_y, shifts_x, indexing="ij")
            shift_x = shift_x.reshape(-1)
            shift_y = shift_y.reshape(-1)
            shifts = rustorch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            anchors.append((shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4))
        return anchors

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        grid_sizes = [[int(s) for s in f.shape[-2:]] for f in feature_maps]
        image_h, image_w = (int(s) for s in image_list.tensors.shape[-2:])
        strides = [[image_h // g[0], image_w // g[1]] for g in grid_sizes]
        self.set_cell_anchors(feature_maps[0].dtype, feature_maps[0].device)
        per_map = self.grid_anchors(grid_sizes, strides)
        # every image of the batch shares the padded size, hence the same anchors
        return [rustorch.cat(per_map) for _ in range(len(image_list.image_sizes))]
