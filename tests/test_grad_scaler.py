"""``amp.GradScaler``: scaling, unscaling, skipped steps on inf/nan, the scale's growth and
backoff, the per-optimizer stage errors, state dicts — PyTorch's behaviour, on the CPU
(``GradScaler("cpu")``) so it runs everywhere."""

import math
import pickle
import warnings

import numpy as np
import pytest
from conftest import need_torch, rt, to_np


def _setup():
    p = rt.tensor([1.0, 2.0], requires_grad=True)
    opt = rt.optim.SGD([p], lr=0.1)
    return p, opt


def _iteration(scaler, p, opt, c, poison=False):
    opt.zero_grad()
    loss = (p * rt.tensor(c)).sum()
    scaler.scale(loss).backward()
    if poison:
        with rt.no_grad():
            p.grad.mul_(float("inf"))
    out = scaler.step(opt)
    scaler.update()
    return out


def test_disabled_without_cuda_with_pytorch_warning():
    if rt.cuda.is_available():
        pytest.skip("CUDA is available: the CUDA scaler stays enabled")
    with pytest.warns(UserWarning, match="CUDA is not available.  Disabling"):
        scaler = rt.amp.GradScaler()
    assert not scaler.is_enabled()
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    x = rt.tensor(3.0)
    assert scaler.scale(x) is x
    p, opt = _setup()
    (p * 2).sum().backward()
    scaler.step(opt)  # plain optimizer.step()
    scaler.update()
    assert np.allclose(to_np(p.detach()), [0.8, 1.8])


def test_explicitly_disabled_cpu_scaler_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler = rt.amp.GradScaler("cpu", enabled=False)
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0


def test_scale_tensors_and_nested_outputs():
    scaler = rt.amp.GradScaler("cpu", init_scale=8.0)
    assert scaler.get_scale() == 8.0  # before the first scale()
    assert scaler.scale(rt.tensor(1.5)).item() == 12.0
    a, (b, c) = scaler.scale([rt.tensor(1.0), (rt.tensor(2.0), rt.tensor(3.0))])
    assert (a.item(), b.item(), c.item()) == (8.0, 16.0, 24.0)
    with pytest.raises(ValueError):
        scaler.scale([1.0])


def test_growth_backoff_and_skipped_step():
    scaler = rt.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)
    p, opt = _setup()
    c = [0.5, -1.0]
    scales, trackers = [], []
    for i in range(5):
        _iteration(scaler, p, opt, c, poison=(i == 2))
        scales.append(scaler.get_scale())
        trackers.append(scaler._get_growth_tracker())
    assert scales == [4.0, 8.0, 4.0, 4.0, 8.0]
    assert trackers == [1, 0, 0, 1, 0]
    # four clean steps of lr 0.1 with the true (unscaled) gradient c; the poisoned one skipped
    assert np.allclose(to_np(p.detach()), [1.0 - 0.4 * 0.5, 2.0 + 0.4 * 1.0])


def test_nan_grad_skips_step_and_backs_off():
    scaler = rt.amp.GradScaler("cpu", init_scale=2.0**10, backoff_factor=0.25)
    p, opt = _setup()
    opt.zero_grad()
    scaler.scale((p * p).sum()).backward()
    with rt.no_grad():
        p.grad.mul_(float("nan"))
    assert scaler.step(opt) is None
    scaler.update()
    assert np.array_equal(to_np(p.detach()), [1.0, 2.0])
    assert scaler.get_scale() == 2.0**8


def test_unscale_then_step_and_stage_errors():
    scaler = rt.amp.GradScaler("cpu", init_scale=2.0**12)
    p, opt = _setup()
    opt.zero_grad()
    scaler.scale((p * rt.tensor([3.0, 4.0])).sum()).backward()
    assert np.allclose(to_np(p.grad), [3.0 * 4096, 4.0 * 4096])
    scaler.unscale_(opt)
    assert np.allclose(to_np(p.grad), [3.0, 4.0])  # e.g. for gradient clipping
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)  # does not unscale again
    assert np.allclose(to_np(p.detach()), [1.0 - 0.3, 2.0 - 0.4])
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="Closure"):
        scaler.step(opt, closure=lambda: 0.0)


def test_step_before_scale_asserts():
    scaler = rt.amp.GradScaler("cpu")
    _, opt = _setup()
    with pytest.raises(AssertionError, match="_scale is None"):
        scaler.step(opt)
    with pytest.raises(AssertionError):
        rt.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(AssertionError):
        rt.amp.GradScaler("cpu", backoff_factor=1.0)


def test_update_with_new_scale_and_state_dict_round_trip():
    scaler = rt.amp.GradScaler("cpu", init_scale=16.0, growth_factor=3.0,
                               backoff_factor=0.25, growth_interval=7)
    p, opt = _setup()
    _iteration(scaler, p, opt, [1.0, 1.0])
    scaler.update(1024.0)
    assert scaler.get_scale() == 1024.0
    sd = scaler.state_dict()
    assert sd == {"scale": 1024.0, "growth_factor": 3.0, "backoff_factor": 0.25,
                  "growth_interval": 7, "_growth_tracker": 1}
    other = rt.amp.GradScaler("cpu")
    other.load_state_dict(sd)
    assert other.state_dict() == sd
    assert other.get_growth_factor() == 3.0 and other.get_backoff_factor() == 0.25
    assert other.get_growth_interval() == 7
    other.set_growth_interval(5)
    assert other.get_growth_interval() == 5
    with pytest.raises(RuntimeError, match="empty"):
        rt.amp.GradScaler("cpu").load_state_dict({})
    clone = pickle.loads(pickle.dumps(scaler))
    assert clone.get_scale() == 1024.0 and clone._get_growth_tracker() == 1
    scaler.update(rt.tensor(64.0))
    assert scaler.get_scale() == 64.0


def test_cuda_amp_spelling_is_deprecated():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scaler = rt.cuda.amp.GradScaler(init_scale=32.0)
    kinds = {w.category for w in caught}
    assert FutureWarning in kinds
    assert scaler.is_enabled() == rt.cuda.is_available()
    assert isinstance(scaler, rt.amp.GradScaler)


def test_matches_pytorch_sequence():
    torch = need_torch()
    results = []
    for lib in (rt, torch):
        scaler = lib.amp.GradScaler("cpu", init_scale=2.0**5, growth_interval=3)
        p = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
        opt = lib.optim.SGD([p], lr=0.05, momentum=0.9)
        seq = []
        for i in range(8):
            opt.zero_grad()
            loss = (p * p * lib.tensor([1.0, 2.0, 3.0])).sum()
            scaler.scale(loss).backward()
            if i in (3, 4):
                with lib.no_grad():
                    p.grad[1] = math.inf if i == 3 else math.nan
            scaler.step(opt)
            scaler.update()
            seq.append((scaler.get_scale(), scaler._get_growth_tracker(),
                        p.detach().numpy().copy()))
        results.append(seq)
    for (s1, t1, p1), (s2, t2, p2) in zip(*results):
        assert (s1, t1) == (s2, t2)
        assert np.allclose(p1, p2, rtol=1e-6, atol=1e-7)
