"""Image-grid helpers, matching ``torchvision.utils`` (``make_grid``, ``save_image``)."""

from __future__ import annotations

import math
import os
from typing import Any, BinaryIO, Optional, Union

import rustorch
from rustorch import Tensor

__all__ = ["make_grid", "save_image"]


def make_grid(
    tensor: Union[Tensor, list[Tensor]],
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: Optional[tuple[float, float]] = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
) -> Tensor:
    """Make a grid of images (``torchvision.utils.make_grid``).

    ``tensor`` is a ``B x C x H x W`` batch or a list of same-size images. Single-channel
    images are repeated to 3 channels; ``nrow`` images per row, ``padding`` pixels of
    ``pad_value`` around and between them (a single image is returned without padding).
    With ``normalize``, values are clamped to ``value_range`` (default: the min and max of
    the batch, or of each image if ``scale_each``) and shifted/scaled to ``[0, 1]``.
    The result is ``C x (H + padding) * rows + padding x (W + padding) * cols + padding``.
    """
    if not isinstance(tensor, Tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not isinstance(t, Tensor):
                    raise TypeError(
                        f"tensor or list of tensors expected, got a list containing {type(t)}"
                    )
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if isinstance(tensor, list):
        tensor = rustorch.stack(tensor, dim=0)
    if tensor.dim() == 2:  # single image H x W
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:  # single image
        if int(tensor.shape[0]) == 1:  # if single-channel, convert to 3-channel
            tensor = rustorch.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 4 and int(tensor.shape[1]) == 1:  # single-channel images
        tensor = rustorch.cat((tensor, tensor, tensor), 1)
    if tensor.dim() != 4:
        raise ValueError(
            f"make_grid: expected a 2-, 3- or 4-d tensor (or a list of images), got shape "
            f"{tuple(tensor.shape)}"
        )

    if normalize is True:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError(
                "value_range has to be a tuple (min, max) if specified. min and max are numbers"
            )

        def norm_range(t: Tensor) -> Tensor:
            if value_range is not None:
                low, high = float(value_range[0]), float(value_range[1])
            else:
                low, high = float(t.min()), float(t.max())
            return t.clamp(min=low, max=high).sub(low).div(max(high - low, 1e-5))

        if scale_each is True:
            tensor = rustorch.stack([norm_range(t) for t in tensor.unbind(0)], dim=0)
        else:
            tensor = norm_range(tensor)

    if int(tensor.shape[0]) == 1:
        return tensor.squeeze(0)

    # make the mini-batch of images into a grid
    nmaps = int(tensor.shape[0])
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.shape[2]) + padding, int(tensor.shape[3]) + padding
    num_channels = int(tensor.shape[1])
    grid = tensor.new_full((num_channels, height * ymaps + padding, width * xmaps + padding),
                           pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            top, left = y * height + padding, x * width + padding
            grid[:, top:top + height - padding, left:left + width - padding] = tensor[k]
            k = k + 1
    return grid


def save_image(
    tensor: Union[Tensor, list[Tensor]],
    fp: Union[str, os.PathLike, BinaryIO],
    format: Optional[str] = None,
    **kwargs: Any,
) -> None:
    """Save a tensor (or a batch, laid out with :func:`make_grid` and ``**kwargs``) as an
    image file with Pillow (``torchvision.utils.save_image``): values in ``[0, 1]`` become
    ``round(255 * x)`` clamped to ``[0, 255]``. ``format`` is needed for file objects."""
    from rustorch.vision.transforms._functional_pil import require_pil

    Image = require_pil("rustorch.vision.utils.save_image")
    grid = make_grid(tensor, **kwargs)
    # Add 0.5 after unnormalizing to [0, 255] to round to the nearest integer
    ndarr = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", rustorch.uint8)
    im = Image.fromarray(ndarr.numpy())
    im.save(fp, format=format)
