"""``vector_norm``, ``matrix_norm`` and ``norm`` (PyTorch's dispatch between the two)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rustorch import Tensor

from ._common import check_matrix, dtype_name

Dim = int | Sequence[int] | None


def _dims(x: Tensor, dim: Dim) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(x.dim()))
    if isinstance(dim, int):
        return (dim,)
    return tuple(dim)


def vector_norm(
    x: Tensor,
    ord: float = 2,  # noqa: A002
    dim: Dim = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Any = None,
) -> Tensor:
    """``torch.linalg.vector_norm``: ``sum(|x|^ord)^(1/ord)`` over ``dim`` (all dims when
    None), with ``ord`` ``inf``/``-inf`` the max/min of ``|x|`` and ``0`` the count of
    nonzeros. ``dtype`` casts the input first. Gradients match PyTorch's (0 at ``x = 0``,
    shared evenly among ties for ``±inf``)."""
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. "
            f"Got {dtype_name(x.dtype)}"
        )
    dims = _dims(x, dim)
    if x.dim() == 0:
        dims = ()
    a = x.abs()
    if ord == math.inf or ord == -math.inf:
        if not dims:
            return a
        return a.amax(dims, keepdim) if ord > 0 else a.amin(dims, keepdim)
    if not dims:
        if ord == 0:
            return (x != 0).to(x.dtype)
        return a
    if ord == 0:
        return (x != 0).to(x.dtype).sum(dims, keepdim=keepdim)
    if ord == 1:
        return a.sum(dims, keepdim=keepdim)
    if ord == 2 or ord > 0:
        return x.norm(ord, dim=dims, keepdim=keepdim)
    # Negative orders: sum(|x|^p)^(1/p) (0 when any entry is 0, as PyTorch).
    return a.pow(ord).sum(dims, keepdim=keepdim).pow(1.0 / ord)


def _norm_dims(A: Tensor, dim: tuple[int, int], fname: str) -> tuple[int, int]:  # noqa: N803
    if len(dim) != 2:
        raise RuntimeError(f"{fname}: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    nd = A.dim()
    d0, d1 = (d % nd if nd else d for d in dim)
    if d0 == d1:
        raise RuntimeError(f"{fname}: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d0, d1


def matrix_norm(
    A: Tensor,  # noqa: N803
    ord: float | str = "fro",  # noqa: A002
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Any = None,
) -> Tensor:
    """``torch.linalg.matrix_norm`` for ``ord`` in ``'fro'``, ``'nuc'``, ``inf``, ``-inf``,
    ``1``, ``-1``, ``2``, ``-2`` over the two dims ``dim``; the spectral and nuclear norms use
    ``svdvals`` (whose gradient needs distinct singular values, as PyTorch's)."""
    fname = "linalg.matrix_norm"
    if dtype is not None:
        A = A.to(dtype)
    check_matrix(A, fname)
    if not A.is_floating_point():
        raise RuntimeError(
            f"{fname}: Expected a floating point or complex tensor as input. "
            f"Got {dtype_name(A.dtype)}"
        )
    d0, d1 = _norm_dims(A, tuple(dim), fname)  # type: ignore[arg-type]
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if isinstance(ord, str) and ord != "nuc":
        raise RuntimeError(f"{fname}: Order {ord} not supported.")
    if not isinstance(ord, str) and ord not in (1, -1, 2, -2, math.inf, -math.inf):
        raise RuntimeError(f"{fname}: Order {_fmt(ord)} not supported.")
    if ord in ("nuc", 2, -2):
        from ._decomp import svdvals

        moved = _move_last(A, d0, d1)
        sv = svdvals(moved)
        if ord == "nuc":
            res = sv.sum(-1)
        elif ord == 2:
            res = sv.amax(-1)
        else:
            res = sv.amin(-1)
        if keepdim:
            res = res.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
        return res
    # 1 / -1: max/min column sum; inf / -inf: max/min row sum.
    sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
    sums = A.abs().sum(sum_dim, keepdim=True)
    res = sums.amax(red_dim, keepdim=True) if ord > 0 else sums.amin(red_dim, keepdim=True)  # type: ignore[operator]
    if not keepdim:
        res = res.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    return res


def _fmt(ord: Any) -> str:  # noqa: A002
    return str(int(ord)) if float(ord).is_integer() else str(ord)


def _move_last(A: Tensor, d0: int, d1: int) -> Tensor:  # noqa: N803
    """``A.movedim((d0, d1), (-2, -1))`` by a permute."""
    rest = [i for i in range(A.dim()) if i not in (d0, d1)]
    return A.permute(*rest, d0, d1)


def norm(
    A: Tensor,  # noqa: N803
    ord: float | str | None = None,  # noqa: A002
    dim: Dim = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
    out: Any = None,
) -> Tensor:
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int (or ``ord`` is None and
    ``dim`` is None: the 2-norm of the flattened input), a matrix norm when ``dim`` is a
    2-tuple or ``ord`` is a string, and for ``dim=None`` with ``ord`` given the input must be
    1-D (vector norm) or 2-D (matrix norm), as in PyTorch."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1:
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)  # type: ignore[arg-type]
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)  # type: ignore[arg-type]
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.dim() not in (1, 2):
        raise RuntimeError(
            "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
            f"Got {A.dim()}D."
        )
    if A.dim() == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.norm: Order {ord} not supported.")
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
