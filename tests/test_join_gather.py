"""cat/stack, gather/scatter/scatter_add, index_select, masked_fill/masked_select,
nonzero, topk, sort/argsort, one_hot."""

import numpy as np
import pytest
from conftest import (
    assert_values,
    check_op,
    dtype_name,
    make_tensor,
    need_nn,
    need_torch,
    rand_array,
    rt,
    to_np,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

# ---------------------------------------------------------------- cat / stack ---------


@pytest.mark.parametrize(
    "shapes, dim",
    [
        ([(2, 3), (4, 3)], 0),
        ([(2, 3), (2, 5), (2, 1)], 1),
        ([(2, 3), (2, 5)], -1),
        ([(2, 3, 4), (2, 1, 4)], -2),
        ([(3,), (0,), (2,)], 0),
        ([(0, 3), (2, 3)], 0),
        ([(2, 3)], 0),
        ([(1, 2), (1, 2), (1, 2), (1, 2)], 0),
    ],
)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_cat(shapes, dim, layout):
    arrays = [rand_array(s, "float64", seed=i) for i, s in enumerate(shapes)]

    def fn(lib, *xs):
        return lib.cat(list(xs), dim=dim)

    check_op(fn, *arrays, np_fn=lambda *xs: np.concatenate(xs, axis=dim), layout=layout,
             grad=True)
    check_op(lambda lib, *xs: lib.cat(tuple(xs), dim), *arrays,
             np_fn=lambda *xs: np.concatenate(xs, axis=dim))


@pytest.mark.parametrize(
    "shapes, dim",
    [
        ([(300, 130), (300, 70)], 1),
        ([(300, 130), (200, 130)], 0),
        ([(20, 130, 30), (20, 3, 30), (20, 0, 30), (20, 40, 30)], 1),
        ([(9, 40, 100), (9, 40, 1)], 2),
    ],
)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "expanded"])
def test_cat_large(shapes, dim, layout):
    # Above the threading threshold, so the output is split over threads mid-row.
    arrays = [rand_array(s, "float32", seed=i) for i, s in enumerate(shapes)]
    check_op(lambda lib, *xs: lib.cat(list(xs), dim), *arrays, layout=layout)
    check_op(lambda lib, *xs: lib.stack(list(xs[:1]) * 3, dim), *arrays, layout=layout)


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool", "float32"])
def test_cat_dtypes_and_default_dim(dtype):
    a, b = rand_array((2, 3), dtype, 1), rand_array((1, 3), dtype, 2)
    check_op(lambda lib, x, y: lib.cat([x, y]), a, b, np_fn=lambda x, y: np.concatenate([x, y]),
             out_dtype=dtype)


def test_cat_promotes_dtypes():
    a = rand_array((2,), "float32", 1)
    b = rand_array((2,), "float64", 2)
    c = rand_array((2,), "int64", 3)
    check_op(lambda lib, x, y: lib.cat([x, y]), a, b, out_dtype="float64",
             np_fn=lambda x, y: np.concatenate([x.astype(np.float64), y]))
    check_op(lambda lib, x, y: lib.cat([x, y]), c, a, out_dtype="float32",
             np_fn=lambda x, y: np.concatenate([x.astype(np.float32), y]))


def test_cat_result_does_not_alias_inputs():
    a = make_tensor(rt, np.ones(3, np.float32))
    out = rt.cat([a, a])
    out.zero_()
    assert_values(to_np(a), np.ones(3, np.float32))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("n", [1, 3])
def test_stack(dim, n):
    arrays = [rand_array((2, 3), "float64", seed=i) for i in range(n)]
    check_op(lambda lib, *xs: lib.stack(list(xs), dim=dim), *arrays,
             np_fn=lambda *xs: np.stack(xs, axis=dim), grad=True, layout="transposed")
    check_op(lambda lib, *xs: lib.stack(xs, dim), *arrays,
             np_fn=lambda *xs: np.stack(xs, axis=dim))


def test_stack_zero_size_and_default_dim():
    a, b = np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    check_op(lambda lib, x, y: lib.stack([x, y]), a, b, np_fn=lambda x, y: np.stack([x, y]))


# ---------------------------------------------------------------- gather / scatter ----


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_gather(dim, layout):
    a = rand_array((3, 4), "float64")
    idx = rand_array((3, 4), "int64", seed=2, low=0, high=a.shape[dim])
    idx = idx[:, :2] if dim == 0 else idx  # index may be smaller than input off `dim`
    check_op(lambda lib, x, i: lib.gather(x, dim, i), a, idx,
             np_fn=lambda x, i: np.take_along_axis(x[:, : i.shape[1]] if dim == 0 else x, i,
                                                   axis=dim),
             layout=layout, grad=True)
    check_op(lambda lib, x, i: x.gather(dim=dim, index=i), a, idx,
             np_fn=lambda x, i: np.take_along_axis(x[:, : i.shape[1]] if dim == 0 else x, i,
                                                   axis=dim))


def test_gather_smaller_index_and_3d():
    a = rand_array((3, 4, 5), "float64")
    idx = rand_array((2, 3, 5), "int64", seed=3, low=0, high=4)
    check_op(lambda lib, x, i: x.gather(1, i), a, idx,
             np_fn=lambda x, i: np.take_along_axis(x[:2, :, :5], i, axis=1), grad=True)
    ai = rand_array((3, 4), "int32")
    ii = rand_array((3, 6), "int64", seed=4, low=0, high=4)
    check_op(lambda lib, x, i: x.gather(1, i), ai, ii,
             np_fn=lambda x, i: np.take_along_axis(x, i, axis=1), out_dtype="int32")


def _scatter_ref(x, dim, index, src, reduce=None):
    out = x.copy()
    for pos in np.ndindex(index.shape):
        tgt = list(pos)
        tgt[dim] = index[pos]
        v = src[pos] if isinstance(src, np.ndarray) else src
        if reduce == "add":
            out[tuple(tgt)] += v
        else:
            out[tuple(tgt)] = v
    return out


def _unique_index(shape, size, dim, seed):
    """An index of ``shape`` whose entries are distinct along ``dim`` (deterministic scatter)."""
    rng = np.random.default_rng(seed)
    idx = np.zeros(shape, np.int64)
    moved = np.moveaxis(idx, dim, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        moved[pos] = rng.permutation(size)[: moved.shape[-1]]
    return idx


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_src(dim):
    a = rand_array((4, 5), "float64", 1)
    ishape = (3, 2)
    idx = _unique_index(ishape, a.shape[dim], dim, seed=2)
    check_op(lambda lib, x, i, s: lib.scatter(x, dim, i, s), a, idx,
             rand_array(ishape, "float64", 3),
             np_fn=lambda x, i, s: _scatter_ref(x, dim % 2, i, s), grad=True)
    # src may be larger than index (forward only: torch's backward rejects that case)
    src = rand_array((4, 3), "float64", 3)
    check_op(lambda lib, x, i, s: x.scatter(dim, i, s), a, idx, src,
             np_fn=lambda x, i, s: _scatter_ref(x, dim % 2, i, s[: i.shape[0], : i.shape[1]]))


@pytest.mark.parametrize("value", [2.5, -1, 0])
def test_scatter_value(value):
    a = rand_array((4, 5), "float32", 1)
    idx = rand_array((4, 3), "int64", seed=2, low=0, high=5)  # duplicates fine for a value
    check_op(lambda lib, x, i: x.scatter(1, i, value), a, idx,
             np_fn=lambda x, i: _scatter_ref(x, 1, i, value))
    check_op(lambda lib, x, i: lib.scatter(x, 1, i, value=value), a, idx,
             np_fn=lambda x, i: _scatter_ref(x, 1, i, value))


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_scatter_add(dim, dtype):
    a = rand_array((4, 5), dtype, 1)
    idx = rand_array((6, 5) if dim == 0 else (4, 7), "int64", seed=2, low=0, high=a.shape[dim])
    src = rand_array(idx.shape, dtype, 3)
    check_op(lambda lib, x, i, s: lib.scatter_add(x, dim, i, s), a, idx, src,
             np_fn=lambda x, i, s: _scatter_ref(x, dim, i, s, reduce="add"),
             grad=dtype == "float64")
    check_op(lambda lib, x, i, s: x.scatter_add(dim, i, s), a, idx, src,
             np_fn=lambda x, i, s: _scatter_ref(x, dim, i, s, reduce="add"), out_dtype=dtype)


def test_scatter_inplace_variants():
    a = rand_array((3, 4), "float32", 1)
    idx = np.array([[0, 1], [2, 3], [1, 0]])
    src = rand_array((3, 2), "float32", 2)
    x = make_tensor(rt, a)
    r = x.scatter_(1, make_tensor(rt, idx), make_tensor(rt, src))
    assert r is x
    assert_values(to_np(x), _scatter_ref(a, 1, idx, src))
    y = make_tensor(rt, a)
    y.scatter_add_(1, make_tensor(rt, idx), make_tensor(rt, src))
    assert_values(to_np(y), _scatter_ref(a, 1, idx, src, reduce="add"))


# ---------------------------------------------------------------- index_select --------


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_index_select(dim, layout):
    a = rand_array((3, 4), "float64")
    idx = np.array([2, 0, 2, 1]) % a.shape[dim]
    check_op(lambda lib, x, i: lib.index_select(x, dim, i), a, idx,
             np_fn=lambda x, i: np.take(x, i, axis=dim), layout=layout, grad=True)
    check_op(lambda lib, x, i: x.index_select(dim, i), a, idx,
             np_fn=lambda x, i: np.take(x, i, axis=dim))


def test_index_select_empty_and_int():
    a = rand_array((3, 4), "int64")
    check_op(lambda lib, x, i: x.index_select(0, i), a, np.zeros(0, np.int64),
             np_fn=lambda x, i: x[i], out_dtype="int64")
    check_op(lambda lib, x, i: x.index_select(1, i), a, np.array([3, 3]),
             np_fn=lambda x, i: x[:, i], out_dtype="int64")


# ---------------------------------------------------------------- masks ---------------


@pytest.mark.parametrize("mask_shape", [(3, 4), (4,), (3, 1), ()])
@pytest.mark.parametrize("value", [0.0, -1.5, float("-inf")])
def test_masked_fill(mask_shape, value):
    a = rand_array((3, 4), "float64")
    m = rand_array(mask_shape, "bool", seed=3)
    check_op(lambda lib, x, mm: x.masked_fill(mm, value), a, m,
             np_fn=lambda x, mm: np.where(mm, value, x), grad=True)
    check_op(lambda lib, x, mm: lib.masked_fill(x, mm, value), a.astype(np.float32), m,
             np_fn=lambda x, mm: np.where(mm, np.float32(value), x), layout="transposed")


def test_masked_fill_tensor_value_and_int():
    a = rand_array((3, 4), "int64")
    m = rand_array((3, 4), "bool", seed=3)
    check_op(lambda lib, x, mm: x.masked_fill(mm, lib.tensor(7)), a, m,
             np_fn=lambda x, mm: np.where(mm, 7, x), out_dtype="int64")
    x = make_tensor(rt, a)
    r = x.masked_fill_(make_tensor(rt, m), 0)
    assert r is x
    assert_values(to_np(x), np.where(m, 0, a))


@pytest.mark.parametrize("mask_shape", [(3, 4), (4,), (1, 4)])
def test_masked_select(mask_shape):
    a = rand_array((3, 4), "float64")
    m = rand_array(mask_shape, "bool", seed=3)
    check_op(lambda lib, x, mm: x.masked_select(mm), a, m,
             np_fn=lambda x, mm: x[np.broadcast_to(mm, x.shape)], grad=True)
    check_op(lambda lib, x, mm: lib.masked_select(x, mm), a, m,
             np_fn=lambda x, mm: x[np.broadcast_to(mm, x.shape)], layout="transposed")


# ---------------------------------------------------------------- nonzero -------------


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_nonzero(shape, dtype):
    a = (rand_array(shape, "float32", 1) > 0.3).astype(dtype)
    check_op(lambda lib, x: x.nonzero(), a,
             np_fn=lambda x: np.argwhere(x).reshape(-1, x.ndim), out_dtype="int64")
    check_op(lambda lib, x: lib.nonzero(x), a,
             np_fn=lambda x: np.argwhere(x).reshape(-1, x.ndim), layout="transposed")
    check_op(lambda lib, x: lib.nonzero(x, as_tuple=True), a,
             np_fn=lambda x: list(np.nonzero(x)), out_dtype="int64")
    check_op(lambda lib, x: x.nonzero(as_tuple=True), a, np_fn=lambda x: list(np.nonzero(x)))


# ---------------------------------------------------------------- topk / sort ---------


def _distinct(shape, seed=0):
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(np.float64) / 7.0


def _topk_ref(x, k, dim, largest):
    order = np.argsort(-x if largest else x, axis=dim, kind="stable")
    idx = np.take(order, np.arange(k), axis=dim)
    return np.take_along_axis(x, idx, axis=dim), idx


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("largest", [True, False])
def test_topk(k, dim, largest):
    a = _distinct((5, 6))
    out = check_op(lambda lib, x: x.topk(k, dim=dim, largest=largest), a,
                   np_fn=lambda x: _topk_ref(x, k, dim, largest), grad=True)
    assert dtype_name(out.indices.dtype) == "int64"
    assert_values(to_np(out.values), _topk_ref(a, k, dim, largest)[0])
    assert_values(to_np(out.indices), _topk_ref(a, k, dim, largest)[1])
    check_op(lambda lib, x: lib.topk(x, k, dim, largest), a.astype(np.float32),
             np_fn=lambda x: _topk_ref(x, k, dim, largest), layout="transposed")


def test_topk_default_dim_unsorted_and_int():
    a = _distinct((3, 7))
    check_op(lambda lib, x: x.topk(2), a, np_fn=lambda x: _topk_ref(x, 2, -1, True))
    vals, idx = make_tensor(rt, a).topk(4, sorted=False)
    ref_v, _ = _topk_ref(a, 4, -1, True)
    assert_values(np.sort(to_np(vals), axis=-1), np.sort(ref_v, axis=-1))
    assert_values(np.take_along_axis(a, to_np(idx), -1), to_np(vals))
    ai = (a * 7).astype(np.int64)
    check_op(lambda lib, x: x.topk(3, largest=False), ai,
             np_fn=lambda x: _topk_ref(x, 3, -1, False))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_sort(dim, descending, layout):
    a = _distinct((4, 5), seed=1)

    def ref(x):
        order = np.argsort(-x if descending else x, axis=dim, kind="stable")
        return np.take_along_axis(x, order, axis=dim), order

    out = check_op(lambda lib, x: x.sort(dim=dim, descending=descending), a, np_fn=ref,
                   layout=layout, grad=True)
    assert_values(to_np(out.values), ref(a)[0])
    assert_values(to_np(out.indices), ref(a)[1])
    check_op(lambda lib, x: lib.sort(x, dim, descending), a, np_fn=ref)
    check_op(lambda lib, x: lib.argsort(x, dim=dim, descending=descending), a,
             np_fn=lambda x: ref(x)[1], out_dtype="int64")
    check_op(lambda lib, x: x.argsort(dim, descending), a, np_fn=lambda x: ref(x)[1])


@pytest.mark.parametrize("shape, k", [((300, 200), 5), ((300, 200), 40), ((300, 200), 200),
                                      ((1, 70_000), 7), ((1, 70_000), 70_000), ((2, 3), 1)])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_topk_large_rows_with_ties_and_nan(shape, k, descending):
    """Rows shared out between the threads, and one long row sorted in parallel, with many
    ties and some NaN: the stable order, NaN largest (PyTorch's); ``topk`` selects the
    first ``k`` of that order."""
    rng = np.random.default_rng(3)
    a = rng.integers(-20, 20, size=shape).astype(np.float32)
    a[rng.random(shape) < 0.01] = np.nan
    nan, filled = np.isnan(a), np.nan_to_num(a)
    if descending:
        order = np.stack([np.lexsort((-f, ~n)) for f, n in zip(filled, nan)])
    else:
        order = np.stack([np.lexsort((f, n)) for f, n in zip(filled, nan)])
    x = make_tensor(rt, a)
    vals, idx = x.sort(dim=1, descending=descending, stable=True)
    assert_values(to_np(idx), order)
    assert_values(to_np(vals), np.take_along_axis(a, order, 1))
    tv, ti = x.topk(k, dim=1, largest=descending)
    assert_values(to_np(ti), order[:, :k])
    assert_values(to_np(tv), np.take_along_axis(a, order[:, :k], 1))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_stable_with_ties(descending):
    a = np.array([3, 1, 2, 3, 1, 2, 3, 0, 1, 2], np.int64)

    def ref(x):
        order = np.argsort(-x if descending else x, kind="stable")
        return x[order], order

    check_op(lambda lib, x: x.sort(stable=True, descending=descending), a, np_fn=ref)
    check_op(lambda lib, x: lib.argsort(x, stable=True, descending=descending), a,
             np_fn=lambda x: ref(x)[1])


def test_sort_default_and_special_dtypes():
    a = rand_array((3, 6), "int32", low=-100, high=100)
    check_op(lambda lib, x: x.sort()[0], a, np_fn=lambda x: np.sort(x, axis=-1),
             out_dtype="int32")
    b = np.array([2.0, np.nan, -1.0, np.inf, -np.inf], np.float32)
    check_op(lambda lib, x: x.sort()[0], b, np_fn=np.sort)  # NaN sorts last
    check_op(lambda lib, x: x.sort(), np.zeros((0, 3), np.float32),
             np_fn=lambda x: (x, np.zeros((0, 3), np.int64)))


# ---------------------------------------------------------------- one_hot -------------


@pytest.mark.parametrize("num_classes", [-1, 5, 7])
def test_one_hot(num_classes):
    need_nn()
    idx = np.array([[0, 3, 4], [1, 1, 2]], np.int64)
    n = 5 if num_classes == -1 else num_classes

    def ref(i):
        return np.eye(n, dtype=np.int64)[i]

    check_op(lambda lib, i: lib.nn.functional.one_hot(i, num_classes), idx, np_fn=ref,
             out_dtype="int64")
    if num_classes == -1:
        check_op(lambda lib, i: lib.nn.functional.one_hot(i), idx, np_fn=ref)


def test_named_results_print_as_pytorch_prints_them():
    """``sort``, ``topk``, ``max(dim)``, ``cummax``: PyTorch's ``return_types`` repr."""
    torch = need_torch()
    for call in (lambda L, x: x.sort(), lambda L, x: x.topk(2), lambda L, x: x.max(0),
                 lambda L, x: x.min(0), lambda L, x: x.cummax(0), lambda L, x: x.cummin(0)):
        want = repr(call(torch, torch.tensor([3.0, 1.0, 2.0])))
        got = repr(call(rt, rt.tensor([3.0, 1.0, 2.0])))
        assert got.replace("rustorch", "torch") == want
