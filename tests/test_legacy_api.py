"""The legacy API old tutorials use (typed tensor classes, ``Variable``, ``Tensor.new``,
``type()``, storages, default dtype/tensor type), dtype information, constants and the
comparison helpers (``isclose``, ``allclose``, ``testing.assert_close``), against PyTorch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import LIB_NAME, rt, to_np, torch_or_none

torch = torch_or_none
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")


@pytest.fixture
def restore_defaults():
    yield
    rt.set_default_dtype(rt.float32)
    rt.set_default_device("cpu")


# ---------------------------------------------------------------- typed classes -------

@needs_torch
@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "LongTensor", "IntTensor",
                                  "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
                                  "HalfTensor", "BFloat16Tensor"])
def test_typed_constructors_match_torch(name):
    ours, theirs = getattr(rt, name), getattr(torch, name)
    for args in [(), (2, 3), ([1, 0, 2],), ((1, 2),), (rt.Size([4]),)]:
        targs = tuple(torch.Size(a) if isinstance(a, rt.Size) else a for a in args)
        got, want = ours(*args), theirs(*targs)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        assert tuple(got.shape) == tuple(want.shape)
        if args and not isinstance(args[0], (int, rt.Size)):
            np.testing.assert_array_equal(to_np(got).astype(np.float64),
                                          want.float().numpy().astype(np.float64))
    t = ours([1, 2])
    assert isinstance(t, ours) and not isinstance(t, rt.cuda.FloatTensor if name != "FloatTensor"
                                                  else rt.LongTensor)
    assert ours(t).data_ptr() == t.data_ptr()
    assert t.type() == f"torch.{name}"
    assert repr(ours) == f"<class 'torch.{name}'>"


def test_typed_constructor_rejects_a_tensor_of_another_dtype():
    with pytest.raises(TypeError):
        rt.FloatTensor(rt.tensor([1, 2]))


def test_typed_class_isinstance():
    assert isinstance(rt.zeros(2), rt.FloatTensor)
    assert not isinstance(rt.zeros(2), rt.DoubleTensor)
    assert not isinstance(rt.zeros(2, dtype=rt.int64), rt.FloatTensor)
    assert isinstance(rt.zeros(2, dtype=rt.int64), rt.LongTensor)
    assert not isinstance(rt.zeros(2), rt.cuda.FloatTensor)
    assert not isinstance([1.0], rt.FloatTensor)


@pytest.mark.skipif(not rt.cuda.is_available(), reason="CUDA is not available: no GPU here")
def test_cuda_typed_constructor_makes_cuda_tensors():
    t = rt.cuda.FloatTensor([1.0, 2.0])
    assert t.is_cuda and isinstance(t, rt.cuda.FloatTensor)
    assert t.type() == "torch.cuda.FloatTensor"
    assert rt.zeros(2).type("torch.cuda.LongTensor").is_cuda


@needs_torch
def test_tensor_new_matches_torch():
    for base in [(rt.zeros(2), torch.zeros(2)),
                 (rt.zeros(2, dtype=rt.int64), torch.zeros(2, dtype=torch.int64))]:
        ours, theirs = base
        for args in [(), (3,), (2, 2), ([1, 2],), ((3, 4),)]:
            got, want = ours.new(*args), theirs.new(*args)
            assert tuple(got.shape) == tuple(want.shape)
            assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
            if args and isinstance(args[0], (list, tuple)):
                np.testing.assert_array_equal(to_np(got), want.numpy())
    assert rt.zeros(2).new(3, device="cpu").shape == (3,)


def test_type_converts_by_name_class_and_dtype():
    x = rt.tensor([1.5, -2.5])
    assert x.type() == "torch.FloatTensor"
    assert x.type(rt.LongTensor).dtype == rt.int64
    assert x.type("torch.IntTensor").dtype == rt.int32
    assert x.type("torch.DoubleTensor").dtype == rt.float64
    assert x.type(rt.float64).dtype == rt.float64
    np.testing.assert_array_equal(to_np(x.type(rt.LongTensor)), [1, -2])
    with pytest.raises((ValueError, RuntimeError)):
        x.type("torch.NoSuchTensor")


# ---------------------------------------------------------------- Variable -----------

def test_variable_returns_a_leaf_sharing_memory():
    x = rt.arange(3.0)
    v = rt.autograd.Variable(x, requires_grad=True)
    assert isinstance(v, rt.Tensor) and v.requires_grad and v.is_leaf
    assert not x.requires_grad
    assert v.data_ptr() == x.data_ptr()
    assert isinstance(x, rt.autograd.Variable)
    (v * 2).sum().backward()
    np.testing.assert_array_equal(to_np(v.grad), [2.0, 2.0, 2.0])
    assert not rt.autograd.Variable(x).requires_grad


def test_variable_volatile_warns_and_rejects_non_tensors():
    with pytest.warns(UserWarning, match="volatile was removed"):
        v = rt.autograd.Variable(rt.zeros(2), volatile=True)
    assert not v.requires_grad
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        rt.autograd.Variable([1, 2])


# ---------------------------------------------------------------- defaults -----------

@pytest.mark.usefixtures("restore_defaults")
def test_set_default_dtype_changes_every_default():
    assert rt.get_default_dtype() == rt.float32
    rt.set_default_dtype(rt.float64)
    assert rt.get_default_dtype() == rt.float64
    assert rt.tensor([1.5]).dtype == rt.float64
    assert rt.zeros(2).dtype == rt.float64
    assert rt.rand(2).dtype == rt.float64
    assert rt.arange(0, 1, 0.5).dtype == rt.float64
    assert rt.tensor([1, 2]).dtype == rt.int64
    assert (rt.tensor([1]) * 1.5).dtype == rt.float64
    assert rt.tensor([1]).exp().dtype == rt.float64
    assert rt.nn.Linear(2, 2).weight.dtype == rt.float64
    assert rt.Tensor([1.0]).dtype == rt.float64
    assert rt.finfo().dtype == "float64"
    rt.set_default_dtype(rt.float32)
    assert rt.tensor([1.5]).dtype == rt.float32
    with pytest.raises(TypeError, match="only floating-point types"):
        rt.set_default_dtype(rt.int64)


def test_python_float_as_dtype_is_float64():
    assert rt.zeros(2, dtype=float).dtype == rt.float64
    assert rt.tensor([1], dtype=float).dtype == rt.float64


@pytest.mark.usefixtures("restore_defaults")
def test_set_default_tensor_type():
    with pytest.warns(UserWarning, match="deprecated"):
        rt.set_default_tensor_type(rt.DoubleTensor)
    assert rt.tensor([1.5]).dtype == rt.float64
    with warnings.catch_warnings():  # (PyTorch warns once per process)
        warnings.simplefilter("ignore")
        rt.set_default_tensor_type("torch.FloatTensor")
    assert rt.tensor([1.5]).dtype == rt.float32
    with pytest.raises(TypeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt.set_default_tensor_type(rt.LongTensor)


# ---------------------------------------------------------------- storage ------------

def test_storage_views_the_whole_memory():
    base = rt.arange(6.0)
    view = base[2:]
    s = view.storage()
    assert len(s) == 6 and s.size() == 6
    assert s.data_ptr() == base.data_ptr()
    assert view.storage_offset() == 2
    assert s.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert s[3] == 3.0
    s[0] = 7.0
    assert base[0].item() == 7.0
    assert s.dtype == rt.float32 and s.element_size() == 4 and s.nbytes() == 24
    u = view.untyped_storage()
    assert len(u) == 24 and u.nbytes() == 24 and u.data_ptr() == base.data_ptr()


# ---------------------------------------------------------------- type info ----------

@needs_torch
@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_finfo_matches_torch(name):
    ours, theirs = rt.finfo(getattr(rt, name)), torch.finfo(getattr(torch, name))
    for attr in ["bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"]:
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours.dtype == theirs.dtype
    assert repr(ours) == repr(theirs)


@needs_torch
@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name):
    ours, theirs = rt.iinfo(getattr(rt, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.min, ours.max, ours.dtype) == (
        theirs.bits, theirs.min, theirs.max, theirs.dtype)
    assert repr(ours) == repr(theirs)


def test_type_info_rejects_the_other_kind():
    with pytest.raises(TypeError):
        rt.finfo(rt.int32)
    with pytest.raises(TypeError):
        rt.iinfo(rt.float32)


def test_constants():
    assert rt.pi == math.pi and rt.e == math.e
    assert rt.inf == math.inf and math.isnan(rt.nan)
    assert rt.zeros(2)[rt.newaxis].shape == (1, 2)
    assert isinstance(rt.__version__, str) and rt.version.__version__ == rt.__version__


# ---------------------------------------------------------------- comparisons --------

@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_isclose_matches_torch(dtype):
    a = np.array([1.0, 2.0, np.inf, -np.inf, np.nan, 0.0, 1e-9, 100.0, np.inf])
    b = np.array([1.0 + 1e-6, 2.1, np.inf, np.inf, np.nan, 1e-9, 0.0, 100.001, 1e300])
    if dtype == "int64":
        a, b = np.array([1, 2, 3, 100, -5]), np.array([1, 3, 3, 101, -5])
    for kw in [{}, {"equal_nan": True}, {"rtol": 1e-3, "atol": 0.0}, {"rtol": 0, "atol": 1}]:
        got = rt.isclose(rt.tensor(a, dtype=getattr(rt, dtype)),
                         rt.tensor(b, dtype=getattr(rt, dtype)), **kw)
        want = torch.isclose(torch.tensor(a, dtype=getattr(torch, dtype)),
                             torch.tensor(b, dtype=getattr(torch, dtype)), **kw)
        np.testing.assert_array_equal(to_np(got), want.numpy(), err_msg=str(kw))
        assert rt.allclose(rt.tensor(a, dtype=getattr(rt, dtype)),
                           rt.tensor(b, dtype=getattr(rt, dtype)), **kw) == bool(want.all())


def test_isclose_errors():
    with pytest.raises(RuntimeError, match="Long did not match Float"):
        rt.isclose(rt.tensor([1]), rt.tensor([1.0]))
    assert rt.tensor([1.0, 2.0]).allclose(rt.tensor([1.0, 2.0 + 1e-7]))


@needs_torch
def test_assert_close_messages_match_torch():
    cases = [
        (lambda m: m.tensor([1.0, 2.0, 3.0]), lambda m: m.tensor([1.0, 2.5, 3.0]), {}),
        (lambda m: m.tensor([1.0]), lambda m: m.tensor([1.0], dtype=m.float64), {}),
        (lambda m: m.zeros(2), lambda m: m.zeros(3), {}),
        (lambda m: 1.0, lambda m: 1.1, {}),
        (lambda m: [1.0, 2.0], lambda m: [1.0, 2.5], {}),
        (lambda m: m.tensor([1, 2]), lambda m: m.tensor([1, 3]), {}),
        (lambda m: {"a": m.zeros(2)}, lambda m: {"a": m.ones(2)}, {}),
        (lambda m: m.tensor([float("nan")]), lambda m: m.tensor([float("nan")]), {}),
        (lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor([1.0, 2.1]),
         {"rtol": 0.0, "atol": 0.01}),
        (lambda m: 1, lambda m: 1.0, {}),
        (lambda m: [1.0], lambda m: [1.0, 2.0], {}),
    ]
    for make_a, make_b, kw in cases:
        messages = []
        for m in (rt, torch):
            try:
                m.testing.assert_close(make_a(m), make_b(m), **kw)
                messages.append(None)
            except AssertionError as e:
                messages.append(str(e).replace("rustorch.", "").replace("torch.", ""))
        assert messages[0] is not None and messages[0] == messages[1]


def test_assert_close_passes_and_validates_tolerances():
    rt.testing.assert_close(rt.tensor([1.0, 2.0]), rt.tensor([1.0, 2.0 + 1e-6]))
    rt.testing.assert_close(rt.tensor([float("nan")]), rt.tensor([float("nan")]),
                            equal_nan=True)
    rt.testing.assert_close(rt.tensor([1.0]), rt.tensor([1.0], dtype=rt.float64),
                            check_dtype=False)
    with pytest.raises(ValueError, match="must be either specified or omitted"):
        rt.testing.assert_close(rt.zeros(2), rt.zeros(2), rtol=1e-3)
    with pytest.raises(TypeError, match="No comparison pair"):
        rt.testing.assert_close(rt.zeros(2), "ab")
    with pytest.raises(AssertionError, match="custom"):
        rt.testing.assert_close(rt.zeros(1), rt.ones(1), msg="custom")


def test_assert_allclose_is_deprecated_and_lenient_about_dtype():
    with pytest.warns(FutureWarning, match="assert_allclose"):
        rt.testing.assert_allclose(rt.tensor([1.0, 2.0]), [1.0, 2.0])
    with pytest.warns(FutureWarning), pytest.raises(AssertionError):
        rt.testing.assert_allclose(rt.tensor([1.0, 2.0]), [1.0, 3.0])


# ---------------------------------------------------------------- odds and ends ------

@pytest.mark.skipif(LIB_NAME != "rustorch", reason="PyTorch has complex and sparse tensors")
def test_complex_and_sparse_names_raise_not_implemented():
    for fn in [lambda: rt.view_as_complex(rt.zeros(2, 2)), lambda: rt.polar(rt.ones(1), rt.ones(1)),
               lambda: rt.sparse_coo_tensor([[0]], [1.0]), lambda: rt.zeros(2).to_sparse(),
               lambda: rt.stft(rt.zeros(8), 4), lambda: rt.spmm(rt.zeros(1, 1), rt.zeros(1, 1))]:
        with pytest.raises(NotImplementedError, match="not supported in rustorch"):
            fn()


def test_safe_globals_and_accelerator_device_index():
    class Config:
        """A user class registered for loading."""

    before = list(rt.serialization.get_safe_globals())
    with rt.serialization.safe_globals([Config]):
        assert Config in rt.serialization.get_safe_globals()
    assert rt.serialization.get_safe_globals() == before
    before_index = rt.accelerator.current_device_index() if rt.cuda.is_available() else None
    with rt.accelerator.device_index(None):
        inside = rt.accelerator.current_device_index() if rt.cuda.is_available() else None
    assert inside == before_index  # None changes nothing


@needs_torch
@pytest.mark.parametrize("method, dtype", [("char", "int8"), ("short", "int16"),
                                           ("byte", "uint8"), ("int", "int32")])
def test_narrow_integer_conversions_match_torch(method, dtype):
    values = [-200.7, -129.0, -1.5, 0.0, 127.9, 300.2, 40000.0]
    ours = getattr(rt.tensor(values, dtype=rt.float64), method)()
    theirs = getattr(torch.tensor(values, dtype=torch.float64), method)()
    assert str(ours.dtype) == f"{rt.__name__}.{dtype}"
    np.testing.assert_array_equal(to_np(ours), theirs.numpy())
    assert ours.type() == theirs.type()
    assert ours.element_size() == theirs.element_size()
    same = getattr(ours, method)()
    assert same.data_ptr() == ours.data_ptr()  # already of that dtype: self


@needs_torch
@pytest.mark.parametrize("dtype, value", [("int8", 128), ("int8", -129), ("int16", 32768),
                                          ("int16", 1e10)])
def test_narrow_integer_fill_overflow_raises_as_torch(dtype, value):
    with pytest.raises(RuntimeError) as ours:
        rt.full((2,), value, dtype=getattr(rt, dtype))
    with pytest.raises(RuntimeError) as theirs:
        torch.full((2,), value, dtype=getattr(torch, dtype))
    assert str(ours.value) == str(theirs.value)
