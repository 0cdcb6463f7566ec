"""Convolutions against PyTorch: ``F.conv1d/2d/3d``, ``F.conv_transpose1d/2d/3d`` and the
``nn.Conv*d`` / ``nn.ConvTranspose*d`` modules.

Forward values and the gradients of input, weight and bias are compared in float64 (1e-10
relative) and float32 (1e-5) over strides, paddings (ints, tuples, ``'same'`` with even
kernels, ``'valid'``), dilations, groups (depthwise included), unbatched inputs and
non-contiguous / channels-last views; finite-difference gradcheck and gradgradcheck in
float64; modules from PyTorch's weights (same outputs), with PyTorch's state-dict keys,
``repr``, initialisation bounds and error messages.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import LIB_NAME, current_device, need_torch, rt, to_np

pytestmark = pytest.mark.usefixtures("device")

if not hasattr(rt, "nn") or not hasattr(rt.nn, "Conv2d"):
    pytest.skip(f"{LIB_NAME} has no convolution modules", allow_module_level=True)

nn = rt.nn
F = rt.nn.functional

# (rtol, atol) per dtype: float64 to 1e-10 relative, float32 to 1e-5.
TOL = {"float64": (1e-10, 1e-11), "float32": (1e-5, 1e-5)}


# ---------------------------------------------------------------------------- helpers


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _leaf(lib, arr, dtype, device, layout, requires_grad):
    """``(leaf, value)``: ``value`` holds ``arr`` in the memory ``layout`` over ``leaf``.

    ``channels_last`` stores the channel dim (1) last and permutes back; ``strided`` takes
    every other element of a twice-as-wide last dim; ``transposed`` swaps the last two.
    """
    dt = getattr(lib, dtype)
    arr = np.asarray(arr)
    nd = arr.ndim
    if layout == "contiguous" or nd < 2:
        leaf = lib.tensor(arr, dtype=dt, device=device).requires_grad_(requires_grad)
        return leaf, leaf
    if layout == "channels_last":
        order = (0, *range(2, nd), 1)
        leaf = lib.tensor(np.ascontiguousarray(arr.transpose(order)), dtype=dt, device=device)
        leaf.requires_grad_(requires_grad)
        back = [0] * nd
        for i, o in enumerate(order):
            back[o] = i
        return leaf, leaf.permute(*back)
    if layout == "strided":
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],))
        big[..., ::2] = arr
        big[..., 1::2] = 1e3  # junk in the gaps, so reading them shows
        leaf = lib.tensor(big, dtype=dt, device=device).requires_grad_(requires_grad)
        return leaf, leaf[..., ::2]
    if layout == "transposed":
        leaf = lib.tensor(np.ascontiguousarray(np.swapaxes(arr, -1, -2)), dtype=dt, device=device)
        leaf.requires_grad_(requires_grad)
        return leaf, leaf.transpose(-1, -2)
    raise ValueError(layout)


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _close(a, b, dtype, msg):
    rtol, atol = TOL[dtype]
    assert tuple(a.shape) == tuple(b.shape), f"{msg}: shape {tuple(a.shape)} != {tuple(b.shape)}"
    assert str(a.dtype).rsplit(".", 1)[-1] == str(b.dtype).rsplit(".", 1)[-1], msg
    an, bn = to_np(a), to_np(b)
    if bn.dtype.kind in "fc":
        np.testing.assert_allclose(an, bn, rtol=rtol, atol=atol, err_msg=msg)
    else:
        np.testing.assert_array_equal(an, bn, err_msg=msg)


def compare(fn, arrays, dtype="float64", grad=True, layouts=None, seed=7):
    """Run ``fn(lib, *tensors)`` in the library under test (on the test's device) and in
    PyTorch, on tensors holding ``arrays`` (``None`` passes through); compare every output
    and, with ``grad``, the gradients of every tensor input for a random upstream gradient.
    ``layouts`` gives each input's memory layout (default: contiguous)."""
    torch = need_torch()
    layouts = layouts or ["contiguous"] * len(arrays)
    results = {}
    for lib, device in ((rt, current_device()), (torch, "cpu")):
        leaves, values = [], []
        for a, lay in zip(arrays, layouts):
            if a is None:
                leaves.append(None)
                values.append(None)
                continue
            leaf, val = _leaf(lib, a, dtype, device, lay, grad)
            leaves.append(leaf)
            values.append(val)
        out = fn(lib, *values)
        if grad:
            rng = np.random.default_rng(seed)
            total = None
            for o in _flat(out):
                if not o.dtype.is_floating_point:
                    continue
                g = lib.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype, device=device)
                term = (o * g).sum()
                total = term if total is None else total + term
            total.backward()
        results[lib] = (out, leaves)
    (ours, our_leaves), (theirs, their_leaves) = results[rt], results[torch]
    ours, theirs = _flat(ours), _flat(theirs)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        _close(a, b, dtype, f"output {i}")
    if grad:
        for i, (a, b) in enumerate(zip(our_leaves, their_leaves)):
            if b is None:
                continue
            assert a.grad is not None, f"input {i} got no gradient"
            _close(a.grad, b.grad, dtype, f"grad of input {i}")
    return ours


def _sorted_sets(text):
    """Set literals in a message with their items sorted (a set's printed order depends on
    the interpreter's string hashes when the module was compiled)."""
    return re.sub(
        r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", text
    )


def expect_torch_error(fn, exc=None):
    """Assert the library raises PyTorch's exception type and message for ``fn(lib)``.

    PyTorch's own message is the reference (with its library name replaced by ours)."""
    torch = need_torch()
    with pytest.raises(Exception) as theirs:
        fn(torch)
    etype = exc or type(theirs.value)
    assert isinstance(theirs.value, etype)
    with pytest.raises(etype) as ours:
        fn(rt)
    expected = str(theirs.value).replace("torch.", f"{LIB_NAME}.")
    assert _sorted_sets(str(ours.value)) == _sorted_sets(expected)


def _x(*shape, seed=0, device="cpu"):
    return rt.tensor(_arr(*shape, seed=seed), dtype=rt.float64, device=device, requires_grad=True)


# ---------------------------------------------------------------------------- F.conv*d

CONV_CASES = [
    # (input shape, weight shape, kwargs)
    ((2, 4, 11), (6, 4, 3), dict(stride=2, padding=1)),
    ((2, 4, 11), (6, 2, 4), dict(padding="same", dilation=2, groups=2)),
    ((3, 2, 9), (5, 2, 3), dict(padding="valid", dilation=3)),
    ((2, 4, 10), (4, 1, 5), dict(groups=4, padding=(2,))),
    ((2, 3, 9, 8), (5, 3, 3, 3), {}),
    ((2, 3, 9, 8), (5, 3, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ((2, 4, 7, 7), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ((2, 4, 7, 6), (8, 1, 3, 3), dict(groups=4, stride=2, padding=1)),  # depthwise
    ((2, 3, 5, 6), (5, 3, 1, 1), {}),  # pointwise
    ((2, 3, 7, 6), (5, 3, 1, 1), dict(stride=2)),
    ((1, 3, 8, 7), (4, 3, 4, 2), dict(padding="same", dilation=(1, 3))),  # even kernels
    ((2, 2, 6, 7), (3, 2, 3, 5), dict(padding="same")),
    ((2, 2, 6, 7), (3, 2, 3, 5), dict(padding="valid", stride=(1, 2))),
    ((1, 2, 9, 9), (3, 2, 5, 5), dict(padding=2, stride=3)),
    ((1, 1, 13, 11), (2, 1, 3, 3), dict(padding=(0, 3), dilation=(3, 1), stride=(2, 3))),
    ((1, 2, 5, 6, 4), (4, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 0, 1))),
    ((2, 4, 5, 4, 5), (2, 2, 2, 3, 2), dict(groups=2, dilation=2, padding="same")),
    ((1, 3, 4, 5, 6), (3, 1, 3, 3, 3), dict(groups=3, stride=2, padding=1)),
]


def _conv_fn(nd):
    return lambda lib, x, w, b, **kw: getattr(lib.nn.functional, f"conv{nd}d")(x, w, b, **kw)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_conv_matches_torch(case, dtype):
    xs, ws, kw = case
    nd = len(xs) - 2
    x, w, b = _arr(*xs), _arr(*ws, seed=1), _arr(ws[0], seed=2)
    fn = _conv_fn(nd)
    compare(lambda lib, x, w, b: fn(lib, x, w, b, **kw), [x, w, b], dtype)


@pytest.mark.parametrize("case", CONV_CASES[::3], ids=lambda c: f"{c[0]}-{c[1]}")
def test_conv_without_bias(case):
    xs, ws, kw = case
    fn = _conv_fn(len(xs) - 2)
    compare(lambda lib, x, w: fn(lib, x, w, None, **kw), [_arr(*xs), _arr(*ws, seed=1)])


@pytest.mark.parametrize(
    "xs, ws, kw",
    [
        ((4, 9), (6, 4, 3), dict(padding=1)),
        ((3, 7, 7), (5, 3, 3, 3), dict(stride=2)),
        ((4, 6, 5), (4, 1, 2, 2), dict(groups=4, padding="same")),
        ((2, 4, 4, 4), (3, 2, 2, 2, 2), {}),
    ],
)
def test_conv_unbatched_input(xs, ws, kw):
    fn = _conv_fn(len(xs) - 1)
    out = compare(
        lambda lib, x, w, b: fn(lib, x, w, b, **kw),
        [_arr(*xs), _arr(*ws, seed=1), _arr(ws[0], seed=2)],
    )
    assert out[0].dim() == len(xs)


@pytest.mark.parametrize("layout", ["channels_last", "strided", "transposed"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv2d_non_contiguous_inputs(layout, dtype):
    kw = dict(stride=(1, 2), padding=1, groups=2)
    compare(
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw),
        [_arr(2, 4, 7, 9), _arr(6, 2, 3, 3, seed=1), _arr(6, seed=2)],
        dtype,
        layouts=[layout, layout, "contiguous"],
    )


# Stride-1, single-group 2-D convolutions with few channels run on the CPU's direct kernel:
# LeNet's layers, output rows spanning several vectors with a partial last one, channel
# blocks with a remainder, a kernel as large as the input, padding on both axes, and a
# batch large enough to be split between threads (an odd number of images). Output
# channels filling one or two vectors (8, 16, 32: float64 and float32 lanes) with 3×3 and
# 5×5 kernels and at least 64 terms per output take the channel-vector forward and weight
# gradient, blocks of positions overlapping at the edges of odd-sized outputs.
DIRECT_CASES = [
    ((3, 3, 32, 32), (6, 3, 5, 5), {}),
    ((33, 4, 13, 15), (10, 4, 3, 5), dict(padding=(1, 2))),
    ((2, 6, 14, 14), (16, 6, 5, 5), {}),
    ((64, 6, 14, 14), (16, 6, 5, 5), {}),
    ((3, 8, 11, 13), (16, 8, 3, 3), dict(padding=1)),
    ((5, 8, 9, 8), (8, 8, 3, 3), {}),
    ((33, 3, 12, 11), (32, 3, 5, 5), dict(padding=2)),
    ((2, 5, 9, 37), (19, 5, 3, 4), dict(padding=(2, 1))),
    ((1, 1, 5, 3), (3, 1, 5, 3), {}),
    ((2, 2, 6, 17), (4, 2, 1, 1), dict(padding=1)),
]


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("case", DIRECT_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_direct_conv2d_matches_torch(case, layout):
    xs, ws, kw = case
    compare(
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw),
        [_arr(*xs), _arr(*ws, seed=1), _arr(ws[0], seed=2)],
        layouts=[layout, layout, "contiguous"],
    )


@pytest.mark.parametrize("cin,cout", [(3, 4), (8, 16)])
def test_direct_conv2d_infinite_input_gradients_match_torch(cin, cout):
    """An infinity at the start of an input row: the weight gradient has NaN and infinite
    entries exactly where PyTorch's does (the direct kernel's padded lanes must not spread
    it), with the positions across the lanes and with the channels."""
    x = _arr(2, cin, 12, 12)
    x[1, 2, 5, 0] = np.inf
    x[0, 1, 7, 3] = -np.inf
    compare(
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, padding=(0, 1)),
        [x, _arr(cout, cin, 3, 3, seed=1), _arr(cout, seed=2)],
    )


@pytest.mark.parametrize("padding", [0, 4])
def test_direct_conv2d_reads_batch_views_in_place(padding):
    """A batch sliced from a larger tensor is read where it lies (its layout is already the
    kernels'), and the kernels' reads run a few elements past its last image into the next
    one: NaNs there must not reach the output or the gradients."""
    torch = need_torch()
    full = _arr(7, 3, 16, 16)
    full[5:] = np.nan
    arrays = [_arr(6, 3, 5, 5, seed=1), _arr(6, seed=2)]
    up = _arr(5, 6, 12 + 2 * padding, 12 + 2 * padding, seed=3)
    results = {}
    for lib in (rt, torch):
        x = lib.tensor(full, requires_grad=True)
        w, b = (lib.tensor(a, requires_grad=True) for a in arrays)
        y = lib.nn.functional.conv2d(x[:5], w, b, padding=padding)
        (y * lib.tensor(up)).sum().backward()
        results[lib] = [to_np(v) for v in (y, x.grad, w.grad, b.grad)]
    for what, a, b in zip(["output", "input grad", "weight grad", "bias grad"], *results.values()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=what)
        assert np.isfinite(a).all(), what


@pytest.mark.parametrize("case", DIRECT_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_direct_conv2d_float32_against_float64(case):
    """Float32 output and gradients against PyTorch's float64 ones. (PyTorch's own float32
    weight gradient of LeNet's first layer is five times further from them than ours: a sum of
    thousands of terms, so comparing the two float32 results at 1e-5 tests round-off.)"""
    torch = need_torch()
    xs, ws, kw = case
    arrays = [_arr(*xs), _arr(*ws, seed=1), _arr(ws[0], seed=2)]
    up = _arr(*tuple(torch.nn.functional.conv2d(*map(torch.tensor, arrays), **kw).shape), seed=3)
    results = {}
    for lib, dt, device in ((rt, "float32", current_device()), (torch, "float64", "cpu")):
        dtype = getattr(lib, dt)
        ts = [lib.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
        y = lib.nn.functional.conv2d(*ts, **kw)
        (y * lib.tensor(up, dtype=y.dtype, device=device)).sum().backward()
        results[lib] = [to_np(v).astype(np.float64) for v in (y, *(t.grad for t in ts))]
    for what, a, b in zip(["output", "input grad", "weight grad", "bias grad"], *results.values()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6 * np.abs(b).max(), err_msg=what)


# Batches with enough tiles of images for the tiled im2col path on two threads (several
# images per tile, one image per tile, an uneven last tile), every dimensionality.
TILED_CASES = [
    ("conv2d", (37, 4, 11, 11), (7, 4, 3, 3), dict(stride=2, padding=1)),
    ("conv2d", (5, 3, 18, 18), (40, 3, 3, 3), {}),
    ("conv1d", (30, 3, 50), (4, 3, 5), dict(dilation=2, padding=3)),
    ("conv3d", (9, 2, 6, 7, 8), (3, 2, 3, 3, 3), dict(padding=1)),
    ("conv_transpose2d", (17, 6, 8, 8), (6, 4, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose1d", (60, 3, 20), (3, 5, 3), dict(stride=3, output_padding=1)),
    ("conv_transpose3d", (17, 2, 4, 4, 4), (2, 3, 3, 3, 3), dict(stride=2, padding=1)),
]


@pytest.mark.parametrize(
    "case,layout",
    [(c, lay) for c in TILED_CASES for lay in ("contiguous", "channels_last", "strided")
     if lay != "channels_last" or len(c[1]) == 4],  # channels_last is a 4-D layout
    ids=lambda v: v if isinstance(v, str) else f"{v[0]}-{v[1]}",
)
def test_tiled_convolutions_match_torch(case, layout):
    name, xs, ws, kw = case
    bias = ws[1] if name.startswith("conv_transpose") else ws[0]
    compare(
        lambda lib, x, w, b: getattr(lib.nn.functional, name)(x, w, b, **kw),
        [_arr(*xs), _arr(*ws, seed=1), _arr(bias, seed=2)],
        layouts=[layout, layout, "contiguous"],
    )


# 3×3 windows at unit stride with at least 16 channels each way, too many input channels
# for the direct kernels (over 32), and enough images to tile (four tiles or more):
# the CPU runs them by Winograd's F(4×4, 3×3) (forward and input gradient, planes of at
# least 8×8 outputs) or F(2×2, 3×3) (smaller planes, and the weight gradient), over odd
# output sizes (a last row or column of blocks cut short), paddings 0–2 (the input gradient
# pads by 2 − padding), an uneven last tile of images. Padding 3 and a 2-D stride are
# controls that take im2col.
WINOGRAD_CASES = [
    ("conv2d", (16, 33, 30, 30), (16, 33, 3, 3), dict(padding=1)),
    ("conv2d", (32, 34, 17, 23), (20, 34, 3, 3), {}),
    ("conv2d", (28, 40, 20, 19), (16, 40, 3, 3), dict(padding=2)),
    ("conv2d", (32, 33, 21, 20), (18, 33, 3, 3), dict(padding=(2, 0))),
    ("conv_transpose2d", (28, 16, 24, 24), (16, 36, 3, 3), dict(padding=1)),
    ("conv2d", (48, 33, 7, 7), (16, 33, 3, 3), dict(padding=1)),
    ("conv2d", (8, 33, 12, 12), (16, 33, 3, 3), dict(padding=3)),
    ("conv2d", (8, 33, 30, 30), (16, 33, 3, 3), dict(stride=(1, 2))),
    # 4×4 windows at stride 2 (F(2×2, 2×2) over the input's four parity phases), with
    # outputs of at least 16 a side; the last of them too small, a control.
    ("conv2d", (16, 5, 32, 32), (16, 5, 4, 4), dict(stride=2, padding=1)),
    ("conv2d", (16, 6, 35, 36), (17, 6, 4, 4), dict(stride=2, padding=(2, 1))),
    ("conv2d", (16, 5, 30, 31), (16, 5, 4, 4), dict(stride=2, padding=3)),
    ("conv_transpose2d", (16, 16, 16, 16), (16, 5, 4, 4), dict(stride=2, padding=1)),
    ("conv2d", (16, 5, 28, 28), (16, 5, 4, 4), dict(stride=2, padding=1)),
]


def _winograd_arrays(case):
    name, xs, ws, _ = case
    bias = ws[1] if name.startswith("conv_transpose") else ws[0]
    return [_arr(*xs), _arr(*ws, seed=1), _arr(bias, seed=2)]


@pytest.mark.parametrize(
    "case,layout",
    [(c, lay) for c in WINOGRAD_CASES for lay in ("contiguous", "channels_last", "strided")],
    ids=lambda v: v if isinstance(v, str) else f"{v[0]}-{v[1]}-{v[3]}",
)
def test_winograd_convolutions_match_torch(case, layout):
    name, _, _, kw = case
    compare(
        lambda lib, x, w, b: getattr(lib.nn.functional, name)(x, w, b, **kw),
        _winograd_arrays(case),
        layouts=[layout, layout, "contiguous"],
    )


@pytest.mark.parametrize("case", WINOGRAD_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[3]}")
def test_winograd_convolutions_float32_against_float64(case):
    """Float32 output and gradients against PyTorch's float64 ones, to 1e-5 relative with
    an absolute floor of 2e-6 of the largest value (the weight gradient sums thousands of
    products, so two float32 results differ by more than 1e-5 in their small elements)."""
    torch = need_torch()
    name, _, _, kw = case
    arrays = _winograd_arrays(case)
    results = {}
    for lib, dt, device in ((rt, "float32", current_device()), (torch, "float64", "cpu")):
        dtype = getattr(lib, dt)
        ts = [lib.tensor(a, dtype=dtype, device=device, requires_grad=True) for a in arrays]
        y = getattr(lib.nn.functional, name)(*ts, **kw)
        up = _arr(*tuple(y.shape), seed=3)
        (y * lib.tensor(up, dtype=y.dtype, device=device)).sum().backward()
        results[lib] = [to_np(v).astype(np.float64) for v in (y, *(t.grad for t in ts))]
    for what, a, b in zip(["output", "input grad", "weight grad", "bias grad"], *results.values()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6 * np.abs(b).max(), err_msg=what)


def test_winograd_convolution_with_non_finite_input_matches_torch():
    """An infinity and a NaN in the input: the transforms would spread them to
    neighbouring outputs, so the batch takes im2col and gives PyTorch's infinities and
    NaNs in the same places."""
    x = _arr(20, 33, 14, 14)
    x[1, 3, 5, 6] = np.inf
    x[16, 0, 0, 13] = np.nan
    compare(
        lambda lib, x, w: lib.nn.functional.conv2d(x, w, padding=1),
        [x, _arr(16, 33, 3, 3, seed=1)],
        grad=False,
    )


# One window over the whole input (a DCGAN discriminator's last layer, the transposed
# convolution its generator starts with): the patch matrix is the input reshaped.
WHOLE_WINDOW_CASES = [
    ("conv2d", (64, 32, 4, 4), (1, 32, 4, 4), {}),
    ("conv2d", (6, 8, 3, 5), (4, 4, 3, 5), dict(groups=2, stride=3)),
    ("conv1d", (7, 3, 6), (5, 3, 6), {}),
    ("conv3d", (3, 2, 2, 3, 2), (4, 2, 2, 3, 2), {}),
    ("conv_transpose2d", (64, 20, 1, 1), (20, 16, 4, 4), {}),
    ("conv_transpose2d", (5, 4, 1, 1), (4, 3, 3, 2), dict(groups=2, stride=2)),
    ("conv_transpose1d", (9, 3, 1), (3, 2, 5), {}),
    # Not whole: padding, or a window that does not cover the input.
    ("conv2d", (4, 3, 4, 4), (2, 3, 4, 4), dict(padding=1)),
    ("conv2d", (4, 3, 5, 4), (2, 3, 4, 4), {}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "case,layout",
    [(c, lay) for c in WHOLE_WINDOW_CASES for lay in ("contiguous", "strided")],
    ids=lambda v: v if isinstance(v, str) else f"{v[0]}-{v[1]}-{v[2]}",
)
def test_whole_window_convolutions_match_torch(case, layout, dtype):
    name, xs, ws, kw = case
    groups = kw.get("groups", 1)
    bias = ws[1] * groups if name.startswith("conv_transpose") else ws[0]
    compare(
        lambda lib, x, w, b: getattr(lib.nn.functional, name)(x, w, b, **kw),
        [_arr(*xs), _arr(*ws, seed=1), _arr(bias, seed=2)],
        dtype,
        layouts=[layout, layout, "contiguous"],
    )


def test_whole_window_convolutions_gradcheck_and_gradgradcheck():
    for fn, shapes in [
        (lambda x, w, b: F.conv2d(x, w, b), [(2, 3, 2, 3), (2, 3, 2, 3), (2,)]),
        (lambda x, w, b: F.conv_transpose2d(x, w, b), [(2, 3, 1, 1), (3, 2, 2, 2), (2,)]),
    ]:
        inputs = tuple(_x(*s, seed=i, device=current_device()) for i, s in enumerate(shapes))
        assert rt.autograd.gradcheck(fn, inputs)
        assert rt.autograd.gradgradcheck(fn, inputs)


def test_conv2d_tiled_over_the_batch_matches_torch():
    """A batch whose patch matrix exceeds the tile bound (41 MB per image in float64, 64 MiB
    per tile) runs image by image; outputs and gradients are those of one pass."""
    kw = dict(stride=(1, 2), padding=2, groups=2)
    compare(
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, **kw),
        [_arr(3, 16, 161, 160), _arr(4, 8, 5, 5, seed=1), _arr(4, seed=2)],
    )


def test_conv2d_empty_batch_gives_zero_gradients_as_torch():
    """An empty batch: an empty output and zero (not missing) weight and bias gradients."""
    compare(
        lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, padding=1),
        [np.zeros((0, 64, 9, 9)), _arr(8, 64, 3, 3, seed=1), _arr(8, seed=2)],
    )


def test_conv3d_channels_last_input():
    compare(
        lambda lib, x, w, b: lib.nn.functional.conv3d(x, w, b, padding=1),
        [_arr(2, 3, 4, 5, 3), _arr(4, 3, 3, 3, 3, seed=1), _arr(4, seed=2)],
        layouts=["channels_last", "channels_last", "contiguous"],
    )


def test_conv1d_expanded_batch_input():
    """An input expanded over the batch (stride 0) reads the same values per sample."""

    def fn(lib, x, w, b):
        return lib.nn.functional.conv1d(x.expand(3, 2, 8), w, b, padding=2)

    compare(fn, [_arr(1, 2, 8), _arr(4, 2, 5, seed=1), _arr(4, seed=2)])


def test_conv2d_result_of_larger_graph():
    """The conv sits inside a graph: its input is a computed view, its output is reused."""

    def fn(lib, x, w, b):
        h = lib.nn.functional.conv2d(x[:, :, 1:, ::2].tanh(), w, b, padding=1)
        return lib.nn.functional.conv2d(h.relu() * h, w.transpose(0, 1)[:, :3], None)

    compare(fn, [_arr(2, 3, 9, 12), _arr(3, 3, 3, 3, seed=1), _arr(3, seed=2)])


# ---------------------------------------------------------------------------- F.conv_transpose*d

TRANSPOSED_CASES = [
    ((2, 4, 5), (4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 6), (4, 2, 4), dict(groups=2, dilation=2, stride=3, output_padding=2)),
    ((2, 4, 5, 4), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2))),
    ((2, 4, 5, 5), (4, 3, 3, 3), dict(groups=2, stride=2, dilation=2, output_padding=1)),
    ((1, 3, 4, 6), (3, 1, 3, 3), dict(groups=3, padding=1)),
    ((2, 2, 3, 3), (2, 5, 1, 1), {}),
    ((1, 2, 3, 4, 3), (2, 2, 2, 2, 3), dict(stride=2, padding=1)),
    ((1, 4, 3, 2, 3), (4, 1, 3, 2, 2), dict(groups=2, stride=(1, 2, 2), output_padding=(0, 1, 1))),
]


def _convt_fn(nd):
    return lambda lib, x, w, b, **kw: getattr(lib.nn.functional, f"conv_transpose{nd}d")(
        x, w, b, **kw
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_conv_transpose_matches_torch(case, dtype):
    xs, ws, kw = case
    nd = len(xs) - 2
    groups = kw.get("groups", 1)
    fn = _convt_fn(nd)
    compare(
        lambda lib, x, w, b: fn(lib, x, w, b, **kw),
        [_arr(*xs), _arr(*ws, seed=1), _arr(ws[1] * groups, seed=2)],
        dtype,
    )


def test_conv_transpose_without_bias_unbatched_and_channels_last():
    fn = _convt_fn(2)
    compare(
        lambda lib, x, w: fn(lib, x, w, None, stride=2, padding=1),
        [_arr(3, 4, 5), _arr(3, 2, 3, 3, seed=1)],
    )
    compare(
        lambda lib, x, w, b: fn(lib, x, w, b, stride=2, output_padding=1),
        [_arr(2, 3, 4, 5), _arr(3, 2, 3, 3, seed=1), _arr(2, seed=2)],
        layouts=["channels_last", "strided", "contiguous"],
    )


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x, w), y> == <x, conv_transpose(y, w)> for the same options."""
    x, w, y = _arr(2, 3, 9, 8), _arr(4, 3, 3, 2, seed=1), _arr(2, 4, 5, 4, seed=2)
    kw = dict(stride=2, padding=1, dilation=(1, 2))
    X, W, Y = (rt.tensor(a, dtype=rt.float64, device=current_device()) for a in (x, w, y))
    lhs = (F.conv2d(X, W, None, **kw) * Y).sum().item()
    rhs = (X * F.conv_transpose2d(Y, W, None, output_padding=(0, 1), **kw)).sum().item()
    assert F.conv2d(X, W, None, **kw).shape == Y.shape
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


# ---------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), [(1, 2, 7), (3, 2, 3), (3,)]),
        (lambda x, w, b: F.conv2d(x, w, b, padding=(1, 0)), [(2, 2, 4, 5), (3, 2, 3, 2), (3,)]),
        (
            lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=(1, 2), groups=2),
            [(1, 4, 4, 5), (2, 2, 2, 2), (2,)],
        ),
        (
            lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1)),
            [(1, 1, 3, 4, 3), (2, 1, 2, 2, 2), (2,)],
        ),
        (
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
            [(1, 2, 3, 3), (2, 2, 3, 2), (2,)],
        ),
        (
            lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, groups=2, dilation=2),
            [(1, 2, 4), (2, 1, 3), (2,)],
        ),
        # Output channels filling one and two float64 vectors, with at least 64 terms per
        # output and outputs of a whole block: the channel-vector kernels on AVX-512 CPUs.
        (lambda x, w, b: F.conv2d(x, w, b), [(1, 3, 9, 10), (8, 3, 5, 5), (8,)]),
        (lambda x, w, b: F.conv2d(x, w, b, padding=1), [(1, 8, 6, 7), (16, 8, 3, 3), (16,)]),
    ],
)
def test_conv_gradcheck_and_gradgradcheck(fn, shapes):
    inputs = tuple(_x(*s, seed=i, device=current_device()) for i, s in enumerate(shapes))
    assert rt.autograd.gradcheck(fn, inputs)
    assert rt.autograd.gradgradcheck(fn, inputs)


# ---------------------------------------------------------------------------- F errors


def test_conv_wrong_channel_count_message():
    def fn(lib):
        x = lib.zeros(64, 1, 32, 32)
        w = lib.zeros(6, 3, 5, 5)
        return lib.nn.functional.conv2d(x, w)

    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "Given groups=1, weight of size [6, 3, 5, 5], expected input[64, 1, 32, 32] to "
            "have 3 channels, but got 1 channels instead"
        ),
    ):
        fn(rt)
    expect_torch_error(fn, RuntimeError)


@pytest.mark.parametrize(
    "build",
    [
        # kernel larger than the (padded) input
        lambda lib: lib.nn.functional.conv2d(lib.zeros(1, 3, 4, 4), lib.zeros(6, 3, 5, 5)),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 4, 4), lib.zeros(6, 3, 3, 3), dilation=2
        ),
        lambda lib: lib.nn.functional.conv1d(lib.zeros(1, 3, 4), lib.zeros(6, 3, 5), padding=0),
        # non-positive stride, negative padding, bad dilation
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), stride=0
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), stride=(1, -1)
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), padding=-1
        ),
        lambda lib: lib.nn.functional.conv1d(lib.zeros(1, 3, 8), lib.zeros(6, 3, 3), dilation=0),
        # input rank
        lambda lib: lib.nn.functional.conv2d(lib.zeros(3, 8), lib.zeros(6, 3, 3, 3)),
        lambda lib: lib.nn.functional.conv1d(lib.zeros(1, 1, 3, 8), lib.zeros(6, 3, 3)),
        lambda lib: lib.nn.functional.conv3d(lib.zeros(2, 3, 8, 8), lib.zeros(6, 3, 3, 3, 3)),
        # groups
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 4, 8, 8), lib.zeros(6, 2, 3, 3), groups=4
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 4, 8, 8), lib.zeros(6, 2, 3, 3), groups=3
        ),
        # bias of the wrong length
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), lib.zeros(5)
        ),
        # padding strings
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), padding="same", stride=2
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), padding="full"
        ),
        # per-dim arguments of the wrong length
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), stride=(1, 2, 3)
        ),
        lambda lib: lib.nn.functional.conv1d(
            lib.zeros(1, 3, 8), lib.zeros(6, 3, 3), padding=(1, 1)
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), dilation=(1, 2, 3)
        ),
        lambda lib: lib.nn.functional.conv_transpose2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(3, 3, 3, 3), output_padding=(1, 2, 3)
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), groups=0
        ),
        # dtypes
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8), lib.zeros(6, 3, 3, 3), lib.zeros(6, dtype=lib.float64)
        ),
        lambda lib: lib.nn.functional.conv_transpose2d(
            lib.zeros(1, 3, 8, 8, dtype=lib.float64), lib.zeros(3, 3, 3, 3)
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(1, 3, 8, 8, dtype=lib.float64), lib.zeros(6, 3, 3, 3)
        ),
        # transposed: channels, output padding, output too small
        lambda lib: lib.nn.functional.conv_transpose2d(
            lib.zeros(1, 3, 4, 4), lib.zeros(4, 2, 3, 3)
        ),
        lambda lib: lib.nn.functional.conv_transpose2d(
            lib.zeros(1, 4, 4, 4), lib.zeros(4, 2, 3, 3), stride=2, output_padding=2
        ),
        lambda lib: lib.nn.functional.conv_transpose1d(
            lib.zeros(1, 4, 1), lib.zeros(4, 2, 1), padding=1
        ),
        lambda lib: lib.nn.functional.conv_transpose2d(lib.zeros(4, 4), lib.zeros(4, 2, 3, 3)),
        # an empty plane in a non-empty batch (padding would make its output non-empty)
        lambda lib: lib.nn.functional.conv2d(
            lib.zeros(64, 33, 0, 8), lib.zeros(16, 33, 3, 3), padding=2
        ),
        lambda lib: lib.nn.functional.conv_transpose2d(
            lib.zeros(2, 4, 5, 0), lib.zeros(4, 2, 3, 3)
        ),
    ],
)
def test_conv_errors_match_torch(build):
    expect_torch_error(build)


# ---------------------------------------------------------------------------- modules


def _both(cls_name, *args, **kwargs):
    """The library's module and PyTorch's, ours holding PyTorch's initial parameters."""
    torch = need_torch()
    theirs = getattr(torch.nn, cls_name)(*args, **kwargs).double()
    ours = getattr(nn, cls_name)(*args, **kwargs).double()
    state = {k: rt.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    result = ours.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    return ours.to(current_device()), theirs


MODULE_CASES = [
    ("Conv1d", (4, 6, 3), dict(stride=2, padding=1), (2, 4, 11)),
    ("Conv1d", (4, 6, 4), dict(padding="same", padding_mode="circular", groups=2), (2, 4, 9)),
    ("Conv2d", (3, 6, 5), {}, (2, 3, 12, 12)),
    (
        "Conv2d",
        (4, 8, (3, 2)),
        dict(stride=(2, 1), padding=(1, 2), dilation=2, groups=4),
        (2, 4, 9, 9),
    ),
    ("Conv2d", (3, 4, 3), dict(padding="valid", bias=False), (3, 7, 6)),
    ("Conv2d", (3, 4, 4), dict(padding="same", padding_mode="reflect"), (2, 3, 7, 8)),
    ("Conv3d", (2, 4, 3), dict(padding=1, padding_mode="replicate"), (1, 2, 4, 5, 4)),
    ("Conv3d", (2, 2, (2, 3, 1)), dict(stride=(1, 2, 1), groups=2), (1, 2, 4, 5, 3)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 5)),
    (
        "ConvTranspose2d",
        (4, 6, 3),
        dict(stride=2, groups=2, dilation=2, output_padding=1),
        (2, 4, 5, 4),
    ),
    ("ConvTranspose2d", (3, 2, (2, 3)), dict(bias=False, padding=(0, 1)), (3, 4, 4)),
    ("ConvTranspose3d", (2, 3, 2), dict(stride=2, padding=(1, 0, 1)), (1, 2, 3, 3, 2)),
]


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda c: f"{c[0]}{c[1]}{c[2]}")
def test_module_same_start_matches_torch(case):
    torch = need_torch()
    name, args, kw, xs = case
    ours, theirs = _both(name, *args, **kw)
    x = _arr(*xs)
    xo = rt.tensor(x, device=current_device()).requires_grad_(True)
    xt = torch.tensor(x).requires_grad_(True)
    yo, yt = ours(xo), theirs(xt)
    _close(yo, yt, "float64", "forward")
    g = _arr(*yt.shape, seed=3)
    (yo * rt.tensor(g, device=current_device())).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    _close(xo.grad, xt.grad, "float64", "input grad")
    for (ko, po), (kt, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert ko == kt
        _close(po.grad, pt.grad, "float64", f"grad of {ko}")


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda c: f"{c[0]}{c[1]}{c[2]}")
def test_module_state_dict_repr_and_shapes_match_torch(case):
    torch = need_torch()
    name, args, kw, _ = case
    ours = getattr(nn, name)(*args, **kw)
    theirs = getattr(torch.nn, name)(*args, **kw)
    assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape), k
    assert repr(ours) == repr(theirs)
    for attr in (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "padding_mode",
        "output_padding",
        "transposed",
        "_reversed_padding_repeated_twice",
    ):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [(1, 2), 2, "same", "valid"])
def test_conv2d_padding_modes_match_torch(mode, padding):
    torch = need_torch()
    ours, theirs = _both("Conv2d", 3, 4, (3, 4), padding=padding, padding_mode=mode)
    x = _arr(2, 3, 6, 7)
    xo = rt.tensor(x, device=current_device()).requires_grad_(True)
    xt = torch.tensor(x).requires_grad_(True)
    yo, yt = ours(xo), theirs(xt)
    _close(yo, yt, "float64", "forward")
    yo.pow(2).sum().backward()
    yt.pow(2).sum().backward()
    _close(xo.grad, xt.grad, "float64", "input grad")
    _close(ours.weight.grad, theirs.weight.grad, "float64", "weight grad")
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv1d_and_conv3d_padding_modes_match_torch(mode):
    torch = need_torch()
    for name, shape in (("Conv1d", (2, 2, 7)), ("Conv3d", (1, 2, 4, 5, 4))):
        ours, theirs = _both(name, 2, 3, 3, padding=1, padding_mode=mode)
        x = _arr(*shape)
        _close(
            ours(rt.tensor(x, device=current_device())),
            theirs(torch.tensor(x)),
            "float64",
            f"{name} {mode}",
        )


@pytest.mark.parametrize(
    "name, args, kw, xs, output_size",
    [
        ("ConvTranspose2d", (3, 2, 3), dict(stride=2, padding=1), (1, 3, 4, 5), [8, 10]),
        ("ConvTranspose2d", (3, 2, 3), dict(stride=2, padding=1), (1, 3, 4, 5), [1, 2, 7, 9]),
        ("ConvTranspose2d", (3, 2, 3), dict(stride=3), (3, 4, 5), (13, 17)),
        ("ConvTranspose1d", (2, 2, 4), dict(stride=3, dilation=2), (2, 2, 5), [21]),
        ("ConvTranspose3d", (2, 2, 2), dict(stride=(2, 1, 3)), (1, 2, 3, 3, 2), [7, 4, 6]),
    ],
)
def test_conv_transpose_output_size_matches_torch(name, args, kw, xs, output_size):
    torch = need_torch()
    ours, theirs = _both(name, *args, **kw)
    x = _arr(*xs)
    yo = ours(rt.tensor(x, device=current_device()), output_size=output_size)
    yt = theirs(torch.tensor(x), output_size=output_size)
    _close(yo, yt, "float64", "forward")
    assert list(yo.shape[-len(yt.shape) + 1 :]) == list(yt.shape[1:])


@pytest.mark.parametrize(
    "output_size",
    [[20, 20], [6, 6], [1, 8, 8], [1, 1, 1, 1, 8]],
)
def test_conv_transpose_bad_output_size_matches_torch(output_size):
    def fn(lib):
        m = lib.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
        return m(lib.zeros(1, 3, 4, 5), output_size=output_size)

    expect_torch_error(fn, ValueError)


@pytest.mark.parametrize(
    "ctor",
    [
        lambda lib: lib.nn.Conv2d(4, 6, 3, groups=0),
        lambda lib: lib.nn.Conv2d(4, 6, 3, groups=3),
        lambda lib: lib.nn.Conv2d(4, 6, 3, groups=4),
        lambda lib: lib.nn.Conv1d(4, 6, 3, padding="full"),
        lambda lib: lib.nn.Conv2d(4, 6, 3, padding="same", stride=2),
        lambda lib: lib.nn.Conv3d(4, 6, 3, padding_mode="mirror"),
        lambda lib: lib.nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect"),
        lambda lib: lib.nn.ConvTranspose1d(4, 6, 3, groups=4),
    ],
)
def test_module_constructor_errors_match_torch(ctor):
    expect_torch_error(ctor, ValueError)


def test_module_forward_errors_match_torch():
    expect_torch_error(lambda lib: lib.nn.Conv2d(3, 6, 5)(lib.zeros(64, 1, 32, 32)), RuntimeError)
    expect_torch_error(lambda lib: lib.nn.Conv2d(3, 6, 5)(lib.zeros(1, 3, 4, 4)), RuntimeError)
    expect_torch_error(lambda lib: lib.nn.Conv1d(3, 6, 5)(lib.zeros(3, 4, 4, 5)), RuntimeError)
    expect_torch_error(
        lambda lib: lib.nn.Conv2d(3, 6, 3, padding=3, padding_mode="reflect")(
            lib.zeros(1, 3, 3, 3)
        ),
        RuntimeError,
    )


@pytest.mark.parametrize(
    "name, args, kw",
    [
        ("Conv2d", (3, 6, 5), {}),
        ("Conv1d", (8, 16, 3), dict(groups=4)),
        ("Conv3d", (2, 4, (1, 2, 3)), {}),
        ("ConvTranspose2d", (4, 6, 3), dict(groups=2)),
        ("ConvTranspose1d", (16, 8, 5), {}),
    ],
)
def test_module_init_matches_torch_bounds(name, args, kw):
    """Weight and bias are U(-b, b) with PyTorch's b = 1/sqrt(fan_in) (kaiming_uniform_ with
    a=sqrt(5)); fan_in is computed from the weight as PyTorch computes it."""
    torch = need_torch()
    ours = getattr(nn, name)(*args, **kw)
    theirs = getattr(torch.nn, name)(*args, **kw)
    fan_ours, _ = nn.init._calculate_fan_in_and_fan_out(ours.weight)
    fan_theirs, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    assert fan_ours == fan_theirs
    bound = 1 / math.sqrt(fan_theirs)
    for p_ours, p_theirs in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        w = to_np(p_ours).ravel()
        assert p_ours.requires_grad and isinstance(p_ours, nn.Parameter)
        assert w.shape == to_np(p_theirs).ravel().shape
        assert np.all(np.abs(w) <= bound + 1e-7)
        assert len(np.unique(w)) == len(w)  # really random
        if w.size >= 100:
            # a uniform sample of this size reaches close to both ends, with mean ~0 and
            # std b/sqrt(3)
            assert np.abs(w).max() > 0.9 * bound
            assert abs(w.mean()) < 0.2 * bound
            assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound


def test_module_init_is_seeded():
    rt.manual_seed(0)
    a = to_np(nn.Conv2d(3, 4, 3).weight)
    rt.manual_seed(0)
    b = to_np(nn.Conv2d(3, 4, 3).weight)
    np.testing.assert_array_equal(a, b)


def test_module_dtype_device_kwargs_and_reset():
    m = nn.Conv2d(2, 3, 3, dtype=rt.float64)
    assert m.weight.dtype == rt.float64 and m.bias.dtype == rt.float64
    before = to_np(m.weight)
    m.reset_parameters()
    assert not np.array_equal(before, to_np(m.weight))
    y = m(rt.zeros(1, 2, 5, 5, dtype=rt.float64))
    assert y.shape == (1, 3, 3, 3)
    # with no input the output is the bias
    np.testing.assert_allclose(to_np(y)[0, :, 1, 1], to_np(m.bias), rtol=0, atol=0)


def test_lenet_style_stack_matches_torch():
    """LeNet's conv stack from PyTorch's weights: same logits and gradients."""
    torch = need_torch()

    def build(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(3, 6, 5),
            lib.nn.ReLU(),
            lib.nn.MaxPool2d(2),
            lib.nn.Conv2d(6, 16, 5),
            lib.nn.ReLU(),
            lib.nn.MaxPool2d(2),
            lib.nn.Flatten(),
            lib.nn.Linear(16 * 5 * 5, 10),
        )

    theirs = build(torch).double()
    ours = build(rt).double()
    ours.load_state_dict({k: rt.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    ours.to(current_device())
    x = _arr(4, 3, 32, 32)
    yo = ours(rt.tensor(x, device=current_device()))
    yt = theirs(torch.tensor(x))
    _close(yo, yt, "float64", "logits")
    yo.sum().backward()
    yt.sum().backward()
    for (k, po), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        _close(po.grad, pt.grad, "float64", f"grad of {k}")


# ---------------------------------------------------------------------------- pixel shuffle


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize(
    "shape,r,up",
    [
        ((2, 8, 3, 5), 2, True),
        ((18, 2, 4), 3, True),
        ((2, 1, 3, 4, 6), 2, False),
        ((3, 6, 9), 3, False),
    ],
)
def test_pixel_shuffle_matches_torch(shape, r, up, layout):
    torch = need_torch()
    dev = current_device()
    arr = _arr(*shape)
    name = "pixel_shuffle" if up else "pixel_unshuffle"
    ours, ours_v = _leaf(rt, arr, "float64", dev, layout, True)
    ref, ref_v = _leaf(torch, arr, "float64", "cpu", layout, True)
    y, yt = getattr(F, name)(ours_v, r), getattr(torch.nn.functional, name)(ref_v, r)
    _close(y, yt, "float64", name)
    assert y.is_contiguous()
    g = _arr(*yt.shape, seed=1)
    y.backward(rt.tensor(g, device=dev))
    yt.backward(torch.tensor(g))
    _close(ours.grad, ref.grad, "float64", f"{name} grad")
    module = (nn.PixelShuffle if up else nn.PixelUnshuffle)(r)
    ref_module = (torch.nn.PixelShuffle if up else torch.nn.PixelUnshuffle)(r)
    assert repr(module) == repr(ref_module)
    _close(module(ours_v), ref_module(ref_v), "float64", f"{name} module")


@pytest.mark.parametrize(
    "name,shape,r",
    [
        ("pixel_shuffle", (2, 3), 2),
        ("pixel_shuffle", (1, 5, 2, 2), 2),
        ("pixel_shuffle", (1, 4, 2, 2), 0),
        ("pixel_unshuffle", (1, 4, 5, 2), 2),
        ("pixel_unshuffle", (1, 4, 4, 3), 2),
        ("pixel_unshuffle", (1, 4, 4, 4), -1),
        ("pixel_unshuffle", (4, 4), 2),
    ],
)
def test_pixel_shuffle_errors_match_torch(name, shape, r):
    torch = need_torch()
    with pytest.raises(RuntimeError) as want:
        getattr(torch.nn.functional, name)(torch.zeros(shape), r)
    with pytest.raises(RuntimeError, match=re.escape(str(want.value))):
        getattr(F, name)(rt.zeros(shape, device=current_device()), r)


def test_cudnn_flags_exist_as_in_torch():
    torch = need_torch()
    for flag in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert isinstance(getattr(rt.backends.cudnn, flag), bool)
    rt.backends.cudnn.benchmark = True
    try:
        x, w = rt.ones(1, 1, 4, 4), rt.ones(1, 1, 3, 3)
        assert F.conv2d(x, w).sum().item() == 36.0
    finally:
        rt.backends.cudnn.benchmark = False
    if not torch.cuda.is_available():
        assert rt.backends.cudnn.is_available() is torch.backends.cudnn.is_available()
        assert rt.backends.cudnn.version() == torch.backends.cudnn.version()


@pytest.mark.parametrize(
    "name,x_shape,w_shape",
    [
        ("conv2d", (1, 3, 5, 5), (6, 3, 0, 3)),
        ("conv_transpose2d", (1, 3, 5, 5), (3, 6, 0, 3)),
        ("conv3d", (1, 2, 4, 4, 4), (2, 2, 2, 0, 2)),
        ("conv1d", (1, 3, 5), (6, 3, 0)),
    ],
)
def test_empty_kernel_is_refused_as_torch(name, x_shape, w_shape):
    torch = need_torch()
    with pytest.raises(RuntimeError) as want:
        getattr(torch.nn.functional, name)(torch.zeros(x_shape), torch.zeros(w_shape))
    dev = current_device()
    with pytest.raises(RuntimeError, match=re.escape(str(want.value))):
        getattr(F, name)(rt.zeros(x_shape, device=dev), rt.zeros(w_shape, device=dev))


# ---------------------------------------------------------------------------- integer dtypes

INTS = ["int8", "uint8", "int16", "int32", "int64"]

INT_CONV_CASES = [
    # (op, input shape, weight shape, kwargs, the integer dtypes PyTorch's CPU kernels take:
    # all at dilation 1, only int64 when dilated or transposed)
    ("conv1d", (2, 4, 9), (6, 2, 3), dict(stride=2, padding=1, groups=2), INTS),
    ("conv2d", (2, 3, 7, 6), (4, 3, 3, 2), dict(stride=(1, 2), padding=(1, 0)), INTS),
    ("conv2d", (3, 7, 7), (4, 3, 2, 2), dict(padding="same"), INTS),
    ("conv2d", (2, 4, 6, 6), (4, 1, 3, 3), dict(groups=4, padding=1), INTS),
    ("conv3d", (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1)), INTS),
    ("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), dict(dilation=2, padding=2), ["int64"]),
    ("conv3d", (1, 2, 4, 5, 4), (3, 2, 2, 2, 2), dict(dilation=(1, 2, 1)), ["int64"]),
    ("conv_transpose1d", (2, 4, 5), (4, 3, 3), dict(stride=2, padding=1, output_padding=1),
     ["int64"]),
    ("conv_transpose2d", (2, 4, 5, 4), (4, 3, 3, 3),
     dict(stride=2, groups=2, dilation=2, output_padding=1), ["int64"]),
    ("conv_transpose3d", (1, 2, 3, 3, 2), (2, 3, 2, 2, 2), dict(stride=2, padding=(1, 0, 1)),
     ["int64"]),
]


def _ints(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    # int8 and uint8 products and sums overflow: PyTorch's results wrap, as ours must.
    lo, hi = (0, 60) if dtype == "uint8" else (-100, 100)
    return rng.integers(lo, hi, shape)


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("case", INT_CONV_CASES, ids=lambda c: f"{c[0]}-{c[3]}")
def test_integer_convolutions_as_torch(case, dtype):
    # PyTorch's CPU convolutions take integers (its slow kernels, wrapping on overflow);
    # where its kernel for the case refuses the dtype, the message is its.
    torch = need_torch()
    name, xs, ws, kw, takes = case
    cout = ws[1] * kw.get("groups", 1) if "transpose" in name else ws[0]
    arrays = [_ints(xs, dtype, 0), _ints(ws, dtype, 1), _ints((cout,), dtype, 2)]

    def run(lib, device="cpu"):
        x, w, b = (lib.tensor(a, dtype=getattr(lib, dtype), device=device) for a in arrays)
        return getattr(lib.nn.functional, name)(x, w, b, **kw)

    if current_device() != "cpu":
        # PyTorch's GPU convolutions take floats only.
        with pytest.raises(NotImplementedError, match="not implemented for"):
            run(rt, current_device())
        return
    if dtype not in takes:
        expect_torch_error(run)
        return
    want, got = run(torch), run(rt)
    assert str(got.dtype).split(".")[-1] == dtype
    np.testing.assert_array_equal(to_np(got), want.numpy())


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.nn.functional.conv2d(
            lib.ones(1, 2, 5, 5, dtype=lib.bool), lib.ones(1, 2, 2, 2, dtype=lib.bool)
        ),
        lambda lib: lib.nn.functional.conv1d(
            lib.ones(1, 2, 5, dtype=lib.bool), lib.ones(1, 2, 2, dtype=lib.bool)
        ),
        lambda lib: lib.nn.functional.conv3d(
            lib.ones(1, 1, 3, 3, 3, dtype=lib.bool), lib.ones(1, 1, 2, 2, 2, dtype=lib.bool)
        ),
        lambda lib: lib.nn.functional.conv2d(
            lib.ones(1, 2, 5, 5, dtype=lib.bool), lib.ones(1, 2, 2, 2, dtype=lib.bool),
            dilation=2,
        ),
        lambda lib: lib.nn.functional.conv_transpose3d(
            lib.ones(1, 1, 3, 3, 3, dtype=lib.bool), lib.ones(1, 1, 2, 2, 2, dtype=lib.bool)
        ),
        # the sizes are checked before the dtype, as PyTorch's
        lambda lib: lib.nn.functional.conv2d(
            lib.ones(1, 2, 5, 5, dtype=lib.bool), lib.ones(1, 2, 2, 2, dtype=lib.bool),
            stride=0,
        ),
    ],
)
def test_bool_convolutions_refused_as_torch(build):
    expect_torch_error(build)


@pytest.mark.parametrize("dtype", INTS + ["bool"])
@pytest.mark.parametrize("op", ["unfold", "fold"])
def test_unfold_and_fold_integers_as_torch(op, dtype):
    # F.unfold/F.fold (PyTorch's im2col/col2im) take bool but no other integer dtype.
    torch = need_torch()
    shape = (1, 2, 4, 4) if op == "unfold" else (1, 8, 9)
    args = () if op == "unfold" else ((4, 4),)

    def run(lib):
        x = lib.tensor(_ints(shape, "uint8", 3) % 2, dtype=getattr(lib, dtype))
        return getattr(lib.nn.functional, op)(x, *args, 2)

    if dtype != "bool":
        expect_torch_error(run)
        return
    np.testing.assert_array_equal(to_np(run(rt)), run(torch).numpy())


@pytest.mark.parametrize("bias_dtype", ["int64", "int16", "uint8", "float16", "float64"])
def test_bias_dtype_mismatch_names_cpp_types_as_torch(bias_dtype):
    # "Input type (float) and bias type (long int) should be the same"
    expect_torch_error(
        lambda lib: lib.nn.functional.conv2d(
            lib.ones(1, 1, 3, 3), lib.ones(1, 1, 2, 2), lib.ones(1, dtype=getattr(lib, bias_dtype))
        )
    )
