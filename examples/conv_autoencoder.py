"""A convolutional autoencoder on Fashion-MNIST with MSE and Adam, written as a PyTorch user would.

The encoder halves the image twice with stride-2 convolutions (1x28x28 -> 16x14x14 -> 32x7x7);
the decoder mirrors it with stride-2 transposed convolutions (``output_padding=1`` restores
the even sizes) and a sigmoid, trained with ``import rustorch as torch``:

    python examples/conv_autoencoder.py             # 2 epochs on /usr/share/datasets/fashion-mnist
    python examples/conv_autoencoder.py --epochs 5 --out pictures
    python examples/conv_autoencoder.py --epochs 1 --limit 3000 --device cpu    # a quick run

It prints the test MSE after every epoch and writes ``conv_autoencoder_samples.png`` to
``--out``: test images in the odd rows, their reconstructions in the row below (the PNG is
written with NumPy and zlib, so no imaging library is needed).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import rustorch as torch
from _shared import make_grid, save_png
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
    parser.add_argument("--epochs", type=int, default=2)
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


class ConvAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),  # 1x28x28 -> 16x14x14
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),  # -> 32x7x7
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),  # -> 16x14x14
            nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),  # -> 1x28x28
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


def train(dataloader, model, loss_fn, optimizer, device, epoch):
    model.train()
    losses = []
    batches = dataloader
    if tqdm is not None:
        batches = tqdm(dataloader, desc=f"epoch {epoch}", unit="batch", leave=False)
    for X, _ in batches:
        X = X.to(device)

        reconstruction = model(X)
        loss = loss_fn(reconstruction, X)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        losses.append(loss.item())
        if tqdm is not None and len(losses) % 20 == 0:
            batches.set_postfix(mse=f"{losses[-1]:.4f}", refresh=False)
    return losses


def test(dataloader, model, device):
    """Mean squared error per pixel over the whole test set."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for X, _ in dataloader:
            X = X.to(device)
            total += nn.functional.mse_loss(model(X), X, reduction="sum").item()
            count += X.numel()
    mse = total / count
    print(f"Test MSE: {mse:.6f}")
    return mse


def save_reconstructions(path, model, test_data, device, n=16, nrow=8):
    """Rows of ``nrow`` test images, each followed by the row of their reconstructions."""
    model.eval()
    originals = torch.stack([test_data[i][0] for i in range(n)]).to(device)
    with torch.no_grad():
        reconstructions = model(originals)
    originals = originals.cpu().numpy()
    reconstructions = reconstructions.cpu().numpy()
    rows = []
    for start in range(0, n, nrow):
        rows.append(originals[start:start + nrow])
        rows.append(reconstructions[start:start + nrow])
    save_png(path, make_grid(np.concatenate(rows), nrow=nrow))
    print(f"Saved test images (odd rows) and their reconstructions (even rows) to {path}")


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    device = args.device
    print(f"Using {device} device")

    training_data = datasets.FashionMNIST(args.data, train=True, download=False,
                                          transform=transforms.ToTensor())
    test_data = datasets.FashionMNIST(args.data, train=False, download=False,
                                      transform=transforms.ToTensor())
    if args.limit is not None:
        training_data = Subset(training_data, range(min(args.limit, len(training_data))))
    if args.test_limit is not None:
        test_data = Subset(test_data, range(min(args.test_limit, len(test_data))))
    train_dataloader = DataLoader(training_data, batch_size=args.batch_size, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=256)

    model = ConvAutoencoder().to(device)
    print(model)

    loss_fn = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    mse = math.nan
    start = time.perf_counter()
    for t in range(args.epochs):
        print(f"Epoch {t + 1}\n-------------------------------")
        epoch_start = time.perf_counter()
        losses = train(train_dataloader, model, loss_fn, optimizer, device, t + 1)
        print(f"epoch {t + 1}: {len(train_dataloader)} batches in "
              f"{time.perf_counter() - epoch_start:.1f} s, last train MSE {losses[-1]:.6f}")
        mse = test(test_dataloader, model, device)
    elapsed = time.perf_counter() - start

    os.makedirs(args.out, exist_ok=True)
    save_reconstructions(os.path.join(args.out, "conv_autoencoder_samples.png"), model,
                         test_data, device)
    print(f"Final test MSE: {mse:.6f} on {len(test_data)} images "
          f"({args.epochs} epoch(s), {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
