"""``rustorch.distributed``: process groups, collectives and data-parallel training, with
``torch.distributed``'s names, over Open MPI (see ``_c10d`` for the backends and how they
differ from PyTorch's).

Under an MPI launcher (``mpirun -np N python script.py``) importing this package fills in
torchrun's environment variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
``LOCAL_WORLD_SIZE``) from Open MPI's, where they are not already set, so that scripts
written for ``torchrun`` run unchanged.
"""

from __future__ import annotations

import os as _os

from ._c10d import *  # noqa: F403
from ._c10d import __all__ as _c10d_all
from ._c10d import default_pg_timeout, is_available  # noqa: F401
from ._grad_bucket import GradBucket

__all__ = list(_c10d_all) + ["GradBucket", "is_available", "default_pg_timeout"]

_OMPI_ENV = {
    "RANK": "OMPI_COMM_WORLD_RANK",
    "WORLD_SIZE": "OMPI_COMM_WORLD_SIZE",
    "LOCAL_RANK": "OMPI_COMM_WORLD_LOCAL_RANK",
    "LOCAL_WORLD_SIZE": "OMPI_COMM_WORLD_LOCAL_SIZE",
}


def _fill_env_from_mpi() -> None:
    for ours, mpi in _OMPI_ENV.items():
        if ours not in _os.environ and mpi in _os.environ:
            _os.environ[ours] = _os.environ[mpi]


_fill_env_from_mpi()
