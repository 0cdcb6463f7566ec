"""``utils.tensorboard.SummaryWriter``: the event files are read back with an independent
TFRecord reader (lengths and both masked CRC-32Cs checked) and a tiny protobuf decoder, and,
where the ``tensorboard`` package is installed, with its ``EventAccumulator``."""

import importlib
import os
import socket
import struct
import warnings

import numpy as np
import pytest
from conftest import LIB_NAME, need_torch, rt

IS_RUSTORCH = LIB_NAME == "rustorch"

try:
    import tensorboard  # noqa: F401

    HAVE_TB = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_TB = False

if not IS_RUSTORCH and not HAVE_TB:
    pytest.skip("PyTorch's SummaryWriter needs the tensorboard package, which is not "
                "installed", allow_module_level=True)

tb = importlib.import_module(LIB_NAME + ".utils.tensorboard")
SummaryWriter = tb.SummaryWriter


# --------------------------------------------------------------------------------------
# an independent reader: bitwise CRC-32C, TFRecord frames, protobuf wire format


def _crc32c_bitwise(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(data):
    crc = _crc32c_bitwise(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path):
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert len_crc == _masked(header), "length CRC mismatch"
        body = data[pos + 12:pos + 12 + length]
        assert len(body) == length, "truncated record"
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        assert body_crc == _masked(body), "data CRC mismatch"
        out.append(body)
        pos += 16 + length
    return out


def _varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _fields(buf):
    """{field number: [raw values]}: ints for varints, bytes for length-delimited and
    fixed-width fields."""
    out, pos = {}, 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.setdefault(field, []).append(value)
    return out


def _double(raw):
    return struct.unpack("<d", raw)[0]


def _packed_doubles(raw):
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


def _decode_event(body):
    f = _fields(body)
    ev = {"wall_time": _double(f[1][0]) if 1 in f else 0.0,
          "step": f.get(2, [0])[0], "values": []}
    if 3 in f:
        ev["file_version"] = f[3][0].decode()
    if 7 in f:
        ev["session_log_status"] = _fields(f[7][0]).get(1, [0])[0]
    for summary in f.get(5, []):
        for raw_value in _fields(summary).get(1, []):
            v = _fields(raw_value)
            value = {"tag": v[1][0].decode()}
            if 2 in v:
                value["simple_value"] = struct.unpack("<f", v[2][0])[0]
            if 4 in v:
                img = _fields(v[4][0])
                value["image"] = (img[1][0], img[2][0], img[3][0], img[4][0])
            if 5 in v:
                h = _fields(v[5][0])
                value["histo"] = {
                    "min": _double(h[1][0]), "max": _double(h[2][0]),
                    "num": _double(h[3][0]), "sum": _double(h[4][0]),
                    "sum_squares": _double(h[5][0]),
                    "bucket_limit": _packed_doubles(h[6][0]),
                    "bucket": _packed_doubles(h[7][0]),
                }
            if 8 in v:
                t = _fields(v[8][0])
                value["tensor_dtype"] = t[1][0]
                value["string_val"] = t.get(8, [])
            if 9 in v:
                plugin = _fields(_fields(v[9][0])[1][0])
                value["plugin"] = plugin[1][0].decode()
            ev["values"].append(value)
    return ev


def _event_files(d):
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith("events.out.tfevents"))


def _read_dir(d):
    (path,) = _event_files(d)
    return [_decode_event(b) for b in _records(path)]


def _values(events, key="simple_value"):
    return [(e["step"], v["tag"], v[key]) for e in events for v in e["values"] if key in v]


# --------------------------------------------------------------------------------------


def test_reader_crc_known_vector():
    assert _crc32c_bitwise(b"123456789") == 0xE3069283


@pytest.mark.skipif(not IS_RUSTORCH, reason="rustorch's own CRC-32C helper")
def test_library_crc32c_matches_bitwise():
    from rustorch.utils.tensorboard import _proto

    rng = np.random.RandomState(0)
    for n in (0, 1, 7, 100, 1000):
        data = rng.bytes(n)
        assert _proto.crc32c(data) == _crc32c_bitwise(data)
        assert _proto.masked_crc32c(data) == _masked(data)


def test_scalars_text_histogram_round_trip(tmp_path):
    d = str(tmp_path / "run")
    values = rt.tensor([0.5, -1.25, 2.0, 3.5, 0.0, 7.0])
    with SummaryWriter(d) as w:
        assert w.get_logdir() == d
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("acc", rt.tensor(0.75), 10, walltime=1234.5)
        w.add_text("note", "hello **world**", 3)
        w.add_histogram("weights", values, 7)
    events = _read_dir(d)
    assert events[0]["file_version"] == "brain.Event:2"
    assert events[0]["wall_time"] > 1e9  # seconds since the epoch
    scalars = _values(events)
    assert scalars[:5] == [(s, "loss", pytest.approx(1.0 / (s + 1))) for s in range(5)]
    assert scalars[5] == (10, "acc", 0.75)
    (acc_event,) = [e for e in events if any(v["tag"] == "acc" for v in e["values"])]
    assert acc_event["wall_time"] == 1234.5
    (text,) = [(e["step"], v) for e in events for v in e["values"] if "string_val" in v]
    assert text[0] == 3
    assert text[1]["tag"] == "note/text_summary" and text[1]["plugin"] == "text"
    assert text[1]["string_val"] == [b"hello **world**"] and text[1]["tensor_dtype"] == 7
    ((step, tag, h),) = _values(events, "histo")
    assert (step, tag) == (7, "weights")
    arr = np.array([0.5, -1.25, 2.0, 3.5, 0.0, 7.0])
    assert h["min"] == -1.25 and h["max"] == 7.0 and h["num"] == 6
    assert h["sum"] == pytest.approx(arr.sum())
    assert h["sum_squares"] == pytest.approx(arr.dot(arr))
    assert sum(h["bucket"]) == 6 and len(h["bucket"]) == len(h["bucket_limit"])
    assert h["bucket_limit"] == sorted(h["bucket_limit"])
    assert h["bucket_limit"][-1] >= 7.0 and h["bucket"][0] == 0  # empty left bucket


def test_histogram_numpy_bins_and_max_bins(tmp_path):
    d = str(tmp_path)
    data = np.random.RandomState(1).randn(500)
    with SummaryWriter(d) as w:
        w.add_histogram("h", data, 0, bins=20)
        w.add_histogram("h_max", data, 1, bins=20, max_bins=5)
    hs = {tag: h for _, tag, h in _values(_read_dir(d), "histo")}
    counts, _ = np.histogram(data, bins=20)
    assert sum(hs["h"]["bucket"]) == 500
    assert len(hs["h"]["bucket"]) <= 21
    assert hs["h"]["bucket"][1:] == [float(c) for c in counts][:len(hs["h"]["bucket"]) - 1]
    assert sum(hs["h_max"]["bucket"]) == 500 and len(hs["h_max"]["bucket"]) <= 6


def test_add_scalars_sub_writers(tmp_path):
    d = str(tmp_path / "exp")
    with SummaryWriter(d) as w:
        for step in range(3):
            w.add_scalars("loss/all", {"train": 1.0 - step / 10, "val": 2.0 + step}, step)
    assert sorted(os.listdir(d))[-2:] == ["loss_all_train", "loss_all_val"]
    train = _values(_read_dir(os.path.join(d, "loss_all_train")))
    val = _values(_read_dir(os.path.join(d, "loss_all_val")))
    assert train == [(s, "loss/all", pytest.approx(1.0 - s / 10)) for s in range(3)]
    assert val == [(s, "loss/all", 2.0 + s) for s in range(3)]


def test_add_image(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="add_image needs Pillow")
    import io

    d = str(tmp_path)
    img = np.zeros((3, 4, 6), dtype=np.float32)
    img[0] = 1.0  # red
    with SummaryWriter(d) as w:
        w.add_image("img", img, 0)
        w.add_image("gray_hw", rt.ones(5, 2) * 0.5, 1, dataformats="HW")
        w.add_images("batch", np.ones((3, 1, 2, 2), dtype=np.uint8) * 200, 2)
    images = {tag: v for _, tag, v in _values(_read_dir(d), "image")}
    h, w_, c, png = images["img"]
    assert (h, w_, c) == (4, 6, 3)
    decoded = np.asarray(Image.open(io.BytesIO(png)))
    assert decoded.shape == (4, 6, 3)
    assert (decoded[..., 0] == 255).all() and (decoded[..., 1:] == 0).all()
    h, w_, c, png = images["gray_hw"]
    assert (h, w_, c) == (5, 2, 3)
    assert (np.asarray(Image.open(io.BytesIO(png))) == 127).all()
    h, w_, c, png = images["batch"]
    assert (h, w_, c) == (2, 6, 3)  # three 2x2 images side by side
    assert (np.asarray(Image.open(io.BytesIO(png))) == 200).all()


def test_default_log_dir_and_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    try:
        logdir = w.get_logdir()
        assert logdir.startswith("runs" + os.sep)
        assert logdir.endswith("_" + socket.gethostname() + "_lr0.1")
        assert len(_event_files(str(tmp_path / logdir))) == 1
    finally:
        w.close()


def test_event_file_name_and_suffix(tmp_path):
    with SummaryWriter(str(tmp_path), filename_suffix=".v2") as w:
        w.add_scalar("x", 1.0, 0)
    (path,) = _event_files(str(tmp_path))
    name = os.path.basename(path)
    parts = name.split(".")
    assert name.startswith("events.out.tfevents.") and name.endswith(".v2")
    assert parts[3].isdigit() and len(parts[3]) == 10
    assert str(os.getpid()) in name


def test_purge_step_markers(tmp_path):
    with SummaryWriter(str(tmp_path), purge_step=42) as w:
        w.add_scalar("x", 1.0, 42)
    events = _read_dir(str(tmp_path))
    assert events[1]["step"] == 42 and events[1]["file_version"] == "brain.Event:2"
    assert events[2]["step"] == 42 and events[2]["session_log_status"] == 1  # START
    assert _values(events) == [(42, "x", 1.0)]


def test_close_twice_and_reopen(tmp_path):
    w = SummaryWriter(str(tmp_path))
    w.add_scalar("a", 1.0, 0)
    w.close()
    w.close()  # a second close is ignored
    w.add_scalar("a", 2.0, 1)  # PyTorch opens a new event file
    w.flush()
    w.close()
    files = _event_files(str(tmp_path))
    assert len(files) == 2
    got = sorted(_values([_decode_event(b) for f in files for b in _records(f)]))
    assert got == [(0, "a", 1.0), (1, "a", 2.0)]


@pytest.mark.skipif(not IS_RUSTORCH, reason="PyTorch's writer flushes from a background "
                    "thread; rustorch's synchronous queue is checked here")
def test_max_queue_flushes_without_flush_call(tmp_path):
    w = SummaryWriter(str(tmp_path), max_queue=3)
    for i in range(3):
        w.add_scalar("q", float(i), i)
    assert [s for s, _, _ in _values(_read_dir(str(tmp_path)))] == [0, 1, 2]
    w.add_scalar("q", 3.0, 3)
    assert len(_values(_read_dir(str(tmp_path)))) == 3  # pending until the next flush
    w.flush()
    assert len(_values(_read_dir(str(tmp_path)))) == 4
    w.close()


@pytest.mark.skipif(not IS_RUSTORCH, reason="PyTorch traces the model into a graph")
def test_add_graph_warns_and_writes_nothing(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.warns(UserWarning, match="add_graph"):
            w.add_graph(rt.nn.Linear(2, 2), rt.ones(1, 2))
    assert len(_read_dir(str(tmp_path))) == 1  # only the file-version event


@pytest.mark.skipif(not IS_RUSTORCH, reason="compares rustorch's encoder with tensorboard's")
def test_summary_bytes_equal_tensorboard_protobuf():
    if not HAVE_TB:
        pytest.skip("the tensorboard package is not installed: no protobuf reference")
    need_torch()
    from rustorch.utils.tensorboard import writer as W
    from torch.utils.tensorboard import summary as S

    rng = np.random.RandomState(0)
    data = rng.randn(300)
    cases = [
        (W._scalar_summary("loss", 0.5), S.scalar("loss", 0.5)),
        (W._scalar_summary("zero", 0.0), S.scalar("zero", 0.0)),
        (W._scalar_summary("n", 2.5, new_style=True), S.scalar("n", 2.5, new_style=True)),
        (W._text_summary("t", "héllo"), S.text("t", "héllo")),
        (W._histogram_summary("h", data, W._default_bins(), None),
         S.histogram("h", data, W._default_bins())),
        (W._histogram_summary("h", data, 40, 6), S.histogram("h", data, 40, max_bins=6)),
    ]
    for mine, ref in cases:
        assert mine == ref.SerializeToString()


def test_tensorboard_event_accumulator_reads_it(tmp_path):
    if not HAVE_TB:
        pytest.skip("the tensorboard package is not installed: EventAccumulator unavailable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    d = str(tmp_path)
    with SummaryWriter(d) as w:
        for step in range(4):
            w.add_scalar("train/loss", 2.0 - step * 0.5, step)
        w.add_histogram("w", np.arange(10.0), 1)
        w.add_text("msg", "hi", 2)
    acc = EventAccumulator(d, size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "train/loss" in tags["scalars"]
    assert [(e.step, e.value) for e in acc.Scalars("train/loss")] == [
        (s, 2.0 - s * 0.5) for s in range(4)]
    (hist,) = acc.Histograms("w")
    assert hist.step == 1 and hist.histogram_value.num == 10
    assert hist.histogram_value.max == 9.0
    (text,) = acc.Tensors("msg/text_summary")
    assert text.step == 2 and text.tensor_proto.string_val == [b"hi"]
