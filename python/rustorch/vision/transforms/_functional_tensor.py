"""Tensor implementations of the functional transforms
(``torchvision.transforms._functional_tensor``).

Images are tensors of shape ``(..., C, H, W)`` (``(H, W)`` is one channel), float in
``[0, 1]`` or integer in ``[0, max]``. Everything is composed from rustorch tensor ops
(indexing, ``F.pad``, ``F.interpolate``, ``F.grid_sample``, ``matmul``), so results stay on
the input's device and differentiable where the ops are. Only tiny parameter arrays (index
vectors, 2x3 matrices) are computed on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

import rustorch
import rustorch.nn.functional as F
from rustorch import Tensor

__all__: list[str] = []


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


_INT_MAX = {"uint8": 255, "int8": 127, "int16": 32767, "int32": 2**31 - 1, "int64": 2**63 - 1,
            "bool": 1}


def _max_value(dtype: Any) -> float:
    """Largest pixel value of an image of ``dtype``: 1.0 for floats, the integer maximum else."""
    return float(_INT_MAX.get(_dtype_name(dtype), 1.0))


def _is_float(dtype: Any) -> bool:
    return _dtype_name(dtype) in ("float16", "bfloat16", "float32", "float64")


def _assert_image_tensor(img: Any) -> None:
    if not isinstance(img, Tensor) or img.dim() < 2:
        raise TypeError("Tensor is not a torch image.")


def get_dimensions(img: Tensor) -> list[int]:
    _assert_image_tensor(img)
    channels = 1 if img.dim() == 2 else int(img.shape[-3])
    return [channels, int(img.shape[-2]), int(img.shape[-1])]


def _assert_channels(img: Tensor, permitted: list[int]) -> None:
    c = get_dimensions(img)[0]
    if c not in permitted:
        raise TypeError(
            f"Input image tensor permitted channel values are {permitted}, but found {c}"
        )


def _to_4d(img: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """``(N, C, H, W)`` view of an image tensor of any rank >= 2, and the shape to restore."""
    shape = tuple(int(s) for s in img.shape)
    if img.dim() == 2:
        return img.reshape(1, 1, *shape), shape
    return img.reshape(-1, *shape[-3:]), shape


def _from_4d(img: Tensor, shape: tuple[int, ...]) -> Tensor:
    return img.reshape(*shape[:-2], int(img.shape[-2]), int(img.shape[-1]))


def _cast_out(img: Tensor, out_dtype: Any) -> Tensor:
    """Round floats back to an integer image dtype (``_cast_squeeze_out``: no clamp)."""
    if _dtype_name(img.dtype) == _dtype_name(out_dtype):
        return img
    if not _is_float(out_dtype):
        img = img.round()
    return img.to(out_dtype)


# ------------------------------------------------------------------------------ geometry


def _reversed(n: int, device: Any) -> Tensor:
    return rustorch.arange(n - 1, -1, -1, device=device)


def hflip(img: Tensor) -> Tensor:
    _assert_image_tensor(img)
    return img.index_select(-1, _reversed(int(img.shape[-1]), img.device))


def vflip(img: Tensor) -> Tensor:
    _assert_image_tensor(img)
    return img.index_select(-2, _reversed(int(img.shape[-2]), img.device))


def crop(img: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    """``img[..., top:top+height, left:left+width]``, zero-padded where the box leaves the
    image (as torchvision)."""
    _assert_image_tensor(img)
    _, h, w = get_dimensions(img)
    right = left + width
    bottom = top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        padding_ltrb = [
            max(-left + min(0, right), 0),
            max(-top + min(0, bottom), 0),
            max(right - max(w, left), 0),
            max(bottom - max(h, top), 0),
        ]
        return pad(img[..., max(top, 0):bottom, max(left, 0):right], padding_ltrb, fill=0)
    return img[..., top:bottom, left:right]


def _pad_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of every output position of a 1-D ``edge``/``reflect``/``symmetric`` pad
    (negative widths crop)."""
    idx = np.arange(-before, size + after)
    if mode == "edge":
        return np.clip(idx, 0, size - 1)
    if mode == "reflect":
        if before >= size or after >= size:
            raise ValueError(
                f"Padding size should be less than the corresponding input dimension, but got: "
                f"padding ({before}, {after}) at dimension of size {size}"
            )
        idx = np.abs(idx)
        return np.where(idx >= size, 2 * (size - 1) - idx, idx)
    # symmetric: the edge pixel is repeated
    if before > size or after > size:
        raise ValueError(
            f"Padding size should be at most the corresponding input dimension for symmetric "
            f"padding, but got: padding ({before}, {after}) at dimension of size {size}"
        )
    idx = np.where(idx < 0, -idx - 1, idx)
    return np.where(idx >= size, 2 * size - 1 - idx, idx)


def pad(img: Tensor, padding: Sequence[int], fill: Union[int, float] = 0,
        padding_mode: str = "constant") -> Tensor:
    """Pad the last two dims by ``(left, top, right, bottom)``: ``F.pad`` for ``constant``;
    ``edge``/``reflect``/``symmetric`` gather rows and columns with ``index_select``."""
    _assert_image_tensor(img)
    left, top, right, bottom = (int(p) for p in padding)
    if padding_mode == "constant":
        if fill is None:
            fill = 0
        if not isinstance(fill, (int, float)):
            raise TypeError(f"Tensor pad: fill should be a number, got {type(fill).__name__}")
        return F.pad(img, [left, right, top, bottom], mode="constant", value=float(fill))
    _, h, w = get_dimensions(img)
    rows = _pad_index(h, top, bottom, padding_mode)
    cols = _pad_index(w, left, right, padding_mode)
    out = img.index_select(-2, rustorch.as_tensor(rows, device=img.device))
    return out.index_select(-1, rustorch.as_tensor(cols, device=img.device))


def resize(img: Tensor, size: list[int], interpolation: str = "bilinear",
           antialias: Optional[bool] = True) -> Tensor:
    """``F.interpolate`` to ``size = [h, w]`` (integer images go through float32, are
    rounded back, and clamped to [0, 255] for uint8 bicubic, as torchvision)."""
    _assert_image_tensor(img)
    if antialias is None:
        antialias = False
    if antialias and interpolation not in ("bilinear", "bicubic"):
        antialias = False  # irrelevant for the other modes (torchvision ignores it too)
    x, shape = _to_4d(img)
    out_dtype = img.dtype
    if not _is_float(img.dtype):
        x = x.to(rustorch.float32)
    align_corners = False if interpolation in ("bilinear", "bicubic") else None
    x = F.interpolate(x, size=[int(s) for s in size], mode=interpolation,
                      align_corners=align_corners, antialias=bool(antialias))
    if interpolation == "bicubic" and _dtype_name(out_dtype) == "uint8":
        x = x.clamp(min=0, max=255)
    return _from_4d(_cast_out(x, out_dtype), shape)


def _gen_affine_grid(theta: Tensor, w: int, h: int, ow: int, oh: int) -> Tensor:
    """torchvision's ``_gen_affine_grid``: an ``oh x ow`` grid of pixel-centre coordinates
    (origin at the image centre), mapped by ``theta`` and normalised by the *input* size."""
    d = 0.5
    dtype, device = theta.dtype, theta.device
    x_grid = rustorch.linspace(-ow * 0.5 + d, ow * 0.5 + d - 1, steps=ow, dtype=dtype,
                               device=device)
    y_grid = rustorch.linspace(-oh * 0.5 + d, oh * 0.5 + d - 1, steps=oh, dtype=dtype,
                               device=device)
    base_grid = rustorch.stack(
        [x_grid.expand(oh, ow), y_grid.unsqueeze(-1).expand(oh, ow),
         rustorch.ones(oh, ow, dtype=dtype, device=device)], dim=-1)
    scale = rustorch.tensor([0.5 * w, 0.5 * h], dtype=dtype, device=device)
    rescaled_theta = theta.transpose(1, 2) / scale
    output_grid = base_grid.reshape(1, oh * ow, 3).bmm(rescaled_theta)
    return output_grid.reshape(1, oh, ow, 2)


def _apply_grid_transform(img: Tensor, grid: Tensor, mode: str,
                          fill: Optional[Union[float, list[float]]]) -> Tensor:
    """``grid_sample`` (zeros padding, ``align_corners=False``); with ``fill``, a ones channel
    is sampled along and the outside is replaced (nearest) or blended (bilinear) with it."""
    x, shape = _to_4d(img)
    out_dtype = img.dtype
    if _dtype_name(x.dtype) != _dtype_name(grid.dtype):
        x = x.to(grid.dtype)
    n = int(x.shape[0])
    if n > 1:
        grid = grid.expand(n, *[int(s) for s in grid.shape[1:]])
    if fill is not None:
        mask = rustorch.ones(n, 1, int(x.shape[2]), int(x.shape[3]), dtype=x.dtype,
                             device=x.device)
        x = rustorch.cat((x, mask), dim=1)
    x = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask = x[:, -1:, :, :]
        x = x[:, :-1, :, :]
        mask = mask.expand_as(x)
        fill_list = list(fill) if isinstance(fill, (tuple, list)) else [float(fill)]
        fill_img = rustorch.tensor(fill_list, dtype=x.dtype, device=x.device)
        fill_img = fill_img.reshape(1, len(fill_list), 1, 1).expand_as(x)
        if mode == "nearest":
            x = rustorch.where(mask < 0.5, fill_img, x)
        else:
            x = x * mask + (1.0 - mask) * fill_img
    return _from_4d(_cast_out(x, out_dtype), shape)


def _assert_grid_transform_inputs(img: Tensor, matrix: Optional[list[float]], interpolation: str,
                                  fill: Any, supported: list[str]) -> None:
    _assert_image_tensor(img)
    if matrix is not None and (not isinstance(matrix, list) or len(matrix) != 6):
        raise ValueError("Argument matrix should be a list of 6 floats")
    if fill is not None and not isinstance(fill, (int, float, tuple, list)):
        raise TypeError("Argument fill should be either int, float, tuple or list")
    num_channels = get_dimensions(img)[0]
    if isinstance(fill, (tuple, list)) and len(fill) > 1 and len(fill) != num_channels:
        raise ValueError(
            "The number of elements in 'fill' cannot broadcast to match the number of channels "
            f"of the image ({len(fill)} != {num_channels})"
        )
    if interpolation not in supported:
        raise ValueError(f"Interpolation mode '{interpolation}' is unsupported with Tensor input")


def _grid_dtype(img: Tensor) -> Any:
    return img.dtype if _is_float(img.dtype) else rustorch.float32


def affine(img: Tensor, matrix: list[float], interpolation: str = "nearest",
           fill: Optional[Union[float, list[float]]] = None) -> Tensor:
    _assert_grid_transform_inputs(img, matrix, interpolation, fill, ["nearest", "bilinear"])
    theta = rustorch.tensor(matrix, dtype=_grid_dtype(img), device=img.device).reshape(1, 2, 3)
    _, h, w = get_dimensions(img)
    grid = _gen_affine_grid(theta, w=w, h=h, ow=w, oh=h)
    return _apply_grid_transform(img, grid, interpolation, fill=fill)


def _compute_affine_output_size(matrix: list[float], w: int, h: int) -> tuple[int, int]:
    """Bounding box of the transformed corners (PIL's ``rotate(expand=True)`` rule), in
    float32 and truncated to 1e-4 as torchvision."""
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, 0.5 * h, 1.0], [0.5 * w, -0.5 * h, 1.0]], dtype=np.float32)
    theta = np.array(matrix, dtype=np.float32).reshape(2, 3)
    new_pts = pts @ theta.T
    half = np.array([w * 0.5, h * 0.5], dtype=np.float32)
    min_vals = new_pts.min(axis=0) + half
    max_vals = new_pts.max(axis=0) + half
    tol = np.float32(1e-4)
    cmax = np.ceil(np.trunc(max_vals / tol) * tol)
    cmin = np.floor(np.trunc(min_vals / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def rotate(img: Tensor, matrix: list[float], interpolation: str = "nearest", expand: bool = False,
           fill: Optional[Union[float, list[float]]] = None) -> Tensor:
    _assert_grid_transform_inputs(img, matrix, interpolation, fill, ["nearest", "bilinear"])
    _, h, w = get_dimensions(img)
    ow, oh = _compute_affine_output_size(matrix, w, h) if expand else (w, h)
    theta = rustorch.tensor(matrix, dtype=_grid_dtype(img), device=img.device).reshape(1, 2, 3)
    grid = _gen_affine_grid(theta, w=w, h=h, ow=ow, oh=oh)
    return _apply_grid_transform(img, grid, interpolation, fill=fill)


# ------------------------------------------------------------------------------ colour


def _blend(img1: Tensor, img2: Tensor, ratio: float) -> Tensor:
    ratio = float(ratio)
    bound = _max_value(img1.dtype)
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, bound).to(img1.dtype)


def rgb_to_grayscale(img: Tensor, num_output_channels: int = 1) -> Tensor:
    """ITU-R 601-2 luma ``0.2989 R + 0.587 G + 0.114 B`` (cast back to the input dtype, so
    integer images are truncated, as torchvision)."""
    if img.dim() < 3:
        raise TypeError(
            f"Input image tensor should have at least 3 dimensions, but found {img.dim()}"
        )
    _assert_channels(img, [1, 3])
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if int(img.shape[-3]) == 3:
        r, g, b = img.unbind(dim=-3)
        l_img = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)
    else:
        l_img = img.clone()
    if num_output_channels == 3:
        return l_img.expand(*img.shape)
    return l_img


def adjust_brightness(img: Tensor, brightness_factor: float) -> Tensor:
    if brightness_factor < 0:
        raise ValueError(f"brightness_factor ({brightness_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [1, 3])
    return _blend(img, rustorch.zeros_like(img), brightness_factor)


def adjust_contrast(img: Tensor, contrast_factor: float) -> Tensor:
    if contrast_factor < 0:
        raise ValueError(f"contrast_factor ({contrast_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [3, 1])
    c = get_dimensions(img)[0]
    dtype = img.dtype if _is_float(img.dtype) else rustorch.float32
    gray = rgb_to_grayscale(img) if c == 3 else img
    mean = gray.to(dtype).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(img, mean, contrast_factor)


def adjust_saturation(img: Tensor, saturation_factor: float) -> Tensor:
    if saturation_factor < 0:
        raise ValueError(f"saturation_factor ({saturation_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [1, 3])
    if get_dimensions(img)[0] == 1:  # Match PIL behaviour
        return img
    return _blend(img, rgb_to_grayscale(img), saturation_factor)


def _rgb2hsv(img: Tensor) -> Tensor:
    r, g, b = img.unbind(dim=-3)
    maxc = img.amax(dim=-3)
    minc = img.amin(dim=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = rustorch.ones_like(maxc)
    s = cr / rustorch.where(eqc, ones, maxc)
    cr_divisor = rustorch.where(eqc, ones, cr)
    rc = (maxc - r) / cr_divisor
    gc = (maxc - g) / cr_divisor
    bc = (maxc - b) / cr_divisor
    is_r = maxc == r
    is_g = (maxc == g) & (maxc != r)
    is_b = (maxc != g) & (maxc != r)
    h = (is_r.to(img.dtype) * (bc - gc) + is_g.to(img.dtype) * (2.0 + rc - bc)
         + is_b.to(img.dtype) * (4.0 + gc - rc))
    h = (h / 6.0 + 1.0).remainder(1.0)
    return rustorch.stack((h, s, maxc), dim=-3)


def _hsv2rgb(img: Tensor) -> Tensor:
    h, s, v = img.unbind(dim=-3)
    i = (h * 6.0).floor()
    f = (h * 6.0) - i
    i = i.to(rustorch.int32).remainder(6)
    p = (v * (1.0 - s)).clamp(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0)
    sectors = rustorch.arange(6, device=i.device, dtype=rustorch.int32).reshape(-1, 1, 1)
    mask = (i.unsqueeze(dim=-3) == sectors).to(img.dtype)
    a1 = rustorch.stack((v, q, p, p, t, v), dim=-3)
    a2 = rustorch.stack((t, v, v, q, p, p), dim=-3)
    a3 = rustorch.stack((p, p, t, v, v, q), dim=-3)
    a4 = rustorch.stack((a1, a2, a3), dim=-4)
    return rustorch.einsum("...ijk, ...xijk -> ...xjk", mask, a4)


def adjust_hue(img: Tensor, hue_factor: float) -> Tensor:
    """Rotate the hue in HSV space by ``hue_factor`` turns (torchvision's ``_rgb2hsv`` /
    ``_hsv2rgb``, computed in float32)."""
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    if not isinstance(img, Tensor):
        raise TypeError("Input img should be Tensor image")
    _assert_channels(img, [1, 3])
    if get_dimensions(img)[0] == 1:  # Match PIL behaviour
        return img
    orig_dtype = img.dtype
    img = convert_image_dtype(img, rustorch.float32)
    h, s, v = _rgb2hsv(img).unbind(dim=-3)
    h = (h + hue_factor).remainder(1.0)
    img_hue_adj = _hsv2rgb(rustorch.stack((h, s, v), dim=-3))
    return convert_image_dtype(img_hue_adj, orig_dtype)


# ------------------------------------------------------------------------------ dtype, erase


def convert_image_dtype(image: Tensor, dtype: Any = rustorch.float32) -> Tensor:
    """Convert and rescale: int -> float divides by the int maximum; float -> int multiplies
    by ``max + 1 - 1e-3`` and truncates; int -> int shifts by powers of two (torchvision)."""
    if not isinstance(image, Tensor):
        raise TypeError("Input img should be Tensor Image")
    if _dtype_name(image.dtype) == _dtype_name(dtype):
        return image
    if _is_float(image.dtype):
        if _is_float(dtype):
            return image.to(dtype)
        src, dst = _dtype_name(image.dtype), _dtype_name(dtype)
        if (src == "float32" and dst in ("int32", "int64")) or (
            src == "float64" and dst == "int64"
        ):
            raise RuntimeError(
                f"The cast from {image.dtype} to {dtype} cannot be performed safely."
            )
        eps = 1e-3
        max_val = _max_value(dtype)
        return image.mul(max_val + 1.0 - eps).to(dtype)
    input_max = _max_value(image.dtype)
    if _is_float(dtype):
        return image.to(dtype) / input_max
    output_max = _max_value(dtype)
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return image.floor_divide(factor).to(dtype)
    factor = int((output_max + 1) // (input_max + 1))
    return image.to(dtype) * factor


def erase(img: Tensor, i: int, j: int, h: int, w: int, v: Any, inplace: bool = False) -> Tensor:
    _assert_image_tensor(img)
    if not inplace:
        img = img.clone()
    img[..., i:i + h, j:j + w] = v
    return img


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float],
              inplace: bool = False) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    if not _is_float(tensor.dtype):
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.dim() < 3:
        raise ValueError(
            "Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
            f"{tuple(tensor.shape)}"
        )
    if not inplace:
        tensor = tensor.clone()
    dtype = tensor.dtype
    mean_t = rustorch.as_tensor(np.asarray(mean, dtype=np.float64).reshape(-1).tolist(),
                                dtype=dtype, device=tensor.device)
    std_t = rustorch.as_tensor(np.asarray(std, dtype=np.float64).reshape(-1).tolist(),
                               dtype=dtype, device=tensor.device)
    if bool((std_t == 0).any()):
        raise ValueError(
            f"std evaluated to zero after conversion to {dtype}, leading to division by zero."
        )
    return tensor.sub_(mean_t.reshape(-1, 1, 1)).div_(std_t.reshape(-1, 1, 1))

