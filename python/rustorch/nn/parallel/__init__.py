"""``nn.parallel``: ``DistributedDataParallel`` (one process per replica, gradients averaged
over ``rustorch.distributed``) and ``DataParallel`` (one device)."""

from .data_parallel import DataParallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
