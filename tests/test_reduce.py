"""Reductions (dim / keepdim / tuple dims / full), max/min/arg*, var/std/norm,
logsumexp/softmax/log_softmax, cumsum, all/any, and summation accuracy."""

import numpy as np
import pytest
from conftest import (
    LAYOUTS,
    assert_values,
    check_op,
    dtype_name,
    make_tensor,
    rand_array,
    rt,
    to_np,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


def _kw(dim, keepdim):
    if dim is None:
        return {}
    return {"dim": dim, "keepdim": keepdim}


def _np_red(np_fn, **extra):
    def f(x, dim, keepdim):
        axis = dim if dim is None or isinstance(dim, tuple) else (dim,)
        return np.asarray(np_fn(x, axis=axis, keepdims=keepdim if dim is not None else False,
                                **extra))
    return f


def _logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _norm(p):
    def f(x, axis, keepdims):
        if p == 2:
            return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
        if p == 1:
            return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    return f


# name -> (call(lib, x, **kw), numpy reference(x, dim, keepdim)); prod takes a single int
# dim in PyTorch and is tested separately
REDUCTIONS = {
    "sum": (lambda L, x, **k: L.sum(x, **k), _np_red(np.sum)),
    "sum_method": (lambda L, x, **k: x.sum(**k), _np_red(np.sum)),
    "mean": (lambda L, x, **k: L.mean(x, **k), _np_red(np.mean)),
    "mean_method": (lambda L, x, **k: x.mean(**k), _np_red(np.mean)),
    "amax": (lambda L, x, **k: L.amax(x, **k), _np_red(np.max)),
    "amin": (lambda L, x, **k: x.amin(**k), _np_red(np.min)),
    "var": (lambda L, x, **k: L.var(x, **k), _np_red(np.var, ddof=1)),
    "var_c0": (lambda L, x, **k: x.var(correction=0, **k), _np_red(np.var)),
    "var_unbiased_false": (lambda L, x, **k: L.var(x, unbiased=False, **k), _np_red(np.var)),
    "std": (lambda L, x, **k: x.std(**k), _np_red(np.std, ddof=1)),
    "std_c0": (lambda L, x, **k: L.std(x, correction=0, **k), _np_red(np.std)),
    "std_unbiased": (lambda L, x, **k: x.std(unbiased=True, **k), _np_red(np.std, ddof=1)),
    "norm": (lambda L, x, **k: x.norm(**k), _np_red(_norm(2))),
    "norm_p1": (lambda L, x, **k: L.norm(x, p=1, **k), _np_red(_norm(1))),
    "norm_inf": (lambda L, x, **k: x.norm(p=float("inf"), **k), _np_red(_norm("inf"))),
    "logsumexp": (lambda L, x, **k: L.logsumexp(x, **k), _np_red(_logsumexp)),
}

# reductions whose dim argument is mandatory in PyTorch
DIM_REQUIRED = {"logsumexp"}


def _cases():
    for name in REDUCTIONS:
        for dim in DIMS:
            if dim is None and name in DIM_REQUIRED:
                continue
            if name == "norm" and isinstance(dim, tuple) and len(dim) > 2:
                continue  # torch.norm's default 'fro' only accepts one or two dims
            for keepdim in ([False] if dim is None else [False, True]):
                yield name, dim, keepdim


CASES = list(_cases())
CASE_IDS = [f"{n}-dim{d}-{'keep' if k else 'nokeep'}" for n, d, k in CASES]


@pytest.mark.parametrize("name, dim, keepdim", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_reduction_float32(name, dim, keepdim, layout):
    call, ref = REDUCTIONS[name]
    a = rand_array((2, 3, 4), "float32")
    check_op(lambda lib, x: call(lib, x, **_kw(dim, keepdim)), a,
             np_fn=lambda x: ref(x.astype(np.float64), dim, keepdim).astype(np.float32),
             layout=layout, out_dtype="float32", rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, dim, keepdim", CASES, ids=CASE_IDS)
def test_reduction_float64_grad(name, dim, keepdim):
    call, ref = REDUCTIONS[name]
    a = rand_array((2, 3, 4), "float64")
    check_op(lambda lib, x: call(lib, x, **_kw(dim, keepdim)), a,
             np_fn=lambda x: ref(x, dim, keepdim), out_dtype="float64", grad=True)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "var", "norm", "logsumexp"])
@pytest.mark.parametrize("layout", ["strided", "expanded"])
def test_reduction_other_layouts(name, layout):
    call, ref = REDUCTIONS[name]
    a = rand_array((3, 5), "float64")
    check_op(lambda lib, x: call(lib, x, dim=1), a, np_fn=lambda x: ref(x, 1, False),
             layout=layout, grad=True)
    check_op(lambda lib, x: call(lib, x, dim=0, keepdim=True), a,
             np_fn=lambda x: ref(x, 0, True), layout=layout)


def test_full_reduction_returns_0d():
    x = make_tensor(rt, rand_array((3, 4), "float32"))
    for r in [x.sum(), x.mean(), x.prod(), x.amax(), x.max(), x.min(), x.var(), x.std(),
              x.norm(), x.argmax(), x.all(), x.any()]:
        assert rt.is_tensor(r) and r.dim() == 0 and tuple(r.shape) == ()


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod(dim, keepdim):
    a = rand_array((3, 4), "float64", positive=True)
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    check_op(lambda lib, x: lib.prod(x, **kw), a,
             np_fn=lambda x: np.prod(x, axis=dim, keepdims=keepdim and dim is not None),
             grad=True)
    check_op(lambda lib, x: x.prod(**kw), a.astype(np.float32),
             np_fn=lambda x: np.prod(x, axis=dim, keepdims=keepdim and dim is not None))


def test_prod_grad_with_zero():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 4.0]])
    check_op(lambda lib, x: x.prod(dim=1), a, np_fn=lambda x: np.prod(x, axis=1), grad=True)


# ---------------------------------------------------------------- integer / bool dtypes


@pytest.mark.parametrize(
    "dtype, expected", [("int64", "int64"), ("int32", "int64"), ("uint8", "int64"),
                        ("bool", "int64"), ("float32", "float32"), ("float64", "float64")]
)
def test_sum_and_prod_dtype_promotion(dtype, expected):
    a = rand_array((3, 4), dtype, low=0 if dtype != "bool" else None, high=4)
    check_op(lambda lib, x: x.sum(), a, np_fn=lambda x: np.sum(x.astype(np.float64)),
             out_dtype=expected)
    check_op(lambda lib, x: lib.sum(x, dim=1), a,
             np_fn=lambda x: np.sum(x.astype(np.float64), axis=1), out_dtype=expected)
    check_op(lambda lib, x: x.prod(dim=0), a,
             np_fn=lambda x: np.prod(x.astype(np.float64), axis=0), out_dtype=expected)
    check_op(lambda lib, x: x.cumsum(dim=1), a,
             np_fn=lambda x: np.cumsum(x.astype(np.float64), axis=1), out_dtype=expected)


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "bool"])
def test_sum_dtype_kwarg(dtype):
    a = rand_array((3, 4), dtype)
    check_op(lambda lib, x: x.sum(dtype=lib.float64), a,
             np_fn=lambda x: np.sum(x.astype(np.float64)), out_dtype="float64")
    check_op(lambda lib, x: lib.sum(x, dim=0, dtype=lib.float32), a,
             np_fn=lambda x: np.sum(x.astype(np.float64), axis=0), out_dtype="float32")


def test_mean_of_integers_is_an_error():
    with pytest.raises(RuntimeError):
        rt.tensor([1, 2, 3]).mean()
    check_op(lambda lib, x: x.mean(dtype=lib.float32), np.array([1, 2, 4]),
             np_fn=lambda x: np.mean(x), out_dtype="float32")


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_amax_amin_int(dtype):
    a = rand_array((3, 4), dtype, low=0, high=50)
    check_op(lambda lib, x: x.amax(dim=1), a, np_fn=lambda x: x.max(axis=1), out_dtype=dtype)
    check_op(lambda lib, x: lib.amin(x), a, np_fn=lambda x: x.min(), out_dtype=dtype)
    check_op(lambda lib, x: x.max(), a, np_fn=lambda x: x.max(), out_dtype=dtype)


# ---------------------------------------------------------------- zero-size -----------


@pytest.mark.parametrize(
    "call, ref",
    [
        (lambda L, x: x.sum(0), lambda x: x.sum(0)),
        (lambda L, x: x.sum(), lambda x: x.sum()),
        (lambda L, x: x.prod(0), lambda x: x.prod(0)),
        (lambda L, x: x.mean(0), lambda x: np.full(3, np.nan, np.float32)),
        (lambda L, x: x.sum(1), lambda x: x.sum(1)),
        (lambda L, x: x.amax(1), lambda x: x.max(1)),
        (lambda L, x: x.cumsum(0), lambda x: x.cumsum(0)),
        (lambda L, x: x.all(), lambda x: x.all()),
        (lambda L, x: x.any(0), lambda x: x.any(0)),
        (lambda L, x: x.softmax(0), lambda x: x),
        (lambda L, x: x.norm(), lambda x: np.float32(0.0)),
        (lambda L, x: L.logsumexp(x, 0), lambda x: np.full(3, -np.inf, np.float32)),
    ],
)
def test_reductions_on_zero_size(call, ref):
    check_op(call, np.zeros((0, 3), np.float32), np_fn=ref)


def test_reduction_over_empty_dim_without_identity_raises():
    x = rt.zeros(0, 3)
    with pytest.raises((IndexError, RuntimeError)):
        x.amax(0)
    with pytest.raises((IndexError, RuntimeError)):
        x.max()
    with pytest.raises((IndexError, RuntimeError)):
        x.argmax()


# ---------------------------------------------------------------- max / min / arg* ----


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_max_min_with_dim(name, dim, keepdim, layout):
    a = rand_array((3, 4), "float64")
    npf = {"max": (np.max, np.argmax), "min": (np.min, np.argmin)}[name]

    def ref(x):
        v = npf[0](x, axis=dim, keepdims=keepdim)
        i = npf[1](x, axis=dim, keepdims=keepdim)
        return (v, i)

    out = check_op(lambda lib, x: getattr(lib, name)(x, dim, keepdim=keepdim), a, np_fn=ref,
                   layout=layout, grad=True)
    values, indices = out
    assert dtype_name(indices.dtype) == "int64"
    assert_values(to_np(out.values), to_np(values))
    assert_values(to_np(out.indices), to_np(indices))
    out2 = getattr(make_tensor(rt, a), name)(dim=dim, keepdim=keepdim)
    assert_values(to_np(out2.values), ref(a)[0])
    assert_values(to_np(out2.indices), ref(a)[1])


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "uint8", "bool"])
def test_max_min_full_and_dtypes(dtype):
    a = rand_array((3, 4), dtype)
    check_op(lambda lib, x: x.max(), a, np_fn=np.max, out_dtype=dtype)
    check_op(lambda lib, x: lib.min(x), a, np_fn=np.min, out_dtype=dtype)
    check_op(lambda lib, x: x.max(dim=0), a,
             np_fn=lambda x: (x.max(0), x.argmax(0)))


def test_max_with_ties_returns_first_index():
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, 1.0, 5.0, 5.0]])
    check_op(lambda lib, x: x.max(dim=1), a, np_fn=lambda x: (x.max(1), x.argmax(1)))
    check_op(lambda lib, x: x.min(dim=0), a, np_fn=lambda x: (x.min(0), x.argmin(0)))
    check_op(lambda lib, x: x.argmax(dim=1), a, np_fn=lambda x: x.argmax(1))
    check_op(lambda lib, x: x.argmax(), a, np_fn=lambda x: np.argmax(x))


def test_max_min_binary_form():
    a, b = rand_array((3, 4), "float32", 1), rand_array((4,), "float32", 2)
    check_op(lambda lib, x, y: lib.max(x, y), a, b, np_fn=np.maximum)
    check_op(lambda lib, x, y: x.min(y), a, b, np_fn=np.minimum)


def test_max_propagates_nan():
    a = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], np.float32)
    check_op(lambda lib, x: x.max(), a, np_fn=np.max)
    check_op(lambda lib, x: x.amax(dim=1), a, np_fn=lambda x: np.max(x, axis=1))
    check_op(lambda lib, x: x.sum(dim=1), a, np_fn=lambda x: np.sum(x, axis=1))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("length", [1, 15, 16, 63, 64, 65, 130, 257, 4100])
def test_row_reductions_across_lane_runs(dtype, length):
    """Row sums and extremes whose rows end inside and past the kernels' runs of lanes (16,
    64) and the pairwise base (4096), with enough rows to run on the threads."""
    rows = max(3, 200_000 // length)
    a = rand_array((rows, length), dtype, low=-1000 if dtype == "int32" else None,
                   high=1000 if dtype == "int32" else None)
    for name in ("sum", "amax", "amin"):
        call, ref = REDUCTIONS[name]
        check_op(lambda lib, x, call=call: call(lib, x, dim=1), a,
                 np_fn=lambda x, ref=ref: ref(x, 1, False),
                 out_dtype="int64" if dtype == "int32" and name == "sum" else None)


@pytest.mark.parametrize("length", [5, 64, 100, 300])
def test_row_extremes_take_nan_anywhere_in_the_row(length):
    """A NaN in any lane of a row (first element, inside the wide lanes, in the tail) makes
    that row's amax and amin NaN, and rows without one keep their number."""
    rows = max(4, 100_000 // length)
    a = rand_array((rows, length), "float32")
    at = np.random.default_rng(3).integers(0, length, rows)
    a[::3][:, 0] = np.nan
    a[1::3, :][np.arange(len(a[1::3])), at[1::3]] = np.nan
    for fn in (np.max, np.min):
        check_op(lambda lib, x, f=fn: (x.amax(1) if f is np.max else x.amin(1)), a,
                 np_fn=lambda x, f=fn: f(x, axis=1))


@pytest.mark.parametrize("name, np_fn", [("argmax", np.argmax), ("argmin", np.argmin)])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_argmax_argmin(name, np_fn, dim, keepdim, dtype):
    a = rand_array((3, 4, 5), dtype, low=-1000, high=1000)
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}

    def ref(x):
        if dim is None:
            return np.asarray(np_fn(x))
        return np_fn(x, axis=dim, keepdims=keepdim)

    check_op(lambda lib, x: getattr(lib, name)(x, **kw), a, np_fn=ref, out_dtype="int64",
             layout="transposed")
    check_op(lambda lib, x: getattr(x, name)(**kw), a, np_fn=ref, out_dtype="int64")


# ---------------------------------------------------------------- var/std extras ------


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_std_correction(correction):
    a = rand_array((4, 6), "float64")
    check_op(lambda lib, x: x.var(dim=1, correction=correction), a,
             np_fn=lambda x: np.var(x, axis=1, ddof=correction), grad=True)
    check_op(lambda lib, x: lib.std(x, dim=(0, 1), correction=correction, keepdim=True), a,
             np_fn=lambda x: np.std(x, ddof=correction, keepdims=True), grad=True)


def test_var_positional_unbiased():
    a = rand_array((4, 6), "float32")
    check_op(lambda lib, x: x.var(1, False), a, np_fn=lambda x: np.var(x, axis=1))
    check_op(lambda lib, x: x.std(0, True), a, np_fn=lambda x: np.std(x, axis=0, ddof=1))


def test_var_is_numerically_stable():
    # a large offset makes the naive E[x^2] - E[x]^2 formula useless in float32
    a = (1e4 + rand_array((1000,), "float64")).astype(np.float32)
    check_op(lambda lib, x: x.var(), a, np_fn=lambda x: np.var(x.astype(np.float64), ddof=1),
             rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("p", [2, 1, float("inf"), 3])
def test_norm_p_and_dim(p):
    a = rand_array((3, 4), "float64")

    def ref(x, axis=None, keepdims=False):
        if p == float("inf"):
            return np.max(np.abs(x), axis=axis, keepdims=keepdims)
        return np.sum(np.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)

    check_op(lambda lib, x: x.norm(p=p), a, np_fn=lambda x: np.asarray(ref(x)), grad=True)
    check_op(lambda lib, x: lib.norm(x, p=p, dim=1), a, np_fn=lambda x: ref(x, 1), grad=True)
    check_op(lambda lib, x: x.norm(p, 0, True), a, np_fn=lambda x: ref(x, 0, True))
    check_op(lambda lib, x: x.norm(p=p, dim=(0, 1)), a, np_fn=lambda x: np.asarray(ref(x)))


def test_logsumexp_is_stable():
    a = rand_array((3, 4), "float32") + 1000.0
    check_op(lambda lib, x: lib.logsumexp(x, dim=1), a,
             np_fn=lambda x: _logsumexp(x.astype(np.float64), 1, False), rtol=1e-6)
    b = rand_array((3, 4), "float32") - 1000.0
    check_op(lambda lib, x: x.logsumexp(0, keepdim=True), b,
             np_fn=lambda x: _logsumexp(x.astype(np.float64), 0, True), rtol=1e-6)


# ---------------------------------------------------------------- softmax & co --------


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    return x - _logsumexp(x, axis, True)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name, ref", [("softmax", _softmax), ("log_softmax", _log_softmax)])
def test_softmax_log_softmax(name, ref, dim, layout):
    a = rand_array((2, 3, 4), "float64") * 3
    check_op(lambda lib, x: getattr(lib, name)(x, dim), a, np_fn=lambda x: ref(x, dim),
             layout=layout, grad=True)
    check_op(lambda lib, x: getattr(x, name)(dim=dim), a.astype(np.float32),
             np_fn=lambda x: ref(x.astype(np.float64), dim).astype(np.float32), layout=layout)


@pytest.mark.parametrize("name, ref", [("softmax", _softmax), ("log_softmax", _log_softmax)])
def test_softmax_stable_for_large_inputs(name, ref):
    a = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -5000.0]], np.float32)
    out = check_op(lambda lib, x: getattr(lib, name)(x, dim=1), a,
                   np_fn=lambda x: ref(x.astype(np.float64), 1).astype(np.float32))
    assert np.isfinite(to_np(out)).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dim", [((0, 5), 1), ((3, 0), 1), ((0, 5), 0), ((4, 1000), 1)])
def test_softmax_empty_and_long_rows(name, shape, dim):
    # Empty rows, no rows, and rows long enough to be shared between threads.
    a = rand_array(shape, "float32") * 3
    ref = _softmax if name == "softmax" else _log_softmax

    def expected(x):
        if x.size == 0:
            return np.zeros(x.shape, np.float32)
        return ref(x.astype(np.float64), dim).astype(np.float32)

    check_op(lambda lib, x: getattr(lib, name)(x, dim), a, np_fn=expected)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, dtype", [((300, 257), "float32"), ((3, 5000), "float64"),
                                          ((2, 4, 16), "float32")])
def test_softmax_backward_over_last_dim_fused(name, shape, dtype):
    # Rows with and without a tail past the vector lanes, split between threads, the fused
    # backward (last dim, contiguous) against PyTorch with a non-uniform upstream gradient;
    # a recorded backward (create_graph) must give the same first gradient.
    a = rand_array(shape, dtype) * 3
    check_op(lambda lib, x: getattr(lib, name)(x, -1) * lib.linspace(-1, 2, shape[-1],
             dtype=x.dtype, device=x.device), a, grad=True)
    x = make_tensor(rt, a, requires_grad=True)
    w = rt.tensor(rand_array(shape, dtype, seed=1), device=x.device)
    (g1,) = rt.autograd.grad((getattr(x, name)(-1) * w).sum(), x)
    (g2,) = rt.autograd.grad((getattr(x, name)(-1) * w).sum(), x, create_graph=True)
    assert_values(to_np(g1), to_np(g2.detach()))


def test_softmax_dtype_kwarg():
    a = rand_array((2, 3), "float32")
    check_op(lambda lib, x: lib.softmax(x, dim=1, dtype=lib.float64), a,
             np_fn=lambda x: _softmax(x.astype(np.float64), 1), out_dtype="float64")


def test_softmax_nn_functional():
    if not hasattr(rt, "nn"):
        pytest.skip("no rt.nn")
    a = rand_array((2, 3), "float64")
    check_op(lambda lib, x: lib.nn.functional.softmax(x, dim=-1), a,
             np_fn=lambda x: _softmax(x, -1), grad=True)
    check_op(lambda lib, x: lib.nn.functional.log_softmax(x, dim=0), a,
             np_fn=lambda x: _log_softmax(x, 0), grad=True)


# ---------------------------------------------------------------- cumsum --------------


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cumsum(dim, layout):
    a = rand_array((3, 4), "float64")
    check_op(lambda lib, x: lib.cumsum(x, dim), a, np_fn=lambda x: np.cumsum(x, axis=dim),
             layout=layout, grad=True)
    check_op(lambda lib, x: x.cumsum(dim=dim), a.astype(np.float32),
             np_fn=lambda x: np.cumsum(x, axis=dim), layout=layout)


def test_cumsum_dtype_kwarg():
    a = rand_array((5,), "int32")
    check_op(lambda lib, x: x.cumsum(0, dtype=lib.float64), a,
             np_fn=lambda x: np.cumsum(x.astype(np.float64)), out_dtype="float64")


# ---------------------------------------------------------------- all / any -----------


@pytest.mark.parametrize("dtype", ["bool", "float32", "int64", "int32"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any(name, dtype, dim, keepdim):
    rng = np.random.default_rng(7)
    a = (rng.random((4, 5)) < (0.85 if name == "all" else 0.1)).astype(dtype)
    a[0] = 1  # one all-true row
    a[:, 0] = 0  # one all-false column
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    np_fn = getattr(np, name)

    def ref(x):
        return np.asarray(np_fn(x, axis=dim, keepdims=keepdim and dim is not None))

    check_op(lambda lib, x: getattr(lib, name)(x, **kw), a, np_fn=ref, out_dtype="bool")
    check_op(lambda lib, x: getattr(x, name)(**kw), a, np_fn=ref, out_dtype="bool",
             layout="transposed")


# ---------------------------------------------------------------- accuracy ------------


def test_sum_of_ten_million_float32_values_is_accurate():
    n = 10**7
    x = rt.full((n,), 0.1)
    assert x.dtype == rt.float32
    s = x.sum()
    assert s.dtype == rt.float32
    exact = n * float(np.float32(0.1))  # the float64 answer for these float32 inputs
    assert abs(s.item() - exact) / exact < 1e-4
    assert abs(x.mean().item() - float(np.float32(0.1))) / 0.1 < 1e-4
    # also along a dimension, with a non-contiguous view
    y = x.view(1000, 10000).t()
    col = y.sum(dim=1)
    assert_values(to_np(col), np.full(10000, 1000 * float(np.float32(0.1))), rtol=1e-5)


# Sums whose kept dims lie between reduced ones in memory (a convolution's bias gradient
# sums an NCHW tensor over N, H and W): read in place, not gathered kept-dims-first.
MIDDLE_SUMS = [
    ((64, 6, 28, 28), (0, 2, 3)),
    ((5, 3, 4, 7), (0, 3)),
    ((2, 3, 4, 5), (0, 1, 3)),
    ((3, 1, 4, 5), (0, 2, 3)),
    ((7, 4, 1), (0, 2)),
    ((2, 0, 3), (0, 2)),
    ((4, 5, 6), (-1, 0)),
]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shape,dims", MIDDLE_SUMS, ids=str)
def test_sum_over_dims_around_the_kept_ones(shape, dims, dtype, keepdim):
    a = rand_array(shape, dtype=dtype)
    check_op(lambda lib, x: x.sum(dim=dims, keepdim=keepdim), a,
             np_fn=lambda x: np.sum(x, axis=dims, keepdims=keepdim))
    # A view whose memory is such a block only after its dims are permuted back.
    check_op(lambda lib, x: x.permute(1, 0, *range(2, len(shape))).sum(dim=(1, len(shape) - 1)),
             a, np_fn=lambda x: np.sum(x, axis=(0, len(shape) - 1)))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_rows_with_infinities_match_torch(fn):
    # A row holding +inf is NaN throughout in PyTorch (inf - inf); it used to keep 0s here.
    a = np.array([[np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0],
                  [1.0, np.nan, 2.0], [np.inf, np.inf, 0.0]], np.float32)
    check_op(lambda lib, x: getattr(x, fn)(-1), a)
    check_op(lambda lib, x: getattr(x, fn)(0), np.ascontiguousarray(a.T))


# ------------------------------------ large inputs, dims other than the last --------------
# Past the kernels' threading threshold (32768 elements), split between threads by rows, by
# long rows or by columns; reductions over leading or middle dims read in place.

EXTREME_CASES = [((300, 257), 0), ((300, 257), 1), ((5, 40, 300), 1), ((3, 300, 40), (0, 2)),
                 ((70001,), None), ((300, 257), None), ((2, 3), 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("shape, dim", EXTREME_CASES, ids=str)
@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_large_and_leading_dims(name, shape, dim, dtype):
    a = rand_array(shape, "int64" if dtype == "int64" else "float64", low=-1000, high=1000)
    kw = {} if dim is None else {"dim": dim}
    check_op(lambda lib, x: getattr(x, name)(**kw), a, dtype=dtype)
    if dtype in ("float32", "float64"):
        # NaN wins wherever it is (ties and NaN in lanes, tails and thread parts).
        b = a.copy().reshape(-1)
        b[[3, b.size // 2, b.size - 1]] = np.nan
        check_op(lambda lib, x: getattr(x, name)(**kw), b.reshape(shape), dtype=dtype)
        check_op(lambda lib, x: getattr(x, name)(**kw), a, dtype=dtype, layout="transposed")


def test_amax_grad_large_dim0():
    a = np.round(rand_array((200, 170), "float64") * 2)  # ties share the gradient
    check_op(lambda lib, x: x.amax(0), a, grad=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, dim", [((4096, 67), 1), ((50, 1000), -1), ((300, 257), 0)],
                         ids=str)
def test_logsumexp_large(shape, dim, dtype):
    a = rand_array(shape, dtype) * 5
    a[0, :] = -np.inf
    a[1, 3] = np.inf
    a[2, 5] = np.nan
    check_op(lambda lib, x: lib.logsumexp(x, dim), a)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape, dim", [((300, 257), 0), ((4, 300, 33), 1), ((2, 3, 40), 0),
                                        ((1000, 100), 0), ((3, 5, 16), 1)], ids=str)
def test_softmax_over_dims_before_the_last(fn, shape, dim, dtype):
    a = rand_array(shape, "float64") * 4
    a.reshape(-1)[[0, 7]] = [np.inf, np.nan]  # their columns are NaN throughout
    a[(slice(None),) * (dim + 1) + (2,)] = -np.inf  # a column all -inf along `dim`
    check_op(lambda lib, x: getattr(x, fn)(dim), a, dtype=dtype)
    # A contiguous view with an offset into its storage.
    check_op(lambda lib, x: getattr(x[1:], fn)(dim), a, dtype=dtype)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_over_dim0_grad(fn):
    a = rand_array((60, 40), "float64")
    check_op(lambda lib, x: getattr(x, fn)(0), a, grad=True)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("shape, dim", [((300, 257), 0), ((4, 300, 33), 1), ((300, 257), 1),
                                        ((13, 3001), 1), ((7, 5, 9), 0)], ids=str)
def test_cumsum_large_and_dims_before_the_last(shape, dim, dtype):
    a = rand_array(shape, dtype)
    # PyTorch accumulates a float32 cumsum in float64; this one stays in float32.
    tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {}
    check_op(lambda lib, x: x.cumsum(dim), a, **tol)
    check_op(lambda lib, x: x[1:].cumsum(dim), a, **tol)


@pytest.mark.parametrize("fn", ["cumprod", "logcumsumexp"])
def test_scans_large_rows(fn):
    # 13 rows: a full group of eight scanned in step and a remainder of five.
    a = rand_array((13, 3001), "float64", positive=True) ** 0.01
    check_op(lambda lib, x: getattr(x, fn)(1), a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_var_std_full_large(dtype):
    a = rand_array((70001,), dtype) * 3 + 10
    check_op(lambda lib, x: x.var(), a, rtol=1e-5)
    check_op(lambda lib, x: x.std(), a, rtol=1e-5)
    check_op(lambda lib, x: x.reshape(280, -1).std(1), a[:70000], rtol=1e-5)
    check_op(lambda lib, x: x.norm(), a, rtol=1e-5)
