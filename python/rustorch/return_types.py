"""Named tuples returned by ``max(dim)``, ``min(dim)``, ``sort``, ``topk``, ``cummax`` and
``cummin`` (PyTorch's ``torch.return_types``)."""

from __future__ import annotations

from typing import Any, NamedTuple


class max(NamedTuple):  # noqa: A001 - PyTorch's name
    values: Any
    indices: Any


class min(NamedTuple):  # noqa: A001 - PyTorch's name
    values: Any
    indices: Any


class sort(NamedTuple):
    values: Any
    indices: Any


class topk(NamedTuple):
    values: Any
    indices: Any


class cummax(NamedTuple):
    values: Any
    indices: Any


class cummin(NamedTuple):
    values: Any
    indices: Any
