"""``multinomial`` and ``Tensor.random_``: the frequencies of many draws against the
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
