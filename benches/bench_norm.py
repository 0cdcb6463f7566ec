#!/usr/bin/env python3
"""Batch-norm benchmark of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_norm.py

``nn.BatchNorm2d`` in training mode, forward + backward (input, weight and bias gradients),
on the DCGAN's feature-map shapes; the fastest of a few blocks for each library. Prints a
Markdown table with the ratio of times (rustorch ÷ torch, lower is better).
"""

from __future__ import annotations

import os
import time

import numpy as np

SHAPES = [(64, 64, 32, 32), (64, 128, 16, 16), (64, 512, 4, 4)]


def bn_step_ms(lib, shape, blocks=5, reps=10):
    """Best mean milliseconds of one BatchNorm2d forward + backward over `blocks` blocks."""
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    g = lib.tensor(rng.standard_normal(shape).astype(np.float32))
    bn = lib.nn.BatchNorm2d(shape[1])
    for _ in range(3):
        bn(x).backward(g)
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            bn(x).backward(g)
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e3


def main() -> None:
    import rustorch
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print("| BatchNorm2d fwd+bwd (training) | rustorch | torch | ratio |")
    print("|---|---:|---:|---:|")
    for shape in SHAPES:
        ours, theirs = bn_step_ms(rustorch, shape), bn_step_ms(torch, shape)
        print(f"| {'×'.join(map(str, shape))} | {ours:.2f} ms | {theirs:.2f} ms | "
              f"{ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
