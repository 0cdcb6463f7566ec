"""rustorch.save / rustorch.load speak PyTorch's checkpoint formats (issue 15).

* ``rt.save`` writes what ``torch.save`` writes (the zip layout by default, the legacy layout
  with ``_use_new_zipfile_serialization=False``, safetensors for a ``.safetensors`` path) and
  ``torch.load(..., weights_only=True)`` reads it: every dtype, 0-d/empty tensors, views with
  their storage, offset and strides (shared storages stay shared), parameters, state dicts,
  optimizer state dicts, nested Python values.
* ``rt.load`` reads what ``torch.save`` writes (both layouts) with the same values, dtypes,
  strides and storage sharing; state dicts and optimizer states move both ways and keep
  giving the same outputs / steps.
* ``weights_only`` (default True) refuses every global outside the allowlist with
  ``pickle.UnpicklingError`` naming it, and never runs anything from the file (the payloads
  below would create a file if executed; the tests check that plain ``pickle`` does run them);
  ``safe_globals``/``add_safe_globals`` allow user classes; ``weights_only=False`` loads
  anything, whole modules included.
* ``map_location`` (cpu forms), a forged ``cuda:0`` location, ``mmap=True``.
* hostile files (truncated, missing entries, tensors past their storage, overflowing sizes,
  unknown opcodes, garbage, zip bombs) raise a clear exception naming the file.

Under ``RUSTORCH_TEST_ORACLE=torch`` (``rt`` *is* torch) the interoperability tests run
torch against itself, and the hostile-file tests only check that PyTorch refuses the same
files; the rustorch-only checks (messages naming the file, the exception types, the zip-bomb
memory bound, rustorch's old safetensors files) skip.
"""

from __future__ import annotations

import base64
import io
import math
import os
import pickle
import shlex
import struct
import subprocess
import sys
import zipfile
import zlib
from collections import OrderedDict

import numpy as np
import pytest
from conftest import LIB_NAME, need_torch, rt, to_np, torch_or_none

IS_RUSTORCH = LIB_NAME != "torch"
only_rustorch = pytest.mark.skipif(
    not IS_RUSTORCH, reason="rustorch's own file-format behaviour (messages, limits)"
)
needs_torch = pytest.mark.skipif(
    torch_or_none is None, reason="PyTorch is not installed: no reference to compare with"
)
torch = torch_or_none

ALL_DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
              "uint8", "bool")
ZIP_FLAGS = pytest.mark.parametrize("new_zip", [True, False], ids=["zip", "legacy"])


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def sample(dtype, shape=(3, 4), seed=0):
    """NumPy data for ``dtype`` including its awkward values (extremes, -0.0, inf, nan)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype == "bool":
        return (rng.random(n) < 0.5).reshape(shape)
    if dtype in ("float32", "float64", "float16", "bfloat16"):
        a = (rng.standard_normal(n) * 100).astype(np.float64)
        special = [-0.0, math.inf, -math.inf, math.nan, 1e-3]
        a[: min(n, len(special))] = special[: min(n, len(special))]
        return a.reshape(shape)
    info = np.iinfo(dtype)
    a = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    a[: min(n, 2)] = [info.min, info.max][: min(n, 2)]
    return a.reshape(shape)


def make(lib, dtype, arr):
    """A tensor of ``lib`` holding ``arr`` as ``dtype`` (halves go through float32)."""
    if dtype in ("float16", "bfloat16"):
        return lib.tensor(np.asarray(arr, np.float32)).to(getattr(lib, dtype))
    return lib.tensor(np.asarray(arr).astype(dtype), dtype=getattr(lib, dtype))


def dname(t):
    return str(t.dtype).rsplit(".", 1)[-1]


def bits(t):
    """The tensor's values as NumPy data comparable bit for bit (floats as unsigned ints)."""
    a = to_np(t)
    if a.dtype.kind == "f":
        return a.view(f"u{a.itemsize}")
    return a


def is_param(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return isinstance(x, torch.nn.Parameter)
    return isinstance(x, rt.nn.Parameter)


def assert_same(got, want, path="obj"):
    """``got`` (one library's object tree) holds exactly what ``want`` (the other's) holds:
    same containers (OrderedDict vs dict, tuple vs list), keys in order, Python scalar types,
    and tensors with the same dtype, shape, bits, requires_grad and Parameter-ness."""
    is_tensor = isinstance(want, rt.Tensor) or (torch is not None and isinstance(want,
                                                                           torch.Tensor))
    if is_tensor:
        ok = isinstance(got, rt.Tensor) or (torch is not None and isinstance(got, torch.Tensor))
        assert ok, f"{path}: expected a tensor, got {type(got)}"
        assert dname(got) == dname(want), f"{path}: dtype {got.dtype} != {want.dtype}"
        assert tuple(got.shape) == tuple(want.shape), f"{path}: shape {tuple(got.shape)}"
        assert is_param(got) == is_param(want), f"{path}: Parameter-ness {type(got)}"
        assert got.requires_grad == want.requires_grad, f"{path}: requires_grad"
        np.testing.assert_array_equal(bits(got), bits(want), err_msg=path)
        return
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: expected a dict, got {type(got)}"
        assert isinstance(got, OrderedDict) == isinstance(want, OrderedDict), (
            f"{path}: {type(got).__name__} != {type(want).__name__}")
        assert list(got) == list(want), f"{path}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{path}[{k!r}]")
        return
    if isinstance(want, (list, tuple)):
        assert type(got) is type(want), f"{path}: {type(got).__name__} != {type(want).__name__}"
        assert len(got) == len(want), f"{path}: length {len(got)} != {len(want)}"
        for i, (a, b) in enumerate(zip(got, want)):
            assert_same(a, b, f"{path}[{i}]")
        return
    assert type(got) is type(want), f"{path}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), path
    elif isinstance(want, float):
        assert got == want and math.copysign(1, got) == math.copysign(1, want), path
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


def assert_geometry(got, want, path="tensor"):
    """Same strides, storage offset and storage size (in bytes) as ``want``."""
    assert tuple(got.stride()) == tuple(want.stride()), (
        f"{path}: stride {got.stride()} != {want.stride()}")
    assert got.storage_offset() == want.storage_offset(), f"{path}: storage_offset"
    assert got.untyped_storage().nbytes() == want.untyped_storage().nbytes(), (
        f"{path}: storage of {got.untyped_storage().nbytes()} bytes, want "
        f"{want.untyped_storage().nbytes()}")


def torch_load(f, **kw):
    kw.setdefault("weights_only", True)
    return torch.load(f, **kw)


def nested_value(lib):
    """Nested Python values around tensors (what checkpoints hold besides state dicts)."""
    return {
        "epoch": 7,
        "step": -(2 ** 40),
        "big": 2 ** 70,
        "loss": 0.25,
        "neg_zero": -0.0,
        "best": math.inf,
        "nan": math.nan,
        "name": "run-1 \u00e9\u4e2d",
        "flags": [True, False, None],
        "pair": (1, "two", 3.0),
        "empty": {"list": [], "tuple": (), "dict": {}},
        "ordered": OrderedDict([("z", 1), ("a", lib.ones(2))]),
        "tensors": [lib.ones(2), {"inner": lib.zeros(1, dtype=lib.int64)}, (lib.tensor(3.5),)],
        1: "int key",
        (2, "b"): "tuple key",
        None: "none key",
    }


# ---- hand-written pickles ------------------------------------------------------------
# Written opcode by opcode, so the files can say anything (a forged location, an offset
# past the storage, a global that would run code) without PyTorch or pickle's checks.


def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(n):
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True) if n else b""
    return b"\x8a" + bytes([len(b)]) + b


def p_tuple(items):
    return b"(" + b"".join(items) + b"t"


def p_global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def p_dict(items):
    return b"}(" + b"".join(k + v for k, v in items) + b"u"


def p_tensor(key, numel, offset, size, stride, stype="FloatStorage", loc="cpu",
             legacy=False):
    """``torch._utils._rebuild_tensor_v2`` of a storage named by a persistent id."""
    pid = [p_str("storage"), p_global("torch", stype), p_str(key), p_str(loc), p_int(numel)]
    if legacy:
        pid.append(b"N")  # no view metadata
    return p_global("torch._utils", "_rebuild_tensor_v2") + p_tuple([
        p_tuple(pid) + b"Q", p_int(offset), p_tuple([p_int(s) for s in size]),
        p_tuple([p_int(s) for s in stride]), b"\x89",
        p_global("collections", "OrderedDict") + b")R",
    ]) + b"R"


def p_file(body, proto=2):
    return b"\x80" + bytes([proto]) + body + b"."


def write_zip(path, pkl, storages, prefix="archive", compress=zipfile.ZIP_STORED):
    """A zip checkpoint as PyTorch lays it out (written by Python's zipfile)."""
    with zipfile.ZipFile(path, "w", compress) as zf:
        zf.writestr(f"{prefix}/data.pkl", pkl)
        zf.writestr(f"{prefix}/byteorder", b"little")
        for key, data in storages.items():
            zf.writestr(f"{prefix}/data/{key}", data)
        zf.writestr(f"{prefix}/version", b"3\n")
    return path


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_SYS_INFO = {"protocol_version": 1001, "little_endian": True,
                   "type_sizes": {"short": 2, "int": 4, "long": 8}}


def legacy_head():
    return (pickle.dumps(LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps(LEGACY_SYS_INFO, protocol=2))


def write_legacy(path, pkl, storages, counts=None):
    """A legacy (non-zip) checkpoint: magic, protocol, system info, the object, the storage
    keys, then each storage as an int64 element count and its bytes."""
    counts = counts or {}
    out = [legacy_head(), pkl, pickle.dumps(list(storages), protocol=2)]
    for key, (itemsize, data) in storages.items():
        out.append(struct.pack("<q", counts.get(key, len(data) // itemsize)) + data)
    path.write_bytes(b"".join(out))
    return path


def write_forged(path, body, numel_bytes, legacy):
    """``body`` (one pickled object naming storage '0') with storage '0' holding
    ``numel_bytes`` bytes, in the zip or the legacy layout."""
    if legacy:
        return write_legacy(path, p_file(body), {"0": (4, numel_bytes)})
    return write_zip(path, p_file(body), {"0": numel_bytes})


FOUR_FLOATS = np.arange(4, dtype="<f4").tobytes()


def rewrite_zip(src, dst, drop=(), replace=None):
    """Copies zip ``src`` to ``dst`` leaving out entries ending in ``drop`` and replacing
    entries by ``replace[suffix] = bytes``."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if any(info.filename.endswith(d) for d in drop):
                continue
            data = zin.read(info.filename)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    data = new
            zout.writestr(info.filename, data)
    return dst


def error_of(path, **kw):
    """The exception ``rt.load(path)`` raises (it must raise a plain Exception, never panic
    or crash)."""
    with pytest.raises(Exception) as info:
        rt.load(str(path), **kw)
    return info.value


def assert_refused(path, kinds=(RuntimeError,), **kw):
    """``rt.load`` refuses the file: under rustorch with one of ``kinds`` and a message naming
    the file; under the PyTorch oracle with any exception (the file is broken for PyTorch
    too)."""
    err = error_of(path, **kw)
    if IS_RUSTORCH:
        assert isinstance(err, kinds), f"{type(err).__name__} (want {kinds}): {err}"
        assert path.name in str(err), f"the message does not name the file: {err}"
    return err


# --------------------------------------------------------------------------------------
# rt.save -> torch.load
# --------------------------------------------------------------------------------------


def test_save_writes_pytorch_zip_layout(tmp_path):
    a = rt.arange(6, dtype=rt.float32).reshape(2, 3)
    b = rt.tensor([1, -2, 3], dtype=rt.int64)
    path = tmp_path / "ckpt.pt"
    rt.save({"a": a, "b": b}, path)  # a pathlib.Path
    assert_same(rt.load(path), {"a": a, "b": b})
    raw = path.read_bytes()
    assert raw[:4] == b"PK\x03\x04", "not a zip file"
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        prefixes = {n.split("/", 1)[0] for n in names}
        assert len(prefixes) == 1 and all("/" in n for n in names), names
        (p,) = prefixes
        for entry in ("data.pkl", "version", "byteorder"):
            assert f"{p}/{entry}" in names, f"no {p}/{entry} in {names}"
        assert zf.read(f"{p}/byteorder") == b"little"
        assert zf.read(f"{p}/version").strip().isdigit()
        data = sorted(n for n in names if n.startswith(f"{p}/data/"))
        assert len(data) == 2, f"one storage entry per tensor, got {data}"
        blobs = sorted(zf.read(n) for n in data)
        want = sorted([np.arange(6, dtype="<f4").tobytes(),
                       np.array([1, -2, 3], "<i8").tobytes()])
        assert blobs == want, "storages are raw little-endian bytes"
        pkl = zf.read(f"{p}/data.pkl")
        assert pkl[:1] == b"\x80", "data.pkl is a pickle"
        assert b"_rebuild_tensor_v2" in pkl


@needs_torch
@pytest.mark.parametrize("via", ["path", "buffer", "fileobj"])
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_save_then_torch_load_dtypes(tmp_path, dtype, via):
    t = make(rt, dtype, sample(dtype))
    path = tmp_path / "t.pt"
    if via == "path":
        rt.save(t, str(path))
        back = torch_load(str(path))
    elif via == "buffer":
        buf = io.BytesIO()
        rt.save(t, buf)
        buf.seek(0)
        back = torch_load(buf)
    else:
        with open(path, "wb") as fh:
            rt.save(t, fh)
        with open(path, "rb") as fh:
            back = torch_load(fh)
    assert_same(back, t)


def special_tensors(lib):
    base = lib.arange(24, dtype=lib.float32).reshape(4, 6)
    return {
        "scalar": lib.tensor(3.5),
        "int_scalar": lib.tensor(-7, dtype=lib.int64),
        "empty": lib.zeros(0, 3),
        "empty_int": lib.zeros(2, 0, 5, dtype=lib.int32),
        "leaf_grad": lib.ones(2, requires_grad=True),
        "transposed": lib.arange(12, dtype=lib.float64).reshape(3, 4).t(),
        "row_slice": base[1:3],
        "col_stride": base[:, 1::2],
        "expanded": lib.tensor([[1, 2, 3]], dtype=lib.int16).expand(4, 3),
        "narrow_of_big": lib.arange(100, dtype=lib.int8)[10:13],
    }


@needs_torch
@ZIP_FLAGS
def test_save_special_tensors_then_torch_load(tmp_path, new_zip):
    obj = special_tensors(rt)
    path = tmp_path / "s.pt"
    rt.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    back = torch_load(str(path))
    assert_same(back, obj)
    assert back["leaf_grad"].is_leaf
    for k in obj:  # saved with their storage, offset and strides
        assert_geometry(back[k], obj[k], k)


@needs_torch
@ZIP_FLAGS
def test_save_keeps_views_sharing_for_torch(tmp_path, new_zip):
    base = rt.arange(12, dtype=rt.float32).reshape(3, 4)
    other = rt.ones(3)
    obj = {"a": base, "b": base[1:3], "c": base.t(), "d": other, "e": [other[1:]], "f": base}
    path = tmp_path / "v.pt"
    rt.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    if new_zip:
        with zipfile.ZipFile(path) as zf:
            data = [n for n in zf.namelist() if "/data/" in n]
        assert len(data) == 2, f"one entry per storage, got {data}"
    back = torch_load(str(path))
    assert_same(back, obj)
    for k in ("b", "c"):
        assert_geometry(back[k], obj[k], k)
    a, b, c = back["a"], back["b"], back["c"]
    assert back["f"] is a, "one tensor saved twice loads as one object"
    assert a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    b.add_(100)
    np.testing.assert_array_equal(to_np(a)[1:3], np.arange(4, 12).reshape(2, 4) + 100)
    np.testing.assert_array_equal(to_np(c), to_np(a).T)
    back["e"][0].fill_(5)
    np.testing.assert_array_equal(to_np(back["d"]), [1, 5, 5])


@needs_torch
@ZIP_FLAGS
def test_save_parameters_then_torch_load(tmp_path, new_zip):
    obj = {
        "p": rt.nn.Parameter(rt.randn(2, 3)),
        "frozen": rt.nn.Parameter(rt.zeros(2), requires_grad=False),
        "grad_leaf": rt.ones(2, requires_grad=True),
        "plain": rt.ones(2),
    }
    path = tmp_path / "p.pt"
    rt.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    back = torch_load(str(path))
    assert type(back["p"]) is torch.nn.Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is torch.nn.Parameter and not back["frozen"].requires_grad
    assert type(back["plain"]) is torch.Tensor and not back["plain"].requires_grad
    assert back["grad_leaf"].requires_grad and back["grad_leaf"].is_leaf
    assert_same(back, obj)


@needs_torch
@ZIP_FLAGS
def test_save_nested_values_then_torch_load(tmp_path, new_zip):
    obj = nested_value(rt)
    path = tmp_path / "n.pt"
    rt.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    assert_same(torch_load(str(path)), obj)
    lone = tmp_path / "lone.pt"  # values without any tensor
    rt.save([1, "x", None, (2.5,)], str(lone), _use_new_zipfile_serialization=new_zip)
    assert_same(torch_load(str(lone)), [1, "x", None, (2.5,)])


def meta_values(lib):
    return {"dtype": lib.float16, "dtypes": [lib.bfloat16, lib.int64, lib.bool, lib.float32],
            "size": lib.ones(2, 3).shape, "empty_size": lib.tensor(1.0).shape,
            "device": lib.device("cpu")}


def assert_meta_values(back, lib):
    assert back["dtype"] is lib.float16
    assert back["dtypes"] == [lib.bfloat16, lib.int64, lib.bool, lib.float32]
    assert type(back["size"]) is lib.Size and tuple(back["size"]) == (2, 3)
    assert type(back["empty_size"]) is lib.Size and tuple(back["empty_size"]) == ()
    assert isinstance(back["device"], lib.device) and back["device"] == lib.device("cpu")


@needs_torch
@ZIP_FLAGS
def test_dtype_size_device_values_both_ways(tmp_path, new_zip):
    """Checkpoints often hold dtypes, shapes and devices (configs, metadata); PyTorch's
    weights_only allowlist has them, so they travel both ways as torch.* objects."""
    path = tmp_path / "meta.pt"
    rt.save(meta_values(rt), str(path), _use_new_zipfile_serialization=new_zip)
    assert_meta_values(torch_load(str(path)), torch)
    assert_meta_values(rt.load(str(path)), rt)
    torch.save(meta_values(torch), str(path), _use_new_zipfile_serialization=new_zip)
    assert_meta_values(rt.load(str(path)), rt)


@needs_torch
def test_save_legacy_format_is_pytorchs(tmp_path):
    path = tmp_path / "legacy.pt"
    obj = {dt: make(rt, dt, sample(dt, (2, 3))) for dt in ALL_DTYPES}
    rt.save(obj, str(path), _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    assert raw[:2] != b"PK", "the legacy layout is not a zip file"
    ref = io.BytesIO()
    torch.save(torch.ones(1), ref, _use_new_zipfile_serialization=False)
    head = pickle.dumps(LEGACY_MAGIC, protocol=2)
    assert ref.getvalue().startswith(head) and raw.startswith(head), "legacy magic number"
    assert_same(torch_load(str(path)), obj)


@needs_torch
def test_torch_mmap_reads_rt_file(tmp_path):
    """torch.load(mmap=True) needs stored (uncompressed) entries, as torch.save writes."""
    obj = {dt: make(rt, dt, sample(dt, (5, 3))) for dt in ALL_DTYPES}
    path = tmp_path / "m.pt"
    rt.save(obj, str(path))
    assert_same(torch_load(str(path), mmap=True), obj)


# ---- models and optimizers, both ways --------------------------------------------------


def make_model(lib, kind):
    nn = lib.nn
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.Flatten(), nn.Linear(4 * 5 * 5, 6), nn.LayerNorm(6))

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lstm = nn.LSTM(4, 5, batch_first=True)
            self.out = nn.Linear(5, 3)

        def forward(self, x):
            return self.out(self.lstm(self.emb(x))[0])

    return Tagger()


def model_input(lib, kind):
    rng = np.random.default_rng(3)
    if kind == "cnn":
        return lib.tensor(rng.standard_normal((3, 2, 5, 5)).astype(np.float32))
    return lib.tensor(rng.integers(0, 10, (2, 6)), dtype=lib.int64)


def trained_model(lib, kind, seed):
    lib.manual_seed(seed)
    model = make_model(lib, kind)
    model.train()
    model(model_input(lib, kind) * (2 if kind == "cnn" else 1))  # BatchNorm running stats
    model.eval()
    return model


@needs_torch
@ZIP_FLAGS
@pytest.mark.parametrize("kind", ["cnn", "rnn"])
def test_rt_state_dict_into_torch_model(tmp_path, kind, new_zip):
    model = trained_model(rt, kind, seed=0)
    path = tmp_path / "sd.pt"
    rt.save(model.state_dict(), str(path), _use_new_zipfile_serialization=new_zip)
    sd = torch_load(str(path))
    assert isinstance(sd, OrderedDict) and list(sd) == list(model.state_dict())
    torch.manual_seed(99)
    tmodel = make_model(torch, kind)
    tmodel.load_state_dict(sd)  # strict
    tmodel.eval()
    with torch.no_grad():
        want = tmodel(model_input(torch, kind))
    got = model(model_input(rt, kind))
    np.testing.assert_allclose(to_np(got), to_np(want), rtol=1e-5, atol=1e-5)


@needs_torch
@ZIP_FLAGS
@pytest.mark.parametrize("kind", ["cnn", "rnn"])
def test_torch_state_dict_into_rt_model(tmp_path, kind, new_zip):
    tmodel = trained_model(torch, kind, seed=0)
    path = tmp_path / "sd.pt"
    torch.save(tmodel.state_dict(), str(path), _use_new_zipfile_serialization=new_zip)
    sd = rt.load(str(path))
    assert isinstance(sd, OrderedDict) and list(sd) == list(tmodel.state_dict())
    assert_same(sd, OrderedDict(tmodel.state_dict()))
    rt.manual_seed(99)
    model = make_model(rt, kind)
    model.load_state_dict(sd)  # strict
    model.eval()
    with torch.no_grad():
        want = tmodel(model_input(torch, kind))
    got = model(model_input(rt, kind))
    np.testing.assert_allclose(to_np(got), to_np(want), rtol=1e-5, atol=1e-5)


OPTIMIZERS = {
    "adam": ("Adam", dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.01, amsgrad=True)),
    "sgd": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
}


def opt_setup(lib, name, weights=None):
    cls, kw = OPTIMIZERS[name]
    lib.manual_seed(5)
    model = lib.nn.Linear(3, 2)
    if weights is not None:
        model.load_state_dict(weights)
    return model, getattr(lib.optim, cls)(model.parameters(), **kw)


def opt_steps(lib, model, opt, n, start):
    rng = np.random.default_rng(start)
    for _ in range(n):
        x = lib.tensor(rng.standard_normal((8, 3)).astype(np.float32))
        y = lib.tensor(rng.standard_normal((8, 2)).astype(np.float32))
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def assert_opt_state_same(got_sd, want_sd):
    assert sorted(got_sd["state"]) == sorted(want_sd["state"])
    for pid, st in want_sd["state"].items():
        assert sorted(got_sd["state"][pid]) == sorted(st), f"state keys of param {pid}"
        for k, v in st.items():
            g = got_sd["state"][pid][k]
            np.testing.assert_allclose(to_np(g), to_np(v), rtol=0, atol=0, err_msg=k)
    for g, w in zip(got_sd["param_groups"], want_sd["param_groups"]):
        for k in ("lr", "params", "momentum", "betas", "weight_decay", "amsgrad", "nesterov"):
            if k in w:
                assert g[k] == w[k], f"param_groups[{k!r}]: {g[k]!r} != {w[k]!r}"


@needs_torch
@ZIP_FLAGS
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_rt_optimizer_state_into_torch(tmp_path, name, new_zip):
    model, opt = opt_setup(rt, name)
    opt_steps(rt, model, opt, 2, start=0)
    path = tmp_path / "ck.pt"
    rt.save({"model": model.state_dict(), "optim": opt.state_dict()}, str(path),
            _use_new_zipfile_serialization=new_zip)
    ck = torch_load(str(path))
    assert isinstance(ck["optim"]["param_groups"][0].get("betas", ()), tuple)
    tmodel, topt = opt_setup(torch, name, ck["model"])
    topt.load_state_dict(ck["optim"])
    assert_opt_state_same(topt.state_dict(), opt.state_dict())
    opt_steps(rt, model, opt, 3, start=1)
    opt_steps(torch, tmodel, topt, 3, start=1)
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(to_np(v), to_np(tmodel.state_dict()[k]), rtol=1e-5,
                                   atol=1e-6, err_msg=k)


@needs_torch
@ZIP_FLAGS
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_torch_optimizer_state_into_rt(tmp_path, name, new_zip):
    tmodel, topt = opt_setup(torch, name)
    opt_steps(torch, tmodel, topt, 2, start=0)
    path = tmp_path / "ck.pt"
    torch.save({"model": tmodel.state_dict(), "optim": topt.state_dict()}, str(path),
               _use_new_zipfile_serialization=new_zip)
    ck = rt.load(str(path))
    model, opt = opt_setup(rt, name, ck["model"])
    opt.load_state_dict(ck["optim"])
    assert_opt_state_same(opt.state_dict(), topt.state_dict())
    opt_steps(rt, model, opt, 3, start=1)
    opt_steps(torch, tmodel, topt, 3, start=1)
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(to_np(v), to_np(tmodel.state_dict()[k]), rtol=1e-5,
                                   atol=1e-6, err_msg=k)


# --------------------------------------------------------------------------------------
# torch.save -> rt.load
# --------------------------------------------------------------------------------------


@needs_torch
@ZIP_FLAGS
@pytest.mark.parametrize("via", ["path", "buffer", "fileobj"])
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_torch_save_then_load_dtypes(tmp_path, dtype, via, new_zip):
    t = make(torch, dtype, sample(dtype))
    path = tmp_path / "t.pt"
    torch.save(t, str(path), _use_new_zipfile_serialization=new_zip)
    if via == "path":
        back = rt.load(str(path))
    elif via == "buffer":
        back = rt.load(io.BytesIO(path.read_bytes()))
    else:
        with open(path, "rb") as fh:
            back = rt.load(fh)
    assert isinstance(back, rt.Tensor)
    assert_same(back, t)


@needs_torch
@ZIP_FLAGS
def test_torch_save_special_tensors_then_load(tmp_path, new_zip):
    obj = special_tensors(torch)
    path = tmp_path / "s.pt"
    torch.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    back = rt.load(str(path))
    assert_same(back, obj)
    assert back["leaf_grad"].is_leaf
    for k in obj:
        assert_geometry(back[k], obj[k], k)


@needs_torch
@ZIP_FLAGS
def test_torch_save_views_keep_sharing(tmp_path, new_zip):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    other = torch.ones(3, dtype=torch.int64)
    obj = {"a": base, "b": base[1:3], "c": base.t(), "d": other, "e": [other[1:]], "f": base}
    path = tmp_path / "v.pt"
    torch.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    back = rt.load(str(path))
    assert_same(back, obj)
    for k in ("b", "c"):
        assert_geometry(back[k], obj[k], k)
    a, b, c = back["a"], back["b"], back["c"]
    assert back["f"] is a, "one tensor saved twice loads as one object"
    b.add_(100)
    np.testing.assert_array_equal(to_np(a)[1:3], np.arange(4, 12).reshape(2, 4) + 100)
    np.testing.assert_array_equal(to_np(a)[0], np.arange(4))
    np.testing.assert_array_equal(to_np(c), to_np(a).T)
    a[0, 0] = -1.0
    assert float(c[0, 0]) == -1.0
    back["e"][0].fill_(5)
    np.testing.assert_array_equal(to_np(back["d"]), [1, 5, 5])


@needs_torch
@ZIP_FLAGS
def test_torch_save_parameters_then_load(tmp_path, new_zip):
    obj = {
        "p": torch.nn.Parameter(torch.randn(2, 3)),
        "frozen": torch.nn.Parameter(torch.zeros(2), requires_grad=False),
        "grad_leaf": torch.ones(2, requires_grad=True),
        "plain": torch.ones(2),
    }
    path = tmp_path / "p.pt"
    torch.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    back = rt.load(str(path))
    assert isinstance(back["p"], rt.nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["frozen"], rt.nn.Parameter) and not back["frozen"].requires_grad
    assert not isinstance(back["plain"], rt.nn.Parameter)
    assert back["grad_leaf"].requires_grad and back["grad_leaf"].is_leaf
    assert_same(back, obj)
    (back["p"] * 2).sum().backward()  # a working leaf
    np.testing.assert_array_equal(to_np(back["p"].grad), np.full((2, 3), 2, np.float32))


@needs_torch
@ZIP_FLAGS
def test_torch_save_nested_values_then_load(tmp_path, new_zip):
    obj = nested_value(torch)
    path = tmp_path / "n.pt"
    torch.save(obj, str(path), _use_new_zipfile_serialization=new_zip)
    assert_same(rt.load(str(path)), obj)


@only_rustorch
def test_load_rustorchs_old_safetensors_files(tmp_path):
    """A file written by rustorch.save before issue 15 (safetensors with rustorch's
    structure metadata) still loads, whatever its extension."""
    path = tmp_path / "old_checkpoint.pt"
    path.write_bytes(base64.b64decode(OLD_RUSTORCH_FILE))
    back = rt.load(str(path))
    want = {
        "w": rt.tensor([[1.5, -2.0, 3.25]]),
        "ids": rt.tensor([3, -1], dtype=rt.int64),
        "h": rt.tensor([0.5, -4.0]).bfloat16(),
        "p": rt.nn.Parameter(rt.tensor([2.0, 4.0])),
        "epoch": 3,
        "pair": (1, "two", 2.5),
        "sd": OrderedDict(a=rt.tensor(True)),
    }
    assert_same(back, want)


@only_rustorch
@pytest.mark.parametrize("as_path", [False, True], ids=["str", "pathlib"])
def test_safetensors_path_gets_safetensors(tmp_path, as_path):
    path = tmp_path / "w.safetensors"
    obj = {"w": rt.arange(6, dtype=rt.float32).reshape(2, 3),
           "b": rt.tensor([1, 0], dtype=rt.uint8)}
    rt.save(obj, path if as_path else str(path))
    raw = path.read_bytes()
    assert raw[:2] != b"PK", "a .safetensors path is written as safetensors, not zip"
    (n,) = struct.unpack("<Q", raw[:8])
    assert raw[8:9] == b"{" and 8 + n <= len(raw)
    assert_same(rt.load(str(path)), obj)
    renamed = tmp_path / "w.bin"  # the format is found from the content, not the name
    renamed.write_bytes(raw)
    assert_same(rt.load(str(renamed)), obj)


# Written by rustorch.save at commit 163c2aa (safetensors + rustorch.structure metadata):
# {'w': [[1.5, -2, 3.25]], 'ids': int64 [3, -1], 'h': bfloat16 [0.5, -4], 'p': Parameter
#  [2, 4], 'epoch': 3, 'pair': (1, 'two', 2.5), 'sd': OrderedDict(a=tensor(True))}
OLD_RUSTORCH_FILE = (
    "mAIAAAAAAAB7InciOnsiZHR5cGUiOiJGMzIiLCJzaGFwZSI6WzEsM10sImRhdGFfb2Zmc2V0cyI6WzAsMTJdfSwi"
    "aWRzIjp7ImR0eXBlIjoiSTY0Iiwic2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMTIsMjhdfSwiaCI6eyJkdHlw"
    "ZSI6IkJGMTYiLCJzaGFwZSI6WzJdLCJkYXRhX29mZnNldHMiOlsyOCwzMl19LCJwIjp7ImR0eXBlIjoiRjMyIiwi"
    "c2hhcGUiOlsyXSwiZGF0YV9vZmZzZXRzIjpbMzIsNDBdfSwic2QuYSI6eyJkdHlwZSI6IkJPT0wiLCJzaGFwZSI6"
    "W10sImRhdGFfb2Zmc2V0cyI6WzQwLDQxXX0sIl9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCIsInJ1c3RvcmNo"
    "LnN0cnVjdHVyZSI6IntcInZlcnNpb25cIjoxLFwicm9vdFwiOntcIiRkaWN0XCI6W1tcIndcIix7XCIkdGVuc29y"
    "XCI6XCJ3XCJ9XSxbXCJpZHNcIix7XCIkdGVuc29yXCI6XCJpZHNcIn1dLFtcImhcIix7XCIkdGVuc29yXCI6XCJo"
    "XCJ9XSxbXCJwXCIse1wiJHRlbnNvclwiOlwicFwiLFwicGFyYW1ldGVyXCI6dHJ1ZSxcInJlcXVpcmVzX2dyYWRc"
    "Ijp0cnVlfV0sW1wiZXBvY2hcIiwzXSxbXCJwYWlyXCIse1wiJHR1cGxlXCI6WzEsXCJ0d29cIiwyLjVdfV0sW1wi"
    "c2RcIix7XCIkZGljdFwiOltbXCJhXCIse1wiJHRlbnNvclwiOlwic2QuYVwifV1dLFwib3JkZXJlZFwiOnRydWV9"
    "XV19fSJ9fSAgICAgAADAPwAAAMAAAFBAAwAAAAAAAAD//////////wA/gMAAAABAAACAQAE="
)


@needs_torch
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_hand_written_checkpoints_load_like_torch(tmp_path, legacy):
    """The hand-written files the hostile tests start from are valid: PyTorch and rt.load
    read the same values (and the zip one has none of torch.save's optional entries)."""
    body = p_dict([(p_str("w"), p_tensor("0", 4, 1, (2,), (2,), legacy=legacy)),
                   (p_str("x"), p_tensor("0", 4, 0, (2, 2), (1, 2), legacy=legacy))])
    path = write_forged(tmp_path / "good.pt", body, FOUR_FLOATS, legacy)
    want = torch_load(str(path))
    np.testing.assert_array_equal(to_np(want["w"]), [1, 3])
    assert_same(rt.load(str(path)), want)


# --------------------------------------------------------------------------------------
# weights_only: allowlisted globals only, nothing from the file runs
# --------------------------------------------------------------------------------------


def evil_payloads(marker, legacy=False):
    """name -> (pickle bytes that would create ``marker`` if unpickled, the global named)."""
    cmd = f"touch {shlex.quote(str(marker))}"
    code = f"open({str(marker)!r}, 'w').close()"
    call = p_tuple([p_str(cmd)]) + b"R"
    return {
        "GLOBAL": (p_file(p_global("os", "system") + call), "os.system"),
        "STACK_GLOBAL": (p_file(p_str("os") + p_str("system") + b"\x93" + call, proto=4),
                         "os.system"),
        "INST": (p_file(b"(" + p_str(cmd) + b"ios\nsystem\n"), "os.system"),
        "protocol0": (f"cos\nsystem\n(V{cmd}\ntR.".encode(), "os.system"),
        "posix.system": (p_file(p_global("posix", "system") + call), "posix.system"),
        "eval": (p_file(p_global("builtins", "eval") + p_tuple([p_str(code)]) + b"R"),
                 "builtins.eval"),
        "exec": (p_file(p_global("builtins", "exec") + p_tuple([p_str(code)]) + b"R"),
                 "builtins.exec"),
        "subprocess": (p_file(p_global("subprocess", "check_call") + b"(](" + p_str("touch")
                              + p_str(str(marker)) + b"etR"), "subprocess.check_call"),
        "nested": (p_file(p_dict([(p_str("w"), p_tensor("0", 4, 0, (4,), (1,), legacy=legacy)),
                                  (p_str("x"), p_global("os", "system") + call)])),
                   "os.system"),
    }


EVIL = list(evil_payloads("m"))


@pytest.mark.parametrize("container", ["zip", "legacy", "raw"])
@pytest.mark.parametrize("payload", EVIL)
def test_weights_only_refuses_globals_and_runs_nothing(tmp_path, payload, container):
    marker = tmp_path / "pwned"
    pkl, global_name = evil_payloads(marker, legacy=container == "legacy")[payload]
    if container == "legacy" and payload in ("protocol0", "STACK_GLOBAL"):
        pytest.skip("legacy files are protocol-2 pickles")
    if container == "raw" and payload == "nested":
        pytest.skip("a bare pickle has no storages: it fails at the persistent id first")
    # the payload is live: plain pickle runs it
    sanity = tmp_path / "sanity"
    if payload != "nested":
        pickle.loads(evil_payloads(sanity)[payload][0])
        assert sanity.exists(), "the test payload does not work"
    if container == "zip":
        path = write_zip(tmp_path / "evil.pt", pkl, {"0": FOUR_FLOATS})
    elif container == "legacy":  # storage '0' follows when the pickle names it
        path = tmp_path / "evil.pt"
        tail = struct.pack("<q", 4) + FOUR_FLOATS if payload == "nested" else b""
        path.write_bytes(legacy_head() + pkl
                         + pickle.dumps(["0"] if tail else [], protocol=2) + tail)
    else:
        path = tmp_path / "evil.pt"
        path.write_bytes(pkl)
    for kw in ({}, {"weights_only": True}, {"weights_only": None}):
        err = error_of(path, **kw)
        if IS_RUSTORCH and payload == "protocol0" and container == "raw":
            # no PyTorch file starts so (torch.load(weights_only=True) cannot read
            # protocol 0/1 either): "not a checkpoint" naming the file is a refusal too
            if isinstance(err, RuntimeError) and path.name in str(err):
                continue
        assert isinstance(err, pickle.UnpicklingError), f"{type(err).__name__}: {err}"
        if IS_RUSTORCH:
            assert global_name in str(err), f"the message does not name {global_name}: {err}"
        elif payload not in ("INST", "protocol0", "STACK_GLOBAL"):  # PyTorch: "operand 147"
            assert global_name.rsplit(".", 1)[-1] in str(err), str(err)
    assert not marker.exists(), "code from the file ran"


@only_rustorch
def test_weights_only_refuses_a_global_as_storage_type(tmp_path):
    body = p_global("torch._utils", "_rebuild_tensor_v2") + p_tuple([
        p_tuple([p_str("storage"), p_global("os", "system"), p_str("0"), p_str("cpu"),
                 p_int(4)]) + b"Q",
        p_int(0), p_tuple([p_int(4)]), p_tuple([p_int(1)]), b"\x89",
        p_global("collections", "OrderedDict") + b")R"]) + b"R"
    path = write_zip(tmp_path / "stype.pt", p_file(body), {"0": FOUR_FLOATS})
    err = error_of(path)
    assert isinstance(err, pickle.UnpicklingError) and "os.system" in str(err), repr(err)


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Point2(Point):
    pass


@needs_torch
def test_safe_globals_allow_a_user_class(tmp_path):
    path = tmp_path / "pt.pt"
    rt.save({"p": Point(1, [2.5, "y"]), "w": rt.ones(2)}, str(path))
    for kw in ({}, {"weights_only": True}):
        err = error_of(path, **kw)
        assert isinstance(err, pickle.UnpicklingError), repr(err)
        assert f"{Point.__module__}.Point" in str(err), str(err)
    with rt.serialization.safe_globals([Point]):
        back = rt.load(str(path))
    assert type(back["p"]) is Point and back["p"].x == 1 and back["p"].y == [2.5, "y"]
    np.testing.assert_array_equal(to_np(back["w"]), [1, 1])
    with pytest.raises(pickle.UnpicklingError):  # the block ended: refused again
        rt.load(str(path))
    back = rt.load(str(path), weights_only=False)
    assert type(back["p"]) is Point and back["p"].y == [2.5, "y"]
    with torch.serialization.safe_globals([Point]):  # PyTorch reads rustorch's file
        tback = torch.load(str(path), weights_only=True)
    assert type(tback["p"]) is Point and tback["p"].x == 1
    tpath = tmp_path / "tpt.pt"  # and rustorch reads PyTorch's
    torch.save({"p": Point(3, 4), "w": torch.zeros(1)}, str(tpath))
    with rt.serialization.safe_globals([Point]):
        back = rt.load(str(tpath))
    assert type(back["p"]) is Point and (back["p"].x, back["p"].y) == (3, 4)


def test_add_safe_globals(tmp_path):
    path = tmp_path / "pt2.pt"
    rt.save([Point2(5, 6)], str(path))
    with pytest.raises(pickle.UnpicklingError, match="Point2"):
        rt.load(str(path))
    before = list(rt.serialization.get_safe_globals())
    rt.serialization.add_safe_globals([Point2])
    try:
        assert Point2 in rt.serialization.get_safe_globals()
        (back,) = rt.load(str(path))
        assert type(back) is Point2 and (back.x, back.y) == (5, 6)
    finally:
        if hasattr(rt.serialization, "clear_safe_globals"):
            rt.serialization.clear_safe_globals()
            rt.serialization.add_safe_globals(before)


def test_whole_module_with_weights_only_false(tmp_path):
    model = trained_model(rt, "cnn", seed=4)
    path = tmp_path / "model.pt"
    rt.save(model, str(path))
    err = error_of(path)
    assert isinstance(err, pickle.UnpicklingError), repr(err)
    assert LIB_NAME in str(err), f"the message does not name the module's class: {err}"
    back = rt.load(str(path), weights_only=False)
    assert type(back) is type(model)
    assert isinstance(back[0].weight, rt.nn.Parameter) and back[0].weight.requires_grad
    x = model_input(rt, "cnn")
    np.testing.assert_array_equal(to_np(back(x)), to_np(model(x)))
    back.train()
    back(x).sum().backward()
    assert back[0].weight.grad is not None
    tensors = {"t": rt.arange(3), "opt": rt.optim.SGD(model.parameters(), lr=0.5)}
    rt.save(tensors, str(path))
    opt = rt.load(str(path), weights_only=False)["opt"]
    assert opt.param_groups[0]["lr"] == 0.5


# --------------------------------------------------------------------------------------
# map_location and mmap
# --------------------------------------------------------------------------------------


def map_locations():
    return {
        "str": "cpu",
        "device": rt.device("cpu"),
        "dict": {"cuda:0": "cpu"},
        "callable": lambda storage, loc: storage,
    }


def saved_with_views(tmp_path, source):
    path = tmp_path / f"{source}.pt"
    if source == "rt":
        base = rt.arange(6, dtype=rt.float32)
        rt.save({"a": base, "b": base[2:], "c": rt.ones(2, dtype=rt.int64)}, str(path))
    else:
        base = torch.arange(6, dtype=torch.float32)
        torch.save({"a": base, "b": base[2:], "c": torch.ones(2, dtype=torch.int64)},
                   str(path), _use_new_zipfile_serialization=source == "torch_zip")
    return path


@needs_torch
@pytest.mark.parametrize("loc", list(map_locations()))
@pytest.mark.parametrize("source", ["rt", "torch_zip", "torch_legacy"])
def test_map_location_cpu_forms(tmp_path, source, loc):
    path = saved_with_views(tmp_path, source)
    back = rt.load(str(path), map_location=map_locations()[loc])
    np.testing.assert_array_equal(to_np(back["a"]), np.arange(6))
    np.testing.assert_array_equal(to_np(back["b"]), np.arange(2, 6))
    assert dname(back["c"]) == "int64"
    assert all(back[k].device.type == "cpu" for k in back)
    back["b"].add_(10)  # still sharing
    np.testing.assert_array_equal(to_np(back["a"]), [0, 1, 12, 13, 14, 15])


@needs_torch
@pytest.mark.parametrize("source", ["rt", "torch_zip", "torch_legacy"])
def test_map_location_callable_sees_each_storage(tmp_path, source):
    path = saved_with_views(tmp_path, source)
    seen = []
    back = rt.load(str(path), map_location=lambda storage, loc: seen.append(loc) or storage)
    assert seen == ["cpu", "cpu"], "called once per storage, with its location"
    np.testing.assert_array_equal(to_np(back["b"]), np.arange(2, 6))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_cuda_location_needs_map_location(tmp_path, legacy):
    if rt.cuda.is_available():
        pytest.skip("CUDA is available here: a cuda:0 storage loads onto the GPU")
    body = p_tensor("0", 4, 0, (4,), (1,), loc="cuda:0", legacy=legacy)
    path = write_forged(tmp_path / "cuda.pt", body, FOUR_FLOATS, legacy)
    err = error_of(path)
    assert isinstance(err, RuntimeError) and "CUDA" in str(err), repr(err)
    for loc in ("cpu", rt.device("cpu"), {"cuda:0": "cpu"}, lambda s, loc: s):
        back = rt.load(str(path), map_location=loc)
        assert back.device.type == "cpu"
        np.testing.assert_array_equal(to_np(back), [0, 1, 2, 3])


@needs_torch
@pytest.mark.parametrize("source", ["rt", "torch_zip"])
def test_mmap_loads_the_same_values(tmp_path, source):
    path = tmp_path / "mm.pt"
    obj = {dt: make(torch, dt, sample(dt, (4, 5))) for dt in ALL_DTYPES}
    if source == "rt":
        obj = {dt: make(rt, dt, sample(dt, (4, 5))) for dt in ALL_DTYPES}
        rt.save(obj, str(path))
    else:
        torch.save(obj, str(path))
    assert_same(rt.load(str(path), mmap=True), obj)
    assert_same(rt.load(str(path), mmap=True, map_location="cpu"), obj)


# --------------------------------------------------------------------------------------
# hostile files: a clear exception naming the file, never a crash
# --------------------------------------------------------------------------------------


def valid_file(tmp_path, source):
    path = tmp_path / f"valid_{source}.pt"
    obj = {"w": rt.arange(40, dtype=rt.float32).reshape(8, 5), "b": rt.ones(3, dtype=rt.int64)}
    if source.startswith("rt"):
        rt.save(obj, str(path), _use_new_zipfile_serialization=source == "rt_zip")
    else:
        need = need_torch()
        tobj = {k: need.from_numpy(to_np(v)) for k, v in obj.items()}
        need.save(tobj, str(path), _use_new_zipfile_serialization=source == "torch_zip")
    return path


@pytest.mark.parametrize("source", ["rt_zip", "rt_legacy", "torch_zip", "torch_legacy"])
def test_truncated_files(tmp_path, source):
    raw = valid_file(tmp_path, source).read_bytes()
    n = len(raw)
    for cut in sorted({1, 2, 7, 9, 30, 64, n // 3, n // 2, n - 100, n - 23, n - 9, n - 1}):
        path = tmp_path / f"cut_at_{cut}.pt"
        path.write_bytes(raw[:cut])
        assert_refused(path)


@pytest.mark.parametrize("source", ["rt_zip", "torch_zip"])
def test_missing_storage_entry(tmp_path, source):
    src = valid_file(tmp_path, source)
    with zipfile.ZipFile(src) as zf:
        first = sorted(n for n in zf.namelist() if "/data/" in n)[0]
    path = rewrite_zip(src, tmp_path / "no_storage.pt", drop=(first,))
    assert_refused(path)
    path = rewrite_zip(src, tmp_path / "no_pickle.pt", drop=("data.pkl",))
    assert_refused(path)


BAD_GEOMETRY = {
    # name: (numel in the persistent id, offset, size, stride)
    "offset_past_end": (4, 10, (2,), (1,)),
    "offset_plus_size_past_end": (4, 3, (2,), (1,)),
    "size_past_end": (4, 0, (5,), (1,)),
    "stride_past_end": (4, 0, (2, 2), (3, 1)),
    "negative_offset": (4, -1, (2,), (1,)),
    "negative_size": (4, 0, (-1,), (1,)),
    "negative_stride": (4, 3, (2,), (-1,)),
    "rank_mismatch": (4, 0, (2, 2), (1,)),
    "sizes_overflow_int64": (4, 0, (2 ** 40, 2 ** 40), (1, 1)),
    "sizes_overflow_stride0": (4, 0, (2 ** 62, 4), (0, 0)),
    "size_beyond_int64": (4, 0, (2 ** 70,), (1,)),
    "zero_times_beyond_int64": (4, 0, (0, 2 ** 70), (1, 1)),
    "product_overflow_3d": (4, 0, (2 ** 31, 2 ** 31, 4), (0, 0, 0)),
    "stride_overflow": (4, 0, (2, 2), (2 ** 62, 1)),
    "numel_exceeds_entry": (100, 0, (100,), (1,)),
    "numel_huge": (2 ** 60, 0, (4,), (1,)),
    "numel_bytes_overflow": (2 ** 62, 0, (4,), (1,)),
}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("case", list(BAD_GEOMETRY))
def test_tensor_past_its_storage(tmp_path, case, legacy):
    numel, offset, size, stride = BAD_GEOMETRY[case]
    if not IS_RUSTORCH and legacy and case.startswith("numel_"):
        pytest.skip("PyTorch allocates the legacy storage the persistent id declares")
    body = p_tensor("0", numel, offset, size, stride, legacy=legacy)
    path = write_forged(tmp_path / f"{case}.pt", body, FOUR_FLOATS, legacy)
    assert_refused(path)


@only_rustorch
def test_legacy_storage_count_lies(tmp_path):
    body = p_file(p_tensor("0", 4, 0, (4,), (1,), legacy=True))
    for name, count in [("huge", 2 ** 60), ("negative", -4), ("overflow", 2 ** 62),
                        ("short", 3)]:
        path = write_legacy(tmp_path / f"count_{name}.pt", body, {"0": (4, FOUR_FLOATS)},
                            counts={"0": count})
        assert_refused(path)


@pytest.mark.parametrize("container", ["zip", "raw"])
def test_unknown_pickle_opcode(tmp_path, container):
    pkl = b"\x80\x02}\xff."  # 0xff is no opcode
    path = tmp_path / "opcode.pt"
    if container == "zip":
        write_zip(path, pkl, {})
    else:
        path.write_bytes(pkl)
    assert_refused(path)


def test_garbage_files(tmp_path):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert noise[:1] not in (b"P", b"\x80")
    cases = {
        "empty.pt": (b"", (RuntimeError,)),
        "random.pt": (noise, (RuntimeError,)),
        "zip_head.pt": (b"PK\x03\x04" + noise, (RuntimeError,)),
        "pickle_head.pt": (b"\x80\x02" + noise, (RuntimeError, pickle.UnpicklingError)),
        "legacy_head.pt": (legacy_head() + noise, (RuntimeError, pickle.UnpicklingError)),
        "zip_no_pickle.pt": (None, (RuntimeError,)),
    }
    for name, (data, kinds) in cases.items():
        path = tmp_path / name
        if data is None:
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr("archive/other.txt", b"hello")
        else:
            path.write_bytes(data)
        assert_refused(path, kinds)


def write_bomb(path, entry):
    """A zip checkpoint whose ``entry`` ('data/0' or 'data.pkl') deflates 200 MB of zeros
    into ~200 KB; the pickle and storage sizes agree with it, so only its size is wrong."""
    numel = 50 * 2 ** 20  # float32 elements: 200 MiB
    pkl = p_file(p_tensor("0", numel, 0, (4,), (1,)))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/version", b"3\n")
        if entry != "data.pkl":
            zf.writestr("archive/data.pkl", pkl)
        info = zipfile.ZipInfo(f"archive/{entry}")
        info.compress_type = zipfile.ZIP_DEFLATED
        chunk = bytes(2 ** 20)
        with zf.open(info, "w", force_zip64=True) as fh:
            for _ in range(200):
                fh.write(chunk)
        if entry == "data.pkl":
            zf.writestr("archive/data/0", FOUR_FLOATS)
    return path


def write_lying_bomb(path):
    """A zip whose storage entry declares 16 bytes (CRC included) but whose deflate stream
    expands to 200 MB: only a reader that trusts the stream over the header expands it."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(2 ** 20)
    stream = b"".join(comp.compress(chunk) for _ in range(200)) + comp.flush()
    declared = bytes(16)
    entries = [("archive/data.pkl", 0, p_file(p_tensor("0", 4, 0, (4,), (1,))), None),
               ("archive/byteorder", 0, b"little", None),
               ("archive/data/0", 8, stream, declared),
               ("archive/version", 0, b"3\n", None)]
    out, central = io.BytesIO(), []
    for name, method, data, plain in entries:
        plain = data if plain is None else plain
        crc, usize, offset = zlib.crc32(plain), len(plain), out.tell()
        nb = name.encode()
        out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, method, 0, 0x21, crc,
                              len(data), usize, len(nb), 0) + nb + data)
        central.append(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, method,
                                   0, 0x21, crc, len(data), usize, len(nb), 0, 0, 0, 0, 0,
                                   offset) + nb)
    cd_offset = out.tell()
    cd = b"".join(central)
    out.write(cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                               len(cd), cd_offset, 0))
    path.write_bytes(out.getvalue())
    return path


BOMB_CHILD = r"""
import resource, sys
sys.path.insert(0, sys.argv[1])
import rustorch as rt
rt.load(sys.argv[3]) if sys.argv[3] else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    rt.load(sys.argv[2])
    print("LOADED")
except BaseException as e:
    print("ERROR", type(e).__name__, str(e).replace("\n", " "))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("GROWTH_KB", after - before)
"""


@only_rustorch
@pytest.mark.parametrize("entry", ["data/0", "data.pkl", "lying_header"])
def test_zip_bomb_refused_without_allocating(tmp_path, entry):
    if entry == "lying_header":
        path = write_lying_bomb(tmp_path / "bomb.pt")
        with zipfile.ZipFile(path) as zf:  # a well-formed zip; the header says 16 bytes
            assert zf.getinfo("archive/data/0").file_size == 16
    else:
        path = write_bomb(tmp_path / "bomb.pt", entry)
    assert path.stat().st_size < 2 ** 20
    warm = tmp_path / "warm.pt"  # a small load first, so one-time setup is not counted
    rt.save({"w": rt.ones(3)}, str(warm))
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__)))
    out = subprocess.run([sys.executable, "-c", BOMB_CHILD, pkg_root, str(path), str(warm)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"the load crashed the process: {out.stderr[-2000:]}"
    lines = out.stdout.strip().splitlines()
    status, growth = lines[-2], int(lines[-1].split()[1])
    assert growth < 64 * 1024, f"the load grew the process by {growth // 1024} MiB"
    if entry == "lying_header" and status == "LOADED":
        return  # read what the header declares and no more: harmless
    assert status.startswith("ERROR RuntimeError"), status
    assert "bomb.pt" in status, f"names the file: {status}"
    if entry != "lying_header":
        assert entry in status, f"names the entry: {status}"
