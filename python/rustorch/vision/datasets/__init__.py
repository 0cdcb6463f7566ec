"""Vision datasets (``torchvision.datasets``): MNIST, FashionMNIST, CIFAR10, CIFAR100."""

from .cifar import CIFAR10, CIFAR100
from .mnist import MNIST, FashionMNIST
from .vision import VisionDataset

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "VisionDataset"]
