"""Vision datasets (``torchvision.datasets``): MNIST, FashionMNIST, KMNIST, EMNIST,
CIFAR10/100, SVHN, LSUN, FakeData, and the folder datasets ImageFolder / DatasetFolder."""

from .cifar import CIFAR10, CIFAR100
from .fakedata import FakeData
from .folder import DatasetFolder, ImageFolder
from .lsun import LSUN, LSUNClass
from .mnist import EMNIST, KMNIST, MNIST, FashionMNIST
from .svhn import SVHN
from .vision import VisionDataset

__all__ = [
    "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "CIFAR10", "CIFAR100", "SVHN", "LSUN", "LSUNClass",
    "FakeData",
    "DatasetFolder", "ImageFolder", "VisionDataset",
]
