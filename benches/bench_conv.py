#!/usr/bin/env python3
"""Convolution benchmarks of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_conv.py            # all rows, a few minutes on 2 cores
    python benches/bench_conv.py --quick    # fewer repeats, a quarter LeNet epoch

Rows (issue 12's targets in the goal column):

* one conv layer 64→128 3×3 on 28×28, batch 32, forward + backward (GFLOP/s, higher is better)
* LeNet's first layer 3→6 5×5 on 32×32, batch 64, forward + backward (GFLOP/s)
* a LeNet epoch (batch 64, SGD momentum 0.9, Fashion-MNIST padded to 3×32×32; wall time)
* a Keras-style CNN epoch (Conv 32, Conv 64, max-pool, dropout, dense 128; batch 64, Adam)
  on Fashion-MNIST at 1×28×28 — a quarter epoch, timed for both libraries
* a DCGAN training step at 64×64, batch 64 (one discriminator and one generator update; the
  PyTorch tutorial's networks)
* LeNet test accuracy after one epoch from the same start (PyTorch's initial weights copied
  into rustorch, the same batches in the same order): the engines' numerics, not seed luck
* peak RSS of a LeNet epoch, each library alone in a subprocess

Micro rows interleave the two libraries block by block and keep the fastest block. The
training rows (LeNet epoch, Keras-style CNN, DCGAN step) alternate the libraries' runs too,
``--rounds`` of each (2 by default, 1 with ``--quick``), and keep each library's fastest: this
machine's speed drifts by ±20 % over minutes, and a library run once, first, also paid for the
process's first allocations.
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


def _load_fashion(limit, split="train"):
    def read(name, offset):
        with gzip.open(os.path.join(DATA, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        rng = np.random.default_rng(0)
        return rng.random((limit, 3, 32, 32), np.float32), rng.integers(0, 10, limit)
    prefix = "train" if split == "train" else "t10k"
    x = read(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[:limit]
    x = x.astype(np.float32)
    y = read(f"{prefix}-labels-idx1-ubyte.gz", 8)[:limit].astype(np.int64)
    x = np.pad(x / np.float32(255.0), ((0, 0), (2, 2), (2, 2)))  # 32×32, three channels
    return np.repeat(x[:, None], 3, axis=1), y


def _lenet(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


def _train(lib, model, opt, x, y, batch, desc):
    """Seconds of one pass over `x` in batches (cross-entropy, `opt`), with a tqdm bar."""
    loss_fn = lib.nn.CrossEntropyLoss()
    xs, ys = lib.tensor(x), lib.tensor(y)
    t0 = time.perf_counter()
    for i in tqdm(range(0, len(x), batch), desc=f"{desc} {lib.__name__}", file=sys.stderr):
        opt.zero_grad()
        loss = loss_fn(model(xs[i:i + batch]), ys[i:i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def lenet_epoch(lib, x, y, batch=64, model=None):
    lib.manual_seed(0)
    model = model if model is not None else _lenet(lib)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return _train(lib, model, opt, x, y, batch, "LeNet")


def _keras_cnn(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(128, 10),
    )


def cnn_epoch(lib, x, y, batch=64):
    """Seconds of one pass of the Keras-style CNN (examples/cnn.py) over `x` (1×28×28)."""
    lib.manual_seed(0)
    model = _keras_cnn(lib)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    return _train(lib, model, opt, x, y, batch, "CNN")


def _dcgan(lib, nz=100, ngf=64, ndf=64):
    nn = lib.nn
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )
    d = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
    )
    return g, d


def dcgan_step_time(lib, steps, batch=64, nz=100):
    """Median seconds of one DCGAN step (D on real and fake, then G), as the tutorial."""
    lib.manual_seed(0)
    g, d = _dcgan(lib, nz)
    opt_d = lib.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = lib.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = lib.nn.BCELoss()
    real = lib.rand(batch, 3, 64, 64) * 2 - 1
    ones, zeros = lib.ones(batch), lib.zeros(batch)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        d.zero_grad()
        loss_real = bce(d(real).view(-1), ones)
        loss_real.backward()
        fake = g(lib.randn(batch, nz, 1, 1))
        loss_fake = bce(d(fake.detach()).view(-1), zeros)
        loss_fake.backward()
        opt_d.step()
        g.zero_grad()
        loss_g = bce(d(fake).view(-1), ones)
        loss_g.backward()
        opt_g.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def same_start_accuracy(libs, x, y, xt, yt):
    """Test accuracy of both libraries after one epoch from PyTorch's initial weights."""
    torch, rt = libs["torch"], libs["rustorch"]
    torch.manual_seed(0)
    ref = _lenet(torch)
    ours = _lenet(rt)
    ours.load_state_dict({k: rt.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    acc = {}
    for name, lib, model in (("torch", torch, ref), ("rustorch", rt, ours)):
        lenet_epoch(lib, x, y, model=model)
        model.eval()
        with lib.no_grad():
            pred = model(lib.tensor(xt)).argmax(1).numpy()
        acc[name] = 100.0 * float((pred == yt).mean())
    return acc


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def epoch_memory(lib_name, limit):
    """(peak RSS during a LeNet epoch, its growth over the RSS before it), in MiB, with only
    `lib_name` imported: run in a subprocess; the peak is reset once the data is loaded
    (Linux's `clear_refs` 5), so the data preparation does not count."""
    import importlib

    lib = importlib.import_module(lib_name)
    x, y = _load_fashion(limit)
    base = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    lenet_epoch(lib, x, y)
    peak = _status_kib("VmHWM")
    return peak / 1024, (peak - base) / 1024


def peak_rss(lib_name, limit):
    """`epoch_memory` of `lib_name` in a fresh subprocess."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, 'benches'); import bench_conv as b; "
        f"print(*b.epoch_memory('{lib_name}', {limit}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    peak, growth = out.stdout.strip().splitlines()[-1].split()
    return float(peak), float(growth)


def _alternating(libs, rounds, run):
    """Each library's fastest of ``rounds`` runs of ``run(lib)`` (seconds), the libraries'
    runs alternating: (rustorch, torch)."""
    best = {k: float("inf") for k in libs}
    for _ in range(rounds):
        for k, lib in libs.items():
            best[k] = min(best[k], run(lib))
    return best["rustorch"], best["torch"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, help="runs of each training row (default 2, 1 quick)")
    args = ap.parse_args()
    rounds = args.rounds or (1 if args.quick else 2)
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
    r, t = _alternating(libs, rounds, lambda lib: lenet_epoch(lib, x, y))
    rows.append((f"LeNet epoch ({len(x)} samples, batch 64, SGD momentum)", f"{r:.2f} s",
                 f"{t:.2f} s", r / t, "≤ 0.5"))
    # The CNN's data: the same images unpadded, one channel, a quarter epoch.
    xc = np.ascontiguousarray(x[: len(x) // 4, :1, 2:30, 2:30])
    r, t = _alternating(libs, rounds, lambda lib: cnn_epoch(lib, xc, y[: len(xc)]))
    rows.append((f"Keras-style CNN, {len(xc)} samples (batch 64, Adam)", f"{r:.2f} s",
                 f"{t:.2f} s", r / t, "≤ 0.6"))
    steps = 2 if args.quick else 5
    r, t = _alternating(libs, rounds, lambda lib: dcgan_step_time(lib, steps))
    rows.append(("DCGAN step, 64×64, batch 64 (D and G updates)", f"{r:.2f} s", f"{t:.2f} s",
                 r / t, "≤ 0.8"))
    xt, yt = _load_fashion(10000, "test")
    acc = same_start_accuracy(libs, x, y, xt, yt)
    diff = acc["rustorch"] - acc["torch"]
    rows.append((f"LeNet test accuracy after {len(x)} samples, same start",
                 f"{acc['rustorch']:.2f} %", f"{acc['torch']:.2f} %", diff, "\\|Δ\\| ≤ 0.5 pp"))
    mem = {k: peak_rss(k, len(x)) for k in libs}
    rows.append(("peak RSS during a LeNet epoch (subprocess, data loaded)",
                 f"{mem['rustorch'][0]:.0f} MiB", f"{mem['torch'][0]:.0f} MiB",
                 mem["rustorch"][0] / mem["torch"][0], "≤ 1.0"))
    rows.append(("  of which the epoch's own growth", f"{mem['rustorch'][1]:.0f} MiB",
                 f"{mem['torch'][1]:.0f} MiB", mem["rustorch"][1] / mem["torch"][1], "—"))
    print("| benchmark | rustorch | torch | ratio | goal |")
    print("|---|---:|---:|---:|:---:|")
    for name, a, b, ratio, goal in rows:
        cell = f"Δ {ratio:+.2f} pp" if "pp" in goal else f"{ratio:.2f}×"
        print(f"| {name} | {a} | {b} | {cell} | {goal} |")
    print("\nRates: rustorch ÷ torch (higher is better); epochs and steps: rustorch ÷ torch "
          "time (lower is better).")


if __name__ == "__main__":
    main()
