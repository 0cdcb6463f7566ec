"""``torch.utils.dlpack``: DLPack capsules in and out."""

from __future__ import annotations

from typing import Any

import rustorch
from rustorch import Tensor


def from_dlpack(ext: Any) -> Tensor:
    """A tensor from an object with ``__dlpack__`` or a DLPack capsule (consumed once), as
    ``torch.utils.dlpack.from_dlpack``; see :func:`rustorch.from_dlpack`."""
    return rustorch.from_dlpack(ext)


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule viewing ``tensor``'s memory (``torch.utils.dlpack.to_dlpack``)."""
    return tensor.__dlpack__()
