"""``torch.distributed.GradBucket``: what a DDP communication hook receives."""

from __future__ import annotations

from typing import List

from rustorch import Tensor

__all__ = ["GradBucket"]


class GradBucket:
    """One DDP bucket: its gradients flattened into one tensor (``buffer()``, not yet
    averaged), the parameters they belong to, and its place in the step (as PyTorch's)."""

    def __init__(self, index: int, buffer: Tensor, params: List[Tensor], last: bool) -> None:
        self._index = index
        self._buffer = buffer
        self._params = params
        self._last = last

    def index(self) -> int:
        """The bucket's index; 0 is the bucket whose all-reduce starts first."""
        return self._index

    def buffer(self) -> Tensor:
        """The flattened gradients of the bucket's parameters."""
        return self._buffer

    def set_buffer(self, buffer: Tensor) -> None:
        """Replaces the flattened gradients."""
        self._buffer = buffer

    def gradients(self) -> List[Tensor]:
        """Each parameter's gradient, as a view into ``buffer()``."""
        out, at = [], 0
        for p in self._params:
            out.append(self._buffer[at : at + p.numel()].view(p.shape))
            at += p.numel()
        return out

    def parameters(self) -> List[Tensor]:
        """The bucket's parameters, in the order of their gradients in ``buffer()``."""
        return list(self._params)

    def is_last(self) -> bool:
        """Whether this is the step's last bucket."""
        return self._last
