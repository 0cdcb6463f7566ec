"""MNIST, Fashion-MNIST, KMNIST and EMNIST, matching ``torchvision.datasets``."""

from __future__ import annotations

import gzip
import os
import shutil
import string
import urllib.error
from typing import Any, Callable, Optional, Union

import numpy as np

import rustorch
from rustorch import Tensor

from .utils import download_url, extract_archive
from .vision import VisionDataset

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "EMNIST", "read_idx_file"]

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtypes
_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open_bytes(path: str) -> bytes:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise RuntimeError(f"{path}: cannot read file: {e}") from e


def read_idx_file(path: str, expected_magic: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (gzipped if the name ends in ``.gz``) into a NumPy array.

    The header is a big-endian magic number ``0x0000TTDD`` (``TT`` the element type, ``DD``
    the number of dimensions) followed by ``DD`` big-endian 32-bit sizes. A wrong magic
    number or a size mismatch raises ``RuntimeError`` naming the file and what was expected.
    """
    raw = _open_bytes(path)
    if len(raw) < 4:
        raise RuntimeError(f"{path}: file too short ({len(raw)} bytes) to hold an IDX header")
    magic = int.from_bytes(raw[0:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise RuntimeError(f"{path}: expected magic {expected_magic}, got {magic}")
    ndim = magic % 256
    type_code = (magic // 256) % 256
    if magic >> 16 != 0 or type_code not in _IDX_TYPES or not 1 <= ndim <= 3:
        raise RuntimeError(f"{path}: not an IDX file (bad magic number {magic})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise RuntimeError(
            f"{path}: truncated header: expected {header} bytes, got {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise RuntimeError(
            f"{path}: expected {expected} bytes of data for shape {list(shape)}, "
            f"got {len(raw) - header}"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_image_file(path: str) -> np.ndarray:
    arr = read_idx_file(path, expected_magic=2051)
    if arr.dtype != np.uint8 or arr.ndim != 3:
        raise RuntimeError(
            f"{path}: expected a 3-d uint8 image array, got {arr.ndim}-d {arr.dtype}"
        )
    return arr


def read_label_file(path: str) -> np.ndarray:
    arr = read_idx_file(path, expected_magic=2049)
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise RuntimeError(
            f"{path}: expected a 1-d uint8 label array, got {arr.ndim}-d {arr.dtype}"
        )
    return arr.astype(np.int64)


class MNIST(VisionDataset):
    """`MNIST <http://yann.lecun.com/exdb/mnist/>`_ Dataset (``torchvision.datasets.MNIST``).

    The IDX files (``train-images-idx3-ubyte`` etc., gzipped or not) are looked up in
    torchvision's layout ``root/<ClassName>/raw/`` and directly in ``root``. ``data`` is a
    ``uint8`` tensor ``N x 28 x 28`` and ``targets`` an ``int64`` tensor. Items are
    ``(image, target)`` where the image is a ``28 x 28`` ``uint8`` NumPy array (torchvision
    gives a PIL image; :class:`rustorch.vision.transforms.ToTensor` accepts both) and the
    target an ``int``.

    Args:
        root (str or ``pathlib.Path``): Root directory of the dataset.
        train (bool, optional): If True, creates dataset from the training files,
            otherwise from the test files.
        transform (callable, optional): A function/transform applied to the image.
        target_transform (callable, optional): A function/transform applied to the target.
        download (bool, optional): If True, downloads the dataset from the internet into
            ``root/<ClassName>/raw`` (MD5-checked) unless it is already there.
    """

    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]

    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]

    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]

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

        images, labels = self._load_data()
        self._np_data = images
        self._np_targets = labels
        self._data: Tensor = rustorch.from_numpy(images)
        self._targets: Tensor = rustorch.from_numpy(labels)

    # ``data`` / ``targets`` are tensors as in torchvision; NumPy mirrors make __getitem__
    # cheap and are refreshed whenever they are reassigned (e.g. ``ds.data = ds.data[:100]``).
    @property
    def data(self) -> Tensor:
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value
        self._np_data = value.numpy() if isinstance(value, Tensor) else np.asarray(value)

    @property
    def targets(self) -> Tensor:
        return self._targets

    @targets.setter
    def targets(self, value: Any) -> None:
        self._targets = value
        self._np_targets = value.numpy() if isinstance(value, Tensor) else np.asarray(value)

    @property
    def raw_folder(self) -> str:
        return os.path.join(str(self.root), self.__class__.__name__, "raw")

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {_class: i for i, _class in enumerate(self.classes)}

    def _file_names(self) -> tuple[str, str]:
        prefix = "train" if self.train else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _candidates(self, name: str) -> list[str]:
        dirs = [self.raw_folder, str(self.root)]
        return [os.path.join(d, n) for d in dirs for n in (name, name + ".gz")]

    def _find(self, name: str) -> str:
        for path in self._candidates(name):
            if os.path.isfile(path):
                return path
        raise RuntimeError(
            f"Dataset not found: no {name} or {name}.gz in {self.raw_folder} or {self.root}. "
            "You can use download=True to download it"
        )

    def _check_exists(self) -> bool:
        return all(
            any(os.path.isfile(p) for p in self._candidates(f"{prefix}-{kind}-ubyte"))
            for prefix in ("train", "t10k")
            for kind in ("images-idx3", "labels-idx1")
        )

    def _load_data(self) -> tuple[np.ndarray, np.ndarray]:
        image_name, label_name = self._file_names()
        image_path = self._find(image_name)
        label_path = self._find(label_name)
        images = read_image_file(image_path)
        labels = read_label_file(label_path)
        if images.shape[0] != labels.shape[0]:
            raise RuntimeError(
                f"{image_path} holds {images.shape[0]} images but {label_path} holds "
                f"{labels.shape[0]} labels; expected the same number"
            )
        return images, labels

    def download(self) -> None:
        """Download the MNIST data if it doesn't exist already (MD5-checked, then gunzipped)."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            errors = []
            for mirror in self.mirrors:
                url = f"{mirror}{filename}"
                try:
                    print(f"Downloading {url}")
                    archive = download_url(url, root=self.raw_folder, filename=filename, md5=md5)
                    extract_archive(archive, self.raw_folder)
                    break
                except (urllib.error.URLError, OSError, RuntimeError) as error:
                    errors.append(f"{url}: {error}")
                    print(f"Failed to download (trying next):\n{error}")
            else:
                raise RuntimeError(f"Error downloading {filename}:\n" + "\n".join(errors))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """Return ``(image, target)``: a ``28 x 28`` uint8 array and the class index."""
        index = int(index)
        img = np.array(self._np_data[index], copy=True)
        target = int(self._np_targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self._np_data)

    def extra_repr(self) -> str:
        split = "Train" if self.train is True else "Test"
        return f"Split: {split}"


class FashionMNIST(MNIST):
    """`Fashion-MNIST <https://github.com/zalandoresearch/fashion-mnist>`_ Dataset.

    Same files, layout and behaviour as :class:`MNIST` (``torchvision.datasets.FashionMNIST``),
    with Zalando's images and class names.
    """

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]

    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]


class KMNIST(MNIST):
    """`Kuzushiji-MNIST <https://github.com/rois-codh/kmnist>`_ Dataset
    (``torchvision.datasets.KMNIST``): MNIST's IDX files, layout and behaviour, with
    cursive Japanese characters as the ten classes."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]

    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


class EMNIST(MNIST):
    """`EMNIST <https://www.westernsydney.edu.au/bens/home/reproducible_research/emnist>`_
    Dataset (``torchvision.datasets.EMNIST``).

    Reads ``emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte`` (gzipped or not)
    from ``root/EMNIST/raw`` (or ``root``). As in torchvision the images are returned as
    stored in the files, i.e. transposed relative to MNIST's orientation.

    Args:
        root (str or ``pathlib.Path``): Root directory of the dataset.
        split (string): ``byclass``, ``bymerge``, ``balanced``, ``letters``, ``digits`` or
            ``mnist``.
        train, transform, target_transform, download: as for :class:`MNIST`; ``download``
            fetches NIST's ``gzip.zip`` (MD5-checked) and unpacks the split files.
    """

    url = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
    md5 = "58c8d27c78d21e728a6bc7b3cc06412e"
    splits = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
    # Merged Classes assumes Same structure for both uppercase and lowercase version
    _merged_classes = {"c", "i", "j", "k", "l", "m", "o", "p", "s", "u", "v", "w", "x", "y", "z"}
    _all_classes = set(string.digits + string.ascii_letters)
    classes_split_dict = {
        "byclass": sorted(_all_classes),
        "bymerge": sorted(_all_classes - _merged_classes),
        "balanced": sorted(_all_classes - _merged_classes),
        "letters": ["N/A"] + list(string.ascii_lowercase),
        "digits": list(string.digits),
        "mnist": list(string.digits),
    }

    def __init__(self, root: Union[str, os.PathLike], split: str, **kwargs: Any) -> None:
        if not isinstance(split, str):
            raise ValueError(f"Expected type str for argument split, but got type {type(split)}.")
        if split not in self.splits:
            raise ValueError(
                f"Unknown value '{split}' for argument split. Valid values are "
                f"{{{', '.join(repr(s) for s in self.splits)}}}."
            )
        self.split = split
        self.classes = self.classes_split_dict[split]
        super().__init__(root, **kwargs)

    def _prefix(self, train: bool) -> str:
        return f"emnist-{self.split}-{'train' if train else 'test'}"

    def _file_names(self) -> tuple[str, str]:
        prefix = self._prefix(self.train)
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    def _check_exists(self) -> bool:
        return all(
            any(os.path.isfile(p) for p in self._candidates(f"{self._prefix(train)}-{kind}-ubyte"))
            for train in (True, False)
            for kind in ("images-idx3", "labels-idx1")
        )

    def download(self) -> None:
        """Download NIST's ``gzip.zip`` (MD5-checked) and unpack the IDX files into
        ``raw_folder``, unless the split's files are already there."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        archive = download_url(self.url, root=self.raw_folder, md5=self.md5)
        extract_archive(archive, self.raw_folder)
        gzip_folder = os.path.join(self.raw_folder, "gzip")
        for gzip_file in os.listdir(gzip_folder):
            if gzip_file.endswith(".gz"):
                extract_archive(os.path.join(gzip_folder, gzip_file), self.raw_folder)
        shutil.rmtree(gzip_folder)
