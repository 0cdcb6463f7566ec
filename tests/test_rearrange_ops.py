"""Diagonals, flips/rolls/rotations, Kronecker and cross products, meshgrid, index_add/
copy/fill, unique, mv, cdist and normal: values, gradients and errors against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIB_NAME, check_op, rand_array, rt, to_np, torch_or_none

pytestmark = pytest.mark.usefixtures("device")


@pytest.mark.parametrize("shape,args", [
    ((4, 4), (0, 0, 1)), ((4, 5), (1, 0, 1)), ((5, 4), (-2, 0, 1)), ((3, 4), (5, 0, 1)),
    ((2, 3, 4), (0, 1, 2)), ((2, 3, 4), (1, -1, 0)), ((2, 3, 4), (-1, 2, 0)),
])
def test_diagonal_is_a_view_with_its_gradient(shape, args):
    a = rand_array(shape, "float64")
    check_op(lambda lib, x: x.diagonal(*args), a, grad=True)
    check_op(lambda lib, x: lib.diagonal(x, *args), a)


@pytest.mark.parametrize("shape,args", [((3,), (0, -2, -1)), ((2, 3), (1, -2, -1)),
                                        ((2, 3), (-1, 0, 2)), ((2, 3), (0, 2, 0))])
def test_diag_embed(shape, args):
    check_op(lambda lib, x: x.diag_embed(*args), rand_array(shape, "float64"), grad=True)


@pytest.mark.parametrize("shape,k", [((3,), 0), ((3,), 2), ((3,), -1), ((3, 4), 0),
                                     ((3, 4), 1), ((4, 3), -2)])
def test_diag_and_trace(shape, k):
    a = rand_array(shape, "float64")
    check_op(lambda lib, x: lib.diag(x, k), a, grad=True)
    if len(shape) == 2:
        check_op(lambda lib, x: x.trace(), a, grad=True)
        check_op(lambda lib, x: lib.trace(x), rand_array(shape, "int64"))


def test_diagonal_errors():
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical"):
        rt.zeros(2, 2).diagonal(0, 1, 1)
    with pytest.raises(RuntimeError, match="expected a matrix"):
        rt.zeros(2, 2, 2).trace()
    with pytest.raises(RuntimeError, match="1D or 2D"):
        rt.zeros(2, 2, 2).diag()


@pytest.mark.parametrize("dims", [(0,), (1,), (0, 2), (-1,), ()])
def test_flip(dims):
    check_op(lambda lib, x: lib.flip(x, dims), rand_array((2, 3, 4), "float64"), grad=True)
    check_op(lambda lib, x: x.flip(*dims) if dims else x.flip(()), rand_array((2, 3, 4), "int64"))


def test_fliplr_flipud_and_errors():
    a = rand_array((3, 4), "float32")
    check_op(lambda lib, x: lib.fliplr(x), a)
    check_op(lambda lib, x: lib.flipud(x), a)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        rt.zeros(2, 2).flip((0, 0))


@pytest.mark.parametrize("shifts,dims", [(1, 0), (-2, 1), ((1, 2), (0, 1)), (3, None),
                                         (7, -1), (0, 0)])
def test_roll(shifts, dims):
    check_op(lambda lib, x: lib.roll(x, shifts, dims), rand_array((3, 4), "float64"),
             grad=True)


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "expanded"])
@pytest.mark.parametrize("dims", [(0,), (1,), (0, 1), (-1, 0), ()])
def test_flip_large_and_strided(dims, layout):
    # Above the threading threshold (32768 elements), on views of every kind.
    a = rand_array((300, 130), "float32")
    check_op(lambda lib, x: x.flip(dims), a, layout=layout)
    check_op(lambda lib, x: lib.flip(x, dims), rand_array((4, 5, 6), "float64"),
             layout=layout, grad=True)


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "expanded"])
@pytest.mark.parametrize("shifts,dims", [(3, 1), (-5, 0), ((7, 2), (0, 1)), (1000, None),
                                         ((2, 3), (1, 1)), (130, 1), (-1, -1)])
def test_roll_large_and_strided(shifts, dims, layout):
    a = rand_array((300, 130), "float32")
    check_op(lambda lib, x: lib.roll(x, shifts, dims), a, layout=layout)
    check_op(lambda lib, x: lib.roll(x, shifts, dims), rand_array((5, 6), "float64"),
             layout=layout, grad=True)


@pytest.mark.parametrize("perm", [(1, 0, 2), (0, 2, 1), (2, 0, 1), (1, 2, 0), (2, 1, 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8"])
def test_permuted_contiguous_copy_large(perm, dtype):
    # Transposing copies gather runs in tiles; odd sizes leave partial tiles.
    a = rand_array((37, 45, 23), dtype)
    check_op(lambda lib, x: x.permute(*perm).contiguous(), a)
    check_op(lambda lib, x: x.permute(*perm).flip(0, 2).contiguous(), a)
    check_op(lambda lib, x: x[:, 1::2].permute(*perm).contiguous(), a)


def test_flip_roll_grad_fn_names():
    x = rt.ones(2, 3, requires_grad=True)
    assert x.flip(0).grad_fn.name() == "FlipBackward0"
    assert x.roll(1, 1).grad_fn.name() == "RollBackward0"


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (1, 2)])
def test_rot90(k, dims):
    check_op(lambda lib, x: lib.rot90(x, k, dims), rand_array((2, 3, 4), "float64"),
             grad=True)


def test_rot90_errors():
    with pytest.raises(RuntimeError, match="total rotation dims == 2"):
        rt.zeros(2, 2).rot90(1, (0,))
    with pytest.raises(RuntimeError, match="rotation dims to be different"):
        rt.zeros(2, 2).rot90(1, (1, 1))


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (2, 2)), ((2, 1, 2), (3, 2))])
def test_kron(sa, sb):
    check_op(lambda lib, x, y: lib.kron(x, y), rand_array(sa, "float64"),
             rand_array(sb, "float64", seed=3), grad=True)


@pytest.mark.parametrize("sa,sb,dim", [((4, 3), (4, 3), 1), ((3, 5), (3, 5), 0),
                                       ((2, 4, 3), (1, 4, 3), -1)])
def test_cross(sa, sb, dim):
    a, b = rand_array(sa, "float64"), rand_array(sb, "float64", seed=3)
    check_op(lambda lib, x, y: lib.cross(x, y, dim=dim), a, b, grad=True)
    check_op(lambda lib, x, y: lib.linalg.cross(x, y, dim=dim), a, b)
    with pytest.raises(RuntimeError):
        rt.cross(rt.zeros(4, 2), rt.zeros(4, 2), dim=1)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    a, b, c = rand_array((3,), "float64"), rand_array((4,), "float64", seed=2), \
        rand_array((2,), "float64", seed=3)
    for i in range(3):
        check_op(lambda lib, x, y, z, i=i: lib.meshgrid(x, y, z, indexing=indexing)[i],
                 a, b, c, grad=True)
        check_op(lambda lib, x, y, i=i: lib.meshgrid([x, y], indexing=indexing)[i % 2], a, b)
    if LIB_NAME == "rustorch":  # (PyTorch warns once per process)
        with pytest.warns(UserWarning, match="indexing argument"):
            rt.meshgrid(rt.zeros(2), rt.zeros(3))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add_copy_fill(dim):
    base = rand_array((4, 5), "float64")
    n = (4, 5)[dim]
    idx = np.array([0, n - 1, 1, 0], np.int64)
    src_shape = list(base.shape)
    src_shape[dim] = 4
    src = rand_array(tuple(src_shape), "float64", seed=5)
    check_op(lambda lib, x, i, s: x.index_add(dim, i, s, alpha=2.0), base, idx, src, grad=True)
    check_op(lambda lib, x, i, s: x.clone().index_add_(dim, i, s), base, idx, src, grad=True)
    uidx = np.array([n - 1, 0], np.int64)
    src2 = np.take(src, [0, 1], axis=dim)
    check_op(lambda lib, x, i, s: x.index_copy(dim, i, s), base, uidx, src2, grad=True)
    check_op(lambda lib, x, i, s: x.clone().index_copy_(dim, i, s), base, uidx, src2,
             grad=True)
    check_op(lambda lib, x, i: x.index_fill(dim, i, -1.5), base, uidx, grad=True)
    check_op(lambda lib, x, i: x.clone().index_fill_(dim, i, 2), base, uidx, grad=True)


def test_index_updates_of_whole_rows_large():
    """Whole rows added, copied or put in (one slice operation per index), duplicate
    indices accumulating in order, past the threading threshold: PyTorch's values."""
    rng = np.random.default_rng(1)
    base = rand_array((300, 130), "float32")
    idx = rng.integers(0, 300, 500)
    src = rand_array((500, 130), "float32", seed=2)
    once = rng.permutation(300)[:200]
    check_op(lambda lib, x, i, s: x.clone().index_add_(0, i, s, alpha=-1.5), base, idx, src)
    check_op(lambda lib, x, i, s: x.index_add(1, i[:130] % 130, s[:300]), base, idx, src)
    check_op(lambda lib, x, i, s: x.index_copy(0, i, s[:200]), base, once, src)
    check_op(lambda lib, x, i, s: x.clone().index_put_((i,), s, accumulate=True), base, idx,
             src)

    def put(lib, x, i, s):
        y = x.clone()
        y[i] = s[:200]
        return y

    check_op(put, base, once, src)
    # rows of no elements: nothing to put, nothing read
    check_op(lambda lib, x, i, s: x.index_put((i,), s[:, :0]), base[:, :0], idx, src)
    check_op(lambda lib, x, i, s: x.index_add(0, i, s[:, :0]), base[:, :0], idx, src)


def test_index_updates_ints_and_errors():
    check_op(lambda lib, x, i, s: x.index_add(0, i, s), rand_array((3, 2), "int64"),
             np.array([2, 2], np.int64), rand_array((2, 2), "int64", seed=2))
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        rt.zeros(3).index_add_(0, rt.zeros(1, 1, dtype=rt.int64), rt.zeros(1))
    with pytest.raises(RuntimeError, match="must match self tensor shape"):
        rt.zeros(3, 2).index_add_(0, rt.tensor([0]), rt.zeros(1, 3))


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_unique(dtype):
    a = np.array([[3, 1, 2, 3], [1, 5, 2, 2]]).astype(dtype)
    for kw in [{}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True}]:
        for k in range(1 + len(kw)):
            check_op(lambda lib, x, kw=kw, k=k: (lambda r: r[k] if kw else r)(
                lib.unique(x, **kw)), a)


def test_unique_large_matches_torch():
    """One long row sorted on the threads, then runs marked: PyTorch's values, inverse and
    counts."""
    a = np.random.default_rng(4).integers(-300, 300, 120_000)
    for k in range(3):
        check_op(lambda lib, x, k=k: lib.unique(x, return_inverse=True, return_counts=True)[k],
                 a)
    f = (np.random.default_rng(5).integers(-50, 50, 70_000) / 4).astype(np.float32)
    f[::997] = np.nan
    check_op(lambda lib, x: lib.unique(x[~lib.isnan(x)]), f)


def test_unique_dim_and_consecutive():
    a = np.array([[1, 2, 1], [0, 1, 0], [1, 2, 1], [0, 0, 3]], np.int64)
    for dim in (0, 1):
        for k in range(3):
            check_op(lambda lib, x, d=dim, k=k: lib.unique(
                x, return_inverse=True, return_counts=True, dim=d)[k], a)
            check_op(lambda lib, x, d=dim, k=k: lib.unique_consecutive(
                x, return_inverse=True, return_counts=True, dim=d)[k], a)
    b = np.array([1, 1, 2, 2, 3, 1, 1, 2], np.int64)
    for k in range(3):
        check_op(lambda lib, x, k=k: lib.unique_consecutive(
            x, return_inverse=True, return_counts=True)[k], b)
    check_op(lambda lib, x: lib.unique(x), np.zeros((0,), np.float32))


def test_mv_and_ravel():
    check_op(lambda lib, m, v: lib.mv(m, v), rand_array((3, 4), "float64"),
             rand_array((4,), "float64", seed=2), grad=True)
    check_op(lambda lib, x: x.t().ravel(), rand_array((3, 4), "float64"), grad=True)
    with pytest.raises(RuntimeError):
        rt.mv(rt.zeros(2, 3), rt.zeros(2))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_cdist(p):
    a, b = rand_array((2, 5, 3), "float64"), rand_array((2, 4, 3), "float64", seed=2)
    check_op(lambda lib, x, y: lib.cdist(x, y, p=p), a, b, grad=True, rtol=1e-7, atol=1e-9)


def test_cdist_zero_distance_gradient_is_zero():
    x = rt.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=rt.float64, requires_grad=True)
    rt.cdist(x, x.detach()).sum().backward()
    assert np.isfinite(to_np(x.grad)).all()


def test_normal_overloads_and_distribution():
    rt.manual_seed(0)
    x = rt.normal(2.0, 3.0, size=(20000,))
    assert tuple(x.shape) == (20000,) and x.dtype == rt.float32
    assert abs(x.mean().item() - 2.0) < 4 * 3 / 141 and abs(x.std().item() - 3.0) < 0.1
    m = rt.tensor([0.0, 100.0])
    y = rt.normal(m, 1e-3)
    assert np.allclose(to_np(y), [0.0, 100.0], atol=0.01)
    z = rt.normal(m, rt.tensor([1e-3, 1e-3]))
    assert np.allclose(to_np(z), [0.0, 100.0], atol=0.01)
    w = rt.normal(5.0, rt.full((3,), 1e-3))
    assert np.allclose(to_np(w), 5.0, atol=0.01)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        rt.normal(m, rt.tensor([1.0, -1.0]))
    assert rt.normal(0.0, 1.0, (2, 3), dtype=rt.float64).dtype == rt.float64


@pytest.mark.skipif(torch_or_none is None, reason="PyTorch (the oracle) is not installed")
def test_normal_shapes_match_torch():
    torch = torch_or_none
    for args in [(rt.zeros(2, 3), 1.0), (0.0, rt.ones(4)), (rt.zeros(3, 1), rt.ones(1, 2))]:
        targs = [torch.from_numpy(to_np(a)) if isinstance(a, rt.Tensor) else a for a in args]
        assert tuple(rt.normal(*args).shape) == tuple(torch.normal(*targs).shape)


@pytest.mark.parametrize("src, dst", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ([2, 0], [0, 1]),
                                      ((), ())])
def test_movedim_and_moveaxis(src, dst):
    a = rand_array((2, 3, 4), "float64")
    check_op(lambda lib, x: x.movedim(src, dst), a, grad=True)
    check_op(lambda lib, x: lib.moveaxis(x, src, dst), a)


@pytest.mark.parametrize("src, dst, exc, message", [
    ((0, 0), (1, 2), RuntimeError, r"movedim: repeated dim in `source` \(\[0, 0\]\)"),
    ((0, 1), (1,), RuntimeError, "should contain the same number of dims as destination"),
    (5, 0, IndexError, "Dimension out of range"),
])
def test_movedim_errors(src, dst, exc, message):
    with pytest.raises(exc, match=message):
        rt.zeros(2, 3, 4).movedim(src, dst)


@pytest.mark.parametrize("dim", [None, 0, -1, (0, 2), ()])
@pytest.mark.parametrize("dtype", ["float32", "int8", "bool"])
def test_count_nonzero(dim, dtype):
    a = rand_array((3, 4, 2), dtype)
    if dtype == "float32":
        a[0, 1, 1] = np.nan  # NaN is nonzero
        a[1, :, 0] = 0
    check_op(lambda lib, x: lib.count_nonzero(x, dim) if dim is not None
             else x.count_nonzero(), a)


def test_take():
    a = rand_array((3, 4), "float64")
    idx = np.array([[0, 11], [-1, 5]], np.int64)
    check_op(lambda lib, x, i: x.take(i), a, idx, grad=True)
    check_op(lambda lib, x, i: lib.take(x, i), a, np.array(7, np.int64))
    with pytest.raises(IndexError, match="out of range: tried to access index 12 on a tensor "
                                         "of 12 elements"):
        rt.zeros(3, 4).take(rt.tensor([12]))


def test_zero_dim_flip_and_movedim_are_identities():
    # (They panicked: a 0-d tensor's dim 0 was read from an empty shape.)
    check_op(lambda lib, x: x.flip(0), np.array(2.5))
    check_op(lambda lib, x: x.flip([-1]), np.array(2, np.int8))
    check_op(lambda lib, x: x.movedim(0, 0), np.array(2.5))
    check_op(lambda lib, x: x.movedim(-1, 0), np.array(7, np.int16))
