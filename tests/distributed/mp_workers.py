"""Functions the child processes of tests/test_multiprocessing.py run. They live in their own
module (not the test module) so that a spawned child imports only the library under test,
not the test suite's references."""

from __future__ import annotations

import os
import time

if os.environ.get("RUSTORCH_TEST_ORACLE", "").strip().lower() == "torch":
    import torch as rt
else:
    import rustorch as rt


def write_received(q, done) -> None:  # noqa: ANN001
    """Takes tensors from ``q`` until None and writes into each: adds 1 (bool: negates)."""
    while True:
        t = q.get()
        if t is None:
            break
        with rt.no_grad():
            if t.dtype == rt.bool:
                t.logical_not_()
            else:
                t.add_(1)
    done.set()


def report_received(q_in, q_out) -> None:  # noqa: ANN001
    """Sends back what it received: type name, requires_grad, values, is_shared."""
    t = q_in.get()
    q_out.put((type(t).__name__, t.requires_grad, t.tolist(), t.is_shared()))


def add_rank(rank: int, model) -> None:  # noqa: ANN001
    """Hogwild-style: adds ``rank + 1`` in place to row ``rank`` of every parameter of the
    shared model. Each rank writes its own rows: two unsynchronised read-modify-writes of the
    same element may lose one (as in PyTorch), which is not what the tests check."""
    with rt.no_grad():
        for p in model.parameters():
            p[rank].add_(rank + 1)


def fail_on_one(rank: int, message: str) -> None:
    if rank == 1:
        raise ValueError(message)
    time.sleep(60)


def exit_on_one(rank: int, code: int) -> None:
    if rank == 1:
        os._exit(code)
    time.sleep(60)


def kill_on_one(rank: int) -> None:
    import signal

    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)


def write_file(rank: int, folder: str) -> None:
    with open(os.path.join(folder, f"{rank}.txt"), "w") as fh:
        fh.write(str(os.getpid()))


def ddp_train(rank: int, world: int, port: int, out: str) -> None:
    """The PyTorch DDP tutorial's shape: env:// rendezvous from ``mp.spawn``, a few DDP steps
    on rank-dependent data; saves the final parameters and an all_reduce result."""
    import numpy as np

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist = rt.distributed
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x = rt.full((3,), float(rank + 1))
    dist.all_reduce(x)
    rt.manual_seed(0)
    model = rt.nn.Sequential(rt.nn.Linear(4, 8), rt.nn.Tanh(), rt.nn.Linear(8, 2))
    ddp = rt.nn.parallel.DistributedDataParallel(model)
    opt = rt.optim.SGD(ddp.parameters(), lr=0.1)
    gen = np.random.default_rng(rank)
    for _ in range(5):
        xb = rt.tensor(gen.standard_normal((6, 4)), dtype=rt.float32)
        yb = rt.tensor(gen.standard_normal((6, 2)), dtype=rt.float32)
        opt.zero_grad()
        ((ddp(xb) - yb) ** 2).mean().backward()
        opt.step()
    flat = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    np.savez(
        f"{out}.{rank}.npz",
        params=flat,
        reduced=x.numpy(),
        rank=dist.get_rank(),
        size=dist.get_world_size(),
    )
    dist.destroy_process_group()


def join_world(rank: int, port: int, timeout_s: float, sizes: list) -> None:
    """Joins claiming world size ``sizes[rank]`` (to test disagreement and timeouts)."""
    from datetime import timedelta

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    rt.distributed.init_process_group(
        "gloo", rank=rank, world_size=sizes[rank], timeout=timedelta(seconds=timeout_s)
    )


def init_twice(rank: int, world: int, port: int, out: str) -> None:
    """init, all_reduce, destroy, then init and all_reduce again in the same processes."""
    import numpy as np

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist = rt.distributed
    sums = []
    for round_ in range(2):
        dist.init_process_group("gloo", rank=rank, world_size=world)
        x = rt.full((2,), float(rank + 1 + round_))
        dist.all_reduce(x)
        sums.append(x.tolist())
        dist.destroy_process_group()
    np.save(f"{out}.{rank}.npy", np.array(sums))
