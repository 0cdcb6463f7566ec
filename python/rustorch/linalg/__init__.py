"""``torch.linalg`` for real float32/float64 tensors, batched, with gradients.

rustorch has no native linear-algebra kernels yet: every function here is built from
rustorch tensor ops (``matmul``, indexing, ``where``, ``sqrt``...), so it runs on every device
the tensor ops do. The algorithms:

* LU with partial pivoting (``inv``, ``solve``, ``det``, ``slogdet``), pivots chosen as
  LAPACK's, so singular-matrix errors name the same diagonal element as PyTorch;
* column-by-column Cholesky; forward/back substitution (``solve_triangular``);
* Householder QR with LAPACK's sign conventions;
* cyclic Jacobi for ``eigh`` and one-sided Jacobi for ``svd``, in parallel round-robin
  rounds, iterated in the input's own dtype until the off-diagonal part is at rounding level;
* ``pinv``, ``lstsq``, ``matrix_rank`` and the spectral/nuclear norms through ``svd``.

Where an algorithm is iterative or pivoted (``inv``, ``solve``, ``det``, ``slogdet``,
``cholesky``, ``eigh``, ``svd``), it is an ``autograd.Function`` with PyTorch's closed-form
backward (``derivatives.yaml`` / ``FunctionsManual.cpp``); the rest are differentiated by
autograd through the tensor ops.

Differences from PyTorch: complex dtypes do not exist (``eig``/``eigvals`` raise
``NotImplementedError``); eigen/singular vectors have rustorch's own deterministic sign
convention (largest-magnitude entry of each eigenvector / right singular vector positive);
``out=`` is accepted but ignored. Low-precision dtypes raise as in PyTorch.

Performance: each function runs as O(n) (factorisations) or O(n · sweeps) (Jacobi) small
tensor ops, which is fine for the small matrices of tutorials and models (tens of rows) but
slow for large ones; native kernels are future work.
"""

from __future__ import annotations

from ._cholesky import cholesky, cholesky_ex
from ._common import LinAlgError
from ._decomp import eigh, eigvalsh, qr, svd, svdvals
from ._derived import (
    cross,
    diagonal,
    eig,
    eigvals,
    lstsq,
    matrix_power,
    matrix_rank,
    multi_dot,
    pinv,
    vecdot,
)
from ._lu import det, inv, inv_ex, slogdet, solve, solve_ex, solve_triangular
from ._norms import matrix_norm, norm, vector_norm

__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cross",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "inv",
    "inv_ex",
    "lstsq",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "vecdot",
    "vector_norm",
]
