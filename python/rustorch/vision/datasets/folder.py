"""``DatasetFolder`` / ``ImageFolder``, matching ``torchvision.datasets.folder``.

A root folder holds one sub-folder per class (``root/dog/xxx.png``, ``root/cat/123.png``);
classes are the sorted sub-folder names and every valid file under a class folder
(recursively, following links) is a sample ``(path, class_index)``. ``ImageFolder``'s
default loader opens images with Pillow (``convert('RGB')``) and returns PIL images, as
torchvision does; Pillow is needed only when a sample is loaded.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

from .vision import VisionDataset

__all__ = [
    "IMG_EXTENSIONS", "has_file_allowed_extension", "is_image_file", "find_classes",
    "make_dataset", "DatasetFolder", "ImageFolder", "pil_loader", "default_loader",
]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename: str, extensions: Union[str, tuple[str, ...]]) -> bool:
    """Whether ``filename`` ends (case-insensitively) with one of ``extensions``."""
    return filename.lower().endswith(extensions if isinstance(extensions, str)
                                     else tuple(extensions))


def is_image_file(filename: str) -> bool:
    """Whether ``filename`` has one of :data:`IMG_EXTENSIONS`."""
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def find_classes(directory: Union[str, os.PathLike]) -> tuple[list[str], dict[str, int]]:
    """Sorted class folder names of ``directory`` and their indices; raises
    ``FileNotFoundError`` if there is none."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    class_to_idx = {cls_name: i for i, cls_name in enumerate(classes)}
    return classes, class_to_idx


def make_dataset(
    directory: Union[str, os.PathLike],
    class_to_idx: Optional[dict[str, int]] = None,
    extensions: Optional[Union[str, tuple[str, ...]]] = None,
    is_valid_file: Optional[Callable[[str], bool]] = None,
    allow_empty: bool = False,
) -> list[tuple[str, int]]:
    """``(path, class_index)`` for every valid file, classes in sorted order and files
    sorted within each folder. Exactly one of ``extensions`` / ``is_valid_file`` must be
    given. A class without any valid file raises ``FileNotFoundError`` unless
    ``allow_empty``."""
    directory = os.path.expanduser(str(directory))
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    both_none = extensions is None and is_valid_file is None
    both_something = extensions is not None and is_valid_file is not None
    if both_none or both_something:
        raise ValueError(
            "Both extensions and is_valid_file cannot be None or not None at the same time"
        )
    if extensions is not None:
        exts = extensions

        def is_valid_file(x: str) -> bool:
            return has_file_allowed_extension(x, exts)

    assert is_valid_file is not None
    instances = []
    available_classes = set()
    for target_class in sorted(class_to_idx.keys()):
        class_index = class_to_idx[target_class]
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_index))
                    available_classes.add(target_class)
    empty_classes = set(class_to_idx.keys()) - available_classes
    if empty_classes and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty_classes))}. "
        if extensions is not None:
            msg += "Supported extensions are: " + (
                extensions if isinstance(extensions, str) else ", ".join(extensions)
            )
        raise FileNotFoundError(msg)
    return instances


class DatasetFolder(VisionDataset):
    """A generic folder-per-class dataset (``torchvision.datasets.DatasetFolder``).

    Args:
        root: Root directory path.
        loader: A function loading a sample from its path.
        extensions: Allowed extensions (exclusive with ``is_valid_file``).
        transform, target_transform: applied to the sample / the class index.
        is_valid_file: A function telling whether a path is a valid sample.
        allow_empty: accept class folders without any valid file.

    Attributes: ``classes``, ``class_to_idx``, ``samples`` (``(path, class_index)`` pairs)
    and ``targets``.
    """

    def __init__(
        self,
        root: Union[str, os.PathLike],
        loader: Callable[[str], Any],
        extensions: Optional[tuple[str, ...]] = None,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        is_valid_file: Optional[Callable[[str], bool]] = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx=class_to_idx, extensions=extensions,
                                    is_valid_file=is_valid_file, allow_empty=allow_empty)
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(
        directory: Union[str, os.PathLike],
        class_to_idx: dict[str, int],
        extensions: Optional[tuple[str, ...]] = None,
        is_valid_file: Optional[Callable[[str], bool]] = None,
        allow_empty: bool = False,
    ) -> list[tuple[str, int]]:
        """See :func:`make_dataset` (``class_to_idx`` is required here)."""
        if class_to_idx is None:
            raise ValueError("The class_to_idx parameter cannot be None.")
        return make_dataset(directory, class_to_idx, extensions=extensions,
                            is_valid_file=is_valid_file, allow_empty=allow_empty)

    def find_classes(self, directory: Union[str, os.PathLike]) -> tuple[list[str], dict[str, int]]:
        """See :func:`find_classes`; override to use another folder structure."""
        return find_classes(directory)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        sample = self.loader(path)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target

    def __len__(self) -> int:
        return len(self.samples)


def pil_loader(path: Union[str, os.PathLike]) -> Any:
    """Open ``path`` with Pillow and ``convert('RGB')`` (needs Pillow)."""
    from rustorch.vision.transforms._functional_pil import require_pil

    Image = require_pil("rustorch.vision.datasets.folder.pil_loader")
    with open(path, "rb") as f:
        img = Image.open(f)
        return img.convert("RGB")


def default_loader(path: Union[str, os.PathLike]) -> Any:
    """:func:`pil_loader` (torchvision may use accimage instead; rustorch does not)."""
    return pil_loader(path)


class ImageFolder(DatasetFolder):
    """Folder-per-class image dataset (``torchvision.datasets.ImageFolder``): samples are
    files with :data:`IMG_EXTENSIONS` (or accepted by ``is_valid_file``), loaded with
    ``loader`` (default: a PIL RGB image). ``imgs`` is ``samples``."""

    def __init__(
        self,
        root: Union[str, os.PathLike],
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        loader: Callable[[str], Any] = default_loader,
        is_valid_file: Optional[Callable[[str], bool]] = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__(
            root,
            loader,
            IMG_EXTENSIONS if is_valid_file is None else None,
            transform=transform,
            target_transform=target_transform,
            is_valid_file=is_valid_file,
            allow_empty=allow_empty,
        )
        self.imgs = self.samples
