"""``Gamma(concentration, rate)``, as ``torch.distributions.gamma.Gamma``.

Same constraints, shapes and formulas as PyTorch (``log_prob``, ``entropy`` via ``lgamma``
and ``digamma``); ``cdf`` (needs the incomplete gamma function) is not provided. Draws use
Marsaglia–Tsang (``_samplers.sample_standard_gamma``). Differs from PyTorch: ``rsample`` is
pathwise in ``rate`` only -- PyTorch's implicit reparameterisation gradient with respect to
``concentration`` is not implemented, so ``rsample`` raises ``NotImplementedError`` when
``concentration`` requires grad (``sample`` always works).
"""

from __future__ import annotations

from typing import Any, Sequence

import rustorch as torch
from rustorch import Tensor

from . import constraints
from ._samplers import sample_standard_gamma
from .exp_family import ExponentialFamily
from .utils import _digamma, _is_number, _lgamma, _size, _xlogy, broadcast_all

__all__ = ["Gamma"]


def _standard_gamma(concentration: Tensor) -> Tensor:
    if concentration.requires_grad and torch.is_grad_enabled():
        raise NotImplementedError(
            "rustorch.distributions: the reparameterised gradient of Gamma / Beta / Dirichlet "
            "samples with respect to the concentration is not implemented; use .sample() "
            "or detach the concentration"
        )
    return sample_standard_gamma(concentration)


class Gamma(ExponentialFamily):
    """Gamma distribution with shape ``concentration`` and inverse scale ``rate``."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, concentration: Tensor | float, rate: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate)
        if _is_number(concentration) and _is_number(rate):
            batch_shape = _size()
        else:
            batch_shape = self.concentration.size()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Gamma:
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = _size(batch_shape)
        new.concentration = self.concentration.expand(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        super(Gamma, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return value.clamp(min=torch.finfo(value.dtype).tiny)

    def log_prob(self, value: Tensor) -> Tensor:
        value = torch.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device)
        if self._validate_args:
            self._validate_sample(value)
        return (_xlogy(self.concentration, self.rate) + _xlogy(self.concentration - 1, value)
                - self.rate * value - _lgamma(self.concentration))

    def entropy(self) -> Tensor:
        return (self.concentration - torch.log(self.rate) + _lgamma(self.concentration)
                + (1.0 - self.concentration) * _digamma(self.concentration))

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return _lgamma(x + 1) + (x + 1) * torch.log(-y.reciprocal())
