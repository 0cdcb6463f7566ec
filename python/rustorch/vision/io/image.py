"""Image decoding/encoding, matching ``torchvision.io.image``, implemented with Pillow.

Decoded images are ``uint8`` tensors ``C x H x W``; encoded images are 1-D ``uint8``
tensors of the file's bytes. Differences from torchvision's libpng/libjpeg decoders:
grayscale conversion of colour images uses PIL's ``convert('L')`` (ITU-R 601-2 integer
weights; may differ by one level); 16-bit images are not supported (rustorch has no
``uint16``) and raise ``RuntimeError``; ``encode_png`` also accepts 2 and 4 channels.
"""

from __future__ import annotations

import io
import os
from enum import Enum
from typing import Any, Union

import numpy as np

import rustorch
from rustorch import Tensor

__all__ = [
    "ImageReadMode", "read_file", "write_file", "decode_image", "decode_png", "decode_jpeg",
    "read_image", "encode_png", "write_png", "encode_jpeg", "write_jpeg",
]


class ImageReadMode(Enum):
    """How to convert an image while decoding (``torchvision.io.ImageReadMode``):
    ``UNCHANGED`` keeps the file's channels, ``GRAY`` / ``GRAY_ALPHA`` / ``RGB`` /
    ``RGB_ALPHA`` (alias ``RGBA``) convert to 1 / 2 / 3 / 4 channels."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = RGB_ALPHA  # Alias for convenience


_PIL_MODE = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA",
             ImageReadMode.RGB: "RGB", ImageReadMode.RGB_ALPHA: "RGBA"}


def _pil(what: str) -> Any:
    from rustorch.vision.transforms._functional_pil import require_pil

    return require_pil(f"rustorch.vision.io.{what}")


def read_file(path: Union[str, os.PathLike]) -> Tensor:
    """The bytes of a file as a 1-D ``uint8`` tensor."""
    with open(path, "rb") as f:
        data = f.read()
    return rustorch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())


def write_file(filename: Union[str, os.PathLike], data: Tensor) -> None:
    """Write a 1-D ``uint8`` tensor of bytes to ``filename``."""
    _check_bytes_tensor(data, "write_file")
    with open(filename, "wb") as f:
        f.write(data.detach().cpu().numpy().tobytes())


def _check_bytes_tensor(data: Any, fn: str) -> None:
    if not isinstance(data, Tensor):
        raise TypeError(f"{fn}: expected a Tensor of bytes, got {type(data)}")
    if str(data.dtype).rsplit(".", 1)[-1] != "uint8" or data.dim() != 1:
        raise RuntimeError(
            f"{fn}: expected a 1-dimensional uint8 tensor, got a {data.dim()}-d {data.dtype} one"
        )


def _read_mode(mode: Union[ImageReadMode, str]) -> ImageReadMode:
    if isinstance(mode, str):
        try:
            return ImageReadMode[mode.upper()]
        except KeyError:
            raise ValueError(
                f"Unknown image read mode {mode!r}; expected one of "
                f"{[m.name for m in ImageReadMode]}"
            ) from None
    if not isinstance(mode, ImageReadMode):
        raise TypeError(f"mode should be an ImageReadMode or a str, got {type(mode)}")
    return mode


def _decode(data: bytes, mode: ImageReadMode, apply_exif_orientation: bool, fn: str) -> Tensor:
    Image = _pil(fn)
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise RuntimeError(f"{fn}: could not decode the image data: {e}") from e
    if apply_exif_orientation:
        from PIL import ImageOps

        img = ImageOps.exif_transpose(img)
    if mode == ImageReadMode.UNCHANGED:
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            raise RuntimeError(
                f"{fn}: {img.mode} images (16/32-bit) are not supported: rustorch has no uint16; "
                "use mode=ImageReadMode.GRAY or RGB to convert to 8 bits"
            )
        if img.mode == "1":
            img = img.convert("L")
        elif img.mode in ("P", "PA"):
            has_alpha = img.mode == "PA" or "transparency" in img.info
            img = img.convert("RGBA" if has_alpha else "RGB")
        elif img.mode not in ("L", "LA", "RGB", "RGBA"):
            img = img.convert("RGB")
    else:
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr16 = np.asarray(img).astype(np.float64)
            img = Image.fromarray(np.clip(arr16 / 257.0 + 0.5, 0, 255).astype(np.uint8))
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert(_PIL_MODE[mode])
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return rustorch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def decode_image(input: Union[Tensor, str, os.PathLike],
                 mode: Union[ImageReadMode, str] = ImageReadMode.UNCHANGED,
                 apply_exif_orientation: bool = False) -> Tensor:
    """Decode an image (any format Pillow reads: PNG, JPEG, GIF, WEBP, BMP, ...) from a 1-D
    ``uint8`` tensor of its bytes, or from a path, to a ``uint8`` ``C x H x W`` tensor."""
    mode = _read_mode(mode)
    if isinstance(input, (str, os.PathLike)):
        with open(input, "rb") as f:
            data = f.read()
    else:
        _check_bytes_tensor(input, "decode_image")
        data = input.detach().cpu().numpy().tobytes()
    return _decode(data, mode, apply_exif_orientation, "decode_image")


def decode_png(input: Tensor, mode: Union[ImageReadMode, str] = ImageReadMode.UNCHANGED,
               apply_exif_orientation: bool = False) -> Tensor:
    """Decode PNG bytes (see :func:`decode_image`)."""
    _check_bytes_tensor(input, "decode_png")
    return _decode(input.detach().cpu().numpy().tobytes(), _read_mode(mode),
                   apply_exif_orientation, "decode_png")


def decode_jpeg(input: Tensor, mode: Union[ImageReadMode, str] = ImageReadMode.UNCHANGED,
                device: Union[str, Any] = "cpu", apply_exif_orientation: bool = False) -> Tensor:
    """Decode JPEG bytes (see :func:`decode_image`); the result is moved to ``device``."""
    _check_bytes_tensor(input, "decode_jpeg")
    out = _decode(input.detach().cpu().numpy().tobytes(), _read_mode(mode),
                  apply_exif_orientation, "decode_jpeg")
    return out.to(device)


def read_image(path: Union[str, os.PathLike],
               mode: Union[ImageReadMode, str] = ImageReadMode.UNCHANGED,
               apply_exif_orientation: bool = False) -> Tensor:
    """Read an image file into a ``uint8`` ``C x H x W`` tensor."""
    return decode_image(read_file(path), mode, apply_exif_orientation)


def _to_hwc(input: Tensor, fn: str, channels: tuple[int, ...]) -> np.ndarray:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: expected a Tensor, got {type(input)}")
    if str(input.dtype).rsplit(".", 1)[-1] != "uint8":
        raise RuntimeError(f"{fn}: Input tensor dtype should be uint8, got {input.dtype}")
    if input.dim() != 3:
        raise RuntimeError(
            f"{fn}: Input tensor should have 3 dimensions (C, H, W), got {input.dim()}"
        )
    if int(input.shape[0]) not in channels:
        raise RuntimeError(
            f"{fn}: The number of channels should be {' or '.join(map(str, channels))}, got: "
            f"{int(input.shape[0])}"
        )
    arr = np.ascontiguousarray(input.detach().cpu().numpy().transpose(1, 2, 0))
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def encode_png(input: Tensor, compression_level: int = 6) -> Tensor:
    """Encode a ``uint8`` ``C x H x W`` tensor (1-4 channels) as PNG; returns the bytes as
    a 1-D ``uint8`` tensor."""
    Image = _pil("encode_png")
    if not 0 <= compression_level <= 9:
        raise ValueError("Compression level should be between 0 and 9")
    arr = _to_hwc(input, "encode_png", (1, 2, 3, 4))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=compression_level)
    return rustorch.from_numpy(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def write_png(input: Tensor, filename: Union[str, os.PathLike], compression_level: int = 6) -> None:
    """Encode ``input`` as PNG (see :func:`encode_png`) and write it to ``filename``."""
    write_file(filename, encode_png(input, compression_level))


def encode_jpeg(input: Union[Tensor, list[Tensor]],
                quality: int = 75) -> Union[Tensor, list[Tensor]]:
    """Encode a ``uint8`` ``C x H x W`` tensor (1 or 3 channels), or a list of them, as JPEG
    with ``quality`` in ``[1, 100]``."""
    Image = _pil("encode_jpeg")
    if not 1 <= quality <= 100:
        raise ValueError("Image quality should be a positive number between 1 and 100")
    if isinstance(input, list):
        if not input:
            raise ValueError("encode_jpeg requires at least one input tensor when a list is passed")
        return [encode_jpeg(t, quality) for t in input]  # type: ignore[misc]
    arr = _to_hwc(input, "encode_jpeg", (1, 3))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return rustorch.from_numpy(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def write_jpeg(input: Tensor, filename: Union[str, os.PathLike], quality: int = 75) -> None:
    """Encode ``input`` as JPEG (see :func:`encode_jpeg`) and write it to ``filename``."""
    data = encode_jpeg(input, quality)
    assert isinstance(data, Tensor)
    write_file(filename, data)
