"""Vision datasets (``torchvision.datasets``): MNIST, FashionMNIST, KMNIST, EMNIST,
CIFAR10/100, FakeData, and the folder datasets ImageFolder / DatasetFolder."""

from .cifar import CIFAR10, CIFAR100
from .fakedata import FakeData
from .folder import DatasetFolder, ImageFolder
from .mnist import EMNIST, KMNIST, MNIST, FashionMNIST
from .vision import VisionDataset

__all__ = [
    "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "CIFAR10", "CIFAR100", "FakeData",
    "DatasetFolder", "ImageFolder", "VisionDataset",
]
