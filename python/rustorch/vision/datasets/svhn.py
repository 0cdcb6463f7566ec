"""SVHN (Street View House Numbers), matching ``torchvision.datasets.SVHN``.

The cropped-digits files (``train_32x32.mat``, ``test_32x32.mat``, ``extra_32x32.mat``) are
MATLAB files read with SciPy (``scipy.io.loadmat``), as torchvision reads them; SciPy is
needed only when an SVHN dataset is built, and its absence is a clear ``ImportError``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

import numpy as np

from .utils import check_integrity, download_url
from .vision import VisionDataset

__all__ = ["SVHN"]


class SVHN(VisionDataset):
    """`SVHN <http://ufldl.stanford.edu/housenumbers/>`_ Dataset (the cropped 32x32 digits).

    Reads ``root/{split}_32x32.mat`` as torchvision does: ``data`` is an ``N x 3 x 32 x 32``
    uint8 NumPy array and ``labels`` an int64 array in ``0..9`` (the files' label 10 is the
    digit 0, as torchvision maps it). Items are ``(image, target)`` with the image a
    ``32 x 32 x 3`` uint8 NumPy array (HWC; torchvision: a PIL image of the same pixels),
    as :class:`CIFAR10` here returns them.

    Args:
        root (str or ``pathlib.Path``): Directory holding the ``.mat`` files.
        split (str): ``"train"``, ``"test"`` or ``"extra"``.
        transform (callable, optional): A function/transform applied to the image.
        target_transform (callable, optional): A function/transform applied to the target.
        download (bool, optional): Download the split's file (MD5-checked) unless present;
            a machine without network access gets a ``RuntimeError`` naming the URL.
    """

    split_list = {
        "train": [
            "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
            "train_32x32.mat",
            "e26dedcc434d2e4c54c9b2d4a06d8373",
        ],
        "test": [
            "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
            "test_32x32.mat",
            "eb5a983be6a315427106f1b164d9cef3",
        ],
        "extra": [
            "http://ufldl.stanford.edu/housenumbers/extra_32x32.mat",
            "extra_32x32.mat",
            "a93ce644f1a588dc4d68dda5feec44a7",
        ],
    }

    def __init__(
        self,
        root: Union[str, os.PathLike],
        split: str = "train",
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        download: bool = False,
    ) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        if split not in self.split_list:
            valid = ", ".join(f"'{s}'" for s in self.split_list)
            raise ValueError(
                f"Unknown value '{split}' for argument split. Valid values are {{{valid}}}."
            )
        self.split = split
        self.url, self.filename, self.file_md5 = self.split_list[split]
        if download:
            self.download()
        path = os.path.join(str(self.root), self.filename)
        if not os.path.isfile(path):
            raise RuntimeError(
                f"Dataset not found: {path} is missing. You can use download=True to download it"
            )
        try:
            import scipy.io as sio
        except ImportError as e:
            raise ImportError(
                "SVHN reads MATLAB files with SciPy, which is not installed: pip install scipy"
            ) from e
        mat = sio.loadmat(path)
        if "X" not in mat or "y" not in mat:
            raise RuntimeError(f"{path}: expected the variables 'X' and 'y', got {sorted(mat)}")
        x, y = mat["X"], mat["y"]
        if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
            raise RuntimeError(
                f"{path}: expected 'X' to be a 32 x 32 x 3 x N uint8 array, got {x.dtype} "
                f"of shape {x.shape}"
            )
        labels = np.asarray(y, dtype=np.int64).reshape(-1)
        if labels.shape[0] != x.shape[3]:
            raise RuntimeError(f"{path}: {x.shape[3]} images but {labels.shape[0]} labels")
        labels[labels == 10] = 0
        self.labels: np.ndarray = labels
        # H x W x C x N → N x C x H x W, as torchvision stores it.
        self.data: np.ndarray = np.ascontiguousarray(np.transpose(x, (3, 2, 0, 1)))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Return ``(image, target)``: a ``32 x 32 x 3`` uint8 array and the digit."""
        index = int(index)
        img = np.ascontiguousarray(np.transpose(self.data[index], (1, 2, 0)))
        target = int(self.labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self.data)

    def _check_integrity(self) -> bool:
        return check_integrity(os.path.join(str(self.root), self.filename), self.file_md5)

    def download(self) -> None:
        """Download the split's ``.mat`` file (MD5-checked) unless it is already there."""
        download_url(self.url, str(self.root), filename=self.filename, md5=self.file_md5)

    def extra_repr(self) -> str:
        return f"Split: {self.split}"
