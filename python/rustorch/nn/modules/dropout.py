"""Dropout, matching ``torch.nn.modules.dropout``."""

from __future__ import annotations

from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module

__all__ = ["Dropout"]


class _DropoutNd(Module):
    __constants__ = ["p", "inplace"]
    p: float
    inplace: bool

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    r"""During training, randomly zero elements with probability ``p`` (``torch.nn.Dropout``).

    Outputs are scaled by :math:`\frac{1}{1-p}` during training; in ``eval()`` mode the
    module is the identity.

    Args:
        p: probability of an element to be zeroed. Default: 0.5
        inplace: If set to ``True``, will do this operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        """Apply dropout when ``self.training``."""
        return F.dropout(input, self.p, self.training, self.inplace)
