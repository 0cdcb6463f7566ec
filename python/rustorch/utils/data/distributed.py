"""``DistributedSampler``: each rank's share of a dataset (``torch.utils.data.distributed``)."""

from __future__ import annotations

import math
from typing import Iterator, Optional, Sized, TypeVar

import rustorch
from rustorch.utils._misc import randperm_list

from .sampler import Sampler

__all__ = ["DistributedSampler"]

_T_co = TypeVar("_T_co", covariant=True)


class DistributedSampler(Sampler[_T_co]):
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` reads, as
    ``torch.utils.data.distributed.DistributedSampler``: with ``shuffle`` every rank draws
    the same permutation from a generator seeded with ``seed + epoch`` (call
    ``set_epoch`` each epoch), pads it by repeating its start (or, with ``drop_last``, trims
    it) to a multiple of ``num_replicas``, and takes every ``num_replicas``-th index from
    ``rank``. The order differs from PyTorch's for the same seed; the shares have PyTorch's
    sizes and are disjoint.
    ``num_replicas`` and ``rank`` default to the default process group's."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        from rustorch import distributed as dist

        if num_replicas is None:
            if not dist.is_initialized():
                raise RuntimeError("Requires distributed package to be available")
            num_replicas = dist.get_world_size()
        if rank is None:
            if not dist.is_initialized():
                raise RuntimeError("Requires distributed package to be available")
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)  # type: ignore[arg-type]
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[_T_co]:
        n = len(self.dataset)  # type: ignore[arg-type]
        if self.shuffle:
            g = rustorch.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = randperm_list(n, g)
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        mine = indices[self.rank : self.total_size : self.num_replicas]
        assert len(mine) == self.num_samples
        return iter(mine)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch, which seeds the shuffle: call it before each epoch's iterator."""
        self.epoch = epoch
