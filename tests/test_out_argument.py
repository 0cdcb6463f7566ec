"""``out=``: results written into the given tensor, with PyTorch's checks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rt, to_np


def test_out_receives_the_result_of_forwarded_functions():
    x = rt.tensor([0.0, 1.0, 2.0])
    out = rt.empty(3)
    r = rt.exp(x, out=out)
    assert r is out
    np.testing.assert_allclose(to_np(out), np.exp([0.0, 1.0, 2.0]), rtol=1e-6)
    o2 = rt.zeros(3)
    assert rt.add(x, 1, out=o2) is o2 and to_np(o2).tolist() == [1.0, 2.0, 3.0]
    o3 = rt.zeros(3)
    rt.pow(x, 2, out=o3)
    assert to_np(o3).tolist() == [0.0, 1.0, 4.0]
    o4 = rt.zeros(2, 2)
    rt.matmul(rt.eye(2), rt.ones(2, 2), out=o4)
    assert to_np(o4).tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_out_of_creation_functions_and_tuple_results():
    o = rt.empty(4)
    rt.arange(4, out=o)
    assert to_np(o).tolist() == [0.0, 1.0, 2.0, 3.0]
    z = rt.ones(2, 3)
    rt.zeros(2, 3, out=z)
    assert to_np(z).sum() == 0
    v, i = rt.empty(2), rt.empty(2, dtype=rt.int64)
    rt.max(rt.tensor([[1.0, 5.0], [7.0, 2.0]]), 1, out=(v, i))
    assert to_np(v).tolist() == [5.0, 7.0] and to_np(i).tolist() == [1, 0]


def test_out_checks_as_pytorch():
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type Long"):
        rt.add(rt.ones(2), 1, out=rt.zeros(2, dtype=rt.int64))
    x = rt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        rt.exp(x, out=rt.zeros(2))
    with pytest.raises(TypeError, match="argument 'out' must be Tensor"):
        rt.exp(rt.ones(2), out=[1])
    # an int result into a float out is fine
    o = rt.zeros(2)
    rt.add(rt.tensor([1, 2]), 1, out=o)
    assert o.dtype == rt.float32 and to_np(o).tolist() == [2.0, 3.0]


def test_einsum_sublist_form_matches_the_string_form():
    a = rt.tensor(np.arange(6.0).reshape(2, 3))
    b = rt.tensor(np.arange(12.0).reshape(3, 4))
    want = to_np(rt.einsum("ij,jk->ik", a, b))
    np.testing.assert_allclose(to_np(rt.einsum(a, [0, 1], b, [1, 2], [0, 2])), want)
    np.testing.assert_allclose(to_np(rt.einsum(a, [0, 1], b, [1, 2])), want)
    c = rt.tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_allclose(to_np(rt.einsum(c, [Ellipsis, 1], [Ellipsis])),
                               to_np(rt.einsum("...j->...", c)))


def test_normal_writes_out():
    """``normal(mean, std, size, out=)`` fills ``out`` (it was accepted and ignored)."""
    rt.manual_seed(0)
    o = rt.zeros(4000)
    rt.normal(2.0, 0.5, size=(4000,), out=o)
    v = to_np(o)
    assert abs(v.mean() - 2.0) < 0.05 and abs(v.std() - 0.5) < 0.05
    with pytest.raises(RuntimeError, match="out= has shape"):
        rt.normal(0.0, 1.0, size=(3,), out=rt.zeros(2))
