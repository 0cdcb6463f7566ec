#!/usr/bin/env python3
"""Single-op sweep of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_ops.py [--rows N] [--only OP,OP,...] [--rounds R]

Each op runs on float32 tensors of ``[N, 512]`` (N = 4096 by default: 2M elements, past
every threading threshold), forward only as user code calls it, except the rows named
``fwd+bwd`` (the op and its gradient). Each library's time is
its best block of repeated calls over ``--rounds`` blocks (3 by default), the two
libraries' blocks alternating. Prints a Markdown table sorted by the ratio (rustorch ÷
torch time, lower is better), slowest first: the sweep is a regression net for ops that
fall off their vectorised or threaded path (a libm call per element, an element-by-element
strided walk), which a model benchmark averages away.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _grad(lib, f, a, g):
    """`d f(a) / d a` for the upstream gradient `g` (a detached copy of `a` records)."""
    x = a.detach().requires_grad_()
    return lib.autograd.grad(f(x), [x], g)[0]


# name -> f(lib, a, b, row, col, idx): `a`, `b` [N, 512]; `row` [512]; `col` [N, 1];
# `idx` 4096 row indices.
OPS = {
    "exp": lambda L, a, b, r, c, i: a.exp(),
    "log": lambda L, a, b, r, c, i: b.log(),
    "log1p": lambda L, a, b, r, c, i: b.log1p(),
    "sigmoid": lambda L, a, b, r, c, i: a.sigmoid(),
    "tanh": lambda L, a, b, r, c, i: a.tanh(),
    "relu": lambda L, a, b, r, c, i: L.relu(a),
    "gelu": lambda L, a, b, r, c, i: L.nn.functional.gelu(a),
    "gelu (tanh)": lambda L, a, b, r, c, i: L.nn.functional.gelu(a, approximate="tanh"),
    "silu": lambda L, a, b, r, c, i: L.nn.functional.silu(a),
    # the activation and its gradient for the upstream gradient `b`
    "gelu fwd+bwd": lambda L, a, b, r, c, i: _grad(L, L.nn.functional.gelu, a, b),
    "gelu (tanh) fwd+bwd": lambda L, a, b, r, c, i: _grad(
        L, lambda x: L.nn.functional.gelu(x, approximate="tanh"), a, b),
    "silu fwd+bwd": lambda L, a, b, r, c, i: _grad(L, L.nn.functional.silu, a, b),
    "erf": lambda L, a, b, r, c, i: a.erf(),
    "softplus": lambda L, a, b, r, c, i: L.nn.functional.softplus(a),
    "sqrt": lambda L, a, b, r, c, i: b.sqrt(),
    "x ** 2": lambda L, a, b, r, c, i: a**2,
    "x ** 3": lambda L, a, b, r, c, i: a**3,
    "x ** 0.5": lambda L, a, b, r, c, i: b**0.5,
    "x ** 3.5": lambda L, a, b, r, c, i: b**3.5,
    "a + b": lambda L, a, b, r, c, i: a + b,
    "a * b": lambda L, a, b, r, c, i: a * b,
    "a / b": lambda L, a, b, r, c, i: a / b,
    "a + row": lambda L, a, b, r, c, i: a + r,
    "a + column": lambda L, a, b, r, c, i: a + c,
    "a * 2.5": lambda L, a, b, r, c, i: a * 2.5,
    "a.add(b, alpha=)": lambda L, a, b, r, c, i: a.add(b, alpha=0.5),
    "a.add_(b)": lambda L, a, b, r, c, i: a.add_(b),
    "a.mul_(1.0)": lambda L, a, b, r, c, i: a.mul_(1.0),
    "a > 0": lambda L, a, b, r, c, i: a > 0,
    "where(a > 0, a, b)": lambda L, a, b, r, c, i: L.where(a > 0, a, b),
    "where(a > 0, a, 0.0)": lambda L, a, b, r, c, i: L.where(a > 0, a, 0.0),
    "masked_fill": lambda L, a, b, r, c, i: a.masked_fill(a > 0, 0.0),
    "clamp": lambda L, a, b, r, c, i: a.clamp(-1, 1),
    "addcmul": lambda L, a, b, r, c, i: L.addcmul(a, a, b, value=0.1),
    "lerp": lambda L, a, b, r, c, i: L.lerp(a, b, 0.3),
    "a.t().contiguous()": lambda L, a, b, r, c, i: a.t().contiguous(),
    "sum()": lambda L, a, b, r, c, i: a.sum(),
    "sum(0)": lambda L, a, b, r, c, i: a.sum(0),
    "sum(1)": lambda L, a, b, r, c, i: a.sum(1),
    "mean(1)": lambda L, a, b, r, c, i: a.mean(1),
    "max(1)": lambda L, a, b, r, c, i: a.max(1),
    "amax(1)": lambda L, a, b, r, c, i: a.amax(1),
    "argmax(1)": lambda L, a, b, r, c, i: a.argmax(1),
    "var(1)": lambda L, a, b, r, c, i: a.var(1),
    "std()": lambda L, a, b, r, c, i: a.std(),
    "norm()": lambda L, a, b, r, c, i: a.norm(),
    "softmax(1)": lambda L, a, b, r, c, i: a.softmax(1),
    "softmax(0)": lambda L, a, b, r, c, i: a.softmax(0),
    "log_softmax(1)": lambda L, a, b, r, c, i: a.log_softmax(1),
    "logsumexp(1)": lambda L, a, b, r, c, i: a.logsumexp(1),
    "cumsum(1)": lambda L, a, b, r, c, i: a.cumsum(1),
    "cumsum(0)": lambda L, a, b, r, c, i: a.cumsum(0),
    "sort(1)": lambda L, a, b, r, c, i: a.sort(1),
    "topk(5, 1)": lambda L, a, b, r, c, i: a.topk(5, 1),
    "cat(dim 0)": lambda L, a, b, r, c, i: L.cat([a, b], 0),
    "cat(dim 1)": lambda L, a, b, r, c, i: L.cat([a, b], 1),
    "stack": lambda L, a, b, r, c, i: L.stack([a, b]),
    "flip(1)": lambda L, a, b, r, c, i: a.flip(1),
    "roll(3, 1)": lambda L, a, b, r, c, i: a.roll(3, 1),
    "tril()": lambda L, a, b, r, c, i: a.tril(),
    "index_select(0)": lambda L, a, b, r, c, i: a.index_select(0, i),
    "a[idx]": lambda L, a, b, r, c, i: a[i],
    "gather(1)": lambda L, a, b, r, c, i: a.gather(1, (a > 0).long()),
    "scatter_add_(1)": lambda L, a, b, r, c, i: L.zeros_like(a).scatter_add_(1, (a > 0).long(), b),
    "index_add_(0)": lambda L, a, b, r, c, i: L.zeros_like(a).index_add_(0, i, a[: len(i)]),
    "embedding": lambda L, a, b, r, c, i: L.nn.functional.embedding(i, a),
    "layer_norm": lambda L, a, b, r, c, i: L.nn.functional.layer_norm(a, (512,)),
    "dropout": lambda L, a, b, r, c, i: L.nn.functional.dropout(a, 0.1),
    "mse_loss": lambda L, a, b, r, c, i: L.nn.functional.mse_loss(a, b),
    "l1_loss": lambda L, a, b, r, c, i: L.nn.functional.l1_loss(a, b),
    "bce_with_logits": lambda L, a, b, r, c, i: L.nn.functional.binary_cross_entropy_with_logits(
        a, b / (b + 1)
    ),
    "cross_entropy": lambda L, a, b, r, c, i: L.nn.functional.cross_entropy(a, i % 512),
    ".double()": lambda L, a, b, r, c, i: a.double(),
    ".half()": lambda L, a, b, r, c, i: a.half(),
    ".bfloat16()": lambda L, a, b, r, c, i: a.bfloat16(),
    ".clone()": lambda L, a, b, r, c, i: a.clone(),
    "randn": lambda L, a, b, r, c, i: L.randn(a.shape[0], 512),
    "rand": lambda L, a, b, r, c, i: L.rand(a.shape[0], 512),
    "nonzero": lambda L, a, b, r, c, i: (a > 1).nonzero(),
    "unique": lambda L, a, b, r, c, i: (a * 10).long().unique(),
}


def best_seconds(f, seconds: float = 0.05) -> float:
    """Mean seconds of one call of `f` over a block lasting about `seconds`."""
    f()
    t0 = time.perf_counter()
    f()
    reps = max(1, int(seconds / max(time.perf_counter() - t0, 1e-7)))
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    import rustorch
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--only", help="comma-separated op names (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    n = args.rows
    arrays = (
        rng.standard_normal((n, 512)).astype(np.float32),
        rng.random((n, 512)).astype(np.float32) + 0.5,  # positive: log, sqrt, powers
        rng.standard_normal(512).astype(np.float32),
        rng.standard_normal((n, 1)).astype(np.float32),
        rng.integers(0, n, min(n, 4096)),
    )
    libs = (rustorch, torch)
    inputs = {lib.__name__: [lib.tensor(x) for x in arrays] for lib in libs}
    names = args.only.split(",") if args.only else list(OPS)
    rows = []
    for name in names:
        best = {lib.__name__: float("inf") for lib in libs}
        for _ in range(args.rounds):
            for lib in libs:
                op, lib_args = OPS[name], inputs[lib.__name__]
                s = best_seconds(lambda op=op, lib=lib, xs=lib_args: op(lib, *xs))
                best[lib.__name__] = min(best[lib.__name__], s)
        ours, theirs = best["rustorch"], best["torch"]
        rows.append((ours / theirs, name, ours * 1e3, theirs * 1e3))
    print(f"| op on float32 [{n}, 512] | rustorch | torch | ratio |")
    print("|---|---:|---:|---:|")
    for ratio, name, ours, theirs in sorted(rows, reverse=True):
        print(f"| `{name}` | {ours:.3f} ms | {theirs:.3f} ms | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
