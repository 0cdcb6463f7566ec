"""Shared helpers of ``rustorch.linalg``: argument checks with PyTorch's messages, the
``LinAlgError`` type, small batched building blocks and the named-tuple result types."""

from __future__ import annotations

from typing import Any, NamedTuple

import rustorch as torch
from rustorch import Tensor


class LinAlgError(RuntimeError):
    """``torch.linalg.LinAlgError``: a factorisation failed (singular, not positive-definite).
    A ``RuntimeError`` subclass, as in PyTorch."""


# --------------------------------------------------------------------------------------
# result types (PyTorch's ``torch.return_types.linalg_*``)


class linalg_inv_ex(NamedTuple):  # noqa: N801 - PyTorch's name
    inverse: Any
    info: Any


class linalg_cholesky_ex(NamedTuple):  # noqa: N801
    L: Any  # noqa: N815
    info: Any


class linalg_slogdet(NamedTuple):  # noqa: N801
    sign: Any
    logabsdet: Any


class slogdet(NamedTuple):  # noqa: N801
    sign: Any
    logabsdet: Any


class linalg_qr(NamedTuple):  # noqa: N801
    Q: Any  # noqa: N815
    R: Any  # noqa: N815


class qr(NamedTuple):  # noqa: N801
    Q: Any  # noqa: N815
    R: Any  # noqa: N815


class linalg_eigh(NamedTuple):  # noqa: N801
    eigenvalues: Any
    eigenvectors: Any


class linalg_svd(NamedTuple):  # noqa: N801
    U: Any  # noqa: N815
    S: Any  # noqa: N815
    Vh: Any  # noqa: N815


class svd(NamedTuple):  # noqa: N801
    U: Any  # noqa: N815
    S: Any  # noqa: N815
    V: Any  # noqa: N815


class linalg_lstsq(NamedTuple):  # noqa: N801
    solution: Any
    residuals: Any
    rank: Any
    singular_values: Any


class linalg_solve_ex(NamedTuple):  # noqa: N801
    result: Any
    info: Any


# --------------------------------------------------------------------------------------
# checks

_DTYPE_NAMES = {
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
    "int64": "Long",
    "int32": "Int",
    "int16": "Short",
    "int8": "Char",
    "uint8": "Byte",
    "bool": "Bool",
}


def dtype_name(dtype: Any) -> str:
    """PyTorch's C++ scalar-type name (``Half``, ``Float``, ``Long``...) of a dtype."""
    short = str(dtype).split(".")[-1]
    return _DTYPE_NAMES.get(short, short)


def check_float(a: Tensor, fname: str) -> None:
    """Reject non-float and low-precision inputs with PyTorch's messages."""
    if a.dtype in (torch.float16, torch.bfloat16):
        raise RuntimeError(
            f"{fname}: Low precision dtypes not supported. Got {dtype_name(a.dtype)}"
        )
    if not a.is_floating_point():
        raise RuntimeError(
            f"{fname}: Expected a floating point or complex tensor as input. "
            f"Got {dtype_name(a.dtype)}"
        )


def check_matrix(a: Tensor, fname: str, arg: str = "A") -> None:
    if a.dim() < 2:
        raise RuntimeError(f"{fname}: The input tensor {arg} must have at least 2 dimensions.")


def check_square(a: Tensor, fname: str, arg: str = "A") -> None:
    check_matrix(a, fname, arg)
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"{fname}: {arg} must be batches of square matrices, but they are "
            f"{a.shape[-2]} by {a.shape[-1]} matrices"
        )


def check_linalg(a: Tensor, fname: str, *, square: bool) -> None:
    """The usual checks of a ``linalg`` entry point: a (square) matrix of float32/float64."""
    if square:
        check_square(a, fname)
    else:
        check_matrix(a, fname)
    check_float(a, fname)


def raise_info(info: Tensor, message: Any, fname: str) -> None:
    """Raise ``LinAlgError`` for the first nonzero ``info`` (PyTorch's ``(Batch element i):``
    prefix for batched inputs); ``message(k)`` builds the text for the info value ``k``."""
    flat = info.reshape(-1)
    bad = (flat != 0).nonzero()
    if bad.shape[0] == 0:
        return
    i = int(bad[0, 0])
    k = int(flat[i])
    prefix = f"{fname}: " + (f"(Batch element {i}): " if info.dim() > 0 else "")
    raise LinAlgError(prefix + message(k))


# --------------------------------------------------------------------------------------
# batched building blocks


def batch_shape(a: Tensor) -> tuple[int, ...]:
    return tuple(a.shape[:-2])


def eye_like(n: int, a: Tensor) -> Tensor:
    return torch.eye(n, dtype=a.dtype, device=a.device)


def diagonal(a: Tensor, offset: int = 0) -> Tensor:
    """The (``offset``) diagonal of the last two dims, differentiable."""
    rows, cols = a.shape[-2], a.shape[-1]
    if offset >= 0:
        k = max(0, min(rows, cols - offset))
        r = torch.arange(k, device=a.device)
        return a[..., r, r + offset]
    k = max(0, min(rows + offset, cols))
    r = torch.arange(k, device=a.device)
    return a[..., r - offset, r]


def diag_embed(v: Tensor) -> Tensor:
    """Square matrices with ``v`` (``(..., n)``) on the diagonal (finite ``v`` only)."""
    n = v.shape[-1]
    return v.unsqueeze(-1) * eye_like(n, v)


def sign_nonzero(x: Tensor) -> Tensor:
    """``sign(x)`` with ``+1`` at zero."""
    return torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))


def broadcast_batch(a: Tensor, b: Tensor, b_core: int = 2) -> tuple[Tensor, Tensor]:
    """Expand the batch dims of ``a`` (matrices) and ``b`` (``b_core`` trailing core dims) to
    their broadcast shape (differentiably)."""
    ba, bb = tuple(a.shape[:-2]), tuple(b.shape[: b.dim() - b_core])
    nd = max(len(ba), len(bb))
    ba1 = (1,) * (nd - len(ba)) + ba
    bb1 = (1,) * (nd - len(bb)) + bb
    out = []
    for x, y in zip(ba1, bb1):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                "non-singleton dimension"
            )
        out.append(max(x, y))
    shape = tuple(out)
    a = a.expand(shape + tuple(a.shape[-2:]))
    b = b.expand(shape + tuple(b.shape[b.dim() - b_core :]))
    return a, b


def any_true(x: Tensor) -> bool:
    return bool(x.any().item()) if x.numel() else False
