"""float16 and bfloat16: promotion, conversion, and ops against PyTorch (whose CPU kernels,
like rustorch's, compute the 16-bit types in float32 and round each result once), on every
device."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import check_op, need_torch, rand_array, rt, to_np

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

HALVES = ("float16", "bfloat16")


def _as(lib, t, name):
    return t.to(getattr(lib, name))


@pytest.mark.parametrize("name", HALVES)
def test_dtype_objects(name):
    d = getattr(rt, name)
    assert d.is_floating_point and d.itemsize == 2
    assert str(d).endswith(name)
    assert rt.half is rt.float16


@pytest.mark.parametrize(
    "a,b,want",
    [
        ("float16", "float32", "float32"),
        ("bfloat16", "float32", "float32"),
        ("float16", "bfloat16", "float32"),
        ("float16", "int64", "float16"),
        ("bfloat16", "uint8", "bfloat16"),
        ("float16", "float64", "float64"),
    ],
)
def test_promotion_matches_pytorch(a, b, want):
    x = rt.ones(2, dtype=getattr(rt, a))
    y = rt.ones(2, dtype=getattr(rt, b))
    assert str((x + y).dtype).endswith(want)
    assert str((x * 2.5).dtype).endswith(a)


@pytest.mark.parametrize("name", HALVES)
@pytest.mark.parametrize(
    "op",
    ["exp", "neg", "abs", "tanh", "sigmoid", "relu", "sqrt_abs", "add", "mul", "div",
     "sum", "mean", "max", "softmax", "log_softmax", "matmul", "cumsum", "sort", "gt"],
)
def test_ops_match_pytorch(name, op):
    a = rand_array((4, 6), "float32", seed=3)
    b = rand_array((4, 6), "float32", seed=4)
    m = rand_array((6, 5), "float32", seed=5)
    fns = {
        "exp": lambda L, x, y, w: x.exp(),
        "neg": lambda L, x, y, w: -x,
        "abs": lambda L, x, y, w: x.abs(),
        "tanh": lambda L, x, y, w: x.tanh(),
        "sigmoid": lambda L, x, y, w: x.sigmoid(),
        "relu": lambda L, x, y, w: x.relu(),
        "sqrt_abs": lambda L, x, y, w: x.abs().sqrt(),
        "add": lambda L, x, y, w: x + y,
        "mul": lambda L, x, y, w: x * y * 3,
        "div": lambda L, x, y, w: x / (y.abs() + 1),
        "sum": lambda L, x, y, w: x.sum(1),
        "mean": lambda L, x, y, w: x.mean(),
        "max": lambda L, x, y, w: x.max(1),
        "softmax": lambda L, x, y, w: x.softmax(-1),
        "log_softmax": lambda L, x, y, w: x.log_softmax(0),
        "matmul": lambda L, x, y, w: x @ w,
        "cumsum": lambda L, x, y, w: x.cumsum(1),
        "sort": lambda L, x, y, w: x.sort(1),
        "gt": lambda L, x, y, w: x > y,
    }
    f = fns[op]
    tol = 1e-2 if name == "bfloat16" else 2e-3
    check_op(
        lambda L, x, y, w: f(L, _as(L, x, name), _as(L, y, name), _as(L, w, name)),
        a, b, m, rtol=tol, atol=tol,
    )


@pytest.mark.parametrize("name", HALVES)
def test_backward_through_half(name):
    torch = need_torch()
    a = rand_array((3, 4), "float32", seed=7)
    x = rt.tensor(a, dtype=getattr(rt, name), requires_grad=True)
    tx = torch.tensor(a, dtype=getattr(torch, name), requires_grad=True)
    (x.tanh() * x).sum().backward()
    (tx.tanh() * tx).sum().backward()
    assert str(x.grad.dtype).endswith(name)
    tol = 2e-2 if name == "bfloat16" else 3e-3
    np.testing.assert_allclose(
        to_np(x.grad.float()), tx.grad.float().numpy(), rtol=tol, atol=tol
    )


def test_numpy_exchange():
    a = np.array([1.5, -2.25, 65504.0], dtype=np.float16)
    t = rt.from_numpy(a)
    assert str(t.dtype).endswith("float16")
    np.testing.assert_array_equal(t.numpy(), a)
    with pytest.raises(TypeError, match="BFloat16"):
        rt.ones(2, dtype=rt.bfloat16).numpy()


def test_rounding_matches_pytorch():
    torch = need_torch()
    vals = [0.1, 1 / 3, 65519.0, 65520.0, 1e-8, -2.5e-5, 3.14159, 1e38]
    for name in HALVES:
        got = rt.tensor(vals, dtype=rt.float64).to(getattr(rt, name)).to(rt.float64).tolist()
        want = torch.tensor(vals, dtype=torch.float64).to(getattr(torch, name)).double().tolist()
        assert got == want, name


def test_float16_float32_conversion_bits_match_pytorch():
    # Every float16 bit pattern (NaNs, infinities, subnormals) to float32 and back, and
    # float32 patterns rounding to float16 (ties, overflow, subnormals, NaN payloads),
    # contiguous and strided, above the threading threshold.
    torch = need_torch()
    h = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    got = rt.from_numpy(h).float()
    want = torch.from_numpy(h).float()
    np.testing.assert_array_equal(got.numpy().view(np.uint32), want.numpy().view(np.uint32))
    np.testing.assert_array_equal(got.half().numpy().view(np.uint16),
                                  want.half().numpy().view(np.uint16))
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 1 << 32, 1 << 17, dtype=np.uint64).astype(np.uint32)
    # Halfway cases between float16 neighbours, and values near the float16 range's ends.
    halves = (np.arange(1 << 16, dtype=np.uint32) << 13) + (1 << 12)
    f = np.concatenate([bits, halves, np.float32([65504, 65519.99, 65520, 6e-8, 2.9e-8,
                                                  -0.0, np.inf, -np.inf]).view(np.uint32)])
    f = f.view(np.float32)
    for x_rt, x_t in [(rt.from_numpy(f), torch.from_numpy(f)),
                      (rt.from_numpy(f)[::3], torch.from_numpy(f)[::3])]:
        np.testing.assert_array_equal(x_rt.half().numpy().view(np.uint16),
                                      x_t.half().numpy().view(np.uint16))
        np.testing.assert_array_equal(x_rt.half().float().numpy().view(np.uint32),
                                      x_t.half().float().numpy().view(np.uint32))
