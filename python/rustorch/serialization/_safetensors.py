"""The safetensors format of ``rustorch.save`` (file names ending in ``.safetensors``) and
``rustorch.load``.

A file is the standard `safetensors <https://github.com/huggingface/safetensors>`_ layout:

* 8 bytes: little-endian unsigned 64-bit length ``N`` of the header;
* ``N`` bytes: a UTF-8 JSON object (padded with spaces to a multiple of 8) mapping each
  tensor name to ``{"dtype": "F32"|"F64"|"F16"|"BF16"|"I64"|"I32"|"I16"|"I8"|"U8"|"BOOL",
  "shape": [...],
  "data_offsets": [begin, end]}`` (offsets relative to the byte buffer), plus
  ``"__metadata__"``: ``{"format": "pt", "rustorch.structure": "<JSON>"}``;
* the byte buffer: every tensor's data, contiguous, little-endian, row-major.

The ``rustorch.structure`` entry records the non-tensor part of the saved object (nested
dicts with ``str``/``int``/... keys, lists, tuples, ``str``/``int``/``float``/``bool``/
``None``, dtypes, NumPy arrays) as plain JSON, so loading never runs code: there is no
pickle anywhere. Tensor names are the dotted key paths (``"fc1.weight"``,
``"state.0.exp_avg"``), so a saved ``state_dict`` is also a regular safetensors file that
other tools read, and :func:`load` reads plain safetensors files (returning a ``dict``).

Whole ``nn.Module`` objects are not saved this way (that needs pickle): the default,
PyTorch's zip format (:mod:`._pytorch`), saves them.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections import OrderedDict
from typing import IO, Any, BinaryIO, Optional, Union

import numpy as np

import rustorch
from rustorch import Tensor

__all__ = ["read_safetensors", "write_safetensors"]

FILE_LIKE = Union[str, os.PathLike, BinaryIO, IO[bytes]]

_STRUCTURE_KEY = "rustorch.structure"
_FORMAT_VERSION = 1

_DTYPE_TO_CODE = {
    "float32": "F32",
    "float64": "F64",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
    "float16": "F16",
    "bfloat16": "BF16",
}
# NumPy has no bfloat16: its elements travel as their 16 bits (the top half of the float32
# holding the same value), in a uint16 array.
_CODE_TO_NUMPY = {
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NUMPY_TO_CODE = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def _file_name(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return str(getattr(f, "name", "<file-like object>"))


# ---------------------------------------------------------------------------- save


class _Encoder:
    def __init__(self) -> None:
        self.arrays: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self.codes: dict[str, str] = {}  # each array's safetensors dtype

    def _name(self, path: list[str], default: str) -> str:
        base = ".".join(path) if path else default
        name = base
        n = 1
        while name in self.arrays or name == "__metadata__":
            name = f"{base}#{n}"
            n += 1
        return name

    def _add_array(
        self, arr: np.ndarray, path: list[str], what: str, code: Optional[str] = None
    ) -> str:
        """Adds ``arr`` under a new name; ``code`` is its safetensors dtype when that is not
        its NumPy dtype's (bfloat16's bits in a uint16 array)."""
        code = code or _NUMPY_TO_CODE.get(arr.dtype)
        if code is None:
            raise TypeError(
                f"rustorch.save: cannot save {what} of dtype {arr.dtype} at "
                f"'{'.'.join(path) or '<root>'}' (supported: float32, float64, float16, int64, "
                "int32, int16, int8, uint8, bool)"
            )
        name = self._name(path, what)
        self.arrays[name] = arr
        self.codes[name] = code
        return name

    def key(self, k: Any) -> Any:
        if isinstance(k, bool) or k is None:
            return {"$k": k}
        if isinstance(k, str):
            return k
        if isinstance(k, int):
            return {"$int": k}
        if isinstance(k, float):
            return {"$float": repr(k)}
        if isinstance(k, tuple):
            return {"$tuple": [self.key(x) for x in k]}
        raise TypeError(
            f"rustorch.save: cannot save a dict key of type {type(k).__name__} ({k!r})"
        )

    def encode(self, obj: Any, path: list[str]) -> Any:
        if isinstance(obj, Tensor):
            t = obj.detach()
            if _dtype_name(t.dtype) == "bfloat16":
                bits = np.asarray(t.float().numpy(), order="C").view(np.uint32) >> 16
                name = self._add_array(bits.astype(np.uint16), path, "tensor", "BF16")
            else:
                name = self._add_array(np.asarray(t.numpy(), order="C"), path, "tensor")
            node: dict[str, Any] = {"$tensor": name}
            if _is_parameter(obj):
                node["parameter"] = True
                node["requires_grad"] = bool(obj.requires_grad)
            elif obj.requires_grad:
                node["requires_grad"] = True
            return node
        if isinstance(obj, np.ndarray):
            name = self._add_array(np.asarray(obj, order="C"), path, "ndarray")
            return {"$ndarray": name}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"$float": repr(obj)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if type(obj) is type(rustorch.float32):
            return {"$dtype": _dtype_name(obj)}
        if isinstance(obj, dict):
            items = [
                [self.key(k), self.encode(v, path + [str(k)])] for k, v in obj.items()
            ]
            out: dict[str, Any] = {"$dict": items}
            if isinstance(obj, OrderedDict):
                out["ordered"] = True
            return out
        if isinstance(obj, list):
            return {"$list": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v, path + [str(i)]) for i, v in enumerate(obj)]}
        hint = ""
        if _is_module(obj):
            hint = " (save its state_dict() instead, or pickle the module)"
        raise TypeError(
            f"rustorch.save: cannot save object of type {type(obj).__name__} at "
            f"'{'.'.join(path) or '<root>'}'{hint}; supported: tensors, NumPy arrays, dicts, "
            "lists, tuples, str, int, float, bool, None and dtypes"
        )


def _is_parameter(obj: Any) -> bool:
    nn = getattr(rustorch, "nn", None)
    param_cls = getattr(nn, "Parameter", None)
    return param_cls is not None and isinstance(obj, param_cls)


def _is_module(obj: Any) -> bool:
    nn = getattr(rustorch, "nn", None)
    module_cls = getattr(nn, "Module", None)
    return module_cls is not None and isinstance(obj, module_cls)


def write_safetensors(obj: Any, f: FILE_LIKE, metadata: Optional[dict[str, str]] = None) -> None:
    """Write a tensor, a ``state_dict`` or any nesting of dicts/lists/tuples of tensors and
    Python scalars to ``f`` (a path or a writable binary file) in the safetensors format,
    with ``metadata`` (strings) added to the header's ``__metadata__``."""
    encoder = _Encoder()
    structure = encoder.encode(obj, [])

    header: dict[str, Any] = {}
    offset = 0
    chunks: list[bytes] = []
    for name, arr in encoder.arrays.items():
        code = encoder.codes[name]
        data = np.asarray(arr, dtype=_CODE_TO_NUMPY[code], order="C").tobytes()
        header[name] = {
            "dtype": code,
            "shape": [int(s) for s in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"safetensors metadata must map str to str, got {k!r}: {v!r}")
    header["__metadata__"] = {
        **(metadata or {}),
        "format": "pt",
        _STRUCTURE_KEY: json.dumps(
            {"version": _FORMAT_VERSION, "root": structure}, separators=(",", ":"),
            allow_nan=False,
        ),
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)

    def write(fh: Any) -> None:
        fh.write(struct.pack("<Q", len(header_bytes)))
        fh.write(header_bytes)
        for chunk in chunks:
            fh.write(chunk)

    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            write(fh)
    else:
        write(f)


# ---------------------------------------------------------------------------- load


class _Decoder:
    def __init__(
        self, name: str, header: dict[str, Any], buffer: memoryview,
        map_location: Any,
    ) -> None:
        self.file = name
        self.header = header
        self.buffer = buffer
        self.map_location = map_location

    def array(self, tname: str) -> np.ndarray:
        info = self.header.get(tname)
        if not isinstance(info, dict):
            raise RuntimeError(f"{self.file}: corrupt file: tensor '{tname}' is not in the header")
        code = info.get("dtype")
        if code not in _CODE_TO_NUMPY:
            raise RuntimeError(
                f"{self.file}: tensor '{tname}' has unsupported dtype {code!r} (expected one of "
                f"{', '.join(_CODE_TO_NUMPY)})"
            )
        shape = info.get("shape")
        offsets = info.get("data_offsets")
        if (
            not isinstance(shape, list)
            or not all(isinstance(s, int) and s >= 0 for s in shape)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)
        ):
            raise RuntimeError(
                f"{self.file}: corrupt header entry for tensor '{tname}': expected integer "
                "'shape' and two integer 'data_offsets'"
            )
        dtype = _CODE_TO_NUMPY[code]
        begin, end = offsets
        numel = math.prod(shape)
        if end - begin != numel * dtype.itemsize or begin < 0 or end > len(self.buffer):
            raise RuntimeError(
                f"{self.file}: corrupt file: tensor '{tname}' of shape {shape} and dtype {code} "
                f"needs {numel * dtype.itemsize} bytes, but its data_offsets are [{begin}, {end}] "
                f"in a {len(self.buffer)}-byte buffer"
            )
        arr = np.frombuffer(self.buffer, dtype=dtype, count=numel, offset=begin)
        return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True)

    def tensor(self, tname: str) -> Tensor:
        arr = self.array(tname)
        if self.header[tname]["dtype"] == "BF16":
            f32 = (arr.astype(np.uint32) << 16).view(np.float32)
            t = rustorch.from_numpy(f32).to(rustorch.bfloat16)
        else:
            t = rustorch.from_numpy(arr)
        loc = self.map_location
        if loc is None:
            return t
        if callable(loc):
            out = loc(t, "cpu")
            return t if out is None else out
        if isinstance(loc, dict):
            loc = loc.get("cpu", None)
            if loc is None:
                return t
        if str(loc) != "cpu":
            t = t.to(str(loc))
        return t

    def key(self, node: Any) -> Any:
        if isinstance(node, str):
            return node
        if isinstance(node, dict) and len(node) == 1:
            (tag, value), = node.items()
            if tag == "$k":
                return value
            if tag == "$int":
                return int(value)
            if tag == "$float":
                return float(value)
            if tag == "$tuple":
                return tuple(self.key(x) for x in value)
        raise RuntimeError(f"{self.file}: corrupt structure: bad dict key {node!r}")

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, dict):
            if "$tensor" in node:
                t = self.tensor(node["$tensor"])
                if node.get("parameter"):
                    from rustorch.nn.parameter import Parameter

                    return Parameter(t, bool(node.get("requires_grad", True)))
                if node.get("requires_grad"):
                    t.requires_grad_(True)
                return t
            if "$ndarray" in node:
                return self.array(node["$ndarray"])
            if "$float" in node:
                return float(node["$float"])
            if "$dtype" in node:
                dt = getattr(rustorch, str(node["$dtype"]), None)
                if dt is None or type(dt) is not type(rustorch.float32):
                    raise RuntimeError(f"{self.file}: unknown dtype {node['$dtype']!r}")
                return dt
            if "$dict" in node:
                items = [(self.key(k), self.decode(v)) for k, v in node["$dict"]]
                return OrderedDict(items) if node.get("ordered") else dict(items)
            if "$list" in node:
                return [self.decode(v) for v in node["$list"]]
            if "$tuple" in node:
                return tuple(self.decode(v) for v in node["$tuple"])
        raise RuntimeError(f"{self.file}: corrupt structure node {str(node)[:80]!r}")


def _parse_header(name: str, raw: bytes) -> tuple[dict[str, Any], int]:
    if len(raw) < 8:
        raise RuntimeError(
            f"{name}: not a safetensors file: expected at least 8 bytes (header length), "
            f"got {len(raw)}"
        )
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        raise RuntimeError(
            f"{name}: not a safetensors file or truncated: header length {header_len} exceeds "
            f"the {len(raw) - 8} bytes that follow"
        )
    try:
        header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RuntimeError(f"{name}: not a safetensors file: header is not valid JSON ({e})") from e
    if not isinstance(header, dict):
        raise RuntimeError(f"{name}: not a safetensors file: header is not a JSON object")
    return header, header_len


def read_safetensors(name: str, raw: bytes, map_location: Any = None) -> Any:
    """The object in the safetensors file ``name`` whose bytes are ``raw``: the saved nesting
    for a file :func:`write_safetensors` wrote, a ``dict`` of tensors for any other."""
    header, header_len = _parse_header(name, raw)
    buffer = memoryview(raw)[8 + header_len:]
    metadata = header.pop("__metadata__", None) or {}
    decoder = _Decoder(name, header, buffer, map_location)

    structure = metadata.get(_STRUCTURE_KEY) if isinstance(metadata, dict) else None
    if structure is None:
        # a plain safetensors file: name -> tensor, in data order
        names = sorted(header, key=lambda k: (header[k].get("data_offsets") or [0])[0]
                       if isinstance(header[k], dict) else 0)
        return {k: decoder.tensor(k) for k in names}
    try:
        doc = json.loads(structure)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{name}: corrupt '{_STRUCTURE_KEY}' metadata ({e})") from e
    if not isinstance(doc, dict) or "root" not in doc:
        raise RuntimeError(f"{name}: corrupt '{_STRUCTURE_KEY}' metadata (no 'root')")
    return decoder.decode(doc["root"])

