"""Small helpers shared by rustorch's Python layer (private)."""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor


def dtype_name(dtype: Any) -> str:
    """``rustorch.float32`` -> ``'float32'``."""
    return str(dtype).rsplit(".", 1)[-1]


def typename(obj: Any) -> str:
    """The type name PyTorch's ``torch.typename`` gives, e.g. ``'rustorch.FloatTensor'``."""
    if isinstance(obj, Tensor):
        return f"{rustorch.__name__}.{obj.dtype._legacy_name}"
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    if module in {"", "builtins"}:
        return qualname
    return f"{module}.{qualname}"


def is_dtype(obj: Any) -> bool:
    """Whether ``obj`` is a rustorch dtype object."""
    return type(obj) is type(rustorch.float32)


def is_floating(t: Tensor) -> bool:
    """Whether a tensor has a floating-point dtype."""
    return dtype_name(t.dtype) in ("float32", "float64", "float16", "bfloat16")


# ---------------------------------------------------------------------------- generators


def randperm_list(n: int, generator: Any = None) -> list[int]:
    """``randperm(n, generator=generator).tolist()`` (global RNG when ``generator`` is None)."""
    return rustorch.randperm(n, generator=generator).tolist()


def randint_list(high: int, size: int, generator: Any = None) -> list[int]:
    """``randint(0, high, (size,), generator=generator).tolist()``."""
    return rustorch.randint(0, high, (size,), generator=generator).tolist()


def first_outside(index: Tensor, size: int) -> Optional[int]:
    """The first entry of ``index`` outside ``[0, size)``, or None: what an error names
    after an indexing op refused ``index`` (found only then, off the normal path)."""
    bad = index[(index < 0) | (index >= size)]
    return None if bad.numel() == 0 else int(bad.reshape(-1)[0].item())
