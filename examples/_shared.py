"""Helpers the CNN examples share: the classification train/test loops of the PyTorch
tutorials (with a tqdm bar), a loss-curve plot (matplotlib, optional) and an image grid saved
as PNG with NumPy and zlib only (no Pillow or matplotlib needed)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import rustorch as torch

try:  # optional progress bar
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


def train(dataloader, model, loss_fn, optimizer, device, epoch):
    model.train()
    losses = []
    batches = dataloader
    if tqdm is not None:
        batches = tqdm(dataloader, desc=f"epoch {epoch}", unit="batch", leave=False)
    for X, y in batches:
        X, y = X.to(device), y.to(device)

        pred = model(X)
        loss = loss_fn(pred, y)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        losses.append(loss.item())
        if tqdm is not None and len(losses) % 20 == 0:
            batches.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses


def test(dataloader, model, loss_fn, device):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0.0, 0.0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct


def plot_losses(path, train_losses, test_losses, steps_per_epoch, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: not writing the loss curve to {path}")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(train_losses) + 1), train_losses, lw=0.6, alpha=0.7,
            label="train (per batch)")
    ax.plot([steps_per_epoch * (i + 1) for i in range(len(test_losses))], test_losses, "o-",
            label="test (per epoch)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"Saved the loss curve to {path}")


def make_grid(images, nrow=8, padding=2, pad_value=1.0):
    """``torchvision.utils.make_grid`` for a ``B x C x H x W`` array: a ``H' x W' x C`` array."""
    images = np.asarray(images, dtype=np.float32)
    b, c, h, w = images.shape
    ncol = min(nrow, b)
    nrows = (b + ncol - 1) // ncol
    grid = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, c),
                   pad_value, dtype=np.float32)
    for i in range(b):
        top = (i // ncol) * (h + padding) + padding
        left = (i % ncol) * (w + padding) + padding
        grid[top:top + h, left:left + w] = images[i].transpose(1, 2, 0)
    return grid


def save_png(path, grid, scale=3):
    """Write a ``H x W x C`` float array in [0, 1] (C = 1 or 3) as an 8-bit PNG, enlarged."""
    pixels = (np.clip(grid, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    height, width, channels = pixels.shape
    if channels == 1:
        pixels, color_type = pixels[:, :, 0], 0  # greyscale
    else:
        color_type = 2  # RGB
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(tag, data):
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
