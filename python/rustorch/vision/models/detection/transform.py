"""``torchvision.models.detection.transform``: ``GeneralizedRCNNTransform``, the input
normalisation / resizing / batching of the R-CNN models and the mapping of their outputs
back to the input images."""

from __future__ import annotations

import math
from typing import Any, Optional

import rustorch
from rustorch import Tensor, nn
from rustorch.nn import functional as F

from .image_list import ImageList
from .roi_heads import paste_masks_in_image

__all__ = ["GeneralizedRCNNTransform", "resize_boxes", "resize_keypoints"]


def _resize_image_and_masks(
    image: Tensor,
    self_min_size: int,
    self_max_size: int,
    target: Optional[dict[str, Tensor]] = None,
    fixed_size: Optional[tuple[int, int]] = None,
) -> tuple[Tensor, Optional[dict[str, Tensor]]]:
    h, w = (int(s) for s in image.shape[-2:])
    size: Optional[list[int]] = None
    scale_factor: Optional[float] = None
    recompute_scale_factor: Optional[bool] = None
    if fixed_size is not None:
        size = [fixed_size[1], fixed_size[0]]
    else:
        # the shorter side becomes min_size unless the longer one would pass max_size
        scale_factor = min(self_min_size / min(h, w), self_max_size / max(h, w))
        recompute_scale_factor = True
    image = F.interpolate(image[None], size=size, scale_factor=scale_factor, mode="bilinear",
                          recompute_scale_factor=recompute_scale_factor, align_corners=False)[0]
    if target is not None and "masks" in target:
        masks = F.interpolate(target["masks"][:, None].float(), size=size,
                              scale_factor=scale_factor,
                              recompute_scale_factor=recompute_scale_factor)[:, 0].byte()
        target["masks"] = masks
    return image, target


def resize_boxes(boxes: Tensor, original_size: list[int], new_size: list[int]) -> Tensor:
    """Scale ``(x1, y1, x2, y2)`` boxes from an image of ``original_size`` ``(h, w)`` to
    one of ``new_size`` (the ratios in float32, as torchvision)."""
    ratio_h, ratio_w = (
        rustorch.tensor(s, dtype=rustorch.float32, device=boxes.device)
        / rustorch.tensor(s_orig, dtype=rustorch.float32, device=boxes.device)
        for s, s_orig in zip(new_size, original_size)
    )
    xmin, ymin, xmax, ymax = boxes.unbind(1)
    return rustorch.stack((xmin * ratio_w, ymin * ratio_h, xmax * ratio_w, ymax * ratio_h), dim=1)


def resize_keypoints(keypoints: Tensor, original_size: list[int], new_size: list[int]) -> Tensor:
    """Scale ``[..., K, 3]`` keypoints ``(x, y, visibility)`` like :func:`resize_boxes`."""
    ratio_h, ratio_w = (
        rustorch.tensor(s, dtype=rustorch.float32, device=keypoints.device)
        / rustorch.tensor(s_orig, dtype=rustorch.float32, device=keypoints.device)
        for s, s_orig in zip(new_size, original_size)
    )
    resized = keypoints.clone()
    resized[..., 0] *= ratio_w
    resized[..., 1] *= ratio_h
    return resized


class GeneralizedRCNNTransform(nn.Module):
    """torchvision's ``GeneralizedRCNNTransform(min_size, max_size, image_mean, image_std,
    size_divisible=32, fixed_size=None)``.

    ``forward(images, targets=None)`` normalises each ``[C, H, W]`` float image with
    ``image_mean`` / ``image_std``, resizes it (bilinear, ``align_corners=False``) so the
    shorter side is ``min_size`` (in training a random choice among ``min_size`` when it
    is a sequence, else its last entry) unless the longer side would exceed ``max_size``,
    scales target boxes and masks (nearest) alike, and pads the images with zeros at the
    bottom/right into one batch whose sides are multiples of ``size_divisible``. Returns
    ``(ImageList, targets)``; the targets are shallow copies, the caller's dicts are not
    modified. ``postprocess`` maps boxes back to the original image sizes and pastes
    masks into them.

    The resize relies on ``rustorch.nn.functional.interpolate``, which computes sample
    positions in float64 where PyTorch uses float32: resized pixels can differ from
    torchvision's by about 1e-5 (relative).
    """

    def __init__(
        self,
        min_size: Any,
        max_size: int,
        image_mean: list[float],
        image_std: list[float],
        size_divisible: int = 32,
        fixed_size: Optional[tuple[int, int]] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if not isinstance(min_size, (list, tuple)):
            min_size = (min_size,)
        self.min_size = min_size
        self.max_size = max_size
        self.image_mean = image_mean
        self.image_std = image_std
        self.size_divisible = size_divisible
        self.fixed_size = fixed_size
        self._skip_resize = kwargs.pop("_skip_resize", False)

    def forward(
        self, images: list[Tensor], targets: Optional[list[dict[str, Tensor]]] = None
    ) -> tuple[ImageList, Optional[list[dict[str, Tensor]]]]:
        images = list(images)
        if targets is not None:
            targets = [dict(t) for t in targets]  # copies: the caller's dicts stay as given
        for i, image in enumerate(images):
            target = targets[i] if targets is not None else None
            if image.dim() != 3:
                raise ValueError("images is expected to be a list of 3d tensors of shape "
                                 f"[C, H, W], got {tuple(image.shape)}")
            image = self.normalize(image)
            image, target = self.resize(image, target)
            images[i] = image
            if targets is not None and target is not None:
                targets[i] = target
        image_sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        batched = self.batch_images(images, size_divisible=self.size_divisible)
        return ImageList(batched, image_sizes), targets

    def normalize(self, image: Tensor) -> Tensor:
        if not image.is_floating_point():
            raise TypeError("Expected input images to be of floating type (in range [0, 1]), "
                            f"but found type {image.dtype} instead")
        mean = rustorch.as_tensor(self.image_mean, dtype=image.dtype, device=image.device)
        std = rustorch.as_tensor(self.image_std, dtype=image.dtype, device=image.device)
        return (image - mean[:, None, None]) / std[:, None, None]

    def torch_choice(self, k: list[int]) -> int:
        """``random.choice(k)`` drawn from rustorch's generator."""
        return k[int(rustorch.empty(1).uniform_(0.0, float(len(k))).item())]

    def resize(
        self, image: Tensor, target: Optional[dict[str, Tensor]] = None
    ) -> tuple[Tensor, Optional[dict[str, Tensor]]]:
        h, w = (int(s) for s in image.shape[-2:])
        if self.training:
            if self._skip_resize:
                return image, target
            size = self.torch_choice(list(self.min_size))
        else:
            size = self.min_size[-1]
        image, target = _resize_image_and_masks(image, size, self.max_size, target,
                                                self.fixed_size)
        if target is None:
            return image, target
        new_size = [int(s) for s in image.shape[-2:]]
        target["boxes"] = resize_boxes(target["boxes"], [h, w], new_size)
        if "keypoints" in target:
            target["keypoints"] = resize_keypoints(target["keypoints"], [h, w], new_size)
        return image, target

    def max_by_axis(self, the_list: list[list[int]]) -> list[int]:
        return [max(sizes) for sizes in zip(*the_list)]

    def batch_images(self, images: list[Tensor], size_divisible: int = 32) -> Tensor:
        """Zero-pad the images (bottom and right) to a common size rounded up to a multiple
        of ``size_divisible`` and stack them."""
        max_size = self.max_by_axis([[int(s) for s in img.shape] for img in images])
        stride = float(size_divisible)
        max_size[1] = int(math.ceil(float(max_size[1]) / stride) * stride)
        max_size[2] = int(math.ceil(float(max_size[2]) / stride) * stride)
        batched = images[0].new_full([len(images)] + max_size, 0)
        for i, img in enumerate(images):
            c, h, w = (int(s) for s in img.shape)
            batched[i, :c, :h, :w].copy_(img)
        return batched

    def postprocess(
        self,
        result: list[dict[str, Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, Tensor]]:
        if self.training:
            return result
        for pred, im_s, o_im_s in zip(result, image_shapes, original_image_sizes):
            boxes = resize_boxes(pred["boxes"], list(im_s), list(o_im_s))
            pred["boxes"] = boxes
            if "masks" in pred:
                pred["masks"] = paste_masks_in_image(pred["masks"], boxes, o_im_s)
            if "keypoints" in pred:
                pred["keypoints"] = resize_keypoints(pred["keypoints"], list(im_s), list(o_im_s))
        return result

    def __repr__(self) -> str:
        indent = "\n    "
        return (f"{self.__class__.__name__}("
                f"{indent}Normalize(mean={self.image_mean}, std={self.image_std})"
                f"{indent}Resize(min_size={self.min_size}, max_size={self.max_size}, "
                "mode='bilinear')\n)")
