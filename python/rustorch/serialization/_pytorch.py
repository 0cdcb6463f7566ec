"""PyTorch's checkpoint formats (``torch.save``/``torch.load``), read and written without
PyTorch.

* The **zip** format (``torch.save`` since 1.6): a zip archive (entries stored, not
  compressed) holding ``<prefix>/data.pkl``, the pickled object, and one
  ``<prefix>/data/<key>`` entry of raw little-endian bytes per storage, plus
  ``<prefix>/version`` and ``<prefix>/byteorder``.
* The **legacy** format (``_use_new_zipfile_serialization=False``, and most files from
  before 2021): five pickles -- magic number, protocol version, system info, the object, the
  list of storage keys -- then each storage as an int64 element count and its raw bytes.

In the object's pickle a tensor is ``torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, requires_grad, hooks)`` and a parameter ``_rebuild_parameter(tensor, requires_grad,
hooks)``; a storage is a persistent id ``("storage", torch.<X>Storage, key, location,
numel)`` (the legacy one adds a view: ``(view key, offset, size)`` or ``None``). Tensors
that share a storage name the same key, so they load as views of one storage.

Reading builds each storage once as a 1-D tensor on its device (after ``map_location``) and
each tensor as a strided view of it, checked to lie within it. With ``weights_only`` the
unpickler resolves only an allowlist of globals (rebuild functions, storage types, plain
containers, ``torch.Size``/``device``/dtypes, and the caller's safe globals); any other
raises :class:`pickle.UnpicklingError` naming it. Writing uses Python's own pickler with the
tensors reduced to the rebuild calls above, so PyTorch reads the files with
``weights_only=True``. Supported dtypes: float32/64, float16, bfloat16, int64/32/16/8, uint8
and bool. Not supported (``RuntimeError`` naming the file): complex, quantized, sparse and
nested tensors, big-endian files, and the pre-0.4 tar layout.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import importlib
import io
import math
import os
import pickle
import pickletools
import struct
import sys
import zipfile
from collections import OrderedDict
from typing import IO, Any, BinaryIO, Callable, Union

import numpy as np

import rustorch
from rustorch import Tensor

__all__ = ["is_pytorch_file", "read_pytorch", "write_pytorch"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# storage class -> (rustorch dtype name, NumPy dtype of its raw little-endian bytes);
# bfloat16 travels as its 16 bits.
_STORAGE_TYPES: dict[str, tuple[str, np.dtype]] = {
    "FloatStorage": ("float32", np.dtype("<f4")),
    "DoubleStorage": ("float64", np.dtype("<f8")),
    "HalfStorage": ("float16", np.dtype("<f2")),
    "BFloat16Storage": ("bfloat16", np.dtype("<u2")),
    "LongStorage": ("int64", np.dtype("<i8")),
    "IntStorage": ("int32", np.dtype("<i4")),
    "ShortStorage": ("int16", np.dtype("<i2")),
    "CharStorage": ("int8", np.dtype("i1")),
    "ByteStorage": ("uint8", np.dtype("u1")),
    "BoolStorage": ("bool", np.dtype("u1")),
    "UntypedStorage": ("uint8", np.dtype("u1")),
}
_STORAGE_OF_DTYPE = {dt: name for name, (dt, _) in _STORAGE_TYPES.items()
                     if name != "UntypedStorage"}


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def is_pytorch_file(raw: bytes) -> bool:
    """Whether ``raw`` starts like a PyTorch checkpoint (a zip archive or a pickle)."""
    return raw[:4] == b"PK\x03\x04" or (raw[:1] == b"\x80" and raw[1:2] in (b"\x02", b"\x03",
                                                                         b"\x04", b"\x05"))


# ---------------------------------------------------------------------------- reading


class _StorageType:
    """Stands for a ``torch.<X>Storage`` class named in a pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype, self.raw = _STORAGE_TYPES[name]


class _Storage:
    """A loaded storage: its elements as a 1-D tensor on its final device."""

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor


class _StorageView:
    """A legacy-format storage view: ``size`` elements of ``base`` from ``offset``."""

    def __init__(self, base: _Storage, offset: int, size: int) -> None:
        self.base, self.offset, self.size = base, offset, size


class _Refused(pickle.UnpicklingError):
    """A pickle this reader will not run (a global outside the allowlist, a foreign
    persistent id): raised as is, where a malformed pickle becomes a ``RuntimeError``."""


def _as_str(x: Any) -> str:
    return x.decode("ascii") if isinstance(x, bytes) else str(x)


class _Reader:
    """One file's reading: its storages, where they go, and the rebuild functions that the
    pickle calls (as bound methods, so that errors name the file)."""

    def __init__(self, name: str, map_location: Any, weights_only: bool,
                 safe: list[Any]) -> None:
        self.name = name
        self.map_location = map_location
        self.weights_only = weights_only
        self.storages: dict[str, _Storage] = {}
        self.allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): OrderedDict,
            ("collections", "Counter"): collections.Counter,
            ("builtins", "set"): set,
            ("builtins", "frozenset"): frozenset,
            ("builtins", "bytearray"): bytearray,
            ("_codecs", "encode"): codecs.encode,
            ("torch._utils", "_rebuild_tensor"): self.rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v2"): self.rebuild_tensor_v2,
            ("torch._utils", "_rebuild_parameter"): self.rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): self.rebuild_parameter_with_state,
            ("torch", "Size"): rustorch.Size,
            ("torch", "device"): rustorch.device,
        }
        for entry in safe:
            obj, full = entry if isinstance(entry, tuple) else (entry, None)
            if full is None:
                full = f"{obj.__module__}.{obj.__qualname__}"
            module, _, attr = full.rpartition(".")
            self.allowed[(module, attr)] = obj

    def error(self, what: str) -> RuntimeError:
        return RuntimeError(f"{self.name}: {what}")

    # -- globals

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names, as protocol-2 pickles write builtins (``__builtin__.set``).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module == "torch" and name in _STORAGE_TYPES:
            return _StorageType(name)
        if module == "torch":
            dt = getattr(rustorch, name, None)
            if dt is not None and type(dt) is type(rustorch.float32):
                return dt
        if self.weights_only:
            raise _Refused(
                f"{self.name}: Weights only load failed: unsupported global '{module}.{name}'. "
                "Only tensors, parameters, plain containers and the globals given to "
                "rustorch.serialization.add_safe_globals are loaded with weights_only=True; "
                "pass weights_only=False only for a file from a source you trust (it can run "
                "arbitrary code)"
            )
        return _import_global(module, name)

    # -- storages

    def storage(self, stype: Any, key: str, location: str, numel: Any,
                data: bytes) -> _Storage:
        """The storage ``key`` (``numel`` ``stype`` elements in ``data``) on its device, made
        once."""
        if key in self.storages:
            return self.storages[key]
        if not isinstance(stype, _StorageType):
            raise self.error(f"unsupported storage type {stype!r}")
        if not isinstance(numel, int) or numel * stype.raw.itemsize != len(data):
            raise self.error(
                f"corrupt checkpoint: storage {key!r} holds {len(data)} bytes, but its record "
                f"declares {numel!r} elements of {stype.raw.itemsize} bytes")
        arr = np.frombuffer(data, dtype=stype.raw, count=len(data) // stype.raw.itemsize)
        if stype.dtype == "bfloat16":
            f32 = (arr.astype(np.uint32) << 16).view(np.float32)
            t = rustorch.from_numpy(f32).to(rustorch.bfloat16)
        elif stype.dtype == "bool":
            t = rustorch.from_numpy(arr != 0)
        else:
            t = rustorch.from_numpy(arr.astype(arr.dtype.newbyteorder("="), copy=True))
        st = _Storage(self.relocate(t, location))
        self.storages[key] = st
        return st

    def relocate(self, t: Tensor, location: str) -> Tensor:
        """``t``, saved at ``location``, where ``map_location`` (or the location) says."""
        loc: Any = self.map_location
        if callable(loc):
            out = loc(t, location)
            if out is not None:
                return out
            loc = None
        elif isinstance(loc, dict):
            loc = loc.get(location, location)
        target = str(loc) if loc is not None else location
        if target.startswith("cuda") and not rustorch.cuda.is_available():
            raise self.error(
                "Attempting to deserialize object on a CUDA device but "
                "torch.cuda.is_available() is False. If you are running on a CPU-only machine, "
                "please use torch.load with map_location=torch.device('cpu') to map your "
                "storages to the CPU."
            )
        return t if target == str(t.device) else t.to(target)

    # -- rebuild functions named by the pickle

    def rebuild_tensor(self, storage: Any, offset: int, size: Any, stride: Any) -> Tensor:
        base, start, limit = (storage.base, storage.offset, storage.size) \
            if isinstance(storage, _StorageView) else (storage, 0, None)
        if not isinstance(base, _Storage):
            raise self.error("corrupt checkpoint: a tensor refers to no storage")
        flat = base.tensor
        limit = flat.numel() - start if limit is None else limit
        try:
            size = tuple(int(s) for s in size)
            stride = tuple(int(s) for s in stride)
            offset = int(offset)
        except (TypeError, ValueError):
            raise self.error(f"corrupt checkpoint: bad tensor size {size!r} or stride "
                             f"{stride!r}") from None
        if len(size) != len(stride) or any(not 0 <= s < 2**63 for s in size + stride + (offset,)):
            raise self.error(f"corrupt checkpoint: bad tensor size {size}, stride {stride} or "
                             f"offset {offset}")
        if math.prod(size) >= 2**63:
            raise self.error(f"corrupt checkpoint: a tensor of size {size} has more than 2^63 "
                             "elements (numel: integer multiplication overflow)")
        if math.prod(size) == 0:
            return rustorch.empty(size, dtype=flat.dtype, device=flat.device)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= limit or last >= 2**63:
            raise self.error(
                f"corrupt checkpoint: a tensor of size {size} and stride {stride} at offset "
                f"{offset} overruns its {limit}-element storage"
            )
        return flat.as_strided(size, stride, start + offset)

    def rebuild_tensor_v2(self, storage: Any, offset: int, size: Any, stride: Any,
                          requires_grad: bool, backward_hooks: Any,
                          metadata: Any = None) -> Tensor:
        t = self.rebuild_tensor(storage, offset, size, stride)
        if requires_grad:
            t.requires_grad_(True)
        return t

    def rebuild_parameter(self, data: Any, requires_grad: bool, backward_hooks: Any) -> Any:
        from rustorch.nn.parameter import Parameter

        if not isinstance(data, Tensor):
            raise self.error(f"corrupt checkpoint: a parameter of {type(data).__name__}")
        return Parameter(data.detach(), bool(requires_grad))

    def rebuild_parameter_with_state(self, data: Any, requires_grad: bool,
                                     backward_hooks: Any, state: Any) -> Any:
        p = self.rebuild_parameter(data, requires_grad, backward_hooks)
        if isinstance(state, dict):
            for k, v in state.items():
                setattr(p, k, v)
        return p

    # -- unpickling

    def unpickle(self, data: bytes, persistent_load: Callable[[Any], Any],
                 encoding: str) -> Any:
        reader = self

        class Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                return reader.find_class(module, name)

            def persistent_load(self, pid: Any) -> Any:
                return persistent_load(pid)

        try:
            return Unpickler(io.BytesIO(data), encoding=encoding).load()
        except (_Refused, RuntimeError):
            raise
        except Exception as e:  # a malformed pickle: EOF, bad opcode, bad arguments
            raise self.error(f"corrupt pickle ({type(e).__name__}: {e})") from None


def _import_global(module: str, name: str) -> Any:
    """A global of a fully trusted pickle; PyTorch's tensor and module classes map to
    rustorch's (``torch.nn.modules.linear.Linear`` to ``rustorch.nn.Linear``)."""
    if module == "torch" or module.startswith("torch."):
        ours = "rustorch" + module[len("torch"):]
        try:
            return _get_attr(importlib.import_module(ours), name)
        except (ImportError, AttributeError):
            parent = ours.rsplit(".", 2)[0] if ours.count(".") >= 2 else "rustorch"
            return _get_attr(importlib.import_module(parent), name)
    return _get_attr(importlib.import_module(module), name)


def _get_attr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _read_zip(reader: _Reader, raw: bytes, encoding: str) -> Any:
    name = reader.name
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise reader.error(f"not a valid PyTorch zip checkpoint (truncated or corrupt: {e})") \
            from None

    def entry(path: str) -> bytes:
        try:
            info = zf.getinfo(path)
        except KeyError:
            raise reader.error(f"corrupt checkpoint: no entry {path}") from None
        if info.file_size > len(raw):
            raise reader.error(
                f"entry {path} declares {info.file_size} bytes, more than the whole "
                f"{len(raw)}-byte file (a zip bomb?); refusing to expand it")
        try:
            # At most the declared size is inflated (``read()`` would inflate the whole
            # stream before cutting it), and the CRC is checked on the way.
            with zf.open(info) as fh:
                data = fh.read(info.file_size)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as e:
            raise reader.error(f"corrupt checkpoint: entry {path} cannot be read ({e})") \
                from None
        if len(data) != info.file_size:
            raise reader.error(f"corrupt checkpoint: entry {path} is cut short")
        return data

    with zf:
        pkl = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
        if not pkl:
            raise reader.error("a zip file without data.pkl is not a PyTorch checkpoint")
        prefix = pkl[0][: -len("data.pkl")]
        if prefix + "byteorder" in zf.namelist() and \
                entry(prefix + "byteorder").strip() not in (b"little", b""):
            raise reader.error("big-endian PyTorch checkpoints are not supported")

        def persistent_load(pid: Any) -> Any:
            if not isinstance(pid, tuple) or len(pid) < 4 or _as_str(pid[0]) != "storage":
                raise _Refused(f"{name}: unsupported persistent id {pid!r}")
            key = _as_str(pid[2])
            if key in reader.storages:
                return reader.storages[key]
            numel = pid[4] if len(pid) > 4 else None
            return reader.storage(pid[1], key, _as_str(pid[3]), numel,
                                  entry(f"{prefix}data/{key}"))

        return reader.unpickle(entry(pkl[0]), persistent_load, encoding)


def _pickle_end(reader: _Reader, raw: bytes, start: int) -> int:
    """Where the pickle starting at ``start`` ends, found without running it."""
    try:
        last = None
        for _op, _arg, pos in pickletools.genops(io.BytesIO(raw[start:])):
            last = pos
        if last is None:
            raise ValueError("empty")
    except Exception as e:
        raise reader.error(f"corrupt legacy checkpoint: the object's pickle is malformed "
                           f"({type(e).__name__}: {e})") from None
    return start + last + 1


def _read_legacy(reader: _Reader, raw: bytes, encoding: str) -> Any:
    fh = io.BytesIO(raw)

    def plain(what: str) -> Any:
        start = fh.tell()
        end = _pickle_end(reader, raw, start)
        fh.seek(end)

        def refuse(pid: Any) -> Any:
            raise _Refused(f"{reader.name}: unexpected persistent id in the {what}")

        return reader.unpickle(raw[start:end], refuse, encoding)

    if plain("magic number") != _LEGACY_MAGIC:
        raise reader.error("not a PyTorch checkpoint (bad magic number)")
    protocol = plain("protocol version")
    if protocol != _LEGACY_PROTOCOL:
        raise reader.error(f"unsupported legacy checkpoint protocol {protocol!r}")
    sys_info = plain("system info")
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise reader.error("big-endian PyTorch checkpoints are not supported")
    obj_start = fh.tell()
    obj_end = _pickle_end(reader, raw, obj_start)
    fh.seek(obj_end)
    keys = plain("storage key list")
    if not isinstance(keys, list):
        raise reader.error("corrupt legacy checkpoint: no storage key list")
    # Each storage's first byte and element count, by key.
    blobs: dict[str, tuple[int, int]] = {}

    def persistent_load(pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise _Refused(f"{reader.name}: unsupported persistent id {pid!r}")
        kind = _as_str(pid[0])
        if kind == "module":  # source code of a pickled module class: never used
            return pid[1] if len(pid) > 1 else None
        if kind != "storage" or len(pid) < 6:
            raise _Refused(f"{reader.name}: unsupported persistent id {pid!r}")
        _, stype, root_key, location, numel, view = pid[:6]
        key = _as_str(root_key)
        if key not in reader.storages:
            if not isinstance(stype, _StorageType):
                raise reader.error(f"unsupported storage type {stype!r}")
            if key not in blobs:
                raise reader.error(f"corrupt checkpoint: no data for storage {key!r}")
            begin, count = blobs[key]
            nbytes = count * stype.raw.itemsize
            if begin + nbytes > len(raw):
                raise reader.error(f"truncated checkpoint (storage {key!r} is cut short)")
            reader.storage(stype, key, _as_str(location), numel, raw[begin:begin + nbytes])
        st = reader.storages[key]
        if view is not None:
            _view_key, offset, size = view
            return _StorageView(st, int(offset), int(size))
        return st

    # The storages follow the key list: an int64 count, then the bytes. Their element size
    # is only known from the object's pickle, so the object is read by a first pass over
    # the persistent ids (without running anything) that records each storage's type.
    sizes = _legacy_storage_sizes(reader, raw[obj_start:obj_end])
    pos = fh.tell()
    for key in keys:
        key = _as_str(key)
        if key not in sizes:
            raise reader.error(f"corrupt checkpoint: unknown storage key {key!r}")
        if pos + 8 > len(raw):
            raise reader.error(f"truncated checkpoint (storage {key!r} is missing)")
        (count,) = struct.unpack("<q", raw[pos:pos + 8])
        if count < 0 or pos + 8 + count * sizes[key] > len(raw):
            raise reader.error(f"truncated checkpoint (storage {key!r} is cut short)")
        blobs[key] = (pos + 8, count)
        pos += 8 + count * sizes[key]
    return reader.unpickle(raw[obj_start:obj_end], persistent_load, encoding)


def _legacy_storage_sizes(reader: _Reader, pkl: bytes) -> dict[str, int]:
    """Each storage key's element size, from the persistent ids of a legacy object pickle,
    read with an unpickler that builds nothing but the ids."""
    sizes: dict[str, int] = {}

    class Probe(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == "torch" and name in _STORAGE_TYPES:
                return _StorageType(name)
            return _Inert

        def persistent_load(self, pid: Any) -> Any:
            if isinstance(pid, tuple) and len(pid) >= 3 and _as_str(pid[0]) == "storage" \
                    and isinstance(pid[1], _StorageType):
                sizes[_as_str(pid[2])] = pid[1].raw.itemsize
            return None

    try:
        Probe(io.BytesIO(pkl), encoding="utf-8").load()
    except Exception as e:
        raise reader.error(f"corrupt legacy checkpoint ({type(e).__name__}: {e})") from None
    return sizes


class _Inert:
    """Whatever a probing pass meets instead of a global: accepts any call and state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Inert":
        return object.__new__(cls)

    def __call__(self, *args: Any, **kwargs: Any) -> "_Inert":
        return _Inert()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


def read_pytorch(name: str, raw: bytes, map_location: Any, weights_only: bool,
                 safe_globals: list[Any], encoding: str = "utf-8") -> Any:
    """The object saved in the PyTorch checkpoint ``name`` whose bytes are ``raw``."""
    reader = _Reader(name, map_location, weights_only, safe_globals)
    if raw[:4] == b"PK\x03\x04":
        return _read_zip(reader, raw, encoding)
    return _read_legacy(reader, raw, encoding)


# ---------------------------------------------------------------------------- writing


class _Global:
    """A global (``module.name``) written into the pickle by name, without importing it."""

    _made: dict[tuple[str, str], "_Global"] = {}

    def __new__(cls, module: str, name: str) -> "_Global":
        key = (module, name)
        if key not in cls._made:
            g = object.__new__(cls)
            g.module, g.name = module, name
            cls._made[key] = g
        return cls._made[key]

    def __call__(self, *args: Any) -> Any:  # the pickler requires callables; never called
        raise TypeError(f"{self.module}.{self.name} is a name in a pickle")


class _StorageRef:
    """A storage in the pickle: its persistent id."""

    def __init__(self, pid: tuple) -> None:
        self.pid = pid


class _Writer:
    """Collects each distinct storage once (by device, address and dtype) while the object
    is pickled."""

    def __init__(self, legacy: bool) -> None:
        self.legacy = legacy
        self.refs: dict[tuple[str, int, str], _StorageRef] = {}
        self.blobs: list[tuple[str, bytes, int]] = []  # (key, bytes, numel)

    def storage(self, t: Tensor) -> _StorageRef:
        dtype = _dtype_name(t.dtype)
        if dtype not in _STORAGE_OF_DTYPE:
            raise TypeError(f"rustorch.save: cannot save a tensor of dtype {t.dtype}")
        ident = (str(t.device), t.untyped_storage().data_ptr(), dtype)
        ref = self.refs.get(ident)
        if ref is not None:
            return ref
        itemsize = t.element_size()
        numel = t.untyped_storage().nbytes() // itemsize
        flat = t.detach().as_strided((numel,), (1,), 0).cpu()
        if dtype == "bfloat16":
            data = (np.ascontiguousarray(flat.float().numpy()).view(np.uint32) >> 16) \
                .astype("<u2").tobytes()
        elif dtype == "bool":
            data = np.ascontiguousarray(flat.numpy()).astype(np.uint8).tobytes()
        else:
            arr = np.ascontiguousarray(flat.numpy())
            data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        key = str(len(self.blobs))
        location = str(t.device)
        stype = _Global("torch", _STORAGE_OF_DTYPE[dtype])
        pid = ("storage", stype, key, location, numel)
        if self.legacy:
            pid = pid + (None,)
        ref = _StorageRef(pid)
        self.refs[ident] = ref
        self.blobs.append((key, data, numel))
        return ref

    def reduce_tensor(self, t: Tensor) -> tuple:
        from rustorch.nn.parameter import Parameter

        if isinstance(t, Parameter):
            return (_Global("torch._utils", "_rebuild_parameter"),
                    (t.detach(), bool(t.requires_grad), OrderedDict()))
        return (_Global("torch._utils", "_rebuild_tensor_v2"),
                (self.storage(t), t.storage_offset(), tuple(t.shape), tuple(t.stride()),
                 bool(t.requires_grad), OrderedDict()))

    def pickle(self, obj: Any, protocol: int) -> bytes:
        writer = self
        out = io.BytesIO()

        class Pickler(pickle._Pickler):  # type: ignore[name-defined]
            dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

            def save_named_global(self, g: _Global) -> None:
                self.write(pickle.GLOBAL + f"{g.module}\n{g.name}\n".encode("utf-8"))
                self.memoize(g)

            dispatch[_Global] = save_named_global

            def save_dtype(self, dt: Any) -> None:  # ``torch.float16``, as PyTorch writes it
                self.save_named_global(_Global("torch", _dtype_name(dt)))

            dispatch[type(rustorch.float32)] = save_dtype

            def persistent_id(self, o: Any) -> Any:
                return o.pid if isinstance(o, _StorageRef) else None

            def reducer_override(self, o: Any) -> Any:
                if isinstance(o, Tensor):
                    return writer.reduce_tensor(o)
                if isinstance(o, rustorch.Size):
                    return (_Global("torch", "Size"), (tuple(int(v) for v in o),))
                if isinstance(o, rustorch.device):
                    return (_Global("torch", "device"), (str(o),))
                return NotImplemented

        Pickler(out, protocol=protocol).dump(obj)
        return out.getvalue()


def _aligned_entry(zf: zipfile.ZipFile, path: str, data: bytes) -> None:
    """Writes ``data`` as a stored entry whose bytes start at a multiple of 64 in the
    archive (as PyTorch aligns them, for memory mapping)."""
    info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header = 30 + len(path.encode("utf-8")) + 4
    pad = (-(zf.start_dir + header)) % 64
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    zf.writestr(info, data)


def write_pytorch(obj: Any, f: Union[str, os.PathLike, BinaryIO, IO[bytes]], *,
                  zip_format: bool = True, protocol: int = 2,
                  byteorder_record: bool = True) -> None:
    """Writes ``obj`` to ``f`` in PyTorch's zip format, or its legacy one."""
    if protocol < 2:
        raise ValueError(f"rustorch.save: pickle_protocol must be at least 2, got {protocol}")
    writer = _Writer(legacy=not zip_format)
    pkl = writer.pickle(obj, protocol)
    buf = io.BytesIO()
    if zip_format:
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            _aligned_entry(zf, "archive/data.pkl", pkl)
            if byteorder_record:
                _aligned_entry(zf, "archive/byteorder", sys.byteorder.encode("ascii"))
            for key, data, _numel in writer.blobs:
                _aligned_entry(zf, f"archive/data/{key}", data)
            _aligned_entry(zf, "archive/version", b"3\n")
            _aligned_entry(zf, "archive/.data/version", b"3\n")
    else:
        sys_info = {"protocol_version": _LEGACY_PROTOCOL, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}
        for head in (_LEGACY_MAGIC, _LEGACY_PROTOCOL, sys_info):
            pickle.dump(head, buf, protocol=protocol)
        buf.write(pkl)
        pickle.dump([key for key, _, _ in writer.blobs], buf, protocol=protocol)
        for _key, data, numel in writer.blobs:
            buf.write(struct.pack("<q", numel))
            buf.write(data)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(buf.getvalue())
    else:
        f.write(buf.getvalue())

