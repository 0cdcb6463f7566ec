"""In-place ops on views of tensors with history reach the base's gradient (PyTorch's
``CopySlices``): the gradients match PyTorch's and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIB_NAME, rt

try:
    import torch
except ImportError:  # the comparison with PyTorch needs the wheel; gradcheck does not
    torch = None


def _scale_slice(m, x):
    y = x * 2
    y[1:3].mul_(3)
    return (y * y).sum()


def _exp_row_of_reshaped(m, x):
    y = x * 2
    y.view(2, 3)[0].exp_()
    return (y * y).sum()


def _add_into_column(m, x):
    y = x.reshape(2, 3) + 1
    y[:, 1].add_(x.reshape(2, 3)[:, 0] * 5)
    return (y**2).sum()


def _zero_a_slice(m, x):
    y = x * 3
    y[2:].zero_()
    return (y * x).sum()


def _copy_into_transposed_view(m, x):
    y = (x * 1).reshape(2, 3)
    y.t()[1:].copy_((x[:4] * x[2:]).reshape(2, 2))
    return (y.sin()).sum()


def _relu_inplace_on_view_then_use_view(m, x):
    y = x - 0.1
    v = y[1:5]
    v.relu_()
    return (v * 2).sum() + y.sum()


def _activations_inplace_by_result(m, x):
    # relu_, leaky_relu_, sigmoid_, tanh_ and exp_ keep their result for backward instead
    # of a copy of their input: on whole tensors, on a transposed view, on a strided slice.
    y = x * 1.5 - 0.2
    m.nn.functional.leaky_relu(y, 0.1, inplace=True)
    z = (x * 2).reshape(2, 3).t()
    z.sigmoid_()
    w = x + 0.3
    w[::2].tanh_()
    e = (x * 0.7).exp_()
    r = (x - 0.5).relu_()
    return (y * y).sum() + (z * x.reshape(2, 3).t()).sum() + (w * w).sum() + (r * x).sum() + e.sum()


def _write_rows_of_transposed_result(m, x):
    # The base is laid out transposed (an elementwise op keeps x.t()'s strides, as PyTorch's):
    # the written regions are found in the base's own layout.
    y = x.reshape(2, 3).t() * 2
    y[0].mul_(3)
    y[1:, 1].exp_()
    return (y * y).sum()


def _write_channels_of_channels_last_result(m, x):
    y = x.reshape(1, 3, 2, 1).contiguous(memory_format=m.channels_last) * 1.5
    y[0, 0, 1].mul_(-2)
    y[:, 1:].tanh_()
    return (y * y).sum() + y[0, :, 0, 0].sum()


CASES = {
    "write_rows_of_transposed_result": _write_rows_of_transposed_result,
    "write_channels_of_channels_last_result": _write_channels_of_channels_last_result,
    "activations_inplace_by_result": _activations_inplace_by_result,
    "scale_slice": _scale_slice,
    "exp_row_of_reshaped": _exp_row_of_reshaped,
    "add_into_column": _add_into_column,
    "zero_a_slice": _zero_a_slice,
    "copy_into_transposed_view": _copy_into_transposed_view,
    "relu_inplace_on_view_then_use_view": _relu_inplace_on_view_then_use_view,
}

X = np.array([0.3, -1.2, 0.8, 1.5, -0.4, 0.9])


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    f = CASES[name]
    x = rt.tensor(X, dtype=rt.float64, requires_grad=True)
    assert rt.autograd.gradcheck(lambda t: f(rt, t), (x,))


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    f = CASES[name]
    grads = []
    for m in (rt, torch):
        x = m.tensor(X, dtype=m.float64, requires_grad=True)
        loss = f(m, x)
        loss.backward()
        grads.append((float(loss.item()), np.array(x.grad.tolist())))
    (l_rt, g_rt), (l_th, g_th) = grads
    assert l_rt == pytest.approx(l_th, rel=1e-12)
    np.testing.assert_allclose(g_rt, g_th, rtol=1e-12, atol=1e-12)


def test_base_history_is_copyslices():
    x = rt.tensor(X, requires_grad=True)
    y = x * 2
    v = y[1:3]
    v.mul_(3)
    assert y.grad_fn.name().endswith("CopySlices")


def test_view_of_leaf_requiring_grad_raises():
    x = rt.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[1:3].mul_(2)
    with rt.no_grad():
        x[1:3].mul_(2)  # allowed without recording, as in PyTorch
    np.testing.assert_allclose(np.array(x.tolist()), X * np.array([1, 2, 2, 1, 1, 1]))


@pytest.mark.parametrize("op", ["relu_", "sigmoid_", "tanh_", "exp_"])
def test_inplace_activation_gradgradcheck(op):
    # The by-result backward is itself differentiable (its rule reads the saved result).
    x = rt.tensor(X, dtype=rt.float64, requires_grad=True)

    def f(t):
        y = t * 1.3
        getattr(y, op)()
        return y * t

    assert rt.autograd.gradgradcheck(f, (x,))


def test_inplace_activation_names_match_torch():
    x = rt.tensor(X, requires_grad=True)
    assert (x * 1).relu_().grad_fn.name() == "ReluBackward0"
    assert rt.nn.functional.leaky_relu(x * 1, 0.2, True).grad_fn.name() == "LeakyReluBackward1"
    assert (x * 1).sigmoid_().grad_fn.name() == "SigmoidBackward0"


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
def test_inplace_leaky_relu_negative_slope_backward_raises_as_torch():
    messages = []
    for m in (rt, torch):
        x = m.tensor(X, dtype=m.float64, requires_grad=True)
        y = x * 1.0
        m.nn.functional.leaky_relu(y, -0.5, inplace=True)
        with pytest.raises(RuntimeError) as e:
            y.sum().backward()
        messages.append(str(e.value).split(" File an issue")[0])
    assert messages[0] == messages[1]


_IN_PLACE_OPS = {
    "relu_": lambda m, y: y.relu_(),
    "sigmoid_": lambda m, y: y.sigmoid_(),
    "tanh_": lambda m, y: y.tanh_(),
    "exp_": lambda m, y: y.exp_(),
    "leaky_relu": lambda m, y: m.nn.functional.leaky_relu(y, 0.1, inplace=True),
    "sqrt_": lambda m, y: y.abs_().sqrt_(),
    "sin_": lambda m, y: y.sin_(),
    "neg_": lambda m, y: y.neg_(),
}


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize("name", sorted(_IN_PLACE_OPS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [6, 70_000])  # one thread, and split between the threads
def test_inplace_unary_on_a_whole_tensor_matches_torch(name, dtype, size, device):
    # A whole contiguous tensor is mapped in place (on each device): the values, the storage
    # written and the gradients are PyTorch's (on the CPU).
    xs = np.resize(X, size) * np.linspace(0.5, 1.5, size)
    out = {}
    for m in (rt, torch):
        on = {"device": device} if m is rt else {}
        x = m.tensor(xs, dtype=getattr(m, dtype), requires_grad=True, **on)
        y = x * 1.3 - 0.2
        ptr = y.data_ptr()
        r = _IN_PLACE_OPS[name](m, y)
        assert r is y and y.data_ptr() == ptr and y._version > 0
        (y * y).sum().backward()
        out[m] = (np.array(y.tolist()), np.array(x.grad.tolist()))
        with m.no_grad():
            z = m.tensor(xs, dtype=getattr(m, dtype), **on)
            _IN_PLACE_OPS[name](m, z)
        out[m] += (np.array(z.tolist()),)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for a, b in zip(out[rt], out[torch]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _changed_relu_result(m, x):
    y = x * 1.0
    y.relu_()
    y.mul_(2)
    return y.sum()


def _changed_leaky_relu_result(m, x):
    y = x * 1.0
    m.nn.functional.leaky_relu(y, 0.1, inplace=True)
    y.add_(1)
    return y.sum()


def _changed_saved_leaf(m, x):
    y = (x * x).sum()
    with m.no_grad():
        x.mul_(2)
    return y


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize(
    "make", [_changed_relu_result, _changed_leaky_relu_result, _changed_saved_leaf]
)
def test_changing_a_saved_tensor_makes_backward_raise_as_torch(make):
    # relu_'s backward reads its result, so a later in-place change of it is caught, with
    # PyTorch's message.
    messages = []
    for m in (rt, torch):
        x = m.tensor(X, requires_grad=True)
        with pytest.raises(RuntimeError) as e:
            make(m, x).backward()
        messages.append(str(e.value))
    assert messages[0] == messages[1]


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
def test_inplace_unary_on_other_dtypes_and_leaves_matches_torch():
    for m in (rt, torch):
        half = m.tensor(X, dtype=m.float16)
        half.relu_().exp_()
        ints = m.tensor([3, -2, 0, 5])
        ints.neg_().relu_()
        with pytest.raises(RuntimeError):
            ints.sqrt_()  # float result into an integer tensor
        leaf = m.tensor(X, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            leaf.relu_()
        with m.no_grad():
            leaf.tanh_()
        if m is rt:
            mine = (half.tolist(), ints.tolist(), leaf.tolist())
    np.testing.assert_allclose(mine[0], half.tolist(), rtol=1e-3)
    assert mine[1] == ints.tolist()
    np.testing.assert_allclose(mine[2], leaf.tolist(), rtol=1e-6)


def _piece_of_chunk(m, y):
    return y.chunk(2)[0]


def _piece_of_unbind(m, y):
    return y.unbind(0)[1]


def _view_of_split_piece(m, y):
    return y.split([1, 3])[0][0]


def _transposed_piece(m, y):
    return y.reshape(2, 2).chunk(2)[1].t()


def _piece_of_plain_base_with_grad_written(m, y):
    # The base needs no grad; the value written does.
    return m.zeros(4).chunk(2)[0], m.ones(2, requires_grad=True)


def _no_grad_view(m, y):
    with m.no_grad():
        return y[1:3]


def _view_of_no_grad_view(m, y):
    with m.no_grad():
        v = y[1:]
    return v[:2].t()


def _no_grad_view_of_leaf(m, y):
    leaf = m.ones(4, requires_grad=True)
    with m.no_grad():
        return leaf[:2]


def _inference_mode_view(m, y):
    with m.inference_mode():
        return y[:2]


REFUSED_VIEWS = [
    _piece_of_chunk,
    _piece_of_unbind,
    _view_of_split_piece,
    _transposed_piece,
    _piece_of_plain_base_with_grad_written,
    _no_grad_view,
    _no_grad_view_of_leaf,
    _inference_mode_view,
]
WRITES = {
    "add_": lambda v, w: v.add_(w),
    "mul_": lambda v, w: v.mul_(w),
    "copy_": lambda v, w: v.copy_(w),
    "zero_": lambda v, w: v.zero_(),
    "clamp_": lambda v, w: v.clamp_(0, 1),
    "normal_": lambda v, w: v.normal_(),
}


def _refusal(m, make, write):
    y = m.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True) * 1
    made = make(m, y)
    view, w = made if isinstance(made, tuple) else (made, m.tensor(2.0))
    try:
        write(view, w)
    except RuntimeError as e:
        return str(e)
    return None


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("make", REFUSED_VIEWS, ids=lambda f: f.__name__)
def test_views_refusing_inplace_give_torch_message(make, write):
    # PyTorch's CreationMeta: the pieces of chunk/split/unbind and views made with grad
    # mode off (or in inference mode) of a base that requires grad may not be written
    # while recording.
    ours, theirs = (_refusal(m, make, WRITES[write]) for m in (rt, torch))
    # Over a base that needs no grad, only writing a value that does is refused.
    takes_value = write in ("add_", "mul_", "copy_")
    plain_base = make is _piece_of_plain_base_with_grad_written
    assert (theirs is not None) == (takes_value or not plain_base)
    assert ours == theirs


def test_view_of_no_grad_view_refuses_inplace():
    # Refused as PyTorch refuses it, in other words: a view made with grad mode off does
    # not require grad here (PyTorch's does, through its base), so a view of it taken while
    # recording has no history to name ("Output 0 of T is a view of a view which was
    # created in no_grad mode ...").
    y = rt.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True) * 1
    v = _view_of_no_grad_view(rt, y)
    with pytest.raises(
        RuntimeError,
        match="^(A view was|Output 0 of T is a view of a view which was) created in no_grad "
        "mode and is being modified inplace with grad mode enabled. Given that this use case",
    ):
        v.add_(1)


@pytest.mark.parametrize(
    "make",
    [_piece_of_chunk, _no_grad_view, _view_of_no_grad_view, _inference_mode_view],
    ids=lambda f: f.__name__,
)
def test_refused_views_may_be_written_without_recording(make):
    y = rt.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True) * 1
    v = make(rt, y)
    before = np.array(v.tolist())
    with rt.no_grad():
        v.mul_(2)
    np.testing.assert_array_equal(np.array(v.tolist()), 2 * before)
    assert float(y.detach().sum().item()) == 4.5 + float(before.sum())


def test_pieces_and_plain_views_stay_writable_where_torch_allows():
    x = rt.zeros(4)
    a, _ = x.chunk(2)
    a.add_(1)  # nothing requires grad
    assert x.tolist() == [1.0, 1.0, 0.0, 0.0]
    y = rt.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True) * 1
    p, _ = y.chunk(2)
    p.detach().add_(1)
    p.data.mul_(2)
    assert y.detach().tolist() == [4.0, 6.0, 3.0, 4.0]
    ints = rt.zeros(4, dtype=rt.int64)
    ints.chunk(2)[0].add_(1)
    assert ints.tolist() == [1, 1, 0, 0]
    v = y[1:]
    v.mul_(2)  # a view made while recording: CopySlices
    v.sum().backward()


def _write_base_after_view(m, x):
    y = x * 2
    v = y[1:5]
    y.mul_(3)
    return (v * v).sum()


def _write_sibling_view(m, x):
    y = x * 2
    a, b = y[:3], y[2:5]
    a.mul_(10)
    return (b * b).sum()


def _write_parent_of_nested_view(m, x):
    y = x * 2
    b = y[1:4]
    c = b[0:2]
    b.exp_()
    return (c * 3).sum()


def _write_base_twice(m, x):
    y = x.reshape(2, 3) * 1
    col = y[:, 1]
    y.add_(x.reshape(2, 3))
    y[0].mul_(2)
    return (col * col.sum()).sum()


def _write_transposed_base_after_view(m, x):
    y = x.reshape(2, 3).t() * 2
    v = y[1:]
    y.mul_(3)
    return (v * v).sum()


def _view_outlives_its_written_base(m, x):
    def view_of_scaled(t):
        y = t * 2
        v = y[1:5]
        y.mul_(3)
        return v  # y is gone: the view keeps its base, as PyTorch's

    v = view_of_scaled(x)
    return (v * v).sum()


STALE_VIEWS = [_write_base_after_view, _write_sibling_view, _write_parent_of_nested_view,
               _write_base_twice, _write_transposed_base_after_view,
               _view_outlives_its_written_base]


@pytest.mark.parametrize("fn", STALE_VIEWS, ids=lambda f: f.__name__)
def test_view_sees_later_writes_to_its_base_gradcheck(fn):
    # A view's history is regenerated once its base (or another view of it) was written
    # in place, as PyTorch's (AsStridedBackward0); before, it kept the old history and its
    # gradient missed the write.
    x = rt.tensor(X, dtype=rt.float64, requires_grad=True)
    assert rt.autograd.gradcheck(lambda t: fn(rt, t), (x,))


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize("fn", STALE_VIEWS, ids=lambda f: f.__name__)
def test_view_sees_later_writes_to_its_base_as_torch(fn):
    grads = []
    for m in (rt, torch):
        x = m.tensor(X, dtype=m.float64, requires_grad=True)
        fn(m, x).backward()
        grads.append(np.array(x.grad.tolist()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
def test_regenerated_view_history_names_as_torch():
    names = []
    for m in (rt, torch):
        x = m.tensor(X, requires_grad=True)
        y = x * 2
        v, w = y[1:], y[2:]
        before = v.grad_fn.name()
        y.mul_(3)
        names.append((before, v.grad_fn.name(), w.is_leaf, w.requires_grad))
    assert names[0] == names[1]


def _chunk_piece_then_base_written(m):
    y = m.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True) * 1
    a, _ = y.chunk(2)
    y.mul_(2)
    return a, y


def _no_grad_view_then_base_written(m):
    y = m.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True) * 1
    with m.no_grad():
        v = y[1:]
    y.mul_(2)
    return v, y


def _no_grad_view_of_parameter_then_step(m):
    p = m.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True)
    with m.no_grad():
        v = p[1:]
        p.sub_(0.1)  # an optimizer step
    return v, p


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize(
    "make",
    [_chunk_piece_then_base_written, _no_grad_view_then_base_written,
     _no_grad_view_of_parameter_then_step],
    ids=lambda f: f.__name__,
)
def test_refused_view_used_after_its_base_was_written_raises_as_torch(make):
    # PyTorch refuses such a view where it is next used; here, where a backward pass reaches
    # it. Either way no gradient goes through it, and the message is PyTorch's. (The base
    # is kept alive: a view holds its base weakly here, and keeps its old history once the
    # base is gone.)
    messages = []
    for m in (rt, torch):
        v, _base = make(m)
        with pytest.raises(RuntimeError) as e:
            (v * 2).sum().backward()
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert "its base or another view of its base has been modified inplace" in messages[0]


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
def test_stale_view_saved_for_double_backward_as_torch():
    grads = []
    for m in (rt, torch):
        x = m.tensor([1.0, 2.0, 3.0, 4.0], dtype=m.float64, requires_grad=True)
        w = m.ones(3, dtype=m.float64, requires_grad=True)
        y = x * 2
        v = y[1:]
        y.mul_(3)
        z = (w * v).sum() + (w * w * x[1:]).sum()
        (gw,) = m.autograd.grad(z, w, create_graph=True)
        gw.sum().backward()
        grads.append((np.array(x.grad.tolist()), np.array(w.grad.tolist())))
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize("regenerated", [False, True])
def test_retain_grad_follows_new_history_as_torch(regenerated):
    # `retain_grad` keeps working after an in-place op on the tensor itself, or on the base
    # of the view that retains it, as PyTorch moves its retain hook to the new node.
    results = []
    for m in (rt, torch):
        x = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = x * 2
        v = y[1:]
        v.retain_grad()
        if regenerated:
            y.mul_(3)
        else:
            v.mul_(3)
        (v * v).sum().backward()
        results.append((v.grad.tolist(), x.grad.tolist()))
    assert results[0] == results[1]


class _Hook:
    def __call__(self, g):
        return None


def _saves_view_of_what_it_writes(y, w):
    return y.mul_(y.t())


def _saves_view_needing_no_grad(y, w):
    y = y.detach()
    v = y[:1]
    y.add_(v.expand(3, 3) * w)  # the product saves the view
    return y


@pytest.mark.skipif(LIB_NAME != "rustorch",
                    reason="PyTorch keeps this cycle: its saved view holds its base")
@pytest.mark.parametrize("write", [_saves_view_of_what_it_writes, _saves_view_needing_no_grad])
def test_saved_view_of_written_tensor_makes_no_cycle(write):
    # A view keeps its base alive (as PyTorch's); an op saving a view of the tensor it
    # writes must not make that a cycle: the node, and the hook on it, die with the graph.
    # (Its backward would refuse the saved view, written since it was saved.)
    import gc
    import weakref

    w = rt.rand(3, 3, dtype=rt.float64, requires_grad=True)
    y = w * 2
    y = write(y, w)
    hook = _Hook()
    y.register_hook(hook)
    alive = weakref.ref(hook)
    assert y.grad_fn is not None and alive() is not None
    del hook, y
    gc.collect()
    assert alive() is None


def _contiguous_base(m, x):
    return x + 0


def _transposed_base(m, x):
    return (x.t() * 2).t()  # laid out transposed, as PyTorch's


@pytest.mark.skipif(torch is None, reason="needs the PyTorch wheel")
@pytest.mark.parametrize("make", [_contiguous_base, _transposed_base], ids=lambda f: f.__name__)
@pytest.mark.parametrize("second", ["transposed", "expanded"])
def test_double_backward_through_regenerated_view_as_torch(make, second):
    # The regenerated history's own backward cuts the view's region out of a gradient laid
    # out as the base is; a transposed or expanded incoming gradient was read with the
    # base's strides (wrong values, or a panic for an expanded one).
    grads = []
    for m in (rt, torch):
        x = m.arange(12.0, dtype=m.float64).reshape(3, 4).requires_grad_()
        y = make(m, x)
        v = y[1]
        y.add_(1)
        (g,) = m.autograd.grad((v**3).sum(), x, create_graph=True)
        if second == "transposed":
            w = m.arange(12.0, dtype=m.float64).reshape(4, 3).t()
            (g * w).sum().backward()
        else:
            g.sum().backward()
        grads.append(np.array(x.grad.tolist()))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


@pytest.mark.skipif(LIB_NAME != "rustorch",
                    reason="PyTorch keeps this cycle: its recurrent node holds the view")
def test_recurrent_layer_on_a_view_of_what_it_writes_makes_no_cycle():
    # A recurrent layer's backward keeps its initial state; given a view of a tensor that
    # its output is then written into, that view (holding its base) must not be kept as a
    # handle with its base, or the base's history would hold the node holding it.
    import gc
    import weakref

    rnn = rt.nn.RNN(3, 4)
    p = rt.zeros(2, 1, 4, requires_grad=True)
    h = p * 1
    _, hn = rnn(rt.randn(5, 1, 3), h[0:1])
    h[1:2] = hn
    hook = _Hook()
    h.register_hook(hook)
    alive = weakref.ref(hook)
    del hook, h, hn
    gc.collect()
    assert alive() is None


def test_write_through_view_of_non_dense_base_raises():
    # A base that is not dense (a detached column slice) has no dense gradient layout to
    # place the view in: the write is refused rather than its gradient silently missed,
    # and a view of it used after a write raises when backward reaches it.
    x = rt.arange(12.0, dtype=rt.float64).reshape(3, 4).requires_grad_()
    y = rt.zeros(3, 8, dtype=rt.float64)[:, :4].detach()
    y.copy_(x * 2)
    with pytest.raises(RuntimeError, match=r"strides \[8, 1\] \(not dense\)"):
        y[1].mul_(3)
    v = y[2]
    y.mul_(3)
    with pytest.raises(RuntimeError, match="not dense"):
        (v * v).sum().backward()
