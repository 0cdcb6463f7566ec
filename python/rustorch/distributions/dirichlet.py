"""``Dirichlet(concentration)``, as ``torch.distributions.dirichlet.Dirichlet``.

Same constraints, shapes (last dim of ``concentration`` is the event) and formulas as
PyTorch. Draws normalise independent Gamma draws; like ``Gamma``, ``rsample`` raises
``NotImplementedError`` when ``concentration`` requires grad (PyTorch's implicit
reparameterisation gradient is not implemented).
"""

from __future__ import annotations

from typing import Any, Sequence

import rustorch as torch
from rustorch import Tensor

from . import constraints
from .exp_family import ExponentialFamily
from .gamma import _standard_gamma
from .utils import _digamma, _lgamma, _size, _xlogy

__all__ = ["Dirichlet"]


class Dirichlet(ExponentialFamily):
    """Dirichlet distribution over the probability simplex."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Dirichlet:
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = _size(batch_shape)
        new.concentration = self.concentration.expand(tuple(batch_shape) + tuple(self.event_shape))
        super(Dirichlet, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        gammas = _standard_gamma(self.concentration.expand(shape))
        return gammas / gammas.sum(-1, keepdim=True)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return (_xlogy(self.concentration - 1.0, value).sum(-1)
                + _lgamma(self.concentration.sum(-1)) - _lgamma(self.concentration).sum(-1))

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        # All concentrations below one: the mode is the vertex of the largest one.
        mask = (self.concentration < 1).all(-1, keepdim=True)
        one_hot = torch.zeros_like(mode).scatter_(-1, mode.argmax(-1, keepdim=True), 1.0)
        return torch.where(mask, one_hot, mode)

    @property
    def variance(self) -> Tensor:
        con0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self) -> Tensor:
        k = self.concentration.size(-1)
        a0 = self.concentration.sum(-1)
        return (_lgamma(self.concentration).sum(-1) - _lgamma(a0) - (k - a0) * _digamma(a0)
                - ((self.concentration - 1.0) * _digamma(self.concentration)).sum(-1))

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.concentration,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return _lgamma(x).sum(-1) - _lgamma(x.sum(-1))
