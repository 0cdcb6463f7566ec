"""Dropout, matching ``torch.nn.modules.dropout``."""

from __future__ import annotations

from rustorch import Tensor
from rustorch.nn import functional as F

from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


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


class Dropout1d(_DropoutNd):
    r"""Zero whole channels of ``(N, C, L)`` or ``(C, L)`` input with probability ``p``
    (``torch.nn.Dropout1d``); survivors are scaled by :math:`\frac{1}{1-p}`."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.dropout1d`` when ``self.training``."""
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    r"""Zero whole channels of ``(N, C, H, W)`` input with probability ``p``
    (``torch.nn.Dropout2d``); 3-D input is taken as ``(N, C, L)`` with PyTorch's warning."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.dropout2d`` when ``self.training``."""
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    r"""Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with
    probability ``p`` (``torch.nn.Dropout3d``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.dropout3d`` when ``self.training``."""
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    r"""Dropout that keeps the zero mean and unit variance of SELU activations
    (``torch.nn.AlphaDropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.alpha_dropout`` when ``self.training``."""
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    r"""Alpha dropout of whole channels (``torch.nn.FeatureAlphaDropout``)."""

    def forward(self, input: Tensor) -> Tensor:
        """Apply ``F.feature_alpha_dropout`` when ``self.training``."""
        return F.feature_alpha_dropout(input, self.p, self.training)
