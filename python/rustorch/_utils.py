"""Helpers for pickling tensors: a tensor pickles as its bytes, dtype, shape and
requires_grad flag, so unpickling builds data and never runs arbitrary code of ours."""

from __future__ import annotations

from typing import Any

import numpy as np


def _rebuild_tensor(
    data: bytes,
    dtype: str,
    shape: tuple[int, ...],
    requires_grad: bool,
    device: str = "cpu",
) -> Any:
    import rustorch

    np_dtype = {"bool": np.bool_}.get(dtype, dtype)
    arr = np.frombuffer(data, dtype=np_dtype).reshape(shape).copy()
    t = rustorch.from_numpy(arr)
    if device != "cpu":
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t
