"""Collation of samples into batches, matching ``torch.utils.data._utils.collate``."""

from __future__ import annotations

import collections.abc
import copy
import re
from typing import Any, Callable, Optional, Union

import numpy as np

import rustorch
from rustorch import Tensor

__all__ = ["collate", "default_collate", "default_convert", "default_collate_fn_map"]

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, "
    "dicts or lists; found {}"
)

CollateFnMap = dict[Union[type, tuple[type, ...]], Callable[..., Any]]


def default_convert(data: Any) -> Any:
    r"""Convert each NumPy array element into a :class:`rustorch.Tensor` (batch_size=None).

    Tensors are returned unchanged; NumPy arrays / scalars become tensors (string and
    object arrays are left alone); mappings and sequences are converted element-wise.
    """
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    elif (
        elem_type.__module__ == "numpy"
        and elem_type.__name__ != "str_"
        and elem_type.__name__ != "string_"
    ):
        # array of string classes and object
        if elem_type.__name__ == "ndarray" and np_str_obj_array_pattern.search(data.dtype.str):
            return data
        return rustorch.as_tensor(np.asarray(data))
    elif isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                # The mapping type may have extra properties, so we can't just
                # use `type(data)(...)` to create the new mapping.
                # Create a clone and update it if the mapping type is mutable.
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            # The mapping type may not support `copy()` / `update(mapping)`
            # or `__init__(iterable)`.
            return {key: default_convert(data[key]) for key in data}
    elif isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    elif isinstance(data, tuple):
        return [default_convert(d) for d in data]  # Backwards compatibility.
    elif isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            # The sequence type may not support `copy()` / `__setitem__(index, item)`
            # or `__init__(iterable)` (e.g., `range`).
            return [default_convert(d) for d in data]
    return data


def collate(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Any:
    r"""General collate function that handles collection type of element within each batch.

    Element types found in ``collate_fn_map`` (exactly, then by ``isinstance`` in insertion
    order) use their function; mappings, namedtuples and sequences are collated
    element-wise (tuples become lists, as in PyTorch).
    """
    elem = batch[0]
    elem_type = type(elem)

    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)

    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(
                    {
                        key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                        for key in elem
                    }
                )
                return clone
            return elem_type(
                {
                    key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                    for key in elem
                }
            )
        except TypeError:
            # The mapping type may not support `copy()` / `update(mapping)`
            # or `__init__(iterable)`.
            return {
                key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                for key in elem
            }
    elif isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(
            *(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch))
        )
    elif isinstance(elem, collections.abc.Sequence):
        # check to make sure that the elements in batch have consistent size
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(elem) == elem_size for elem in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))  # It may be accessed twice, so we use a list.

        if isinstance(elem, tuple):
            # Backwards compatibility.
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                # The sequence type may have extra properties, so we can't just
                # use `type(data)(...)` to create the new sequence.
                # Create a clone and update it if the sequence type is mutable.
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type(
                [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
            )
        except TypeError:
            # The sequence type may not support `copy()` / `__setitem__(index, item)`
            # or `__init__(iterable)` (e.g., `range`).
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]

    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Tensor:
    """Stack a batch of tensors along a new first dimension."""
    return rustorch.stack(list(batch), 0)


def collate_numpy_array_fn(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Any:
    """Stack NumPy arrays (NumPy does the stacking; one conversion to a tensor)."""
    elem = batch[0]
    # array of string classes and object
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    return rustorch.as_tensor(np.stack(batch, 0))


def collate_numpy_scalar_fn(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Any:
    """A batch of NumPy scalars becomes a 1-D tensor of their dtype."""
    return rustorch.as_tensor(np.asarray(batch))


def collate_float_fn(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Tensor:
    """Python floats become a float64 tensor, as in PyTorch."""
    return rustorch.tensor(list(batch), dtype=rustorch.float64)


def collate_int_fn(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Tensor:
    """Python ints become an int64 tensor (bools a bool tensor), as in PyTorch."""
    return rustorch.tensor(list(batch))


def collate_str_fn(batch: Any, *, collate_fn_map: Optional[CollateFnMap] = None) -> Any:
    """Strings and bytes are returned as the list they came in."""
    return batch


default_collate_fn_map: CollateFnMap = {Tensor: collate_tensor_fn}
default_collate_fn_map[np.ndarray] = collate_numpy_array_fn
default_collate_fn_map[(np.bool_, np.number, np.object_)] = collate_numpy_scalar_fn
default_collate_fn_map[float] = collate_float_fn
default_collate_fn_map[int] = collate_int_fn
default_collate_fn_map[str] = collate_str_fn
default_collate_fn_map[bytes] = collate_str_fn


def default_collate(batch: Any) -> Any:
    r"""Put each data field into a tensor with outer dimension batch size (PyTorch's rules).

    * :class:`rustorch.Tensor` -> stacked :class:`rustorch.Tensor`
    * NumPy arrays -> :class:`rustorch.Tensor`; NumPy scalars -> 1-D tensor
    * ``float`` -> float64 tensor; ``int`` -> int64 tensor
    * ``str`` / ``bytes`` -> unchanged (a list)
    * ``Mapping[K, V_i]`` -> ``Mapping[K, default_collate([V_1, V_2, ...])]``
    * ``NamedTuple`` -> the same namedtuple of collated fields
    * ``Sequence[V1_i, V2_i, ...]`` -> ``Sequence[default_collate([V1_1, V1_2, ...]), ...]``
      (tuples give lists)

    Examples:
        >>> default_collate([0, 1, 2, 3])
        tensor([0, 1, 2, 3])
        >>> default_collate([(0, 1), (2, 3)])
        [tensor([0, 2]), tensor([1, 3])]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
