"""Complex and sparse tensors, which rustorch does not have: the names PyTorch code calls
exist and raise ``NotImplementedError`` saying so, instead of ``AttributeError``."""

from __future__ import annotations

from typing import Any, Callable, NoReturn

from ._C import Tensor


def _unsupported(name: str, what: str) -> Callable[..., NoReturn]:
    def fn(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(f"{name}: {what} tensors are not supported in rustorch")

    fn.__name__ = name.rsplit(".", 1)[-1]
    fn.__doc__ = f"``{name}``: raises ``NotImplementedError`` (rustorch has no {what} tensors)."
    return fn


sparse_coo_tensor = _unsupported("torch.sparse_coo_tensor", "sparse")
sparse_csr_tensor = _unsupported("torch.sparse_csr_tensor", "sparse")
spmm = _unsupported("torch.spmm", "sparse")
view_as_complex = _unsupported("torch.view_as_complex", "complex")
view_as_real = _unsupported("torch.view_as_real", "complex")
polar = _unsupported("torch.polar", "complex")
complex = _unsupported("torch.complex", "complex")  # noqa: A001 - PyTorch's name
stft = _unsupported("torch.stft", "complex")
istft = _unsupported("torch.istft", "complex")

Tensor.to_sparse = _unsupported("Tensor.to_sparse", "sparse")  # type: ignore[attr-defined]
Tensor.to_sparse_csr = _unsupported("Tensor.to_sparse_csr", "sparse")  # type: ignore[attr-defined]
Tensor.stft = _unsupported("Tensor.stft", "complex")  # type: ignore[attr-defined]
