"""Every collective of rustorch.distributed on 2+ ranks, against the result one process
computes from every rank's inputs (NumPy). Run by tests/test_distributed.py under
``mpirun -np 2``; writes one JSON line per rank: {case: "ok" | error text}."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import rustorch as torch
import rustorch.distributed as dist
from _cases import case_runner, raises, write_results

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
]
OPS = ["SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]


def data(rank: int, dtype: str, shape=(3, 5), salt: int = 0) -> np.ndarray:
    """Rank `rank`'s input, the same on every rank that asks (values exact in every dtype)."""
    rng = np.random.default_rng(1000 * rank + salt)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype in ("uint8",):
        return rng.integers(0, 16, shape).astype(np.int64)
    if dtype.startswith("int"):
        return rng.integers(-8, 8, shape).astype(np.int64)
    return (rng.integers(-16, 16, shape) / 4).astype(np.float64)


def tensor(a: np.ndarray, dtype: str) -> torch.Tensor:
    return torch.tensor(a.tolist(), dtype=getattr(torch, dtype))


def as_np(t: torch.Tensor) -> np.ndarray:
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return t.numpy()


def reduce_np(arrays, op: str, dtype: str) -> np.ndarray:
    a = np.stack(arrays)
    if dtype == "bool":
        any_ = a.any(0)
        all_ = a.all(0)
        return {
            "SUM": any_,
            "MAX": any_,
            "BOR": any_,
            "PRODUCT": all_,
            "MIN": all_,
            "BAND": all_,
            "BXOR": np.bitwise_xor.reduce(a, 0),
        }[op]
    if op == "SUM":
        return a.sum(0)
    if op == "AVG":
        return a.sum(0) / len(arrays)
    if op == "PRODUCT":
        return a.prod(0)
    if op == "MIN":
        return a.min(0)
    if op == "MAX":
        return a.max(0)
    f = {"BAND": np.bitwise_and, "BOR": np.bitwise_or, "BXOR": np.bitwise_xor}[op]
    return f.reduce(a, 0)


def wraps(x: np.ndarray, dtype: str) -> np.ndarray:
    """x as the dtype stores it (integer wraparound)."""
    if dtype in ("uint8", "int8", "int16", "int32", "int64"):
        return x.astype(getattr(np, dtype)).astype(np.int64)
    return x


def close(got: np.ndarray, want: np.ndarray, dtype: str) -> None:
    tol = {"float16": 1e-2, "bfloat16": 2e-2}.get(dtype, 1e-6)
    if dtype == "bool" or not dtype.startswith(("float", "bfloat")):
        assert np.array_equal(got.astype(np.int64), want.astype(np.int64)), (got, want)
    else:
        assert np.allclose(got, want, rtol=tol, atol=tol), (got, want)


def allowed(op: str, dtype: str) -> bool:
    is_float = dtype.startswith(("float", "bfloat"))
    if op in ("BAND", "BOR", "BXOR"):
        return not is_float
    if op == "AVG":
        return is_float
    return True


def run(rank: int, n: int) -> dict:
    results = {}

    case = case_runner(results)

    for dtype in DTYPES:
        for op in OPS:

            @case(f"all_reduce-{dtype}-{op}")
            def _(dtype=dtype, op=op):
                t = tensor(data(rank, dtype), dtype)
                if not allowed(op, dtype):
                    try:
                        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
                    except RuntimeError as e:
                        assert op in str(e), e
                        return
                    raise AssertionError("expected a RuntimeError")
                dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
                want = reduce_np([data(r, dtype) for r in range(n)], op, dtype)
                close(as_np(t), wraps(want, dtype), dtype)

    @case("all_reduce-noncontiguous-async")
    def _():
        base = torch.tensor(data(rank, "float32", (4, 6)).tolist())
        t = base.t()
        w = dist.all_reduce(t, async_op=True)
        w.wait()
        assert w.is_completed()
        want = sum(data(r, "float32", (4, 6)) for r in range(n)).T
        close(t.numpy(), want, "float32")
        close(base.numpy(), want.T, "float32")
        assert w.result()[0] is t

    @case("all_reduce-large-chunked")
    def _():
        # larger than one 2 MB chunk, not a multiple of it: the all-reduce runs in pieces
        for dtype, numel in (
            ("float32", 3 * 2**19 + 7),
            ("float16", 2**20 + 3),
            ("int64", 2**18 + 5),
        ):
            base = np.arange(numel) % 7 + rank
            t = torch.from_numpy(base.astype(np.float64)).to(getattr(torch, dtype))
            w = dist.all_reduce(
                t, op=dist.ReduceOp.AVG if dtype != "int64" else dist.ReduceOp.SUM, async_op=True
            )
            w.wait()
            want = sum(np.arange(numel) % 7 + r for r in range(n))
            want = want / n if dtype != "int64" else want
            close(as_np(t), want, dtype)

    @case("is_completed-polling-chunked")
    def _():
        # polling alone finishes a chunked all-reduce, with its average and its copy back
        # into a non-contiguous tensor; a collective issued meanwhile on one rank only
        # after some polling still pairs with the right one on the others
        base = torch.from_numpy(
            (np.arange(2**20 * 3, dtype=np.float64) % 5 + rank).astype(np.float32)
        )
        t = base.view(3, 2**20).t()
        w = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
        if rank == 0:
            for _ in range(3):
                w.is_completed()
        small = torch.tensor([float(rank)])
        dist.all_reduce(small)
        deadline = time.monotonic() + 60
        while not w.is_completed():  # polling alone must finish it
            assert time.monotonic() < deadline, "is_completed() never became true"
        want = sum((np.arange(2**20 * 3) % 5 + r) for r in range(n)) / n
        close(base.numpy(), want, "float32")
        close(small.numpy(), np.array([sum(range(n))]), "float32")

    @case("overlapping-and-expanded-buffers")
    def _():
        x = torch.arange(2 * n, dtype=torch.float32) + 100 * rank
        dist.all_to_all_single(x, x)  # the input is copied first, as MPI needs
        want = np.concatenate([np.arange(2 * rank, 2 * rank + 2) + 100 * r for r in range(n)])
        close(x.numpy(), want, "float32")
        out = torch.zeros(n * 2)
        dist.all_gather_into_tensor(out, out[2 * rank : 2 * rank + 2])
        close(out.numpy(), np.zeros(n * 2), "float32")
        try:
            dist.all_reduce(torch.zeros(1).expand(4))
        except RuntimeError as e:
            assert "single memory location" in str(e), e
        else:
            raise AssertionError("an expanded output was written")
        try:
            dist.new_group([0, 1], use_local_synchronization=True)
        except ValueError as e:
            assert "use_local_synchronization" in str(e), e
        else:
            raise AssertionError("no ValueError")

    @case("broadcast")
    def _():
        for dtype in ("float32", "int64", "bfloat16", "bool"):
            src = n - 1
            t = tensor(data(rank, dtype), dtype).t()
            dist.broadcast(t, src=src)
            close(as_np(t), data(src, dtype).T, dtype)

    @case("reduce")
    def _():
        t = tensor(data(rank, "float64"), "float64")
        mine = t.clone()
        dist.reduce(t, dst=1, op=dist.ReduceOp.MAX)
        if rank == 1:
            close(
                t.numpy(),
                reduce_np([data(r, "float64") for r in range(n)], "MAX", "float64"),
                "float64",
            )
        else:
            close(t.numpy(), mine.numpy(), "float64")

    @case("all_gather")
    def _():
        t = tensor(data(rank, "int32", (2, 3)), "int32")
        outs = [torch.zeros(2, 3, dtype=torch.int32) for _ in range(n)]
        dist.all_gather(outs, t)
        for r in range(n):
            close(outs[r].numpy(), data(r, "int32", (2, 3)), "int32")
        flat = torch.zeros(n * 2, 3, dtype=torch.int32)
        dist.all_gather_into_tensor(flat, t)
        close(flat.numpy(), np.concatenate([data(r, "int32", (2, 3)) for r in range(n)]), "int32")
        stacked = torch.zeros(n, 2, 3, dtype=torch.int32)
        dist.all_gather_into_tensor(stacked, t)
        close(stacked.numpy(), np.stack([data(r, "int32", (2, 3)) for r in range(n)]), "int32")

    @case("gather-scatter")
    def _():
        t = tensor(data(rank, "float32", (4,)), "float32")
        if rank == 0:
            outs = [torch.empty(4) for _ in range(n)]
            dist.gather(t, outs, dst=0)
            for r in range(n):
                close(outs[r].numpy(), data(r, "float32", (4,)), "float32")
        else:
            dist.gather(t, dst=0)
        got = torch.empty(4)
        src = n - 1
        parts = [torch.full((4,), float(10 * r)) for r in range(n)] if rank == src else None
        dist.scatter(got, parts, src=src)
        close(got.numpy(), np.full(4, 10.0 * rank), "float32")

    @case("reduce_scatter")
    def _():
        parts = [tensor(data(rank, "float32", (3,), salt=r), "float32") for r in range(n)]
        out = torch.empty(3)
        dist.reduce_scatter(out, parts, op=dist.ReduceOp.SUM)
        close(out.numpy(), sum(data(q, "float32", (3,), salt=rank) for q in range(n)), "float32")
        inp = tensor(data(rank, "float64", (n * 2, 3)), "float64")
        out = torch.empty(2, 3, dtype=torch.float64)
        dist.reduce_scatter_tensor(out, inp, op=dist.ReduceOp.AVG)
        want = sum(data(q, "float64", (n * 2, 3)) for q in range(n)) / n
        close(out.numpy(), want[2 * rank : 2 * rank + 2], "float64")

    @case("all_to_all")
    def _():
        inp = torch.arange(n * 2, dtype=torch.int64) + 100 * rank
        out = torch.empty(n * 2, dtype=torch.int64)
        dist.all_to_all_single(out, inp)
        want = np.concatenate([np.arange(2 * rank, 2 * rank + 2) + 100 * r for r in range(n)])
        close(out.numpy(), want, "int64")
        # uneven: rank r sends r + 1 + i rows (of 2) to rank i
        in_splits = [rank + 1 + i for i in range(n)]
        out_splits = [r + 1 + rank for r in range(n)]
        inp = torch.full((sum(in_splits), 2), float(rank))
        out = torch.empty(sum(out_splits), 2)
        dist.all_to_all_single(out, inp, out_splits, in_splits)
        want = np.concatenate([np.full((s, 2), float(r)) for r, s in enumerate(out_splits)])
        close(out.numpy(), want, "float32")
        ins = [torch.full((i + 1,), float(rank * 10 + i)) for i in range(n)]
        outs = [torch.empty(rank + 1) for _ in range(n)]
        dist.all_to_all(outs, ins)
        for r in range(n):
            close(outs[r].numpy(), np.full(rank + 1, float(r * 10 + rank)), "float32")

    @case("send-recv")
    def _():
        if rank == 0:
            dist.send(torch.tensor([1.5, 2.5]), dst=1, tag=7)
            w = dist.isend(torch.arange(3), dst=1)
            w.wait()
            got = torch.empty(2)
            assert dist.recv(got) == 1
            close(got.numpy(), np.array([3.0, 4.0]), "float32")
        elif rank == 1:
            got = torch.empty(2)
            assert dist.recv(got, src=0, tag=7) == 0
            close(got.numpy(), np.array([1.5, 2.5]), "float32")
            r = torch.empty(3, dtype=torch.int64)
            dist.irecv(r, src=0).wait()
            close(r.numpy(), np.arange(3), "int64")
            dist.send(torch.tensor([3.0, 4.0]), dst=0)
        # a message shorter than the receiving tensor is an error, not a partly filled tensor
        if rank == 0:
            dist.send(torch.tensor([5.0, 6.0]), dst=1, tag=9)
        elif rank == 1:
            try:
                dist.recv(torch.zeros(3), src=0, tag=9)
            except RuntimeError as e:
                assert "received 8 bytes from rank 0, but the tensor holds 12" in str(e), e
            else:
                raise AssertionError("a short message filled part of the tensor")

    @case("groups")
    def _():
        both = dist.new_group([0, 1])
        solo = dist.new_group([1])
        t = torch.tensor([float(rank + 1)])
        if rank > 1:
            assert both == dist.GroupMember.NON_GROUP_MEMBER and dist.get_world_size(both) == -1
            assert dist.all_reduce(t, group=both) is None
            return
        assert dist.get_world_size(both) == 2
        assert dist.get_process_group_ranks(both) == [0, 1]
        dist.all_reduce(t, group=both)
        close(t.numpy(), np.array([3.0]), "float32")
        if rank == 1:
            assert dist.get_rank(solo) == 0 and dist.get_group_rank(solo, 1) == 0
            dist.all_reduce(t, group=solo)
            close(t.numpy(), np.array([3.0]), "float32")
        else:
            assert solo == dist.GroupMember.NON_GROUP_MEMBER
            assert dist.get_rank(solo) == -1
            assert dist.all_reduce(t, group=solo) is None

    @case("objects")
    def _():
        objs = [None] * n
        dist.all_gather_object(objs, {"rank": rank, "tag": "x" * (rank + 1)})
        assert objs == [{"rank": r, "tag": "x" * (r + 1)} for r in range(n)], objs
        lst = [rank, "a", (1, 2)] if rank == 1 else [None, None, None]
        dist.broadcast_object_list(lst, src=1)
        assert lst == [1, "a", (1, 2)], lst
        out = [None]
        dist.scatter_object_list(out, [f"for {r}" for r in range(n)] if rank == 0 else None, src=0)
        assert out == [f"for {rank}"], out
        got = [None] * n if rank == 0 else None
        dist.gather_object(rank * 2, got, dst=0)
        if rank == 0:
            assert got == [2 * r for r in range(n)], got

    @case("errors")
    def _():
        raises(
            ValueError,
            "world_size",
            lambda: dist.all_gather_into_tensor(torch.empty(3), torch.empty(2)),
        )
        raises(
            TypeError,
            "dtype",
            lambda: dist.all_gather_into_tensor(
                torch.empty(2 * n, dtype=torch.int64), torch.empty(2)
            ),
        )
        raises(
            RuntimeError,
            "AVG",
            lambda: dist.all_reduce(torch.ones(2, dtype=torch.int64), op=dist.ReduceOp.AVG),
        )
        raises(ValueError, "not part of group", lambda: dist.broadcast(torch.ones(2), src=n + 3))
        raises(
            ValueError,
            "split sizes",
            lambda: dist.all_to_all_single(torch.empty(4), torch.empty(4), [1], [1]),
        )
        raises(RuntimeError, "twice", lambda: dist.init_process_group("gloo"))
        raises(TypeError, "torch.Tensor", lambda: dist.all_reduce([1.0]))

    @case("state")
    def _():
        assert dist.is_initialized() and dist.is_available() and dist.is_mpi_available()
        assert dist.get_rank() == rank and dist.get_world_size() == n
        assert dist.get_backend() == "gloo"
        assert dist.group.WORLD is dist.GroupMember.WORLD

    return results


def main() -> None:
    dist.init_process_group("gloo", timeout=timedelta(seconds=60))
    rank, n = dist.get_rank(), dist.get_world_size()
    write_results(run(rank, n))


if __name__ == "__main__":
    main()
