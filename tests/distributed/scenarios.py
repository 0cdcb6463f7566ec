"""Small rank programs for tests/test_distributed.py: how a job behaves when a rank fails,
a peer never joins, the sizes disagree, or no launcher started it. ``python scenarios.py
MODE``; prints what the test asserts on."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

MODE = sys.argv[1]

if MODE == "launched":
    # torchrun's variables exist before anything of rustorch is imported
    # one string per line, one write: the ranks share mpirun's output
    env = " ".join(
        os.environ[k]
        for k in (
            "RANK",
            "LOCAL_RANK",
            "WORLD_SIZE",
            "LOCAL_WORLD_SIZE",
            "MASTER_ADDR",
            "MASTER_PORT",
        )
    )
    print(f"env {env} args {sys.argv[2:]}", flush=True)

import rustorch as torch  # noqa: E402
import rustorch.distributed as dist  # noqa: E402

if MODE == "raise":
    dist.init_process_group("gloo", timeout=timedelta(seconds=120))
    if dist.get_rank() == 1:
        raise ValueError("boom on purpose")
    dist.barrier()  # never completes: rank 1 is gone, and the job must end, not hang
    print("barrier passed", flush=True)
elif MODE == "timeout":
    dist.init_process_group("gloo", timeout=timedelta(seconds=2))
    if dist.get_rank() == 0:
        t0 = time.time()
        try:
            dist.all_reduce(torch.ones(3))
        except RuntimeError as e:
            print(f"raised after {time.time() - t0:.1f}s: {e}", flush=True)
        try:
            dist.barrier()
        except RuntimeError as e:
            print(f"then: {e}", flush=True)
    else:
        time.sleep(4)
    print(f"rank {dist.get_rank()} exits", flush=True)
elif MODE == "wrong-size":
    dist.init_process_group("gloo", world_size=3)
elif MODE in ("single", "launched"):
    dist.init_process_group(None if MODE == "single" else "mpi")
    t = torch.tensor([1.0, 2.0]) * (dist.get_rank() + 1)
    dist.all_reduce(t)
    print(
        f"rank {dist.get_rank()} of {dist.get_world_size()} {dist.get_backend()} {t.tolist()}",
        flush=True,
    )
    dist.destroy_process_group()
