"""The evaluation preprocessing attached to pretrained weights (``weights.transforms()``),
as ``torchvision.transforms._presets``: ``ImageClassification`` and ``ObjectDetection``.

``ObjectDetection`` only converts a PIL image or an integer tensor to ``[0, 1]`` floats
(the detection models normalise and resize themselves).

``ImageClassification``:

Resize the shorter side to ``resize_size`` (bilinear, antialiased), center-crop
``crop_size``, scale to ``[0, 1]`` floats and normalise with ``mean``/``std``.

Differences from torchvision: the resize runs on floats (``F.interpolate(...,
antialias=True)``, PyTorch's antialiased filter), so a ``uint8`` tensor or PIL image is
converted to ``[0, 1]`` floats *before* resizing; torchvision resizes ``uint8``/PIL data
first and rounds, so results differ by up to about 1/255 per pixel. Only bilinear
interpolation is provided.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

import rustorch
from rustorch import Tensor
from rustorch.nn import Module
from rustorch.nn import functional as F
from rustorch.vision.transforms import functional as TF

__all__ = ["ImageClassification", "ObjectDetection"]


def _to_float_tensor(img: Any) -> Tensor:
    if not isinstance(img, Tensor):
        if hasattr(img, "convert") and hasattr(img, "size"):  # PIL image
            arr = np.asarray(img)
            arr = arr[:, :, None] if arr.ndim == 2 else arr
            img = rustorch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        else:
            raise TypeError(
                f"ImageClassification: expected a PIL image or a (..., C, H, W) tensor, got "
                f"{type(img).__name__}"
            )
    if img.dim() < 3:
        raise ValueError(
            f"ImageClassification: expected a (..., C, H, W) image tensor, got shape "
            f"{tuple(img.shape)}"
        )
    if img.dtype == rustorch.uint8:
        return img.to(rustorch.float32) / 255.0
    if not img.dtype.is_floating_point:
        raise TypeError(f"ImageClassification: unsupported image dtype {img.dtype}")
    return img


class ImageClassification(Module):
    """Resize -> center crop -> ``[0, 1]`` float -> normalise (see the module docstring)."""

    def __init__(
        self,
        *,
        crop_size: int,
        resize_size: int = 256,
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
        interpolation: str = "bilinear",
        antialias: Optional[bool] = True,
    ) -> None:
        super().__init__()
        if str(interpolation).lower().rsplit(".", 1)[-1] != "bilinear":
            raise ValueError(
                f"ImageClassification: only bilinear interpolation is supported, got "
                f"interpolation={interpolation!r}"
            )
        self.crop_size = [crop_size]
        self.resize_size = [resize_size]
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = "bilinear"
        self.antialias = antialias

    def forward(self, img: Any) -> Tensor:
        x = _to_float_tensor(img)
        lead = tuple(x.shape[:-3])
        c, h, w = (int(s) for s in x.shape[-3:])
        x4 = x.reshape(-1, c, h, w)
        # torchvision's rule for a single size: the shorter side becomes resize_size
        size = self.resize_size[0]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        if (new_h, new_w) != (h, w):
            x4 = F.interpolate(
                x4, size=(new_h, new_w), mode="bilinear", align_corners=False,
                antialias=bool(self.antialias),
            )
        x4 = self._center_crop(x4, self.crop_size[0])
        mean = rustorch.tensor(self.mean, dtype=x4.dtype).reshape(1, -1, 1, 1)
        std = rustorch.tensor(self.std, dtype=x4.dtype).reshape(1, -1, 1, 1)
        x4 = (x4 - mean) / std
        return x4.reshape(*lead, c, self.crop_size[0], self.crop_size[0])

    @staticmethod
    def _center_crop(x: Tensor, crop: int) -> Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if crop > h or crop > w:  # torchvision pads with zeros first
            pad_l = (crop - w) // 2 if crop > w else 0
            pad_t = (crop - h) // 2 if crop > h else 0
            pad_r = (crop - w + 1) // 2 if crop > w else 0
            pad_b = (crop - h + 1) // 2 if crop > h else 0
            x = F.pad(x, (pad_l, pad_r, pad_t, pad_b), value=0.0)
            h, w = int(x.shape[-2]), int(x.shape[-1])
            if crop == h and crop == w:
                return x
        top = int(round((h - crop) / 2.0))
        left = int(round((w - crop) / 2.0))
        return x[..., top:top + crop, left:left + crop]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(\n    crop_size={self.crop_size}\n    resize_size="
            f"{self.resize_size}\n    mean={self.mean}\n    std={self.std}\n    interpolation="
            f"InterpolationMode.BILINEAR\n)"
        )

    def describe(self) -> str:
        return (
            "Accepts ``PIL.Image``, batched ``(B, C, H, W)`` and single ``(C, H, W)`` image "
            f"tensors. The images are resized to ``resize_size={self.resize_size}`` using "
            f"bilinear interpolation, followed by a central crop of ``crop_size="
            f"{self.crop_size}``. Finally the values are rescaled to ``[0.0, 1.0]`` and "
            f"normalized using ``mean={self.mean}`` and ``std={self.std}``."
        )


class ObjectDetection(Module):
    """torchvision's ``ObjectDetection`` preset: a PIL image or a ``(..., C, H, W)`` tensor
    -> ``float32`` in ``[0, 1]`` (integer images are divided by their dtype's maximum, as
    ``convert_image_dtype``)."""

    def forward(self, img: Any) -> Tensor:
        if not isinstance(img, Tensor):
            img = TF.pil_to_tensor(img)
        return TF.convert_image_dtype(img, rustorch.float32)

    def __repr__(self) -> str:
        return self.__class__.__name__ + "()"

    def describe(self) -> str:
        return (
            "Accepts ``PIL.Image``, batched ``(B, C, H, W)`` and single ``(C, H, W)`` image "
            "tensors. The images are rescaled to ``[0.0, 1.0]``."
        )
