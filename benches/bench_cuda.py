#!/usr/bin/env python3
"""GPU benchmarks of rustorch against PyTorch (CUDA), on the same GPU, in one run.

Run through ``bench.py`` (or directly) with the rustorch build you want to measure
importable::

    python benches/bench.py --device cuda                  # about 5 minutes at most
    python benches/bench.py --device cuda --quick          # about 3 minutes at most
    python benches/bench.py --device cuda --only matmul,step --json /tmp/bench_cuda.json

Sections (names for ``--only``):

* ``matmul``     ``a @ b``: float32 4096×4096 with TF32 off and with TF32 on (both libraries'
                 ``backends.cuda.matmul.allow_tf32`` set alike), bfloat16 8192×8192;
                 TFLOP/s = 2n³/t; goal rustorch ≥ 0.9× PyTorch
* ``bandwidth``  ``y.copy_(x)``, ``a + b`` and ``a.sum()`` over 2^28 float32 elements; GB/s =
                 (bytes read + bytes written) / t, and each as a fraction of the card's copy
                 bandwidth (PyTorch's ``copy_`` in the same run); goal ≥ 0.8× PyTorch
* ``step``       one training step (forward, cross-entropy, backward, Adam(1e-3) step) of the
                 784-128-256-10 ReLU MLP on inputs already on the GPU, at batch 64 (launch
                 bound; goal rustorch ≤ 0.7× PyTorch's time) and at batch 4096 (goal ≤ 1.0×)
* ``epoch``      one epoch of that MLP (60000 samples, batch 64) from a ``DataLoader`` over a
                 ``TensorDataset`` of GPU tensors (``shuffle=True``); goal ≤ 1.0× PyTorch's
                 time; plus test accuracy after the epoch(s) when Fashion-MNIST is present
* ``models``     training steps of further models (``MODEL_STEPS``: LeNet-5, a 2-layer LSTM,
                 a 2-layer Transformer encoder), each skipped with a note while ``rustorch.nn``
                 lacks the layers it needs

Method: each row measures both libraries in the same process on the same GPU. Per library
the inputs are made on the device, the operation is warmed up (rustorch's first call
compiles kernels with NVRTC; that stays out of the numbers) and a block size is calibrated
so that one timed block lasts about ``block_ms``; then timed blocks alternate between the
libraries (ABBA order). A block is timed with the library's own CUDA events
(``lib.cuda.Event``) and, around them, with ``lib.cuda.synchronize()`` and
``time.perf_counter()``; the events are used unless they look wrong (not positive, or longer
than the host clock), then the host clock is, and the cell says so. The cell shows the
median block and, as ``±x%``, the difference between the medians of the first and second
half of the blocks (the same thing timed twice). Inputs are random (never zeros); matrix
products, copies and sums are checked against PyTorch or NumPy once after warm-up, and a
wrong result is flagged in its cell. A benchmark that raises shows the error in its row and
the run goes on; SIGTERM or Ctrl-C ends the run early but still prints the table.

Without a GPU this prints one line saying so, then the table with every row "no GPU", and
exits 0 (a dry run of the flow).
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import itertools
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import bench
import numpy as np
from bench import LIBS, Row, cost_ratio, log, make_row, speed_ratio, table

SECTIONS = ("matmul", "bandwidth", "step", "epoch", "models")
NO_GPU = "no GPU"
# Where the tensors go. ``--selftest-on-cpu`` runs the same code on "cpu" (small sizes, the
# host clock standing in for CUDA events) to test this script on a machine without a GPU.
DEVICE = "cuda"

Value = Any  # a float measurement, or the BaseException a library raised


class BenchInterrupted(BaseException):
    """SIGTERM (e.g. from ``timeout``): stop measuring, still print the table. A
    ``BaseException`` so that the per-row ``except Exception`` handlers let it through."""


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------


@dataclass
class CudaConfig:
    """Knobs derived from the command line; ``--quick`` shrinks them."""

    quick: bool = False
    repeat: int = 10  # timed blocks per library and row (two rounds of repeat / 2)
    block_ms: float = 50.0  # target duration of one timed block
    warmup: int = 3  # untimed calls before calibration (the first compiles kernels)
    step_warmup: int = 20  # untimed training steps before calibration
    min_steps: int = 500  # timed training steps per library and row, at least
    epochs: int = 3  # timed epochs per library (alternating); the median is reported
    epoch_warmup_batches: int = 50
    epoch_timeout_s: float = 60.0  # cut an epoch that runs longer (extrapolated, flagged)
    samples: int = 60_000
    batch_size: int = 64
    budget_s: float = 0.0  # 0: none; else rows not started in time are skipped
    data_dir: str = bench.DEFAULT_DATA_DIR
    big_n: int = 1 << 28  # elements of the bandwidth rows: 1 GiB of float32 per tensor
    matmul_div: int = 1  # the self-test divides the matrix sizes by this
    selftest: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CudaConfig:
        cfg = cls(quick=args.quick, data_dir=args.data_dir, budget_s=args.budget)
        if args.quick:
            cfg.repeat, cfg.block_ms, cfg.warmup = 6, 20.0, 2
            cfg.step_warmup, cfg.min_steps = 10, 150
            cfg.epochs, cfg.epoch_warmup_batches, cfg.epoch_timeout_s = 1, 20, 40.0
        if args.selftest_on_cpu:
            cfg.selftest, cfg.big_n, cfg.matmul_div = True, 1 << 20, 16
            cfg.repeat, cfg.block_ms, cfg.min_steps, cfg.epochs = 4, 5.0, 20, 2
            cfg.samples, cfg.epoch_warmup_batches, cfg.step_warmup = 3000, 5, 3
        if args.repeat:
            cfg.repeat = max(2, args.repeat)
        if args.epochs:
            cfg.epochs = args.epochs
        return cfg


@dataclass
class Context:
    """What every benchmark gets: the libraries (module, or the error that makes one
    unusable on the GPU), the configuration, the run's start and shared measurements."""

    libs: dict[str, Any]
    cfg: CudaConfig
    start: float
    imported: dict[str, Any] = field(default_factory=dict)  # modules, GPU or not
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. the copy bandwidth

    def remaining_s(self) -> float:
        if self.cfg.budget_s <= 0:
            return math.inf
        return self.cfg.budget_s - (time.perf_counter() - self.start)

    def live(self) -> dict[str, Any]:
        return {k: v for k, v in self.libs.items() if not isinstance(v, BaseException)}


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


@dataclass
class GpuTiming:
    """Per-call milliseconds of each timed block, by the library's events and by the host
    clock around them (after ``synchronize``)."""

    event_ms: list[float]
    wall_ms: list[float]
    number: int  # calls per block
    event_note: str = ""  # why the events are not used, if they are not
    # per-call host milliseconds to issue the calls (before the final synchronize): close to
    # the per-call time when the host, not the GPU, sets the pace
    enqueue_ms: list[float] = field(default_factory=list)

    @property
    def clock(self) -> str:
        return "events" if self.events_ok else "wall"

    @property
    def events_ok(self) -> bool:
        if self.event_note or not self.event_ms or len(self.event_ms) != len(self.wall_ms):
            return False
        # The events bracket the work inside the host-timed interval: never longer than it
        # (a little slack for clock granularity), and never zero for real work.
        return all(0.0 < e <= w * 1.05 + 0.01 for e, w in zip(self.event_ms, self.wall_ms))

    @property
    def ms(self) -> list[float]:
        return self.event_ms if self.events_ok else self.wall_ms

    @property
    def median_s(self) -> float:
        return statistics.median(self.ms) / 1e3

    @property
    def spread(self) -> Optional[float]:
        """Relative difference between the medians of the first and second half."""
        ms = self.ms
        if len(ms) < 4:
            return None
        half = len(ms) // 2
        a, b = statistics.median(ms[:half]), statistics.median(ms[half:])
        return abs(a - b) / statistics.median(ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "number": self.number,
            "event_ms": self.event_ms,
            "wall_ms": self.wall_ms,
            "event_note": self.event_note,
            "enqueue_ms": self.enqueue_ms,
            "median_ms": self.median_s * 1e3,
            "spread": self.spread,
        }


class _HostEvent:
    """The self-test's stand-in for ``lib.cuda.Event``: the host clock at ``record()``."""

    def __init__(self, enable_timing: bool = False) -> None:
        self.t = math.nan

    def record(self) -> None:
        self.t = time.perf_counter()

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, end: _HostEvent) -> float:
        return (end.t - self.t) * 1e3


class _HostCuda:
    """The self-test's stand-in for ``lib.cuda`` (CPU work is synchronous)."""

    Event = _HostEvent

    @staticmethod
    def synchronize() -> None:
        pass

    @staticmethod
    def empty_cache() -> None:
        pass


def cuda_api(mod: Any) -> Any:
    """``mod.cuda``, or its host stand-in in the CPU self-test."""
    return mod.cuda if DEVICE == "cuda" else _HostCuda


def time_block(
    mod: Any, fn: Callable[[], Any], number: int, events: bool
) -> tuple[float, float, float]:
    """Per-call (event ms, host ms, enqueue ms) of ``number`` calls of ``fn``: the events'
    time (NaN when they are off or fail), the host's until the GPU is done, and the host's
    to issue the calls. Errors of ``fn`` propagate."""
    cuda = cuda_api(mod)
    start = end = None
    cuda.synchronize()
    if events:
        try:
            start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        except Exception:
            start = end = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        if start is not None:
            try:
                start.record()
            except Exception:
                start = end = None
        for _ in range(number):
            fn()
        t_issued = time.perf_counter()
        if end is not None:
            try:
                end.record()
            except Exception:
                start = end = None
        cuda.synchronize()
        t1 = time.perf_counter()
    finally:
        if gc_was_enabled:
            gc.enable()
    ev = math.nan
    if start is not None and end is not None:
        try:
            ev = float(start.elapsed_time(end))
        except Exception:
            ev = math.nan
    return ev / number, (t1 - t0) * 1e3 / number, (t_issued - t0) * 1e3 / number


# ``setup(mod)`` returns ``(fn, probe)``: ``fn()`` is the timed call, ``probe()`` (or None)
# computes the result once more and returns it on the host for a correctness check.
Setup = Callable[[Any], tuple[Callable[[], Any], Optional[Callable[[], Any]]]]


def time_pair(
    ctx: Context,
    setups: dict[str, Setup],
    warmup: Optional[int] = None,
    min_number: int = 1,
) -> tuple[dict[str, Value], dict[str, Value]]:
    """Set up, warm up, probe and calibrate each library, then time blocks alternating
    between them. Returns ``(timings, probes)``: per library a ``GpuTiming`` or the error,
    and the probe's host result (or the error, or None)."""
    cfg = ctx.cfg
    warmup = cfg.warmup if warmup is None else warmup
    timings: dict[str, Value] = {}
    probes: dict[str, Value] = {}
    fns: dict[str, Callable[[], Any]] = {}
    for lib in LIBS:
        mod = ctx.libs[lib]
        if isinstance(mod, BaseException):
            timings[lib] = mod
            continue
        try:
            fn, probe = setups[lib](mod)
            t0 = time.perf_counter()
            for _ in range(warmup):
                fn()
            cuda_api(mod).synchronize()
            first = time.perf_counter() - t0
            if probe is not None:
                try:
                    probes[lib] = probe()
                except Exception as exc:
                    probes[lib] = exc
            # calibrate on a short block (after the warm-up, so no compile time in it)
            _, per_call_ms, _ = time_block(mod, fn, 3, events=False)
            number = max(min_number, math.ceil(cfg.block_ms / max(per_call_ms, 1e-4)))
            number = min(number, 100_000)
            fns[lib] = fn
            timings[lib] = GpuTiming([], [], number)
            log(f"  {lib}: warm-up {first:.2f} s, {per_call_ms:.4f} ms/call, {number} per block")
        except Exception as exc:  # report, don't crash
            traceback.print_exc(file=sys.stderr)
            timings[lib] = exc
    live = [lib for lib in LIBS if lib in fns]
    for r in range(cfg.repeat):
        # ABBA: each library goes first as often as second
        order = live if r % 2 == 0 else live[::-1]
        for lib in order:
            t = timings[lib]
            if not isinstance(t, GpuTiming):
                continue
            try:
                ev, wall, issued = time_block(
                    ctx.libs[lib], fns[lib], t.number, events=not t.event_note
                )
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                timings[lib] = exc
                continue
            if math.isnan(ev) and not t.event_note:
                t.event_note = "events failed"
            t.event_ms.append(ev)
            t.wall_ms.append(wall)
            t.enqueue_ms.append(issued)
    for lib in live:
        t = timings[lib]
        if isinstance(t, GpuTiming) and not t.events_ok and not t.event_note:
            t.event_note = "event times implausible (≤ 0 or above the host clock)"
    return timings, probes


def medians(timings: dict[str, Value]) -> dict[str, Value]:
    return {lib: (t.median_s if isinstance(t, GpuTiming) else t) for lib, t in timings.items()}


def annotate(row: Row, timings: dict[str, Value], flags: Optional[dict[str, str]] = None) -> Row:
    """Add the spread, the clock (when not events) and check flags to the row's cells."""
    for lib in LIBS:
        t = timings.get(lib)
        if isinstance(t, GpuTiming):
            if t.spread is not None:
                row.cells[lib] += f" ±{t.spread * 100:.1f}%"
            if not t.events_ok:
                row.cells[lib] += f" (host clock: {t.event_note})"
        if flags and flags.get(lib):
            row.cells[lib] += f" ⚠ {flags[lib]}"
    row.data["timings"] = {
        lib: t.as_dict() for lib, t in timings.items() if isinstance(t, GpuTiming)
    }
    return row


def free_memory(ctx: Context) -> None:
    """Drop this row's tensors and hand both caching allocators' free blocks back."""
    gc.collect()
    for mod in ctx.live().values():
        try:
            cuda_api(mod).synchronize()
            cuda_api(mod).empty_cache()
        except Exception:
            pass


# --------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------


def host_randn(ctx: Context, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Standard-normal float32 data on the host, made on the GPU by PyTorch when it can
    (much faster than NumPy for a gigabyte), else by NumPy."""
    torch = ctx.libs.get("torch")
    if not isinstance(torch, BaseException):
        try:
            g = torch.Generator(device=DEVICE)
            g.manual_seed(seed)
            return torch.randn(shape, device=DEVICE, generator=g).cpu().numpy()
        except Exception:
            pass
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def to_device(mod: Any, arr: np.ndarray, dtype: Optional[str] = None) -> Any:
    """``arr`` as a tensor of ``mod`` on the GPU (cast on the device to ``dtype``)."""
    t = mod.from_numpy(arr).to(DEVICE)
    if dtype is not None and dtype != "float32":
        t = t.to(getattr(mod, dtype))
    return t


def to_host(t: Any) -> np.ndarray:
    """A float32 NumPy copy of a tensor of either library (any float dtype, any device)."""
    return np.array(t.detach().float().cpu().numpy(), dtype=np.float32, copy=True)


def poison(mod: Any, shape: tuple[int, ...], dtype: str = "float32") -> None:
    """Allocate a NaN-filled tensor of ``shape`` on the device and free it: the caching
    allocator then likely hands that block to the next result of this size, so an output
    element the kernel never writes shows as NaN instead of a stale right answer."""
    try:
        t = mod.full(shape, float("nan"), dtype=getattr(mod, dtype), device=DEVICE)
        cuda_api(mod).synchronize()
        del t
    except Exception as exc:  # only a weaker check
        log(f"  {mod.__name__}: could not poison ({type(exc).__name__}: {exc})")


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    """‖a − ref‖ / ‖ref‖ in float64 (inf for NaN or a shape mismatch)."""
    if a.shape != ref.shape:
        return math.inf
    diff = np.linalg.norm((a.astype(np.float64) - ref.astype(np.float64)).ravel())
    norm = np.linalg.norm(ref.astype(np.float64).ravel())
    err = float(diff / norm) if norm > 0 else float(diff)
    return math.inf if math.isnan(err) else err


def _check_flag(err: Value, tol: float) -> str:
    if isinstance(err, BaseException):
        return _short(f"check failed: {type(err).__name__}: {err}")
    if err > tol:
        return f"WRONG: rel err {err:.1e} > {tol:.0e}"
    return ""


def _num(x: float) -> str:
    """Three significant figures or so: 612, 61.2, 6.12, 0.612."""
    return (
        f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 1 else f"{x:.3f}"
    )


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------
# benchmarks
# --------------------------------------------------------------------------------------


@dataclass
class Bench:
    """One benchmark: its section, the names of the rows it produces (fixed up front, so
    that a row that could not run still appears) and the function that measures them."""

    section: str
    names: list[str]
    run: Callable[[Context], list[Row]]


def placeholder_rows(b: Bench, text: str, exc: Optional[BaseException] = None) -> list[Row]:
    """The rows of a benchmark that did not run: ``text`` in every cell (or the error)."""
    rows = []
    for name in b.names:
        if exc is not None:
            rows.append(bench.error_row(b.section, name, exc))
        else:
            cells = {lib: text for lib in LIBS}
            rows.append(Row(b.section, name, cells, "—", "—", {"status": text}))
    return rows


# ---- matmul ---------------------------------------------------------------------------

MATMUL_CASES = (
    # (n, dtype, TF32 on, tolerance of rustorch's result against PyTorch's)
    (4096, "float32", False, 1e-4),
    (4096, "float32", True, 1e-2),
    (8192, "bfloat16", False, 3e-2),
)


def _matmul_name(n: int, dtype: str, tf32: bool) -> str:
    if dtype == "float32":
        return f"matmul f32 {n}×{n}, TF32 {'on' if tf32 else 'off'}"
    return f"matmul {'bf16' if dtype == 'bfloat16' else dtype} {n}×{n}"


def _set_tf32(mod: Any, on: bool) -> bool:
    """Set ``backends.cuda.matmul.allow_tf32``; returns the previous value. (PyTorch's
    newer ``fp32_precision`` is left alone: PyTorch raises when the two APIs are mixed.)"""
    matmul = mod.backends.cuda.matmul
    before = bool(matmul.allow_tf32)
    matmul.allow_tf32 = on
    if bool(matmul.allow_tf32) != on:
        raise RuntimeError(f"{mod.__name__}.backends.cuda.matmul.allow_tf32 did not change")
    return before


def make_matmul(name: str, n: int, dtype: str, tf32: bool, tol: float) -> Callable:
    """The benchmark of one ``a @ b`` case (``n``×``n`` operands of ``dtype``)."""

    def run(ctx: Context) -> list[Row]:
        log(f"{name}")
        a_np = host_randn(ctx, (n, n), seed=1)
        b_np = host_randn(ctx, (n, n), seed=2)
        previous: dict[str, bool] = {}
        rows = 1 if n <= 4096 else n // 2048  # the rows checked: every row, or a spread

        def setup(mod: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
            previous[mod.__name__] = _set_tf32(mod, tf32)
            a, b = to_device(mod, a_np, dtype), to_device(mod, b_np, dtype)

            def probe() -> np.ndarray:
                poison(mod, (n, n), dtype)
                return to_host(a @ b)[::rows]

            return (lambda: a @ b), probe

        try:
            timings, probes = time_pair(ctx, {lib: setup for lib in LIBS})
        finally:
            for lib, before in previous.items():
                _set_tf32(ctx.libs[lib], before)
        flags: dict[str, str] = {}
        err: Value = None
        rt_out, th_out = probes.get("rustorch"), probes.get("torch")
        if isinstance(rt_out, np.ndarray) and isinstance(th_out, np.ndarray):
            err = rel_err(rt_out, th_out)
        elif isinstance(rt_out, BaseException):
            err = rt_out
        if err is not None:
            flags["rustorch"] = _check_flag(err, tol)
        flops = 2.0 * n**3
        row = make_row(
            "matmul",
            name,
            medians(timings),
            fmt=lambda s: f"{_num(flops / s / 1e12)} TFLOP/s",
            ratio=speed_ratio,
            goal=(">=", 0.9),
            data={
                "n": n,
                "dtype": dtype,
                "tf32": tf32,
                "rel_err_vs_torch": err if not isinstance(err, BaseException) else repr(err),
            },
        )
        return [annotate(row, timings, flags)]

    return run


# ---- bandwidth ------------------------------------------------------------------------


def _gbs(nbytes: float, copy_gbs: Optional[float]) -> Callable[[float], str]:
    def fmt(s: float) -> str:
        rate = nbytes / s / 1e9
        frac = f" ({rate / copy_gbs:.2f} of copy)" if copy_gbs else ""
        return f"{_num(rate)} GB/s{frac}"

    return fmt


def _slices_probe(out: Callable[[], Any], k: int, mod: Any = None, n: int = 0) -> Callable[[], Any]:
    """Probe: the first and last ``k`` elements of a fresh result, on the host (with
    ``mod``, after a NaN-filled block of ``n`` floats was freed: see ``poison``)."""

    def probe() -> np.ndarray:
        if mod is not None:
            poison(mod, (n,))
        y = out()
        size = y.shape[0]
        return np.concatenate([to_host(y[:k]), to_host(y[size - k :])])

    return probe


def _pow2(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n)


def copy_name(cfg: CudaConfig) -> str:
    return f"copy_ f32 {_pow2(cfg.big_n)} (torch's = the card's copy bandwidth)"


def add_name(cfg: CudaConfig) -> str:
    return f"a + b f32 {_pow2(cfg.big_n)}"


def sum_name(cfg: CudaConfig) -> str:
    return f"a.sum() f32 {_pow2(cfg.big_n)}"


def bench_copy(ctx: Context) -> list[Row]:
    n, k = ctx.cfg.big_n, min(1 << 20, ctx.cfg.big_n // 2)
    log(f"{copy_name(ctx.cfg)}")
    x_np = host_randn(ctx, (n,), seed=3)
    want = np.concatenate([x_np[:k], x_np[n - k :]])

    def setup(mod: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
        x = to_device(mod, x_np)
        y = mod.empty(n, device=DEVICE)

        def probe() -> np.ndarray:
            y.fill_(float("nan"))
            return _slices_probe(lambda: y.copy_(x), k)()

        return (lambda: y.copy_(x)), probe

    timings, probes = time_pair(ctx, {lib: setup for lib in LIBS})
    flags = {}
    for lib, got in probes.items():
        err = got if isinstance(got, BaseException) else rel_err(got, want)
        flags[lib] = _check_flag(err, 0.0)
    nbytes = 2.0 * 4 * n
    th = timings.get("torch")
    copy_gbs = nbytes / th.median_s / 1e9 if isinstance(th, GpuTiming) else None
    ctx.shared["copy_GBs"] = copy_gbs
    row = make_row(
        "bandwidth",
        copy_name(ctx.cfg),
        medians(timings),
        fmt=_gbs(nbytes, None),
        ratio=speed_ratio,
        data={"elements": n, "bytes": nbytes, "copy_GBs": copy_gbs},
    )
    return [annotate(row, timings, flags)]


def bench_add(ctx: Context) -> list[Row]:
    n, k = ctx.cfg.big_n, min(1 << 20, ctx.cfg.big_n // 2)
    log(add_name(ctx.cfg))
    a_np, b_np = host_randn(ctx, (n,), seed=4), host_randn(ctx, (n,), seed=5)
    want = np.concatenate([a_np[:k] + b_np[:k], a_np[n - k :] + b_np[n - k :]])

    def setup(mod: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
        a, b = to_device(mod, a_np), to_device(mod, b_np)
        return (lambda: a + b), _slices_probe(lambda: a + b, k, mod, n)

    timings, probes = time_pair(ctx, {lib: setup for lib in LIBS})
    flags = {}
    for lib, got in probes.items():
        err = got if isinstance(got, BaseException) else rel_err(got, want)
        flags[lib] = _check_flag(err, 1e-6)
    nbytes = 3.0 * 4 * n
    copy_gbs = ctx.shared.get("copy_GBs")
    row = make_row(
        "bandwidth",
        add_name(ctx.cfg),
        medians(timings),
        fmt=_gbs(nbytes, copy_gbs),
        ratio=speed_ratio,
        goal=(">=", 0.8),
        data={"elements": n, "bytes": nbytes, "copy_GBs": copy_gbs},
    )
    return [annotate(row, timings, flags)]


def bench_sum(ctx: Context) -> list[Row]:
    n = ctx.cfg.big_n
    log(sum_name(ctx.cfg))
    a_np = host_randn(ctx, (n,), seed=6)
    want = float(np.sum(a_np, dtype=np.float64))
    scale = float(np.linalg.norm(a_np))  # a sum's rounding error grows with ‖a‖₂, not |Σa|

    def setup(mod: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
        a = to_device(mod, a_np)
        return (lambda: a.sum()), (lambda: float(a.sum().item()))

    timings, probes = time_pair(ctx, {lib: setup for lib in LIBS})
    flags, errs = {}, {}
    for lib, got in probes.items():
        if isinstance(got, BaseException):
            flags[lib] = _check_flag(got, 0.0)
            continue
        errs[lib] = abs(got - want) / scale if math.isfinite(got) else math.inf
        flags[lib] = _check_flag(errs[lib], 1e-4)
    nbytes = 4.0 * n + 4
    copy_gbs = ctx.shared.get("copy_GBs")
    row = make_row(
        "bandwidth",
        sum_name(ctx.cfg),
        medians(timings),
        fmt=_gbs(nbytes, copy_gbs),
        ratio=speed_ratio,
        goal=(">=", 0.8),
        data={"elements": n, "bytes": nbytes, "copy_GBs": copy_gbs, "err_over_norm": errs},
    )
    return [annotate(row, timings, flags)]


# ---- training steps -------------------------------------------------------------------


def build_mlp(mod: Any) -> Any:
    """The 784-128-256-10 ReLU MLP of the Adam tutorial (as ``bench.build_mlp("adam")``)."""
    nn = mod.nn
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def make_trainer(mod: Any, model: Any) -> tuple[Any, Callable[[Any, Any], Any]]:
    """Move ``model`` to the GPU, build Adam(lr=1e-3) over it (after the move: the
    parameters it holds are the GPU ones) and return ``(model, step)``; ``step(x, y)`` is
    one training step returning the loss tensor (no host sync)."""
    model = model.to(DEVICE)
    model.train()
    opt = mod.optim.Adam(model.parameters(), lr=1e-3)
    cross_entropy = mod.nn.functional.cross_entropy

    def step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


@dataclass
class ModelSpec:
    """A model whose training step is benchmarked: ``build(mod)`` returns the (CPU) module;
    its inputs are ``(batch, *input_shape)`` float32 and integer labels in [0, 10);
    ``needs`` names the ``nn`` layers it uses (the row is skipped while rustorch lacks one)."""

    name: str
    build: Callable[[Any], Any]
    input_shape: tuple[int, ...]
    needs: tuple[str, ...] = ()
    batch: int = 64
    goal: float = 1.0  # rustorch time ÷ torch time, at most


def make_step(spec: ModelSpec, section: str, name: str) -> Callable[[Context], list[Row]]:
    def run(ctx: Context) -> list[Row]:
        log(name)
        rt = ctx.imported.get("rustorch", ctx.libs["rustorch"])
        rt_nn = None if isinstance(rt, BaseException) else getattr(rt, "nn", None)
        missing = [n for n in spec.needs if rt_nn is not None and not hasattr(rt_nn, n)]
        if missing:
            note = f"skipped: rustorch.nn has no {', '.join(missing)}"
            cells = {"rustorch": note, "torch": "skipped"}
            return [Row(section, name, cells, "—", "—", {"status": note})]
        rng = np.random.default_rng(7)
        n_batches = 4  # rotate among a few batches: no single cached input
        xs = [
            rng.standard_normal((spec.batch, *spec.input_shape), dtype=np.float32)
            for _ in range(n_batches)
        ]
        ys = [rng.integers(0, 10, spec.batch, dtype=np.int64) for _ in range(n_batches)]
        last: dict[str, Any] = {}

        def setup(mod: Any) -> tuple[Callable[[], Any], Callable[[], Any]]:
            mod.manual_seed(0)
            _, step = make_trainer(mod, spec.build(mod))
            batches = itertools.cycle(
                [(to_device(mod, x), mod.from_numpy(y).to(DEVICE)) for x, y in zip(xs, ys)]
            )

            def fn() -> None:
                last[mod.__name__] = step(*next(batches))

            return fn, (lambda: float(last[mod.__name__].item()))

        min_number = max(1, math.ceil(ctx.cfg.min_steps / ctx.cfg.repeat))
        timings, probes = time_pair(
            ctx, {lib: setup for lib in LIBS}, warmup=ctx.cfg.step_warmup, min_number=min_number
        )
        flags = {}
        for lib, loss in probes.items():
            if isinstance(loss, BaseException):
                flags[lib] = _check_flag(loss, 0.0)
            elif not math.isfinite(loss):
                flags[lib] = f"loss {loss}"
        last.clear()
        row = make_row(
            section,
            name,
            medians(timings),
            fmt=lambda s: f"{s * 1e3:.3f} ms/step",
            ratio=cost_ratio,
            goal=("<=", spec.goal),
            data={"batch": spec.batch, "loss_after_warmup": probes},
        )
        # the host's time to issue a step: near the step's time, the host sets the pace
        for lib, t in timings.items():
            if isinstance(t, GpuTiming) and t.enqueue_ms:
                issued = statistics.median(t.enqueue_ms)
                log(f"  {lib}: a step issued in {issued:.3f} ms (host)")
                row.cells[lib] += f" (host issues it in {issued:.3f})"
        return [annotate(row, timings, flags)]

    return run


def build_lenet(mod: Any) -> Any:
    """LeNet-5 for 28×28 inputs (padding 2 on the first convolution)."""
    nn = mod.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def build_lstm(mod: Any) -> Any:
    """A 2-layer LSTM over the 28 rows of an image (28 features each), hidden 128, then a
    linear classifier on the last step's output."""
    nn = mod.nn

    class LstmNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(28, 128, num_layers=2, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return LstmNet()


def build_transformer(mod: Any) -> Any:
    """The 28 image rows as tokens: Linear(28, 128), a 2-layer TransformerEncoder (4 heads,
    feed-forward 256), mean over tokens, Linear(128, 10)."""
    nn = mod.nn

    class TransformerNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(28, 128)
            layer = nn.TransformerEncoderLayer(
                d_model=128, nhead=4, dim_feedforward=256, dropout=0.0, batch_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers=2)
            self.head = nn.Linear(128, 10)

        def forward(self, x: Any) -> Any:
            return self.head(self.encoder(self.embed(x)).mean(dim=1))

    return TransformerNet()


MLP_NAME = "MLP 784-128-256-10"
STEP_SPECS = (
    ModelSpec(MLP_NAME, build_mlp, (1, 28, 28), batch=64, goal=0.7),
    ModelSpec(MLP_NAME, build_mlp, (1, 28, 28), batch=4096, goal=1.0),
)

# The hook for more model rows: append a ModelSpec (its ``needs`` skip the row, with a
# note, until rustorch.nn has those layers). Each becomes a "models" row at batch 64.
MODEL_STEPS: list[ModelSpec] = [
    ModelSpec("LeNet-5", build_lenet, (1, 28, 28), needs=("Conv2d", "MaxPool2d")),
    ModelSpec("2-layer LSTM 28→128 over 28 steps", build_lstm, (28, 28), needs=("LSTM",)),
    ModelSpec(
        "2-layer Transformer encoder (d 128, 4 heads, 28 tokens)",
        build_transformer,
        (28, 28),
        needs=("TransformerEncoder", "TransformerEncoderLayer"),
    ),
]


def _step_name(spec: ModelSpec) -> str:
    return f"train step (Adam), {spec.name}, batch {spec.batch}"


# ---- epoch ----------------------------------------------------------------------------


IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _has_real_data(cfg: CudaConfig) -> bool:
    return all(os.path.exists(os.path.join(cfg.data_dir, f)) for f in IDX_FILES)


def _epoch_names(cfg: CudaConfig) -> list[str]:
    size = "" if cfg.samples == 60_000 else f" of {cfg.samples / 1000:g}k"
    src = "Fashion-MNIST" if _has_real_data(cfg) else "random data: no Fashion-MNIST found"
    epochs = f"{cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''}"
    acc = "test accuracy" if _has_real_data(cfg) else "test accuracy (needs Fashion-MNIST)"
    return [
        f"epoch{size} (Adam), {MLP_NAME}, batch {cfg.batch_size}, DataLoader over GPU tensors "
        f"({src})",
        f"{acc} after {epochs}, own init",
    ]


def _evaluate(mod: Any, model: Any, x: Any, y: Any, chunk: int = 1000) -> float:
    model.eval()
    correct = 0
    n = x.shape[0]
    with mod.no_grad():
        for i in range(0, n, chunk):
            out = model(x[i : i + chunk])
            correct += int((out.argmax(dim=1) == y[i : i + chunk]).sum().item())
    model.train()
    return correct / n


class _EpochRunner:
    """One library's model, optimizer and GPU-resident loader; ``epoch()`` trains one epoch
    and returns its wall seconds (extrapolated when cut short by the deadline)."""

    def __init__(self, mod: Any, data: bench.MnistData, cfg: CudaConfig) -> None:
        self.mod, self.cfg = mod, cfg
        dm = mod.utils.data
        x = to_device(mod, data.x_train)
        y = mod.from_numpy(data.y_train).to(DEVICE)
        self.loader = dm.DataLoader(dm.TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True)
        self.batches = len(self.loader)
        self.x_test = to_device(mod, data.x_test) if data.real else None
        self.y_test = mod.from_numpy(data.y_test).to(DEVICE) if data.real else None
        # warm up (kernel compiles, allocator, cuBLAS) on a throw-away model
        mod.manual_seed(0)
        _, scratch = make_trainer(mod, build_mlp(mod))
        self.run(scratch, max_batches=cfg.epoch_warmup_batches)
        mod.manual_seed(0)
        self.model, self.step = make_trainer(mod, build_mlp(mod))
        self.seconds: list[float] = []
        self.cut = False
        self.last_loss = math.nan

    def run(
        self, step: Callable[[Any, Any], Any], max_batches: int = -1, deadline: float = math.inf
    ) -> tuple[int, float]:
        """Train until the loader ends, ``max_batches`` or ``deadline``; (batches, seconds)."""
        cuda_api(self.mod).synchronize()
        t0 = time.perf_counter()
        done = 0
        loss = None
        for i, (xb, yb) in enumerate(self.loader):
            if i == max_batches or time.perf_counter() > deadline:
                break
            loss = step(xb, yb)
            if i % 100 == 0:
                self.last_loss = float(loss.item())  # as the tutorial loop's progress print
            done = i + 1
        cuda_api(self.mod).synchronize()
        return done, time.perf_counter() - t0

    def epoch(self, deadline: float) -> float:
        done, seconds = self.run(self.step, deadline=deadline)
        if done < self.batches:
            self.cut = True
            seconds = seconds * self.batches / max(done, 1)
        self.seconds.append(seconds)
        return seconds

    def accuracy(self) -> Optional[float]:
        if self.x_test is None:
            return None
        return _evaluate(self.mod, self.model, self.x_test, self.y_test)


def bench_epoch(ctx: Context) -> list[Row]:
    cfg = ctx.cfg
    names = _epoch_names(cfg)
    data = bench.load_data(bench.Config(data_dir=cfg.data_dir, mlp_samples=cfg.samples))
    src = "Fashion-MNIST" if data.real else f"random data: no Fashion-MNIST in {cfg.data_dir}"
    log(f"epoch: {len(data.x_train)} samples ({src})")
    if data.real != _has_real_data(cfg):  # the names were made up front
        names = [f"{n} [data: {src}]" for n in names]
    runners: dict[str, Value] = {}
    for lib in LIBS:
        mod = ctx.libs[lib]
        if isinstance(mod, BaseException):
            runners[lib] = mod
            continue
        try:
            runners[lib] = _EpochRunner(mod, data, cfg)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            runners[lib] = exc
    del data
    live = [lib for lib in LIBS if isinstance(runners[lib], _EpochRunner)]
    for e in range(cfg.epochs):
        for lib in live if e % 2 == 0 else live[::-1]:
            r = runners[lib]
            if not isinstance(r, _EpochRunner):
                continue
            limit = min(cfg.epoch_timeout_s, max(ctx.remaining_s() - 15.0, 1.0))
            try:
                s = r.epoch(time.perf_counter() + limit)
                log(f"  {lib}: epoch {e + 1}: {s:.2f} s{' (cut short)' if r.cut else ''}")
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                runners[lib] = exc
    times: dict[str, Value] = {}
    accs: dict[str, Value] = {}
    for lib in LIBS:
        r = runners[lib]
        if not isinstance(r, _EpochRunner):
            times[lib] = accs[lib] = r
            continue
        times[lib] = statistics.median(r.seconds) if r.seconds else RuntimeError("no epoch")
        try:
            accs[lib] = r.accuracy()
        except Exception as exc:
            accs[lib] = exc
    wall = make_row(
        "epoch",
        names[0],
        times,
        fmt=lambda s: f"{s:.2f} s",
        ratio=cost_ratio,
        goal=("<=", 1.0),
        data={
            "seconds": {
                lib: r.seconds for lib, r in runners.items() if isinstance(r, _EpochRunner)
            },
            "real_data": src == "Fashion-MNIST",
        },
    )
    acc = make_row(
        "epoch",
        names[1],
        accs,
        fmt=lambda a: f"{a * 100:.2f} %",
        ratio=lambda rt, th: (rt - th) * 100,
        ratio_fmt=lambda d: f"Δ {d:+.2f} pp",
    )
    for lib in live:
        r = runners[lib]
        if isinstance(r, _EpochRunner):
            if r.cut:
                wall.cells[lib] += f" (extrapolated: cut at {cfg.epoch_timeout_s:g} s)"
            if len(r.seconds) > 1:
                spread = (max(r.seconds) - min(r.seconds)) / statistics.median(r.seconds)
                wall.cells[lib] += f" ±{spread * 100:.0f}%"
            if not math.isfinite(r.last_loss):
                wall.cells[lib] += f" ⚠ loss {r.last_loss}"
            if accs.get(lib) is None:
                acc.cells[lib] = "random data"
    runners.clear()
    return [wall, acc]


# --------------------------------------------------------------------------------------
# the plan, header and report
# --------------------------------------------------------------------------------------


def plan(cfg: CudaConfig, sections: list[str]) -> list[Bench]:
    benches: list[Bench] = []
    if "matmul" in sections:
        for n, dtype, tf32, tol in MATMUL_CASES:
            n //= cfg.matmul_div
            name = _matmul_name(n, dtype, tf32)
            benches.append(Bench("matmul", [name], make_matmul(name, n, dtype, tf32, tol)))
    if "bandwidth" in sections:
        benches.append(Bench("bandwidth", [copy_name(cfg)], bench_copy))
        benches.append(Bench("bandwidth", [add_name(cfg)], bench_add))
        benches.append(Bench("bandwidth", [sum_name(cfg)], bench_sum))
    if "step" in sections:
        for spec in STEP_SPECS:
            name = _step_name(spec)
            benches.append(Bench("step", [name], make_step(spec, "step", name)))
    if "epoch" in sections:
        benches.append(Bench("epoch", _epoch_names(cfg), bench_epoch))
    if "models" in sections:
        for spec in MODEL_STEPS:
            name = _step_name(spec)
            benches.append(Bench("models", [name], make_step(spec, "models", name)))
    return benches


def _run(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return out.stdout.strip() if out.returncode == 0 else ""
    except Exception:
        return ""


def gpu_info(libs: dict[str, Any]) -> dict[str, Any]:
    """Name, memory, multiprocessors and capability of GPU 0 (through PyTorch when it sees
    the GPU, else rustorch), the driver version (nvidia-smi) and CUDA versions."""
    info: dict[str, Any] = {}
    for lib in ("torch", "rustorch"):
        mod = libs.get(lib)
        if isinstance(mod, BaseException) or mod is None:
            continue
        try:
            if not mod.cuda.is_available():
                continue
            p = mod.cuda.get_device_properties(0)
            info.update(
                name=mod.cuda.get_device_name(0),
                memory_GiB=round(p.total_memory / 2**30, 1),
                sms=p.multi_processor_count,
                capability=f"{p.major}.{p.minor}",
                source=lib,
            )
            break
        except Exception as exc:
            info.setdefault("error", _short(f"{lib}: {type(exc).__name__}: {exc}"))
    smi = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    info["driver"] = smi.splitlines()[0] if smi else "?"
    torch = libs.get("torch")
    if not isinstance(torch, BaseException) and torch is not None:
        info["torch_cuda"] = getattr(torch.version, "cuda", None)
    return info


def header(libs: dict[str, Any], info: dict[str, Any], cfg: CudaConfig) -> str:
    def ver(name: str) -> str:
        mod = libs.get(name)
        if isinstance(mod, BaseException) or mod is None:
            return f"{name} (unusable: {_short(str(mod), 60)})"
        where = os.path.dirname(os.path.dirname(getattr(mod, "__file__", "") or ""))
        extra = f" [{where}]" if name == "rustorch" and where else ""
        return f"{name} {getattr(mod, '__version__', '?')}{extra}"

    gpu = info.get("name", "no GPU")
    if "memory_GiB" in info:
        gpu += f" ({info['memory_GiB']} GiB, {info['sms']} SMs, sm_{info['capability']})"
    mode = "quick" if cfg.quick else "full"
    return (
        f"**rustorch vs PyTorch on CUDA** — GPU: {gpu} · driver {info.get('driver', '?')} · "
        f"CUDA (torch) {info.get('torch_cuda') or '?'} · {ver('rustorch')} · {ver('torch')} · "
        f"numpy {np.__version__} · Python {platform.python_version()} · {mode} run, "
        f"{cfg.repeat} timed blocks per library and row"
    )


LEGEND = """\
Ratio orientation:
- matmul, bandwidth: rustorch rate ÷ torch rate — higher is better (>1: rustorch faster).
  "of copy": the fraction of the card's copy bandwidth (torch's `copy_` row, bytes read +
  written).
- train step, epoch: rustorch time ÷ torch time — lower is better (<1: rustorch faster).
- accuracy: rustorch minus torch, in percentage points.
- goal: ✓ met / ✗ missed. Each cell is the median timed block (CUDA events of that library,
  or the host clock after synchronize where it says so); ±x% is the difference between the
  medians of the first and second half of the blocks. ⚠ marks a failed correctness check
  (matmul against torch's result, copy/add/sum against NumPy) or a non-finite loss."""


def _no_gpu_reason(libs: dict[str, Any]) -> str:
    parts = []
    for lib in LIBS:
        mod = libs[lib]
        if isinstance(mod, BaseException):
            parts.append(f"{lib}: {_short(str(mod), 60)}")
        else:
            extra = ""
            if lib == "torch":
                extra = f" ({mod.__version__})"
            parts.append(f"{lib}.cuda.is_available()=False{extra}")
    return "; ".join(parts)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.py --device cuda",
        description="Benchmark rustorch against PyTorch on a CUDA GPU; prints a Markdown table.",
    )
    p.add_argument("--quick", action="store_true", help="shorter run (about 3 minutes at most)")
    p.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help=f"run only these sections (comma-separated or repeated): {', '.join(SECTIONS)}",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--repeat", type=int, default=0, help="timed blocks per library and row")
    p.add_argument("--epochs", type=int, default=0, help="timed epochs per library (median)")
    p.add_argument(
        "--budget",
        type=float,
        default=0.0,
        metavar="S",
        help="wall-time budget in seconds: rows not started by then are skipped (default: none)",
    )
    p.add_argument(
        "--data-dir", default=bench.DEFAULT_DATA_DIR, help="Fashion-MNIST IDX .gz folder"
    )
    p.add_argument(
        "--selftest-on-cpu",
        action="store_true",
        help="test this script without a GPU: every benchmark on the CPU at small sizes, the "
        "host clock for events (the numbers mean nothing)",
    )
    args = p.parse_args(argv)
    chosen: list[str] = []
    for item in args.only or []:
        for name in item.split(","):
            name = name.strip()
            if name and name not in SECTIONS:
                p.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
            if name and name not in chosen:
                chosen.append(name)
    args.sections = [s for s in SECTIONS if s in chosen] if chosen else list(SECTIONS)
    return args


def import_libs() -> dict[str, Any]:
    """Both libraries (with the submodules used), or the error that stops one."""
    libs: dict[str, Any] = {}
    for name in LIBS:
        try:
            mod = importlib.import_module(name)
            for sub in ("nn", "nn.functional", "optim", "utils.data", "cuda"):
                importlib.import_module(f"{name}.{sub}")
            libs[name] = mod
        except Exception as exc:
            libs[name] = exc
    return libs


def write_json(
    path: str,
    head: str,
    ctx: Context,
    sections: list[str],
    rows: list[Row],
    no_gpu: bool,
    partial: bool,
) -> None:
    """The results as JSON, with the Markdown table in ``table``. Written after every
    benchmark too (``partial``: true), so that a run killed by a hang leaves its rows."""
    payload = {
        "header": head,
        "device": DEVICE,
        "partial": partial,
        "no_gpu": no_gpu,
        "config": vars(ctx.cfg),
        "sections": sections,
        "elapsed_s": time.perf_counter() - ctx.start,
        "copy_GBs": ctx.shared.get("copy_GBs"),
        "table": table(rows),
        "rows": [
            {
                "section": r.section,
                "name": r.name,
                "cells": r.cells,
                "ratio": r.ratio,
                "goal": r.goal,
                "data": r.data,
            }
            for r in rows
        ],
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, default=str)
    os.replace(tmp, path)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise BenchInterrupted(f"signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    global DEVICE
    faulthandler.enable()  # a crash inside an extension still shows where
    args = parse_args(argv)
    cfg = CudaConfig.from_args(args)
    DEVICE = "cpu" if cfg.selftest else "cuda"
    start = time.perf_counter()
    libs = import_libs()
    usable: dict[str, Any] = {}
    for lib, mod in libs.items():
        if isinstance(mod, BaseException) or cfg.selftest:
            usable[lib] = mod
            continue
        try:
            ok = bool(mod.cuda.is_available())
        except Exception as exc:
            ok, mod = False, exc
        usable[lib] = mod if ok else RuntimeError(f"{lib}.cuda.is_available() is False")
    info = {"name": "none: CPU SELF-TEST, NOT GPU NUMBERS"} if cfg.selftest else gpu_info(libs)
    ctx = Context(usable, cfg, start, imported=libs)
    benches = plan(cfg, args.sections)
    rows: list[Row] = []
    status = 0
    head = header(libs, info, cfg)
    no_gpu = all(isinstance(usable[lib], BaseException) for lib in LIBS)
    if no_gpu:
        print(
            f"No GPU available ({_no_gpu_reason(libs)}): nothing measured, every row "
            f"reads '{NO_GPU}'.",
            flush=True,
        )
        for b in benches:
            rows.extend(placeholder_rows(b, NO_GPU))
    else:
        for lib in LIBS:
            if isinstance(usable[lib], BaseException):
                log(f"{lib} cannot use the GPU: {usable[lib]}; its cells show that")
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            for i, b in enumerate(benches):
                if ctx.remaining_s() < 10.0:
                    rows.extend(placeholder_rows(b, "skipped: time budget"))
                    continue
                try:
                    rows.extend(b.run(ctx))
                except (BenchInterrupted, KeyboardInterrupt) as exc:
                    log(f"interrupted ({exc!r}): printing what was measured")
                    status = 1
                    rows.extend(placeholder_rows(b, "interrupted"))
                    for rest in benches[i + 1 :]:
                        rows.extend(placeholder_rows(rest, "interrupted"))
                    break
                except Exception as exc:  # one broken benchmark must not end the run
                    traceback.print_exc(file=sys.stderr)
                    rows.extend(placeholder_rows(b, "", exc))
                finally:
                    free_memory(ctx)
                    if args.json:
                        write_json(args.json, head, ctx, args.sections, rows, False, True)
        finally:
            signal.signal(signal.SIGTERM, previous)
    elapsed = time.perf_counter() - start
    print(head)
    print()
    print(table(rows))
    print()
    print(LEGEND)
    print()
    print(f"Total benchmark time: {elapsed:.0f} s.")
    if args.json:
        write_json(args.json, head, ctx, args.sections, rows, no_gpu, partial=False)
        log(f"wrote {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
