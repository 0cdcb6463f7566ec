"""rustorch.vision.transforms (classes and functional) against PyTorch, PIL and formulas.

torchvision is not a dependency: every reference is PyTorch tensor math (interpolate,
grid_sample), NumPy written out from torchvision's documented definitions, or Pillow itself.
PyTorch has no ``vision`` package, so these tests import ``rustorch.vision`` explicitly and
run the same way under ``RUSTORCH_TEST_ORACLE=torch``.
"""

from __future__ import annotations

import colorsys
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import rustorch
from conftest import assert_values, need_torch, to_np
from rustorch.vision import transforms as T
from rustorch.vision.transforms import InterpolationMode
from rustorch.vision.transforms import functional as F

NN = rustorch.nn.functional


def rimg(shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.random(shape).astype(dtype)


def rt(a):
    return rustorch.tensor(np.ascontiguousarray(a))


# ------------------------------------------------------------ interpolate(antialias=True)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("sizes", [(32, 40, 7, 13), (17, 9, 40, 5), (10, 10, 10, 10),
                                   (64, 48, 21, 64), (5, 7, 1, 1)])
def test_interpolate_antialias_matches_torch(mode, align_corners, sizes):
    torch = need_torch()
    h, w, oh, ow = sizes
    a = np.random.default_rng(h * w).standard_normal((2, 3, h, w)).astype(np.float32)
    out = NN.interpolate(rt(a), size=(oh, ow), mode=mode, antialias=True,
                         align_corners=align_corners)
    ref = torch.nn.functional.interpolate(torch.tensor(a), size=(oh, ow), mode=mode,
                                          antialias=True, align_corners=align_corners)
    assert tuple(out.shape) == (2, 3, oh, ow)
    assert_values(to_np(out), ref.numpy(), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("scale", [0.3, 0.5, 2.5, (0.7, 1.9)])
def test_interpolate_antialias_scale_factor_and_grad(scale):
    torch = need_torch()
    a = np.random.default_rng(1).standard_normal((1, 2, 23, 31))
    x = rustorch.tensor(a, dtype=rustorch.float64, requires_grad=True)
    out = NN.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True)
    xt = torch.tensor(a, requires_grad=True)
    ref = torch.nn.functional.interpolate(xt, scale_factor=scale, mode="bilinear",
                                          antialias=True)
    assert tuple(out.shape) == tuple(ref.shape)
    assert_values(to_np(out), ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = np.random.default_rng(2).standard_normal(tuple(ref.shape))
    out.backward(rustorch.tensor(g))
    ref.backward(torch.tensor(g))
    assert_values(to_np(x.grad), xt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_interpolate_antialias_errors():
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        NN.interpolate(rustorch.zeros(1, 1, 4), size=2, mode="linear", antialias=True)
    with pytest.raises(NotImplementedError, match="compute_index_ranges_weights"):
        NN.interpolate(rustorch.zeros(1, 1, 4, 4, dtype=rustorch.int32), size=2,
                       mode="bilinear", antialias=True)


# ------------------------------------------------------------------------------ resize


def test_resize_tensor_matches_torch_interpolate():
    torch = need_torch()
    a = rimg((3, 30, 41))
    x = rt(a)
    # int size: the smaller edge, aspect ratio kept with int() truncation
    out = F.resize(x, 20)
    assert tuple(out.shape) == (3, 20, 27)
    ref = torch.nn.functional.interpolate(torch.tensor(a)[None], size=(20, 27),
                                          mode="bilinear", antialias=True)[0]
    assert_values(to_np(out), ref.numpy(), rtol=1e-5, atol=1e-5)
    # bicubic without antialias, upsampling, batched 5-d input
    b = rimg((2, 2, 3, 6, 5), seed=3)
    out = F.resize(rt(b), [9, 11], interpolation=InterpolationMode.BICUBIC, antialias=False)
    ref = torch.nn.functional.interpolate(torch.tensor(b).reshape(4, 3, 6, 5), size=(9, 11),
                                          mode="bicubic", align_corners=False)
    assert_values(to_np(out), ref.reshape(2, 2, 3, 9, 11).numpy(), rtol=1e-5, atol=1e-5)
    # nearest: antialias is ignored
    out = T.Resize((7, 9), interpolation=InterpolationMode.NEAREST)(x)
    ref = torch.nn.functional.interpolate(torch.tensor(a)[None], size=(7, 9), mode="nearest")
    assert_values(to_np(out), ref[0].numpy(), rtol=0, atol=0)
    # same size: the input itself
    assert F.resize(x, [30, 41]) is x


def test_resize_uint8_rounds_float_result():
    torch = need_torch()
    a = rimg((3, 16, 12), dtype=np.uint8)
    for mode in ("bilinear", "bicubic"):
        out = F.resize(rt(a), [7, 5], interpolation=InterpolationMode(mode))
        assert str(out.dtype).endswith("uint8")
        f = torch.nn.functional.interpolate(torch.tensor(a)[None].float(), size=(7, 5), mode=mode,
                                            antialias=True)[0]
        if mode == "bicubic":
            f = f.clamp(0, 255)
        assert_values(to_np(out), f.round().to(torch.uint8).numpy(), rtol=0, atol=1)


def test_resize_output_size_rules():
    x = rustorch.zeros(1, 30, 40)
    assert tuple(F.resize(x, 15).shape) == (1, 15, 20)
    assert tuple(F.resize(x, [15]).shape) == (1, 15, 20)
    assert tuple(F.resize(rustorch.zeros(1, 40, 30), 15).shape) == (1, 20, 15)
    # max_size caps the longer edge
    assert tuple(F.resize(x, 15, max_size=18).shape) == (1, 13, 18)
    assert tuple(T.Resize(None, max_size=20)(x).shape) == (1, 15, 20)
    with pytest.raises(ValueError, match="max_size = 10 must be strictly greater"):
        F.resize(x, 15, max_size=10)
    with pytest.raises(ValueError, match="max_size should only be passed"):
        F.resize(x, [15, 20], max_size=30)
    with pytest.raises(ValueError, match="Size must be an int or a 1 or 2 element"):
        F.resize(x, [1, 2, 3])
    with pytest.raises(ValueError, match="If size is a sequence, it should have 1 or 2 values"):
        T.Resize([1, 2, 3])
    with pytest.raises(ValueError, match="'lanczos' is unsupported with Tensor input"):
        F.resize(x, 10, interpolation=InterpolationMode.LANCZOS)
    with pytest.raises(TypeError, match="Argument interpolation should be a InterpolationMode"):
        F.resize(x, 10, interpolation="bilinear")
    # PIL integer constants map to the modes
    assert T.Resize(3, interpolation=3).interpolation is InterpolationMode.BICUBIC
    assert repr(T.Resize(8)) == "Resize(size=8, interpolation=bilinear, max_size=None, " \
                                "antialias=True)"
    with pytest.warns(DeprecationWarning, match="Scale transform is deprecated"):
        s = T.Scale(10)
    assert tuple(s(x).shape) == (1, 10, 13) and isinstance(s, T.Resize)


def test_resize_pil_and_numpy_match_pil():
    Image = pytest.importorskip("PIL.Image")
    a = rimg((20, 26, 3), dtype=np.uint8)
    pil = Image.fromarray(a)
    for mode, code in ((InterpolationMode.BILINEAR, 2), (InterpolationMode.BICUBIC, 3),
                       (InterpolationMode.NEAREST, 0), (InterpolationMode.LANCZOS, 1)):
        out = F.resize(pil, 10, interpolation=mode)
        ref = pil.resize((13, 10), code)
        assert out.size == (13, 10)
        assert_values(np.asarray(out), np.asarray(ref), rtol=0, atol=0)
        # NumPy images follow the PIL path and come back as arrays
        arr = F.resize(a, 10, interpolation=mode)
        assert isinstance(arr, np.ndarray) and arr.shape == (10, 13, 3)
        assert_values(arr, np.asarray(ref), rtol=0, atol=0)
    gray = a[:, :, :1]
    out = F.resize(gray, [5, 6])
    assert out.shape == (5, 6, 1)
    assert_values(out[:, :, 0], np.asarray(Image.fromarray(a[:, :, 0]).resize((6, 5), 2)))


# ------------------------------------------------------------------------ crops, pads, flips


def test_crop_center_crop_and_flips_tensor():
    a = rimg((2, 3, 7, 9))
    x = rt(a)
    assert_values(to_np(F.crop(x, 1, 2, 4, 5)), a[..., 1:5, 2:7], rtol=0, atol=0)
    # out-of-bounds boxes are zero-padded
    ref = np.zeros((2, 3, 5, 6), np.float32)
    ref[..., 2:5, 3:6] = a[..., 0:3, 0:3]
    assert_values(to_np(F.crop(x, -2, -3, 5, 6)), ref, rtol=0, atol=0)
    ref = np.zeros((2, 3, 4, 4), np.float32)
    ref[..., :2, :2] = a[..., 5:7, 7:9]
    assert_values(to_np(F.crop(x, 5, 7, 4, 4)), ref, rtol=0, atol=0)
    # centre crop: top = round((h - th) / 2)
    assert_values(to_np(F.center_crop(x, [4, 4])), a[..., 2:6, 2:6], rtol=0, atol=0)
    assert_values(to_np(T.CenterCrop(3)(x)), a[..., 2:5, 3:6], rtol=0, atol=0)
    big = to_np(F.center_crop(x, [10, 12]))  # padded (1 top, 2 bottom), (1 left, 2 right)
    ref = np.zeros((2, 3, 10, 12), np.float32)
    ref[..., 1:8, 1:10] = a
    assert_values(big, ref, rtol=0, atol=0)
    assert_values(to_np(F.hflip(x)), a[..., ::-1], rtol=0, atol=0)
    assert_values(to_np(F.vflip(x)), a[..., ::-1, :], rtol=0, atol=0)
    assert_values(to_np(T.RandomVerticalFlip(p=1.0)(x)), a[..., ::-1, :], rtol=0, atol=0)
    assert T.RandomVerticalFlip(p=0.0)(x) is x


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_tensor_numpy_pil(mode):
    a = rimg((3, 5, 6), dtype=np.uint8)
    widths = ((0, 0), (2, 3), (1, 4))  # top 2, bottom 3, left 1, right 4
    kw = {"constant_values": 9} if mode == "constant" else {}
    ref = np.pad(a, widths, mode=mode, **kw)
    out = F.pad(rt(a), [1, 2, 4, 3], fill=9, padding_mode=mode)
    assert str(out.dtype).endswith("uint8")
    assert_values(to_np(out), ref, rtol=0, atol=0)
    hwc = np.ascontiguousarray(a.transpose(1, 2, 0))
    out_np = T.Pad([1, 2, 4, 3], fill=9, padding_mode=mode)(hwc)
    assert_values(out_np, ref.transpose(1, 2, 0), rtol=0, atol=0)
    Image = pytest.importorskip("PIL.Image")
    out_pil = F.pad(Image.fromarray(hwc), [1, 2, 4, 3], fill=9, padding_mode=mode)
    assert_values(np.asarray(out_pil), ref.transpose(1, 2, 0), rtol=0, atol=0)


def test_pad_negative_and_errors():
    a = rimg((1, 6, 7))
    assert_values(to_np(F.pad(rt(a), [-1, 0, 2, -2])),
                  np.pad(a[:, :4, 1:], ((0, 0), (0, 0), (0, 2))), rtol=0, atol=0)
    assert_values(to_np(F.pad(rt(a), [-1, 1], padding_mode="edge")),
                  np.pad(a, ((0, 0), (1, 1), (0, 0)), mode="edge")[:, :, 1:-1], rtol=0, atol=0)
    with pytest.raises(ValueError, match="Padding size should be less than"):
        F.pad(rt(a), 6, padding_mode="reflect")
    with pytest.raises(ValueError, match="Padding mode should be either"):
        F.pad(rt(a), 1, padding_mode="wrap")
    with pytest.raises(ValueError, match="not a 3 element tuple"):
        F.pad(rt(a), (1, 2, 3))


# ----------------------------------------------------------------------- rotate / affine


def reference_grid_sample(torch, a, matrix, oh, ow, mode):
    """Independent reference: output pixel centres (x, y) relative to the output centre map
    through the inverse 2x3 ``matrix`` to input pixel coordinates; grid_sample in torch."""
    h, w = a.shape[-2:]
    ys, xs = np.meshgrid(np.arange(oh) + 0.5 - oh / 2, np.arange(ow) + 0.5 - ow / 2,
                         indexing="ij")
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    grid = np.stack([sx / (w / 2), sy / (h / 2)], axis=-1)[None]
    inp = torch.tensor(a).reshape(-1, *a.shape[-3:])
    out = torch.nn.functional.grid_sample(inp, torch.tensor(grid, dtype=inp.dtype).expand(
        inp.shape[0], oh, ow, 2), mode=mode, padding_mode="zeros", align_corners=False)
    return out.reshape(*a.shape[:-2], oh, ow).numpy()


def test_rotate_90_is_rot90():
    a = rimg((2, 3, 9, 9))
    out = F.rotate(rt(a), 90)
    assert_values(to_np(out), np.rot90(a, 1, axes=(-2, -1)), rtol=0, atol=0)
    b = rimg((3, 8, 12), seed=1)
    out = F.rotate(rt(b), -90, expand=True)
    assert tuple(out.shape) == (3, 12, 8)
    assert_values(to_np(out), np.rot90(b, -1, axes=(-2, -1)), rtol=0, atol=0)
    # expand: the bounding box of the rotated corners, each side rounded outwards from the
    # image centre (torchvision's tensor rule; odd sides grow by one pixel)
    half = (8 * math.cos(math.pi / 4) + 12 * math.sin(math.pi / 4)) / 2
    ow = math.ceil(6 + half) - math.floor(6 - half)  # x centre w/2 = 6
    oh = math.ceil(4 + half) - math.floor(4 - half)  # y centre h/2 = 4
    assert tuple(F.rotate(rt(b), 45, expand=True).shape) == (3, oh, ow)
    assert tuple(F.rotate(rt(b[:, :7]), 90, expand=True).shape) == (3, 13, 8)
    out = F.rotate(rt(b), 180, fill=[0.5])
    assert_values(to_np(out), b[:, ::-1, ::-1], rtol=0, atol=0)


@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
def test_rotate_matches_grid_sample_reference(interp):
    torch = need_torch()
    a = rimg((3, 11, 14), seed=2)
    angle = 33.0
    out = F.rotate(rt(a), angle, interpolation=InterpolationMode(interp))
    r = math.radians(angle)  # inverse of a counter-clockwise rotation in image coordinates
    matrix = [math.cos(r), -math.sin(r), 0.0, math.sin(r), math.cos(r), 0.0]
    ref = reference_grid_sample(torch, a, matrix, 11, 14, interp)
    diff = np.abs(to_np(out) - ref)
    if interp == "nearest":  # a pixel centre exactly on a cell boundary may round either way
        assert (diff > 1e-5).mean() < 0.01
    else:
        assert diff.max() < 1e-4
    # rotation about a custom centre (pixel coordinates): the pixel centred there stays put,
    # the image centre does not
    c = rimg((1, 9, 9), seed=4)
    out = to_np(F.rotate(rt(c), 77, center=[2.5, 3.5], interpolation=InterpolationMode.BILINEAR))
    assert abs(out[0, 3, 2] - c[0, 3, 2]) < 1e-5
    assert abs(out[0, 4, 4] - c[0, 4, 4]) > 1e-3


def test_rotate_fill_and_uint8():
    a = np.full((3, 8, 8), 100, np.uint8)
    out = to_np(F.rotate(rt(a), 45, fill=[10, 20, 30]))
    assert str(F.rotate(rt(a), 45).dtype).endswith("uint8")
    corner = out[:, 0, 0]
    assert_values(corner, np.array([10, 20, 30], np.uint8), rtol=0, atol=0)
    assert (out[:, 4, 4] == 100).all()
    with pytest.raises(ValueError, match="'bicubic' is unsupported with Tensor input"):
        F.rotate(rt(a), 10, interpolation=InterpolationMode.BICUBIC)
    with pytest.raises(ValueError, match="number of elements in 'fill' cannot broadcast"):
        F.rotate(rt(a), 10, fill=[1, 2])


def test_affine_matches_reference_and_translation():
    torch = need_torch()
    a = rimg((2, 10, 13), seed=5)
    # pure integer translation with nearest sampling: a shift with zero fill
    out = to_np(F.affine(rt(a), angle=0, translate=[2, -1], scale=1.0, shear=0))
    ref = np.zeros_like(a)
    ref[:, 0:9, 2:13] = a[:, 1:10, 0:11]
    assert_values(out, ref, rtol=0, atol=0)
    # rotation + scale + shear: torchvision documents the forward map about the centre as
    # T * C * RSS * C^-1 with RSS = R(angle) * S(scale) * SHy(shear_y) * SHx(shear_x),
    # SHx(s) = [[1, -tan s], [0, 1]] and SHy(s) = [[1, 0], [-tan s, 1]]
    angle, scale, shear = 20.0, 1.2, (10.0, -5.0)
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    rs = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    shy = np.array([[1.0, 0.0], [-math.tan(sy), 1.0]])
    shx = np.array([[1.0, -math.tan(sx)], [0.0, 1.0]])
    fwd = scale * rs @ shy @ shx
    inv = np.linalg.inv(fwd)
    t = np.array([1.0, 2.0])
    off = -inv @ t
    matrix = [inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1]]
    out = F.affine(rt(a), angle=angle, translate=[1, 2], scale=scale, shear=list(shear),
                   interpolation=InterpolationMode.BILINEAR)
    ref = reference_grid_sample(torch, a, matrix, 10, 13, "bilinear")
    assert np.abs(to_np(out) - ref).max() < 1e-4
    with pytest.raises(ValueError, match="Argument scale should be positive"):
        F.affine(rt(a), 0, [0, 0], 0.0, 0)
    with pytest.raises(ValueError, match="translate should be a sequence of length 2"):
        F.affine(rt(a), 0, [0], 1.0, 0)


def test_rotate_affine_pil_and_numpy():
    Image = pytest.importorskip("PIL.Image")
    a = rimg((12, 15, 3), dtype=np.uint8)
    pil = Image.fromarray(a)
    ref = pil.rotate(30, Image.BILINEAR, expand=True, fillcolor=(1, 2, 3))
    out = F.rotate(pil, 30, InterpolationMode.BILINEAR, expand=True, fill=[1, 2, 3])
    assert out.size == ref.size
    assert_values(np.asarray(out), np.asarray(ref), rtol=0, atol=0)
    assert_values(F.rotate(a, 30, InterpolationMode.BILINEAR, expand=True, fill=[1, 2, 3]),
                  np.asarray(ref), rtol=0, atol=0)
    # affine translation on PIL is a pure shift, like the tensor path
    out = np.asarray(F.affine(pil, 0, [3, 2], 1.0, 0.0))
    ref = np.zeros_like(a)
    ref[2:, 3:] = a[:-2, :-3]
    assert_values(out, ref, rtol=0, atol=0)
    t = to_np(F.affine(rt(a.transpose(2, 0, 1)), 0, [3, 2], 1.0, 0.0))
    assert_values(t.transpose(1, 2, 0), ref, rtol=0, atol=0)


# ------------------------------------------------------------------------------ colour


def gray_ref(a):
    return 0.2989 * a[..., 0, :, :] + 0.587 * a[..., 1, :, :] + 0.114 * a[..., 2, :, :]


def test_grayscale_brightness_contrast_saturation_float():
    a = rimg((2, 3, 6, 7), seed=7)
    x = rt(a)
    g = gray_ref(a)[..., None, :, :]
    assert_values(to_np(F.rgb_to_grayscale(x)), g, rtol=1e-6, atol=1e-6)
    g3 = to_np(T.Grayscale(3)(x))
    assert g3.shape == a.shape and np.allclose(g3, np.repeat(g, 3, axis=-3), atol=1e-6)
    assert_values(to_np(F.adjust_brightness(x, 1.7)), np.clip(1.7 * a, 0, 1), rtol=1e-6,
                  atol=1e-6)
    mean = g.mean(axis=(-3, -2, -1), keepdims=True)
    assert_values(to_np(F.adjust_contrast(x, 0.4)), np.clip(0.4 * a + 0.6 * mean, 0, 1),
                  rtol=1e-5, atol=1e-6)
    assert_values(to_np(F.adjust_saturation(x, 2.5)), np.clip(2.5 * a - 1.5 * g, 0, 1),
                  rtol=1e-5, atol=1e-6)
    one = rt(a[:, :1])
    assert F.adjust_saturation(one, 0.3) is one and F.adjust_hue(one, 0.2) is one
    with pytest.raises(ValueError, match=r"brightness_factor \(-1\) is not non-negative"):
        F.adjust_brightness(x, -1)
    with pytest.raises(TypeError, match="permitted channel values are"):
        F.adjust_contrast(rt(rimg((2, 4, 4))), 0.5)


def test_colour_uint8_truncates_like_torchvision():
    a = rimg((3, 5, 6), dtype=np.uint8, seed=8)
    x = rt(a)
    af = a.astype(np.float32)
    g = (np.float32(0.2989) * af[0] + np.float32(0.587) * af[1]
         + np.float32(0.114) * af[2]).astype(np.uint8)
    out = to_np(F.rgb_to_grayscale(x))
    assert out.dtype == np.uint8 and np.abs(out[0].astype(int) - g).max() <= 1
    out = to_np(F.adjust_brightness(x, 1.3))
    assert_values(out, np.clip(np.float32(1.3) * af, 0, 255).astype(np.uint8), rtol=0, atol=1)
    mean = to_np(F.rgb_to_grayscale(x)).astype(np.float32).mean()
    out = to_np(F.adjust_contrast(x, 0.5))
    assert_values(out, np.clip(0.5 * af + 0.5 * mean, 0, 255).astype(np.uint8), rtol=0, atol=1)


def hue_ref(a, factor):
    out = np.empty_like(a)
    for i in range(a.shape[1]):
        for j in range(a.shape[2]):
            h, s, v = colorsys.rgb_to_hsv(*a[:, i, j])
            out[:, i, j] = colorsys.hsv_to_rgb((h + factor) % 1.0, s, v)
    return out


@pytest.mark.parametrize("factor", [0.0, 0.13, -0.4, 0.5])
def test_adjust_hue_matches_colorsys(factor):
    a = rimg((3, 6, 5), seed=9)
    a[:, 0, 0] = 0.5  # a gray pixel (undefined hue)
    a[:, 0, 1] = [1.0, 0.0, 0.0]
    out = to_np(F.adjust_hue(rt(a), factor))
    assert_values(out, hue_ref(a.astype(np.float64), factor).astype(np.float32), rtol=1e-5,
                  atol=2e-6)
    u = (a * 255).astype(np.uint8)
    out_u = to_np(F.adjust_hue(rt(u), factor))
    ref_u = hue_ref(u.astype(np.float64) / 255, factor) * 255.999
    assert out_u.dtype == np.uint8 and np.abs(out_u.astype(int) - ref_u.astype(int)).max() <= 1
    with pytest.raises(ValueError, match=r"hue_factor \(0.6\) is not in \[-0.5, 0.5\]"):
        F.adjust_hue(rt(a), 0.6)


def test_colour_pil_and_numpy_match_pil():
    Image = pytest.importorskip("PIL.Image")
    ImageEnhance = pytest.importorskip("PIL.ImageEnhance")
    a = rimg((9, 8, 3), dtype=np.uint8, seed=10)
    pil = Image.fromarray(a)
    cases = [(F.adjust_brightness, ImageEnhance.Brightness, 1.4),
             (F.adjust_contrast, ImageEnhance.Contrast, 0.6),
             (F.adjust_saturation, ImageEnhance.Color, 1.8)]
    for fn, enh, f in cases:
        ref = np.asarray(enh(pil).enhance(f))
        assert_values(np.asarray(fn(pil, f)), ref, rtol=0, atol=0)
        assert_values(fn(a, f), ref, rtol=0, atol=0)
    h, s, v = pil.convert("HSV").split()
    hh = (np.asarray(h).astype(np.int32) + int(-0.2 * 255)) % 256
    ref = Image.merge("HSV", (Image.fromarray(hh.astype(np.uint8)), s, v)).convert("RGB")
    assert_values(np.asarray(F.adjust_hue(pil, -0.2)), np.asarray(ref), rtol=0, atol=0)
    assert_values(F.rgb_to_grayscale(a), np.asarray(pil.convert("L")), rtol=0, atol=0)
    assert F.rgb_to_grayscale(pil, 3).mode == "RGB"


# ------------------------------------------------------------------ dtype conversions, PIL


def test_convert_image_dtype():
    u = np.array([[[0, 1, 128, 255]]], np.uint8)
    out = F.convert_image_dtype(rt(u), rustorch.float32)
    assert_values(to_np(out), u.astype(np.float32) / 255, rtol=1e-7, atol=0)
    f = np.array([[[0.0, 0.5, 0.999, 1.0]]], np.float32)
    out = T.ConvertImageDtype(rustorch.uint8)(rt(f))
    assert_values(to_np(out), (f * np.float32(255.999)).astype(np.uint8), rtol=0, atol=0)
    assert to_np(out).tolist() == [[[0, 127, 255, 255]]]
    i32 = to_np(F.convert_image_dtype(rt(u), rustorch.int32))
    assert i32.dtype == np.int32 and i32.tolist() == [[[0, 1 << 23, 128 << 23, 255 << 23]]]
    back = to_np(F.convert_image_dtype(rustorch.tensor(i32), rustorch.uint8))
    assert back.tolist() == u.tolist()
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        F.convert_image_dtype(rt(f), rustorch.int64)


def test_pil_tensor_round_trips():
    Image = pytest.importorskip("PIL.Image")
    a = rimg((5, 4, 3), dtype=np.uint8, seed=11)
    for arr, mode in ((a, "RGB"), (a[:, :, 0], "L"), (np.dstack([a, a[:, :, :1]]), "RGBA"),
                      (a[:, :, :2], "LA")):
        pil = Image.fromarray(arr) if mode != "LA" else Image.fromarray(arr, "LA")
        t = T.PILToTensor()(pil)
        chw = arr[:, :, None] if arr.ndim == 2 else arr
        assert str(t.dtype).endswith("uint8")
        assert_values(to_np(t), chw.transpose(2, 0, 1), rtol=0, atol=0)
        back = T.ToPILImage()(t)
        assert back.mode == mode and (np.asarray(back) == np.asarray(pil)).all()
        ft = T.ToTensor()(pil)
        assert_values(to_np(ft), chw.transpose(2, 0, 1).astype(np.float32) / 255, rtol=1e-7)
    # float tensors are mul(255) and truncated
    f = rt(np.array([[[0.0, 0.5, 0.999, 1.0]]], np.float32))
    assert np.asarray(F.to_pil_image(f)).tolist() == [[0, 127, 254, 255]]
    assert F.to_pil_image(f, mode="F").mode == "F"
    assert F.to_pil_image(rt(rimg((3, 2, 2))), mode="HSV").mode == "HSV"
    binary = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")
    assert to_np(F.to_tensor(binary)).tolist() == [[[0.0, 1.0]]]
    with pytest.raises(ValueError, match="pic should not have > 4 channels"):
        F.to_pil_image(rustorch.zeros(5, 2, 2))
    with pytest.raises(ValueError, match=r"Only modes \['RGB', 'YCbCr', 'HSV'\]"):
        F.to_pil_image(rustorch.zeros(3, 2, 2), mode="RGBA")
    with pytest.raises(TypeError, match="pic should be PIL Image"):
        F.pil_to_tensor(a)


def test_import_and_tensor_ops_without_pillow():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'PIL' or name.startswith('PIL.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, rustorch\n"
        "from rustorch.vision import transforms as T, utils, io, datasets\n"
        "x = T.Compose([T.ToTensor(), T.Resize(4), T.RandomRotation(5)])("
        "np.zeros((8, 8, 3), np.uint8))\n"
        "assert tuple(x.shape) == (3, 4, 4)\n"
        "assert T.functional.hflip(np.zeros((2, 3), np.uint8)).shape == (2, 3)\n"
        "try:\n"
        "    T.ToPILImage()(x)\n"
        "except ImportError as e:\n"
        "    assert 'pip install pillow' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "try:\n"
        "    T.functional.resize(np.zeros((8, 8), np.uint8), 4)\n"
        "except ImportError as e:\n"
        "    assert 'resize on a NumPy image needs Pillow' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "print('ok')\n"
    )
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(rustorch.__file__))] + sys.path)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


# ---------------------------------------------------------------------- random transforms


def test_random_resized_crop_params_and_output():
    img = rustorch.zeros(3, 40, 60)
    rustorch.manual_seed(0)
    params = [T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
              for _ in range(200)]
    rustorch.manual_seed(0)
    again = [T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
             for _ in range(200)]
    assert params == again
    for i, j, h, w in params:
        assert 0 <= i <= 40 - h and 0 <= j <= 60 - w
        assert 0.08 * 2400 * 0.8 <= h * w <= 2400
        assert 3 / 4 * 0.8 <= w / h <= 4 / 3 * 1.25
    assert len({p for p in params}) > 150
    # impossible scale: centre-crop fallback clamped to the ratio range
    assert T.RandomResizedCrop.get_params(img, (5.0, 6.0), (0.5, 1.0)) == (0, 10, 40, 40)
    assert T.RandomResizedCrop.get_params(img, (5.0, 6.0), (1.0, 2.0)) == (0, 0, 40, 60)
    a = rimg((3, 40, 60), seed=12)
    rustorch.manual_seed(3)
    out = T.RandomResizedCrop((10, 12))(rt(a))
    rustorch.manual_seed(3)
    i, j, h, w = T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
    ref = F.resize(rt(a[:, i:i + h, j:j + w]), [10, 12])
    assert tuple(out.shape) == (3, 10, 12)
    assert_values(to_np(out), to_np(ref), rtol=0, atol=0)


def test_color_jitter_is_seeded_composition():
    a = rimg((3, 8, 9), seed=13)
    jitter = T.ColorJitter(brightness=0.5, contrast=(0.5, 1.5), saturation=0.3, hue=0.2)
    assert jitter.brightness == (0.5, 1.5) and jitter.hue == (-0.2, 0.2)
    assert T.ColorJitter(brightness=0).brightness is None
    rustorch.manual_seed(5)
    out = jitter(rt(a))
    rustorch.manual_seed(5)
    order, b, c, s, h = T.ColorJitter.get_params(jitter.brightness, jitter.contrast,
                                                 jitter.saturation, jitter.hue)
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert 0.5 <= b <= 1.5 and 0.5 <= c <= 1.5 and 0.7 <= s <= 1.3 and -0.2 <= h <= 0.2
    ref = rt(a)
    fns = {0: (F.adjust_brightness, b), 1: (F.adjust_contrast, c),
           2: (F.adjust_saturation, s), 3: (F.adjust_hue, h)}
    for k in order.tolist():
        fn, f = fns[k]
        ref = fn(ref, f)
    assert_values(to_np(out), to_np(ref), rtol=0, atol=0)
    with pytest.raises(ValueError, match="hue values should be between"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="If brightness is a single number, it must be non neg"):
        T.ColorJitter(brightness=-1)


def test_random_rotation_and_affine():
    a = rimg((3, 10, 10), seed=14)
    x = rt(a)
    out = T.RandomRotation((30, 30), interpolation=InterpolationMode.BILINEAR)(x)
    assert_values(to_np(out), to_np(F.rotate(x, 30, InterpolationMode.BILINEAR, fill=0.0)),
                  rtol=0, atol=0)
    rustorch.manual_seed(1)
    angles = [T.RandomRotation.get_params([-10.0, 20.0]) for _ in range(300)]
    assert min(angles) >= -10 and max(angles) <= 20 and abs(np.mean(angles) - 5) < 1.5
    with pytest.raises(ValueError, match="If degrees is a single number, it must be positive"):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match="degrees should be a sequence of length 2"):
        T.RandomRotation([1, 2, 3])
    rustorch.manual_seed(2)
    for _ in range(50):
        angle, (tx, ty), sc, (shx, shy) = T.RandomAffine.get_params(
            [-5.0, 5.0], (0.2, 0.1), (0.8, 1.2), [-3.0, 3.0, -2.0, 2.0], [40, 30])
        assert -5 <= angle <= 5 and abs(tx) <= 8 and abs(ty) <= 3
        assert 0.8 <= sc <= 1.2 and abs(shx) <= 3 and abs(shy) <= 2
    aff = T.RandomAffine(0, translate=(0.3, 0.3))
    rustorch.manual_seed(4)
    out = aff(x)
    rustorch.manual_seed(4)
    _, (tx, ty), _, _ = T.RandomAffine.get_params([0.0, 0.0], (0.3, 0.3), None, None, [10, 10])
    assert_values(to_np(out), to_np(F.affine(x, 0, [tx, ty], 1.0, 0.0, fill=0.0)),
                  rtol=0, atol=0)
    with pytest.raises(ValueError, match="translation values should be between 0 and 1"):
        T.RandomAffine(0, translate=(2, 0))
    with pytest.raises(ValueError, match="shear should be a sequence of length 2 or 4"):
        T.RandomAffine(0, shear=[1, 2, 3])


def test_random_erasing():
    a = rimg((3, 20, 24), seed=15)
    x = rt(a)
    rustorch.manual_seed(6)
    out = to_np(T.RandomErasing(p=1.0, value=(0.1, 0.2, 0.3))(x))
    changed = np.any(out != a, axis=0)
    rows, cols = np.nonzero(changed)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert changed.sum() == h * w  # one rectangle
    assert 0.02 * 480 * 0.7 <= h * w <= 0.33 * 480 * 1.3
    box = out[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert_values(box, np.broadcast_to(np.array([0.1, 0.2, 0.3], np.float32)[:, None, None],
                                       box.shape), rtol=0, atol=0)
    assert_values(to_np(x), a, rtol=0, atol=0)  # not in place
    assert T.RandomErasing(p=0.0)(x) is x
    rustorch.manual_seed(7)
    rnd = to_np(T.RandomErasing(p=1.0, value="random")(x))
    diff = rnd != a
    assert diff.any() and abs(rnd[diff].mean()) < 0.5  # standard normal noise
    same = rt(a.copy())
    T.RandomErasing(p=1.0, inplace=True)(same)
    assert (to_np(same) == 0).any()
    assert_values(to_np(F.erase(x, 1, 2, 3, 4, 0.0))[:, 1:4, 2:6], np.zeros((3, 3, 4)))
    with pytest.raises(ValueError, match="either a single value or 3"):
        T.RandomErasing(p=1.0, value=(1, 2))(x)
    with pytest.raises(ValueError, match="If value is str, it should be 'random'"):
        T.RandomErasing(value="noise")
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        F.erase(a, 0, 0, 1, 1, 0.0)


def test_random_containers_and_grayscale():
    x = rt(rimg((3, 4, 5), seed=16))
    add1, mul2 = T.Lambda(lambda t: t + 1), T.Lambda(lambda t: t * 2)
    assert_values(to_np(T.RandomApply([add1, mul2], p=1.0)(x)), (to_np(x) + 1) * 2)
    assert T.RandomApply([add1], p=0.0)(x) is x
    rustorch.manual_seed(8)
    picks = [float(T.RandomChoice([T.Lambda(lambda t: 0.0), T.Lambda(lambda t: 1.0)],
                                  p=[0.2, 0.8])(x)) for _ in range(400)]
    assert 0.7 < np.mean(picks) < 0.9
    rustorch.manual_seed(9)
    orders = set()
    for _ in range(60):
        log: list[int] = []
        T.RandomOrder([T.Lambda(lambda t, k=k, log=log: log.append(k)) for k in range(3)])(x)
        orders.add(tuple(log))
    assert len(orders) == 6
    with pytest.raises(ValueError, match="Length of p doesn't match"):
        T.RandomChoice([add1], p=[0.5, 0.5])
    g = to_np(T.RandomGrayscale(p=1.0)(x))
    assert g.shape == (3, 4, 5) and np.allclose(g[0], g[1])
    assert T.RandomGrayscale(p=0.0)(x) is x


def test_compose_pipeline_on_dataset_style_arrays():
    img = rimg((28, 28), dtype=np.uint8, seed=17)
    pipe = T.Compose([T.ToTensor(), T.Pad(2), T.RandomCrop(28), T.RandomHorizontalFlip(),
                      T.Resize(14), T.Normalize((0.5,), (0.5,))])
    rustorch.manual_seed(10)
    a = to_np(pipe(img))
    rustorch.manual_seed(10)
    b = to_np(pipe(img))
    assert a.shape == (1, 14, 14) and np.array_equal(a, b)
    assert a.min() >= -1.0 - 1e-6 and a.max() <= 1.0 + 1e-6
    r = repr(T.Compose([T.RandomErasing(), T.ColorJitter(0.1)]))
    assert "RandomErasing(p=0.5, scale=(0.02, 0.33)" in r
    assert "ColorJitter(brightness=(0.9, 1.1), contrast=None" in r


def test_functional_with_no_warnings_on_common_paths():
    x = rt(rimg((3, 9, 9)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.rotate(x, 10)
        F.affine(x, 5, [1, 1], 1.1, 2.0)
        F.resize(x, 5)
