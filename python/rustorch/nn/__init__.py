"""Neural networks: modules, parameters, functional ops, init and utils (``torch.nn``)."""

from rustorch.nn.parameter import Buffer, Parameter  # isort: skip

from rustorch.nn import functional, init, utils
from rustorch.nn.modules import *  # noqa: F403
from rustorch.nn.modules import __all__ as _modules_all

__all__ = ["Parameter", "Buffer", "functional", "init", "utils", *_modules_all]
