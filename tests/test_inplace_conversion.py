"""In-place ops (identity, views, dtype rules) and conversions (to/float/item/tolist/numpy/
__array__/dlpack/clone)."""

import operator

import numpy as np
import pytest
from conftest import (
    DTYPE_NAMES,
    NP_DTYPES,
    assert_values,
    check_op,
    current_device,
    dtype_name,
    make_tensor,
    need_torch,
    rand_array,
    rt,
    to_np,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

# ---------------------------------------------------------------- in-place arithmetic -

INPLACE = [
    ("add_", lambda x, y: x + y),
    ("sub_", lambda x, y: x - y),
    ("mul_", lambda x, y: x * y),
    ("div_", lambda x, y: x / y),
]


@pytest.mark.parametrize("name, ref", INPLACE, ids=[n for n, _ in INPLACE])
@pytest.mark.parametrize("other_kind", ["tensor", "broadcast", "scalar", "float64_tensor"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_arith(name, ref, other_kind, dtype):
    a = rand_array((3, 4), dtype, 1)
    if other_kind == "scalar":
        other_np, other = np.asarray(2.5), 2.5
    else:
        shape = (4,) if other_kind == "broadcast" else (3, 4)
        odt = "float64" if other_kind == "float64_tensor" else dtype
        other_np = rand_array(shape, odt, 2, positive=True)
        other = make_tensor(rt, other_np)
    x = make_tensor(rt, a)
    ptr = x.data_ptr()
    r = getattr(x, name)(other)
    assert r is x
    assert x.data_ptr() == ptr
    assert dtype_name(x.dtype) == dtype
    assert_values(to_np(x), ref(a.astype(np.float64), other_np).astype(a.dtype), rtol=1e-6)


def test_add_sub_alpha_inplace():
    a, b = rand_array((3,), "float32", 1), rand_array((3,), "float32", 2)
    x = make_tensor(rt, a)
    x.add_(make_tensor(rt, b), alpha=2)
    assert_values(to_np(x), a + 2 * b)
    x.sub_(make_tensor(rt, b), alpha=0.5)
    assert_values(to_np(x), a + 2 * b - 0.5 * b)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_parameter_update_in_place_matches_torch(dtype):
    """``add_``/``sub_`` of a same-shape tensor under ``no_grad`` (written straight into the
    storage): PyTorch's values to rounding, through a row view and on the whole tensor, the
    version counter bumped (a backward that saved the tensor refuses), the storage kept."""
    torch = need_torch()
    a, g = rand_array((6, 33), "float64", 1), rand_array((6, 33), "float64", 2)
    ours = [make_tensor(rt, x).to(getattr(rt, dtype)).to(current_device()) for x in (a, g)]
    theirs = [torch.tensor(x).to(getattr(torch, dtype)) for x in (a, g)]
    for (p, grad), lib in ((ours, rt), (theirs, torch)):
        # a product that saved p for its backward: the update must be seen as a new version
        w = lib.ones(33, dtype=p.dtype, device=p.device, requires_grad=True)
        saved = w * p
        with lib.no_grad():
            ptr = p.data_ptr()
            p[2:4].add_(grad[2:4], alpha=-20.0)
            p.sub_(grad, alpha=0.5)
            p.add_(grad)
            assert p.data_ptr() == ptr
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            saved.sum().backward()
    # PyTorch fuses the multiply-add (one rounding); ours rounds the product first
    tol = {"float64": 1e-15, "float32": 1e-6, "float16": 2e-3, "bfloat16": 2e-2}[dtype]
    want = theirs[0].double().numpy()
    np.testing.assert_allclose(to_np(ours[0].double()), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("where", ["whole", "row view", "strided view", "0-d"])
def test_inplace_with_a_number_matches_torch_to_the_bit(dtype, where):
    """``add_``/``sub_``/``mul_``/``div_`` with a number (written straight into the storage
    where nothing records and the tensor is contiguous, else through a result copied back):
    PyTorch's bits, past the threading threshold, on views too (the base sees the change),
    the storage kept and the version counter bumped."""
    torch = need_torch()
    shape = () if where == "0-d" else (300, 129)
    a = rand_array(shape, "float64", 5) * 100
    ours = make_tensor(rt, a).to(getattr(rt, dtype)).to(current_device())
    theirs = torch.tensor(a).to(getattr(torch, dtype))
    for x, lib in ((ours, rt), (theirs, torch)):
        v = {"whole": x, "row view": x[7:200] if x.dim() else x,
             "strided view": x[:, ::2] if x.dim() else x, "0-d": x}[where]
        w = lib.ones(v.shape, dtype=x.dtype, device=x.device, requires_grad=True)
        saved = w * v
        ptr = x.data_ptr()
        r = v.mul_(0.7)
        assert r is v
        v.add_(3).sub_(1.25).div_(3.1)
        v *= -2
        v /= 7
        assert x.data_ptr() == ptr
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            saved.sum().backward()
    got, want = to_np(ours.double()), theirs.double().numpy()
    np.testing.assert_array_equal(got, want)


def test_inplace_with_a_number_and_autograd():
    """Where the op records (a tensor that needs grad) or may not (a leaf that requires
    grad), the in-place op with a number keeps PyTorch's rules."""
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.mul_(2)
    with rt.no_grad():
        x.mul_(2)
    assert x.requires_grad and x.is_leaf
    assert_values(to_np(x.detach()), np.array([2.0, 4.0, 6.0]))
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with a bool"):
        rt.ones(3).sub_(True)
    y = x * 1
    y.mul_(3).add_(1)
    assert y.grad_fn is not None
    y.sum().backward()
    assert_values(to_np(x.grad), np.array([3.0, 3.0, 3.0]))


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_inplace_int(dtype):
    a = rand_array((3, 4), dtype, 1, positive=True)
    x = make_tensor(rt, a)
    x.add_(2).mul_(3).sub_(1)
    assert dtype_name(x.dtype) == dtype
    assert_values(to_np(x), ((a + 2) * 3 - 1).astype(a.dtype))


def test_inplace_cannot_change_dtype_category():
    x = rt.tensor([1, 2, 3])
    with pytest.raises(RuntimeError):
        x.add_(1.5)
    with pytest.raises(RuntimeError):
        x.div_(2)
    with pytest.raises(RuntimeError):
        x += rt.tensor([0.5, 0.5, 0.5])
    assert x.tolist() == [1, 2, 3]


def test_inplace_cannot_broadcast_self():
    x = rt.zeros(4)
    with pytest.raises(RuntimeError):
        x.add_(rt.ones(3, 4))


AUG = [
    (operator.iadd, np.add), (operator.isub, np.subtract),
    (operator.imul, np.multiply), (operator.itruediv, np.true_divide),
]


@pytest.mark.parametrize("op, np_op", AUG, ids=["+=", "-=", "*=", "/="])
@pytest.mark.parametrize("other_kind", ["scalar", "tensor"])
def test_augmented_assignment_keeps_identity(op, np_op, other_kind):
    a = rand_array((3, 4), "float32", 1)
    x = make_tensor(rt, a)
    y = x
    ptr = x.data_ptr()
    other_np = np.float32(2.0) if other_kind == "scalar" else rand_array((4,), "float32", 2,
                                                                         positive=True)
    other = 2.0 if other_kind == "scalar" else make_tensor(rt, other_np)
    x = op(x, other)
    assert y is x
    assert x.data_ptr() == ptr
    assert_values(to_np(y), np_op(a, other_np))


def test_int_augmented_ops():
    x = rt.tensor([5, 7, -3])
    y = x
    x += 1
    x *= 2
    x -= 3
    x //= 2
    assert y is x and x.dtype == rt.int64
    assert x.tolist() == (((np.array([5, 7, -3]) + 1) * 2 - 3) // 2).tolist()


def test_inplace_on_view_modifies_base():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = rt.tensor(a)
    x[1].add_(100)
    x.t()[0].mul_(-1)
    x[:, ::2].zero_()
    x.view(-1)[-1:].fill_(7)
    x.narrow(0, 2, 1).clamp_(max=3)
    ref = a.copy()
    ref[1] += 100
    ref.T[0] *= -1
    ref[:, ::2] = 0
    ref.reshape(-1)[-1:] = 7
    ref[2:3] = np.minimum(ref[2:3], 3)
    assert_values(to_np(x), ref)


# ---------------------------------------------------------------- copy_/fill_/zero_ ----


@pytest.mark.parametrize(
    "dst_shape, src_shape", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), ())]
)
@pytest.mark.parametrize("src_dtype", ["float32", "float64", "int64", "bool"])
def test_copy_broadcast_and_cast(dst_shape, src_shape, src_dtype):
    src = rand_array(src_shape, src_dtype, 2)
    x = rt.zeros(*dst_shape)
    ptr = x.data_ptr()
    r = x.copy_(make_tensor(rt, src))
    assert r is x and x.data_ptr() == ptr and x.dtype == rt.float32
    assert_values(to_np(x), np.broadcast_to(src, dst_shape).astype(np.float32))


def test_copy_into_non_contiguous_view_and_int_truncation():
    x = rt.zeros(3, 4)
    x.t().copy_(rt.arange(12.0).view(4, 3))
    assert_values(to_np(x), np.arange(12.0, dtype=np.float32).reshape(4, 3).T)
    y = rt.zeros(3, dtype=rt.int64)
    y.copy_(rt.tensor([1.7, -1.7, 2.5]))
    assert y.tolist() == [1, -1, 2]


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_fill_zero(dtype):
    x = make_tensor(rt, rand_array((2, 3), dtype))
    assert x.fill_(1) is x
    assert_values(to_np(x), np.ones((2, 3), NP_DTYPES[dtype]))
    assert x.zero_() is x
    assert_values(to_np(x), np.zeros((2, 3), NP_DTYPES[dtype]))
    if dtype.startswith("float"):
        x.fill_(rt.tensor(2.5))
        assert_values(to_np(x), np.full((2, 3), 2.5, NP_DTYPES[dtype]))


def test_fill_on_strided_view():
    x = rt.zeros(4, 4)
    x[::2, 1::2].fill_(3.0)
    ref = np.zeros((4, 4), np.float32)
    ref[::2, 1::2] = 3.0
    assert_values(to_np(x), ref)


@pytest.mark.parametrize("kwargs", [{"min": -0.5}, {"max": 0.5}, {"min": -0.5, "max": 0.5}])
def test_clamp_inplace(kwargs):
    a = rand_array((3, 4), "float32")
    x = make_tensor(rt, a)
    assert x.clamp_(**kwargs) is x
    assert_values(to_np(x), np.clip(a, kwargs.get("min"), kwargs.get("max")))


def test_uniform_inplace():
    rt.manual_seed(0)
    x = rt.empty(100_000)
    assert x.uniform_(-2.0, 3.0) is x
    v = to_np(x)
    assert v.min() >= -2.0 and v.max() < 3.0
    assert abs(v.mean() - 0.5) < 0.03
    assert abs(v.var() - 25 / 12) < 0.05
    y = rt.empty(1000, dtype=rt.float64).uniform_()
    assert y.dtype == rt.float64 and 0 <= to_np(y).min() and to_np(y).max() < 1


def test_normal_inplace_statistics():
    rt.manual_seed(0)
    x = rt.empty(200_000)
    assert x.normal_(mean=3.0, std=0.5) is x
    v = to_np(x).astype(np.float64)
    assert abs(v.mean() - 3.0) < 0.01
    assert abs(v.std() - 0.5) < 0.01
    z = (v - 3.0) / 0.5
    assert abs(np.mean(z**3)) < 0.05  # symmetric
    assert abs(np.mean(z**4) - 3.0) < 0.1  # normal kurtosis
    w = rt.empty(50_000, dtype=rt.float64).normal_()
    assert abs(to_np(w).mean()) < 0.03 and abs(to_np(w).std() - 1) < 0.03


def test_random_inplace_on_view():
    x = rt.zeros(4, 6)
    x[:, ::2].uniform_(5, 6)
    v = to_np(x)
    assert (v[:, 1::2] == 0).all()
    assert ((v[:, ::2] >= 5) & (v[:, ::2] < 6)).all()


# ---------------------------------------------------------------- dtype conversion ----


@pytest.mark.parametrize("src", DTYPE_NAMES)
@pytest.mark.parametrize("dst", DTYPE_NAMES)
def test_to_dtype(src, dst):
    a = rand_array((3, 4), src, low=0 if dst == "uint8" or src == "uint8" else None, high=100)
    if src.startswith("float"):
        a = (a * 10).astype(a.dtype)
        if dst == "uint8":
            a = np.abs(a)
    check_op(lambda lib, x: x.to(getattr(lib, dst)), a,
             np_fn=lambda x: x.astype(NP_DTYPES[dst]), out_dtype=dst, layout="transposed")
    check_op(lambda lib, x: x.to(dtype=getattr(lib, dst)), a,
             np_fn=lambda x: x.astype(NP_DTYPES[dst]), out_dtype=dst)


@pytest.mark.parametrize(
    "method, dst", [("float", "float32"), ("double", "float64"), ("long", "int64"),
                    ("int", "int32"), ("bool", "bool")]
)
@pytest.mark.parametrize("src", ["float32", "float64", "int64", "bool"])
def test_conversion_methods(method, dst, src):
    a = (rand_array((2, 3), src) * (3 if src != "bool" else 1)).astype(NP_DTYPES[src])
    check_op(lambda lib, x: getattr(x, method)(), a, np_fn=lambda x: x.astype(NP_DTYPES[dst]),
             out_dtype=dst)


def test_to_same_dtype_returns_self_and_other_copies():
    x = rt.ones(3)
    assert x.to(rt.float32) is x
    assert x.float() is x
    y = x.to(rt.float64)
    y.zero_()
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_float_to_int_truncates_toward_zero():
    a = np.array([1.5, -1.5, 2.999, -0.2, 100.7], np.float32)
    check_op(lambda lib, x: x.long(), a, np_fn=lambda x: x.astype(np.int64))
    check_op(lambda lib, x: x.to(lib.int32), a, np_fn=lambda x: x.astype(np.int32))


# NaN, the infinities and values beyond int32/int64: PyTorch's (x86's) conversion gives the
# minimum of int64 (int64 targets) or of int32, whose low bits the narrower types keep.
SPECIAL_FLOATS = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 300.7, -300.7, 1e20, 70000.5,
                           -129.5, 2.0**63, -(2.0**63), 2147483647.9, -2147483648.9], np.float64)


@pytest.mark.parametrize("src", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("dst", ["int64", "int32", "int16", "int8", "uint8", "bool"])
def test_float_to_int_of_nan_inf_and_out_of_range(src, dst):
    check_op(lambda lib, x: x.to(getattr(lib, src)).to(getattr(lib, dst)), SPECIAL_FLOATS,
             dtype="float64")


# ---------------------------------------------------------------- python values -------


@pytest.mark.parametrize(
    "dtype, pytype", [("float32", float), ("float64", float), ("int64", int), ("int32", int),
                      ("uint8", int), ("bool", bool)]
)
def test_item_and_tolist_types(dtype, pytype):
    a = rand_array((2, 3), dtype, low=0 if dtype != "bool" else None, high=9)
    x = make_tensor(rt, a)
    item = x[1, 2].item()
    assert type(item) is pytype
    assert item == a[1, 2].item()
    lst = x.tolist()
    assert lst == a.tolist()
    assert all(type(v) is pytype for row in lst for v in row)
    assert type(x[0, 0].tolist()) is pytype
    assert make_tensor(rt, a[:, :0]).tolist() == [[], []]
    assert x.t().tolist() == a.T.tolist()


def test_item_exact_float32_value():
    x = rt.tensor([0.1])
    assert x.item() == float(np.float32(0.1))
    assert rt.tensor([0.1], dtype=rt.float64).item() == 0.1


def test_item_requires_one_element():
    assert rt.tensor([[4.5]]).item() == 4.5
    with pytest.raises(RuntimeError):
        rt.ones(2).item()
    with pytest.raises(RuntimeError):
        rt.ones(0).item()


def test_python_number_protocols():
    assert float(rt.tensor([2.5])) == 2.5
    assert int(rt.tensor(3.7)) == 3 and int(rt.tensor(-3.7)) == -3
    assert bool(rt.tensor([0.0])) is False and bool(rt.tensor(2)) is True
    with pytest.raises(RuntimeError):
        bool(rt.ones(2))
    assert [10, 20, 30][rt.tensor(1)] == 20  # __index__ on 0-d integer tensors


# ---------------------------------------------------------------- numpy interop -------


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_numpy_shares_memory(dtype):
    a = rand_array((3, 4), dtype)
    x = make_tensor(rt, a)
    n = x.numpy()
    assert n.dtype == NP_DTYPES[dtype]
    assert_values(n, a)
    x.zero_()
    assert not n.any()
    n[1, 1] = 1
    assert x[1, 1].item() == n[1, 1].item()


def test_numpy_of_views_keeps_strides_and_shares():
    x = rt.arange(12.0).view(3, 4)
    n = x.t().numpy()
    assert n.shape == (4, 3)
    assert n.strides == (4, 16)
    m = x[:, 1::2].numpy()
    assert_values(m, np.arange(12.0, dtype=np.float32).reshape(3, 4)[:, 1::2])
    x.add_(1)
    assert n[0, 0] == 1.0 and m[0, 0] == 2.0


def test_numpy_of_requires_grad_tensor_raises():
    x = rt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        x.numpy()
    assert_values(x.detach().numpy(), np.ones(2, np.float32))


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_array_protocol(dtype):
    a = rand_array((2, 3), dtype)
    x = make_tensor(rt, a)
    n = np.asarray(x)
    assert n.dtype == a.dtype
    assert_values(n, a)
    assert_values(np.array(x.t()), a.T)
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert_values(np.add(a, np.asarray(x)), a + a)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_dlpack_round_trip(dtype):
    a = rand_array((3, 4), dtype)
    x = make_tensor(rt, a)
    n = np.from_dlpack(x)
    assert n.dtype == a.dtype
    assert_values(n, a)
    x.zero_()
    assert not n.any()  # shares memory
    b = rand_array((3, 4), dtype, 5)
    y = rt.from_dlpack(b)
    assert dtype_name(y.dtype) == dtype
    assert_values(to_np(y), b)
    b[0, 0] = not b[0, 0] if dtype == "bool" else b[0, 0] + 1
    assert y[0, 0].item() == b[0, 0].item()


def test_dlpack_device_and_views():
    x = rt.arange(12.0).view(3, 4)
    dev = x.__dlpack_device__()
    assert tuple(int(v) for v in dev) == (1, 0)
    n = np.from_dlpack(x.t())
    assert_values(n, np.arange(12.0, dtype=np.float32).reshape(3, 4).T)
    y = rt.from_dlpack(np.arange(10.0)[::2])
    assert_values(to_np(y), np.arange(10.0)[::2])


def test_clone_does_not_share():
    a = rand_array((3, 4), "float32")
    x = make_tensor(rt, a)
    c = x.clone()
    assert c.dtype == x.dtype and c.data_ptr() != x.data_ptr()
    c.zero_()
    assert_values(to_np(x), a)
    ct = x.t().clone()
    assert_values(to_np(ct), a.T)
    xi = rt.tensor([1, 2], dtype=rt.int32)
    assert xi.clone().dtype == rt.int32
    check_op(lambda lib, t: t.clone() * 2, a.astype(np.float64), grad=True,
             np_fn=lambda t: t * 2)
