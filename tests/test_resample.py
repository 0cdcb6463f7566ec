"""``F.interpolate`` / ``nn.Upsample`` against PyTorch: every mode, sizes and scale factors
(with and without ``recompute_scale_factor``), ``align_corners``, gradients, gradcheck and
PyTorch's argument errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import (
    assert_same_error,
    assert_same_outcome,
    current_device,
    need_oracle_torch,
    need_torch,
    rt,
)

pytestmark = pytest.mark.usefixtures("device")

F = rt.nn.functional

CASES = [
    # (input shape, mode, kwargs)
    ((2, 3, 7), "nearest", {"size": 12}),
    ((2, 3, 7), "nearest", {"scale_factor": 1.7}),
    ((2, 3, 7), "nearest-exact", {"size": 4}),
    ((2, 3, 7), "linear", {"size": 11}),
    ((2, 3, 7), "linear", {"size": 5, "align_corners": True}),
    ((1, 2, 5, 6), "nearest", {"scale_factor": (2, 0.5)}),
    ((1, 2, 5, 6), "nearest-exact", {"scale_factor": 1.5}),
    ((1, 2, 5, 6), "bilinear", {"size": (9, 4)}),
    ((1, 2, 5, 6), "bilinear", {"scale_factor": 2.3}),
    ((1, 2, 5, 6), "bilinear", {"scale_factor": 2.3, "recompute_scale_factor": True}),
    ((1, 2, 5, 6), "bilinear", {"size": (9, 4), "align_corners": True}),
    ((1, 2, 5, 6), "bicubic", {"size": (8, 11)}),
    ((1, 2, 5, 6), "bicubic", {"scale_factor": 0.6, "align_corners": True}),
    ((1, 2, 5, 6), "area", {"size": (3, 4)}),
    ((1, 2, 5, 6), "area", {"scale_factor": 0.5}),
    ((1, 1, 3, 4, 5), "trilinear", {"size": (5, 3, 7)}),
    ((1, 1, 3, 4, 5), "nearest", {"scale_factor": 2}),
    ((1, 2, 5, 6), "bilinear", {"size": (5, 6)}),
]


@pytest.mark.parametrize("shape,mode,kw", CASES)
def test_interpolate_matches_torch(shape, mode, kw):
    torch = need_torch()
    arr = np.random.default_rng(0).standard_normal(shape)
    x = rt.tensor(arr, device=current_device(), requires_grad=True)
    xt = torch.tensor(arr, requires_grad=True)
    y = F.interpolate(x, mode=mode, **kw)
    yt = torch.nn.functional.interpolate(xt, mode=mode, **kw)
    assert tuple(y.shape) == tuple(yt.shape)
    np.testing.assert_allclose(y.detach().cpu().numpy(), yt.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    y.backward(rt.tensor(g, device=current_device()))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_upsample_modules_match_torch(dtype):
    torch = need_torch()
    arr = np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    x = rt.tensor(arr, dtype=getattr(rt, dtype), device=current_device())
    xt = torch.tensor(arr, dtype=getattr(torch, dtype))
    tol = 1e-5 if dtype == "float32" else 1e-10
    for ours, ref in [
        (rt.nn.Upsample(scale_factor=2, mode="bilinear"),
         torch.nn.Upsample(scale_factor=2, mode="bilinear")),
        (rt.nn.Upsample(size=(7, 3)), torch.nn.Upsample(size=(7, 3))),
        (rt.nn.UpsamplingNearest2d(scale_factor=3), torch.nn.UpsamplingNearest2d(scale_factor=3)),
        (rt.nn.UpsamplingBilinear2d(size=6), torch.nn.UpsamplingBilinear2d(size=6)),
    ]:
        assert repr(ours) == repr(ref)
        np.testing.assert_allclose(ours(x).cpu().numpy(), ref(xt).numpy(), rtol=tol, atol=tol)


def test_interpolate_gradcheck():
    x = rt.tensor(np.random.default_rng(3).standard_normal((1, 1, 3, 4)), requires_grad=True)
    for mode in ("bilinear", "bicubic", "nearest"):
        assert rt.autograd.gradcheck(lambda t, m=mode: F.interpolate(t, size=(5, 3), mode=m), (x,))
    assert rt.autograd.gradgradcheck(
        lambda t: F.interpolate(t, scale_factor=1.5, mode="bilinear"), (x,)
    )


@pytest.mark.parametrize(
    "shape,kw",
    [
        ((1, 2, 4, 4), {"size": 3, "mode": "nearest", "align_corners": True}),
        ((1, 2, 4, 4), {"size": 3, "scale_factor": 2}),
        ((1, 2, 4, 4), {}),
        ((1, 2, 4, 4), {"size": (3, 3, 3)}),
        ((1, 2, 4, 4), {"scale_factor": (2, 2, 2)}),
        ((1, 2, 4, 4), {"size": 3, "recompute_scale_factor": True}),
        ((1, 2, 4), {"size": 3, "mode": "bilinear"}),
        ((1, 2, 4, 4), {"size": 3, "mode": "trilinear"}),
        ((1, 2, 4, 4), {"size": 3, "mode": "linear"}),
        ((2, 4), {"size": 3}),
        ((1, 1, 4, 4), {"size": 0}),
        ((1, 1, 4, 4), {"scale_factor": -1.0}),
        ((1, 1, 3, 4, 4), {"size": (2, 0, 3)}),
    ],
)
def test_interpolate_errors_match_torch(shape, kw):
    torch = need_torch()
    if len(shape) == 2:
        need_oracle_torch("the list of modes in this message")
    with pytest.raises(Exception) as want:
        torch.nn.functional.interpolate(torch.zeros(shape), **kw)
    with pytest.raises(type(want.value), match=re.escape(str(want.value))):
        F.interpolate(rt.zeros(shape, device=current_device()), **kw)


@pytest.mark.parametrize("theta_shape, size", [((2, 2, 3), (2, 3, 4, 5)),
                                               ((2, 3, 4), (2, 3, 4, 5, 3))])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_torch(theta_shape, size, align_corners):
    """2-D and 3-D grids, values and the gradient w.r.t. theta."""
    torch = need_torch()
    theta = np.random.default_rng(4).standard_normal(theta_shape)
    t = rt.tensor(theta, device=current_device(), requires_grad=True)
    tt = torch.tensor(theta, requires_grad=True)
    g = F.affine_grid(t, size, align_corners=align_corners)
    gt = torch.nn.functional.affine_grid(tt, size, align_corners=align_corners)
    assert tuple(g.shape) == tuple(gt.shape) == (size[0], *size[2:], len(size) - 2)
    np.testing.assert_allclose(g.detach().cpu().numpy(), gt.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    w = np.random.default_rng(8).standard_normal(tuple(gt.shape))
    g.backward(rt.tensor(w, device=current_device()))
    gt.backward(torch.tensor(w))
    np.testing.assert_allclose(t.grad.cpu().numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("x_shape, grid_shape, mode", [
    ((2, 3, 5, 6), (2, 4, 7, 2), "bilinear"),
    ((2, 3, 5, 6), (2, 4, 7, 2), "nearest"),
    ((2, 3, 5, 6), (2, 4, 7, 2), "bicubic"),
    ((2, 3, 4, 5, 6), (2, 3, 2, 4, 3), "bilinear"),
    ((2, 3, 4, 5, 6), (2, 3, 2, 4, 3), "nearest"),
])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_matches_torch(x_shape, grid_shape, mode, padding_mode, align_corners):
    """2-D and 3-D sampling, values and both gradients."""
    torch = need_torch()
    rng = np.random.default_rng(5)
    arr = rng.standard_normal(x_shape)
    # Points inside and well outside [-1, 1], away from ties of nearest rounding.
    grid = rng.uniform(-1.6, 1.6, grid_shape)
    x = rt.tensor(arr, device=current_device(), requires_grad=True)
    g = rt.tensor(grid, device=current_device(), requires_grad=True)
    xt = torch.tensor(arr, requires_grad=True)
    gt = torch.tensor(grid, requires_grad=True)
    kw = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    y = F.grid_sample(x, g, **kw)
    yt = torch.nn.functional.grid_sample(xt, gt, **kw)
    assert tuple(y.shape) == tuple(yt.shape) == x_shape[:2] + grid_shape[1:-1]
    np.testing.assert_allclose(y.detach().cpu().numpy(), yt.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    w = rng.standard_normal(tuple(yt.shape))
    y.backward(rt.tensor(w, device=current_device()))
    yt.backward(torch.tensor(w))
    np.testing.assert_allclose(x.grad.cpu().numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g.grad.cpu().numpy(), gt.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_grid_sample_errors_match_torch():
    torch = need_torch()
    for kw in ({"mode": "cubic"}, {"padding_mode": "wrap"}):
        with pytest.raises(ValueError) as want:
            torch.nn.functional.grid_sample(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2),
                                            align_corners=False, **kw)
        with pytest.raises(ValueError, match=re.escape(str(want.value))):
            F.grid_sample(rt.zeros(1, 1, 2, 2), rt.zeros(1, 2, 2, 2), align_corners=False, **kw)


def test_grid_sample_and_affine_grid_gradcheck():
    rng = np.random.default_rng(6)
    x = rt.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = rt.tensor(rng.uniform(-1.2, 1.2, (1, 2, 3, 2)), requires_grad=True)
    for mode in ("bilinear", "bicubic"):
        for padding_mode in ("zeros", "border", "reflection"):
            assert rt.autograd.gradcheck(
                lambda a, b, p=padding_mode, m=mode: F.grid_sample(
                    a, b, mode=m, padding_mode=p, align_corners=False
                ),
                (x, g),
            )
    theta = rt.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    assert rt.autograd.gradcheck(
        lambda t: F.affine_grid(t, (2, 1, 3, 4), align_corners=True), (theta,)
    )


def test_grid_sample_3d_gradcheck():
    rng = np.random.default_rng(10)
    x = rt.tensor(rng.standard_normal((1, 2, 2, 3, 3)), requires_grad=True)
    g = rt.tensor(rng.uniform(-1.2, 1.2, (1, 2, 1, 2, 3)), requires_grad=True)
    for padding_mode in ("zeros", "border", "reflection"):
        assert rt.autograd.gradcheck(
            lambda a, b, p=padding_mode: F.grid_sample(
                a, b, padding_mode=p, align_corners=False
            ),
            (x, g),
        )
    theta = rt.tensor(rng.standard_normal((1, 3, 4)), requires_grad=True)
    assert rt.autograd.gradcheck(
        lambda t: F.affine_grid(t, (1, 1, 2, 3, 2), align_corners=False), (theta,)
    )


@pytest.mark.parametrize("x_shape, g_shape, mode", [
    ((1, 1, 2, 2, 2), (1, 1, 1, 2), "bilinear"),
    ((1, 1, 2, 2, 2), (1, 1, 1, 1, 2), "bilinear"),
    ((1, 1, 2, 2), (1, 1, 1, 3), "bilinear"),
    ((1, 1, 2, 2, 2), (1, 1, 1, 1, 3), "bicubic"),
    ((1, 1, 2, 2, 2, 2), (1, 1, 1, 1, 1, 4), "bilinear"),
    ((1, 1, 2), (1, 1, 1), "bilinear"),
    ((2, 1, 2, 2, 2), (1, 1, 1, 1, 3), "bilinear"),
    ((1, 1, 0, 2, 2), (1, 1, 1, 1, 3), "bilinear"),
    ((1, 1, 3, 0), (1, 1, 1, 2), "nearest"),
])
def test_grid_sample_shape_errors_match_torch(x_shape, g_shape, mode):
    assert_same_error(
        lambda lib: lib.nn.functional.grid_sample(lib.zeros(x_shape), lib.zeros(g_shape),
                                                  mode=mode, align_corners=False)
    )


@pytest.mark.parametrize("theta, size", [
    ((1, 2, 3), [1, 1, 2, 2, 2]),
    ((1, 3, 4), [1, 1, 2, 2]),
    ((1, 3, 3), [1, 1, 4, 4]),
    ((2, 3), [1, 1, 1, 2]),
    ((1, 3, 4), [1, 1, 2, 2, 2, 2]),
    ((1, 2, 3), [1, 1, 4]),
    ((1, 3, 4), [1, 1, 0, 2, 2]),
    ((1, 2, 3), (1, 1, 0, 2)),
])
def test_affine_grid_errors_match_torch(theta, size):
    def call(lib):
        return lib.nn.functional.affine_grid(lib.zeros(theta), size, align_corners=False)

    assert_same_error(call)
    assert_same_error(
        lambda lib: lib.nn.functional.affine_grid(lib.zeros((1, 2, 3), dtype=lib.int64),
                                                  [1, 1, 2, 2], align_corners=False)
    )


def test_affine_grid_warns_on_unit_size_with_align_corners():
    with pytest.warns(UserWarning, match="unit-size grids"):
        g = F.affine_grid(rt.zeros(1, 2, 3), [1, 1, 1, 2], align_corners=True)
    assert tuple(g.shape) == (1, 1, 2, 2)


@pytest.mark.parametrize("x_shape, grid_shape", [((0, 2, 4, 4), (0, 3, 3, 2)),
                                                 ((1, 0, 4, 4), (1, 3, 3, 2)),
                                                 ((1, 2, 4, 4, 4), (1, 0, 3, 3, 3))])
def test_an_empty_grid_sample_still_reaches_the_grid(x_shape, grid_shape):
    torch = need_torch()
    x = rt.zeros(x_shape, dtype=rt.float64, requires_grad=True)
    g = rt.ones(grid_shape, dtype=rt.float64, requires_grad=True)
    tx = torch.zeros(x_shape, dtype=torch.float64, requires_grad=True)
    tg = torch.ones(grid_shape, dtype=torch.float64, requires_grad=True)
    y = F.grid_sample(x, g, align_corners=False)
    ty = torch.nn.functional.grid_sample(tx, tg, align_corners=False)
    assert tuple(y.shape) == tuple(ty.shape)
    y.sum().backward()
    ty.sum().backward()
    for ours, theirs in ((x, tx), (g, tg)):
        assert ours.grad is not None
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64", "bool", "float16"])
@pytest.mark.parametrize("dims", [3, 4, 5])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_takes_pytorchs_dtypes(mode, dims, dtype):
    # PyTorch's nearest kernels take the floats and uint8; the others raise its CPU
    # kernels' NotImplementedError ("compute_indices_weights_nearest", and for 4-D inputs
    # "upsample_nearest2d_channels_last").
    if current_device() != "cpu" and dtype != "uint8":
        pytest.skip("PyTorch's error names its CPU kernels; compared on the CPU")
    a = np.random.default_rng(2).integers(0, 2 if dtype == "bool" else 200, (2, 3, 5, 4, 3)[:dims])

    def call(lib):
        x = lib.tensor(a).to(getattr(lib, dtype))
        x = x.to(current_device()) if lib is rt else x
        return lib.nn.functional.interpolate(x, scale_factor=1.7, mode=mode)

    assert_same_outcome(call)

@pytest.mark.parametrize("x_dtype,grid_dtype", [
    ("int64", "int64"), ("uint8", "float32"), ("bool", "bool"),
    ("float32", "float64"), ("float64", "float32"), ("float32", "int64"),
])
@pytest.mark.parametrize("dims", [4, 5])
def test_grid_sample_takes_pytorchs_dtypes(dims, x_dtype, grid_dtype):
    # Floats only ("grid_sampler_2d_cpu_kernel_impl" not implemented for 'Long'), and the
    # grid in the input's dtype ("expected scalar type Float but found Double").
    if current_device() != "cpu" and not x_dtype.startswith("float"):
        pytest.skip("PyTorch's error names its CPU kernels; compared on the CPU")
    k = dims - 2

    def call(lib):
        x = lib.zeros((1, 2) + (3,) * k, dtype=getattr(lib, x_dtype))
        grid = lib.zeros((1,) + (2,) * k + (k,), dtype=getattr(lib, grid_dtype))
        if lib is rt:
            x, grid = x.to(current_device()), grid.to(current_device())
        return lib.nn.functional.grid_sample(x, grid, align_corners=False)

    assert_same_error(call)


# PyTorch's CPU kernels hit an internal assert for 3-channel uint8 images resized to 1 x 1
# (its AVX2 path's channels-last check), so those shapes are left out.
U8_RESIZES = [
    ((2, 1, 7, 9), {"size": (14, 20)}),
    ((1, 3, 16, 12), {"size": (7, 13)}),
    ((1, 5, 31, 5), {"size": (60, 41)}),
    ((2, 3, 7, 9), {"size": (3, 5)}),
    ((1, 1, 4, 1), {"size": (2, 9)}),
    ((1, 3, 16, 12), {"scale_factor": (1.7, 2.3)}),
    ((1, 4, 16, 12), {"scale_factor": (0.3, 1.0)}),
    ((1, 3, 40, 33), {"scale_factor": 0.25, "recompute_scale_factor": True}),
    ((1, 2, 9, 9), {"size": (9, 9)}),
]


@pytest.mark.parametrize("shape,kw", U8_RESIZES)
@pytest.mark.parametrize("mode,antialias,align_corners", [
    ("bilinear", False, False), ("bilinear", False, True), ("bilinear", True, False),
    ("bilinear", True, True), ("bicubic", False, False), ("bicubic", False, True),
    ("bicubic", True, False), ("lanczos", True, False),
])
def test_uint8_resizes_give_pytorchs_bytes(shape, kw, mode, antialias, align_corners):
    # PyTorch's CPU kernels resize uint8 images in fixed point (int16 weights, one pass
    # per axis rounding to uint8): the same bytes, on every device.
    a = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)

    def call(lib):
        x = lib.tensor(a)
        x = x.to(current_device()) if lib is rt else x
        return lib.nn.functional.interpolate(x, mode=mode, antialias=antialias,
                                             align_corners=align_corners, **kw)

    assert_same_outcome(call)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [(7, 13), (40, 5), (1, 1), (32, 33)])
def test_lanczos_matches_torch(dtype, size):
    torch = need_torch()
    a = np.random.default_rng(3).standard_normal((2, 3, 17, 23))
    x = rt.tensor(a, dtype=getattr(rt, dtype), device=current_device(), requires_grad=True)
    tx = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
    y = F.interpolate(x, size=size, mode="lanczos", antialias=True)
    ty = torch.nn.functional.interpolate(tx, size=size, mode="lanczos", antialias=True)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(4).standard_normal(tuple(ty.shape))
    y.backward(rt.tensor(g, dtype=getattr(rt, dtype), device=current_device()))
    ty.backward(torch.tensor(g, dtype=getattr(torch, dtype)))
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


def test_lanczos_gradcheck():
    x = rt.tensor(np.random.default_rng(5).standard_normal((1, 2, 6, 7)), dtype=rt.float64,
                  device=current_device(), requires_grad=True)
    assert rt.autograd.gradcheck(
        lambda t: F.interpolate(t, size=(4, 9), mode="lanczos", antialias=True), (x,))
    assert rt.autograd.gradgradcheck(
        lambda t: F.interpolate(t, scale_factor=0.6, mode="bicubic", antialias=True), (x,))


@pytest.mark.parametrize("shape,kw", [
    ((1, 1, 5, 5), {"mode": "lanczos", "size": 3}),
    ((1, 1, 5, 5), {"mode": "lanczos", "size": 3, "antialias": True, "align_corners": True}),
    ((1, 1, 5), {"mode": "lanczos", "size": 3}),
    ((1, 1, 5), {"mode": "lanczos", "size": 3, "antialias": True}),
    ((1, 1, 5, 5, 5), {"mode": "trilinear", "size": 3, "antialias": True}),
])
def test_lanczos_errors_match_torch(shape, kw):
    def call(lib):
        x = lib.zeros(shape)
        return lib.nn.functional.interpolate(x.to(current_device()) if lib is rt else x, **kw)

    assert_same_error(call)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64", "bool", "float16",
                                   "bfloat16"])
@pytest.mark.parametrize("mode,dims,antialias", [
    ("linear", 3, False), ("bilinear", 4, False), ("bicubic", 4, False),
    ("trilinear", 5, False), ("bilinear", 4, True), ("bicubic", 4, True),
    ("lanczos", 4, True),
])
def test_interpolating_modes_take_pytorchs_dtypes(mode, dims, antialias, dtype):
    # The CPU kernels take the floats, uint8 for bilinear, bicubic and lanczos (4-D), and
    # for antialiasing float32 and float64 only; the others raise PyTorch's
    # NotImplementedError naming its kernel ("compute_indices_weights_linear",
    # "upsample_bilinear2d_channels_last", "compute_indices_weights_cubic",
    # "compute_index_ranges_weights").
    if current_device() != "cpu":
        pytest.skip("PyTorch's errors name its CPU kernels; compared on the CPU")
    a = np.random.default_rng(2).integers(0, 2 if dtype == "bool" else 100, (2, 3, 5, 4, 3)[:dims])

    def call(lib):
        x = lib.tensor(a).to(getattr(lib, dtype))
        return lib.nn.functional.interpolate(x, scale_factor=1.7, mode=mode, antialias=antialias)

    # Half-precision results round differently along the way (a bfloat16 ulp is 2^-7).
    assert_same_outcome(call, rtol=0.1 if dtype in ("float16", "bfloat16") else 0.0)


@pytest.mark.parametrize("shape,kw", [
    ((1, 1, 4), {"mode": "nearest", "size": 7}),
    ((1, 1, 4, 5), {"mode": "nearest-exact", "size": 3}),
    ((1, 1, 4), {"mode": "linear", "size": 9}),
    ((1, 1, 4, 5), {"mode": "bilinear", "size": (4, 5)}),
    ((1, 1, 4, 5, 3), {"mode": "trilinear", "scale_factor": 1.5}),
    ((1, 1, 4, 5), {"mode": "bicubic", "size": 3}),
    ((1, 1, 4, 5), {"mode": "bilinear", "size": 3, "antialias": True}),
    ((1, 1, 4, 5), {"mode": "bicubic", "size": (4, 5), "antialias": True}),
    ((1, 1, 4, 5), {"mode": "lanczos", "size": 3, "antialias": True}),
])
def test_interpolate_makes_a_new_tensor_with_pytorchs_grad_fn(shape, kw):
    # Even at the input's own size the result is a new tensor (writing to it leaves the
    # input alone), and its grad_fn carries PyTorch's name.
    torch = need_torch()
    a = np.random.default_rng(6).standard_normal(shape)
    x = rt.tensor(a, device=current_device(), requires_grad=True)
    y = F.interpolate(x, **kw)
    ty = torch.nn.functional.interpolate(torch.tensor(a, requires_grad=True), **kw)
    assert y.grad_fn.name() == ty.grad_fn.name()
    with rt.no_grad():
        y.add_(1.0)
    np.testing.assert_array_equal(x.detach().cpu().numpy(), a)
    u = rt.tensor((np.abs(a) * 40).astype(np.uint8), device=current_device())
    if kw["mode"] in ("bilinear", "bicubic", "lanczos", "nearest", "nearest-exact"):
        v = F.interpolate(u, **kw)
        v.add_(1)
        np.testing.assert_array_equal(u.cpu().numpy(), (np.abs(a) * 40).astype(np.uint8))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,kw", [
    ((2, 3, 9), {"mode": "linear", "size": 4, "align_corners": True}),
    ((2, 3, 5, 7), {"mode": "bicubic", "scale_factor": 2.5}),
    ((1, 2, 3, 4, 5), {"mode": "trilinear", "size": (7, 2, 5)}),
    ((2, 3, 6, 5), {"mode": "nearest", "size": (13, 2)}),
    ((2, 3, 6, 5), {"mode": "nearest-exact", "scale_factor": 0.7}),
])
def test_interpolate_gradients_match_torch(shape, kw, dtype):
    # Each pass's gradient is the pass over the transposed spans: against PyTorch's
    # backward kernels, with repeated reads at the edges (cubic, nearest).
    torch = need_torch()
    a = np.random.default_rng(7).standard_normal(shape)
    x = rt.tensor(a, dtype=getattr(rt, dtype), device=current_device(), requires_grad=True)
    tx = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
    y = F.interpolate(x, **kw)
    ty = torch.nn.functional.interpolate(tx, **kw)
    g = np.random.default_rng(8).standard_normal(tuple(ty.shape))
    y.backward(rt.tensor(g, dtype=getattr(rt, dtype), device=current_device()))
    ty.backward(torch.tensor(g, dtype=getattr(torch, dtype)))
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


def _nearest_cases():
    rng = np.random.default_rng(11)
    cases = []
    for dims in (3, 4, 5):
        for trial in range(24):
            sizes = tuple(int(v) for v in rng.integers(1, 70 if dims == 4 else 30, dims - 2))
            if trial % 2:
                out = tuple(int(v) for v in rng.integers(1, 140 if dims == 4 else 45, dims - 2))
                cases.append((sizes, {"size": out}))
            else:
                scale = float(rng.choice([0.3, 0.7, 0.99, 1.1, 1.5, 2.0, 2.01, 3.3]))
                if min(int(s * scale) for s in sizes) >= 1:
                    cases.append((sizes, {"scale_factor": scale}))
    return cases


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_reads_pytorchs_source_positions(mode, dtype):
    # PyTorch's CPU kernels round the source position in float32 (float64 inputs: computed
    # in float64, floored as a float32), and its channels-last kernel, which 4-D outputs
    # of at most 128 rows plus columns take, copies at equal sizes and halves at double
    # ones whatever the scale factor. The values are the positions, so any other choice
    # shows.
    if current_device() != "cpu":
        pytest.skip("PyTorch's CPU kernels' rounding; its CUDA ones round in float32 alone")
    torch = need_torch()
    for sizes, kw in _nearest_cases():
        shape = (1, 2) + sizes
        a = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
        y = F.interpolate(rt.tensor(a, dtype=getattr(rt, dtype)), mode=mode, **kw)
        ty = torch.nn.functional.interpolate(torch.tensor(a, dtype=getattr(torch, dtype)),
                                             mode=mode, **kw)
        np.testing.assert_array_equal(y.numpy(), ty.numpy(), err_msg=f"{shape} {kw}")


@pytest.mark.parametrize("mode,kw", [("linear", {"size": 3}), ("nearest", {"size": 4}),
                                     ("bicubic", {"size": (2, 3)})])
def test_skipped_inputs_get_a_zero_gradient(mode, kw):
    # Inputs a downsampling never reads get exactly 0, also when the output's gradient
    # holds inf (0·inf would be NaN), as PyTorch's backward kernels scatter only into
    # what was read.
    torch = need_torch()
    shape = (1, 2, 11) if mode != "bicubic" else (1, 1, 9, 12)
    a = np.random.default_rng(12).standard_normal(shape)
    x = rt.tensor(a, device=current_device(), requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y = F.interpolate(x, mode=mode, **kw)
    ty = torch.nn.functional.interpolate(tx, mode=mode, **kw)
    g = np.ones(tuple(ty.shape))
    g.reshape(-1)[0] = np.inf
    y.backward(rt.tensor(g, device=current_device()))
    ty.backward(torch.tensor(g))
    ours, theirs = x.grad.cpu().numpy(), tx.grad.numpy()
    assert (theirs == 0).any()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,kw", [
    ("float32", {"mode": "bilinear", "size": (5, 4)}),
    ("float32", {"mode": "nearest", "scale_factor": 2}),
    ("float64", {"mode": "bicubic", "size": (9, 9), "antialias": True}),
    ("uint8", {"mode": "bilinear", "size": (5, 4)}),
    ("uint8", {"mode": "nearest-exact", "size": (9, 9)}),
])
def test_channels_last_input_gives_channels_last_output(dtype, kw):
    # PyTorch lays the output out as the input suggests (its suggest_memory_format).
    torch = need_torch()
    a = np.random.default_rng(13).integers(0, 200, (2, 5, 8, 9))

    def run(lib):
        x = lib.tensor(a).to(getattr(lib, dtype)).to(memory_format=lib.channels_last)
        x = x.to(current_device()) if lib is rt else x
        return lib.nn.functional.interpolate(x, **kw)

    y, ty = run(rt), run(torch)
    assert y.is_contiguous(memory_format=rt.channels_last)
    assert ty.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(y.cpu().numpy(), ty.numpy(), rtol=1e-5, atol=1e-4)
    if dtype != "uint8":
        x = rt.tensor(a, dtype=getattr(rt, dtype), device=current_device())
        x = x.to(memory_format=rt.channels_last).requires_grad_()
        F.interpolate(x, **kw).sum().backward()
        assert x.grad.is_contiguous(memory_format=rt.channels_last)
