"""Fashion-MNIST with a 784-128-256-10 MLP and Adam, written as a PyTorch user would.

The PyTorch "Quickstart" loop (``model.train()`` / ``model.eval()``, ``torch.no_grad()``)
with ``import rustorch as torch``:

    python examples/mlp_adam.py                     # 2 epochs on /usr/share/datasets/fashion-mnist
    python examples/mlp_adam.py --epochs 5 --plot loss.png --data ~/data/fashion-mnist

The data directory holds the four Fashion-MNIST IDX files (``train-images-idx3-ubyte.gz``
etc.), directly or in torchvision's ``FashionMNIST/raw/`` layout.
"""

from __future__ import annotations

import argparse

import rustorch as torch
from rustorch import nn
from rustorch.utils.data import DataLoader, Subset
from rustorch.vision import datasets
from rustorch.vision.transforms import ToTensor

try:  # optional progress bar
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="directory with the Fashion-MNIST IDX files")
    parser.add_argument("--download", action="store_true",
                        help="download Fashion-MNIST into --data when it is not there "
                             "(checksums verified)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default="mlp_adam.safetensors", help="where to save the weights")
    parser.add_argument("--plot", default=None, help="write a loss-curve PNG here (matplotlib)")
    return parser.parse_args()


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 128),
            nn.ReLU(),
            nn.Linear(128, 256),
            nn.ReLU(),
            nn.Linear(256, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def train(dataloader, model, loss_fn, optimizer, device, epoch):
    model.train()
    losses = []
    batches = dataloader
    if tqdm is not None:
        batches = tqdm(dataloader, desc=f"epoch {epoch}", unit="batch", leave=False)
    for X, y in batches:
        X, y = X.to(device), y.to(device)

        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        losses.append(loss.item())
        if tqdm is not None and len(losses) % 20 == 0:
            batches.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    return losses


def test(dataloader, model, loss_fn, device):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
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


def plot(path, train_losses, test_losses, steps_per_epoch):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: not writing {path}")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(range(1, len(train_losses) + 1), train_losses, lw=0.8, label="train (per batch)")
    ax.plot([steps_per_epoch * (i + 1) for i in range(len(test_losses))], test_losses, "o-",
            label="test (per epoch)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"Saved the loss curve to {path}")


def main():
    args = parse_args()
    torch.manual_seed(args.seed)

    # Training and test data (downloaded with --download, as torchvision's download=True).
    training_data = datasets.FashionMNIST(
        root=args.data, train=True, download=args.download, transform=ToTensor()
    )
    test_data = datasets.FashionMNIST(
        root=args.data, train=False, download=args.download, transform=ToTensor()
    )
    if args.limit is not None:
        training_data = Subset(training_data, range(min(args.limit, len(training_data))))

    # Create data loaders.
    train_dataloader = DataLoader(training_data, batch_size=args.batch_size, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=args.batch_size)

    for X, y in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {X.shape}")
        print(f"Shape of y: {y.shape} {y.dtype}")
        break

    device = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    print(f"Using {device} device")

    model = NeuralNetwork().to(device)
    print(model)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    train_losses, test_losses = [], []
    for t in range(args.epochs):
        print(f"Epoch {t + 1}\n-------------------------------")
        train_losses += train(train_dataloader, model, loss_fn, optimizer, device, t + 1)
        test_loss, _ = test(test_dataloader, model, loss_fn, device)
        test_losses.append(test_loss)
    print("Done!")

    torch.save(model.state_dict(), args.save)
    print(f"Saved PyTorch Model State to {args.save}")

    model = NeuralNetwork().to(device)
    model.load_state_dict(torch.load(args.save, weights_only=True))
    test(test_dataloader, model, loss_fn, device)

    if args.plot:
        plot(args.plot, train_losses, test_losses, len(train_dataloader))


if __name__ == "__main__":
    main()
