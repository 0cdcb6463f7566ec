"""Neural networks: modules, parameters, functional ops, init and utils (``torch.nn``)."""

from rustorch.nn.parameter import Buffer, Parameter  # isort: skip

from rustorch.nn import (
    functional,
    init,
    parallel,
    utils,
)
from rustorch.nn.modules import *  # noqa: F403
from rustorch.nn.modules import __all__ as _modules_all
from rustorch.nn.parallel import DataParallel

__all__ = [
    "Parameter", "Buffer", "DataParallel", "functional", "init", "parallel", "utils", *_modules_all
]
