#!/usr/bin/env python3
"""Writes ``tests/data/nn_fixture.safetensors``: small PyTorch models' weights, inputs and
outputs, the oracle of the Rust inference layers' test (``tests/nn_inference.rs``); and the
same in PyTorch's checkpoint format (``nn_fixture_torch.pt`` by ``torch.save``,
``nn_fixture_rustorch.pt`` by ``rustorch.save``) for the Rust loader of that format.

    python scripts/make_nn_fixture.py      # needs PyTorch (the CPU wheel in ../shared/wheels)

Each model's state dict is saved under its prefix (``cnn.``, ``emb.``, ``lstm.``, ``gru.``,
``rnn.``, ``enc.``, ``enc_pre.``), its inputs and PyTorch's outputs beside it; everything in
float32 but the token indices (int64) and the masks (bool).
"""

from __future__ import annotations

import os

import rustorch
import torch
from rustorch.utils.safetensors import save_file
from torch import nn

DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data")
OUT = os.path.join(DATA, "nn_fixture.safetensors")
OUT_TORCH = os.path.join(DATA, "nn_fixture_torch.pt")
OUT_RUSTORCH = os.path.join(DATA, "nn_fixture_rustorch.pt")


def main() -> None:
    torch.manual_seed(0)
    tensors: dict[str, torch.Tensor] = {}

    def put(prefix: str, module: nn.Module) -> None:
        for k, v in module.state_dict().items():
            if k.endswith("num_batches_tracked"):
                continue
            tensors[f"{prefix}.{k}"] = v

    # Convolutions, batch norm (non-trivial running statistics), pools, linear, layer norm.
    cnn = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, groups=2), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(6, 5), nn.Tanh(), nn.LayerNorm(5),
    )
    with torch.no_grad():
        cnn[1].running_mean.uniform_(-0.5, 0.5)
        cnn[1].running_var.uniform_(0.5, 2.0)
        cnn[1].weight.uniform_(0.5, 1.5)
        cnn[1].bias.uniform_(-0.5, 0.5)
    cnn.eval()
    put("cnn", cnn)
    x = torch.randn(2, 3, 12, 12)
    tensors["cnn.input"] = x
    tensors["cnn.expected"] = cnn(x)

    # An embedding feeding the recurrent stacks (batch first, two layers, both directions).
    emb = nn.Embedding(20, 8)
    put("emb", emb)
    tokens = torch.randint(0, 20, (2, 7))
    tensors["emb.input"] = tokens
    seq = emb(tokens)
    tensors["emb.expected"] = seq
    lstm = nn.LSTM(8, 6, num_layers=2, bidirectional=True, batch_first=True, proj_size=4)
    gru = nn.GRU(8, 5, num_layers=2, bidirectional=True, batch_first=True)
    rnn = nn.RNN(8, 5, nonlinearity="relu", batch_first=True)
    for name, layer in (("lstm", lstm), ("gru", gru), ("rnn", rnn)):
        put(name, layer)
        out = layer(seq)
        tensors[f"{name}.expected"] = out[0]
        h = out[1][0] if name == "lstm" else out[1]
        tensors[f"{name}.expected_h"] = h
    tensors["lstm.expected_c"] = lstm(seq)[1][1]

    # Transformer encoder layers, post-norm (ReLU) and pre-norm (GELU), with both masks.
    src = torch.randn(2, 5, 8)
    causal = nn.Transformer.generate_square_subsequent_mask(5)  # additive float mask
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    tensors["enc.input"] = src
    tensors["enc.mask"] = causal
    tensors["enc.padding"] = padding
    for name, norm_first, act in (("enc", False, "relu"), ("enc_pre", True, "gelu")):
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=act,
                                           batch_first=True, norm_first=norm_first)
        layer.eval()
        put(name, layer)
        with torch.no_grad():
            tensors[f"{name}.expected"] = layer(src, src_mask=causal,
                                                src_key_padding_mask=padding)
    # The same layer's self-attention alone, unbatched, a boolean mask.
    attn = nn.MultiheadAttention(8, 4)
    put("mha", attn)
    q = torch.randn(5, 8)
    bool_mask = torch.rand(5, 5) > 0.7
    bool_mask[:, 0] = False  # every row keeps a position
    tensors["mha.input"] = q
    tensors["mha.mask"] = bool_mask
    with torch.no_grad():
        tensors["mha.expected"] = attn(q, q, q, attn_mask=bool_mask, need_weights=False)[0]

    save_file({k: rustorch.tensor(v.detach().numpy()) for k, v in tensors.items()}, OUT)
    print(f"wrote {len(tensors)} tensors to {os.path.normpath(OUT)}")
    # The same tensors in PyTorch's checkpoint format as torch.save writes it, nested in a
    # training checkpoint beside a view that shares a weight's storage and plain values;
    # and the CNN's as rustorch.save writes them.
    weight = tensors["cnn.7.weight"]
    torch.save({"model": tensors, "view": weight.t()[1:], "epoch": 3, "lr": 0.1,
                "tag": "fixture", "flags": [True, None]}, OUT_TORCH)
    cnn_only = {k: rustorch.tensor(v.detach().numpy()) for k, v in tensors.items()
                if k.startswith("cnn.")}
    rustorch.save(cnn_only, OUT_RUSTORCH)
    print(f"wrote {os.path.normpath(OUT_TORCH)} and {os.path.normpath(OUT_RUSTORCH)}")


if __name__ == "__main__":
    main()
