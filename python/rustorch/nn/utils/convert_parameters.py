"""Flattening parameters to / from one vector, matching ``torch.nn.utils.convert_parameters``."""

from __future__ import annotations

import math
from typing import Iterable

import rustorch
from rustorch import Tensor
from rustorch.utils._misc import typename

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    r"""Flatten an iterable of parameters into a single vector (``torch.cat`` of the views)."""
    vec = []
    for param in parameters:
        vec.append(param.reshape(-1))
    return rustorch.cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    r"""Copy slices of a vector into an iterable of parameters.

    PyTorch rebinds ``param.data``; here each parameter is overwritten in place with
    ``copy_`` under ``no_grad`` (same values, same parameter objects).
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {typename(vec)}")
    pointer = 0
    with rustorch.no_grad():
        for param in parameters:
            num_param = math.prod(tuple(param.shape))
            param.copy_(vec[pointer:pointer + num_param].reshape(tuple(param.shape)))
            pointer += num_param
