"""Cumulative scans (cumprod, cummax, cummin, logcumsumexp), sorted search (searchsorted,
bucketize) and counts (histc, bincount): values, indices and gradients against PyTorch on
every device, with PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LAYOUTS, check_op, current_device, rand_array, rt

pytestmark = [
    pytest.mark.usefixtures("device"),
    # PyTorch's own note on the non-contiguous inputs some cases pass on purpose.
    pytest.mark.filterwarnings("ignore:torch.searchsorted.*non-contiguous:UserWarning"),
]

NAN, INF = float("nan"), float("inf")


def _t(values, dtype=None):
    """A tensor of the library under test on the current device."""
    with rt.device(current_device()):
        return rt.tensor(values, dtype=dtype)


# ---- cumprod ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_values_and_grad(layout, dim):
    x = rand_array((3, 5), seed=1, low=0.5, high=1.5)
    check_op(lambda lib, x: x.cumprod(dim), x, grad=True, layout=layout)
    check_op(lambda lib, x: lib.cumprod(x, dim), x, dtype="float32", layout=layout)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_cumprod_of_integers_is_int64(dtype):
    x = rand_array((4, 6), dtype=dtype, seed=2, low=0 if dtype == "uint8" else -3, high=4)
    check_op(lambda lib, x: x.cumprod(1), x, out_dtype="int64")
    check_op(lambda lib, x: x.cumprod(0, dtype=lib.int32), x, out_dtype="int32")


def test_cumprod_dtype_argument_and_3d():
    x = rand_array((2, 3, 4), seed=3, low=0.5, high=1.5)
    check_op(lambda lib, x: x.cumprod(1, dtype=lib.float64), x, dtype="float32", grad=True)
    check_op(lambda lib, x: x.cumprod(-2), x, grad=True)


@pytest.mark.parametrize(
    "row",
    [
        [1.5, 2.0, 0.0, 3.0, 0.5],  # one zero in the middle
        [0.0, 2.0, 3.0, 0.5, 2.0],  # a zero first
        [1.5, 2.0, 3.0, 0.5, 0.0],  # a zero last
        [1.5, 0.0, 3.0, 0.0, 2.0],  # two zeros
        [0.0, 0.0, 0.0, 1.0, 2.0],  # a run of zeros
    ],
)
def test_cumprod_gradient_with_zeros(row):
    x = np.array([row, row[::-1]], dtype=np.float64)
    check_op(lambda lib, x: x.cumprod(1), x, grad=True)
    check_op(lambda lib, x: x.cumprod(0), x.T.copy(), grad=True)


def test_cumprod_scalar_empty_and_in_place():
    check_op(lambda lib, x: x.cumprod(0), np.array(3.0), grad=True)
    check_op(lambda lib, x: x.cumprod(-1), np.array(3.0), grad=True)
    check_op(lambda lib, x: x.cumprod(1), np.zeros((2, 0, 3)), grad=True)
    check_op(lambda lib, x: x.cumprod(0), np.zeros((2, 0, 3)), grad=True)
    check_op(lambda lib, x: x.clone().cumprod_(1), rand_array((3, 4), seed=4), grad=True)
    with pytest.raises(IndexError, match="Dimension out of range"):
        _t(3.0).cumprod(1)


# ---- cummax / cummin ----------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cummax_cummin_values_indices_grad(fn, layout):
    x = rand_array((4, 6), seed=5)
    for dim in (0, 1, -1):
        out = check_op(lambda lib, x, d=dim: getattr(x, fn)(d), x, grad=True, layout=layout)
        assert type(out).__name__ == fn
        assert out.values is out[0] and out.indices is out[1]


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "uint8", "bool"])
def test_cummax_cummin_ties_take_the_last_index(fn, dtype):
    # Small integers: many ties, the index moves to the last of equal values.
    x = rand_array((3, 9), dtype=dtype, seed=6, low=0, high=3)
    check_op(lambda lib, x: getattr(lib, fn)(x, 1), x)
    check_op(lambda lib, x: getattr(x, fn)(0), x, layout="transposed")


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
def test_cummax_cummin_nan_propagates_and_each_nan_takes_the_index(fn):
    x = np.array([[1.0, NAN, 3.0, NAN, 0.5], [2.0, 2.0, 1.0, 3.0, NAN]])
    check_op(lambda lib, x: getattr(x, fn)(1), x, grad=True)
    check_op(lambda lib, x: getattr(x, fn)(1), x, dtype="float32")


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
def test_cummax_cummin_scalar_and_empty(fn):
    check_op(lambda lib, x: getattr(x, fn)(0), np.array(2.5), grad=True)
    check_op(lambda lib, x: getattr(x, fn)(1), np.zeros((2, 0, 3)), grad=True)
    check_op(lambda lib, x: getattr(x, fn)(2), np.zeros((2, 0, 3)))
    with pytest.raises(IndexError, match="Dimension out of range"):
        getattr(_t([1.0, 2.0]), fn)(2)


def test_cummax_gradient_accumulates_on_shared_indices():
    x = np.array([[3.0, 1.0, 2.0, 5.0, 4.0]])
    check_op(lambda lib, x: x.cummax(1).values * 2.0, x, grad=True)
    check_op(lambda lib, x: x.cummin(-1)[0].sum(), x, grad=True)


# ---- logcumsumexp --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_logcumsumexp_values_and_grad(layout, dim):
    x = rand_array((4, 5), seed=7)
    check_op(lambda lib, x: x.logcumsumexp(dim), x, grad=True, layout=layout)
    check_op(lambda lib, x: lib.logcumsumexp(x, dim), x, dtype="float32", layout=layout)


def test_logcumsumexp_large_values_do_not_overflow():
    x = np.array([[1000.0, 1000.0, -1000.0, 999.0], [-1e4, 1e4, 3.0, 1e4]])
    check_op(lambda lib, x: x.logcumsumexp(1), x, grad=True)
    check_op(lambda lib, x: x.logcumsumexp(1), x, dtype="float32", grad_rtol=1e-4)
    check_op(lambda lib, x: x.logcumsumexp(0), x, dtype="float32")


def test_logcumsumexp_infinities_and_nan():
    x = np.array(
        [[-INF, 1e30, -INF, INF, 1.0], [INF, INF, -INF, NAN, 1.0], [-INF, -INF, 0.0, -INF, 2.0]]
    )
    check_op(lambda lib, x: x.logcumsumexp(1), x)
    check_op(lambda lib, x: x.logcumsumexp(1), x, dtype="float32")
    # -inf entries among finite ones: finite gradient, zero at the -inf inputs.
    y = np.array([[-INF, 0.5, -INF, 1.5], [0.0, -INF, -INF, 2.0]])
    check_op(lambda lib, x: x.logcumsumexp(1), y, grad=True)


def test_logcumsumexp_scalar_empty_and_errors():
    check_op(lambda lib, x: x.logcumsumexp(0), np.array(1.5), grad=True)
    check_op(lambda lib, x: x.logcumsumexp(-1), np.zeros((3, 0)), grad=True)
    with pytest.raises(NotImplementedError, match="logcumsumexp.*not implemented for 'Long'"):
        _t([1, 2]).logcumsumexp(0)


# ---- searchsorted / bucketize --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8"])
def test_searchsorted_left_right_and_int32(dtype):
    seq = np.sort(rand_array((9,), dtype=dtype, seed=8, low=0, high=6))
    vals = rand_array((4, 5), dtype=dtype, seed=9, low=0, high=7)
    for kw in ({}, {"right": True}, {"side": "left"}, {"side": "right"}, {"out_int32": True},
               {"right": True, "side": "right", "out_int32": True}):
        check_op(lambda lib, s, v, kw=kw: lib.searchsorted(s, v, **kw), seq, vals)


def test_searchsorted_batched_rows_and_strided_values():
    seq = np.sort(rand_array((2, 3, 6), seed=10), axis=-1)
    vals = rand_array((2, 3, 4), seed=11)
    for right in (False, True):
        check_op(lambda lib, s, v, r=right: lib.searchsorted(s, v, right=r), seq, vals)
    check_op(lambda lib, s, v: lib.searchsorted(s, v.transpose(0, 1).transpose(0, 1)), seq, vals)
    check_op(lambda lib, s, v: lib.searchsorted(s, v[..., ::2]), seq, vals)


def test_searchsorted_sorter():
    seq = rand_array((2, 7), seed=12)
    sorter = np.argsort(seq, axis=-1, kind="stable")
    vals = rand_array((2, 3), seed=13)
    for side in ("left", "right"):
        check_op(
            lambda lib, s, v, o, side=side: lib.searchsorted(s, v, side=side, sorter=o),
            seq, vals, sorter,
        )
    s1 = rand_array((6,), seed=14)
    check_op(lambda lib, s, o: lib.searchsorted(s, 0.1, sorter=o), s1, np.argsort(s1))


def test_searchsorted_scalars_nan_promotion_and_empty():
    check_op(lambda lib, s: lib.searchsorted(s, 1.5), np.array([1, 2, 3]))
    check_op(lambda lib, s, v: lib.searchsorted(s, v), np.array([1.0, 2.0]), np.array(1.5))
    nan_vals = np.array([NAN, 1.0, 2.0, 3.0])
    check_op(lambda lib, s, v: lib.searchsorted(s, v, right=True), np.array([1.0, 2.0]), nan_vals)
    check_op(lambda lib, s, v: lib.searchsorted(s, v), np.array([1.0, NAN]), nan_vals)
    ints = np.array([-1, 300])
    check_op(lambda lib, s, v: lib.searchsorted(s, v), np.array([1, 2], dtype=np.uint8), ints)
    check_op(lambda lib, s, v: lib.searchsorted(s, v), np.array([1.0, 2.0]), np.array([1, 2]))
    check_op(lambda lib, s, v: lib.searchsorted(s, v), np.zeros(0), np.array([1.0]))
    check_op(lambda lib, s, v: lib.searchsorted(s, v), np.array([1.0]), np.zeros(0))


def test_searchsorted_large_input_parallel_path():
    seq = np.sort(rand_array((1000,), seed=15))
    vals = rand_array((50_000,), seed=16)
    check_op(lambda lib, s, v: lib.searchsorted(s, v), seq, vals)
    check_op(lambda lib, v, s: lib.bucketize(v, s, right=True, out_int32=True), vals, seq)


def test_searchsorted_errors():
    s1, s2 = _t([1.0, 2.0]), _t([[1.0, 2.0]])
    with pytest.raises(RuntimeError, match="should be 1 dimension or the first N-1 dim"):
        rt.searchsorted(s2, _t([[1.0], [2.0]]))
    with pytest.raises(RuntimeError, match="first N-1 dimensions"):
        rt.searchsorted(s2, _t([1.0]))
    with pytest.raises(RuntimeError, match="input value can be a scalar only when"):
        rt.searchsorted(s2, 1.0)
    with pytest.raises(RuntimeError, match="side and right can't be set to opposites"):
        rt.searchsorted(s1, _t([1.0]), side="left", right=True)
    with pytest.raises(RuntimeError, match="side can only be 'left' or 'right' but got lft"):
        rt.searchsorted(s1, _t([1.0]), side="lft")
    with pytest.raises(RuntimeError, match="boundary and sorter must have the same size"):
        rt.searchsorted(s1, _t([1.0]), sorter=_t([0]))
    with pytest.raises(RuntimeError, match="sorter must be a tensor of long dtype"):
        rt.searchsorted(s1, _t([1.0]), sorter=_t([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="sorter index out of range"):
        rt.searchsorted(s1, _t([1.0]), sorter=_t([0, 5]))
    with pytest.raises(RuntimeError, match="should have positive dimension"):
        rt.searchsorted(_t(1.0), _t([1.0]))
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        rt.searchsorted(_t([True, False]), _t([True]))


def test_bucketize():
    bounds = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    x = np.array([[3.0, 6.0, 9.0], [0.0, 10.0, 5.0]])
    for right in (False, True):
        check_op(lambda lib, v, b, r=right: lib.bucketize(v, b, right=r), x, bounds)
        check_op(lambda lib, v, b: lib.bucketize(v, b, out_int32=True), x, bounds,
                 layout="transposed")
    check_op(lambda lib, b: lib.bucketize(4, b), bounds)
    check_op(lambda lib, v, b: lib.bucketize(v, b), np.array(5.0), bounds)
    with pytest.raises(RuntimeError, match=r"must be 1 dimension, but got dim\(2\)"):
        rt.bucketize(_t([1.0]), _t([[1.0, 2.0]]))
    with pytest.raises(RuntimeError, match=r"must be 1 dimension, but got dim\(0\)"):
        rt.bucketize(_t([1.0]), _t(1.0))


# ---- histc / bincount ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histc_values(dtype):
    x = rand_array((7, 9), seed=17)
    check_op(lambda lib, x: x.histc(), x, dtype=dtype)
    check_op(lambda lib, x: lib.histc(x, bins=7), x, dtype=dtype, layout="transposed")
    check_op(lambda lib, x: x.histc(bins=5, min=-1, max=1), x, dtype=dtype)  # outside ignored
    check_op(lambda lib, x: x.histc(bins=4, min=-3.5, max=0.25), x, dtype=dtype, layout="strided")


def test_histc_edge_cases():
    # max goes in the last bin; values outside [min, max] are dropped.
    check_op(lambda lib, x: x.histc(bins=4, min=1, max=4), np.array([1.0, 2.0, 3.0, 4.0]))
    check_op(lambda lib, x: x.histc(bins=3, min=1, max=4), np.arange(6.0))
    # min == max: the data's range; one distinct value: that value ± 1.
    check_op(lambda lib, x: x.histc(bins=3, min=3, max=3), np.array([1.0, 2.0, 3.0]))
    check_op(lambda lib, x: x.histc(bins=4), np.array([2.0, 2.0]))
    check_op(lambda lib, x: x.histc(bins=3), np.zeros(0))
    check_op(lambda lib, x: x.histc(bins=3, min=0, max=2), np.array([NAN, 1.0, INF, -INF]))
    with pytest.raises(RuntimeError, match="max must be larger than min"):
        _t([1.0, 2.0]).histc(bins=3, min=3, max=1)
    with pytest.raises(RuntimeError, match="bins must be > 0"):
        _t([1.0, 2.0]).histc(bins=0)
    with pytest.raises(RuntimeError, match="is not finite"):
        _t([1.0, INF]).histc(bins=3)
    with pytest.raises(RuntimeError, match="is not finite"):
        _t([1.0, NAN]).histc(bins=3)
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        _t([1, 2]).histc(bins=3)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_bincount(dtype):
    x = rand_array((30,), dtype=dtype, seed=18, low=0, high=9)
    check_op(lambda lib, x: x.bincount(), x)
    check_op(lambda lib, x: lib.bincount(x, minlength=15), x)
    check_op(lambda lib, x: x.bincount(minlength=3), x, layout="strided")
    w = rand_array((30,), seed=19)
    for wdtype in ("float32", "float64", "int64"):
        check_op(lambda lib, x, w: x.bincount(weights=w), x, w.astype(wdtype))
    check_op(lambda lib, x, w: lib.bincount(x, w, 12), x, w)


def test_bincount_empty_and_errors():
    empty = np.zeros(0, dtype=np.int64)
    check_op(lambda lib, x: x.bincount(), empty)
    check_op(lambda lib, x: x.bincount(minlength=3), empty)
    check_op(lambda lib, x, w: x.bincount(w, minlength=2), empty, np.zeros(0))
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral"):
        _t([1, -2]).bincount()
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral"):
        _t([[1, 2]]).bincount()
    with pytest.raises(RuntimeError, match="minlength should be >= 0"):
        _t([1, 2]).bincount(minlength=-1)
    with pytest.raises(RuntimeError, match="weights should be 1-d and have the same length"):
        _t([1, 2]).bincount(weights=_t([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="weights should be 1-d and have the same length"):
        _t([1, 2]).bincount(weights=_t([[1.0, 2.0]]))
    with pytest.raises(NotImplementedError, match="not implemented for 'Float'"):
        _t([1.0, 2.0]).bincount()
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        _t([True, False]).bincount()
