"""Every backward node the Rust core can record has a finite-difference test.

The node names are read from the Rust sources (each op records its node under a literal
name beside its forward), so an op added later without an entry here fails
``test_every_backward_node_is_covered``. Each entry builds a graph that contains the node,
checks the node really is in it, and runs ``gradcheck`` in float64.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest
from conftest import rt

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"


def _recorded_names() -> set[str]:
    names: set[str] = set()
    for path in SRC.rglob("*.rs"):
        names.update(re.findall(r'"([A-Z][A-Za-z0-9]*Backward[0-9]*)"', path.read_text()))
    return names


def _x(*shape, seed=0, positive=False):
    a = np.random.default_rng(seed).standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return rt.tensor(a, dtype=rt.float64, requires_grad=True)


def _first_grad(f):
    """A function returning the create_graph gradient of ``f(x).sum()`` (for double-backward
    nodes, which only exist in a graph built by a backward pass)."""

    def g(x):
        (gx,) = rt.autograd.grad(f(x).sum(), [x], create_graph=True)
        return gx * x

    return g


def _index_put(x, v):
    y = x * 1.0
    y[rt.tensor([0, 2])] = v
    return y


def _view_inplace(x):
    """An in-place op on a view of a non-leaf: the base's history becomes CopySlices and
    the view's an AsStridedBackward0 of the new base."""
    y = x * 1.0
    v = y[1:3]
    v.mul_(x[0])
    return v * y.sum()


IDX = rt.tensor([[0, 2, 1], [1, 0, 2]])


# name -> (function of the inputs, inputs factory, gradcheck kwargs)
def _rnn(mode, gates):
    """One recurrent layer over a packed batch, all three outputs flattened together."""

    def f(x, wi, wh, bi, bh, h0):
        c0 = h0 * 0.5 if mode == "LSTM" else None
        out, h, c = rt._C._rnn_layer(mode, x, wi, wh, bi, bh, None, h0, c0, [2, 2, 1], True)
        return rt.cat([out.reshape(-1), h.reshape(-1)] + ([c.reshape(-1)] if c is not None else []))

    def make():
        return [
            _x(3, 2, 2),
            _x(2 * gates, 2, seed=1),
            _x(2 * gates, 2, seed=2),
            _x(2 * gates, seed=3),
            _x(2 * gates, seed=4),
            _x(2, 2, seed=5),
        ]

    return f, make


CASES = {
    "AcosBackward0": (lambda x: (x * 0.3).acos(), lambda: [_x(3, 4)]),
    "AcoshBackward0": (lambda x: (x + 1.0).acosh(), lambda: [_x(3, 4, positive=True)]),
    "AsinBackward0": (lambda x: (x * 0.3).asin(), lambda: [_x(3, 4)]),
    "AsinhBackward0": (lambda x: x.asinh(), lambda: [_x(3, 4)]),
    "AtanBackward0": (lambda x: x.atan(), lambda: [_x(3, 4)]),
    "AtanhBackward0": (lambda x: (x * 0.3).atanh(), lambda: [_x(3, 4)]),
    "CoshBackward0": (lambda x: x.cosh(), lambda: [_x(3, 4)]),
    "DigammaBackward0": (lambda x: x.digamma(), lambda: [_x(3, 4, positive=True)]),
    "Exp2Backward0": (lambda x: x.exp2(), lambda: [_x(3, 4)]),
    "FmodBackward0": (lambda x, y: x.fmod(y), lambda: [_x(3, 4), _x(3, 4, seed=1, positive=True)]),
    "LgammaBackward0": (lambda x: x.lgamma(), lambda: [_x(3, 4, positive=True)]),
    "Log10Backward0": (lambda x: x.log10(), lambda: [_x(3, 4, positive=True)]),
    "Log2Backward0": (lambda x: x.log2(), lambda: [_x(3, 4, positive=True)]),
    "PolygammaBackward0": (lambda x: x.polygamma(2), lambda: [_x(3, 4, positive=True)]),
    "RnnTanhBackward0": _rnn("RNN_TANH", 1),
    "RnnReluBackward0": _rnn("RNN_RELU", 1),
    "LstmBackward0": _rnn("LSTM", 4),
    "GruBackward0": _rnn("GRU", 3),
    "EmbeddingBackward0": (
        lambda w: rt.nn.functional.embedding(rt.tensor([[1, 3, 1], [0, 2, 3]]), w),
        lambda: [_x(4, 3)],
    ),
    "AbsBackward0": (lambda x: x.abs(), lambda: [_x(3, 4)]),
    "AddBackward0": (lambda x, y: x + y, lambda: [_x(3, 4), _x(4, seed=1)]),
    "AddmmBackward0": (
        lambda b, x, w: rt.addmm(b, x, w),
        lambda: [_x(3), _x(2, 4, seed=1), _x(4, 3, seed=2)],
    ),
    "AmaxBackward0": (lambda x: x.amax(1), lambda: [_x(3, 4)]),
    "AsStridedBackward0": (_view_inplace, lambda: [_x(4, 3)]),
    "AminBackward0": (lambda x: x.amin(1), lambda: [_x(3, 4)]),
    # A draw from a generator seeded the same at each call, probabilities away from its
    # uniforms by far more than gradcheck's step: the same draw every time, so a zero
    # numerical gradient, which the node's must equal.
    "BernoulliBackward0": (
        lambda p: rt.bernoulli(p, generator=rt.Generator().manual_seed(0)),
        lambda: [rt.tensor(np.linspace(0.2, 0.8, 12).reshape(3, 4), dtype=rt.float64,
                           requires_grad=True)],
    ),
    "AvgPoolBackward0": (
        lambda x: rt.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        lambda: [_x(1, 2, 5, 5)],
    ),
    "AvgPoolBackwardBackward0": (
        _first_grad(lambda x: rt.nn.functional.avg_pool2d(x, 2, 1) ** 2),
        lambda: [_x(1, 2, 4, 4)],
    ),
    "Col2ImBackward0": (
        lambda x: rt.nn.functional.fold(x, (4, 5), (2, 2), padding=1, stride=2),
        lambda: [_x(1, 8, 9)],
    ),
    "ConstantPadNdBackward0": (
        lambda x: rt.nn.functional.pad(x, (1, -1, 2, 0)),
        lambda: [_x(3, 4)],
    ),
    "ConvolutionBackward0": (
        lambda x, w, b: rt.nn.functional.conv2d(x, w, b, padding=(1, 0)),
        lambda: [_x(2, 2, 4, 5), _x(3, 2, 3, 2, seed=1), _x(3, seed=2)],
    ),
    "Im2ColBackward0": (
        lambda x: rt.nn.functional.unfold(x, (2, 3), dilation=(1, 2), padding=1),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "MaxPoolBackward0": (
        lambda x: rt.nn.functional.max_pool2d(x, 3, 2, 1, dilation=1, ceil_mode=True),
        lambda: [_x(1, 2, 6, 5)],
    ),
    "AddcmulBackward0": (
        lambda x: rt.addcmul(x, x.sin(), x.cos()[0], value=0.7),
        lambda: [_x(2, 3)],
    ),
    "LerpBackward0": (
        lambda x: rt.lerp(x, x.exp(), 0.7),
        lambda: [_x(2, 3)],
    ),
    "LerpBackward1": (
        lambda x: rt.lerp(x, x.exp(), x.sin()),
        lambda: [_x(2, 3)],
    ),
    "FractionalMaxPool2DBackward0": (
        lambda x: rt.nn.functional.fractional_max_pool2d(
            x, 2, output_size=(3, 2), _random_samples=rt.tensor([[[0.3, 0.8], [0.6, 0.1]]],
                                                                dtype=rt.float64)),
        lambda: [_x(1, 2, 6, 5)],
    ),
    "FractionalMaxPool3DBackward0": (
        lambda x: rt.nn.functional.fractional_max_pool3d(
            x, 2, output_size=(2, 3, 2),
            _random_samples=rt.tensor([[[0.3, 0.8, 0.5]]], dtype=rt.float64)),
        lambda: [_x(1, 1, 4, 5, 4)],
    ),
    "RoiPoolBackward0": (
        lambda x: rt.vision.ops.roi_pool(
            x, rt.tensor([[0, 0.0, 0.0, 3.0, 2.0], [0, 1.0, 1.0, 4.0, 3.0]], dtype=rt.float64), 2
        ),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "Atan2Backward0": (
        lambda a, b: rt.atan2(a, b),
        lambda: [_x(3, 4), _x(4, seed=1, positive=True)],
    ),
    "RoiAlignBackward0": (
        lambda x: rt.vision.ops.roi_align(
            x, rt.tensor([[0, 0.3, 0.2, 3.1, 2.6], [0, 1.0, 1.0, 4.5, 3.5]], dtype=rt.float64),
            2, 1.0, 2, True,
        ),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "RoiAlignBackwardBackward0": (
        _first_grad(lambda x: rt.vision.ops.roi_align(
            x, rt.tensor([[0, 0.3, 0.2, 3.1, 2.6]], dtype=rt.float64), 2, 1.0, -1, False,
        ) ** 2),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "UpsampleNearest1DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=8, mode="nearest"),
        lambda: [_x(1, 2, 5)],
    ),
    "UpsampleNearest2DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(3, 7), mode="nearest"),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "UpsampleNearest3DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, scale_factor=1.5, mode="nearest"),
        lambda: [_x(1, 1, 3, 4, 2)],
    ),
    "UpsampleNearestExact1DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=3, mode="nearest-exact"),
        lambda: [_x(1, 2, 5)],
    ),
    "UpsampleNearestExact2DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(6, 3), mode="nearest-exact"),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "UpsampleNearestExact3DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(2, 5, 3), mode="nearest-exact"),
        lambda: [_x(1, 1, 3, 4, 2)],
    ),
    "UpsampleLinear1DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=8, mode="linear", align_corners=True),
        lambda: [_x(1, 2, 5)],
    ),
    "UpsampleBilinear2DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(7, 3), mode="bilinear"),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "UpsampleTrilinear3DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(5, 2, 3), mode="trilinear"),
        lambda: [_x(1, 1, 3, 4, 2)],
    ),
    "UpsampleBicubic2DBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(7, 3), mode="bicubic"),
        lambda: [_x(1, 2, 4, 5)],
    ),
    "UpsampleBilinear2DAaBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(3, 7), mode="bilinear", antialias=True),
        lambda: [_x(1, 2, 6, 5)],
    ),
    "UpsampleBicubic2DAaBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(3, 7), mode="bicubic", antialias=True),
        lambda: [_x(1, 2, 6, 5)],
    ),
    "UpsampleLanczos2DAaBackward0": (
        lambda x: rt.nn.functional.interpolate(x, size=(3, 7), mode="lanczos", antialias=True),
        lambda: [_x(1, 2, 6, 5)],
    ),
    "NativeBatchNormBackward0": (
        lambda x, w, b: rt.nn.functional.batch_norm(x, None, None, w, b, training=True),
        lambda: [_x(3, 2, 4), _x(2, seed=1), _x(2, seed=2)],
    ),
    "NativeGroupNormBackward0": (
        lambda x, w, b: rt.nn.functional.group_norm(x, 2, w, b),
        lambda: [_x(2, 4, 3), _x(4, seed=1), _x(4, seed=2)],
    ),
    "NativeLayerNormBackward0": (
        lambda x, w, b: rt.nn.functional.layer_norm(x, [3, 4], w, b),
        lambda: [_x(2, 3, 4), _x(3, 4, seed=1), _x(3, 4, seed=2)],
    ),
    "BmmBackward0": (lambda x, y: x.bmm(y), lambda: [_x(2, 3, 4), _x(2, 4, 2, seed=1)]),
    "CatBackward0": (lambda x, y: rt.cat([x, y], 1), lambda: [_x(2, 3), _x(2, 2, seed=1)]),
    "CeilBackward0": (lambda x: x.ceil() + x, lambda: [_x(3, 4)]),
    "ClampBackward1": (lambda x: x.clamp(-0.5, 0.5), lambda: [_x(3, 4)]),
    "CloneBackward0": (lambda x: x.clone(), lambda: [_x(3, 4)]),
    "CosBackward0": (lambda x: x.cos(), lambda: [_x(3, 4)]),
    "CumsumBackward0": (lambda x: x.cumsum(1), lambda: [_x(3, 4)]),
    # Zeros in some rows: the gradient's special case at and after the first zero.
    "CumprodBackward0": (
        lambda x: (x * (x.abs() > 0.3)).cumprod(1),
        lambda: [_x(3, 5)],
    ),
    "CummaxBackward0": (lambda x: x.cummax(1)[0], lambda: [_x(3, 5)]),
    "CumminBackward0": (lambda x: x.cummin(0).values, lambda: [_x(3, 5)]),
    "LogcumsumexpBackward0": (lambda x: x.logcumsumexp(1), lambda: [_x(3, 5)]),
    "DiagonalBackward0": (lambda x: rt.einsum("ii->i", x), lambda: [_x(3, 3)]),
    "DivBackward0": (lambda x, y: x / y, lambda: [_x(3, 4), _x(3, 4, seed=1, positive=True)]),
    "EluBackward0": (lambda x: x.elu(), lambda: [_x(3, 4)]),
    "ErfBackward0": (lambda x: x.erf(), lambda: [_x(3, 4)]),
    "ExpBackward0": (lambda x: x.exp(), lambda: [_x(3, 4)]),
    "ExpandBackward0": (lambda x: x.expand(3, 4), lambda: [_x(1, 4)]),
    "Expm1Backward0": (lambda x: x.expm1(), lambda: [_x(3, 4)]),
    "FloorBackward0": (lambda x: x.floor() + x, lambda: [_x(3, 4)]),
    "FloorDivideBackward0": (lambda x: (x // 0.7) + x, lambda: [_x(3, 4)]),
    "GatherBackward0": (lambda x: x.gather(1, IDX), lambda: [_x(2, 3)]),
    "GeluBackward0": (lambda x: x.gelu(), lambda: [_x(3, 4)]),
    "HardtanhBackward0": (lambda x: x.hardtanh(-0.5, 0.5), lambda: [_x(3, 4)]),
    "IndexBackward0": (lambda x: x[rt.tensor([0, 2, 0])], lambda: [_x(3, 4)]),
    "IndexPutBackward0": (_index_put, lambda: [_x(3, 4), _x(4, seed=1)]),
    "LeakyReluBackward0": (lambda x: x.leaky_relu(0.1), lambda: [_x(3, 4)]),
    "LeakyReluBackward1": (
        lambda x: rt.nn.functional.leaky_relu(x * 1, 0.1, inplace=True), lambda: [_x(3, 4)]
    ),
    "Log1PBackward0": (lambda x: x.log1p(), lambda: [_x(3, 4, positive=True)]),
    "LogBackward0": (lambda x: x.log(), lambda: [_x(3, 4, positive=True)]),
    "LogSoftmaxBackward0": (lambda x: x.log_softmax(1), lambda: [_x(3, 4)]),
    "LogsumexpBackward0": (lambda x: x.logsumexp(1), lambda: [_x(3, 4)]),
    "MaxBackward0": (lambda x: x.max(1).values, lambda: [_x(3, 4)]),
    "MaxBackward1": (lambda x: x.max(), lambda: [_x(3, 4)]),
    "MaximumBackward0": (lambda x, y: x.maximum(y), lambda: [_x(3, 4), _x(3, 4, seed=1)]),
    "MeanBackward0": (lambda x: x.mean(), lambda: [_x(3, 4)]),
    "MeanBackward1": (lambda x: x.mean(1), lambda: [_x(3, 4)]),
    "MinBackward0": (lambda x: x.min(1).values, lambda: [_x(3, 4)]),
    "MinBackward1": (lambda x: x.min(), lambda: [_x(3, 4)]),
    "MinimumBackward0": (lambda x, y: x.minimum(y), lambda: [_x(3, 4), _x(3, 4, seed=1)]),
    "MmBackward0": (lambda x, y: x.mm(y), lambda: [_x(3, 4), _x(4, 2, seed=1)]),
    "MulBackward0": (lambda x, y: x * y, lambda: [_x(3, 4), _x(3, 1, seed=1)]),
    "NegBackward0": (lambda x: -x, lambda: [_x(3, 4)]),
    "NllLossBackward0": (
        lambda x: rt._C._cross_entropy(x, rt.tensor([1, 0, 3]), None, -100, 0.1, "mean"),
        lambda: [_x(3, 4)],
    ),
    "NormBackward1": (lambda x: x.norm(dim=1), lambda: [_x(3, 4)]),
    "PermuteBackward0": (lambda x: x.permute(1, 0), lambda: [_x(3, 4)]),
    "FlipBackward0": (lambda x: x.flip(0, 2) * x, lambda: [_x(3, 4, 5)]),
    "RollBackward0": (lambda x: x.roll((1, -2), (0, 1)) * x, lambda: [_x(3, 4)]),
    "PowBackward0": (lambda x: x**3, lambda: [_x(3, 4)]),
    "PowBackward1": (lambda x, y: x**y, lambda: [_x(3, 4, positive=True), _x(3, 4, seed=1)]),
    "ProdBackward0": (lambda x: x.prod(), lambda: [_x(2, 3)]),
    "ProdBackward1": (lambda x: x.prod(1), lambda: [_x(2, 3)]),
    "ReciprocalBackward0": (lambda x: x.reciprocal(), lambda: [_x(3, 4, positive=True)]),
    "ReluBackward0": (lambda x: x.relu(), lambda: [_x(3, 4)]),
    "RemainderBackward0": (lambda x: x % 0.7, lambda: [_x(3, 4)]),
    "RoundBackward0": (lambda x: x.round() + x, lambda: [_x(3, 4)]),
    "RsqrtBackward0": (lambda x: x.rsqrt(), lambda: [_x(3, 4, positive=True)]),
    "RsubBackward1": (lambda x: 1 - x, lambda: [_x(3, 4)]),
    "ScatterAddBackward0": (
        lambda x, s: x.scatter_add(1, IDX, s),
        lambda: [_x(2, 3), _x(2, 3, seed=1)],
    ),
    "ScatterBackward0": (lambda x, s: x.scatter(1, IDX, s), lambda: [_x(2, 3), _x(2, 3, seed=1)]),
    "SelectBackward0": (lambda x: x[1], lambda: [_x(3, 4)]),
    "SigmoidBackward0": (lambda x: x.sigmoid(), lambda: [_x(3, 4)]),
    "SignBackward0": (lambda x: x.sign() + x, lambda: [_x(3, 4)]),
    "SiluBackward0": (lambda x: x.silu(), lambda: [_x(3, 4)]),
    "SinBackward0": (lambda x: x.sin(), lambda: [_x(3, 4)]),
    "SinhBackward0": (lambda x: x.sinh(), lambda: [_x(3, 4)]),
    "SliceBackward0": (lambda x: x[:, 1::2], lambda: [_x(3, 5)]),
    "SliceBackwardBackward0": (_first_grad(lambda x: x[1:] ** 2), lambda: [_x(3, 4)]),
    "SoftmaxBackward0": (lambda x: x.softmax(1), lambda: [_x(3, 4)]),
    "SoftplusBackward0": (lambda x: x.softplus(), lambda: [_x(3, 4)]),
    # A piece left unused gets zeros in the joined gradient.
    "SplitBackward0": (lambda x: x.chunk(3, 1)[0] * 2 + x.chunk(3, 1)[2], lambda: [_x(3, 6)]),
    "SplitWithSizesBackward0": (
        lambda x: x.split([1, 3], 0)[1].exp().sum(0) * x.split([1, 3], 0)[0],
        lambda: [_x(4, 3)],
    ),
    "SqrtBackward0": (lambda x: x.sqrt(), lambda: [_x(3, 4, positive=True)]),
    "SqueezeBackward0": (lambda x: x.squeeze(), lambda: [_x(3, 1, 4)]),
    "SqueezeBackward1": (lambda x: x.squeeze(1), lambda: [_x(3, 1, 4)]),
    "SubBackward0": (lambda x, y: x - y, lambda: [_x(3, 4), _x(4, seed=1)]),
    "SumBackward0": (lambda x: x.sum(), lambda: [_x(3, 4)]),
    "SumBackward1": (lambda x: x.sum(0), lambda: [_x(3, 4)]),
    "TBackward0": (lambda x: x.t(), lambda: [_x(3, 4)]),
    "TanBackward0": (lambda x: x.tan(), lambda: [_x(3, 4)]),
    "TanhBackward0": (lambda x: x.tanh(), lambda: [_x(3, 4)]),
    "ThresholdBackwardBackward0": (_first_grad(lambda x: x.relu() * x), lambda: [_x(3, 4)]),
    "ToCopyBackward0": (
        lambda x: x.to(rt.float32).double(),
        lambda: [_x(3, 4)],
        {"eps": 1e-3, "atol": 1e-3},
    ),
    "TransposeBackward0": (lambda x: x.transpose(0, 1), lambda: [_x(3, 4)]),
    "TruncBackward0": (lambda x: x.trunc() + x, lambda: [_x(3, 4)]),
    "UnbindBackward0": (lambda x: x.unbind(1)[2] * x.unbind(1)[0], lambda: [_x(3, 4)]),
    "UnsafeViewBackward0": (lambda x: x.t().reshape(-1), lambda: [_x(3, 4)]),
    "UnsqueezeBackward0": (lambda x: x.unsqueeze(1), lambda: [_x(3, 4)]),
    "VarBackward0": (lambda x: x.var(1), lambda: [_x(3, 4)]),
    "ViewBackward0": (lambda x: x.view(4, 3), lambda: [_x(3, 4)]),
    "WhereBackward0": (lambda x, y: rt.where(x > 0, x, y), lambda: [_x(3, 4), _x(3, 4, seed=1)]),
}


def _graph_names(t) -> set[str]:
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        n = stack.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        names.add(n.name())
        stack.extend(f for f, _ in n.next_functions)
    return names


def test_every_backward_node_is_covered():
    missing = sorted(_recorded_names() - set(CASES))
    assert not missing, f"backward nodes without a gradcheck entry in CASES: {missing}"


@pytest.mark.skipif(getattr(rt, "__name__", "") != "rustorch", reason="node names are rustorch's")
@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_node(name):
    fn, make, *opts = CASES[name]
    inputs = make()
    out = fn(*inputs)
    assert name in _graph_names(out), f"{name} not recorded; graph has {_graph_names(out)}"
    assert rt.autograd.gradcheck(fn, tuple(inputs), **(opts[0] if opts else {}))
