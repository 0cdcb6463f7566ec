"""Detection ops (``torchvision.ops``): ``roi_pool`` / ``RoIPool``."""

from .roi_pool import RoIPool, roi_pool

__all__ = ["roi_pool", "RoIPool"]
