"""The ``out=`` argument of functions: the result written into a given tensor, with
PyTorch's checks (no autograd through ``out=``, a result dtype ``out`` can hold).

Unlike PyTorch, ``out`` is not resized: a tensor's shape is fixed in rustorch, so an ``out``
of another shape raises ``RuntimeError`` instead of being resized with a warning.
"""

from __future__ import annotations

from typing import Any

from ._C import Tensor, is_grad_enabled


def _can_cast(src: Any, dst: Any) -> bool:
    """PyTorch's ``can_cast``: not float to integral or bool, not non-bool to bool."""
    if src.is_floating_point and not dst.is_floating_point:
        return False
    return not (str(dst).endswith("bool") and not str(src).endswith("bool"))


def write_out(name: str, result: Any, out: Any) -> Any:
    """``result``, or ``out`` holding it when given (a tuple of tensors for a tuple result)."""
    if out is None:
        return result
    if isinstance(result, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(result):
            raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} Tensors")
        written = [write_out(name, r, o) for r, o in zip(result, out)]
        return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    if not _can_cast(result.dtype, out.dtype):
        raise RuntimeError(
            f"result type {_scalar_name(result.dtype)} can't be cast to the desired output "
            f"type {_scalar_name(out.dtype)}"
        )
    if tuple(out.shape) != tuple(result.shape):
        raise RuntimeError(
            f"{name}(): out= has shape {list(out.shape)} but the result has shape "
            f"{list(result.shape)}; rustorch does not resize tensors in place, so pass an out "
            "of the result's shape"
        )
    out.copy_(result)
    return out


def _scalar_name(dtype: Any) -> str:
    return {
        "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
        "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
        "bool": "Bool",
    }[str(dtype).split(".")[-1]]
