#!/usr/bin/env python3
"""Distributed benchmark: rustorch.distributed (Open MPI) against torch.distributed (gloo),
both in the same 2-rank job on this machine.

    python benches/bench_distributed.py [--ranks 2] [--quick] [--json FILE]

Starts itself under ``mpirun -np RANKS``; every rank imports both libraries, joins
rustorch's MPI world and PyTorch's gloo group (TCP on 127.0.0.1), and runs one CPU thread
per library (one core per rank). Rank 0 prints a Markdown table:

* ``all_reduce`` of 1 MB … 256 MB float32 (SUM): the best of several timed calls, each
  started after a barrier, alternating the libraries; algorithm bandwidth = bytes ÷ time.
  Ratio: rustorch ÷ torch bandwidth (higher is better; the goal is ≥ 1).
* The DDP step overhead: a training step (forward, backward, SGD) of the 784-128-256-10 MLP
  at batch 64 per rank and of LeNet at batch 32 per rank, wrapped in
  ``DistributedDataParallel`` against the same step without it, in each library (best of
  blocks). Lower overhead is better.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def _launch(args: argparse.Namespace) -> int:
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("bench_distributed: mpirun not found (apt-get install openmpi-bin)")
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    cmd = [
        mpirun,
        "-np",
        str(args.ranks),
        "--oversubscribe",
        sys.executable,
        __file__,
        "--rank-process",
    ]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--json", args.json] if args.json else []
    return subprocess.call(cmd, env=env)


def _best(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        best = min(best, fn())
    return best


def _rank_main(args: argparse.Namespace) -> None:
    import rustorch
    import rustorch.distributed as rdist
    import torch

    torch.set_num_threads(1)
    rdist.init_process_group("mpi")
    rank, n = rdist.get_rank(), rdist.get_world_size()
    # gloo's rendezvous: rank 0 picks a free port and tells the others over MPI
    port = [0]
    if rank == 0:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = [s.getsockname()[1]]
    rdist.broadcast_object_list(port, src=0)
    tdist = torch.distributed
    tdist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port[0]}", rank=rank, world_size=n
    )

    rows = []
    reps = 3 if args.quick else 7
    for mb in (1, 4, 16, 64, 256):
        numel = mb * 1024 * 1024 // 4
        ours = rustorch.ones(numel)
        theirs = torch.ones(numel)

        def time_ours(ours=ours) -> float:
            rdist.barrier()
            t0 = time.perf_counter()
            rdist.all_reduce(ours)
            return time.perf_counter() - t0

        def time_theirs(theirs=theirs) -> float:
            tdist.barrier()
            t0 = time.perf_counter()
            tdist.all_reduce(theirs)
            return time.perf_counter() - t0

        for _ in range(3):  # warm-up: connections, buffers
            time_ours(), time_theirs()
        t_ours = t_theirs = float("inf")
        for _ in range(reps if mb < 256 else max(2, reps // 2)):
            t_ours = min(t_ours, time_ours())
            t_theirs = min(t_theirs, time_theirs())
        gb = mb / 1024
        rows.append(
            (
                f"all_reduce {mb} MB float32",
                f"{gb / t_ours:.2f} GB/s",
                f"{gb / t_theirs:.2f} GB/s",
                t_theirs / t_ours,
                "≥ 1",
            )
        )

    def mlp(nn):
        return nn.Sequential(
            nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 10)
        )

    def lenet(nn):
        return nn.Sequential(
            nn.Conv2d(3, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )

    steps = 20 if args.quick else 50

    def step_ms(lib, model, shape, batch) -> float:
        opt = lib.optim.SGD(model.parameters(), lr=0.01)
        x = lib.randn(batch, *shape)
        y = lib.randint(0, 10, (batch,))
        loss_fn = lib.nn.CrossEntropyLoss()

        def block() -> float:
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()
            return (time.perf_counter() - t0) / steps * 1e3

        block()
        return _best(block, 3)

    for name, make, shape, batch in (
        ("MLP 784-128-256-10, batch 64", mlp, (784,), 64),
        ("LeNet 3×32×32, batch 32", lenet, (3, 32, 32), 32),
    ):
        res = {}
        for lib, par in ((rustorch, rustorch.nn.parallel), (torch, torch.nn.parallel)):
            lib.manual_seed(0)
            plain = step_ms(lib, make(lib.nn), shape, batch)
            lib.manual_seed(0)
            ddp = step_ms(lib, par.DistributedDataParallel(make(lib.nn)), shape, batch)
            res[lib.__name__] = (plain, ddp)
        (rp, rd), (tp, td) = res["rustorch"], res["torch"]
        rows.append(
            (
                f"DDP step overhead, {name} ({n} ranks)",
                f"{rd:.2f} ms vs {rp:.2f} plain: {rd / rp:.2f}×",
                f"{td:.2f} ms vs {tp:.2f} plain: {td / tp:.2f}×",
                td / rd,
                "≥ 1 (time ratio)",
            )
        )

    if rank == 0:
        print(
            f"\n{n} ranks on one machine, one CPU thread per rank; "
            f"rustorch over Open MPI, torch {torch.__version__} over gloo\n"
        )
        print("| workload | rustorch | torch | torch ÷ rustorch time | goal |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f}× | {r[4]} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump([list(r) for r in rows], f, indent=1)
    tdist.destroy_process_group()
    rdist.destroy_process_group()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--rank-process", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rank_process:
        _rank_main(args)
    else:
        sys.exit(_launch(args))


if __name__ == "__main__":
    main()
