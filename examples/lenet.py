"""LeNet-5 on Fashion-MNIST at 3x32x32 with SGD and momentum, written as a PyTorch user would.

The classic LeNet-5 of the PyTorch "Training a classifier" tutorial (3-channel 32x32 input).
Fashion-MNIST's 28x28 greyscale images are zero-padded by 2 pixels and repeated to three
channels, so the network is exactly the documents' one, with ``import rustorch as torch``:

    python examples/lenet.py                        # 1 epoch on /usr/share/datasets/fashion-mnist
    python examples/lenet.py --epochs 3 --out pictures
    python examples/lenet.py --epochs 1 --limit 6000 --device cpu   # a quick run
    python examples/lenet.py --save lenet.pt   # then: cargo run --release --example serve

It prints the test accuracy after every epoch and writes ``lenet_loss.png`` (the training loss
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
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--test-limit", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=".", help="folder for the pictures")
    parser.add_argument("--save", default=None, metavar="PATH",
                        help="save the trained weights (state dict) here, in PyTorch's "
                             "format (safetensors for a '.safetensors' name); "
                             "examples/serve.rs reads either")
    return parser.parse_args()


class LeNet(nn.Module):
    """LeNet-5: two 5x5 convolutions with max pooling, then three fully connected layers."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5),  # 3x32x32 -> 6x28x28
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 6x14x14
            nn.Conv2d(6, 16, 5),  # -> 16x10x10
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> 16x5x5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(root, limit=None, test_limit=None):
    """Fashion-MNIST as 3x32x32 float tensors: padded by 2 and repeated to three channels."""
    to_lenet = transforms.Compose([
        transforms.ToTensor(),  # 1x28x28 in [0, 1]
        transforms.Pad(2),  # 1x32x32
        transforms.Lambda(lambda x: x.repeat(3, 1, 1)),  # 3x32x32
        transforms.Normalize((0.2860,) * 3, (0.3530,) * 3),  # Fashion-MNIST's mean and std
    ])
    training_data = datasets.FashionMNIST(root, train=True, download=False, transform=to_lenet)
    test_data = datasets.FashionMNIST(root, train=False, download=False, transform=to_lenet)
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

    model = LeNet().to(device)
    print(model)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

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
    plot_losses(os.path.join(args.out, "lenet_loss.png"), train_losses, test_losses,
                len(train_dataloader), f"LeNet-5 on Fashion-MNIST ({device})")
    print(f"Final test accuracy: {100 * accuracy:.2f}% on {len(test_data)} images "
          f"({args.epochs} epoch(s), {elapsed:.1f} s)")
    if args.save:
        torch.save(model.to("cpu").state_dict(), args.save)
        print(f"Saved the weights to {args.save}")


if __name__ == "__main__":
    main()
