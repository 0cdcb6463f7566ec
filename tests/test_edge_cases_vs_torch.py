"""Edge cases of the convolution and sequence families against PyTorch: empty batches
through max pooling and ``grid_sample``; lp-pooling's zero windows and infinite orders;
cross-entropy with every target ignored; attention dropout at ``p = 1``; ``masked_fill``
with a tensor value; ``embedding_bag``'s tied maxima and bad offsets; the deterministic
and cuDNN switches; ``nn.init.dirac_``; the distance modules. Values and gradients in
float64, errors by type and message.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_torch, rt, to_np

F = rt.nn.functional


def _pair(a: np.ndarray, grad: bool = True):
    """The same float64 values as a rustorch and a PyTorch tensor."""
    torch = need_torch()
    return (rt.tensor(a, dtype=rt.float64, requires_grad=grad),
            torch.tensor(a, dtype=torch.float64, requires_grad=grad))


def _same(ours, theirs, tol=1e-10):
    np.testing.assert_allclose(to_np(ours), theirs.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("fn, shape, args", [
    ("max_pool1d", (0, 2, 6), (2,)),
    ("max_pool2d", (0, 2, 4, 4), (2,)),
    ("max_pool3d", (0, 1, 4, 4, 4), (2,)),
    ("adaptive_max_pool2d", (0, 2, 4, 4), (1,)),
])
def test_max_pooling_an_empty_batch(fn, shape, args):
    torch = need_torch()
    x, tx = _pair(np.zeros(shape))
    y, ty = getattr(F, fn)(x, *args), getattr(torch.nn.functional, fn)(tx, *args)
    assert tuple(y.shape) == tuple(ty.shape)
    y.sum().backward()
    assert tuple(x.grad.shape) == shape


@pytest.mark.parametrize("x_shape, grid_shape", [((0, 2, 4, 4), (0, 3, 3, 2)),
                                                 ((1, 2, 4, 4), (1, 0, 3, 2))])
def test_grid_sample_of_nothing(x_shape, grid_shape):
    torch = need_torch()
    x, tx = _pair(np.zeros(x_shape))
    g, tg = _pair(np.zeros(grid_shape))
    y = F.grid_sample(x, g, align_corners=False)
    ty = torch.nn.functional.grid_sample(tx, tg, align_corners=False)
    assert tuple(y.shape) == tuple(ty.shape)


@pytest.mark.parametrize("p", [2.0, 3.0])
def test_lp_pool_passes_nothing_from_a_zero_window(p):
    torch = need_torch()
    a = np.array([[[1.0, -2.0, 3.0, 0.5, 0.0, 0.0]]])
    x, tx = _pair(a)
    y, ty = F.lp_pool1d(x, p, 2), torch.nn.functional.lp_pool1d(tx, p, 2)
    _same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _same(x.grad, tx.grad)
    assert (to_np(x.grad)[..., 4:] == 0).all()


@pytest.mark.parametrize("p", [float("inf"), -float("inf")])
@pytest.mark.parametrize("n", [1, 2])
def test_lp_pool_of_infinite_order(p, n):
    torch = need_torch()
    shape = {1: (2, 2, 8), 2: (1, 2, 4, 4)}[n]
    a = np.random.default_rng(3).permutation(32).reshape(shape) - 15.5
    x, tx = _pair(a)
    name = f"lp_pool{n}d"
    y, ty = getattr(F, name)(x, p, 2), getattr(torch.nn.functional, name)(tx, p, 2)
    _same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _same(x.grad, tx.grad)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
def test_cross_entropy_with_every_target_ignored(smoothing, shape):
    torch = need_torch()
    x, tx = _pair(np.random.default_rng(0).standard_normal(shape))
    t = np.full((shape[0],) + shape[2:], -100)
    loss = F.cross_entropy(x, rt.tensor(t), label_smoothing=smoothing)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(t), label_smoothing=smoothing)
    assert np.isnan(loss.item()) and np.isnan(tloss.item())
    loss.backward()
    tloss.backward()
    _same(x.grad, tx.grad)


def test_cross_entropy_some_targets_ignored_still_matches():
    torch = need_torch()
    x, tx = _pair(np.random.default_rng(1).standard_normal((5, 4)))
    t = np.array([1, -100, 3, -100, 0])
    w = np.array([0.5, 2.0, 1.0, 3.0])
    loss = F.cross_entropy(x, rt.tensor(t), weight=rt.tensor(w, dtype=rt.float64))
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(t), weight=torch.tensor(w))
    _same(loss, tloss)
    loss.backward()
    tloss.backward()
    _same(x.grad, tx.grad)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4)])
def test_class_weight_of_the_wrong_length(fn, shape):
    torch = need_torch()
    t = np.zeros((shape[0],) + shape[2:], dtype=np.int64)
    with pytest.raises(RuntimeError) as ours:
        getattr(F, fn)(rt.randn(*shape), rt.tensor(t), weight=rt.ones(5))
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.nn.functional, fn)(torch.randn(*shape), torch.tensor(t),
                                         weight=torch.ones(5))
    assert str(ours.value) == str(theirs.value)


def test_attention_dropout_of_one_passes_zero_gradients():
    q = rt.randn(1, 2, 3, dtype=rt.float64, requires_grad=True)
    y = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    assert (to_np(y) == 0).all()
    y.sum().backward()
    assert (to_np(q.grad) == 0).all()


def test_masked_fill_with_a_tensor_value():
    torch = need_torch()
    a = np.random.default_rng(2).standard_normal((2, 3))
    mask = np.array([[True, False, True], [False, False, True]])
    x, tx = _pair(a)
    v, tv = _pair(np.array(2.5))
    y = x.masked_fill(rt.tensor(mask), v)
    ty = tx.masked_fill(torch.tensor(mask), tv)
    _same(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    _same(x.grad, tx.grad)
    _same(v.grad, tv.grad)
    # A mask of a larger shape broadcasts the input, out of place.
    z, tz = _pair(np.arange(3.0), grad=False)
    big = np.array([[True], [False]])
    _same(z.masked_fill(rt.tensor(big), v), tz.masked_fill(torch.tensor(big), tv))
    # Only a 0-d value, in place or not.
    for ours, theirs in ((lambda: z.masked_fill(rt.tensor([True, False, True]), rt.ones(1)),
                          lambda: tz.masked_fill(torch.tensor([True, False, True]),
                                                 torch.ones(1))),
                         (lambda: z.masked_fill_(rt.tensor([True, False, True]), rt.ones(1)),
                          lambda: tz.masked_fill_(torch.tensor([True, False, True]),
                                                  torch.ones(1)))):
        with pytest.raises(RuntimeError) as e_ours:
            ours()
        with pytest.raises(RuntimeError) as e_theirs:
            theirs()
        assert str(e_ours.value) == str(e_theirs.value)


def test_embedding_bag_max_sends_a_tie_to_the_first_row():
    torch = need_torch()
    w, tw = _pair(np.ones((3, 2)))
    bags = np.array([[0, 1, 1]])
    y = F.embedding_bag(rt.tensor(bags), w, mode="max")
    ty = torch.nn.functional.embedding_bag(torch.tensor(bags), tw, mode="max")
    _same(y, ty)
    y.sum().backward()
    ty.sum().backward()
    _same(w.grad, tw.grad)


@pytest.mark.parametrize("offsets", [[1, 4], [0, 14]])
def test_embedding_bag_rejects_bad_offsets(offsets):
    torch = need_torch()
    with pytest.raises(RuntimeError) as ours:
        F.embedding_bag(rt.arange(8), rt.randn(10, 3), rt.tensor(offsets), mode="sum")
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.functional.embedding_bag(torch.arange(8), torch.randn(10, 3),
                                          torch.tensor(offsets), mode="sum")
    assert str(theirs.value).startswith(str(ours.value))


def test_deterministic_and_cudnn_switches():
    torch = need_torch()
    assert rt.are_deterministic_algorithms_enabled() is False
    try:
        rt.use_deterministic_algorithms(True, warn_only=True)
        assert rt.are_deterministic_algorithms_enabled() is True
        assert rt.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        rt.use_deterministic_algorithms(False)
    assert rt.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError) as ours:
        rt.use_deterministic_algorithms(1)
    with pytest.raises(TypeError) as theirs:
        torch.use_deterministic_algorithms(1)
    assert str(ours.value) == str(theirs.value)
    cudnn = rt.backends.cudnn
    before = (cudnn.enabled, cudnn.benchmark, cudnn.deterministic)
    with cudnn.flags(enabled=False, benchmark=True, deterministic=True):
        assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (False, True, True)
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == before


@pytest.mark.parametrize("shape, groups", [((4, 2, 3), 1), ((6, 2, 3, 5), 2),
                                           ((2, 3, 3, 3, 3), 1), ((3, 5, 3, 3), 1)])
def test_dirac_init(shape, groups):
    torch = need_torch()
    w = rt.nn.init.dirac_(rt.empty(*shape), groups)
    tw = torch.nn.init.dirac_(torch.empty(*shape), groups)
    np.testing.assert_array_equal(to_np(w), tw.numpy())
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions"):
        rt.nn.init.dirac_(rt.empty(3, 3))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        rt.nn.init.dirac_(rt.empty(5, 2, 3), 2)


def test_distance_modules():
    torch = need_torch()
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    for name, kwargs in (("PairwiseDistance", {"p": 3.0, "keepdim": True}),
                         ("CosineSimilarity", {"dim": 0})):
        m, tm = getattr(rt.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
        assert repr(m) == repr(tm)
        x, tx = _pair(a)
        y, ty = m(x, rt.tensor(b)), tm(tx, torch.tensor(b))
        _same(y, ty)
        y.sum().backward()
        ty.sum().backward()
        _same(x.grad, tx.grad)


def test_grad_of_some_inputs_through_a_convolution():
    """``autograd.grad`` w.r.t. the weight alone, the input alone, or both: the same values
    as PyTorch's (the engine computes only the asked-for ones)."""
    torch = need_torch()
    rng = np.random.default_rng(5)
    x, tx = _pair(rng.standard_normal((2, 3, 6, 6)))
    w, tw = _pair(rng.standard_normal((4, 3, 3, 3)))
    g = rng.standard_normal((2, 4, 4, 4))
    y, ty = F.conv2d(x, w), torch.nn.functional.conv2d(tx, tw)
    for ours, theirs in (([w], [tw]), ([x], [tx]), ([x, w], [tx, tw])):
        got = rt.autograd.grad(y, ours, rt.tensor(g), retain_graph=True)
        want = torch.autograd.grad(ty, theirs, torch.tensor(g), retain_graph=True)
        for a_, b_ in zip(got, want):
            _same(a_, b_)


@pytest.mark.parametrize("fn, shape, size", [
    ("adaptive_avg_pool2d", (1, 2, 4, 4), -1),
    ("adaptive_avg_pool2d", (1, 2, 4, 4), (2, -1)),
    ("adaptive_avg_pool1d", (1, 2, 4), -2),
    ("adaptive_avg_pool3d", (1, 2, 4, 4, 4), -1),
    ("adaptive_avg_pool2d", (1, 2, 4, 4), (2, 2, 2)),
    ("adaptive_max_pool2d", (1, 2, 4, 4), (2, 2, 2)),
    ("adaptive_max_pool2d", (1, 2, 4, 4), -1),
    ("adaptive_max_pool1d", (1, 2, 4), -1),
])
def test_adaptive_pool_rejects_bad_sizes(fn, shape, size):
    torch = need_torch()
    with pytest.raises(RuntimeError) as ours:
        getattr(F, fn)(rt.zeros(*shape), size)
    with pytest.raises(RuntimeError) as theirs:
        getattr(torch.nn.functional, fn)(torch.zeros(*shape), size)
    assert str(ours.value) == str(theirs.value)


def test_attention_takes_a_float32_mask_with_any_query():
    torch = need_torch()
    a = np.random.default_rng(6).standard_normal((1, 2, 3))
    m = np.array([[0.0, -1.0], [-2.0, 0.5]], dtype=np.float32)
    q, tq = _pair(a)
    y = F.scaled_dot_product_attention(q, q, q, attn_mask=rt.tensor(m))
    ty = torch.nn.functional.scaled_dot_product_attention(tq, tq, tq, attn_mask=torch.tensor(m))
    assert y.dtype == rt.float64
    _same(y, ty)
    # A float64 mask with a float32 query stays PyTorch's error.
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype"):
        q32 = rt.tensor(a, dtype=rt.float32)
        F.scaled_dot_product_attention(q32, q32, q32, attn_mask=rt.tensor(m, dtype=rt.float64))
