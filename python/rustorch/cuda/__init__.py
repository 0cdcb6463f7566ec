"""``rustorch.cuda``: CUDA devices, as ``torch.cuda``.

The extension drives the NVIDIA driver through ``cudarc``, opened at run time, so importing
``rustorch`` never needs CUDA; on a machine without a driver (or a GPU) ``is_available()``
answers False quickly and nothing here raises except the calls that need a device (as in
PyTorch). The CUDA 13 libraries (NVRTC, cuBLAS) are looked for in ``RUSTORCH_CUDA_LIB_DIR``,
then in NVIDIA's pip wheels under ``sys.path`` (``nvidia/cu13/lib``), then the system's.

What differs from PyTorch: every device has one stream, the default one (``Stream`` objects
stand for it); kernels are compiled at first use by NVRTC for the device's own architecture
and cached on disk (``RUSTORCH_KERNEL_CACHE``, default ``~/.cache/rustorch/kernels``); a
failed in-kernel check (an index out of range) is reported at the next read from the device
as the matching Python exception, and the device keeps working (PyTorch's device-side
asserts leave the context unusable).
"""

from __future__ import annotations

import sys
from typing import Any

from .. import _C

OutOfMemoryError = _C.OutOfMemoryError


def _lazy_init() -> None:
    """Tells the engine where Python's packages are, so it finds NVIDIA's library wheels."""
    _C._cuda_set_search_path([p for p in sys.path if isinstance(p, str) and p])


_lazy_init()


def is_available() -> bool:
    """Whether a CUDA driver sees at least one GPU (``torch.cuda.is_available``)."""
    return bool(_C._cuda_is_available())


def device_count() -> int:
    """The number of GPUs the driver sees; 0 without a driver."""
    return int(_C._cuda_device_count())


def is_initialized() -> bool:
    """Whether CUDA has been initialised: a driver answered with a device."""
    return is_available()


def init() -> None:
    """Initialises CUDA (``torch.cuda.init``); raises without a GPU."""
    if not is_available():
        raise RuntimeError("Found no NVIDIA driver on your system or no CUDA GPU is available.")


def _device_index(device: Any, optional: bool = True) -> int:
    """The ordinal of ``device`` (None, an int, ``"cuda:1"`` or a ``device``), as PyTorch's
    ``_get_device_index``: None and a bare ``"cuda"`` mean the current device."""
    if device is None:
        return current_device()
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    from .. import device as _device

    d = _device(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {device}")
    return current_device() if d.index is None else d.index


def current_device() -> int:
    """The index of the current device (what a bare ``"cuda"`` means)."""
    return int(_C._cuda_current_device())


def set_device(device: Any) -> None:
    """Makes ``device`` the current device."""
    index = _device_index(device)
    if index >= 0:
        _C._cuda_set_device(index)


class device:
    """Context manager that changes the current device (``torch.cuda.device``)."""

    def __init__(self, device: Any) -> None:
        self.idx = -1 if device is None else _device_index(device)
        self.prev_idx = -1

    def __enter__(self) -> None:
        if self.idx >= 0:
            self.prev_idx = current_device()
            if self.prev_idx != self.idx:
                _C._cuda_set_device(self.idx)

    def __exit__(self, *exc: Any) -> None:
        if self.idx >= 0 and self.prev_idx != self.idx:
            _C._cuda_set_device(self.prev_idx)


def get_device_name(device: Any = None) -> str:
    """The name of a GPU, e.g. ``"NVIDIA H200"``; ``RuntimeError`` without one."""
    return str(_C._cuda_get_device_name(_device_index(device)))


def get_device_capability(device: Any = None) -> tuple[int, int]:
    """The compute capability ``(major, minor)`` of a GPU."""
    p = get_device_properties(device)
    return (p.major, p.minor)


class _CudaDeviceProperties:
    """What ``get_device_properties`` returns (PyTorch's names)."""

    def __init__(self, name: str, total_memory: int, major: int, minor: int, sms: int) -> None:
        self.name = name
        self.total_memory = total_memory
        self.major = major
        self.minor = minor
        self.multi_processor_count = sms

    def __repr__(self) -> str:
        return (
            f"_CudaDeviceProperties(name='{self.name}', major={self.major}, "
            f"minor={self.minor}, total_memory={self.total_memory // (1 << 20)}MB, "
            f"multi_processor_count={self.multi_processor_count})"
        )


def get_device_properties(device: Any = None) -> _CudaDeviceProperties:
    """Name, memory, compute capability and multiprocessor count of a GPU."""
    return _CudaDeviceProperties(*_C._cuda_device_properties(_device_index(device)))


def synchronize(device: Any = None) -> None:
    """Waits for all queued work on a GPU; reports failed in-kernel checks."""
    _C._cuda_synchronize(_device_index(device))


def manual_seed(seed: int) -> None:
    """Seeds the current GPU's generator (silently ignored without a GPU, as PyTorch)."""
    if is_available():
        _C._cuda_manual_seed(current_device(), int(seed))


def manual_seed_all(seed: int) -> None:
    """Seeds every GPU's generator (silently ignored without a GPU)."""
    for i in range(device_count()):
        _C._cuda_manual_seed(i, int(seed))


def seed() -> None:
    """Seeds the current GPU's generator with a random number."""
    import random

    manual_seed(random.getrandbits(63))


def seed_all() -> None:
    import random

    manual_seed_all(random.getrandbits(63))


# ---- memory -----------------------------------------------------------------------------------


def memory_stats(device: Any = None) -> dict[str, int]:
    """The caching allocator's statistics (a subset of PyTorch's keys)."""
    return dict(_C._cuda_memory_stats(_device_index(device)))


def memory_allocated(device: Any = None) -> int:
    """Bytes held by tensors (rounded to the allocator's block sizes)."""
    return memory_stats(device)["allocated_bytes.all.current"]


def max_memory_allocated(device: Any = None) -> int:
    """The peak of ``memory_allocated`` since the start or the last reset."""
    return memory_stats(device)["allocated_bytes.all.peak"]


def memory_reserved(device: Any = None) -> int:
    """Bytes the caching allocator holds from the driver (used and cached)."""
    return memory_stats(device)["reserved_bytes.all.current"]


def max_memory_reserved(device: Any = None) -> int:
    return memory_stats(device)["reserved_bytes.all.peak"]


def reset_peak_memory_stats(device: Any = None) -> None:
    _C._cuda_reset_peak_memory_stats(_device_index(device))


def reset_max_memory_allocated(device: Any = None) -> None:
    reset_peak_memory_stats(device)


def empty_cache() -> None:
    """Returns the cached blocks no tensor uses to the driver."""
    _C._cuda_empty_cache()


def mem_get_info(device: Any = None) -> tuple[int, int]:
    """``(free, total)`` bytes of a GPU, as the driver reports them."""
    free, total = _C._cuda_mem_get_info(_device_index(device))
    return int(free), int(total)


# ---- events and streams -----------------------------------------------------------------------


class Event:
    """A CUDA event (``torch.cuda.Event``): a point in the stream's work to wait for or to
    time from. ``enable_timing=True`` allows ``elapsed_time``."""

    def __init__(
        self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False
    ) -> None:
        self._enable_timing = enable_timing
        self._event: Any = None

    def _ensure(self) -> Any:
        if self._event is None:
            self._event = _C._CudaEvent(current_device(), self._enable_timing)
        return self._event

    def record(self, stream: Any = None) -> None:
        """Records the event after the work queued so far."""
        self._ensure().record()

    def wait(self, stream: Any = None) -> None:
        """Makes the stream wait for the event: a no-op with one stream per device."""

    def query(self) -> bool:
        """Whether the work before the event is done."""
        return True if self._event is None else bool(self._event.query())

    def synchronize(self) -> None:
        """Waits for the work before the event."""
        if self._event is not None:
            self._event.synchronize()

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds between this event and ``end_event`` (both recorded)."""
        if self._event is None or end_event._event is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time.")
        return float(self._event.elapsed_time(end_event._event))


class Stream:
    """A CUDA stream. Each device has one, the default stream, which every ``Stream``
    stands for: work is ordered on it, so ``wait_*`` calls have nothing to do."""

    def __init__(self, device: Any = None, priority: int = 0, **kwargs: Any) -> None:
        self.device_index = _device_index(device) if is_available() else 0

    def synchronize(self) -> None:
        synchronize(self.device_index)

    def query(self) -> bool:
        return True

    def wait_event(self, event: Event) -> None:
        """Orders later work after ``event``: already true on the one stream."""

    def wait_stream(self, stream: Stream) -> None:
        """Orders later work after ``stream``'s: already true on the one stream."""

    def record_event(self, event: Event | None = None) -> Event:
        event = Event() if event is None else event
        event.record(self)
        return event

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.device_index == self.device_index

    def __hash__(self) -> int:
        return hash(("cuda-stream", self.device_index))


def current_stream(device: Any = None) -> Stream:
    return Stream(device)


def default_stream(device: Any = None) -> Stream:
    return Stream(device)


class StreamContext:
    """``torch.cuda.stream(s)``: with one stream per device, only a scope."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream

    def __enter__(self) -> Stream | None:
        return self.stream

    def __exit__(self, *exc: Any) -> None:
        return None


def stream(stream: Stream | None) -> StreamContext:
    return StreamContext(stream)


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether bfloat16 tensors work on the current GPU: the CUDA backend has bfloat16
    kernels for every GPU it runs on, so this is ``is_available()``."""
    return is_available()


def _legacy_types() -> None:
    from .._legacy import CUDA_TYPES

    globals().update(CUDA_TYPES)


_legacy_types()
