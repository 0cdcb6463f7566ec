"""``torch.profiler.profile``, ``schedule``, ``ProfilerAction``, ``ProfilerActivity`` and
``tensorboard_trace_handler``, on the recorder of :mod:`rustorch.autograd.profiler`.

Matched: the schedule function (same actions for every step, same argument checks and
warm-up warning), the profiler's state machine over steps (which steps record, when
``on_trace_ready`` fires, ``ProfilerStep#N`` ranges under a schedule, events cleared at
each new cycle unless ``acc_events``), ``start()/stop()/step()``, ``events()``,
``key_averages()`` and ``export_chrome_trace()``. What is recorded, and how it differs from
PyTorch (no ``aten::*`` op rows, no kernel events), is described in
:mod:`rustorch.autograd.profiler`.
"""

from __future__ import annotations

import enum
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from ..autograd.profiler import EventList, _Collector, record_function

__all__ = [
    "ProfilerAction",
    "ProfilerActivity",
    "profile",
    "schedule",
    "supported_activities",
    "tensorboard_trace_handler",
]


class ProfilerActivity(enum.Enum):
    """``torch.profiler.ProfilerActivity``: the CPU, and CUDA (which makes ranges
    synchronise the GPU at their ends when one is available)."""

    CPU = 0
    CUDA = 2

    def __repr__(self) -> str:
        return f"<ProfilerActivity.{self.name}: {self.value}>"


class ProfilerAction(enum.Enum):
    """What the profiler does at a step (``torch.profiler.ProfilerAction``)."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def supported_activities() -> set[ProfilerActivity]:
    """The CPU, plus CUDA when ``rustorch.cuda.is_available()``."""
    import rustorch

    out = {ProfilerActivity.CPU}
    if rustorch.cuda.is_available():
        out.add(ProfilerActivity.CUDA)
    return out


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0) -> Callable[[int], ProfilerAction]:
    """PyTorch's schedule: skip ``skip_first`` steps, then cycle through ``wait`` idle,
    ``warmup`` warm-up and ``active`` recording steps (the last one ``RECORD_AND_SAVE``),
    ``repeat`` times (0: forever). ``skip_first_wait`` skips the first cycle's wait."""

    def schedule_fn(step: int) -> ProfilerAction:
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod_step < num_steps - 1 else ProfilerAction.RECORD_AND_SAVE

    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), "
            f"warmup={warmup} (need >= 0), active={active} (need > 0), repeat={repeat} "
            f"(need >= 0), skip_first={skip_first} (need >= 0)."
        )
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results",
                      stacklevel=2)
    return schedule_fn


_warned_clears = False  # PyTorch warns once per process


def _default_schedule_fn(_: int) -> ProfilerAction:
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False) -> Callable[[profile], None]:
    """An ``on_trace_ready`` callback writing ``<worker>.<time_ns>.pt.trace.json`` (gzipped
    with ``use_gzip``) into ``dir_name``, as PyTorch's; ``worker_name`` defaults to
    ``<hostname>_<pid>``."""

    def handler_fn(prof: profile) -> None:
        nonlocal worker_name
        try:
            os.makedirs(dir_name, exist_ok=True)
        except Exception as e:
            raise RuntimeError("Can't create directory: " + dir_name) from e
        if not worker_name:
            worker_name = f"{socket.gethostname()}_{os.getpid()}"
        file_name = f"{worker_name}.{time.time_ns()}.pt.trace.json"
        path = os.path.join(dir_name, file_name)
        if use_gzip:
            import gzip
            import shutil
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                plain = os.path.join(tmp, file_name)
                prof.export_chrome_trace(plain)
                with open(plain, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
        else:
            prof.export_chrome_trace(path)

    return handler_fn


class profile:
    """``torch.profiler.profile``: a context manager (or ``start()``/``stop()``) recording
    the ranges described in :mod:`rustorch.autograd.profiler`.

    With a ``schedule``, call ``step()`` once per iteration: each step is a
    ``ProfilerStep#N`` range, steps the schedule marks ``RECORD``/``RECORD_AND_SAVE`` are
    recorded, and ``on_trace_ready(prof)`` runs after each ``RECORD_AND_SAVE`` step (and at
    ``stop()`` inside an active phase). Without one, everything is recorded and
    ``on_trace_ready`` runs at the end. ``activities`` defaults to
    :func:`supported_activities`; ``use_cuda`` is accepted with PyTorch's FutureWarning.
    ``profile_memory``, ``with_flops``, ``with_modules`` and ``experimental_config`` are
    accepted and ignored.
    """

    def __init__(self, *, activities: Iterable[ProfilerActivity] | None = None,
                 schedule: Callable[[int], ProfilerAction] | None = None,
                 on_trace_ready: Callable[..., Any] | None = None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False,
                 with_modules: bool = False, experimental_config: Any = None,
                 execution_trace_observer: Any = None, acc_events: bool = False,
                 use_cuda: bool | None = None, **kwargs: Any) -> None:
        acts = set(activities) if activities is not None else supported_activities()
        if use_cuda is not None:
            warnings.warn("`use_cuda` is deprecated, use `activities` argument instead",
                          FutureWarning, stacklevel=2)
            if use_cuda:
                acts.add(ProfilerActivity.CUDA)
            else:
                acts.discard(ProfilerActivity.CUDA)
        if not acts:
            raise AssertionError("No valid profiler activities found")
        self.activities = acts
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.with_modules = with_modules
        self.acc_events = acc_events
        self.use_device = "cuda" if ProfilerActivity.CUDA in acts else None
        if schedule:
            self.schedule = schedule
            self.record_steps = True
        else:
            self.schedule = _default_schedule_fn
            self.record_steps = False
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.step_rec_fn: record_function | None = None
        self.current_action = self.schedule(self.step_num)
        self.profiler: _Collector | None = None

    # -- the state machine (PyTorch's action map) --------------------------------------

    def prepare_trace(self) -> None:
        global _warned_clears
        if self.profiler is not None and not self.acc_events and not _warned_clears:
            _warned_clears = True
            warnings.warn(
                "Warning: Profiler clears events at the end of each cycle. Only events from "
                "the current cycle will be reported. To keep events across cycles, set "
                "acc_events=True.", stacklevel=2)
        if self.profiler is None or not self.acc_events:
            self.profiler = _Collector(
                record_shapes=self.record_shapes, with_stack=self.with_stack,
                sync_cuda=ProfilerActivity.CUDA in self.activities, use_device=self.use_device,
            )

    def start_trace(self) -> None:
        if self.profiler is None:
            raise AssertionError("Profiler must be initialized before starting trace")
        self.profiler.start()

    def stop_trace(self) -> None:
        if self.profiler is not None:
            self.profiler.stop()

    def _trace_ready(self) -> None:
        if self.on_trace_ready:
            self.on_trace_ready(self)

    def _actions(self, prev: ProfilerAction, cur: ProfilerAction | None) -> list[Callable]:
        A = ProfilerAction
        prepare, start, stop, ready = (self.prepare_trace, self.start_trace, self.stop_trace,
                                       self._trace_ready)

        def warn(msg: str) -> Callable[[], None]:
            return lambda: warnings.warn(msg, stacklevel=4)

        if cur is None:
            return {A.NONE: [], A.WARMUP: [start, stop], A.RECORD: [stop, ready],
                    A.RECORD_AND_SAVE: [stop, ready]}[prev]
        table: dict[tuple[ProfilerAction, ProfilerAction], list[Callable]] = {
            (A.NONE, A.NONE): [],
            (A.NONE, A.WARMUP): [prepare],
            (A.NONE, A.RECORD): [prepare, start],
            (A.NONE, A.RECORD_AND_SAVE): [prepare, start],
            (A.WARMUP, A.NONE): [warn("Incorrect schedule: WARMUP followed by NONE"),
                                 start, stop],
            (A.WARMUP, A.WARMUP): [],
            (A.WARMUP, A.RECORD): [start],
            (A.WARMUP, A.RECORD_AND_SAVE): [start],
            (A.RECORD, A.NONE): [warn("Incorrect schedule: RECORD followed by NONE"), stop],
            (A.RECORD, A.WARMUP): [warn("Incorrect schedule: RECORD followed by WARMUP"),
                                   stop],
            (A.RECORD, A.RECORD): [],
            (A.RECORD, A.RECORD_AND_SAVE): [],
            (A.RECORD_AND_SAVE, A.NONE): [stop, ready],
            (A.RECORD_AND_SAVE, A.WARMUP): [stop, ready, prepare],
            (A.RECORD_AND_SAVE, A.RECORD): [stop, ready, prepare, start],
            (A.RECORD_AND_SAVE, A.RECORD_AND_SAVE): [stop, ready, prepare, start],
        }
        return table[(prev, cur)]

    def _transit_action(self, prev: ProfilerAction, cur: ProfilerAction | None) -> None:
        for action in self._actions(prev, cur):
            action()

    # -- the public API -----------------------------------------------------------------

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        self._transit_action(ProfilerAction.NONE, self.current_action)
        if self.record_steps:
            self.step_rec_fn = record_function("ProfilerStep#" + str(self.step_num))
            self.step_rec_fn.__enter__()

    def stop(self) -> None:
        if self.record_steps and self.step_rec_fn:
            self.step_rec_fn.__exit__(None, None, None)
            self.step_rec_fn = None
        self._transit_action(self.current_action, None)

    def step(self) -> None:
        """Signal that the next step starts (ends the current ``ProfilerStep#N`` range)."""
        if self.record_steps and self.step_rec_fn:
            self.step_rec_fn.__exit__(None, None, None)
            self.step_rec_fn = None
        prev_action = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        self._transit_action(prev_action, self.current_action)
        if self.record_steps:
            self.step_rec_fn = record_function("ProfilerStep#" + str(self.step_num))
            self.step_rec_fn.__enter__()

    def events(self) -> EventList:
        """The unaggregated events of the last recorded cycle."""
        if self.profiler is None:
            raise AssertionError("Profiler must be initialized before accessing events")
        return self.profiler.events()

    def key_averages(self, group_by_input_shape: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        """The events averaged by name (and input shapes / stack when asked)."""
        if self.profiler is None:
            raise AssertionError("Profiler must be initialized before getting key averages")
        return self.events().key_averages(group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path: str) -> None:
        """Write the events as a Chrome trace JSON file (``"traceEvents"``)."""
        if self.profiler is None:
            raise AssertionError("Profiler must be initialized before exporting chrome trace")
        self.events().export_chrome_trace(path)
