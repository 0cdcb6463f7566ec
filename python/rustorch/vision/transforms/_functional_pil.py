"""PIL implementations of the functional transforms (``torchvision.transforms._functional_pil``).

Pillow is optional: nothing here imports it at module level. :func:`require_pil` imports it
on first use and raises an ``ImportError`` that says how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

__all__ = ["require_pil", "is_pil_image"]

_PIL_IMAGE_CLASS: Any = None  # resolved once: PIL.Image.Image, or False without Pillow


def require_pil(what: str) -> Any:
    """Return the ``PIL.Image`` module, or raise ``ImportError`` naming ``what`` needed it."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{what} needs Pillow, which is not installed: pip install pillow "
            "(or pip install rustorch[vision])"
        ) from e
    return Image


def is_pil_image(img: Any) -> bool:
    """Whether ``img`` is a ``PIL.Image.Image`` (always False without Pillow)."""
    global _PIL_IMAGE_CLASS
    if isinstance(img, np.ndarray) or hasattr(img, "is_floating_point"):
        return False
    if _PIL_IMAGE_CLASS is None:
        try:
            from PIL import Image

            _PIL_IMAGE_CLASS = Image.Image
        except ImportError:  # pragma: no cover - depends on the environment
            _PIL_IMAGE_CLASS = False
    return bool(_PIL_IMAGE_CLASS) and isinstance(img, _PIL_IMAGE_CLASS)


def _check(img: Any) -> None:
    if not is_pil_image(img):
        raise TypeError(f"img should be PIL Image. Got {type(img)}")


def get_image_num_channels(img: Any) -> int:
    _check(img)
    if hasattr(img, "getbands"):
        return len(img.getbands())
    return img.channels  # pragma: no cover - accimage


def get_dimensions(img: Any) -> list[int]:
    _check(img)
    width, height = img.size
    return [get_image_num_channels(img), height, width]


def _parse_fill(fill: Any, img: Any, name: str = "fillcolor") -> dict[str, Any]:
    """Fill colour as PIL wants it (``torchvision``'s ``_parse_fill``)."""
    num_channels = get_image_num_channels(img)
    if fill is None:
        fill = 0
    if isinstance(fill, (int, float)) and num_channels > 1:
        fill = tuple([fill] * num_channels)
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = tuple(fill) * num_channels
        elif len(fill) != num_channels:
            raise ValueError(
                "The number of elements in 'fill' does not match the number of channels of the "
                f"image ({len(fill)} != {num_channels})"
            )
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(x) for x in fill) if isinstance(fill, tuple) else int(fill)
    return {name: fill}


def hflip(img: Any) -> Any:
    _check(img)
    Image = require_pil("hflip")
    return img.transpose(Image.FLIP_LEFT_RIGHT)


def vflip(img: Any) -> Any:
    _check(img)
    Image = require_pil("vflip")
    return img.transpose(Image.FLIP_TOP_BOTTOM)


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    _check(img)
    return img.crop((left, top, left + width, top + height))


def pad(img: Any, padding: Union[int, Sequence[int]], fill: Any = 0,
        padding_mode: str = "constant") -> Any:
    """``torchvision``'s PIL pad: ``ImageOps.expand`` for ``constant``, ``np.pad`` otherwise."""
    _check(img)
    Image = require_pil("pad")
    from PIL import ImageOps

    left, top, right, bottom = padding  # already (l, t, r, b)
    if padding_mode == "constant":
        opts = _parse_fill(fill, img, name="fill")
        if img.mode == "P":
            palette = img.getpalette()
            image = ImageOps.expand(img, border=(left, top, right, bottom), **opts)
            image.putpalette(palette)
            return image
        return ImageOps.expand(img, border=(left, top, right, bottom), **opts)
    if img.mode == "P":
        palette = img.getpalette()
        arr = np.pad(np.asarray(img), ((top, bottom), (left, right)), padding_mode)
        image = Image.fromarray(arr)
        image.putpalette(palette)
        return image
    arr = np.asarray(img)
    widths = ((top, bottom), (left, right)) + (((0, 0),) if arr.ndim == 3 else ())
    return Image.fromarray(np.pad(arr, widths, padding_mode))


def resize(img: Any, size: list[int], interpolation: int) -> Any:
    _check(img)
    return img.resize(tuple(size[::-1]), interpolation)


def rotate(img: Any, angle: float, interpolation: int = 0, expand: bool = False,
           center: Optional[list[int]] = None, fill: Any = None) -> Any:
    _check(img)
    opts = _parse_fill(fill, img)
    return img.rotate(angle, interpolation, expand, center, **opts)


def affine(img: Any, matrix: list[float], interpolation: int = 0, fill: Any = None) -> Any:
    _check(img)
    Image = require_pil("affine")
    output_size = img.size
    opts = _parse_fill(fill, img)
    return img.transform(output_size, Image.AFFINE, matrix, interpolation, **opts)


def to_grayscale(img: Any, num_output_channels: int) -> Any:
    _check(img)
    Image = require_pil("rgb_to_grayscale")
    if num_output_channels == 1:
        return img.convert("L")
    if num_output_channels == 3:
        np_img = np.array(img.convert("L"), dtype=np.uint8)
        return Image.fromarray(np.dstack([np_img, np_img, np_img]), "RGB")
    raise ValueError("num_output_channels should be either 1 or 3")


def _enhance(kind: str, img: Any, factor: float) -> Any:
    _check(img)
    require_pil(f"adjust_{kind}")
    from PIL import ImageEnhance

    cls = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast,
           "saturation": ImageEnhance.Color}[kind]
    return cls(img).enhance(factor)


def adjust_brightness(img: Any, brightness_factor: float) -> Any:
    return _enhance("brightness", img, brightness_factor)


def adjust_contrast(img: Any, contrast_factor: float) -> Any:
    return _enhance("contrast", img, contrast_factor)


def adjust_saturation(img: Any, saturation_factor: float) -> Any:
    return _enhance("saturation", img, saturation_factor)


def adjust_hue(img: Any, hue_factor: float) -> Any:
    """Shift the H channel of ``img.convert('HSV')`` by ``int(hue_factor * 255)`` mod 256."""
    _check(img)
    Image = require_pil("adjust_hue")
    input_mode = img.mode
    if input_mode in {"L", "1", "I", "F"}:
        return img
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    np_h += np.uint8(int(hue_factor * 255) % 256)  # wraps around, as torchvision
    h = Image.fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert(input_mode)
