"""Shared machinery for the rustorch test-suite.

Every test module does ``from conftest import rt, ...``; ``rt`` is the library under test:

* normally ``rustorch`` (``import rustorch as torch`` is the user-facing contract);
* with ``RUSTORCH_TEST_ORACLE=torch`` it is PyTorch itself, which is how the suite is
  validated: every test must pass when PyTorch is tested against itself and NumPy.

``RUSTORCH_TEST_NO_TORCH=1`` hides PyTorch as a *reference* (NumPy references only), as on
a machine without PyTorch.

Reference values come from NumPy (always present) and, where installed, PyTorch.
``check_op`` is the one helper that compares an op against PyTorch, forward and backward.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

ORACLE = os.environ.get("RUSTORCH_TEST_ORACLE", "").strip().lower()

if ORACLE == "torch":
    import torch as rt  # noqa: F401  (re-exported)
elif ORACLE:
    raise RuntimeError(f"unknown RUSTORCH_TEST_ORACLE={ORACLE!r}; only 'torch' is supported")
else:
    import rustorch as rt  # noqa: F401  (re-exported)

try:  # PyTorch is an optional reference.
    import torch as torch_or_none
except ImportError:  # pragma: no cover - depends on the environment
    torch_or_none = None
if os.environ.get("RUSTORCH_TEST_NO_TORCH", "") not in ("", "0"):
    # Pretend PyTorch is absent (NumPy references only); exercises the skip paths.
    torch_or_none = None

LIB_NAME = rt.__name__  # "rustorch", or "torch" under the oracle

DTYPE_NAMES = ("float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")
NP_DTYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}
LAYOUTS = ("contiguous", "transposed", "strided", "expanded")

# Every op test runs on every device: modules of op tests declare
# ``pytestmark = pytest.mark.usefixtures("device")``, which runs each of their tests once per
# entry here; ``check_op`` builds the library's inputs on the current one (the PyTorch
# oracle stays on the CPU). Without a GPU the CUDA runs skip, saying so.
DEVICES = ("cpu", "cuda")
_current_device = "cpu"


def current_device() -> str:
    """The device the running test's ``check_op`` calls use."""
    return _current_device


@pytest.fixture(params=DEVICES)
def device(request):
    """The device of an op test (see ``DEVICES``)."""
    global _current_device
    if request.param == "cuda" and not rt.cuda.is_available():
        pytest.skip("CUDA is not available: no NVIDIA GPU and driver on this machine")
    _current_device = request.param
    yield request.param
    _current_device = "cpu"


# --------------------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------------------


def need_torch():
    """Return the torch module or skip the calling test."""
    if torch_or_none is None:
        pytest.skip("PyTorch is not installed: no PyTorch reference available")
    return torch_or_none


# The PyTorch release the suite's comparisons follow (the CPU wheel CI installs). The GPU
# machines bring their own, older PyTorch; where a behaviour changed in between, the check
# runs only against this release or a later one.
ORACLE_TORCH = (2, 13)


def torch_is_oracle() -> bool:
    """Whether the installed PyTorch is at least :data:`ORACLE_TORCH`."""
    if torch_or_none is None:
        return False
    major, minor = torch_or_none.__version__.split("+")[0].split(".")[:2]
    return (int(major), int(minor)) >= ORACLE_TORCH


def need_oracle_torch(what: str):
    """Return the torch module, or skip where it predates :data:`ORACLE_TORCH` in ``what``."""
    torch = need_torch()
    if not torch_is_oracle():
        pytest.skip(
            f"PyTorch {torch.__version__} here predates {ORACLE_TORCH[0]}.{ORACLE_TORCH[1]} "
            f"in {what}"
        )
    return torch


def need_nn():
    """Return ``rt.nn.functional`` or skip (rustorch may not ship ``nn``)."""
    if not hasattr(rt, "nn") or not hasattr(rt.nn, "functional"):
        pytest.skip(f"{LIB_NAME} has no nn.functional")
    return rt.nn.functional


def dtype_name(dt) -> str:
    """'torch.float32' / 'rustorch.float32' -> 'float32'; numpy dtypes -> their name."""
    if isinstance(dt, (np.dtype, type)):
        name = np.dtype(dt).name
        return "bool" if name == "bool" else name
    return str(dt).rsplit(".", 1)[-1]


def lib_dtype(lib, name):
    if name is None:
        return None
    if not isinstance(name, str):
        name = dtype_name(name)
    return getattr(lib, name)


def is_tensor(x, lib=None) -> bool:
    lib = rt if lib is None else lib
    return isinstance(x, lib.Tensor)


def to_np(t) -> np.ndarray:
    """A NumPy copy of a tensor (of either library), array or Python scalar."""
    if isinstance(t, np.ndarray):
        return t.copy()
    if hasattr(t, "detach"):
        t = t.detach().cpu()
        if dtype_name(t.dtype) == "bfloat16":  # NumPy has no bfloat16 (nor PyTorch's numpy())
            t = t.float()
        return np.array(t.numpy(), copy=True)
    return np.asarray(t)


def rand_array(shape, dtype="float32", seed=0, low=None, high=None, positive=False):
    """Deterministic random NumPy data of a given dtype name.

    Floats are standard normal (or uniform in [low, high)); ``positive`` keeps them in
    [0.5, 2.5). Integers are small (so products and powers stay exact), never zero when
    ``positive``.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    if dtype in FLOAT_DTYPES:
        if positive:
            a = rng.uniform(0.5, 2.5, shape)
        elif low is not None:
            a = rng.uniform(low, high, shape)
        else:
            a = rng.standard_normal(shape)
    elif dtype == "bool":
        a = rng.random(shape) < 0.5
    else:
        lo = 1 if positive else (0 if dtype == "uint8" else -5)
        lo = lo if low is None else low
        hi = 6 if high is None else high
        a = rng.integers(lo, hi, shape)
    return np.asarray(a).astype(NP_DTYPES[dtype])


def make_tensor(lib, arr, dtype=None, requires_grad=False):
    """A tensor of library ``lib`` holding a copy of ``arr``."""
    arr = np.asarray(arr)
    name = dtype if dtype is not None else dtype_name(arr.dtype)
    return lib.tensor(arr, dtype=lib_dtype(lib, name), requires_grad=requires_grad)


# --------------------------------------------------------------------------------------
# layouts: the same logical values held contiguously, transposed, strided or expanded
# --------------------------------------------------------------------------------------


def layout_values(arr: np.ndarray, layout: str) -> np.ndarray:
    """The logical values a tensor built with ``build_input(..., layout)`` holds."""
    if layout == "expanded" and arr.ndim >= 1 and arr.shape[0] > 0:
        return np.ascontiguousarray(np.broadcast_to(arr[:1], arr.shape))
    return arr


def build_input(lib, arr, dtype, layout, requires_grad=False):
    """Return ``(leaf, value)``: ``value`` has ``layout_values(arr, layout)`` as its values and
    the requested memory layout; ``leaf`` is the tensor that owns the memory."""
    arr = np.asarray(arr)
    if layout == "transposed" and arr.ndim < 2:
        layout = "strided"
    if layout == "contiguous" or arr.ndim == 0:
        leaf = make_tensor(lib, arr, dtype, requires_grad)
        return leaf, leaf
    if layout == "transposed":
        swapped = np.ascontiguousarray(np.swapaxes(arr, -1, -2))
        leaf = make_tensor(lib, swapped, dtype, requires_grad)
        return leaf, leaf.transpose(-1, -2)
    if layout == "strided":
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), dtype=arr.dtype)
        big[..., ::2] = arr
        big[..., 1::2] = arr[..., ::-1]  # junk in the gaps, so reading them shows
        leaf = make_tensor(lib, big, dtype, requires_grad)
        return leaf, leaf[..., ::2]
    if layout == "expanded":
        if arr.shape[0] == 0:
            leaf = make_tensor(lib, arr, dtype, requires_grad)
            return leaf, leaf
        leaf = make_tensor(lib, arr[:1], dtype, requires_grad)
        return leaf, leaf.expand(*arr.shape)
    raise ValueError(f"unknown layout {layout!r}")


# --------------------------------------------------------------------------------------
# comparisons
# --------------------------------------------------------------------------------------

_TOL = {"float32": (1e-5, 1e-5), "float64": (1e-9, 1e-11), "float16": (2e-3, 2e-3)}


def _tols(name, rtol, atol):
    r, a = _TOL.get(name, (0.0, 0.0))
    return (r if rtol is None else rtol), (a if atol is None else atol)


def assert_values(actual: np.ndarray, expected: np.ndarray, rtol=None, atol=None, msg=""):
    """Compare arrays: exactly for integer/bool data, with tolerance for floats."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{msg} shape {actual.shape} != {expected.shape}"
    if actual.dtype.kind in "fc" or expected.dtype.kind in "fc":
        name = dtype_name(actual.dtype) if actual.dtype.kind == "f" else "float64"
        r, a = _tols(name, rtol, atol)
        np.testing.assert_allclose(
            actual.astype(np.float64), expected.astype(np.float64), rtol=r, atol=a,
            equal_nan=True, err_msg=msg,
        )
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=msg)


def _flatten(out):
    """Turn a (possibly nested) result into a list of leaves."""
    if isinstance(out, (tuple, list)):
        leaves = []
        for o in out:
            leaves.extend(_flatten(o))
        return leaves
    return [out]


def assert_matches_torch(rt_out, torch_out, rtol=None, atol=None, msg=""):
    """Compare a result of ``rt`` with the result PyTorch gives: structure, tensor type,
    dtype (by name), shape, and values; Python scalars must have the same Python type."""
    torch = need_torch()
    if isinstance(torch_out, (tuple, list)):
        assert isinstance(rt_out, (tuple, list)), f"{msg} expected a sequence, got {type(rt_out)}"
        assert len(rt_out) == len(torch_out), f"{msg} length {len(rt_out)} != {len(torch_out)}"
        for i, (a, b) in enumerate(zip(rt_out, torch_out)):
            assert_matches_torch(a, b, rtol, atol, msg=f"{msg}[{i}]")
        return
    if isinstance(torch_out, torch.Tensor):
        assert is_tensor(rt_out), f"{msg} expected a {LIB_NAME}.Tensor, got {type(rt_out)}"
        assert dtype_name(rt_out.dtype) == dtype_name(torch_out.dtype), (
            f"{msg} dtype {rt_out.dtype} != {torch_out.dtype}"
        )
        assert tuple(rt_out.shape) == tuple(torch_out.shape), (
            f"{msg} shape {tuple(rt_out.shape)} != {tuple(torch_out.shape)}"
        )
        assert_values(to_np(rt_out), to_np(torch_out), rtol, atol, msg)
        return
    if torch_out is None:
        assert rt_out is None, f"{msg} expected None, got {rt_out!r}"
        return
    assert type(rt_out) is type(torch_out), f"{msg} type {type(rt_out)} != {type(torch_out)}"
    if isinstance(torch_out, float):
        assert_values(np.float64(rt_out), np.float64(torch_out), rtol, atol, msg)
    else:
        assert rt_out == torch_out, f"{msg} {rt_out!r} != {torch_out!r}"


def assert_matches_numpy(rt_out, ref, rtol=None, atol=None, out_dtype=None, msg=""):
    """Compare a result of ``rt`` with a NumPy reference (values and shape; dtype only
    through ``out_dtype``, because NumPy's promotion rules differ from PyTorch's)."""
    if isinstance(ref, (tuple, list)):
        assert isinstance(rt_out, (tuple, list)), f"{msg} expected a sequence, got {type(rt_out)}"
        assert len(rt_out) == len(ref), f"{msg} length {len(rt_out)} != {len(ref)}"
        for i, (a, b) in enumerate(zip(rt_out, ref)):
            assert_matches_numpy(a, b, rtol, atol, out_dtype, msg=f"{msg}[{i}]")
        return
    if is_tensor(rt_out):
        if out_dtype is not None:
            got = dtype_name(rt_out.dtype)
            assert got == out_dtype, f"{msg} dtype {got} != {out_dtype}"
        assert_values(to_np(rt_out), np.asarray(ref), rtol, atol, msg)
    else:
        assert_values(np.asarray(rt_out), np.asarray(ref), rtol, atol, msg)


def _grad_dtype_ok(t) -> bool:
    return dtype_name(t.dtype) in FLOAT_DTYPES


def _backprop(lib, out, seed):
    """Backpropagate a deterministic random upstream gradient through every float output."""
    outs = [o for o in _flatten(out) if is_tensor(o, lib) and o.requires_grad]
    if not outs:
        return False
    rng = np.random.default_rng(seed)
    total = None
    for o in outs:
        g = rng.standard_normal(tuple(o.shape))
        term = (o * make_tensor(lib, g, dtype_name(o.dtype))).sum()
        total = term if total is None else total + term
    total.backward()
    return True


def assert_same_error(call):
    """``call(lib)`` raises the same exception type with the same message under PyTorch and
    under the library tested (whose ``Size`` and dtypes print with its own module name)."""
    torch = need_torch()
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)) as got:
        call(rt)
    assert str(got.value).replace(f"{rt.__name__}.", "torch.") == str(want.value)


def _outcome(call, lib):
    """``call(lib)``'s dtype name and values, or its exception's type name and message."""
    try:
        out = call(lib)
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as e:
        return type(e).__name__, str(e).replace(f"{rt.__name__}.", "torch.")
    return str(out.dtype).split(".")[-1], np.array(out.cpu().tolist())


def assert_same_outcome(call, rtol=0.0):
    """``call(lib)`` gives the same dtype and values (equal, or within ``rtol``) under
    PyTorch and under the library tested, or raises the same exception type with the same
    message."""
    torch = need_torch()
    (kind, ours), (kind_t, theirs) = _outcome(call, rt), _outcome(call, torch)
    assert kind == kind_t, (ours, theirs)
    if isinstance(ours, str):
        assert ours == theirs
    elif rtol:
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(ours, theirs)


def check_op(fn, *inputs, dtype=None, grad=False, np_fn=None, layout="contiguous",
             rtol=None, atol=None, out_dtype=None, grad_rtol=None, grad_atol=None, seed=1234):
    """Compare ``fn(lib, *tensors)`` between ``rt`` and references.

    ``inputs``: NumPy arrays become tensors (floating-point ones cast to ``dtype`` if given,
    others keep their dtype; built with ``layout``); anything else is passed through.
    ``np_fn(*arrays)``: optional NumPy reference, always checked when given.
    PyTorch, where installed, is always checked too (values, dtype, shape); with
    ``grad=True`` (float64 inputs by default) a random upstream gradient is backpropagated
    in both libraries and the leaves' ``.grad`` compared.
    Returns the ``rt`` result.
    """
    if grad and dtype is None:
        dtype = "float64"
    arrays = []
    for x in inputs:
        if isinstance(x, np.ndarray) and dtype is not None and x.dtype.kind == "f":
            x = x.astype(NP_DTYPES[dtype])  # index / mask inputs keep their dtype
        arrays.append(x)

    def build(lib, requires_grad):
        leaves, args = [], []
        for x in arrays:
            if isinstance(x, np.ndarray):
                rg = requires_grad and dtype_name(x.dtype) in FLOAT_DTYPES
                leaf, val = build_input(lib, x, None, layout, rg)
                leaves.append(leaf)
                args.append(val)
            else:
                leaves.append(None)
                args.append(x)
        return leaves, args

    # The library under test creates everything on the current device (inputs, and whatever
    # ``fn`` creates itself), as PyTorch's ``with torch.device(...)`` does.
    with rt.device(_current_device):
        rt_leaves, rt_args = build(rt, grad)
        rt_out = fn(rt, *rt_args)
    compared = False

    if out_dtype is not None:
        for o in _flatten(rt_out):
            if is_tensor(o):
                assert dtype_name(o.dtype) == out_dtype, f"dtype {o.dtype} != {out_dtype}"

    if np_fn is not None:
        np_args = [layout_values(x, layout) if isinstance(x, np.ndarray) else x for x in arrays]
        with np.errstate(all="ignore"):
            ref = np_fn(*np_args)
        assert_matches_numpy(rt_out, ref, rtol=rtol, atol=atol, msg="vs numpy:")
        compared = True

    if torch_or_none is not None:
        t_leaves, t_args = build(torch_or_none, grad)
        t_out = fn(torch_or_none, *t_args)
        assert_matches_torch(rt_out, t_out, rtol=rtol, atol=atol, msg="vs torch:")
        compared = True
        if grad:
            with rt.device(_current_device):
                did_rt = _backprop(rt, rt_out, seed)
            did_t = _backprop(torch_or_none, t_out, seed)
            assert did_rt == did_t, "requires_grad of outputs differs from torch"
            for i, (a, b) in enumerate(zip(rt_leaves, t_leaves)):
                if b is None or not b.requires_grad:
                    continue
                if b.grad is None:
                    assert a.grad is None, f"grad of input {i} should be None"
                    continue
                assert a.grad is not None, f"grad of input {i} is None"
                assert_matches_torch(a.grad, b.grad, rtol=grad_rtol, atol=grad_atol,
                                     msg=f"grad of input {i}:")
    if not compared:
        pytest.skip("PyTorch not installed and no NumPy reference for this case")
    return rt_out


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture
def rng():
    return np.random.default_rng(0)
