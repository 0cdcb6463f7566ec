"""Float32 products large enough for the CPU's AMX tile units (each side at least 128),
where the CPU has them: each float32 operand runs as three bfloat16 terms and six term
products (``src/cpu/amx.rs``). They must stay at float32's accuracy and keep PyTorch's
infinities and NaNs. On a CPU without tile units the same products take the float32
kernels, and these tests hold there too.

Results are compared with PyTorch's float64 ones, to 1e-5 relative with an absolute floor
of 2e-6 of the largest value, as the float32 convolution tests do.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import current_device, need_torch, rt, to_np

pytestmark = pytest.mark.usefixtures("device")


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _close(a, b, what):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6 * np.abs(b).max(), err_msg=what)


def _f64(torch, a):
    return torch.tensor(a, dtype=torch.float64)


@pytest.mark.parametrize("m,n,k", [(128, 128, 128), (300, 200, 700), (129, 1000, 257)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_large_float32_products_against_float64(m, n, k, ta, tb):
    """Every operand orientation (a transposed view is read in place), sides that are not
    multiples of the 32×32 blocks, several blocks of depth."""
    torch = need_torch()
    a, b = _arr(m, k, seed=1), _arr(k, n, seed=2)
    dev = current_device()
    x = rt.tensor(a.T.copy() if ta else a, dtype=rt.float32, device=dev)
    y = rt.tensor(b.T.copy() if tb else b, dtype=rt.float32, device=dev)
    got = (x.t() if ta else x) @ (y.t() if tb else y)
    _close(to_np(got).astype(np.float64), (_f64(torch, a) @ _f64(torch, b)).numpy(), "a @ b")


def test_large_product_gradients_against_float64():
    """``nn.Linear``'s three products (forward, input and weight gradients) at tile size."""
    torch = need_torch()
    x, w, up = _arr(256, 384, seed=3), _arr(320, 384, seed=4), _arr(256, 320, seed=5)
    results = []
    for lib, dt in ((rt, rt.float32), (torch, torch.float64)):
        xs = lib.tensor(x, dtype=dt, requires_grad=True)
        ws = lib.tensor(w, dtype=dt, requires_grad=True)
        y = lib.nn.functional.linear(xs, ws)
        (y * lib.tensor(up, dtype=dt)).sum().backward()
        results.append([to_np(v.detach()).astype(np.float64) for v in (y, xs.grad, ws.grad)])
    for what, a, b in zip(["output", "input grad", "weight grad"], *results):
        _close(a, b, what)


@pytest.mark.parametrize(
    "value,where",
    [(np.inf, "a"), (-np.inf, "b"), (np.nan, "a"), (3e38, "b"), (1e-30, "a"), (1e-40, "b")],
)
def test_values_the_bfloat16_split_cannot_carry_match_torch(value, where):
    """An infinity, a NaN, a value near float32's largest, a tiny and a subnormal one: their
    blocks take the float32 kernels, so the products give PyTorch's infinities, NaNs and
    values (its float32 product, compared to 1e-5)."""
    torch = need_torch()
    m, n, k = 200, 160, 600
    a, b = _arr(m, k, seed=6).astype(np.float32), _arr(k, n, seed=7).astype(np.float32)
    (a if where == "a" else b)[70, 90] = value
    got = to_np(rt.tensor(a, device=current_device()) @ rt.tensor(b, device=current_device()))
    ref = (torch.tensor(a) @ torch.tensor(b)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-5,
                               atol=2e-6 * np.abs(ref[finite]).max())


@pytest.mark.parametrize(
    "name,xs,ws,kw",
    [
        # The DCGAN's layers: im2col products of 256 filters, Winograd's per position.
        ("conv2d", (16, 128, 16, 16), (256, 128, 4, 4), dict(stride=2, padding=1)),
        ("conv2d", (8, 64, 32, 32), (128, 64, 4, 4), dict(stride=2, padding=1)),
        ("conv_transpose2d", (16, 256, 8, 8), (256, 128, 4, 4), dict(stride=2, padding=1)),
        ("conv2d", (8, 128, 14, 14), (128, 128, 3, 3), dict(padding=1)),
    ],
    ids=["c128-256", "c64-128-winograd", "t256-128", "c128-128-3x3"],
)
def test_wide_convolutions_against_float64(name, xs, ws, kw):
    """Convolutions whose products take the tile units with the filters packed once for
    every tile of images, forward and all three gradients."""
    torch = need_torch()
    bias = ws[1] if name.startswith("conv_transpose") else ws[0]
    arrays = [_arr(*xs), _arr(*ws, seed=1) * 0.05, _arr(bias, seed=2)]
    results = []
    for lib, dt, dev in ((rt, rt.float32, current_device()), (torch, torch.float64, "cpu")):
        ts = [lib.tensor(v, dtype=dt, device=dev, requires_grad=True) for v in arrays]
        y = getattr(lib.nn.functional, name)(*ts, **kw)
        up = lib.tensor(_arr(*tuple(y.shape), seed=3), dtype=dt, device=dev)
        (y * up).sum().backward()
        results.append([to_np(v.detach()).astype(np.float64) for v in (y, *(t.grad for t in ts))])
    for what, a, b in zip(["output", "input grad", "weight grad", "bias grad"], *results):
        _close(a, b, what)
