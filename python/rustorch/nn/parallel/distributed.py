"""``nn.parallel.DistributedDataParallel``: data-parallel training over a process group."""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Dict, Iterator, List, Optional

import rustorch
from rustorch import Tensor
from rustorch import distributed as dist

from ..modules.module import Module

#: PyTorch's bucket sizes: the first bucket small, so that its all-reduce starts early.
_DEFAULT_BUCKET_MB = 25.0
_FIRST_BUCKET_BYTES = 1024 * 1024


class _Bucket:
    """Parameters whose gradients are averaged by one all-reduce."""

    def __init__(self, params: List[Tensor]) -> None:
        self.params = params
        self.ready = 0
        self.flat: Optional[Tensor] = None
        self.work: Any = None


def _tensors_in(obj: Any) -> Iterator[Tensor]:
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors_in(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors_in(o)


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training, as ``torch.nn.parallel.
    DistributedDataParallel``: each rank runs its own batches; backward averages every
    gradient over the ranks, so every rank takes the same optimizer step.

    At wrap time the parameters and buffers of the group's first rank are broadcast to the
    others (and their shapes checked to agree). The parameters are split into buckets
    (reverse registration order, the first of 1 MB, the rest ``bucket_cap_mb``); a hook on
    each parameter counts its gradient in, and each full bucket's all-reduce starts at once,
    in bucket order on every rank, while backward goes on; the last gradient waits for them
    and writes the averages back into ``.grad``.

    ``no_sync()`` skips the averaging (gradients accumulate locally until a synchronised
    backward). ``find_unused_parameters=True`` walks the output's graph after forward, counts
    parameters it does not reach as ready when backward starts, and leaves ``.grad`` as
    ``None`` for those no rank used (in this step or the ``no_sync`` steps before it).
    ``broadcast_buffers`` copies rank 0's buffers before each forward. Gradients are
    divided by the world size before they are summed, as PyTorch does. Large buckets
    run as 2 MB chunks, of which the first starts during backward and the rest as the
    earlier ones complete. Accepted for PyTorch's signature and not used: ``device_ids``,
    ``output_device``, ``dim``, ``check_reduction``, ``gradient_as_bucket_view``,
    ``static_graph``.
    """

    def __init__(
        self,
        module: Module,
        device_ids: Optional[List[Any]] = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: Optional[float] = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.module = module
        self.process_group = process_group if process_group is not None else dist.group.WORLD
        if self.process_group is None:
            raise ValueError(
                "Default process group has not been initialized, "
                "please make sure to call init_process_group."
            )
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.static_graph = static_graph
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.bucket_bytes_cap = int((bucket_cap_mb or _DEFAULT_BUCKET_MB) * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True

        seen = set()
        params = []
        for p in module.parameters():
            if p.requires_grad and p._cdata not in seen:
                seen.add(p._cdata)
                params.append(p)
        if not params:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have any "
                "parameter that requires a gradient."
            )
        self._params = params
        self._verify_same_model()
        self._sync_from_first_rank(list(module.parameters()) + list(module.buffers()))
        self._buckets = self._make_buckets(params)
        self._bucket_of: Dict[int, int] = {}
        for i, b in enumerate(self._buckets):
            for p in b.params:
                self._bucket_of[p._cdata] = i
        self._expect_sync = False
        self._next_bucket = 0
        self._comm_hook: Optional[Callable[[Any, dist.GradBucket], Any]] = None
        self._comm_state: Any = None
        # The hooks live in the engine, out of sight of Python's cycle collector: they hold
        # the wrapper weakly, so that dropping it frees it (its hooks then do nothing).
        ready = weakref.WeakMethod(self._grad_ready)

        def hook(p: Tensor) -> None:
            f = ready()
            if f is not None:
                f(p)

        self._hooks = [p.register_post_accumulate_grad_hook(hook) for p in params]
        self._ready: set = set()
        self._used: Optional[Tensor] = None
        self._unused: List[Tensor] = []
        # parameters used by the forwards since the last synchronised backward
        self._locally_used: set = set()

    # ---- construction ----------------------------------------------------------------------

    def _first_rank(self) -> int:
        return dist.get_global_rank(self.process_group, 0)

    def _verify_same_model(self) -> None:
        mine = [(tuple(p.shape), str(p.dtype)) for p in self._params]
        everyone: List[Any] = [None] * dist.get_world_size(self.process_group)
        dist.all_gather_object(everyone, mine, group=self.process_group)
        for r, theirs in enumerate(everyone):
            if len(theirs) != len(mine):
                raise RuntimeError(
                    "DDP expects same model across all ranks, but Rank "
                    f"{dist.get_rank(self.process_group)} "
                    f"has {len(mine)} params, while rank {r} has inconsistent {len(theirs)} params."
                )
            for i, (a, b) in enumerate(zip(mine, theirs)):
                if a != b:
                    raise RuntimeError(
                        f"DDP expects same model across all ranks: parameter {i} is "
                        f"{a[0]} {a[1]} on "
                        f"rank {dist.get_rank(self.process_group)} but {b[0]} {b[1]} on rank {r}"
                    )

    def _sync_from_first_rank(self, tensors: List[Tensor]) -> None:
        src = self._first_rank()
        works = [
            dist.broadcast(t, src=src, group=self.process_group, async_op=True) for t in tensors
        ]
        for w in works:
            w.wait()

    def _make_buckets(self, params: List[Tensor]) -> List[_Bucket]:
        buckets: List[_Bucket] = []
        current: List[Tensor] = []
        size = 0
        cap = min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        for p in reversed(params):
            nbytes = p.numel() * p.element_size()
            if current and (size + nbytes > cap or p.dtype != current[0].dtype):
                buckets.append(_Bucket(current))
                current, size, cap = [], 0, self.bucket_bytes_cap
            current.append(p)
            size += nbytes
        if current:
            buckets.append(_Bucket(current))
        return buckets

    # ---- forward -----------------------------------------------------------------------

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally, without averaging."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        if self._expect_sync and self._ready and len(self._ready) < len(self._params):
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a "
                "new one. This error indicates that your module has parameters that were not "
                "used in producing loss. You can enable unused parameter detection by passing "
                "the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` "
                "function outputs participate in calculating loss."
            )
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers:
                self._sync_from_first_rank(buffers)
        out = self.module(*inputs, **kwargs)
        grad = rustorch.is_grad_enabled()
        self._expect_sync = grad and self.require_backward_grad_sync
        self._reset()
        if grad and self.find_unused_parameters:
            reached = self._reached(out)
            self._locally_used |= reached
            if self._expect_sync:
                # Marked ready at the first hook of backward, as PyTorch's reducer does: a
                # collective issued here could cross one the user runs before backward.
                self._unused = [p for p in self._params if p._cdata not in reached]
                self._used = rustorch.tensor(
                    [p._cdata in self._locally_used for p in self._params],
                    dtype=rustorch.uint8,
                    device=self._params[0].device,
                )
        return out

    def _reset(self) -> None:
        self._ready = set()
        self._next_bucket = 0
        self._used = None
        self._unused = []
        for b in self._buckets:
            b.ready, b.flat, b.work = 0, None, None

    def _reached(self, out: Any) -> set:
        """The parameters (by `_cdata`) whose gradients the graph of `out` reaches."""
        reached = set()
        stack = [t.grad_fn for t in _tensors_in(out) if t.grad_fn is not None]
        seen = set()  # graph nodes hash and compare by the node, not by the Python wrapper
        while stack:
            fn = stack.pop()
            if fn in seen:
                continue
            seen.add(fn)
            var = getattr(fn, "variable", None)
            if var is not None:
                reached.add(var._cdata)
            for nxt, _ in fn.next_functions:
                if nxt is not None:
                    stack.append(nxt)
        return reached

    # ---- backward ----------------------------------------------------------------------

    def _grad_ready(self, p: Tensor) -> None:
        if not self._expect_sync:
            return
        unused, self._unused = self._unused, []
        for q in unused:
            self._mark_ready(q)
        self._mark_ready(p)

    def _mark_ready(self, p: Tensor) -> None:
        if not self._expect_sync or p._cdata in self._ready:
            return
        self._ready.add(p._cdata)
        b = self._buckets[self._bucket_of[p._cdata]]
        b.ready += 1
        while self._next_bucket < len(self._buckets):
            nb = self._buckets[self._next_bucket]
            if nb.ready < len(nb.params):
                break
            self._launch(nb)
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finish()

    def register_comm_hook(
        self, state: Any, hook: Callable[[Any, "dist.GradBucket"], Any]
    ) -> None:
        """Averages each bucket with ``hook(state, bucket)`` instead of the built-in
        all-reduce, as PyTorch's: ``bucket.buffer()`` holds the bucket's local gradients (not
        divided by the world size), and the hook returns a ``Future`` whose value (a tensor,
        or a list holding one) becomes the bucket's gradients. It runs as soon as the bucket's
        gradients are in, during backward; ``rustorch.distributed.algorithms.ddp_comm_hooks.
        default_hooks`` has PyTorch's built-in hooks. It can be registered once."""
        if not callable(hook):
            raise TypeError("Communication hook must be callable.")
        if self._comm_hook is not None:
            raise RuntimeError(
                "register_comm_hook or register_builtin_comm_hook can only be called once."
            )
        self._comm_hook, self._comm_state = hook, state

    def _launch(self, b: _Bucket) -> None:
        with rustorch.no_grad():
            parts = [
                (
                    q.grad.detach().reshape(-1)
                    if q.grad is not None
                    else rustorch.zeros(q.numel(), dtype=q.dtype, device=q.device)
                )
                for q in b.params
            ]
            b.flat = rustorch.cat(parts) if len(parts) > 1 else parts[0].clone()
            if self._comm_hook is not None:
                i = self._buckets.index(b)
                bucket = dist.GradBucket(i, b.flat, b.params, i == len(self._buckets) - 1)
                b.work = self._comm_hook(self._comm_state, bucket)
                return
            if b.flat.is_floating_point():
                # divided before the sum, as PyTorch does, so 16-bit sums do not overflow
                b.flat.div_(dist.get_world_size(self.process_group))
        b.work = dist.all_reduce(
            b.flat, op=dist.ReduceOp.SUM, group=self.process_group, async_op=True
        )

    def _finish(self) -> None:
        used_anywhere = None
        if self._used is not None:
            dist.all_reduce(self._used, op=dist.ReduceOp.MAX, group=self.process_group)
            used_anywhere = self._used.tolist()
        index = {p._cdata: i for i, p in enumerate(self._params)}
        with rustorch.no_grad():
            for b in self._buckets:
                if self._comm_hook is None:
                    b.work.wait()
                else:
                    value = b.work.wait()
                    b.flat = value[0] if isinstance(value, (list, tuple)) else value
                    if not isinstance(b.flat, Tensor) or b.flat.numel() != sum(
                        q.numel() for q in b.params
                    ):
                        raise RuntimeError(
                            "DDP communication hook: the future's value must be a tensor of "
                            f"the bucket's {sum(q.numel() for q in b.params)} elements, got "
                            f"{type(b.flat).__name__}"
                        )
                at = 0
                for q in b.params:
                    n = q.numel()
                    avg = b.flat[at : at + n].view(q.shape)
                    at += n
                    if used_anywhere is not None and not used_anywhere[index[q._cdata]]:
                        continue
                    if q.grad is None:
                        q.grad = avg.clone()
                    else:
                        q.grad.copy_(avg)
                b.flat, b.work = None, None
        self._expect_sync = False
        self._locally_used = set()
