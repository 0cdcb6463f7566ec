"""Distance layers, matching ``torch.nn.modules.distance``: ``PairwiseDistance`` and
``CosineSimilarity``, thin modules over the functionals of the same names."""

from __future__ import annotations

from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module

__all__ = ["CosineSimilarity", "PairwiseDistance"]


class PairwiseDistance(Module):
    r"""``‖x1 − x2 + eps‖_p`` over the last dimension (``F.pairwise_distance``), as PyTorch's;
    the order is kept in ``norm``, as PyTorch names it."""

    __constants__ = ["norm", "eps", "keepdim"]

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    r"""The cosine similarity of ``x1`` and ``x2`` along ``dim`` (``F.cosine_similarity``),
    as PyTorch's."""

    __constants__ = ["dim", "eps"]

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
