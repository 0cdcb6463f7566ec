"""``rustorch.distributed.algorithms.ddp_comm_hooks``: the built-in hooks of
``default_hooks`` (all-reduce, and all-reduce in float16 or bfloat16)."""

from . import default_hooks

__all__ = ["default_hooks"]
