"""Utilities (``torch.utils``): ``rustorch.utils.data``, ``rustorch.utils.hooks`` and
``rustorch.utils.dlpack``."""

from rustorch.utils import data, dlpack, hooks

__all__ = ["data", "dlpack", "hooks"]
