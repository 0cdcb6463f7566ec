"""``torch.save`` / ``torch.load`` and ``torch.serialization``: PyTorch's checkpoint formats,
read and written without PyTorch, and safetensors.

* :func:`save` writes PyTorch's **zip** format by default (what ``torch.save`` writes since
  1.6; ``torch.load(f, weights_only=True)`` reads it), its **legacy** format with
  ``_use_new_zipfile_serialization=False``, and **safetensors** when the file name ends in
  ``.safetensors``. Storages are written once however many tensors view them, so views and
  shared storages stay shared; whole objects (a ``nn.Module``) are pickled.
* :func:`load` reads the three, telling them apart by their first bytes. As PyTorch ≥ 2.6,
  ``weights_only`` defaults to ``True``: the pickle is read by an unpickler that knows only
  tensors, parameters, plain containers and the globals given to :func:`add_safe_globals` /
  :class:`safe_globals`; any other global raises :class:`pickle.UnpicklingError` naming it,
  and nothing the file says is run. ``weights_only=False`` unpickles fully (only for files
  you trust, as PyTorch warns).

Implementation: :mod:`._pytorch` (both PyTorch formats) and :mod:`._safetensors`.
"""

from __future__ import annotations

import os
from typing import IO, Any, BinaryIO, Callable, Optional, Union

from ._pytorch import is_pytorch_file, read_pytorch, write_pytorch
from ._safetensors import read_safetensors, write_safetensors

__all__ = [
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "load",
    "safe_globals",
    "save",
]

FILE_LIKE = Union[str, os.PathLike, BinaryIO, IO[bytes]]
MAP_LOCATION = Optional[Union[str, Callable, dict, Any]]

# ``torch.serialization``'s allowlist for ``weights_only`` unpickling: classes and functions
# a file may name besides tensors and plain containers.
_SAFE_GLOBALS: list[Any] = []


def add_safe_globals(safe_globals: list[Any]) -> None:
    """``torch.serialization.add_safe_globals``: lets ``load(weights_only=True)`` rebuild
    these classes and call these functions (an entry may also be a ``(obj, "module.name")``
    pair, for a global saved under another name)."""
    _SAFE_GLOBALS.extend(safe_globals)


def get_safe_globals() -> list[Any]:
    """The globals added by :func:`add_safe_globals`."""
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    """Forgets every global added by :func:`add_safe_globals`."""
    _SAFE_GLOBALS.clear()


class safe_globals:  # noqa: N801 - PyTorch's name
    """``torch.serialization.safe_globals(list)``: :func:`add_safe_globals` for the duration
    of a ``with`` block."""

    def __init__(self, safe_globals: list[Any]) -> None:
        self.safe_globals = list(safe_globals)

    def __enter__(self) -> None:
        self.saved = list(_SAFE_GLOBALS)
        _SAFE_GLOBALS.extend(self.safe_globals)

    def __exit__(self, *exc: Any) -> None:
        _SAFE_GLOBALS[:] = self.saved


def _file_name(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return str(getattr(f, "name", "<file-like object>"))


def _is_safetensors_name(f: Any) -> bool:
    return _file_name(f).endswith(".safetensors")


def save(
    obj: Any,
    f: FILE_LIKE,
    pickle_module: Any = None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """``torch.save(obj, f)``: ``obj`` to ``f`` (a path or a writable binary file).

    PyTorch's zip format (``torch.load`` reads it), or its legacy format with
    ``_use_new_zipfile_serialization=False``, or safetensors when ``f``'s name ends in
    ``.safetensors`` (tensors, NumPy arrays and nested containers of them and of Python
    scalars only). ``pickle_module`` is not supported (``ValueError`` unless ``None`` or
    :mod:`pickle`); ``pickle_protocol`` is honoured from 2 up.
    """
    if pickle_module is not None and getattr(pickle_module, "__name__", "") != "pickle":
        raise ValueError("rustorch.save: only the standard pickle module is supported")
    if _is_safetensors_name(f):
        write_safetensors(obj, f)
        return
    write_pytorch(obj, f, zip_format=_use_new_zipfile_serialization,
                  protocol=int(pickle_protocol), byteorder_record=not _disable_byteorder_record)


def _read_all(f: FILE_LIKE) -> bytes:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return fh.read()
    if isinstance(f, (bytes, bytearray)):
        return bytes(f)
    data = f.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("rustorch.load: expected a path or a binary file object")
    return bytes(data)


def load(
    f: FILE_LIKE,
    map_location: MAP_LOCATION = None,
    pickle_module: Any = None,
    *,
    weights_only: Optional[bool] = None,
    mmap: Optional[bool] = None,
    **pickle_load_args: Any,
) -> Any:
    """``torch.load(f, map_location=None, *, weights_only=None, mmap=None)``: the object
    saved in ``f`` (a path or a readable binary file), in PyTorch's zip or legacy format or
    in safetensors.

    ``weights_only`` is ``True`` unless ``False`` is passed (PyTorch ≥ 2.6's default): see
    the module docstring. ``map_location`` moves the tensors as PyTorch's does: a device or
    its name, a ``{saved location: device}`` dict, or ``fn(storage, location)`` returning
    the storage to use (``None`` keeps the default). A tensor saved on a CUDA device loads
    there, or raises ``RuntimeError`` when CUDA is not available and no ``map_location``
    says otherwise. ``mmap`` is accepted; the file is read into memory either way. A file in
    none of the formats, truncated or corrupt raises ``RuntimeError`` naming the file and
    what is wrong.
    """
    name = _file_name(f)
    raw = _read_all(f)
    if is_pytorch_file(raw):
        return read_pytorch(name, raw, map_location, weights_only is not False,
                            list(_SAFE_GLOBALS), pickle_load_args.get("encoding", "utf-8"))
    try:
        return read_safetensors(name, raw, map_location)
    except RuntimeError as e:
        head = f"{name}: not a safetensors file"
        if not str(e).startswith(head):
            raise
        raise RuntimeError(f"{name}: not a PyTorch checkpoint (zip or pickle) and not a "
                           f"safetensors file{str(e)[len(head):]}") from None
