"""``multinomial``, ``bernoulli`` and ``Tensor.random_``: the frequencies of many draws against the
distribution, the shapes, ranges and the errors against PyTorch, on every device."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIB_NAME, current_device, need_torch, rt, to_np

pytestmark = pytest.mark.usefixtures("device")

P = [0.1, 0.0, 0.6, 0.3]


def test_with_replacement_follows_the_distribution():
    rt.manual_seed(0)
    p = rt.tensor(P).to(current_device())
    draws = to_np(rt.multinomial(p, 40000, replacement=True))
    assert draws.shape == (40000,) and draws.dtype == np.int64
    freq = np.bincount(draws, minlength=4) / 40000
    # Four standard errors of a frequency near 0.5 over 40000 draws is 0.01.
    np.testing.assert_allclose(freq, P, atol=0.01)
    assert freq[1] == 0.0


def test_without_replacement_first_draw_and_distinctness():
    rt.manual_seed(1)
    w = rt.tensor([P] * 4000).to(current_device()) * 7.0  # unnormalised weights
    draws = to_np(w.multinomial(3))
    assert draws.shape == (4000, 3)
    assert all(len(set(row)) == 3 for row in draws)
    assert not np.any(draws == 1)  # zero weight: never drawn
    np.testing.assert_allclose(np.bincount(draws[:, 0], minlength=4) / 4000, P, atol=0.03)


def test_errors_match_torch():
    torch = need_torch()
    # Fewer positive weights than draws: the zero-weight categories come last, no error.
    assert rt.multinomial(rt.tensor([1.0, 0.0]).to(current_device()), 2).tolist() == [0, 1]
    cases = [
        lambda lib: lib.multinomial(lib.tensor([-1.0, 2.0]), 1),
        lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1, True),
        lambda lib: lib.multinomial(lib.tensor([0.5, 0.5]), 3),
        lambda lib: lib.multinomial(lib.zeros(2, 2, 2), 1),
    ]
    for make in cases:
        with pytest.raises(RuntimeError) as theirs:
            make(torch)
        with pytest.raises(RuntimeError) as ours:
            make(rt)
        assert str(ours.value).replace(LIB_NAME + ".", "torch.") == str(theirs.value)


# ---------------------------------------------------------------- bernoulli --------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bernoulli_draws_each_element_with_its_probability(dtype):
    torch = need_torch()
    rt.manual_seed(0)
    probs = [0.0, 0.05, 0.3, 0.5, 0.9, 1.0]
    p = rt.tensor([probs] * 20000, dtype=getattr(rt, dtype)).to(current_device())
    drawn = rt.bernoulli(p)
    theirs = torch.bernoulli(torch.tensor([probs] * 4, dtype=getattr(torch, dtype)))
    assert drawn.dtype == p.dtype and str(theirs.dtype).endswith(dtype)
    assert drawn.device == p.device and tuple(drawn.shape) == (20000, 6)
    values = to_np(drawn)
    assert set(np.unique(values)) <= {0.0, 1.0}
    # Four standard errors of a frequency near 0.5 over 20000 draws is 0.0142.
    np.testing.assert_allclose(values.mean(0), probs, atol=0.0142)
    assert values[:, 0].max() == 0.0 and values[:, -1].min() == 1.0
    # The method, strided probabilities (a transposed view) and an empty tensor.
    assert to_np(p.t().bernoulli()).shape == (6, 20000)
    assert tuple(rt.bernoulli(p[:0]).shape) == (0, 6)


def test_bernoulli_with_a_number_and_in_place_with_a_tensor_of_probabilities():
    torch = need_torch()
    rt.manual_seed(1)
    dev = current_device()
    x = rt.zeros(40000, dtype=rt.float64).to(dev)
    for drawn in (rt.bernoulli(x, 0.3), x.bernoulli(0.3)):
        assert drawn.dtype == rt.float64 and abs(float(drawn.mean()) - 0.3) < 0.01
    assert float(x.abs().sum()) == 0.0  # the input is left alone
    # In place, with probabilities that broadcast over the rows.
    y = rt.empty(20000, 3).to(dev)
    assert y.bernoulli_(rt.tensor([0.0, 0.5, 1.0]).to(dev)) is y
    np.testing.assert_allclose(to_np(y).mean(0), [0.0, 0.5, 1.0], atol=0.0142)
    # Into an integer tensor, as PyTorch's.
    for lib in (torch, rt):
        z = lib.zeros(5, dtype=lib.long)
        z.bernoulli_(lib.full((5,), 1.0))
        assert z.dtype == lib.long and z.tolist() == [1] * 5
    # out=
    out = rt.empty(3, 2).to(dev)
    assert rt.bernoulli(rt.ones(3, 2).to(dev), out=out) is out and to_np(out).min() == 1.0


def test_bernoulli_gradient_is_zero_as_pytorch():
    torch = need_torch()
    grads, names = [], []
    for lib in (torch, rt):
        p = lib.full((4, 3), 0.5, requires_grad=True)
        drawn = lib.bernoulli(p)
        assert drawn.requires_grad
        names.append(drawn.grad_fn.name())
        (drawn * lib.arange(12.0).reshape(4, 3)).sum().backward()
        grads.append(to_np(p.grad))
    assert names[1] == names[0] == "BernoulliBackward0"
    np.testing.assert_array_equal(grads[1], grads[0])
    assert not grads[1].any()
    with rt.no_grad():
        assert not rt.bernoulli(rt.full((2,), 0.5, requires_grad=True)).requires_grad


def test_bernoulli_errors_match_pytorch():
    torch = need_torch()
    dev = current_device()
    bad = [[0.2, 1.5], [-0.1, 0.5], [0.5, float("nan")]]
    for p in bad:
        with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1"):
            torch.bernoulli(torch.tensor(p))
        with pytest.raises(RuntimeError, match="Expected p_in >= 0 && p_in <= 1"):
            rt.bernoulli(rt.tensor(p).to(dev))
    with pytest.raises(RuntimeError, match=r"but got p=1.5"):
        torch.bernoulli(torch.rand(3), 1.5)
    with pytest.raises(RuntimeError, match=r"but got p=1.5"):
        rt.bernoulli(rt.rand(3).to(dev), 1.5)
    for lib in (torch, rt):
        with pytest.raises(NotImplementedError,
                           match="\"bernoulli_tensor_cpu_p_\" not implemented for 'Long'"):
            lib.bernoulli(lib.tensor([1, 0]))
        # Probabilities that do not broadcast to the filled tensor.
        with pytest.raises(RuntimeError, match="expanded size"):
            lib.rand(3).bernoulli_(lib.rand(4))


# ---------------------------------------------------------------- random_ ----------------
@pytest.mark.parametrize("args, kwargs, lo, hi", [
    ((), {}, 0, 7), ((7,), {}, 0, 6), ((3, 9), {}, 3, 8), ((-4, 2), {}, -4, 1),
    ((), {"from": 2, "to": 5}, 2, 4), ((3,), {"to": 6}, 3, 5),
])
def test_random_draws_every_integer_of_its_range_uniformly(args, kwargs, lo, hi):
    # The overloads random_(), random_(to), random_(from, to) and the keywords; random_()
    # on uint8 is [0, 255], so its case checks the range [0, 7] through `% 8` instead.
    rt.manual_seed(0)
    dtype = rt.uint8 if not args and not kwargs else rt.float32
    x = rt.empty(40000, dtype=dtype).to(current_device())
    assert x.random_(*args, **kwargs) is x
    v = to_np(x).astype(np.int64)
    if dtype == rt.uint8:
        assert v.min() >= 0 and v.max() <= 255
        v = v % 8
    assert v.min() == lo and v.max() == hi
    freq = np.bincount(v - lo) / len(v)
    np.testing.assert_allclose(freq, 1.0 / (hi - lo + 1), atol=0.01)
    assert x.dtype == dtype


@pytest.mark.parametrize("name, top", [("float32", 2**24), ("float64", 2**53), ("int32", 2**31 - 1),
                                       ("bool", 1), ("float16", 2**11), ("bfloat16", 2**8)])
def test_random_default_range_is_the_dtype_exact_integers(name, top):
    x = rt.empty(20000, dtype=getattr(rt, name)).to(current_device()).random_()
    v = to_np(x.double()) if name in ("float16", "bfloat16") else to_np(x).astype(np.float64)
    assert v.min() >= 0 and v.max() <= top and np.all(v == np.round(v))
    # The draws spread over the whole range (their maximum is near the top).
    assert v.max() >= top * 0.99


def test_random_errors_match_pytorch():
    need_torch()
    import torch

    cases = [("float32", (5, 3)), ("float32", (0,)), ("float32", (2, 2)),
             ("uint8", (0, 1000)), ("uint8", (-1, 5)), ("bool", (0, 3)), ("int32", (0, 2**40))]
    for dtype, args in cases:
        msgs = []
        for lib in (torch, rt):
            with pytest.raises(RuntimeError) as e:
                lib.empty(3, dtype=getattr(lib, dtype)).random_(*args)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1], (dtype, args)


# ---- Generator objects ------------------------------------------------------------------

_DRAWS = {
    "rand": lambda g: rt.rand(5, generator=g),
    "randn": lambda g: rt.randn(2, 3, generator=g),
    "randint": lambda g: rt.randint(0, 100, (6,), generator=g),
    "randperm": lambda g: rt.randperm(9, generator=g),
    "normal": lambda g: rt.normal(0.0, 1.0, (4,), generator=g),
    "normal_tensors": lambda g: rt.normal(rt.zeros(4), rt.ones(4), generator=g),
    "uniform_": lambda g: rt.empty(5).uniform_(-1, 1, generator=g),
    "normal_": lambda g: rt.empty(5).normal_(2.0, 0.5, generator=g),
    "bernoulli_": lambda g: rt.empty(8).bernoulli_(0.5, generator=g),
    "bernoulli_tensor_p_": lambda g: rt.empty(8).bernoulli_(rt.full((8,), 0.5), generator=g),
    "bernoulli": lambda g: rt.bernoulli(rt.full((8,), 0.5), generator=g),
    "bernoulli_number_p": lambda g: rt.bernoulli(rt.zeros(8), 0.5, generator=g),
    "random_": lambda g: rt.empty(6).random_(0, 10, generator=g),
    "multinomial": lambda g: rt.multinomial(rt.ones(6), 4, generator=g),
}


@pytest.mark.parametrize("name", sorted(_DRAWS))
def test_a_generator_repeats_its_draws_and_leaves_the_global_one_alone(name):
    draw = _DRAWS[name]
    g = rt.Generator().manual_seed(1234)
    first = draw(g)
    rt.rand(7)  # the global generator moves; g's stream must not
    g.manual_seed(1234)
    assert rt.equal(draw(g), first)
    # drawing from g does not advance the global generator
    rt.manual_seed(5)
    plain = rt.rand(4)
    rt.manual_seed(5)
    draw(rt.Generator().manual_seed(99))
    assert rt.equal(rt.rand(4), plain)


def test_generator_state_round_trips():
    g = rt.Generator()
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    state = g.get_state()
    assert state.dtype == rt.uint8
    a = rt.randn(10, generator=g)
    assert g.set_state(state) is g
    assert rt.equal(rt.randn(10, generator=g), a)
    assert g.device == rt.device("cpu")


def test_manual_seed_returns_the_default_generator():
    g = rt.manual_seed(11)
    assert g is rt.default_generator and g.initial_seed() == 11 == rt.initial_seed()
    a = rt.rand(3)
    g.manual_seed(11)
    assert rt.equal(rt.rand(3), a)


def test_generator_argument_of_the_wrong_kind_raises():
    with pytest.raises(TypeError):
        rt.randn(2, generator=5)
    with pytest.raises(RuntimeError):
        rt.Generator().set_state(rt.zeros(3, dtype=rt.uint8))
