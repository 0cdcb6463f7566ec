"""Image transforms, matching ``torchvision.transforms`` (a subset).

Images are ``H x W`` or ``H x W x C`` uint8 NumPy arrays (what the datasets here return;
PIL images are accepted too when Pillow is installed) until :class:`ToTensor` turns them
into ``C x H x W`` float tensors in ``[0, 1]``. :class:`Pad`, :class:`RandomCrop` and
:class:`RandomHorizontalFlip` work on both arrays and tensors (``..., H, W``); random
choices are drawn from rustorch's global RNG, as torchvision draws from torch's.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Callable, Union

import numpy as np

import rustorch
from rustorch import Tensor

__all__ = [
    "Compose",
    "ToTensor",
    "Normalize",
    "Lambda",
    "Pad",
    "RandomHorizontalFlip",
    "RandomCrop",
]


_PIL_IMAGE_CLASS: Any = None  # resolved once: PIL.Image.Image, or False without Pillow


def _is_pil_image(img: Any) -> bool:
    global _PIL_IMAGE_CLASS
    if isinstance(img, (np.ndarray, Tensor)):
        return False
    if _PIL_IMAGE_CLASS is None:
        try:
            from PIL import Image

            _PIL_IMAGE_CLASS = Image.Image
        except ImportError:
            _PIL_IMAGE_CLASS = False
    return bool(_PIL_IMAGE_CLASS) and isinstance(img, _PIL_IMAGE_CLASS)


def _to_numpy_image(img: Any) -> np.ndarray:
    if _is_pil_image(img):
        return np.asarray(img)
    return img


class Compose:
    """Composes several transforms together (applied in order).

    Example:
        >>> transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    """

    def __init__(self, transforms: list[Callable]) -> None:
        self.transforms = transforms

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + "("
        for t in self.transforms:
            format_string += "\n"
            format_string += f"    {t}"
        format_string += "\n)"
        return format_string


class ToTensor:
    """Convert an ``H x W (x C)`` image to a ``C x H x W`` float32 tensor.

    uint8 arrays (and PIL images) are scaled to ``[0, 1]`` by dividing by 255, exactly as
    torchvision; arrays of other dtypes are converted without scaling. Tensors raise
    ``TypeError`` as in torchvision.
    """

    def __call__(self, pic: Any) -> Tensor:
        if _is_pil_image(pic):
            arr = np.array(pic, copy=True)
            if pic.mode == "1":
                arr = arr.astype(np.uint8) * 255
        elif isinstance(pic, np.ndarray):
            arr = pic
        else:
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        if arr.ndim not in {2, 3}:
            raise ValueError(f"pic should be 2/3 dimensional. Got {arr.ndim} dimensions.")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        chw = np.ascontiguousarray(arr.transpose((2, 0, 1)))
        if chw.dtype == np.uint8:
            out = chw.astype(np.float32) / np.float32(255)
            return rustorch.from_numpy(out)
        return rustorch.from_numpy(chw)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class Normalize:
    """Normalize a float tensor image with mean and standard deviation, channel by channel:
    ``output[c] = (input[c] - mean[c]) / std[c]`` (``torchvision.transforms.Normalize``).

    Args:
        mean (sequence): Sequence of means for each channel.
        std (sequence): Sequence of standard deviations for each channel.
        inplace(bool,optional): Bool to make this operation in-place.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor: Tensor) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
        dtype_name = str(tensor.dtype).rsplit(".", 1)[-1]
        if dtype_name not in ("float32", "float64"):
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.dim() < 3:
            raise ValueError(
                "Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() "
                f"= {tuple(tensor.shape)}"
            )
        mean_list = [float(m) for m in _as_list(self.mean)]
        std_list = [float(s) for s in _as_list(self.std)]
        np_dtype = np.float32 if dtype_name == "float32" else np.float64
        std_np = np.asarray(std_list, dtype=np_dtype)
        if (std_np == 0).any():
            raise ValueError(
                f"std evaluated to zero after conversion to {tensor.dtype}, leading to division "
                "by zero."
            )
        mean_t = rustorch.from_numpy(np.asarray(mean_list, dtype=np_dtype).reshape(-1, 1, 1))
        std_t = rustorch.from_numpy(std_np.reshape(-1, 1, 1))
        if self.inplace:
            return tensor.sub_(mean_t).div_(std_t)
        return (tensor - mean_t) / std_t

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


def _as_list(x: Any) -> list[Any]:
    if isinstance(x, numbers.Number):
        return [x]
    return list(x)


class Lambda:
    """Apply a user-defined lambda as a transform."""

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


def _parse_padding(padding: Union[int, Sequence[int]]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from torchvision's 1-, 2- or 4-element padding."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        p = int(padding[0])
        return p, p, p, p
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    if len(padding) == 4:
        return int(padding[0]), int(padding[1]), int(padding[2]), int(padding[3])
    raise ValueError(
        f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple"
    )


_NP_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
                 "symmetric": "symmetric"}


def _pad(img: Any, padding: Any, fill: Any = 0, padding_mode: str = "constant") -> Any:
    left, top, right, bottom = _parse_padding(padding)
    if padding_mode not in _NP_PAD_MODES:
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    if isinstance(img, Tensor):
        arr = img.numpy()
        widths = [(0, 0)] * (arr.ndim - 2) + [(top, bottom), (left, right)]
        out = _np_pad(arr, widths, fill, padding_mode)
        return rustorch.from_numpy(np.ascontiguousarray(out))
    arr = _to_numpy_image(img)
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (arr.ndim - 2)
    return _np_pad(arr, widths, fill, padding_mode)


def _np_pad(arr: np.ndarray, widths: list[tuple[int, int]], fill: Any, mode: str) -> np.ndarray:
    if mode == "constant":
        return np.pad(arr, widths, mode="constant", constant_values=fill)
    return np.pad(arr, widths, mode=_NP_PAD_MODES[mode])


def _size_hw(img: Any) -> tuple[int, int]:
    if isinstance(img, Tensor):
        shape = tuple(img.shape)
        return shape[-2], shape[-1]
    arr = _to_numpy_image(img)
    return arr.shape[0], arr.shape[1]


def _crop(img: Any, top: int, left: int, height: int, width: int) -> Any:
    if isinstance(img, Tensor):
        arr = img.numpy()[..., top:top + height, left:left + width]
        return rustorch.from_numpy(np.ascontiguousarray(arr))
    arr = _to_numpy_image(img)
    return np.ascontiguousarray(arr[top:top + height, left:left + width])


def _hflip(img: Any) -> Any:
    if isinstance(img, Tensor):
        return rustorch.from_numpy(np.ascontiguousarray(img.numpy()[..., ::-1]))
    arr = _to_numpy_image(img)
    return np.ascontiguousarray(arr[:, ::-1])


class Pad:
    """Pad the given image on all sides with the given "pad" value.

    Args:
        padding (int or sequence): ``p`` for all borders, ``(lr, tb)``, or
            ``(left, top, right, bottom)``.
        fill (number): pixel fill value for constant fill. Default is 0.
        padding_mode (str): ``constant``, ``edge``, ``reflect`` or ``symmetric``.
    """

    def __init__(
        self, padding: Union[int, Sequence[int]], fill: Any = 0, padding_mode: str = "constant"
    ) -> None:
        if not isinstance(padding, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate padding arg")
        if not isinstance(fill, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate fill arg")
        if padding_mode not in ["constant", "edge", "reflect", "symmetric"]:
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        if isinstance(padding, Sequence) and len(padding) not in [1, 2, 4]:
            raise ValueError(
                "Padding must be an int or a 1, 2, or 4 element tuple, not a "
                f"{len(padding)} element tuple"
            )
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img: Any) -> Any:
        return _pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, "
            f"padding_mode={self.padding_mode})"
        )


class RandomHorizontalFlip:
    """Horizontally flip the given image randomly with a given probability.

    Draws ``rustorch.rand(1)`` per call, like torchvision draws ``torch.rand(1)``.
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Any) -> Any:
        if float(rustorch.rand(1).item()) < self.p:
            return _hflip(img)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


def _setup_size(size: Any, error_msg: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size[0], size[1]


class RandomCrop:
    """Crop the given image at a random location (``torchvision.transforms.RandomCrop``).

    Args:
        size (sequence or int): Desired output size ``(h, w)`` (or ``size x size``).
        padding (int or sequence, optional): Optional padding on each border first.
        pad_if_needed (boolean): pad the image if smaller than the desired size.
        fill (number): Pixel fill value for constant fill. Default is 0.
        padding_mode (str): Type of padding: constant, edge, reflect or symmetric.
    """

    @staticmethod
    def get_params(img: Any, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """Get parameters ``(i, j, h, w)`` for ``crop`` for a random crop."""
        h, w = _size_hw(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(
                f"Required crop size {(th, tw)} is larger than input image size {(h, w)}"
            )
        if w == tw and h == th:
            return 0, 0, h, w
        i = int(rustorch.randint(0, h - th + 1, (1,)).item())
        j = int(rustorch.randint(0, w - tw + 1, (1,)).item())
        return i, j, th, tw

    def __init__(
        self,
        size: Union[int, Sequence[int]],
        padding: Union[int, Sequence[int], None] = None,
        pad_if_needed: bool = False,
        fill: Any = 0,
        padding_mode: str = "constant",
    ) -> None:
        self.size = tuple(
            _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")
        )
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img: Any) -> Any:
        if self.padding is not None:
            img = _pad(img, self.padding, self.fill, self.padding_mode)
        height, width = _size_hw(img)
        # pad the width if needed
        if self.pad_if_needed and width < self.size[1]:
            padding = [self.size[1] - width, 0]
            img = _pad(img, padding, self.fill, self.padding_mode)
        # pad the height if needed
        if self.pad_if_needed and height < self.size[0]:
            padding = [0, self.size[0] - height]
            img = _pad(img, padding, self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)  # type: ignore[arg-type]
        return _crop(img, i, j, h, w)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"
