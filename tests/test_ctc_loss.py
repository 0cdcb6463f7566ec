"""nn.CTCLoss / F.ctc_loss against torch.nn.functional.ctc_loss.

Values and gradients (with respect to the log-probabilities themselves and to the logits
before ``log_softmax``) in float32 and float64, for padded and concatenated targets, all
reductions, repeated labels, impossible alignments (with and without ``zero_infinity``),
unbatched inputs, every accepted form of the lengths, and PyTorch's errors for bad
arguments. Hand-computed single-alignment cases need no PyTorch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import LIB_NAME, make_tensor, need_torch, rt, to_np

if not hasattr(rt, "nn") or not hasattr(rt.nn.functional, "ctc_loss"):
    pytest.skip(f"{LIB_NAME} has no ctc_loss", allow_module_level=True)

F = rt.nn.functional
TOL = {"float32": {"rtol": 1e-4, "atol": 1e-5}, "float64": {"rtol": 1e-9, "atol": 1e-11}}


def problem(seed=0, T=14, N=5, C=7, S=5):
    """Random logits, padded targets (with repeats) and lengths, some shorter than the max."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((T, N, C))
    targets = rng.integers(1, C, (N, S))
    if S >= 4:
        targets[0, :4] = [3, 3, 3, 2]  # repeated labels: need blanks between them
        targets[1, :3] = [4, 4, 1]
    input_lengths = [T, T - 1, 9, T, 6][:N]
    target_lengths = [4, 3, 0, S, 2][:N]
    return logits, targets, input_lengths, target_lengths


def concatenated(targets, target_lengths):
    return np.concatenate([row[:n] for row, n in zip(targets, target_lengths)])


def run(lib, logits, targets, il, tl, dtype, wrt="log_probs", lengths="tensor", **kwargs):
    """The loss and the gradient of its sum with respect to ``wrt`` (a leaf)."""
    leaf = make_tensor(lib, logits, dtype, requires_grad=True)
    log_probs = leaf.log_softmax(-1)
    if wrt == "log_probs":
        leaf = log_probs.detach().requires_grad_()
        log_probs = leaf
    if lengths == "tensor":
        il, tl = lib.tensor(il), lib.tensor(tl)
    else:
        il, tl = tuple(il), tuple(tl)
    loss = lib.nn.functional.ctc_loss(log_probs, lib.tensor(targets), il, tl, **kwargs)
    loss.sum().backward()
    return to_np(loss), to_np(leaf.grad)


def val(t) -> float:
    return t.detach().item()


def compare(ours, theirs, dtype):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("wrt", ["log_probs", "logits"])
def test_values_and_gradients_match_pytorch(dtype, layout, reduction, wrt):
    torch = need_torch()
    logits, targets, il, tl = problem(seed=hash((dtype, layout)) % 1000)
    if layout == "concatenated":
        targets = concatenated(targets, tl)
    ours = run(rt, logits, targets, il, tl, dtype, wrt, reduction=reduction)
    theirs = run(torch, logits, targets, il, tl, dtype, wrt, reduction=reduction)
    compare(ours, theirs, dtype)
    assert np.isfinite(ours[0]).all() and np.abs(ours[1]).max() > 1e-3
    assert ours[0].shape == theirs[0].shape


@pytest.mark.parametrize("blank", [0, 3, 6])
def test_blank_index_and_lengths_as_tuples(blank):
    torch = need_torch()
    logits, targets, il, tl = problem(seed=7)
    targets = np.where(targets == blank, (blank + 1) % 7, targets)
    kwargs = {"blank": blank, "reduction": "none"}
    ours = run(rt, logits, targets, il, tl, "float64", lengths="tuple", **kwargs)
    theirs = run(torch, logits, targets, il, tl, "float64", lengths="tuple", **kwargs)
    compare(ours, theirs, "float64")
    as_tensors = run(rt, logits, targets, il, tl, "float64", **kwargs)
    compare(ours, as_tensors, "float64")


def test_single_alignment_values_by_hand():
    # T = 3, target (1, 1): the only alignment is 1, blank, 1.
    lp = np.log(np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.1, 0.7, 0.2]]))
    log_probs = make_tensor(rt, lp[:, None, :], "float64", requires_grad=True)
    loss = F.ctc_loss(log_probs, rt.tensor([[1, 1]]), (3,), (2,), reduction="sum")
    assert val(loss) == pytest.approx(-(lp[0, 1] + lp[1, 0] + lp[2, 1]), rel=1e-12)
    # T = 2 cannot hold 1, blank, 1: infinite loss, or 0 with zero_infinity
    short = log_probs[:2]
    assert math.isinf(val(F.ctc_loss(short, rt.tensor([[1, 1]]), (2,), (2,))))
    zero = F.ctc_loss(short, rt.tensor([[1, 1]]), (2,), (2,), zero_infinity=True)
    assert val(zero) == 0.0
    # (1, 2) fits in T = 2: the alignments are exactly "1 2"
    loss = F.ctc_loss(short, rt.tensor([[1, 2]]), (2,), (2,), reduction="none")
    assert val(loss[0]) == pytest.approx(-(lp[0, 1] + lp[1, 2]), rel=1e-12)
    # an empty target: all blanks
    loss = F.ctc_loss(log_probs, rt.zeros(1, 0, dtype=rt.int64), (3,), (0,), reduction="sum")
    assert val(loss) == pytest.approx(-lp[:, 0].sum(), rel=1e-12)
    # 'mean' divides by the target length
    loss = F.ctc_loss(log_probs, rt.tensor([[1, 2]]), (3,), (2,), reduction="mean")
    ref = F.ctc_loss(log_probs, rt.tensor([[1, 2]]), (3,), (2,), reduction="sum")
    assert val(loss) == pytest.approx(val(ref) / 2, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_impossible_alignments_and_zero_infinity(dtype, reduction):
    torch = need_torch()
    logits, targets, _, _ = problem(seed=3, T=8, N=4, S=4)
    targets[0] = [2, 2, 2, 2]  # needs 7 steps
    targets[2] = [1, 5, 5, 1]  # needs 5 steps
    il, tl = [6, 8, 4, 8], [4, 3, 4, 0]  # samples 0 and 2 are impossible
    for zero_infinity in (False, True):
        kwargs = {"reduction": reduction, "zero_infinity": zero_infinity}
        ours = run(rt, logits, targets, il, tl, dtype, **kwargs)
        theirs = run(torch, logits, targets, il, tl, dtype, **kwargs)
        np.testing.assert_array_equal(np.isnan(ours[1]), np.isnan(theirs[1]))
        compare(ours, theirs, dtype)  # NaNs compare equal to NaNs
        if zero_infinity:
            assert np.isfinite(ours[0]).all()
            assert (ours[1][:, [0, 2]] == 0).all() and np.abs(ours[1][:, 1]).max() > 0
        else:
            assert np.isinf(ours[0]).any()
            # PyTorch: NaN gradients for t < input_length of an infinite loss
            assert np.isnan(ours[1][:6, 0]).all() and (ours[1][6:, 0] == 0).all()
            assert np.isfinite(ours[1][:, 1]).all()


def test_input_length_zero():
    torch = need_torch()
    logits, targets, _, _ = problem(seed=5, T=5, N=3, S=2)
    il, tl = [0, 0, 5], [0, 2, 2]
    ours = run(rt, logits, targets, il, tl, "float64", reduction="none")
    theirs = run(torch, logits, targets, il, tl, "float64", reduction="none")
    assert ours[0][0] == 0 and math.isinf(ours[0][1])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1][:, 2], theirs[1][:, 2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("form", ["1d", "2d"])
@pytest.mark.parametrize("lengths", ["0d", "1d", "tuple"])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_unbatched(form, lengths, reduction):
    torch = need_torch()
    rng = np.random.default_rng(11)
    logits = rng.standard_normal((9, 5))
    target = np.array([1, 3, 3]) if form == "1d" else np.array([[1, 3, 3]])
    results = []
    for lib in (rt, torch):
        x = make_tensor(lib, logits, "float32", requires_grad=True)
        if lengths == "0d":
            il, tl = lib.tensor(9), lib.tensor(3)
        elif lengths == "1d":
            il, tl = lib.tensor([9]), lib.tensor([3])
        else:
            il, tl = (9,), (3,)
        loss = lib.nn.functional.ctc_loss(
            x.log_softmax(-1), lib.tensor(target), il, tl, reduction=reduction
        )
        loss.backward()
        results.append((tuple(loss.shape), to_np(loss), to_np(x.grad)))
    assert results[0][0] == results[1][0] == ()
    compare(results[0][1:], results[1][1:], "float32")


def test_target_dtypes_and_layouts_agree():
    logits, targets, il, tl = problem(seed=2)
    lp = make_tensor(rt, logits, "float64").log_softmax(-1)
    ref = F.ctc_loss(lp, rt.tensor(targets), il, tl, reduction="none")
    for t in (
        rt.tensor(targets, dtype=rt.int32),
        rt.tensor(targets).t().contiguous().t(),  # non-contiguous
        rt.tensor(concatenated(targets, tl)),
        rt.tensor(np.pad(targets, ((0, 0), (0, 3)), constant_values=-1)),  # extra padding
    ):
        out = F.ctc_loss(lp, t, rt.tensor(il, dtype=rt.int32), rt.tensor(tl), reduction="none")
        np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-12)


def test_module():
    torch = need_torch()
    logits, targets, il, tl = problem(seed=4)
    crit = rt.nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert crit.blank == 0 and crit.reduction == "sum" and crit.zero_infinity is True
    assert repr(crit) == "CTCLoss()"
    assert isinstance(crit, rt.nn.Module)
    lp = make_tensor(rt, logits, "float32").log_softmax(-1)
    out = crit(lp, rt.tensor(targets), rt.tensor(il), rt.tensor(tl))
    ref = torch.nn.CTCLoss(reduction="sum", zero_infinity=True)(
        make_tensor(torch, logits, "float32").log_softmax(-1),
        torch.tensor(targets), torch.tensor(il), torch.tensor(tl),
    )
    np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-5)
    assert rt.nn.CTCLoss().reduction == "mean" and rt.nn.CTCLoss().zero_infinity is False


def test_longer_sequence_gradient():
    torch = need_torch()
    logits, targets, il, tl = problem(seed=9, T=50, N=6, C=20, S=12)
    il, tl = [50, 47, 30, 50, 41, 50], [12, 10, 0, 9, 12, 5]
    ours = run(rt, logits, targets, il, tl, "float32", wrt="logits")
    theirs = run(torch, logits, targets, il, tl, "float32", wrt="logits")
    compare(ours, theirs, "float32")


def _lp(lib, shape=(6, 2, 4), dtype="float32"):
    return lib.zeros(*shape, dtype=getattr(lib, dtype)).log_softmax(-1)


def _long(lib, *shape):
    return lib.ones(*shape, dtype=lib.int64)


ERRORS = {
    "reduction": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6, 6), (2, 2), reduction="avg"),
    "float_lengths": lambda lib, f: f(
        _lp(lib), _long(lib, 2, 2), lib.tensor([6.0, 6.0]), lib.tensor([2, 2])
    ),
    "bool_lengths": lambda lib, f: f(
        _lp(lib), _long(lib, 2, 2), lib.tensor([6, 6]), lib.tensor([True, True])
    ),
    "empty": lambda lib, f: f(_lp(lib, (0, 2, 4)), _long(lib, 2, 2), (0, 0), (2, 2)),
    "int_log_probs": lambda lib, f: f(
        lib.zeros(6, 2, 4, dtype=lib.int32), _long(lib, 2, 2), (6, 6), (2, 2)
    ),
    "log_probs_4d": lambda lib, f: f(_lp(lib, (6, 2, 4, 1)), _long(lib, 2, 2), (6, 6), (2, 2)),
    "log_probs_1d": lambda lib, f: f(_lp(lib, (6,)), _long(lib, 2, 2), (6, 6), (2, 2)),
    "targets_3d": lambda lib, f: f(_lp(lib), _long(lib, 2, 2, 1), (6, 6), (2, 2)),
    "blank_high": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6, 6), (2, 2), blank=4),
    "blank_negative": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6, 6), (2, 2), blank=-1),
    "input_lengths_size": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6,), (2, 2)),
    "target_lengths_size": lambda lib, f: f(
        _lp(lib), _long(lib, 2, 2), lib.tensor([6, 6]), lib.tensor([2, 2, 2])
    ),
    "target_length_negative": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6, 6), (2, -1)),
    "targets_batch": lambda lib, f: f(_lp(lib), _long(lib, 3, 2), (6, 6), (2, 2)),
    "targets_too_short": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6, 6), (2, 3)),
    "concatenated_size": lambda lib, f: f(_lp(lib), _long(lib, 5), (6, 6), (2, 2)),
    "concatenated_negative": lambda lib, f: f(_lp(lib), _long(lib, 2), (6, 6), (3, -1)),
    "input_length_high": lambda lib, f: f(_lp(lib), _long(lib, 2, 2), (6, 7), (2, 2)),
    "input_length_negative": lambda lib, f: f(
        _lp(lib), _long(lib, 2, 2), lib.tensor([-1, 6]), lib.tensor([2, 2])
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_match_pytorch(case):
    torch = need_torch()
    caught = []
    for lib in (rt, torch):
        with pytest.raises(Exception) as info:
            ERRORS[case](lib, lib.nn.functional.ctc_loss)
        caught.append((type(info.value), str(info.value)))
    assert caught[0] == caught[1]


@pytest.mark.parametrize(
    "il, tl",
    [(lambda lib: lib.tensor([6, 6]), (2, 2)), ((6, 6), lambda lib: lib.tensor([2, 2])),
     (6, 2), ((6.0, 6), (2, 2))],
)
def test_mixed_length_kinds_are_type_errors(il, tl):
    for lib in (rt, need_torch()):
        args = [a(lib) if callable(a) else a for a in (il, tl)]
        with pytest.raises(TypeError, match="ctc_loss\\(\\) received an invalid combination"):
            lib.nn.functional.ctc_loss(_lp(lib), _long(lib, 2, 2), *args)
