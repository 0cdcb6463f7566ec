"""``torch.testing``: ``assert_close`` (and the deprecated ``assert_allclose``) with PyTorch's
default tolerances, checks and failure messages."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

import rustorch
from rustorch import Tensor

# dtype name -> (rtol, atol), PyTorch's defaults; other dtypes compare exactly.
_TOLERANCES = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
}


def _default_tolerances(*dtypes: Any) -> tuple[float, float]:
    tols = [_TOLERANCES.get(str(d).split(".")[-1], (0.0, 0.0)) for d in dtypes]
    return max(t[0] for t in tols), max(t[1] for t in tols)


def _tolerances(
    rtol: Optional[float], atol: Optional[float], *dtypes: Any
) -> tuple[float, float]:
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(
            "Both 'rtol' and 'atol' must be either specified or omitted, but got no "
            f"{missing}."
        )
    if rtol is None or atol is None:
        return _default_tolerances(*dtypes)
    return float(rtol), float(atol)


class _Mismatch(AssertionError):
    pass


def _fail(msg: str, path: tuple[Any, ...], custom: Any) -> None:
    if custom is not None:
        msg = custom(msg) if callable(custom) else str(custom)
    elif path:
        msg += "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in path)
    raise _Mismatch(msg)


def _diff_msg(kind: str, diff: Any, idx: Any, tol: Optional[float]) -> str:
    """One line of a failure report; ``tol`` None for an equality check (both zero)."""
    msg = (f"{kind.title()} difference: {diff}" if idx is None
           else f"Greatest {kind} difference: {diff} at index {idx}")
    return msg + (f" (up to {tol} allowed)" if tol is not None else "")


def _compare_numbers(actual: Any, expected: Any, rtol: Optional[float],
                     atol: Optional[float], equal_nan: bool, check_dtype: bool,
                     path: tuple[Any, ...], msg: Any) -> None:
    if check_dtype and type(actual) is not type(expected):
        _fail(f"The (d)types do not match: {type(actual)} != {type(expected)}.", path, msg)
    kind = "float64" if isinstance(actual, float) or isinstance(expected, float) else "int64"
    rtol, atol = _tolerances(rtol, atol, kind)
    if actual == expected or (equal_nan and math.isnan(actual) and math.isnan(expected)):
        return
    abs_diff = abs(actual - expected)
    if math.isfinite(abs_diff) and abs_diff <= atol + rtol * abs(expected):
        return
    rel_diff = abs_diff / abs(expected) if expected != 0 else math.inf
    exact = rtol == 0 and atol == 0
    _fail(f"Scalars are not {'equal' if exact else 'close'}!\n\n"
          f"Expected {expected} but got {actual}.\n"
          f"{_diff_msg('absolute', abs_diff, None, None if exact else atol)}\n"
          f"{_diff_msg('relative', rel_diff, None, None if exact else rtol)}", path, msg)


def _compare_tensors(actual: Tensor, expected: Tensor, rtol: Optional[float],
                     atol: Optional[float], equal_nan: bool, check_device: bool,
                     check_dtype: bool, check_stride: bool, path: tuple[Any, ...],
                     msg: Any) -> None:
    attrs = [("shape", actual.shape, expected.shape)]
    if check_device:
        attrs.append(("device", actual.device, expected.device))
    if check_dtype:
        attrs.append(("dtype", actual.dtype, expected.dtype))
    if check_stride:
        attrs.append(("stride()", actual.stride(), expected.stride()))
    for name, a, e in attrs:
        if a != e:
            _fail(f"The values for attribute '{name}' do not match: {a} != {e}.", path, msg)
    rtol, atol = _tolerances(rtol, atol, actual.dtype, expected.dtype)
    actual, expected = actual.detach().cpu(), expected.detach().cpu()
    if actual.dtype != expected.dtype:
        common = rustorch.result_type(actual, expected)
        actual, expected = actual.to(common), expected.to(common)
    if actual.dtype == rustorch.bool:
        close = actual.eq(expected)
    else:
        close = actual.isclose(expected, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if bool(close.all()):
        return
    # The report: counts and the greatest differences
    # (in the tensors' float dtype, float32 for the 16-bit ones, as PyTorch reports them)
    if actual.dtype == rustorch.float64:
        a, e = actual.numpy(), expected.numpy()
    elif actual.is_floating_point():
        a, e = actual.float().numpy(), expected.float().numpy()
    else:
        a, e = actual.long().numpy(), expected.long().numpy()
    ok = close.numpy()
    abs_diff = np.abs(a - e)
    with np.errstate(divide="ignore", invalid="ignore"):
        # (integers' relative differences in float32, as PyTorch's)
        rel_diff = (abs_diff / np.abs(e) if actual.is_floating_point()
                    else abs_diff.astype(np.float32) / np.abs(e).astype(np.float32))
    abs_diff = np.where(ok, 0, abs_diff)
    rel_diff = np.where(ok, 0, rel_diff)

    def greatest(d: np.ndarray) -> tuple[Any, tuple[int, ...]]:
        flat = int(np.argmax(np.where(np.isnan(d), np.inf, d))) if d.size else 0
        idx = tuple(int(i) for i in np.unravel_index(flat, d.shape)) if d.ndim else ()
        return d.reshape(-1)[flat].item(), idx

    n_bad, n = int((~ok).sum()), ok.size
    exact = rtol == 0 and atol == 0
    ad, ai = greatest(abs_diff)
    rd, ri = greatest(rel_diff)
    _fail(f"Tensor-likes are not {'equal' if exact else 'close'}!\n\n"
          f"Mismatched elements: {n_bad} / {n} ({n_bad / n:.1%})\n"
          f"{_diff_msg('absolute', ad, ai, None if exact else atol)}\n"
          f"{_diff_msg('relative', rd, ri, None if exact else rtol)}", path, msg)


def _compare(actual: Any, expected: Any, path: tuple[Any, ...], **kw: Any) -> None:
    a_t, e_t = isinstance(actual, Tensor), isinstance(expected, Tensor)
    if a_t and e_t:
        return _compare_tensors(actual, expected, kw["rtol"], kw["atol"], kw["equal_nan"],
                                kw["check_device"], kw["check_dtype"], kw["check_stride"],
                                path, kw["msg"])
    if not a_t and not e_t:
        numbers = (int, float, bool)
        if isinstance(actual, numbers) and isinstance(expected, numbers):
            return _compare_numbers(actual, expected, kw["rtol"], kw["atol"],
                                    kw["equal_nan"], kw["check_dtype"], path, kw["msg"])
        if (isinstance(actual, Sequence) and isinstance(expected, Sequence)
                and not isinstance(actual, str) and not isinstance(expected, str)):
            if len(actual) != len(expected):
                _fail(f"The length of the sequences mismatch: {len(actual)} != "
                      f"{len(expected)}", path, kw["msg"])
            for i, (a, e) in enumerate(zip(actual, expected)):
                _compare(a, e, (*path, i), **kw)
            return None
        if isinstance(actual, Mapping) and isinstance(expected, Mapping):
            if set(actual) != set(expected):
                _fail(f"The keys of the mappings do not match:\n"
                      f"Missing keys in the actual mapping: {sorted(set(expected) - set(actual))}\n"
                      f"Additional keys in the actual mapping: "
                      f"{sorted(set(actual) - set(expected))}", path, kw["msg"])
            for k in expected:
                _compare(actual[k], expected[k], (*path, k), **kw)
            return None
    raise TypeError(
        f"No comparison pair was able to handle inputs of type {type(actual)} and "
        f"{type(expected)}."
    )


def assert_close(
    actual: Any,
    expected: Any,
    *,
    allow_subclasses: bool = True,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg: Optional[Union[str, Callable[[str], str]]] = None,
) -> None:
    """``torch.testing.assert_close``: tensors (and numbers, sequences and mappings of them,
    compared item by item) are close when ``|actual − expected| ≤ atol + rtol·|expected|``
    everywhere, with PyTorch's per-dtype default tolerances (float32: rtol 1.3e-6, atol 1e-5)
    and the same shape, device and dtype checks and ``AssertionError`` messages.
    ``check_layout`` is accepted (rustorch has strided tensors only)."""
    try:
        _compare(actual, expected, (), rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_device=check_device, check_dtype=check_dtype,
                 check_stride=check_stride, msg=msg)
    except _Mismatch as e:
        raise AssertionError(str(e)) from None


def assert_allclose(
    actual: Any,
    expected: Any,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    equal_nan: bool = True,
    msg: str = "",
) -> None:
    """Deprecated ``torch.testing.assert_allclose``: ``assert_close`` without the dtype check,
    NaNs equal by default, and a non-tensor ``expected`` converted to ``actual``'s dtype."""
    warnings.warn(
        "`torch.testing.assert_allclose()` is deprecated since 1.12 and will be removed in a "
        "future release. Please use `torch.testing.assert_close()` instead.",
        FutureWarning,
        stacklevel=2,
    )
    if not isinstance(actual, Tensor):
        actual = rustorch.tensor(actual)
    if not isinstance(expected, Tensor):
        expected = rustorch.tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _default_tolerances(actual.dtype, expected.dtype)
    assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan,
                 check_device=True, check_dtype=False, check_stride=False, msg=msg or None)


__all__ = ["assert_allclose", "assert_close"]
