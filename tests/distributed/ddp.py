"""DistributedDataParallel on 2+ ranks against one process training on the concatenated
batches. Run by tests/test_distributed.py under ``mpirun``; writes {case: "ok" | error}."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import rustorch as torch
import rustorch.distributed as dist
from _cases import case_runner, write_results
from rustorch import nn
from rustorch.nn.parallel import DistributedDataParallel as DDP


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def lenet() -> nn.Module:
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


def batch(step: int, rank: int, shape, batch_size: int):
    """Rank `rank`'s batch of step `step`, the same on every rank that asks."""
    g = np.random.default_rng(10_000 + 97 * step + rank)
    x = torch.from_numpy(g.standard_normal((batch_size, *shape), dtype=np.float32))
    y = torch.from_numpy(g.integers(0, 10, batch_size))
    return x, y


def flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 4, 3, stride=2),
        nn.BatchNorm2d(4, momentum=None),
        nn.Flatten(),
        nn.Linear(4 * 5 * 5, 10),
        nn.BatchNorm1d(10, affine=False),
    )


def sync_bn_net() -> nn.Module:
    return nn.SyncBatchNorm.convert_sync_batchnorm(bn_net())


def train_pair(
    make, shape, steps: int, batch_size: int, rank: int, n: int, opt="sgd", hook=None,
    dtype=torch.float32, make_ref=None,
):
    torch.manual_seed(rank)  # every rank starts elsewhere: DDP must copy rank 0's weights
    model = make().to(dtype)
    ddp = DDP(model, bucket_cap_mb=0.25 if hook else None)
    if hook is not None:
        ddp.register_comm_hook(None, hook)
    torch.manual_seed(0)
    # rank 0's start, trained by one process on every rank's batches
    ref = (make_ref or make)().to(dtype)
    assert torch.equal(flat(model), flat(ref)), "DDP did not broadcast rank 0's parameters"

    def optimizer(params):
        if opt == "adam":
            return torch.optim.Adam(params, lr=1e-3)
        return torch.optim.SGD(params, lr=0.05, momentum=0.9)

    o, o_ref = optimizer(ddp.parameters()), optimizer(ref.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for step in range(steps):
        x, y = batch(step, rank, shape, batch_size)
        o.zero_grad()
        loss_fn(ddp(x.to(dtype)), y).backward()
        o.step()
        xs, ys = zip(*(batch(step, r, shape, batch_size) for r in range(n)))
        o_ref.zero_grad()
        loss_fn(ref(torch.cat(xs).to(dtype)), torch.cat(ys)).backward()
        o_ref.step()
    return model, ref


def same_everywhere(t: torch.Tensor) -> bool:
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, t.tolist())
    return all(e == everyone[0] for e in everyone)


def run(rank: int, n: int) -> dict:
    results = {}

    case = case_runner(results)

    # The long runs train in float64: on random labels at this learning rate, float32's
    # rounding differences between one big batch and averaged halves (1e-8 after 100 steps)
    # can flip a ReLU and grow to 1e-2 within 50 more steps, depending on the initial
    # weights; float64's stay far below the bound.
    @case("mlp-sgd-200-steps")
    def _():
        model, ref = train_pair(mlp, (1, 28, 28), 200, 16, rank, n, dtype=torch.float64)
        d = (flat(model) - flat(ref)).abs().max().item()
        assert d < 1e-4, f"max |DDP - one process| = {d}"
        assert same_everywhere(flat(model))

    @case("lenet-sgd-200-steps")
    def _():
        model, ref = train_pair(lenet, (3, 32, 32), 200, 8, rank, n, dtype=torch.float64)
        d = (flat(model) - flat(ref)).abs().max().item()
        assert d < 1e-4, f"max |DDP - one process| = {d}"
        assert same_everywhere(flat(model))

    @case("lenet-adam-50-steps")
    def _():
        # Adam turns float32 rounding differences of near-zero gradients into steps of its
        # learning rate: on random labels the two runs drift apart after ~100 steps (5e-6
        # at 50, 2e-2 at 100, with 3 ranks), so this one stops earlier than SGD's
        model, ref = train_pair(lenet, (3, 32, 32), 50, 8, rank, n, opt="adam")
        d = (flat(model) - flat(ref)).abs().max().item()
        assert d < 1e-4, f"max |DDP - one process| = {d}"
        assert same_everywhere(flat(model))

    @case("sync-batch-norm-is-the-whole-batch")
    def _():
        # Each rank's output and input gradient are its slice of one batch norm over every
        # rank's batch (the loss the sum of the ranks' losses); the weight and bias
        # gradients, summed over the ranks, are the whole batch's; the running statistics
        # are the whole batch's.
        def data(r):
            g = np.random.default_rng(500 + r)
            return (torch.from_numpy(g.standard_normal((4, 3, 5, 2))),
                    torch.from_numpy(g.standard_normal((4, 3, 5, 2))))

        torch.manual_seed(0)
        sync = nn.SyncBatchNorm(3).double()
        ref = nn.BatchNorm2d(3).double()
        with torch.no_grad():
            for m in (sync, ref):
                m.weight.copy_(torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64))
                m.bias.copy_(torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64))
        x, w = data(rank)
        x.requires_grad_(True)
        out = sync(x)
        assert type(out.grad_fn).__name__ == "SyncBatchNormBackward"
        (out * w).sum().backward()
        pairs = [data(r) for r in range(n)]
        xs = torch.cat([p[0] for p in pairs]).requires_grad_(True)
        full = ref(xs)
        (full * torch.cat([p[1] for p in pairs])).sum().backward()
        mine = slice(4 * rank, 4 * rank + 4)
        assert torch.allclose(out, full[mine], atol=1e-12), "output"
        assert torch.allclose(x.grad, xs.grad[mine], atol=1e-12), "input gradient"
        for name in ("weight", "bias"):
            g = getattr(sync, name).grad.clone()
            dist.all_reduce(g)
            assert torch.allclose(g, getattr(ref, name).grad, atol=1e-12), name
        assert torch.allclose(sync.running_mean, ref.running_mean, atol=1e-14)
        assert torch.allclose(sync.running_var, ref.running_var, atol=1e-14)
        # eval mode normalises with the running statistics, locally
        sync.eval()
        ref.eval()
        assert torch.allclose(sync(x), ref(x), atol=1e-14)

    @case("sync-batch-norm-ddp-training")
    def _():
        # A network whose batch norms become SyncBatchNorm trains under DDP as one process
        # with plain batch norms on the concatenated batches (parameters and running stats)
        model, ref = train_pair(sync_bn_net, (3, 13, 13), 30, 8, rank, n,
                                dtype=torch.float64, make_ref=bn_net)
        d = (flat(model) - flat(ref)).abs().max().item()
        assert d < 1e-8, f"max |DDP - one process| = {d}"
        for (name, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items()):
            assert torch.allclose(a.double(), b.double(), atol=1e-8), name
        assert same_everywhere(flat(model))

    @case("small-buckets")
    def _():
        torch.manual_seed(0)
        model = mlp()
        ddp = DDP(model, bucket_cap_mb=0.05)
        assert len(ddp._buckets) > 3, len(ddp._buckets)
        x, y = batch(0, rank, (1, 28, 28), 8)
        nn.functional.cross_entropy(ddp(x), y).backward()
        torch.manual_seed(0)
        ref = mlp()
        xs, ys = zip(*(batch(0, r, (1, 28, 28), 8) for r in range(n)))
        nn.functional.cross_entropy(ref(torch.cat(xs)), torch.cat(ys)).backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-6), (p.grad - q.grad).abs().max()

    @case("no_sync-accumulation")
    def _():
        torch.manual_seed(0)
        model = mlp()
        ddp = DDP(model)
        torch.manual_seed(0)
        ref = mlp()
        with ddp.no_sync():
            x, y = batch(0, rank, (1, 28, 28), 8)
            (nn.functional.cross_entropy(ddp(x), y) / 2).backward()
        local = [p.grad.clone() for p in model.parameters()]
        assert not same_everywhere(local[0]), "no_sync averaged the gradients"
        x, y = batch(1, rank, (1, 28, 28), 8)
        (nn.functional.cross_entropy(ddp(x), y) / 2).backward()
        xs, ys = zip(*(batch(s, r, (1, 28, 28), 8) for s in (0, 1) for r in range(n)))
        nn.functional.cross_entropy(ref(torch.cat(xs)), torch.cat(ys)).backward()
        for p, q in zip(model.parameters(), ref.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-6), (p.grad - q.grad).abs().max()

    @case("find_unused_parameters")
    def _():
        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 3)
                self.only_rank0 = nn.Linear(3, 3)
                self.never = nn.Linear(3, 3)

            def forward(self, x):
                h = self.a(x)
                if dist.get_rank() == 0:
                    h = self.only_rank0(h)
                return h

        torch.manual_seed(0)
        m = Branchy()
        ddp = DDP(m, find_unused_parameters=True)
        x = torch.full((2, 4), float(rank + 1))
        for _ in range(2):  # twice: the state resets between iterations
            m.zero_grad(set_to_none=True)
            ddp(x).sum().backward()
        assert m.never.weight.grad is None and m.never.bias.grad is None
        g = m.only_rank0.weight.grad
        assert g is not None and same_everywhere(g)
        torch.manual_seed(0)
        alone = Branchy()
        alone.only_rank0(alone.a(torch.full((2, 4), 1.0))).sum().backward()
        assert torch.allclose(g, alone.only_rank0.weight.grad / n, atol=1e-6)

    @case("find_unused-collective-before-backward-no_sync")
    def _():
        class Heads(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 3)
                self.b = nn.Linear(3, 3)  # used in the no_sync step only
                self.c = nn.Linear(3, 3)  # never used

            def forward(self, x, use_b):
                h = self.a(x)
                return self.b(h) if use_b else h

        torch.manual_seed(0)
        m = Heads()
        ddp = DDP(m, find_unused_parameters=True, bucket_cap_mb=0.0001)
        x = torch.full((2, 4), float(rank + 1))
        with ddp.no_sync():
            ddp(x, True).sum().backward()
        out = ddp(x, False)
        ddp(x, False)  # a second forward before backward is no error
        loss = out.sum()
        logged = loss.detach().clone()
        dist.all_reduce(logged)  # a collective between forward and backward
        loss.backward()
        assert m.c.weight.grad is None
        assert m.b.weight.grad is not None and same_everywhere(m.b.weight.grad)
        assert same_everywhere(m.a.weight.grad)
        torch.manual_seed(0)
        alone = Heads()
        gb = []
        for r in range(n):
            alone.zero_grad(set_to_none=True)
            alone(torch.full((2, 4), float(r + 1)), True).sum().backward()
            gb.append(alone.b.weight.grad.clone())
        assert torch.allclose(m.b.weight.grad, sum(gb) / n, atol=1e-6)

    @case("unused-without-detection-raises")
    def _():
        class Unused(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 3)
                self.b = nn.Linear(3, 3)

            def forward(self, x):
                return self.a(x)

        ddp = DDP(Unused())
        ddp(torch.ones(2, 4)).sum().backward()
        try:
            ddp(torch.ones(2, 4))
        except RuntimeError as e:
            assert "Expected to have finished reduction" in str(e)
            return
        raise AssertionError("no RuntimeError")

    @case("buffers-state_dict-DataParallel")
    def _():
        torch.manual_seed(rank)
        m = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
        ddp = DDP(m)
        for _ in range(3):
            x = torch.randn(6, 4) + rank
            ddp(x).sum().backward()
        # each training forward updates the statistics from the rank's own batch; an eval
        # forward starts by copying rank 0's to every rank and changes none
        assert not same_everywhere(m[1].running_var)
        ddp.eval()
        before = m[1].running_var.clone()
        ddp(torch.randn(2, 4))
        assert same_everywhere(torch.cat([flat(m), m[1].running_var, m[1].running_mean]))
        assert rank != 0 or torch.equal(m[1].running_var, before)
        ddp.train()
        keys = list(ddp.state_dict())
        assert keys[0] == "module.0.weight" and "module.1.num_batches_tracked" in keys, keys
        assert isinstance(ddp.module, nn.Sequential)
        dp = nn.DataParallel(m)
        m.eval()
        x = torch.randn(3, 4)
        assert torch.equal(dp(x), m(x))
        assert list(dp.state_dict()) == keys

    @case("comm-hooks")
    def _():
        from rustorch.distributed.algorithms.ddp_comm_hooks import default_hooks as hooks

        # PyTorch's all-reduce hook is what DDP does without one
        model, ref = train_pair(mlp, (1, 28, 28), 30, 16, rank, n, hook=hooks.allreduce_hook)
        d = (flat(model) - flat(ref)).abs().max().item()
        assert d < 1e-4, f"allreduce_hook: max |DDP - one process| = {d}"
        for h in (hooks.fp16_compress_hook, hooks.bf16_compress_hook):
            model, ref = train_pair(mlp, (1, 28, 28), 10, 16, rank, n, hook=h)
            d = (flat(model) - flat(ref)).abs().max().item()
            assert 0 < d < 1e-2, f"{h.__name__}: max |DDP - one process| = {d}"
            assert same_everywhere(flat(model))

    @case("comm-hook-contract")
    def _():
        torch.manual_seed(0)
        ddp = DDP(mlp(), bucket_cap_mb=0.25)
        seen = []

        def hook(state, bucket):
            # the bucket holds this rank's own gradients, not yet averaged
            seen.append((state, bucket.index(), bucket.is_last(), bucket.buffer().numel()))
            for g, p in zip(bucket.gradients(), bucket.parameters()):
                assert torch.equal(g, p.grad), "a gradient of the bucket is not the .grad"
            fut = torch.futures.Future()
            fut.set_result([torch.full_like(bucket.buffer(), float(bucket.index() + 1))])
            return fut

        ddp.register_comm_hook("state", hook)
        x, y = batch(0, rank, (1, 28, 28), 4)
        nn.CrossEntropyLoss()(ddp(x), y).backward()
        nb = len(seen)
        assert nb >= 2, seen
        assert [s[1] for s in seen] == list(range(nb)) and [s[2] for s in seen][-1], seen
        assert all(s[0] == "state" for s in seen)
        sizes = sorted(p.numel() for p in ddp.module.parameters())
        assert sum(s[3] for s in seen) == sum(sizes)
        values = {float(v) for p in ddp.module.parameters() for v in p.grad.unique().tolist()}
        assert values == {float(i + 1) for i in range(nb)}, values
        for bad, kind in ((hook, RuntimeError), (3, TypeError)):
            try:
                DDP(mlp()).register_comm_hook(None, bad) if kind is TypeError else (
                    ddp.register_comm_hook(None, bad)
                )
            except kind:
                pass
            else:
                raise AssertionError(f"no {kind.__name__}")

    @case("distributed-sampler")
    def _():
        from rustorch.utils.data import DataLoader, DistributedSampler, TensorDataset

        ds = TensorDataset(torch.arange(23))
        s = DistributedSampler(ds, shuffle=True, seed=3)
        s.set_epoch(1)
        mine = [int(v) for (b,) in DataLoader(ds, batch_size=4, sampler=s) for v in b]
        everyone = [None] * n
        dist.all_gather_object(everyone, mine)
        together = sorted(v for e in everyone for v in e)
        assert len(mine) == -(-23 // n)
        assert set(together) == set(range(23)) and len(together) == n * len(mine)

    return results


def main() -> None:
    dist.init_process_group("gloo", timeout=timedelta(seconds=120))
    rank, n = dist.get_rank(), dist.get_world_size()
    write_results(run(rank, n))


if __name__ == "__main__":
    main()
