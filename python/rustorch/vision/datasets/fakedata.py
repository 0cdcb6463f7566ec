"""``FakeData``: random images, matching ``torchvision.datasets.FakeData``."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

import rustorch

from .vision import VisionDataset

__all__ = ["FakeData"]


class FakeData(VisionDataset):
    """A fake dataset of random images, deterministic per index.

    Item ``index`` is drawn, as in torchvision, from a generator seeded with
    ``index + random_offset``: a standard-normal ``image_size`` image and a target in
    ``[0, num_classes)``. The draws come from NumPy's ``default_rng(index + random_offset)``
    (rustorch's ``Generator`` objects do not drive sampling and there is no
    ``get_rng_state``), so, as in torchvision, the global RNG is left untouched. The image
    is what ``ToPILImage`` makes of the float tensor (``mul(255)`` cast to uint8,
    ``H x W x C``), returned as a NumPy array as rustorch's other datasets do (torchvision
    returns the PIL image). The values differ from torchvision's: the RNGs differ.

    Args:
        size (int, optional): Size of the dataset. Default: 1000 images
        image_size (tuple, optional): Size of the returned images ``(C, H, W)``.
            Default: (3, 224, 224)
        num_classes (int, optional): Number of classes in the dataset. Default: 10
        transform, target_transform: applied to the image / the target.
        random_offset (int): Offsets the index-based random seed. Default: 0.
    """

    def __init__(
        self,
        size: int = 1000,
        image_size: tuple[int, int, int] = (3, 224, 224),
        num_classes: int = 10,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        random_offset: int = 0,
    ) -> None:
        super().__init__(transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        index = int(index)
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        rng = np.random.default_rng(index + self.random_offset)
        img = rustorch.from_numpy(rng.standard_normal(tuple(self.image_size), dtype=np.float32))
        target = int(rng.integers(0, self.num_classes))
        pixels = img.mul(255).to(rustorch.uint8).permute(1, 2, 0).numpy().copy()
        out: Any = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
        if self.transform is not None:
            out = self.transform(out)
        tgt: Any = target
        if self.target_transform is not None:
            tgt = self.target_transform(tgt)
        return out, tgt

    def __len__(self) -> int:
        return self.size
