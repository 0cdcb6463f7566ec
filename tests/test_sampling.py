"""``multinomial``: the frequencies of many draws against the distribution, the shapes and
the errors against PyTorch, on every device."""

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
