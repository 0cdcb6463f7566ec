"""The bytes of TensorBoard event files, without ``tensorboard`` or ``protobuf``.

An event file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked_crc32c(length
bytes)``, ``data``, ``uint32 masked_crc32c(data)`` (little-endian), each ``data`` one
serialized ``tensorflow.Event``. The few messages needed (Event, Summary, Summary.Value,
Summary.Image, HistogramProto, SummaryMetadata, TensorProto, SessionLog, SourceMetadata)
are hand-encoded here in field-number order with proto3 defaults omitted, which is what
the protobuf library writes, so the bytes match ``tensorboard``'s for the same message.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

# --------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, table-driven


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add 0xA282EAD8."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord frame around ``data``."""
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + data
            + struct.pack("<I", masked_crc32c(data)))


# --------------------------------------------------------------------------------------
# protobuf wire format


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64/int32 negatives: ten-byte two's complement, as protobuf
    out = bytearray()
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def f_varint(field: int, value: int) -> bytes:
    """An int/enum/bool field (omitted when 0, proto3's default)."""
    return _key(field, 0) + _varint(int(value)) if value else b""


def f_double(field: int, value: float) -> bytes:
    # proto3 omits 0.0 (but writes -0.0, whose bits are not all zero)
    bits = struct.pack("<d", value)
    return _key(field, 1) + bits if bits != b"\0" * 8 else b""


def f_float(field: int, value: float) -> bytes:
    bits = struct.pack("<f", value)
    return _key(field, 5) + bits if bits != b"\0" * 4 else b""


def f_bytes(field: int, value: bytes | str, *, always: bool = False) -> bytes:
    """A string/bytes/message field (omitted when empty, unless ``always``: a set
    sub-message is written even when empty)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not value and not always:
        return b""
    return _key(field, 2) + _varint(len(value)) + value


def f_packed_doubles(field: int, values: Sequence[float]) -> bytes:
    if not values:
        return b""
    body = struct.pack(f"<{len(values)}d", *values)
    return _key(field, 2) + _varint(len(body)) + body


def f_packed_floats(field: int, values: Sequence[float]) -> bytes:
    if not values:
        return b""
    body = struct.pack(f"<{len(values)}f", *values)
    return _key(field, 2) + _varint(len(body)) + body


def f_repeated_bytes(field: int, values: Iterable[bytes]) -> bytes:
    return b"".join(f_bytes(field, v, always=True) for v in values)


# --------------------------------------------------------------------------------------
# messages (field numbers from tensorflow/core/framework/*.proto and util/event.proto)

DT_FLOAT = 1
DT_DOUBLE = 2
DT_STRING = 7
SESSION_LOG_START = 1


def event(*, wall_time: float = 0.0, step: int = 0, file_version: str = "",
          summary: bytes | None = None, session_log: bytes | None = None,
          source_writer: str = "") -> bytes:
    """``Event``: wall_time=1 (double), step=2 (int64), file_version=3, summary=5,
    session_log=7, source_metadata=10 (``SourceMetadata.writer`` = 1)."""
    return b"".join([
        f_double(1, wall_time),
        f_varint(2, step),
        f_bytes(3, file_version),
        f_bytes(5, summary, always=True) if summary is not None else b"",
        f_bytes(7, session_log, always=True) if session_log is not None else b"",
        f_bytes(10, f_bytes(1, source_writer), always=True) if source_writer else b"",
    ])


def session_log(status: int) -> bytes:
    """``SessionLog``: status=1 (enum)."""
    return f_varint(1, status)


def summary(values: Iterable[bytes]) -> bytes:
    """``Summary``: value=1 (repeated ``Summary.Value``)."""
    return b"".join(f_bytes(1, v, always=True) for v in values)


def summary_value(tag: str, *, simple_value: float | None = None, image: bytes | None = None,
                  histo: bytes | None = None, tensor: bytes | None = None,
                  metadata: bytes | None = None) -> bytes:
    """``Summary.Value``: tag=1, simple_value=2 (float), image=4, histo=5, tensor=8,
    metadata=9. A oneof member is written even when it is the default."""
    parts = [f_bytes(1, tag)]
    if simple_value is not None:
        parts.append(_key(2, 5) + struct.pack("<f", simple_value))
    if image is not None:
        parts.append(f_bytes(4, image, always=True))
    if histo is not None:
        parts.append(f_bytes(5, histo, always=True))
    if tensor is not None:
        parts.append(f_bytes(8, tensor, always=True))
    if metadata is not None:
        parts.append(f_bytes(9, metadata, always=True))
    return b"".join(parts)


def summary_metadata(plugin_name: str, content: bytes = b"") -> bytes:
    """``SummaryMetadata``: plugin_data=1 (``PluginData``: plugin_name=1, content=2)."""
    return f_bytes(1, f_bytes(1, plugin_name) + f_bytes(2, content), always=True)


def tensor_proto(*, dtype: int, shape: Sequence[int] | None = None,
                 float_val: Sequence[float] = (), double_val: Sequence[float] = (),
                 string_val: Sequence[bytes] = ()) -> bytes:
    """``TensorProto``: dtype=1, tensor_shape=2 (``TensorShapeProto``: dim=2, each
    ``Dim.size`` = 1), float_val=5, double_val=6 (packed), string_val=8."""
    shape_bytes = b""
    if shape is not None:
        shape_bytes = f_bytes(2, b"".join(f_bytes(2, f_varint(1, d), always=True)
                                          for d in shape), always=True)
    return b"".join([
        f_varint(1, dtype),
        shape_bytes,
        f_packed_floats(5, float_val),
        f_packed_doubles(6, double_val),
        f_repeated_bytes(8, string_val),
    ])


def histogram_proto(*, min: float, max: float, num: float, sum: float,  # noqa: A002
                    sum_squares: float, bucket_limit: Sequence[float],
                    bucket: Sequence[float]) -> bytes:
    """``HistogramProto``: min=1, max=2, num=3, sum=4, sum_squares=5 (doubles),
    bucket_limit=6, bucket=7 (packed doubles)."""
    return b"".join([
        f_double(1, min), f_double(2, max), f_double(3, num), f_double(4, sum),
        f_double(5, sum_squares), f_packed_doubles(6, bucket_limit),
        f_packed_doubles(7, bucket),
    ])


def image_proto(*, height: int, width: int, colorspace: int, encoded: bytes) -> bytes:
    """``Summary.Image``: height=1, width=2, colorspace=3, encoded_image_string=4."""
    return b"".join([f_varint(1, height), f_varint(2, width), f_varint(3, colorspace),
                     f_bytes(4, encoded)])
