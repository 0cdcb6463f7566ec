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


def _repr(self: Any) -> str:
    """PyTorch's form: ``torch.return_types.sort(\\nvalues=...,\\nindices=...)``."""
    fields = ",\n".join(f"{k}={v!r}" for k, v in zip(self._fields, self))
    return f"rustorch.return_types.{type(self).__name__}(\n{fields})"


for _cls in (max, min, sort, topk, cummax, cummin):
    _cls.__repr__ = _repr  # type: ignore[method-assign]
    _cls.__str__ = _repr  # type: ignore[method-assign]
