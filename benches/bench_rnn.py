#!/usr/bin/env python3
"""Recurrent-layer benchmark of rustorch against PyTorch (CPU), side by side in one process.

    python benches/bench_rnn.py [--steps N] [--rounds R] [--accuracy] [--lm]

The documents' RNN over Fashion-MNIST rows (28 steps of 28 features, batch 64, a 2-layer
recurrent layer of hidden size 128, a linear head on the last step, Adam, cross-entropy) as
an LSTM, a GRU and an ``nn.RNN``: the mean time of a training step over a block of
``--steps`` batches, and the projected epoch of 938 batches. The libraries' blocks
alternate, ``--rounds`` of each (3 by default), and each keeps its best, so a slow spell
of this shared machine weighs on both alike. Both libraries start
from the same weights and see the same batches. Prints a Markdown table with the ratio
(rustorch ÷ torch, lower is better). ``--accuracy`` then trains the LSTM for one whole
epoch in both libraries from PyTorch's initial weights over the same batches and prints
both test accuracies (the same-start check). ``--lm`` adds PyTorch's word-language-model
example's step (embedding 200, 2-layer LSTM of 200, 35 steps, batch 20, vocabulary 10 000,
decoder tied to the embedding, gradient clipping 0.25, plain SGD) on random tokens.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

BATCH, STEPS, FEATURES, HIDDEN, CLASSES = 64, 28, 28, 128, 10
EPOCH_BATCHES = 60000 // BATCH + 1


def interleaved_ms(runs: dict, rounds: int) -> dict:
    """Each library's best mean milliseconds per step over `rounds` blocks, the libraries'
    blocks alternating. `runs` maps a name to `(run, steps, warm)`: `run(steps)` trains on
    the list `steps`, warmed up first on its first `warm` items."""
    for run, steps, warm in runs.values():
        run(steps[:warm])
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, (run, steps, _) in runs.items():
            t0 = time.perf_counter()
            run(steps)
            best[name] = min(best[name], (time.perf_counter() - t0) / len(steps) * 1e3)
    return best


def batches(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST training batches when the dataset is installed, else random ones."""
    try:
        import gzip

        root = "/usr/share/datasets/fashion-mnist"
        with gzip.open(f"{root}/train-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(f"{root}/train-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        images = (images.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    except OSError:
        rng = np.random.default_rng(0)
        images = rng.standard_normal((n * BATCH, 28, 28)).astype(np.float32)
        labels = rng.integers(0, CLASSES, n * BATCH).astype(np.uint8)
    return [
        (images[i * BATCH : (i + 1) * BATCH], labels[i * BATCH : (i + 1) * BATCH].astype(np.int64))
        for i in range(n)
    ]


def build(lib, kind: str, state: dict | None):
    nn = lib.nn

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(nn, kind)(FEATURES, HIDDEN, 2, batch_first=True)
            self.fc = nn.Linear(HIDDEN, CLASSES)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1, :])

    model = Model()
    if state is not None:
        model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    return model


def step_run(lib, kind: str, state: dict, data: list):
    """`(run, steps, warm)` for `interleaved_ms`: training steps of the documents' RNN."""
    model = build(lib, kind, state)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    tensors = [(lib.tensor(x), lib.tensor(y)) for x, y in data]

    def run(part):
        for x, y in part:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

    return run, tensors, 3


def test_images() -> tuple[np.ndarray, np.ndarray]:
    import gzip

    root = "/usr/share/datasets/fashion-mnist"
    with gzip.open(f"{root}/t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(f"{root}/t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return (images.astype(np.float32) / 255.0 - 0.2860) / 0.3530, labels.astype(np.int64)


def same_start_accuracy(lib, state: dict, data: list, test: tuple) -> float:
    """Test accuracy (%) after one epoch over `data` from the weights `state`."""
    model = build(lib, "LSTM", state)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    for x, y in data:
        opt.zero_grad()
        loss_fn(model(lib.tensor(x)), lib.tensor(y)).backward()
        opt.step()
    correct = 0
    with lib.no_grad():
        for i in range(0, len(test[0]), 1000):
            pred = model(lib.tensor(test[0][i : i + 1000])).argmax(1)
            correct += int((pred == lib.tensor(test[1][i : i + 1000])).sum())
    return 100.0 * correct / len(test[0])


def lm_run(lib, state: dict | None, steps: int):
    """`(run, steps, warm)` for `interleaved_ms`: word-language-model training steps (with
    `state` None, the model alone, to take its initial weights from)."""
    nn = lib.nn
    vocab, emb, bptt, batch = 10000, 200, 35, 20

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Embedding(vocab, emb)
            self.rnn = nn.LSTM(emb, emb, 2, dropout=0.2)
            self.decoder = nn.Linear(emb, vocab)
            self.decoder.weight = self.encoder.weight  # tied weights
            self.drop = nn.Dropout(0.2)

        def forward(self, x, hidden):
            out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
            return self.decoder(self.drop(out)).view(-1, vocab), hidden

    model = LM()
    if state is None:
        return model
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    rng = np.random.default_rng(0)
    data = [(lib.tensor(rng.integers(0, vocab, (bptt, batch))),
             lib.tensor(rng.integers(0, vocab, bptt * batch))) for _ in range(steps)]
    loss_fn = nn.CrossEntropyLoss()

    def run(part):
        hidden = (lib.zeros(2, batch, emb), lib.zeros(2, batch, emb))
        for x, y in part:
            hidden = tuple(h.detach() for h in hidden)
            model.zero_grad()
            out, hidden = model(x, hidden)
            loss_fn(out, y).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            with lib.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-20.0)

    model.train()
    return run, data, 2


def main() -> None:
    import rustorch
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--lm", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="timed blocks of each library")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    data = batches(args.steps)
    print(f"| 2-layer, hidden {HIDDEN}, batch {BATCH}, Adam | rustorch step | torch step | "
          "rustorch epoch | torch epoch | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("LSTM", "GRU", "RNN"):
        torch.manual_seed(0)
        state = {k: v.numpy().copy() for k, v in build(torch, kind, None).state_dict().items()}
        ms = interleaved_ms({lib.__name__: step_run(lib, kind, state, data)
                             for lib in (rustorch, torch)}, args.rounds)
        ours, theirs = ms["rustorch"], ms["torch"]
        print(f"| {kind} | {ours:.2f} ms | {theirs:.2f} ms | {ours * EPOCH_BATCHES / 1e3:.1f} s | "
              f"{theirs * EPOCH_BATCHES / 1e3:.1f} s | {ours / theirs:.2f}× |")
    if args.lm:
        torch.manual_seed(0)
        state = {k: v.numpy().copy() for k, v in lm_run(torch, None, 0).state_dict().items()}
        ms = interleaved_ms({lib.__name__: lm_run(lib, state, 30) for lib in (rustorch, torch)},
                            args.rounds)
        ours, theirs = ms["rustorch"], ms["torch"]
        print(f"| word LM (LSTM 2×200, 35 steps, batch 20, vocab 10k, tied) | {ours:.2f} ms | "
              f"{theirs:.2f} ms | | | {ours / theirs:.2f}× |")
    if args.accuracy:
        torch.manual_seed(0)
        state = {k: v.numpy().copy() for k, v in build(torch, "LSTM", None).state_dict().items()}
        epoch, test = batches(EPOCH_BATCHES), test_images()
        ours = same_start_accuracy(rustorch, state, epoch, test)
        theirs = same_start_accuracy(torch, state, epoch, test)
        print(f"\nSame start, one epoch of the LSTM: rustorch {ours:.2f}%, torch {theirs:.2f}% "
              f"(difference {ours - theirs:+.2f} points)")


if __name__ == "__main__":
    main()
