"""LU with partial pivoting and triangular solves, and what is built on them: ``inv``,
``solve``, ``det``, ``slogdet``, ``solve_triangular``.

The factorisation runs column by column with batched tensor ops (``argmax`` of the pivot
column, a row swap by ``gather``, a rank-1 update of the trailing block), choosing pivots as
LAPACK's ``getrf`` does, so the reported singular "diagonal element" matches PyTorch. The
differentiable entry points are ``autograd.Function``s with PyTorch's closed-form backwards.
"""

from __future__ import annotations

from typing import Any

import rustorch as torch
from rustorch import Tensor
from rustorch.autograd import Function

from ._common import (
    any_true,
    batch_shape,
    broadcast_batch,
    check_float,
    check_linalg,
    check_matrix,
    check_square,
    diagonal,
    eye_like,
    linalg_inv_ex,
    linalg_slogdet,
    linalg_solve_ex,
    raise_info,
)

# --------------------------------------------------------------------------------------
# kernels (no autograd: called under no_grad or inside Function.forward/backward)


def lu_factor(a: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Partial-pivoting LU of ``(..., n, n)`` matrices: ``(LU, perm, info, swaps)``.

    ``LU`` holds the unit-lower ``L`` below the diagonal and ``U`` on and above it, with
    ``A[perm] = L @ U``; ``info`` (int32) is LAPACK's: the 1-based index of the first zero
    pivot, 0 if none; ``swaps`` counts the row interchanges (the permutation's parity)."""
    n = a.shape[-1]
    batch = batch_shape(a)
    m = a.clone()
    rows = torch.arange(n, device=a.device)
    perm = rows.expand(batch + (n,)).clone()
    info = torch.zeros(batch, dtype=torch.int32, device=a.device)
    swaps = torch.zeros(batch, dtype=torch.int64, device=a.device)
    for k in range(n):
        p = m[..., k:, k].abs().argmax(-1) + k  # (batch,) first max, as idamax
        pk = p.unsqueeze(-1)
        if any_true(p != k):
            idx = torch.where(rows == k, pk, torch.where(rows == pk, torch.full_like(pk, k), rows))
            m = m.gather(-2, idx.unsqueeze(-1).expand(batch + (n, n)))
            perm = perm.gather(-1, idx)
            swaps = swaps + (p != k).long()
        piv = m[..., k, k]
        zero = piv == 0
        info = torch.where(zero & (info == 0), torch.full_like(info, k + 1), info)
        if k < n - 1:
            safe = torch.where(zero, torch.ones_like(piv), piv)
            col = m[..., k + 1 :, k] / safe.unsqueeze(-1)
            m[..., k + 1 :, k + 1 :] -= col.unsqueeze(-1) * m[..., k, None, k + 1 :]
            m[..., k + 1 :, k] = col
    return m, perm, info, swaps


def tri_solve(t: Tensor, b: Tensor, *, upper: bool, unit: bool = False) -> Tensor:
    """Solve ``t @ x = b`` for triangular ``t`` (``(..., n, n)``) and ``b`` (``(..., n, k)``,
    same batch dims), by substitution row by row. Differentiable (reads only the triangle)."""
    n = t.shape[-1]
    xs: list[Tensor | None] = [None] * n
    order = range(n - 1, -1, -1) if upper else range(n)
    done: list[int] = []
    for i in order:
        r = b[..., i, :]
        if done:
            prev = torch.stack([xs[j] for j in done], -2)  # (..., len(done), k)
            coef = t[..., i, done] if len(done) > 1 else t[..., i, done[0] : done[0] + 1]
            r = r - (coef.unsqueeze(-2) @ prev).squeeze(-2)
        xs[i] = r if unit else r / t[..., i, i].unsqueeze(-1)
        done.append(i)
    if n == 0:
        return b.clone()
    return torch.stack(xs, -2)  # type: ignore[arg-type]


def lu_solve(lu: Tensor, perm: Tensor, b: Tensor) -> Tensor:
    """Solve ``A x = b`` from ``lu_factor(A)``; ``b`` is ``(..., n, k)`` with ``A``'s batch."""
    bp = b.gather(-2, perm.unsqueeze(-1).expand(tuple(b.shape)))
    y = tri_solve(lu, bp, upper=False, unit=True)
    return tri_solve(lu, y, upper=True)


def _inv_kernel(a: Tensor) -> tuple[Tensor, Tensor]:
    lu, perm, info, _ = lu_factor(a)
    n = a.shape[-1]
    eye = eye_like(n, a).expand(tuple(a.shape)).contiguous()
    return lu_solve(lu, perm, eye), info


def _det_kernel(a: Tensor) -> Tensor:
    lu, _, _, swaps = lu_factor(a)
    sign = 1 - 2 * (swaps % 2)
    return diagonal(lu).prod(-1) * sign.to(a.dtype)


# --------------------------------------------------------------------------------------
# autograd Functions


class _Inv(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> tuple[Tensor, Tensor]:
        inv_a, info = _inv_kernel(a)
        ctx.save_for_backward(inv_a)
        return inv_a, info

    @staticmethod
    def backward(ctx: Any, g: Tensor, _ginfo: Any) -> Tensor:
        (inv_a,) = ctx.saved_tensors
        inv_t = inv_a.mT
        return -(inv_t @ g @ inv_t)


class _Solve(Function):
    """``X = A^{-1} B`` for ``A`` ``(..., n, n)``, ``B`` ``(..., n, k)`` with equal batch."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        lu, perm, info, _ = lu_factor(a)
        x = lu_solve(lu, perm, b)
        ctx.save_for_backward(a, x)
        return x, info

    @staticmethod
    def backward(ctx: Any, g: Tensor, _ginfo: Any) -> tuple[Tensor, Tensor]:
        a, x = ctx.saved_tensors
        lu, perm, _, _ = lu_factor(a.mT)
        gb = lu_solve(lu, perm, g)
        return -(gb @ x.mT), gb


def cofactor_unit(a: Tensor, d: Tensor) -> Tensor:
    """``A^{-T}`` (the cofactor matrix over ``det``) where ``det(A) != 0``; where it is 0 the
    cofactor matrix itself, from the SVD: ``det(U) det(V) U diag(prod_{j != i} s_j) V^T``."""
    n = a.shape[-1]
    singular = d == 0
    safe_a = torch.where(singular.unsqueeze(-1).unsqueeze(-1), eye_like(n, a), a)
    out = _inv_kernel(safe_a)[0].mT
    if any_true(singular):
        from ._decomp import svd_kernel

        u, s, vh = svd_kernel(a, full_matrices=False)
        others = torch.stack(
            [torch.cat([s[..., :i], s[..., i + 1 :]], -1).prod(-1) for i in range(n)], -1
        )
        scale = _det_kernel(u) * _det_kernel(vh)
        cof = (u * (others * scale.unsqueeze(-1)).unsqueeze(-2)) @ vh
        out = torch.where(singular.unsqueeze(-1).unsqueeze(-1), cof, out)
    return out


class _Det(Function):
    """``det`` whose backward is correct for singular matrices too."""

    @staticmethod
    def forward(ctx: Any, a: Tensor) -> Tensor:
        d = _det_kernel(a)
        ctx.save_for_backward(a, d)
        return d

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        a, d = ctx.saved_tensors
        singular = (d == 0).unsqueeze(-1).unsqueeze(-1)
        unit = cofactor_unit(a, d)
        g2 = g.unsqueeze(-1).unsqueeze(-1)
        return torch.where(singular, g2, g2 * d.unsqueeze(-1).unsqueeze(-1)) * unit


class _Slogdet(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> tuple[Tensor, Tensor]:
        lu, _, _, swaps = lu_factor(a)
        diag = diagonal(lu)
        sign = torch.where(diag < 0, -torch.ones_like(diag), torch.ones_like(diag)).prod(-1)
        sign = sign * (1 - 2 * (swaps % 2)).to(a.dtype)
        sign = torch.where((diag == 0).any(-1), torch.zeros_like(sign), sign)
        logabs = diag.abs().log().sum(-1)
        ctx.save_for_backward(a)
        return sign, logabs

    @staticmethod
    def backward(ctx: Any, _gsign: Any, glog: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        inv_a, _ = _inv_kernel(a)
        return glog.unsqueeze(-1).unsqueeze(-1) * inv_a.mT


# --------------------------------------------------------------------------------------
# public API


def inv_ex(A: Tensor, *, check_errors: bool = False, out: Any = None) -> linalg_inv_ex:  # noqa: N803
    """``torch.linalg.inv_ex``: ``(inverse, info)``; ``info`` (int32) is nonzero where the
    matrix is singular. Unlike LAPACK the inverse of a singular matrix is not ``inf``/``nan``
    filled the same way PyTorch's is (it is garbage either way)."""
    check_linalg(A, "linalg.inv", square=True)
    inv_a, info = _Inv.apply(A)
    info = info.detach()
    if check_errors:
        raise_info(info, _inv_message, "linalg.inv")
    return linalg_inv_ex(inv_a, info)


def _inv_message(k: int) -> str:
    return (
        f"The diagonal element {k} is zero, the inversion could not be completed because "
        "the input matrix is singular."
    )


def inv(A: Tensor, *, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.inv`` (LU with partial pivoting); raises ``LinAlgError`` with PyTorch's
    message for singular input. Gradient: ``-A^{-T} G A^{-T}``."""
    inv_a, info = inv_ex(A)
    raise_info(info, _inv_message, "linalg.inv")
    return inv_a


def _solve_args(A: Tensor, B: Tensor, left: bool, fname: str) -> tuple[Tensor, Tensor, bool]:  # noqa: N803
    check_linalg(A, fname, square=True)
    check_float(B, fname)
    if A.dtype != B.dtype:
        raise RuntimeError(
            f"{fname}: Expected A and B to have the same dtype, but found A of type "
            f"{_name(A)} and B of type {_name(B)} instead"
        )
    n = A.shape[-1]
    vector = B.dim() == 1 or (B.dim() == A.dim() - 1 and tuple(B.shape) == tuple(A.shape[:-1]))
    if vector:
        B = B.unsqueeze(-1)
        if not left:
            B = B.mT
    if B.dim() < 2:
        raise RuntimeError(f"{fname}: The input tensor B must have at least 1 dimension.")
    if not left:
        A, B = A.mT, B.mT
    if B.shape[-2] != n:
        raise RuntimeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {B.shape[-2]}x{B.shape[-1]})"
        )
    return A, B, vector


def _name(t: Tensor) -> str:
    from ._common import dtype_name

    return dtype_name(t.dtype)


def _solve_message(k: int) -> str:
    return "The solver failed because the input matrix is singular."


def solve_ex(
    A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False, out: Any = None  # noqa: N803
) -> linalg_solve_ex:
    """``torch.linalg.solve_ex``: ``(result, info)``."""
    fname = "torch.linalg.solve_ex" if check_errors else "linalg.solve"
    A2, B2, vector = _solve_args(A, B, left, "linalg.solve")
    A2, B2 = broadcast_batch(A2, B2)
    x, info = _Solve.apply(A2, B2)
    info = info.detach()
    if check_errors:
        raise_info(info, _solve_message, fname)
    if not left:
        x = x.mT
    if vector:
        x = x.squeeze(-1) if left else x.squeeze(-2)
    return linalg_solve_ex(x, info)


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.solve``: ``X`` with ``A X = B`` (``X A = B`` when ``left=False``).

    ``B`` is a batch of vectors when it is 1-D or has shape ``A.shape[:-1]``, as in PyTorch;
    batch dims broadcast. Singular input raises PyTorch's ``LinAlgError``."""
    x, info = solve_ex(A, B, left=left)
    raise_info(info, _solve_message, "torch.linalg.solve")
    return x


def det(A: Tensor, *, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.det`` from the LU pivots. Gradient ``G det(A) A^{-T}`` (the cofactor
    matrix, taken from the SVD for exactly singular matrices, as PyTorch's)."""
    check_linalg(A, "linalg.det", square=True)
    return _Det.apply(A)


def slogdet(A: Tensor, *, out: Any = None) -> linalg_slogdet:  # noqa: N803
    """``torch.linalg.slogdet``: ``(sign, logabsdet)``; singular matrices give
    ``(0, -inf)``. Gradient of ``logabsdet``: ``G A^{-T}`` (``sign`` has none)."""
    check_linalg(A, "linalg.slogdet", square=True)
    sign, logabs = _Slogdet.apply(A)
    return linalg_slogdet(sign, logabs)


def logdet(input: Tensor) -> Tensor:  # noqa: A002
    """``torch.logdet``: ``log(det(A))`` — ``nan`` for negative determinants, ``-inf`` for
    singular matrices."""
    check_square(input, "linalg.slogdet")
    check_float(input, "linalg.slogdet")
    sign, logabs = _Slogdet.apply(input)
    nan = torch.full_like(logabs, float("nan"))
    return torch.where(sign < 0, nan, logabs)


def solve_triangular(
    A: Tensor,  # noqa: N803
    B: Tensor,  # noqa: N803
    *,
    upper: bool,
    left: bool = True,
    unitriangular: bool = False,
    out: Any = None,
) -> Tensor:
    """``torch.linalg.solve_triangular`` by forward/back substitution; only the ``upper`` (or
    lower) triangle of ``A`` is read and receives gradient, as in PyTorch."""
    check_square(A, "linalg.solve_triangular")
    check_matrix(B, "linalg.solve_triangular", "B")
    check_float(A, "linalg.solve_triangular")
    if not left:
        return solve_triangular(A.mT, B.mT, upper=not upper, unitriangular=unitriangular).mT
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(
            "linalg.solve_triangular: Incompatible shapes of A and B for the equation AX = B "
            f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})"
        )
    A, B = broadcast_batch(A, B)
    return tri_solve(A, B, upper=upper, unit=unitriangular)
