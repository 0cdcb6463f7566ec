"""Memory formats (``torch.channels_last``, ``preserve_format``, …) and the layouts of copies,
casts, ``*_like`` tensors and elementwise results, against PyTorch: the same strides, the same
values, the same errors."""

import pickle

import numpy as np
import pytest
import rustorch
import torch
from conftest import torch_is_oracle

FORMATS = ["contiguous_format", "preserve_format", "channels_last", "channels_last_3d"]


def both(make):
    """``make(lib)`` for PyTorch and rustorch, from the same data."""
    return make(torch), make(rustorch)


def _data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# Sources of several layouts: row-major, transposed, channels-last, sliced (not dense),
# expanded, with size-1 dims.
SOURCES = {
    "contiguous": lambda lib: lib.tensor(_data((2, 3, 4, 5))),
    "permuted": lambda lib: lib.tensor(_data((3, 4, 5))).permute(2, 0, 1),
    "transposed": lambda lib: lib.tensor(_data((4, 6))).t(),
    "channels_last": lambda lib: lib.tensor(_data((2, 3, 4, 5))).to(
        memory_format=lib.channels_last
    ),
    "sliced": lambda lib: lib.tensor(_data((2, 3, 4, 5)))[:, :, ::2],
    "sliced_permuted": lambda lib: lib.tensor(_data((3, 4, 5))).permute(2, 0, 1)[:, :, ::2],
    "expanded": lambda lib: lib.tensor(_data((3, 1, 5))).expand(3, 4, 5),
    "size_one": lambda lib: lib.tensor(_data((2, 1, 4, 5))).to(memory_format=lib.channels_last),
    "channels_last_3d": lambda lib: lib.tensor(_data((2, 3, 2, 4, 5))).to(
        memory_format=lib.channels_last_3d
    ),
}


def _same(t, r):
    assert tuple(r.shape) == tuple(t.shape)
    assert r.stride() == t.stride(), (r.stride(), t.stride())
    assert r.dtype.itemsize == t.dtype.itemsize
    np.testing.assert_array_equal(r.numpy(), t.numpy())


def test_the_format_objects_are_pytorchs():
    for name in FORMATS:
        f = getattr(rustorch, name)
        assert isinstance(f, rustorch.memory_format)
        assert repr(f) == f"rustorch.{name}"
        assert pickle.loads(pickle.dumps(f)) is f
        assert f == getattr(rustorch, name) and hash(f) == hash(getattr(rustorch, name))
    assert rustorch.channels_last != rustorch.contiguous_format
    with pytest.raises(TypeError):
        rustorch.memory_format()


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "copy",
    [
        "clone",
        "clone_contiguous",
        "to_double",
        "double",
        "to_int",
        "type",
        "contiguous",
        "empty_like",
        "zeros_like",
        "ones_like",
        "full_like",
        "randn_like",
        "zeros_like_contiguous",
    ],
)
def test_copies_lay_out_as_pytorchs(source, copy):
    make = SOURCES[source]
    fns = {
        "clone": lambda lib, x: x.clone(),
        "clone_contiguous": lambda lib, x: x.clone(memory_format=lib.contiguous_format),
        "to_double": lambda lib, x: x.to(lib.float64),
        "double": lambda lib, x: x.double(),
        "to_int": lambda lib, x: x.to(dtype=lib.int32),
        "type": lambda lib, x: x.type(lib.float64),
        "contiguous": lambda lib, x: x.contiguous(),
        "empty_like": lambda lib, x: lib.empty_like(x).zero_(),
        "zeros_like": lambda lib, x: lib.zeros_like(x),
        "ones_like": lambda lib, x: lib.ones_like(x, dtype=lib.float64),
        "full_like": lambda lib, x: lib.full_like(x, 3.5),
        "randn_like": lambda lib, x: lib.randn_like(x).zero_(),
        "zeros_like_contiguous": lambda lib, x: lib.zeros_like(
            x, memory_format=lib.contiguous_format
        ),
    }
    t, r = both(lambda lib: fns[copy](lib, make(lib)))
    _same(t, r)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    "op",
    [
        "neg",
        "exp",
        "relu",
        "add_scalar",
        "mul_self",
        "add_contiguous",
        "contiguous_add",
        "add_bias",
        "gt",
        "where",
        "int_to_float",
        "pow",
    ],
)
def test_elementwise_results_lay_out_as_pytorchs(source, op):
    make = SOURCES[source]

    def run(lib):
        x = make(lib)
        other = lib.tensor(_data(tuple(x.shape), seed=1))
        bias = lib.tensor(_data(tuple(x.shape[-3:-2]) + (1,) * min(2, x.dim() - 1), seed=2))
        fns = {
            "neg": lambda: -x,
            "exp": lambda: x.exp(),
            "relu": lambda: lib.relu(x),
            "add_scalar": lambda: x + 1,
            "mul_self": lambda: x * x,
            "add_contiguous": lambda: x + other,
            "contiguous_add": lambda: other + x,
            "add_bias": lambda: x + bias,
            "gt": lambda: x > 0,
            "where": lambda: lib.where(x > 0, x, other),
            "int_to_float": lambda: (x * 4).to(lib.int64).sqrt(),
            "pow": lambda: x.abs() ** 1.5,
        }
        return fns[op]()

    t, r = run(torch), run(rustorch)
    assert r.stride() == t.stride(), (r.stride(), t.stride())
    np.testing.assert_allclose(r.numpy(), t.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fmt", ["channels_last", "contiguous_format"])
@pytest.mark.parametrize("source", ["contiguous", "channels_last", "permuted4", "sliced"])
def test_to_contiguous_and_is_contiguous_in_a_format(fmt, source):
    makers = dict(SOURCES)
    makers["permuted4"] = lambda lib: lib.tensor(_data((2, 3, 4, 5))).permute(0, 2, 3, 1)
    make = makers[source]
    for call in (
        lambda lib, x: x.to(memory_format=getattr(lib, fmt)),
        lambda lib, x: x.contiguous(memory_format=getattr(lib, fmt)),
        lambda lib, x: x.clone(memory_format=getattr(lib, fmt)),
        lambda lib, x: x.to(lib.float64, memory_format=getattr(lib, fmt)),
    ):
        t, r = call(torch, make(torch)), call(rustorch, make(rustorch))
        _same(t, r)
        for f in FORMATS[:3]:
            assert r.is_contiguous(memory_format=getattr(rustorch, f)) == t.is_contiguous(
                memory_format=getattr(torch, f)
            )
    x, y = both(make)
    for f in FORMATS:
        assert y.is_contiguous(memory_format=getattr(rustorch, f)) == x.is_contiguous(
            memory_format=getattr(torch, f)
        )


def test_same_layout_returns_self_and_copies_keep_the_graph():
    x = rustorch.randn(2, 3, 4, 5).to(memory_format=rustorch.channels_last)
    assert x.to(memory_format=rustorch.channels_last) is x
    assert x.contiguous(memory_format=rustorch.channels_last) is x
    assert x.to(rustorch.float32) is x
    x.requires_grad_()
    for y, name in (
        (x.to(memory_format=rustorch.contiguous_format), "ToCopyBackward0"),
        (x.clone(memory_format=rustorch.contiguous_format), "CloneBackward0"),
        (x.contiguous(), "CloneBackward0"),
        (x.double(), "ToCopyBackward0"),
    ):
        assert type(y.grad_fn).__name__ == name
        x.grad = None
        (y * rustorch.arange(120.0).reshape(2, 3, 4, 5)).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.arange(120.0).reshape(2, 3, 4, 5))


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("index", ["select", "narrow", "getitem"])
def test_a_leafs_gradient_through_an_index_is_laid_out_as_pytorchs(source, index):
    """An index-like view of a leaf sends back a gradient laid out as the leaf when it is
    dense (PyTorch's layout contract for a leaf's gradient: a transposed leaf's comes back
    transposed), and row-major otherwise, with the same values."""
    views = {
        "select": lambda x: x.select(0, 1),
        "narrow": lambda x: x.narrow(0, 1, 1),
        "getitem": lambda x: x[1:, ..., 0],
    }
    grads = []
    for lib in (torch, rustorch):
        x = SOURCES[source](lib).detach().requires_grad_()
        y = views[index](x)
        (y * lib.arange(float(y.numel())).reshape(y.shape)).sum().backward()
        grads.append(x.grad)
    _same(*grads)


def test_creation_in_a_format():
    for lib in (torch, rustorch):
        assert lib.empty(2, 3, 4, 5, memory_format=lib.channels_last).stride() == (60, 1, 15, 3)
        assert lib.empty((2, 3, 4, 5, 6), memory_format=lib.channels_last_3d).stride() == (
            360,
            1,
            90,
            18,
            3,
        )
    x = rustorch.empty(2, 3, 4, 5, memory_format=rustorch.channels_last).fill_(2.0)
    assert x.is_contiguous(memory_format=rustorch.channels_last)
    np.testing.assert_array_equal(x.numpy(), 2.0)
    # (PyTorch before 2.13 words this refusal as an invalid combination of arguments)
    for lib in (torch, rustorch) if torch_is_oracle() else (rustorch,):
        with pytest.raises(TypeError, match="unexpected keyword argument 'memory_format'"):
            lib.zeros(2, 3, 4, 5, memory_format=lib.channels_last)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.randn(3, 4).contiguous(memory_format=lib.channels_last),
        lambda lib: lib.randn(3, 4).to(memory_format=lib.channels_last),
        lambda lib: lib.randn(2, 3, 4, 5).clone(memory_format=lib.channels_last_3d),
        lambda lib: lib.empty(2, 3, memory_format=lib.preserve_format),
        lambda lib: lib.empty_like(lib.randn(3, 4), memory_format=lib.channels_last),
        lambda lib: lib.randn(2, 3).t().contiguous(memory_format=lib.preserve_format),
        lambda lib: lib.randn(2, 3, 4, 5).contiguous(memory_format=3),
        lambda lib: lib.randn(2, 3).clone(memory_format="channels_last"),
        lambda lib: lib.zeros_like(lib.randn(2), memory_format=1),
    ],
)
def test_errors_as_pytorchs(call):
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)) as got:
        call(rustorch)
    assert str(got.value).replace("rustorch", "torch") == str(want.value)


def test_a_channels_last_model_trains_as_a_contiguous_one():
    """``model.to(memory_format=channels_last)`` and channels-last inputs: the same outputs
    and gradients as the row-major model (values, not layouts, are what conv returns)."""
    rustorch.manual_seed(0)
    net = rustorch.nn.Sequential(
        rustorch.nn.Conv2d(3, 8, 3, padding=1),
        rustorch.nn.BatchNorm2d(8),
        rustorch.nn.ReLU(),
        rustorch.nn.Conv2d(8, 4, 3),
    )
    x = rustorch.tensor(_data((4, 3, 9, 9)))
    ref = net(x)
    ref.square().sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    net.to(memory_format=rustorch.channels_last)
    assert net[0].weight.is_contiguous(memory_format=rustorch.channels_last)
    assert net[0].bias.is_contiguous()
    y = net(x.to(memory_format=rustorch.channels_last))
    y.square().sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    for p, g in zip(net.parameters(), grads):
        np.testing.assert_allclose(p.grad.numpy(), g.numpy(), rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError):
        net.to(memory_format="channels_last")


@pytest.mark.skipif(not rustorch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("source", ["channels_last", "permuted", "sliced_permuted"])
def test_cuda_copies_and_results_keep_the_layout(source):
    make = SOURCES[source]
    t, x = make(torch), make(rustorch)
    g = x.cuda()
    assert g.stride() == t.cuda().stride()
    for y, want in (
        (g.exp(), t.exp()),
        (g * 2 + g, t * 2 + t),
        (g.double(), t.double()),
        (g.clone(), t.clone()),
    ):
        assert y.stride() == want.stride()
        np.testing.assert_allclose(y.cpu().numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
