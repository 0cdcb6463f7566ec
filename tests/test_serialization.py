"""rustorch.save / rustorch.load round trips, the safetensors format, and pickling of modules.

``rt.save`` writes PyTorch's zip format by default, its legacy format with
``_use_new_zipfile_serialization=False`` and safetensors for a ``.safetensors`` path (issue
15; the checks against PyTorch itself are in test_serialization_torch.py). Round trips run
under any library (PyTorch's own ``save``/``load`` under the oracle) and in every format;
the safetensors layout checks and rustorch's error messages only apply to rustorch.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
from collections import OrderedDict

import numpy as np
import pytest
from conftest import LIB_NAME, assert_values, make_tensor, rt, to_np

IS_RUSTORCH = LIB_NAME != "torch"
only_rustorch = pytest.mark.skipif(not IS_RUSTORCH, reason="format of rustorch.save only")


def roundtrip(obj, via="path", tmp_path=None):
    if via == "safetensors" and not IS_RUSTORCH:
        pytest.skip("rustorch's safetensors files hold nested objects; PyTorch's .safetensors "
                    "support needs the safetensors package and flat dicts of tensors")
    if via in ("path", "legacy", "safetensors"):
        path = str(tmp_path / ("obj.safetensors" if via == "safetensors" else "obj.bin"))
        rt.save(obj, path, _use_new_zipfile_serialization=via != "legacy")
        return rt.load(path)
    buf = io.BytesIO()
    rt.save(obj, buf)
    buf.seek(0)
    return rt.load(buf)


def assert_same_tensor(a, b):
    assert isinstance(a, rt.Tensor)
    assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
    assert_values(to_np(a), to_np(b), rtol=0, atol=0)


@pytest.mark.parametrize("via", ["path", "buffer", "legacy", "safetensors"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "int16", "int8",
                                   "uint8", "bool"])
def test_tensor_round_trip(tmp_path, via, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4)) * 10).astype(dtype)
    t = make_tensor(rt, arr, dtype)
    assert_same_tensor(roundtrip(t, via, tmp_path), t)


@pytest.mark.parametrize("via", ["path", "legacy", "safetensors"])
def test_special_tensors_round_trip(tmp_path, via):
    scalar = rt.tensor(3.5)
    assert_same_tensor(roundtrip(scalar, via, tmp_path), scalar)
    empty = rt.zeros(0, 3)
    assert_same_tensor(roundtrip(empty, via, tmp_path), empty)
    base = rt.arange(12.0).reshape(3, 4)
    view = base.t()  # non-contiguous
    assert_same_tensor(roundtrip(view, via, tmp_path), view)
    leaf = rt.ones(2, requires_grad=True)
    back = roundtrip(leaf, via, tmp_path)
    assert back.requires_grad and back.is_leaf


@pytest.mark.parametrize("via", ["path", "buffer", "legacy"])
def test_views_stay_views(tmp_path, via):
    """PyTorch's formats save each storage once: views come back as views of one storage."""
    base = rt.arange(12.0).reshape(3, 4)
    back = roundtrip({"base": base, "rows": base[1:], "t": base.t()}, via, tmp_path)
    assert tuple(back["rows"].stride()) == (4, 1) and back["rows"].storage_offset() == 4
    assert tuple(back["t"].stride()) == (1, 4)
    back["rows"].mul_(-1)
    assert_values(to_np(back["base"])[1:], -np.arange(4.0, 12.0).reshape(2, 4))
    assert_values(to_np(back["t"]), to_np(back["base"]).T)


@pytest.mark.parametrize("via", ["path", "legacy", "safetensors"])
def test_state_dict_round_trip(tmp_path, via):
    rt.manual_seed(0)
    model = rt.nn.Sequential(rt.nn.Linear(4, 8), rt.nn.ReLU(), rt.nn.Linear(8, 2))
    model.register_buffer("steps", rt.tensor([3]))
    sd = model.state_dict()
    back = roundtrip(sd, via, tmp_path)
    assert isinstance(back, OrderedDict) and list(back) == list(sd)
    for k in sd:
        assert_same_tensor(back[k], sd[k])
    fresh = rt.nn.Sequential(rt.nn.Linear(4, 8), rt.nn.ReLU(), rt.nn.Linear(8, 2))
    fresh.register_buffer("steps", rt.tensor([0]))
    fresh.load_state_dict(back)
    x = rt.randn(5, 4)
    assert_values(to_np(fresh(x)), to_np(model(x)))


@pytest.mark.parametrize("via", ["path", "legacy", "safetensors"])
def test_optimizer_state_dict_round_trip(tmp_path, via):
    rt.manual_seed(1)
    model = rt.nn.Linear(3, 2)
    opt = rt.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9), amsgrad=True)
    for _ in range(3):
        opt.zero_grad()
        model(rt.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    sd = opt.state_dict()
    back = roundtrip(sd, via, tmp_path)
    assert sorted(back["state"]) == [0, 1]
    assert back["param_groups"] == sd["param_groups"]
    assert isinstance(back["param_groups"][0]["betas"], tuple)
    for pid, st in sd["state"].items():
        assert list(back["state"][pid]) == list(st)
        for k, v in st.items():
            assert_same_tensor(back["state"][pid][k], v)
    opt2 = rt.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9), amsgrad=True)
    opt2.load_state_dict(back)
    assert float(opt2.state[model.weight]["step"].item()) == 3.0


@pytest.mark.parametrize("via", ["path", "legacy", "safetensors"])
def test_nested_python_values_round_trip(tmp_path, via):
    obj = {
        "epoch": 7,
        "loss": 0.25,
        "best": float("inf"),
        "nan": float("nan"),
        "name": "run-1",
        "flags": [True, False, None],
        "pair": (1, "two", 3.0),
        "tensors": [rt.ones(2), {"inner": rt.zeros(1, dtype=rt.int64)}],
        1: "int key",
        (2, "b"): "tuple key",
    }
    back = roundtrip(obj, via, tmp_path)
    assert back["epoch"] == 7 and back["loss"] == 0.25 and back["best"] == math.inf
    assert math.isnan(back["nan"]) and back["name"] == "run-1"
    assert back["flags"] == [True, False, None]
    assert back["pair"] == (1, "two", 3.0)
    assert_same_tensor(back["tensors"][0], obj["tensors"][0])
    assert_same_tensor(back["tensors"][1]["inner"], obj["tensors"][1]["inner"])
    assert back[1] == "int key" and back[(2, "b")] == "tuple key"


@pytest.mark.parametrize("via", ["path", "legacy", "safetensors"])
def test_parameters_round_trip(tmp_path, via):
    p = rt.nn.Parameter(rt.ones(2, 2))
    frozen = rt.nn.Parameter(rt.zeros(2), requires_grad=False)
    back = roundtrip({"p": p, "frozen": frozen}, via, tmp_path)
    assert isinstance(back["p"], rt.nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["frozen"], rt.nn.Parameter) and not back["frozen"].requires_grad


@only_rustorch
def test_file_is_safetensors(tmp_path):
    rt.manual_seed(0)
    model = rt.nn.Linear(3, 2)
    path = str(tmp_path / "model.safetensors")
    rt.save(model.state_dict(), path)
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0, "header padded to 8 bytes"
    header = json.loads(raw[8:8 + n])
    assert set(header) == {"weight", "bias", "__metadata__"}
    assert header["weight"]["dtype"] == "F32" and header["weight"]["shape"] == [2, 3]
    begin, end = header["weight"]["data_offsets"]
    w = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<f4").reshape(2, 3)
    assert_values(w, to_np(model.weight))
    assert header["__metadata__"]["format"] == "pt"
    assert all(isinstance(v, str) for v in header["__metadata__"].values())
    assert b"\x80" not in raw[8:8 + n], "no pickle anywhere in the header"
    try:
        from safetensors.numpy import load_file
    except ImportError:
        return
    loaded = load_file(path)
    assert_values(loaded["bias"], to_np(model.bias))


@pytest.mark.parametrize("via", ["path", "legacy", "safetensors"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_tensors_round_trip(tmp_path, dtype, via):
    rt.manual_seed(0)
    t = (rt.randn(3, 5) * 100).to(getattr(rt, dtype))
    back = roundtrip({"w": t}, via, tmp_path)["w"]
    assert back.dtype == t.dtype
    assert_values(to_np(back.float()), to_np(t.float()), rtol=0, atol=0)


@only_rustorch
def test_half_tensors_are_safetensors_f16_and_bf16(tmp_path):
    vals = np.array([1.5, -2.25, 3.0e4, 1e-3], np.float32)
    path = str(tmp_path / "h.safetensors")
    rt.save({"h": rt.tensor(vals).half(), "b": rt.tensor(vals).bfloat16()}, path)
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["h"]["dtype"] == "F16" and header["b"]["dtype"] == "BF16"
    begin, end = header["b"]["data_offsets"]
    bits = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<u2")
    # bfloat16 is the top half of the float32 holding the same value.
    want = rt.tensor(vals).bfloat16().float().numpy().view(np.uint32) >> 16
    np.testing.assert_array_equal(bits, want.astype(np.uint16))
    begin, end = header["h"]["data_offsets"]
    np.testing.assert_array_equal(np.frombuffer(raw[8 + n + begin:8 + n + end], "<f2"),
                                  vals.astype(np.float16))


@only_rustorch
def test_load_plain_safetensors_file(tmp_path):
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    b = np.array([1, 0, 1], dtype=np.uint8)
    header = {
        "b": {"dtype": "U8", "shape": [3], "data_offsets": [48, 51]},
        "a": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]},
    }
    hb = json.dumps(header).encode()
    path = tmp_path / "plain.safetensors"
    path.write_bytes(struct.pack("<Q", len(hb)) + hb + a.tobytes() + b.tobytes())
    out = rt.load(str(path))
    assert list(out) == ["a", "b"]
    assert_values(to_np(out["a"]), a)
    assert_values(to_np(out["b"]), b)


@only_rustorch
def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(RuntimeError, match="bad.bin: .*safetensors.*expected at least 8"):
        rt.load(str(path))
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(RuntimeError, match="bad.bin: .*header length 1000 exceeds"):
        rt.load(str(path))
    path.write_bytes(struct.pack("<Q", 4) + b"{{{{")
    with pytest.raises(RuntimeError, match="header is not valid JSON"):
        rt.load(str(path))
    good = tmp_path / "good.safetensors"
    rt.save({"w": rt.ones(4)}, str(good))
    raw = good.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(raw[:-4])
    with pytest.raises(RuntimeError, match="trunc.safetensors: corrupt file: tensor 'w'"):
        rt.load(str(tmp_path / "trunc.safetensors"))
    # a pickle that is not a PyTorch legacy checkpoint (no magic number first)
    (tmp_path / "pickled.bin").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(RuntimeError, match="pickled.bin"):
        rt.load(str(tmp_path / "pickled.bin"))
    zipped = tmp_path / "zipped.pt"
    rt.save({"w": rt.ones(4)}, str(zipped))
    (tmp_path / "trunc.pt").write_bytes(zipped.read_bytes()[:-30])
    with pytest.raises(RuntimeError, match="trunc.pt"):
        rt.load(str(tmp_path / "trunc.pt"))


def test_load_never_runs_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(pickle.UnpicklingError, match="exec"):  # weights_only=True by default
        rt.load(str(path))


@only_rustorch
def test_safetensors_rejects_unsupported_objects(tmp_path):
    """safetensors holds tensors and plain data only (PyTorch's formats pickle anything)."""
    with pytest.raises(TypeError, match=r"save its state_dict\(\) instead"):
        rt.save(rt.nn.Linear(2, 2), str(tmp_path / "m.safetensors"))
    with pytest.raises(TypeError, match="cannot save object of type object at 'x'"):
        rt.save({"x": object()}, str(tmp_path / "o.safetensors"))
    rt.save(rt.nn.Linear(2, 2), str(tmp_path / "m.pt"))  # the default format pickles it


def test_map_location(tmp_path):
    path = str(tmp_path / "t.bin")
    rt.save({"w": rt.ones(2)}, path)
    assert_same_tensor(rt.load(path, map_location="cpu")["w"], rt.ones(2))
    seen = []
    out = rt.load(path, map_location=lambda t, loc: seen.append(loc) or t)
    assert seen == ["cpu"] and tuple(out["w"].shape) == (2,)


def test_numpy_array_round_trip(tmp_path):
    arr = np.arange(5, dtype=np.int32)
    obj = {"arr": arr, "scalar": np.float64(2.5)}
    path = str(tmp_path / "np.pt")
    rt.save(obj, path)
    with pytest.raises(pickle.UnpicklingError, match="numpy"):  # not on the allowlist
        rt.load(path)
    back = rt.load(path, weights_only=False)
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == np.int32
    assert_values(back["arr"], arr)
    assert back["scalar"] == 2.5


@only_rustorch
def test_numpy_array_round_trip_safetensors(tmp_path):
    arr = np.arange(5, dtype=np.int32)
    back = roundtrip({"arr": arr, "scalar": np.float64(2.5)}, "safetensors", tmp_path)
    assert isinstance(back["arr"], np.ndarray) and back["arr"].dtype == np.int32
    assert_values(back["arr"], arr)
    assert back["scalar"] == 2.5


def test_pickle_whole_model():
    rt.manual_seed(2)
    model = rt.nn.Sequential(rt.nn.Linear(3, 4), rt.nn.GELU(), rt.nn.Linear(4, 2))
    blob = pickle.dumps(model)
    back = pickle.loads(blob)
    x = rt.randn(2, 3)
    assert_values(to_np(back(x)), to_np(model(x)))
    assert isinstance(back[0].weight, rt.nn.Parameter)
    back(x).sum().backward()
    assert back[0].weight.grad is not None
    opt = rt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(x).sum().backward()
    opt.step()
    opt_back = pickle.loads(pickle.dumps(opt))
    assert opt_back.param_groups[0]["lr"] == 0.1
