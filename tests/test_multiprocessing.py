"""rustorch.multiprocessing: tensors shared between processes through shared memory,
``Module.share_memory()`` (Hogwild), ``spawn``/``start_processes`` and their error reports,
and the distributed rendezvous of processes started without an MPI launcher
(``mp.spawn`` + ``init_process_group(rank=, world_size=)`` with ``MASTER_ADDR``/``PORT``).

Each check asserts what the other process saw or wrote; the same file passes with
``RUSTORCH_TEST_ORACLE=torch`` (PyTorch tested against itself).
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import LIB_NAME, rt

sys.path.insert(0, str(Path(__file__).parent / "distributed"))
import mp_workers  # noqa: E402

mp = rt.multiprocessing

needs_mpi = pytest.mark.skipif(
    LIB_NAME == "rustorch"
    and (shutil.which("ompi-server") is None or not rt.distributed.is_mpi_available()),
    reason="Open MPI (ompi-server and libmpi.so.40) is not installed: apt-get install openmpi-bin",
)


@pytest.fixture(autouse=True)
def _mpi_as_root(monkeypatch):
    # Open MPI's tools refuse to start as root unless told; CI's containers run as root.
    monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT", "1")
    monkeypatch.setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    monkeypatch.setenv("RAYON_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn_on_a_free_port(fn, args_for, nprocs):
    """``mp.spawn(fn, args=args_for(port), nprocs=nprocs)`` on a free port, again on another
    when the one found free was taken before rank 0 listened on it (a race with the other
    processes of the machine, not a failure of the code under test)."""
    for attempt in range(3):
        try:
            return mp.spawn(fn, args=args_for(_free_port()), nprocs=nprocs)
        except mp.ProcessRaisedException as e:
            if "Address already in use" not in str(e) or attempt == 2:
                raise


# ---- share_memory_ within one process ---------------------------------------------------


def test_share_memory_moves_storage_and_views_follow():
    base = rt.arange(12, dtype=rt.float32)
    view = base[2:9:3]
    assert not base.is_shared() and not view.is_shared()
    before = base.data_ptr()
    assert base.share_memory_() is base
    assert base.is_shared() and view.is_shared()
    np.testing.assert_array_equal(base.numpy(), np.arange(12, dtype=np.float32))
    assert base.data_ptr() != before  # the elements moved into the shared memory
    base[5] = -7.0  # the view sees writes made through the base after the move
    assert view.tolist() == [2.0, -7.0, 8.0]
    ptr = base.data_ptr()
    base.share_memory_()  # a no-op once shared
    assert base.data_ptr() == ptr


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float64"])
def test_share_memory_keeps_values_of_every_dtype(dtype):
    rng = np.random.default_rng(0)
    ref = (rng.standard_normal(37) * 10).astype(np.float64)
    t = rt.tensor(ref).to(getattr(rt, dtype))
    before = t.tolist()
    t.share_memory_()
    assert t.is_shared() and t.tolist() == before


@pytest.mark.parametrize("dtype", ["float64", "int16", "bool"])
def test_empty_tensors_share_and_travel(dtype):
    t = rt.zeros(0, dtype=getattr(rt, dtype))
    t.share_memory_()
    assert t.is_shared() and t.numel() == 0
    assert t.data_ptr() % 8 == 0  # aligned for every dtype, even with no memory behind it
    from multiprocessing.reduction import ForkingPickler

    back = ForkingPickler.loads(ForkingPickler.dumps(rt.zeros(2, 0, dtype=getattr(rt, dtype))))
    assert tuple(back.shape) == (2, 0) and back.dtype == getattr(rt, dtype)


def test_module_share_memory_shares_parameters_buffers_and_grads():
    m = rt.nn.Sequential(rt.nn.Linear(3, 4), rt.nn.BatchNorm1d(4))
    m(rt.randn(5, 3)).sum().backward()
    assert m.share_memory() is m
    assert all(p.is_shared() for p in m.parameters())
    assert all(b.is_shared() for b in m.buffers())
    assert all(p.grad.is_shared() for p in m.parameters())


def test_sharing_strategies():
    assert mp.get_sharing_strategy() == "file_descriptor"
    assert "file_descriptor" in mp.get_all_sharing_strategies()
    with pytest.raises(AssertionError):
        mp.set_sharing_strategy("carrier_pigeon")


# ---- tensors through queues and process arguments -------------------------------------


def test_queue_tensors_are_shared_with_a_spawned_child():
    ctx = mp.get_context("spawn")
    q, done = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=mp_workers.write_received, args=(q, done))
    child.start()
    base = rt.zeros(10)
    view = base[1:8:2]  # strided, with an offset
    ints = rt.arange(6, dtype=rt.int64).reshape(2, 3).t()  # non-contiguous
    flags = rt.tensor([True, False, True])
    half = rt.tensor([0.5, 1.5], dtype=rt.float16)
    for t in (view, ints, flags, half):
        q.put(t)
    q.put(None)
    assert done.wait(60), "the child never finished"
    child.join(60)
    assert child.exitcode == 0
    assert base.tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 0]
    assert ints.tolist() == [[1, 4], [2, 5], [3, 6]]
    assert flags.tolist() == [False, True, False]
    assert half.tolist() == [1.5, 2.5]
    assert view.is_shared()


def test_parameters_arrive_as_parameters():
    ctx = mp.get_context("spawn")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=mp_workers.report_received, args=(q_in, q_out))
    child.start()
    q_in.put(rt.nn.Parameter(rt.tensor([1.0, 2.0])))
    kind, requires_grad, values, shared = q_out.get(timeout=60)
    child.join(60)
    assert (kind, requires_grad, values, shared) == ("Parameter", True, [1.0, 2.0], True)


def test_non_leaf_requiring_grad_is_refused():
    from multiprocessing.reduction import ForkingPickler

    x = rt.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        ForkingPickler.dumps(x)


@pytest.mark.parametrize("method", ["spawn", "fork", "forkserver"])
def test_hogwild_children_update_a_shared_model(method):
    model = rt.nn.Linear(3, 2)
    model.share_memory()
    w0 = model.weight.detach().clone()
    ctx = mp.get_context(method)
    procs = [ctx.Process(target=mp_workers.add_rank, args=(r, model)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    # Child r added r + 1 to row r.
    expected = w0.numpy() + np.array([[1.0], [2.0]], dtype=np.float32)
    np.testing.assert_allclose(model.weight.detach().numpy(), expected, rtol=0, atol=1e-6)


def test_fork_without_sharing_copies():
    model = rt.nn.Linear(3, 2)  # not shared: a forked child writes its own copy
    w0 = model.weight.detach().clone()
    p = mp.get_context("fork").Process(target=mp_workers.add_rank, args=(0, model))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert rt.equal(model.weight.detach(), w0)


# ---- spawn -----------------------------------------------------------------------------


def test_spawn_runs_every_rank(tmp_path):
    assert mp.spawn(mp_workers.write_file, args=(str(tmp_path),), nprocs=3) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.txt", "1.txt", "2.txt"]


def test_spawn_without_join_returns_a_context(tmp_path):
    ctx = mp.spawn(mp_workers.write_file, args=(str(tmp_path),), nprocs=2, join=False)
    assert isinstance(ctx, mp.ProcessContext)
    assert len(ctx.pids()) == 2
    while not ctx.join():
        pass
    pids = {int((tmp_path / f"{r}.txt").read_text()) for r in range(2)}
    assert pids == set(ctx.pids())


def test_spawn_reports_a_raised_exception():
    with pytest.raises(mp.ProcessRaisedException) as info:
        mp.spawn(mp_workers.fail_on_one, args=("boom from rank one",), nprocs=2)
    assert info.value.error_index == 1 and info.value.error_pid > 0
    assert "ValueError: boom from rank one" in str(info.value)
    assert "-- Process 1 terminated with the following error:" in str(info.value)


def test_spawn_reports_an_exit_code_and_a_signal():
    exited = mp.ProcessExitedException
    with pytest.raises(exited, match="process 1 terminated with exit code 3") as e:
        mp.spawn(mp_workers.exit_on_one, args=(3,), nprocs=2)
    assert e.value.exit_code == 3
    with pytest.raises(exited, match="terminated with signal SIGKILL") as e:
        mp.spawn(mp_workers.kill_on_one, nprocs=2)
    assert e.value.signal_name == "SIGKILL"


# ---- distributed without an MPI launcher ------------------------------------------------


@needs_mpi
@pytest.mark.parametrize("world", [2, 3])
def test_spawned_ranks_train_ddp_in_step(tmp_path, world):
    out = str(tmp_path / "ddp")
    _spawn_on_a_free_port(mp_workers.ddp_train, lambda port: (world, port, out), world)
    runs = [np.load(f"{out}.{r}.npz") for r in range(world)]
    total = world * (world + 1) / 2
    for r, run in enumerate(runs):
        assert (int(run["rank"]), int(run["size"])) == (r, world)
        np.testing.assert_array_equal(run["reduced"], np.full(3, total, dtype=np.float32))
        # DDP keeps every replica identical: same start (broadcast), same averaged gradients
        np.testing.assert_allclose(run["params"], runs[0]["params"], rtol=0, atol=1e-6)


@needs_mpi
def test_rendezvous_times_out_when_a_rank_never_comes():
    with pytest.raises(mp.ProcessRaisedException) as info:
        # rank 0 alone in a world of 2
        _spawn_on_a_free_port(mp_workers.join_world, lambda port: (port, 3.0, [2]), 1)
    if LIB_NAME == "rustorch":
        assert "timed out waiting for rank(s) 1 to connect" in str(info.value)


@needs_mpi
def test_rendezvous_world_size_disagreement_raises():
    with pytest.raises(mp.ProcessRaisedException) as info:
        _spawn_on_a_free_port(mp_workers.join_world, lambda port: (port, 5.0, [2, 3]), 2)
    if LIB_NAME == "rustorch":
        assert "rank 1 expects world_size=3, rank 0 has world_size=2" in str(info.value)


@needs_mpi
def test_rendezvous_needs_master_addr(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="MASTER_ADDR expected, but not set"):
        rt.distributed.init_process_group("gloo", rank=0, world_size=2)


@needs_mpi
def test_spawned_ranks_init_again_after_destroy(tmp_path):
    out = str(tmp_path / "twice")
    _spawn_on_a_free_port(mp_workers.init_twice, lambda port: (2, port, out), 2)
    for r in range(2):
        np.testing.assert_array_equal(np.load(f"{out}.{r}.npy"), [[3.0, 3.0], [5.0, 5.0]])


def _ompi_servers() -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            if (entry / "comm").read_text().strip() == "ompi-server":
                count += 1
        except OSError:
            continue
    return count


@needs_mpi
@pytest.mark.skipif(LIB_NAME != "rustorch", reason="rustorch's name server (PyTorch has none)")
def test_a_failed_rendezvous_leaves_no_name_server(monkeypatch):
    from datetime import timedelta

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE", raising=False)
    before = _ompi_servers()
    with pytest.raises(RuntimeError, match="timed out waiting for rank"):
        rt.distributed.init_process_group(
            "gloo", rank=0, world_size=2, timeout=timedelta(seconds=1)
        )
    assert not rt.distributed.is_initialized()
    assert _ompi_servers() == before
