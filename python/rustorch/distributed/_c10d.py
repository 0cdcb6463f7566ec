"""Process groups and collectives (``torch.distributed``'s ``distributed_c10d``).

Backends: ``"mpi"`` (Open MPI, opened at run time) serves CPU tensors, and ``"gloo"`` — the
CPU default, as in PyTorch — is accepted and served by the same MPI engine. The ranks are
the processes an MPI launcher started (``mpirun -np N`` or ``python -m
rustorch.distributed.run``), or processes started without one (``multiprocessing.spawn``, by
hand, on several machines) that meet at ``MASTER_ADDR:MASTER_PORT`` (``init_method`` ``env://``
or ``tcp://host:port``): rank 0 listens there and starts Open MPI's ``ompi-server``, and the
others join one MPI world through it. ``"nccl"`` serves CUDA tensors through NCCL (opened at
run time from NVIDIA's ``nvidia-nccl-cu13`` wheel or the system's ``libnccl.so.2``), one GPU
per process; its communicator is made at a group's first collective on a device, with NCCL's
unique id carried by the group's MPI communicator, so MPI is needed for ``"nccl"`` too.
Without a backend, ``init_process_group`` serves CPU tensors with ``"gloo"`` and, where NCCL
and a GPU are available, CUDA tensors with NCCL (PyTorch's ``"cpu:gloo,cuda:nccl"``).

Differences from PyTorch: every collective's wait is bounded by the group's ``timeout``
(PyTorch's gloo also times out; its MPI backend does not), after which the group refuses
further collectives; ``Work.wait()`` of an NCCL collective blocks the host until the device
has finished it (PyTorch's only makes the current stream wait), which is what bounds it;
NCCL collectives run on the device's one stream, in order with the kernels; NCCL ignores
``tag`` and cannot receive from any source (as PyTorch's NCCL backend); the gloo/MPI backend
takes no CUDA tensors (PyTorch's gloo copies some through the host); ``new_group`` is not
bounded (MPI has no nonblocking form of it) and refuses ``use_local_synchronization=True``;
an uncaught exception on one rank ends every rank of the job through ``MPI_Abort`` instead of
leaving its peers blocked.
"""

from __future__ import annotations

import atexit
import enum
import os
import pickle
import sys
from datetime import timedelta
from typing import Any, Callable, List, Optional, Sequence

import numpy as np

import rustorch
from rustorch import _C, Tensor

__all__ = [
    "Backend",
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "all_to_all",
    "all_to_all_single",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "group",
    "init_process_group",
    "irecv",
    "is_gloo_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "is_torchelastic_launched",
    "isend",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
]

_RING_ALLREDUCE = "OMPI_MCA_coll_libnbc_iallreduce_algorithm"


def _ring_is_safe(version: str) -> bool:
    """Whether this Open MPI's nonblocking ring all-reduce handles in-place buffers, which
    every all-reduce here uses: fixed in 4.0.7 and 4.1.2 (open-mpi/ompi#9483), wrong sums
    before."""
    import re

    m = re.search(r"Open MPI v(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        return False
    v = tuple(int(x) for x in m.groups())
    return v >= (4, 1, 2) or (4, 0, 7) <= v < (4, 1, 0)

#: PyTorch's default timeout for CPU process groups.
default_pg_timeout = timedelta(minutes=30)


class Backend(str):
    """A backend name (``Backend.GLOO == "gloo"``), as ``torch.distributed.Backend``."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    def __new__(cls, name: str) -> "Backend":
        if not isinstance(name, str):
            raise ValueError(f"Backend constructor parameter must be string-ish, but got: {name!r}")
        value = name.lower()
        if value not in (cls.GLOO, cls.NCCL, cls.MPI, cls.UNDEFINED) and ":" not in value:
            raise ValueError(f"Invalid backend: '{name}'")
        return str.__new__(cls, value)


class ReduceOp:
    """Reduction operations (``ReduceOp.SUM``, ``AVG``, ``PRODUCT``, ``MIN``, ``MAX``,
    ``BAND``, ``BOR``, ``BXOR``). ``AVG`` needs floating-point tensors; bool tensors reduce
    ``SUM``/``MAX``/``BOR`` as "any" and ``PRODUCT``/``MIN``/``BAND`` as "all"."""

    class RedOpType(enum.Enum):
        SUM = 0
        AVG = 1
        PRODUCT = 2
        MIN = 3
        MAX = 4
        BAND = 5
        BOR = 6
        BXOR = 7
        PREMUL_SUM = 8

        def __repr__(self) -> str:
            return f"<RedOpType.{self.name}: {self.value}>"

    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


def _op_name(op: Any) -> str:
    if isinstance(op, ReduceOp.RedOpType) and op is not ReduceOp.PREMUL_SUM:
        return op.name
    if op is ReduceOp.PREMUL_SUM:
        raise NotImplementedError("ReduceOp.PREMUL_SUM is not supported by the MPI backend")
    raise TypeError(f"op must be a ReduceOp, got {op!r}")


class ProcessGroup:
    """A group of ranks that collectives run over (``torch.distributed.ProcessGroup``)."""

    def __init__(
        self, pg: Any, backend: str, timeout: timedelta, cpu: bool = True, cuda: bool = False
    ) -> None:
        self._pg = pg
        self._backend = backend
        self._timeout = timeout
        # Whether CPU tensors (gloo/MPI) and CUDA tensors (NCCL) are served.
        self._cpu = cpu
        self._cuda = cuda
        self._ranks: list[int] = list(pg.ranks())

    def rank(self) -> int:
        """This process's rank within the group."""
        return self._pg.rank()

    def size(self) -> int:
        """The number of ranks in the group."""
        return self._pg.size()

    def name(self) -> str:
        return self._backend

    def __repr__(self) -> str:
        return f"<rustorch.distributed.ProcessGroup {self._backend} ranks={self._ranks}>"


class GroupMember:
    """``GroupMember.WORLD`` (the default group once initialised) and
    ``GroupMember.NON_GROUP_MEMBER`` (what ``new_group`` returns on ranks outside it)."""

    WORLD: Optional[ProcessGroup] = None
    NON_GROUP_MEMBER = -100


class group:  # noqa: N801 - PyTorch's name
    """``group.WORLD``: the default process group."""

    WORLD: Optional[ProcessGroup] = None


_GROUP_NAMESPACE = group


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` before using its tensors."""

    def __init__(
        self,
        work: Any,
        after: Optional[Callable[[], Any]] = None,
        tensors: Optional[List[Tensor]] = None,
    ) -> None:
        self._work = work
        self._after = after
        self._tensors = tensors or []
        self._done = False
        self._value: Any = None

    def wait(self, timeout: Optional[timedelta] = None) -> bool:
        """Blocks until the operation completes; raises ``RuntimeError`` if ``timeout`` (the
        group's when None) passes first, after which the group is no longer usable."""
        if not self._done:
            if self._work is not None:
                self._work.wait(None if timeout is None else timeout.total_seconds())
            if self._after is not None:
                self._value = self._after()
            self._done = True
        return True

    def is_completed(self) -> bool:
        """Whether the operation completed, its results in the tensors (never blocks)."""
        if not self._done and (self._work is None or self._work.is_completed()):
            self.wait()
        return self._done

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self) -> List[Tensor]:
        self.wait()
        return list(self._tensors)

    def get_future(self) -> "rustorch.futures.Future[List[Tensor]]":
        """A ``Future`` completed with ``result()`` when the operation completes (waiting on
        it waits for the operation)."""
        fut: rustorch.futures.Future[List[Tensor]] = rustorch.futures.Future()

        def drive() -> None:
            value = self.result()
            if not fut._done:
                fut.set_result(value)

        fut._drive = drive
        fut._poll = self.is_completed
        return fut


_world: Optional[ProcessGroup] = None
_group_count = 0
_hooks_installed = False


def is_available() -> bool:
    """Whether this build has ``rustorch.distributed`` (always True)."""
    return True


def is_mpi_available() -> bool:
    """Whether Open MPI's library can be opened on this machine."""
    return bool(_C._mpi_available())


def is_gloo_available() -> bool:
    """``"gloo"`` is served by MPI here: True when MPI is."""
    return is_mpi_available()


def is_nccl_available() -> bool:
    """Whether NCCL's library (``libnccl.so.2``, 2.10 or newer) can be opened; it opens
    without a GPU, so ``init_process_group("nccl")`` may still refuse for want of one."""
    import rustorch.cuda  # noqa: F401 - tells the engine where NVIDIA's wheels are

    return bool(_C._nccl_available())


def is_torchelastic_launched() -> bool:
    """Whether the process was started by ``python -m rustorch.distributed.run``."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def is_initialized() -> bool:
    """Whether the default process group exists."""
    return _world is not None


def _env_int(name: str) -> Optional[int]:
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else None


def _nccl_usable() -> None:
    """PyTorch's errors for an NCCL group where NCCL or a GPU is missing."""
    if not is_nccl_available():
        try:
            _C._nccl_version()
        except RuntimeError as e:
            raise RuntimeError(f"Distributed package doesn't have NCCL built in: {e}") from None
    if not rustorch.cuda.is_available():
        raise RuntimeError("ProcessGroupNCCL is only supported with GPUs, no GPUs found!")


def _backend_for(backend: Optional[str]) -> tuple[str, bool, bool]:
    """``(name, serves CPU tensors, serves CUDA tensors)`` for a ``backend`` argument."""
    if backend is None:
        if rustorch.cuda.is_available() and is_nccl_available():
            return "cpu:gloo,cuda:nccl", True, True
        return Backend.GLOO, True, False
    b = str(backend).lower()
    if ":" in b:  # "cpu:gloo,cuda:nccl"
        try:
            parts = dict(part.split(":", 1) for part in b.split(","))
        except ValueError:
            raise ValueError(f"Invalid backend: '{backend}'") from None
        bad = {
            d: v
            for d, v in parts.items()
            if not (d == "cpu" and v in (Backend.GLOO, Backend.MPI))
            and not (d == "cuda" and v == Backend.NCCL)
        }
        if bad:
            raise ValueError(
                f"Invalid backend: '{backend}' (this build serves cpu:gloo, cpu:mpi and "
                "cuda:nccl)"
            )
        if "cuda" in parts:
            _nccl_usable()
        return b, "cpu" in parts, "cuda" in parts
    if b == Backend.NCCL:
        _nccl_usable()
        return b, False, True
    if b not in (Backend.GLOO, Backend.MPI):
        raise ValueError(f"Invalid backend: '{backend}'")
    return b, True, False


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_C._mpi_finalize)
    previous = sys.excepthook

    def abort_job(kind: type, value: BaseException, tb: Any) -> None:
        previous(kind, value, tb)
        if _world is not None and _world.size() > 1:
            sys.stderr.write(
                f"rustorch.distributed: rank {_world.rank()} raised {kind.__name__}; "
                "ending every rank of the job\n"
            )
            sys.stderr.flush()
            _C._mpi_abort(1)

    sys.excepthook = abort_job


def _under_mpi_launcher() -> bool:
    """Whether an MPI launcher started this process (``mpirun``, or ``srun`` with PMIx/PMI)."""
    return any(k in os.environ for k in ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"))


def _parse_init_method(
    init_method: Optional[str],
) -> tuple[Optional[int], Optional[int], Optional[str], Optional[int]]:
    """``(rank, world_size, master_addr, master_port)`` from ``init_method`` (``env://``, the
    default, or ``tcp://host:port``, each with optional ``?rank=&world_size=`` as PyTorch)."""
    from urllib.parse import parse_qs, urlparse

    url = urlparse(init_method or "env://")
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    q_rank = int(query["rank"]) if "rank" in query else None
    q_size = int(query["world_size"]) if "world_size" in query else None
    if url.scheme == "env":
        port_text = os.environ.get("MASTER_PORT")
        return q_rank, q_size, os.environ.get("MASTER_ADDR"), int(port_text) if port_text else None
    if url.scheme == "tcp":
        if not url.hostname or url.port is None:
            raise ValueError(f"init_process_group: init_method {init_method!r} needs host:port")
        return q_rank, q_size, url.hostname, url.port
    raise ValueError(
        f"init_process_group: init_method {init_method!r} is not supported here; use "
        "'env://' (MASTER_ADDR, MASTER_PORT) or 'tcp://host:port'"
    )


def _join_without_launcher(
    rank: Optional[int],
    size: int,
    addr: Optional[str],
    port: Optional[int],
    seconds: float,
    devices: tuple[bool, bool],
) -> Any:
    """The world of processes started without an MPI launcher (``multiprocessing.spawn``, by
    hand): rank 0 listens at ``addr:port`` and the others join it (see the Rust
    ``distributed::rendezvous``)."""
    for value, what in ((addr, "MASTER_ADDR"), (port, "MASTER_PORT")):
        if value is None:
            raise ValueError(
                "Error initializing torch.distributed using env:// rendezvous: environment "
                f"variable {what} expected, but not set"
            )
    if rank is None:
        raise ValueError(
            "Error initializing torch.distributed using env:// rendezvous: environment "
            "variable RANK expected, but not set"
        )
    return _C._ProcessGroup.join(
        str(addr), int(port), int(rank), int(size), seconds, *devices
    )


def _timeout_seconds(timeout: Optional[timedelta]) -> float:
    t = default_pg_timeout if timeout is None else timeout
    if not isinstance(t, timedelta):
        raise TypeError(
            f"Expected timeout argument to be of type datetime.timedelta, got {type(t).__name__}"
        )
    return t.total_seconds()


def init_process_group(
    backend: Optional[str] = None,
    init_method: Optional[str] = None,
    timeout: Optional[timedelta] = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Joins this process to the default process group.

    The ranks are those the MPI launcher started; ``rank``/``world_size`` (or ``RANK`` and
    ``WORLD_SIZE`` from the environment) must agree with them, and a mismatch raises
    ``ValueError`` naming the launcher to use.
    """
    global _world
    if _world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name, cpu, cuda = _backend_for(backend)
    if not is_mpi_available():
        raise RuntimeError(
            "init_process_group: the MPI library (Open MPI's libmpi.so.40) could not be opened; "
            "install Open MPI (Debian: apt-get install openmpi-bin)"
        )
    seconds = _timeout_seconds(timeout)
    if _ring_is_safe(_C._mpi_library_version()):
        # Open MPI's nonblocking all-reduce as a ring (its automatic choice was a tree, 40%
        # slower for the 2 MB chunks large all-reduces are cut into); a user's setting wins.
        os.environ.setdefault(_RING_ALLREDUCE, "1")
    url_rank, url_size, addr, port = _parse_init_method(init_method)
    want_size = world_size if world_size != -1 else url_size or _env_int("WORLD_SIZE")
    want_rank = rank if rank != -1 else url_rank if url_rank is not None else _env_int("RANK")
    if not _under_mpi_launcher() and want_size is not None and want_size > 1:
        pg = _join_without_launcher(want_rank, want_size, addr, port, seconds, (cpu, cuda))
    else:
        pg = _C._ProcessGroup.world(seconds, cpu, cuda)
    if want_size is not None and want_size != pg.size():
        raise ValueError(
            f"init_process_group: world_size={want_size}, but the MPI launcher started "
            f"{pg.size()} process(es); start the ranks with `mpirun -np {want_size} python ...` "
            f"or `python -m rustorch.distributed.run --nproc-per-node {want_size} ...`"
        )
    if want_rank is not None and want_rank != pg.rank():
        raise ValueError(
            f"init_process_group: rank={want_rank}, but MPI gave this process rank {pg.rank()}"
        )
    _world = ProcessGroup(pg, name, timeout or default_pg_timeout, cpu, cuda)
    GroupMember.WORLD = _world
    group.WORLD = _world
    _install_exit_hooks()


def destroy_process_group(group: Optional[ProcessGroup] = None) -> None:
    """Drops ``group``, or every group when None (MPI itself ends at interpreter exit, so a
    new default group can be made afterwards)."""
    global _world
    if group is None or group is _world:
        _world = None
        GroupMember.WORLD = None
        _GROUP_NAMESPACE.WORLD = None


def _default() -> ProcessGroup:
    if _world is None:
        raise ValueError(
            "Default process group has not been initialized, "
            "please make sure to call init_process_group."
        )
    return _world


def _resolve(g: Optional[ProcessGroup]) -> Optional[ProcessGroup]:
    """The group a collective runs on, or None on a rank outside it."""
    if g is None or g is GroupMember.WORLD:
        return _default()
    if isinstance(g, int) and g == GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(g, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup, got {type(g).__name__}")
    return g


def get_rank(group: Optional[ProcessGroup] = None) -> int:
    """This process's rank in ``group`` (the world by default); -1 outside it."""
    g = _resolve(group)
    return -1 if g is None else g.rank()


def get_world_size(group: Optional[ProcessGroup] = None) -> int:
    """The number of ranks in ``group``; -1 on a rank outside it."""
    g = _resolve(group)
    return -1 if g is None else g.size()


def get_backend(group: Optional[ProcessGroup] = None) -> str:
    """The backend name of ``group`` (``"gloo"``, ``"mpi"``, ``"nccl"`` or
    ``"cpu:gloo,cuda:nccl"``)."""
    g = _resolve(group)
    if g is None:
        raise ValueError("Invalid process group specified")
    return Backend(g._backend)


def get_process_group_ranks(group: ProcessGroup) -> List[int]:
    """The global ranks of ``group``'s members, in group-rank order."""
    g = _resolve(group)
    if g is None:
        raise ValueError("Invalid process group specified")
    return list(g._ranks)


def get_group_rank(group: ProcessGroup, global_rank: int) -> int:
    """``global_rank``'s rank within ``group``."""
    g = _resolve(group)
    if g is None or global_rank not in g._ranks:
        raise ValueError(f"Global rank {global_rank} is not part of group {group}")
    return g._ranks.index(global_rank)


def get_global_rank(group: ProcessGroup, group_rank: int) -> int:
    """The global rank of ``group``'s rank ``group_rank``."""
    g = _resolve(group)
    if g is None or not 0 <= group_rank < len(g._ranks):
        raise ValueError(f"Group rank {group_rank} is not part of group {group}")
    return g._ranks[group_rank]


def new_group(
    ranks: Optional[Sequence[int]] = None,
    timeout: Optional[timedelta] = None,
    backend: Optional[str] = None,
    pg_options: Any = None,
    use_local_synchronization: bool = False,
    group_desc: Optional[str] = None,
    device_id: Any = None,
) -> Any:
    """A group of the global ``ranks`` (all ranks when None). Every rank of the world must
    call it, as in PyTorch; ranks outside get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _default()
    if use_local_synchronization:
        raise ValueError(
            "new_group: use_local_synchronization=True is not supported by the MPI backend "
            "(every rank of the world takes part in making a group)"
        )
    members = sorted(range(world.size()) if ranks is None else [int(r) for r in ranks])
    if backend is None:
        name, cpu, cuda = world._backend, world._cpu, world._cuda
    else:
        name, cpu, cuda = _backend_for(backend)
    t = timeout or world._timeout
    sub = world._pg.subgroup(members, _timeout_seconds(t), cpu, cuda)
    if sub is None:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(sub, name, t, cpu, cuda)


def _group_root(g: ProcessGroup, rank: Optional[int], group_rank: Optional[int], what: str) -> int:
    if rank is not None and group_rank is not None:
        raise ValueError(f"{what}: pass only one of the global and the group rank")
    if group_rank is not None:
        if not 0 <= group_rank < g.size():
            raise ValueError(f"Group rank {group_rank} is not part of group {g}")
        return group_rank
    if rank is None:
        raise ValueError(f"{what}: a source or destination rank is required")
    if rank not in g._ranks:
        raise ValueError(f"Global rank {rank} is not part of group {g}")
    return g._ranks.index(rank)


def _finish(
    work: Any,
    async_op: bool,
    after: Optional[Callable[[], Any]] = None,
    tensors: Optional[List[Tensor]] = None,
) -> Optional[Work]:
    w = Work(work, after, tensors)
    if async_op:
        return w
    w.wait()
    return None


def _check_tensor(t: Any, what: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"{what}: Invalid function argument. Expected parameter `tensor` of type "
            f"torch.Tensor, but got {type(t)} instead."
        )


def all_reduce(
    tensor: Tensor,
    op: Any = ReduceOp.SUM,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Reduces ``tensor`` over every rank of ``group``, in place, on all of them."""
    _check_tensor(tensor, "all_reduce")
    g = _resolve(group)
    if g is None:
        return None
    return _finish(g._pg.all_reduce(tensor, _op_name(op)), async_op, tensors=[tensor])


def broadcast(
    tensor: Tensor,
    src: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
    group_src: Optional[int] = None,
) -> Optional[Work]:
    """Copies ``src``'s ``tensor`` into every rank's ``tensor``."""
    _check_tensor(tensor, "broadcast")
    g = _resolve(group)
    if g is None:
        return None
    root = _group_root(g, src, group_src, "broadcast")
    return _finish(g._pg.broadcast(tensor, root), async_op, tensors=[tensor])


def reduce(
    tensor: Tensor,
    dst: Optional[int] = None,
    op: Any = ReduceOp.SUM,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
    group_dst: Optional[int] = None,
) -> Optional[Work]:
    """Reduces ``tensor`` over every rank into ``dst``'s ``tensor``; the others keep theirs."""
    _check_tensor(tensor, "reduce")
    g = _resolve(group)
    if g is None:
        return None
    root = _group_root(g, dst, group_dst, "reduce")
    return _finish(g._pg.reduce(tensor, root, _op_name(op)), async_op, tensors=[tensor])


def _flat_like(t: Tensor, n: int) -> Tensor:
    return rustorch.empty((n * t.numel(),), dtype=t.dtype, device=t.device)


def _check_list(tensors: Sequence[Tensor], n: int, like: Tensor, what: str, name: str) -> None:
    if len(tensors) != n:
        raise ValueError(f"{what}: {name} must hold world_size ({n}) tensors, got {len(tensors)}")
    for t in tensors:
        _check_tensor(t, what)
        if t.numel() != like.numel():
            raise ValueError(
                f"{what}: every tensor of {name} must have {like.numel()} elements, got {t.numel()}"
            )
        if t.dtype != like.dtype:
            raise TypeError(
                f"{what}: tensors must have the same dtype, got {t.dtype} and {like.dtype}"
            )


def _scatter_flat(flat: Tensor, outs: Sequence[Tensor]) -> None:
    n = outs[0].numel() if outs else 0
    with rustorch.no_grad():
        for i, o in enumerate(outs):
            o.copy_(flat[i * n : (i + 1) * n].view(o.shape))


def _stack_flat(ins: Sequence[Tensor]) -> Tensor:
    return rustorch.cat([t.detach().reshape(-1) for t in ins]) if ins else rustorch.empty(0)


def all_gather(
    tensor_list: List[Tensor],
    tensor: Tensor,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Every rank's ``tensor``, in rank order, into each rank's ``tensor_list``."""
    _check_tensor(tensor, "all_gather")
    g = _resolve(group)
    if g is None:
        return None
    _check_list(tensor_list, g.size(), tensor, "all_gather", "tensor_list")
    flat = _flat_like(tensor, g.size())
    w = g._pg.all_gather(flat, tensor)
    return _finish(w, async_op, lambda: _scatter_flat(flat, tensor_list), list(tensor_list))


def all_gather_into_tensor(
    output_tensor: Tensor,
    input_tensor: Tensor,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Every rank's ``input_tensor``, in rank order, into ``output_tensor`` (world size times
    as many elements: concatenated or stacked along dim 0)."""
    _check_tensor(output_tensor, "all_gather_into_tensor")
    _check_tensor(input_tensor, "all_gather_into_tensor")
    g = _resolve(group)
    if g is None:
        return None
    w = g._pg.all_gather(output_tensor, input_tensor)
    return _finish(w, async_op, tensors=[output_tensor])


def gather(
    tensor: Tensor,
    gather_list: Optional[List[Tensor]] = None,
    dst: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
    group_dst: Optional[int] = None,
) -> Optional[Work]:
    """Every rank's ``tensor`` into ``dst``'s ``gather_list``."""
    _check_tensor(tensor, "gather")
    g = _resolve(group)
    if g is None:
        return None
    if dst is None and group_dst is None:
        dst = 0
    root = _group_root(g, dst, group_dst, "gather")
    if g.rank() == root:
        if not gather_list:
            raise ValueError("Argument ``gather_list`` must be specified on destination rank.")
        _check_list(gather_list, g.size(), tensor, "gather", "gather_list")
        flat = _flat_like(tensor, g.size())
        w = g._pg.gather(tensor, flat, root)
        return _finish(w, async_op, lambda: _scatter_flat(flat, gather_list), list(gather_list))
    if gather_list:
        raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
    return _finish(g._pg.gather(tensor, None, root), async_op)


def scatter(
    tensor: Tensor,
    scatter_list: Optional[List[Tensor]] = None,
    src: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
    group_src: Optional[int] = None,
) -> Optional[Work]:
    """Rank i's ``tensor`` receives the i-th tensor of ``src``'s ``scatter_list``."""
    _check_tensor(tensor, "scatter")
    g = _resolve(group)
    if g is None:
        return None
    if src is None and group_src is None:
        src = 0
    root = _group_root(g, src, group_src, "scatter")
    if g.rank() == root:
        if not scatter_list:
            raise ValueError("Argument ``scatter_list`` must be specified on source rank.")
        _check_list(scatter_list, g.size(), tensor, "scatter", "scatter_list")
        return _finish(
            g._pg.scatter(tensor, _stack_flat(scatter_list), root), async_op, tensors=[tensor]
        )
    if scatter_list:
        raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
    return _finish(g._pg.scatter(tensor, None, root), async_op, tensors=[tensor])


def reduce_scatter(
    output: Tensor,
    input_list: List[Tensor],
    op: Any = ReduceOp.SUM,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Rank i's ``output`` receives the reduction of every rank's ``input_list[i]``."""
    _check_tensor(output, "reduce_scatter")
    g = _resolve(group)
    if g is None:
        return None
    _check_list(input_list, g.size(), output, "reduce_scatter", "input_list")
    w = g._pg.reduce_scatter(output, _stack_flat(input_list), _op_name(op))
    return _finish(w, async_op, tensors=[output])


def reduce_scatter_tensor(
    output: Tensor,
    input: Tensor,
    op: Any = ReduceOp.SUM,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Rank i's ``output`` receives the reduction of every rank's i-th part of ``input``
    (world size times ``output``'s elements)."""
    _check_tensor(output, "reduce_scatter_tensor")
    _check_tensor(input, "reduce_scatter_tensor")
    g = _resolve(group)
    if g is None:
        return None
    w = g._pg.reduce_scatter(output, input, _op_name(op))
    return _finish(w, async_op, tensors=[output])


def all_to_all_single(
    output: Tensor,
    input: Tensor,
    output_split_sizes: Optional[List[int]] = None,
    input_split_sizes: Optional[List[int]] = None,
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Splits ``input`` along dim 0 (evenly, or by ``input_split_sizes``), sends part i to
    rank i, and concatenates what arrives into ``output`` (split by ``output_split_sizes``)."""
    _check_tensor(output, "all_to_all_single")
    _check_tensor(input, "all_to_all_single")
    g = _resolve(group)
    if g is None:
        return None
    n = g.size()

    def counts(t: Tensor, splits: Optional[List[int]], name: str) -> List[int]:
        row = t.numel() // t.shape[0] if t.dim() > 0 and t.shape[0] > 0 else 0
        if not splits:
            rows = t.shape[0] if t.dim() > 0 else 1
            if rows % n:
                raise ValueError(
                    f"all_to_all_single: the {name} tensor's dim 0 ({rows}) must divide "
                    f"by the world size ({n})"
                )
            row = t.numel() // rows if rows else 0
            return [rows // n * row] * n
        return [int(s) * row for s in splits]

    w = g._pg.all_to_all(
        output,
        input,
        counts(output, output_split_sizes, "output"),
        counts(input, input_split_sizes, "input"),
    )
    return _finish(w, async_op, tensors=[output])


def all_to_all(
    output_tensor_list: List[Tensor],
    input_tensor_list: List[Tensor],
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Sends ``input_tensor_list[i]`` to rank i and receives rank i's into
    ``output_tensor_list[i]``."""
    g = _resolve(group)
    if g is None:
        return None
    n = g.size()
    for name, lst in (
        ("output_tensor_list", output_tensor_list),
        ("input_tensor_list", input_tensor_list),
    ):
        if len(lst) != n:
            raise ValueError(
                f"all_to_all: {name} must hold world_size ({n}) tensors, got {len(lst)}"
            )
        for t in lst:
            _check_tensor(t, "all_to_all")
    flat_in = _stack_flat(input_tensor_list)
    flat_out = rustorch.empty(
        (sum(t.numel() for t in output_tensor_list),),
        dtype=output_tensor_list[0].dtype,
        device=output_tensor_list[0].device,
    )
    w = g._pg.all_to_all(
        flat_out,
        flat_in,
        [t.numel() for t in output_tensor_list],
        [t.numel() for t in input_tensor_list],
    )

    def unpack() -> None:
        at = 0
        with rustorch.no_grad():
            for o in output_tensor_list:
                o.copy_(flat_out[at : at + o.numel()].view(o.shape))
                at += o.numel()

    return _finish(w, async_op, unpack, list(output_tensor_list))


def barrier(
    group: Optional[ProcessGroup] = None,
    async_op: bool = False,
    device_ids: Optional[List[int]] = None,
) -> Optional[Work]:
    """Blocks until every rank of ``group`` reaches it. An NCCL-only group meets through a
    one-element all-reduce on ``device_ids[0]`` (the current CUDA device by default)."""
    g = _resolve(group)
    if g is None:
        return None
    device = int(device_ids[0]) if isinstance(device_ids, list) and device_ids else None
    return _finish(g._pg.barrier(device), async_op)


def isend(
    tensor: Tensor,
    dst: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    tag: int = 0,
    group_dst: Optional[int] = None,
) -> Optional[Work]:
    """Starts sending ``tensor`` to ``dst``; returns its ``Work``."""
    _check_tensor(tensor, "isend")
    g = _resolve(group)
    if g is None:
        return None
    peer = _group_root(g, dst, group_dst, "isend")
    return Work(g._pg.send(tensor, peer, int(tag)), tensors=[tensor])


def irecv(
    tensor: Tensor,
    src: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    tag: int = 0,
    group_src: Optional[int] = None,
) -> Optional[Work]:
    """Starts receiving into ``tensor`` from ``src`` (any rank when None); returns its
    ``Work``."""
    _check_tensor(tensor, "irecv")
    g = _resolve(group)
    if g is None:
        return None
    peer = None if src is None and group_src is None else _group_root(g, src, group_src, "irecv")
    return Work(g._pg.recv(tensor, peer, int(tag)), tensors=[tensor])


def send(
    tensor: Tensor,
    dst: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    tag: int = 0,
    group_dst: Optional[int] = None,
) -> None:
    """Sends ``tensor`` to ``dst`` and waits until it is on its way."""
    w = isend(tensor, dst, group, tag, group_dst)
    if w is not None:
        w.wait()


def recv(
    tensor: Tensor,
    src: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    tag: int = 0,
    group_src: Optional[int] = None,
) -> int:
    """Receives into ``tensor`` from ``src`` (any rank when None); returns the sender's
    global rank (-1 on a rank outside ``group``)."""
    g = _resolve(group)
    w = irecv(tensor, src, group, tag, group_src)
    if w is None or g is None:
        return -1
    w.wait()
    return g._ranks[w._work._source()]


# ---- object collectives: pickled bytes in uint8 tensors ---------------------------------


def _to_bytes(obj: Any) -> Tensor:
    return rustorch.from_numpy(np.frombuffer(pickle.dumps(obj), dtype=np.uint8).copy())


def _from_bytes(t: Tensor, n: int) -> Any:
    return pickle.loads(t[:n].cpu().numpy().tobytes())  # noqa: S301 - the peers are the job's own ranks


def _object_device(g: ProcessGroup, device: Any = None) -> Any:
    """Where an object collective's bytes travel: ``device`` when given, the CPU when the
    group serves CPU tensors, else the current GPU (PyTorch's rule for NCCL groups)."""
    if device is not None:
        return rustorch.device(device)
    if g._cpu:
        return rustorch.device("cpu")
    return rustorch.device("cuda", rustorch.cuda.current_device())


def all_gather_object(
    object_list: List[Any], obj: Any, group: Optional[ProcessGroup] = None
) -> None:
    """Every rank's picklable ``obj``, in rank order, into ``object_list``."""
    g = _resolve(group)
    if g is None:
        return
    n = g.size()
    if len(object_list) != n:
        raise ValueError(f"all_gather_object: object_list must hold world_size ({n}) entries")
    dev = _object_device(g)
    data = _to_bytes(obj).to(dev)
    sizes = rustorch.zeros(n, dtype=rustorch.int64, device=dev)
    all_gather_into_tensor(sizes, rustorch.tensor([data.numel()], device=dev), group=g)
    sizes = sizes.cpu()
    longest = int(sizes.max())
    padded = rustorch.zeros(longest, dtype=rustorch.uint8, device=dev)
    padded[: data.numel()] = data
    out = rustorch.empty(n * longest, dtype=rustorch.uint8, device=dev)
    all_gather_into_tensor(out, padded, group=g)
    out = out.cpu()
    for i in range(n):
        object_list[i] = _from_bytes(out[i * longest : (i + 1) * longest], int(sizes[i]))


def gather_object(
    obj: Any,
    object_gather_list: Optional[List[Any]] = None,
    dst: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    group_dst: Optional[int] = None,
) -> None:
    """Every rank's picklable ``obj`` into ``dst``'s ``object_gather_list``."""
    g = _resolve(group)
    if g is None:
        return
    gathered: List[Any] = [None] * g.size()
    all_gather_object(gathered, obj, group=g)
    if dst is None and group_dst is None:
        dst = 0
    root = _group_root(g, dst, group_dst, "gather_object")
    if g.rank() == root:
        if object_gather_list is None or len(object_gather_list) != g.size():
            raise ValueError(
                "gather_object: object_gather_list must hold world_size entries "
                "on the destination rank"
            )
        object_gather_list[:] = gathered


def broadcast_object_list(
    object_list: List[Any],
    src: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    device: Any = None,
    group_src: Optional[int] = None,
) -> None:
    """``src``'s picklable objects into every rank's ``object_list`` (same length)."""
    g = _resolve(group)
    if g is None:
        return
    if src is None and group_src is None:
        src = 0
    root = _group_root(g, src, group_src, "broadcast_object_list")
    dev = _object_device(g, device)
    data = (
        _to_bytes(list(object_list)).to(dev)
        if g.rank() == root
        else rustorch.empty(0, dtype=rustorch.uint8, device=dev)
    )
    size = rustorch.tensor([data.numel()], device=dev)
    broadcast(size, group=g, group_src=root)
    if g.rank() != root:
        data = rustorch.empty(int(size), dtype=rustorch.uint8, device=dev)
    broadcast(data, group=g, group_src=root)
    if g.rank() != root:
        object_list[:] = _from_bytes(data, int(size))


def scatter_object_list(
    scatter_object_output_list: List[Any],
    scatter_object_input_list: Optional[List[Any]] = None,
    src: Optional[int] = None,
    group: Optional[ProcessGroup] = None,
    group_src: Optional[int] = None,
) -> None:
    """Rank i's ``scatter_object_output_list[0]`` receives ``src``'s i-th object."""
    g = _resolve(group)
    if g is None:
        return
    if src is None and group_src is None:
        src = 0
    root = _group_root(g, src, group_src, "scatter_object_list")
    objs = list(scatter_object_input_list or []) if g.rank() == root else []
    holder = [objs]
    broadcast_object_list(holder, group=g, group_src=root)
    if len(holder[0]) != g.size():
        raise ValueError("scatter_object_list: the source list must hold world_size objects")
    scatter_object_output_list[0] = holder[0][g.rank()]
