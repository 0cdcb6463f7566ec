"""Tensor creation: tensor/as_tensor/from_numpy, factories, ranges, random, dtypes."""

import numpy as np
import pytest
from conftest import (
    DTYPE_NAMES,
    LIB_NAME,
    NP_DTYPES,
    assert_values,
    check_op,
    dtype_name,
    lib_dtype,
    rand_array,
    rt,
    to_np,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

# ---------------------------------------------------------------- dtypes -------------


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_dtype_objects_and_names(name):
    dt = getattr(rt, name)
    assert str(dt).replace(LIB_NAME, "torch") == f"torch.{name}"
    assert dt == getattr(rt, name)
    assert dt.is_floating_point == (name in ("float32", "float64"))


@pytest.mark.parametrize(
    "alias, name",
    [("float", "float32"), ("double", "float64"), ("long", "int64"), ("int", "int32")],
)
def test_dtype_aliases(alias, name):
    assert getattr(rt, alias) == getattr(rt, name)
    assert rt.zeros(2, dtype=getattr(rt, alias)).dtype == getattr(rt, name)


def test_default_dtype_is_float32():
    assert rt.get_default_dtype() == rt.float32
    assert rt.zeros(2).dtype == rt.float32


# ---------------------------------------------------------------- tensor() -----------


@pytest.mark.parametrize(
    "data, expected_dtype",
    [
        ([1, 2, 3], "int64"),
        ([[1, 2], [3, 4]], "int64"),
        ([1.0, 2.0], "float32"),
        ([1, 2.5], "float32"),
        ([[1.5], [2.0]], "float32"),
        ([True, False], "bool"),
        ([[True], [False]], "bool"),
        (3, "int64"),
        (3.5, "float32"),
        (True, "bool"),
        ([], "float32"),
        ([[], []], "float32"),
        ([[[1, 2]], [[3, 4]]], "int64"),
    ],
)
def test_tensor_from_python_infers_dtype(data, expected_dtype):
    t = rt.tensor(data)
    assert dtype_name(t.dtype) == expected_dtype
    ref = np.array(data, dtype=NP_DTYPES[expected_dtype])
    assert tuple(t.shape) == ref.shape
    assert_values(to_np(t), ref)
    check_op(lambda lib: lib.tensor(data), np_fn=lambda: ref)


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_tensor_from_numpy_keeps_dtype_and_copies(name):
    a = rand_array((3, 4), name)
    t = rt.tensor(a)
    assert dtype_name(t.dtype) == name
    assert_values(to_np(t), a)
    a[...] = a[::-1].copy() if name != "bool" else ~a
    assert not np.array_equal(to_np(t), a)  # tensor() copies


@pytest.mark.parametrize("src", DTYPE_NAMES)
@pytest.mark.parametrize("dst", ["float32", "float64", "int64", "bool"])
def test_tensor_dtype_kwarg_converts(src, dst):
    a = rand_array((2, 3), src, low=0 if src == "uint8" else None)
    t = rt.tensor(a, dtype=getattr(rt, dst))
    assert dtype_name(t.dtype) == dst
    assert_values(to_np(t), a.astype(NP_DTYPES[dst]))


def test_tensor_from_non_contiguous_numpy():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)[::2, 1::2].T
    t = rt.tensor(a)
    assert_values(to_np(t), a)


def test_tensor_from_list_of_0d_tensors_and_numpy_scalars():
    t = rt.tensor([np.float32(1.5), np.float32(2.5)])
    assert_values(to_np(t), np.array([1.5, 2.5], np.float32))
    t0 = rt.tensor(np.float64(2.0))
    assert t0.dim() == 0 and t0.item() == 2.0


def test_tensor_requires_grad_kwarg():
    t = rt.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None
    assert not rt.tensor([1.0]).requires_grad
    z = rt.zeros(2, 3, requires_grad=True)
    assert z.requires_grad
    assert rt.ones((2,), dtype=rt.float64, requires_grad=True).requires_grad


# ---------------------------------------------------------------- as_tensor / from_numpy


@pytest.mark.parametrize("name", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_as_tensor(name):
    a = rand_array((2, 3), name)
    t = rt.as_tensor(a)
    assert dtype_name(t.dtype) == name
    assert_values(to_np(t), a)
    t2 = rt.as_tensor([[1, 2], [3, 4]], dtype=rt.float64)
    assert dtype_name(t2.dtype) == "float64"
    assert_values(to_np(t2), np.array([[1, 2], [3, 4]], np.float64))


@pytest.mark.parametrize("name", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_from_numpy_shares_memory(name):
    a = rand_array((3, 4), name)
    t = rt.from_numpy(a)
    assert dtype_name(t.dtype) == name
    assert_values(to_np(t), a)
    # numpy -> tensor
    a[0, 0] = (not a[0, 0]) if name == "bool" else a[0, 0] + 3
    assert_values(to_np(t), a)
    # tensor -> numpy
    t.zero_()
    assert not a.any()


def test_from_numpy_non_contiguous_view():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    a = base[:, 1::2]
    t = rt.from_numpy(a)
    assert_values(to_np(t), a)
    assert t.stride() == (6, 2)
    base[0, 1] = 100.0
    assert t[0, 0].item() == 100.0


# ---------------------------------------------------------------- factories -------------


@pytest.mark.parametrize("factory", ["zeros", "ones", "empty"])
@pytest.mark.parametrize(
    "shape_form, shape",
    # zeros() with no size at all is a TypeError in PyTorch, so () is only passed as a tuple
    [(form, shape) for form in ("varargs", "tuple", "list") for shape in [(3,), (2, 3), (2, 0, 4)]]
    + [("tuple", ()), ("list", ())],
)
def test_zeros_ones_empty_shapes(factory, shape_form, shape):
    f = getattr(rt, factory)
    if shape_form == "varargs":
        t = f(*shape)
    elif shape_form == "tuple":
        t = f(tuple(shape))
    else:
        t = f(list(shape))
    assert tuple(t.shape) == shape
    assert t.dtype == rt.float32
    if factory != "empty":
        assert_values(to_np(t), np.full(shape, 0.0 if factory == "zeros" else 1.0, np.float32))


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_zeros_ones_dtypes(name):
    dt = getattr(rt, name)
    for f, v in ((rt.zeros, 0), (rt.ones, 1)):
        t = f(2, 3, dtype=dt)
        assert t.dtype == dt
        assert_values(to_np(t), np.full((2, 3), v, NP_DTYPES[name]))
    assert rt.empty(4, dtype=dt).dtype == dt


@pytest.mark.parametrize(
    "value, dtype, expected",
    [
        (3, None, "int64"),
        (1.5, None, "float32"),
        (True, None, "bool"),
        (2, "float64", "float64"),
        (7, "uint8", "uint8"),
        (-2.5, "float64", "float64"),
    ],
)
def test_full(value, dtype, expected):
    kw = {} if dtype is None else {"dtype": getattr(rt, dtype)}
    t = rt.full((2, 3), value, **kw)
    assert dtype_name(t.dtype) == expected
    assert_values(to_np(t), np.full((2, 3), value, NP_DTYPES[expected]))
    t2 = rt.full([4], value, **kw)
    assert tuple(t2.shape) == (4,)


@pytest.mark.parametrize("name", ["float32", "float64", "int64", "int32", "bool"])
def test_like_factories(name):
    x = rt.tensor(rand_array((2, 3), name))
    dt = getattr(rt, name)
    for f, val in ((rt.zeros_like, 0), (rt.ones_like, 1)):
        y = f(x)
        assert y.dtype == dt and tuple(y.shape) == (2, 3)
        assert_values(to_np(y), np.full((2, 3), val, NP_DTYPES[name]))
    y = rt.full_like(x, 1)
    assert y.dtype == dt
    assert_values(to_np(y), np.full((2, 3), 1, NP_DTYPES[name]))
    e = rt.empty_like(x)
    assert e.dtype == dt and tuple(e.shape) == (2, 3)
    z = rt.zeros_like(x, dtype=rt.float64)
    assert z.dtype == rt.float64
    if name in ("float32", "float64"):
        r = rt.rand_like(x)
        assert r.dtype == dt and tuple(r.shape) == (2, 3)
        assert ((to_np(r) >= 0) & (to_np(r) < 1)).all()
        assert tuple(rt.randn_like(x).shape) == (2, 3)


def test_like_of_non_contiguous_keeps_shape():
    x = rt.zeros(3, 4).t()
    y = rt.ones_like(x)
    assert tuple(y.shape) == (4, 3)
    assert_values(to_np(y), np.ones((4, 3), np.float32))


# ---------------------------------------------------------------- ranges --------------


@pytest.mark.parametrize(
    "args, kwargs, expected_dtype",
    [
        ((5,), {}, "int64"),
        ((0,), {}, "int64"),
        ((2, 9), {}, "int64"),
        ((1, 10, 3), {}, "int64"),
        ((10, 0, -2), {}, "int64"),
        ((5.0,), {}, "float32"),
        ((0, 1, 0.25), {}, "float32"),
        ((-1.0, 1.0, 0.5), {}, "float32"),
        ((0, 1, 0.1), {}, "float32"),
        ((5,), {"dtype": "float64"}, "float64"),
        ((0, 3), {"dtype": "float32"}, "float32"),
        ((1, 2.5, 0.5), {"dtype": "float64"}, "float64"),
        ((3,), {"dtype": "int32"}, "int32"),
    ],
)
def test_arange(args, kwargs, expected_dtype):
    kw = {k: lib_dtype(rt, v) for k, v in kwargs.items()}
    t = rt.arange(*args, **kw)
    assert dtype_name(t.dtype) == expected_dtype
    ref = np.arange(*args, dtype=NP_DTYPES[expected_dtype])
    assert_values(to_np(t), ref, rtol=1e-6, atol=1e-6)
    check_op(lambda lib: lib.arange(*args, **{k: lib_dtype(lib, v) for k, v in kwargs.items()}),
             np_fn=lambda: ref, rtol=1e-6, atol=1e-6)


def test_arange_end_kwarg_and_step():
    assert_values(to_np(rt.arange(start=2, end=8, step=2)), np.arange(2, 8, 2))


@pytest.mark.parametrize(
    "start, end, steps, dtype",
    [(0, 1, 5, None), (-1, 1, 1, None), (0, 1, 0, None), (2, -3, 7, None),
     (0, 10, 11, "float64"), (0.5, 1.5, 3, "float64")],
)
def test_linspace(start, end, steps, dtype):
    kw = {} if dtype is None else {"dtype": getattr(rt, dtype)}
    t = rt.linspace(start, end, steps, **kw)
    expected = dtype or "float32"
    assert dtype_name(t.dtype) == expected
    assert_values(to_np(t), np.linspace(start, end, steps).astype(NP_DTYPES[expected]),
                  rtol=1e-6, atol=1e-6)
    t2 = rt.linspace(start, end, steps=steps, **kw)
    assert tuple(t2.shape) == (steps,)


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2), (0,), (1,)])
@pytest.mark.parametrize("dtype", [None, "float64", "int64", "bool"])
def test_eye(args, dtype):
    kw = {} if dtype is None else {"dtype": getattr(rt, dtype)}
    t = rt.eye(*args, **kw)
    expected = dtype or "float32"
    assert dtype_name(t.dtype) == expected
    assert_values(to_np(t), np.eye(*args, dtype=NP_DTYPES[expected]))


# ---------------------------------------------------------------- random --------------


@pytest.mark.parametrize("f", ["rand", "randn"])
def test_rand_randn_shapes_dtypes(f):
    g = getattr(rt, f)
    assert tuple(g(2, 3).shape) == (2, 3)
    assert tuple(g((4,)).shape) == (4,)
    assert tuple(g([2, 0]).shape) == (2, 0)
    assert tuple(g(()).shape) == ()
    assert g(3).dtype == rt.float32
    assert g(3, dtype=rt.float64).dtype == rt.float64
    assert g(3, requires_grad=True).requires_grad


def test_rand_range_and_statistics():
    rt.manual_seed(1)
    a = to_np(rt.rand(200_000))
    assert a.min() >= 0.0 and a.max() < 1.0
    assert abs(a.mean() - 0.5) < 0.01
    assert abs(a.var() - 1 / 12) < 0.005
    assert len(np.unique(a)) > 190_000


def test_randn_statistics():
    rt.manual_seed(2)
    a = to_np(rt.randn(200_000, dtype=rt.float64))
    assert abs(a.mean()) < 0.01
    assert abs(a.std() - 1.0) < 0.01
    # roughly normal tails: ~4.55% beyond 2 sigma
    assert 0.040 < (np.abs(a) > 2).mean() < 0.051


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_randn_follows_the_normal_distribution(dtype):
    """Bulk normal draws (Box–Muller over vectorised lanes) pass a Kolmogorov–Smirnov test
    against N(0, 1), and so do the cosine and sine halves of each 16 apart (the pairs'
    halves are independent); ``normal_(mean, std)`` scales and shifts them."""
    stats = pytest.importorskip("scipy.stats")
    rt.manual_seed(7)
    a = to_np(rt.randn(300_016, dtype=getattr(rt, dtype)).float()).astype(np.float64)
    tol = {"float16": 2e-3, "bfloat16": 1e-2}.get(dtype, 0.0)
    if tol == 0.0:
        assert stats.kstest(a, "norm").pvalue > 1e-3
        pairs = a.reshape(-1, 2, 8)
        assert stats.kstest(pairs[:, 0].ravel(), "norm").pvalue > 1e-3
        assert stats.kstest(pairs[:, 1].ravel(), "norm").pvalue > 1e-3
        r = np.corrcoef(pairs[:, 0].ravel(), pairs[:, 1].ravel())[0, 1]
        assert abs(r) < 0.01
        r2 = np.corrcoef(pairs[:, 0].ravel() ** 2, pairs[:, 1].ravel() ** 2)[0, 1]
        assert abs(r2) < 0.01
    else:  # 16-bit draws: the float32 draws rounded, so only the moments
        assert abs(a.mean()) < 0.01 + tol and abs(a.std() - 1) < 0.01 + tol
    assert np.abs(a).max() < 6.5  # r = sqrt(-2 ln u) with u >= 2**-24
    b = to_np(rt.empty(100_000, dtype=rt.float64).normal_(-3.0, 0.25))
    assert stats.kstest(b, "norm", args=(-3.0, 0.25)).pvalue > 1e-3


@pytest.mark.parametrize(
    "args, lo, hi",
    [((10, (1000,)), 0, 10), ((-3, 4, (50, 40)), -3, 4), ((0, 1, (100,)), 0, 1)],
)
def test_randint(args, lo, hi):
    rt.manual_seed(3)
    t = rt.randint(*args)
    assert t.dtype == rt.int64
    assert tuple(t.shape) == args[-1]
    a = to_np(t)
    assert a.min() >= lo and a.max() < hi
    if np.prod(args[-1]) >= 1000:
        assert set(np.unique(a)) == set(range(lo, hi))


def test_randint_dtype_kwarg():
    t = rt.randint(0, 5, (10,), dtype=rt.int32)
    assert t.dtype == rt.int32
    t = rt.randint(0, 5, (10,), dtype=rt.float32)
    assert t.dtype == rt.float32 and np.all(to_np(t) == np.round(to_np(t)))


@pytest.mark.parametrize("n", [0, 1, 10, 1000])
def test_randperm(n):
    t = rt.randperm(n)
    assert t.dtype == rt.int64
    assert np.array_equal(np.sort(to_np(t)), np.arange(n))


def test_randperm_is_shuffled():
    rt.manual_seed(4)
    assert not np.array_equal(to_np(rt.randperm(1000)), np.arange(1000))


@pytest.mark.parametrize(
    "draw",
    [
        lambda: rt.rand(5, 3),
        lambda: rt.randn(7),
        lambda: rt.randint(0, 100, (20,)),
        lambda: rt.randperm(50),
        lambda: rt.empty(100).uniform_(-2, 3),
        lambda: rt.empty(100).normal_(1.0, 2.0),
        lambda: rt.rand_like(rt.zeros(4, dtype=rt.float64)),
    ],
)
def test_manual_seed_makes_runs_repeat(draw):
    rt.manual_seed(1234)
    a = to_np(draw())
    b = to_np(draw())
    rt.manual_seed(1234)
    c = to_np(draw())
    assert np.array_equal(a, c)
    assert not np.array_equal(a, b)
    rt.manual_seed(4321)
    assert not np.array_equal(a, to_np(draw()))

