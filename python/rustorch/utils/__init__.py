"""Utilities (``torch.utils``): ``rustorch.utils.data`` and ``rustorch.utils.hooks``."""

from rustorch.utils import data, hooks

__all__ = ["data", "hooks"]
