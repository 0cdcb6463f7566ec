"""Layout metadata, view ops (and memory sharing), __getitem__ and __setitem__."""

import numpy as np
import pytest
from conftest import (
    DTYPE_NAMES,
    assert_same_error,
    assert_values,
    build_input,
    check_op,
    current_device,
    dtype_name,
    make_tensor,
    rand_array,
    rt,
    to_np,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

ITEMSIZE = {"float32": 4, "float64": 8, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1,
            "bool": 1}


def base_tensor(shape=(2, 3, 4), dtype="float32"):
    a = np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)
    return make_tensor(rt, a), a


def np_strides(a):
    return tuple(s // a.itemsize for s in a.strides)


def assert_strides_like(t, a):
    """Strides of ``t`` equal NumPy's element strides of the equivalent view ``a``
    (dimensions of size <= 1 have arbitrary strides and are not compared)."""
    got = t.stride()
    want = np_strides(a)
    assert len(got) == len(want)
    for d, (g, w) in enumerate(zip(got, want)):
        if a.shape[d] > 1:
            assert g == w, f"stride {got} != {want} (dim {d})"


# ---------------------------------------------------------------- metadata ------------


def test_shape_size_dim_numel_len():
    t, a = base_tensor((2, 3, 4))
    assert t.shape == (2, 3, 4)
    assert isinstance(t.shape, tuple)
    assert t.size() == (2, 3, 4)
    assert [t.size(d) for d in range(3)] == [2, 3, 4]
    assert t.size(-1) == 4 and t.size(-3) == 2
    assert t.shape[1] == 3
    assert t.dim() == 3 and t.ndim == 3
    assert t.numel() == 24
    assert len(t) == 2
    s = rt.tensor(1.5)
    assert s.shape == () and s.dim() == 0 and s.numel() == 1
    e = rt.zeros(3, 0)
    assert e.numel() == 0 and len(e) == 3


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_element_size(name):
    assert rt.zeros(2, dtype=getattr(rt, name)).element_size() == ITEMSIZE[name]


def test_iteration_yields_rows():
    t, a = base_tensor((3, 4))
    rows = list(t)
    assert len(rows) == 3
    for r, ra in zip(rows, a):
        assert tuple(r.shape) == (4,)
        assert_values(to_np(r), ra)
    # iterating a 1-d tensor yields 0-d tensors
    items = list(rt.tensor([1, 2, 3]))
    assert all(i.dim() == 0 for i in items)
    assert [i.item() for i in items] == [1, 2, 3]
    assert list(rt.zeros(0, 2)) == []


@pytest.mark.parametrize(
    "view, np_view, contiguous",
    [
        (lambda t: t, lambda a: a, True),
        (lambda t: t.transpose(0, 1), lambda a: a.swapaxes(0, 1), False),
        (lambda t: t[:, ::2], lambda a: a[:, ::2], False),
        (lambda t: t[1:], lambda a: a[1:], True),
        (lambda t: t[:, 1:3], lambda a: a[:, 1:3], False),
        (lambda t: t[1], lambda a: a[1], True),
        (lambda t: t[:, :, 0], lambda a: a[:, :, 0], False),
        (lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), False),
        (lambda t: t[:1].expand(3, 3, 4), lambda a: np.broadcast_to(a[:1], (3, 3, 4)), False),
        (lambda t: t.unsqueeze(1), lambda a: a[:, None], True),
        (lambda t: t[:, :1, :], lambda a: a[:, :1, :], False),
    ],
)
def test_strides_offsets_contiguity(view, np_view, contiguous):
    t, a = base_tensor((2, 3, 4))
    v = view(t)
    va = np_view(a)
    assert tuple(v.shape) == va.shape
    assert v.is_contiguous() == contiguous
    assert_strides_like(v, va)
    offset = (va.__array_interface__["data"][0] - a.__array_interface__["data"][0]) // a.itemsize
    assert v.storage_offset() == offset
    assert v.data_ptr() == t.data_ptr() + offset * t.element_size()
    c = v.contiguous()
    assert c.is_contiguous()
    assert_values(to_np(c), va)
    assert_strides_like(c, np.ascontiguousarray(va))
    if contiguous:
        assert c.data_ptr() == v.data_ptr()
    else:
        assert c.data_ptr() != v.data_ptr()


def test_contiguous_returns_self_when_contiguous():
    t, _ = base_tensor()
    assert t.contiguous() is t


def test_stride_dim_argument_and_size_one_dims():
    t, _ = base_tensor((2, 3, 4))
    assert t.stride() == (12, 4, 1)
    assert t.stride(0) == 12 and t.stride(-1) == 1
    assert rt.zeros(0, 3).is_contiguous()
    assert rt.zeros(3, 1).t().is_contiguous()  # size-1 dims do not break contiguity


# ---------------------------------------------------------------- views ---------------

# (name, view fn (lib, tensor), numpy equivalent, input shape). Every view shares memory.
VIEWS = [
    ("view_2d", lambda L, t: t.view(6, 4), lambda a: a.reshape(6, 4), (2, 3, 4)),
    ("view_tuple", lambda L, t: t.view((4, 6)), lambda a: a.reshape(4, 6), (2, 3, 4)),
    ("view_-1", lambda L, t: t.view(-1), lambda a: a.reshape(-1), (2, 3, 4)),
    ("view_2_-1", lambda L, t: t.view(2, -1), lambda a: a.reshape(2, -1), (2, 3, 4)),
    ("view_0size", lambda L, t: t.view(0, 2), lambda a: a.reshape(0, 2), (3, 0)),
    ("reshape", lambda L, t: t.reshape(4, 6), lambda a: a.reshape(4, 6), (2, 3, 4)),
    ("reshape_-1", lambda L, t: t.reshape(-1, 2), lambda a: a.reshape(-1, 2), (2, 3, 4)),
    ("reshape_fn", lambda L, t: L.reshape(t, (3, 8)), lambda a: a.reshape(3, 8), (2, 3, 4)),
    ("transpose", lambda L, t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2), (2, 3, 4)),
    ("transpose_neg", lambda L, t: t.transpose(-1, -2), lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    ("transpose_fn", lambda L, t: L.transpose(t, 0, 1), lambda a: a.swapaxes(0, 1), (2, 3, 4)),
    ("t", lambda L, t: t.t(), lambda a: a.T, (3, 4)),
    ("t_1d", lambda L, t: t.t(), lambda a: a, (5,)),
    ("T", lambda L, t: t.T, lambda a: a.T, (3, 4)),
    ("mT", lambda L, t: t.mT, lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    ("permute", lambda L, t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    ("permute_tuple", lambda L, t: t.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0),
     (2, 3, 4)),
    ("permute_neg", lambda L, t: t.permute(-1, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    ("permute_fn", lambda L, t: L.permute(t, (1, 0, 2)), lambda a: a.transpose(1, 0, 2),
     (2, 3, 4)),
    ("squeeze", lambda L, t: t.squeeze(), lambda a: a.squeeze(), (1, 3, 1, 4)),
    ("squeeze_0", lambda L, t: t.squeeze(0), lambda a: a.squeeze(0), (1, 3, 1, 4)),
    ("squeeze_-2", lambda L, t: t.squeeze(-2), lambda a: a.squeeze(-2), (1, 3, 1, 4)),
    ("squeeze_noop", lambda L, t: t.squeeze(1), lambda a: a, (1, 3, 1, 4)),
    ("squeeze_fn", lambda L, t: L.squeeze(t), lambda a: a.squeeze(), (3, 1)),
    ("unsqueeze_0", lambda L, t: t.unsqueeze(0), lambda a: a[None], (3, 4)),
    ("unsqueeze_1", lambda L, t: t.unsqueeze(1), lambda a: a[:, None], (3, 4)),
    ("unsqueeze_-1", lambda L, t: L.unsqueeze(t, -1), lambda a: a[..., None], (3, 4)),
    ("expand", lambda L, t: t.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
    ("expand_-1", lambda L, t: t.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), (3, 1)),
    ("expand_tuple", lambda L, t: t.expand((2, 4)), lambda a: np.broadcast_to(a, (2, 4)), (4,)),
    ("expand_as", lambda L, t: t.expand_as(L.zeros(2, 3, 4)),
     lambda a: np.broadcast_to(a, (2, 3, 4)), (1, 4)),
    ("flatten", lambda L, t: t.flatten(), lambda a: a.reshape(-1), (2, 3, 4)),
    ("flatten_1", lambda L, t: t.flatten(1), lambda a: a.reshape(2, 12), (2, 3, 4)),
    ("flatten_0_1", lambda L, t: L.flatten(t, 0, 1), lambda a: a.reshape(6, 4), (2, 3, 4)),
    ("flatten_-2_-1", lambda L, t: t.flatten(start_dim=-2, end_dim=-1),
     lambda a: a.reshape(2, 12), (2, 3, 4)),
    ("unflatten", lambda L, t: t.unflatten(1, (3, 2)), lambda a: a.reshape(2, 3, 2), (2, 6)),
    ("unflatten_-1", lambda L, t: t.unflatten(-1, (2, -1)), lambda a: a.reshape(2, 3, 2, 2),
     (2, 3, 4)),
    ("narrow", lambda L, t: t.narrow(2, 1, 2), lambda a: a[:, :, 1:3], (2, 3, 4)),
    ("narrow_neg", lambda L, t: L.narrow(t, -2, 0, 1), lambda a: a[:, 0:1], (2, 3, 4)),
    ("select", lambda L, t: t.select(1, 2), lambda a: a[:, 2], (2, 3, 4)),
    ("select_neg", lambda L, t: L.select(t, -1, -1), lambda a: a[..., -1], (2, 3, 4)),
    ("unbind", lambda L, t: t.unbind(1), lambda a: [a[:, i] for i in range(3)], (2, 3, 4)),
    ("unbind_0", lambda L, t: L.unbind(t), lambda a: list(a), (2, 3, 4)),
    ("split_int", lambda L, t: t.split(3, dim=2), lambda a: np.split(a, [3], axis=2), (2, 3, 4)),
    ("split_even", lambda L, t: L.split(t, 2, 2), lambda a: np.split(a, 2, axis=2), (2, 3, 4)),
    ("split_list", lambda L, t: t.split([1, 3], dim=-1), lambda a: np.split(a, [1], axis=-1),
     (2, 3, 4)),
    ("split_dim0", lambda L, t: t.split(1), lambda a: np.split(a, 2), (2, 3, 4)),
    ("chunk", lambda L, t: t.chunk(2, dim=2), lambda a: np.split(a, 2, axis=2), (2, 3, 4)),
    ("chunk_uneven", lambda L, t: L.chunk(t, 2, 1), lambda a: np.split(a, [2], axis=1),
     (2, 3, 4)),
    ("chunk_more", lambda L, t: t.chunk(5, dim=1), lambda a: np.split(a, 3, axis=1), (2, 3, 4)),
]
VIEW_IDS = [v[0] for v in VIEWS]


def _as_list(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


@pytest.mark.parametrize("name, view, np_view, shape", VIEWS, ids=VIEW_IDS)
def test_view_values_and_sharing(name, view, np_view, shape):
    t, a = base_tensor(shape)
    outs = _as_list(view(rt, t))
    refs = _as_list(np_view(a))
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert tuple(o.shape) == r.shape
        assert_values(to_np(o), r)
        if r.size > 1 and np.shares_memory(r, a):
            assert_strides_like(o, r)
    # a write to the base is seen through every view
    t.add_(100)
    for o, r in zip(outs, _as_list(np_view(a + 100))):
        assert_values(to_np(o), r)
    # and a write through a (non-expanded) view is seen in the base
    if name.startswith("expand") or outs[0].numel() == 0:
        return
    outs[0].mul_(-1)
    a2 = a + 100
    first = _as_list(np_view(a2))[0]
    assert np.shares_memory(first, a2)
    first *= -1
    assert_values(to_np(t), a2)


NON_CONTIG_VIEWS = [v for v in VIEWS if not v[0].startswith("view") and len(v[3]) >= 2]


@pytest.mark.parametrize("name, view, np_view, shape", NON_CONTIG_VIEWS,
                         ids=[v[0] for v in NON_CONTIG_VIEWS])
def test_view_ops_on_transposed_input_with_grad(name, view, np_view, shape):
    a = rand_array(shape, "float64")
    check_op(view, a, layout="transposed", np_fn=np_view, grad=True)


def test_view_on_transposed_requires_reshape():
    t, a = base_tensor((3, 4))
    with pytest.raises(RuntimeError):
        t.t().view(12)
    r = t.t().reshape(12)
    assert_values(to_np(r), a.T.reshape(12))
    r.add_(1)  # reshape had to copy: the base is untouched
    assert_values(to_np(t), a)


def test_reshape_of_contiguous_is_a_view():
    t, _ = base_tensor((3, 4))
    r = t.reshape(2, 6)
    assert r.data_ptr() == t.data_ptr()


def test_expand_of_size_one_and_new_leading_dims():
    t = rt.tensor([[1.0], [2.0]])
    e = t.expand(3, 2, 4)
    assert e.stride() == (0, 1, 0)
    assert_values(to_np(e), np.broadcast_to(np.array([[1.0], [2.0]], np.float32), (3, 2, 4)))


# ---------------------------------------------------------------- indexing ------------


class TIdx:
    """Index component to be passed as an int64 tensor (``value``: int or nested list)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"T({self.value!r})"


class MIdx(list):
    """Index component to be passed as a bool mask tensor."""

    def __repr__(self):
        return f"M{np.array(self).shape}"


def build_index(lib, spec):
    if isinstance(spec, tuple):
        return tuple(build_index(lib, s) for s in spec)
    if isinstance(spec, TIdx):
        return lib.tensor(spec.value, dtype=lib.int64)
    if isinstance(spec, MIdx):
        return lib.tensor(list(spec), dtype=lib.bool)
    return spec


def np_index(spec):
    if isinstance(spec, tuple):
        return tuple(np_index(s) for s in spec)
    if isinstance(spec, TIdx):
        return np.array(spec.value, dtype=np.int64)
    if isinstance(spec, MIdx):
        return np.array(list(spec), dtype=bool)
    return spec


T = TIdx
_MASK_34 = (rand_array((3, 4), "bool", seed=5)).tolist()
_MASK_345 = (rand_array((3, 4, 5), "bool", seed=6)).tolist()

S = slice
ALL = slice(None)
INDICES = [
    0, -1, 2, (0, 1), (-1, -2, -3), (2, 3, 4), (1, -1),
    S(None, None, 2), S(1, None), S(-2, None), S(None, -1), S(5, None), S(2, 1), S(0, 100),
    (ALL, S(1, 4, 2)), (S(None, None, 2), ALL, S(None, None, 3)), (S(1, 3), 0, S(1, None, 2)),
    (Ellipsis, 1), (Ellipsis, S(None, None, 2)), (0, Ellipsis), (1, Ellipsis, 2),
    None, (ALL, None), (None, 1, None, Ellipsis, None), (Ellipsis, None), (0, None, ALL, -1),
    [0, 2], [2, 2, 0], [-1, 0],
    T([2, 0]), T([[0, 1], [2, 2]]), T(1), T([-1, -3]),
    (ALL, [0, 3]), (ALL, T([3, 0, 3])), (Ellipsis, [4, 0]),
    ([0, 1], [1, 2]), ([[0], [2]], [1, 3]), (T([0, 2]), T([3, 1]), T([4, 0])),
    (ALL, [0, 2], [1, 1]), (0, [1, 2]), ([1, 2], S(None, None, 2)),
    MIdx([True, False, True]), (ALL, MIdx([True, False, True, False])),
    MIdx(_MASK_34), MIdx(_MASK_345), MIdx([False, False, False]),
    (MIdx([True, False, True]), 1), (Ellipsis, MIdx([True, True, False, False, True])),
]


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
@pytest.mark.parametrize("idx", INDICES, ids=[repr(i) for i in INDICES])
def test_getitem(idx, layout):
    a = rand_array((3, 4, 5), "float32")
    # for the transposed layout build the tensor so that the *indexed* view is (3, 4, 5)
    _, x = build_input(rt, a, None, layout)
    out = x[build_index(rt, idx)]
    ref = a[np_index(idx)]
    assert tuple(out.shape) == ref.shape
    assert_values(to_np(out), ref)
    assert out.dtype == x.dtype


@pytest.mark.parametrize("idx", INDICES, ids=[repr(i) for i in INDICES])
def test_getitem_grad_vs_torch(idx):
    a = rand_array((3, 4, 5), "float64")
    check_op(lambda lib, x: x[build_index(lib, idx)], a, grad=True,
             np_fn=lambda x: x[np_index(idx)])


@pytest.mark.parametrize(
    "idx, shares",
    [(1, True), ((ALL, S(None, None, 2)), True), ((Ellipsis, None), True),
     ([0, 1], False), (T([1]), False), (MIdx([True, False, True]), False)],
)
def test_basic_index_is_view_advanced_is_copy(idx, shares):
    a = rand_array((3, 4), "float32")
    x = make_tensor(rt, a)
    v = x[build_index(rt, idx)]
    v.fill_(42.0)
    changed = not np.array_equal(to_np(x), a)
    assert changed == shares


@pytest.mark.parametrize("name", ["int64", "int32", "uint8", "bool", "float64"])
def test_getitem_other_dtypes(name):
    a = rand_array((4, 3), name)
    x = make_tensor(rt, a)
    for idx in [1, (ALL, S(None, None, 2)), [3, 0], (MIdx([True, False, True, True]),)]:
        assert_values(to_np(x[build_index(rt, idx)]), a[np_index(idx)])
        assert dtype_name(x[build_index(rt, idx)].dtype) == name


def test_getitem_on_zero_size_and_0d():
    z = rt.zeros(0, 3)
    assert tuple(z[:, 1].shape) == (0,)
    assert tuple(z[1:].shape) == (0, 3)
    assert tuple(z[..., None].shape) == (0, 3, 1)
    s = rt.tensor(2.5)
    assert s[...].item() == 2.5
    assert tuple(s[None].shape) == (1,)
    assert tuple(rt.zeros(3)[rt.tensor([], dtype=rt.int64)].shape) == (0,)


# ---------------------------------------------------------------- setitem -------------


def _value(lib, v):
    if isinstance(v, np.ndarray):
        return make_tensor(lib, v)
    return v


SETITEMS = [
    (0, 1.5),
    (-1, np.arange(5.0, dtype=np.float32)),
    ((1, 2), np.float32(-3) * np.ones(5, np.float32)),
    ((1, 2, 3), 9.0),
    (S(None, None, 2), 7),
    ((ALL, S(1, 4, 2)), rand_array((3, 2, 5), "float32", 1)),
    ((Ellipsis, 1), rand_array((3, 4), "float32", 2)),
    ((Ellipsis, 1), rand_array((4,), "float32", 3)),
    ((ALL, ALL, 0), rand_array((3, 1), "float32", 4)),
    (Ellipsis, rand_array((5,), "float32", 5)),
    ((None, 0), 2.0),
    ([0, 2], 3.0),
    (T([2, 0]), rand_array((2, 4, 5), "float32", 6)),
    (T([2, 0]), rand_array((4, 1), "float32", 7)),
    (([0, 1], [1, 2]), rand_array((5,), "float32", 8)),
    ((ALL, [0, 3]), rand_array((3, 2, 5), "float32", 9)),
    ((ALL, T([3, 1]), 0), -5.0),
    (MIdx(_MASK_34), 0.0),
    (MIdx(_MASK_34), rand_array((5,), "float32", 10)),
    (MIdx(_MASK_345), -1),
    ((ALL, MIdx([True, False, True, False])), 4.5),
    (1, rand_array((4, 5), "float64", 11)),  # value of another dtype is cast
    ((0, 0), np.arange(5)),  # int64 value into float32
    (S(1, 2), 1),
    (S(5, None), 3.0),  # empty selection
    (1, True),
]


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("idx, value", SETITEMS, ids=[f"{i!r}" for i in range(len(SETITEMS))])
def test_setitem(idx, value, layout):
    a = rand_array((3, 4, 5), "float32")
    _, x = build_input(rt, a, None, layout)
    x[build_index(rt, idx)] = _value(rt, value)
    ref = a.copy()
    ref[np_index(idx)] = value
    assert x.dtype == rt.float32
    assert_values(to_np(x), ref)


def test_setitem_0d_tensor_value_and_int_tensor():
    x = rt.zeros(3, dtype=rt.int64)
    x[1] = rt.tensor(5)
    x[rt.tensor([0, 2])] = 7
    x[rt.tensor(2)] = 8
    assert x.tolist() == [7, 5, 8]
    y = rt.zeros(2, 2)
    y[0, 1] = rt.tensor(2.5, dtype=rt.float64)
    assert y.dtype == rt.float32 and y[0, 1].item() == 2.5


def test_setitem_on_view_writes_through_to_base():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = rt.tensor(a)
    v = x.t()
    v[1] = -1.0
    x[:, ::2][0] = 100.0
    a[:, 1] = -1.0
    a[0, ::2] = 100.0
    assert_values(to_np(x), a)


@pytest.mark.parametrize(
    "idx, value",
    [((0,), 1.5), ((ALL, [0, 2]), rand_array((3, 2), "float64", 1)),
     ((MIdx([True, False, True]),), 2.0),
     ((S(None, None, 2), 1), rand_array((2,), "float64", 2)), ((Ellipsis, T([3, 1])), 0.5)],
)
def test_setitem_grad_vs_torch(idx, value):
    a = rand_array((3, 4), "float64")

    def fn(lib, x):
        y = x * 2
        y[build_index(lib, idx)] = _value(lib, value)
        return y

    def np_fn(x):
        y = x * 2
        y[np_index(idx)] = value
        return y

    check_op(fn, a, grad=True, np_fn=np_fn)


# (self shape, index arrays, values shape)
INDEX_PUTS = [
    ((3, 4), ([0, 2, 0], [1, 1, 1]), ()),  # a repeated place: summed with accumulate
    ((3, 4), ([0, 2, 0],), (4,)),
    ((3, 4), ([[0], [2]], [[1, 3]]), (2, 2)),  # index tensors broadcast together
    ((2, 3, 4), ([1, 0], [2, 2]), (2, 4)),
]


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("shape,index,vshape", INDEX_PUTS)
def test_index_put_matches_torch(shape, index, vshape, accumulate):
    # PyTorch's index_put: `self[indices] = values` (or +=, repeated places summed), out of
    # place, in place and as a function, with gradients for self and the values.
    if not accumulate and shape == (3, 4) and len(index) == 2 and vshape == ():
        index = ([0, 2], [1, 3])  # without accumulate, a repeated place's winner is unset
    x = rand_array(shape, "float64", 1)
    v = rand_array(vshape, "float64", 2)
    idx = [np.array(i, dtype=np.int64) for i in index]

    def fn(lib, x, v, *idx):
        out = x.index_put(tuple(idx), v, accumulate=accumulate)
        y = x * 1
        assert y.index_put_(tuple(idx), v, accumulate) is y
        return lib.index_put(x, tuple(idx), v, accumulate) + out + y

    check_op(fn, x, v, *idx, grad=True)


def test_index_put_with_masks_and_int32_indices_matches_torch():
    x = rand_array((3, 4), "float64", 1)
    mask = rand_array((3, 4), "float64", 2) > 0
    check_op(lambda lib, x, m: x.index_put((m,), lib.tensor(7.0, dtype=lib.float64)), x, mask)
    rows = np.array([2, 0, 2], dtype=np.int32)
    check_op(lambda lib, x, r: x.index_put((r,), x[0] * 0 + 1, accumulate=True), x, rows)


@pytest.mark.parametrize("case", ["dtype", "too many", "float index", "out of range", "shape"])
def test_index_put_errors_match_torch(case):
    def call(lib):
        x = lib.zeros(3, 4)
        i = lib.tensor([0, 2, 0])
        if lib is rt:
            x, i = x.to(current_device()), i.to(current_device())
        args = {
            "dtype": ((i,), lib.ones(4, dtype=lib.float64)),
            "too many": ((i, i, i), lib.ones(1)),
            "float index": ((i.float(),), lib.ones(1)),
            "out of range": ((i + 3,), lib.ones(4)),
            "shape": ((i,), lib.ones(3)),
        }[case]
        vals = args[1].to(x.device) if lib is rt else args[1]
        return x.index_put(args[0], vals)

    if case == "out of range" and current_device() != "cpu":
        pytest.skip("a device-side index check reports otherwise on CUDA")
    assert_same_error(call)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_gradcheck(accumulate):
    x = rt.tensor(rand_array((3, 4), "float64", 1), requires_grad=True, device=current_device())
    v = rt.tensor(rand_array((2, 4), "float64", 2), requires_grad=True, device=current_device())
    rows = rt.tensor([2, 0], device=current_device())
    fn = lambda x, v: x.index_put((rows,), v, accumulate=accumulate)  # noqa: E731
    assert rt.autograd.gradcheck(fn, (x, v))
    assert rt.autograd.gradgradcheck(fn, (x, v))
