"""``rustorch.utils.safetensors``: ``save_file``/``load_file``/``save``/``load`` in the
safetensors layout (checked byte by byte against the format's definition: an 8-byte header
length, a JSON header of dtype/shape/offsets, the raw little-endian data)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import rt, to_np

if getattr(rt, "__name__", "") != "rustorch":
    pytest.skip("rustorch.utils.safetensors is rustorch's", allow_module_level=True)

from rustorch.utils import safetensors as st  # noqa: E402


def test_save_file_layout_metadata_and_round_trip(tmp_path):
    tensors = {"w": rt.arange(6, dtype=rt.float32).reshape(2, 3),
               "i": rt.tensor([1, -2], dtype=rt.int16), "m": rt.tensor([True, False])}
    path = tmp_path / "weights.bin"  # any name: the format does not depend on it
    st.save_file(tensors, path, metadata={"author": "me"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"]["author"] == "me"
    assert header["w"]["dtype"] == "F32" and header["w"]["shape"] == [2, 3]
    assert header["i"]["dtype"] == "I16" and header["m"]["dtype"] == "BOOL"
    begin, end = header["w"]["data_offsets"]
    data = np.frombuffer(raw[8 + n + begin:8 + n + end], "<f4")
    np.testing.assert_array_equal(data, np.arange(6, dtype=np.float32))
    back = st.load_file(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype
        np.testing.assert_array_equal(to_np(back[k]), to_np(v))
    mem = st.load(st.save(tensors))
    np.testing.assert_array_equal(to_np(mem["i"]), [1, -2])
    assert rt.load(path)["w"].shape == (2, 3)  # rustorch.load reads it too


def test_save_file_refuses_what_safetensors_refuses(tmp_path):
    with pytest.raises(TypeError, match="dict of str to Tensor"):
        st.save_file({"a": [1, 2]}, tmp_path / "x")
    with pytest.raises(TypeError, match="metadata must map str to str"):
        st.save_file({"a": rt.ones(1)}, tmp_path / "x", metadata={"k": 1})
