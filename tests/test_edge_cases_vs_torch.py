"""Edge cases of the convolution and sequence families against PyTorch: empty batches
through max pooling and ``grid_sample``; lp-pooling's zero windows and infinite orders;
cross-entropy with every target ignored; attention dropout at ``p = 1``; ``masked_fill``
with a tensor value; ``embedding_bag``'s tied maxima and bad offsets; the deterministic,
cuDNN and oneDNN switches; ``nn.init.dirac_``; the distance modules; ``cosine_similarity``
below ``eps``; ``MultiheadAttention``'s causal hint; empty pooling inputs, bad unpooling
indices and targets, and other bad arguments. Values and gradients in float64, errors by
type and message.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_error, need_torch, rt, to_np

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


@pytest.mark.parametrize("n, shape", [
    (1, [1, 0, 4]), (1, [0, 4]), (1, [1, 1, 0]), (1, [0, 0, 4]), (1, [1, 0]),
    (2, [1, 0, 4, 4]), (2, [0, 4, 4]), (2, [1, 1, 4, 0]), (2, [1, 4, 0]), (2, [0, 1, 4, 4]),
    (3, [1, 0, 4, 4, 4]), (3, [0, 4, 4, 4]), (3, [1, 1, 4, 4, 0]), (3, [0, 0, 4, 4, 4]),
])
@pytest.mark.parametrize("kind", ["max_pool", "avg_pool", "adaptive_max_pool",
                                  "adaptive_avg_pool", "lp_pool"])
def test_pooling_an_empty_plane(kind, n, shape):
    """PyTorch refuses zero channels or an empty spatial dim in most pools, each kernel in
    its own words; ``adaptive_avg_pool1d/2d`` take zero channels, and every pool an empty
    batch."""
    torch = need_torch()
    fn = f"{kind}{n}d"
    args = (2, 2) if kind == "lp_pool" else (2,)

    def call(lib):
        return getattr(lib.nn.functional, fn)(lib.ones(shape, dtype=lib.float64), *args)

    try:
        want = call(torch)
    except RuntimeError:
        assert_same_error(call)
        return
    assert tuple(call(rt).shape) == tuple(want.shape)


@pytest.mark.parametrize("n, x_shape, idx, out", [
    (1, (1, 1, 2), [[[0, 9]]], None),
    (2, (1, 1, 2, 2), [[[[0, 1], [2, -1]]]], None),
    (2, (1, 2, 2), [[[0, 1], [2, 16]]], None),
    (3, (1, 1, 1, 1, 2), [[[[[0, 99]]]]], [2, 2, 5]),
])
def test_max_unpool_names_a_bad_index(n, x_shape, idx, out):
    assert_same_error(lambda lib: getattr(lib.nn.functional, f"max_unpool{n}d")(
        lib.ones(x_shape), lib.tensor(idx), 2, output_size=out))


@pytest.mark.parametrize("target", [[[0, 1, 2, 5], [0, 0, 0, 0]], [[0, 1, 2, -3], [0, 0, 0, 0]]])
@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_a_target_out_of_range_in_nd_loss(fn, target):
    assert_same_error(lambda lib: getattr(lib.nn.functional, fn)(lib.zeros(2, 3, 4),
                                                           lib.tensor(target)))


@pytest.mark.parametrize("call", [
    lambda lib: lib.multinomial(lib.ones(3), -1),
    lambda lib: lib.nn.utils.rnn.pad_sequence([lib.ones(2), lib.ones(3)], padding_side="up"),
    lambda lib: lib.nn.functional.layer_norm(lib.ones(2, 5), 5),
    lambda lib: lib.nn.MultiheadAttention(8, 2)(lib.zeros(3, 1, 8), lib.zeros(4, 1, 8),
                                                lib.zeros(5, 1, 8)),
    lambda lib: lib.nn.MultiheadAttention(8, 2, kdim=4, vdim=6)(
        lib.zeros(3, 1, 8), lib.zeros(4, 1, 4), lib.zeros(5, 1, 6)),
], ids=["multinomial", "padding_side", "layer_norm_int", "mha_kv", "mha_kv_separate"])
def test_bad_arguments_raise_torch_errors(call):
    assert_same_error(call)


@pytest.mark.parametrize("first, second", [("int64", "float32"), ("float32", "int64")])
def test_pad_sequence_keeps_the_first_dtype(first, second):
    torch = need_torch()

    def call(lib):
        seqs = [lib.ones(2, dtype=getattr(lib, first)),
                lib.full((3,), 2.5).to(getattr(lib, second))]
        return lib.nn.utils.rnn.pad_sequence(seqs, batch_first=True)

    ours, theirs = call(rt), call(torch)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_array_equal(to_np(ours), theirs.numpy())


@pytest.mark.parametrize("a", [[1e-9, 0.0, 0.0], [0.0, 0.0, 0.0], [3e-9, -4e-9, 0.0],
                               [1.0, -2.0, 0.5]])
def test_cosine_similarity_gradient_below_eps(a):
    torch = need_torch()
    x, tx = _pair(np.array([a]))
    y, ty = _pair(np.array([[1.0, 2.0, 0.5]]))
    out = F.cosine_similarity(x, y)
    tout = torch.nn.functional.cosine_similarity(tx, ty)
    _same(out, tout)
    out.sum().backward()
    tout.sum().backward()
    # Gradients of order 1/eps: compared relatively.
    np.testing.assert_allclose(to_np(x.grad), tx.grad.numpy(), rtol=1e-10, atol=0)
    np.testing.assert_allclose(to_np(y.grad), ty.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mask_kind, need_weights, padding", [
    ("none", False, False), ("none", True, False), ("causal", False, False),
    ("none", False, True),
])
def test_multihead_attention_causal_hint(mask_kind, need_weights, padding):
    """``is_causal=True`` stands for the mask (a causal one is applied) unless the weights
    or a padding mask are asked for, as PyTorch's."""
    torch = need_torch()

    def run(lib):
        m = lib.nn.MultiheadAttention(4, 2, batch_first=True)
        with lib.no_grad():
            for i, (_, p) in enumerate(sorted(m.named_parameters())):
                v = np.sin(np.arange(p.numel()) * (i + 1.3)).reshape(tuple(p.shape))
                p.copy_(lib.tensor(v, dtype=lib.float32))
        x = lib.tensor(np.linspace(-1, 1, 12).reshape(1, 3, 4), dtype=lib.float32)
        mask = lib.zeros(3, 3, dtype=lib.bool)
        if mask_kind == "causal":
            mask = lib.ones(3, 3, dtype=lib.bool).triu(1)
        kpm = lib.tensor([[False, False, True]]) if padding else None
        out, _ = m(x, x, x, attn_mask=mask, key_padding_mask=kpm, is_causal=True,
                   need_weights=need_weights)
        return out

    np.testing.assert_allclose(to_np(run(rt)), run(torch).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_cudnn_and_mkldnn_switches():
    torch = need_torch()
    assert rt.backends.cudnn.is_acceptable(rt.ones(2)) is False
    assert torch.backends.cudnn.is_acceptable(torch.ones(2)) is False
    mk = rt.backends.mkldnn
    # No oneDNN in rustorch: it answers as a PyTorch built without it.
    assert mk.is_available() is (rt.__name__ == "torch")
    assert mk.is_acl_available() is False
    assert mk.enabled is True
    with mk.flags(enabled=False, deterministic=True):
        assert mk.enabled is False and mk.deterministic is True
    assert mk.enabled is True and mk.deterministic is False
    before = mk.set_flags(_enabled=False)
    assert before[0] is True and mk.enabled is False
    mk.set_flags(*before)
    assert mk.enabled is True
    with mk.verbose(mk.VERBOSE_ON) as v:
        assert v is not None
