"""``torch.autocast`` on the CPU: products and convolutions in bfloat16 inside the block,
float32 gradients for float32 parameters, settings restored on exit — against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rt, to_np, torch_or_none

torch = torch_or_none


def _dt(t):
    return str(t.dtype).split(".")[-1]


def test_autocast_dtypes_match_torch():
    if torch is None:
        pytest.skip("PyTorch (the oracle) is not installed")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((3, 8)).astype(
        np.float32)
    img, k = rng.standard_normal((1, 2, 6, 6)).astype(np.float32), \
        rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    results = []
    for lib in (rt, torch):
        X, W = lib.tensor(x), lib.tensor(w, requires_grad=True)
        with lib.autocast("cpu", dtype=lib.bfloat16):
            y = lib.nn.functional.linear(X, W)
            z = X @ W.t()
            b = lib.bmm(X.unsqueeze(0), W.t().unsqueeze(0))
            c = lib.nn.functional.conv2d(lib.tensor(img), lib.tensor(k))
            r = lib.relu(y)
            s = y.float().sum()
            inside = lib.is_autocast_enabled("cpu") if lib is rt else \
                torch.is_autocast_enabled("cpu")
        s.backward()
        after = lib.is_autocast_enabled("cpu") if lib is rt else torch.is_autocast_enabled("cpu")
        results.append(([_dt(t) for t in (y, z, b, c, r)], _dt(W.grad), inside, after,
                        to_np(y.float()), to_np(W.grad)))
    (dts, gdt, inside, after, yv, gv), (tdts, tgdt, tin, tafter, tyv, tgv) = results
    assert dts == tdts == ["bfloat16"] * 5
    assert gdt == tgdt == "float32"
    assert inside and tin and not after and not tafter
    np.testing.assert_allclose(yv, tyv, rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(gv, tgv, rtol=2e-2, atol=2e-2)


def test_autocast_disabled_nested_and_decorator():
    a = rt.ones(2, 2)
    with rt.autocast("cpu"):
        with rt.autocast("cpu", enabled=False):
            assert (a @ a).dtype == rt.float32
        assert (a @ a).dtype == rt.bfloat16

    @rt.autocast("cpu")
    def f(x):
        return x @ x

    assert f(a).dtype == rt.bfloat16 and (a @ a).dtype == rt.float32
    with pytest.raises(RuntimeError):
        rt.autocast("tpu")
