"""``ExponentialFamily``, as ``torch.distributions.exp_family``.

A marker base class holding ``_natural_params`` / ``_log_normalizer`` like PyTorch's; the
generic Bregman-divergence ``entropy`` is not provided (every subclass here defines its own
closed-form ``entropy``).
"""

from __future__ import annotations

from rustorch import Tensor

from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Distributions of the form ``p(x; t) = exp(<t(x), theta> - F(theta) + k(x))``."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> float:
        raise NotImplementedError
