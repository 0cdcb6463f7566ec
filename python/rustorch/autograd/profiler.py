"""The profiler's recording machinery and PyTorch's older API (``torch.autograd.profiler``).

What is recorded: every :class:`record_function` range, the forward call of every
``nn.Module`` (a range named after the module's class, e.g. ``"Linear"``), every optimizer
``step`` (``"Optimizer.step#SGD.step"``, PyTorch's name) and, under a ``schedule``, the
``ProfilerStep#N`` ranges. Ranges are timed on the CPU with ``time.perf_counter_ns`` and
nest per thread, which gives each event its children, parent, total and self time.

Differs from PyTorch: the engine's ops run in Rust and are not recorded one by one, so
there are no ``aten::*`` rows (module ranges take their place); PyTorch records module
ranges only with ``with_modules``. There are no device-side (kernel) events: when the CUDA
activity is requested and ``rustorch.cuda.is_available()``, the profiler synchronises the
device at the start and end of every range so the CPU times include the GPU work the range
queued, and the device-time columns stay zero. ``profile_memory`` and ``with_flops`` are
accepted and record nothing. ``record_function`` outside a recording profiler is a no-op,
as in PyTorch.

The event classes (:class:`FunctionEvent`, :class:`FunctionEventAvg`, :class:`EventList`)
follow ``torch.autograd.profiler_util``: the same attribute names (times in microseconds),
``table()`` with PyTorch's columns and formatting, ``key_averages()`` and
``export_chrome_trace()``.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = [
    "DeviceType",
    "EventList",
    "FunctionEvent",
    "FunctionEventAvg",
    "Interval",
    "profile",
    "record_function",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class DeviceType(enum.Enum):
    """Where an event ran (``torch.autograd.DeviceType`` subset): always ``CPU`` here."""

    CPU = 0
    CUDA = 1


# --------------------------------------------------------------------------------------
# recording


class _Collector:
    """One recording session: the events of the ranges that started and ended while it
    recorded. ``generation`` changes at every start so that a range spanning a stop/start
    is dropped rather than attributed to the wrong session."""

    def __init__(self, *, record_shapes: bool = False, with_stack: bool = False,
                 sync_cuda: bool = False, use_device: str | None = None) -> None:
        self.record_shapes = record_shapes
        self.with_stack = with_stack
        self.sync_cuda = sync_cuda
        self.use_device = use_device
        self.raw: list[_Raw] = []
        self.base_ns = time.perf_counter_ns()
        self.base_wall_ns = time.time_ns()
        self.recording = False
        self.generation = 0
        self._events: EventList | None = None

    def start(self) -> None:
        self.generation += 1
        self.recording = True
        self._events = None
        _activate(self)

    def stop(self) -> None:
        if self.recording:
            self.recording = False
            _deactivate(self)

    def add(self, raw: _Raw) -> None:
        with _lock:
            self.raw.append(raw)
            self._events = None

    def events(self) -> EventList:
        if self._events is None:
            self._events = _build_events(self)
        return self._events


class _Raw:
    """A finished range, before it becomes a :class:`FunctionEvent`."""

    __slots__ = ("id", "name", "parent", "start_ns", "end_ns", "thread", "shapes", "stack",
                 "kind")

    def __init__(self, id: int, name: str, parent: int | None, start_ns: int, end_ns: int,
                 thread: int, shapes: list[list[int]] | None, stack: list[str] | None,
                 kind: str) -> None:
        self.id = id
        self.name = name
        self.parent = parent
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.thread = thread
        self.shapes = shapes
        self.stack = stack
        self.kind = kind


_lock = threading.Lock()
_recording: tuple[_Collector, ...] = ()  # the collectors now recording
_ids = itertools.count(1)
_local = threading.local()  # .stack: the ids of this thread's open ranges


def _open_stack() -> list[int]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _set_hooks(on: bool) -> None:
    """Point the module/optimizer flags at :func:`_hook_range` (or clear them)."""
    import rustorch.nn.modules.module as module_mod
    import rustorch.optim.optimizer as optimizer_mod

    module_mod._profiler_range = _hook_range if on else None
    optimizer_mod._profiler_range = _hook_range if on else None
    cls = module_mod.Module
    cls.__call__ = cls._call_profiled if on else cls._call_impl  # type: ignore[method-assign]


def _activate(c: _Collector) -> None:
    global _recording
    with _lock:
        first = not _recording
        if c not in _recording:
            _recording = (*_recording, c)
    if first:
        _set_hooks(True)


def _deactivate(c: _Collector) -> None:
    global _recording
    with _lock:
        _recording = tuple(x for x in _recording if x is not c)
        last = not _recording
    if last:
        _set_hooks(False)


def _shapes(args: Iterable[Any]) -> list[list[int]]:
    out: list[list[int]] = []
    for a in args:
        shape = getattr(a, "shape", None)
        out.append(list(shape) if shape is not None and hasattr(a, "dim") else [])
    return out


def _sync_cuda() -> None:
    import rustorch

    if rustorch.cuda.is_available():
        rustorch.cuda.synchronize()


def _python_stack() -> list[str]:
    """The caller's Python stack, innermost first, without the profiler's own frames."""
    return [
        f"{f.filename}({f.lineno}): {f.name}"
        for f in reversed(traceback.extract_stack())
        if f.filename != __file__
    ]


class _Range:
    """An open range: pushes itself on the thread's stack, records at exit."""

    __slots__ = ("name", "args", "kind", "_sessions", "_id", "_parent", "_start", "_shapes",
                 "_stack", "_sync")

    def __init__(self, name: str, args: tuple = (), kind: str = "user_annotation") -> None:
        self.name = name
        self.args = args
        self.kind = kind
        self._sessions: tuple[tuple[_Collector, int], ...] = ()

    def __enter__(self) -> _Range:
        active = _recording
        if not active:
            self._sessions = ()
            return self
        self._sessions = tuple((c, c.generation) for c in active)
        self._sync = any(c.sync_cuda for c in active)
        self._shapes = _shapes(self.args) if any(c.record_shapes for c in active) else None
        self._stack = _python_stack() if any(c.with_stack for c in active) else None
        stack = _open_stack()
        self._parent = stack[-1] if stack else None
        self._id = next(_ids)
        stack.append(self._id)
        if self._sync:
            _sync_cuda()
        self._start = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._sessions:
            return
        if self._sync:
            _sync_cuda()
        end = time.perf_counter_ns()
        stack = _open_stack()
        if stack and stack[-1] == self._id:
            stack.pop()
        elif self._id in stack:  # ranges closed out of order: drop the ones above
            del stack[stack.index(self._id):]
        raw = _Raw(self._id, self.name, self._parent, self._start, end, threading.get_ident(),
                   self._shapes, self._stack, self.kind)
        for c, gen in self._sessions:
            if c.recording and c.generation == gen:
                c.add(raw)
        self._sessions = ()


def _hook_range(name: str, args: tuple) -> _Range:
    """What ``Module.__call__`` and ``Optimizer.step`` wrap their call in while recording."""
    return _Range(name, args, "python_function")


class record_function:
    """``torch.autograd.profiler.record_function``: a named range in the profile.

    Use as a context manager (``with record_function("load"):``) or a decorator
    (``@record_function("load")``). Outside a recording profiler it records nothing.
    ``args`` (a string) is kept with the event as PyTorch's. ``__enter__`` returns the
    object, as PyTorch's.
    """

    def __init__(self, name: str, args: str | None = None) -> None:
        self.name = name
        self.args = args
        self._ranges: list[_Range] = []

    def __enter__(self) -> record_function:
        r = _Range(self.name)
        r.__enter__()
        self._ranges.append(r)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._ranges:
            self._ranges.pop().__exit__(*exc)

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _Range(self.name):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# events


def _format_time(time_us: float) -> str:
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


def _format_time_share(time_us: float, total_us: float) -> str:
    if total_us == 0:
        return "NaN"
    return f"{time_us * 100.0 / total_us:.2f}%"


class Interval:
    """``[start, end]`` in microseconds since the profiler started."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end

    def elapsed_us(self) -> float:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Interval(start={self.start:.3f}, end={self.end:.3f})"


class _TimeStrings:
    """The ``*_str`` properties PyTorch's events have."""

    cpu_time_total: float
    self_cpu_time_total: float
    device_time_total: float
    self_device_time_total: float
    count: int

    @property
    def cpu_time(self) -> float:
        return 0.0 if self.count == 0 else self.cpu_time_total / self.count

    @property
    def device_time(self) -> float:
        return 0.0 if self.count == 0 else self.device_time_total / self.count

    cuda_time = device_time

    @property
    def cpu_time_str(self) -> str:
        return _format_time(self.cpu_time)

    @property
    def cpu_time_total_str(self) -> str:
        return _format_time(self.cpu_time_total)

    @property
    def self_cpu_time_total_str(self) -> str:
        return _format_time(self.self_cpu_time_total)

    @property
    def device_time_str(self) -> str:
        return _format_time(self.device_time)

    @property
    def device_time_total_str(self) -> str:
        return _format_time(self.device_time_total)

    @property
    def self_device_time_total_str(self) -> str:
        return _format_time(self.self_device_time_total)


class FunctionEvent(_TimeStrings):
    """One recorded range (``torch.autograd.profiler_util.FunctionEvent``): ``name``,
    ``id``, ``thread``, ``time_range``, ``cpu_time_total`` / ``self_cpu_time_total`` (µs;
    self = total minus the children's totals), ``cpu_children``, ``cpu_parent``,
    ``input_shapes`` (with ``record_shapes``) and ``stack`` (with ``with_stack``);
    ``ProfilerStep#N`` ranges are named ``ProfilerStep*`` (``trace_name`` keeps the number)."""

    def __init__(self, id: int, name: str, thread: int, start_us: float, end_us: float,
                 input_shapes: list[list[int]] | None = None, stack: list[str] | None = None,
                 use_device: str | None = None, kind: str = "user_annotation") -> None:
        self.id = id
        # PyTorch shows every ``ProfilerStep#N`` as ``ProfilerStep*`` (so key_averages adds
        # them up) and keeps the numbered name as ``trace_name`` for the chrome trace.
        self.trace_name = name
        self.name = "ProfilerStep*" if name.startswith("ProfilerStep#") else name
        self.thread = thread
        self.time_range = Interval(start_us, end_us)
        self.input_shapes = input_shapes if input_shapes is not None else []
        self.stack = stack if stack is not None else []
        self.cpu_children: list[FunctionEvent] = []
        self.cpu_parent: FunctionEvent | None = None
        self.count = 1
        self.use_device = use_device
        self.device_type = DeviceType.CPU
        self.device_time_total = 0.0
        self.self_device_time_total = 0.0
        self.is_async = False
        self.is_legacy = False
        self.is_remote = False
        self.is_user_annotation = kind == "user_annotation"
        self.node_id = -1
        self.overload_name = ""
        self.flops = 0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.device_memory_usage = 0
        self.self_device_memory_usage = 0
        self.kind = kind

    @property
    def key(self) -> str:
        return self.name

    @property
    def cpu_time_total(self) -> float:  # type: ignore[override]
        return self.time_range.elapsed_us()

    @property
    def self_cpu_time_total(self) -> float:  # type: ignore[override]
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    def __repr__(self) -> str:
        return (
            f"<FunctionEvent id={self.id} name={self.name} "
            f"cpu_time={self.cpu_time_str} start_us={self.time_range.start:.3f} "
            f"end_us={self.time_range.end:.3f} "
            f"cpu_children={[c.id for c in self.cpu_children]} thread={self.thread} "
            f"input_shapes={self.input_shapes}>"
        )


class FunctionEventAvg(_TimeStrings):
    """The events of one key added up (``torch.autograd.profiler_util.FunctionEventAvg``):
    ``key``, ``count``, ``cpu_time_total``, ``self_cpu_time_total``, ``cpu_time`` (the
    average), ``input_shapes`` and ``stack`` when grouped by them."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.count = 0
        self.node_id = 0
        self.is_async = False
        self.is_remote = False
        self.is_legacy = False
        self.is_user_annotation = False
        self.use_device: str | None = None
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.device_time_total = 0.0
        self.self_device_time_total = 0.0
        self.input_shapes: list[list[int]] | None = None
        self.stack: list[str] | None = None
        self.overload_name = ""
        self.cpu_parent: FunctionEvent | None = None
        self.cpu_children: list[FunctionEvent] | None = None
        self.device_type = DeviceType.CPU
        self.flops = 0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.device_memory_usage = 0
        self.self_device_memory_usage = 0

    def add(self, other: FunctionEvent | FunctionEventAvg) -> FunctionEventAvg:
        if self.key is None:
            self.key = other.key
            self.node_id = other.node_id
            self.is_async = other.is_async
            self.is_user_annotation = other.is_user_annotation
            self.use_device = other.use_device
            self.cpu_parent = other.cpu_parent
            self.cpu_children = other.cpu_children
            self.input_shapes = other.input_shapes
            self.stack = other.stack
        self.cpu_time_total += other.cpu_time_total
        self.self_cpu_time_total += other.self_cpu_time_total
        self.device_time_total += other.device_time_total
        self.self_device_time_total += other.self_device_time_total
        self.count += other.count
        return self

    def __iadd__(self, other: FunctionEvent | FunctionEventAvg) -> FunctionEventAvg:
        return self.add(other)

    def __repr__(self) -> str:
        return (
            f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total_str} "
            f"cpu_time={self.cpu_time_str} input_shapes={self.input_shapes}>"
        )


class EventList(list):
    """A list of events (``torch.autograd.profiler_util.EventList``) with ``table()``,
    ``key_averages()``, ``total_average()``, ``export_chrome_trace()`` and
    ``self_cpu_time_total``; ``str()`` is the table."""

    def __init__(self, *args: Any, use_device: str | None = None, profile_memory: bool = False,
                 with_flops: bool = False) -> None:
        super().__init__(*args)
        self._use_device = use_device
        self._profile_memory = profile_memory
        self._with_flops = with_flops

    def __str__(self) -> str:
        return self.table()

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_src_column_width: int = 75, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """PyTorch's summary table: Name, Self CPU %, Self CPU, CPU total %, CPU total,
        CPU time avg, # of Calls (plus Input Shapes / Source Location when recorded),
        sorted by ``sort_by`` (an attribute: ``"cpu_time_total"``, ``"self_cpu_time_total"``,
        ``"count"``...; ``cuda`` in the name reads ``device``), at most ``row_limit`` rows,
        then ``Self CPU time total``."""
        return _build_table(self, sort_by=sort_by, header=header, row_limit=row_limit,
                            max_src_column_width=max_src_column_width,
                            max_name_column_width=max_name_column_width,
                            max_shapes_column_width=max_shapes_column_width,
                            top_level_events_only=top_level_events_only, time_unit=time_unit)

    def key_averages(self, group_by_input_shapes: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        """One :class:`FunctionEventAvg` per name (and input shapes / top ``n`` stack
        frames when asked), in first-seen order."""
        stats: dict[tuple, FunctionEventAvg] = {}
        for e in self:
            key: tuple = (e.key,)
            if group_by_input_shapes:
                key += (str(e.input_shapes),)
            if group_by_stack_n > 0:
                key += tuple(e.stack[:group_by_stack_n])
            avg = stats.get(key)
            if avg is None:
                avg = stats[key] = FunctionEventAvg()
            avg.add(e)
        out = EventList(stats.values(), use_device=self._use_device,
                        profile_memory=self._profile_memory, with_flops=self._with_flops)
        for avg in out:
            avg.stack = avg.stack[:group_by_stack_n] if avg.stack else []
            if not group_by_input_shapes:
                avg.input_shapes = []
        return out

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg()
        for e in self:
            total.add(e)
        total.key = "Total"
        return total

    def export_chrome_trace(self, path: str) -> None:
        """Write the events as a Chrome trace (``chrome://tracing`` / Perfetto): a JSON
        object whose ``traceEvents`` are complete (``"ph": "X"``) events in microseconds."""
        pid = os.getpid()
        trace = []
        for e in self:
            args: dict[str, Any] = {}
            if e.input_shapes:
                args["Input Dims"] = e.input_shapes
            if e.stack:
                args["Call stack"] = ";".join(e.stack)
            trace.append({
                "ph": "X", "cat": getattr(e, "kind", "user_annotation"),
                "name": getattr(e, "trace_name", e.name),
                "pid": pid, "tid": e.thread, "ts": e.time_range.start,
                "dur": e.time_range.elapsed_us(), "args": args,
            })
        data = {
            "schemaVersion": 1,
            "displayTimeUnit": "ms",
            "traceName": path,
            "traceEvents": [
                {"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                 "args": {"name": "python"}},
                *trace,
            ],
        }
        with open(path, "w") as f:
            json.dump(data, f)


def _build_events(c: _Collector) -> EventList:
    with _lock:
        raws = sorted(c.raw, key=lambda r: (r.start_ns, -r.end_ns))
    by_id: dict[int, FunctionEvent] = {}
    for r in raws:
        by_id[r.id] = FunctionEvent(
            r.id, r.name, r.thread, (r.start_ns - c.base_ns) / 1000.0,
            (r.end_ns - c.base_ns) / 1000.0, r.shapes, r.stack, c.use_device, r.kind)
    for r in raws:
        parent = by_id.get(r.parent) if r.parent is not None else None
        if parent is not None:
            ev = by_id[r.id]
            ev.cpu_parent = parent
            parent.cpu_children.append(ev)
    return EventList(by_id.values(), use_device=c.use_device)


def _build_table(events: EventList, sort_by: str | None, header: str | None, row_limit: int,
                 max_src_column_width: int, max_name_column_width: int,
                 max_shapes_column_width: int, top_level_events_only: bool,
                 time_unit: str | None) -> str:
    """``torch.autograd.profiler_util._build_table`` for CPU-only events."""
    if len(events) == 0:
        return ""
    if sort_by is not None:
        attr = sort_by.replace("cuda", "device").replace("xpu", "device")
        events = EventList(sorted(events, key=lambda e: getattr(e, attr), reverse=True),
                           use_device=events._use_device)
    has_shapes = any(e.input_shapes for e in events)
    has_stack = any(e.stack for e in events)
    name_w = min(max(len(e.key) for e in events) + 4, max_name_column_width)
    shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_column_width)
    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
               "# of Calls"]
    widths = [name_w] + [12] * (len(headers) - 1)
    aligns = [">"] * len(headers)
    if has_shapes:
        headers.append("Input Shapes")
        widths.append(shapes_w)
        aligns.append(">")
    src_w = 0
    if has_stack:
        src_w = min(max(len(s) for e in events for s in e.stack) + 4, max_src_column_width)
        headers.append("Source Location")
        widths.append(src_w)
        aligns.append("<")
    row_format = "".join("{: " + a + str(w) + "}  " for a, w in zip(aligns, widths))
    header_sep = "".join("-" * w + "  " for w in widths)
    line_length = sum(w + 2 for w in widths) - 2

    def fmt_time(us: float) -> str:
        if time_unit == "s":
            return f"{us / 1e6:.3f}s"
        if time_unit == "ms":
            return f"{us / 1e3:.3f}ms"
        if time_unit == "us":
            return f"{us:.3f}us"
        return _format_time(us)

    def trim_path(path: str) -> str:
        if len(path) > src_w:
            path = path[len(path) - src_w:]
            if len(path) > 3:
                path = "..." + path[3:]
        return path

    total = sum(e.self_cpu_time_total for e in events)
    lines: list[str] = []
    if header is not None:
        lines += ["=" * line_length, header]
    if top_level_events_only:
        lines += ["=" * line_length, "This report only display top-level ops statistics"]
    lines += [header_sep, row_format.format(*headers), header_sep]
    shown = 0
    for e in events:
        if shown == row_limit:
            break
        if top_level_events_only and e.cpu_parent is not None:
            continue
        shown += 1
        name = e.key
        if len(name) >= max_name_column_width - 3:
            name = name[: max_name_column_width - 3] + "..."
        row = [name, _format_time_share(e.self_cpu_time_total, total),
               fmt_time(e.self_cpu_time_total), _format_time_share(e.cpu_time_total, total),
               fmt_time(e.cpu_time_total), fmt_time(e.cpu_time), e.count]
        if has_shapes:
            row.append(str(e.input_shapes)[:shapes_w])
        if has_stack:
            row.append(trim_path(e.stack[0]) if e.stack else "")
        lines.append(row_format.format(*row))
        if has_stack:
            empty = [""] * (len(headers) - 1)
            for entry in e.stack[1:]:
                lines.append(row_format.format(*(empty + [trim_path(entry)])))
            lines.append(row_format.format(*(empty + [""])))
    lines += [header_sep, f"Self CPU time total: {fmt_time(total)}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# the legacy profiler


class profile:
    """``torch.autograd.profiler.profile``: record everything inside the ``with`` block.

    Accepts PyTorch's arguments; ``use_cuda`` / ``use_device="cuda"`` make ranges
    synchronise the GPU at their ends when one is available (see the module docstring).
    After the block: ``function_events`` (an :class:`EventList`), ``key_averages()``,
    ``table()``, ``total_average()``, ``self_cpu_time_total``, ``export_chrome_trace()``.
    Like PyTorch's it is not reentrant, and its results are empty until the block ends.
    """

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False,
                 use_device: str | None = None, record_shapes: bool = False,
                 with_flops: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_modules: bool = False,
                 use_kineto: bool = False, use_cpu: bool = True, **kwargs: Any) -> None:
        self.enabled = enabled
        if use_cuda:
            use_device = "cuda"
        self.use_device = use_device
        self.record_shapes = record_shapes
        self.with_flops = with_flops
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_modules = with_modules
        self.use_cpu = use_cpu
        self.entered = False
        # Empty until the block ends (PyTorch's results read inside or before it are empty).
        self.function_events: EventList | None = EventList()
        self._collector: _Collector | None = None

    def __enter__(self) -> profile:
        if not self.enabled:
            return self
        if self.entered:
            raise RuntimeError("Profiler context manager is not reentrant")
        self.entered = True
        self._collector = _Collector(record_shapes=self.record_shapes,
                                     with_stack=self.with_stack,
                                     sync_cuda=self.use_device == "cuda",
                                     use_device=self.use_device)
        self._collector.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.enabled or self._collector is None:
            return
        self._collector.stop()
        self.function_events = self._collector.events()
        self.function_events._profile_memory = self.profile_memory
        self.function_events._with_flops = self.with_flops

    def _check_finish(self) -> EventList:
        if self.function_events is None:
            raise RuntimeError("Profiler didn't finish running")
        return self.function_events

    def __repr__(self) -> str:
        return repr(self.function_events)

    def __str__(self) -> str:
        return str(self.function_events)

    def table(self, sort_by: str | None = None, row_limit: int = 100, **kwargs: Any) -> str:
        return self._check_finish().table(sort_by=sort_by, row_limit=row_limit, **kwargs)

    def export_chrome_trace(self, path: str) -> None:
        self._check_finish().export_chrome_trace(path)

    def key_averages(self, group_by_input_shape: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        return self._check_finish().key_averages(group_by_input_shape, group_by_stack_n)

    def total_average(self) -> FunctionEventAvg:
        return self._check_finish().total_average()

    @property
    def self_cpu_time_total(self) -> float:
        return self._check_finish().self_cpu_time_total
