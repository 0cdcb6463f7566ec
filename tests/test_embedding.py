"""Embeddings: ``F.embedding``/``nn.Embedding`` and ``F.embedding_bag``/``nn.EmbeddingBag``.

Outputs and table gradients against PyTorch from the same table on every device (padding
row, frequency scaling, ``max_norm`` renormalisation in place, every bag mode and form);
gradcheck and gradgradcheck in float64; PyTorch's errors and reprs.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIB_NAME, current_device, need_torch, rt, to_np

pytestmark = pytest.mark.usefixtures("device")


def table(torch, n=7, d=3, seed=0):
    w = np.random.default_rng(seed).standard_normal((n, d))
    tw = torch.tensor(w, requires_grad=True)
    rw = rt.tensor(w).to(current_device()).requires_grad_()
    return tw, rw


def idx(lib, values, dtype="int64"):
    t = lib.tensor(values, dtype=getattr(lib, dtype))
    return t.to(current_device()) if lib is rt else t


def check(tw, rw, t_out, r_out, tol=1e-12):
    np.testing.assert_allclose(to_np(r_out), t_out.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(5).standard_normal(tuple(t_out.shape))
    t_out.backward(need_torch().tensor(g))
    r_out.backward(rt.tensor(g).to(r_out.device))
    np.testing.assert_allclose(to_np(rw.grad), tw.grad.numpy(), rtol=tol, atol=tol)


INDICES = [[1, 3, 3, 0], [[2, 0, 6], [6, 6, 1]]]


@pytest.mark.parametrize("values", INDICES, ids=["1d", "2d"])
@pytest.mark.parametrize("padding_idx", [None, 3, -1])
@pytest.mark.parametrize("scale", [False, True])
def test_embedding_matches_torch(values, padding_idx, scale):
    torch = need_torch()
    tw, rw = table(torch)
    F, G = torch.nn.functional, rt.nn.functional
    t_out = F.embedding(idx(torch, values), tw, padding_idx, scale_grad_by_freq=scale)
    r_out = G.embedding(idx(rt, values), rw, padding_idx, scale_grad_by_freq=scale)
    check(tw, rw, t_out, r_out)


def test_embedding_int32_indices_and_max_norm():
    torch = need_torch()
    tw, rw = table(torch)
    F, G = torch.nn.functional, rt.nn.functional
    with torch.no_grad():
        tw *= 2
    with rt.no_grad():
        rw *= 2
    values = [[1, 4, 1], [5, 0, 4]]
    t_out = F.embedding(idx(torch, values, "int32"), tw, max_norm=1.5, norm_type=1.0)
    r_out = G.embedding(idx(rt, values, "int32"), rw, max_norm=1.5, norm_type=1.0)
    # The rows read were renormalised in place, identically.
    np.testing.assert_allclose(to_np(rw), tw.detach().numpy(), rtol=1e-6, atol=1e-12)
    check(tw, rw, t_out, r_out, 1e-6)


def test_embedding_module_and_from_pretrained():
    torch = need_torch()
    m = rt.nn.Embedding(10, 4, padding_idx=2)
    assert np.all(to_np(m.weight)[2] == 0)
    assert repr(m) == repr(torch.nn.Embedding(10, 4, padding_idx=2))
    assert list(m.state_dict()) == ["weight"]
    w = np.random.default_rng(1).standard_normal((5, 2))
    tm = torch.nn.Embedding.from_pretrained(torch.tensor(w), padding_idx=1)
    rm = rt.nn.Embedding.from_pretrained(rt.tensor(w).to(current_device()), padding_idx=1)
    assert rm.weight.requires_grad is False
    x = [[0, 1], [4, 4]]
    np.testing.assert_allclose(to_np(rm(idx(rt, x))), tm(idx(torch, x)).detach().numpy())
    rm2 = rt.nn.Embedding.from_pretrained(rt.tensor(w), freeze=False)
    assert rm2.weight.requires_grad is True
    with pytest.raises(NotImplementedError, match="sparse"):
        rt.nn.Embedding(3, 2, sparse=True)


BAGS = [
    ("2d", [[1, 3, 3], [0, 6, 2]], None),
    ("offsets", [1, 3, 3, 0, 6, 2, 5], [0, 2, 2, 5]),
]


@pytest.mark.parametrize("form,values,offsets", BAGS, ids=[b[0] for b in BAGS])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_bag_matches_torch(form, values, offsets, mode, padding_idx):
    torch = need_torch()
    tw, rw = table(torch)
    F, G = torch.nn.functional, rt.nn.functional
    t_off = None if offsets is None else idx(torch, offsets)
    r_off = None if offsets is None else idx(rt, offsets)
    t_out = F.embedding_bag(idx(torch, values), tw, t_off, mode=mode, padding_idx=padding_idx)
    r_out = G.embedding_bag(idx(rt, values), rw, r_off, mode=mode, padding_idx=padding_idx)
    check(tw, rw, t_out, r_out)


@pytest.mark.parametrize("include_last_offset", [False, True])
def test_embedding_bag_weights_and_last_offset(include_last_offset):
    torch = need_torch()
    tw, rw = table(torch)
    values, offsets = [1, 3, 3, 0, 6, 2, 5], [0, 3, 5, 7]
    psw = np.random.default_rng(2).standard_normal(7)
    tb = torch.nn.EmbeddingBag.from_pretrained(
        tw, freeze=False, mode="sum", include_last_offset=include_last_offset
    )
    rb = rt.nn.EmbeddingBag.from_pretrained(
        rw, freeze=False, mode="sum", include_last_offset=include_last_offset
    )
    t_out = tb(idx(torch, values), idx(torch, offsets), torch.tensor(psw))
    r_out = rb(idx(rt, values), idx(rt, offsets), rt.tensor(psw).to(current_device()))
    check(tb.weight, rb.weight, t_out, r_out)
    assert repr(rb) == repr(tb)


def test_embedding_gradcheck_and_gradgradcheck():
    w = rt.tensor(np.random.default_rng(0).standard_normal((5, 3))).to(current_device())
    w.requires_grad_()
    i = idx(rt, [[1, 3, 1], [0, 4, 3]])

    # Plain lookups only: padding_idx and scale_grad_by_freq change the gradient on purpose
    # (it is no longer the derivative), and are compared with PyTorch above instead.
    def f(w):
        e = rt.nn.functional.embedding(i, w)
        return e * e

    assert rt.autograd.gradcheck(f, (w,))
    assert rt.autograd.gradgradcheck(f, (w,))


def test_errors_match_torch():
    torch = need_torch()

    def same(make):
        with pytest.raises(Exception) as theirs:
            make(torch)
        with pytest.raises(Exception) as ours:
            make(rt)
        assert type(ours.value).__name__ == type(theirs.value).__name__
        assert str(ours.value).replace(LIB_NAME + ".", "torch.") == str(theirs.value)

    same(lambda lib: lib.nn.functional.embedding(lib.tensor([1.0]), lib.zeros(3, 2)))
    same(lambda lib: lib.nn.functional.embedding(lib.tensor([3]), lib.zeros(3, 2)))
    # Negative indices are out of range here (advanced indexing would wrap them).
    same(lambda lib: lib.nn.functional.embedding(lib.tensor([-1]), lib.zeros(3, 2)))
    same(lambda lib: lib.index_select(lib.zeros(3, 2), 0, lib.tensor([-1])))
    same(lambda lib: lib.nn.Embedding(3, 2, padding_idx=3))
    same(lambda lib: lib.nn.functional.embedding_bag(lib.tensor([1]), lib.zeros(3, 2), mode="min"))
