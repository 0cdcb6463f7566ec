"""LSUN scene categories, matching ``torchvision.datasets.LSUN`` / ``LSUNClass``.

LSUN ships each category as an LMDB database (``bedroom_train_lmdb/``) whose values are
encoded images (WebP or JPEG). They are read with the ``lmdb`` package and decoded with
Pillow, both needed only when a dataset is built or an image is loaded; their absence is a
clear ``ImportError`` naming what to install. LSUN has no download here (torchvision has
none either: the data come from the LSUN site's own scripts).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from typing import Any, Callable, Optional, Union

from .vision import VisionDataset

__all__ = ["LSUN", "LSUNClass"]

CATEGORIES = (
    "bedroom", "bridge", "church_outdoor", "classroom", "conference_room", "dining_room",
    "kitchen", "living_room", "restaurant", "tower",
)
SPLITS = ("train", "val", "test")


def _open_lmdb(path: str) -> Any:
    try:
        import lmdb
    except ImportError as e:
        raise ImportError(
            "LSUN reads LMDB databases with the lmdb package, which is not installed: "
            "pip install lmdb"
        ) from e
    if not os.path.isdir(path):
        raise RuntimeError(f"Dataset not found: {path} is not an LMDB directory")
    return lmdb.open(path, max_readers=1, readonly=True, lock=False, readahead=False,
                     meminit=False)


class LSUNClass(VisionDataset):
    """One LSUN LMDB database: items are ``(image, None)``, the image a PIL RGB image.

    Differs from torchvision in one way: the keys are listed once per dataset object and
    kept in memory; torchvision also pickles them to a ``_cache_*`` file in the current
    directory, which rustorch does not write.
    """

    def __init__(
        self,
        root: Union[str, os.PathLike],
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
    ) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.env = _open_lmdb(str(self.root))
        with self.env.begin(write=False) as txn:
            self.length: int = txn.stat()["entries"]
            self.keys: list[bytes] = list(txn.cursor().iternext(keys=True, values=False))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Return ``(image, target)``: the decoded RGB image and ``None`` (or the target
        transform's value for ``None``)."""
        from rustorch.vision.transforms._functional_pil import require_pil

        image = require_pil("rustorch.vision.datasets.LSUN")
        with self.env.begin(write=False) as txn:
            buf = txn.get(self.keys[index])
        img = image.open(io.BytesIO(buf)).convert("RGB")
        target = None
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return self.length


class LSUN(VisionDataset):
    """`LSUN <https://www.yf.io/p/lsun>`_ scene categories.

    ``classes`` is ``"train"``, ``"val"`` (the ten categories' databases of that split,
    ``root/{category}_{split}_lmdb``), ``"test"`` (``root/test_lmdb``) or a list of
    ``"{category}_{split}"`` names. The target of an item is the index of its database in
    that list, as in torchvision; a bad name raises torchvision's ``ValueError``.
    """

    def __init__(
        self,
        root: Union[str, os.PathLike],
        classes: Union[str, list[str]] = "train",
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
    ) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.classes = self._verify_classes(classes)
        self.dbs = [
            LSUNClass(root=os.path.join(str(self.root), f"{c}_lmdb"), transform=transform)
            for c in self.classes
        ]
        self.indices: list[int] = []
        count = 0
        for db in self.dbs:
            count += len(db)
            self.indices.append(count)
        self.length = count

    @staticmethod
    def _verify_classes(classes: Union[str, Iterable]) -> list[str]:
        if isinstance(classes, str):
            if classes not in SPLITS:
                raise ValueError(
                    f"Unknown value '{classes}' for argument classes. Valid values are "
                    f"{{{', '.join(repr(s) for s in SPLITS)}}}."
                )
            return ["test"] if classes == "test" else [f"{c}_{classes}" for c in CATEGORIES]
        if not isinstance(classes, Iterable):
            raise ValueError(
                "Expected type str or Iterable for argument classes, but got type "
                f"{type(classes)}."
            )
        out = list(classes)
        for c in out:
            if not isinstance(c, str):
                raise ValueError(
                    f"Expected type {str} for argument classes, but got type {type(c)}."
                )
            category, _, split = c.rpartition("_")
            if category not in CATEGORIES:
                raise ValueError(
                    f"Unknown value '{category}' for LSUN class. Valid values are "
                    f"{{{', '.join(CATEGORIES)}}}."
                )
            if split not in SPLITS:
                raise ValueError(
                    f"Unknown value '{split}' for postfix. Valid values are "
                    f"{{{', '.join(SPLITS)}}}."
                )
        return out

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Return ``(image, target)``: a PIL RGB image and the index of its class."""
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} is out of range for LSUN of length {self.length}")
        target, start = 0, 0
        for end in self.indices:
            if index < end:
                break
            target += 1
            start = end
        img, _ = self.dbs[target][index - start]
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return self.length

    def extra_repr(self) -> str:
        return f"Classes: {self.classes}"
