"""Recurrent layers: ``nn.RNN``/``nn.LSTM``/``nn.GRU``, the cells, and ``nn.utils.rnn``.

Each layer is built in both libraries from the same PyTorch weights (its ``state_dict``
through NumPy) and compared on outputs, final states and every gradient (input, initial
states, parameters), for every option and on every device; packed sequences against
PyTorch's; float64 gradients pass gradcheck and gradgradcheck (the latter through the
composite form a recorded backward differentiates); bad input gets PyTorch's message.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LIB_NAME, current_device, need_torch, rt, to_np

pytestmark = pytest.mark.usefixtures("device")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def pair(torch, arr, dtype="float64", requires_grad=True):
    """The same values as a PyTorch tensor and as one of ours on the current device."""
    t = torch.tensor(arr, dtype=getattr(torch, dtype), requires_grad=requires_grad)
    r = rt.tensor(arr, dtype=getattr(rt, dtype)).to(current_device()).requires_grad_(requires_grad)
    return t, r


def twin(torch, cls_name, *args, dtype="float64", **kwargs):
    """A PyTorch module and ours with its weights."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, cls_name)(*args, **kwargs).to(getattr(torch, dtype))
    ours = getattr(rt.nn, cls_name)(*args, **kwargs).to(getattr(rt, dtype))
    state = {k: rt.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)
    ours.to(current_device())
    return theirs, ours


def flat(out):
    """Every tensor of a (nested) result, in order."""
    if hasattr(out, "batch_sizes"):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def close(ours, theirs, tol, what):
    np.testing.assert_allclose(
        to_np(ours), theirs.detach().numpy(), rtol=tol, atol=tol, err_msg=what
    )


def compare(theirs, ours, t_args, r_args, t_leaves, r_leaves, tol):
    """Outputs, then the gradients of a weighted sum of them w.r.t. the leaves and params."""
    t_out, r_out = flat(theirs(*t_args)), flat(ours(*r_args))
    assert len(t_out) == len(r_out)
    t_loss, r_loss = 0, 0
    for i, (a, b) in enumerate(zip(t_out, r_out)):
        close(b, a, tol, f"output {i}")
        w = rand(*a.shape, seed=10 + i)
        t_loss = t_loss + (a * need_torch().tensor(w, dtype=a.dtype)).sum()
        r_loss = r_loss + (b * rt.tensor(w, dtype=b.dtype).to(b.device)).sum()
    t_loss.backward()
    r_loss.backward()
    for i, (a, b) in enumerate(zip(t_leaves, r_leaves)):
        close(b.grad, a.grad, tol, f"input grad {i}")
    for (n, p), (rn, rp) in zip(theirs.named_parameters(), ours.named_parameters()):
        assert n == rn
        close(rp.grad, p.grad, tol, f"grad of {n}")


MODES = ("RNN", "LSTM", "GRU")
OPTIONS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True},
    {"bias": False},
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_matches_torch(mode, opts, dtype):
    torch = need_torch()
    T, B, I, H = 5, 3, 4, 6
    theirs, ours = twin(torch, mode, I, H, dtype=dtype, **opts)
    shape = (B, T, I) if opts.get("batch_first") else (T, B, I)
    tx, rx = pair(torch, rand(*shape), dtype)
    tol = 1e-10 if dtype == "float64" else 2e-5
    compare(theirs, ours, (tx,), (rx,), [tx], [rx], tol)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
@pytest.mark.parametrize("batch,hidden", [(64, 128), (40, 256)])
def test_wide_layer_matches_torch(mode, batch, hidden):
    """Step products on both sides of the GPU's route bound (2^23 multiply-adds: the gemm
    kernel below, cuBLAS above) agree with PyTorch's layer."""
    torch = need_torch()
    T, I = 3, 7
    theirs, ours = twin(torch, mode, I, hidden)
    tx, rx = pair(torch, rand(T, batch, I))
    compare(theirs, ours, (tx,), (rx,), [tx], [rx], 1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_layer_with_initial_states(mode):
    torch = need_torch()
    T, B, I, H, L = 4, 3, 5, 4, 2
    theirs, ours = twin(torch, mode, I, H, num_layers=L, bidirectional=True)
    tx, rx = pair(torch, rand(T, B, I))
    th, rh = pair(torch, rand(2 * L, B, H, seed=1))
    leaves_t, leaves_r = [tx, th], [rx, rh]
    if mode == "LSTM":
        tc, rc = pair(torch, rand(2 * L, B, H, seed=2))
        leaves_t.append(tc)
        leaves_r.append(rc)
        t_args, r_args = (tx, (th, tc)), (rx, (rh, rc))
    else:
        t_args, r_args = (tx, th), (rx, rh)
    compare(theirs, ours, t_args, r_args, leaves_t, leaves_r, 1e-10)


def test_rnn_relu_and_lstm_projection():
    torch = need_torch()
    theirs, ours = twin(torch, "RNN", 3, 5, num_layers=2, nonlinearity="relu")
    tx, rx = pair(torch, rand(6, 2, 3))
    compare(theirs, ours, (tx,), (rx,), [tx], [rx], 1e-10)
    theirs, ours = twin(torch, "LSTM", 3, 5, num_layers=2, proj_size=2, bidirectional=True)
    tx, rx = pair(torch, rand(6, 2, 3))
    compare(theirs, ours, (tx,), (rx,), [tx], [rx], 1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_unbatched_input(mode):
    torch = need_torch()
    theirs, ours = twin(torch, mode, 3, 4, num_layers=2)
    tx, rx = pair(torch, rand(5, 3))
    th, rh = pair(torch, rand(2, 4, seed=1))
    if mode == "LSTM":
        tc, rc = pair(torch, rand(2, 4, seed=2))
        compare(theirs, ours, (tx, (th, tc)), (rx, (rh, rc)), [tx, th, tc], [rx, rh, rc], 1e-10)
    else:
        compare(theirs, ours, (tx, th), (rx, rh), [tx, th], [rx, rh], 1e-10)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_matches_torch(mode, enforce_sorted):
    torch = need_torch()
    lengths = [5, 4, 2, 2, 1] if enforce_sorted else [2, 5, 1, 4, 2]
    theirs, ours = twin(torch, mode, 3, 4, num_layers=2, bidirectional=True)
    tx, rx = pair(torch, rand(5, len(lengths), 3))
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, enforce_sorted=enforce_sorted)
    rp = rt.nn.utils.rnn.pack_padded_sequence(rx, lengths, enforce_sorted=enforce_sorted)
    assert rp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    close(rp.data, tp.data, 0, "packed data")
    compare(theirs, ours, (tp,), (rp,), [tx], [rx], 1e-10)
    t_out, _ = theirs(tp)
    r_out, _ = ours(rp)
    t_pad, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, total_length=6)
    r_pad, r_len = rt.nn.utils.rnn.pad_packed_sequence(r_out, batch_first=True, total_length=6)
    close(r_pad, t_pad, 1e-10, "padded output")
    assert r_len.tolist() == t_len.tolist()


@pytest.mark.parametrize("mode", MODES)
def test_packed_batch_split_between_threads_matches_torch(mode):
    """A batch wide enough that the CPU shares its rows between the threads (each running
    the whole sequence for its rows), with sequences ending at different steps, so that
    both parts see rows go past their end."""
    torch = need_torch()
    lengths = sorted((np.arange(24) % 6 + 1).tolist(), reverse=True)
    theirs, ours = twin(torch, mode, 3, 128, bidirectional=True)
    tx, rx = pair(torch, rand(6, len(lengths), 3))
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths)
    rp = rt.nn.utils.rnn.pack_padded_sequence(rx, lengths)
    compare(theirs, ours, (tp,), (rp,), [tx], [rx], 1e-10)


def test_sequence_utilities_match_torch():
    torch = need_torch()
    seqs = [rand(n, 2, seed=n) for n in (3, 5, 1)]
    ts = [torch.tensor(s) for s in seqs]
    rs = [rt.tensor(s).to(current_device()) for s in seqs]
    U, V = torch.nn.utils.rnn, rt.nn.utils.rnn
    for kw in ({}, {"batch_first": True}, {"padding_value": -1.0, "padding_side": "left"}):
        close(V.pad_sequence(rs, **kw), U.pad_sequence(ts, **kw), 0, f"pad_sequence {kw}")
    tpk, rpk = U.pack_sequence(ts, enforce_sorted=False), V.pack_sequence(rs, enforce_sorted=False)
    close(rpk.data, tpk.data, 0, "pack_sequence")
    assert rpk.sorted_indices.tolist() == tpk.sorted_indices.tolist()
    assert rpk.unsorted_indices.tolist() == tpk.unsorted_indices.tolist()
    for a, b in zip(V.unpack_sequence(rpk), U.unpack_sequence(tpk)):
        close(a, b, 0, "unpack_sequence")
    padded = U.pad_sequence(ts, batch_first=True)
    for a, b in zip(
        V.unpad_sequence(rt.tensor(padded.numpy()), [3, 5, 1], batch_first=True),
        U.unpad_sequence(padded, torch.tensor([3, 5, 1]), batch_first=True),
    ):
        close(a, b, 0, "unpad_sequence")
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        V.pack_padded_sequence(rt.zeros(3, 2, 1), [1, 3])


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(cell, batched):
    torch = need_torch()
    theirs, ours = twin(torch, cell, 3, 5)
    shape, hs = ((4, 3), (4, 5)) if batched else ((3,), (5,))
    tx, rx = pair(torch, rand(*shape))
    th, rh = pair(torch, rand(*hs, seed=1))
    if cell == "LSTMCell":
        tc, rc = pair(torch, rand(*hs, seed=2))
        compare(theirs, ours, (tx, (th, tc)), (rx, (rh, rc)), [tx, th, tc], [rx, rh, rc], 1e-10)
    else:
        compare(theirs, ours, (tx, th), (rx, rh), [tx, th], [rx, rh], 1e-10)
    # Without a state: zeros.
    t0, r0 = flat(theirs(tx.detach())), flat(ours(rx.detach()))
    for a, b in zip(t0, r0):
        close(b, a, 1e-10, "zero state")


@pytest.mark.parametrize("mode", MODES)
def test_state_dict_and_repr_match_torch(mode):
    torch = need_torch()
    kw = {"num_layers": 2, "bidirectional": True, "batch_first": True, "dropout": 0.25}
    if mode == "LSTM":
        kw["proj_size"] = 2
    theirs, ours = twin(torch, mode, 3, 4, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert tuple(ours.state_dict()[k].shape) == tuple(v.shape)
    assert repr(ours) == repr(theirs)
    assert repr(rt.nn.RNN(2, 3, nonlinearity="relu", bias=False)) == repr(
        torch.nn.RNN(2, 3, nonlinearity="relu", bias=False)
    )
    assert repr(rt.nn.LSTMCell(2, 3)) == repr(torch.nn.LSTMCell(2, 3))
    assert len(ours.all_weights) == 4


def test_initialisation_range():
    m = rt.nn.LSTM(10, 16, num_layers=2)
    bound = 1 / 16**0.5
    values = np.concatenate([to_np(p).ravel() for p in m.parameters()])
    assert np.abs(values).max() <= bound
    # Uniform over the whole range: the spread is the uniform distribution's.
    assert abs(values.std() - bound / 3**0.5) < 0.05 * bound


@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_layer_gradcheck_and_gradgradcheck(mode, reverse):
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    H, I, B, T = 3, 2, 3, 3

    def leaf(*shape, seed):
        return (
            rt.tensor(rand(*shape, seed=seed) * 0.6, dtype=rt.float64)
            .to(current_device())
            .requires_grad_()
        )

    x, wi, wh = leaf(T, B, I, seed=1), leaf(gates * H, I, seed=2), leaf(gates * H, H, seed=3)
    bi, bh, h0 = leaf(gates * H, seed=4), leaf(gates * H, seed=5), leaf(B, H, seed=6)
    c0 = leaf(B, H, seed=7) if mode == "LSTM" else None
    sizes = [3, 2, 1]

    def f(x, wi, wh, bi, bh, h0, *c):
        out, h, cn = rt._C._rnn_layer(
            mode, x, wi, wh, bi, bh, None, h0, c[0] if c else None, sizes, reverse
        )
        parts = [out.reshape(-1), h.reshape(-1)] + ([cn.reshape(-1)] if cn is not None else [])
        return rt.cat(parts)

    inputs = (x, wi, wh, bi, bh, h0) + ((c0,) if c0 is not None else ())
    assert rt.autograd.gradcheck(f, inputs)
    assert rt.autograd.gradgradcheck(f, inputs)


def test_fused_layer_matches_its_composite_with_packed_batches():
    """The same layer with and without a recorded backward (the latter differentiates the
    composite form), on a packed batch where sequences end at different steps."""
    x = rt.tensor(rand(4, 3, 2), dtype=rt.float64).to(current_device()).requires_grad_()
    w = [
        rt.tensor(rand(*s, seed=i), dtype=rt.float64).to(current_device()).requires_grad_()
        for i, s in enumerate([(12, 2), (12, 3), (12,), (12,)], start=1)
    ]
    h0 = rt.zeros(3, 3, dtype=rt.float64, device=current_device())
    c0 = rt.zeros(3, 3, dtype=rt.float64, device=current_device())
    args = ("LSTM", x, *w, None, h0, c0, [3, 2, 2, 1], True)
    out, h, c = rt._C._rnn_layer(*args)
    g1 = rt.autograd.grad((out.sum() + h.sum() + c.sum()), [x, *w])
    out, h, c = rt._C._rnn_layer(*args)
    g2 = rt.autograd.grad((out.sum() + h.sum() + c.sum()), [x, *w], create_graph=True)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(to_np(a), to_np(b.detach()), rtol=1e-12, atol=1e-12)


def _same_error(make):
    torch = need_torch()
    with pytest.raises(Exception) as theirs:
        make(torch)
    with pytest.raises(Exception) as ours:
        make(rt)
    assert type(ours.value).__name__ == type(theirs.value).__name__
    assert str(ours.value).replace(LIB_NAME + ".", "torch.") == str(theirs.value)


def test_errors_match_torch():
    def layer(lib, mode="LSTM"):
        lib.manual_seed(0)
        return getattr(lib.nn, mode)(4, 3, num_layers=2)

    _same_error(lambda lib: layer(lib)(lib.zeros(5, 2, 3)))
    _same_error(lambda lib: layer(lib)(lib.zeros(5, 2, 2, 4)))
    _same_error(
        lambda lib: layer(lib)(lib.zeros(5, 2, 4), (lib.zeros(2, 3, 3), lib.zeros(2, 2, 3)))
    )
    _same_error(
        lambda lib: layer(lib)(lib.zeros(5, 2, 4), (lib.zeros(2, 2, 3), lib.zeros(1, 2, 3)))
    )
    _same_error(lambda lib: layer(lib)(lib.zeros(5, 2, 4), (lib.zeros(2, 3), lib.zeros(2, 3))))
    _same_error(lambda lib: layer(lib, "GRU")(lib.zeros(5, 2, 4), lib.zeros(2, 5, 3)))
    _same_error(lambda lib: layer(lib, "GRU")(lib.zeros(5, 2, 4, dtype=lib.float64)))
    _same_error(lambda lib: lib.nn.LSTM(4, 3, dropout=1.5))
    _same_error(lambda lib: lib.nn.LSTM(4, 3, proj_size=3))
    _same_error(lambda lib: lib.nn.GRU(4, 3, proj_size=1))
    _same_error(lambda lib: lib.nn.RNN(4, 3, nonlinearity="gelu"))
    _same_error(lambda lib: lib.nn.GRUCell(4, 3)(lib.zeros(2, 5)))
    _same_error(lambda lib: lib.nn.GRUCell(4, 3)(lib.zeros(2, 4), lib.zeros(3, 3)))
