"""The NCCL backend on 1+ ranks, one GPU each (``cuda:<rank>``): every collective on CUDA
tensors against the result one process computes from every rank's inputs (NumPy), NCCL's
refusals, and DDP of the documents' MLP on the GPU against one process training on the
concatenated batches. Run by tests/test_distributed.py as one process (world size 1, the
only layout one GPU allows: NCCL takes one rank per GPU) or under ``mpirun -np N`` on N GPUs;
writes {case: "ok" | error text} per rank."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import rustorch as torch
import rustorch.distributed as dist
from _cases import case_runner, raises, write_results
from collectives import DTYPES, OPS, close, data, reduce_np, wraps
from ddp import batch, flat, mlp
from rustorch import nn
from rustorch.nn.parallel import DistributedDataParallel as DDP


def refusal(op: str, dtype: str):
    """The exception NCCL's backend raises for (op, dtype), as PyTorch's; None if allowed."""
    if dtype == "int16":
        return TypeError, "not supported for NCCL"
    if dtype == "bool" and op == "AVG":
        return TypeError, "Cannot use ReduceOp.AVG with boolean inputs"
    if op in ("BAND", "BOR", "BXOR"):
        return ValueError, f"Cannot use ReduceOp.{op} with NCCL"
    return None


def run(rank: int, n: int, dev: torch.device) -> dict:
    results: dict = {}
    case = case_runner(results)

    def on(a: np.ndarray, dtype: str) -> torch.Tensor:
        return torch.tensor(a.tolist(), dtype=getattr(torch, dtype), device=dev)

    def host(t: torch.Tensor) -> np.ndarray:
        t = t.cpu()
        return (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t).numpy()

    for dtype in DTYPES:
        for op in OPS:

            @case(f"all_reduce-{dtype}-{op}")
            def _(dtype=dtype, op=op):
                t = on(data(rank, dtype), dtype)
                refused = refusal(op, dtype)
                if refused:
                    raises(*refused, lambda: dist.all_reduce(t, op=getattr(dist.ReduceOp, op)))
                    return
                dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
                arrays = [data(r, dtype) for r in range(n)]
                want = reduce_np(arrays, op, dtype)
                if op == "AVG" and not dtype.startswith(("float", "bfloat")):
                    want = np.trunc(np.stack(arrays).sum(0) / n)  # NCCL's integer average
                close(host(t), wraps(want, dtype), dtype)

    @case("all_reduce-noncontiguous-async")
    def _():
        base = on(data(rank, "float32", (4, 6)), "float32")
        t = base.t()
        w = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
        w.wait()
        assert w.is_completed()
        want = sum(data(r, "float32", (4, 6)) for r in range(n)) / n
        close(host(t), want.T, "float32")
        close(host(base), want, "float32")

    @case("broadcast-reduce")
    def _():
        for dtype in ("float32", "int64", "bfloat16", "bool"):
            t = on(data(rank, dtype), dtype).t()
            dist.broadcast(t, src=n - 1)
            close(host(t), data(n - 1, dtype).T, dtype)
        t = on(data(rank, "float64"), "float64")
        mine = host(t)
        dist.reduce(t, dst=n - 1, op=dist.ReduceOp.MAX)
        want = reduce_np([data(r, "float64") for r in range(n)], "MAX", "float64")
        close(host(t), want if rank == n - 1 else mine, "float64")

    @case("all_gather-gather-scatter")
    def _():
        t = on(data(rank, "int32", (2, 3)), "int32")
        outs = [torch.zeros(2, 3, dtype=torch.int32, device=dev) for _ in range(n)]
        dist.all_gather(outs, t)
        for r in range(n):
            close(host(outs[r]), data(r, "int32", (2, 3)), "int32")
        flat_out = torch.zeros(n * 2, 3, dtype=torch.int32, device=dev)
        dist.all_gather_into_tensor(flat_out, t)
        want = np.concatenate([data(r, "int32", (2, 3)) for r in range(n)])
        close(host(flat_out), want, "int32")
        x = on(data(rank, "float32", (4,)), "float32")
        if rank == 0:
            got = [torch.empty(4, device=dev) for _ in range(n)]
            dist.gather(x, got, dst=0)
            for r in range(n):
                close(host(got[r]), data(r, "float32", (4,)), "float32")
        else:
            dist.gather(x, dst=0)
        part = torch.empty(4, device=dev)
        src = n - 1
        parts = (
            [torch.full((4,), float(10 * r), device=dev) for r in range(n)]
            if rank == src
            else None
        )
        dist.scatter(part, parts, src=src)
        close(host(part), np.full(4, 10.0 * rank), "float32")

    @case("reduce_scatter-all_to_all")
    def _():
        inp = on(data(rank, "float64", (n * 2, 3)), "float64")
        out = torch.empty(2, 3, dtype=torch.float64, device=dev)
        dist.reduce_scatter_tensor(out, inp, op=dist.ReduceOp.AVG)
        want = sum(data(q, "float64", (n * 2, 3)) for q in range(n)) / n
        close(host(out), want[2 * rank : 2 * rank + 2], "float64")
        parts = [on(data(rank, "float32", (3,), salt=r), "float32") for r in range(n)]
        out = torch.empty(3, device=dev)
        dist.reduce_scatter(out, parts)
        close(host(out), sum(data(q, "float32", (3,), salt=rank) for q in range(n)), "float32")
        in_splits = [rank + 1 + i for i in range(n)]
        out_splits = [r + 1 + rank for r in range(n)]
        x = torch.full((sum(in_splits), 2), float(rank), device=dev)
        y = torch.empty(sum(out_splits), 2, device=dev)
        dist.all_to_all_single(y, x, out_splits, in_splits)
        want = np.concatenate([np.full((s, 2), float(r)) for r, s in enumerate(out_splits)])
        close(host(y), want, "float32")

    @case("send-recv")
    def _():
        if n < 2:
            return
        nxt, prv = (rank + 1) % n, (rank - 1) % n
        got = torch.empty(3, device=dev)
        if rank % 2 == 0:
            dist.send(torch.full((3,), float(rank), device=dev), dst=nxt)
            dist.recv(got, src=prv)
        else:
            dist.recv(got, src=prv)
            dist.send(torch.full((3,), float(rank), device=dev), dst=nxt)
        close(host(got), np.full(3, float(prv)), "float32")

    @case("objects-groups-barrier")
    def _():
        objs = [None] * n
        dist.all_gather_object(objs, {"rank": rank})
        assert objs == [{"rank": r} for r in range(n)], objs
        lst = [rank, "a"] if rank == 0 else [None, None]
        dist.broadcast_object_list(lst, src=0)
        assert lst == [0, "a"], lst
        everyone = dist.new_group(list(range(n)))
        t = torch.ones(2, device=dev)
        dist.all_reduce(t, group=everyone)
        close(host(t), np.full(2, float(n)), "float32")
        dist.barrier()
        dist.barrier(device_ids=[dev.index])

    @case("errors")
    def _():
        raises(
            RuntimeError,
            "No backend type associated with device type cpu",
            lambda: dist.all_reduce(torch.ones(2)),
        )
        raises(ValueError, "world_size", lambda: dist.all_gather_into_tensor(
            torch.empty(2 * n + 1, device=dev), torch.empty(2, device=dev)))
        raises(RuntimeError, "any source", lambda: dist.recv(torch.empty(2, device=dev)))
        raises(RuntimeError, "single memory location", lambda: dist.all_reduce(
            torch.zeros(1, device=dev).expand(4)))
        assert dist.get_backend() == "nccl"
        cpu_group = dist.new_group(list(range(n)), backend="gloo")
        raises(RuntimeError, "serves CPU tensors", lambda: dist.all_reduce(
            torch.ones(2, device=dev), group=cpu_group))

    @case("ddp-mlp")
    def _():
        torch.manual_seed(rank)  # DDP must copy rank 0's weights
        model = DDP(mlp().to(dev), bucket_cap_mb=0.25)
        torch.manual_seed(0)
        ref = mlp().to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05)
        loss_fn = nn.CrossEntropyLoss()
        for step in range(30):
            x, y = batch(step, rank, (1, 28, 28), 16)
            opt.zero_grad()
            loss_fn(model(x.to(dev)), y.to(dev)).backward()
            opt.step()
            xs, ys = zip(*(batch(step, r, (1, 28, 28), 16) for r in range(n)))
            ref_opt.zero_grad()
            loss_fn(ref(torch.cat(xs).to(dev)), torch.cat(ys).to(dev)).backward()
            ref_opt.step()
        got, want = host(flat(model.module)), host(flat(ref))
        assert np.allclose(got, want, atol=1e-4), np.abs(got - want).max()

    return results


def main() -> None:
    dist.init_process_group("nccl", timeout=timedelta(seconds=120))
    rank, n = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(rank % torch.cuda.device_count())
    dev = torch.device("cuda", rank % torch.cuda.device_count())
    write_results(run(rank, n, dev))


if __name__ == "__main__":
    main()
