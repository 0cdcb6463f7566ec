"""Data-parallel training of the Keras-style CNN on Fashion-MNIST with
DistributedDataParallel, written as a PyTorch user would (``torchrun`` style).

Each rank trains on its own share of every epoch (``DistributedSampler``) and averages the
gradients with the others after each backward, so all ranks hold the same weights:

    python -m rustorch.distributed.run --nproc-per-node 2 examples/ddp.py
    mpirun -np 2 python examples/ddp.py --epochs 2           # the MPI launcher directly
    mpirun -H host1,host2 -np 4 python examples/ddp.py       # across machines
    python examples/ddp.py --spawn 2    # no launcher: mp.spawn + MASTER_ADDR/MASTER_PORT

Rank 0 shows a tqdm bar, prints the test accuracy after every epoch, and writes
``ddp_loss.png`` (training loss per batch, test loss per epoch) to ``--out`` when matplotlib
is installed. ``--limit N`` trains on the first N images only (a quick run).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import rustorch as torch
import rustorch.distributed as dist
from _shared import plot_losses, test
from cnn import Net, load_data
from rustorch import nn
from rustorch.nn.parallel import DistributedDataParallel as DDP
from rustorch.utils.data import DataLoader
from rustorch.utils.data.distributed import DistributedSampler

try:  # optional progress bar
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64, help="per rank")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=".")
    parser.add_argument(
        "--spawn",
        type=int,
        default=0,
        help="start this many ranks with rustorch.multiprocessing.spawn (no launcher)",
    )
    return parser.parse_args()


def train(rank: int, args: argparse.Namespace) -> None:
    """One rank's training; ``rank`` is -1 under a launcher (which gives the ranks)."""
    if rank < 0:
        dist.init_process_group("gloo")  # served by MPI; the ranks come from the launcher
    else:  # spawned: the ranks meet at MASTER_ADDR:MASTER_PORT, as in PyTorch's tutorial
        dist.init_process_group("gloo", rank=rank, world_size=args.spawn)
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed + rank)  # different starts: DDP copies rank 0's weights

    training_data, test_data = load_data(args.data, args.limit, args.test_limit)
    sampler = DistributedSampler(training_data, shuffle=True, seed=args.seed)
    train_loader = DataLoader(training_data, batch_size=args.batch_size, sampler=sampler)
    test_loader = DataLoader(test_data, batch_size=256)

    model = DDP(Net())
    if rank == 0:
        print(f"{world} ranks, {len(train_loader)} batches of {args.batch_size} per rank per epoch")
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    train_losses, test_losses = [], []
    accuracy = math.nan
    start = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        batches = train_loader
        if rank == 0 and tqdm is not None:
            batches = tqdm(train_loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False)
        for X, y in batches:
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()  # gradients are averaged over the ranks here
            optimizer.step()
            # the mean loss over the ranks, for the curve
            mean = loss.detach().clone()
            dist.all_reduce(mean, op=dist.ReduceOp.AVG)
            train_losses.append(mean.item())
        if rank == 0:
            test_loss, accuracy = test(test_loader, model.module, loss_fn, "cpu")
            test_losses.append(test_loss)
    elapsed = time.perf_counter() - start

    # every rank ends with the same weights
    weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    spread = weights.clone()
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    same = bool(torch.equal(spread, weights))
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        plot_losses(
            os.path.join(args.out, "ddp_loss.png"),
            train_losses,
            test_losses,
            len(train_loader),
            f"Keras-style CNN, DDP over {world} ranks",
        )
        print(
            f"Final test accuracy: {100 * accuracy:.2f}% on {len(test_data)} images "
            f"({args.epochs} epoch(s), {elapsed:.1f} s, {world} ranks; "
            f"weights identical on every rank: {same})"
        )
    dist.destroy_process_group()


def main() -> None:
    args = parse_args()
    if args.spawn:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29512")
        torch.multiprocessing.spawn(train, args=(args,), nprocs=args.spawn)
    else:
        train(-1, args)


if __name__ == "__main__":
    main()
