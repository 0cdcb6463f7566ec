"""Normalization (batch, instance, layer, group, RMS, local response) and feature-map dropout.

Functional forms go through ``check_op`` (forward and gradients against PyTorch over memory
layouts, on every device); modules are compared with PyTorch step by step (outputs,
parameter gradients, running statistics), with their state-dict keys and reprs; float64
gradients pass gradcheck and gradgradcheck; bad input gets PyTorch's exception and message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import (
    LIB_NAME,
    assert_matches_torch,
    check_op,
    current_device,
    make_tensor,
    need_oracle_torch,
    need_torch,
    rt,
    to_np,
)

pytestmark = pytest.mark.usefixtures("device")

LAYOUTS = ("contiguous", "transposed", "strided")


def rand(*shape, seed=0, scale=1.0, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


def norm_msg(s: str) -> str:
    return s.replace(LIB_NAME + ".", "torch.")


def same_error(fn):
    """``fn(lib)`` raises the same exception type and message in both libraries."""
    torch = need_torch()
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with rt.device(current_device()):
        with pytest.raises(Exception) as ours:
            fn(rt)
    assert type(ours.value).__name__ == type(theirs.value).__name__, (
        f"{type(ours.value).__name__}: {ours.value} != {type(theirs.value).__name__}"
    )
    assert norm_msg(str(ours.value)) == str(theirs.value)


def T(lib, arr, dtype="float64", requires_grad=False):
    t = make_tensor(lib, np.asarray(arr), dtype, requires_grad)
    if lib is rt:
        t = t.to(current_device()).detach().requires_grad_(requires_grad)
    return t


# ---------------------------------------------------------------------------- batch_norm


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
def test_batch_norm_training_matches_torch(shape, dtype, layout):
    c = shape[1]

    def fn(lib, x, w, b):
        rm = lib.zeros(c, dtype=x.dtype) + 0.5
        rv = lib.ones(c, dtype=x.dtype) * 2.0
        out = lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
        return out, rm, rv

    grad = dtype == "float64"
    check_op(fn, rand(*shape, shift=3.0), rand(c, seed=1), rand(c, seed=2), dtype=dtype,
             grad=grad, layout=layout)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_large_input_matches_torch(dtype, layout):
    """Inputs past the kernels' parallel threshold (channels split over threads, runs longer
    than a summation block), forward, running statistics and gradients in both dtypes."""
    shape = (6, 5, 37, 41)

    def fn(lib, x, w, b):
        rm = lib.zeros(5, dtype=x.dtype) + 0.5
        rv = lib.ones(5, dtype=x.dtype)
        out = lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2)
        return out, rm, rv

    check_op(fn, rand(*shape, shift=2.0), rand(5, seed=1), rand(5, seed=2), dtype=dtype,
             grad=True, layout=layout, grad_rtol=1e-4 if dtype == "float32" else None,
             grad_atol=1e-4 if dtype == "float32" else None)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_batch_norm_16_bit_matches_torch(dtype, training):
    """The 16-bit types normalise in float32 and round once, as PyTorch's CPU kernel."""
    torch = need_torch()
    x, w, b = rand(4, 3, 5, 6, shift=1.0), rand(3, seed=1), rand(3, seed=2)
    outs = []
    for lib in (rt, torch):
        d = getattr(lib, dtype)
        xs, ws, bs = (lib.tensor(a, dtype=d) for a in (x, w, b))
        if lib is rt:
            xs, ws, bs = (t.to(current_device()) for t in (xs, ws, bs))
        rm = (lib.zeros(3) + 0.25).to(d)
        rv = (lib.ones(3) * 2.0).to(d)
        if lib is rt:
            rm, rv = rm.to(current_device()), rv.to(current_device())
        out = lib.nn.functional.batch_norm(xs, rm, rv, ws, bs, training=training, momentum=0.3)
        assert out.dtype == d
        outs.append([t.float().cpu().numpy() for t in (out, rm, rv)])
    for ours, theirs in zip(*outs):
        np.testing.assert_allclose(ours, theirs, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_uses_running_stats(affine):
    def fn(lib, x, rm, rv, w, b):
        return lib.nn.functional.batch_norm(x, rm.detach(), rv.detach().abs() + 0.1,
                                            w if affine else None, b if affine else None,
                                            training=False, eps=1e-3)

    check_op(fn, rand(4, 3, 5), rand(3, seed=1), rand(3, seed=2), rand(3, seed=3),
             rand(3, seed=4), grad=True)


def test_batch_norm_without_running_stats_and_bias_only():
    def fn(lib, x, b):
        return lib.nn.functional.batch_norm(x, None, None, None, b, training=True)

    check_op(fn, rand(6, 4, 3), rand(4, seed=1), grad=True)


def test_batch_norm_empty_batch():
    def fn(lib, x, w, b):
        return lib.nn.functional.batch_norm(x, lib.zeros(3, dtype=x.dtype),
                                            lib.ones(3, dtype=x.dtype), w, b, training=True)

    out = check_op(fn, np.zeros((0, 3, 2)), rand(3), rand(3, seed=1), grad=True)
    assert tuple(out.shape) == (0, 3, 2)


# ---------------------------------------------------------------------------- other norms


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("running", [False, True])
def test_instance_norm_matches_torch(running, dtype, layout):
    def fn(lib, x, w, b):
        if not running:
            return lib.nn.functional.instance_norm(x, weight=w, bias=b)
        rm = lib.zeros(3, dtype=x.dtype) + 0.25
        rv = lib.ones(3, dtype=x.dtype) * 1.5
        out = lib.nn.functional.instance_norm(x, rm, rv, w, b, momentum=0.2)
        return out, rm, rv

    check_op(fn, rand(2, 3, 4, 5, shift=1.0), rand(3, seed=1), rand(3, seed=2), dtype=dtype,
             grad=dtype == "float64", layout=layout)


def test_instance_norm_with_running_stats_in_eval():
    def fn(lib, x, rm, rv):
        return lib.nn.functional.instance_norm(x, rm.detach(), rv.detach().abs(),
                                               use_input_stats=False)

    check_op(fn, rand(2, 3, 6), rand(3, seed=1), rand(3, seed=2), grad=True)


@pytest.mark.parametrize("layout", LAYOUTS + ("expanded",))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_matches_torch(affine, dtype, layout):
    def fn(lib, x, w, b):
        w = w if affine != "none" else None
        b = b if affine == "both" else None
        return lib.nn.functional.layer_norm(x, (4, 5), w, b, eps=1e-6)

    check_op(fn, rand(3, 4, 5, shift=2.0), rand(4, 5, seed=1), rand(4, 5, seed=2), dtype=dtype,
             grad=dtype == "float64", layout=layout)


@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(67, 9, 96), (0, 5, 7), (3, 0, 7), (5, 4100)])
def test_layer_norm_large_or_empty_input_matches_torch(shape, dtype, affine):
    """Past the kernels' parallel threshold (rows in several threads' blocks, the weight's
    and bias's gradients summed across them), an empty batch, and a row longer than a
    summation block: values and gradients."""
    n = shape[-1]

    def fn(lib, x, w, b):
        w = w if affine != "none" else None
        b = b if affine == "both" else None
        return lib.nn.functional.layer_norm(x, (n,), w, b)

    tol = 1e-4 if dtype == "float32" else None
    check_op(fn, rand(*shape, shift=3.0), rand(n, seed=1), rand(n, seed=2), dtype=dtype,
             grad=True, grad_rtol=tol, grad_atol=tol)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_layer_norm_half_matches_float64(dtype):
    """The 16-bit types compute in float32 and round each result once: the output and the
    input's, weight's and bias's gradients agree with PyTorch's float64 layer norm of the
    same (rounded) inputs to the 16-bit type's precision. (PyTorch's own float16 weight
    gradient is further off, its partial sums being rounded: 9e-3 here against our 3e-3.)"""
    torch = need_torch()
    rel = 4e-3 if dtype == "float16" else 3e-2
    arrays = (rand(6, 5, 16), rand(16, seed=1), rand(16, seed=2), rand(6, 5, 16, seed=3))
    results = []
    for lib, name in ((rt, dtype), (torch, "float64")):
        with lib.device(current_device() if lib is rt else "cpu"):
            ts = [make_tensor(lib, a, "float32").to(getattr(lib, dtype)).to(getattr(lib, name))
                  for a in arrays]
        x, w, b, g = ts
        for t in (x, w, b):
            t.requires_grad_(True)
        y = lib.nn.functional.layer_norm(x, (16,), w, b)
        y.backward(g)
        outs = (y, x.grad, w.grad, b.grad)
        assert all(str(t.dtype).endswith(name) for t in outs)
        results.append([np.asarray(to_np(t.double())) for t in outs])
    for ours, want in zip(*results):
        scale = np.abs(want).max()
        np.testing.assert_allclose(ours, want, rtol=0, atol=rel * scale)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,groups", [((6, 12, 23, 19), 4), ((0, 6, 5), 3)])
def test_group_norm_large_or_empty_input_matches_torch(shape, groups, dtype, affine):
    """Past the kernels' parallel threshold (and an empty batch): values and gradients,
    with and without the affine parameters, in both dtypes."""
    c = shape[1]

    def fn(lib, x, w, b):
        return lib.nn.functional.group_norm(x, groups, w if affine else None,
                                            b if affine else None)

    tol = 1e-4 if dtype == "float32" else None
    check_op(fn, rand(*shape, shift=1.5), rand(c, seed=1), rand(c, seed=2), dtype=dtype,
             grad=True, grad_rtol=tol, grad_atol=tol)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,groups", [((2, 6, 4), 3), ((3, 4, 3, 2), 2), ((4, 6), 6),
                                          ((2, 4, 5), 1)])
def test_group_norm_matches_torch(shape, groups, dtype, layout):
    c = shape[1]

    def fn(lib, x, w, b):
        return lib.nn.functional.group_norm(x, groups, w, b, eps=1e-4)

    check_op(fn, rand(*shape, shift=-1.0), rand(c, seed=1), rand(c, seed=2), dtype=dtype,
             grad=dtype == "float64", layout=layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_matches_torch(eps, dtype, layout):
    def fn(lib, x, w):
        return (lib.nn.functional.rms_norm(x, [6], w, eps),
                lib.nn.functional.rms_norm(x, (5, 6), None, eps))

    check_op(fn, rand(3, 5, 6), rand(6, seed=1), dtype=dtype, grad=dtype == "float64",
             layout=layout)


def test_rms_norm_default_eps_is_the_dtypes_epsilon():
    # Rows of 1e-9: mean(x**2) = 1e-18 is far below either epsilon, which alone sets the scale.
    for dtype in ("float32", "float64"):
        def fn(lib, x):
            return lib.nn.functional.rms_norm(x * 0.0 + 1e-9, [3])

        check_op(fn, rand(2, 3), dtype=dtype)


@pytest.mark.filterwarnings("ignore:Mismatch dtype between input and weight")
def test_rms_norm_keeps_the_input_dtype_with_a_float64_weight():
    check_op(lambda lib, x: lib.nn.functional.rms_norm(x, [3], lib.ones(3).double() * 2.0),
             rand(2, 3), dtype="float32")


def test_local_response_norm_of_integers_gives_float():
    check_op(lambda lib, x: lib.nn.functional.local_response_norm(x, 2, alpha=0.5),
             np.arange(24).reshape(2, 3, 4))


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 4), (1, 3, 2, 2, 2)])
@pytest.mark.parametrize("dtype", ["uint8", "int32", "bool"])
def test_local_response_norm_refuses_the_dtypes_its_average_pool_refuses(shape, dtype):
    # PyTorch runs the window through avg_pool2d (3-D inputs) or avg_pool3d, whose CPU
    # kernels take floats and int64 only; its CUDA kernels name themselves otherwise.
    if current_device() != "cpu":
        pytest.skip("the CPU kernels' names are in PyTorch's message")
    same_error(lambda lib: lib.nn.functional.local_response_norm(
        lib.zeros(shape, dtype=getattr(lib, dtype)), 2))


def test_local_response_norm_of_half_floats_in_four_dimensions_raises_on_the_cpu():
    if current_device() != "cpu":
        pytest.skip("PyTorch's CUDA avg_pool3d takes half floats")
    same_error(lambda lib: lib.nn.functional.local_response_norm(
        lib.ones(2, 3, 2, 2, dtype=lib.float16), 2))


def test_local_response_norm_returns_an_empty_input_before_checking_the_size():
    # PyTorch's F.local_response_norm returns an empty input before its average pool
    # would refuse a zero-size window.
    x = rt.zeros(0, 3, 4, device=current_device())
    out = rt.nn.functional.local_response_norm(x, 0)
    assert tuple(out.shape) == (0, 3, 4) and out.dtype == x.dtype


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,size", [((2, 5, 7), 3), ((2, 6, 3, 4), 4), ((1, 4, 2, 2, 3), 1),
                                        ((2, 3, 4), 6)])
def test_local_response_norm_matches_torch(shape, size, dtype, layout):
    if layout == "transposed" and len(shape) > 3:
        pytest.skip("PyTorch's own .view() refuses this layout (rustorch accepts it)")
    def fn(lib, x):
        return lib.nn.functional.local_response_norm(x, size, alpha=0.5, beta=0.6, k=1.5)

    check_op(fn, rand(*shape), dtype=dtype, grad=dtype == "float64", layout=layout)


# ---------------------------------------------------------------------------- gradcheck


GRADCHECK_CASES = {
    "batch_norm": (lambda x, w, b: rt.nn.functional.batch_norm(x, None, None, w, b, True),
                   (4, 3, 2), 3),
    "batch_norm_eval": (lambda x, w, b: rt.nn.functional.batch_norm(
        x, rt.tensor([0.1, -0.2, 0.3], dtype=x.dtype, device=x.device),
        rt.tensor([0.5, 1.0, 2.0], dtype=x.dtype, device=x.device), w, b, False), (4, 3, 2), 3),
    "instance_norm": (lambda x, w, b: rt.nn.functional.instance_norm(x, weight=w, bias=b),
                      (2, 3, 4), 3),
    "layer_norm": (lambda x, w, b: rt.nn.functional.layer_norm(x, [4], w, b), (3, 4), 4),
    "group_norm": (lambda x, w, b: rt.nn.functional.group_norm(x, 2, w, b), (2, 4, 3), 4),
    "rms_norm": (lambda x, w, b: rt.nn.functional.rms_norm(x, [4], w) + b, (3, 4), 4),
    "local_response_norm": (lambda x, w, b: rt.nn.functional.local_response_norm(
        x, 3, alpha=0.3, k=1.0) * w.reshape(1, -1, 1) + b.reshape(1, -1, 1), (2, 4, 3), 4),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_gradcheck_and_gradgradcheck(name):
    f, shape, c = GRADCHECK_CASES[name]
    x = T(rt, rand(*shape, shift=0.5), requires_grad=True)
    w = T(rt, rand(c, seed=1) + 2.0, requires_grad=True)
    b = T(rt, rand(c, seed=2), requires_grad=True)
    assert rt.autograd.gradcheck(f, (x, w, b))
    assert rt.autograd.gradgradcheck(f, (x, w, b))


def test_double_backward_matches_torch():
    """Second derivatives of batch norm and layer norm agree with PyTorch's."""
    torch = need_torch()
    results = []
    for lib in (rt, torch):
        x = T(lib, rand(4, 3, 2), requires_grad=True)
        w = T(lib, rand(3, seed=1), requires_grad=True)
        y = lib.nn.functional.batch_norm(x, None, None, w, None, True)
        y = y + lib.nn.functional.layer_norm(x, [2])
        (gx,) = lib.autograd.grad((y * y.detach().sin()).sum(), [x], create_graph=True)
        (gx * gx).sum().backward()
        results.append((gx, x.grad, w.grad))
    assert_matches_torch(results[0], results[1], msg="double backward:")


# ---------------------------------------------------------------------------- modules


def _pair(make):
    torch = need_torch()
    ours, theirs = make(rt), make(torch)
    ours.load_state_dict({k: rt.tensor(to_np(v)) for k, v in theirs.state_dict().items()})
    return ours.to(current_device()), theirs


def _steps(ours, theirs, shape, dtype="float64", steps=3, train=True):
    """Run both modules on the same batches; compare outputs, gradients and buffers."""
    torch = need_torch()
    convert = "double" if dtype == "float64" else "float"
    getattr(ours, convert)()
    getattr(theirs, convert)()
    ours.train(train)
    theirs.train(train)
    for step in range(steps):
        arr = rand(*shape, seed=10 + step, scale=1.0 + step, shift=step)
        x_ours = T(rt, arr, dtype, requires_grad=True)
        x_theirs = T(torch, arr, dtype, requires_grad=True)
        y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
        assert_matches_torch(y_ours, y_theirs, msg=f"step {step} output:")
        g = rand(*y_theirs.shape, seed=99)
        (y_ours * T(rt, g, dtype)).sum().backward()
        (y_theirs * T(torch, g, dtype)).sum().backward()
        assert_matches_torch(x_ours.grad, x_theirs.grad, msg=f"step {step} input grad:")
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert_matches_torch(p.grad, q.grad, msg=f"step {step} grad of {name}:")
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in b:
        assert_matches_torch(a[k], b[k], msg=f"state {k}:")


@pytest.mark.parametrize("momentum", [0.1, None, 0.7])
@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (6, 4)), ("BatchNorm1d", (3, 4, 5)),
                                        ("BatchNorm2d", (3, 4, 3, 2)),
                                        ("BatchNorm3d", (2, 4, 2, 3, 2))])
def test_batch_norm_modules_train_then_eval(kind, shape, momentum):
    ours, theirs = _pair(lambda lib: getattr(lib.nn, kind)(4, momentum=momentum))
    _steps(ours, theirs, shape)
    assert int(ours.num_batches_tracked) == 3
    _steps(ours, theirs, shape, train=False, steps=1)
    assert int(ours.num_batches_tracked) == 3


@pytest.mark.parametrize("options", [dict(affine=False), dict(track_running_stats=False),
                                     dict(bias=False), dict(eps=1e-2, momentum=None),
                                     dict(affine=False, track_running_stats=False)])
def test_batch_norm_module_options(options):
    if "bias" in options:
        need_oracle_torch("BatchNorm's bias argument")
    ours, theirs = _pair(lambda lib: lib.nn.BatchNorm2d(3, **options))
    _steps(ours, theirs, (4, 3, 2, 2))
    _steps(ours, theirs, (4, 3, 2, 2), train=False, steps=1)


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 3, 2), (2, 4, 2, 3, 2)])
def test_sync_batch_norm_without_a_process_group_is_batch_norm(shape):
    """With no process group (and in eval mode) SyncBatchNorm is ``F.batch_norm``, as
    PyTorch's: outputs, gradients and running statistics equal PyTorch's step by step. (Its
    synchronised path runs under ``mpirun`` in tests/distributed/ddp.py.)"""
    ours, theirs = _pair(lambda lib: lib.nn.SyncBatchNorm(4, momentum=None))
    assert repr(ours) == repr(theirs)
    _steps(ours, theirs, shape)
    _steps(ours, theirs, shape, train=False, steps=1)


def test_convert_sync_batchnorm_matches_torch():
    """Every ``BatchNorm*d`` at any depth becomes a SyncBatchNorm holding the same parameter
    and buffer objects; reprs and state-dict keys are PyTorch's."""
    torch = need_torch()

    def build(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(3, 4, 3),
            lib.nn.BatchNorm2d(4, eps=1e-3),
            lib.nn.Sequential(lib.nn.Flatten(), lib.nn.BatchNorm1d(4, affine=False,
                                                                   momentum=None)),
        )

    ours, theirs = build(rt), build(torch)
    ours[1].eval()
    theirs[1].eval()
    weight = ours[1].weight
    conv_ours = rt.nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    conv_theirs = torch.nn.SyncBatchNorm.convert_sync_batchnorm(theirs)
    assert repr(conv_ours) == repr(conv_theirs)
    assert list(conv_ours.state_dict()) == list(conv_theirs.state_dict())
    assert isinstance(conv_ours[1], rt.nn.SyncBatchNorm) and conv_ours[1].weight is weight
    assert not conv_ours[1].training and conv_ours[2][1].momentum is None
    single = rt.nn.SyncBatchNorm.convert_sync_batchnorm(rt.nn.BatchNorm3d(2))
    assert type(single) is rt.nn.SyncBatchNorm


@pytest.mark.parametrize("build", [
    lambda lib: lib.nn.SyncBatchNorm(3)(lib.zeros(3)),
    lambda lib: lib.nn.SyncBatchNorm(0)(lib.zeros(2, 0)),
    lambda lib: lib.nn.SyncBatchNorm(3)(lib.zeros(1, 3)),
])
def test_sync_batch_norm_errors_match_torch(build):
    same_error(build)


def test_batch_norm_float32_running_stats_match_torch():
    ours, theirs = _pair(lambda lib: lib.nn.BatchNorm2d(5))
    _steps(ours, theirs, (8, 5, 4, 4), dtype="float32", steps=4)


def test_batch_norm_reset_and_state_dict_keys():
    torch = need_torch()
    ours, theirs = rt.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert str(ours.num_batches_tracked.dtype) == f"{LIB_NAME}.int64"
    ours(rt.randn(4, 3))
    assert int(ours.num_batches_tracked) == 1
    assert np.abs(to_np(ours.running_mean)).sum() > 0
    ours.reset_running_stats()
    assert int(ours.num_batches_tracked) == 0
    assert (to_np(ours.running_mean) == 0).all() and (to_np(ours.running_var) == 1).all()
    assert list(rt.nn.BatchNorm1d(3, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    assert list(rt.nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == [
        "weight", "bias"]
    # A state dict of PyTorch's version 1 (no num_batches_tracked) still loads strictly.
    sd = {k: v for k, v in ours.state_dict().items() if k != "num_batches_tracked"}
    ours.load_state_dict(sd)


@pytest.mark.parametrize("kind,shape", [("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm1d", (4, 5)),
                                        ("InstanceNorm2d", (2, 4, 3, 3)),
                                        ("InstanceNorm3d", (2, 4, 2, 3, 2)),
                                        ("InstanceNorm3d", (4, 2, 3, 2))])
@pytest.mark.parametrize("options", [{}, dict(affine=True),
                                     dict(affine=True, track_running_stats=True)])
def test_instance_norm_modules(kind, shape, options):
    ours, theirs = _pair(lambda lib: getattr(lib.nn, kind)(4, **options))
    _steps(ours, theirs, shape)
    _steps(ours, theirs, shape, train=False, steps=1)


def test_instance_norm_module_warns_and_raises_on_channel_mismatch():
    torch = need_torch()
    for lib in (rt, torch):
        with pytest.warns(UserWarning, match="does not match num_features"):
            lib.nn.InstanceNorm1d(3)(lib.randn(2, 4, 5))
    same_error(lambda lib: lib.nn.InstanceNorm1d(3, affine=True)(lib.randn(2, 4, 5)))


@pytest.mark.parametrize("options", [{}, dict(elementwise_affine=False), dict(bias=False),
                                     dict(eps=1e-3)])
@pytest.mark.parametrize("normalized_shape", [5, (4, 5)])
def test_layer_norm_module(normalized_shape, options):
    ours, theirs = _pair(lambda lib: lib.nn.LayerNorm(normalized_shape, **options))
    _steps(ours, theirs, (3, 4, 5), steps=1)
    _steps(ours, theirs, (3, 4, 5), dtype="float32", steps=1)


@pytest.mark.parametrize("options", [{}, dict(affine=False), dict(bias=False)])
def test_group_norm_module(options):
    if "bias" in options:
        need_oracle_torch("GroupNorm's bias argument")
    ours, theirs = _pair(lambda lib: lib.nn.GroupNorm(3, 6, **options))
    _steps(ours, theirs, (2, 6, 5), steps=1)


@pytest.mark.parametrize("options", [{}, dict(eps=1e-4), dict(elementwise_affine=False)])
def test_rms_norm_module(options):
    ours, theirs = _pair(lambda lib: lib.nn.RMSNorm([3, 4], **options))
    _steps(ours, theirs, (2, 3, 4), steps=1)


def test_local_response_norm_module():
    ours, theirs = _pair(lambda lib: lib.nn.LocalResponseNorm(3, alpha=0.1, beta=0.5, k=2.0))
    _steps(ours, theirs, (2, 5, 3, 3), steps=1)


def test_module_reprs_match_torch():
    torch = need_oracle_torch("the norm layers' reprs (bias=) and constructors")
    makers = [
        lambda nn: nn.BatchNorm1d(3),
        lambda nn: nn.BatchNorm2d(3, momentum=None, affine=False),
        lambda nn: nn.BatchNorm3d(5, eps=1e-3, track_running_stats=False, bias=False),
        lambda nn: nn.InstanceNorm1d(3),
        lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        lambda nn: nn.InstanceNorm3d(2, momentum=0.3),
        lambda nn: nn.LayerNorm(4),
        lambda nn: nn.LayerNorm([3, 4], eps=1e-6, elementwise_affine=False),
        lambda nn: nn.LayerNorm((3,), bias=False),
        lambda nn: nn.GroupNorm(2, 4),
        lambda nn: nn.GroupNorm(1, 3, affine=False),
        lambda nn: nn.RMSNorm(4),
        lambda nn: nn.RMSNorm([2, 3], eps=1e-5, elementwise_affine=False),
        lambda nn: nn.LocalResponseNorm(2),
        lambda nn: nn.Dropout1d(),
        lambda nn: nn.Dropout2d(0.3),
        lambda nn: nn.Dropout3d(inplace=True),
        lambda nn: nn.AlphaDropout(0.2),
        lambda nn: nn.FeatureAlphaDropout(),
        lambda nn: nn.Sequential(nn.BatchNorm2d(4), nn.GroupNorm(2, 4)),
    ]
    for make in makers:
        ours, theirs = make(rt.nn), make(torch.nn)
        assert norm_msg(repr(ours)) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_module_constructor_checks():
    same_error(lambda lib: lib.nn.GroupNorm(4, 6))
    same_error(lambda lib: lib.nn.BatchNorm2d(3)(lib.randn(2, 3, 4)))
    same_error(lambda lib: lib.nn.BatchNorm1d(3)(lib.randn(2, 3, 4, 5)))
    same_error(lambda lib: lib.nn.BatchNorm3d(3)(lib.randn(2, 3, 4, 5)))
    same_error(lambda lib: lib.nn.InstanceNorm2d(3)(lib.randn(3, 4)))
    same_error(lambda lib: lib.nn.BatchNorm1d(3)(lib.randn(1, 3)))


# ---------------------------------------------------------------------------- errors


ERROR_CASES = {
    "bn_one_value": lambda lib, F: F.batch_norm(lib.randn(1, 3), None, None, training=True),
    "bn_one_value_3d": lambda lib, F: F.batch_norm(lib.randn(1, 3, 1), None, None,
                                                   training=True),
    "bn_running_mean": lambda lib, F: F.batch_norm(lib.randn(2, 3), lib.zeros(4), lib.ones(3),
                                                   training=True),
    "bn_running_var": lambda lib, F: F.batch_norm(lib.randn(2, 3), lib.zeros(3), lib.ones(2)),
    "bn_weight": lambda lib, F: F.batch_norm(lib.randn(2, 3), None, None, lib.ones(4),
                                             training=True),
    "bn_bias": lambda lib, F: F.batch_norm(lib.randn(2, 3), None, None, None, lib.ones(5),
                                           training=True),
    "bn_running_requires_grad": lambda lib, F: F.batch_norm(
        lib.randn(2, 3), lib.zeros(3, requires_grad=True), lib.ones(3)),
    "bn_eval_no_mean": lambda lib, F: F.batch_norm(lib.randn(2, 3), None, None),
    "bn_eval_no_var": lambda lib, F: F.batch_norm(lib.randn(2, 3), lib.zeros(3), None),
    "bn_1d_input": lambda lib, F: F.batch_norm(lib.randn(3), None, None, training=True),
    "bn_eps": lambda lib, F: F.batch_norm(lib.randn(2, 3), None, None, training=True, eps=0),
    "bn_neg_eps": lambda lib, F: F.batch_norm(lib.randn(2, 3), lib.zeros(3), lib.ones(3),
                                              eps=-1.0),
    "bn_long": lambda lib, F: F.batch_norm(lib.ones(2, 3, dtype=lib.long), None, None,
                                           training=True),
    "bn_mixed_dtype": lambda lib, F: F.batch_norm(lib.randn(2, 3), lib.zeros(3).double(),
                                                  lib.zeros(3).double(), training=True),
    "bn_mixed_dtype2": lambda lib, F: F.batch_norm(lib.randn(2, 3).double(), lib.zeros(3),
                                                   lib.ones(3), training=True),
    "ln_shape": lambda lib, F: F.layer_norm(lib.randn(2, 3), [4]),
    "ln_shape2": lambda lib, F: F.layer_norm(lib.randn(2, 3), [2, 4]),
    "ln_short_input": lambda lib, F: F.layer_norm(lib.randn(3), [2, 3]),
    "ln_weight": lambda lib, F: F.layer_norm(lib.randn(2, 3), [3], lib.ones(4)),
    "ln_bias": lambda lib, F: F.layer_norm(lib.randn(2, 3), [3], None, lib.ones(4)),
    "ln_empty_shape": lambda lib, F: F.layer_norm(lib.randn(2, 3), []),
    "ln_long": lambda lib, F: F.layer_norm(lib.ones(2, 3, dtype=lib.long), [3]),
    "ln_mixed_dtype": lambda lib, F: F.layer_norm(lib.randn(2, 3), [3], lib.ones(3).double()),
    "rms_shape": lambda lib, F: F.rms_norm(lib.randn(2, 3), [4]),
    "rms_weight": lambda lib, F: F.rms_norm(lib.randn(2, 3), [3], lib.ones(4)),
    "rms_empty_shape": lambda lib, F: F.rms_norm(lib.randn(2, 3), []),
    "gn_groups": lambda lib, F: F.group_norm(lib.randn(2, 6, 4), 4),
    "gn_weight": lambda lib, F: F.group_norm(lib.randn(2, 6, 4), 3, lib.ones(4)),
    "gn_bias": lambda lib, F: F.group_norm(lib.randn(2, 6, 4), 3, None, lib.ones(7)),
    "gn_1d": lambda lib, F: F.group_norm(lib.randn(6), 3),
    "gn_one_value": lambda lib, F: F.group_norm(lib.randn(1, 3, 1), 3),
    "in_spatial": lambda lib, F: F.instance_norm(lib.randn(2, 3, 1)),
    "in_running_mean": lambda lib, F: F.instance_norm(lib.randn(2, 3, 4), lib.zeros(4),
                                                      lib.ones(4)),
    "in_weight": lambda lib, F: F.instance_norm(lib.randn(2, 3, 4), weight=lib.ones(4)),
    "in_no_stats": lambda lib, F: F.instance_norm(lib.randn(2, 3, 4), use_input_stats=False),
    "lrn_2d": lambda lib, F: F.local_response_norm(lib.randn(2, 3), 2),
    "lrn_size0": lambda lib, F: F.local_response_norm(lib.randn(2, 3, 4), 0),
    "lrn_size0_4d": lambda lib, F: F.local_response_norm(lib.randn(2, 3, 4, 5), 0),
    "gn_mixed_dtype": lambda lib, F: F.group_norm(lib.randn(1, 3, 2).double(), 3, lib.ones(3)),
    "in_mixed_dtype": lambda lib, F: F.instance_norm(lib.randn(1, 3, 2).double(),
                                                     weight=lib.ones(3)),
    "ln_mixed_dtype2": lambda lib, F: F.layer_norm(lib.randn(2, 3).double(), [3], lib.ones(3)),
    "gn_long": lambda lib, F: F.group_norm(lib.ones(2, 6, 4, dtype=lib.long), 3),
    "rms_long": lambda lib, F: F.rms_norm(lib.ones(2, 6, 4, dtype=lib.long), [4]),
    "in_long": lambda lib, F: F.instance_norm(lib.ones(2, 6, 4, dtype=lib.long)),
    "dropout_p": lambda lib, F: F.dropout2d(lib.randn(2, 3, 4, 4), p=1.5),
    "dropout1d_dims": lambda lib, F: F.dropout1d(lib.randn(2, 3, 4, 5)),
    "feature_alpha_1d": lambda lib, F: F.feature_alpha_dropout(lib.randn(3), training=True),
    "alpha_p": lambda lib, F: F.alpha_dropout(lib.randn(3), p=-0.1),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_errors_match_torch(name):
    if name in ("bn_eps", "bn_neg_eps", "lrn_size0"):
        need_oracle_torch("this error's message")
    same_error(lambda lib: ERROR_CASES[name](lib, lib.nn.functional))


# ---------------------------------------------------------------------------- dropout


def _channel_pattern(out, x, scale):
    """Each (sample, channel) slice is all zero or all ``x * scale``; returns the keep mask."""
    o, x = to_np(out), to_np(x)
    flat_o = o.reshape(o.shape[0], o.shape[1], -1)
    flat_x = x.reshape(x.shape[0], x.shape[1], -1)
    kept = np.all(np.isclose(flat_o, flat_x * scale, rtol=1e-6), axis=2)
    dropped = np.all(flat_o == 0, axis=2)
    assert np.all(kept | dropped), "a channel was partly dropped"
    return kept


@pytest.mark.parametrize("fn,shape", [("dropout1d", (40, 30, 3)), ("dropout2d", (40, 30, 2, 2)),
                                      ("dropout3d", (40, 30, 2, 1, 2))])
def test_channel_dropout_drops_whole_channels(fn, shape):
    F = rt.nn.functional
    x = rt.rand(*shape, device=current_device()) + 0.5
    out = getattr(F, fn)(x, p=0.25)
    kept = _channel_pattern(out, x, 1 / 0.75)
    assert 0.6 < kept.mean() < 0.9  # 1200 channels, keep probability 0.75
    assert getattr(F, fn)(x, p=0.25, training=False) is x
    zeros = getattr(F, fn)(x, p=1.0)
    assert (to_np(zeros) == 0).all()


def test_dropout1d_unbatched_and_inplace():
    F = rt.nn.functional
    x = rt.rand(50, 4, device=current_device()) + 0.5
    out = F.dropout1d(x, 0.5)
    assert tuple(out.shape) == (50, 4)
    _channel_pattern(out.unsqueeze(0), x.unsqueeze(0), 2.0)
    y = x.clone()
    r = F.dropout1d(y, 0.5, inplace=True)
    assert r is y
    _channel_pattern(y.unsqueeze(0), x.unsqueeze(0), 2.0)
    z = (rt.rand(3, 40, 5, 5, device=current_device()) + 0.5)
    z0 = z.clone()
    F.dropout2d(z, 0.5, inplace=True)
    _channel_pattern(z, z0, 2.0)


def test_dropout_modules_follow_training_mode():
    x = rt.rand(4, 8, 3, 3, device=current_device()) + 0.5
    for m in (rt.nn.Dropout2d(0.5), rt.nn.Dropout3d(0.5), rt.nn.FeatureAlphaDropout(0.5),
              rt.nn.AlphaDropout(0.5)):
        m.eval()
        assert np.array_equal(to_np(m(x)), to_np(x))
        m.train()
        assert not np.array_equal(to_np(m(x)), to_np(x))
    m = rt.nn.Dropout1d(0.5)
    y = rt.rand(8, 20, 3, device=current_device()) + 0.5
    _channel_pattern(m(y), y, 2.0)


def test_dropout_gradient_uses_the_same_mask():
    x = (rt.rand(20, 30, 4, device=current_device()) + 0.5).requires_grad_(True)
    out = rt.nn.functional.dropout1d(x, 0.4)
    out.sum().backward()
    kept = _channel_pattern(out, x, 1 / 0.6)
    g = to_np(x.grad)
    np.testing.assert_allclose(g, np.broadcast_to(kept[..., None] / 0.6, g.shape), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dropout_survivors_are_scaled_in_the_inputs_dtype_as_pytorchs(dtype):
    """The survivors of ``x`` are ``x · 1/(1 − p)`` rounded to the dtype, the same values as
    PyTorch's (whose ``1/(1 − p)`` is a float32 division below float64); the rest are zero,
    at about the rate ``p``."""
    torch = need_torch()
    x = np.linspace(0.5, 3.0, 4000).reshape(40, 100)
    t = getattr(torch, dtype)
    for p in (0.3, 0.021, 0.025, 0.039, 0.5, 0.9):
        xt = rt.tensor(x, device=current_device()).to(getattr(rt, dtype))
        out = rt.nn.functional.dropout(xt, p)
        assert out.dtype == getattr(rt, dtype)
        ours = to_np(out.double())
        kept = ours != 0
        assert abs(kept.mean() - (1 - p)) < 0.04, p
        # PyTorch's survivors: the input times its mask's value (dropout of ones).
        value = torch.nn.functional.dropout(torch.ones(1000, dtype=t), p).max()
        survivors = (torch.tensor(x).to(t) * value).double().numpy()
        np.testing.assert_array_equal(ours[kept], survivors[kept], err_msg=f"p={p}")


@pytest.mark.parametrize("fn", ["dropout", "dropout2d", "alpha_dropout", "feature_alpha_dropout"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "uint8"])
def test_dropout_of_integer_input_raises_pytorchs_error(dtype, fn):
    # The alpha dropouts' error names `mask - 1`'s dtype: int64 for a bool input.
    torch = need_torch()
    messages = []
    for lib in (rt, torch):
        x = lib.ones(4, 5, 2, 2, dtype=getattr(lib, dtype))
        with pytest.raises(RuntimeError) as err:
            getattr(lib.nn.functional, fn)(x, 0.5, True)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_values_and_statistics(feature):
    torch = need_torch()
    name = "feature_alpha_dropout" if feature else "alpha_dropout"
    p = 0.3
    # On zeros the result is PyTorch's affine correction alone: two values, the same in both.
    ours = to_np(getattr(rt.nn.functional, name)(rt.zeros(30, 40, 2, device=current_device()),
                                                 p, True))
    theirs = getattr(torch.nn.functional, name)(torch.zeros(30, 40, 2), p, True).numpy()
    np.testing.assert_allclose(np.unique(ours.round(6)), np.unique(theirs.round(6)), rtol=1e-6)
    if feature:
        assert (ours[..., 0] == ours[..., 1]).all()
    # SELU-normalised input keeps mean 0 and variance 1.
    x = rt.randn(200000, device=current_device())
    if feature:
        x = x.reshape(2000, 100, 1)
    y = to_np(getattr(rt.nn.functional, name)(x, p, True))
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.03
    assert getattr(rt.nn.functional, name)(x, p) is x  # training defaults to False


def test_dropout2d_warnings_match_torch():
    torch = need_torch()
    for shape in [(2, 3, 4), (2, 3)]:
        caught = []
        for lib in (rt, torch):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                lib.nn.functional.dropout2d(lib.randn(*shape))
            caught.append([str(m.message) for m in w])
        assert caught[0] == caught[1] and caught[0]
    caught = []
    for lib in (rt, torch):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lib.nn.functional.dropout3d(lib.randn(2, 3, 4))
        caught.append([str(m.message) for m in w])
    assert caught[0] == caught[1] and caught[0]
