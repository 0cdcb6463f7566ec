"""Autograd: graph basics, grad modes, errors, hooks, higher order, custom Functions,
gradcheck, deep graphs, and gradients of every differentiable op (vs PyTorch and by finite
differences)."""

import numpy as np
import pytest
from conftest import assert_values, check_op, make_tensor, need_torch, rand_array, rt, to_np

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")


def leaf(a, requires_grad=True):
    return make_tensor(rt, np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---------------------------------------------------------------- basics --------------


def test_requires_grad_propagation_and_leaves():
    x = leaf([1.0, 2.0])
    c = leaf([3.0, 4.0], requires_grad=False)
    y = x * c
    assert x.requires_grad and x.is_leaf and x.grad_fn is None
    assert not c.requires_grad and c.is_leaf
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert not (c * 2).requires_grad
    z = rt.zeros(2, dtype=rt.float64)
    assert z.requires_grad_() is z and z.requires_grad and z.is_leaf
    z.requires_grad_(False)
    assert not z.requires_grad


def test_backward_on_scalar():
    a = rand_array((3,), "float64")
    x = leaf(a)
    (x * x).sum().backward()
    assert_values(to_np(x.grad), 2 * a)
    assert x.grad.dtype == rt.float64 and not x.grad.requires_grad


def test_grad_accumulates_and_can_be_reset():
    a = rand_array((3,), "float64")
    x = leaf(a)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert_values(to_np(x.grad), 3 + 2 * a)
    x.grad = None
    x.sum().backward()
    assert_values(to_np(x.grad), np.ones(3))
    x.grad.zero_()
    assert_values(to_np(x.grad), np.zeros(3))


def test_backward_with_explicit_gradient():
    a = rand_array((2, 3), "float64")
    g = rand_array((2, 3), "float64", seed=5)
    x = leaf(a)
    y = x.exp()
    y.backward(make_tensor(rt, g))
    assert_values(to_np(x.grad), g * np.exp(a))
    x2 = leaf(a)
    x2.exp().backward(gradient=make_tensor(rt, g))
    assert_values(to_np(x2.grad), g * np.exp(a))


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda L, x, y: x + y, "AddBackward0"),
        (lambda L, x, y: x * y, "MulBackward0"),
        (lambda L, x, y: x - y, "SubBackward0"),
        (lambda L, x, y: x / y, "DivBackward0"),
        (lambda L, x, y: x.sum(), "SumBackward0"),
        (lambda L, x, y: x.sum(dim=0), "SumBackward1"),
        (lambda L, x, y: x.mean(), "MeanBackward0"),
        (lambda L, x, y: L.mm(x, y.t()), "MmBackward0"),
        (lambda L, x, y: x.exp(), "ExpBackward0"),
        (lambda L, x, y: x.t(), "TBackward0"),
        (lambda L, x, y: x.view(-1), "ViewBackward0"),
        (lambda L, x, y: -x, "NegBackward0"),
        (lambda L, x, y: x.relu(), "ReluBackward0"),
        (lambda L, x, y: x ** 2, "PowBackward0"),
        (lambda L, x, y: x[0], "SelectBackward0"),
    ],
)
def test_grad_fn_names(build, name):
    x = leaf(np.ones((2, 2)))
    y = leaf(np.ones((2, 2)))
    out = build(rt, x, y)
    assert out.grad_fn.name() == name
    assert type(out.grad_fn).__name__ == name  # the class is named after the node too
    assert isinstance(out.grad_fn, rt.autograd.graph.Node)


def test_next_functions():
    x = leaf([1.0, 2.0])
    c = leaf([3.0, 4.0], requires_grad=False)
    y = x * 2
    z = (y + c).sum()
    (add_fn, idx), = z.grad_fn.next_functions
    assert add_fn.name() == "AddBackward0" and idx == 0
    names = [f.name() if f is not None else None for f, _ in add_fn.next_functions]
    assert names == ["MulBackward0", None]
    mul_fn = add_fn.next_functions[0][0]
    acc = mul_fn.next_functions[0][0]
    assert acc.name().endswith("AccumulateGrad")  # torch: "torch::autograd::AccumulateGrad"
    assert acc.variable.data_ptr() == x.data_ptr() and acc.variable.requires_grad


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_retain_grad_and_non_leaf_grad():
    x = leaf([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    z = y * y
    w = z.sum()
    w.backward()
    assert_values(to_np(y.grad), 2 * np.array([3.0, 6.0]))
    assert z.grad is None
    assert y.retains_grad and not z.retains_grad


def test_detach():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert d.data_ptr() == y.data_ptr()  # shares storage
    (d * x).sum().backward()
    assert_values(to_np(x.grad), np.array([2.0, 4.0]))
    e = x.detach()
    e.zero_()
    assert x.tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- grad modes ----------


def test_no_grad_context_and_decorator():
    x = leaf([1.0])
    with rt.no_grad():
        y = x * 2
        assert not rt.is_grad_enabled()
    assert rt.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @rt.no_grad()
    def f(a):
        return a * 2

    assert not f(x).requires_grad
    assert rt.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with rt.no_grad():
        with rt.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad

    @rt.enable_grad()
    def f(a):
        return a * 2

    with rt.no_grad():
        assert f(x).requires_grad


def test_set_grad_enabled():
    x = leaf([1.0])
    with rt.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    with rt.set_grad_enabled(True):
        assert (x * 2).requires_grad
    rt.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        rt.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_inference_mode():
    x = leaf([1.0])
    with rt.inference_mode():
        y = x * 2
        assert not rt.is_grad_enabled()
    assert not y.requires_grad

    @rt.inference_mode()
    def f(a):
        return a * 2

    assert not f(x).requires_grad
    with rt.inference_mode(False):
        assert (x * 2).requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with rt.no_grad():
            raise ValueError("boom")
    assert rt.is_grad_enabled()


# ---------------------------------------------------------------- errors --------------


def test_backward_twice_without_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_twice_with_retain_graph():
    a = np.array([1.0, 2.0])
    x = leaf(a)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_values(to_np(x.grad), 2 * (np.exp(a) * a + np.exp(a)))


def test_non_scalar_backward_needs_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError):
        rt.ones(2).sum().backward()


def test_inplace_modification_of_saved_tensor():
    x = leaf([1.0, 2.0])
    y = x.exp()  # exp saves its output
    z = y * 2
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (z + y).sum().backward()
    w = leaf([1.0, 2.0])
    v = w * 1
    u = v * v  # saves v
    v.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        u.sum().backward()


def test_inplace_on_leaf_requiring_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.add_(1)
    with pytest.raises(RuntimeError):
        x[0] = 5.0
    with rt.no_grad():
        x.add_(1)  # allowed without grad tracking
    assert x.tolist() == [2.0, 3.0]


def test_inplace_on_non_leaf_is_tracked():
    a = np.array([1.0, 2.0, 3.0])
    x = leaf(a)
    y = x * 2
    y.mul_(3)
    y.add_(x)  # 7x
    y[0] = 0.0
    (y * y).sum().backward()
    assert_values(to_np(x.grad), np.array([0.0, 98 * a[1], 98 * a[2]]))


# ---------------------------------------------------------------- broadcasting / hooks -


def test_broadcasting_gradients_are_reduced():
    a = rand_array((3, 1), "float64")
    b = rand_array((4,), "float64", seed=3)
    x, y = leaf(a), leaf(b)
    (x * y).sum().backward()
    assert tuple(x.grad.shape) == (3, 1) and tuple(y.grad.shape) == (4,)
    assert_values(to_np(x.grad), np.full((3, 1), b.sum()))
    assert_values(to_np(y.grad), np.full(4, a.sum()))
    s = leaf(2.0)
    (s * x).sum().backward()
    assert tuple(s.grad.shape) == ()
    assert_values(to_np(s.grad), np.asarray(a.sum()))


def test_register_hook_replaces_grad():
    x = leaf([1.0, 2.0])
    seen = []
    h = x.register_hook(lambda g: seen.append(g.clone()) or g * 10)
    (x * 3).sum().backward()
    assert_values(to_np(seen[0]), np.array([3.0, 3.0]))
    assert_values(to_np(x.grad), np.array([30.0, 30.0]))
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert_values(to_np(x.grad), np.array([3.0, 3.0]))


def test_hook_on_intermediate():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: g * 0 + 1)  # replace dL/dy with ones
    (y * y).sum().backward()
    assert_values(to_np(x.grad), np.array([2.0, 2.0]))


# ---------------------------------------------------------------- autograd.grad -------


def test_autograd_grad_first_and_second_order():
    a = np.array([0.5, -1.0, 2.0])
    x = leaf(a)
    y = (x**3).sum()
    (g,) = rt.autograd.grad(y, x, create_graph=True)
    assert_values(to_np(g), 3 * a**2)
    assert g.requires_grad
    (g2,) = rt.autograd.grad(g.sum(), x)
    assert_values(to_np(g2), 6 * a)
    assert x.grad is None  # autograd.grad does not accumulate into .grad


def test_autograd_grad_multiple_inputs_and_grad_outputs():
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    x, y = leaf(a), leaf(b)
    out = x * y
    gx, gy = rt.autograd.grad(out, (x, y), grad_outputs=make_tensor(rt, np.array([1.0, 2.0])))
    assert_values(to_np(gx), b * [1.0, 2.0])
    assert_values(to_np(gy), a * [1.0, 2.0])
    z = leaf([1.0])
    with pytest.raises(RuntimeError):
        rt.autograd.grad((x * 2).sum(), [x, z])
    gx2, gz = rt.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None


def test_double_backward_through_backward():
    a = np.array([0.3, 1.2])
    x = leaf(a)
    (g,) = rt.autograd.grad(x.sin().sum(), x, create_graph=True)
    g.sum().backward()
    assert_values(to_np(x.grad), -np.sin(a))


# ---------------------------------------------------------------- custom Function -----


def test_custom_function():
    flags = []

    class MyExp(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            y = x.exp() * scale
            ctx.save_for_backward(y)
            flags.append(tuple(ctx.needs_input_grad))
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y, None

    a = rand_array((3,), "float64")
    x = leaf(a)
    y = MyExp.apply(x, 2.0)
    assert y.requires_grad
    assert y.grad_fn.name() == "MyExpBackward"
    y.sum().backward()
    assert_values(to_np(x.grad), 2 * np.exp(a))
    assert flags == [(True, False)]


def test_custom_function_needs_input_grad_and_two_outputs():
    class MulAdd(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x * y, x + y

        @staticmethod
        def backward(ctx, g1, g2):
            x, y = ctx.saved_tensors
            gx = g1 * y + g2 if ctx.needs_input_grad[0] else None
            gy = g1 * x + g2 if ctx.needs_input_grad[1] else None
            return gx, gy

    a, b = rand_array((2,), "float64", 1), rand_array((2,), "float64", 2)
    x, y = leaf(a), leaf(b, requires_grad=False)
    p, s = MulAdd.apply(x, y)
    (p * 2 + s).sum().backward()
    assert_values(to_np(x.grad), 2 * b + 1)
    assert y.grad is None
    assert rt.autograd.gradcheck(MulAdd.apply, (leaf(a), leaf(b)))


@pytest.mark.parametrize("how", ["chunk", "split", "split_sizes", "unbind"])
def test_split_pieces_share_one_node_as_pytorchs(how):
    """``chunk``/``split``/``unbind`` pieces are the outputs of one node with PyTorch's name;
    its gradient joins the pieces' (zeros for an unused one), hooks see each piece's
    gradient, and a piece's ``retain_grad`` keeps it, as in PyTorch."""
    torch = need_torch()
    a = rand_array((4, 6), "float64", 3)
    results = []
    for lib in (rt, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x * 1.5
        if how == "chunk":
            pieces = y.chunk(3, 1)
        elif how == "split":
            pieces = y.split(4, 1)
        elif how == "split_sizes":
            pieces = y.split([1, 3, 2], 1)
        else:
            pieces = y.unbind(1)
        seen: list = []
        pieces[0].register_hook(seen.append)
        pieces[-1].retain_grad()
        names = {p.grad_fn.name() for p in pieces}
        nrs = [p.output_nr for p in pieces]
        (pieces[0].exp().sum() + (pieces[-1] * 3).sum()).backward()
        results.append((names, nrs, x.grad.tolist(), seen[0].tolist(), pieces[-1].grad.tolist()))
    ours, theirs = results
    assert ours[:2] == theirs[:2]
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-12)
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-12)
    assert ours[4] == theirs[4]


@pytest.mark.parametrize("replace", [False, True])
def test_hook_on_unused_piece_sees_none_as_pytorchs(replace):
    """A hook on a piece that got no gradient is called with None, as PyTorch's; returning
    a tensor for it is refused as PyTorch refuses it."""
    torch = need_torch()
    a = rand_array((4, 6), "float64", 4)
    results = []
    for lib in (rt, torch):
        x = lib.tensor(a, requires_grad=True)
        seen: list = []

        def hook(g, lib=lib, seen=seen):
            seen.append(g)
            return lib.full((4, 2), 0.5, dtype=lib.float64) if replace else None

        pieces = (x * 2).chunk(3, 1)
        pieces[1].register_hook(hook)
        try:
            pieces[0].sum().backward()
            results.append((seen, x.grad.tolist()))
        except RuntimeError as e:
            results.append((seen, str(e)))
    (ours, g_ours), (theirs, g_theirs) = results
    assert ours == theirs == [None]
    if replace:
        assert g_ours == g_theirs == "can't replace a None gradient with a non-None value"
    else:
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-12)


@pytest.mark.parametrize("materialize", [True, False])
def test_custom_function_materialize_grads_as_pytorchs(materialize):
    """An output that got no gradient reaches ``backward`` as zeros, or as None after
    ``ctx.set_materialize_grads(False)``, as in PyTorch."""
    torch = need_torch()
    seen = []
    for lib in (rt, torch):

        class Two(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                seen.append(None if g2 is None else g2.tolist())
                return g1 * 2 if g2 is None else g1 * 2 + g2 * 3

        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        a, _ = Two.apply(x)
        a.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]
    assert seen[0] == seen[1] == (None if not materialize else [0.0, 0.0])


def test_custom_function_forward_runs_without_grad():
    seen = {}

    class Probe(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen["inner"] = (x * 2).requires_grad
            seen["enabled"] = rt.is_grad_enabled()
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = leaf([1.0])
    y = Probe.apply(x)
    assert seen == {"inner": False, "enabled": False}
    assert y.requires_grad and rt.is_grad_enabled()


# ---------------------------------------------------------------- gradcheck -----------


def test_gradcheck_and_gradgradcheck():
    x = leaf(rand_array((3,), "float64"))
    y = leaf(rand_array((3,), "float64", seed=2))
    assert rt.autograd.gradcheck(lambda a, b: (a * b.sin()).exp(), (x, y))
    assert rt.autograd.gradgradcheck(lambda a, b: (a * b.sin()).exp(), (x, y))
    assert rt.autograd.gradgradcheck(lambda a: a.tanh() * a, (x,))
    assert rt.autograd.gradgradcheck(lambda a: (a**3).sum(), (x,))


def test_gradcheck_detects_wrong_gradient():
    class Wrong(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = leaf(rand_array((3,), "float64"))
    with pytest.raises(RuntimeError):
        rt.autograd.gradcheck(Wrong.apply, (x,))
    assert rt.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False


# ---------------------------------------------------------------- deep graph ----------


def test_long_chain_backward_has_no_recursion_limit():
    x = leaf([1.5])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]
    del y  # freeing a deep graph must not overflow either


# ---------------------------------------------------------------- ties ----------------


def test_max_min_gradient_with_ties():
    a = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, 0.0, -1.0, 0.0]])
    for name, fn in (("max", np.max), ("min", np.min)):
        x = leaf(a)
        getattr(x, name)().backward()
        mask = a == fn(a)
        assert_values(to_np(x.grad), mask / mask.sum())  # evenly distributed
        x = leaf(a)
        getattr(x, "a" + name)(dim=1).sum().backward()
        m = a == fn(a, axis=1, keepdims=True)
        assert_values(to_np(x.grad), m / m.sum(axis=1, keepdims=True))
        x = leaf(a)
        getattr(x, name)(dim=1).values.sum().backward()
        idx = (np.argmax if name == "max" else np.argmin)(a, axis=1)
        expected = np.zeros_like(a)
        expected[np.arange(2), idx] = 1.0
        assert_values(to_np(x.grad), expected)  # all to the returned index


def test_advanced_indexing_repeated_indices_accumulate():
    a = rand_array((4, 3), "float64")
    x = leaf(a)
    x[[0, 2, 0, 0]].sum().backward()
    expected = np.zeros_like(a)
    np.add.at(expected, [0, 2, 0, 0], 1.0)
    assert_values(to_np(x.grad), expected)
    check_op(lambda lib, t: t[lib.tensor([1, 1, 3])] * t[:3], a, grad=True,
             np_fn=lambda t: t[[1, 1, 3]] * t[:3])


# ---------------------------------------------------------------- every op -------------

P = dict(positive=True)

# name -> (fn(lib, *tensors), list of (shape, rand_array kwargs) for the inputs, extra
# non-tensor inputs). Inputs are float64; index inputs are given as ready numpy arrays.
IDX = np.array([[0, 2], [1, 1], [2, 0]])
GRAD_OPS = {
    "exp": (lambda L, x: x.exp(), [(2, 3)]),
    "log": (lambda L, x: L.log(x), [((2, 3), P)]),
    "sin": (lambda L, x: x.sin(), [(2, 3)]),
    "cos": (lambda L, x: L.cos(x), [(2, 3)]),
    "tanh": (lambda L, x: x.tanh(), [(2, 3)]),
    "sigmoid": (lambda L, x: L.sigmoid(x), [(2, 3)]),
    "relu": (lambda L, x: x.relu(), [(2, 3)]),
    "abs": (lambda L, x: x.abs(), [(2, 3)]),
    "sqrt": (lambda L, x: x.sqrt(), [((2, 3), P)]),
    "pow_scalar": (lambda L, x: x**2.5, [((2, 3), P)]),
    "pow_tensor": (lambda L, x, y: x.pow(y), [((2, 3), P), (3,)]),
    "rpow": (lambda L, x: 1.7**x, [(2, 3)]),
    "div": (lambda L, x, y: x / y, [(2, 3), ((3,), P)]),
    "clamp": (lambda L, x: x.clamp(-0.5, 0.5), [(2, 3)]),
    "where": (lambda L, x, y: L.where(x > y, x, y), [(2, 3), (3,)]),
    "max_full": (lambda L, x: x.max(), [(2, 3)]),
    "min_dim": (lambda L, x: x.min(dim=1).values, [(2, 3)]),
    "amax": (lambda L, x: x.amax(dim=(0, 1)), [(2, 3)]),
    "maximum": (lambda L, x, y: L.maximum(x, y), [(2, 3), (2, 3)]),
    "norm": (lambda L, x: x.norm(), [(2, 3)]),
    "norm_dim": (lambda L, x: x.norm(dim=1), [(2, 3)]),
    "var": (lambda L, x: x.var(dim=0), [(3, 4)]),
    "std": (lambda L, x: x.std(), [(3, 4)]),
    "logsumexp": (lambda L, x: x.logsumexp(dim=1), [(2, 3)]),
    "softmax": (lambda L, x: x.softmax(dim=1), [(2, 3)]),
    "log_softmax": (lambda L, x: x.log_softmax(dim=0), [(2, 3)]),
    "cumsum": (lambda L, x: x.cumsum(dim=1), [(2, 3)]),
    "mean": (lambda L, x: x.mean(dim=1, keepdim=True), [(2, 3)]),
    "prod": (lambda L, x: x.prod(dim=0), [(2, 3)]),
    "prod_full": (lambda L, x: x.prod(), [(2, 3)]),
    "sum_dims": (lambda L, x: x.sum(dim=(0, 2)), [(2, 3, 4)]),
    "gather": (lambda L, x: x.gather(1, L.tensor(IDX)), [(3, 4)]),
    "scatter": (lambda L, x, y: x.scatter(1, L.tensor([[0, 2], [1, 3], [3, 0]]), y),
                [(3, 4), (3, 2)]),
    "scatter_add": (lambda L, x, y: x.scatter_add(0, L.tensor([[0, 1, 0, 1]]), y),
                    [(2, 4), (1, 4)]),
    "index_select": (lambda L, x: x.index_select(0, L.tensor([2, 0, 2])), [(3, 4)]),
    "adv_index_repeat": (lambda L, x: x[L.tensor([1, 1, 0])], [(3, 4)]),
    "adv_index_2d": (lambda L, x: x[[0, 2, 2], [1, 1, 3]], [(3, 4)]),
    "masked_fill": (lambda L, x: x.masked_fill(x > 0, 0.0), [(3, 4)]),
    "cat": (lambda L, x, y: L.cat([x, y, x], dim=1), [(2, 3), (2, 2)]),
    "stack": (lambda L, x, y: L.stack([x, y], dim=1), [(2, 3), (2, 3)]),
    "split": (lambda L, x: x.split([1, 3], dim=1)[1] * 2, [(2, 4)]),
    "expand": (lambda L, x: x.expand(3, 2, 4) * L.arange(4.0, dtype=L.float64), [(2, 1)]),
    "matmul_broadcast": (lambda L, x, y: x @ y, [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_vec": (lambda L, x, y: x @ y, [(4,), (3, 4, 2)]),
    "einsum": (lambda L, x, y: L.einsum("bij,bkj->bik", x, y), [(2, 3, 4), (2, 5, 4)]),
    "setitem": (lambda L, x, y: _setitem(x, y), [(3, 4), (4,)]),
    "transpose_view": (lambda L, x: x.t()[1:, ::2].exp(), [(4, 3)]),
    "lerp": (lambda L, x, y: L.lerp(x, y, 0.3), [(2, 3), (3,)]),
}


def _setitem(x, y):
    z = x * 1
    z[1] = y
    z[:, 0] = 0.0
    return z


def _inputs(spec):
    arrays = []
    for i, s in enumerate(spec):
        shape, kw = s if len(s) == 2 and isinstance(s[1], dict) else (s, {})
        arrays.append(rand_array(shape, "float64", seed=10 + i, **kw))
    return arrays


@pytest.mark.parametrize("name", list(GRAD_OPS))
def test_op_grad_vs_torch(name):
    fn, spec = GRAD_OPS[name]
    check_op(fn, *_inputs(spec), grad=True)


@pytest.mark.parametrize("name", list(GRAD_OPS))
def test_op_gradcheck(name):
    fn, spec = GRAD_OPS[name]
    xs = [leaf(a) for a in _inputs(spec)]
    assert rt.autograd.gradcheck(lambda *ts: fn(rt, *ts), tuple(xs), eps=1e-6, atol=1e-5)


# ---- hooks on graph nodes (grad_fn.register_hook / register_prehook) --------------------


def test_node_hooks_see_and_replace_gradients():
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = rt.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = x * w
    seen = {}

    def post(grad_inputs, grad_outputs):
        seen["post"] = ([None if g is None else g.tolist() for g in grad_inputs],
                        [g.tolist() for g in grad_outputs])
        return (grad_inputs[0] * 10, grad_inputs[1])

    def pre(grad_outputs):
        seen["pre"] = [g.tolist() for g in grad_outputs]
        return (grad_outputs[0] * 2,)

    y.grad_fn.register_hook(post)
    y.grad_fn.register_prehook(pre)
    y.sum().backward()
    assert seen["pre"] == [[1.0, 1.0, 1.0]]
    # the node ran on the doubled output gradient; its input gradients were then replaced
    assert seen["post"] == ([[1.0, -2.0, 4.0], [2.0, 4.0, 6.0]], [[2.0, 2.0, 2.0]])
    assert x.grad.tolist() == [10.0, -20.0, 40.0]
    assert w.grad.tolist() == [2.0, 4.0, 6.0]


def test_removed_node_hooks_do_not_run_and_wrong_counts_raise():
    x = rt.ones(2, requires_grad=True)
    y = x * 3
    calls = []
    h = y.grad_fn.register_hook(lambda gi, go: calls.append(1))
    h.remove()
    y.sum().backward(retain_graph=True)
    assert calls == [] and x.grad.tolist() == [3.0, 3.0]
    handle = y.grad_fn.register_hook(lambda gi, go: (gi[0], gi[0], gi[0]))
    with pytest.raises(RuntimeError, match=r"hook '<lambda>' has returned an incorrect number of "
                       r"values \(got 3, but expected 2\)"):
        y.sum().backward(retain_graph=True)
    handle.remove()
    # the constant 3 has no gradient: a hook may not invent one
    y.grad_fn.register_hook(lambda gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="can't replace a None gradient with a non-None value"):
        y.sum().backward(retain_graph=True)


ANOMALIES = [
    # (forward, expected: the function PyTorch names and which output held NaN)
    lambda lib, x: (x / x).sum(),  # DivBackward0's second output: −g·x/x² at 0
    lambda lib, x: (x.log() * 0).sum(),  # LogBackward0: 0/0
    lambda lib, x: x.sqrt().sum() * 0,  # SqrtBackward0: 0/(2·0)
]


@pytest.mark.parametrize("forward", ANOMALIES)
def test_anomaly_mode_names_the_function_that_returned_nan(forward):
    import warnings

    torch = need_torch()
    messages = []
    for lib in (rt, torch):
        x = lib.tensor([0.0, 2.0], dtype=lib.float64, requires_grad=True)
        with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
            mode = lib.autograd.detect_anomaly()
        with mode, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch's "Error detected in …" traceback
            assert lib.is_anomaly_enabled()
            with pytest.raises(RuntimeError) as err:
                forward(lib, x).backward()
        messages.append(str(err.value))
        assert not lib.is_anomaly_enabled()
        # Off again: the same backward runs through and leaves NaN in the gradient.
        x.grad = None
        forward(lib, x).backward()
        assert np.isnan(to_np(x.grad)).any()
    assert messages[0] == messages[1]


def test_set_detect_anomaly_as_a_call_and_as_a_context_manager():
    x = rt.tensor([0.0], requires_grad=True)
    rt.autograd.set_detect_anomaly(True)
    try:
        assert rt.is_anomaly_enabled() and rt.is_anomaly_check_nan_enabled()
        with pytest.raises(RuntimeError, match="DivBackward0"):
            (x / x).sum().backward()
        # Without its NaN check, the mode lets the NaN through.
        with rt.autograd.set_detect_anomaly(True, check_nan=False):
            assert not rt.is_anomaly_check_nan_enabled()
            (x / x).sum().backward()
        assert rt.is_anomaly_enabled() and rt.is_anomaly_check_nan_enabled()
    finally:
        rt.autograd.set_detect_anomaly(False)
    assert not rt.is_anomaly_enabled()
    assert np.isnan(to_np(x.grad)).all()
