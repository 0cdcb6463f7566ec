"""PyTorch's default DDP communication hooks: ``allreduce_hook`` (what DDP does without a
hook), ``fp16_compress_hook`` and ``bf16_compress_hook`` (the bucket travels in 16 bits and
is written back in its own dtype). ``process_group`` is the hook's state: a group, or None
for the default one."""

from __future__ import annotations

from typing import Any, Optional

import rustorch
from rustorch import Tensor
from rustorch import distributed as dist
from rustorch.futures import Future

__all__ = ["allreduce_hook", "bf16_compress_hook", "fp16_compress_hook"]


def _size(process_group: Optional[Any]) -> int:
    return dist.get_world_size(process_group)


def _allreduce_fut(process_group: Optional[Any], tensor: Tensor) -> Future[Tensor]:
    work = dist.all_reduce(tensor, group=process_group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def allreduce_hook(process_group: Optional[Any], bucket: dist.GradBucket) -> Future[Tensor]:
    """Averages the bucket: divides by the world size, then sums over the ranks."""
    tensor = bucket.buffer()
    tensor.div_(_size(process_group))
    return _allreduce_fut(process_group, tensor)


def _compress_hook(
    dtype: rustorch.dtype, process_group: Optional[Any], bucket: dist.GradBucket
) -> Future[Tensor]:
    buffer = bucket.buffer()
    compressed = buffer.to(dtype).div_(_size(process_group))
    work = dist.all_reduce(compressed, group=process_group, async_op=True)

    def decompress(fut: Future) -> Tensor:
        decompressed = bucket.buffer()
        decompressed.copy_(fut.value()[0])
        return decompressed

    return work.get_future().then(decompress)


def fp16_compress_hook(
    process_group: Optional[Any], bucket: dist.GradBucket
) -> Future[Tensor]:
    """Averages the bucket in float16 (half the bytes), then writes it back."""
    return _compress_hook(rustorch.float16, process_group, bucket)


def bf16_compress_hook(
    process_group: Optional[Any], bucket: dist.GradBucket
) -> Future[Tensor]:
    """Averages the bucket in bfloat16, then writes it back."""
    return _compress_hook(rustorch.bfloat16, process_group, bucket)
