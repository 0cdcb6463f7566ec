"""rustorch.distributed, DistributedDataParallel, DistributedSampler and the launcher.

The collectives and DDP run as real jobs of 2 ranks under Open MPI's ``mpirun`` (loopback,
this machine): each rank checks every result against what one process computes from all
ranks' inputs (tests/distributed/*.py) and reports per case. Without Open MPI these skip
with the reason; CI installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rustorch as torch
import rustorch.distributed as dist
from rustorch import nn

HERE = Path(__file__).parent
WORKERS = HERE / "distributed"
ROOT = HERE.parent

needs_mpi = pytest.mark.skipif(
    shutil.which("mpirun") is None or not dist.is_mpi_available(),
    reason="Open MPI (mpirun and libmpi.so.40) is not installed: apt-get install openmpi-bin",
)


def _env() -> dict:
    env = dict(os.environ)
    # The rustorch this test session imported (the repository's python/ folder, or an install).
    package_root = str(Path(torch.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    # Open MPI refuses to start as root unless told; CI's containers run as root.
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env["RAYON_NUM_THREADS"] = "1"
    return env


def _mpirun(args: list, ranks: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", sys.executable, *map(str, args)]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _job_results(worker: str, tmp_path: Path, ranks: int = 2) -> list:
    out = tmp_path / "results"
    p = _mpirun([WORKERS / worker, out], ranks)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return [json.loads(Path(f"{out}.{r}").read_text()) for r in range(ranks)]


def _assert_all_ok(results: list, at_least: int) -> None:
    for rank, res in enumerate(results):
        assert len(res) >= at_least, f"rank {rank} ran {len(res)} cases"
        bad = {k: v for k, v in res.items() if v != "ok"}
        assert not bad, f"rank {rank} failed:\n" + "\n".join(f"{k}:\n{v}" for k, v in bad.items())


@needs_mpi
def test_collectives_two_ranks(tmp_path):
    # every dtype x ReduceOp all_reduce (the pairs without meaning raise), non-contiguous and
    # async tensors, broadcast, reduce, all_gather(+_into_tensor), gather, scatter,
    # reduce_scatter(+_tensor), all_to_all(+_single, uneven), send/recv, groups, objects,
    # errors, state
    _assert_all_ok(_job_results("collectives.py", tmp_path), at_least=92)


@needs_mpi
def test_collectives_three_ranks(tmp_path):
    _assert_all_ok(_job_results("collectives.py", tmp_path, ranks=3), at_least=92)


@needs_mpi
def test_ddp_matches_one_process(tmp_path):
    # MLP (SGD, 200 steps) and LeNet (SGD 200 steps, Adam 50) equal one process training on
    # the concatenated batches; small buckets, no_sync, find_unused_parameters, unused
    # parameters raising, buffers, state_dict keys, DataParallel, DistributedSampler, the
    # default communication hooks (all-reduce, float16, bfloat16), the hook contract and
    # SyncBatchNorm (one batch norm over every rank's batch)
    _assert_all_ok(_job_results("ddp.py", tmp_path), at_least=13)


def _scenario(mode: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return _mpirun([WORKERS / "scenarios.py", mode], timeout=timeout)


@needs_mpi
def test_a_rank_that_raises_ends_the_job():
    t0 = time.time()
    p = _scenario("raise")
    took = time.time() - t0
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "ValueError: boom on purpose" in out
    assert "rank 1 raised ValueError; ending every rank of the job" in out
    assert "barrier passed" not in out
    assert took < 60, f"the job took {took:.0f} s to end"


@needs_mpi
def test_a_peer_that_never_joins_times_out():
    p = _scenario("timeout")
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("raised after"))
    seconds = float(line.split()[2].rstrip("s:"))
    assert 1.9 <= seconds < 10, line
    assert "all_reduce timed out after 2 s" in line
    # the group refuses further collectives (they could pair with the one still in flight),
    # and both ranks still end normally
    assert "then: barrier: an earlier operation on this rank timed out" in p.stdout
    assert "rank 0 exits" in p.stdout and "rank 1 exits" in p.stdout
    assert p.returncode == 0, p.stderr[-2000:]


@needs_mpi
def test_world_size_that_disagrees_with_the_launcher():
    p = _scenario("wrong-size")
    assert p.returncode != 0
    assert "world_size=3, but the MPI launcher started 2 process(es)" in p.stderr


@needs_mpi
def test_single_process_without_a_launcher():
    p = subprocess.run(
        [sys.executable, str(WORKERS / "scenarios.py"), "single"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    # with no backend named, CUDA tensors go to NCCL where it and a GPU are available
    default = (
        "cpu:gloo,cuda:nccl"
        if torch.cuda.is_available() and dist.is_nccl_available()
        else "gloo"
    )
    assert f"rank 0 of 1 {default} [1.0, 2.0]" in p.stdout


@needs_mpi
def test_launcher_sets_torchrun_environment():
    cmd = [
        sys.executable,
        "-m",
        "rustorch.distributed.run",
        "--nproc-per-node",
        "2",
        str(WORKERS / "scenarios.py"),
        "launched",
        "--flag",
        "x",
    ]
    p = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    # the ranks' lines may interleave in mpirun's output: match them anywhere
    envs = re.findall(r"env (\d) (\d) 2 2 127\.0\.0\.1 29500 args \['--flag', 'x'\]", p.stdout)
    assert sorted(envs) == [("0", "0"), ("1", "1")], p.stdout
    ranks = re.findall(r"rank (\d) of 2 mpi \[3\.0, 6\.0\]", p.stdout)
    assert sorted(ranks) == ["0", "1"], p.stdout


# ---- in this process: no MPI job needed ----------------------------------------------------


def test_launcher_command_line():
    from rustorch.distributed import run

    if shutil.which("mpirun") is None:
        with pytest.raises(SystemExit, match="not found"):
            run.command(["--nproc-per-node", "2", "train.py"])
        return
    cmd = run.command(
        ["--nproc-per-node", "3", "--master-port", "1234", "-m", "pkg.train", "--lr", "1"]
    )
    assert cmd[1:4] == ["-np", "3", "--oversubscribe"]
    assert "MASTER_PORT=1234" in cmd and cmd[-4:] == ["-m", "pkg.train", "--lr", "1"]
    with pytest.raises(SystemExit, match="mpirun -H"):
        run.command(["--nnodes", "2", "train.py"])


def test_not_initialised_errors():
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(torch.ones(2))
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("carrier-pigeon")
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.init_process_group("cpu:gloo,cuda:gloo")
    with pytest.raises(ValueError, match="Default process group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    assert dist.is_available()
    assert not dist.is_initialized()


def _nccl_wheel_version():
    from importlib import metadata

    try:
        return metadata.version("nvidia-nccl-cu13")
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.skipif(
    _nccl_wheel_version() is None,
    reason="NVIDIA's NCCL wheel is not installed (pip install nvidia-nccl-cu13; CI installs it)",
)
def test_nccl_opens_without_a_gpu_and_reports_its_version():
    import rustorch.cuda.nccl

    assert dist.is_nccl_available()
    want = tuple(int(x) for x in _nccl_wheel_version().split(".")[:3])
    assert rustorch.cuda.nccl.version() == want
    assert not rustorch.cuda.nccl.is_available([torch.ones(2)])  # a CPU tensor


@needs_mpi
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_nccl_groups_without_a_gpu_raise_pytorchs_errors():
    script = """
import rustorch as torch
import rustorch.distributed as dist
from rustorch import _C

for backend in ("nccl", "cpu:gloo,cuda:nccl", "NCCL"):
    try:
        dist.init_process_group(backend)
    except RuntimeError as e:
        print("refused:", e)
dist.init_process_group()
print("default:", dist.get_backend(), dist.get_world_size())
# a group that serves only CUDA tensors refuses CPU ones, as PyTorch's NCCL group does
pg = _C._ProcessGroup.world(60.0, False, True)
try:
    pg.all_reduce(torch.ones(2), "SUM")
except RuntimeError as e:
    print("cpu tensor:", e)
dist.destroy_process_group()
"""
    p = subprocess.run(
        [sys.executable, "-c", script], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-3000:]
    refused = [ln for ln in p.stdout.splitlines() if ln.startswith("refused:")]
    assert len(refused) == 3, p.stdout
    why = (
        "ProcessGroupNCCL is only supported with GPUs, no GPUs found!"
        if dist.is_nccl_available()
        else "Distributed package doesn't have NCCL built in"
    )
    assert all(why in ln for ln in refused), refused
    assert "default: gloo 1" in p.stdout
    assert "cpu tensor: all_reduce: No backend type associated with device type cpu" in p.stdout


needs_nccl_gpu = pytest.mark.skipif(
    not (torch.cuda.is_available() and dist.is_nccl_available()),
    reason="needs a CUDA GPU and NCCL (nvidia-nccl-cu13)",
)


@needs_mpi
@needs_nccl_gpu
def test_nccl_one_rank_on_one_gpu(tmp_path):
    # every dtype x ReduceOp all_reduce (NCCL's refusals included), non-contiguous and async
    # tensors, broadcast, reduce, all_gather, gather, scatter, reduce_scatter, all_to_all,
    # objects, groups, barrier, errors and DDP of the MLP on the GPU
    out = tmp_path / "results"
    p = subprocess.run(
        [sys.executable, str(WORKERS / "nccl.py"), str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    _assert_all_ok([json.loads(Path(f"{out}.0").read_text())], at_least=87)


@needs_mpi
@needs_nccl_gpu
def test_nccl_two_ranks(tmp_path):
    out = tmp_path / "results"
    if torch.cuda.device_count() >= 2:
        p = _mpirun([WORKERS / "nccl.py", out])
    else:
        # NCCL refuses two ranks of one host on one GPU ("Duplicate GPU detected"); distinct
        # host ids make it take them for two hosts that talk over loopback sockets
        rank = [sys.executable, str(WORKERS / "nccl.py"), str(out)]
        cmd = ["mpirun", "--oversubscribe"]
        for r in range(2):
            cmd += [] if r == 0 else [":"]
            cmd += ["-np", "1", "env", f"NCCL_HOSTID=rustorch-test-{r}", *rank]
        env = _env() | {
            "NCCL_P2P_DISABLE": "1",
            "NCCL_SHM_DISABLE": "1",
            "NCCL_NET": "Socket",
            "NCCL_SOCKET_IFNAME": "lo",
        }
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    results = [json.loads(Path(f"{out}.{r}").read_text()) for r in range(2)]
    _assert_all_ok(results, at_least=87)


def test_names_match_pytorch():
    tdist = pytest.importorskip("torch.distributed")
    for name in ["SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]:
        assert getattr(dist.ReduceOp, name).name == getattr(tdist.ReduceOp, name).name
    assert dist.Backend("GLOO") == tdist.Backend("GLOO") == "gloo"
    for name in dist.__all__:
        if name not in ("Work",):
            assert hasattr(tdist, name), name


@pytest.mark.parametrize(
    "n,replicas,drop_last",
    [(10, 3, False), (10, 3, True), (7, 2, False), (2, 4, False), (12, 4, True)],
)
def test_distributed_sampler_against_pytorch(n, replicas, drop_last):
    tdata = pytest.importorskip("torch.utils.data")
    from rustorch.utils.data import DistributedSampler

    shares = []
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = tdata.DistributedSampler(
            range(n), replicas, rank, shuffle=False, drop_last=drop_last
        )
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        shuffled = DistributedSampler(
            range(n), replicas, rank, shuffle=True, seed=5, drop_last=drop_last
        )
        shuffled.set_epoch(2)
        shares.append(list(shuffled))
        assert len(shares[-1]) == len(theirs)
    flat = [i for s in shares for i in s]
    if drop_last or n % replicas == 0:
        assert len(set(flat)) == len(flat)  # disjoint shares
    if not drop_last:
        assert set(flat) == set(range(n))
    again = DistributedSampler(range(n), replicas, 0, shuffle=True, seed=5, drop_last=drop_last)
    again.set_epoch(2)
    assert list(again) == shares[0]
    again.set_epoch(3)
    assert list(again) != shares[0] or n <= 2
    with pytest.raises(ValueError, match="Invalid rank"):
        DistributedSampler(range(n), replicas, replicas)


def test_data_parallel_is_the_module():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    dp = nn.DataParallel(m)
    x = torch.randn(5, 4, requires_grad=True)
    y = dp(x)
    assert torch.equal(y, m(x))
    y.sum().backward()
    g = x.grad.clone()
    x.grad = None
    m(x).sum().backward()
    assert torch.equal(g, x.grad)
    assert list(dp.state_dict()) == ["module." + k for k in m.state_dict()]
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        nn.DataParallel(m, device_ids=[0, 1])


def test_post_accumulate_grad_hook_against_pytorch():
    T = pytest.importorskip("torch")
    seen, tseen = [], []
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    tw = T.tensor([1.0, 2.0], requires_grad=True)
    h = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
    tw.register_post_accumulate_grad_hook(lambda p: tseen.append(p.grad.tolist()))
    for a, b in ((w, tw), (w, tw)):
        (a * a).sum().backward()
        (b * b).sum().backward()
    assert seen == tseen == [[2.0, 4.0], [4.0, 8.0]]
    h.remove()
    (w * 3).sum().backward()
    assert len(seen) == 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        torch.ones(2).register_post_accumulate_grad_hook(lambda p: None)


FASHION = os.environ.get("RUSTORCH_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


@needs_mpi
@pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION, "t10k-labels-idx1-ubyte"))
    and not os.path.exists(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")),
    reason=f"Fashion-MNIST not found at {FASHION}",
)
@pytest.mark.parametrize("launch", ["launcher", "spawn"])
def test_ddp_example(tmp_path, launch):
    # under torchrun's launcher, and started by mp.spawn meeting at MASTER_ADDR:MASTER_PORT
    if launch == "spawn" and shutil.which("ompi-server") is None:
        pytest.skip(
            "ranks started without a launcher meet through Open MPI 4's ompi-server, which "
            "this Open MPI lacks (Open MPI 5 has none)"
        )
    if launch == "launcher":
        start = ["-m", "rustorch.distributed.run", "--nproc-per-node", "2"]
        start += [str(ROOT / "examples" / "ddp.py")]
    else:
        start = [str(ROOT / "examples" / "ddp.py"), "--spawn", "2"]
    cmd = [
        sys.executable,
        *start,
        "--data",
        FASHION,
        "--limit",
        "1280",
        "--test-limit",
        "500",
        "--out",
        str(tmp_path),
    ]
    p = subprocess.run(
        cmd, env=_env(), capture_output=True, text=True, timeout=300, cwd=ROOT / "examples"
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    m = re.search(
        r"Final test accuracy: ([\d.]+)% on 500 images .* 2 ranks; "
        r"weights identical on every rank: True",
        p.stdout,
    )
    assert m, p.stdout[-2000:]
    assert 30.0 < float(m.group(1)) <= 100.0  # 20 steps of Adam: well above chance (10%)


@needs_mpi
def test_ddp_wrapper_is_freed(tmp_path):
    # the gradient hooks hold the wrapper weakly: a dropped DDP (and its model) is freed, and
    # the model's hooks then do nothing
    code = (
        "import gc, weakref\n"
        "import rustorch as torch, rustorch.distributed as dist\n"
        "from rustorch import nn\n"
        "dist.init_process_group('gloo')\n"
        "m = nn.Linear(3, 2)\n"
        "ddp = nn.parallel.DistributedDataParallel(m)\n"
        "ddp(torch.ones(1, 3)).sum().backward()\n"
        "r = weakref.ref(ddp)\n"
        "del ddp\n"
        "gc.collect()\n"
        "assert r() is None, 'the DDP wrapper was kept alive'\n"
        "m(torch.ones(1, 3)).sum().backward()\n"
        "print('freed', m.weight.grad.shape)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "freed rustorch.Size([2, 3])" in p.stdout, p.stdout
