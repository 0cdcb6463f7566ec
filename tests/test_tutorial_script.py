"""A file of tutorial-style code — old idioms and newer names together — trains the same way
on rustorch as on PyTorch: the same losses step by step, from the same start."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rt, torch_or_none

torch = torch_or_none


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = ((x[:, 0] * x[:, 1] + np.sin(x[:, 2]) - x[:, 3] ** 2 / 2) > 0).astype(np.int64)
    return x, y


def train(lib, init=None, steps=40):
    """The tutorial: Variable, typed constructors, a lazy layer, PReLU, Adadelta with a
    scheduler, gradient clipping, a DataLoader; returns the losses and the final state."""
    from_numpy = lib.from_numpy
    x, y = _data()
    X, Y = lib.FloatTensor(x), lib.LongTensor(y)
    loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(X, Y), batch_size=32)
    model = lib.nn.Sequential(
        lib.nn.LazyLinear(16), lib.nn.PReLU(), lib.nn.Linear(16, 2), lib.nn.LogSoftmax(dim=1)
    )
    model(X[:1])  # materialise the lazy layer
    if init is not None:
        model.load_state_dict({k: from_numpy(v.copy()) for k, v in init.items()})
    opt = lib.optim.Adadelta(model.parameters(), lr=1.0)
    sched = lib.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    criterion = lib.nn.NLLLoss()
    losses = []
    step = 0
    while step < steps:
        for xb, yb in loader:
            xb, yb = lib.autograd.Variable(xb), lib.autograd.Variable(yb)
            opt.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            lib.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            step += 1
            if step == steps:
                break
    with lib.no_grad():
        acc = (model(X).argmax(1) == Y).float().mean().item()
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return losses, acc, state


@pytest.mark.skipif(torch is None, reason="PyTorch (the oracle) is not installed")
def test_tutorial_script_trains_as_on_pytorch():
    rt.manual_seed(0)
    _, _, init = train(rt, steps=0)
    losses, acc, state = train(rt, init)
    t_losses, t_acc, t_state = train(torch, init)
    np.testing.assert_allclose(losses, t_losses, rtol=1e-4, atol=1e-5)
    assert losses[-1] < losses[0] * 0.9  # it learns
    assert abs(acc - t_acc) <= 1 / 256 + 1e-9
    for k in state:
        np.testing.assert_allclose(state[k], t_state[k], rtol=1e-3, atol=1e-4, err_msg=k)
