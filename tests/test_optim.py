"""rustorch.optim: optimizer trajectories, state dicts, param groups and LR schedulers.

Trajectories run 100 steps of a small MLP from the same initial weights (copied from
PyTorch) on the same data and must match PyTorch's to float32 rounding; scheduler learning
rates must equal PyTorch's exactly. NumPy references cover SGD and Adam without PyTorch.
"""

from __future__ import annotations

import math
import pickle
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from conftest import LIB_NAME, assert_values, make_tensor, need_torch, rt, to_np, torch_or_none

if not hasattr(rt, "optim"):
    pytest.skip(f"{LIB_NAME} has no optim package", allow_module_level=True)

optim = rt.optim
lr_scheduler = rt.optim.lr_scheduler


def norm_repr(s: str) -> str:
    return s.replace(LIB_NAME + ".", "torch.")


def make_mlp(lib, dtype_name, init_from=None):
    model = lib.nn.Sequential(lib.nn.Linear(6, 8), lib.nn.Tanh(), lib.nn.Linear(8, 3))
    model = model.double() if dtype_name == "float64" else model
    if init_from is not None:
        model.load_state_dict(
            OrderedDict(
                (k, make_tensor(lib, v, dtype_name)) for k, v in init_from.items()
            )
        )
    return model


def initial_state(seed=0):
    rng = np.random.default_rng(seed)
    return OrderedDict(
        [
            ("0.weight", rng.uniform(-0.4, 0.4, (8, 6))),
            ("0.bias", rng.uniform(-0.4, 0.4, 8)),
            ("2.weight", rng.uniform(-0.35, 0.35, (3, 8))),
            ("2.bias", rng.uniform(-0.35, 0.35, 3)),
        ]
    )


def data(steps, seed=1):
    """The first ``steps`` batches of one fixed stream of 100 batches."""
    rng = np.random.default_rng(seed)
    xs, ys = rng.standard_normal((100, 16, 6)), rng.standard_normal((100, 16, 3))
    return xs[:steps], ys[:steps]


def train(lib, opt_name, kwargs, dtype_name="float32", steps=100, init=None):
    init = initial_state() if init is None else init
    model = make_mlp(lib, dtype_name, init)
    opt = getattr(lib.optim, opt_name)(model.parameters(), **kwargs)
    xs, ys = data(steps)
    losses = []
    for i in range(steps):
        x = make_tensor(lib, xs[i], dtype_name)
        y = make_tensor(lib, ys[i], dtype_name)
        opt.zero_grad()
        loss = lib.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return model, opt, losses


OPTIM_CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9)}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    (
        "RMSprop",
        {"lr": 0.005, "centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.9},
    ),
    ("RMSprop", {"lr": 0.01, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    (
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1,
         "eps": 1e-8},
    ),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name, kwargs", OPTIM_CASES)
def test_trajectory_matches_pytorch(name, kwargs, dtype_name):
    torch = need_torch()
    ours, _, our_losses = train(rt, name, kwargs, dtype_name)
    theirs, _, their_losses = train(torch, name, kwargs, dtype_name)
    rtol, atol = (2e-4, 2e-5) if dtype_name == "float32" else (1e-9, 1e-11)
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert_values(to_np(a), to_np(b), rtol=rtol, atol=atol, msg=f"{name} {kwargs} {k}")
    assert_values(np.array(our_losses), np.array(their_losses), rtol=rtol, atol=atol)


def quadratic_problem(seed=3):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    w0 = rng.standard_normal(4)
    return a, b, w0


def run_on_quadratic(opt_name, kwargs, steps=50):
    a, b, w0 = quadratic_problem()
    w = rt.nn.Parameter(make_tensor(rt, w0))
    opt = getattr(optim, opt_name)([w], **kwargs)
    at, bt = make_tensor(rt, a), make_tensor(rt, b)
    for _ in range(steps):
        opt.zero_grad()
        r = rt.matmul(at, w) - bt
        (0.5 * (r * r).sum()).backward()
        opt.step()
    return to_np(w)


def test_sgd_momentum_numpy_reference():
    a, b, w = quadratic_problem()
    lr, mu, wd = 0.02, 0.9, 0.01
    buf = None
    for _ in range(50):
        g = a.T @ (a @ w - b) + wd * w
        buf = g.copy() if buf is None else mu * buf + g
        w = w - lr * (g + mu * buf)  # nesterov
    ours = run_on_quadratic("SGD", {"lr": lr, "momentum": mu, "weight_decay": wd, "nesterov": True})
    assert_values(ours, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [
    {}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
    {"momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2}, {"maximize": True, "momentum": 0.5},
])
def test_sgd_steps_equal_pytorchs_to_the_bit(options, dtype):
    """Given the same gradients, SGD's steps are PyTorch's bit for bit: its ``add_(…,
    alpha=)`` updates are fused multiply-adds, and so are ours."""
    torch = need_torch()
    g = np.random.default_rng(0)
    p0 = g.standard_normal(1000).astype(dtype)
    ours, theirs = rt.tensor(p0, requires_grad=True), torch.tensor(p0, requires_grad=True)
    opt_ours = rt.optim.SGD([ours], lr=0.1, **options)
    opt_theirs = torch.optim.SGD([theirs], lr=0.1, **options)
    for _ in range(5):
        grad = g.standard_normal(1000).astype(dtype)
        ours.grad, theirs.grad = rt.tensor(grad), torch.tensor(grad)
        opt_ours.step()
        opt_theirs.step()
    np.testing.assert_array_equal(to_np(ours), to_np(theirs))


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_numpy_reference(amsgrad, decoupled):
    a, b, w = quadratic_problem()
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.999, 1e-8, 0.1
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    vmax = np.zeros_like(w)
    for t in range(1, 51):
        g = a.T @ (a @ w - b)
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        vhat = vmax if amsgrad else v
        denom = np.sqrt(vhat) / math.sqrt(1 - b2**t) + eps
        w = w - lr / (1 - b1**t) * m / denom
    name = "AdamW" if decoupled else "Adam"
    ours = run_on_quadratic(name, {"lr": lr, "weight_decay": wd, "amsgrad": amsgrad})
    assert_values(ours, w, rtol=1e-9, atol=1e-11)


def test_rmsprop_and_adagrad_numpy_reference():
    a, b, w0 = quadratic_problem()
    w, sq, gavg, buf = w0.copy(), np.zeros(4), np.zeros(4), np.zeros(4)
    for _ in range(50):
        g = a.T @ (a @ w - b)
        sq = 0.9 * sq + 0.1 * g * g
        gavg = 0.9 * gavg + 0.1 * g
        avg = np.sqrt(sq - gavg * gavg) + 1e-8
        buf = 0.5 * buf + g / avg
        w = w - 0.01 * buf
    ours = run_on_quadratic(
        "RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5}
    )
    assert_values(ours, w, rtol=1e-9, atol=1e-11)

    w, s = w0.copy(), np.full(4, 0.1)
    for t in range(1, 51):
        g = a.T @ (a @ w - b)
        clr = 0.1 / (1 + (t - 1) * 0.01)
        s = s + g * g
        w = w - clr * g / (np.sqrt(s) + 1e-10)
    ours = run_on_quadratic(
        "Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}
    )
    assert_values(ours, w, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("AdamW", {"lr": 0.01}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
        ("Adagrad", {"lr": 0.1}),
    ],
)
def test_state_dict_format_matches_pytorch(name, kwargs):
    model, opt, _ = train(rt, name, kwargs, "float64", steps=3)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1, 2, 3]
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    if "step" in sd["state"][0]:
        step = sd["state"][0]["step"]
        assert isinstance(step, rt.Tensor) and float(step.item()) == 3.0
    if torch_or_none is None:
        return
    _, topt, _ = train(torch_or_none, name, kwargs, "float64", steps=3)
    tsd = topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    for pid in tsd["state"]:
        assert list(sd["state"][pid]) == list(tsd["state"][pid])
        for key, value in tsd["state"][pid].items():
            assert_values(to_np(sd["state"][pid][key]), to_np(value), rtol=1e-9, atol=1e-12)
    assert norm_repr(repr(opt)) == repr(topt)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
    ],
)
def test_resume_from_state_dict_continues_identically(name, kwargs):
    full_model, _, full_losses = train(rt, name, kwargs, "float64", steps=10)

    model, opt, _ = train(rt, name, kwargs, "float64", steps=5)
    saved_model = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    saved_opt = pickle.loads(pickle.dumps(opt.state_dict()))

    resumed = make_mlp(rt, "float64")
    resumed.load_state_dict(saved_model)
    opt2 = getattr(optim, name)(resumed.parameters(), **kwargs)
    opt2.load_state_dict(saved_opt)
    xs, ys = data(10)
    for i in range(5, 10):
        opt2.zero_grad()
        loss = rt.nn.functional.mse_loss(
            resumed(make_tensor(rt, xs[i])), make_tensor(rt, ys[i])
        )
        loss.backward()
        opt2.step()
    for (k, a), (_, b) in zip(resumed.state_dict().items(), full_model.state_dict().items()):
        assert_values(to_np(a), to_np(b), rtol=0, atol=0, msg=k)


def test_load_pytorch_optimizer_state_dict():
    torch = need_torch()
    kwargs = {"lr": 0.01, "betas": (0.8, 0.95)}
    tmodel, topt, _ = train(torch, "Adam", kwargs, "float64", steps=4)
    ours = make_mlp(rt, "float64")
    ours.load_state_dict(
        OrderedDict((k, make_tensor(rt, to_np(v))) for k, v in tmodel.state_dict().items())
    )
    opt = optim.Adam(ours.parameters(), **kwargs)
    tsd = topt.state_dict()
    converted = {
        "state": {
            pid: {k: make_tensor(rt, to_np(v), "float32" if k == "step" else None)
                  for k, v in st.items()}
            for pid, st in tsd["state"].items()
        },
        "param_groups": tsd["param_groups"],
    }
    opt.load_state_dict(converted)
    x = np.random.default_rng(5).standard_normal((4, 6))
    for lib, model, o in ((rt, ours, opt), (torch, tmodel, topt)):
        o.zero_grad()
        model(make_tensor(lib, x)).pow(2).sum().backward()
        o.step()
    for (k, a), (_, b) in zip(ours.state_dict().items(), tmodel.state_dict().items()):
        assert_values(to_np(a), to_np(b), rtol=1e-9, atol=1e-12, msg=k)


def test_load_state_dict_validation():
    a = rt.nn.Parameter(rt.zeros(2))
    b = rt.nn.Parameter(rt.zeros(2))
    opt = optim.SGD([a, b], lr=0.1)
    other = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(other.state_dict())
    single = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        opt.load_state_dict(single.state_dict())
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[0]["params"][0] is a


# ---------------------------------------------------------------------------- param groups


def test_param_groups_and_errors():
    w = rt.nn.Parameter(rt.ones(2))
    b = rt.nn.Parameter(rt.ones(2))
    opt = optim.SGD([{"params": [w]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    assert opt.defaults["lr"] == 0.1
    (w.sum() + b.sum()).backward()
    opt.step()
    assert_values(to_np(w), np.full(2, 0.9, np.float32))
    assert_values(to_np(b), np.full(2, 0.5, np.float32))
    assert "momentum_buffer" in opt.state[w]

    c = rt.nn.Parameter(rt.ones(1))
    opt.add_param_group({"params": [c], "lr": 0.01})
    assert len(opt.param_groups) == 3 and opt.param_groups[2]["momentum"] == 0.9
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="optimizer parameters need to be organized in ordered"):
        optim.SGD([{"params": {w}}], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([w * 2], lr=0.1)


def test_zero_grad_closure_and_params_without_grad():
    w = rt.nn.Parameter(rt.ones(3))
    frozen = rt.nn.Parameter(rt.ones(3))
    opt = optim.Adam([w, frozen], lr=0.1)
    (w * 2).sum().backward()
    opt.step()
    assert len(opt.state[frozen]) == 0, "parameters without .grad get no state"
    assert_values(to_np(frozen), np.ones(3, np.float32))
    opt.zero_grad()
    assert w.grad is None
    (w * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert_values(to_np(w.grad), np.zeros(3, np.float32))

    calls = []

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        calls.append(rt.is_grad_enabled())
        return loss

    out = opt.step(closure)
    assert calls == [True] and float(out.item()) > 0


def test_optimizer_step_hooks():
    w = rt.nn.Parameter(rt.ones(1))
    opt = optim.SGD([w], lr=1.0)
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, args, kwargs: seen.append("pre"))
    h2 = opt.register_step_post_hook(lambda o, args, kwargs: seen.append("post"))
    w.sum().backward()
    opt.step()
    assert seen == ["pre", "post"]
    h1.remove()
    h2.remove()
    opt.step()
    assert seen == ["pre", "post"]


def test_subclassed_optimizers():
    class Plain(optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def step(self, closure=None):
            loss = closure() if closure is not None else None  # needs grad mode on
            with rt.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.sub_(p.grad * group["lr"])
            return loss

    w = rt.nn.Parameter(rt.ones(2))
    opt = Plain([w])

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert_values(to_np(w), np.full(2, 0.8, np.float32))

    class Traced(optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    v = rt.nn.Parameter(rt.ones(1))
    traced = Traced([v], lr=0.5)
    calls = []
    traced.register_step_pre_hook(lambda o, a, k: calls.append(1))
    v.sum().backward()
    traced.step()
    # rustorch fires the hooks once; PyTorch fires them again for the patched SGD.step
    assert calls == [1] if LIB_NAME != "torch" else calls in ([1], [1, 1])
    assert_values(to_np(v), np.full(1, 0.5, np.float32))


def test_named_parameters_param_names():
    lin = rt.nn.Linear(2, 2)
    opt = optim.SGD(lin.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


# ---------------------------------------------------------------------------- schedulers


def two_group_optimizer(lib, kind):
    w = lib.nn.Parameter(lib.zeros(2))
    b = lib.nn.Parameter(lib.zeros(1))
    groups = [{"params": [w]}, {"params": [b], "lr": 0.01}]
    if kind == "sgd":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


SCHEDULERS = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.95**e}),
    ("LambdaLR", {"lr_lambda": [lambda e: 1.0 / (e + 1), lambda e: 0.5 ** (e // 4)]}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 25}),
    (
        "OneCycleLR",
        {"max_lr": [0.5, 0.2], "total_steps": 25, "anneal_strategy": "linear", "three_phase": True},
    ),
    (
        "OneCycleLR",
        {"max_lr": 0.1, "epochs": 3, "steps_per_epoch": 8, "pct_start": 0.25,
         "cycle_momentum": False, "div_factor": 10.0, "final_div_factor": 100.0},
    ),
]


def schedule(lib, kind, name, kwargs, steps=24):
    opt = two_group_optimizer(lib, kind)
    sched = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    lrs = [tuple(sched.get_last_lr())]
    momenta = []
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(tuple(sched.get_last_lr()))
        assert tuple(g["lr"] for g in opt.param_groups) == lrs[-1]
        momenta.append(
            tuple(g["momentum"] if kind == "sgd" else g["betas"] for g in opt.param_groups)
        )
    return lrs, momenta, sched


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name, kwargs", SCHEDULERS)
def test_scheduler_sequences_equal_pytorch(name, kwargs, kind):
    ours, our_momenta, _ = schedule(rt, kind, name, kwargs)
    torch = need_torch()
    theirs, their_momenta, _ = schedule(torch, kind, name, kwargs)
    assert ours == theirs
    assert our_momenta == their_momenta


def test_scheduler_closed_forms_numpy_reference():
    lrs, _, _ = schedule(rt, "sgd", "StepLR", {"step_size": 3, "gamma": 0.5}, steps=9)
    assert [r[0] for r in lrs] == pytest.approx([0.1 * 0.5 ** (e // 3) for e in range(10)])
    lrs, _, _ = schedule(rt, "sgd", "CosineAnnealingLR", {"T_max": 8}, steps=8)
    expected = [0.1 * (1 + math.cos(math.pi * e / 8)) / 2 for e in range(9)]
    assert [r[0] for r in lrs] == pytest.approx(expected, abs=1e-12)
    lrs, momenta, _ = schedule(rt, "sgd", "OneCycleLR", {"max_lr": 1.0, "total_steps": 10}, 9)
    assert lrs[0][0] == pytest.approx(1.0 / 25)
    assert max(r[0] for r in lrs) == pytest.approx(1.0)
    assert lrs[-1][0] == pytest.approx(1.0 / 25 / 1e4)
    assert min(m[0] for m in momenta) == pytest.approx(0.85)


def test_scheduler_state_dict_round_trip_and_epoch_argument():
    opt = two_group_optimizer(rt, "sgd")
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    opt2 = two_group_optimizer(rt, "sgd")
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    sched2.load_state_dict(sd)
    for _ in range(3):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
        sched.step(10)
    assert sched.get_last_lr()[0] == pytest.approx(0.1 * 0.5**5)


def test_scheduler_step_before_optimizer_step_warns():
    opt = two_group_optimizer(rt, "sgd")
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before"):
        sched.step()
    opt2 = two_group_optimizer(rt, "sgd")
    sched2 = lr_scheduler.ExponentialLR(opt2, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt2.step()
        sched2.step()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 2, "factor": 0.5, "cooldown": 1, "min_lr": 0.004},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 1},
        {"patience": 0, "min_lr": [0.05, 0.001], "eps": 1e-3},
    ],
)
def test_reduce_lr_on_plateau(kwargs):
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.7, 0.7, 0.7]

    def run(lib):
        opt = two_group_optimizer(lib, "sgd")
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        out = []
        for m in metrics:
            sched.step(m)
            out.append(tuple(sched.get_last_lr()))
        return out

    ours = run(rt)
    assert ours[0] == (0.1, 0.01)
    assert ours[-1][0] < 0.1, "the lr was reduced at some point"
    if torch_or_none is not None:
        assert ours == run(torch_or_none)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(two_group_optimizer(rt, "sgd"), factor=1.0)
