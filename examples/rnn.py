"""The documents' RNN: Fashion-MNIST images read row by row by a 2-layer LSTM (or GRU).

Each 28x28 image is a sequence of 28 steps of 28 features; a 2-layer recurrent layer of
hidden size 128 reads it and a linear layer classifies its last hidden state. Written as a
PyTorch user would, with ``import rustorch as torch``:

    python examples/rnn.py                        # LSTM, 1 epoch
    python examples/rnn.py --cell gru --epochs 2 --out pictures
    python examples/rnn.py --limit 3000 --test-limit 1000     # a quick run

It prints the test accuracy after every epoch and writes ``rnn_<cell>_loss.png`` (training
loss per batch, test loss per epoch) to ``--out`` when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import rustorch as torch
from _shared import plot_losses, test, train
from rustorch import nn
from rustorch.utils.data import DataLoader, Subset
from rustorch.vision import datasets, transforms


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="directory with the Fashion-MNIST IDX files")
    parser.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=".", help="folder for the pictures")
    return parser.parse_args()


class RNNClassifier(nn.Module):
    """A recurrent layer over the image rows, then a linear layer on the last step."""

    def __init__(self, cell: str, input_size=28, hidden_size=128, num_layers=2,
                 num_classes=10):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = layer(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        x = x.reshape(-1, 28, 28)  # [B, 1, 28, 28] -> 28 steps of 28 features
        out, _ = self.rnn(x)  # zero initial states
        return self.fc(out[:, -1, :])


def load_data(root, limit=None, test_limit=None):
    """Fashion-MNIST normalised with its mean and standard deviation."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    training_data = datasets.FashionMNIST(root, train=True, download=False, transform=tf)
    test_data = datasets.FashionMNIST(root, train=False, download=False, transform=tf)
    if limit is not None:
        training_data = Subset(training_data, range(min(limit, len(training_data))))
    if test_limit is not None:
        test_data = Subset(test_data, range(min(test_limit, len(test_data))))
    return training_data, test_data


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    device = args.device
    print(f"Using {device} device")

    training_data, test_data = load_data(args.data, args.limit, args.test_limit)
    train_dataloader = DataLoader(training_data, batch_size=args.batch_size, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=256)

    model = RNNClassifier(args.cell, hidden_size=args.hidden, num_layers=args.layers).to(device)
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    train_losses, test_losses = [], []
    accuracy = math.nan
    start = time.perf_counter()
    for t in range(args.epochs):
        print(f"Epoch {t + 1}\n-------------------------------")
        epoch_start = time.perf_counter()
        train_losses += train(train_dataloader, model, loss_fn, optimizer, device, t + 1)
        print(f"epoch {t + 1}: {len(train_dataloader)} batches in "
              f"{time.perf_counter() - epoch_start:.1f} s, last loss {train_losses[-1]:.4f}")
        test_loss, accuracy = test(test_dataloader, model, loss_fn, device)
        test_losses.append(test_loss)
    elapsed = time.perf_counter() - start

    os.makedirs(args.out, exist_ok=True)
    plot_losses(os.path.join(args.out, f"rnn_{args.cell}_loss.png"), train_losses, test_losses,
                len(train_dataloader),
                f"{args.layers}-layer {args.cell.upper()} over Fashion-MNIST rows ({device})")
    print(f"Final test accuracy: {100 * accuracy:.2f}% on {len(test_data)} images "
          f"({args.epochs} epoch(s), {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
