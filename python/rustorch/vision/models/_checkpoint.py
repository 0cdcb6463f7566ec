"""Read PyTorch ``torch.save`` checkpoints (``.pth``) without PyTorch and without running code.

:func:`rustorch.load` only reads the safetensors layout written by :func:`rustorch.save`; the
pretrained files that torchvision puts in the hub cache are PyTorch checkpoints instead, in
one of two layouts:

* the **zip** layout (``torch.save`` since PyTorch 1.6): a zip archive holding
  ``<prefix>/data.pkl`` (the pickled object) and one ``<prefix>/data/<key>`` entry of raw
  little-endian bytes per storage;
* the **legacy** layout (``_use_new_zipfile_serialization=False``, and most torchvision files
  from before 2021): five concatenated pickles -- magic number, protocol version, system
  info, the object, the list of storage keys -- followed by each storage as an int64
  element count and its raw bytes.

Like ``torch.load(..., weights_only=True)`` the pickles are read by an unpickler that only
knows a fixed allow-list of globals (``collections.OrderedDict``, the ``torch._utils``
tensor/parameter rebuild functions and the ``torch.*Storage`` type tags); any other global
raises :class:`pickle.UnpicklingError` naming it, so no code from the file is ever executed.

Supported storage types: float32/64, float16, bfloat16, int64, int32, int16, int8, uint8 and
bool. Not supported (``RuntimeError``
naming the type): complex and quantized storages, the ``_rebuild_tensor_v3`` and sparse/
nested rebuilds, big-endian files, and the pre-0.4 tar layout.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import IO, Any, Optional, Union

import numpy as np

import rustorch

__all__ = ["is_torch_checkpoint", "load_torch_checkpoint"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# storage type name -> (numpy dtype of the raw bytes, element size)
_STORAGE_TYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),  # converted to float32 bits, then to rustorch.bfloat16
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
    "UntypedStorage": np.dtype("u1"),
}


class _StorageType:
    """Stand-in for a ``torch.<X>Storage`` class named in a pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_TYPES[name]


class _Storage:
    """A storage named by a persistent id; ``data`` is filled in once its bytes are read."""

    def __init__(self, stype: _StorageType, key: str, numel: int) -> None:
        self.stype = stype
        self.key = key
        self.numel = numel
        self.data: Optional[np.ndarray] = None


class _StorageView:
    """A legacy-format storage view (``view_metadata``): ``size`` elements from ``offset``."""

    def __init__(self, base: _Storage, offset: int, size: int) -> None:
        self.base = base
        self.offset = offset
        self.size = size


class _LazyTensor:
    """A tensor to build once every storage has been read (the legacy layout stores the
    bytes after the pickle)."""

    def __init__(
        self, storage: Any, offset: int, size: tuple, stride: tuple, requires_grad: bool,
        parameter: bool = False,
    ) -> None:
        self.storage = storage
        self.offset = int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)
        self.requires_grad = bool(requires_grad)
        self.parameter = parameter


def _rebuild_tensor(storage: Any, storage_offset: int, size: tuple, stride: tuple) -> _LazyTensor:
    return _LazyTensor(storage, storage_offset, size, stride, False)


def _rebuild_tensor_v2(
    storage: Any, storage_offset: int, size: tuple, stride: tuple, requires_grad: bool,
    backward_hooks: Any, metadata: Any = None,
) -> _LazyTensor:
    return _LazyTensor(storage, storage_offset, size, stride, requires_grad)


def _rebuild_parameter(data: Any, requires_grad: bool, backward_hooks: Any) -> Any:
    if isinstance(data, _LazyTensor):
        data.parameter = True
        data.requires_grad = bool(requires_grad)
    return data


def _rebuild_parameter_with_state(
    data: Any, requires_grad: bool, backward_hooks: Any, state: Any
) -> Any:
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch", "Size"): tuple,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, fh: IO[bytes], name: str, persistent_load: Any) -> None:
        super().__init__(fh, encoding="utf-8")
        self._name = name
        self._persistent_load = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "torch" and name in _STORAGE_TYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f"{self._name}: refusing to load the global '{module}.{name}': only plain state "
            "dicts of tensors are read (as torch.load(weights_only=True)); complex, quantized "
            "and sparse tensors and arbitrary Python objects are not supported"
        )

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent_load(pid)


def _as_str(x: Any) -> str:
    return x.decode("ascii") if isinstance(x, bytes) else str(x)


def _storage_type(name: str, x: Any) -> _StorageType:
    if isinstance(x, _StorageType):
        return x
    raise RuntimeError(f"{name}: unsupported storage type {x!r} in a persistent id")


def _to_tensor(name: str, lazy: _LazyTensor) -> Any:
    st = lazy.storage
    base_offset = 0
    if isinstance(st, _StorageView):
        base_offset = st.offset
        limit = st.size
        st = st.base
    if not isinstance(st, _Storage) or st.data is None:
        raise RuntimeError(f"{name}: corrupt checkpoint: a tensor refers to a missing storage")
    data = st.data[base_offset:]
    if isinstance(lazy.storage, _StorageView):
        data = data[:limit]
    numel = int(np.prod(lazy.size)) if lazy.size else 1
    if len(lazy.stride) != len(lazy.size) or any(s < 0 for s in lazy.stride):
        raise RuntimeError(f"{name}: corrupt checkpoint: bad strides {lazy.stride} for {lazy.size}")
    if numel == 0:
        arr = np.zeros(lazy.size, dtype=data.dtype)
    else:
        last = lazy.offset + sum((n - 1) * s for n, s in zip(lazy.size, lazy.stride))
        if lazy.offset < 0 or last >= len(data):
            raise RuntimeError(
                f"{name}: corrupt checkpoint: a tensor of size {lazy.size} and stride "
                f"{lazy.stride} at offset {lazy.offset} overruns its {len(data)}-element storage"
            )
        item = data.dtype.itemsize
        arr = np.lib.stride_tricks.as_strided(
            data[lazy.offset:], shape=lazy.size, strides=[s * item for s in lazy.stride],
            writeable=False,
        ).copy()
    kind = st.stype.name
    if kind == "BFloat16Storage":
        f32 = (arr.astype(np.uint32) << 16).view(np.float32)
        t = rustorch.from_numpy(f32.copy(order="C")).to(rustorch.bfloat16)
    else:
        t = rustorch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), order="C"))
    if lazy.parameter:
        from rustorch.nn.parameter import Parameter

        return Parameter(t, lazy.requires_grad)
    if lazy.requires_grad:
        t.requires_grad_(True)
    return t


def _resolve(name: str, obj: Any) -> Any:
    if isinstance(obj, _LazyTensor):
        return _to_tensor(name, obj)
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _resolve(name, v)
        meta = getattr(obj, "_metadata", None)
        if meta is not None:
            out._metadata = meta  # type: ignore[attr-defined]
        return out
    if isinstance(obj, list):
        return [_resolve(name, v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(name, v) for v in obj)
    return obj


def is_torch_checkpoint(raw: bytes) -> bool:
    """Whether ``raw`` starts like a PyTorch checkpoint (zip archive or pickle stream)."""
    return raw[:4] == b"PK\x03\x04" or (raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03",
                                                                         b"\x04", b"\x05"))


def _load_zip(name: str, raw: bytes) -> Any:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if not pkl:
            raise RuntimeError(f"{name}: a zip file without data.pkl is not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        order = prefix + "byteorder"
        if order in names and zf.read(order).strip() not in (b"little", b""):
            raise RuntimeError(f"{name}: big-endian PyTorch checkpoints are not supported")
        storages: dict[str, _Storage] = {}

        def persistent_load(pid: Any) -> Any:
            if not isinstance(pid, tuple) or not pid or _as_str(pid[0]) != "storage":
                raise pickle.UnpicklingError(f"{name}: unsupported persistent id {pid!r}")
            stype = _storage_type(name, pid[1])
            key = _as_str(pid[2])
            if key not in storages:
                entry = f"{prefix}data/{key}"
                try:
                    buf = zf.read(entry)
                except KeyError:
                    raise RuntimeError(f"{name}: corrupt checkpoint: no entry {entry}") from None
                st = _Storage(stype, key, len(buf) // stype.dtype.itemsize)
                st.data = np.frombuffer(buf, dtype=stype.dtype, count=st.numel)
                storages[key] = st
            return storages[key]

        obj = _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), name, persistent_load).load()
    return _resolve(name, obj)


def _load_legacy(name: str, raw: bytes) -> Any:
    fh = io.BytesIO(raw)

    def plain(what: str) -> Any:
        def refuse(pid: Any) -> Any:
            raise pickle.UnpicklingError(f"{name}: unexpected persistent id in the {what}")

        return _RestrictedUnpickler(fh, name, refuse).load()

    magic = plain("magic number")
    if magic != _LEGACY_MAGIC:
        raise RuntimeError(f"{name}: not a PyTorch checkpoint (bad magic number {magic!r})")
    protocol = plain("protocol version")
    if protocol != _LEGACY_PROTOCOL:
        raise RuntimeError(f"{name}: unsupported legacy checkpoint protocol {protocol!r}")
    sys_info = plain("system info")
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise RuntimeError(f"{name}: big-endian PyTorch checkpoints are not supported")
    storages: dict[str, _Storage] = {}

    def persistent_load(pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"{name}: unsupported persistent id {pid!r}")
        kind = _as_str(pid[0])
        if kind == "module":  # source code of a pickled module class: never used
            return pid[1] if len(pid) > 1 else None
        if kind != "storage" or len(pid) < 6:
            raise pickle.UnpicklingError(f"{name}: unsupported persistent id {pid!r}")
        _, stype_x, root_key, _location, numel, view = pid[:6]
        stype = _storage_type(name, stype_x)
        key = _as_str(root_key)
        if key not in storages:
            storages[key] = _Storage(stype, key, int(numel))
        if view is not None:
            _view_key, offset, size = view
            return _StorageView(storages[key], int(offset), int(size))
        return storages[key]

    obj = _RestrictedUnpickler(fh, name, persistent_load).load()
    keys = plain("storage key list")
    for key in keys:
        key = _as_str(key)
        st = storages.get(key)
        if st is None:
            raise RuntimeError(f"{name}: corrupt checkpoint: unknown storage key {key!r}")
        head = fh.read(8)
        if len(head) != 8:
            raise RuntimeError(f"{name}: truncated checkpoint (storage {key!r} is missing)")
        (count,) = struct.unpack("<q", head)
        nbytes = max(count, 0) * st.stype.dtype.itemsize
        buf = fh.read(nbytes)
        if count < 0 or len(buf) != nbytes:
            raise RuntimeError(f"{name}: truncated checkpoint (storage {key!r} is cut short)")
        st.data = np.frombuffer(buf, dtype=st.stype.dtype, count=count)
        st.numel = count
    return _resolve(name, obj)


def load_torch_checkpoint(
    f: Union[str, os.PathLike, bytes], name: Optional[str] = None
) -> Any:
    """Read a PyTorch checkpoint (zip or legacy layout) into rustorch tensors on the CPU.

    ``f`` is a path or the file's bytes. Returns the saved object with every tensor as a
    :class:`rustorch.Tensor` (parameters as :class:`rustorch.nn.Parameter`); raises
    ``RuntimeError`` naming the file for anything this reader does not handle (see the
    module docstring) and ``pickle.UnpicklingError`` for globals outside the allow-list.
    """
    if isinstance(f, (bytes, bytearray)):
        raw = bytes(f)
        name = name or "<bytes>"
    else:
        name = name or os.fspath(f)
        with open(f, "rb") as fh:
            raw = fh.read()
    if raw[:4] == b"PK\x03\x04":
        return _load_zip(name, raw)
    if is_torch_checkpoint(raw):
        return _load_legacy(name, raw)
    raise RuntimeError(
        f"{name}: not a PyTorch checkpoint (neither a zip archive nor a pickle stream)"
    )
