"""``SummaryWriter``: TensorBoard event files written without the ``tensorboard`` package.

Matched (``torch.utils.tensorboard.SummaryWriter``): the arguments, the default
``log_dir`` (``runs/<Mon DD_HH-MM-SS>_<hostname><comment>``), the event-file name
(``events.out.tfevents.<time>.<hostname>.<pid>.<n><suffix>``), the first event
(``file_version="brain.Event:2"``), ``purge_step``'s two marker events, and the summaries of
``add_scalar`` (``simple_value``, or a ``scalars``-plugin tensor with ``new_style``),
``add_scalars`` (one sub-writer per key in ``<log_dir>/<main_tag>_<key>``, the value
logged under ``main_tag``), ``add_text`` (``<tag>/text_summary``, ``text`` plugin),
``add_histogram`` (TensorFlow's default buckets, numpy bins, ``max_bins``), ``add_image`` /
``add_images`` (PNG via Pillow, the ``dataformats`` conversions and uint8 scaling).

Differs: events are buffered and written from the calling thread (when ``max_queue`` events
are pending, when ``flush_secs`` have passed at the next ``add_*``, on ``flush()`` and on
``close()``), not by a background thread. ``add_graph`` is accepted and ignored with a
warning (rustorch has no traced graph to write). Not provided: ``add_hparams``,
``add_figure``, ``add_video``, ``add_audio``, ``add_embedding``, ``add_pr_curve``,
``add_mesh``, ``add_custom_scalars``.
"""

from __future__ import annotations

import io
import itertools
import os
import socket
import threading
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import _proto

__all__ = ["FileWriter", "SummaryWriter"]

_global_uid = itertools.count()
_uid_lock = threading.Lock()


def _make_np(x: Any) -> Any:
    """A NumPy array from a tensor (either library), an array, or a number."""
    import numpy as np

    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (int, float, np.generic)):
        return np.array([x])
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        t = x.detach()
        if hasattr(t, "cpu"):
            t = t.cpu()
        return t.numpy()
    return np.asarray(x)


class FileWriter:
    """One event file in ``log_dir`` (PyTorch's ``FileWriter``): ``add_event``,
    ``add_summary``, ``flush``, ``close``, ``get_logdir``."""

    def __init__(self, log_dir: str, max_queue: int = 10, flush_secs: float = 120,
                 filename_suffix: str = "") -> None:
        log_dir = str(log_dir)
        os.makedirs(log_dir, exist_ok=True)
        with _uid_lock:
            uid = next(_global_uid)
        self._logdir = log_dir
        self._file_name = os.path.join(
            log_dir,
            "events.out.tfevents.%010d.%s.%s.%s" % (time.time(), socket.gethostname(),
                                                    os.getpid(), uid),
        ) + filename_suffix
        self._file = open(self._file_name, "wb")  # noqa: SIM115 - closed by close()
        self._max_queue = max_queue
        self._flush_secs = flush_secs
        self._pending: list[bytes] = []
        self._last_flush = time.time()
        self._lock = threading.Lock()
        self._closed = False
        self.add_event_bytes(_proto.event(wall_time=time.time(), file_version="brain.Event:2",
                                          source_writer="rustorch.utils.tensorboard"))
        self.flush()

    def get_logdir(self) -> str:
        return self._logdir

    @property
    def file_name(self) -> str:
        """The path of this writer's event file."""
        return self._file_name

    def add_event_bytes(self, data: bytes) -> None:
        """Queue one serialized ``Event``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("Writer is closed")
            self._pending.append(_proto.tfrecord(data))
            due = (len(self._pending) >= self._max_queue
                   or time.time() - self._last_flush >= self._flush_secs)
        if due:
            self.flush()

    def add_summary(self, summary: bytes, global_step: int | None = None,
                    walltime: float | None = None) -> None:
        """Wrap a serialized ``Summary`` in an ``Event`` (wall time, step) and queue it."""
        wall = time.time() if walltime is None else float(walltime)
        step = 0 if global_step is None else int(global_step)
        self.add_event_bytes(_proto.event(wall_time=wall, step=step, summary=summary))

    def flush(self) -> None:
        with self._lock:
            if self._closed:
                return
            if self._pending:
                self._file.write(b"".join(self._pending))
                self._pending.clear()
            self._file.flush()
            self._last_flush = time.time()

    def close(self) -> None:
        self.flush()
        with self._lock:
            if not self._closed:
                self._closed = True
                self._file.close()

    def reopen(self) -> None:
        """Nothing to do: a closed writer is replaced by a new one (PyTorch recreates it)."""


def _scalar_summary(tag: str, value: Any, new_style: bool = False,
                    double_precision: bool = False) -> bytes:
    arr = _make_np(value).squeeze()
    if arr.ndim != 0:
        raise AssertionError(
            f"Tensor should contain one element (0 dimensions). Was given size: {arr.size} "
            f"and {arr.ndim} dimensions."
        )
    v = float(arr)
    if new_style:
        tensor = (_proto.tensor_proto(dtype=_proto.DT_DOUBLE, double_val=[v])
                  if double_precision
                  else _proto.tensor_proto(dtype=_proto.DT_FLOAT, float_val=[v]))
        return _proto.summary([_proto.summary_value(
            tag, tensor=tensor, metadata=_proto.summary_metadata("scalars"))])
    return _proto.summary([_proto.summary_value(tag, simple_value=v)])


def _text_summary(tag: str, text: str) -> bytes:
    # TextPluginData(version=0) serializes to b"" (all defaults).
    tensor = _proto.tensor_proto(dtype=_proto.DT_STRING, shape=[1],
                                 string_val=[text.encode("utf-8")])
    return _proto.summary([_proto.summary_value(
        tag + "/text_summary", tensor=tensor, metadata=_proto.summary_metadata("text"))])


def _histogram_summary(tag: str, values: Any, bins: Any, max_bins: int | None) -> bytes:
    """PyTorch's ``make_histogram``: numpy's counts, trimmed to the non-empty support with
    one empty bucket on the left, only right bucket limits stored."""
    import numpy as np

    values = _make_np(values).astype(float)
    if values.size == 0:
        raise ValueError("The input has no element.")
    values = values.reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    num_bins = len(counts)
    if max_bins is not None and num_bins > max_bins:
        subsampling = num_bins // max_bins
        remainder = num_bins % subsampling
        if remainder != 0:
            counts = np.pad(counts, pad_width=[[0, subsampling - remainder]],
                            mode="constant", constant_values=0)
        counts = counts.reshape(-1, subsampling).sum(axis=-1)
        new_limits = np.empty((counts.size + 1,), limits.dtype)
        new_limits[:-1] = limits[:-1:subsampling]
        new_limits[-1] = limits[-1]
        limits = new_limits
    cum_counts = np.cumsum(np.greater(counts, 0))
    start, end = np.searchsorted(cum_counts, [0, cum_counts[-1] - 1], side="right")
    start, end = int(start), int(end) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("The histogram is empty, please file a bug report.")
    histo = _proto.histogram_proto(
        min=float(values.min()), max=float(values.max()), num=float(len(values)),
        sum=float(values.sum()), sum_squares=float(values.dot(values)),
        bucket_limit=[float(x) for x in limits], bucket=[float(x) for x in counts])
    return _proto.summary([_proto.summary_value(tag, histo=histo)])


def _make_grid(array: Any, ncols: int = 8) -> Any:
    import numpy as np

    if array.shape[1] == 1:
        array = np.concatenate([array, array, array], 1)
    if array.ndim != 4 or array.shape[1] != 3:
        raise AssertionError("Input should be a 4D numpy array with 3 channels")
    n, _, h, w = array.shape
    ncols = min(n, ncols)
    nrows = int(np.ceil(float(n) / ncols))
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=array.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = array[i]
    return canvas


def _convert_to_hwc(array: Any, input_format: str) -> Any:
    import numpy as np

    if len(set(input_format)) != len(input_format):
        raise AssertionError("You can not use the same dimension shorthand twice. "
                             f"input_format: {input_format}")
    if array.ndim != len(input_format):
        raise AssertionError("size of input tensor and input format are different. "
                             f"tensor shape: {array.shape}, input_format: {input_format}")
    fmt = input_format.upper()
    if len(fmt) == 4:
        nchw = array.transpose([fmt.find(c) for c in "NCHW"])
        return _make_grid(nchw).transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = array.transpose([fmt.find(c) for c in "HWC"])
        if hwc.shape[2] == 1:
            hwc = np.concatenate([hwc, hwc, hwc], 2)
        return hwc
    if len(fmt) == 2:
        hw = array.transpose([fmt.find(c) for c in "HW"])
        return np.stack([hw, hw, hw], 2)
    raise AssertionError(f"unsupported dataformats: {input_format}")


def _image_summary(tag: str, img: Any, dataformats: str) -> bytes:
    import numpy as np

    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            "SummaryWriter.add_image encodes images as PNG with Pillow, which is not "
            "installed: pip install pillow"
        ) from e
    array = _convert_to_hwc(_make_np(img), dataformats)
    scale = 1 if array.dtype == np.uint8 else 255
    array = (array.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    height, width, channels = array.shape
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    image = _proto.image_proto(height=height, width=width, colorspace=channels,
                               encoded=buf.getvalue())
    return _proto.summary([_proto.summary_value(tag, image=image)])


def _default_bins() -> list[float]:
    """TensorFlow's default histogram buckets: ±1e-12 growing by 1.1 up to 1e20, and 0."""
    v = 1e-12
    buckets: list[float] = []
    while v < 1e20:
        buckets.append(v)
        v *= 1.1
    return [-b for b in reversed(buckets)] + [0] + buckets


class SummaryWriter:
    """Write TensorBoard event files (``torch.utils.tensorboard.SummaryWriter``), with no
    dependency beyond NumPy (and Pillow for images). See the module docstring for what
    matches PyTorch and what differs."""

    def __init__(self, log_dir: str | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] | None = None
        self._get_file_writer()
        self.default_bins = _default_bins()

    def _get_file_writer(self) -> FileWriter:
        """The default writer, recreated after ``close()`` (as PyTorch)."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                          self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                step = self.purge_step
                self.file_writer.add_event_bytes(
                    _proto.event(step=step, file_version="brain.Event:2"))
                self.file_writer.add_event_bytes(_proto.event(
                    step=step, session_log=_proto.session_log(_proto.SESSION_LOG_START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        """The directory event files are written to."""
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Log one number (a float, or a one-element tensor/array)."""
        self._get_file_writer().add_summary(
            _scalar_summary(tag, scalar_value, new_style, double_precision), global_step,
            walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: Mapping[str, Any],
                    global_step: int | None = None, walltime: float | None = None) -> None:
        """Log several numbers under ``main_tag``: each key gets its own sub-writer in
        ``<log_dir>/<main_tag with / as _>_<key>`` (PyTorch's layout)."""
        walltime = time.time() if walltime is None else walltime
        fw_logdir = self._get_file_writer().get_logdir()
        assert self.all_writers is not None
        for tag, scalar_value in tag_scalar_dict.items():
            fw_tag = fw_logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(fw_tag)
            if fw is None:
                fw = FileWriter(fw_tag, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[fw_tag] = fw
            fw.add_summary(_scalar_summary(main_tag, scalar_value), global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        """Log a string (markdown in TensorBoard's Text tab), tag ``<tag>/text_summary``."""
        self._get_file_writer().add_summary(_text_summary(tag, text_string), global_step,
                                            walltime)

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None,
                      bins: Any = "tensorflow", walltime: float | None = None,
                      max_bins: int | None = None) -> None:
        """Log a histogram of ``values``; ``bins`` is ``"tensorflow"`` (TensorFlow's
        default buckets) or anything ``numpy.histogram`` accepts."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(
            _histogram_summary(tag, values, bins, max_bins), global_step, walltime)

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None,
                  walltime: float | None = None, dataformats: str = "CHW") -> None:
        """Log an image (float in [0, 1] or uint8), PNG-encoded with Pillow; ``dataformats``
        is ``"CHW"``, ``"HWC"``, ``"HW"`` or a permutation."""
        self._get_file_writer().add_summary(_image_summary(tag, img_tensor, dataformats),
                                            global_step, walltime)

    def add_images(self, tag: str, img_tensor: Any, global_step: int | None = None,
                   walltime: float | None = None, dataformats: str = "NCHW") -> None:
        """Log a batch of images as one grid image (8 per row, as PyTorch)."""
        self._get_file_writer().add_summary(_image_summary(tag, img_tensor, dataformats),
                                            global_step, walltime)

    def add_graph(self, model: Any, input_to_model: Any = None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """Accepted and ignored, with a warning: rustorch has no traced graph to write."""
        warnings.warn(
            "SummaryWriter.add_graph is not supported by rustorch (no graph tracing); "
            "nothing was written", UserWarning, stacklevel=2)

    def flush(self) -> None:
        """Write every pending event to disk."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self) -> None:
        """Flush and close every event file (a later ``add_*`` opens a new one)."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
