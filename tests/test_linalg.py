"""matmul / @ with broadcasting, mm, bmm, addmm, dot, outer, einsum."""

import numpy as np
import pytest
from conftest import assert_values, check_op, make_tensor, rand_array, rt, to_np

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3,)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
    ((2, 1, 2, 3), (1, 5, 3, 4)),
    ((2, 5, 2, 3), (3, 4)),
    ((0, 3), (3, 4)),
    ((2, 0), (0, 4)),
    ((2, 3), (3, 0)),
    ((0, 2, 3), (3, 4)),
    ((1, 1), (1, 1)),
]
IDS = [f"{a}@{b}" for a, b in MATMUL_SHAPES]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=IDS)
def test_matmul_shapes(sa, sb, dtype):
    a = rand_array(sa, dtype, seed=1)
    b = rand_array(sb, dtype, seed=2)
    check_op(lambda lib, x, y: x @ y, a, b, np_fn=np.matmul, out_dtype=dtype)
    check_op(lambda lib, x, y: lib.matmul(x, y), a, b, np_fn=np.matmul, out_dtype=dtype)
    check_op(lambda lib, x, y: x.matmul(y), a, b, np_fn=np.matmul, out_dtype=dtype)


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=IDS)
def test_matmul_grad(sa, sb):
    a = rand_array(sa, "float64", seed=1)
    b = rand_array(sb, "float64", seed=2)
    check_op(lambda lib, x, y: x @ y, a, b, np_fn=np.matmul, grad=True)


@pytest.mark.parametrize("layout", ["transposed", "strided", "expanded"])
@pytest.mark.parametrize("sa, sb", [((4, 3), (3, 5)), ((2, 4, 3), (2, 3, 5)), ((4, 3), (3,)),
                                    ((2, 4, 3), (3, 5))])
def test_matmul_non_contiguous(sa, sb, layout):
    a = rand_array(sa, "float64", seed=1)
    b = rand_array(sb, "float64", seed=2)
    check_op(lambda lib, x, y: x @ y, a, b, np_fn=np.matmul, layout=layout, grad=True)
    check_op(lambda lib, x, y: x @ y, a.astype(np.float32), b.astype(np.float32),
             np_fn=np.matmul, layout=layout)


def test_matmul_transposed_views_directly():
    a = rand_array((5, 4), "float32", 1)
    b = rand_array((3, 5), "float32", 2)
    check_op(lambda lib, x, y: x.t() @ y.t(), a, b, np_fn=lambda x, y: x.T @ y.T)
    c = rand_array((2, 5, 4), "float64", 3)
    check_op(lambda lib, x: x.mT @ x, c, np_fn=lambda x: np.swapaxes(x, -1, -2) @ x, grad=True)
    d = rand_array((6, 8), "float32", 4)
    check_op(lambda lib, x: x[::2, 1::2] @ x[::2, ::2].t(), d,
             np_fn=lambda x: x[::2, 1::2] @ x[::2, ::2].T)


def test_matmul_large_float32_accuracy():
    a = rand_array((64, 257), "float32", 1)
    b = rand_array((257, 33), "float32", 2)
    check_op(lambda lib, x, y: x @ y, a, b,
             np_fn=lambda x, y: (x.astype(np.float64) @ y.astype(np.float64)).astype(np.float32),
             rtol=1e-4, atol=1e-4)


def test_matmul_mixed_dtype_promotes_or_raises():
    # PyTorch requires equal dtypes for matmul; only the same-dtype case is well defined.
    x = rt.ones(2, 3, dtype=rt.float64)
    assert (x @ rt.ones(3, 2, dtype=rt.float64)).dtype == rt.float64
    with pytest.raises((RuntimeError, TypeError)):
        x @ rt.ones(3, 2)


def test_mm_bmm():
    a = rand_array((4, 3), "float64", 1)
    b = rand_array((3, 5), "float64", 2)
    check_op(lambda lib, x, y: lib.mm(x, y), a, b, np_fn=np.matmul, grad=True)
    check_op(lambda lib, x, y: x.mm(y), a, b, np_fn=np.matmul, layout="transposed")
    c = rand_array((2, 4, 3), "float64", 3)
    d = rand_array((2, 3, 5), "float64", 4)
    check_op(lambda lib, x, y: lib.bmm(x, y), c, d, np_fn=np.matmul, grad=True)
    check_op(lambda lib, x, y: x.bmm(y), c, d, np_fn=np.matmul, layout="transposed")


def test_mm_bmm_reject_wrong_ranks():
    with pytest.raises(RuntimeError):
        rt.mm(rt.ones(3), rt.ones(3, 2))
    with pytest.raises(RuntimeError):
        rt.bmm(rt.ones(2, 3), rt.ones(3, 2))
    with pytest.raises(RuntimeError):
        rt.bmm(rt.ones(2, 2, 3), rt.ones(3, 3, 2))


@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0), (0, 1), (2, 0)])
@pytest.mark.parametrize("bias_shape", [(4, 5), (5,), (1, 5), (4, 1), ()])
def test_addmm(beta, alpha, bias_shape):
    c = rand_array(bias_shape, "float64", 1)
    a = rand_array((4, 3), "float64", 2)
    b = rand_array((3, 5), "float64", 3)
    check_op(lambda lib, z, x, y: lib.addmm(z, x, y, beta=beta, alpha=alpha), c, a, b,
             np_fn=lambda z, x, y: beta * z + alpha * (x @ y) + np.zeros((4, 5)), grad=True)
    check_op(lambda lib, z, x, y: z.addmm(x, y, beta=beta, alpha=alpha) if z.dim() == 2
             else lib.addmm(z, x, y, beta=beta, alpha=alpha), c, a, b,
             np_fn=lambda z, x, y: beta * z + alpha * (x @ y) + np.zeros((4, 5)))


def test_addmm_beta_zero_ignores_nan():
    c = np.full((2, 2), np.nan)
    a = rand_array((2, 3), "float64", 2)
    b = rand_array((3, 2), "float64", 3)
    check_op(lambda lib, z, x, y: lib.addmm(z, x, y, beta=0), c, a, b,
             np_fn=lambda z, x, y: x @ y)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_dot_outer(dtype):
    a = rand_array((5,), dtype, 1)
    b = rand_array((5,), dtype, 2)
    c = rand_array((3,), dtype, 3)
    check_op(lambda lib, x, y: lib.dot(x, y), a, b, np_fn=np.dot, out_dtype=dtype)
    check_op(lambda lib, x, y: x.dot(y), a, b, np_fn=np.dot, layout="strided")
    check_op(lambda lib, x, y: lib.outer(x, y), a, c, np_fn=np.outer, out_dtype=dtype)
    check_op(lambda lib, x, y: x.outer(y), a, c, np_fn=np.outer, layout="strided")


def test_dot_outer_grad_and_errors():
    a = rand_array((5,), "float64", 1)
    b = rand_array((5,), "float64", 2)
    check_op(lambda lib, x, y: lib.dot(x, y), a, b, np_fn=np.dot, grad=True)
    check_op(lambda lib, x, y: lib.outer(x, y), a, b[:3], np_fn=np.outer, grad=True)
    with pytest.raises(RuntimeError):
        rt.dot(rt.ones(3), rt.ones(4))
    with pytest.raises(RuntimeError):
        rt.dot(rt.ones(2, 2), rt.ones(2, 2))


EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(6,), (6,)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij->j", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("ij,kj->ik", [(3, 4), (5, 4)]),
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
]


@pytest.mark.parametrize("eq, shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum(eq, shapes):
    arrays = [rand_array(s, "float64", seed=i) for i, s in enumerate(shapes)]
    check_op(lambda lib, *xs: lib.einsum(eq, *xs), *arrays,
             np_fn=lambda *xs: np.asarray(np.einsum(eq, *xs)), grad=True)
    f32 = [x.astype(np.float32) for x in arrays]
    check_op(lambda lib, *xs: lib.einsum(eq, *xs), *f32,
             np_fn=lambda *xs: np.asarray(np.einsum(eq, *xs)), layout="transposed",
             rtol=1e-5, atol=1e-5)


def test_einsum_operands_as_list():
    a = rand_array((3, 4), "float32", 1)
    b = rand_array((4, 2), "float32", 2)
    check_op(lambda lib, x, y: lib.einsum("ij,jk->ik", [x, y]), a, b, np_fn=np.matmul)


def test_int64_matmul_is_exact():
    a = rand_array((7, 9), "int64", 1, low=-1000, high=1000)
    b = rand_array((9, 4), "int64", 2, low=-1000, high=1000)
    out = make_tensor(rt, a) @ make_tensor(rt, b)
    assert out.dtype == rt.int64
    assert_values(to_np(out), a @ b)
