"""``torch.profiler`` for rustorch: ``profile``, ``record_function``, ``schedule``,
``ProfilerActivity``, ``ProfilerAction`` and ``tensorboard_trace_handler``.

See :mod:`rustorch.autograd.profiler` for what is recorded (user ranges, ``nn.Module``
calls, optimizer steps; no per-op ``aten::*`` rows) and how the results match PyTorch's.
"""

from __future__ import annotations

from ..autograd import profiler as _autograd_profiler  # also makes rustorch.autograd.profiler
from ..autograd.profiler import record_function
from .profiler import (
    ProfilerAction,
    ProfilerActivity,
    profile,
    schedule,
    supported_activities,
    tensorboard_trace_handler,
)

__all__ = [
    "ProfilerAction",
    "ProfilerActivity",
    "profile",
    "record_function",
    "schedule",
    "supported_activities",
    "tensorboard_trace_handler",
]

del _autograd_profiler
