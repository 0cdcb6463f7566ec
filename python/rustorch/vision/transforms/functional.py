"""Functional transforms, matching ``torchvision.transforms.functional``.

Every function accepts three kinds of image:

* a tensor ``(..., C, H, W)`` (``(H, W)`` is one channel): computed with rustorch tensor ops
  (``_functional_tensor``), on the tensor's device;
* a ``PIL.Image.Image``: computed by Pillow exactly as torchvision does (``_functional_pil``);
* an ``H x W`` or ``H x W x C`` NumPy array, which is what rustorch's datasets return where
  torchvision's return PIL images. Cropping, flipping and padding are plain indexing; every
  other operation converts the array to a PIL image, applies the PIL path and returns the
  result as an array again, so the pixels equal torchvision's on the PIL image. Those need
  Pillow (an ``ImportError`` says how to install it).

Pillow is optional: only PIL images, NumPy images needing resampling, and
:func:`to_pil_image` require it.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from enum import Enum
from typing import Any, Callable, Optional, Union

import numpy as np

import rustorch
from rustorch import Tensor

from . import _functional_pil as F_pil
from . import _functional_tensor as F_t
from ._functional_pil import is_pil_image as _is_pil_image
from ._functional_pil import require_pil

__all__ = [
    "InterpolationMode", "get_dimensions", "get_image_size", "get_image_num_channels",
    "to_tensor", "pil_to_tensor", "to_pil_image", "convert_image_dtype", "normalize", "resize",
    "pad", "crop", "center_crop", "resized_crop", "hflip", "vflip", "rotate", "affine",
    "rgb_to_grayscale", "to_grayscale", "adjust_brightness", "adjust_contrast",
    "adjust_saturation", "adjust_hue", "erase",
]


class InterpolationMode(Enum):
    """Interpolation modes (``torchvision.transforms.InterpolationMode``). Tensors support
    ``NEAREST``, ``NEAREST_EXACT``, ``BILINEAR`` and ``BICUBIC``; PIL images all but
    ``NEAREST_EXACT`` (which PIL treats as ``NEAREST``)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    # For PIL compatibility
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


pil_modes_mapping = {
    InterpolationMode.NEAREST: 0,
    InterpolationMode.BILINEAR: 2,
    InterpolationMode.BICUBIC: 3,
    InterpolationMode.NEAREST_EXACT: 0,
    InterpolationMode.BOX: 4,
    InterpolationMode.HAMMING: 5,
    InterpolationMode.LANCZOS: 1,
}

_INT_TO_MODE = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR,
                3: InterpolationMode.BICUBIC, 4: InterpolationMode.BOX,
                5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}


def _interpolation_modes_from_int(i: int) -> InterpolationMode:
    try:
        return _INT_TO_MODE[int(i)]
    except KeyError:
        raise ValueError(f"Unknown PIL interpolation constant {i}") from None


def _check_interpolation(interpolation: Any) -> InterpolationMode:
    if isinstance(interpolation, InterpolationMode):
        return interpolation
    if isinstance(interpolation, int):
        return _interpolation_modes_from_int(interpolation)
    raise TypeError(
        "Argument interpolation should be a InterpolationMode or a corresponding Pillow integer "
        "constant"
    )


# ----------------------------------------------------------------------------- image kinds


def _numpy_image(img: Any) -> bool:
    return isinstance(img, np.ndarray)


def _check_image(img: Any, fn: str) -> None:
    if not (isinstance(img, Tensor) or _is_pil_image(img) or _numpy_image(img)):
        raise TypeError(
            f"{fn}: img should be a Tensor, a PIL Image or a NumPy array. Got {type(img)}"
        )


def _via_pil(img: np.ndarray, fn: str, op: Callable[[Any], Any]) -> np.ndarray:
    """Apply the PIL operation ``op`` to a NumPy image and return the result as an array."""
    Image = require_pil(f"rustorch.vision.transforms.functional.{fn} on a NumPy image")
    arr = img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img
    out = np.array(op(Image.fromarray(np.ascontiguousarray(arr))), copy=True)
    if img.ndim == 3 and img.shape[2] == 1 and out.ndim == 2:
        out = out[:, :, None]
    return out


def get_dimensions(img: Any) -> list[int]:
    """``[channels, height, width]`` of an image."""
    if isinstance(img, Tensor):
        return F_t.get_dimensions(img)
    if _numpy_image(img):
        if img.ndim not in (2, 3):
            raise TypeError(f"NumPy image should be H x W or H x W x C, got shape {img.shape}")
        return [1 if img.ndim == 2 else int(img.shape[2]), int(img.shape[0]), int(img.shape[1])]
    return F_pil.get_dimensions(img)


def get_image_size(img: Any) -> list[int]:
    """``[width, height]`` of an image."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img: Any) -> int:
    return get_dimensions(img)[0]


# ----------------------------------------------------------------------------- conversion


def to_tensor(pic: Any) -> Tensor:
    """PIL image or ``H x W (x C)`` array to a ``C x H x W`` tensor; uint8 data is scaled to
    ``[0, 1]`` (default float dtype), other dtypes are kept unscaled, as torchvision."""
    if _is_pil_image(pic):
        mode_to_nptype = {"I": np.int32, "F": np.float32}
        arr = np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True)
        if pic.mode == "1":
            arr = arr * np.uint8(255)
        arr = arr.reshape(pic.size[1], pic.size[0], F_pil.get_image_num_channels(pic))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    img = rustorch.from_numpy(np.ascontiguousarray(arr.transpose((2, 0, 1))))
    if arr.dtype == np.uint8:
        return img.to(rustorch.get_default_dtype()).div(255)
    return img


def pil_to_tensor(pic: Any) -> Tensor:
    """PIL image to a ``C x H x W`` tensor of the image's own dtype (no scaling)."""
    if not _is_pil_image(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, copy=True)
    arr = arr.reshape(pic.size[1], pic.size[0], F_pil.get_image_num_channels(pic))
    return rustorch.from_numpy(np.ascontiguousarray(arr.transpose((2, 0, 1))))


_PERMITTED_MODES = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}
_DEFAULT_MODES = {2: "LA", 3: "RGB", 4: "RGBA"}


def to_pil_image(pic: Any, mode: Optional[str] = None) -> Any:
    """``C x H x W`` tensor or ``H x W x C`` array to a PIL image. Float tensors are
    converted with ``pic.mul(255).byte()`` (truncation) unless ``mode='F'``, as torchvision."""
    Image = require_pil("rustorch.vision.transforms.functional.to_pil_image")
    if isinstance(pic, Tensor):
        if pic.dim() not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.dim()} dimensions.")
        if pic.dim() == 2:
            pic = pic.unsqueeze(0)
        if int(pic.shape[-3]) > 4:
            raise ValueError(f"pic should not have > 4 channels. Got {pic.shape[-3]} channels.")
        if pic.is_floating_point() and mode != "F":
            pic = pic.mul(255).to(rustorch.uint8)
        npimg = np.transpose(pic.detach().cpu().numpy(), (1, 2, 0))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        npimg = np.expand_dims(pic, 2) if pic.ndim == 2 else pic
        if npimg.shape[-1] > 4:
            raise ValueError(f"pic should not have > 4 channels. Got {npimg.shape[-1]} channels.")
    else:
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")

    channels = npimg.shape[2]
    if channels == 1:
        npimg = npimg[:, :, 0]
        expected_mode = {np.dtype(np.uint8): "L", np.dtype(np.int16): "I;16",
                         np.dtype(np.int32): "I", np.dtype(np.float32): "F"}.get(npimg.dtype)
        if mode is not None and mode != expected_mode:
            raise ValueError(
                f"Incorrect mode ({mode}) supplied for input type {npimg.dtype}. Should be "
                f"{expected_mode}"
            )
        mode = expected_mode
    else:
        permitted = _PERMITTED_MODES[channels]
        if mode is not None and mode not in permitted:
            raise ValueError(f"Only modes {permitted} are supported for {channels}D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = _DEFAULT_MODES[channels]
    if mode is None:
        raise TypeError(f"Input type {npimg.dtype} is not supported")
    npimg = np.ascontiguousarray(npimg)
    if mode in ("L", "F", "I", "LA", "RGB", "RGBA") and (mode != "I" or npimg.dtype == np.int32):
        image = Image.fromarray(npimg)
        if image.mode == mode:
            return image
    return Image.frombytes(mode, (npimg.shape[1], npimg.shape[0]), npimg.tobytes())


def convert_image_dtype(image: Tensor, dtype: Any = rustorch.float32) -> Tensor:
    """Convert a tensor image to ``dtype`` and rescale its values (see torchvision)."""
    return F_t.convert_image_dtype(image, dtype)


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float],
              inplace: bool = False) -> Tensor:
    """``(tensor - mean[c]) / std[c]`` per channel of a float ``(..., C, H, W)`` tensor."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    return F_t.normalize(tensor, mean=mean, std=std, inplace=inplace)


# ----------------------------------------------------------------------------- geometry


def _compute_resized_output_size(image_size: tuple[int, int], size: Optional[list[int]],
                                 max_size: Optional[int] = None) -> list[int]:
    h, w = image_size
    short, long = (w, h) if w <= h else (h, w)
    if size is None:
        if max_size is None:
            raise ValueError("resize: size=None requires max_size to be set")
        new_short, new_long = int(max_size * short / long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    elif len(size) == 1:  # specified size only for the smallest edge
        requested_new_short = size[0]
        new_short, new_long = requested_new_short, int(requested_new_short * long / short)
        if max_size is not None:
            if max_size <= requested_new_short:
                raise ValueError(
                    f"max_size = {max_size} must be strictly greater than the requested size for "
                    f"the smaller edge size = {size}"
                )
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:  # specified both h and w
        new_w, new_h = size[1], size[0]
    return [new_h, new_w]


def resize(img: Any, size: Union[int, Sequence[int], None],
           interpolation: Union[InterpolationMode, int] = InterpolationMode.BILINEAR,
           max_size: Optional[int] = None, antialias: Optional[bool] = True) -> Any:
    """Resize to ``size``: ``(h, w)``, or an int / 1-sequence for the smaller edge (keeping
    the aspect ratio, optionally capping the longer edge at ``max_size``). Tensors use
    ``F.interpolate`` (``antialias`` for bilinear/bicubic); PIL images ``Image.resize``,
    which always antialiases."""
    interpolation = _check_interpolation(interpolation)
    _check_image(img, "resize")
    if isinstance(size, (list, tuple)):
        if len(size) not in [1, 2]:
            raise ValueError(
                f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element "
                "tuple/list"
            )
        if max_size is not None and len(size) != 1:
            raise ValueError(
                "max_size should only be passed if size specifies the length of the smaller "
                "edge, i.e. size should be an int or a sequence of length 1 in torchscript mode."
            )
    elif size is not None and not isinstance(size, int):
        raise TypeError(f"Size should be int or sequence. Got {type(size)}")
    _, image_height, image_width = get_dimensions(img)
    size_list = [size] if isinstance(size, int) else (None if size is None else list(size))
    output_size = _compute_resized_output_size((image_height, image_width), size_list, max_size)
    if [image_height, image_width] == output_size:
        return img
    if isinstance(img, Tensor):
        if interpolation.value not in ("nearest", "nearest-exact", "bilinear", "bicubic"):
            raise ValueError(
                f"Interpolation mode '{interpolation.value}' is unsupported with Tensor input"
            )
        return F_t.resize(img, output_size, interpolation.value, antialias)
    if antialias is False:
        warnings.warn("Anti-alias option is always applied for PIL Image input. Argument "
                      "antialias is ignored.", stacklevel=2)
    mode = pil_modes_mapping[interpolation]
    if _numpy_image(img):
        return _via_pil(img, "resize", lambda p: F_pil.resize(p, output_size, mode))
    return F_pil.resize(img, output_size, mode)


def _parse_pad(padding: Union[int, Sequence[int]]) -> list[int]:
    """``(left, top, right, bottom)`` from torchvision's 1-, 2- or 4-element padding."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return [p, p, p, p]
    padding = list(padding)
    if len(padding) == 1:
        return [int(padding[0])] * 4
    if len(padding) == 2:
        return [int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])]
    if len(padding) == 4:
        return [int(p) for p in padding]
    raise ValueError(
        f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple"
    )


def pad(img: Any, padding: Union[int, Sequence[int]], fill: Any = 0,
        padding_mode: str = "constant") -> Any:
    """Pad by ``p``, ``(left/right, top/bottom)`` or ``(left, top, right, bottom)`` in mode
    ``constant`` (value ``fill``), ``edge``, ``reflect`` or ``symmetric``."""
    _check_image(img, "pad")
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if fill is not None and not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg")
    if padding_mode not in ["constant", "edge", "reflect", "symmetric"]:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    ltrb = _parse_pad(padding)
    if isinstance(img, Tensor):
        if isinstance(fill, (tuple, list)):
            if len(fill) != 1:
                raise TypeError("Tensor pad: fill should be a number (per-channel fill is not "
                                f"supported for tensors), got {fill}")
            fill = fill[0]
        return F_t.pad(img, ltrb, fill=fill, padding_mode=padding_mode)
    if _numpy_image(img):
        left, top, right, bottom = ltrb
        if min(ltrb) < 0:  # negative padding crops
            h, w = img.shape[:2]
            img = img[max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]
            left, top, right, bottom = (max(p, 0) for p in ltrb)
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        if padding_mode == "constant":
            value = 0 if fill is None else fill
            if isinstance(value, (tuple, list)):
                if img.ndim == 2 or len(value) == 1:
                    value = value[0]
                elif len(value) != img.shape[2]:
                    raise ValueError(
                        "The number of elements in 'fill' does not match the number of "
                        f"channels of the image ({len(value)} != {img.shape[2]})"
                    )
                else:
                    return np.stack([np.pad(img[:, :, c], widths[:2], constant_values=value[c])
                                     for c in range(img.shape[2])], axis=2)
            return np.pad(img, widths, mode="constant", constant_values=value)
        return np.pad(img, widths, mode=padding_mode)
    return F_pil.pad(img, ltrb, fill=fill, padding_mode=padding_mode)


def crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    """The box ``[top, top + height) x [left, left + width)``; parts outside the image are
    zero."""
    _check_image(img, "crop")
    if isinstance(img, Tensor):
        return F_t.crop(img, top, left, height, width)
    if _numpy_image(img):
        h, w = img.shape[:2]
        right, bottom = left + width, top + height
        if left < 0 or top < 0 or right > w or bottom > h:
            ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                    max(right - max(w, left), 0), max(bottom - max(h, top), 0)]
            return pad(img[max(top, 0):bottom, max(left, 0):right], ltrb, fill=0)
        return np.ascontiguousarray(img[top:bottom, left:right])
    return F_pil.crop(img, top, left, height, width)


def center_crop(img: Any, output_size: Union[int, Sequence[int]]) -> Any:
    """Crop the centre ``output_size`` box (zero-padding first if the image is smaller)."""
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    _, image_height, image_width = get_dimensions(img)
    crop_height, crop_width = output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)  # PIL uses fill value 0
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def resized_crop(img: Any, top: int, left: int, height: int, width: int, size: list[int],
                 interpolation: Union[InterpolationMode, int] = InterpolationMode.BILINEAR,
                 antialias: Optional[bool] = True) -> Any:
    """``resize(crop(img, top, left, height, width), size, interpolation)``."""
    img = crop(img, top, left, height, width)
    return resize(img, size, interpolation, antialias=antialias)


def hflip(img: Any) -> Any:
    """Flip left-right."""
    _check_image(img, "hflip")
    if isinstance(img, Tensor):
        return F_t.hflip(img)
    if _numpy_image(img):
        return np.ascontiguousarray(img[:, ::-1])
    return F_pil.hflip(img)


def vflip(img: Any) -> Any:
    """Flip top-bottom."""
    _check_image(img, "vflip")
    if isinstance(img, Tensor):
        return F_t.vflip(img)
    if _numpy_image(img):
        return np.ascontiguousarray(img[::-1])
    return F_pil.vflip(img)


def _get_inverse_affine_matrix(center: list[float], angle: float, translate: list[float],
                               scale: float, shear: list[float],
                               inverted: bool = True) -> list[float]:
    """torchvision's ``_get_inverse_affine_matrix``: the (inverse) of
    ``T * C * RotateScaleShear * C^-1`` as a flat 2x3 matrix."""
    rot = math.radians(angle)
    sx = math.radians(shear[0])
    sy = math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    if inverted:
        matrix = [d, -b, 0.0, -c, a, 0.0]
        matrix = [x / scale for x in matrix]
        matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
        matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
        matrix[2] += cx
        matrix[5] += cy
    else:
        matrix = [a, b, 0.0, c, d, 0.0]
        matrix = [x * scale for x in matrix]
        matrix[2] += matrix[0] * (-cx) + matrix[1] * (-cy)
        matrix[5] += matrix[3] * (-cx) + matrix[4] * (-cy)
        matrix[2] += cx + tx
        matrix[5] += cy + ty
    return matrix


def _tensor_fill(fill: Any) -> Any:
    if fill is None or isinstance(fill, (list, tuple)):
        return None if fill is None else [float(f) for f in fill]
    return [float(fill)]


def rotate(img: Any, angle: float,
           interpolation: Union[InterpolationMode, int] = InterpolationMode.NEAREST,
           expand: bool = False, center: Optional[list[int]] = None,
           fill: Optional[list[float]] = None) -> Any:
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (default: the image
    centre). Tensors sample an affine grid with ``grid_sample`` (``NEAREST`` or
    ``BILINEAR``); PIL images use ``Image.rotate``. With ``expand=True`` the tensor output
    size follows torchvision's tensor rule (corners rounded outwards from the centre, so an
    odd side can grow by one pixel where PIL's ``rotate`` does not), as torchvision."""
    interpolation = _check_interpolation(interpolation)
    _check_image(img, "rotate")
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError("Argument center should be a sequence")
    if not isinstance(img, Tensor):
        mode = pil_modes_mapping[interpolation]
        op = lambda p: F_pil.rotate(p, angle=angle, interpolation=mode,  # noqa: E731
                                    expand=expand, center=center, fill=fill)
        return _via_pil(img, "rotate", op) if _numpy_image(img) else op(img)
    center_f = [0.0, 0.0]
    if center is not None:
        _, height, width = get_dimensions(img)
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    # rotate and affine disagree on the sign of the angle (as torchvision)
    matrix = _get_inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    return F_t.rotate(img, matrix=matrix, interpolation=interpolation.value, expand=expand,
                      fill=_tensor_fill(fill))


def affine(img: Any, angle: float, translate: list[int], scale: float, shear: list[float],
           interpolation: Union[InterpolationMode, int] = InterpolationMode.NEAREST,
           fill: Optional[list[float]] = None, center: Optional[list[int]] = None) -> Any:
    """Apply the affine map ``translate * centre * rotate(angle) * scale * shear *
    centre^-1``, keeping the image size (see torchvision for the argument conventions)."""
    interpolation = _check_interpolation(interpolation)
    _check_image(img, "affine")
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    if not isinstance(translate, (list, tuple)):
        raise TypeError("Argument translate should be a sequence")
    if len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if not isinstance(shear, (numbers.Number, list, tuple)):
        raise TypeError("Shear should be either a single value or a sequence of two values")
    angle = float(angle)
    translate = list(translate)
    if isinstance(shear, numbers.Number):
        shear = [float(shear), 0.0]
    shear = list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError("Argument center should be a sequence")
    _, height, width = get_dimensions(img)
    if not isinstance(img, Tensor):
        pil_center = [width * 0.5, height * 0.5] if center is None else list(center)
        matrix = _get_inverse_affine_matrix(pil_center, angle, translate, scale, shear)
        mode = pil_modes_mapping[interpolation]
        op = lambda p: F_pil.affine(p, matrix=matrix, interpolation=mode, fill=fill)  # noqa: E731
        return _via_pil(img, "affine", op) if _numpy_image(img) else op(img)
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    translate_f = [1.0 * t for t in translate]
    matrix = _get_inverse_affine_matrix(center_f, angle, translate_f, scale, shear)
    return F_t.affine(img, matrix=matrix, interpolation=interpolation.value,
                      fill=_tensor_fill(fill))


# ----------------------------------------------------------------------------- colour


def rgb_to_grayscale(img: Any, num_output_channels: int = 1) -> Any:
    """Luma ``0.2989 R + 0.587 G + 0.114 B`` (tensors) / ``convert('L')`` (PIL), repeated to
    3 channels if ``num_output_channels == 3``."""
    _check_image(img, "rgb_to_grayscale")
    if isinstance(img, Tensor):
        return F_t.rgb_to_grayscale(img, num_output_channels)
    if _numpy_image(img):
        return _via_pil(img, "rgb_to_grayscale",
                        lambda p: F_pil.to_grayscale(p, num_output_channels))
    return F_pil.to_grayscale(img, num_output_channels)


def to_grayscale(img: Any, num_output_channels: int = 1) -> Any:
    """Alias of :func:`rgb_to_grayscale` (torchvision keeps it for PIL images)."""
    return rgb_to_grayscale(img, num_output_channels)


def _colour(fn: str, img: Any, factor: float) -> Any:
    _check_image(img, fn)
    if isinstance(img, Tensor):
        return getattr(F_t, fn)(img, factor)
    pil_fn = getattr(F_pil, fn)
    if fn == "adjust_hue" and not (-0.5 <= factor <= 0.5):
        raise ValueError(f"hue_factor ({factor}) is not in [-0.5, 0.5].")
    if fn != "adjust_hue" and factor < 0:
        raise ValueError(f"{fn[len('adjust_'):]}_factor ({factor}) is not non-negative.")
    if _numpy_image(img):
        return _via_pil(img, fn, lambda p: pil_fn(p, factor))
    return pil_fn(img, factor)


def adjust_brightness(img: Any, brightness_factor: float) -> Any:
    """Blend with black: ``factor * img``, clamped to the image range (0 gives black)."""
    return _colour("adjust_brightness", img, brightness_factor)


def adjust_contrast(img: Any, contrast_factor: float) -> Any:
    """Blend with the mean of the grayscale image: ``f * img + (1 - f) * mean(gray)``."""
    return _colour("adjust_contrast", img, contrast_factor)


def adjust_saturation(img: Any, saturation_factor: float) -> Any:
    """Blend with the grayscale image: ``f * img + (1 - f) * gray``."""
    return _colour("adjust_saturation", img, saturation_factor)


def adjust_hue(img: Any, hue_factor: float) -> Any:
    """Shift the hue by ``hue_factor`` in ``[-0.5, 0.5]`` (fraction of a turn of the HSV
    hue circle)."""
    return _colour("adjust_hue", img, hue_factor)


def erase(img: Tensor, i: int, j: int, h: int, w: int, v: Any, inplace: bool = False) -> Tensor:
    """Set ``img[..., i:i+h, j:j+w] = v`` (tensors only, as torchvision)."""
    if not isinstance(img, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(img)}")
    return F_t.erase(img, i, j, h, w, v, inplace=inplace)
