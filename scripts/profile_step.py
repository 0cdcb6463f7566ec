"""Where the host's time goes in one training step of a GPU benchmark's model.

    python scripts/profile_step.py [--model lstm|transformer|lenet|mlp] [--device cuda]
                                   [--steps N] [--lib rustorch|torch]

Builds the model of ``benches/bench_cuda.py``'s row (the same layers, batch and Adam), warms
it up, then runs ``--steps`` training steps and prints the per-step time with and without
waiting for the device. The GPU rows are host-bound when the two agree; run it under
``py-spy record --native -f raw`` (see README, GPU section) to see which calls the host's time
goes to. ``--device cpu`` runs the same steps on the CPU, so the script can be tried anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches"))

import bench_cuda  # noqa: E402

MODELS = {spec.build.__name__.removeprefix("build_"): spec for spec in bench_cuda.MODEL_STEPS}
MODELS["mlp"] = bench_cuda.ModelSpec("MLP 784-128-256-10", bench_cuda.build_mlp, (784,))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), default="lstm")
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--lib", choices=("rustorch", "torch"), default="rustorch")
    args = p.parse_args(argv)

    mod: Any = __import__(args.lib)
    bench_cuda.DEVICE = args.device
    spec = MODELS[args.model]
    mod.manual_seed(0)
    _, step = bench_cuda.make_trainer(mod, spec.build(mod))
    rng = np.random.default_rng(7)
    x = mod.from_numpy(rng.standard_normal((spec.batch, *spec.input_shape), dtype=np.float32))
    y = mod.from_numpy(rng.integers(0, 10, spec.batch, dtype=np.int64))
    x, y = x.to(args.device), y.to(args.device)
    sync = mod.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    for _ in range(20):
        step(x, y)
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(x, y)
    issued = time.perf_counter() - t0
    sync()
    done = time.perf_counter() - t0
    print(
        f"{args.lib} {spec.name} on {args.device}: {done / args.steps * 1e3:.3f} ms/step, "
        f"issued in {issued / args.steps * 1e3:.3f} ms/step by the host"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
