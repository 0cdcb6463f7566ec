"""``save_file`` / ``load_file`` in the safetensors format, as ``safetensors.torch`` offers
them, for users who want that format whatever the file is called (:func:`rustorch.save`
writes it only for names ending in ``.safetensors``).

Differs from ``safetensors.torch``: tensors that share memory are written once each (no
error), and the files also carry rustorch's ``rustorch.structure`` metadata entry, which
other readers ignore.
"""

from __future__ import annotations

import io
import os
from typing import Optional, Union

from rustorch import Tensor
from rustorch.serialization._safetensors import read_safetensors, write_safetensors

__all__ = ["load", "load_file", "save", "save_file"]


def _check(tensors: dict[str, Tensor]) -> None:
    if not isinstance(tensors, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in tensors.items()):
        raise TypeError("safetensors: expected a dict of str to Tensor")


def save_file(tensors: dict[str, Tensor], filename: Union[str, os.PathLike],
              metadata: Optional[dict[str, str]] = None) -> None:
    """Write the ``{name: tensor}`` dict to ``filename``, with string ``metadata``."""
    _check(tensors)
    write_safetensors(dict(tensors), filename, metadata)


def save(tensors: dict[str, Tensor], metadata: Optional[dict[str, str]] = None) -> bytes:
    """The ``{name: tensor}`` dict as the bytes of a safetensors file."""
    _check(tensors)
    buf = io.BytesIO()
    write_safetensors(dict(tensors), buf, metadata)
    return buf.getvalue()


def _on(tensors: dict[str, Tensor], device: str) -> dict[str, Tensor]:
    return {k: v if str(v.device) == str(device) else v.to(device) for k, v in tensors.items()}


def load_file(filename: Union[str, os.PathLike], device: str = "cpu") -> dict[str, Tensor]:
    """The ``{name: tensor}`` dict in the safetensors file ``filename``, on ``device``."""
    with open(filename, "rb") as fh:
        raw = fh.read()
    return _on(dict(read_safetensors(os.fspath(filename), raw)), device)


def load(data: bytes) -> dict[str, Tensor]:
    """The ``{name: tensor}`` dict in the bytes of a safetensors file."""
    return dict(read_safetensors("<bytes>", bytes(data)))
