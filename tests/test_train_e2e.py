"""End to end: train the 784-128-10 MLP for one epoch on 10,000 real Fashion-MNIST images.

Skipped when the dataset is not installed at /usr/share/datasets/fashion-mnist (or at
``$RUSTORCH_FASHION_MNIST``). Exercises the whole stack as a PyTorch script would: the
FashionMNIST reader, ToTensor, DataLoader with shuffling, nn.Sequential, CrossEntropyLoss,
SGD, backward, no_grad evaluation, save/load of the state dict.
"""

from __future__ import annotations

import os

import pytest
from conftest import LIB_NAME, rt

DATA = os.environ.get("RUSTORCH_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")

if not hasattr(rt, "vision"):
    pytest.skip(f"{LIB_NAME} has no vision package", allow_module_level=True)
if not os.path.isdir(DATA):
    pytest.skip(f"Fashion-MNIST not found at {DATA}", allow_module_level=True)


def test_one_epoch_on_fashion_mnist_slice(tmp_path):
    torch = rt
    nn = rt.nn
    from rustorch.utils.data import DataLoader, Subset
    from rustorch.vision import datasets
    from rustorch.vision.transforms import ToTensor

    torch.manual_seed(0)
    train_data = datasets.FashionMNIST(DATA, train=True, transform=ToTensor())
    test_data = datasets.FashionMNIST(DATA, train=False, transform=ToTensor())
    assert len(train_data) == 60000 and len(test_data) == 10000
    # Batch 32: after one epoch the accuracy is 0.66–0.74 over seeds 0–5, clear of the bound
    # below (at batch 64 it spread over 0.59–0.70, so the bound hung on the seed's luck).
    train_loader = DataLoader(Subset(train_data, range(10000)), batch_size=32, shuffle=True)
    test_loader = DataLoader(test_data, batch_size=256)

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    model.train()
    first = last = None
    for X, y in train_loader:
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        first = loss.item() if first is None else first
        last = loss.item()
    assert last < first

    model.eval()
    correct, test_loss = 0.0, 0.0
    with torch.no_grad():
        for X, y in test_loader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    accuracy = correct / len(test_data)
    assert accuracy > 0.6, f"test accuracy {accuracy:.3f}"

    path = str(tmp_path / "model.safetensors")
    torch.save(model.state_dict(), path)
    clone = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    clone.load_state_dict(torch.load(path))
    X, _ = next(iter(test_loader))
    with torch.no_grad():
        assert (clone(X) == model(X)).all()
