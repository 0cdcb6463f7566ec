"""``Multinomial(total_count, probs=None, logits=None)``, as ``torch.distributions.multinomial``.

Same parameterisation (an ``int`` ``total_count``; ``probs``/``logits`` normalised as in
``Categorical``), shapes, validation and formulas as PyTorch: ``sample`` counts
``total_count`` categorical draws per event with ``scatter_add_``; ``log_prob`` uses
``lgamma``; ``entropy`` sums over the binomial marginals.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import rustorch as torch
from rustorch import Tensor

from . import constraints
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .utils import _lgamma, _size, broadcast_all

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    """Counts of ``total_count`` draws from a categorical distribution (last dim: classes)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    total_count: int

    def __init__(self, total_count: int = 1, probs: Tensor | None = None,
                 logits: Tensor | None = None, validate_args: bool | None = None) -> None:
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Multinomial:
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = _size(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        super(Multinomial, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:
        return constraints.multinomial(self.total_count)

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def param_shape(self) -> torch.Size:
        return self._categorical.param_shape

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        sample_shape = _size(sample_shape)
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            if self.total_count == 0:
                return torch.zeros(shape, dtype=self.probs.dtype, device=self.probs.device)
            samples = self._categorical.sample((self.total_count,) + tuple(sample_shape))
            order = list(range(1, samples.dim())) + [0]
            samples = samples.permute(*order)
            counts = torch.zeros(shape, dtype=samples.dtype, device=samples.device)
            counts.scatter_add_(-1, samples, torch.ones_like(samples))
            return counts.type_as(self.probs)

    def entropy(self) -> Tensor:
        n = torch.tensor(float(self.total_count), dtype=self.probs.dtype,
                         device=self.probs.device)
        cat_entropy = self._categorical.entropy()
        term1 = n * cat_entropy - math.lgamma(self.total_count + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = torch.exp(self._binomial.log_prob(support))
        weights = _lgamma(support + 1)
        term2 = (binomial_probs * weights).sum(0).sum(-1)
        return term1 + term2

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = _lgamma(value.sum(-1) + 1)
        log_factorial_xs = _lgamma(value + 1).sum(-1)
        # 0 * log(0) counts as 0: zero counts in impossible classes contribute nothing.
        logits = torch.where((value == 0) & (logits == -math.inf), torch.zeros_like(logits),
                             logits)
        log_powers = (logits * value).sum(-1)
        return log_factorial_n - log_factorial_xs + log_powers
