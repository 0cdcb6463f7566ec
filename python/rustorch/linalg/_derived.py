"""Functions composed from the factorisations: ``pinv``, ``lstsq``, ``matrix_rank``,
``matrix_power``, ``multi_dot``, ``cross``, ``vecdot``, ``diagonal``, and ``eig``/``eigvals``
(which need complex tensors rustorch does not have)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rustorch as torch
from rustorch import Tensor
from rustorch.autograd import Function

from . import _common
from ._common import broadcast_batch, check_linalg, check_square, linalg_lstsq
from ._decomp import eigh_kernel, svd_kernel, svdvals
from ._lu import inv


def _tolerance(
    smax: Tensor, m: int, n: int, atol: Any, rtol: Any, dtype: Any
) -> Tensor:
    """``max(atol, rtol * smax)`` with PyTorch's defaults: ``rtol = eps * max(m, n)`` when
    neither is given, ``rtol = 0`` when only ``atol`` (> 0) is."""
    eps = torch.finfo(dtype).eps
    if rtol is None:
        rtol = eps * max(m, n) if (atol is None or _is_zero(atol)) else 0.0
    if atol is None:
        atol = 0.0
    def as_t(v: Any) -> Tensor:
        return v if isinstance(v, Tensor) else torch.tensor(v, dtype=dtype, device=smax.device)

    return torch.maximum(as_t(atol), as_t(rtol) * smax)


def _safe_recip(x: Tensor, keep: Tensor) -> Tensor:
    """``1 / x`` where ``keep``, 0 elsewhere (no inf/nan, in the values or the gradient)."""
    return torch.where(keep, 1 / torch.where(keep, x, torch.ones_like(x)), torch.zeros_like(x))


def _is_zero(v: Any) -> bool:
    if isinstance(v, Tensor):
        return not _common.any_true(v != 0)
    return float(v) == 0.0


def _pinv_kernel(a: Tensor, atol: Any, rtol: Any, hermitian: bool) -> tuple[Tensor, Tensor]:
    """``(pinv(a), sigma)``, ``sigma`` the singular values (``|eigenvalues|`` when
    ``hermitian``) in the order the pinv was built from."""
    m, n = a.shape[-2], a.shape[-1]
    if hermitian:
        lam, v = eigh_kernel(a, "L")
        absl = lam.abs()
        tol = _tolerance(absl.amax(-1, keepdim=True), m, n, atol, rtol, a.dtype)
        keep = absl > tol
        return (v * _safe_recip(lam, keep).unsqueeze(-2)) @ v.mT, absl  # type: ignore[union-attr]
    u, s, vh = svd_kernel(a, full_matrices=False)
    tol = _tolerance(s[..., :1], m, n, atol, rtol, a.dtype)
    keep = s > tol
    return (vh.mT * _safe_recip(s, keep).unsqueeze(-2)) @ u.mT, s


class _Pinv(Function):
    @staticmethod
    def forward(
        ctx: Any, a: Tensor, atol: Any, rtol: Any, hermitian: bool
    ) -> tuple[Tensor, Tensor]:
        p, s = _pinv_kernel(a, atol, rtol, hermitian)
        ctx.save_for_backward(a, p)
        return p, s

    @staticmethod
    def backward(ctx: Any, g: Tensor, _gs: Any) -> tuple[Tensor, None, None, None]:
        a, p = ctx.saved_tensors
        return pinv_backward(g, p, a), None, None, None


def pinv_backward(g: Tensor, p: Tensor, a: Tensor) -> Tensor:
    """PyTorch's ``pinv_backward`` (FunctionsManual.cpp), real case (constant rank)."""
    m, n = a.shape[-2], a.shape[-1]
    ph, gh = p.mT, g.mT
    if m <= n:
        k = gh @ p
        kph = k @ ph
        return -(p @ k).mT + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a)
    k = p @ gh
    phk = ph @ k
    return -(k @ p).mT + (gh - a @ k) @ p @ ph + phk - phk @ p @ a


def pinv(
    A: Tensor,  # noqa: N803
    *,
    atol: float | Tensor | None = None,
    rtol: float | Tensor | None = None,
    hermitian: bool = False,
    out: Any = None,
) -> Tensor:
    """``torch.linalg.pinv`` through the SVD (``eigh`` when ``hermitian``: only the lower
    triangle is read), dropping singular values ``<= max(atol, rtol * σ_max)`` with PyTorch's
    default tolerances. Gradient: PyTorch's ``pinv_backward`` (valid while the rank is
    locally constant)."""
    check_linalg(A, "linalg.pinv", square=hermitian)
    m, n = A.shape[-2], A.shape[-1]
    if min(m, n) == 0:
        return A.new_zeros(tuple(A.shape[:-2]) + (n, m))
    return _Pinv.apply(A, atol, rtol, hermitian)[0]


def matrix_rank(
    A: Tensor,  # noqa: N803
    *,
    atol: float | Tensor | None = None,
    rtol: float | Tensor | None = None,
    hermitian: bool = False,
    tol: Any = None,
    out: Any = None,
) -> Tensor:
    """``torch.linalg.matrix_rank``: the number of singular values (``|eigenvalues|`` when
    ``hermitian``) above ``max(atol, rtol * σ_max)``, with PyTorch's default tolerances;
    int64, with the batch shape of ``A``."""
    check_linalg(A, "linalg.matrix_rank", square=hermitian)
    if tol is not None:
        atol, rtol = tol, 0.0
    m, n = A.shape[-2], A.shape[-1]
    with torch.no_grad():
        if hermitian:
            from ._decomp import eigvalsh

            s = eigvalsh(A).abs()
        else:
            s = svdvals(A)
        if min(m, n) == 0:
            return torch.zeros(tuple(A.shape[:-2]), dtype=torch.int64, device=A.device)
        tol_t = _tolerance(s.amax(-1, keepdim=True), m, n, atol, rtol, A.dtype)
        return (s > tol_t).sum(-1).to(torch.int64)


def lstsq(
    A: Tensor,  # noqa: N803
    B: Tensor,  # noqa: N803
    rcond: float | None = None,
    *,
    driver: str | None = None,
    out: Any = None,
) -> linalg_lstsq:
    """``torch.linalg.lstsq``: the minimum-norm least-squares solution of ``A X = B``.

    Computed as ``pinv(A) @ B`` (singular values ``<= rcond * σ_max`` dropped; ``rcond``
    defaults to ``eps * max(m, n)``), which is what PyTorch's drivers return for full-rank
    input and what ``gelsd``/``gelss`` return for rank-deficient input (``gelsy`` may differ
    there). The gradient equals PyTorch's (its ``lstsq`` backward goes through ``pinv``).
    ``residuals``/``rank``/``singular_values`` follow the CPU driver conventions: ``rank`` for
    every driver but ``gels``, ``singular_values`` for ``gelsd``/``gelss``, ``residuals``
    (squared column norms of ``A X - B``) when ``m > n``, every matrix has full rank and the
    driver is not ``gelsy``. As PyTorch's, a GPU input takes ``gels`` only."""
    fname = "torch.linalg.lstsq"
    check_linalg(A, "linalg.lstsq", square=False)
    drivers = ("gels", "gelsy", "gelsd", "gelss")
    if driver is None:
        driver = "gelsy" if A.device.type == "cpu" else "gels"
    if A.device.type != "cpu" and driver != "gels":
        raise RuntimeError(f"{fname}: `driver` other than `gels` is not supported on CUDA")
    if driver not in drivers:
        raise RuntimeError(
            f"{fname}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)"
        )
    if A.dtype != B.dtype:
        raise RuntimeError(
            f"{fname}: Expected input and other to have the same dtype, but got "
            f"input's dtype {_common.dtype_name(A.dtype)} and other's dtype "
            f"{_common.dtype_name(B.dtype)}"
        )
    m, n = A.shape[-2], A.shape[-1]
    vector = B.dim() == A.dim() - 1
    b = B.unsqueeze(-1) if vector else B
    if b.shape[-2] != m:
        raise RuntimeError(
            f"{fname}: input.size(-2) should match other.size(-2)"
        )
    a2, b2 = broadcast_batch(A, b)
    eps = torch.finfo(A.dtype).eps
    rc = eps * max(m, n) if rcond is None or rcond < 0 else rcond
    p, s = _Pinv.apply(a2, 0.0, rc, False)
    s = s.detach()
    x = p @ b2
    rank = (s > rc * s[..., :1]).sum(-1).to(torch.int64)
    empty = torch.empty(0, dtype=A.dtype, device=A.device)
    rank_out = rank.detach()
    if driver == "gels":
        rank_out = torch.empty(0, dtype=torch.int64, device=A.device)
    sv_out = s.detach() if driver in ("gelsd", "gelss") else empty
    residuals = x.reshape(-1)[:0] if x.requires_grad else empty  # PyTorch's requires grad
    if m > n and driver != "gelsy" and not _common.any_true(rank != n):
        residuals = (a2 @ x - b2).pow(2).sum(-2)
    if vector:
        x = x.squeeze(-1)
        if residuals.numel():
            residuals = residuals.squeeze(-1)
    return linalg_lstsq(x, residuals, rank_out, sv_out)


def matrix_power(A: Tensor, n: int, *, out: Any = None) -> Tensor:  # noqa: N803
    """``torch.linalg.matrix_power``: ``A^n`` by repeated squaring; ``n < 0`` inverts first,
    ``n = 0`` gives the identity (for any dtype, as PyTorch)."""
    check_square(A, "linalg.matrix_power")
    if n == 0:
        eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
        return eye.expand(tuple(A.shape)).clone()
    if n < 0:
        A = inv(A)
        n = -n
    result: Tensor | None = None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result  # type: ignore[return-value]


def multi_dot(tensors: Sequence[Tensor], *, out: Any = None) -> Tensor:
    """``torch.linalg.multi_dot``: chained ``@`` (first/last may be 1-D), multiplied in the
    cheapest order found by the classic dynamic programme (as PyTorch)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got " + str(len(ts)))
    first_vec, last_vec = ts[0].dim() == 1, ts[-1].dim() == 1
    if first_vec:
        ts[0] = ts[0].unsqueeze(0)
    if last_vec:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i, t in enumerate(ts):
        if t.dim() != 2:
            raise RuntimeError(
                f"multi_dot(): tensor {i} must be 2D but got {t.dim()}D"
            )
    dims = [ts[0].shape[0]] + [t.shape[1] for t in ts]
    k = len(ts)
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = -1
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if cost[i][j] < 0 or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s

    def chain(i: int, j: int) -> Tensor:
        if i == j:
            return ts[i]
        s = split[i][j]
        return chain(i, s) @ chain(s + 1, j)

    res = chain(0, k - 1)
    if first_vec:
        res = res.squeeze(0)
    if last_vec:
        res = res.squeeze(-1)
    return res


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out: Any = None) -> Tensor:  # noqa: A002
    """``torch.linalg.cross`` of 3-vectors along ``dim`` (inputs broadcast)."""
    if input.dim() != other.dim():
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    shape = _broadcast_shape(tuple(input.shape), tuple(other.shape))
    a, b = input.expand(shape), other.expand(shape)
    if a.shape[dim] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got "
            f"{input.shape[dim]} and {other.shape[dim]}"
        )
    d = dim % a.dim()
    perm = [i for i in range(a.dim()) if i != d] + [d]
    a, b = a.permute(*perm), b.permute(*perm)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    res = torch.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)
    return res


def _broadcast_shape(s1: tuple[int, ...], s2: tuple[int, ...]) -> tuple[int, ...]:
    nd = max(len(s1), len(s2))
    s1, s2 = (1,) * (nd - len(s1)) + s1, (1,) * (nd - len(s2)) + s2
    out = []
    for x, y in zip(s1, s2):
        if x != y and 1 not in (x, y):
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                "non-singleton dimension"
            )
        out.append(max(x, y))
    return tuple(out)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out: Any = None) -> Tensor:
    """``torch.linalg.vecdot``: ``sum(x * y, dim)`` (real tensors: no conjugation)."""
    return (x * y).sum(dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:  # noqa: N803
    """``torch.linalg.diagonal``: the diagonal (``offset``) of the ``(dim1, dim2)`` matrices,
    appended as the last dim. A copy, not a view as in PyTorch."""
    nd = A.dim()
    d1, d2 = dim1 % nd, dim2 % nd
    rest = [i for i in range(nd) if i not in (d1, d2)]
    return _common.diagonal(A.permute(*rest, d1, d2), offset)


_EIG_MESSAGE = (
    "{}: complex tensors are not supported in rustorch; use linalg.eigh for symmetric matrices"
)


def eig(A: Tensor, *, out: Any = None) -> Any:  # noqa: N803
    """``torch.linalg.eig`` returns complex tensors, which rustorch does not have: raises
    ``NotImplementedError`` (use ``eigh`` for symmetric matrices)."""
    raise NotImplementedError(_EIG_MESSAGE.format("linalg.eig"))


def eigvals(A: Tensor, *, out: Any = None) -> Any:  # noqa: N803
    """``torch.linalg.eigvals``: not supported (complex output); see ``eig``."""
    raise NotImplementedError(_EIG_MESSAGE.format("linalg.eigvals"))
