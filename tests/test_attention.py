"""Attention and the Transformer: ``F.scaled_dot_product_attention``,
``nn.MultiheadAttention``, the encoder/decoder layers and stacks, ``nn.Transformer``, and
``triu``/``tril``.

Modules are built in both libraries from the same PyTorch weights (``state_dict`` through
NumPy) and compared on outputs, attention weights and every gradient, for each option and
mask kind, on every device; float64 gradients pass gradcheck and gradgradcheck.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import check_op, current_device, need_torch, rand_array, rt, to_np, torch_is_oracle

pytestmark = [
    pytest.mark.usefixtures("device"),
    # PyTorch advises on its nested-tensor fast path and mask types; not about us.
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def pair(torch, arr, requires_grad=True, dtype="float64"):
    t = torch.tensor(arr, dtype=getattr(torch, dtype), requires_grad=requires_grad)
    r = rt.tensor(arr, dtype=getattr(rt, dtype)).to(current_device())
    return t, r.requires_grad_(requires_grad)


def close(ours, theirs, tol=1e-10, what=""):
    np.testing.assert_allclose(to_np(ours), theirs.detach().numpy(), rtol=tol, atol=tol,
                               err_msg=what)


def twin(torch, make):
    """``make(lib.nn)`` in both libraries, ours with PyTorch's weights, float64."""
    torch.manual_seed(0)
    theirs = make(torch.nn).double()
    ours = make(rt.nn).double()
    ours.load_state_dict({k: rt.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return theirs, ours.to(current_device())


def backward_both(t_outs, r_outs, t_leaves, r_leaves, theirs=None, ours=None, tol=1e-10):
    t_loss, r_loss = 0, 0
    for i, (a, b) in enumerate(zip(t_outs, r_outs)):
        if a is None:
            assert b is None
            continue
        close(b, a, tol, f"output {i}")
        w = rand(*a.shape, seed=20 + i)
        t_loss = t_loss + (a * need_torch().tensor(w)).sum()
        r_loss = r_loss + (b * rt.tensor(w).to(b.device)).sum()
    t_loss.backward()
    r_loss.backward()
    for i, (a, b) in enumerate(zip(t_leaves, r_leaves)):
        close(b.grad, a.grad, tol, f"grad of input {i}")
    if theirs is not None:
        for (n, p), (_, q) in zip(theirs.named_parameters(), ours.named_parameters()):
            close(q.grad, p.grad, tol, f"grad of {n}")


# ------------------------------------------------------------------------ triu / tril


@pytest.mark.parametrize("diagonal", [-2, 0, 1, 4])
def test_triu_tril_match_torch(diagonal):
    torch = need_torch()
    t, r = pair(torch, rand(2, 4, 5))
    for name in ("triu", "tril"):
        a = getattr(torch, name)(t, diagonal)
        b = getattr(rt, name)(r, diagonal)
        backward_both([a], [b], [t], [r])
        t.grad = None
        r.grad = None
    x = rt.ones(3, 3, dtype=rt.bool).to(current_device())
    assert x.tril().dtype == rt.bool and int(x.tril().sum()) == 6
    y = rt.tensor(rand(3, 3)).to(current_device())
    y.triu_(1)
    assert np.all(np.tril(to_np(y)) == 0)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        rt.triu(rt.zeros(3))


@pytest.mark.parametrize("diagonal", [-400, -299, -3, 0, 5, 129, 200, 2**62, -(2**62)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_triu_tril_large_and_extreme_diagonals(diagonal, layout):
    a = rand_array((3, 300, 130), "float32")
    for name in ("triu", "tril"):
        check_op(lambda lib, x, n=name: getattr(lib, n)(x, diagonal), a, layout=layout)
    check_op(lambda lib, x: x.tril(diagonal), rand_array((4, 5), "float64"), grad=True)


# ------------------------------------------------------------ scaled_dot_product_attention

SDPA_CASES = {
    "plain": {},
    "bool mask": {"mask": "bool"},
    "masked row": {"mask": "masked_row"},
    "float mask": {"mask": "float"},
    "causal": {"is_causal": True},
    "scale": {"scale": 0.3},
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_torch(case):
    torch = need_torch()
    opts = dict(SDPA_CASES[case])
    tq, rq = pair(torch, rand(2, 3, 5, 4, seed=1))
    tk, rk = pair(torch, rand(2, 3, 6, 4, seed=2))
    tv, rv = pair(torch, rand(2, 3, 6, 7, seed=3))
    kind = opts.pop("mask", None)
    if kind in ("bool", "masked_row"):
        m = rand(5, 6, seed=4) > -0.5
        m[:, 0] = True  # every query attends somewhere
        if kind == "masked_row":
            m[3] = False  # but this one: zeros and zero gradients (PyTorch's safe softmax)
        opts["attn_mask"] = (torch.tensor(m), rt.tensor(m).to(current_device()))
    elif kind == "float":
        m = rand(2, 1, 5, 6, seed=4)
        opts["attn_mask"] = (torch.tensor(m), rt.tensor(m).to(current_device()))
    t_opts = {k: (v[0] if isinstance(v, tuple) else v) for k, v in opts.items()}
    r_opts = {k: (v[1] if isinstance(v, tuple) else v) for k, v in opts.items()}
    if case == "causal":
        tk, rk = pair(torch, rand(2, 3, 5, 4, seed=2))
        tv, rv = pair(torch, rand(2, 3, 5, 7, seed=3))
    a = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **t_opts)
    b = rt.nn.functional.scaled_dot_product_attention(rq, rk, rv, **r_opts)
    backward_both([a], [b], [tq, tk, tv], [rq, rk, rv])


def test_sdpa_grouped_query_attention():
    torch = need_torch()
    tq, rq = pair(torch, rand(2, 4, 5, 3, seed=1))
    tk, rk = pair(torch, rand(2, 2, 6, 3, seed=2))
    tv, rv = pair(torch, rand(2, 2, 6, 3, seed=3))
    a = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True)
    b = rt.nn.functional.scaled_dot_product_attention(rq, rk, rv, enable_gqa=True)
    backward_both([a], [b], [tq, tk, tv], [rq, rk, rv])


def test_sdpa_gradcheck_and_gradgradcheck():
    q = rt.tensor(rand(1, 2, 3, 2, seed=1)).to(current_device()).requires_grad_()
    k = rt.tensor(rand(1, 2, 4, 2, seed=2)).to(current_device()).requires_grad_()
    v = rt.tensor(rand(1, 2, 4, 2, seed=3)).to(current_device()).requires_grad_()
    mask = rt.tensor(rand(3, 4, seed=4)).to(current_device())

    def f(q, k, v):
        return rt.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    assert rt.autograd.gradcheck(f, (q, k, v))
    assert rt.autograd.gradgradcheck(f, (q, k, v))


# ------------------------------------------------ the fused attention weights (one node)

WEIGHT_MASKS = ["none", "bool", "bool_batch", "float_grad", "causal", "masked_row"]


def _weights_case(torch, kind, dtype, transposed):
    """Scores (…, L, S) and the mask/causal options of one case, in both libraries."""
    shape = (2, 3, 5, 7)
    arr = rand(*shape, seed=8) * 3
    if transposed:  # non-contiguous scores
        t = torch.tensor(arr.swapaxes(-1, -2).copy(), dtype=getattr(torch, dtype))
        t = t.transpose(-1, -2).requires_grad_()
        r = rt.tensor(arr.swapaxes(-1, -2).copy(), dtype=getattr(rt, dtype))
        r = r.to(current_device()).transpose(-1, -2).requires_grad_()
    else:
        t, r = pair(torch, arr, dtype=dtype)
    tm = rm = None
    if kind in ("bool", "masked_row"):
        m = rand(5, 7, seed=9) > -0.3
        m[:, 0] = True
        if kind == "masked_row":
            m[2] = False  # a query that sees nothing: NaN, as PyTorch
        tm, rm = torch.tensor(m), rt.tensor(m).to(current_device())
    elif kind == "bool_batch":
        m = rand(2, 1, 1, 7, seed=9) > -0.3
        m[..., 0] = True
        tm, rm = torch.tensor(m), rt.tensor(m).to(current_device())
    elif kind == "float_grad":
        tm, rm = pair(torch, rand(3, 1, 7, seed=9), dtype=dtype)
    return (t, tm), (r, rm)


def _torch_weights(torch, t, tm, causal, scale, safe):
    """PyTorch's math path between the two products: scale, mask, (safe) softmax."""
    x = t * scale
    if causal:
        keep = torch.ones(x.shape[-2], x.shape[-1], dtype=torch.bool).tril()
        x = x.masked_fill(~keep, float("-inf"))
    if tm is not None:
        x = x.masked_fill(~tm, float("-inf")) if tm.dtype == torch.bool else x + tm
    return torch._safe_softmax(x, -1) if safe else x.softmax(-1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("kind", WEIGHT_MASKS)
def test_attention_weights_match_torch(kind, transposed, dtype):
    torch = need_torch()
    tol = 1e-12 if dtype == "float64" else 2e-6
    for safe in (True, False):
        (t, tm), (r, rm) = _weights_case(torch, kind, dtype, transposed)
        causal = kind == "causal"
        a = _torch_weights(torch, t, tm, causal, 0.4, safe)
        b = rt._C._attention_softmax(r, rm, causal, 0.4, 0.0, safe)
        leaves = ([t, tm], [r, rm]) if kind == "float_grad" else ([t], [r])
        if kind == "masked_row" and not safe:
            # softmax: NaN weights where every key is masked out, and NaN gradients there
            # (PyTorch's masked_fill then zeroes them; our one node does not).
            assert np.isnan(to_np(b)[:, :, 2]).all()
            close(b[:, :, [0, 1, 3, 4]], a[:, :, [0, 1, 3, 4]], tol)
            continue
        backward_both([a], [b], *leaves, tol=tol)


def test_attention_weights_gradcheck_with_mask_causal_and_dropout():
    dev = current_device()
    x = rt.tensor(rand(2, 3, 4, 5, seed=1)).to(dev).requires_grad_()
    m = rt.tensor(rand(4, 5, seed=2)).to(dev).requires_grad_()

    def masked(x, m):
        return rt._C._attention_softmax(x, m, True, 0.7, 0.0, True)

    assert rt.autograd.gradcheck(masked, (x, m))
    assert rt.autograd.gradgradcheck(masked, (x, m))

    def dropped(x):
        rt.manual_seed(5)  # the same dropout mask at every evaluation
        return rt._C._attention_softmax(x, None, False, 0.7, 0.3, False)

    assert rt.autograd.gradcheck(dropped, (x,))
    assert rt.autograd.gradgradcheck(dropped, (x,))


def test_attention_weights_dropout_scales_survivors_and_drops_p():
    """Dropout inside the fused op: each weight is 0 or the undropped weight / (1 − p),
    about p of them are dropped, and the gradient flows only through the survivors."""
    dev = current_device()
    x = rt.tensor(rand(4, 8, 64, 64, seed=3)).to(dev).requires_grad_()
    y = rt._C._attention_softmax(x, None, False, 0.5, 0.0, False)
    rt.manual_seed(1)
    d = rt._C._attention_softmax(x, None, False, 0.5, 0.25, False)
    yn, dn = to_np(y), to_np(d)
    kept = dn != 0
    assert abs((~kept).mean() - 0.25) < 0.01
    np.testing.assert_allclose(dn[kept], yn[kept] / 0.75, rtol=1e-12)
    g = rand(*dn.shape, seed=4)
    d.backward(rt.tensor(g).to(dev))
    # The same gradient through the undropped weights with the survivors' upstream only.
    x2 = x.detach().clone().requires_grad_()
    y2 = rt._C._attention_softmax(x2, None, False, 0.5, 0.0, False)
    y2.backward(rt.tensor(np.where(kept, g / 0.75, 0.0)).to(dev))
    close(x.grad, need_torch().tensor(to_np(x2.grad)), 1e-12)
    rt.manual_seed(1)
    again = rt._C._attention_softmax(x, None, False, 0.5, 0.25, False)
    assert np.array_equal(to_np(again), dn)
    assert not (to_np(rt._C._attention_softmax(x, None, False, 0.5, 1.0, False)) != 0).any()


def test_attention_weights_errors_match_torch():
    torch = need_torch()
    q = np.zeros((2, 3, 4))
    for lib in (torch, rt):
        t = lib.tensor(q, dtype=lib.float32)
        sdpa = lib.nn.functional.scaled_dot_product_attention
        with pytest.raises(RuntimeError, match=r"attn_mask dtype to be bool or float or to match "
                           r"query dtype, but got attn_mask.dtype: long int and  query.dtype: "
                           r"float instead"):
            sdpa(t, t, t, attn_mask=lib.ones(3, 3, dtype=lib.int64))
        with pytest.raises(RuntimeError, match="double and  query.dtype: float"):
            sdpa(t, t, t, attn_mask=lib.ones(3, 3, dtype=lib.float64))
        with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match the size "
                           r"of tensor b \(2\) at non-singleton dimension 1"):
            sdpa(t, t, t, attn_mask=lib.ones(2, 3, dtype=lib.bool))
    with pytest.raises(RuntimeError, match=r"mask of shape \[2, 1, 3, 3\] does not broadcast to "
                       r"the attention weights' shape \[2, 3, 3\]"):
        rt._C._attention_softmax(rt.zeros(2, 3, 3), rt.ones(2, 1, 3, 3, dtype=rt.bool), False, 1.0,
                                 0.0, True)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        rt._C._attention_softmax(rt.zeros(2, 3), None, False, 1.0, 1.5, True)
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        rt._C._attention_softmax(rt.zeros(2, 3, dtype=rt.int64), None, False, 1.0, 0.0, True)


# ------------------------------------------------------------------- MultiheadAttention

MHA_CASES = {
    "default": ({}, {}),
    "batch_first": ({"batch_first": True}, {}),
    "kdim_vdim": ({"kdim": 5, "vdim": 3}, {}),
    "bias_kv_zero_attn": ({"add_bias_kv": True, "add_zero_attn": True}, {}),
    "no_bias": ({"bias": False}, {}),
    "padding_mask": ({}, {"key_padding_mask": "bool"}),
    "bool_attn_mask": ({}, {"attn_mask": "bool"}),
    "float_3d_mask": ({}, {"attn_mask": "float3"}),
    "per_head_weights": ({}, {"average_attn_weights": False}),
    "no_weights": ({}, {"need_weights": False}),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case):
    torch = need_torch()
    ctor, call = MHA_CASES[case]
    E, H, L, S, N = 8, 2, 4, 5, 3
    theirs, ours = twin(torch, lambda nn: nn.MultiheadAttention(E, H, **ctor))
    bf = ctor.get("batch_first", False)
    kd, vd = ctor.get("kdim", E), ctor.get("vdim", E)

    def shape(n, d):
        return (N, n, d) if bf else (n, N, d)

    tq, rq = pair(torch, rand(*shape(L, E), seed=1))
    tk, rk = pair(torch, rand(*shape(S, kd), seed=2))
    tv, rv = pair(torch, rand(*shape(S, vd), seed=3))
    t_kw, r_kw = {}, {}
    for name, value in call.items():
        if value == "bool" and name == "key_padding_mask":
            m = np.zeros((N, S), bool)
            m[0, -2:] = True
            m[2, 0] = True
            t_kw[name], r_kw[name] = torch.tensor(m), rt.tensor(m).to(current_device())
        elif value == "bool":
            m = np.triu(np.ones((L, S), bool), 1)
            t_kw[name], r_kw[name] = torch.tensor(m), rt.tensor(m).to(current_device())
        elif value == "float3":
            m = rand(N * H, L, S, seed=9)
            t_kw[name], r_kw[name] = torch.tensor(m), rt.tensor(m).to(current_device())
        else:
            t_kw[name] = r_kw[name] = value
    a_out, a_w = theirs(tq, tk, tv, **t_kw)
    b_out, b_w = ours(rq, rk, rv, **r_kw)
    backward_both([a_out, a_w], [b_out, b_w], [tq, tk, tv], [rq, rk, rv], theirs, ours)


def test_multihead_self_attention_unbatched_and_repr():
    torch = need_torch()
    theirs, ours = twin(torch, lambda nn: nn.MultiheadAttention(6, 3))
    tx, rx = pair(torch, rand(4, 6))
    a_out, a_w = theirs(tx, tx, tx)
    b_out, b_w = ours(rx, rx, rx)
    backward_both([a_out, a_w], [b_out, b_w], [tx], [rx], theirs, ours)
    assert repr(ours) == repr(theirs)


# ------------------------------------------------------------------------- Transformer


@pytest.mark.parametrize(
    "opts",
    [{}, {"norm_first": True}, {"activation": "gelu", "batch_first": True}, {"bias": False}],
    ids=["post_norm", "norm_first", "gelu_batch_first", "no_bias"],
)
def test_encoder_matches_torch(opts):
    torch = need_torch()

    def make(nn):
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **opts)
        return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))

    theirs, ours = twin(torch, make)
    shape = (3, 5, 8) if opts.get("batch_first") else (5, 3, 8)
    tx, rx = pair(torch, rand(*shape))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    rmask = rt.nn.Transformer.generate_square_subsequent_mask(5, dtype=rt.float64)
    close(rmask, mask, 0, "causal mask")
    pad = np.zeros((3, 5), bool)
    pad[1, -1] = True
    a = theirs(tx, mask=mask, src_key_padding_mask=torch.tensor(pad))
    b = ours(rx, mask=rmask.to(current_device()),
             src_key_padding_mask=rt.tensor(pad).to(current_device()))
    backward_both([a], [b], [tx], [rx], theirs, ours)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_matches_torch(norm_first):
    torch = need_torch()

    def make(nn):
        return nn.Transformer(8, 2, 2, 2, 16, dropout=0.0, norm_first=norm_first)

    theirs, ours = twin(torch, make)
    ts, rs = pair(torch, rand(6, 2, 8, seed=1))
    tt, rtgt = pair(torch, rand(4, 2, 8, seed=2))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    rmask = rt.nn.Transformer.generate_square_subsequent_mask(4, dtype=rt.float64)
    a = theirs(ts, tt, tgt_mask=mask)
    b = ours(rs, rtgt, tgt_mask=rmask.to(current_device()))
    backward_both([a], [b], [ts, tt], [rs, rtgt], theirs, ours)
    if torch_is_oracle():  # (LayerNorm's repr shows bias= from PyTorch 2.13)
        assert repr(ours) == repr(theirs)


def test_transformer_errors_match_torch():
    torch = need_torch()
    for lib in (torch, rt):
        m = lib.nn.Transformer(8, 2, 1, 1, 16)
        with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
            m(lib.zeros(3, 2, 8), lib.zeros(3, 4, 8))
        with pytest.raises(RuntimeError, match="feature number of src and tgt"):
            m(lib.zeros(3, 2, 8), lib.zeros(3, 2, 6))
        with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
            lib.nn.MultiheadAttention(7, 2)


# -------------------------------------------------- glu, normalize, cosine_similarity


@pytest.mark.parametrize(
    "name,args",
    [("glu", (0,)), ("glu", (-1,)), ("normalize", ()), ("normalize", (1.0, 0)),
     ("cosine_similarity", ())],
)
def test_small_functionals_match_torch(name, args):
    torch = need_torch()
    tx, rx = pair(torch, rand(4, 6))
    ty, ry = pair(torch, rand(4, 6, seed=1))
    if name == "cosine_similarity":
        a = torch.nn.functional.cosine_similarity(tx, ty)
        b = rt.nn.functional.cosine_similarity(rx, ry)
        backward_both([a], [b], [tx, ty], [rx, ry])
    else:
        a = getattr(torch.nn.functional, name)(tx, *args)
        b = getattr(rt.nn.functional, name)(rx, *args)
        backward_both([a], [b], [tx], [rx])
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        rt.nn.functional.glu(rt.zeros(3, 5))


# ---------------------------------------------------------------------- repeat_interleave


@pytest.mark.parametrize(
    "repeats,kw",
    [(2, {}), (2, {"dim": 1}), (3, {"dim": 0}), ("tensor", {"dim": 1}), ("tensor1", {"dim": -1})],
)
def test_repeat_interleave_matches_torch(repeats, kw):
    torch = need_torch()
    tx, rx = pair(torch, rand(2, 3))
    if repeats == "tensor":
        t_rep, r_rep = torch.tensor([1, 0, 2]), rt.tensor([1, 0, 2]).to(current_device())
    elif repeats == "tensor1":
        t_rep, r_rep = torch.tensor([2]), rt.tensor([2]).to(current_device())
    else:
        t_rep = r_rep = repeats
    a = tx.repeat_interleave(t_rep, **kw)
    b = rx.repeat_interleave(r_rep, **kw)
    backward_both([a], [b], [tx], [rx])
    counts = [2, 0, 1]
    np.testing.assert_array_equal(
        to_np(rt.repeat_interleave(rt.tensor(counts))),
        torch.repeat_interleave(torch.tensor(counts)).numpy(),
    )
    with pytest.raises(RuntimeError, match="same size as input along dim"):
        rx.repeat_interleave(rt.tensor([1, 2]).to(current_device()), dim=1)
