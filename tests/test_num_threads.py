"""``set_num_threads`` / ``get_num_threads``: one thread gives the same results as the pool
(products, convolutions split into tiles, reductions, softmax, sorted search), the setting
reads back as PyTorch's does, and a non-positive count is PyTorch's error."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_torch, rt, to_np


@pytest.fixture
def restore_threads():
    before = rt.get_num_threads()
    yield
    rt.set_num_threads(before)


def _work():
    rng = np.random.default_rng(0)
    a = rt.tensor(rng.standard_normal((300, 200)).astype(np.float32))
    b = rt.tensor(rng.standard_normal((200, 250)).astype(np.float32))
    x = rt.tensor(rng.standard_normal((16, 8, 20, 20)).astype(np.float32), requires_grad=True)
    w = rt.tensor(rng.standard_normal((24, 8, 3, 3)).astype(np.float32), requires_grad=True)
    y = rt.nn.functional.conv2d(x, w)
    y.square().sum().backward()
    s = rt.tensor(rng.standard_normal((512, 300)).astype(np.float32))
    seq = rt.sort(rt.tensor(rng.standard_normal(5000)))[0]
    return [a @ b, y, x.grad, w.grad, s.sum(0), s.sum(), s.softmax(-1),
            rt.searchsorted(seq, rt.tensor(rng.standard_normal(20000)))]


def test_one_thread_matches_the_pool(restore_threads):
    pooled = [to_np(t.detach()) for t in _work()]
    rt.set_num_threads(1)
    assert rt.get_num_threads() == 1
    single = [to_np(t.detach()) for t in _work()]
    for p, s in zip(pooled, single):
        np.testing.assert_allclose(s, p, rtol=1e-4, atol=1e-4)


def test_seeded_draws_repeat_on_any_thread_count(restore_threads):
    """Bulk uniform, normal and Bernoulli draws: the same numbers on one thread as on the
    pool (each block's lanes are seeded in block order)."""

    def draws():
        rt.manual_seed(11)
        return [rt.randn(300_001), rt.randn(70_000, dtype=rt.float64), rt.rand(200_000),
                rt.empty(100_000).normal_(2.0, 3.0),
                rt.nn.functional.dropout(rt.ones(90_000), 0.3)]

    pooled = [to_np(t) for t in draws()]
    rt.set_num_threads(1)
    for p, s in zip(pooled, [to_np(t) for t in draws()]):
        np.testing.assert_array_equal(s, p)


def test_the_setting_reads_back(restore_threads):
    rt.set_num_threads(3)
    assert rt.get_num_threads() == 3
    rt.set_num_threads(1)
    assert rt.get_num_threads() == 1


@pytest.mark.parametrize("n", [0, -2])
def test_a_non_positive_count_is_pytorchs_error(n, restore_threads):
    need_torch()
    import torch

    msgs = []
    for lib in (torch, rt):
        with pytest.raises(RuntimeError) as e:
            lib.set_num_threads(n)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]
