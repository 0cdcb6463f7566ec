"""Transform classes, matching ``torchvision.transforms`` (conversion, colour, containers,
random erasing; the geometric ones live in ``_geometry`` and are re-exported here).

Images are tensors ``(..., C, H, W)``, PIL images, or the ``H x W (x C)`` uint8 NumPy arrays
rustorch's datasets return (see :mod:`rustorch.vision.transforms.functional`). Random
choices are drawn from rustorch's global RNG, so ``rustorch.manual_seed`` makes them
reproducible, as ``torch.manual_seed`` does for torchvision. Unlike torchvision the classes
are plain callables, not ``nn.Module`` subclasses.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import rustorch
from rustorch import Tensor

from . import functional as F
from ._geometry import (
    CenterCrop,
    Pad,
    RandomAffine,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomVerticalFlip,
    Resize,
    Scale,
)
from .functional import InterpolationMode

__all__ = [
    "Compose", "ToTensor", "PILToTensor", "ConvertImageDtype", "ToPILImage", "Normalize",
    "Lambda", "RandomApply", "RandomChoice", "RandomOrder", "RandomTransforms", "ColorJitter",
    "Grayscale", "RandomGrayscale", "RandomErasing", "InterpolationMode",
    "Resize", "Scale", "CenterCrop", "Pad", "RandomCrop", "RandomResizedCrop",
    "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "RandomAffine",
]


def _rand() -> float:
    return float(rustorch.rand(1).item())


def _uniform(low: float, high: float) -> float:
    return float(rustorch.empty(1).uniform_(float(low), float(high)).item())


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
    """Convert a PIL image or ``H x W (x C)`` array to a ``C x H x W`` tensor.

    uint8 data (and PIL images in modes L, RGB, ...) is scaled to ``[0, 1]`` by dividing by
    255, exactly as torchvision; other dtypes are converted without scaling. Tensors raise
    ``TypeError`` as in torchvision.
    """

    def __call__(self, pic: Any) -> Tensor:
        return F.to_tensor(pic)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class PILToTensor:
    """Convert a PIL image to a ``C x H x W`` tensor of the same dtype (no scaling)."""

    def __call__(self, pic: Any) -> Tensor:
        return F.pil_to_tensor(pic)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class ConvertImageDtype:
    """Convert a tensor image to ``dtype``, rescaling the values
    (:func:`~rustorch.vision.transforms.functional.convert_image_dtype`)."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype

    def __call__(self, image: Tensor) -> Tensor:
        return F.convert_image_dtype(image, self.dtype)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(dtype={self.dtype})"


class ToPILImage:
    """Convert a tensor or array to a PIL image (needs Pillow); see
    :func:`~rustorch.vision.transforms.functional.to_pil_image` for the mode rules."""

    def __init__(self, mode: Optional[str] = None) -> None:
        self.mode = mode

    def __call__(self, pic: Any) -> Any:
        return F.to_pil_image(pic, self.mode)

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + "("
        if self.mode is not None:
            format_string += f"mode={self.mode}"
        format_string += ")"
        return format_string


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
        mean = [self.mean] if isinstance(self.mean, numbers.Number) else self.mean
        std = [self.std] if isinstance(self.std, numbers.Number) else self.std
        return F.normalize(tensor, mean, std, self.inplace)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


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


class RandomTransforms:
    """Base class for a list of transformations with randomness."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        if not isinstance(transforms, Sequence):
            raise TypeError("Argument transforms should be a sequence")
        self.transforms = transforms

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError()

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + "("
        for t in self.transforms:
            format_string += "\n"
            format_string += f"    {t}"
        format_string += "\n)"
        return format_string


class RandomApply:
    """Apply the list of transforms, in order, with probability ``p`` (one
    ``rustorch.rand(1)`` draw per call, as torchvision)."""

    def __init__(self, transforms: Sequence[Callable], p: float = 0.5) -> None:
        self.transforms = transforms
        self.p = p

    def __call__(self, img: Any) -> Any:
        if self.p < _rand():
            return img
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + "("
        format_string += f"\n    p={self.p}"
        for t in self.transforms:
            format_string += "\n"
            format_string += f"    {t}"
        format_string += "\n)"
        return format_string


class RandomOrder(RandomTransforms):
    """Apply the transforms in a random order. The order comes from ``rustorch.randperm``
    (torchvision shuffles with Python's ``random``), so ``rustorch.manual_seed`` fixes it."""

    def __call__(self, img: Any) -> Any:
        order = rustorch.randperm(len(self.transforms)).tolist()
        for i in order:
            img = self.transforms[i](img)
        return img


class RandomChoice(RandomTransforms):
    """Apply one transform picked at random (weights ``p``, uniform if None). The pick comes
    from ``rustorch.multinomial`` (torchvision uses Python's ``random.choices``)."""

    def __init__(self, transforms: Sequence[Callable], p: Optional[list[float]] = None) -> None:
        super().__init__(transforms)
        if p is not None and not isinstance(p, Sequence):
            raise TypeError("Argument p should be a sequence")
        if p is not None and len(p) != len(transforms):
            raise ValueError(
                f"Length of p doesn't match the number of transforms: {len(p)} != "
                f"{len(transforms)}"
            )
        self.p = p

    def __call__(self, *args: Any) -> Any:
        weights = [1.0] * len(self.transforms) if self.p is None else [float(w) for w in self.p]
        idx = int(rustorch.multinomial(rustorch.tensor(weights, dtype=rustorch.float64), 1).item())
        t = self.transforms[idx]
        return t(*args)

    def __repr__(self) -> str:
        return f"{super().__repr__()}(p={self.p})"


class Grayscale:
    """Convert to grayscale with 1 or 3 output channels
    (:func:`~rustorch.vision.transforms.functional.rgb_to_grayscale`)."""

    def __init__(self, num_output_channels: int = 1) -> None:
        self.num_output_channels = num_output_channels

    def __call__(self, img: Any) -> Any:
        return F.rgb_to_grayscale(img, num_output_channels=self.num_output_channels)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_output_channels={self.num_output_channels})"


class RandomGrayscale:
    """Convert to grayscale with probability ``p``, keeping the number of channels."""

    def __init__(self, p: float = 0.1) -> None:
        self.p = p

    def __call__(self, img: Any) -> Any:
        num_output_channels, _, _ = F.get_dimensions(img)
        if _rand() < self.p:
            return F.rgb_to_grayscale(img, num_output_channels=num_output_channels)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class ColorJitter:
    """Randomly change brightness, contrast, saturation and hue, in a random order.

    Each argument is a non-negative number ``x`` (factor drawn from ``[max(0, 1 - x), 1 + x]``,
    or ``[-x, x]`` for hue, ``x <= 0.5``) or a ``(min, max)`` pair. Per call: one
    ``randperm(4)`` for the order, then one uniform draw per enabled factor, as torchvision.
    """

    def __init__(
        self,
        brightness: Union[float, tuple[float, float]] = 0,
        contrast: Union[float, tuple[float, float]] = 0,
        saturation: Union[float, tuple[float, float]] = 0,
        hue: Union[float, tuple[float, float]] = 0,
    ) -> None:
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(hue, "hue", center=0, bound=(-0.5, 0.5),
                                     clip_first_on_zero=False)

    @staticmethod
    def _check_input(value: Any, name: str, center: float = 1,
                     bound: tuple[float, float] = (0, float("inf")),
                     clip_first_on_zero: bool = True) -> Optional[tuple[float, float]]:
        if isinstance(value, numbers.Number):
            if value < 0:
                raise ValueError(f"If {name} is a single number, it must be non negative.")
            value = [center - float(value), center + float(value)]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            value = [float(value[0]), float(value[1])]
        else:
            raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise ValueError(f"{name} values should be between {bound}, but got {value}.")
        if value[0] == value[1] == center:
            return None
        return (value[0], value[1])

    @staticmethod
    def get_params(
        brightness: Optional[Sequence[float]], contrast: Optional[Sequence[float]],
        saturation: Optional[Sequence[float]], hue: Optional[Sequence[float]],
    ) -> tuple[Tensor, Optional[float], Optional[float], Optional[float], Optional[float]]:
        """``(fn_idx, b, c, s, h)``: a random permutation of the four adjustments and the
        factors (None for disabled ones)."""
        fn_idx = rustorch.randperm(4)
        b = None if brightness is None else _uniform(brightness[0], brightness[1])
        c = None if contrast is None else _uniform(contrast[0], contrast[1])
        s = None if saturation is None else _uniform(saturation[0], saturation[1])
        h = None if hue is None else _uniform(hue[0], hue[1])
        return fn_idx, b, c, s, h

    def __call__(self, img: Any) -> Any:
        fn_idx, brightness_factor, contrast_factor, saturation_factor, hue_factor = (
            self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        )
        for fn_id in fn_idx.tolist():
            if fn_id == 0 and brightness_factor is not None:
                img = F.adjust_brightness(img, brightness_factor)
            elif fn_id == 1 and contrast_factor is not None:
                img = F.adjust_contrast(img, contrast_factor)
            elif fn_id == 2 and saturation_factor is not None:
                img = F.adjust_saturation(img, saturation_factor)
            elif fn_id == 3 and hue_factor is not None:
                img = F.adjust_hue(img, hue_factor)
        return img

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue})"
        )


class RandomErasing:
    """Erase a random rectangle of a tensor image with probability ``p``
    (`Random Erasing <https://arxiv.org/abs/1708.04896>`_, ``torchvision.transforms``).

    Args:
        p: probability of erasing.
        scale: range of the erased area as a fraction of the image area.
        ratio: range of the erased box's aspect ratio (sampled log-uniformly).
        value: erasing value: a number, one value per channel, or ``'random'`` (standard
            normal noise per pixel).
        inplace: modify the input tensor.
    """

    def __init__(self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3), value: Any = 0,
                 inplace: bool = False) -> None:
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            warnings.warn("Scale and ratio should be of kind (min, max)", stacklevel=2)
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(img: Tensor, scale: Sequence[float], ratio: Sequence[float],
                   value: Optional[list[float]] = None) -> tuple[int, int, int, int, Tensor]:
        """``(i, j, h, w, v)`` of the box to erase and its value; up to 10 tries, then the
        whole image unchanged (``v`` is the image itself), as torchvision."""
        img_c, img_h, img_w = (int(s) for s in img.shape[-3:])
        area = img_h * img_w
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * _uniform(scale[0], scale[1])
            aspect_ratio = math.exp(_uniform(log_ratio[0], log_ratio[1]))
            h = int(round(math.sqrt(erase_area * aspect_ratio)))
            w = int(round(math.sqrt(erase_area / aspect_ratio)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = rustorch.empty(img_c, h, w, dtype=rustorch.float32).normal_()
            else:
                v = rustorch.tensor(value)[:, None, None]
            i = int(rustorch.randint(0, img_h - h + 1, (1,)).item())
            j = int(rustorch.randint(0, img_w - w + 1, (1,)).item())
            return i, j, h, w, v
        return 0, 0, img_h, img_w, img

    def __call__(self, img: Tensor) -> Tensor:
        if _rand() < self.p:
            if isinstance(self.value, (int, float)):
                value: Optional[list[float]] = [float(self.value)]
            elif isinstance(self.value, str):
                value = None
            else:
                value = list(self.value)
            if value is not None and len(value) not in (1, int(img.shape[-3])):
                raise ValueError(
                    "If value is a sequence, it should have either a single value or "
                    f"{img.shape[-3]} (number of input channels)"
                )
            x, y, h, w, v = self.get_params(img, scale=self.scale, ratio=self.ratio, value=value)
            return F.erase(img, x, y, h, w, v.to(img.dtype).to(img.device), self.inplace)
        return img

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(p={self.p}, scale={self.scale}, ratio={self.ratio}, "
            f"value={self.value}, inplace={self.inplace})"
        )
