"""The top-level (``torch.*``) linear-algebra functions, thin wrappers over ``linalg``:
``det``, ``logdet``, ``slogdet``, ``inverse``, ``pinverse``, ``svd`` (old API: ``V``, not
``Vh``), ``qr`` (old API: ``some``), ``cholesky`` (deprecated API), ``matrix_power``,
``cholesky_solve``, ``cholesky_inverse``."""

from __future__ import annotations

from typing import Any

from rustorch import Tensor
from rustorch.autograd import Function

from . import _common
from ._cholesky import cholesky as _linalg_cholesky
from ._decomp import qr as _linalg_qr
from ._decomp import svd as _linalg_svd
from ._derived import matrix_power as _matrix_power
from ._derived import pinv
from ._lu import det as _det
from ._lu import inv, logdet, tri_solve
from ._lu import slogdet as _linalg_slogdet

__all__ = [
    "cholesky",
    "cholesky_inverse",
    "cholesky_solve",
    "det",
    "inverse",
    "logdet",
    "matrix_power",
    "pinverse",
    "qr",
    "slogdet",
    "svd",
]


def det(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.det``: alias of ``torch.linalg.det``."""
    return _det(input)


def inverse(input: Tensor, *, out: Any = None) -> Tensor:  # noqa: A002
    """``torch.inverse``: alias of ``torch.linalg.inv``."""
    return inv(input)


def slogdet(input: Tensor) -> _common.slogdet:  # noqa: A002
    """``torch.slogdet``: ``(sign, logabsdet)`` as ``torch.linalg.slogdet``."""
    sign, logabs = _linalg_slogdet(input)
    return _common.slogdet(sign, logabs)


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """``torch.pinverse``: ``torch.linalg.pinv(input, rtol=rcond)``."""
    return pinv(input, rtol=rcond)


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> _common.svd:  # noqa: A002
    """``torch.svd`` (deprecated in PyTorch): ``(U, S, V)`` with ``V`` (not ``Vh``); ``some``
    is the negation of ``full_matrices``; ``compute_uv=False`` gives zero-filled ``U``/``V``
    of the full shapes, as PyTorch."""
    if not compute_uv:
        from ._decomp import svdvals

        s = svdvals(input)
        m, n = input.shape[-2], input.shape[-1]
        batch = tuple(input.shape[:-2])
        z = input.new_zeros
        return _common.svd(z(batch + (m, m)), s, z(batch + (n, n)))
    u, s, vh = _linalg_svd(input, full_matrices=not some)
    return _common.svd(u, s, vh.mT)


def qr(input: Tensor, some: bool = True) -> _common.qr:  # noqa: A002
    """``torch.qr`` (deprecated in PyTorch): ``mode='reduced'`` when ``some`` else
    ``'complete'``."""
    q, r = _linalg_qr(input, "reduced" if some else "complete")
    return _common.qr(q, r)


def cholesky(input: Tensor, upper: bool = False) -> Tensor:  # noqa: A002
    """``torch.cholesky`` (deprecated in PyTorch for ``torch.linalg.cholesky``)."""
    return _linalg_cholesky(input, upper=upper)


def matrix_power(input: Tensor, n: int) -> Tensor:  # noqa: A002
    """``torch.matrix_power``: alias of ``torch.linalg.matrix_power``."""
    return _matrix_power(input, n)


class _CholeskySolve(Function):
    @staticmethod
    def forward(ctx: Any, b: Tensor, lower: Tensor) -> Tensor:
        x = tri_solve(lower.mT, tri_solve(lower, b, upper=False), upper=True)
        ctx.save_for_backward(lower, x)
        return x

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
        # PyTorch's cholesky_solve_backward (lower factor).
        lower, x = ctx.saved_tensors
        gb = tri_solve(lower.mT, tri_solve(lower, g, upper=False), upper=True)
        common = gb @ x.mT
        common = common + common.mT
        return gb, -(common @ lower)


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:  # noqa: N803
    """``torch.cholesky_solve(B, L)``: ``X`` with ``(L L^T) X = B`` given the factor ``L``
    (``U^T U`` when ``upper``); two triangular solves, PyTorch's gradient (which, like
    PyTorch's, is not restricted to the factor's triangle)."""
    _common.check_square(L, "linalg.cholesky_solve", "L")
    _common.check_float(L, "linalg.cholesky_solve")
    lower = L.mT if upper else L
    lower, B = _common.broadcast_batch(lower, B)
    return _CholeskySolve.apply(B, lower)


def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:  # noqa: N803
    """``torch.cholesky_inverse(L)``: ``(L L^T)^{-1}`` (``(U^T U)^{-1}`` when ``upper``)."""
    n = L.shape[-1]
    eye = _common.eye_like(n, L).expand(tuple(L.shape))
    return cholesky_solve(eye, L, upper)


