"""Pooling, padding and fold/unfold against PyTorch.

``F.max_pool*`` (stride, padding, dilation, ``ceil_mode``, ``return_indices``),
``F.avg_pool*`` (``ceil_mode``, ``count_include_pad`` both ways, ``divisor_override``),
adaptive pools with non-divisible sizes, ``max_unpool*``, ``lp_pool*``, ``F.pad`` in its
four modes (1d/2d/3d, negative constant pads), ``F.unfold``/``F.fold``; forward values,
indices and gradients in float64 (1e-10) and float32 (1e-5), gradcheck/gradgradcheck in
float64, the modules (``repr`` and outputs equal PyTorch's) and PyTorch's error messages.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIB_NAME, assert_same_outcome, current_device, need_torch, rt, to_np
from test_conv import _arr, _close, _x, compare, expect_torch_error

pytestmark = pytest.mark.usefixtures("device")

if not hasattr(rt, "nn") or not hasattr(rt.nn, "MaxPool2d"):
    pytest.skip(f"{LIB_NAME} has no pooling modules", allow_module_level=True)

nn = rt.nn
F = rt.nn.functional


def _distinct(*shape, seed=0):
    """Values with no ties (max pooling's argmax is then unique)."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) / n - 0.5


# ---------------------------------------------------------------------------- max pooling

MAX_CASES = [
    # (spatial dims, input shape, kwargs)
    (1, (2, 3, 11), dict(kernel_size=3)),
    (1, (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
    (1, (3, 10), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),  # unbatched
    (2, (2, 3, 8, 9), dict(kernel_size=2)),
    (2, (2, 3, 9, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))),
    (2, (2, 2, 9, 10), dict(kernel_size=3, stride=2, padding=1, dilation=(2, 1), ceil_mode=True)),
    (2, (1, 2, 7, 7), dict(kernel_size=3, stride=2, ceil_mode=True)),
    (2, (1, 2, 6, 6), dict(kernel_size=2, stride=1)),  # overlapping windows
    (2, (3, 7, 5), dict(kernel_size=2, ceil_mode=True)),  # unbatched
    (3, (1, 2, 5, 6, 7), dict(kernel_size=2)),
    (
        3,
        (1, 2, 5, 6, 7),
        dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=1, dilation=(1, 2, 1)),
    ),
    (3, (2, 5, 5, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),  # unbatched
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", MAX_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_max_pool_matches_torch(case, dtype):
    nd, xs, kw = case

    def fn(lib, x):
        return getattr(lib.nn.functional, f"max_pool{nd}d")(x, return_indices=True, **kw)

    values, indices = compare(fn, [_distinct(*xs)], dtype)
    assert str(indices.dtype).endswith("int64")

    def fn_values_only(lib, x):
        return getattr(lib.nn.functional, f"max_pool{nd}d")(x, **kw)

    compare(fn_values_only, [_distinct(*xs)], dtype)


@pytest.mark.parametrize("layout", ["channels_last", "strided", "transposed"])
def test_max_and_avg_pool2d_non_contiguous(layout):
    x = _distinct(2, 3, 8, 10)
    compare(
        lambda lib, x: lib.nn.functional.max_pool2d(x, 3, 2, 1, return_indices=True),
        [x],
        layouts=[layout],
    )
    compare(
        lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
        [x],
        layouts=[layout],
    )


def test_max_pool_with_indices_functions_and_ties():
    """``max_poolNd_with_indices`` returns both; within a window a tie goes to the first
    position, and -inf / NaN follow PyTorch."""
    compare(lambda lib, x: lib.nn.functional.max_pool2d_with_indices(x, 2), [_distinct(1, 2, 4, 4)])
    compare(lambda lib, x: lib.nn.functional.max_pool1d_with_indices(x, 3, 1), [_distinct(2, 7)])
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 0, 0] = 1.0
    x[0, 0, 2:, 2:] = -np.inf
    x[0, 0, 3, 0] = np.nan
    compare(lambda lib, x: lib.nn.functional.max_pool2d(x, 2, return_indices=True), [x], grad=False)


def test_max_pool2d_2x2_ties_and_nans_everywhere():
    """2×2, stride-2 windows (their own kernel): few distinct values, NaN and -inf at every
    window position, an odd width; values and indices as PyTorch's (several NaNs in a
    window: the last one's index, as PyTorch's ``val > max || isnan(val)``)."""
    rng = np.random.default_rng(3)
    x = rng.choice(np.array([0.0, 1.0, -np.inf, np.nan]), size=(3, 4, 6, 11), p=[.4, .4, .1, .1])
    compare(lambda lib, x: lib.nn.functional.max_pool2d(x, 2, return_indices=True), [x],
            grad=False)
    # The general kernel: overlapping and adaptive windows, several NaNs in one window.
    compare(lambda lib, x: lib.nn.functional.max_pool2d(x, 3, 1, 1, return_indices=True), [x],
            grad=False)
    compare(lambda lib, x: lib.nn.functional.adaptive_max_pool2d(x, (2, 3), return_indices=True),
            [x], grad=False)


# ---------------------------------------------------------------------------- avg pooling

AVG_CASES = [
    ((2, 3, 11), dict(kernel_size=3)),
    ((2, 3, 11), dict(kernel_size=4, stride=2, padding=2, ceil_mode=True)),
    ((2, 3, 11), dict(kernel_size=4, stride=2, padding=2, ceil_mode=True, count_include_pad=False)),
    ((2, 3, 8, 9), dict(kernel_size=2)),
    ((2, 3, 9, 8), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))),
    (
        (2, 3, 9, 8),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), count_include_pad=False),
    ),
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (
        (1, 2, 7, 7),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    ),
    ((1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, divisor_override=5)),
    ((1, 2, 5, 6, 7), dict(kernel_size=2)),
    ((1, 2, 5, 6, 7), dict(kernel_size=(3, 2, 3), stride=(2, 1, 2), padding=1, ceil_mode=True)),
    ((1, 2, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((1, 2, 5, 6, 7), dict(kernel_size=3, padding=1, divisor_override=2)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", AVG_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_avg_pool_matches_torch(case, dtype):
    xs, kw = case
    nd = len(xs) - 2

    def fn(lib, x):
        return getattr(lib.nn.functional, f"avg_pool{nd}d")(x, **kw)

    compare(fn, [_arr(*xs)], dtype)


def test_avg_pool_unbatched():
    compare(lambda lib, x: lib.nn.functional.avg_pool2d(x, 3, 2, 1, True, False), [_arr(3, 7, 8)])
    compare(lambda lib, x: lib.nn.functional.avg_pool1d(x, 2, 1, 1), [_arr(3, 7)])
    compare(lambda lib, x: lib.nn.functional.avg_pool3d(x, 2, ceil_mode=True), [_arr(2, 5, 4, 5)])


# ---------------------------------------------------------------------------- adaptive

ADAPTIVE_CASES = [
    # (spatial dims, input shape, output_size)
    (1, (2, 3, 10), 4),
    (1, (2, 3, 7), 7),
    (1, (3, 9), 5),  # unbatched
    (2, (2, 3, 10, 9), (4, 5)),
    (2, (2, 3, 5, 7), 3),
    (2, (2, 3, 5, 7), (None, 3)),
    (2, (2, 3, 5, 7), (8, 9)),  # larger than the input: overlapping windows
    (2, (3, 11, 6), (4, None)),  # unbatched
    (3, (1, 2, 5, 6, 7), (3, 2, 4)),
    (3, (2, 5, 6, 7), (2, None, 3)),  # unbatched
]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_adaptive_pool_matches_torch(case, kind, dtype):
    nd, xs, out = case

    def fn(lib, x):
        f = getattr(lib.nn.functional, f"adaptive_{kind}_pool{nd}d")
        return f(x, out, return_indices=True) if kind == "max" else f(x, out)

    compare(fn, [_distinct(*xs)], dtype)


def test_adaptive_pools_to_one_are_global_pools():
    x = _arr(2, 3, 5, 7)
    X = rt.tensor(x, device=current_device())
    np.testing.assert_allclose(
        to_np(F.adaptive_avg_pool2d(X, 1)), x.mean(axis=(2, 3), keepdims=True), rtol=1e-12
    )
    np.testing.assert_array_equal(
        to_np(F.adaptive_max_pool2d(X, (1, 1))), x.max(axis=(2, 3), keepdims=True)
    )


# ---------------------------------------------------------------------------- unpool, lp


@pytest.mark.parametrize(
    "nd, xs, kw, output_size",
    [
        (1, (2, 3, 9), dict(kernel_size=3), None),
        (1, (2, 3, 10), dict(kernel_size=3, stride=3), [10]),
        (2, (2, 3, 8, 8), dict(kernel_size=2), None),
        (2, (1, 2, 9, 7), dict(kernel_size=(3, 2), stride=(2, 2), padding=(1, 0)), [9, 7]),
        (2, (1, 2, 9, 7), dict(kernel_size=2), [1, 2, 9, 7]),
        (2, (3, 6, 6), dict(kernel_size=2, stride=1), None),  # unbatched, overlapping
        (3, (1, 2, 4, 6, 5), dict(kernel_size=2), [4, 6, 5]),
    ],
)
def test_max_unpool_matches_torch(nd, xs, kw, output_size):
    def fn(lib, x):
        Fl = lib.nn.functional
        y, idx = getattr(Fl, f"max_pool{nd}d")(x, return_indices=True, **kw)
        z = getattr(Fl, f"max_unpool{nd}d")(y * 2, idx, output_size=output_size, **kw)
        return z, idx

    compare(fn, [_distinct(*xs)])


@pytest.mark.parametrize(
    "nd, xs, p, kw",
    [
        (1, (2, 3, 9), 2.0, dict(kernel_size=3)),
        (1, (2, 3, 10), 3, dict(kernel_size=3, stride=2, ceil_mode=True)),
        (2, (2, 3, 8, 7), 2, dict(kernel_size=2)),
        (2, (1, 2, 9, 7), 1.5, dict(kernel_size=(3, 2), stride=(2, 1))),
        (2, (1, 2, 9, 7), 1, dict(kernel_size=3, stride=2, ceil_mode=True)),
        (3, (1, 2, 4, 6, 5), 2, dict(kernel_size=2)),
    ],
)
def test_lp_pool_matches_torch(nd, xs, p, kw):
    x = np.abs(_arr(*xs)) + 0.1  # fractional powers of positive values

    def fn(lib, x):
        f = getattr(lib.nn.functional, f"lp_pool{nd}d", None)
        if f is None:
            pytest.skip(f"{lib.__name__} has no lp_pool{nd}d")
        return f(x, p, **kw)

    compare(fn, [x])


# ---------------------------------------------------------------------------- F.pad

PAD_CASES = [
    ((2, 3, 7), (2, 3)),
    ((2, 3, 7), (0, 6)),
    ((3, 7), (1, 1)),
    ((2, 3, 5, 6), (1, 2, 3, 4)),
    ((3, 5, 6), (5, 0, 0, 4)),
    ((1, 2, 4, 5, 6), (1, 2, 3, 1, 0, 3)),
    ((2, 4, 5, 6), (3, 1, 2, 2, 3, 0)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", PAD_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pad_matches_torch(case, mode, dtype):
    xs, pads = case
    if mode == "reflect":  # reflect needs each pad below its dim's size
        pads = tuple(min(p, xs[-1 - i // 2] - 1) for i, p in enumerate(pads))
    if mode == "circular":
        pads = tuple(min(p, xs[-1 - i // 2]) for i, p in enumerate(pads))
    compare(lambda lib, x: lib.nn.functional.pad(x, pads, mode=mode), [_arr(*xs)], dtype)


@pytest.mark.parametrize(
    "xs, pads, value",
    [
        ((3, 4), (-1, 2), 0.0),
        ((3, 4), (1, -2, -1, 3), 1.5),
        ((2, 3, 4, 5), (-2, -2, 0, 0, 1, 1, 1, 0), -2.0),
        ((5,), (-4, 0), 7.0),
        ((2, 3), (0, 0, 0, 0), 3.0),
        ((2, 3, 4), (1, 2), None),
    ],
)
def test_pad_constant_negative_and_values(xs, pads, value):
    compare(lambda lib, x: lib.nn.functional.pad(x, pads, value=value), [_arr(*xs)])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_non_constant_negative_pads(mode):
    compare(lambda lib, x: lib.nn.functional.pad(x, (-1, 2), mode=mode), [_arr(1, 2, 5)])
    compare(lambda lib, x: lib.nn.functional.pad(x, (2, -2, -1, 1), mode=mode), [_arr(2, 4, 5)])


def test_pad_integer_and_bool_constant():
    torch = need_torch()
    for dt, value in (("int64", 2.7), ("int32", -3.0), ("bool", 0.5), ("uint8", 4.0)):
        a = (np.arange(6).reshape(2, 3) % 2).astype(np.int64)
        ours = F.pad(rt.tensor(a, dtype=getattr(rt, dt)), (1, 2, 0, 1), value=value)
        theirs = torch.nn.functional.pad(
            torch.tensor(a, dtype=getattr(torch, dt)), (1, 2, 0, 1), value=value
        )
        _close(ours, theirs, "float64", dt)


@pytest.mark.parametrize("layout", ["channels_last", "strided", "transposed"])
def test_pad_non_contiguous(layout):
    for mode in ("constant", "reflect", "circular"):
        compare(
            lambda lib, x, mode=mode: lib.nn.functional.pad(x, (1, 2, 2, 1), mode=mode),
            [_arr(2, 3, 5, 6)],
            layouts=[layout],
        )


# ---------------------------------------------------------------------------- unfold / fold

FOLD_CASES = [
    ((2, 3, 6, 7), dict(kernel_size=2)),
    ((2, 3, 6, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    ((1, 2, 9, 8), dict(kernel_size=3, stride=3)),
    ((3, 5, 5), dict(kernel_size=2, padding=1, dilation=2)),  # unbatched
    # Short output rows go through a zero-bordered copy of each plane: every stride, a
    # dilation, padding wider than the window's reach; rows of 32 or more walk the input.
    ((5, 2, 11, 13), dict(kernel_size=(2, 3), stride=(3, 2), padding=(2, 1), dilation=(2, 3))),
    ((2, 3, 9, 10), dict(kernel_size=2, stride=3, padding=3)),
    ((64, 16, 8, 8), dict(kernel_size=4, stride=2, padding=1)),  # large enough for threads
    ((2, 3, 5, 40), dict(kernel_size=3, padding=1)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", FOLD_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_unfold_fold_match_torch(case, dtype):
    xs, kw = case
    out = compare(lambda lib, x: lib.nn.functional.unfold(x, **kw), [_arr(*xs)], dtype)
    compare(
        lambda lib, c: lib.nn.functional.fold(c, xs[-2:], **kw),
        [_arr(*out[0].shape, seed=4)],
        dtype,
    )
    # round trip: fold(unfold(x)) == x * (number of blocks covering each position)
    compare(
        lambda lib, x: lib.nn.functional.fold(lib.nn.functional.unfold(x, **kw), xs[-2:], **kw),
        [_arr(*xs)],
        dtype,
    )


def test_fold_of_unfold_is_x_times_coverage():
    x = _arr(2, 3, 6, 7)
    X = rt.tensor(x, device=current_device())
    kw = dict(kernel_size=(2, 3), stride=1)
    y = F.fold(F.unfold(X, **kw), (6, 7), **kw)
    cover = F.fold(F.unfold(rt.ones(1, 1, 6, 7, dtype=rt.float64), **kw), (6, 7), **kw)
    np.testing.assert_allclose(to_np(y), x * to_np(cover), rtol=1e-12)
    assert to_np(cover)[0, 0, 0, 0] == 1 and to_np(cover)[0, 0, 2, 2] == 6


def test_unfold_non_contiguous():
    compare(
        lambda lib, x: lib.nn.functional.unfold(x, 3, padding=1, stride=2),
        [_arr(2, 3, 7, 6)],
        layouts=["channels_last"],
    )


# ---------------------------------------------------------------------------- gradcheck


@pytest.mark.parametrize(
    "fn, shape",
    [
        (lambda x: F.max_pool2d(x, 2, 1, ceil_mode=True), (1, 2, 4, 5)),
        (lambda x: F.max_pool1d(x, 3, 2, 1, dilation=2), (2, 7)),
        (lambda x: F.max_pool3d(x, 2, 1, 1), (1, 1, 3, 3, 2)),
        (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (1, 2, 5, 4)),
        (lambda x: F.avg_pool1d(x, 2, 1, 1), (1, 2, 5)),
        (lambda x: F.avg_pool3d(x, 2, 1, divisor_override=3), (1, 1, 3, 3, 3)),
        (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), (1, 2, 5, 5)),
        (lambda x: F.adaptive_avg_pool1d(x, 3), (2, 7)),
        (lambda x: F.adaptive_max_pool2d(x, (2, 3)), (1, 2, 5, 4)),
        (lambda x: F.adaptive_max_pool3d(x, 2), (1, 1, 3, 3, 3)),
        (lambda x: F.pad(x, (1, 2, -1, 1), value=0.5), (2, 3, 4)),
        (lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"), (1, 3, 4)),
        (lambda x: F.pad(x, (2, 3), mode="replicate"), (2, 3)),
        (lambda x: F.pad(x, (1, 1, 2, 0, 1, 2), mode="circular"), (1, 1, 2, 3, 2)),
        (lambda x: F.unfold(x, 2, padding=1, stride=(1, 2)), (1, 2, 3, 4)),
        (lambda x: F.fold(x, (4, 3), 2, padding=(0, 1)), (1, 8, 12)),
        (lambda x: F.lp_pool2d(x * x + 1, 2, 2), (1, 2, 4, 4)),
    ],
)
def test_pool_pad_fold_gradcheck_and_gradgradcheck(fn, shape):
    # distinct values well apart, so finite differences never swap a window's maximum
    x = rt.tensor(
        _distinct(*shape) * 10, dtype=rt.float64, device=current_device(), requires_grad=True
    )
    assert rt.autograd.gradcheck(fn, (x,))
    assert rt.autograd.gradgradcheck(fn, (x,))


def test_max_unpool_gradcheck():
    x = rt.tensor(_distinct(1, 2, 4, 4), dtype=rt.float64, device=current_device())
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    y = _x(1, 2, 2, 2, device=current_device())
    assert rt.autograd.gradcheck(lambda v: F.max_unpool2d(v, idx, 2), (y,))
    assert rt.autograd.gradgradcheck(lambda v: F.max_unpool2d(v, idx, 2), (y,))


# ---------------------------------------------------------------------------- modules

MODULES = [
    ("MaxPool1d", (3,), dict(stride=2, padding=1), (2, 3, 9)),
    ("MaxPool2d", (2,), {}, (2, 3, 8, 8)),
    (
        "MaxPool2d",
        ((3, 2),),
        dict(stride=1, padding=1, dilation=(1, 2), ceil_mode=True),
        (1, 2, 7, 8),
    ),
    ("MaxPool3d", (2,), dict(stride=1), (1, 2, 4, 4, 3)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 9)),
    (
        "AvgPool2d",
        (3,),
        dict(stride=2, padding=1, ceil_mode=True, divisor_override=4),
        (2, 3, 9, 9),
    ),
    ("AvgPool3d", ((2, 1, 2),), {}, (1, 2, 4, 4, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((5, None),), {}, (2, 3, 9, 7)),
    ("AdaptiveAvgPool3d", (2,), {}, (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((3, 4),), {}, (2, 3, 9, 7)),
    ("AdaptiveMaxPool3d", (2,), dict(return_indices=True), (1, 2, 5, 4, 3)),
    ("LPPool1d", (2, 3), dict(stride=2), (2, 3, 9)),
    ("LPPool2d", (1.5, 2), {}, (2, 3, 8, 8)),
    ("ZeroPad1d", ((1, 2),), {}, (2, 3, 5)),
    ("ZeroPad2d", (2,), {}, (2, 3, 5, 5)),
    ("ZeroPad3d", ((1, 0, 2, 1, 0, 1),), {}, (1, 2, 3, 3, 3)),
    ("ConstantPad1d", (2, 3.5), {}, (2, 3, 5)),
    ("ConstantPad2d", ((1, -1, 2, 0), -1.0), {}, (2, 3, 5, 5)),
    ("ConstantPad3d", (1, 0.5), {}, (1, 2, 3, 3, 3)),
    ("ReflectionPad1d", ((3, 1),), {}, (2, 3, 5)),
    ("ReflectionPad2d", (2,), {}, (3, 5, 4)),
    ("ReflectionPad3d", ((1, 2, 0, 1, 2, 1),), {}, (1, 2, 3, 4, 3)),
    ("ReplicationPad1d", (4,), {}, (2, 3, 5)),
    ("ReplicationPad2d", ((1, 2, 3, 0),), {}, (2, 3, 5, 5)),
    ("ReplicationPad3d", (2,), {}, (1, 2, 3, 3, 3)),
    ("CircularPad1d", ((3, 1),), {}, (2, 3, 5)),
    ("CircularPad2d", (2,), {}, (2, 3, 5, 5)),
    ("CircularPad3d", ((1, 2, 0, 1, 2, 1),), {}, (1, 2, 3, 4, 3)),
    ("Unfold", ((2, 3),), dict(stride=(1, 2), padding=1), (2, 3, 6, 7)),
    ("Fold", ((4, 5), 2), dict(stride=1), (2, 12, 12)),
]


@pytest.mark.parametrize("case", MODULES, ids=lambda c: f"{c[0]}{c[1]}{c[2]}")
def test_modules_match_torch(case):
    torch = need_torch()
    name, args, kw, xs = case
    if not hasattr(torch.nn, name):
        pytest.skip(f"this PyTorch has no nn.{name}")
    ours = getattr(nn, name)(*args, **kw)
    theirs = getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = np.abs(_distinct(*xs)) + 0.1 if name.startswith("LP") else _distinct(*xs)

    def fn(lib, x):
        m = ours if lib is rt else theirs
        return m(x)

    compare(fn, [x])


def test_max_unpool_modules_match_torch():
    torch = need_torch()
    for nd, xs in ((1, (2, 3, 8)), (2, (2, 3, 6, 8)), (3, (1, 2, 4, 4, 6))):
        pool_o = getattr(nn, f"MaxPool{nd}d")(2, return_indices=True)
        pool_t = getattr(torch.nn, f"MaxPool{nd}d")(2, return_indices=True)
        unpool_o = getattr(nn, f"MaxUnpool{nd}d")(2)
        unpool_t = getattr(torch.nn, f"MaxUnpool{nd}d")(2)
        assert repr(unpool_o) == repr(unpool_t)
        assert repr(pool_o) == repr(pool_t)

        def fn(lib, x, ours=(pool_o, unpool_o), theirs=(pool_t, unpool_t)):
            pool, unpool = ours if lib is rt else theirs
            return unpool(*pool(x))

        compare(fn, [_distinct(*xs)])


def test_pooling_module_attributes_match_torch():
    torch = need_torch()
    for name, args, kw in (
        ("MaxPool2d", (3,), dict(stride=None, padding=1)),
        ("AvgPool1d", (3,), dict(stride=None)),
        ("AvgPool2d", ((3, 2),), {}),
        ("MaxUnpool2d", (3,), dict(stride=2)),
        ("LPPool2d", (2, 3), {}),
        ("AdaptiveMaxPool2d", ((2, None),), {}),
    ):
        ours, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
        for attr in (
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "ceil_mode",
            "count_include_pad",
            "divisor_override",
            "return_indices",
            "norm_type",
            "output_size",
        ):
            if hasattr(theirs, attr):
                assert getattr(ours, attr) == getattr(theirs, attr), (name, attr)


def test_circular_pad_module_rank_error_matches_torch():
    expect_torch_error(lambda lib: lib.nn.CircularPad2d(1)(lib.zeros(3, 4)), ValueError)
    expect_torch_error(lambda lib: lib.nn.CircularPad1d(1)(lib.zeros(1, 2, 3, 4)), ValueError)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "build",
    [
        # output too small
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 2, 2), 3),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 3, 2, 9), (3, 2)),
        lambda lib: lib.nn.functional.max_pool3d(lib.zeros(1, 3, 2, 9, 9), (3, 2, 2)),
        lambda lib: lib.nn.functional.avg_pool2d(lib.zeros(1, 1, 2, 2), 3),
        lambda lib: lib.nn.functional.avg_pool1d(lib.zeros(2, 3, 2), 3),
        # stride
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), 2, stride=0),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 9, 9), 2, stride=(1, -2)),
        lambda lib: lib.nn.functional.avg_pool2d(lib.zeros(1, 1, 4, 4), 2, stride=0),
        lambda lib: lib.nn.functional.max_pool3d(lib.zeros(1, 1, 4, 4, 4), 2, stride=-1),
        # padding
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), 2, padding=-1),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), 2, padding=2),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 9, 9), (2, 3), padding=(1, 2)),
        lambda lib: lib.nn.functional.avg_pool2d(lib.zeros(1, 1, 4, 4), 2, padding=2),
        lambda lib: lib.nn.functional.avg_pool3d(lib.zeros(1, 1, 4, 4, 4), 2, padding=-1),
        lambda lib: lib.nn.functional.max_pool3d(lib.zeros(1, 1, 9, 9, 9), 2, padding=(0, 1, 2)),
        lambda lib: lib.nn.functional.avg_pool3d(lib.zeros(1, 3, 2, 9, 9), (3, 2, 2)),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 9, 9), 2, dilation=3, padding=2),
        # kernel, dilation, divisor
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 9, 9), 0, stride=1),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), 2, dilation=0),
        lambda lib: lib.nn.functional.avg_pool2d(lib.zeros(1, 1, 4, 4), 2, divisor_override=0),
        # per-dim arguments of the wrong length
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), (2, 2, 2)),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), 2, stride=(1, 2, 3)),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(1, 1, 4, 4), 2, dilation=(1, 2, 3)),
        lambda lib: lib.nn.functional.avg_pool2d(lib.zeros(1, 1, 4, 4), 2, padding=(1, 2, 3)),
        lambda lib: lib.nn.functional.max_pool3d(lib.zeros(1, 1, 4, 4, 4), (2, 2)),
        lambda lib: lib.nn.functional.avg_pool3d(lib.zeros(1, 1, 4, 4, 4), (2, 2)),
        lambda lib: lib.nn.functional.max_pool1d(lib.zeros(1, 1, 4), 2, stride=(1, 2)),
        lambda lib: lib.nn.functional.avg_pool1d(lib.zeros(1, 1, 4), (2, 2)),
        # max_pool1d's own checks
        lambda lib: lib.nn.functional.max_pool1d(lib.zeros(1, 3, 2), 3),
        lambda lib: lib.nn.functional.max_pool1d(lib.zeros(1, 3, 9), 2, stride=0),
        lambda lib: lib.nn.functional.max_pool1d(lib.zeros(1, 3, 9), 2, padding=2),
        lambda lib: lib.nn.functional.max_pool1d(lib.zeros(1, 3, 9), 2, dilation=0),
        # rank
        lambda lib: lib.nn.functional.avg_pool1d(lib.zeros(4), 2),
        lambda lib: lib.nn.functional.avg_pool3d(lib.zeros(4, 4, 4), 2),
        lambda lib: lib.nn.functional.adaptive_max_pool1d(lib.zeros(1, 1, 1, 4), 2),
        lambda lib: lib.nn.functional.adaptive_max_pool3d(lib.zeros(4, 4, 4), 2),
        lambda lib: lib.nn.functional.max_pool2d(lib.zeros(4, 4), 2),
        lambda lib: lib.nn.functional.max_pool3d(lib.zeros(1, 1, 1, 4, 4, 4), 2),
        lambda lib: lib.nn.functional.max_pool1d(lib.zeros(4, 4, 4, 4), 2),
        lambda lib: lib.nn.functional.adaptive_avg_pool2d(lib.zeros(4, 4), 2),
        lambda lib: lib.nn.functional.adaptive_max_pool2d(lib.zeros(4), 2),
        lambda lib: lib.nn.functional.adaptive_avg_pool3d(lib.zeros(4, 4, 4), 2),
        lambda lib: lib.nn.functional.adaptive_avg_pool2d(lib.zeros(1, 1, 4, 4), -2),
        # unpool
        lambda lib: lib.nn.functional.max_unpool2d(
            lib.zeros(1, 1, 2, 2), lib.zeros(1, 1, 2, 2, dtype=lib.int64), 2, output_size=(9, 9)
        ),
        lambda lib: lib.nn.functional.max_unpool2d(
            lib.zeros(1, 1, 2, 2), lib.zeros(1, 1, 2, 2, dtype=lib.int64), 2, output_size=(1, 1, 1)
        ),
    ],
)
def test_pool_errors_match_torch(build):
    expect_torch_error(build)


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (3, 3), mode="reflect"),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3, 3), (1, 1, 3, 0), mode="reflect"),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (3, 4), mode="circular"),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (1,)),
        lambda lib: lib.nn.functional.pad(lib.zeros(3), (1, 1, 1, 1)),
        lambda lib: lib.nn.functional.pad(lib.zeros(3), (1, 1), mode="reflect"),
        lambda lib: lib.nn.functional.pad(lib.zeros(3, 4), (1, 1, 1, 1), mode="replicate"),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (1, 1), mode="foo"),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (1, 1), mode="reflect", value=1.0),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (-2, -2)),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (-4, 1), mode="replicate"),
        lambda lib: lib.nn.functional.unfold(lib.zeros(1, 1, 3, 3), 4),
        lambda lib: lib.nn.functional.unfold(lib.zeros(1, 1, 3, 3), 0),
        lambda lib: lib.nn.functional.fold(lib.zeros(1, 4, 5), (3, 3), 2),
        lambda lib: lib.nn.functional.fold(lib.zeros(1, 5, 4), (3, 3), 2),
        lambda lib: lib.nn.functional.fold(lib.zeros(5, 4, 4, 4), (3, 3), 2),
        lambda lib: lib.nn.functional.fold(lib.zeros(1, 4, 5), (1, 1), 2),
        lambda lib: lib.nn.functional.fold(lib.zeros(1, 4, 5), (3, 3), 2, stride=0),
        lambda lib: lib.nn.functional.fold(lib.zeros(1, 4, 5), (3, 3), 2, padding=-1),
        lambda lib: lib.nn.functional.unfold(lib.zeros(1, 1, 3, 3), 2, dilation=0),
        lambda lib: lib.nn.functional.unfold(lib.zeros(1, 1, 3, 3), 2, padding=(-1, 0)),
        lambda lib: lib.nn.functional.unfold(lib.zeros(1, 1, 1, 3, 3), 2),
        lambda lib: lib.nn.functional.unfold(lib.zeros(1, 1, 3, 3), (4, 1)),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (1, 1, 0, -4)),
        lambda lib: lib.nn.functional.pad(lib.zeros(1, 2, 3), (-2, -2), mode="reflect"),
    ],
)
def test_pad_and_fold_errors_match_torch(build):
    expect_torch_error(build)


# ------------------------------------------------------------------- integer inputs

INT_POOLS = [
    ("avg_pool1d", 3, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool1d", 3, dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("avg_pool2d", 4, dict(kernel_size=2)),
    ("avg_pool2d", 4, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg_pool2d", 4, dict(kernel_size=2, divisor_override=3)),
    ("avg_pool3d", 5, dict(kernel_size=2, stride=1, padding=1, count_include_pad=False)),
    ("adaptive_avg_pool1d", 3, dict(output_size=4)),
    ("adaptive_avg_pool2d", 4, dict(output_size=(3, 4))),
    ("adaptive_avg_pool3d", 5, dict(output_size=2)),
    # an output of ones is PyTorch's mean over the planes, with the mean's error
    ("adaptive_avg_pool1d", 3, dict(output_size=1)),
    ("adaptive_avg_pool2d", 4, dict(output_size=1)),
    ("adaptive_avg_pool3d", 5, dict(output_size=(1, 1, 1))),
    ("adaptive_max_pool1d", 3, dict(output_size=4)),
    ("adaptive_max_pool2d", 4, dict(output_size=(3, 4))),
    ("adaptive_max_pool3d", 5, dict(output_size=2)),
    ("max_pool2d", 4, dict(kernel_size=2)),
    ("max_pool3d", 5, dict(kernel_size=2)),
]


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("fn,dims,kw", INT_POOLS, ids=lambda v: v if isinstance(v, str) else "")
def test_pools_of_integer_inputs_as_pytorchs(fn, dims, kw, dtype):
    # PyTorch's CPU average pools take int64 over fixed windows (sums divided toward zero);
    # the adaptive pools take no integers; the errors name PyTorch's kernels.
    if current_device() != "cpu":
        pytest.skip("PyTorch's integer pools differ by device; compared on the CPU")
    shape = (2, 3, 7, 6, 5)[: dims]
    a = np.random.default_rng(5).integers(-40, 40, size=shape)
    if dtype in ("uint8", "bool"):
        a = np.abs(a) % (2 if dtype == "bool" else 256)
    assert_same_outcome(lambda lib: getattr(lib.nn.functional, fn)(
        lib.tensor(a).to(getattr(lib, dtype)), **kw))

@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fn,dims", [("avg_pool3d", 5), ("avg_pool2d", 4), ("max_pool3d", 5)])
def test_half_float_pools_on_the_cpu_as_pytorchs(fn, dims, dtype):
    # PyTorch's CPU 3-D average pool takes no half floats ("avg_pool3d_out_frame"); the
    # other pools do, computing in float32 and rounding once.
    torch = need_torch()
    if current_device() != "cpu":
        pytest.skip("PyTorch's GPU pools take half floats; compared on the CPU")
    a = np.random.default_rng(6).standard_normal((2, 3, 6, 5, 4)[:dims])
    results = []
    for lib in (rt, torch):
        x = lib.tensor(a).to(getattr(lib, dtype))
        try:
            out = getattr(lib.nn.functional, fn)(x, 2)
            results.append(np.array(out.float().tolist()))
        except NotImplementedError as e:
            results.append(str(e))
    ours, theirs = results
    if isinstance(theirs, str):
        assert ours == theirs
    else:
        np.testing.assert_array_equal(ours, theirs)


def _pooled(lib, shape, dtype, n):
    """A max pool's indices over a float input of `shape` (window 2), and values of the
    pooled shape in `dtype`: an unpooling's operands."""
    x = lib.tensor(_distinct(*shape))
    _, idx = getattr(lib.nn.functional, f"max_pool{n}d")(x, 2, return_indices=True)
    vals = np.random.default_rng(3).integers(0, 2 if dtype == "bool" else 90, tuple(idx.shape))
    return lib.tensor(vals).to(getattr(lib, dtype)), idx


GATHER_DTYPES = ["uint8", "int8", "int32", "int64", "bool", "float16", "float32"]


@pytest.mark.parametrize("dtype", GATHER_DTYPES)
@pytest.mark.parametrize("case", [
    "max_pool1d", "max_pool1d unbatched", "max_pool1d with indices",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
])
def test_max_pool1d_and_unpooling_take_pytorchs_dtypes(case, dtype):
    # PyTorch's CPU max_pool1d without indices has a kernel of its own that takes floats
    # only ("max_pool1d_impl"); with indices it is the 2-D pool (all but bool). Its CPU
    # unpooling takes floats only ("max_unpool2d" for 1-D and 2-D, "max_unpool3d").
    if current_device() != "cpu":
        pytest.skip("PyTorch's pool dtypes differ by device; compared on the CPU")
    a = np.random.default_rng(4).integers(0, 2 if dtype == "bool" else 90, (2, 3, 8))
    if case.startswith("max_unpool"):
        n = int(case[-2])
        shape = (2, 3, 6, 4, 4)[: n + 2]
        assert_same_outcome(lambda lib: getattr(lib.nn.functional, case)(
            *_pooled(lib, shape, dtype, n), 2))
        return
    kw = {"return_indices": True} if case.endswith("indices") else {}

    def pool(lib):
        x = lib.tensor(a[0] if case.endswith("unbatched") else a).to(getattr(lib, dtype))
        out = lib.nn.functional.max_pool1d(x, 2, **kw)
        return out[0] if kw else out

    assert_same_outcome(pool)


def test_cuda_unpooling_takes_integers_but_not_bool():
    # PyTorch's CUDA unpooling kernels take every dtype but bool.
    torch = need_torch()
    if current_device() != "cuda":
        pytest.skip("the CUDA unpooling's dtypes; this run's device is the CPU")
    vals, idx = _pooled(rt, (2, 3, 6, 4), "int32", 2)
    vals_t, idx_t = _pooled(torch, (2, 3, 6, 4), "int32", 2)
    out = F.max_unpool2d(vals.to("cuda"), idx.to("cuda"), 2)
    np.testing.assert_array_equal(
        np.array(out.cpu().tolist()),
        np.array(torch.nn.functional.max_unpool2d(vals_t.float(), idx_t, 2).int().tolist()))
    with pytest.raises(NotImplementedError, match="max_unpooling2d_forward_kernel"):
        F.max_unpool2d(vals.bool().to("cuda"), idx.to("cuda"), 2)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32"])
@pytest.mark.parametrize("dims", [2, 3, 4, 5])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_take_pytorchs_dtypes(mode, dims, dtype):
    # PyTorch's reflection and replication pads take every dtype but bool
    # ("reflection_pad2d" not implemented for 'Bool'), its circular pad (a composite) all.
    a = np.random.default_rng(5).integers(0, 2 if dtype == "bool" else 90, (2, 3, 4, 5, 3)[:dims])
    k = max(dims - 2, 1)

    def pad(lib):
        x = lib.tensor(a).to(getattr(lib, dtype))
        return lib.nn.functional.pad(x.to(current_device()) if lib is rt else x, (1, 2) * k,
                                     mode=mode)

    assert_same_outcome(pad)


# ---------------------------------------------------------------------------- fractional


FRACTIONAL_CASES = [
    # (spatial dims, input shape, kernel, kwargs)
    (2, (2, 3, 13, 11), 2, dict(output_size=(7, 6))),
    (2, (2, 3, 16, 21), (3, 2), dict(output_ratio=(0.5, 0.7))),
    (2, (2, 17, 9), 3, dict(output_size=(5, 7))),  # unbatched
    (2, (1, 2, 8, 8), (1, 4), dict(output_size=(8, 1))),  # one window a row: no steps
    (3, (1, 2, 9, 11, 10), 2, dict(output_size=(4, 6, 5))),
    (3, (2, 7, 8, 9), (2, 3, 2), dict(output_ratio=(0.6, 0.5, 0.7))),  # unbatched
]


def _samples(lib, x, nd, seed):
    """Fixed ``_random_samples`` for ``x`` (``[N, C, nd]`` in the input's dtype)."""
    batch = 1 if x.dim() == nd + 1 else x.shape[0]
    arr = np.random.default_rng(seed).random((batch, x.shape[-nd - 1], nd))
    return lib.tensor(arr, dtype=x.dtype, device=x.device)


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "strided"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", FRACTIONAL_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_fractional_max_pool_matches_torch(case, dtype, layout):
    """Values, indices and gradients equal PyTorch's for the same samples: its windows are
    placed by its CPU kernel's arithmetic in the input's dtype, width from sample 0 in 2-D,
    time/height/width from samples 0/1/2 in 3-D."""
    nd, xs, k, kw = case
    if layout == "channels_last" and len(xs) != nd + 2:
        pytest.skip("channels-last needs a batch dim")

    def fn(lib, x):
        pool = getattr(lib.nn.functional, f"fractional_max_pool{nd}d")
        return pool(x, k, return_indices=True, _random_samples=_samples(lib, x, nd, 3), **kw)

    for seed in range(3):
        values, indices = compare(fn, [_distinct(*xs, seed=seed)], dtype, layouts=[layout])
    assert str(indices.dtype).endswith("int64")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_fractional_max_pool_windows_as_pytorchs_in_every_float_type(dtype):
    """The windows' starts come from arithmetic in the input's own type (each step rounded to
    float16 or bfloat16 there), so the indices equal PyTorch's on many random sizes."""
    torch = need_torch()
    rng = np.random.default_rng(0)
    for trial in range(40):
        h, w = (int(v) for v in rng.integers(5, 40, 2))
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        out = (int(rng.integers(1, h - k[0] + 2)), int(rng.integers(1, w - k[1] + 2)))
        x, s = _distinct(2, 3, h, w, seed=trial), rng.random((2, 3, 2))
        got = []
        for lib, dev in ((rt, current_device()), (torch, "cpu")):
            dt = getattr(lib, dtype)
            xt = lib.tensor(x, device=dev).to(dt)
            st = lib.tensor(s, device=dev).to(dt)
            got.append(to_np(lib.nn.functional.fractional_max_pool2d(
                xt, k, output_size=out, return_indices=True, _random_samples=st)[1]))
        np.testing.assert_array_equal(got[0], got[1], err_msg=f"{(h, w, k, out)}")


def test_fractional_max_pool_ties_infinities_and_nans():
    """The first maximum of a window wins a tie, -inf windows keep their first position,
    and a NaN wins over numbers (PyTorch's ``val > max || isnan(val)``)."""
    x = np.zeros((1, 2, 6, 6))
    x[0, 1] = -np.inf
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 4:, 4:] = 1.0

    def fn(lib, x):
        s = lib.tensor([[[0.5, 0.25], [0.75, 0.1]]], dtype=x.dtype, device=x.device)
        return lib.nn.functional.fractional_max_pool2d(
            x, 3, output_size=(3, 3), return_indices=True, _random_samples=s
        )

    compare(fn, [x], grad=False)


@pytest.mark.parametrize("nd, shape", [(2, (2, 2, 7, 8)), (3, (1, 2, 5, 6, 5))])
def test_fractional_max_pool_gradcheck_and_gradgradcheck(nd, shape):
    x = rt.tensor(
        _distinct(*shape) * 10, dtype=rt.float64, device=current_device(), requires_grad=True
    )
    s = _samples(rt, x, nd, 1)
    pool = getattr(F, f"fractional_max_pool{nd}d")

    def fn(x):
        return pool(x, 2, output_size=(3,) * nd, _random_samples=s)

    assert rt.autograd.gradcheck(fn, (x,))
    assert rt.autograd.gradgradcheck(fn, (x,))
    assert type(fn(x).grad_fn).__name__ == f"FractionalMaxPool{nd}DBackward0"


def test_fractional_max_pool_draws_its_own_steps():
    """Without ``_random_samples`` each call draws new window positions: every output is
    its index's input, each index lies in a window of the kernel's size, and the positions
    vary between calls."""
    x = rt.tensor(_distinct(4, 3, 25, 25), dtype=rt.float32, device=current_device())
    seen = set()
    for _ in range(5):
        values, indices = F.fractional_max_pool2d(x, 2, output_ratio=0.5, return_indices=True)
        assert tuple(values.shape) == (4, 3, 12, 12)
        flat = to_np(x).reshape(4, 3, -1)
        idx = to_np(indices).reshape(4, 3, -1)
        np.testing.assert_array_equal(np.take_along_axis(flat, idx, 2).reshape(values.shape),
                                      to_np(values))
        rows, cols = idx // 25, idx % 25
        # consecutive outputs of a row step by 1 or 2 columns (kernel 2, ratio 0.5)
        steps = np.diff(cols.reshape(4, 3, 12, 12).min(axis=2), axis=-1)
        assert steps.min() >= 0 and rows.max() < 25
        seen.add(to_np(indices).tobytes())
    assert len(seen) > 1


def test_fractional_max_pool_modules_match_torch():
    torch = need_torch()
    for nd, args, kw, xs in (
        (2, (3,), dict(output_ratio=(0.5, 0.5)), (2, 3, 12, 13)),
        (2, ((2, 3),), dict(output_size=5, return_indices=True), (3, 9, 10)),
        (3, (2,), dict(output_size=(3, 4, 3)), (1, 2, 7, 8, 6)),
    ):
        name = f"FractionalMaxPool{nd}d"
        samples = np.random.default_rng(nd).random((xs[0] if len(xs) == nd + 2 else 1,
                                                    xs[-nd - 1], nd))
        ours = getattr(nn, name)(*args, **kw, _random_samples=rt.tensor(samples))
        theirs = getattr(torch.nn, name)(*args, **kw, _random_samples=torch.tensor(samples))
        assert repr(ours) == repr(theirs)
        for attr in ("kernel_size", "output_size", "output_ratio", "return_indices"):
            assert getattr(ours, attr) == getattr(theirs, attr), (name, attr)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["_random_samples"]
        ours.to(current_device())

        def fn(lib, x, ours=ours, theirs=theirs):
            return (ours if lib is rt else theirs)(x)

        compare(fn, [_distinct(*xs)])


@pytest.mark.parametrize(
    "build",
    [
        lambda lib: lib.nn.FractionalMaxPool2d(2),
        lambda lib: lib.nn.FractionalMaxPool2d(2, output_ratio=1.5),
        lambda lib: lib.nn.FractionalMaxPool2d(2, output_ratio=(0.5, 1.0)),
        lambda lib: lib.nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5),
        lambda lib: lib.nn.FractionalMaxPool3d(2, output_ratio=0),
        lambda lib: lib.nn.FractionalMaxPool3d(0, output_size=2),
        lambda lib: lib.nn.functional.fractional_max_pool3d(lib.zeros(1, 1, 4, 4, 4), 2),
    ],
)
def test_fractional_max_pool_argument_errors_match_torch(build):
    expect_torch_error(build, ValueError)


def _frac(lib, shape, k, out, samples=None, nd=2, dtype=None):
    x = lib.zeros(*shape, dtype=dtype or lib.float32)
    pool = getattr(lib.nn.functional, f"fractional_max_pool{nd}d")
    return pool(x, k, output_size=out, _random_samples=samples)


@pytest.mark.parametrize(
    "build",
    [
        # pool too large for the input
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, (7, 3)),
        lambda lib: _frac(lib, (1, 1, 7, 9), (2, 3), (3, 8)),
        lambda lib: _frac(lib, (1, 1, 6, 7, 8), 2, (6, 3, 3), nd=3),
        lambda lib: _frac(lib, (1, 1, 6, 7, 8), 2, (3, 7, 3), nd=3),
        lambda lib: _frac(lib, (1, 1, 6, 7, 8), 2, (3, 3, 8), nd=3),
        # the 3-D bound is strict, the 2-D one not
        lambda lib: _frac(lib, (1, 1, 5, 5, 5), 2, (4, 3, 3), nd=3),
        lambda lib: _frac(lib, (1, 1, 5, 5, 5), 5, (1, 1, 1), nd=3),
        # too large and bad samples at once: the size is reported
        lambda lib: _frac(lib, (1, 1, 6, 6), 2, (6, 3), lib.rand(1, 1, 3)),
        # samples that require grad
        lambda lib: _frac(lib, (1, 1, 6, 6), 2, 3, lib.rand(1, 1, 2, requires_grad=True)),
        # rank, empty dims, argument lengths
        lambda lib: _frac(lib, (1, 1, 1, 7, 9), 2, 3),
        lambda lib: _frac(lib, (1, 1, 1, 6, 7, 8), 2, 3, nd=3),
        lambda lib: _frac(lib, (1, 0, 7, 9), 2, 3),
        lambda lib: _frac(lib, (1, 1, 0, 9), 2, 3),
        lambda lib: _frac(lib, (1, 0, 6, 7, 8), 2, 3, nd=3),
        lambda lib: _frac(lib, (1, 1, 7, 9), (2, 2, 2), 3),
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, (3, 3, 3)),
        lambda lib: _frac(lib, (1, 1, 6, 7, 8), (2, 2), 3, nd=3),
        lambda lib: _frac(lib, (1, 1, 6, 7, 8), 2, (3, 3), nd=3),
        # the samples
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, 3, lib.rand(1, 1, 2, dtype=lib.float64)),
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, 3, lib.rand(1, 2)),
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, 3, lib.rand(1, 1, 2, 1)),
        lambda lib: _frac(lib, (2, 1, 7, 9), 2, 3, lib.rand(1, 1, 2)),
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, 3, lib.rand(1, 2, 2)),
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, 3, lib.rand(1, 1, 3)),
        # dtypes
        lambda lib: _frac(lib, (1, 1, 7, 9), 2, 3, lib.zeros(1, 1, 2, dtype=lib.int32),
                          dtype=lib.int32),
        lambda lib: _frac(lib, (1, 1, 6, 7, 9), 2, 3, lib.zeros(1, 1, 3, dtype=lib.int64),
                          nd=3, dtype=lib.int64),
        # an unbatched 2-D input has no channel dim to draw samples for
        lambda lib: _frac(lib, (7, 9), 2, 3),
    ],
)
def test_fractional_max_pool_errors_match_torch(build):
    expect_torch_error(build)


def test_fractional_max_pool_refuses_what_pytorch_reads_out_of_bounds():
    """A kernel of 0 (PyTorch returns -inf), an output size that overflows, or samples
    whose windows would leave the input (PyTorch reads past the plane) raise a clear error
    instead."""
    x = rt.zeros(1, 1, 7, 9, device=current_device())
    with pytest.raises(RuntimeError, match="kernel_size must be greater than zero"):
        F.fractional_max_pool2d(x, 0, output_size=3)
    # an output size whose sum with the kernel overflows (PyTorch fails allocating it)
    with pytest.raises(RuntimeError, match="pool height 2 too large relative to input height 7"):
        F.fractional_max_pool2d(x, 2, output_size=(2**63 - 1, 3))
    # float16's steps near 3000 are 2 apart: one window would start past the last column
    x = rt.zeros(1, 1, 6, 6, dtype=rt.float16, device=current_device())
    s = rt.tensor([[[3000.0, 0.5]]], dtype=rt.float16, device=current_device())
    with pytest.raises(RuntimeError, match=r"windows placed from _random_samples .* would leave"):
        F.fractional_max_pool2d(x, 1, output_size=5, _random_samples=s)
