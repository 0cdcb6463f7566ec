"""Vision datasets, transforms, image I/O and grid utilities, mirroring ``torchvision``
(``datasets``, ``transforms``, ``io``, ``utils``, ``models``, ``ops``)."""

from rustorch.vision import datasets, io, models, ops, transforms, utils

__version__ = "0.1.0"  # rustorch.vision's own version (the torchvision API mirrored is 0.2x)

__all__ = ["datasets", "io", "models", "ops", "transforms", "utils", "__version__"]
