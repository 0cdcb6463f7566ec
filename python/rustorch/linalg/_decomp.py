"""Householder QR, symmetric eigendecomposition (cyclic Jacobi) and SVD (one-sided Jacobi).

Jacobi rotations are applied in parallel "round-robin" rounds: each round rotates ``n // 2``
disjoint index pairs at once with one batched ``J^T A J`` (eigh) or ``A J`` (SVD) product,
and ``n - 1`` rounds make a sweep over all pairs. Sweeps repeat until the off-diagonal part
is at rounding level in the input's own dtype (a cap of ``MAX_SWEEPS``). ``eigh`` and
``svd`` are ``autograd.Function``s with PyTorch's analytic backwards; ``qr`` is
differentiated by autograd through the Householder steps (the same function, so the same
gradient as PyTorch's closed form).
"""

from __future__ import annotations

from typing import Any

import rustorch as torch
from rustorch import Tensor
from rustorch.autograd import Function

from ._common import (
    any_true,
    batch_shape,
    check_linalg,
    diag_embed,
    diagonal,
    eye_like,
    linalg_eigh,
    linalg_qr,
    linalg_svd,
    sign_nonzero,
)

MAX_SWEEPS = 60

# --------------------------------------------------------------------------------------
# Householder QR (LAPACK geqrf conventions: R[k, k] = -sign(a_kk) * norm, no reflection
# when the part below the diagonal is already zero), so Q and R match PyTorch's.


def householder_qr(a: Tensor, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    m, n = a.shape[-2], a.shape[-1]
    batch = batch_shape(a)
    k = min(m, n)
    r = a
    q = eye_like(m, a).expand(batch + (m, m)) if mode != "r" else None
    rows = torch.arange(m, device=a.device)
    for j in range(k):
        x = r[..., :, j]  # (..., m); the reflector acts on rows j..m-1
        alpha = x[..., j]
        if j + 1 < m:
            xnorm = x[..., j + 1 :].norm(dim=-1)
        else:
            xnorm = torch.zeros_like(alpha)
        skip = xnorm == 0
        beta = -sign_nonzero(alpha) * (alpha * alpha + xnorm * xnorm).sqrt()
        safe_beta = torch.where(skip, torch.ones_like(beta), beta)
        tau = torch.where(skip, torch.zeros_like(beta), (beta - alpha) / safe_beta)
        denom = torch.where(skip, torch.ones_like(alpha), alpha - beta)
        below = (rows > j).to(a.dtype)
        at = (rows == j).to(a.dtype)
        v = x * below / denom.unsqueeze(-1) + at  # (..., m), v[j] = 1, zero above j
        tv = (tau.unsqueeze(-1) * v).unsqueeze(-1)  # (..., m, 1)
        r = r - tv @ (v.unsqueeze(-2) @ r)  # H r
        if q is not None:
            q = q - (q @ v.unsqueeze(-1)) @ tv.mT  # q H
    r = r.triu()
    if mode == "complete":
        return q, r  # type: ignore[return-value]
    if mode == "r":
        return torch.empty(0, dtype=a.dtype, device=a.device), r[..., :k, :]
    return q[..., :, :k], r[..., :k, :]  # type: ignore[index]


def qr(A: Tensor, mode: str = "reduced", *, out: Any = None) -> linalg_qr:  # noqa: N803
    """``torch.linalg.qr`` by Householder reflections with LAPACK's sign conventions, so
    ``Q``/``R`` agree with PyTorch's for generic input. ``mode='r'`` returns an empty ``Q``.
    Gradients come from autograd through the reflections (defined also where PyTorch's
    closed form raises, e.g. ``mode='complete'`` with more rows than columns)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            "'r', or 'complete'"
        )
    check_linalg(A, "linalg.qr", square=False)
    q, r = householder_qr(A, mode)
    return linalg_qr(q, r)


# --------------------------------------------------------------------------------------
# round-robin Jacobi schedule

_SCHEDULES: dict[tuple[int, str], list[tuple[Tensor, Tensor, Tensor, Tensor]]] = {}


def _schedule(n: int, device: Any) -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Per round: ``(P, Q, gather, partner)`` index tensors. ``P[i] < Q[i]`` are the rotated
    pairs; ``cat([c, c, 1...])[..., gather]`` lays a per-pair value out per index, and
    ``partner[i]`` is the index paired with ``i`` (``i`` itself when it rests this round)."""
    key = (n, str(device))
    if key in _SCHEDULES:
        return _SCHEDULES[key]
    size = n + (n % 2)
    players = list(range(size))
    rounds = []
    for _ in range(size - 1):
        pairs = []
        for i in range(size // 2):
            p, q = players[i], players[size - 1 - i]
            if p < n and q < n:
                pairs.append((min(p, q), max(p, q)))
        players = [players[0], players[-1]] + players[1:-1]
        npair = len(pairs)
        pos = [0] * n
        partner = list(range(n))
        rest = [i for i in range(n) if all(i not in pq for pq in pairs)]
        for t, (p, q) in enumerate(pairs):
            pos[p], pos[q] = t, npair + t
            partner[p], partner[q] = q, p
        for t, i in enumerate(rest):
            pos[i] = 2 * npair + t
        if npair:

            def mk(v: list[int]) -> Tensor:
                return torch.tensor(v, dtype=torch.int64, device=device)

            rounds.append(
                (mk([p for p, _ in pairs]), mk([q for _, q in pairs]), mk(pos), mk(partner))
            )
    _SCHEDULES[key] = rounds
    return rounds


def _rotation(c: Tensor, s: Tensor, rnd: tuple[Tensor, Tensor, Tensor, Tensor], n: int) -> Tensor:
    """The product of the round's plane rotations: ``J[p,p] = J[q,q] = c``, ``J[p,q] = s``,
    ``J[q,p] = -s``."""
    _, _, gather, partner = rnd
    batch = tuple(c.shape[:-1])
    rest = n - 2 * c.shape[-1]
    ones = torch.ones(batch + (rest,), dtype=c.dtype, device=c.device)
    zeros = torch.zeros(batch + (rest,), dtype=c.dtype, device=c.device)
    cv = torch.cat([c, c, ones], -1).index_select(-1, gather)
    sv = torch.cat([s, -s, zeros], -1).index_select(-1, gather)
    perm = (partner.unsqueeze(-1) == torch.arange(n, device=c.device)).to(c.dtype)
    return diag_embed(cv) + sv.unsqueeze(-1) * perm


def _jacobi_angle(app: Tensor, aqq: Tensor, apq: Tensor) -> tuple[Tensor, Tensor]:
    """``(c, s)`` of the rotation that zeroes ``apq`` (Golub & Van Loan's ``symSchur2``)."""
    zero = apq == 0
    safe = torch.where(zero, torch.ones_like(apq), apq)
    tau = (aqq - app) / (2 * safe)
    t = sign_nonzero(tau) / (tau.abs() + (1 + tau * tau).sqrt())
    t = torch.where(zero | ~torch.isfinite(t), torch.zeros_like(t), t)
    c = (1 + t * t).rsqrt()
    return c, t * c


# --------------------------------------------------------------------------------------
# symmetric eigendecomposition


def _fix_signs(vecs: Tensor) -> Tensor:
    """Deterministic sign per column: its entry of largest magnitude is positive."""
    idx = vecs.abs().argmax(-2, keepdim=True)
    return sign_nonzero(vecs.gather(-2, idx))


def eigh_kernel(a: Tensor, uplo: str = "L", vectors: bool = True) -> tuple[Tensor, Tensor | None]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric matrices given by the
    ``uplo`` triangle of ``a``, by cyclic Jacobi in the dtype of ``a``."""
    n = a.shape[-1]
    batch = batch_shape(a)
    tri = a.tril() if uplo == "L" else a.triu()
    w = tri + (tri.tril(-1) if uplo == "L" else tri.triu(1)).mT
    v = eye_like(n, a).expand(batch + (n, n)) if vectors else None
    eps = torch.finfo(a.dtype).eps
    total = w.pow(2).sum((-2, -1))
    for _ in range(MAX_SWEEPS):
        off = (w - diag_embed(diagonal(w))).pow(2).sum((-2, -1))
        if not any_true(off > (eps * eps) * total):
            break
        for rnd in _schedule(n, a.device):
            p, q = rnd[0], rnd[1]
            d = diagonal(w)
            c, s = _jacobi_angle(d[..., p], d[..., q], w[..., p, q])
            j = _rotation(c, s, rnd, n)
            w = j.mT @ w @ j
            if v is not None:
                v = v @ j
    evals = diagonal(w)
    evals, order = evals.sort(-1)
    if v is None:
        return evals, None
    v = v.gather(-1, order.unsqueeze(-2).expand(batch + (n, n)))
    return evals, v * _fix_signs(v)


class _Eigh(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, uplo: str) -> tuple[Tensor, Tensor]:
        evals, vecs = eigh_kernel(a, uplo)
        ctx.save_for_backward(evals, vecs)
        return evals, vecs

    @staticmethod
    def backward(ctx: Any, gl: Tensor, gv: Tensor) -> tuple[Tensor, None]:
        evals, v = ctx.saved_tensors
        # PyTorch's linalg_eig_backward (hermitian): gA = V (skew(V^T gV)/E + diag(gL)) V^T
        inner = diag_embed(gl)
        if any_true(gv != 0):
            vtgv = v.mT @ gv
            vtgv = 0.5 * (vtgv - vtgv.mT)
            e = evals.unsqueeze(-2) - evals.unsqueeze(-1)
            n = evals.shape[-1]
            eye = eye_like(n, evals)
            e = e * (1 - eye) + eye
            inner = inner + vtgv / e
        return v @ inner @ v.mT, None


class _Eigvalsh(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, uplo: str) -> Tensor:
        evals, vecs = eigh_kernel(a, uplo)
        ctx.save_for_backward(vecs)
        return evals

    @staticmethod
    def backward(ctx: Any, gl: Tensor) -> tuple[Tensor, None]:
        (v,) = ctx.saved_tensors
        return (v * gl.unsqueeze(-2)) @ v.mT, None


def _check_uplo(uplo: str) -> None:
    if uplo not in ("L", "U", "l", "u"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {uplo}")


def eigh(A: Tensor, UPLO: str = "L", *, out: Any = None) -> linalg_eigh:  # noqa: N803
    """``torch.linalg.eigh``: ascending eigenvalues and orthonormal eigenvectors of the
    symmetric matrices given by the ``UPLO`` triangle of ``A``, by cyclic Jacobi.

    Eigenvectors are unique up to sign (and rotation within repeated eigenvalues); rustorch
    makes each column's largest-magnitude entry positive, which LAPACK (PyTorch) does not,
    so compare sign-invariant quantities. Gradient: PyTorch's, including its ``1/(λj − λi)``
    factors (infinite for repeated eigenvalues when the eigenvectors are used)."""
    _check_uplo(UPLO)
    check_linalg(A, "linalg.eigh", square=True)
    evals, vecs = _Eigh.apply(A, UPLO.upper())
    return linalg_eigh(evals, vecs)


def eigvalsh(A: Tensor, UPLO: str = "L", *, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.eigvalsh``: the eigenvalues of ``eigh``, ascending."""
    _check_uplo(UPLO)
    check_linalg(A, "linalg.eigvalsh", square=True)
    return _Eigvalsh.apply(A, UPLO.upper())


# --------------------------------------------------------------------------------------
# singular value decomposition


def _svd_tall(a: Tensor, full_matrices: bool) -> tuple[Tensor, Tensor, Tensor]:
    """One-sided (Hestenes) Jacobi SVD of ``m >= n`` matrices: orthogonalise the columns of
    ``A V``; ``U`` then comes from a QR of those columns (which also completes it)."""
    m, n = a.shape[-2], a.shape[-1]
    batch = batch_shape(a)
    w = a
    v = eye_like(n, a).expand(batch + (n, n))
    eps = torch.finfo(a.dtype).eps
    tol = eps * m
    for _ in range(MAX_SWEEPS):
        worst = None
        for rnd in _schedule(n, a.device):
            p, q = rnd[0], rnd[1]
            norms2 = (w * w).sum(-2)
            alpha, beta = norms2[..., p], norms2[..., q]
            gamma = (w[..., :, p] * w[..., :, q]).sum(-2)
            ratio = gamma.abs() / (alpha * beta).sqrt().clamp(min=torch.finfo(a.dtype).tiny)
            worst = ratio.amax() if worst is None else torch.maximum(worst, ratio.amax())
            c, s = _jacobi_angle(alpha, beta, gamma)
            j = _rotation(c, s, rnd, n)
            w = w @ j
            v = v @ j
        if worst is None or float(worst) <= tol:
            break
    sv = w.norm(dim=-2)  # (..., n)
    sv, order = sv.sort(-1, descending=True)
    w = w.gather(-1, order.unsqueeze(-2).expand(batch + (m, n)))
    v = v.gather(-1, order.unsqueeze(-2).expand(batch + (n, n)))
    signs = _fix_signs(v)
    v, w = v * signs, w * signs
    qm, r = householder_qr(w, "complete" if full_matrices else "reduced")
    d = sign_nonzero(diagonal(r))  # (..., n)
    if full_matrices and m > n:
        u = torch.cat([qm[..., :, :n] * d.unsqueeze(-2), qm[..., :, n:]], -1)
    else:
        u = qm * d.unsqueeze(-2)
    return u, sv, v.mT


def svd_kernel(a: Tensor, full_matrices: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    m, n = a.shape[-2], a.shape[-1]
    if m >= n:
        return _svd_tall(a, full_matrices)
    u, s, vh = _svd_tall(a.mT, full_matrices)
    return vh.mT, s, u.mT


def _nonzero(t: Tensor) -> bool:
    return any_true(t != 0)


class _Svd(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, full_matrices: bool) -> tuple[Tensor, Tensor, Tensor]:
        u, s, vh = svd_kernel(a, full_matrices)
        ctx.save_for_backward(u, s, vh)
        ctx.full = full_matrices
        return u, s, vh

    @staticmethod
    def backward(ctx: Any, gu: Tensor, gs: Tensor, gvh: Tensor) -> tuple[Tensor, None]:
        u, s, vh = ctx.saved_tensors
        k = s.shape[-1]
        if ctx.full:
            u, vh, gu, gvh = u[..., :, :k], vh[..., :k, :], gu[..., :, :k], gvh[..., :k, :]
        return svd_backward(gu if _nonzero(gu) else None, gs, gvh if _nonzero(gvh) else None,
                            u, s, vh), None


def svd_backward(
    gu: Tensor | None, gs: Tensor, gvh: Tensor | None, u: Tensor, s: Tensor, vh: Tensor
) -> Tensor:
    """PyTorch's ``svd_backward`` (FunctionsManual.cpp) for real reduced SVDs."""
    m, n = u.shape[-2], vh.shape[-1]
    if gu is None and gvh is None:
        return (u * gs.unsqueeze(-2)) @ vh
    k = s.shape[-1]
    eye = eye_like(k, s)
    s2 = s * s
    e = (s2.unsqueeze(-2) - s2.unsqueeze(-1)) * (1 - eye) + eye
    if gu is not None and gvh is not None:
        uhgu = u.mT @ gu
        vhgv = vh @ gvh.mT
        ret = ((uhgu - uhgu.mT) * s.unsqueeze(-2) + s.unsqueeze(-1) * (vhgv - vhgv.mT)) / e
    elif gu is not None:
        uhgu = u.mT @ gu
        ret = (uhgu - uhgu.mT) * (s.unsqueeze(-2) / e)
    else:
        vhgv = vh @ gvh.mT  # type: ignore[union-attr]
        ret = s.unsqueeze(-1) * ((vhgv - vhgv.mT) / e)
    ret = ret + diag_embed(gs)
    if m > n and gu is not None:
        ga = u @ ret
        gus = gu / s.unsqueeze(-2)
        ga = ga + gus - u @ (u.mT @ gus)
        return ga @ vh
    if m < n and gvh is not None:
        ga = ret @ vh
        sgvh = gvh / s.unsqueeze(-1)
        ga = ga + sgvh - (sgvh @ vh.mT) @ vh
        return u @ ga
    return u @ ret @ vh


class _Svdvals(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> Tensor:
        u, s, vh = svd_kernel(a, False)
        ctx.save_for_backward(u, vh)
        return s

    @staticmethod
    def backward(ctx: Any, gs: Tensor) -> Tensor:
        u, vh = ctx.saved_tensors
        return (u * gs.unsqueeze(-2)) @ vh


def svd(
    A: Tensor, full_matrices: bool = True, *, driver: Any = None, out: Any = None  # noqa: N803
) -> linalg_svd:
    """``torch.linalg.svd``: ``U, S, Vh`` with ``S`` descending, by one-sided Jacobi.

    Singular vectors are unique up to a common sign per pair (rustorch makes each column of
    ``V``'s largest-magnitude entry positive); compare gauge-invariant quantities. The
    gradient is PyTorch's ``svd_backward`` (it needs distinct, nonzero singular values when
    ``U``/``Vh`` are used). ``driver`` (CUDA-only in PyTorch) is ignored."""
    check_linalg(A, "linalg.svd", square=False)
    u, s, vh = _Svd.apply(A, full_matrices)
    return linalg_svd(u, s, vh)


def svdvals(A: Tensor, *, driver: Any = None, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.svdvals``: singular values, descending; gradient ``U diag(G) Vh``."""
    check_linalg(A, "linalg.svdvals", square=False)
    return _Svdvals.apply(A)
