#!/usr/bin/env python3
"""Attention benchmark of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_attention.py

``F.scaled_dot_product_attention`` forward + backward (batch 4, 8 heads, sequence 256, head
dim 64), plain and causal with dropout 0.1 (a language model's training attention), and a
training step (Adam) of a 2-layer ``nn.TransformerEncoder`` classifier (d_model 256, 8
heads, feed-forward 1024, dropout 0.1, batch 32, sequence 64); the best mean of a few blocks
for each library. Prints a Markdown table with the ratio of times
(rustorch ÷ torch, lower is better).
"""

from __future__ import annotations

import os
import time

import numpy as np


def best_ms(fn, blocks=3, reps=5):
    for _ in range(2):
        fn()
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e3


def sdpa_ms(lib, **opts):
    rng = np.random.default_rng(0)
    q, k, v = (lib.tensor(rng.standard_normal((4, 8, 256, 64)).astype(np.float32),
                          requires_grad=True) for _ in range(3))
    g = lib.tensor(rng.standard_normal((4, 8, 256, 64)).astype(np.float32))

    def step():
        lib.nn.functional.scaled_dot_product_attention(q, k, v, **opts).backward(g)

    return best_ms(step)


def encoder_ms(lib, state):
    nn = lib.nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(256, 8, 1024, dropout=0.1, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            return self.fc(self.encoder(x).mean(dim=1))

    model = Classifier()
    if state is None:
        return model
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    opt = lib.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((32, 64, 256)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, 32))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return best_ms(step)


def main() -> None:
    import rustorch
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    print("| fwd+bwd | rustorch | torch | ratio |")
    print("|---|---:|---:|---:|")
    for name, opts in (("", {}), (", causal, dropout 0.1", {"is_causal": True, "dropout_p": 0.1})):
        ours, theirs = sdpa_ms(rustorch, **opts), sdpa_ms(torch, **opts)
        print(f"| scaled_dot_product_attention 4×8×256×64{name} | {ours:.1f} ms | "
              f"{theirs:.1f} ms | {ours / theirs:.2f}× |")
    torch.manual_seed(0)
    state = {k: v.numpy().copy() for k, v in encoder_ms(torch, None).state_dict().items()}
    ours, theirs = encoder_ms(rustorch, state), encoder_ms(torch, state)
    print(f"| 2-layer TransformerEncoder step (d 256, seq 64, batch 32, Adam) | {ours:.1f} ms | "
          f"{theirs:.1f} ms | {ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
