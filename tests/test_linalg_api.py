"""``torch.linalg`` (and the top-level ``det``/``inverse``/``svd``... aliases) against PyTorch:
values, batched shapes, float32/float64, gradients, errors and messages.

Eigen- and singular vectors are only unique up to sign (and rustorch's sign convention is
not LAPACK's), so those are compared through sign-invariant quantities: reconstructions,
orthogonality, elementwise squares of the vectors.
"""

import math
import re

import numpy as np
import pytest
from conftest import (
    assert_values,
    check_op,
    current_device,
    make_tensor,
    rt,
    to_np,
    torch_or_none,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

if torch_or_none is not None:
    torch_or_none.set_num_threads(1)

BATCH = (2, 3)
FLOATS = ("float32", "float64")
# float32 results of the iterative algorithms differ from LAPACK's by a few ulps of the
# largest entry; compare them looser than the elementwise defaults.
F32 = {"rtol": 1e-4, "atol": 1e-4}


def tols(dtype):
    return F32 if dtype == "float32" else {"rtol": 1e-7, "atol": 1e-9}


def _orthogonal(rng, batch, n):
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def spd(batch=BATCH, n=4, seed=0):
    """Well-conditioned symmetric positive-definite ``Q diag(s) Q^T`` with s in [1, 10]."""
    rng = np.random.default_rng(seed)
    q = _orthogonal(rng, batch, n)
    s = np.sort(rng.uniform(1.0, 10.0, batch + (n,)), -1)
    return (q * s[..., None, :]) @ np.swapaxes(q, -1, -2)


def general(batch=BATCH, m=4, n=4, seed=0):
    """Well-conditioned (nonsymmetric) ``Q1 diag(s) Q2^T`` with s in [1, 10]."""
    rng = np.random.default_rng(seed)
    k = min(m, n)
    q1 = _orthogonal(rng, batch, m)[..., :k]
    q2 = _orthogonal(rng, batch, n)[..., :k]
    s = rng.uniform(1.0, 10.0, batch + (k,))
    return (q1 * s[..., None, :]) @ np.swapaxes(q2, -1, -2)


def tensor(arr, dtype="float64", requires_grad=False):
    with rt.device(current_device()):
        return make_tensor(rt, np.asarray(arr), dtype, requires_grad)


def top(name):
    """A top-level function (``rt.det``...); before rustorch exports it, its definition."""
    fn = getattr(rt, name, None)
    if fn is None:
        from rustorch.linalg import _toplevel

        fn = getattr(_toplevel, name)
    return fn


# --------------------------------------------------------------------------------------
# LU family: inv, solve, det, slogdet


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch", [(), BATCH])
def test_inv(dtype, batch):
    check_op(lambda t, a: t.linalg.inv(a), general(batch), dtype=dtype, **tols(dtype))


def test_inv_grad():
    check_op(lambda t, a: t.linalg.inv(a), general(BATCH), grad=True)


def test_inv_ex():
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])  # exactly singular
    res = rt.linalg.inv_ex(tensor(a))
    assert int(res.info) == 3
    assert res.info.dtype == rt.int32 and not res.info.requires_grad
    ok = rt.linalg.inv_ex(tensor(general((2,), 3, 3)))
    assert to_np(ok.info).tolist() == [0, 0]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("left", [True, False])
def test_solve(dtype, left):
    b = np.random.default_rng(1).standard_normal(BATCH + ((4, 2) if left else (2, 4)))
    check_op(lambda t, a, b: t.linalg.solve(a, b, left=left), general(BATCH), b, dtype=dtype,
             **tols(dtype))


def test_solve_vector_and_broadcast():
    rng = np.random.default_rng(2)
    a = general(BATCH)
    check_op(lambda t, a, b: t.linalg.solve(a, b), a, rng.standard_normal(BATCH + (4,)),
             grad=True)
    check_op(lambda t, a, b: t.linalg.solve(a, b), a[0, 0], rng.standard_normal(BATCH + (4, 3)),
             grad=True)
    check_op(lambda t, a, b: t.linalg.solve(a, b), a, rng.standard_normal((4, 3)), grad=True)


@pytest.mark.parametrize("left", [True, False])
def test_solve_grad(left):
    b = np.random.default_rng(1).standard_normal(BATCH + ((4, 2) if left else (2, 4)))
    check_op(lambda t, a, b: t.linalg.solve(a, b, left=left), general(BATCH), b, grad=True)


@pytest.mark.parametrize("dtype", FLOATS)
def test_det_slogdet(dtype):
    a = general(BATCH, seed=3) * np.array([1.0, -1.0, 1.0, 1.0])  # mixed signs of det
    check_op(lambda t, a: t.linalg.det(a), a, dtype=dtype, **tols(dtype))
    check_op(lambda t, a: t.linalg.slogdet(a), a, dtype=dtype, **tols(dtype))


def test_det_slogdet_grad():
    a = general(BATCH, seed=3) * np.array([1.0, -1.0, 1.0, 1.0])
    check_op(lambda t, a: t.linalg.det(a), a, grad=True)
    check_op(lambda t, a: t.linalg.slogdet(a), a, grad=True)


def test_det_singular_grad():
    # The gradient of det at a singular matrix is its cofactor matrix.
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    res = check_op(lambda t, a: t.linalg.det(a), a, atol=1e-12)
    assert abs(float(res)) < 1e-12
    if rt.__name__ == "rustorch":
        # PyTorch's gradient here depends on its LAPACK's pivots (on some CPUs it is the
        # cofactor matrix, on others zero); rustorch's is the cofactor matrix, exactly.
        t = tensor(a, requires_grad=True)
        rt.linalg.det(t).backward()
        cof = np.array([[4.0, 4.0, -4.0], [-2.0, -2.0, 2.0], [0.0, 0.0, 0.0]])
        assert_values(to_np(t.grad), cof, atol=1e-12)
    zero_row = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [4.0, 5.0, 7.0]])
    s = rt.linalg.slogdet(tensor(zero_row))
    assert float(s.sign) == 0.0 and float(s.logabsdet) == -math.inf
    if rt.__name__ == "rustorch":
        # PyTorch returns a zero gradient for an exactly singular LU here; rustorch returns
        # the cofactor matrix (the true derivative, from the SVD).
        a = tensor(zero_row, requires_grad=True)
        rt.linalg.det(a).backward()
        cof = np.array([[0.0, 0.0, 0.0], [-(14 - 15), 7 - 12, -(5 - 8)], [0.0, 0.0, 0.0]])
        assert_values(to_np(a.grad), cof, atol=1e-12)


def test_toplevel_det_family():
    a = general(BATCH, seed=4)
    check_op(lambda t, a: top("det")(a) if t is rt else t.det(a), a, grad=True)
    check_op(lambda t, a: top("inverse")(a) if t is rt else t.inverse(a), a, grad=True)
    check_op(lambda t, a: top("slogdet")(a) if t is rt else t.slogdet(a), a, grad=True)
    check_op(lambda t, a: top("logdet")(a) if t is rt else t.logdet(a), spd(BATCH), grad=True)
    neg = general((), seed=5) * np.array([-1.0, 1.0, 1.0, 1.0])
    if np.linalg.det(neg) < 0:
        assert math.isnan(float(top("logdet")(tensor(neg))))


def test_matrix_power():
    a = general(BATCH, seed=6) / 5
    for n in (0, 1, 2, 5, -1, -3):
        check_op(lambda t, a, n=n: t.linalg.matrix_power(a, n), a, grad=n != 0)
    check_op(lambda t, a: top("matrix_power")(a, 3) if t is rt else t.matrix_power(a, 3), a)


# --------------------------------------------------------------------------------------
# Cholesky and triangular solves


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(dtype, upper):
    check_op(lambda t, a: t.linalg.cholesky(a, upper=upper), spd(BATCH, 5), dtype=dtype,
             **tols(dtype))


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_grad(upper):
    check_op(lambda t, a: t.linalg.cholesky(a, upper=upper), spd(BATCH, 4), grad=True)


def test_cholesky_ex_and_toplevel():
    a = spd((2,), 3)
    a[1] = -a[1]
    res = rt.linalg.cholesky_ex(tensor(a))
    assert to_np(res.info).tolist() == [0, 1]
    assert res.info.dtype == rt.int32
    good = spd((), 4)
    check_op(lambda t, a: top("cholesky")(a) if t is rt else t.cholesky(a), good, grad=True)
    check_op(lambda t, a: top("cholesky")(a, True) if t is rt else t.cholesky(a, True), good)


def test_solve_triangular_and_cholesky_solve():
    rng = np.random.default_rng(7)
    low = np.tril(general(BATCH, seed=7)) + 5 * np.eye(4)
    b = rng.standard_normal(BATCH + (4, 2))
    for upper in (False, True):
        a = np.swapaxes(low, -1, -2) if upper else low
        check_op(lambda t, a, b, u=upper: t.linalg.solve_triangular(a, b, upper=u), a, b,
                 grad=True)
        check_op(lambda t, a, b, u=upper: t.linalg.solve_triangular(a, b.mT, upper=u, left=False),
                 a, b, grad=True)
    check_op(lambda t, a, b: t.linalg.solve_triangular(a, b, upper=False, unitriangular=True),
             low, b, grad=True)
    chol = np.linalg.cholesky(spd(BATCH, 4))
    check_op(lambda t, b, c: top("cholesky_solve")(b, c) if t is rt else t.cholesky_solve(b, c),
             b, chol, grad=True)
    check_op(lambda t, c: top("cholesky_inverse")(c) if t is rt else t.cholesky_inverse(c),
             chol[0, 0], grad=True)


# --------------------------------------------------------------------------------------
# QR


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(dtype, shape, mode):
    a = general(BATCH, *shape, seed=8)
    # Householder with LAPACK's sign conventions: Q and R agree with PyTorch's.
    check_op(lambda t, a: t.linalg.qr(a, mode=mode), a, dtype=dtype, **tols(dtype))


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5)])
def test_qr_grad(shape):
    check_op(lambda t, a: t.linalg.qr(a), general(BATCH, *shape, seed=9), grad=True)


def test_qr_toplevel():
    a = general((), 5, 3, seed=10)
    check_op(lambda t, a: top("qr")(a) if t is rt else t.qr(a), a, grad=True)
    check_op(lambda t, a: top("qr")(a, some=False) if t is rt else t.qr(a, some=False), a)


# --------------------------------------------------------------------------------------
# eigh


def _eigh_invariants(t, a, uplo="L"):
    w, v = t.linalg.eigh(a, UPLO=uplo)
    return w, v * v, (v * w.unsqueeze(-2)) @ v.mT


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_eigh_values(dtype, n):
    check_op(_eigh_invariants, spd(BATCH, n, seed=11) - 5 * np.eye(n), dtype=dtype,
             **tols(dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_eigh_properties(dtype):
    a = spd(BATCH, 6, seed=12) - 4 * np.eye(6)
    w, v = rt.linalg.eigh(tensor(a, dtype))
    assert w.dtype == v.dtype == tensor(a, dtype).dtype
    w, v = to_np(w), to_np(v)
    assert (np.diff(w, axis=-1) > 0).all()  # ascending
    eye = np.broadcast_to(np.eye(6), BATCH + (6, 6))
    tol = tols(dtype)
    assert_values(np.swapaxes(v, -1, -2) @ v, eye, **tol)
    assert_values((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), a, **tol)
    ref = np.linalg.eigh(a)[1]
    overlap = np.abs((v * ref).sum(-2))  # |<u_i, u_i ref>| = 1 for simple eigenvalues
    assert_values(overlap, np.ones(BATCH + (6,)), **tol)


def test_eigh_uplo_reads_one_triangle():
    a = spd((), 4, seed=13)
    noisy_upper = np.tril(a) + np.triu(np.full((4, 4), 7.0), 1)
    noisy_lower = np.triu(a) + np.tril(np.full((4, 4), 7.0), -1)
    check_op(lambda t, a: _eigh_invariants(t, a, "L"), noisy_upper)
    check_op(lambda t, a: _eigh_invariants(t, a, "U"), noisy_lower)


def test_eigh_grad():
    a = spd(BATCH, 4, seed=14) - 5 * np.eye(4)
    check_op(_eigh_invariants, a, grad=True)
    check_op(lambda t, a: t.linalg.eigvalsh(a), a, grad=True)


# --------------------------------------------------------------------------------------
# SVD


def _svd_invariants(t, a):
    u, s, vh = t.linalg.svd(a, full_matrices=False)
    return s, u * u, vh * vh, (u * s.unsqueeze(-2)) @ vh


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (1, 3)])
def test_svd_values(dtype, shape):
    check_op(_svd_invariants, general(BATCH, *shape, seed=15), dtype=dtype, **tols(dtype))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5)])
def test_svd_full_matrices(shape):
    a = general(BATCH, *shape, seed=16)
    u, s, vh = rt.linalg.svd(tensor(a))
    m, n = shape
    assert tuple(u.shape) == BATCH + (m, m) and tuple(vh.shape) == BATCH + (n, n)
    assert tuple(s.shape) == BATCH + (min(m, n),)
    u, s, vh = to_np(u), to_np(s), to_np(vh)
    assert_values(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(np.eye(m), BATCH + (m, m)))
    assert_values(vh @ np.swapaxes(vh, -1, -2), np.broadcast_to(np.eye(n), BATCH + (n, n)))
    k = min(m, n)
    assert_values((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a)
    ref_u = np.linalg.svd(a)[0][..., :k]
    assert_values(np.abs((u[..., :k] * ref_u).sum(-2)), np.ones(BATCH + (k,)))


def test_svd_rank_deficient():
    a = general((), 5, 3, seed=17)
    a[:, 2] = a[:, 0] - a[:, 1]
    u, s, vh = rt.linalg.svd(tensor(a))
    u, s, vh = to_np(u), to_np(s), to_np(vh)
    assert_values(s, np.linalg.svd(a)[1], atol=1e-12)
    assert_values(u.T @ u, np.eye(5))
    assert_values((u[:, :3] * s) @ vh, a)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_svd_grad(shape):
    a = general(BATCH, *shape, seed=18)
    check_op(_svd_invariants, a, grad=True, grad_rtol=1e-7, grad_atol=1e-9)
    check_op(lambda t, a: t.linalg.svdvals(a), a, grad=True)
    check_op(lambda t, a: t.linalg.svd(a, full_matrices=False).S, a, grad=True)


def test_svd_toplevel():
    a = general((), 5, 3, seed=19)

    def fn(t, a, some):
        u, s, v = top("svd")(a, some=some) if t is rt else t.svd(a, some=some)
        k = s.shape[-1]
        return s, u[..., :k] * u[..., :k], v * v, (u[..., :k] * s) @ v.mT

    check_op(lambda t, a: fn(t, a, True), a, grad=True)
    check_op(lambda t, a: fn(t, a, False), a)
    u, s, v = top("svd")(tensor(a), some=False)
    assert tuple(u.shape) == (5, 5) and tuple(v.shape) == (3, 3)


# --------------------------------------------------------------------------------------
# pinv, lstsq, matrix_rank


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_pinv(shape):
    check_op(lambda t, a: t.linalg.pinv(a), general(BATCH, *shape, seed=20), grad=True)
    check_op(lambda t, a: t.linalg.pinv(a), general(BATCH, *shape, seed=20), dtype="float32",
             **F32)


def test_pinv_options():
    sym = spd(BATCH, 4, seed=21) - 5 * np.eye(4)
    check_op(lambda t, a: t.linalg.pinv(a, hermitian=True), sym, grad=True)
    a = np.diag([10.0, 1.0, 1e-3])
    check_op(lambda t, a: t.linalg.pinv(a, rtol=1e-2), a)
    check_op(lambda t, a: t.linalg.pinv(a, atol=0.5), a)
    check_op(lambda t, a: (top("pinverse")(a) if t is rt else t.pinverse(a)), a)


@pytest.mark.parametrize("shape", [(6, 3), (3, 3), (3, 5)])
def test_lstsq(shape):
    m, _ = shape
    b = np.random.default_rng(22).standard_normal(BATCH + (m, 2))
    a = general(BATCH, *shape, seed=22)
    check_op(lambda t, a, b: t.linalg.lstsq(a, b).solution, a, b, grad=True)
    res = rt.linalg.lstsq(tensor(a), tensor(b))
    if current_device() == "cpu":  # the default driver, gelsy: a rank, no residuals
        assert to_np(res.rank).tolist() == [[min(shape)] * 3] * 2
        assert res.residuals.numel() == 0
    else:  # CUDA's only driver, gels, computes no rank (PyTorch's rule)
        assert res.rank.numel() == 0
        with pytest.raises(RuntimeError, match="`driver` other than `gels` is not supported"):
            rt.linalg.lstsq(tensor(a), tensor(b), driver="gelsd")
    assert res.singular_values.numel() == 0
    if torch_or_none is not None:
        # every field against PyTorch's CPU result with the same driver (on CUDA: gels, whose
        # residuals exist when m > n)
        driver = "gelsd" if current_device() == "cpu" else "gels"
        check_op(lambda t, a, b: t.linalg.lstsq(a, b, driver=driver), a, b)


def test_lstsq_vector_rhs():
    a = general((), 5, 3, seed=23)
    b = np.random.default_rng(23).standard_normal(5)
    check_op(lambda t, a, b: t.linalg.lstsq(a, b.unsqueeze(-1)).solution, a, b, grad=True)


def test_matrix_rank():
    a = general(BATCH, 5, 4, seed=24)
    a[0, 1, :, 3] = a[0, 1, :, 0] + 2 * a[0, 1, :, 1]
    check_op(lambda t, a: t.linalg.matrix_rank(a), a)
    check_op(lambda t, a: t.linalg.matrix_rank(a, atol=1.5), a)
    check_op(lambda t, a: t.linalg.matrix_rank(a.mT), a)
    sym = spd((), 4, seed=25)
    check_op(lambda t, a: t.linalg.matrix_rank(a, hermitian=True, rtol=0.5), sym)


# --------------------------------------------------------------------------------------
# norms


ORDS_VEC = [2, 1, 0, math.inf, -math.inf, 3, 0.5, -1]
ORDS_MAT = ["fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2]


@pytest.mark.parametrize("ord", ORDS_VEC)
def test_vector_norm(ord):
    x = np.random.default_rng(26).standard_normal(BATCH + (4,))
    grad = ord != 0
    check_op(lambda t, x: t.linalg.vector_norm(x, ord), x, grad=grad)
    check_op(lambda t, x: t.linalg.vector_norm(x, ord, dim=-1, keepdim=True), x, grad=grad)
    check_op(lambda t, x: t.linalg.vector_norm(x, ord, dim=(0, 2)), x, grad=grad)
    check_op(lambda t, x: t.linalg.vector_norm(x, ord, dim=1), x, dtype="float32")


def test_vector_norm_zero_grad_and_dtype():
    z = np.zeros((3,))
    check_op(lambda t, x: t.linalg.vector_norm(x), z, grad=True)
    x = np.random.default_rng(27).standard_normal((3, 4)).astype(np.float32)
    check_op(lambda t, x: t.linalg.vector_norm(x, dtype=t.float64), x)


@pytest.mark.parametrize("ord", ORDS_MAT)
def test_matrix_norm(ord):
    a = general(BATCH, 4, 3, seed=28)
    check_op(lambda t, a: t.linalg.matrix_norm(a, ord), a, grad=True)
    check_op(lambda t, a: t.linalg.matrix_norm(a, ord, keepdim=True), a, grad=True)
    check_op(lambda t, a: t.linalg.matrix_norm(a, ord, dim=(0, 2)), a, grad=True)
    check_op(lambda t, a: t.linalg.matrix_norm(a, ord, dim=(-1, 1), keepdim=True), a, grad=True)
    check_op(lambda t, a: t.linalg.matrix_norm(a, ord), a, dtype="float32", **F32)


def test_norm_dispatch():
    a = general((), 4, 3, seed=29)
    v = a[0]
    x = np.random.default_rng(29).standard_normal(BATCH + (4,))
    check_op(lambda t, a: t.linalg.norm(a), a, grad=True)
    check_op(lambda t, x: t.linalg.norm(x), x, grad=True)
    check_op(lambda t, v: t.linalg.norm(v, 3), v, grad=True)
    check_op(lambda t, a: t.linalg.norm(a, 2), a, grad=True)
    check_op(lambda t, a: t.linalg.norm(a, "nuc"), a, grad=True)
    check_op(lambda t, a: t.linalg.norm(a, -math.inf), a, grad=True)
    check_op(lambda t, x: t.linalg.norm(x, 1, dim=1), x, grad=True)
    check_op(lambda t, x: t.linalg.norm(x, dim=(0, 2)), x, grad=True)
    check_op(lambda t, x: t.linalg.norm(x, 1, dim=(0, 2), keepdim=True), x, grad=True)


# --------------------------------------------------------------------------------------
# small helpers: multi_dot, cross, vecdot, diagonal


def test_multi_dot_cross_vecdot_diagonal():
    rng = np.random.default_rng(30)
    mats = [rng.standard_normal(s) for s in [(3,), (3, 10), (10, 2), (2, 4), (4,)]]
    check_op(lambda t, *ms: t.linalg.multi_dot(list(ms)), *mats, grad=True)
    check_op(lambda t, a, b: t.linalg.multi_dot([a, b]), mats[1], mats[2], grad=True)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((1, 3))
    check_op(lambda t, x, y: t.linalg.cross(x, y), x, y, grad=True)
    z = rng.standard_normal((3, 2, 5))
    check_op(lambda t, z, w: t.linalg.cross(z, w, dim=0), z, rng.standard_normal((3, 1, 5)),
             grad=True)
    check_op(lambda t, x, y: t.linalg.vecdot(x, y), x, y, grad=True)
    a = rng.standard_normal((2, 3, 4, 5))
    check_op(lambda t, a: t.linalg.diagonal(a), a, grad=True)
    check_op(lambda t, a: t.linalg.diagonal(a, offset=1, dim1=1, dim2=3), a, grad=True)
    check_op(lambda t, a: t.linalg.diagonal(a, offset=-2), a, grad=True)


# --------------------------------------------------------------------------------------
# no_grad, dtypes, errors


def test_under_no_grad():
    a = tensor(spd(BATCH, 4, seed=31), requires_grad=True)
    b = tensor(np.ones(BATCH + (4, 1)))
    with rt.no_grad():
        outs = [
            rt.linalg.inv(a), rt.linalg.solve(a, b), rt.linalg.det(a),
            rt.linalg.slogdet(a).logabsdet, rt.linalg.cholesky(a), rt.linalg.qr(a).R,
            rt.linalg.eigh(a).eigenvectors, rt.linalg.svd(a).U, rt.linalg.pinv(a),
            rt.linalg.lstsq(a, b).solution, rt.linalg.matrix_norm(a, "nuc"),
            rt.linalg.vector_norm(a), rt.linalg.matrix_power(a, 2),
        ]
    assert not any(o.requires_grad for o in outs)
    assert_values(to_np(outs[0]) @ to_np(a.detach()), np.broadcast_to(np.eye(4), BATCH + (4, 4)))


@pytest.mark.parametrize("fn", ["inv", "det", "cholesky", "eigh", "svd", "qr", "pinv"])
def test_result_dtype_follows_input(fn):
    a = tensor(spd((), 3), "float32")
    out = getattr(rt.linalg, fn)(a)
    outs = out if isinstance(out, tuple) else (out,)
    assert all(o.dtype == rt.float32 for o in outs if o.numel())


def _raises(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


def test_errors_shape_and_dtype():
    rect = tensor(np.ones((2, 3)))
    _raises(RuntimeError, "linalg.inv: A must be batches of square matrices, but they are 2 by 3 "
            "matrices", rt.linalg.inv, rect)
    _raises(RuntimeError, "linalg.det: A must be batches of square matrices, but they are 2 by 3 "
            "matrices", rt.linalg.det, rect)
    _raises(RuntimeError, "linalg.cholesky: A must be batches of square matrices",
            rt.linalg.cholesky, rect)
    _raises(RuntimeError, "linalg.eigh: A must be batches of square matrices", rt.linalg.eigh,
            rect)
    _raises(RuntimeError, "linalg.svd: The input tensor A must have at least 2 dimensions.",
            rt.linalg.svd, tensor(np.ones(3)))
    _raises(RuntimeError, "linalg.qr: The input tensor A must have at least 2 dimensions.",
            rt.linalg.qr, tensor(np.ones(3)))
    eye = np.eye(3)
    _raises(RuntimeError, "linalg.inv: Low precision dtypes not supported. Got Half",
            rt.linalg.inv, tensor(eye, "float32").to(rt.float16))
    _raises(RuntimeError, "linalg.inv: Low precision dtypes not supported. Got BFloat16",
            rt.linalg.inv, tensor(eye, "float32").to(rt.bfloat16))
    _raises(RuntimeError, "linalg.inv: Expected a floating point or complex tensor as input. "
            "Got Long", rt.linalg.inv, tensor(eye, "int64"))
    _raises(RuntimeError, "linalg.vector_norm: Expected a floating point or complex tensor as "
            "input. Got Long", rt.linalg.vector_norm, tensor(eye, "int64"))
    _raises(RuntimeError, "linalg.matrix_norm: Order 3 not supported.", rt.linalg.matrix_norm,
            tensor(eye), 3)
    _raises(RuntimeError, "linalg.matrix_norm: The input tensor A must have at least 2 "
            "dimensions.", rt.linalg.matrix_norm, tensor(np.ones(3)))
    _raises(RuntimeError, "linalg.norm: If dim is not specified but ord is, the input must be 1D "
            "or 2D. Got 3D.", rt.linalg.norm, tensor(np.ones((2, 2, 2))), 2)
    _raises(RuntimeError, "qr received unrecognized mode 'x'", rt.linalg.qr, tensor(eye), "x")
    _raises(RuntimeError, "Expected UPLO argument to be 'L' or 'U', but got X", rt.linalg.eigh,
            tensor(eye), "X")
    _raises(RuntimeError, "linalg.solve: Incompatible shapes of A and B for the equation AX = B "
            "(3x3 and 4x1)", rt.linalg.solve, tensor(eye), tensor(np.ones(4)))
    _raises(RuntimeError, "linalg.matrix_power: A must be batches of square matrices",
            rt.linalg.matrix_power, rect, 2)


def test_errors_singular_and_not_pd():
    sing = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    msg = ("linalg.inv: The diagonal element 3 is zero, the inversion could not be completed "
           "because the input matrix is singular.")
    _raises(RuntimeError, msg, rt.linalg.inv, tensor(sing))
    _raises(RuntimeError, "linalg.inv: The diagonal element 1 is zero", rt.linalg.inv,
            tensor(np.zeros((3, 3))))
    batched = tensor(np.stack([np.eye(3), sing]))
    _raises(RuntimeError, "linalg.inv: (Batch element 1): The diagonal element 3 is zero",
            rt.linalg.inv, batched)
    _raises(RuntimeError, "torch.linalg.solve: The solver failed because the input matrix is "
            "singular.", rt.linalg.solve, tensor(sing), tensor(np.ones(3)))
    _raises(RuntimeError, "torch.linalg.solve: (Batch element 1): The solver failed",
            rt.linalg.solve, batched, tensor(np.ones(3)))
    msg = ("linalg.cholesky: The factorization could not be completed because the input is not "
           "positive-definite (the leading minor of order 2 is not positive-definite).")
    not_pd = np.diag([1.0, -1.0, 1.0])
    _raises(RuntimeError, msg, rt.linalg.cholesky, tensor(not_pd))
    _raises(RuntimeError, "linalg.cholesky: (Batch element 1): The factorization could not be "
            "completed", rt.linalg.cholesky, tensor(np.stack([np.eye(3), not_pd])))
    assert issubclass(rt.linalg.LinAlgError, RuntimeError)
    _raises(rt.linalg.LinAlgError, "singular", rt.linalg.inv, tensor(sing))


def test_eig_not_supported():
    a = tensor(np.eye(3))
    if rt.__name__ == "torch":
        assert str(rt.linalg.eig(a).eigenvalues.dtype) == "torch.complex128"
        return
    _raises(NotImplementedError, "linalg.eig: complex tensors are not supported in rustorch; use "
            "linalg.eigh for symmetric matrices", rt.linalg.eig, a)
    _raises(NotImplementedError, "linalg.eigvals: complex tensors are not supported",
            rt.linalg.eigvals, a)
