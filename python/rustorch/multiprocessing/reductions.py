"""How tensors cross process boundaries (``torch.multiprocessing.reductions``): a CPU tensor's
storage moves into shared memory and its memory file's descriptor travels with the tensor's
sizes, strides and offset; the receiver maps the same memory."""

from __future__ import annotations

from multiprocessing.reduction import DupFd, ForkingPickler
from typing import Any

import rustorch
from rustorch import _C, Tensor
from rustorch.nn.parameter import Parameter

__all__ = ["init_reductions", "rebuild_tensor", "reduce_tensor"]


def rebuild_tensor(
    df: Any,
    numel: int,
    dtype: rustorch.dtype,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    offset: int,
    requires_grad: bool,
    is_parameter: bool,
) -> Tensor:
    """The receiving side: maps the shared memory and views it as the sender's tensor."""
    t = _C._from_shared_fd(df.detach(), numel, dtype, list(size), list(stride), offset)
    if is_parameter:
        return Parameter(t, requires_grad=requires_grad)
    if requires_grad:
        t.requires_grad_(True)
    return t


def reduce_tensor(t: Tensor) -> tuple:
    """The sending side (PyTorch's ``reduce_tensor``): moves a CPU tensor's storage into
    shared memory and sends a duplicate of its descriptor; other tensors pickle by value."""
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError(
            "Cowardly refusing to serialize non-leaf tensor which requires_grad, since "
            "autograd does not support crossing process boundaries.  If you just want to "
            "transfer the data, call detach() on the tensor before serializing (e.g., "
            "putting it on the queue)."
        )
    if t.device.type != "cpu":
        return t.__reduce_ex__(2)
    fd, numel = _C._share_fd(t)
    return (
        rebuild_tensor,
        (
            DupFd(fd),
            numel,
            t.dtype,
            tuple(t.shape),
            tuple(t.stride()),
            t.storage_offset(),
            t.requires_grad,
            isinstance(t, Parameter),
        ),
    )


def init_reductions() -> None:
    """Registers the tensor reductions with ``ForkingPickler`` (done on import)."""
    for cls in (Tensor, Parameter):
        ForkingPickler.register(cls, reduce_tensor)
