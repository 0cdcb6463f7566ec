#!/usr/bin/env python3
"""Batch-norm benchmark of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_norm.py

Forward + backward (input, weight and bias gradients) of ``nn.BatchNorm2d`` in training mode
on the DCGAN's feature-map shapes, ``nn.GroupNorm`` and ``nn.LayerNorm`` (a Transformer's
rows); the fastest of a few blocks for each library. Prints a Markdown table with the ratio
of times (rustorch ÷ torch, lower is better).
"""

from __future__ import annotations

import os
import time

import numpy as np

# (row label, input shape, the layer built from the library's nn)
CASES = [
    ("BatchNorm2d", (64, 64, 32, 32), lambda nn: nn.BatchNorm2d(64)),
    ("BatchNorm2d", (64, 128, 16, 16), lambda nn: nn.BatchNorm2d(128)),
    ("BatchNorm2d", (64, 512, 4, 4), lambda nn: nn.BatchNorm2d(512)),
    ("GroupNorm(8)", (32, 64, 16, 16), lambda nn: nn.GroupNorm(8, 64)),
    ("LayerNorm(512)", (64, 128, 512), lambda nn: nn.LayerNorm(512)),
]


def step_ms(lib, shape, make, blocks=5, reps=10):
    """Best mean milliseconds of one forward + backward of `make(lib.nn)` over `blocks`."""
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    g = lib.tensor(rng.standard_normal(shape).astype(np.float32))
    layer = make(lib.nn)
    for _ in range(3):
        layer(x).backward(g)
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            layer(x).backward(g)
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e3


def main() -> None:
    import rustorch
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print("| fwd+bwd (training) | rustorch | torch | ratio |")
    print("|---|---:|---:|---:|")
    for label, shape, make in CASES:
        ours, theirs = step_ms(rustorch, shape, make), step_ms(torch, shape, make)
        print(f"| {label} {'×'.join(map(str, shape))} | {ours:.2f} ms | {theirs:.2f} ms | "
              f"{ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
