"""CIFAR-10 / CIFAR-100, matching ``torchvision.datasets.CIFAR10`` / ``CIFAR100``.

The batch files of the "python version" of CIFAR are pickles. They are read with a
restricted unpickler that can only build NumPy arrays, dtypes and plain containers
(dicts, lists, strings, bytes, numbers): any other global in the file is refused, so loading
a tampered file can never run code.
"""

from __future__ import annotations

import codecs
import os
import pickle
from typing import Any, Callable, Optional, Union

import numpy as np

from .utils import download_url, extract_archive
from .vision import VisionDataset

__all__ = ["CIFAR10", "CIFAR100", "restricted_pickle_load"]


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1').
    if codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8", "ascii"):
        raise pickle.UnpicklingError(f"refusing codec {encoding!r} in pickle data")
    return codecs.encode(obj, encoding, errors)


_ndarray_reconstruct = np.zeros(1).__reduce__()[0]
_ndarray_frombuffer = np.zeros(1).__reduce_ex__(5)[0]

_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _ndarray_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _ndarray_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` only knows NumPy's array/dtype reconstructors."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global '{module}.{name}' (only NumPy arrays and plain "
                "containers are allowed)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def restricted_pickle_load(path: str, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` allowing nothing but NumPy arrays and plain Python containers.

    Errors (missing file, refused global, truncated/corrupt data) raise ``RuntimeError``
    naming the file.
    """
    if not os.path.isfile(path):
        raise RuntimeError(
            f"Dataset not found or corrupted: {path} is missing. "
            "You can use download=True to download it"
        )
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding=encoding).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
        raise RuntimeError(f"{path}: not a valid CIFAR batch file: {e}") from e


class CIFAR10(VisionDataset):
    """`CIFAR10 <https://www.cs.toronto.edu/~kriz/cifar.html>`_ Dataset.

    Reads ``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` as
    torchvision does. ``data`` is a ``N x 32 x 32 x 3`` uint8 NumPy array (HWC) and
    ``targets`` a list of ints, as in torchvision; items are ``(image, target)`` with the
    image a ``32 x 32 x 3`` uint8 NumPy array (torchvision: a PIL image).

    Args:
        root (str or ``pathlib.Path``): Root directory of dataset where directory
            ``cifar-10-batches-py`` exists or will be saved to if download is set to True.
        train (bool, optional): If True, creates dataset from training set, otherwise
            creates from test set.
        transform (callable, optional): A function/transform applied to the image.
        target_transform (callable, optional): A function/transform applied to the target.
        download (bool, optional): If true, downloads the dataset from the internet and
            puts it in root directory (MD5-checked). If dataset is already downloaded, it
            is not downloaded again.
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [
        ["test_batch", "40351d587109b95175f43aff81a1287e"],
    ]
    meta = {
        "filename": "batches.meta",
        "key": "label_names",
        "md5": "5ff9c542aee3614f3951f8cda6e48888",
    }

    def __init__(
        self,
        root: Union[str, os.PathLike],
        train: bool = True,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        download: bool = False,
    ) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train  # training set or test set

        if download:
            self.download()

        downloaded_list = self.train_list if self.train else self.test_list

        data: list[np.ndarray] = []
        self.targets: list[int] = []
        # now load the picked numpy arrays
        for file_name, _checksum in downloaded_list:
            file_path = os.path.join(str(self.root), self.base_folder, file_name)
            images, labels = self._read_batch(file_path)
            data.append(images)
            self.targets.extend(labels)

        stacked = np.vstack(data).reshape(-1, 3, 32, 32)
        self.data: np.ndarray = np.ascontiguousarray(stacked.transpose((0, 2, 3, 1)))  # HWC
        self._load_meta()

    @staticmethod
    def _read_batch(path: str) -> tuple[np.ndarray, list[int]]:
        entry = restricted_pickle_load(path)
        if not isinstance(entry, dict) or "data" not in entry:
            raise RuntimeError(
                f"{path}: expected a dict with 'data' and 'labels'/'fine_labels' entries, "
                f"got {type(entry).__name__}"
                + (f" with keys {sorted(map(str, entry))}" if isinstance(entry, dict) else "")
            )
        images = entry["data"]
        labels = entry.get("labels", entry.get("fine_labels"))
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 \
                or images.shape[1] != 3 * 32 * 32:
            desc = (
                f"{images.dtype} array of shape {images.shape}"
                if isinstance(images, np.ndarray) else type(images).__name__
            )
            raise RuntimeError(f"{path}: expected 'data' to be a uint8 N x 3072 array, got {desc}")
        if labels is None or len(labels) != images.shape[0]:
            got = "none" if labels is None else str(len(labels))
            raise RuntimeError(
                f"{path}: expected {images.shape[0]} labels ('labels' or 'fine_labels'), got {got}"
            )
        return images, [int(x) for x in labels]

    def _load_meta(self) -> None:
        path = os.path.join(str(self.root), self.base_folder, self.meta["filename"])
        data = restricted_pickle_load(path)
        if not isinstance(data, dict) or self.meta["key"] not in data:
            raise RuntimeError(f"{path}: expected a dict with a '{self.meta['key']}' entry")
        self.classes = [str(c) for c in data[self.meta["key"]]]
        self.class_to_idx = {_class: i for i, _class in enumerate(self.classes)}

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Return ``(image, target)``: a ``32 x 32 x 3`` uint8 array and the class index."""
        index = int(index)
        img = np.array(self.data[index], copy=True)
        target = self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self.data)

    def _check_integrity(self) -> bool:
        for filename, _md5 in self.train_list + self.test_list + [[self.meta["filename"], ""]]:
            if not os.path.isfile(os.path.join(str(self.root), self.base_folder, filename)):
                return False
        return True

    def download(self) -> None:
        """Download and extract the archive (MD5-checked) unless the files are present."""
        if self._check_integrity():
            return
        archive = download_url(self.url, str(self.root), filename=self.filename, md5=self.tgz_md5)
        extract_archive(archive, str(self.root))

    def extra_repr(self) -> str:
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"


class CIFAR100(CIFAR10):
    """`CIFAR100 <https://www.cs.toronto.edu/~kriz/cifar.html>`_ Dataset (fine labels)."""

    base_folder = "cifar-100-python"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [
        ["train", "16019d7e3df5f24257cddd939b257f8d"],
    ]
    test_list = [
        ["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"],
    ]
    meta = {
        "filename": "meta",
        "key": "fine_label_names",
        "md5": "7973b15100ade9c7d40fb424638fde48",
    }
