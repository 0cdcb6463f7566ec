"""``python -m rustorch.distributed.run``: torchrun's command line over the MPI launcher.

``python -m rustorch.distributed.run --nproc-per-node 2 train.py --lr 0.1`` starts two
ranks with ``mpirun`` (Open MPI), each with torchrun's environment (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``,
``TORCHELASTIC_RUN_ID``), and returns the job's exit status. ``-m module`` runs a module,
``--no-python`` a program. Each rank's CPU threads default to the machine's cores divided
among its ranks (``RAYON_NUM_THREADS``), as torchrun limits ``OMP_NUM_THREADS``. Several
machines: run ``mpirun -H host1,host2 -np N python train.py`` directly (the ranks read their
places from MPI); ``--nnodes`` above 1 is refused with that advice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import uuid
from typing import List, Optional

# Each rank's first code: torchrun's variables from Open MPI's, then the script (or module)
# as `__main__` with its own argv, before anything of rustorch is imported.
_BOOT = (
    "import os, runpy, sys\n"
    "for k, v in (('RANK', 'OMPI_COMM_WORLD_RANK'), ('WORLD_SIZE', 'OMPI_COMM_WORLD_SIZE'),"
    " ('LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK'),"
    " ('LOCAL_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE')):\n"
    "    if v in os.environ: os.environ.setdefault(k, os.environ[v])\n"
    "kind, target = sys.argv[1], sys.argv[2]\n"
    "sys.argv = [target] + sys.argv[3:]\n"
    "if kind == '-m':\n"
    "    runpy.run_module(target, run_name='__main__', alter_sys=True)\n"
    "else:\n"
    "    sys.path[0] = os.path.dirname(os.path.abspath(target))\n"
    "    runpy.run_path(target, run_name='__main__')\n"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rustorch.distributed.run",
        description="Start data-parallel ranks through the MPI launcher (torchrun's flags).",
    )
    p.add_argument(
        "--nproc-per-node",
        "--nproc_per_node",
        default="1",
        help="ranks to start on this machine (a number, or 'cpu'/'auto')",
    )
    p.add_argument("--nnodes", default="1", help="machines; only 1 (use mpirun -H for more)")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0)
    p.add_argument("--master-addr", "--master_addr", default="127.0.0.1")
    p.add_argument("--master-port", "--master_port", type=int, default=29500)
    p.add_argument("--standalone", action="store_true", help="accepted (a single machine)")
    p.add_argument("--run-id", "--run_id", default=None)
    p.add_argument("-m", "--module", action="store_true", help="run the script as a module")
    p.add_argument(
        "--no-python",
        "--no_python",
        action="store_true",
        help="run the script as a program, not through Python",
    )
    p.add_argument(
        "--mpirun",
        default=os.environ.get("RUSTORCH_MPIRUN", "mpirun"),
        help="the MPI launcher to call",
    )
    p.add_argument("script", help="the training script (or module, or program)")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    return p


def _nproc(value: str) -> int:
    if value in ("cpu", "auto"):
        return os.cpu_count() or 1
    n = int(value)
    if n < 1:
        raise SystemExit(f"--nproc-per-node must be at least 1, got {n}")
    return n


def command(argv: Optional[List[str]] = None) -> List[str]:
    """The ``mpirun`` command line the launcher runs for ``argv``."""
    args = _parser().parse_args(argv)
    if args.nnodes not in ("1", "1:1"):
        raise SystemExit(
            "rustorch.distributed.run starts ranks on one machine; for several, run "
            "`mpirun -H host1,host2 -np N python train.py` (the ranks take their places from MPI)"
        )
    n = _nproc(args.nproc_per_node)
    mpirun = shutil.which(args.mpirun)
    if mpirun is None:
        raise SystemExit(
            f"rustorch.distributed.run: {args.mpirun!r} not found; install Open MPI "
            "(Debian: apt-get install openmpi-bin)"
        )
    cmd = [mpirun, "-np", str(n), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = {
        "MASTER_ADDR": args.master_addr,
        "MASTER_PORT": str(args.master_port),
        "TORCHELASTIC_RUN_ID": args.run_id or uuid.uuid4().hex,
        "GROUP_RANK": str(args.node_rank),
    }
    if "RAYON_NUM_THREADS" not in os.environ:
        env["RAYON_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n))
    for k, v in env.items():
        cmd += ["-x", f"{k}={v}"]
    if args.no_python:
        cmd.append(args.script)
    else:
        cmd += [sys.executable, "-u", "-c", _BOOT, "-m" if args.module else "-f", args.script]
    return cmd + args.script_args


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the job; returns its exit status."""
    return subprocess.call(command(argv))


if __name__ == "__main__":
    sys.exit(main())
