"""Fuzz the public API against PyTorch: random ops and methods, random tensors (every dtype,
0-d and 0-size, non-contiguous, expanded) and random arguments (dims out of range, bools,
negative and huge sizes), each call run on rustorch and on PyTorch in a guarded subprocess.

    PYTHONPATH=python python3 benches/fuzz_api.py --cases 100000 --seed 0

The parent runs the calls in a worker process and restarts it past any call that kills it,
so a crash (abort, segfault, hang) is caught and reported with the call that caused it.
Each call ends as one of:

* ``crash``: the worker died or hung on it (never acceptable);
* ``panic``: rustorch raised ``PanicException`` (a Rust panic: never acceptable);
* ``wrong``: both succeeded with different dtypes, shapes or values (never acceptable);
* ``raised``: PyTorch succeeded and rustorch raised; ``accepted``: the reverse;
* ``ok``: both succeeded alike, or both raised.

Prints the counts and the reproducer of every call in the first four classes.
``tests/test_fuzz_api.py`` runs a seeded slice in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import numpy as np

# The classes no call may end in.
NEVER = ("crash", "panic", "wrong")

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool"]

# Method calls: name -> argument maker (rng, tensor rank) -> positional args. `T` stands for
# a second tensor operand of the same shape (or broadcastable), `I` for an int64 index
# tensor.
UNARY = ["abs", "neg", "exp", "log", "sqrt", "sin", "tanh", "sigmoid", "relu", "floor",
         "ceil", "round", "sign", "reciprocal", "isnan", "logical_not", "clone", "t",
         "contiguous", "float", "long", "bool", "half", "char", "nonzero", "numel_t"]
BINARY = ["add", "sub", "mul", "div", "floor_divide", "remainder", "pow", "maximum",
          "minimum", "eq", "lt", "ge", "ne", "bitwise_and", "bitwise_or", "logical_and",
          "fmod", "atan2"]
DIM_OPS = ["sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "std", "var",
           "logsumexp", "all", "any", "cumsum", "cumprod", "softmax", "log_softmax",
           "squeeze", "unsqueeze", "flip", "sort", "max", "min", "unbind", "count_nonzero"]


def _dim(rng: random.Random, rank: int) -> Any:
    r = rng.random()
    if r < 0.05:
        return rng.choice([True, False])
    if r < 0.12:
        return rng.choice([rank + 1, -rank - 2, 5])
    return rng.randint(-max(rank, 1), max(rank, 1) - 1)


def _size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.03:
        return rng.choice([-1, -2, 2**40, 2**62])
    return rng.randint(0, 4)


def make_case(rng: random.Random) -> dict:
    """One random call, as plain data (so that it can be printed and replayed)."""
    rank = rng.choice([0, 1, 1, 2, 2, 3])
    shape = [rng.choice([0, 1, 2, 3, 4]) if rng.random() < 0.15 else rng.randint(1, 4)
             for _ in range(rank)]
    case = {
        "dtype": rng.choice(DTYPES),
        "shape": shape,
        "layout": rng.choice(["contiguous", "contiguous", "transposed", "strided", "expanded"]),
        "seed": rng.randrange(2**31),
    }
    kind = rng.choice(["unary", "binary", "binary", "dim", "dim", "shape", "index", "misc"])
    if kind == "unary":
        case.update(op=rng.choice(UNARY), args=[])
    elif kind == "binary":
        other = rng.choice(["tensor", "tensor", "int", "float", "bool", "bcast"])
        case.update(op=rng.choice(BINARY), other=other, other_dtype=rng.choice(DTYPES),
                    args=[])
    elif kind == "dim":
        op = rng.choice(DIM_OPS)
        args: list = [_dim(rng, rank)]
        if op in ("sum", "mean", "amax", "amin", "std", "var", "logsumexp") and \
                rng.random() < 0.3:
            args = [[_dim(rng, rank) for _ in range(rng.randint(0, 2))]]
        if op == "flip" and not isinstance(args[0], list):
            args = [[args[0]]]
        keep = op in ("sum", "mean", "prod", "amax", "amin", "argmax", "argmin", "std", "var",
                      "logsumexp", "all", "any", "max", "min")
        if keep and rng.random() < 0.5:
            args.append(rng.choice([True, False]))
        case.update(op=op, args=args)
    elif kind == "shape":
        op = rng.choice(["reshape", "view", "permute", "transpose", "narrow", "select",
                         "expand", "repeat", "chunk", "split", "roll", "tril", "triu", "topk",
                         "flatten", "movedim"])
        if op in ("reshape", "view", "expand", "repeat"):
            args = [[_size(rng) for _ in range(rng.randint(0, 3))]]
        elif op == "permute":
            perm = list(range(rank))
            rng.shuffle(perm)
            if rng.random() < 0.1:
                perm = perm[:-1] or [0, 0]
            args = [perm]
        elif op in ("transpose", "movedim", "flatten"):
            args = [_dim(rng, rank), _dim(rng, rank)]
        elif op == "narrow":
            args = [_dim(rng, rank), rng.randint(-2, 3), rng.randint(-1, 3)]
        elif op == "select":
            args = [_dim(rng, rank), rng.randint(-3, 3)]
        elif op in ("chunk", "split"):
            args = [rng.randint(-1, 3), _dim(rng, rank)]
        elif op == "roll":
            args = [rng.randint(-3, 3), _dim(rng, rank)]
        elif op in ("tril", "triu"):
            args = [rng.randint(-2, 2)]
        else:  # topk
            args = [rng.randint(-1, 3), _dim(rng, rank)]
        case.update(op=op, args=args)
    elif kind == "index":
        op = rng.choice(["index_select", "gather", "masked_fill", "getitem", "take"])
        case.update(op=op, dim=_dim(rng, rank), index_high=rng.choice([1, 3, 5]),
                    index_rank=rng.randint(0, 2), value=rng.choice([0, 1.5, -2, True]),
                    args=[])
    else:
        op = rng.choice(["clamp", "to", "where", "cat", "matmul", "masked_select", "clamp_t",
                         "new_full", "fill_", "add_"])
        case.update(op=op, args=[rng.choice([None, -1, 0.5, 2]), rng.choice([None, 1, 3.5])],
                    to=rng.choice(DTYPES), other_dtype=rng.choice(DTYPES))
    return case


def _array(shape: list, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype in ("float32", "float64", "float16", "bfloat16"):
        a = rng.standard_normal(shape) * 3
        if a.size > 2 and rng.random() < 0.3:
            a.flat[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf, 0.0])
        return a.astype(np.float32 if dtype in ("float16", "bfloat16") else dtype)
    lo = 0 if dtype == "uint8" else -9
    return rng.integers(lo, 10, shape).astype(dtype)


def _tensor(lib: Any, shape: list, dtype: str, layout: str, seed: int) -> Any:
    if layout == "transposed" and len(shape) >= 2:
        t = lib.from_numpy(np.ascontiguousarray(_array(shape[::-1], dtype, seed)))
        t = t.permute(*reversed(range(len(shape))))
    elif layout == "strided" and shape:
        big = list(shape)
        big[-1] *= 2
        t = lib.from_numpy(_array(big, dtype, seed))[..., ::2]
    elif layout == "expanded" and shape:
        small = [1 if i % 2 == 0 else s for i, s in enumerate(shape)]
        t = lib.from_numpy(_array(small, dtype, seed)).expand(*shape)
    else:
        t = lib.from_numpy(_array(shape, dtype, seed))
    if dtype in ("float16", "bfloat16"):
        t = t.to(getattr(lib, dtype))
    return t


def _call(lib: Any, case: dict) -> Any:
    x = _tensor(lib, case["shape"], case["dtype"], case["layout"], case["seed"])
    op, args = case["op"], list(case["args"])
    if op == "numel_t":
        return lib.tensor(x.numel())
    if op in BINARY:
        other = case["other"]
        if other == "tensor":
            y = _tensor(lib, case["shape"], case["other_dtype"], "contiguous", case["seed"] + 1)
        elif other == "bcast":
            y = _tensor(lib, case["shape"][-1:], case["other_dtype"], "contiguous",
                        case["seed"] + 1)
        else:
            y = {"int": 3, "float": -1.5, "bool": True}[other]
        return getattr(x, op)(y)
    if op in ("index_select", "gather", "masked_fill", "getitem", "take"):
        rng = np.random.default_rng(case["seed"] + 2)
        if op == "masked_fill":
            mask = lib.from_numpy(rng.random(case["shape"]) < 0.5)
            return x.masked_fill(mask, case["value"])
        if op == "gather":
            ishape = list(case["shape"])
            idx = lib.from_numpy(rng.integers(0, case["index_high"], ishape).astype(np.int64))
            return x.gather(case["dim"], idx)
        n = rng.integers(0, 4)
        idx = lib.from_numpy(rng.integers(-1, case["index_high"], [n] if case["index_rank"]
                                          else []).astype(np.int64))
        if op == "index_select":
            return x.index_select(case["dim"], idx.reshape(-1))
        if op == "take":
            return x.take(idx)
        return x[idx]
    if op == "clamp":
        return x.clamp(*args)
    if op == "clamp_t":
        return x.clamp(min=lib.zeros(()).to(getattr(lib, case["other_dtype"])))
    if op == "to":
        return x.to(getattr(lib, case["to"]))
    if op == "where":
        return lib.where(x > 0, x, _tensor(lib, case["shape"], case["other_dtype"],
                                            "contiguous", case["seed"] + 3))
    if op == "cat":
        y = _tensor(lib, case["shape"], case["other_dtype"], "contiguous", case["seed"] + 3)
        return lib.cat([x, y], args[0] if isinstance(args[0], int) else 0)
    if op == "matmul":
        return x @ _tensor(lib, case["shape"][::-1], case["other_dtype"], "contiguous",
                           case["seed"] + 3)
    if op == "masked_select":
        return x.masked_select(x != 0)
    if op == "new_full":
        return x.new_full([abs(a) for a in args if isinstance(a, int)], 2)
    if op == "fill_":
        y = x.clone()
        return y.fill_(args[1] if args[1] is not None else 7)
    if op == "add_":
        y = x.clone()
        return y.add_(_tensor(lib, case["shape"], case["other_dtype"], "contiguous",
                              case["seed"] + 3))
    if op in ("reshape", "view", "expand", "repeat", "permute"):
        return getattr(x, op)(*args[0])
    if op in ("sum", "mean", "amax", "amin", "std", "var", "logsumexp") and args and \
            isinstance(args[0], list):
        return getattr(x, op)(tuple(args[0]), *args[1:])
    if op == "flip":
        return x.flip(args[0])
    if op == "topk":
        # Which of equal elements topk picks, and in what order, is unspecified in PyTorch
        # (its CPU kernel's partial sort decides): compare the values the indices select.
        values, indices = x.topk(*args)
        return values, x.gather(args[1], indices) if x.dim() else x.reshape(-1)[indices]
    return getattr(x, op)(*args)


def _plain(lib: Any, out: Any) -> Any:
    """A result as comparable plain data: (dtype name, shape, float64 values)."""
    if isinstance(out, (tuple, list)):
        return [_plain(lib, o) for o in out]
    if not hasattr(out, "dtype"):
        return ("py", repr(out))
    name = str(out.dtype).split(".")[-1]
    vals = out.detach().cpu()
    if name == "bfloat16" or name == "float16":
        vals = vals.float()
    return (name, list(out.shape), vals.numpy().astype(np.float64))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
            all(_same(x, y) for x, y in zip(a, b))
    if a[0] == "py" or b[0] == "py":
        return a == b
    if a[0] != b[0] or a[1] != b[1]:
        return False
    tol = {"float16": 2e-3, "bfloat16": 1.6e-2, "float32": 2e-5}.get(a[0], 1e-12)
    return bool(np.allclose(a[2], b[2], rtol=tol, atol=tol, equal_nan=True))


def run_case(rt: Any, torch: Any, case: dict) -> tuple[str, str]:
    """(class, detail) of one call (see the module docstring)."""
    import warnings

    results = []
    for lib in (rt, torch):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                results.append(("value", _plain(lib, _call(lib, case))))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # noqa: BLE001 - PanicException is a BaseException
                results.append(("error", f"{type(e).__name__}: {str(e)[:200]}"))
    (ours, a), (theirs, b) = results
    if ours == "error" and a.startswith("PanicException"):
        return "panic", a
    if ours == "value" and theirs == "value":
        return ("ok", "") if _same(a, b) else ("wrong", f"ours {a!r:.300} torch {b!r:.300}")
    if ours == theirs:
        return "ok", ""
    if ours == "error":
        return "raised", a
    return "accepted", f"torch: {b}"


def worker(seed: int, start: int, count: int) -> None:
    """Runs calls `start .. start+count` of the seeded stream, one JSON line each."""
    import importlib

    import torch

    # The library under test (PyTorch itself when the suite validates itself).
    rt = importlib.import_module(os.environ.get("RUSTORCH_FUZZ_LIB", "rustorch"))

    torch.set_num_threads(1)
    rng = random.Random(seed)
    cases = [make_case(rng) for _ in range(start + count)][start:]
    for i, case in enumerate(cases, start):
        print(json.dumps({"start": i}), flush=True)
        kind, detail = run_case(rt, torch, case)
        print(json.dumps({"i": i, "kind": kind, "detail": detail}), flush=True)


def fuzz(seed: int, cases: int, timeout: float = 60.0,
         progress: Callable[[int], None] | None = None, lib: str = "rustorch") -> dict:
    """Runs `cases` calls of the seeded stream in guarded worker processes (testing `lib`);
    returns the counts per class and the reproducers of the bad ones."""
    counts = {k: 0 for k in ("ok", "raised", "accepted", "wrong", "panic", "crash")}
    bad: list[dict] = []
    rng = random.Random(seed)
    all_cases = [make_case(rng) for _ in range(cases)]
    i = 0
    env = dict(os.environ, RUSTORCH_FUZZ_LIB=lib)
    while i < cases:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(seed), str(i), str(cases - i)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        last_start = None
        seen = [time.monotonic()]
        stop = threading.Event()

        def watchdog(proc: subprocess.Popen = proc, stop: threading.Event = stop,
                     seen: list = seen) -> None:
            # A call that hangs is a crash too: kill the worker after `timeout` of silence.
            while not stop.wait(1.0):
                if time.monotonic() - seen[0] > timeout:
                    proc.kill()
                    return

        guard = threading.Thread(target=watchdog, daemon=True)
        guard.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            msg = json.loads(line)
            seen[0] = time.monotonic()
            if "start" in msg:
                last_start = msg["start"]
                continue
            kind = msg["kind"]
            counts[kind] += 1
            # Every never-acceptable call; the first thousand of the others.
            if kind in NEVER or (kind != "ok" and len(bad) < 1000):
                bad.append({"kind": kind, "detail": msg["detail"], "case": all_cases[msg["i"]]})
            i = msg["i"] + 1
            last_start = None
            if progress:
                progress(i)
        proc.wait()
        stop.set()
        if last_start is not None:  # died (or hung) on this call
            err = (proc.stderr.read() if proc.stderr else "")[-500:]
            counts["crash"] += 1
            bad.append({"kind": "crash", "detail": f"exit {proc.returncode}: {err}",
                        "case": all_cases[last_start]})
            i = last_start + 1
        elif proc.returncode != 0 and i < cases:
            raise RuntimeError(f"fuzz worker failed: {proc.stderr.read() if proc.stderr else ''}")
    return {"counts": counts, "bad": bad}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=30, help="reproducers printed per class")
    a = p.parse_args()
    try:
        from tqdm import tqdm

        bar = tqdm(total=a.cases, desc="fuzz calls")
        done = [0]

        def progress(i: int) -> None:
            bar.update(i - done[0])
            done[0] = i
    except ImportError:
        progress = None  # type: ignore[assignment]
    result = fuzz(a.seed, a.cases, progress=progress)
    print(json.dumps(result["counts"]))
    for kind in ("crash", "panic", "wrong", "raised", "accepted"):
        shown = [b for b in result["bad"] if b["kind"] == kind][: a.show]
        for b in shown:
            print(f"[{kind}] {b['detail'][:300]}\n    {json.dumps(b['case'])}")


if __name__ == "__main__":
    main()
