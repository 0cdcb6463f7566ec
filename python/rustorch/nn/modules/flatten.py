"""Flatten / Unflatten, matching ``torch.nn.modules.flatten``."""

from __future__ import annotations

from typing import Any

from rustorch import Tensor

from .module import Module

__all__ = ["Flatten", "Unflatten"]


def _wrap_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``torch.flatten`` via ``reshape``: merge dims ``start_dim..end_dim`` into one."""
    shape = tuple(input.shape)
    if len(shape) == 0:
        return input.reshape(1)
    start = _wrap_dim(start_dim, len(shape))
    end = _wrap_dim(end_dim, len(shape))
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return input
    merged = 1
    for s in shape[start:end + 1]:
        merged *= s
    return input.reshape(shape[:start] + (merged,) + shape[end + 1:])


def unflatten(input: Tensor, dim: int, sizes: Any) -> Tensor:
    """``torch.unflatten`` via ``reshape``: split ``dim`` into ``sizes`` (one may be -1)."""
    shape = tuple(input.shape)
    d = _wrap_dim(dim, len(shape))
    sizes = tuple(int(s) for s in sizes)
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    if -1 in sizes:
        if known == 0 or shape[d] % known != 0:
            raise RuntimeError(
                f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of "
                f"dim {dim} ({shape[d]}) in the input tensor"
            )
        sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    elif known != shape[d]:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim "
            f"{dim} ({shape[d]}) in the input tensor"
        )
    return input.reshape(shape[:d] + sizes + shape[d + 1:])


class Flatten(Module):
    r"""Flatten a contiguous range of dims into a tensor (``torch.nn.Flatten``).

    Args:
        start_dim: first dim to flatten (default = 1).
        end_dim: last dim to flatten (default = -1).
    """

    __constants__ = ["start_dim", "end_dim"]
    start_dim: int
    end_dim: int

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        """Flatten dims ``start_dim..end_dim``."""
        return flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    r"""Unflatten a tensor dim, expanding it to a desired shape (``torch.nn.Unflatten``).

    Args:
        dim: Dimension to be unflattened
        unflattened_size: New shape of the unflattened dimension (tuple or list of ints)
    """

    __constants__ = ["dim", "unflattened_size"]
    dim: int
    unflattened_size: Any

    def __init__(self, dim: int, unflattened_size: Any) -> None:
        super().__init__()
        self._require_tuple_int(unflattened_size)
        self.dim = dim
        self.unflattened_size = unflattened_size

    def _require_tuple_int(self, input: Any) -> None:
        if isinstance(input, (tuple, list)):
            for idx, elem in enumerate(input):
                if not isinstance(elem, int):
                    raise TypeError(
                        "unflattened_size must be tuple of ints, "
                        + f"but found element of type {type(elem).__name__} at pos {idx}"
                    )
            return
        raise TypeError(
            f"unflattened_size must be a tuple of ints, but found type {type(input).__name__}"
        )

    def forward(self, input: Tensor) -> Tensor:
        """Split ``dim`` into ``unflattened_size``."""
        return unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        """Return the extra representation of the module."""
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
