"""LR schedulers beyond the basic set: ConstantLR, LinearLR, PolynomialLR, MultiplicativeLR,
CosineAnnealingWarmRestarts, CyclicLR, SequentialLR and ChainedScheduler.

Every learning-rate (and cycled momentum) sequence must equal PyTorch's exactly (the same
floating-point operations in the same order); state-dict round trips must resume the same
sequence; invalid arguments raise PyTorch's exception types with PyTorch's messages.
"""

from __future__ import annotations

import math
import pickle
import re
import warnings

import pytest
from conftest import LIB_NAME, need_torch, rt

if not hasattr(rt, "optim"):
    pytest.skip(f"{LIB_NAME} has no optim package", allow_module_level=True)

lr_scheduler = rt.optim.lr_scheduler

NEW_SCHEDULERS = (
    "ConstantLR",
    "LinearLR",
    "PolynomialLR",
    "MultiplicativeLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "SequentialLR",
    "ChainedScheduler",
)


def two_group_optimizer(lib, kind="sgd"):
    w = lib.nn.Parameter(lib.zeros(2))
    b = lib.nn.Parameter(lib.zeros(1))
    groups = [{"params": [w]}, {"params": [b], "lr": 0.01}]
    if kind == "sgd":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


def momenta_of(opt):
    return tuple(g["betas"] if "betas" in g else g.get("momentum") for g in opt.param_groups)


def run(opt, sched, steps, epochs=None):
    """Step ``steps`` times (or through ``epochs``); the lrs and momenta after each step."""
    lrs = [tuple(sched.get_last_lr())]
    momenta = [momenta_of(opt)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the epoch-argument deprecation warning
        for i in range(steps if epochs is None else len(epochs)):
            opt.step()
            if epochs is None:
                sched.step()
            else:
                sched.step(epochs[i])
            lrs.append(tuple(sched.get_last_lr()))
            assert tuple(g["lr"] for g in opt.param_groups) == lrs[-1]
            momenta.append(momenta_of(opt))
    return lrs, momenta


class ScaleByCycle:
    """A callable object as CyclicLR scale_fn: its ``__dict__`` travels in state dicts."""

    def __init__(self, base: float) -> None:
        self.base = base

    def __call__(self, x: float) -> float:
        return self.base**x


SIMPLE = [
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.25, "total_iters": 7}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.6, "total_iters": 13}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 20}),
    ("PolynomialLR", {}),
    ("PolynomialLR", {"total_iters": 17, "power": 2.0}),
    ("PolynomialLR", {"total_iters": 30, "power": 0.5}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.95}),
    ("MultiplicativeLR",
     {"lr_lambda": [lambda e: 1.0 - 0.01 * e, lambda e: 0.9 if e % 3 else 1.1]}),
    ("CosineAnnealingWarmRestarts", {"T_0": 7}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.001}),
    ("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": 3}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5}),
    ("CyclicLR", {"base_lr": [0.01, 0.001], "max_lr": [0.1, 0.05], "step_size_up": 4,
                  "step_size_down": 7, "mode": "triangular2"}),
    ("CyclicLR", {"base_lr": 0.02, "max_lr": 0.2, "step_size_up": 6, "mode": "exp_range",
                  "gamma": 0.97, "base_momentum": 0.7, "max_momentum": [0.95, 0.9]}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3,
                  "scale_fn": lambda x: 1.0 / (1.0 + 0.1 * x), "scale_mode": "iterations"}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4,
                  "scale_fn": ScaleByCycle(0.8), "cycle_momentum": False}),
]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name, kwargs", SIMPLE)
def test_sequences_equal_pytorch(name, kwargs, kind):
    torch = need_torch()
    results = []
    for lib in (rt, torch):
        opt = two_group_optimizer(lib, kind)
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
        results.append(run(opt, sched, 40))
    (ours, our_momenta), (theirs, their_momenta) = results
    assert ours == theirs
    assert our_momenta == their_momenta
    assert len(set(ours)) > 1  # the schedule does change the lr


def test_closed_form_values():
    # Reference values from the documented formulas (no PyTorch needed).
    opt = two_group_optimizer(rt)
    lrs, _ = run(opt, lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=4), 6)
    assert [r[0] for r in lrs] == pytest.approx([0.05, 0.0625, 0.075, 0.0875, 0.1, 0.1, 0.1])
    opt = two_group_optimizer(rt)
    lrs, _ = run(opt, lr_scheduler.PolynomialLR(opt, total_iters=4, power=2.0), 5)
    assert [r[0] for r in lrs] == pytest.approx([0.1 * (1 - min(e, 4) / 4) ** 2 for e in range(6)])
    opt = two_group_optimizer(rt)
    lrs, _ = run(opt, lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2), 3)
    assert [r[1] for r in lrs] == pytest.approx([0.005, 0.005, 0.01, 0.01])
    opt = two_group_optimizer(rt)
    sched = lr_scheduler.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2, mode="triangular2")
    lrs, momenta = run(opt, sched, 8)
    assert [r[0] for r in lrs] == pytest.approx([0, 0.5, 1, 0.5, 0, 0.25, 0.5, 0.25, 0])
    assert momenta[2][0] == pytest.approx(0.8) and momenta[0][0] == pytest.approx(0.9)
    opt = two_group_optimizer(rt)
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    lrs, _ = run(opt, sched, 7)
    c1, c3 = (1 + math.cos(math.pi / 4)) / 2, (1 + math.cos(3 * math.pi / 4)) / 2
    expected = [1, 0.5, 1, c1, 0.5, c3]
    assert [r[0] / 0.1 for r in lrs[:6]] == pytest.approx(expected)
    assert lrs[6][0] == pytest.approx(0.1)  # restart at epoch 6 = 2 + 4


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs_equal_pytorch(t_mult):
    torch = need_torch()
    iters = 7
    epochs = [e + i / iters for e in range(12) for i in range(iters)]
    epochs += [3.5, 0.25, 20.0, 9.99, 40.5, 2]  # jumps back and forth
    results = []
    for lib in (rt, torch):
        opt = two_group_optimizer(lib)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=3, T_mult=t_mult, eta_min=0.002
        )
        lrs, _ = run(opt, sched, 0, epochs=epochs)
        results.append((lrs, sched.T_i, sched.T_cur, sched.last_epoch))
    assert results[0] == results[1]


def test_warm_restarts_epoch_argument_does_not_warn():
    opt = two_group_optimizer(rt)
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step(1.5)
    assert sched.last_epoch == 1 and sched.T_cur == 1.5
    with pytest.raises(ValueError, match=re.escape("Expected non-negative epoch, but got -1")):
        sched.step(-1)


@pytest.mark.parametrize(
    "name, kwargs, epochs",
    [
        ("ConstantLR", {"factor": 0.5, "total_iters": 4}, [1, 3, 4, 9, 2, 0]),
        ("LinearLR", {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 6}, [2, 5, 6, 11, 1]),
        ("PolynomialLR", {"total_iters": 8, "power": 1.5}, [1, 4, 7, 8, 12, 3]),
    ],
)
def test_step_with_epoch_uses_closed_form_like_pytorch(name, kwargs, epochs):
    torch = need_torch()
    results = []
    for lib in (rt, torch):
        opt = two_group_optimizer(lib)
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
        opt.step()
        sched.step()
        with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
            sched.step(epochs[0])
        results.append(run(opt, sched, 0, epochs=epochs[1:])[0])
    assert results[0] == results[1]


def sequential(lib, opt, variant):
    s = lib.optim.lr_scheduler
    if variant == "linear_then_exp":
        parts = [s.LinearLR(opt, start_factor=0.1, total_iters=5), s.ExponentialLR(opt, 0.9)]
        return s.SequentialLR(opt, parts, milestones=[5])
    if variant == "three":
        parts = [
            s.ConstantLR(opt, factor=0.5, total_iters=10),
            s.StepLR(opt, step_size=3, gamma=0.5),
            s.CosineAnnealingLR(opt, T_max=6, eta_min=0.001),
        ]
        return s.SequentialLR(opt, parts, milestones=[4, 15])
    if variant == "warmup_then_restarts":
        parts = [
            s.LinearLR(opt, start_factor=0.25, total_iters=4),
            s.CosineAnnealingWarmRestarts(opt, T_0=5, T_mult=2),
        ]
        return s.SequentialLR(opt, parts, milestones=[4])
    if variant == "chained":
        parts = [s.ConstantLR(opt, factor=0.2, total_iters=6), s.ExponentialLR(opt, gamma=0.93)]
        return s.ChainedScheduler(parts)
    if variant == "chained_with_optimizer":
        parts = [
            s.LinearLR(opt, start_factor=0.5, total_iters=8),
            s.MultiStepLR(opt, milestones=[3, 9, 20], gamma=0.5),
            s.PolynomialLR(opt, total_iters=30, power=1.0),
        ]
        return s.ChainedScheduler(parts, optimizer=opt)
    if variant == "sequential_of_chained":
        chained = s.ChainedScheduler(
            [s.ConstantLR(opt, factor=0.5, total_iters=3), s.ExponentialLR(opt, gamma=0.95)]
        )
        return s.SequentialLR(opt, [chained, s.StepLR(opt, 4, 0.5)], milestones=[8])
    raise AssertionError(variant)


COMPOSITES = [
    "linear_then_exp",
    "three",
    "warmup_then_restarts",
    "chained",
    "chained_with_optimizer",
    "sequential_of_chained",
]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("variant", COMPOSITES)
def test_composite_sequences_equal_pytorch(variant, kind):
    torch = need_torch()
    results = []
    for lib in (rt, torch):
        opt = two_group_optimizer(lib, kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = sequential(lib, opt, variant)
        results.append(run(opt, sched, 36)[0])
    assert results[0] == results[1]
    assert len(set(results[0])) > 5


STATEFUL = [
    ("ConstantLR", lambda s, o: s.ConstantLR(o, factor=0.3, total_iters=9)),
    ("LinearLR", lambda s, o: s.LinearLR(o, start_factor=0.2, total_iters=12)),
    ("PolynomialLR", lambda s, o: s.PolynomialLR(o, total_iters=20, power=2.0)),
    ("MultiplicativeLR", lambda s, o: s.MultiplicativeLR(o, lambda e: 0.9)),
    ("WarmRestarts", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
    ("CyclicLR", lambda s, o: s.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="exp_range",
                                         gamma=0.95)),
    ("CyclicLR_object", lambda s, o: s.CyclicLR(o, 0.01, 0.1, step_size_up=3,
                                                scale_fn=ScaleByCycle(0.7))),
    ("SequentialLR", lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.ExponentialLR(o, 0.8)], [6])),
    ("ChainedScheduler", lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, factor=0.5, total_iters=7), s.ExponentialLR(o, gamma=0.9)])),
]


@pytest.mark.parametrize("name, build", STATEFUL, ids=[n for n, _ in STATEFUL])
def test_state_dict_round_trip_resumes_the_sequence(name, build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = two_group_optimizer(rt)
        sched = build(lr_scheduler, opt)
        run(opt, sched, 4)
        sd = sched.state_dict()
        assert "optimizer" not in sd
        # ChainedScheduler has no epoch of its own (as in PyTorch): its children do.
        last = sd["_schedulers"][-1] if name == "ChainedScheduler" else sd
        assert last["last_epoch"] >= 4
        sd = pickle.loads(pickle.dumps(sd))  # state dicts are picklable (no bound functions)
        opt2 = two_group_optimizer(rt)
        opt2.load_state_dict(opt.state_dict())
        sched2 = build(lr_scheduler, opt2)
        if name == "CyclicLR_object":
            sched2._scale_fn_custom.base = 0.1  # restored from the state dict
        sched2.load_state_dict(sd)
        for group, group2 in zip(opt.param_groups, opt2.param_groups):
            group2["lr"] = group["lr"]  # the optimizer state holds the current lr
        expected = run(opt, sched, 20)[0]
        resumed = run(opt2, sched2, 20)[0]
    assert resumed == expected
    assert len(set(expected)) > 1


def test_state_dict_contents():
    opt = two_group_optimizer(rt)
    sched = lr_scheduler.SequentialLR(
        opt,
        [lr_scheduler.ConstantLR(opt, total_iters=2), lr_scheduler.ExponentialLR(opt, 0.5)],
        milestones=[3],
    )
    sd = sched.state_dict()
    assert isinstance(sd["_schedulers"], list) and len(sd["_schedulers"]) == 2
    assert sd["_schedulers"][0]["factor"] == pytest.approx(1 / 3)
    assert sd["_milestones"] == [3]
    opt = two_group_optimizer(rt)
    sched = lr_scheduler.MultiplicativeLR(opt, [lambda e: 0.5, ScaleByCycle(2.0)])
    assert sched.state_dict()["lr_lambdas"] == [None, {"base": 2.0}]
    opt = two_group_optimizer(rt)
    sched = lr_scheduler.CyclicLR(opt, 0.1, 1.0, scale_fn=lambda x: 1.0)
    sd = sched.state_dict()
    assert sd["_scale_fn_custom"] is None and "_scale_fn_ref" not in sd
    sched = lr_scheduler.CyclicLR(two_group_optimizer(rt), 0.1, 1.0, mode="triangular2")
    sd = sched.state_dict()
    sched.mode = "triangular"
    sched.load_state_dict(sd)
    assert sched.mode == "triangular2" and sched.scale_fn(3) == 0.25


def test_sequential_restores_initial_lr_and_last_epoch():
    torch = need_torch()
    results = []
    for lib in (rt, torch):
        opt = two_group_optimizer(lib)
        s = lib.optim.lr_scheduler
        first = s.ExponentialLR(opt, gamma=0.5)
        second = s.StepLR(opt, step_size=2, gamma=0.1)
        seq = s.SequentialLR(opt, [first, second], milestones=[3])
        results.append(
            (seq.get_last_lr(), seq.last_epoch, first.last_epoch, second.last_epoch,
             [g["lr"] for g in opt.param_groups])
        )
    assert results[0] == results[1]
    assert results[0][0] == [0.1, 0.01]


def test_cyclic_lr_sets_lr_and_momentum_on_construction():
    opt = two_group_optimizer(rt, "adam")
    lr_scheduler.CyclicLR(opt, base_lr=[0.003, 0.004], max_lr=0.1, max_momentum=0.97)
    assert [g["lr"] for g in opt.param_groups] == [0.003, 0.004]
    assert [g["betas"][0] for g in opt.param_groups] == [0.97, 0.97]
    assert [g["max_momentum"] for g in opt.param_groups] == [0.97, 0.97]
    assert [g["base_momentum"] for g in opt.param_groups] == [0.8, 0.8]


def test_every_scheduler_is_exported():
    for name in NEW_SCHEDULERS:
        cls = getattr(lr_scheduler, name)
        assert issubclass(cls, lr_scheduler.LRScheduler)
        assert name in lr_scheduler.__all__


def _adagrad(lib):
    return lib.optim.Adagrad([lib.nn.Parameter(lib.zeros(2))], lr=0.1)


def _other_scheduler_sequence(lib):
    opt, other = two_group_optimizer(lib), two_group_optimizer(lib)
    s = lib.optim.lr_scheduler
    return s.SequentialLR(opt, [s.ConstantLR(opt), s.ConstantLR(other)], milestones=[2])


ERRORS = [
    ("const_factor", lambda s, o, lib: s.ConstantLR(o, factor=1.5)),
    ("linear_start", lambda s, o, lib: s.LinearLR(o, start_factor=0)),
    ("linear_end", lambda s, o, lib: s.LinearLR(o, end_factor=1.2)),
    ("mult_count", lambda s, o, lib: s.MultiplicativeLR(o, [lambda e: 1.0])),
    ("mult_callable", lambda s, o, lib: s.MultiplicativeLR(o, 0.5)),
    ("cawr_t0", lambda s, o, lib: s.CosineAnnealingWarmRestarts(o, T_0=0)),
    ("cawr_t0_float", lambda s, o, lib: s.CosineAnnealingWarmRestarts(o, T_0=2.0)),
    ("cawr_tmult", lambda s, o, lib: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0)),
    ("cawr_eta", lambda s, o, lib: s.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0")),
    ("cyclic_mode", lambda s, o, lib: s.CyclicLR(o, 0.1, 1.0, mode="square")),
    ("cyclic_list", lambda s, o, lib: s.CyclicLR(o, [0.1], 1.0)),
    ("cyclic_momentum", lambda s, o, lib: s.CyclicLR(_adagrad(lib), 0.1, 1.0)),
    ("cyclic_optimizer", lambda s, o, lib: s.CyclicLR("sgd", 0.1, 1.0)),
    ("seq_empty", lambda s, o, lib: s.SequentialLR(o, [], milestones=[])),
    ("seq_milestones", lambda s, o, lib: s.SequentialLR(o, [s.ConstantLR(o)], milestones=[3])),
    ("seq_plateau", lambda s, o, lib: s.SequentialLR(
        o, [s.ConstantLR(o), s.ReduceLROnPlateau(o)], milestones=[3])),
    ("seq_no_optimizer", lambda s, o, lib: s.SequentialLR(o, [object()], milestones=[])),
    ("chain_empty", lambda s, o, lib: s.ChainedScheduler([])),
    ("chain_plateau", lambda s, o, lib: s.ChainedScheduler([s.ReduceLROnPlateau(o)])),
]


@pytest.mark.parametrize("case, build", ERRORS, ids=[n for n, _ in ERRORS])
def test_errors_match_pytorch(case, build):
    torch = need_torch()
    caught = []
    for lib in (rt, torch):
        with pytest.raises((ValueError, TypeError)) as info:
            build(lib.optim.lr_scheduler, two_group_optimizer(lib), lib)
        caught.append((type(info.value), str(info.value).replace(lib.__name__ + ".", "torch.")))
    assert caught[0][0] is caught[1][0]
    assert caught[0][1] == caught[1][1]


def test_mixed_optimizers_error():
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        _other_scheduler_sequence(rt)
