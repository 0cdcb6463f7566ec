#!/usr/bin/env python3
"""Resampling benchmark of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_resample.py

``F.interpolate`` as networks and input pipelines use it: a decoder's 2x upsampling of
feature maps (nearest and bilinear, forward + backward), bicubic upsampling of small images,
and the resize of a 480 x 640 photo to 224 x 224 (antialiased float32, and uint8 in
PyTorch's fixed point, forward only); the fastest of a few blocks for each library. Prints
a Markdown table with the ratio of times (rustorch ÷ torch, lower is better).
"""

from __future__ import annotations

import os
import time

import numpy as np

# (row label, input shape, dtype, interpolate's keywords, with backward)
CASES = [
    ("nearest 2x", (32, 64, 28, 28), "float32", {"scale_factor": 2, "mode": "nearest"}, True),
    ("bilinear 2x", (32, 64, 28, 28), "float32", {"scale_factor": 2, "mode": "bilinear"}, True),
    ("bicubic 2x", (8, 3, 64, 64), "float32", {"scale_factor": 2, "mode": "bicubic"}, True),
    ("trilinear 2x", (4, 16, 16, 16, 16), "float32", {"scale_factor": 2, "mode": "trilinear"},
     True),
    ("antialiased bilinear to 224", (1, 3, 480, 640), "float32",
     {"size": (224, 224), "mode": "bilinear", "antialias": True}, True),
    ("uint8 bilinear to 224", (1, 3, 480, 640), "uint8",
     {"size": (224, 224), "mode": "bilinear", "antialias": True}, False),
    ("uint8 bicubic to 224", (1, 3, 480, 640), "uint8",
     {"size": (224, 224), "mode": "bicubic"}, False),
]


def step_ms(lib, shape, dtype, kw, backward, blocks=5, reps=5):
    """Best mean milliseconds of one `interpolate` (and its backward) over `blocks`."""
    rng = np.random.default_rng(0)
    if dtype == "uint8":
        x = lib.tensor(rng.integers(0, 256, shape, dtype=np.uint8))
    else:
        x = lib.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=backward)

    def run():
        y = lib.nn.functional.interpolate(x, **kw)
        if backward:
            y.backward(lib.ones_like(y))

    for _ in range(2):
        run()
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            run()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e3


def main() -> None:
    import rustorch
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print("| interpolate | input | pass | rustorch | torch | ratio |")
    print("|---|---|---|---:|---:|---:|")
    for label, shape, dtype, kw, backward in CASES:
        ours = step_ms(rustorch, shape, dtype, kw, backward)
        theirs = step_ms(torch, shape, dtype, kw, backward)
        what = "fwd+bwd" if backward else "fwd"
        dims = "x".join(map(str, shape))
        print(f"| {label} | {dims} {dtype} | {what} | {ours:.2f} ms | {theirs:.2f} ms | "
              f"{ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
