"""``rustorch.onnx.export``: the documents' models (MLP, LeNet, the Keras-style CNN, the
convolutional autoencoder, the DCGAN generator and discriminator, the RNN over image rows as
an LSTM, a bidirectional GRU and a relu RNN) exported, checked
by ``onnx.checker`` and run in ONNX Runtime, whose outputs must match the library's own
(float32, 1e-5), at the traced batch size and, along ``dynamic_axes``, at another.

With ``RUSTORCH_TEST_ORACLE=torch`` the same tests run ``torch.onnx.export`` (its
TorchScript exporter, ``dynamo=False``), which is how the expectations were checked.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import rt

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
nn = rt.nn


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def lenet():
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
        nn.ReLU(), nn.Linear(84, 10),
    )


def keras_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(128, 10), nn.LogSoftmax(dim=1),
    )


def autoencoder():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
    )


def generator(nz=16, ngf=8):
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )


def discriminator(ndf=8):
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
    )


class Residual(nn.Module):
    """Adds, scales, concatenates, pools adaptively and takes a softmax: ops beyond the
    Sequential stacks."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding="same")
        self.bn = nn.BatchNorm2d(4, affine=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3, bias=False)

    def forward(self, x):
        y = self.bn(self.conv(x)) * 0.5 + x
        y = rt.cat([y, rt.nn.functional.gelu(x) - 1.0], dim=1)
        y = self.pool(rt.nn.functional.avg_pool2d(y, 2)).flatten(1)
        return rt.softmax(self.fc(y), dim=-1)


class RowReader(nn.Module):
    """The documents' RNN over image rows: a 2-layer recurrent layer, a linear head on the
    last step (or, with ``use_state``, on the last layer's final hidden state)."""

    def __init__(self, kind="LSTM", bidirectional=False, use_state=False, **kw):
        super().__init__()
        self.rnn = getattr(nn, kind)(12, 16, 2, batch_first=True, bidirectional=bidirectional,
                                     **kw)
        features = kw.get("proj_size") or 16
        self.fc = nn.Linear(features * (2 if bidirectional and not use_state else 1), 10)
        self.use_state = use_state

    def forward(self, x):
        out, state = self.rnn(x)
        if self.use_state:
            h = state[0] if isinstance(state, tuple) else state
            return self.fc(h[-1])
        return self.fc(out[:, -1, :])


MODELS = {
    "mlp": (mlp, (1, 28, 28)),
    "lenet": (lenet, (3, 32, 32)),
    "keras_cnn": (keras_cnn, (1, 28, 28)),
    "autoencoder": (autoencoder, (1, 28, 28)),
    "generator": (generator, (16, 1, 1)),
    "discriminator": (discriminator, (3, 16, 16)),
    "residual": (Residual, (4, 8, 8)),
    "lstm": (RowReader, (7, 12)),
    "lstm_state": (lambda: RowReader(use_state=True), (7, 12)),
    "gru_bidirectional": (lambda: RowReader("GRU", bidirectional=True), (7, 12)),
    "rnn_relu": (lambda: RowReader("RNN", nonlinearity="relu"), (7, 12)),
}


def export_bytes(model, args, **kw) -> bytes:
    f = io.BytesIO()
    if rt.__name__ == "torch":
        kw.setdefault("dynamo", False)
    rt.onnx.export(model, args, f, **kw)
    return f.getvalue()


def settle(model):
    """Training-mode statistics for batch norm, so eval mode is not the identity."""
    with rt.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exported_model_runs_in_onnx_runtime_as_here(name):
    make, shape = MODELS[name]
    rt.manual_seed(0)
    model = make()
    settle(model)
    model.train()  # exported in eval mode, and left as it was
    data = export_bytes(model, (rt.randn(3, *shape),), input_names=["x"], output_names=["y"],
                        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    assert model.training
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["x"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model.eval()
    for batch in (3, 5):
        x = rt.randn(batch, *shape)
        with rt.no_grad():
            want = model(x).numpy()
        (got,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_parameters_are_named_initializers_or_inputs():
    rt.manual_seed(0)
    model = lenet()
    proto = onnx.load_from_string(export_bytes(model, rt.randn(2, 3, 32, 32)))
    names = {i.name for i in proto.graph.initializer}
    assert {"0.weight", "0.bias", "7.weight", "11.bias"} <= names
    weight = next(i for i in proto.graph.initializer if i.name == "0.weight")
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(weight),
                                  model[0].weight.detach().numpy())
    proto = onnx.load_from_string(export_bytes(model, rt.randn(2, 3, 32, 32),
                                               export_params=False))
    params = set(model.state_dict())
    assert not params & {i.name for i in proto.graph.initializer}
    assert params <= {i.name for i in proto.graph.input}


def test_writes_a_file(tmp_path):
    path = tmp_path / "mlp.onnx"
    if rt.__name__ == "torch":
        rt.onnx.export(mlp(), (rt.randn(2, 1, 28, 28),), str(path), dynamo=False)
    else:
        rt.onnx.export(mlp(), (rt.randn(2, 1, 28, 28),), str(path))
    onnx.checker.check_model(onnx.load(str(path)))


@pytest.mark.skipif(rt.__name__ == "torch", reason="PyTorch exports these ops")
def test_ops_without_a_mapping_raise_naming_them():
    class Angle(nn.Module):
        def forward(self, x):
            return rt.atan2(x, x + 1.0)

    with pytest.raises(RuntimeError, match="no ONNX mapping for the op 'atan2'"):
        export_bytes(Angle(), rt.randn(2, 3))

    class Running(nn.Module):
        def forward(self, x):
            return rt.relu(x.cumsum(1))

    with pytest.raises(RuntimeError, match="made by CumsumBackward0, an op the exporter does"):
        export_bytes(Running(), rt.randn(3, 4))
    with pytest.raises(RuntimeError, match="proj_size has no ONNX form"):
        export_bytes(RowReader(proj_size=8), rt.randn(3, 7, 12))


@pytest.mark.skipif(rt.__name__ == "torch", reason="rustorch's own argument checks")
def test_bad_arguments():
    with pytest.raises(ValueError, match="dynamic_axes names 'z'"):
        export_bytes(mlp(), rt.randn(2, 1, 28, 28), dynamic_axes={"z": [0]})
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        export_bytes(mlp(), rt.randn(2, 1, 28, 28), colour=1)


# -- attention and the Transformer ----------------------------------------------------------


class TokenClassifier(nn.Module):
    """The documents' Transformer encoder as a sequence classifier: token embedding plus a
    learned position table, a 2-layer encoder, mean over positions, a linear head. With
    ``pad``, token 0 is padding (a key padding mask built from the tokens)."""

    def __init__(self, pad=False, norm_first=False, activation="relu"):
        super().__init__()
        self.embed = nn.Embedding(50, 16, padding_idx=0)
        self.position = nn.Parameter(rt.randn(1, 32, 16) * 0.1)
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True,
                                           norm_first=norm_first, activation=activation)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 5)
        self.pad = pad

    def forward(self, tokens):
        x = self.embed(tokens) + self.position[:, :tokens.shape[1]]
        mask = tokens == 0 if self.pad else None
        return self.head(self.encoder(x, src_key_padding_mask=mask).mean(1))


class Attend(nn.Module):
    """Multi-head attention (sequence first) from a query to a key that is also the value,
    returning the output and the head-averaged weights."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4)

    def forward(self, query, key):
        return self.attn(query, key, key)


class Causal(nn.Module):
    def forward(self, q, k, v):
        return rt.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


def tokens(*shape):
    return rt.randint(0, 50, shape)


# name -> (model, inputs at the traced size, their dynamic axes, sizes to run at)
ATTENTION = {
    "transformer_classifier": (TokenClassifier, lambda n: (tokens(n, 7),), {0: "batch"}),
    "transformer_padded_norm_first_gelu": (
        lambda: TokenClassifier(pad=True, norm_first=True, activation="gelu"),
        lambda n: (tokens(n, 7),), {0: "batch"},
    ),
    "multihead_attention": (
        Attend, lambda n: (rt.randn(6, n, 16), rt.randn(4, n, 16)), {1: "batch"},
    ),
    "causal_attention": (
        Causal, lambda n: tuple(rt.randn(n, 4, 6, 8) for _ in range(3)), {0: "batch"},
    ),
}


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_exports_run_in_onnx_runtime_as_here(name):
    make, inputs, axes = ATTENTION[name]
    rt.manual_seed(0)
    model = make()
    args = inputs(3)
    in_names = [f"in{i}" for i in range(len(args))]
    out_names = ["out", "weights"] if name == "multihead_attention" else ["out"]
    batch_axis = {"multihead_attention": {"out": {1: "batch"}, "weights": {0: "batch"}}}
    dynamic = {n: axes for n in in_names}
    dynamic.update(batch_axis.get(name, {n: {0: "batch"} for n in out_names}))
    data = export_bytes(model, args, input_names=in_names, output_names=out_names,
                        dynamic_axes=dynamic)
    onnx.checker.check_model(onnx.load_from_string(data))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model.eval()
    for batch in (3, 1, 5):
        args = inputs(batch)
        with rt.no_grad():
            want = model(*args)
        want = want if isinstance(want, tuple) else (want,)
        got = session.run(None, {n: a.numpy() for n, a in zip(in_names, args)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(rt.__name__ == "torch", reason="PyTorch's TorchScript exporter writes "
                    "the traced sequence length into multi-head attention's reshapes")
def test_a_transformer_exports_with_dynamic_batch_and_sequence():
    rt.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    axes = {0: "batch", 1: "sequence"}
    data = export_bytes(model, rt.randn(2, 5, 16), input_names=["x"], output_names=["y"],
                        dynamic_axes={"x": axes, "y": axes})
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model.eval()
    for shape in ((2, 5, 16), (4, 9, 16), (1, 1, 16)):
        x = rt.randn(*shape)
        with rt.no_grad():
            want = model(x).numpy()
        (got,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(rt.__name__ == "torch", reason="PyTorch's tracer records sizes symbolically")
def test_sizes_that_follow_a_dynamic_axis_raise():
    rt.manual_seed(0)
    model = TokenClassifier()
    # The position table is sliced to the sequence length: a number in the trace.
    with pytest.raises(RuntimeError, match="'index' takes its items from the inputs"):
        export_bytes(model, tokens(3, 7), input_names=["t"], dynamic_axes={"t": [0, 1]})

    class Ramp(nn.Module):
        def forward(self, x):
            return x + rt.arange(x.shape[0], dtype=x.dtype)[:, None]

    with pytest.raises(RuntimeError, match="reads a constant of shape .3. that follows a"):
        export_bytes(Ramp(), rt.randn(3, 4), input_names=["x"], dynamic_axes={"x": [0]})
    # Without dynamic axes both export, at the traced sizes.
    export_bytes(model, tokens(3, 7))
    export_bytes(Ramp(), rt.randn(3, 4))

    class Winner(nn.Module):
        """argmax is not recorded: its result would be a constant."""

        def forward(self, x):
            return x * x.argmax(-1, keepdim=True)

    with pytest.raises(RuntimeError, match="whose values change with the inputs"):
        export_bytes(Winner(), rt.randn(3, 4))


class MaskedEmbedding(nn.Module):
    """Token embeddings zeroed at padding: a mask computed from the tokens and cast."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 4)

    def forward(self, tokens):
        return self.embed(tokens) * (tokens != 0).float()[..., None]


class KeepMask(nn.Module):
    """Attention whose key padding mask is the inverse of an input mask (True = keep)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x, keep):
        return self.attn(x, x, x, key_padding_mask=~keep, need_weights=False)[0]


class Compare(nn.Module):
    """Comparisons with numbers of other kinds: PyTorch's promotion (and integer wrap)."""

    def forward(self, small, word, flag):
        return rt.stack([small > -1, word < 3000000000, word < 2.5, flag == 2, ~small == 254,
                         rt.logical_not(word), rt.logical_not(flag)])


class ClassToken(nn.Module):
    """A learned token expanded to the batch and put before the sequence (ViT's)."""

    def __init__(self):
        super().__init__()
        self.token = nn.Parameter(rt.randn(1, 1, 4))

    def forward(self, x):
        return rt.cat([self.token.expand(x.shape[0], -1, -1), x], 1)


class Regroup(nn.Module):
    """Two dynamic axes of one size at tracing: (B, S, E) to (S·B, E) and back, the sizes
    read from the right axes."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        b, s, e = x.shape
        y = self.linear(x.transpose(0, 1).reshape(s * b, e))
        return y.reshape(s, b, e).transpose(0, 1) + x.relu()


def keep_mask(*shape):
    keep = rt.rand(*shape) > 0.3
    keep[:, 0] = True
    return keep


# name -> (model, inputs to trace with, other inputs to run at, dynamic axes per input)
EDGES = {
    "masked_embedding": (MaskedEmbedding, (tokens(2, 4),), [(tokens(2, 4),), (tokens(5, 3),)],
                         [{0: "b", 1: "s"}]),
    "keep_mask": (KeepMask, (rt.randn(2, 4, 8), keep_mask(2, 4)),
                  [(rt.randn(2, 4, 8), keep_mask(2, 4)), (rt.randn(3, 6, 8), keep_mask(3, 6))],
                  [{0: "b", 1: "s"}, {0: "b", 1: "s"}]),
    "compare": (Compare, (rt.tensor([1, 255], dtype=rt.uint8), rt.tensor([0, 2**31 - 1],
                dtype=rt.int32), rt.tensor([True, False])), [], [None, None, None]),
    "class_token": (ClassToken, (rt.randn(1, 3, 4),), [(rt.randn(3, 5, 4),)],
                    [{0: "b", 1: "s"}]),
    "regroup_equal_sizes": (Regroup, (rt.randn(3, 3, 4),), [(rt.randn(2, 5, 4),),
                            (rt.randn(5, 2, 4),)], [{0: "b", 1: "s"}]),
}


# What PyTorch's TorchScript exporter cannot do, for the oracle run.
TORCH_CANNOT = {
    "compare": "it refuses ~ on integers",
    "keep_mask": "it writes the traced sequence length into attention's reshapes",
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_masks_casts_comparisons_and_sizes_from_the_inputs(name):
    if rt.__name__ == "torch" and name in TORCH_CANNOT:
        pytest.skip(f"PyTorch's exporter: {TORCH_CANNOT[name]}")
    make, args, others, axes = EDGES[name]
    rt.manual_seed(0)
    model = make()
    in_names = [f"in{i}" for i in range(len(args))]
    dynamic = {n: a for n, a in zip(in_names, axes) if a is not None}
    if dynamic:
        dynamic["out"] = {0: "b", 1: "s"}
    data = export_bytes(model, args, input_names=in_names, output_names=["out"],
                        dynamic_axes=dynamic)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model.eval()
    for inputs in [args, *others]:
        with rt.no_grad():
            want = model(*inputs).numpy()
        (got,) = session.run(None, {n: a.numpy() for n, a in zip(in_names, inputs)})
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
