"""Python threads and interrupts (issue 16): several threads training their own models while
others read a shared one give the results each gets alone; grad mode is per thread, as
PyTorch's; a KeyboardInterrupt during long ops or a backward pass leaves the engine usable."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import rustorch
import rustorch.nn as nn


def _mlp(seed):
    rng = np.random.default_rng(seed)
    net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    with rustorch.no_grad():
        for p in net.parameters():
            p.copy_(rustorch.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.2))
    return net


def _train(seed, steps=40):
    """Trains a seeded MLP on seeded batches; its final parameters as arrays."""
    net = _mlp(seed)
    opt = rustorch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(100 + seed)
    for _ in range(steps):
        x = rustorch.tensor(rng.standard_normal((64, 32)).astype(np.float32))
        y = rustorch.tensor(rng.integers(0, 8, 64))
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in net.parameters()]


def _run_threads(targets):
    """Runs each callable on its own thread, switching threads as often as Python allows;
    returns their results in order (re-raising the first exception)."""
    results, errors = [None] * len(targets), []

    def run(i, f):
        try:
            results[i] = f()
        except BaseException as e:  # reported to the test below
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(targets)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "a thread hung"
    finally:
        sys.setswitchinterval(old)
    if errors:
        raise errors[0]
    return results


def test_threads_training_separate_models_and_reading_a_shared_one():
    alone = [_train(s) for s in range(3)]
    shared = _mlp(7)
    probe = rustorch.tensor(np.random.default_rng(8).standard_normal((256, 32)).astype(np.float32))
    with rustorch.no_grad():
        want = shared(probe).numpy()

    def read():
        outs = []
        for _ in range(30):
            with rustorch.no_grad():
                outs.append(shared(probe).numpy())
        return outs

    got = _run_threads([lambda s=s: _train(s) for s in range(3)] + [read, read])
    for params, ref in zip(got[:3], alone):
        for a, b in zip(params, ref):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for outs in got[3:]:
        for o in outs:
            np.testing.assert_allclose(o, want, rtol=1e-6, atol=1e-6)
    # The shared model was only read: no gradient reached it.
    assert all(p.grad is None for p in shared.parameters())


def test_large_parallel_ops_from_several_threads():
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((300, 300)).astype(np.float32) for _ in range(4)]

    def work(a):
        t = rustorch.tensor(a)
        outs = []
        for _ in range(5):
            outs.append(((t @ t).relu().sum(0) + t.exp().mean(1)).numpy())
        return outs

    got = _run_threads([lambda a=a: work(a) for a in mats])
    for a, outs in zip(mats, got):
        want = np.maximum(a.astype(np.float64) @ a, 0).sum(0) + np.exp(a.astype(np.float64)).mean(1)
        for o in outs:
            np.testing.assert_allclose(o, want, rtol=1e-3, atol=1e-2)


def test_grad_mode_is_per_thread():
    x = rustorch.ones(3, requires_grad=True)
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def holds_no_grad():
        with rustorch.no_grad():
            inside.set()
            release.wait(30)
            seen["other"] = (x * 2).requires_grad

    t = threading.Thread(target=holds_no_grad)
    t.start()
    assert inside.wait(30)
    # Another thread's no_grad does not reach this one.
    assert (x * 2).requires_grad
    release.set()
    t.join(30)
    assert seen["other"] is False

    # A new thread starts with grad enabled even when its creator is in no_grad.
    def fresh():
        seen["fresh"] = rustorch.is_grad_enabled() and (x * 2).requires_grad

    with rustorch.no_grad():
        t = threading.Thread(target=fresh)
        t.start()
        t.join(30)
    assert seen["fresh"] is True


INTERRUPTED = textwrap.dedent(
    """
    import sys, time
    import rustorch
    stage = sys.argv[1]
    x = rustorch.randn(400, 400, requires_grad=True)
    print("ready", flush=True)
    try:
        t0 = time.time()
        while time.time() - t0 < 60:
            if stage == "ops":
                y = (x @ x).tanh().sum()
            else:
                y = x
                for _ in range(30):
                    y = (y @ x).tanh()
                y.sum().backward()
        print("not interrupted", flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    # The engine still works: a product, a backward pass and a parallel kernel.
    a = rustorch.randn(300, 300, requires_grad=True)
    (a @ a).sum().backward()
    assert a.grad.shape == (300, 300)
    assert abs(float(rustorch.ones(10**6).sum()) - 1e6) < 1e-3
    print("usable", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="no SIGINT on this platform")
@pytest.mark.parametrize("stage", ["ops", "backward"])
def test_keyboard_interrupt_leaves_the_engine_usable(stage):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED, stage],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.strip() == "usable", (out, err)
