"""Samplers for Poisson and Binomial draws, from ``rustorch.rand`` and tensor ops.

rustorch has no ``torch.poisson`` / ``torch.binomial`` kernels, so draws are made here, in
float64, elementwise-vectorised over the (flattened) parameters:

* Poisson, ``rate < 10``: inversion -- walk the CDF ``P(X <= k)`` (pmf recurrence
  ``p_k = p_{k-1} rate / k``) until it passes a uniform; the loop runs max-draw + 1 steps.
* Poisson, ``rate >= 10``: Hörmann's transformed rejection with squeeze (PTRS, 1993), the
  method NumPy uses; each round redraws only the rejected elements.
* Binomial, with ``p' = min(p, 1 - p)`` (the draw for ``p > 1/2`` is ``n - draw(1 - p)``):
  inversion when ``n p' < 10``, else Hörmann's BTRS rejection (as PyTorch's CPU kernel),
  its acceptance test written with ``lgamma``.

Results are exact draws from the distributions (no normal approximation); the streams
differ from PyTorch's for the same seed.
"""

from __future__ import annotations

from typing import Callable

import rustorch as torch
from rustorch import Tensor

from .utils import _lgamma

_INVERSION_MAX_STEPS = 1000  # far beyond any draw of a mean below 10


def _split_apply(mask: Tensor, out: Tensor, fn: Callable[[Tensor], Tensor],
                 *params: Tensor) -> None:
    """``out[mask] = fn(*(p[mask] for p in params))`` on flat tensors."""
    idx = mask.nonzero().reshape(-1)
    if idx.numel() == 0:
        return
    vals = fn(*[p.index_select(0, idx) for p in params])
    out.scatter_(0, idx, vals)


def _rand(like: Tensor) -> Tensor:
    return torch.rand(tuple(like.shape), dtype=like.dtype, device=like.device)


def _poisson_inversion(lam: Tensor) -> Tensor:
    u = _rand(lam)
    k = torch.zeros_like(lam)
    p = torch.exp(-lam)
    cdf = p
    active = u > cdf
    i = 0
    while i < _INVERSION_MAX_STEPS and bool(active.any()):
        i += 1
        k = k + active.to(lam.dtype)
        p = p * lam / i
        cdf = cdf + p
        active = active & (u > cdf)
    return k


def _rejection_loop(n: int, like: Tensor, propose: Callable[[Tensor], tuple[Tensor, Tensor]]
                    ) -> Tensor:
    """Run ``propose(idx) -> (k, accepted)`` on the pending indices until all accept."""
    out = torch.zeros_like(like)
    pending = torch.arange(n, device=like.device)
    while pending.numel():
        k, accepted = propose(pending)
        acc = accepted.nonzero().reshape(-1)
        if acc.numel():
            out.scatter_(0, pending.index_select(0, acc), k.index_select(0, acc))
        pending = pending.index_select(0, (~accepted).nonzero().reshape(-1))
    return out


def _poisson_ptrs(lam: Tensor) -> Tensor:
    slam = lam.sqrt()
    loglam = lam.log()
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    log_invalpha = torch.log(1.1239 + 1.1328 / (b - 3.4))
    vr = 0.9277 - 3.6224 / (b - 2)

    def propose(idx: Tensor) -> tuple[Tensor, Tensor]:
        lam_i, loglam_i = lam.index_select(0, idx), loglam.index_select(0, idx)
        a_i, b_i = a.index_select(0, idx), b.index_select(0, idx)
        u = _rand(lam_i) - 0.5
        v = _rand(lam_i)
        us = 0.5 - u.abs()
        k = torch.floor((2 * a_i / us + b_i) * u + lam_i + 0.43)
        fast = (us >= 0.07) & (v <= vr.index_select(0, idx))
        early_reject = (k < 0) | ((us < 0.013) & (v > us))
        kc = k.clamp(min=0)
        lhs = v.log() + log_invalpha.index_select(0, idx) - torch.log(a_i / (us * us) + b_i)
        rhs = -lam_i + kc * loglam_i - _lgamma(kc + 1)
        return kc, fast | (~early_reject & (lhs <= rhs))

    return _rejection_loop(lam.shape[0], lam, propose)


def sample_poisson(rate: Tensor) -> Tensor:
    """Independent Poisson draws with the given rates (same shape and dtype)."""
    flat = rate.detach().reshape(-1).double()
    out = torch.zeros_like(flat)
    small = flat < 10
    _split_apply(small, out, _poisson_inversion, flat)
    _split_apply(~small, out, _poisson_ptrs, flat)
    return out.reshape(tuple(rate.shape)).to(rate.dtype)


def _binomial_inversion(n: Tensor, p: Tensor) -> Tensor:
    u = _rand(p)
    q = 1 - p
    r = p / q
    pmf = torch.exp(n * torch.log1p(-p))
    cdf = pmf
    k = torch.zeros_like(p)
    active = (u > cdf) & (k < n)
    i = 0
    while i < _INVERSION_MAX_STEPS and bool(active.any()):
        i += 1
        k = k + active.to(p.dtype)
        pmf = pmf * r * (n - i + 1) / i
        cdf = cdf + pmf
        active = active & (u > cdf) & (k < n)
    return k


def _binomial_btrs(n: Tensor, p: Tensor) -> Tensor:
    q = 1 - p
    spq = (n * p * q).sqrt()
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    vr = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = torch.log(p / q)
    m = torch.floor((n + 1) * p)
    h = _lgamma(m + 1) + _lgamma(n - m + 1)

    def propose(idx: Tensor) -> tuple[Tensor, Tensor]:
        def sel(t: Tensor) -> Tensor:
            return t.index_select(0, idx)

        n_i, a_i, b_i = sel(n), sel(a), sel(b)
        u = _rand(n_i) - 0.5
        v = _rand(n_i)
        us = 0.5 - u.abs()
        k = torch.floor((2 * a_i / us + b_i) * u + sel(c))
        in_range = (k >= 0) & (k <= n_i)
        fast = (us >= 0.07) & (v <= sel(vr))
        kc = torch.minimum(k.clamp(min=0), n_i)
        log_v = torch.log(v * sel(alpha) / (a_i / (us * us) + b_i))
        bound = sel(h) - _lgamma(kc + 1) - _lgamma(n_i - kc + 1) + (kc - sel(m)) * sel(lpq)
        return kc, in_range & (fast | (log_v <= bound))

    return _rejection_loop(n.shape[0], p, propose)


def sample_binomial(total_count: Tensor, probs: Tensor) -> Tensor:
    """Independent Binomial draws (same shape as the broadcast arguments, ``probs``' dtype)."""
    n = total_count.detach().reshape(-1).double()
    p = probs.detach().reshape(-1).double()
    flip = p > 0.5
    pp = torch.where(flip, 1 - p, p)
    out = torch.zeros_like(p)
    small = n * pp < 10
    _split_apply(small, out, _binomial_inversion, n, pp)
    _split_apply(~small, out, _binomial_btrs, n, pp)
    out = torch.where(flip, n - out, out)
    return out.reshape(tuple(probs.shape)).to(probs.dtype)


def sample_standard_gamma(concentration: Tensor) -> Tensor:
    """Independent ``Gamma(concentration, 1)`` draws: Marsaglia & Tsang's (2000) squeeze
    rejection for shape ``>= 1``; shapes ``< 1`` draw with shape + 1 and scale by
    ``U ** (1 / shape)``. Results are clamped below at the dtype's ``tiny`` as PyTorch does."""
    alpha = concentration.detach().reshape(-1).double()
    boost = alpha < 1
    a = torch.where(boost, alpha + 1, alpha)
    d = a - 1.0 / 3.0
    c = (9 * d).rsqrt()

    def propose(idx: Tensor) -> tuple[Tensor, Tensor]:
        d_i, c_i = d.index_select(0, idx), c.index_select(0, idx)
        z = torch.randn(tuple(idx.shape), dtype=d.dtype, device=d.device)
        v = (1 + c_i * z).pow(3)
        u = _rand(d_i)
        log_v = v.clamp(min=1e-300).log()
        ok = (v > 0) & (u.log() < 0.5 * z * z + d_i - d_i * v + d_i * log_v)
        return d_i * v, ok

    x = _rejection_loop(alpha.shape[0], alpha, propose)
    x = torch.where(boost, x * _rand(alpha).pow(alpha.reciprocal()), x)
    tiny = torch.finfo(concentration.dtype).tiny
    return x.reshape(tuple(concentration.shape)).to(concentration.dtype).clamp(min=tiny)
