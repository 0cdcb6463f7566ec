"""Geometric transform classes of ``torchvision.transforms`` (resize, crops, flips, padding,
rotation, affine), re-exported by :mod:`rustorch.vision.transforms`.

Random parameters are drawn from rustorch's global RNG with the same calls, in the same
order, as torchvision draws them from torch's.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any, Optional, Union

import rustorch

from . import functional as F
from .functional import InterpolationMode, _check_interpolation

__all__ = [
    "Resize", "Scale", "CenterCrop", "Pad", "RandomCrop", "RandomResizedCrop",
    "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "RandomAffine",
]


def _uniform(low: float, high: float) -> float:
    return float(rustorch.empty(1).uniform_(float(low), float(high)).item())


_SIZE_MSG = "Please provide only two dimensions (h, w) for size."


def _setup_size(size: Any, error_msg: str) -> tuple[int, int]:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(error_msg)
    return size[0], size[1]


def _check_sequence_input(x: Any, name: str, req_sizes: tuple[int, ...]) -> None:
    msg = req_sizes[0] if len(req_sizes) < 2 else " or ".join([str(s) for s in req_sizes])
    if not isinstance(x, Sequence):
        raise TypeError(f"{name} should be a sequence of length {msg}.")
    if len(x) not in req_sizes:
        raise ValueError(f"{name} should be a sequence of length {msg}.")


def _setup_angle(x: Any, name: str, req_sizes: tuple[int, ...] = (2,)) -> list[float]:
    if isinstance(x, numbers.Number):
        if x < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        x = [-x, x]
    else:
        _check_sequence_input(x, name, req_sizes)
    return [float(d) for d in x]


def _setup_fill(fill: Any) -> Any:
    if fill is None:
        return 0
    if not isinstance(fill, (Sequence, numbers.Number)):
        raise TypeError("Fill should be either a sequence or a number.")
    return fill


def _tensor_fill(img: Any, fill: Any) -> Any:
    """Per-channel float fill for tensors, as torchvision's ``forward`` builds it."""
    if isinstance(img, rustorch.Tensor):
        channels = F.get_dimensions(img)[0]
        if isinstance(fill, (int, float)):
            return [float(fill)] * channels
        return [float(f) for f in fill]
    return fill


class Resize:
    """Resize to ``size`` (``(h, w)``, or an int: the smaller edge, keeping the aspect
    ratio, optionally capping the longer edge at ``max_size``). Default interpolation
    ``BILINEAR`` with ``antialias=True`` (tensors: ``F.interpolate(antialias=True)``, the
    same as torchvision; PIL images always antialias)."""

    def __init__(self, size: Union[int, Sequence[int], None],
                 interpolation: Union[InterpolationMode, int] = InterpolationMode.BILINEAR,
                 max_size: Optional[int] = None, antialias: Optional[bool] = True) -> None:
        if size is not None and not isinstance(size, (int, Sequence)):
            raise TypeError(f"Size should be int or sequence. Got {type(size)}")
        if isinstance(size, Sequence) and len(size) not in (1, 2):
            raise ValueError("If size is a sequence, it should have 1 or 2 values")
        self.size = size
        self.max_size = max_size
        self.interpolation = _check_interpolation(interpolation)
        self.antialias = antialias

    def __call__(self, img: Any) -> Any:
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self) -> str:
        detail = (f"(size={self.size}, interpolation={self.interpolation.value}, "
                  f"max_size={self.max_size}, antialias={self.antialias})")
        return f"{self.__class__.__name__}{detail}"


class Scale(Resize):
    """Deprecated alias of :class:`Resize` (removed from torchvision; kept here with a
    ``DeprecationWarning``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn("The use of the transforms.Scale transform is deprecated, please use "
                      "transforms.Resize instead.", DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


class CenterCrop:
    """Crop the centre ``size`` box (zero-padded if the image is smaller)."""

    def __init__(self, size: Union[int, Sequence[int]]) -> None:
        self.size = _setup_size(size, error_msg=_SIZE_MSG)

    def __call__(self, img: Any) -> Any:
        return F.center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size})"


class Pad:
    """Pad the given image on all sides with the given "pad" value.

    Args:
        padding (int or sequence): ``p`` for all borders, ``(lr, tb)``, or
            ``(left, top, right, bottom)``.
        fill (number or tuple): pixel fill value for constant fill. Default is 0.
        padding_mode (str): ``constant``, ``edge``, ``reflect`` or ``symmetric``.
    """

    def __init__(self, padding: Union[int, Sequence[int]], fill: Any = 0,
                 padding_mode: str = "constant") -> None:
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
        return F.pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, "
            f"padding_mode={self.padding_mode})"
        )


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
        _, h, w = F.get_dimensions(img)
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

    def __init__(self, size: Union[int, Sequence[int]],
                 padding: Union[int, Sequence[int], None] = None, pad_if_needed: bool = False,
                 fill: Any = 0, padding_mode: str = "constant") -> None:
        self.size = tuple(
            _setup_size(size, error_msg=_SIZE_MSG)
        )
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img: Any) -> Any:
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = F.get_dimensions(img)
        # pad the width if needed
        if self.pad_if_needed and width < self.size[1]:
            img = F.pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        # pad the height if needed
        if self.pad_if_needed and height < self.size[0]:
            img = F.pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)  # type: ignore[arg-type]
        return F.crop(img, i, j, h, w)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class RandomResizedCrop:
    """Crop a random box (area fraction in ``scale``, aspect ratio log-uniform in ``ratio``)
    and resize it to ``size`` (the Inception crop, ``torchvision.transforms``)."""

    def __init__(self, size: Union[int, Sequence[int]],
                 scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
                 interpolation: Union[InterpolationMode, int] = InterpolationMode.BILINEAR,
                 antialias: Optional[bool] = True) -> None:
        self.size = _setup_size(size, error_msg=_SIZE_MSG)
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            warnings.warn("Scale and ratio should be of kind (min, max)", stacklevel=2)
        self.interpolation = _check_interpolation(interpolation)
        self.antialias = antialias
        self.scale = scale
        self.ratio = ratio

    @staticmethod
    def get_params(img: Any, scale: Sequence[float],
                   ratio: Sequence[float]) -> tuple[int, int, int, int]:
        """``(i, j, h, w)`` of a random crop: 10 tries, then a centre crop clamped to
        ``ratio``, as torchvision."""
        _, height, width = F.get_dimensions(img)
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * _uniform(scale[0], scale[1])
            aspect_ratio = math.exp(_uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                i = int(rustorch.randint(0, height - h + 1, (1,)).item())
                j = int(rustorch.randint(0, width - w + 1, (1,)).item())
                return i, j, h, w
        # Fallback to central crop
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w = width
            h = int(round(w / min(ratio)))
        elif in_ratio > max(ratio):
            h = height
            w = int(round(h * max(ratio)))
        else:  # whole image
            w = width
            h = height
        i = (height - h) // 2
        j = (width - w) // 2
        return i, j, h, w

    def __call__(self, img: Any) -> Any:
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return F.resized_crop(img, i, j, h, w, list(self.size), self.interpolation,
                              antialias=self.antialias)

    def __repr__(self) -> str:
        interpolate_str = self.interpolation.value
        format_string = self.__class__.__name__ + f"(size={self.size}"
        format_string += f", scale={tuple(round(s, 4) for s in self.scale)}"
        format_string += f", ratio={tuple(round(r, 4) for r in self.ratio)}"
        format_string += f", interpolation={interpolate_str}"
        format_string += f", antialias={self.antialias})"
        return format_string


class RandomHorizontalFlip:
    """Horizontally flip the image with probability ``p`` (one ``rustorch.rand(1)`` draw)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Any) -> Any:
        if float(rustorch.rand(1).item()) < self.p:
            return F.hflip(img)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip:
    """Vertically flip the image with probability ``p`` (one ``rustorch.rand(1)`` draw)."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Any) -> Any:
        if float(rustorch.rand(1).item()) < self.p:
            return F.vflip(img)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomRotation:
    """Rotate by an angle drawn uniformly from ``degrees`` (``(-d, d)`` for a number);
    default ``NEAREST`` interpolation, no expansion, fill 0."""

    def __init__(self, degrees: Union[float, Sequence[float]],
                 interpolation: Union[InterpolationMode, int] = InterpolationMode.NEAREST,
                 expand: bool = False, center: Optional[Sequence[int]] = None,
                 fill: Any = 0) -> None:
        self.interpolation = _check_interpolation(interpolation)
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center
        self.expand = expand
        self.fill = _setup_fill(fill)

    @staticmethod
    def get_params(degrees: list[float]) -> float:
        """A uniform angle in ``[degrees[0], degrees[1]]``."""
        return _uniform(degrees[0], degrees[1])

    def __call__(self, img: Any) -> Any:
        fill = _tensor_fill(img, self.fill)
        angle = self.get_params(self.degrees)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center, fill)

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + f"(degrees={self.degrees}"
        format_string += f", interpolation={self.interpolation.value}"
        format_string += f", expand={self.expand}"
        if self.center is not None:
            format_string += f", center={self.center}"
        if self.fill is not None:
            format_string += f", fill={self.fill}"
        format_string += ")"
        return format_string


class RandomAffine:
    """Random affine map keeping the centre: rotation from ``degrees``, translation up to
    ``translate`` (fractions of width/height), ``scale`` range and ``shear`` (degrees; a
    number, an x range, or x and y ranges)."""

    def __init__(self, degrees: Union[float, Sequence[float]],
                 translate: Optional[tuple[float, float]] = None,
                 scale: Optional[tuple[float, float]] = None,
                 shear: Union[float, Sequence[float], None] = None,
                 interpolation: Union[InterpolationMode, int] = InterpolationMode.NEAREST,
                 fill: Any = 0, center: Optional[Sequence[int]] = None) -> None:
        self.interpolation = _check_interpolation(interpolation)
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if translate is not None:
            _check_sequence_input(translate, "translate", req_sizes=(2,))
            for t in translate:
                if not (0.0 <= t <= 1.0):
                    raise ValueError("translation values should be between 0 and 1")
        self.translate = translate
        if scale is not None:
            _check_sequence_input(scale, "scale", req_sizes=(2,))
            for s in scale:
                if s <= 0:
                    raise ValueError("scale values should be positive")
        self.scale = scale
        self.shear = None if shear is None else _setup_angle(shear, name="shear",
                                                             req_sizes=(2, 4))
        self.fill = _setup_fill(fill)
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center

    @staticmethod
    def get_params(degrees: list[float], translate: Optional[Sequence[float]],
                   scale_ranges: Optional[Sequence[float]], shears: Optional[list[float]],
                   img_size: list[int],
                   ) -> tuple[float, tuple[int, int], float, tuple[float, float]]:
        """``(angle, (tx, ty), scale, (shear_x, shear_y))`` drawn as torchvision draws them;
        ``img_size`` is ``[width, height]``."""
        angle = _uniform(degrees[0], degrees[1])
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            tx = int(round(_uniform(-max_dx, max_dx)))
            ty = int(round(_uniform(-max_dy, max_dy)))
            translations = (tx, ty)
        else:
            translations = (0, 0)
        scale = _uniform(scale_ranges[0], scale_ranges[1]) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = _uniform(shears[0], shears[1])
            if len(shears) == 4:
                shear_y = _uniform(shears[2], shears[3])
        return angle, translations, scale, (shear_x, shear_y)

    def __call__(self, img: Any) -> Any:
        fill = _tensor_fill(img, self.fill)
        _, height, width = F.get_dimensions(img)
        ret = self.get_params(self.degrees, self.translate, self.scale, self.shear,
                              [width, height])
        return F.affine(img, ret[0], list(ret[1]), ret[2], list(ret[3]),
                        interpolation=self.interpolation, fill=fill, center=self.center)

    def __repr__(self) -> str:
        s = f"{self.__class__.__name__}(degrees={self.degrees}"
        s += f", translate={self.translate}" if self.translate is not None else ""
        s += f", scale={self.scale}" if self.scale is not None else ""
        s += f", shear={self.shear}" if self.shear is not None else ""
        s += (f", interpolation={self.interpolation.value}"
              if self.interpolation != InterpolationMode.NEAREST else "")
        s += f", fill={self.fill}" if self.fill != 0 else ""
        s += f", center={self.center}" if self.center is not None else ""
        return s + ")"
