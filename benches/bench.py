#!/usr/bin/env python3
"""Side-by-side benchmarks of rustorch against PyTorch (CPU), in one run.

Run it from the repository root with the rustorch build you want to measure importable
(an installed wheel, ``maturin develop``, or a ``PYTHONPATH`` pointing at a build)::

    python benches/bench.py                        # full run, about 3 minutes on 2 cores
    python benches/bench.py --quick                # shorter: fewer repeats, 1/4-epoch MLP
    python benches/bench.py --only matmul,overhead # a subset (``--only`` may be repeated)
    python benches/bench.py --only mlp --epochs-mlp 5 --json /tmp/bench.json
    python benches/bench.py --device cuda --quick  # the GPU suite instead (bench_cuda.py)

Sections (names for ``--only``):

* ``matmul``      float32 ``a @ b`` at n = 256, 1024, 2048, as GFLOP/s (2n^3 / t)
* ``elementwise`` ``a + b`` and ``exp(a)`` on 1e6 and 1e7 float32 elements, ``sum`` on 1e7
* ``overhead``    per-call cost of ``x + x`` on a 4-element tensor
* ``autograd``    per-iteration cost of ``(x * 2 + 1).sum().backward()`` on 4 elements
* ``mlp``         training epochs (median of 3; batch 64, 60k samples) of a 784-128-10 ReLU MLP with
                  SGD(lr=0.01) and of a 784-128-256-10 ReLU MLP with Adam(lr=1e-3), plus
                  test accuracy after training
* ``mem``         peak RSS of the SGD-MLP epoch, each library in its own subprocess
                  (``python benches/bench.py --child mem --lib rustorch|torch``)

The MLP uses real Fashion-MNIST when ``--data-dir`` (default
``/usr/share/datasets/fashion-mnist``) holds the four IDX ``.gz`` files, else random data of
the same shape (the accuracy rows are then meaningless, but still show parity).

Both libraries are left at their default thread counts. Micro-benchmarks warm up, pick a
per-block call count so one block takes a fixed wall time, interleave the two libraries
block by block (so machine noise hits both alike) and report the fastest block (min-of-N).
MLP epochs report the median epoch's wall time, plus the epoch time implied by the fastest
100-batch segment (less exposed to bursts of load from other processes); an epoch longer
than ``--mlp-timeout`` seconds (default 30) is cut short and extrapolated, and says so in
its cell, which bounds the run time on a loaded machine. Progress goes to stderr; the
header, the Markdown table and its legend go to stdout. A benchmark that raises shows the
error in its row and the run goes on.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

LIBS = ("rustorch", "torch")
SECTIONS = ("matmul", "elementwise", "overhead", "autograd", "mlp", "accuracy", "mem")
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
CHILD_MARKER = "BENCH_CHILD_RESULT "
MiB = 1024.0 * 1024.0
INHERITED_RSS_LIMIT = 100 * 1024 * 1024  # a child's ru_maxrss before any import must be below


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------


@dataclass
class Config:
    """Knobs derived from the command line; ``--quick`` shrinks them."""

    quick: bool = False
    repeat: int = 7  # timed blocks per library for micro-benchmarks
    block_s: float = 0.1  # target wall time of one timed block
    warmup_calls: int = 3
    overhead_calls: int = 200_000  # total calls of ``x + x`` per library
    autograd_iters: int = 20_000  # total backward iterations per library
    epochs_mlp: int = 3  # the median epoch is reported
    epochs_accuracy: int = 10
    mlp_samples: int = 60_000
    warmup_batches: int = 50
    batch_size: int = 64
    mlp_timeout_s: float = 30.0  # cut an epoch that runs longer (extrapolated, flagged)
    data_dir: str = DEFAULT_DATA_DIR
    torch_threads: int = 0  # 0: leave torch's default

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        cfg = cls(quick=args.quick, data_dir=args.data_dir, torch_threads=args.torch_threads)
        if args.quick:
            cfg.repeat, cfg.block_s, cfg.warmup_calls = 3, 0.05, 2
            cfg.overhead_calls, cfg.autograd_iters = 50_000, 5_000
            cfg.mlp_samples, cfg.warmup_batches, cfg.mlp_timeout_s = 15_000, 20, 15.0
            cfg.epochs_accuracy, cfg.epochs_mlp = 2, 1
        if args.epochs_mlp:
            cfg.epochs_mlp = args.epochs_mlp
        if args.epochs_accuracy:
            cfg.epochs_accuracy = args.epochs_accuracy
        if args.mlp_samples:
            cfg.mlp_samples = args.mlp_samples
        if args.mlp_timeout is not None:
            cfg.mlp_timeout_s = args.mlp_timeout
        if args.repeat:
            cfg.repeat = args.repeat
        return cfg


def log(msg: str) -> None:
    """Progress line on stderr (stdout is kept for the report)."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def import_lib(name: str, torch_threads: int = 0) -> Any:
    """Import ``rustorch`` or ``torch`` plus the submodules the benchmarks use.

    ``torch_threads > 0`` (only from ``--torch-threads``) overrides torch's default thread
    count; by default both libraries keep their own defaults.
    """
    mod = importlib.import_module(name)
    for sub in ("nn", "optim", "utils.data"):
        importlib.import_module(f"{name}.{sub}")
    if name == "torch" and torch_threads > 0:
        mod.set_num_threads(torch_threads)
    return mod


# --------------------------------------------------------------------------------------
# results and table rows
# --------------------------------------------------------------------------------------

Value = Any  # float measurement, or the BaseException a library raised


@dataclass
class Row:
    section: str
    name: str
    cells: dict[str, str]  # lib -> cell text
    ratio: str
    goal: str
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers for --json


def _clean(text: str, limit: int = 90) -> str:
    """One-line, pipe-free text that is safe inside a Markdown table cell."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _err_cell(exc: BaseException) -> str:
    return _clean(f"error: {type(exc).__name__}: {exc}")


def _goal_cell(goal: Optional[tuple[str, float]], ratio: Optional[float]) -> str:
    if goal is None:
        return "—"
    op, bound = goal
    text = f"{'≥' if op == '>=' else '≤'} {bound:g}"
    if ratio is None:
        return text
    met = ratio >= bound if op == ">=" else ratio <= bound
    return f"{text} {'✓' if met else '✗'}"


def make_row(
    section: str,
    name: str,
    values: dict[str, Value],
    fmt: Callable[[float], str],
    ratio: Callable[[float, float], float],
    goal: Optional[tuple[str, float]] = None,
    ratio_fmt: Callable[[float], str] = lambda r: f"{r:.2f}×",
    data: Optional[dict[str, Any]] = None,
) -> Row:
    """Build a table row from per-library values (floats or exceptions)."""
    cells: dict[str, str] = {}
    for lib in LIBS:
        v = values.get(lib, RuntimeError("not measured"))
        if v is None:
            cells[lib] = "n/a"
        else:
            cells[lib] = _err_cell(v) if isinstance(v, BaseException) else fmt(v)
    r_val: Optional[float] = None
    rt, th = values.get("rustorch"), values.get("torch")
    if isinstance(rt, (int, float)) and isinstance(th, (int, float)):
        try:
            r_val = ratio(float(rt), float(th))
        except ZeroDivisionError:
            r_val = None
    raw = {lib: (repr(v) if isinstance(v, BaseException) else v) for lib, v in values.items()}
    raw.update(data or {})
    raw["ratio"] = r_val
    raw["goal"] = list(goal) if goal else None
    return Row(
        section=section,
        name=name,
        cells=cells,
        ratio=ratio_fmt(r_val) if r_val is not None else "—",
        goal=_goal_cell(goal, r_val),
        data=raw,
    )


def error_row(section: str, name: str, exc: BaseException) -> Row:
    """A row for a benchmark whose setup failed for both libraries."""
    return make_row(section, name, {lib: exc for lib in LIBS}, str, lambda a, b: a / b)


# --------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Per-call seconds of each timed block."""

    samples: list[float]
    number: int  # calls per block

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def _time_block(block: Callable[[int], None], number: int) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        block(number)
        return time.perf_counter() - t0
    finally:
        if gc_was_enabled:
            gc.enable()


def _calibrate(block: Callable[[int], None], target_s: float) -> int:
    """Smallest power-of-two-ish call count whose block takes at least ``target_s``."""
    number = 1
    while True:
        t = _time_block(block, number)
        if t >= target_s or number >= 1 << 24:
            return number
        # aim straight for the target, growing at most 10x per step
        number = max(number + 1, min(number * 10, int(number * target_s / max(t, 1e-9) * 1.2)))


def time_pair(
    blocks: dict[str, Callable[[int], None]],
    cfg: Config,
    number: Optional[int] = None,
) -> dict[str, Value]:
    """Time ``block(number)`` for each library, interleaved; per-call ``Timing`` or error.

    ``block(n)`` must run the operation ``n`` times. With ``number=None`` the count is
    calibrated per library so that one block takes about ``cfg.block_s``.
    """
    out: dict[str, Value] = {}
    counts: dict[str, int] = {}
    for lib, block in blocks.items():
        try:
            for _ in range(cfg.warmup_calls):
                block(1)
            counts[lib] = number or _calibrate(block, cfg.block_s)
            out[lib] = Timing([], counts[lib])
        except Exception as exc:  # report, don't crash
            out[lib] = exc
    live = [lib for lib in blocks if isinstance(out[lib], Timing)]
    for r in range(cfg.repeat):
        for lib in live if r % 2 == 0 else live[::-1]:
            timing = out[lib]
            if not isinstance(timing, Timing):
                continue
            try:
                timing.samples.append(_time_block(blocks[lib], counts[lib]) / counts[lib])
            except Exception as exc:
                out[lib] = exc
            time.sleep(0.01)  # let the other library's worker threads go idle
    return out


def best_of(timings: dict[str, Value]) -> dict[str, Value]:
    return {lib: (t.best if isinstance(t, Timing) else t) for lib, t in timings.items()}


def timing_data(timings: dict[str, Value]) -> dict[str, Any]:
    return {f"{lib}_samples_s": t.samples for lib, t in timings.items() if isinstance(t, Timing)}


def repeat_calls(fn: Callable[[], Any]) -> Callable[[int], None]:
    def block(n: int) -> None:
        for _ in range(n):
            fn()

    return block


def _per_lib(libs: dict[str, Any], setup: Callable[[Any], Callable[[int], None]]):
    """Run ``setup(module)`` per library; a setup failure becomes that library's error."""
    blocks: dict[str, Callable[[int], None]] = {}
    errors: dict[str, Value] = {}
    for name, mod in libs.items():
        if isinstance(mod, BaseException):
            errors[name] = mod
            continue
        try:
            blocks[name] = setup(mod)
        except Exception as exc:
            errors[name] = exc
    return blocks, errors


def speed_ratio(rt: float, th: float) -> float:
    """torch time / rustorch time: >1 means rustorch is faster."""
    return th / rt


def cost_ratio(rt: float, th: float) -> float:
    """rustorch / torch: <1 means rustorch is cheaper."""
    return rt / th


# --------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------


def _product_row(
    libs: dict[str, Any],
    cfg: Config,
    name: str,
    a_np: np.ndarray,
    b_np: np.ndarray,
    transposed: bool,
    goal: Optional[tuple[str, float]],
) -> Row:
    """One product row: `a @ b`, or `a @ b.t()` with `transposed`; cells in GFLOP/s."""

    def setup(mod: Any) -> Callable[[int], None]:
        a, b = mod.from_numpy(a_np.copy()), mod.from_numpy(b_np.copy())
        return repeat_calls(lambda: a @ (b.t() if transposed else b))

    blocks, values = _per_lib(libs, setup)
    timings = time_pair(blocks, cfg)
    values.update(best_of(timings))
    flops = 2.0 * a_np.shape[0] * a_np.shape[1] * b_np.shape[0 if transposed else 1]
    return make_row(
        "matmul",
        name,
        values,
        fmt=lambda s: f"{flops / s / 1e9:.1f} GFLOP/s",
        ratio=speed_ratio,
        goal=goal,
        data=timing_data(timings),
    )


def bench_matmul(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """float32 products; cells in GFLOP/s, ratio = rustorch rate / torch rate."""
    rows = []
    rng = np.random.default_rng(0)
    for n in (256, 1024, 2048):
        log(f"matmul n={n}")
        a_np = rng.standard_normal((n, n), dtype=np.float32)
        b_np = rng.standard_normal((n, n), dtype=np.float32)
        rows.append(
            _product_row(libs, cfg, f"matmul f32 {n}×{n}", a_np, b_np, False, (">=", 0.9))
        )
    # nn.Linear's forward, x @ weight.T: a column-major right operand, here with columns
    # 1 KiB apart or more (k a multiple of 256), and a CNN head (Flatten → Linear(9216, 128)).
    for m, k, n in ((64, 2048, 128), (32, 1024, 512), (64, 9216, 128), (700, 1024, 512)):
        log(f"linear {m}x{k}x{n}")
        x_np = rng.standard_normal((m, k), dtype=np.float32)
        w_np = rng.standard_normal((n, k), dtype=np.float32)
        name = f"x @ w.T f32 [{m}, {k}] @ [{k}, {n}]"
        rows.append(_product_row(libs, cfg, name, x_np, w_np, True, None))
    return rows


def bench_elementwise(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """add / exp / sum on large float32 vectors; ratio = torch time / rustorch time."""
    rows = []
    rng = np.random.default_rng(1)
    cases = [
        ("add", 10**6, 3),  # (op, elements, float32 values moved per element)
        ("add", 10**7, 3),
        ("exp", 10**6, 2),
        ("exp", 10**7, 2),
        ("sum", 10**7, 1),
    ]
    arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for op, n, moved in cases:
        log(f"elementwise {op} n={n:.0e}")
        if n not in arrays:
            arrays[n] = (
                rng.standard_normal(n, dtype=np.float32),
                rng.standard_normal(n, dtype=np.float32),
            )
        a_np, b_np = arrays[n]

        def setup(mod: Any, op=op, a_np=a_np, b_np=b_np) -> Callable[[int], None]:
            a, b = mod.from_numpy(a_np.copy()), mod.from_numpy(b_np.copy())
            if op == "add":
                return repeat_calls(lambda: a + b)
            if op == "exp":
                return repeat_calls(lambda: mod.exp(a))
            return repeat_calls(lambda: a.sum())

        blocks, values = _per_lib(libs, setup)
        timings = time_pair(blocks, cfg)
        values.update(best_of(timings))
        nbytes = 4.0 * n * moved
        label = {"add": "a + b", "exp": "exp(a)", "sum": "a.sum()"}[op]
        rows.append(
            make_row(
                "elementwise",
                f"{label} f32, {n:.0e} elems".replace("e+0", "e"),
                values,
                fmt=lambda s, nbytes=nbytes: f"{s * 1e3:.3f} ms ({nbytes / s / 1e9:.1f} GB/s)",
                ratio=speed_ratio,
                data=timing_data(timings),
            )
        )
    return rows


def _add_loop(x: Any) -> Callable[[int], None]:
    def block(n: int) -> None:
        for _ in range(n):
            x + x  # the expression itself is what is timed

    return block


def _autograd_loop(x: Any) -> Callable[[int], None]:
    def block(n: int) -> None:
        for _ in range(n):
            (x * 2 + 1).sum().backward()

    return block


def bench_overhead(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """Per-call dispatch cost of ``x + x`` on 4 floats; ratio = rustorch / torch."""
    log(f"overhead: x + x, {cfg.overhead_calls} calls per library")
    x_np = np.arange(4, dtype=np.float32)
    blocks, values = _per_lib(libs, lambda mod: _add_loop(mod.from_numpy(x_np.copy())))
    number = max(1, cfg.overhead_calls // cfg.repeat)
    timings = time_pair(blocks, cfg, number=number)
    values.update(best_of(timings))
    return [
        make_row(
            "overhead",
            "x + x, 4 elems (per call)",
            values,
            fmt=lambda s: f"{s * 1e6:.3f} µs",
            ratio=cost_ratio,
            goal=("<=", 0.7),
            data=timing_data(timings),
        )
    ]


def bench_autograd(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """Per-iteration cost of a tiny forward + backward; ratio = rustorch / torch."""
    log(f"autograd: (x*2+1).sum().backward(), {cfg.autograd_iters} iterations per library")

    def setup(mod: Any) -> Callable[[int], None]:
        x = mod.ones(4, requires_grad=True)
        return _autograd_loop(x)

    blocks, values = _per_lib(libs, setup)
    number = max(1, cfg.autograd_iters // cfg.repeat)
    timings = time_pair(blocks, cfg, number=number)
    values.update(best_of(timings))
    return [
        make_row(
            "autograd",
            "(x*2+1).sum().backward(), 4 elems",
            values,
            fmt=lambda s: f"{s * 1e6:.2f} µs/iter",
            ratio=cost_ratio,
            goal=("<=", 0.3),
            data=timing_data(timings),
        )
    ]


# ---- MLP ------------------------------------------------------------------------------


@dataclass
class MnistData:
    x_train: np.ndarray  # (N, 1, 28, 28) float32 in [0, 1]
    y_train: np.ndarray  # (N,) int64
    x_test: np.ndarray
    y_test: np.ndarray
    real: bool


def _read_idx(path: str, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def _images(path: str, limit: Optional[int] = None) -> np.ndarray:
    raw = _read_idx(path, 16).reshape(-1, 1, 28, 28)[:limit]
    x = raw.astype(np.float32)
    x /= 255.0  # in place: no second full-size temporary
    return x


def load_data(cfg: Config, with_test: bool = True) -> MnistData:
    """Fashion-MNIST from ``cfg.data_dir`` if present, else random data of the same shape.

    Only the first ``cfg.mlp_samples`` training samples are kept; ``with_test=False``
    leaves the test arrays empty (the memory child does not evaluate).
    """
    d = cfg.data_dir
    names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    n = cfg.mlp_samples
    n_test = 10_000 if with_test else 0
    if all(os.path.exists(os.path.join(d, f)) for f in names):
        return MnistData(
            x_train=_images(os.path.join(d, names[0]), n),
            y_train=_read_idx(os.path.join(d, names[1]), 8)[:n].astype(np.int64),
            x_test=_images(os.path.join(d, names[2]), n_test),
            y_test=_read_idx(os.path.join(d, names[3]), 8)[:n_test].astype(np.int64),
            real=True,
        )
    rng = np.random.default_rng(0)
    return MnistData(
        x_train=rng.random((n, 1, 28, 28), dtype=np.float32),
        y_train=rng.integers(0, 10, n, dtype=np.int64),
        x_test=rng.random((n_test, 1, 28, 28), dtype=np.float32),
        y_test=rng.integers(0, 10, n_test, dtype=np.int64),
        real=False,
    )


def build_mlp(mod: Any, kind: str) -> tuple[Any, Any]:
    """The two tutorial models: ``sgd`` (784-128-10) and ``adam`` (784-128-256-10)."""
    nn = mod.nn
    if kind == "sgd":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        return model, mod.optim.SGD(model.parameters(), lr=0.01)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )
    return model, mod.optim.Adam(model.parameters(), lr=1e-3)


SEGMENT = 100  # batches per timing segment; also how often the loop calls ``loss.item()``


def _train(
    loader: Any,
    model: Any,
    opt: Any,
    loss_fn: Any,
    max_batches: int = -1,
    deadline: Optional[float] = None,
) -> dict[str, Any]:
    """The usual tutorial loop, with ``loss.item()`` only every 100 batches.

    Besides the total wall time it records the time of each full 100-batch segment, and it
    stops early (``truncated``) once ``time.perf_counter()`` passes ``deadline``.
    """
    model.train()
    last = float("nan")
    marks = [time.perf_counter()]
    done = 0
    truncated = False
    for batch, (xb, yb) in enumerate(loader):
        if batch == max_batches:
            break
        if deadline is not None and time.perf_counter() > deadline:
            truncated = True
            break
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        if batch % SEGMENT == 0:
            last = loss.item()
        done = batch + 1
        if done % SEGMENT == 0:
            marks.append(time.perf_counter())
    seconds = time.perf_counter() - marks[0]
    segments = [b - a for a, b in zip(marks, marks[1:])]
    return {
        "loss": last,
        "batches": done,
        "seconds": seconds,
        "segments_s": segments,
        "truncated": truncated,
    }


def evaluate(mod: Any, model: Any, x: np.ndarray, y: np.ndarray, chunk: int = 1000) -> float:
    model.eval()
    correct = 0
    with mod.no_grad():
        for i in range(0, len(x), chunk):
            out = model(mod.from_numpy(x[i : i + chunk]))
            target = mod.from_numpy(y[i : i + chunk])
            correct += int((out.argmax(dim=1) == target).sum().item())
    return correct / len(x)


def run_mlp(
    mod: Any, kind: str, data: MnistData, cfg: Config, epochs: int, do_eval: bool = True
) -> dict[str, Any]:
    """Warm up on a throw-away model, then time ``epochs`` epochs of a fresh seeded one.

    ``epoch_s`` holds one wall time per epoch; an epoch cut short by ``cfg.mlp_timeout_s``
    is extrapolated from the batches it did. ``segment_epoch_s`` is the epoch time implied
    by the fastest 100-batch segment: less exposed to bursts of load from other processes.
    """
    data_mod = mod.utils.data
    mod.manual_seed(0)
    dataset = data_mod.TensorDataset(mod.from_numpy(data.x_train), mod.from_numpy(data.y_train))
    loader = data_mod.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True)
    loss_fn = mod.nn.CrossEntropyLoss()
    total = -(-len(data.x_train) // cfg.batch_size)  # batches per epoch

    scratch, scratch_opt = build_mlp(mod, kind)
    _train(loader, scratch, scratch_opt, loss_fn, max_batches=cfg.warmup_batches)
    del scratch, scratch_opt

    mod.manual_seed(0)
    model, opt = build_mlp(mod, kind)
    runs = []
    for _ in range(epochs):
        deadline = time.perf_counter() + cfg.mlp_timeout_s if cfg.mlp_timeout_s > 0 else None
        runs.append(_train(loader, model, opt, loss_fn, deadline=deadline))
    segments = [s for r in runs for s in r["segments_s"]]
    result: dict[str, Any] = {
        "epoch_s": [r["seconds"] * total / max(r["batches"], 1) for r in runs],
        "segment_epoch_s": min(segments) / SEGMENT * total if segments else None,
        "truncated": any(r["truncated"] for r in runs),
        "batches_per_epoch": total,
        "epochs": runs,
    }
    if do_eval:
        result["acc"] = evaluate(mod, model, data.x_test, data.y_test)
    return result


def _epoch_label(samples: int, epochs: int = 1) -> str:
    """``epoch``, ``3 epochs``, ``epoch of 15k`` ..."""
    text = "epoch" if epochs == 1 else f"{epochs} epochs"
    return text if samples == 60_000 else f"{text} of {samples / 1000:g}k"


def bench_mlp(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """Seconds per epoch (ratio rustorch / torch) and test accuracy after training."""
    data = load_data(cfg)
    n = len(data.x_train)
    src = "Fashion-MNIST" if data.real else "random data"
    rows = []
    for kind, title in (("sgd", "784-128-10 SGD"), ("adam", "784-128-256-10 Adam")):
        results: dict[str, Value] = {}
        for lib in LIBS:
            mod = libs[lib]
            if isinstance(mod, BaseException):
                results[lib] = mod
                continue
            log(f"mlp {kind}: {lib}, {cfg.epochs_mlp} epoch(s) of {n} samples")
            try:
                r = results[lib] = run_mlp(mod, kind, data, cfg, cfg.epochs_mlp)
                cut = " (cut short by --mlp-timeout)" if r["truncated"] else ""
                log(f"  {lib}: {[round(s, 2) for s in r['epoch_s']]} s{cut}, acc {r['acc']:.4f}")
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                results[lib] = exc

        def pick(key: str, results=results) -> dict[str, Value]:
            out: dict[str, Value] = {}
            for lib, r in results.items():
                if not isinstance(r, dict):
                    out[lib] = r
                elif key == "epoch_s":
                    out[lib] = statistics.median(r["epoch_s"])
                else:
                    out[lib] = r[key]  # None (no full segment) shows as n/a
            return out

        size = _epoch_label(n)
        wall = make_row(
            "mlp",
            f"MLP {title}, {size} ({src})",
            pick("epoch_s"),
            fmt=lambda s: f"{s:.2f} s/epoch",
            ratio=cost_ratio,
            goal=("<=", 0.6),
            data={
                "runs": {lib: r for lib, r in results.items() if isinstance(r, dict)},
                "samples": n,
                "real_data": data.real,
            },
        )
        best = make_row(
            "mlp",
            f"MLP {title}, {size} from its fastest {SEGMENT}-batch segment",
            pick("segment_epoch_s"),
            fmt=lambda s: f"{s:.2f} s/epoch",
            ratio=cost_ratio,
            goal=("<=", 0.6),
        )
        test = "test acc" if data.real else "test acc (random labels)"
        acc = make_row(
            "mlp",
            f"MLP {title}, {test} after {_epoch_label(n, cfg.epochs_mlp)} (own seeded init)",
            pick("acc"),
            fmt=lambda a: f"{a * 100:.2f} %",
            ratio=lambda rt, th: (rt - th) * 100,
            ratio_fmt=lambda d: f"Δ {d:+.2f} pp",
        )
        for lib, r in results.items():
            if isinstance(r, dict) and r["truncated"]:
                wall.cells[lib] += f" (extrapolated: cut at {cfg.mlp_timeout_s:g} s)"
                acc.cells[lib] += " (partial epoch)"
        rows += [wall, best, acc]
    return rows


# ---- accuracy from the same start ---------------------------------------------------


class _SharedShuffle:
    """A sampler drawing each epoch's permutation from its own NumPy generator: two loaders
    built with the same seed visit the samples in the same order, whatever the library."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.rng = n, np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter(self.rng.permutation(self.n).tolist())


def _same_start_models(libs: dict[str, Any], kind: str, seed: int) -> dict[str, Any]:
    """(model, optimizer) per library: torch's model as built under ``seed``, and a rustorch
    model loaded with the same initial weights."""
    torch, rt = libs["torch"], libs["rustorch"]
    torch.manual_seed(seed)
    pairs = {"torch": build_mlp(torch, kind)}
    model, opt = build_mlp(rt, kind)
    start = pairs["torch"][0].state_dict()
    model.load_state_dict({k: rt.from_numpy(v.numpy().copy()) for k, v in start.items()})
    pairs["rustorch"] = (model, opt)  # the optimizer holds the parameters, now overwritten
    return pairs


def bench_accuracy(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """Test accuracy per epoch when both libraries start from the same weights and see the
    batches in the same order: any gap is the engine's numerics, not the seed's luck."""
    if any(isinstance(libs[lib], BaseException) for lib in LIBS):
        raise RuntimeError("needs both libraries")
    data = load_data(cfg)
    epochs = cfg.epochs_accuracy
    rows = []
    for kind, title in (("sgd", "784-128-10 SGD"), ("adam", "784-128-256-10 Adam")):
        curves: dict[str, list[float]] = {}
        for lib, (model, opt) in _same_start_models(libs, kind, seed=0).items():
            mod = libs[lib]
            dataset = mod.utils.data.TensorDataset(
                mod.from_numpy(data.x_train), mod.from_numpy(data.y_train)
            )
            loader = mod.utils.data.DataLoader(
                dataset, batch_size=cfg.batch_size, sampler=_SharedShuffle(len(dataset), 1)
            )
            loss_fn = mod.nn.CrossEntropyLoss()
            log(f"accuracy {kind}: {lib}, {epochs} epoch(s) from the shared start")
            curves[lib] = []
            for _ in range(epochs):
                _train(loader, model, opt, loss_fn)
                curves[lib].append(evaluate(mod, model, data.x_test, data.y_test))
            log(f"  {lib}: {[round(a * 100, 2) for a in curves[lib]]}")
        for at in sorted({1, epochs}):
            rows.append(
                make_row(
                    "accuracy",
                    f"MLP {title}, test acc after {at} epoch{'s' if at > 1 else ''}, same start",
                    {lib: curves[lib][at - 1] for lib in LIBS},
                    fmt=lambda a: f"{a * 100:.2f} %",
                    ratio=lambda rt, th: (rt - th) * 100,
                    ratio_fmt=lambda d: f"Δ {d:+.2f} pp",
                    data={"curves": curves},
                )
            )
        if kind == "adam":
            best = {lib: max(c) for lib, c in curves.items()}
            rows.append(
                make_row(
                    "accuracy",
                    f"MLP {title}, test acc after {epochs} epochs (goal: rustorch ≥ 88 %)",
                    {lib: curves[lib][-1] for lib in LIBS},
                    fmt=lambda a: f"{a * 100:.2f} %",
                    ratio=lambda rt, th: rt * 100,
                    ratio_fmt=lambda a: f"{a:.2f} %",
                    goal=(">=", 88.0),
                    data={"best": best},
                )
            )
    return rows


# ---- peak memory ----------------------------------------------------------------------


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _vmhwm_bytes() -> Optional[int]:
    """Linux per-process peak RSS (``VmHWM``), a cross-check for ``ru_maxrss``."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def child_mem(lib: str, cfg: Config) -> int:
    """Child process: one SGD-MLP epoch with only ``lib`` imported; print peak RSS."""
    at_start = _maxrss_bytes()
    mod = import_lib(lib, cfg.torch_threads)
    after_import = _maxrss_bytes()
    data = load_data(cfg, with_test=False)
    after_data = _maxrss_bytes()
    t0 = time.perf_counter()
    run_mlp(mod, "sgd", data, cfg, epochs=1, do_eval=False)
    out = {
        "lib": lib,
        "maxrss_start": at_start,
        "maxrss_import": after_import,
        "maxrss_data": after_data,
        "maxrss": _maxrss_bytes(),
        "vmhwm": _vmhwm_bytes(),
        "seconds": time.perf_counter() - t0,
    }
    print(CHILD_MARKER + json.dumps(out), flush=True)
    return 0


def _child_command(args: list[str]) -> list[str]:
    """Command line for a measurement child whose ``ru_maxrss`` starts clean.

    Linux carries the parent's peak RSS into a directly spawned child's ``ru_maxrss`` (it is
    recorded at exec from the address space being replaced). Going through ``sh``, which
    *forks* the interpreter (``; exit $?`` stops it from exec-ing in place), makes the
    child's starting value that of the small shell instead.
    """
    cmd = [sys.executable, *args]
    if os.name == "posix" and os.path.exists("/bin/sh"):
        return ["/bin/sh", "-c", '"$0" "$@"; exit $?', *cmd]
    return cmd


def bench_mem(libs: dict[str, Any], cfg: Config) -> list[Row]:
    """Peak RSS (MiB) of the SGD-MLP epoch per library, each in a fresh subprocess."""
    results: dict[str, Value] = {}
    for lib in LIBS:
        log(f"mem: SGD-MLP epoch in a subprocess with only {lib} imported")
        cmd = [
            os.path.abspath(__file__),
            "--child",
            "mem",
            "--lib",
            lib,
            "--mlp-samples",
            str(cfg.mlp_samples),
            "--data-dir",
            cfg.data_dir,
            "--mlp-timeout",
            str(cfg.mlp_timeout_s),
            "--torch-threads",
            str(cfg.torch_threads),
        ]
        if cfg.quick:
            cmd.append("--quick")
        try:
            proc = subprocess.run(_child_command(cmd), capture_output=True, text=True, timeout=900)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_MARKER)]
            if proc.returncode != 0 or not lines:
                tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
                raise RuntimeError(f"child exited {proc.returncode}: {tail}")
            results[lib] = json.loads(lines[-1][len(CHILD_MARKER) :])
        except Exception as exc:
            results[lib] = exc
    raw = {lib: r for lib, r in results.items() if isinstance(r, dict)}

    def pick(key: str) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for lib, r in results.items():
            if not isinstance(r, dict):
                out[lib] = r
            elif r["maxrss_start"] > INHERITED_RSS_LIMIT:
                # the launcher trick did not work here: ru_maxrss holds the parent's peak
                if key == "maxrss" and r.get("vmhwm"):
                    out[lib] = r["vmhwm"] / MiB
                else:
                    out[lib] = RuntimeError(
                        f"ru_maxrss inherited ({r['maxrss_start'] / MiB:.0f} MiB at start)"
                    )
            else:
                out[lib] = r[key] / MiB
        return out

    size = _epoch_label(cfg.mlp_samples)
    return [
        make_row(
            "mem",
            f"peak RSS, SGD-MLP {size} (subprocess)",
            pick("maxrss"),
            fmt=lambda m: f"{m:.0f} MiB",
            ratio=cost_ratio,
            data={"runs": raw},
        ),
        make_row(
            "mem",
            "peak RSS after import only (subprocess)",
            pick("maxrss_import"),
            fmt=lambda m: f"{m:.0f} MiB",
            ratio=cost_ratio,
        ),
    ]


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------

LEGEND = """\
Ratio orientation:
- matmul: rustorch GFLOP/s ÷ torch GFLOP/s — higher is better (>1: rustorch faster).
- elementwise / sum: speed ratio = torch time ÷ rustorch time — >1: rustorch faster.
- overhead, autograd, MLP epoch, memory: rustorch ÷ torch — lower is better (<1: rustorch
  cheaper).
- accuracy: rustorch minus torch, in percentage points (parity check, not a speed metric).
- goal: ✓ met / ✗ missed. Micro-benchmarks report the fastest of the interleaved timed
  blocks (min-of-N); MLP epochs the median epoch's wall time, and on the "fastest segment"
  rows the epoch time implied by the fastest 100-batch stretch (robust to load bursts)."""


def _loadavg() -> str:
    if not hasattr(os, "getloadavg"):
        return "?"
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def busy_note(start_load: Optional[float]) -> str:
    """A warning when other work was keeping the CPUs busy while the benchmarks ran."""
    cpus = os.cpu_count() or 1
    if start_load is None or start_load < 0.5 * cpus:
        return ""
    return (
        f"Note: the 1-minute load average was {start_load:.1f} on {cpus} CPUs at the start: "
        "other work shares the machine, so timings are noisy (torch's OpenMP-parallel ops "
        "suffer most when threads get descheduled). Rerun on a quiet machine before drawing "
        "conclusions."
    )


def header(libs: dict[str, Any], cfg: Config) -> str:
    def ver(name: str) -> str:
        mod = libs.get(name)
        if isinstance(mod, BaseException) or mod is None:
            return f"{name} (import failed: {_clean(mod, 60)})"
        where = os.path.dirname(os.path.dirname(getattr(mod, "__file__", "") or ""))
        extra = f" [{where}]" if name == "rustorch" and where else ""
        return f"{name} {getattr(mod, '__version__', '?')}{extra}"

    torch_mod = libs.get("torch")
    threads = torch_mod.get_num_threads() if not isinstance(torch_mod, BaseException) else "n/a"
    if cfg.torch_threads > 0:
        threads = f"{threads} (set by --torch-threads, not the default)"
    load = _loadavg()
    mode = "quick" if cfg.quick else "full"
    return (
        f"**rustorch vs PyTorch** — {ver('rustorch')} · {ver('torch')} · numpy "
        f"{np.__version__} · Python {platform.python_version()} · {platform.system()} "
        f"{platform.machine()} · os.cpu_count()={os.cpu_count()} · "
        f"torch.get_num_threads()={threads} · load avg {load} · {mode} run, "
        f"{cfg.repeat} timed blocks per micro-benchmark"
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | rustorch | torch | ratio | goal |",
        "|---|---:|---:|---:|:---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.cells['rustorch']} | {row.cells['torch']} "
            f"| {row.ratio} | {row.goal} |"
        )
    return "\n".join(lines)


BENCHES: dict[str, Callable[[dict[str, Any], Config], list[Row]]] = {
    "matmul": bench_matmul,
    "elementwise": bench_elementwise,
    "overhead": bench_overhead,
    "autograd": bench_autograd,
    "mlp": bench_mlp,
    "accuracy": bench_accuracy,
    "mem": bench_mem,
}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark rustorch against PyTorch (CPU) and print a Markdown table.",
    )
    p.add_argument("--quick", action="store_true", help="shorter run (fewer repeats, 1/4 epoch)")
    p.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help=f"run only these sections (comma-separated or repeated): {', '.join(SECTIONS)}",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument(
        "--epochs-mlp", type=int, default=0, help="epochs timed per MLP (default 3, median)"
    )
    p.add_argument(
        "--epochs-accuracy", type=int, default=0, help="epochs of the accuracy runs (default 10)"
    )
    p.add_argument(
        "--mlp-samples", type=int, default=0, help="training samples per epoch (default 60000)"
    )
    p.add_argument(
        "--mlp-timeout",
        type=float,
        metavar="S",
        help="cut an MLP epoch after S seconds and extrapolate (default 30, quick 15, 0: never)",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        metavar="N",
        help="call torch.set_num_threads(N) (default: leave torch's default; diagnostic only)",
    )
    p.add_argument("--repeat", type=int, default=0, help="timed blocks per micro-benchmark")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="Fashion-MNIST IDX .gz folder")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: run the GPU suite of bench_cuda.py instead, with the other options passed "
        "on to it (see --device cuda --help)",
    )
    p.add_argument("--child", choices=["mem"], help=argparse.SUPPRESS)
    p.add_argument("--lib", choices=LIBS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sections: list[str] = []
    for item in args.only or []:
        for name in item.split(","):
            name = name.strip()
            if name and name not in SECTIONS:
                p.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
            if name and name not in sections:
                sections.append(name)
    args.sections = [s for s in SECTIONS if s in sections] if sections else list(SECTIONS)
    if args.child and not args.lib:
        p.error("--child needs --lib")
    return args


def _device_and_rest(argv: list[str]) -> tuple[str, list[str]]:
    """``--device`` (default ``cpu``) and the other options, untouched."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    known, rest = pre.parse_known_args(argv)
    return known.device, rest


def run_cuda(argv: list[str]) -> int:
    """``--device cuda``: the GPU suite (``bench_cuda.main``) with the remaining options."""
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import bench_cuda

    return bench_cuda.main(argv)


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    device, rest = _device_and_rest(argv)
    if device == "cuda":
        return run_cuda(rest)
    args = parse_args(argv)
    cfg = Config.from_args(args)
    if args.child == "mem":
        return child_mem(args.lib, cfg)

    start = time.perf_counter()
    start_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    libs: dict[str, Any] = {}
    for name in LIBS:
        try:
            libs[name] = import_lib(name, cfg.torch_threads)
        except Exception as exc:
            libs[name] = exc
    head = header(libs, cfg)

    rows: list[Row] = []
    for section in args.sections:
        try:
            rows.extend(BENCHES[section](libs, cfg))
        except Exception as exc:  # one broken section must not end the run
            traceback.print_exc(file=sys.stderr)
            rows.append(error_row(section, f"{section} (section failed)", exc))
    elapsed = time.perf_counter() - start

    print(head)
    print()
    print(table(rows))
    print()
    print(LEGEND)
    print()
    print(f"Total benchmark time: {elapsed:.0f} s; load avg at the end {_loadavg()}.")
    note = busy_note(start_load)
    if note:
        print(note)

    if args.json:
        payload = {
            "header": head,
            "config": vars(cfg),
            "sections": args.sections,
            "elapsed_s": elapsed,
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
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, default=str)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
