"""Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop, LBFGS, the extra LR schedulers and
WeightedRandomSampler, compared with PyTorch (trajectories, state_dict layout, lr lists).

All tests pass with ``RUSTORCH_TEST_ORACLE=torch`` too.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import assert_values, make_tensor, need_torch, rt, to_np

SHAPES = [(3, 4), (5,)]


def _init(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def _loss(lib, params, step):
    """A smooth non-quadratic objective whose gradients change sign over the steps."""
    w, b = params
    target = lib.tensor(np.linspace(-1.0, 1.0, 4) * (1 + 0.1 * step), dtype=w.dtype)
    return ((w.sum(0) - target) ** 2).sum() + (b.sin() * b).sum() + (w * w * w).abs().mean()


def _run(lib, opt_name, kwargs, dtype, steps, groups=False):
    params = [make_tensor(lib, a, dtype, requires_grad=True) for a in _init()]
    if groups:
        spec = [{"params": [params[0]]}, {"params": [params[1]], "lr": kwargs.get("lr", 1e-2) / 2}]
    else:
        spec = params
    opt = getattr(lib.optim, opt_name)(spec, **kwargs)
    for step in range(steps):
        opt.zero_grad()
        _loss(lib, params, step).backward()
        opt.step()
    return params, opt


CASES = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.2}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {"lr": 0.05}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.05, "betas": (0.9, 0.9), "weight_decay": 0.1}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "t0": 3, "lambd": 0.01, "weight_decay": 0.1}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, kwargs", CASES)
def test_optimizer_trajectory_matches_torch(name, kwargs, dtype):
    torch = need_torch()
    steps = 12
    rt_params, rt_opt = _run(rt, name, kwargs, dtype, steps)
    t_params, t_opt = _run(torch, name, kwargs, dtype, steps)
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    for a, b in zip(rt_params, t_params):
        assert_values(to_np(a), to_np(b), **tol)
    rt_sd, t_sd = rt_opt.state_dict(), t_opt.state_dict()
    assert rt_sd["param_groups"] == t_sd["param_groups"]
    assert sorted(rt_sd["state"]) == sorted(t_sd["state"])
    for k in t_sd["state"]:
        assert list(rt_sd["state"][k]) == list(t_sd["state"][k])
        for key, tv in t_sd["state"][k].items():
            rv = rt_sd["state"][k][key]
            assert_values(to_np(rv), to_np(tv), rtol=1e-5, atol=1e-6, msg=f"{name} {key}")
            assert str(rv.dtype).rsplit(".")[-1] == str(tv.dtype).rsplit(".")[-1], key


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"])
def test_optimizer_param_groups_and_state_dict_roundtrip(name):
    torch = need_torch()
    rt_params, rt_opt = _run(rt, name, {"lr": 0.02}, "float64", 4, groups=True)
    t_params, t_opt = _run(torch, name, {"lr": 0.02}, "float64", 4, groups=True)
    for a, b in zip(rt_params, t_params):
        assert_values(to_np(a), to_np(b), rtol=1e-10, atol=1e-12)
    assert rt_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    assert repr(rt_opt).splitlines()[1:] == repr(t_opt).splitlines()[1:]
    # a fresh optimizer loaded from the state dict continues identically
    clone_params = [p.detach().clone().requires_grad_(True) for p in rt_params]
    spec = [{"params": [clone_params[0]]}, {"params": [clone_params[1]]}]
    other = getattr(rt.optim, name)(spec, lr=0.02)
    # (a deep copy: like PyTorch's, a loaded state shares the saved tensors)
    other.load_state_dict(copy.deepcopy(rt_opt.state_dict()))
    for opt, ps in ((rt_opt, rt_params), (other, clone_params)):
        opt.zero_grad()
        _loss(rt, ps, 9).backward()
        opt.step()
    for a, b in zip(rt_params, clone_params):
        # (ASGD: the loaded float32 eta/mu are cast to the float64 params, as PyTorch)
        assert_values(to_np(a), to_np(b), rtol=1e-9, atol=1e-12)


def test_optimizer_validation():
    p = [rt.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        rt.optim.Adadelta(p, lr=-1)
    with pytest.raises(ValueError, match="Invalid rho value: 1.5"):
        rt.optim.Adadelta(p, rho=1.5)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        rt.optim.Adamax(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid momentum_decay value: -0.1"):
        rt.optim.NAdam(p, momentum_decay=-0.1)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        rt.optim.RAdam(p, weight_decay=-1)
    with pytest.raises(ValueError, match="Invalid eta values: 1.2, 0.5"):
        rt.optim.Rprop(p, etas=(1.2, 0.5))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        rt.optim.LBFGS([{"params": [p[0]]}, {"params": [rt.zeros(1, requires_grad=True)]}])


def _rosenbrock(lib, x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2 + ((x[2:] - 0.5) ** 2).sum()


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("history_size", [100, 3])
def test_lbfgs_matches_torch(line_search_fn, history_size):
    torch = need_torch()
    x0 = np.array([-1.2, 1.0, 0.3, -0.7])
    results = []
    for lib in (rt, torch):
        x = make_tensor(lib, x0, "float64", requires_grad=True)
        lr = 1.0 if line_search_fn else 0.2
        opt = lib.optim.LBFGS([x], lr=lr, max_iter=15, history_size=history_size,
                              line_search_fn=line_search_fn)
        losses = []

        def closure(lib=lib, x=x, opt=opt):
            opt.zero_grad()
            loss = _rosenbrock(lib, x)
            loss.backward()
            return loss

        for _ in range(4):
            losses.append(float(opt.step(closure).detach()))
        state = opt.state[opt.param_groups[0]["params"][0]]
        results.append((to_np(x), losses, state["n_iter"], state["func_evals"]))
    (xa, la, na, fa), (xb, lb, nb, fb) = results
    assert (na, fa) == (nb, fb)
    # (dot products sum in a different order than PyTorch's: ~1e-9 relative drift)
    assert_values(np.array(la), np.array(lb), rtol=1e-7, atol=1e-10)
    assert_values(xa, xb, rtol=1e-7, atol=1e-9)
    if line_search_fn:
        assert la[-1] < 1e-3 * la[0]  # it converges towards (1, 1, .5, .5)


def test_lbfgs_float32_model():
    torch = need_torch()
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    w0 = rng.standard_normal((1, 3)) * 0.1
    out = []
    for lib in (rt, torch):
        w = make_tensor(lib, w0, "float32", requires_grad=True)
        X, Y = make_tensor(lib, xs, "float32"), make_tensor(lib, ys, "float32")
        opt = lib.optim.LBFGS([w], line_search_fn="strong_wolfe")

        def closure(lib=lib, w=w, opt=opt, X=X, Y=Y):
            opt.zero_grad()
            loss = ((X @ w.t() - Y) ** 2).mean()
            loss.backward()
            return loss

        opt.step(closure)
        out.append(to_np(w))
    # Both reach the least-squares solution. Where each stops differs by float32 rounding:
    # L-BFGS ends when two losses are within tolerance_change (1e-9), which a float32 loss
    # of ~0.94 meets or misses by its last bit, so the engines' summation orders decide
    # whether the last iteration or two run (3e-5 apart on this CPU).
    best = np.linalg.lstsq(xs, ys, rcond=None)[0].T
    assert_values(out[0], best, rtol=0, atol=1e-4)
    assert_values(out[1], best, rtol=0, atol=1e-4)


# ---------------------------------------------------------------------------- sampler


def test_weighted_random_sampler_distribution():
    from conftest import rt as lib

    sampler_mod = lib.utils.data.sampler
    assert sampler_mod.WeightedRandomSampler is lib.utils.data.WeightedRandomSampler
    weights = [0.1, 0.9, 0.4, 0.0, 1.6]
    lib.manual_seed(0)
    n = 20000
    s = lib.utils.data.WeightedRandomSampler(weights, n)
    assert len(s) == n
    draws = np.array(list(s))
    assert draws.dtype.kind == "i" and draws.min() >= 0 and draws.max() < len(weights)
    counts = np.bincount(draws, minlength=len(weights))
    assert counts[3] == 0  # zero weight is never drawn
    p = np.array(weights) / sum(weights)
    keep = p > 0
    expected = n * p[keep]
    chi2 = (((counts[keep] - expected) ** 2) / expected).sum()
    assert chi2 < 18.5  # 4 dof: p = 0.001
    # a seeded generator repeats; without replacement every index appears once
    g1, g2 = lib.Generator(), lib.Generator()
    g1.manual_seed(7)
    g2.manual_seed(7)
    a = list(lib.utils.data.WeightedRandomSampler(weights, 8, generator=g1))
    b = list(lib.utils.data.WeightedRandomSampler(weights, 8, generator=g2))
    assert a == b
    perm = list(lib.utils.data.WeightedRandomSampler([1, 2, 3, 4], 4, replacement=False))
    assert sorted(perm) == [0, 1, 2, 3]
    loader = lib.utils.data.DataLoader(list(range(5)), batch_size=4,
                                       sampler=lib.utils.data.WeightedRandomSampler(weights, 8))
    assert sum(len(batch) for batch in loader) == 8


def test_weighted_random_sampler_errors():
    W = rt.utils.data.WeightedRandomSampler
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
            W([1.0, 2.0], bad)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        W([1.0, 2.0], 3, replacement=1)
    with pytest.raises(ValueError, match="weights should be a 1d sequence but given weights "
                                         "have shape \\(2, 1\\)"):
        W([[1.0], [2.0]], 3)
    with pytest.raises(RuntimeError, match="element < 0|probability entry < 0"):
        list(W([-1.0, 2.0], 3))
