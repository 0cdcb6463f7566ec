"""Small batched linear algebra from tensor ops, for ``MultivariateNormal``.

rustorch has no ``linalg`` module yet, so the Cholesky factorisation and triangular solves
are written column by column (row by row) with differentiable tensor ops: ``O(n)`` Python
steps, fine for the small event sizes distributions use. Every function broadcasts over
leading batch dimensions.
"""

from __future__ import annotations

import rustorch as torch
from rustorch import Tensor


def diagonal(mat: Tensor) -> Tensor:
    """The diagonal of the last two dims (``mat.diagonal(dim1=-2, dim2=-1)``)."""
    n = mat.shape[-1]
    return torch.stack([mat[..., i, i] for i in range(n)], -1)


def cholesky_ex(a: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.linalg.cholesky_ex``: ``(L, info)``, ``info`` the (1-based) order of the first
    leading minor that is not positive-definite per matrix (0 when it is)."""
    n = a.shape[-1]
    batch = tuple(a.shape[:-2])
    cols: list[Tensor] = []
    info = torch.zeros(batch, dtype=torch.int64, device=a.device)
    for j in range(n):
        s = a[..., j:, j]
        if j:
            prev = torch.stack(cols, -1)  # (..., n, j)
            s = s - (prev[..., j:, :] * prev[..., j : j + 1, :]).sum(-1)
        pivot = s[..., :1]
        bad = ~(pivot[..., 0] > 0)
        info = torch.where(bad & (info == 0), torch.full_like(info, j + 1), info)
        # Keep the factorisation finite where it failed (the result is then not used).
        safe = torch.where(pivot > 0, pivot, torch.ones_like(pivot)).sqrt()
        col = s / safe
        if j:
            col = torch.cat([torch.zeros(batch + (j,), dtype=a.dtype, device=a.device), col], -1)
        cols.append(col)
    return torch.stack(cols, -1), info


def cholesky(a: Tensor) -> Tensor:
    """``torch.linalg.cholesky`` of symmetric positive-definite matrices, with PyTorch's
    error (a ``RuntimeError``, as ``torch.linalg.LinAlgError`` is) when one is not."""
    lower, info = cholesky_ex(a)
    flat = info.reshape(-1)
    failed = (flat != 0).nonzero()
    if failed.shape[0]:
        order = int(flat[int(failed[0, 0])])
        raise RuntimeError(
            "linalg.cholesky: The factorization could not be completed because the input is "
            f"not positive-definite (the leading minor of order {order} is not "
            "positive-definite)."
        )
    return lower


def solve_lower(lower: Tensor, b: Tensor) -> Tensor:
    """Solve ``lower @ x = b`` for vectors ``b`` (``(..., n)``), by forward substitution; the
    batch dims of ``lower`` (``(..., n, n)``) and ``b`` broadcast."""
    n = lower.shape[-1]
    xs: list[Tensor] = []
    for i in range(n):
        r = b[..., i]
        if i:
            prev = torch.stack(xs, -1)
            r = r - (lower[..., i, :i] * prev).sum(-1)
        xs.append(r / lower[..., i, i])
    return torch.stack(xs, -1)


def lower_inverse(lower: Tensor) -> Tensor:
    """The inverse of lower-triangular matrices (itself lower-triangular)."""
    n = lower.shape[-1]
    eye = torch.eye(n, dtype=lower.dtype, device=lower.device)
    # Column k of the inverse solves lower @ x = e_k: solve all columns at once as rows.
    rows = solve_lower(lower.unsqueeze(-3), eye.expand(tuple(lower.shape[:-2]) + (n, n)))
    return rows.mT


def flip_last2(mat: Tensor) -> Tensor:
    """``torch.flip(mat, (-2, -1))``."""
    n = mat.shape[-1]
    rev = torch.arange(n - 1, -1, -1, device=mat.device)
    return mat.index_select(-1, rev).index_select(-2, rev)


def precision_to_scale_tril(p: Tensor) -> Tensor:
    """The lower Cholesky factor of ``inverse(p)``, as PyTorch computes it: the Cholesky of
    the flipped precision gives an upper factor whose triangular inverse is ``L``."""
    lf = cholesky(flip_last2(p))
    l_inv = flip_last2(lf).mT
    return lower_inverse(l_inv)


def batch_mahalanobis(lower: Tensor, x: Tensor) -> Tensor:
    """``x^T (L L^T)^{-1} x`` over the last dim, broadcasting ``L``'s batch dims with ``x``'s."""
    return solve_lower(lower, x).pow(2).sum(-1)
