"""A Keras-style CNN on Fashion-MNIST (1x28x28) with Adam, written as a PyTorch user would.

The network of Keras' ``mnist_cnn`` example (two 3x3 convolutions, max pooling, dropout and
two dense layers), trained with ``import rustorch as torch``:

    python examples/cnn.py                          # 1 epoch on /usr/share/datasets/fashion-mnist
    python examples/cnn.py --epochs 5 --out pictures
    python examples/cnn.py --epochs 1 --limit 3000 --device cpu     # a quick run

It prints the test accuracy after every epoch and writes ``cnn_loss.png`` (the training loss
per batch and the test loss per epoch) to ``--out`` when matplotlib is installed.
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

try:  # optional progress bar
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="directory with the Fashion-MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=".", help="folder for the pictures")
    return parser.parse_args()


class Net(nn.Module):
    """Conv(32)-Conv(64)-MaxPool-Dropout-Dense(128)-Dropout-Dense(10), as in Keras' example."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3),  # 1x28x28 -> 32x26x26
            nn.ReLU(),
            nn.Conv2d(32, 64, 3),  # -> 64x24x24
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 64x12x12
            nn.Dropout(0.25),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 12 * 12, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(root, limit=None, test_limit=None):
    """Fashion-MNIST as 1x28x28 float tensors in [0, 1] (Keras' ``x / 255``)."""
    training_data = datasets.FashionMNIST(root, train=True, download=False,
                                          transform=transforms.ToTensor())
    test_data = datasets.FashionMNIST(root, train=False, download=False,
                                      transform=transforms.ToTensor())
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
    X, y = next(iter(test_dataloader))
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")

    model = Net().to(device)
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
    plot_losses(os.path.join(args.out, "cnn_loss.png"), train_losses, test_losses,
                len(train_dataloader), f"Keras-style CNN on Fashion-MNIST ({device})")
    print(f"Final test accuracy: {100 * accuracy:.2f}% on {len(test_data)} images "
          f"({args.epochs} epoch(s), {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
