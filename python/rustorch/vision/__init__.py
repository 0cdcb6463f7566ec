"""Vision datasets and transforms, mirroring ``torchvision`` (``datasets``, ``transforms``)."""

from rustorch.vision import datasets, transforms

__all__ = ["datasets", "transforms"]
