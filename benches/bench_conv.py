#!/usr/bin/env python3
"""Convolution benchmarks of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_conv.py            # all rows, a few minutes on 2 cores
    python benches/bench_conv.py --quick    # fewer repeats, a quarter LeNet epoch

Rows (issue 12's targets in the goal column):

* one conv layer 64→128 3×3 on 28×28, batch 32, forward + backward (GFLOP/s, higher is better)
* LeNet's first layer 3→6 5×5 on 32×32, batch 64, forward + backward (GFLOP/s)
* a LeNet epoch (batch 64, SGD momentum 0.9, Fashion-MNIST padded to 3×32×32; wall time)

Micro rows interleave the two libraries block by block and keep the fastest block.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time

import numpy as np

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is optional

    def tqdm(x, **_):
        return x


DATA = "/usr/share/datasets/fashion-mnist"


def _libs():
    import rustorch
    import torch

    return {"rustorch": rustorch, "torch": torch}


def _conv_step(lib, n, cin, cout, k, hw, seed=0):
    """A closure running one conv forward + backward (input grad included)."""
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((n, cin, hw, hw)).astype(np.float32), requires_grad=True)
    conv = lib.nn.Conv2d(cin, cout, k)

    def step():
        y = conv(x)
        y.sum().backward()

    flops = 3 * 2 * n * cout * cin * k * k * (hw - k + 1) ** 2  # forward + two backward products
    return step, flops


def _best_rate(step, flops, blocks, seconds=0.3):
    step()
    t0 = time.perf_counter()
    step()
    reps = max(1, int(seconds / max(time.perf_counter() - t0, 1e-6)))
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        best = min(best, (time.perf_counter() - t0) / reps)
    return flops / best / 1e9


def bench_layer(libs, name, shape, blocks):
    steps = {k: _conv_step(v, *shape) for k, v in libs.items()}
    rates = {k: 0.0 for k in libs}
    for _ in range(blocks):  # interleave the libraries block by block
        for k, (step, flops) in steps.items():
            rates[k] = max(rates[k], _best_rate(step, flops, 1))
    r, t = rates["rustorch"], rates["torch"]
    return name, f"{r:.1f} GFLOP/s", f"{t:.1f} GFLOP/s", r / t


def _load_fashion(limit):
    def read(name, offset):
        with gzip.open(os.path.join(DATA, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        rng = np.random.default_rng(0)
        return rng.random((limit, 3, 32, 32), np.float32), rng.integers(0, 10, limit)
    x = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:limit].astype(np.float32)
    y = read("train-labels-idx1-ubyte.gz", 8)[:limit].astype(np.int64)
    x = np.pad(x / 255.0, ((0, 0), (2, 2), (2, 2)))  # 32×32, three channels
    return np.repeat(x[:, None], 3, axis=1).astype(np.float32), y


def _lenet(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def lenet_epoch(lib, x, y, batch=64):
    lib.manual_seed(0)
    model = _lenet(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    xs, ys = lib.tensor(x), lib.tensor(y)
    t0 = time.perf_counter()
    for i in tqdm(range(0, len(x), batch), desc=f"LeNet {lib.__name__}", file=sys.stderr):
        opt.zero_grad()
        loss = loss_fn(model(xs[i:i + batch]), ys[i:i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    libs = _libs()
    libs["torch"].set_num_threads(os.cpu_count() or 1)
    blocks = 3 if args.quick else 7
    wide = "conv 64→128 3×3, 28×28, batch 32, fwd+bwd"
    first = "LeNet conv1 3→6 5×5, 32×32, batch 64, fwd+bwd"
    rows = [
        bench_layer(libs, wide, (32, 64, 128, 3, 28), blocks) + ("≥ 1.0",),
        bench_layer(libs, first, (64, 3, 6, 5, 32), blocks) + ("≥ 1.5",),
    ]
    x, y = _load_fashion(15000 if args.quick else 60000)
    times = {k: [] for k in libs}
    for _ in range(1 if args.quick else 2):
        for k, lib in libs.items():
            times[k].append(lenet_epoch(lib, x, y))
    r, t = statistics.median(times["rustorch"]), statistics.median(times["torch"])
    rows.append((f"LeNet epoch ({len(x)} samples, batch 64, SGD momentum)", f"{r:.2f} s",
                 f"{t:.2f} s", r / t, "≤ 0.5"))
    print("| benchmark | rustorch | torch | ratio | goal |")
    print("|---|---:|---:|---:|:---:|")
    for name, a, b, ratio, goal in rows:
        print(f"| {name} | {a} | {b} | {ratio:.2f}× | {goal} |")
    print("\nRates: rustorch ÷ torch (higher is better); LeNet epoch: rustorch ÷ torch time "
          "(lower is better).")


if __name__ == "__main__":
    main()
