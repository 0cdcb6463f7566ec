"""Cholesky factorisation (``cholesky``, ``cholesky_ex``) column by column with batched tensor
ops, differentiated with PyTorch's closed-form backward (Murray 2016, arXiv:1602.07527)."""

from __future__ import annotations

from typing import Any

import rustorch as torch
from rustorch import Tensor
from rustorch.autograd import Function

from ._common import batch_shape, check_linalg, linalg_cholesky_ex, raise_info
from ._lu import tri_solve


def cholesky_kernel(a: Tensor) -> tuple[Tensor, Tensor]:
    """Lower Cholesky factor of the lower triangle of ``a`` and LAPACK's ``info`` (int32: the
    order of the first leading minor that is not positive-definite, 0 if none)."""
    n = a.shape[-1]
    batch = batch_shape(a)
    cols: list[Tensor] = []
    info = torch.zeros(batch, dtype=torch.int32, device=a.device)
    for j in range(n):
        s = a[..., j:, j]
        if j:
            prev = torch.stack(cols, -1)  # (..., n, j)
            s = s - (prev[..., j:, :] * prev[..., j : j + 1, :]).sum(-1)
        pivot = s[..., :1]
        bad = ~(pivot[..., 0] > 0)
        info = torch.where(bad & (info == 0), torch.full_like(info, j + 1), info)
        # Keep the factor finite where it failed (LAPACK stops; the result is unspecified).
        safe = torch.where(pivot > 0, pivot, torch.ones_like(pivot)).sqrt()
        col = s / safe
        if j:
            col = torch.cat([torch.zeros(batch + (j,), dtype=a.dtype, device=a.device), col], -1)
        cols.append(col)
    if n == 0:
        return a.clone(), info
    return torch.stack(cols, -1), info


class _Cholesky(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> tuple[Tensor, Tensor]:
        lower, info = cholesky_kernel(a)
        ctx.save_for_backward(lower)
        return lower, info

    @staticmethod
    def backward(ctx: Any, gl: Tensor, _ginfo: Any) -> Tensor:
        (lower,) = ctx.saved_tensors
        # PyTorch's cholesky_backward: gA = L^{-H} Phi(L^H gL) L^{-1}, symmetrised.
        phi = (lower.mT @ gl).tril()
        phi = 0.5 * (phi + phi.tril(-1).mT)
        x = tri_solve(lower.mT, phi, upper=True)  # L^{-H} phi
        return tri_solve(lower.mT, x.mT, upper=True).mT  # x L^{-1} = (L^{-T} x^T)^T


def cholesky_ex(
    A: Tensor, *, upper: bool = False, check_errors: bool = False, out: Any = None  # noqa: N803
) -> linalg_cholesky_ex:
    """``torch.linalg.cholesky_ex``: ``(L, info)`` without raising unless ``check_errors``.
    Where the factorisation fails the returned factor is finite but meaningless (PyTorch's
    holds LAPACK's partial result)."""
    check_linalg(A, "linalg.cholesky", square=True)
    lower, info = _Cholesky.apply(A)
    info = info.detach()
    if check_errors:
        raise_info(info, _message, "linalg.cholesky")
    return linalg_cholesky_ex(lower.mT if upper else lower, info)


def _message(k: int) -> str:
    return (
        "The factorization could not be completed because the input is not "
        f"positive-definite (the leading minor of order {k} is not positive-definite)."
    )


def cholesky(A: Tensor, *, upper: bool = False, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.cholesky``: ``L`` with ``A = L L^T`` (``U^T U`` when ``upper``), reading
    the lower triangle of ``A``; non-positive-definite input raises PyTorch's
    ``LinAlgError``. The gradient is PyTorch's (symmetric in ``A``)."""
    lower, info = cholesky_ex(A, upper=upper)
    raise_info(info, _message, "linalg.cholesky")
    return lower
