"""rustorch.nn: Module machinery, Parameter, containers, layers, activations, losses, init, utils.

Layers and losses are compared with PyTorch (weights copied from torch, same inputs, forward
values and gradients); reprs must equal PyTorch's once the library name is replaced. Where
PyTorch is absent the NumPy-reference tests still run.
"""

from __future__ import annotations

import copy
import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from conftest import (
    LIB_NAME,
    assert_matches_torch,
    assert_values,
    make_tensor,
    need_torch,
    rt,
    to_np,
    torch_or_none,
)

if not hasattr(rt, "nn"):
    pytest.skip(f"{LIB_NAME} has no nn package", allow_module_level=True)

nn = rt.nn
F = rt.nn.functional


# ---------------------------------------------------------------------------- helpers


def T(arr, requires_grad=False, dtype=None, lib=None):
    """A tensor of ``lib`` (default: the library under test) holding a copy of ``arr``."""
    return make_tensor(rt if lib is None else lib, np.asarray(arr), dtype, requires_grad)


def norm_repr(s: str) -> str:
    return s.replace(LIB_NAME + ".", "torch.")


def copy_from_torch(ours, theirs):
    """Load ``theirs``' state into ``ours`` (tensors converted through NumPy)."""
    sd = OrderedDict(
        (k, rt.from_numpy(np.array(v.detach().numpy(), copy=True)))
        for k, v in theirs.state_dict().items()
    )
    result = ours.load_state_dict(sd)
    assert not result.missing_keys and not result.unexpected_keys


def compare_with_torch(fn, arrays, grad_idx=(0,), rtol=1e-6, atol=1e-9, seed=0):
    """Run ``fn(lib, *tensors)`` in both libraries; compare outputs and input gradients."""
    torch = need_torch()
    outs, grads = [], []
    for lib in (rt, torch):
        ts = [
            make_tensor(lib, np.asarray(a), None, requires_grad=(i in grad_idx))
            for i, a in enumerate(arrays)
        ]
        out = fn(lib, *ts)
        if any(i in grad_idx for i in range(len(ts))):
            g = np.random.default_rng(seed).standard_normal(tuple(out.shape))
            (out * make_tensor(lib, g, str(out.dtype).rsplit(".", 1)[-1])).sum().backward()
        outs.append(out)
        grads.append([ts[i].grad for i in grad_idx])
    assert_matches_torch(outs[0], outs[1], rtol=rtol, atol=atol, msg="output:")
    for i, (a, b) in enumerate(zip(grads[0], grads[1])):
        if b is None:
            assert a is None, f"grad {i} should be None"
        else:
            assert a is not None, f"grad {i} is None"
            assert_matches_torch(a, b, rtol=rtol, atol=atol, msg=f"grad {i}:")
    return outs[0]


def rand(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


# ---------------------------------------------------------------------------- Parameter


def test_parameter_is_a_leaf_tensor_subclass_sharing_data():
    base = T(np.arange(3.0), dtype="float32")
    p = nn.Parameter(base)
    assert isinstance(p, rt.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert not base.requires_grad, "wrapping must not change the source tensor"
    with rt.no_grad():
        p.mul_(2)
    assert_values(to_np(base), np.arange(3.0, dtype=np.float32) * 2)  # shares storage
    q = nn.Parameter(base, requires_grad=False)
    assert not q.requires_grad and isinstance(q, nn.Parameter)
    empty = nn.Parameter()
    assert tuple(empty.shape) == (0,) and empty.requires_grad


def test_parameter_repr_pickle_deepcopy():
    p = nn.Parameter(T([[1.0, 2.0], [3.0, 4.0]], dtype="float32"))
    assert repr(p).startswith("Parameter containing:\ntensor([[1., 2.],")
    assert repr(p).endswith("requires_grad=True)")
    for requires_grad in (True, False):
        src = nn.Parameter(T([1.5, -2.0], dtype="float32"), requires_grad=requires_grad)
        back = pickle.loads(pickle.dumps(src))
        assert type(back) is nn.Parameter
        assert back.requires_grad == requires_grad
        assert_values(to_np(back), to_np(src))
    d = copy.deepcopy(p)
    assert type(d) is nn.Parameter and d is not p and d.requires_grad
    assert_values(to_np(d), to_np(p))
    with rt.no_grad():
        d.zero_()
    assert to_np(p)[0, 0] == 1.0, "deepcopy must not share storage"


def test_parameter_grad_flows():
    p = nn.Parameter(T([1.0, 2.0, 3.0], dtype="float32"))
    (p * p).sum().backward()
    assert_values(to_np(p.grad), np.array([2.0, 4.0, 6.0], dtype=np.float32))


# ---------------------------------------------------------------------------- Module basics


def make_net(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.nn.Parameter(lib.ones(2))
            self.register_buffer("b", lib.zeros(2))
            self.register_buffer("c", lib.zeros(1), persistent=False)
            self.sub = lib.nn.Linear(2, 3)
            self.seq = lib.nn.Sequential(lib.nn.Linear(3, 3), lib.nn.ReLU())
            self.plain = 5

        def forward(self, x):
            return self.seq(self.sub(x * self.a + self.b))

    return Net()


def test_registration_and_iteration_order():
    net = make_net(rt)
    assert [n for n, _ in net.named_parameters()] == [
        "a", "sub.weight", "sub.bias", "seq.0.weight", "seq.0.bias",
    ]
    assert [n for n, _ in net.named_buffers()] == ["b", "c"]
    assert list(net.state_dict().keys()) == [
        "a", "b", "sub.weight", "sub.bias", "seq.0.weight", "seq.0.bias",
    ]
    assert [n for n, _ in net.named_children()] == ["sub", "seq"]
    assert [n for n, _ in net.named_modules()] == ["", "sub", "seq", "seq.0", "seq.1"]
    assert len(list(net.modules())) == 5 and len(list(net.children())) == 2
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.plain == 5 and "plain" not in net._parameters
    if torch_or_none is not None:
        theirs = make_net(torch_or_none)
        assert [n for n, _ in net.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        assert list(net.state_dict()) == list(theirs.state_dict())
        assert [n for n, _ in net.named_modules()] == [n for n, _ in theirs.named_modules()]


def test_state_dict_values_are_detached_and_keep_vars():
    net = make_net(rt)
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert not sd["a"].requires_grad
    assert_values(to_np(sd["a"]), to_np(net.a))
    kept = net.state_dict(keep_vars=True)
    assert kept["a"] is net.a
    prefixed = net.state_dict(prefix="model.")
    assert list(prefixed)[0] == "model.a"


def test_shared_modules_and_parameters_are_deduplicated():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3
    assert len(list(seq.named_modules(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_setattr_getattr_delattr_semantics():
    net = make_net(rt)
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        net.nope  # noqa: B018
    # assigning a plain tensor to a parameter slot is refused
    with pytest.raises(TypeError) as info:
        net.a = rt.zeros(2)
    assert norm_repr(str(info.value)) == (
        "cannot assign 'torch.FloatTensor' as parameter 'a' (torch.nn.Parameter or None expected)"
    )
    # None is allowed and removes the parameter from iteration
    net.a = None
    assert "a" not in dict(net.named_parameters())
    # a new Parameter attribute registers itself; a tensor attribute to a buffer name updates it
    net.extra = nn.Parameter(rt.zeros(1))
    assert "extra" in dict(net.named_parameters())
    net.b = rt.ones(2)
    assert_values(to_np(net.b), np.ones(2, np.float32))
    assert "b" in net._buffers
    with pytest.raises(TypeError):
        net.sub = 3  # not a Module
    del net.sub
    assert "sub" not in net._modules
    net.sub = nn.Identity()
    assert isinstance(net._modules["sub"], nn.Identity)
    del net.extra
    assert "extra" not in dict(net.named_parameters())
    net.plain = 7
    del net.plain
    assert not hasattr(net, "plain")


def test_registration_errors():
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="be empty string"):
        m.register_buffer("", None)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    m.foo = 1
    with pytest.raises(KeyError, match="attribute 'foo' already exists"):
        m.register_buffer("foo", rt.zeros(1))
    with pytest.raises(TypeError, match="torch.nn.Parameter or None required"):
        m.register_parameter("w", rt.zeros(1))
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        m(rt.zeros(1))


def test_train_eval_apply_requires_grad_zero_grad():
    net = make_net(rt)
    assert net.training
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")

    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "Linear", "ReLU", "Sequential", "Net"]

    out = net(rt.ones(4, 2)).sum()
    out.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(float(np.abs(to_np(p.grad)).sum()) == 0.0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())

    net.requires_grad_(False)
    assert all(not p.requires_grad for p in net.parameters())


def check_forward_hooks(lib):
    lin = lib.nn.Linear(3, 2)
    x = make_tensor(lib, np.ones((1, 3), np.float32))
    base = to_np(lin(x))
    order = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    h2 = lin.register_forward_hook(lambda m, args, out: out + 1)
    h3 = lin.register_forward_hook(lambda m, args, out: order.append("late"))
    h4 = lin.register_forward_hook(lambda m, args, out: order.append("early"), prepend=True)
    doubled = to_np(lin.weight) @ np.full(3, 2.0, np.float32) + to_np(lin.bias)
    assert_values(to_np(lin(x))[0], doubled + 1, rtol=1e-5, atol=1e-6)
    assert order == ["early", "late"]
    for h in (h1, h2, h3, h4):
        h.remove()
    assert_values(to_np(lin(x)), base)

    seen = {}

    def kw_pre(m, args, kwargs):
        seen["kwargs"] = dict(kwargs)
        return args, kwargs

    h = lin.register_forward_pre_hook(kw_pre, with_kwargs=True)
    lin(x)
    assert seen["kwargs"] == {}
    h.remove()

    class Boom(lib.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    boom = Boom()
    called = []
    boom.register_forward_hook(lambda m, a, o: called.append(1), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        boom(x)
    assert called == [1]


def test_forward_hooks():
    check_forward_hooks(rt)
    if torch_or_none is not None:
        check_forward_hooks(torch_or_none)


def test_load_state_dict_strict_errors_match_pytorch():
    ours = make_net(rt)
    sd = ours.state_dict()
    bad = OrderedDict(sd)
    del bad["sub.bias"]
    bad["junk"] = rt.zeros(1)
    bad["sub.weight"] = rt.zeros(5, 5)
    with pytest.raises(RuntimeError) as info:
        ours.load_state_dict(bad)
    msg = norm_repr(str(info.value))
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\t")
    assert 'Missing key(s) in state_dict: "sub.bias". ' in msg
    assert 'Unexpected key(s) in state_dict: "junk". ' in msg
    assert "size mismatch for sub.weight: copying a param with shape" in msg
    if torch_or_none is not None:
        theirs = make_net(torch_or_none)
        tbad = OrderedDict(theirs.state_dict())
        del tbad["sub.bias"]
        tbad["junk"] = torch_or_none.zeros(1)
        tbad["sub.weight"] = torch_or_none.zeros(5, 5)
        with pytest.raises(RuntimeError) as tinfo:
            theirs.load_state_dict(tbad)
        assert msg == str(tinfo.value)

    ok = ours.load_state_dict(ours.state_dict())
    assert repr(ok) == "<All keys matched successfully>"
    loose = OrderedDict(sd)
    del loose["a"]
    loose["zzz"] = rt.zeros(1)
    result = ours.load_state_dict(loose, strict=False)
    assert result.missing_keys == ["a"] and result.unexpected_keys == ["zzz"]


def test_load_state_dict_copies_in_place():
    lin = nn.Linear(3, 2)
    w = lin.weight
    new = OrderedDict(weight=rt.ones(2, 3), bias=rt.zeros(2))
    lin.load_state_dict(new)
    assert lin.weight is w
    assert_values(to_np(lin.weight), np.ones((2, 3), np.float32))
    assert lin.weight.requires_grad
    lin.load_state_dict(OrderedDict(weight=rt.full((2, 3), 3.0), bias=rt.zeros(2)), assign=True)
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad
    assert_values(to_np(lin.weight), np.full((2, 3), 3.0, np.float32))


def test_module_to_float_double():
    m = nn.Linear(3, 2)
    m.register_buffer("count", rt.tensor([1, 2]))
    w = m.weight
    assert m.to("cpu") is m
    assert m.weight is w, "a no-op conversion keeps the parameter objects"
    m.double()
    assert str(m.weight.dtype).endswith("float64") and str(m.bias.dtype).endswith("float64")
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad and m.weight.is_leaf
    assert str(m.count.dtype).endswith("int64"), "integer buffers are not cast"
    assert_values(to_np(m.weight), to_np(w).astype(np.float64))
    m.to(rt.float32)
    assert str(m.weight.dtype).endswith("float32")
    m.to(dtype=rt.float64)
    assert str(m.weight.dtype).endswith("float64")
    m.float()
    assert str(m.weight.dtype).endswith("float32")
    out = m(rt.ones(1, 3))
    assert str(out.dtype).endswith("float32")
    with pytest.raises(TypeError) as info:
        m.to(rt.int64)
    assert norm_repr(str(info.value)) == (
        "nn.Module.to only accepts floating point or complex dtypes, but got desired "
        "dtype=torch.int64"
    )
    if not rt.cuda.is_available():
        with pytest.raises((RuntimeError, AssertionError)):
            m.cuda()


def test_pickle_and_deepcopy_model():
    rt.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))
    model.eval()
    x = rt.randn(3, 4)
    expected = to_np(model(x))
    back = pickle.loads(pickle.dumps(model))
    assert type(back[0].weight) is nn.Parameter and back[0].weight.requires_grad
    assert not back.training
    assert_values(to_np(back(x)), expected)
    assert repr(back) == repr(model)
    dup = copy.deepcopy(model)
    assert dup[0].weight is not model[0].weight
    assert_values(to_np(dup(x)), expected)


# ---------------------------------------------------------------------------- containers


def test_sequential_api():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c
    assert list(seq) == [a, b, c]
    sl = seq[1:]
    assert isinstance(sl, nn.Sequential) and len(sl) == 2 and sl[0] is b
    assert [n for n, _ in sl.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        seq[5]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and seq[1] is a
    popped = seq.pop(0)
    assert isinstance(popped, nn.Identity) and seq[0] is a
    del seq[-1]
    assert len(seq) == 3 and [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    seq.extend([nn.Tanh()])
    assert len(seq) == 4
    seq[3] = nn.Identity()
    assert isinstance(seq[3], nn.Identity)
    both = nn.Sequential(a) + nn.Sequential(c)
    assert len(both) == 2
    named = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
    assert named.first is a and [n for n, _ in named.named_children()] == ["first", "second"]
    x = rt.ones(4, 2)
    assert_values(to_np(nn.Sequential(a, b, c)(x)), to_np(c(b(a(x)))))


def test_modulelist_moduledict_parameterlist():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert [type(m).__name__ for m in layers] == [
        "Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh",
    ]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    del layers[0]
    assert type(layers[0]).__name__ == "Linear"
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        layers.extend(3)

    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    md.update({"c": nn.Tanh()})
    md["d"] = nn.Identity()
    assert list(md) == ["a", "b", "c", "d"]
    assert isinstance(md.pop("b"), nn.ReLU) and "b" not in md
    assert len(list(md.parameters())) == 2

    pl = nn.ParameterList([rt.zeros(2), nn.Parameter(rt.ones(3), requires_grad=False)])
    assert all(isinstance(p, nn.Parameter) for p in pl)
    assert pl[0].requires_grad and not pl[1].requires_grad
    pl.append(rt.ones(1))
    assert len(pl) == 3 and len(list(pl.parameters())) == 3
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        pl()


def build_repr_model(lib):
    tnn = lib.nn

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tnn.Linear(4, 4)
            self.act = tnn.GELU(approximate="tanh")

        def extra_repr(self):
            return "custom=1"

        def forward(self, x):
            return self.act(self.fc(x))

    return tnn.Sequential(
        OrderedDict(
            [
                ("fc1", tnn.Linear(784, 128)),
                ("act", tnn.ReLU()),
                ("drop", tnn.Dropout(0.2)),
                ("blocks", tnn.ModuleList([tnn.Linear(128, 128) for _ in range(3)] + [Block()])),
                (
                    "heads",
                    tnn.ModuleDict({"a": tnn.Linear(128, 10, bias=False), "b": tnn.Identity()}),
                ),
                ("flat", tnn.Flatten()),
                ("unflat", tnn.Unflatten(1, (2, 5))),
                (
                    "acts",
                    tnn.Sequential(
                        tnn.LeakyReLU(0.2, inplace=True),
                        tnn.ReLU(inplace=True),
                        tnn.ELU(alpha=0.5),
                        tnn.SiLU(),
                        tnn.Sigmoid(),
                        tnn.Tanh(),
                        tnn.Softmax(dim=1),
                        tnn.LogSoftmax(dim=-1),
                        tnn.Softplus(beta=2.0, threshold=10.0),
                        tnn.Hardtanh(-2.0, 2.0),
                        tnn.ReLU6(),
                        tnn.GELU(),
                        tnn.Dropout(p=0.5, inplace=True),
                    ),
                ),
                ("bil", tnn.Bilinear(3, 4, 5)),
                ("losses", tnn.ModuleList([tnn.CrossEntropyLoss(), tnn.MSELoss(), tnn.BCELoss()])),
                ("plist", tnn.ParameterList([tnn.Parameter(lib.zeros(2, 3)), lib.ones(4)])),
                ("empty", tnn.ModuleList()),
            ]
        )
    )


def test_repr_matches_pytorch():
    ours = repr(build_repr_model(rt))
    assert "(fc1): Linear(in_features=784, out_features=128, bias=True)" in ours
    assert "(0-2): 3 x Linear(in_features=128, out_features=128, bias=True)" in ours
    torch = need_torch()
    assert norm_repr(ours) == repr(build_repr_model(torch))


def test_repr_of_simple_mlp():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=784, out_features=128, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=128, out_features=10, bias=True)\n"
        ")"
    )


# ---------------------------------------------------------------------------- layers


def test_linear_init_bounds_and_seeding():
    rt.manual_seed(123)
    lin = nn.Linear(50, 20)
    w, b = to_np(lin.weight), to_np(lin.bias)
    bound = 1 / math.sqrt(50)
    assert w.shape == (20, 50) and b.shape == (20,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.8 * bound  # actually spread over the range
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.01
    rt.manual_seed(123)
    again = nn.Linear(50, 20)
    assert_values(to_np(again.weight), w)
    assert_values(to_np(again.bias), b)
    assert nn.Linear(3, 2, bias=False).bias is None


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (7,)])
def test_linear_matches_pytorch(bias, shape):
    torch = need_torch()
    theirs = torch.nn.Linear(7, 4, bias=bias).double()
    ours = nn.Linear(7, 4, bias=bias).double()
    copy_from_torch(ours, theirs)
    x = rand(*shape, seed=1)
    compare_with_torch(
        lambda lib, t: (ours if lib is rt else theirs)(t), [x], grad_idx=(0,)
    )
    # parameter gradients too
    for lib, m in ((rt, ours), (torch, theirs)):
        m.zero_grad()
        out = m(make_tensor(lib, x))
        (out * out).sum().backward()
    assert_values(to_np(ours.weight.grad), to_np(theirs.weight.grad), rtol=1e-9, atol=1e-12)
    if bias:
        assert_values(to_np(ours.bias.grad), to_np(theirs.bias.grad), rtol=1e-9, atol=1e-12)


def test_linear_numpy_reference():
    lin = nn.Linear(3, 2)
    x = rand(4, 3, seed=2).astype(np.float32)
    expected = x @ to_np(lin.weight).T + to_np(lin.bias)
    assert_values(to_np(lin(T(x))), expected, rtol=1e-5, atol=1e-6)


def test_bilinear_matches_pytorch():
    torch = need_torch()
    theirs = torch.nn.Bilinear(3, 4, 5).double()
    ours = nn.Bilinear(3, 4, 5).double()
    copy_from_torch(ours, theirs)
    x1, x2 = rand(6, 3, seed=3), rand(6, 4, seed=4)
    compare_with_torch(
        lambda lib, a, b: (ours if lib is rt else theirs)(a, b), [x1, x2], grad_idx=(0, 1)
    )
    compare_with_torch(
        lambda lib, a, b, w, bias: lib.nn.functional.bilinear(a, b, w, bias),
        [rand(2, 3, 3, seed=5), rand(2, 3, 4, seed=6), rand(5, 3, 4, seed=7), rand(5, seed=8)],
        grad_idx=(0, 1, 2, 3),
    )


def test_flatten_unflatten():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    assert tuple(nn.Flatten()(T(x)).shape) == (2, 60)
    assert tuple(nn.Flatten(0, 2)(T(x)).shape) == (24, 5)
    assert tuple(nn.Flatten(-2)(T(x)).shape) == (2, 3, 20)
    assert tuple(nn.Unflatten(1, (3, 1))(T(x)).shape) == (2, 3, 1, 4, 5)
    assert tuple(nn.Unflatten(-1, [5, 1])(T(x)).shape) == (2, 3, 4, 5, 1)
    assert_values(to_np(nn.Flatten()(T(x))), x.reshape(2, 60))
    with pytest.raises(TypeError):
        nn.Unflatten(1, 3)
    if torch_or_none is not None:
        compare_with_torch(lambda lib, t: lib.nn.Flatten(1, 2)(t), [x.astype(np.float64)])


def test_identity():
    x = T([1.0, 2.0])
    assert nn.Identity(3, foo=1)(x) is x


ACTIVATIONS = [
    ("ReLU", {}),
    ("ReLU", {"inplace": True}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.2, "inplace": True}),
    ("ELU", {"alpha": 0.7}),
    ("ELU", {"inplace": True}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": 0}),
    ("LogSoftmax", {"dim": 1}),
    ("LogSoftmax", {"dim": -1}),
    ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}),
    ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 0.7, "inplace": True}),
    ("ReLU6", {}),
]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS)
def test_activation_modules_match_pytorch(name, kwargs):
    x = rand(5, 6, seed=11, scale=3.0)
    # in-place variants run on a non-leaf copy, as in a real network
    compare_with_torch(lambda lib, t: getattr(lib.nn, name)(**kwargs)(t * 1.0), [x])
    torch = need_torch()
    assert norm_repr(repr(getattr(nn, name)(**kwargs))) == repr(getattr(torch.nn, name)(**kwargs))


@pytest.mark.parametrize(
    "fn, kwargs",
    [
        ("relu", {}),
        ("leaky_relu", {"negative_slope": 0.3}),
        ("elu", {"alpha": 2.0}),
        ("gelu", {"approximate": "none"}),
        ("silu", {}),
        ("softplus", {"beta": 0.5, "threshold": 5.0}),
        ("hardtanh", {"min_val": -2.0, "max_val": 1.0}),
        ("relu6", {}),
        ("softmax", {"dim": -1}),
        ("log_softmax", {"dim": 0}),
        ("sigmoid", {}),
        ("tanh", {}),
    ],
)
def test_functional_activations_match_pytorch(fn, kwargs):
    x = rand(4, 7, seed=12, scale=4.0)
    compare_with_torch(lambda lib, t: getattr(lib.nn.functional, fn)(t, **kwargs), [x])


def test_activation_numpy_references():
    x = np.linspace(-30, 30, 60)
    t = T(x)
    assert_values(to_np(F.relu(t)), np.maximum(x, 0))
    assert_values(to_np(F.leaky_relu(t, 0.1)), np.where(x > 0, x, 0.1 * x))
    assert_values(to_np(F.elu(t)), np.where(x > 0, x, np.expm1(np.minimum(x, 0))), atol=1e-12)
    assert_values(to_np(F.hardtanh(t)), np.clip(x, -1, 1))
    assert_values(to_np(F.softplus(t)), np.where(x > 20, x, np.log1p(np.exp(x))))
    sm = to_np(F.softmax(T(x.reshape(3, -1)), dim=1))
    assert_values(sm.sum(1), np.ones(3))
    # ELU has a finite gradient even where exp would overflow
    big = T([100.0, -100.0], requires_grad=True)
    F.elu(big).sum().backward()
    assert np.isfinite(to_np(big.grad)).all()


def test_softmax_implicit_dim_warns():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        F.softmax(T(np.ones((2, 3))))


def test_inplace_relu_modifies_input_where_supported():
    x = T([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert_values(to_np(y), np.array([0.0, 2.0]))
    if hasattr(x, "relu_"):
        assert y is x


def test_dropout():
    rt.manual_seed(0)
    x = rt.ones(200, 100)
    drop = nn.Dropout(0.3)
    y = to_np(drop(x))
    zeros = (y == 0).mean()
    assert 0.27 < zeros < 0.33
    assert_values(np.unique(y), np.array([0.0, 1 / 0.7], dtype=np.float32), rtol=1e-6)
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert float(to_np(F.dropout(x, 1.0)).sum()) == 0.0
    with pytest.raises(ValueError, match="has to be between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)
    # gradient is the same mask
    xg = rt.ones(50, 50, requires_grad=True)
    out = F.dropout(xg, 0.5)
    out.sum().backward()
    assert_values(to_np(xg.grad), to_np(out.detach()))
    # in place
    z = rt.ones(10, 10)
    assert F.dropout(z, 0.5, inplace=True) is z
    # repeatable under manual_seed
    rt.manual_seed(7)
    a = to_np(F.dropout(x, 0.5))
    rt.manual_seed(7)
    b = to_np(F.dropout(x, 0.5))
    assert_values(a, b)


def test_one_hot():
    t = rt.tensor([0, 2, 1, 2])
    out = F.one_hot(t)
    assert str(out.dtype).endswith("int64")
    assert_values(to_np(out), np.eye(3, dtype=np.int64)[[0, 2, 1, 2]])
    assert tuple(F.one_hot(rt.tensor([[1], [0]]), num_classes=4).shape) == (2, 1, 4)
    with pytest.raises(RuntimeError):
        F.one_hot(rt.tensor([0, 5]), num_classes=3)
    if torch_or_none is not None:
        tt = torch_or_none.tensor([0, 2, 1, 2])
        assert_values(to_np(out), to_np(torch_or_none.nn.functional.one_hot(tt)))


# ---------------------------------------------------------------------------- losses


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("mse_loss", {}),
        ("l1_loss", {}),
        ("smooth_l1_loss", {}),
        ("smooth_l1_loss", {"beta": 0.5}),
        ("smooth_l1_loss", {"beta": 0.0}),
        ("huber_loss", {}),
        ("huber_loss", {"delta": 0.3}),
    ],
)
def test_regression_losses_match_pytorch(name, kwargs, reduction):
    x, y = rand(4, 5, seed=1, scale=2.0), rand(4, 5, seed=2)
    compare_with_torch(
        lambda lib, a, b: getattr(lib.nn.functional, name)(a, b, reduction=reduction, **kwargs),
        [x, y],
        grad_idx=(0, 1),
    )


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(name):
    torch = need_torch()
    if "weight" not in torch.nn.functional.mse_loss.__code__.co_varnames:
        pytest.skip("this PyTorch has no weight= for regression losses")
    x, y, w = rand(3, 4, seed=1), rand(3, 4, seed=2), np.abs(rand(3, 4, seed=3))
    for reduction in REDUCTIONS:
        compare_with_torch(
            lambda lib, a, b, c, r=reduction: getattr(lib.nn.functional, name)(
                a, b, reduction=r, weight=c
            ),
            [x, y, w],
            grad_idx=(0,),
        )


def test_regression_loss_numpy_reference():
    x, y = rand(3, 4, seed=1), rand(3, 4, seed=2)
    assert_values(to_np(F.mse_loss(T(x), T(y))), np.mean((x - y) ** 2))
    assert_values(to_np(F.l1_loss(T(x), T(y), reduction="sum")), np.abs(x - y).sum())
    z = np.abs(x - y)
    assert_values(
        to_np(F.smooth_l1_loss(T(x), T(y), reduction="none")),
        np.where(z < 1, 0.5 * z * z, z - 0.5),
    )
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(T(rand(3, 1)), T(rand(3)))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(T(x), T(y), reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_class_indices(reduction, weighted, ignore, smoothing):
    x = rand(8, 5, seed=3, scale=2.0)
    y = np.random.default_rng(4).integers(0, 5, 8)
    if ignore:
        y[[1, 5]] = 3
    w = np.abs(rand(5, seed=5)) + 0.1
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore:
        kwargs["ignore_index"] = 3
    arrays = [x, y] + ([w] if weighted else [])

    def fn(lib, logits, target, *rest):
        return lib.nn.functional.cross_entropy(
            logits, target, weight=rest[0] if rest else None, **kwargs
        )

    compare_with_torch(fn, arrays, grad_idx=(0,))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_fused_backward_on_long_rows_and_special_logits(dtype):
    """The backward's one-kernel path (no label smoothing, not recorded): a language model's
    10 000-logit rows split between threads, ignored and weighted rows, and rows holding
    NaN, +inf and only -inf, against PyTorch."""
    torch = need_torch()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((70, 10000)).astype(dtype) * 3
    y = rng.integers(0, 10000, 70)
    y[[3, 40]] = -100
    w = (np.abs(rng.standard_normal(10000)) + 0.1).astype(dtype)
    for weight in (None, w):
        grads = []
        for lib in (rt, torch):
            xt = lib.tensor(x, requires_grad=True)
            wt = None if weight is None else lib.tensor(weight)
            loss = lib.nn.functional.cross_entropy(xt, lib.tensor(y), weight=wt)
            (loss * 3.0).backward()
            grads.append(to_np(xt.grad))
        tol = 1e-6 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(grads[0], grads[1], rtol=tol, atol=tol)
    inf = np.inf
    special = np.array(
        [[1.0, np.nan, 2.0], [-inf, -inf, -inf], [inf, 0.0, 1.0], [0.5, -inf, 3.0]], dtype
    )
    target = np.array([0, 1, 2, 1])
    grads = []
    for lib in (rt, torch):
        xt = lib.tensor(special, requires_grad=True)
        lib.nn.functional.cross_entropy(xt, lib.tensor(target), reduction="sum").backward()
        grads.append(to_np(xt.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-7)


def test_cross_entropy_gradgradcheck_without_smoothing():
    """A recorded backward (create_graph=True) takes the composite path, which
    differentiates again."""
    x = rt.tensor(rand(4, 6, seed=12), dtype=rt.float64, requires_grad=True)
    y = rt.tensor([0, 5, 2, -100])
    w = rt.tensor(np.abs(rand(6, seed=13)) + 0.1, dtype=rt.float64)

    def f(x):
        return F.cross_entropy(x, y, weight=w)

    assert rt.autograd.gradcheck(f, (x,))
    assert rt.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_higher_dims_and_unbatched(reduction):
    x = rand(2, 4, 3, 2, seed=6)
    y = np.random.default_rng(7).integers(0, 4, (2, 3, 2))
    compare_with_torch(
        lambda lib, a, b: lib.nn.functional.cross_entropy(a, b, reduction=reduction), [x, y]
    )
    compare_with_torch(
        lambda lib, a, b: lib.nn.functional.cross_entropy(a, b, reduction=reduction),
        [rand(6, seed=8), np.array(4)],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_probabilities(reduction, weighted, smoothing):
    x = rand(6, 4, seed=9)
    p = np.random.default_rng(10).random((6, 4))
    p /= p.sum(1, keepdims=True)
    w = np.abs(rand(4, seed=11)) + 0.1
    arrays = [x, p] + ([w] if weighted else [])
    compare_with_torch(
        lambda lib, a, b, *rest: lib.nn.functional.cross_entropy(
            a, b, weight=rest[0] if rest else None, reduction=reduction,
            label_smoothing=smoothing,
        ),
        arrays,
        grad_idx=(0, 1),
    )


def test_cross_entropy_numpy_reference_and_module():
    x = rand(5, 3, seed=12)
    y = np.array([0, 2, 1, 1, 0])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    expected = -logp[np.arange(5), y].mean()
    assert_values(to_np(F.cross_entropy(T(x), T(y))), np.array(expected))
    loss = nn.CrossEntropyLoss()
    assert_values(to_np(loss(T(x), T(y))), np.array(expected))
    assert_values(to_np(F.nll_loss(T(logp), T(y))), np.array(expected))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(5\) to match target"):
        F.cross_entropy(T(x), T(y[:3]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_pytorch(reduction, weighted):
    x = rand(7, 4, seed=13)
    y = np.random.default_rng(14).integers(0, 4, 7)
    y[2] = -100
    w = np.abs(rand(4, seed=15)) + 0.1
    compare_with_torch(
        lambda lib, a, b, *rest: lib.nn.functional.nll_loss(
            lib.nn.functional.log_softmax(a, dim=1), b, weight=rest[0] if rest else None,
            reduction=reduction,
        ),
        [x, y] + ([w] if weighted else []),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_pytorch(reduction, weighted):
    rng = np.random.default_rng(16)
    p = rng.uniform(0.05, 0.95, (4, 3))
    t = rng.random((4, 3))
    w = rng.random((4, 3)) + 0.5
    compare_with_torch(
        lambda lib, a, b, *rest: lib.nn.functional.binary_cross_entropy(
            a, b, weight=rest[0] if rest else None, reduction=reduction
        ),
        [p, t] + ([w] if weighted else []),
        grad_idx=(0,),
    )


def test_binary_cross_entropy_edges():
    # log clamped at -100 like PyTorch, so p in {0, 1} gives finite losses
    out = F.binary_cross_entropy(T([0.0, 1.0]), T([1.0, 0.0]), reduction="none")
    assert_values(to_np(out), np.array([100.0, 100.0]))
    with pytest.raises(ValueError, match="Using a target size"):
        F.binary_cross_entropy(T([0.5, 0.5]), T([1.0]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(T([1.5]), T([1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_with_logits_matches_pytorch(reduction, weighted, pos_weighted):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((5, 3)) * 10  # includes large logits
    t = rng.random((5, 3))
    w = rng.random((5, 3)) + 0.5
    pw = rng.random(3) + 0.5
    arrays = [x, t, w, pw]

    def fn(lib, a, b, c, d):
        return lib.nn.functional.binary_cross_entropy_with_logits(
            a, b, weight=c if weighted else None, pos_weight=d if pos_weighted else None,
            reduction=reduction,
        )

    compare_with_torch(fn, arrays, grad_idx=(0, 1))


@pytest.mark.parametrize("reduction", ["sum", "none", "batchmean", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_pytorch(reduction, log_target):
    rng = np.random.default_rng(18)
    inp = np.log(rng.dirichlet(np.ones(4), 3))
    tgt = rng.dirichlet(np.ones(4), 3)
    tgt[0, 1] = 0.0  # xlogy(0, 0) == 0
    if log_target:
        tgt = np.log(tgt + 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare_with_torch(
            lambda lib, a, b: lib.nn.functional.kl_div(
                a, b, reduction=reduction, log_target=log_target
            ),
            [inp, tgt],
        )
    if reduction == "mean":
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            F.kl_div(T(inp), T(tgt), reduction="mean")


@pytest.mark.parametrize(
    "cls, kwargs, kind",
    [
        ("L1Loss", {}, "reg"),
        ("MSELoss", {}, "reg"),
        ("SmoothL1Loss", {"beta": 0.5}, "reg"),
        ("HuberLoss", {"delta": 0.5}, "reg"),
        ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 1}, "cls"),
        ("NLLLoss", {}, "cls"),
        ("BCELoss", {}, "prob"),
        ("BCEWithLogitsLoss", {}, "logit"),
        ("KLDivLoss", {"log_target": True}, "reg"),
    ],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_loss_modules_match_pytorch(cls, kwargs, kind, reduction):
    rng = np.random.default_rng(19)
    if kind == "cls":
        arrays = [rng.standard_normal((6, 4)), rng.integers(0, 4, 6)]
    elif kind == "prob":
        arrays = [rng.uniform(0.1, 0.9, (6, 4)), rng.random((6, 4))]
    else:
        arrays = [rng.standard_normal((6, 4)), rng.standard_normal((6, 4))]
    compare_with_torch(
        lambda lib, a, b: getattr(lib.nn, cls)(reduction=reduction, **kwargs)(a, b), arrays
    )
    torch = need_torch()
    assert norm_repr(repr(getattr(nn, cls)(**kwargs))) == repr(getattr(torch.nn, cls)(**kwargs))


def test_loss_module_buffers_and_legacy_args():
    w = rt.ones(3)
    ce = nn.CrossEntropyLoss(weight=w)
    assert list(ce.state_dict()) == ["weight"]
    bce = nn.BCEWithLogitsLoss(pos_weight=rt.ones(2))
    assert list(bce._buffers) == ["weight", "pos_weight"]
    assert [n for n, _ in bce.named_buffers()] == ["pos_weight"]  # None buffers are skipped
    assert list(bce.state_dict()) == ["pos_weight"]
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        legacy = nn.MSELoss(size_average=False)
    assert legacy.reduction == "sum"


# ---------------------------------------------------------------------------- init


def test_calculate_gain_matches_pytorch():
    cases = [
        ("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None),
    ]
    expected = {
        ("linear", None): 1, ("sigmoid", None): 1, ("tanh", None): 5.0 / 3,
        ("relu", None): math.sqrt(2.0), ("leaky_relu", None): math.sqrt(2.0 / (1 + 0.01**2)),
        ("leaky_relu", 0.2): math.sqrt(2.0 / 1.04), ("leaky_relu", math.sqrt(5)): math.sqrt(1 / 3),
        ("selu", None): 0.75,
    }
    for name, param in cases:
        assert nn.init.calculate_gain(name, param) == pytest.approx(expected[(name, param)])
        if torch_or_none is not None:
            assert nn.init.calculate_gain(name, param) == torch_or_none.nn.init.calculate_gain(
                name, param
            )
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        nn.init.calculate_gain("foo")


def test_init_functions():
    rt.manual_seed(0)
    w = rt.empty(200, 300)
    assert nn.init.uniform_(w, -0.5, 0.5) is w
    a = to_np(w)
    assert a.min() >= -0.5 and a.max() <= 0.5 and abs(a.mean()) < 0.01
    nn.init.normal_(w, 1.0, 0.1)
    assert abs(to_np(w).mean() - 1.0) < 0.01 and abs(to_np(w).std() - 0.1) < 0.01
    nn.init.constant_(w, 0.25)
    assert (to_np(w) == 0.25).all()
    nn.init.zeros_(w)
    assert (to_np(w) == 0).all()
    nn.init.ones_(w)
    assert (to_np(w) == 1).all()
    nn.init.xavier_uniform_(w)
    bound = math.sqrt(6.0 / 500)
    assert np.abs(to_np(w)).max() <= bound
    nn.init.xavier_normal_(w, gain=2.0)
    assert abs(to_np(w).std() - 2.0 * math.sqrt(2.0 / 500)) < 0.01
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(to_np(w)).max() <= math.sqrt(6.0 / 200)
    nn.init.kaiming_normal_(w)
    assert abs(to_np(w).std() - math.sqrt(2.0 / 300)) < 0.005
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(to_np(w)).max() <= 0.5
    e = rt.empty(3, 4)
    nn.init.eye_(e)
    assert_values(to_np(e), np.eye(3, 4, dtype=np.float32))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(rt.empty(3))
    p = nn.Parameter(rt.empty(3, 3))
    nn.init.kaiming_uniform_(p, a=math.sqrt(5))  # works on leaves requiring grad
    assert p.requires_grad and p.grad_fn is None


def test_init_with_seeded_generators_is_repeatable():
    draws = []
    for _ in range(2):
        g = rt.Generator().manual_seed(11)
        w = rt.empty(4, 5)
        nn.init.uniform_(w, -1.0, 1.0, generator=g)
        nn.init.normal_(b := rt.empty(3), 0.0, 2.0, generator=g)
        draws.append((to_np(w), to_np(b)))
    assert_values(draws[0][0], draws[1][0])
    assert_values(draws[0][1], draws[1][1])
    assert np.abs(draws[0][0]).max() <= 1.0


@pytest.mark.parametrize("shape", [(4, 4), (3, 6), (6, 3), (2, 3, 2)])
def test_orthogonal_init(shape):
    w = rt.empty(*shape)
    nn.init.orthogonal_(w, gain=2.0)
    flat = to_np(w).reshape(shape[0], -1).astype(np.float64) / 2.0
    if flat.shape[0] <= flat.shape[1]:
        assert_values(flat @ flat.T, np.eye(flat.shape[0]), atol=1e-5)
    else:
        assert_values(flat.T @ flat, np.eye(flat.shape[1]), atol=1e-5)


# ---------------------------------------------------------------------------- nn.utils


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    torch = need_torch()
    grads = [rand(3, 4, seed=20), rand(5, seed=21)]
    results = []
    for lib in (rt, torch):
        params = [lib.nn.Parameter(make_tensor(lib, np.zeros_like(g))) for g in grads]
        for p, g in zip(params, grads):
            p.grad = make_tensor(lib, g)
        total = lib.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        results.append((total, [p.grad for p in params]))
    assert_matches_torch(results[0][0], results[1][0], rtol=1e-12)
    for a, b in zip(results[0][1], results[1][1]):
        assert_matches_torch(a, b, rtol=1e-12)


def test_clip_grad_utils_numpy_reference():
    g = np.array([3.0, 4.0])
    p = nn.Parameter(T(np.zeros(2)))
    p.grad = T(g)
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert float(total.item()) == pytest.approx(5.0)
    assert_values(to_np(p.grad), g * (1.0 / (5.0 + 1e-6)))
    p.grad = T([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = T([-3.0, 0.2])
    assert nn.utils.clip_grad_value_([p], 0.5) is None
    assert_values(to_np(p.grad), np.array([-0.5, 0.2]))
    q = nn.Parameter(T(np.zeros(3)))
    assert float(nn.utils.clip_grad_norm_([q], 1.0).item()) == 0.0


def test_parameters_to_vector_round_trip():
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert tuple(vec.shape) == (8,)
    assert_values(to_np(vec), np.concatenate([to_np(lin.weight).ravel(), to_np(lin.bias)]))
    w = lin.weight
    nn.utils.vector_to_parameters(rt.arange(8.0), lin.parameters())
    assert_values(to_np(lin.weight), np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert_values(to_np(lin.bias), np.array([6.0, 7.0], dtype=np.float32))
    assert lin.weight is w and w.requires_grad
    with pytest.raises(TypeError, match="expected torch.Tensor, but got"):
        nn.utils.vector_to_parameters([1.0], lin.parameters())
