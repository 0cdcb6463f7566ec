"""Lazy modules, more activations and losses, deprecated nn.init / nn.utils names.

Every test compares with PyTorch (values and gradients) or checks a behaviour PyTorch has;
all pass with ``RUSTORCH_TEST_ORACLE=torch`` too.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from conftest import (
    assert_values,
    check_op,
    make_tensor,
    need_torch,
    rt,
    to_np,
    torch_is_oracle,
)

nn = rt.nn
F = rt.nn.functional


def _x(shape, seed=0, scale=3.0):
    """Random data with large magnitudes mixed in (|x| up to ~60)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) * scale
    flat = a.reshape(-1)
    flat[: max(1, flat.size // 8)] *= 20.0
    return a


# ---------------------------------------------------------------------------- lazy


def _copy_params(src, dst_torch):
    torch = need_torch()
    with torch.no_grad():
        for (n, p), (n2, q) in zip(src.state_dict().items(), dst_torch.state_dict().items()):
            assert n == n2
            q.copy_(torch.tensor(to_np(p)))


@pytest.mark.parametrize(
    "name, make, ref, shape",
    [
        ("LazyLinear", lambda lib: lib.nn.LazyLinear(4), lambda lib: lib.nn.Linear(5, 4), (3, 5)),
        ("LazyConv1d", lambda lib: lib.nn.LazyConv1d(4, 3, padding=1),
         lambda lib: lib.nn.Conv1d(6, 4, 3, padding=1), (2, 6, 7)),
        ("LazyConv2d", lambda lib: lib.nn.LazyConv2d(4, 3, groups=2),
         lambda lib: lib.nn.Conv2d(6, 4, 3, groups=2), (2, 6, 5, 5)),
        ("LazyConv3d", lambda lib: lib.nn.LazyConv3d(2, 2),
         lambda lib: lib.nn.Conv3d(3, 2, 2), (1, 3, 3, 3, 3)),
        ("LazyConvTranspose1d", lambda lib: lib.nn.LazyConvTranspose1d(4, 3, stride=2),
         lambda lib: lib.nn.ConvTranspose1d(6, 4, 3, stride=2), (2, 6, 5)),
        ("LazyConvTranspose2d", lambda lib: lib.nn.LazyConvTranspose2d(4, 3),
         lambda lib: lib.nn.ConvTranspose2d(6, 4, 3), (2, 6, 4, 4)),
        ("LazyConvTranspose3d", lambda lib: lib.nn.LazyConvTranspose3d(2, 2, bias=False),
         lambda lib: lib.nn.ConvTranspose3d(3, 2, 2, bias=False), (1, 3, 2, 2, 2)),
        ("LazyBatchNorm1d", lambda lib: lib.nn.LazyBatchNorm1d(),
         lambda lib: lib.nn.BatchNorm1d(6), (4, 6)),
        ("LazyBatchNorm2d", lambda lib: lib.nn.LazyBatchNorm2d(momentum=0.3),
         lambda lib: lib.nn.BatchNorm2d(6, momentum=0.3), (3, 6, 4, 4)),
        ("LazyBatchNorm3d", lambda lib: lib.nn.LazyBatchNorm3d(),
         lambda lib: lib.nn.BatchNorm3d(2), (2, 2, 2, 2, 3)),
        ("LazyInstanceNorm1d", lambda lib: lib.nn.LazyInstanceNorm1d(),
         lambda lib: lib.nn.InstanceNorm1d(6, affine=True, track_running_stats=True), (2, 6, 7)),
        ("LazyInstanceNorm2d", lambda lib: lib.nn.LazyInstanceNorm2d(affine=False),
         lambda lib: lib.nn.InstanceNorm2d(6, track_running_stats=True), (2, 6, 4, 4)),
    ],
)
def test_lazy_module_matches_regular(name, make, ref, shape):
    torch = need_torch()
    m = make(rt)
    t_lazy = make(torch)
    if torch_is_oracle() or "Norm" not in name:  # (the norms' reprs show bias= from 2.13)
        assert repr(m) == repr(t_lazy)
    assert type(m).__name__ == name
    assert all(isinstance(p, nn.parameter.UninitializedParameter) for p in m.parameters())
    x_np = _x(shape, seed=1, scale=1.0).astype(np.float32)
    rt_out = m(make_tensor(rt, x_np))
    t_ref = ref(torch)
    # the module became the regular class, with the regular class' repr and parameters
    assert type(m) is getattr(nn, name[4:])
    if torch_is_oracle() or "Norm" not in name:
        assert repr(m) == repr(t_ref)
    assert not any(nn.parameter.is_lazy(t) for t in [*m.parameters(), *m.buffers()])
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in t_ref.parameters()]
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in t_ref.parameters())
    assert list(m.state_dict()) == list(t_ref.state_dict())
    # same weights -> same output (in training mode: batch statistics and running stats)
    m2 = make(rt)
    m2(make_tensor(rt, x_np))
    _copy_params(m2, t_ref)
    out_ref = t_ref(torch.tensor(x_np))
    out2 = m2(make_tensor(rt, x_np))
    assert_values(to_np(out2), to_np(out_ref), rtol=1e-4, atol=1e-5)
    assert tuple(rt_out.shape) == tuple(out_ref.shape)
    for (k, v), (k2, v2) in zip(m2.state_dict().items(), t_ref.state_dict().items()):
        assert k == k2
        assert_values(to_np(v), to_np(v2), rtol=1e-4, atol=1e-5, msg=k)


def test_lazy_linear_initialises_like_linear():
    rt.manual_seed(123)
    lazy = nn.LazyLinear(3)
    lazy(rt.zeros(2, 7))
    rt.manual_seed(123)
    lin = nn.Linear(7, 3)
    assert_values(to_np(lazy.weight), to_np(lin.weight))
    assert_values(to_np(lazy.bias), to_np(lin.bias))
    rt.manual_seed(5)
    conv = nn.LazyConv2d(4, 3)
    conv(rt.zeros(1, 2, 5, 5))
    rt.manual_seed(5)
    ref = nn.Conv2d(2, 4, 3)
    assert_values(to_np(conv.weight), to_np(ref.weight))
    assert_values(to_np(conv.bias), to_np(ref.bias))


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_lazy_optimizer_created_before_first_forward(opt_name):
    rt.manual_seed(0)
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(1))
    opt = getattr(rt.optim, opt_name)(model.parameters(), lr=0.1)
    x = rt.randn(8, 5)
    loss = model(x).pow(2).mean()
    loss.backward()
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    opt.step()
    after = list(model.parameters())
    assert [tuple(p.shape) for p in after] == [(4, 5), (4,), (1, 4), (1,)]
    # the optimizer holds the module's materialised parameters and updated them
    assert all(a is b for a, b in zip(opt.param_groups[0]["params"], after))
    for b, a, g in zip(before, after, grads):
        if opt_name == "SGD":
            assert_values(to_np(a), to_np(b) - 0.1 * to_np(g), rtol=1e-6, atol=1e-7)
        else:
            changed = np.abs(to_np(a) - to_np(b))
            assert changed.max() > 1e-3
    assert len(opt.state_dict()["param_groups"][0]["params"]) == 4
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_lazy_state_dict_roundtrip():
    lazy = nn.LazyLinear(3)
    sd = lazy.state_dict()
    assert list(sd) == ["weight", "bias"]
    assert all(nn.parameter.is_lazy(v) for v in sd.values())
    assert repr(sd["weight"]) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
        _ = lazy.weight.shape
    # lazy -> lazy keeps it uninitialised
    other = nn.LazyLinear(3)
    other.load_state_dict(lazy.state_dict())
    assert other.has_uninitialized_params()
    # initialised -> lazy materialises it with the loaded values
    full = nn.Linear(6, 3)
    target = nn.LazyLinear(3)
    target.load_state_dict(full.state_dict())
    assert not target.has_uninitialized_params()
    assert tuple(target.weight.shape) == (3, 6)
    x = rt.randn(2, 6)
    assert_values(to_np(target(x)), to_np(full(x)))
    assert type(target) is nn.Linear
    # deep copies, dtype conversion, and the incomplete-init error
    clone = copy.deepcopy(nn.LazyLinear(2))
    clone(rt.randn(1, 4))
    assert tuple(clone.weight.shape) == (2, 4)
    dbl = nn.LazyLinear(2).double()
    dbl(rt.randn(1, 4, dtype=rt.float64))
    assert dbl.weight.dtype == rt.float64


def test_lazy_bad_input_errors():
    conv = nn.LazyConv2d(4, 3)
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) input"):
        conv(rt.randn(2, 3))
    conv = nn.LazyConv1d(4, 3, groups=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        conv(rt.randn(1, 3, 8))


# ---------------------------------------------------------------------------- activations

ACTIVATIONS = [
    ("logsigmoid", lambda lib, x: lib.nn.functional.logsigmoid(x)),
    ("mish", lambda lib, x: lib.nn.functional.mish(x)),
    ("hardswish", lambda lib, x: lib.nn.functional.hardswish(x)),
    ("hardsigmoid", lambda lib, x: lib.nn.functional.hardsigmoid(x)),
    ("selu", lambda lib, x: lib.nn.functional.selu(x)),
    ("celu", lambda lib, x: lib.nn.functional.celu(x, 0.7)),
    ("softsign", lambda lib, x: lib.nn.functional.softsign(x)),
    ("tanhshrink", lambda lib, x: lib.nn.functional.tanhshrink(x)),
    ("threshold", lambda lib, x: lib.nn.functional.threshold(x, 0.3, -2.0)),
    ("softmin", lambda lib, x: lib.nn.functional.softmin(x, dim=1)),
    ("hardshrink", lambda lib, x: lib.nn.functional.hardshrink(x, 0.4)),
    ("softshrink", lambda lib, x: lib.nn.functional.softshrink(x, 0.4)),
    ("glu", lambda lib, x: lib.nn.functional.glu(x, 1)),
    ("softmax2d", lambda lib, x: lib.nn.Softmax2d()(x.reshape(2, 3, 2, 2))),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_values_and_grads(name, fn, dtype):
    x = _x((6, 4), seed=3)
    if name == "softmin":
        x = x / 10.0
    # PyTorch's hardsigmoid/hardswish backward multiply by a float32 1/6, and celu's by a
    # float32 1/alpha, even for float64 (the compositions here are exact): ~6e-8 apart
    f64_grad_rtol = 1e-7 if name in ("hardsigmoid", "hardswish", "celu") else 1e-8
    check_op(fn, x, dtype=dtype, grad=True, rtol=1e-5 if dtype == "float32" else 1e-9,
             atol=1e-6 if dtype == "float32" else 1e-10,
             grad_rtol=1e-4 if dtype == "float32" else f64_grad_rtol,
             grad_atol=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("n_params", [1, 3])
def test_prelu(n_params):
    torch = need_torch()
    x = _x((2, 3, 4), seed=4)
    w = np.array([0.25, -0.5, 1.5][:n_params])
    check_op(lambda lib, a, b: lib.nn.functional.prelu(a, b), x, w, grad=True)
    m = nn.PReLU(n_params)
    assert repr(m) == repr(torch.nn.PReLU(n_params))
    assert_values(to_np(m.weight), np.full(n_params, 0.25, np.float32))
    out = m(make_tensor(rt, x.astype(np.float32)))
    ref = torch.nn.PReLU(n_params)(torch.tensor(x.astype(np.float32)))
    assert_values(to_np(out), to_np(ref))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel"):
        F.prelu(rt.randn(2, 4), rt.randn(3))
    with pytest.raises(RuntimeError, match="Mismatch of parameter numbers and input channel"):
        F.prelu(rt.randn(4), rt.randn(3))


@pytest.mark.parametrize("name", ["mish", "hardswish", "hardsigmoid", "selu", "celu", "threshold"])
def test_activation_inplace(name):
    torch = need_torch()
    args = {"threshold": (0.2, 9.0)}.get(name, ())
    x_np = _x((3, 4), seed=7).astype(np.float32)
    x = make_tensor(rt, x_np)
    out = getattr(F, name)(x, *args, inplace=True)
    assert out is x
    ref = getattr(torch.nn.functional, name)(torch.tensor(x_np), *args)
    assert_values(to_np(x), to_np(ref), rtol=1e-5, atol=1e-6)
    # in place on a non-leaf that autograd records: gradients as PyTorch
    leaf = make_tensor(rt, x_np, requires_grad=True)
    getattr(F, name)(leaf * 1.0, *args, inplace=True).sum().backward()
    t_leaf = torch.tensor(x_np, requires_grad=True)
    getattr(torch.nn.functional, name)(t_leaf * 1.0, *args, inplace=True).sum().backward()
    assert_values(to_np(leaf.grad), to_np(t_leaf.grad), rtol=1e-5, atol=1e-6)


def test_activation_module_reprs_and_forward():
    torch = need_torch()
    specs = [
        ("PReLU", (3, 0.1)), ("GLU", ()), ("GLU", (0,)), ("LogSigmoid", ()), ("Mish", ()),
        ("Mish", (True,)), ("Hardswish", ()), ("Hardswish", (True,)), ("Hardsigmoid", ()),
        ("SELU", ()), ("SELU", (True,)), ("CELU", ()), ("CELU", (0.5, True)),
        ("Softsign", ()), ("Tanhshrink", ()), ("Threshold", (0.1, 20.0)),
        ("Threshold", (0.1, 2, True)), ("Softmin", ()), ("Softmin", (1,)), ("Softmax2d", ()),
        ("Hardshrink", ()), ("Softshrink", (0.3,)),
    ]
    x_np = _x((2, 6, 2, 2), seed=2).astype(np.float32) / 5
    for name, args in specs:
        m, tm = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(m) == repr(tm), name
        if name == "Softmin" and not args:
            continue
        if name == "PReLU":
            x_use = x_np[:, :3]
        else:
            x_use = x_np
        out = m(make_tensor(rt, x_use.copy()))
        ref = tm(torch.tensor(x_use.copy()))
        assert_values(to_np(out), to_np(ref), rtol=1e-5, atol=1e-6, msg=name)


def test_activation_errors():
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D"):
        nn.Softmax2d()(rt.randn(2, 3))
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        F.celu(rt.randn(3), 0.0)
    with pytest.raises(RuntimeError, match="lambda must be in range"):
        F.softshrink(rt.randn(3), -1.0)
    with pytest.raises(RuntimeError, match="Halving dimension must be even"):
        F.glu(rt.randn(3))


def test_nan_propagation():
    torch = need_torch()
    x_np = np.array([np.nan, -1.0, 0.2, 3.0], np.float32)
    for name, args in [("threshold", (0.5, -7.0)), ("hardshrink", ()), ("softshrink", ()),
                       ("logsigmoid", ()), ("mish", ()), ("selu", ())]:
        out = getattr(F, name)(make_tensor(rt, x_np), *args)
        ref = getattr(torch.nn.functional, name)(torch.tensor(x_np), *args)
        assert_values(to_np(out), to_np(ref), msg=name)


# ---------------------------------------------------------------------------- losses

REDUCTIONS = ["none", "mean", "sum"]


def _pm1(shape, seed):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss(reduction):
    a, b = _x((5, 4), 1), _x((5, 4), 2)
    y = _pm1((5,), 3)
    check_op(lambda lib, a, b, y: lib.nn.functional.cosine_embedding_loss(
        a, b, y, margin=0.2, reduction=reduction), a, b, y, grad=True)
    check_op(lambda lib, a, b, y: lib.nn.CosineEmbeddingLoss(reduction=reduction)(a, b, y),
             a[0], b[0], y[:1].reshape(()), grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_and_hinge_and_soft_margin(reduction):
    a, b = _x((7,), 1), _x((7,), 2)
    y = _pm1((7,), 3)
    check_op(lambda lib, a, b, y: lib.nn.MarginRankingLoss(0.5, reduction=reduction)(a, b, y),
             a, b, y, grad=True)
    check_op(lambda lib, a, y: lib.nn.HingeEmbeddingLoss(1.5, reduction=reduction)(a, y),
             a, y, grad=True)
    check_op(lambda lib, a, y: lib.nn.SoftMarginLoss(reduction=reduction)(a, y.detach()),
             a / 10, y, grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin(reduction):
    x = _x((4, 5), 1)
    y = (np.random.default_rng(2).random((4, 5)) < 0.5).astype(np.float64)
    w = np.random.default_rng(3).random(5) + 0.5
    check_op(lambda lib, x, y: lib.nn.MultiLabelSoftMarginLoss(reduction=reduction)(x, y),
             x, y, grad=True)
    check_op(lambda lib, x, y, w: lib.nn.functional.multilabel_soft_margin_loss(
        x, y, weight=w, reduction=reduction), x, y, w, grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input, full", [(True, False), (False, False), (True, True),
                                             (False, True)])
def test_poisson_nll(reduction, log_input, full):
    rng = np.random.default_rng(1)
    x = rng.random((4, 3)) * 2 + (0.0 if log_input else 0.1)
    y = rng.integers(0, 5, (4, 3)).astype(np.float64)
    check_op(lambda lib, x, y: lib.nn.PoissonNLLLoss(log_input, full, reduction=reduction)(
        x, y.detach()), x, y, grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,)])
def test_gaussian_nll(reduction, var_shape):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    var = rng.random(var_shape) + 1e-7
    var.reshape(-1)[0] = 1e-9  # below eps: clamped, and not differentiated through the clamp
    check_op(lambda lib, x, y, v: lib.nn.GaussianNLLLoss(full=True, reduction=reduction)(
        x, y, v), x, y, var, grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p, swap", [(2, False), (1, True), (3, False)])
def test_triplet_margin(reduction, p, swap):
    a, pos, neg = _x((5, 4), 1, 1.0), _x((5, 4), 2, 1.0), _x((5, 4), 3, 1.0)
    check_op(lambda lib, a, b, c: lib.nn.functional.triplet_margin_loss(
        a, b, c, margin=1.5, p=p, swap=swap, reduction=reduction), a, pos, neg, grad=True)
    check_op(lambda lib, a, b, c: lib.nn.TripletMarginLoss(p=p, swap=swap,
                                                           reduction=reduction)(a, b, c),
             a, pos, neg, grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin(reduction, p):
    x = _x((5, 4), 1, 1.0)
    y = np.array([0, 3, 1, 1, 2])
    w = np.array([0.5, 1.0, 2.0, 1.5])
    check_op(lambda lib, x, y: lib.nn.MultiMarginLoss(p=p, margin=0.7, reduction=reduction)(
        x, y), x, y, grad=True)
    check_op(lambda lib, x, y, w: lib.nn.functional.multi_margin_loss(
        x, y, p=p, weight=w.detach(), reduction=reduction), x, y, w, grad=True)


def test_loss_errors_and_reprs():
    torch = need_torch()
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.margin_ranking_loss(rt.randn(3), rt.randn(3), rt.ones(3), reduction="foo")
    with pytest.raises(RuntimeError, match="All input tensors should have same dimension"):
        F.margin_ranking_loss(rt.randn(3), rt.randn(3, 1), rt.ones(3))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(rt.randn(3), rt.randn(3), rt.ones(3))
    with pytest.raises(RuntimeError, match="expected to have the same number of dimensions"):
        F.triplet_margin_loss(rt.randn(3, 2), rt.randn(3, 2), rt.randn(2))
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater"):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(rt.randn(2, 3), rt.tensor([0, 1]), p=3)
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(rt.randn(3), rt.randn(3), -rt.ones(3))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(rt.randn(4, 3), rt.randn(4, 3), rt.ones(2, 2))
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.poisson_nll_loss(rt.randn(3), rt.randn(3), reduction="bad")
    for name in ["CosineEmbeddingLoss", "MarginRankingLoss", "HingeEmbeddingLoss",
                 "SoftMarginLoss", "MultiLabelSoftMarginLoss", "PoissonNLLLoss",
                 "GaussianNLLLoss", "TripletMarginLoss", "MultiMarginLoss"]:
        m, tm = getattr(nn, name)(), getattr(torch.nn, name)()
        assert repr(m) == repr(tm)
        assert m.reduction == tm.reduction == "mean"


# ---------------------------------------------------------------------------- deprecated


@pytest.mark.parametrize(
    "name, args",
    [("uniform", (-1.0, 1.0)), ("normal", (0.0, 2.0)), ("constant", (0.5,)), ("eye", ()),
     ("xavier_uniform", ()), ("xavier_normal", ()), ("kaiming_uniform", ()),
     ("kaiming_normal", ()), ("orthogonal", ())],
)
def test_deprecated_init_names(name, args):
    t = rt.empty(4, 6)
    with pytest.warns(FutureWarning, match=f"`nn.init.{name}` is now deprecated in favor of "
                                           f"`nn.init.{name}_`"):
        out = getattr(nn.init, name)(t, *args)
    assert out is t
    rt.manual_seed(3)
    a = getattr(nn.init, name + "_")(rt.empty(4, 6), *args)
    rt.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        b = getattr(nn.init, name)(rt.empty(4, 6), *args)
    assert_values(to_np(a), to_np(b))


def test_deprecated_clip_grad_norm():
    p = rt.tensor([3.0, 4.0], requires_grad=True)
    p.grad = rt.tensor([3.0, 4.0])
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        total = nn.utils.clip_grad_norm([p], 1.0)
    assert abs(float(total) - 5.0) < 1e-6
    assert_values(to_np(p.grad), np.array([0.6, 0.8], np.float32), rtol=1e-5)
