"""Hostile sizes and values (issue 16): what used to abort, panic or wrap silently raises
PyTorch's exception with PyTorch's message, and the process keeps working afterwards.

Each case runs in both libraries: the exception type must match and PyTorch's message must
contain ours (PyTorch prefixes some with the C++ location of its check, e.g.
``[enforce fail at alloc_cpu.cpp:127] err == 0.``). Allocation cases ask for terabytes, more
than any machine running the suite has, so PyTorch's allocator refuses them too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import LIB_NAME, need_torch, rt, to_np

# (name, call, the exception type PyTorch raises)
RAISES = [
    # Size arithmetic that used to wrap (`numel() == 0`) or panic ("capacity overflow").
    ("zeros_overflow", lambda L: L.zeros(2**32, 2**32), RuntimeError),
    ("eye_overflow", lambda L: L.eye(2**31, 2**31), RuntimeError),
    ("linspace_overflow", lambda L: L.linspace(0, 1, 2**62), RuntimeError),
    ("randperm_overflow", lambda L: L.randperm(2**62), RuntimeError),
    ("arange_overflow", lambda L: L.arange(0, 10, 1e-20), RuntimeError),
    ("narrow_overflow", lambda L: L.ones(3).narrow(0, 1, 2**63 - 1), RuntimeError),
    ("as_strided_overflow", lambda L: L.ones(3).as_strided((2**61 + 1,), (8,)), RuntimeError),
    # Allocations beyond the machine: raise instead of aborting or being killed later.
    ("empty_huge", lambda L: L.empty(10**12), RuntimeError),
    ("zeros_huge", lambda L: L.zeros(2**40), RuntimeError),
    ("new_zeros_huge", lambda L: L.ones(2).new_zeros((2**40, 4)), RuntimeError),
    ("full_huge", lambda L: L.full((2**20, 2**20, 2**3), 1.0), RuntimeError),
    ("one_hot_huge", lambda L: L.nn.functional.one_hot(L.tensor([1]), 2**40), RuntimeError),
    ("repeat_huge", lambda L: L.ones(2).repeat(2**40), RuntimeError),
    ("contiguous_huge", lambda L: L.ones(1).expand(2**40).contiguous(), RuntimeError),
    ("add_huge", lambda L: L.ones(1).expand(2**40) + 1, RuntimeError),
    ("cast_huge", lambda L: L.ones(1).expand(2**40).double(), RuntimeError),
    ("exp_huge", lambda L: L.ones(1).expand(2**40).exp(), RuntimeError),
    ("where_huge", lambda L: L.where(L.ones(1, dtype=L.bool).expand(2**40), 1.0, 0.0),
     RuntimeError),
    ("rand_huge", lambda L: L.rand(2**40), RuntimeError),
    ("clamp_int8_bound_overflows", lambda L: L.tensor([7], dtype=L.int8).clamp(max=300),
     RuntimeError),
    # Bool inputs PyTorch has no kernel for (found by benches/fuzz_api.py).
    ("abs_bool", lambda L: L.tensor([True]).abs(), NotImplementedError),
    ("floor_bool", lambda L: L.tensor([True]).floor(), NotImplementedError),
    ("ceil_bool", lambda L: L.tensor([True]).ceil(), NotImplementedError),
    ("round_bool", lambda L: L.tensor([True]).round(), NotImplementedError),
    ("trunc_bool", lambda L: L.tensor([True]).trunc(), NotImplementedError),
    ("relu_bool", lambda L: L.tensor([True]).relu(), RuntimeError),
    ("argmax_bool", lambda L: L.tensor([True, False]).argmax(), RuntimeError),
    ("argmin_bool", lambda L: L.tensor([True, False]).argmin(0), RuntimeError),
    ("topk_bool", lambda L: L.tensor([True, False]).topk(1), RuntimeError),
    ("floor_divide_bool", lambda L: L.tensor([True]) // True, NotImplementedError),
    ("fmod_bool", lambda L: L.tensor([True]).fmod(L.tensor([True])), NotImplementedError),
    ("remainder_bool", lambda L: L.tensor([True]) % L.tensor([True]), NotImplementedError),
    # Methods called without their required arguments.
    ("permute_no_args", lambda L: L.ones(2).permute(), TypeError),
    ("reshape_no_args", lambda L: L.ones(2).reshape(), TypeError),
    ("repeat_no_args", lambda L: L.ones(2).repeat(), TypeError),
    ("flip_no_args", lambda L: L.ones(2).flip(), TypeError),
    ("view_no_args", lambda L: L.ones(2).view(), TypeError),
    ("expand_no_args", lambda L: L.ones(2).expand(), TypeError),
    ("int_pow_negative_number", lambda L: L.tensor([2, 3]) ** -1, RuntimeError),
    # A view of more elements than an int64 counts (its numel used to wrap to 0).
    ("expand_numel_overflow", lambda L: L.ones(1).expand(2**62, 4), RuntimeError),
    ("expand_numel_2_63", lambda L: L.ones(1, 1).expand(2**62, 2), RuntimeError),
    # Values a dtype cannot hold (they used to wrap).
    ("full_int32", lambda L: L.full((2,), 2**40, dtype=L.int32), RuntimeError),
    ("full_uint8", lambda L: L.full((2,), 300, dtype=L.uint8), RuntimeError),
    ("full_float32", lambda L: L.full((2,), 1e300, dtype=L.float32), RuntimeError),
    ("full_float16", lambda L: L.full((2,), 70000.0, dtype=L.float16), RuntimeError),
    ("fill_int32", lambda L: L.zeros(2, dtype=L.int32).fill_(2**40), RuntimeError),
    ("full_int32_inf", lambda L: L.full((2,), float("inf"), dtype=L.int32), RuntimeError),
    ("full_int32_nan", lambda L: L.full((2,), float("nan"), dtype=L.int32), RuntimeError),
    ("tensor_int32_nan", lambda L: L.tensor([float("nan")], dtype=L.int32), RuntimeError),
    ("tensor_uint8", lambda L: L.tensor([300], dtype=L.uint8), RuntimeError),
    ("tensor_uint8_negative", lambda L: L.tensor([-300], dtype=L.uint8), RuntimeError),
    ("tensor_int32", lambda L: L.tensor([[1, 2], [3, 2**40]], dtype=L.int32), RuntimeError),
    ("tensor_int32_float", lambda L: L.tensor([1e20], dtype=L.int32), RuntimeError),
    ("tensor_int32_0d", lambda L: L.tensor(2**31, dtype=L.int32), RuntimeError),
    ("randint_int32", lambda L: L.randint(0, 2**40, (2,), dtype=L.int32), RuntimeError),
    ("int_nan", lambda L: int(L.tensor(float("nan"))), ValueError),
    ("int_inf", lambda L: int(L.tensor(float("inf"))), OverflowError),
    # Used to panic.
    ("stride_0d", lambda L: L.tensor(0.0).stride(0), IndexError),
    ("dot_dtypes", lambda L: L.dot(L.ones(2), L.ones(2).double()), RuntimeError),
    ("dot_dtypes_long", lambda L: L.dot(L.ones(2, dtype=L.long), L.ones(2)), RuntimeError),
    # Arguments that used to be ignored.
    ("pow_modulo", lambda L: pow(L.tensor(2), 2, 5), TypeError),
    ("as_strided_negative_offset", lambda L: L.ones(2).as_strided((2,), (1,), -1),
     RuntimeError),
    ("nested_list_index_is_a_tuple", lambda L: _quiet(lambda: L.ones(3)[[[0, 1], [1, 0]]]),
     IndexError),
]


def _refuses_allocation(nbytes: int) -> bool:
    """Whether this machine refuses to reserve ``nbytes`` of private memory up front, as a
    kernel that does not overcommit refuses more than its memory. Where it overcommits (the
    GPU machines' VMs do), a huge allocation succeeds for PyTorch as for us, and the process
    is killed only when it touches the pages: those cases cannot be checked there."""
    import mmap

    try:
        m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, OverflowError):
        return True
    m.close()
    return False


def _need_refused_allocation(nbytes: int) -> None:
    if not _refuses_allocation(nbytes):
        pytest.skip(
            f"this machine reserves {nbytes / 2**30:.0f} GiB without refusing (it overcommits "
            "memory or has that much): PyTorch and rustorch would both allocate and be killed"
        )


@pytest.mark.parametrize("name,call,exc", RAISES, ids=[c[0] for c in RAISES])
def test_raises_pytorchs_exception_and_keeps_working(name, call, exc):
    torch = need_torch()
    if name.endswith("_huge"):
        # The smallest of these allocations (empty_huge's) is 4e12 bytes.
        _need_refused_allocation(4 * 10**12)
    with pytest.raises(exc) as theirs:
        call(torch)
    with pytest.raises(exc) as ours:
        call(rt)
    ours_msg = str(ours.value).replace(LIB_NAME + ".", "torch.")
    assert ours_msg and ours_msg in str(theirs.value), (ours_msg, str(theirs.value))
    # A small op afterwards works and is right.
    assert to_np(rt.arange(4.0).sum()) == 6.0


def _quiet(f):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f()


def _nested(depth):
    data = [0]
    for _ in range(depth - 1):
        data = [data]
    return data


def test_deep_nesting_raises_instead_of_overflowing_the_stack():
    """PyTorch's bound on nesting: 128 levels build a tensor, deeper raises ValueError
    (100 000 levels used to overflow the stack)."""
    assert rt.tensor(_nested(128)).dim() == 128
    for depth in (129, 100_000):
        with pytest.raises(ValueError, match="too many dimensions 'list'"):
            rt.tensor(_nested(depth))


# (name, call): values PyTorch returns, where an operation used to panic or wrap.
VALUES = [
    ("floor_div_int64_min", lambda L: L.tensor([-(2**63), 7]) // -1),
    ("floor_div_int32_min", lambda L: L.tensor([-(2**31), -7], dtype=L.int32) // -1),
    ("remainder_int64_min", lambda L: L.tensor([-(2**63), 7]) % -1),
    ("full_uint8_negative_wraps", lambda L: L.full((2,), -1, dtype=L.uint8)),
    ("tensor_uint8_negative_wraps", lambda L: L.tensor([-255, -1], dtype=L.uint8)),
    # An integer bound wraps into the tensor's dtype first (found by benches/fuzz_api.py).
    ("clamp_uint8_bound_wraps", lambda L: L.tensor([7, 1, 2], dtype=L.uint8).clamp(min=-1)),
    ("clamp_int8_bound", lambda L: L.tensor([7, -100], dtype=L.int8).clamp(max=-128)),
    ("sign_of_nan_and_negative_zero", lambda L: L.tensor([float("nan"), -0.0, 2.0]).sign()),
    ("sign_of_bool", lambda L: L.tensor([True, False]).sign()),
    # Integer powers with a tensor of negative exponents: 0, 1 or ±1 (a number raises).
    ("int_pow_negative_tensor_exponent",
     lambda L: L.tensor([2, 1, -1, 0, -2, -1]) ** L.tensor([-1, -1, -1, -1, -2, -2])),
    ("int8_pow_negative_tensor_exponent",
     lambda L: L.tensor([2, -1], dtype=L.int8) ** L.tensor([-3, -3], dtype=L.int8)),
    ("number_to_negative_tensor_powers", lambda L: 2 ** L.tensor([-1, 2])),
    ("max_of_bool_along_a_dim", lambda L: L.tensor([False, True]).max(0)),
    ("int_of_large_int64", lambda L: int(L.tensor(2**62 + 1))),
    ("int_of_float", lambda L: (int(L.tensor(3.7)), int(L.tensor(-2.5)), int(L.tensor(1e30)))),
    # 0-d inputs (they used to select nothing, or fail).
    ("index_true", lambda L: L.arange(3.0)[True]),
    ("index_tensor_true", lambda L: L.arange(3.0)[L.tensor(True)]),
    ("index_false", lambda L: L.arange(3.0)[L.tensor(False)]),
    ("index_true_and_int", lambda L: L.arange(6.0).reshape(2, 3)[True, 1]),
    ("setitem_true", lambda L: _set(L.zeros(3), True, 5.0)),
    ("setitem_false", lambda L: _set(L.zeros(3), L.tensor(False), 5.0)),
    ("nonzero_0d", lambda L: L.tensor(3).nonzero()),
    ("nonzero_0d_unset", lambda L: L.tensor(0).nonzero()),
    ("nonzero_tuple_0d", lambda L: L.tensor(3).nonzero(as_tuple=True)),
    ("nonzero_tuple_0d_unset", lambda L: L.tensor(0).nonzero(as_tuple=True)),
    ("where_0d", lambda L: L.where(L.tensor(True))),
    ("sort_0d", lambda L: tuple(L.tensor(1.5).sort())),
    ("argsort_0d", lambda L: L.tensor(1.5).argsort()),
    ("topk_0d", lambda L: tuple(L.tensor(1.5).topk(1))),
    ("softmax_0d", lambda L: L.tensor(1.5).softmax(0)),
    ("cumsum_0d", lambda L: L.tensor(1.5).cumsum(0)),
    # A short list holding sequences is a tuple of indices (PyTorch <= 2.13's rule).
    ("nested_list_index", lambda L: L.arange(9.0).reshape(3, 3)[[[0, 1], [1, 0]]]),
    ("flat_list_index", lambda L: L.arange(9.0).reshape(3, 3)[[0, 2, 2]]),
]


def test_nested_list_index_warns_as_pytorch():
    with pytest.warns(UserWarning, match="non-tuple sequence for multidimensional indexing"):
        rt.arange(9.0).reshape(3, 3)[[[0, 1], [1, 0]]]


def _set(x, index, value):
    x[index] = value
    return x


@pytest.mark.parametrize("name,call", VALUES, ids=[c[0] for c in VALUES])
def test_values_match_pytorch(name, call):
    torch = need_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation warning for list indices
        ours, theirs = call(rt), call(torch)
    _same(ours, theirs, torch)


def _same(ours, theirs, torch):
    if isinstance(theirs, torch.Tensor):
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert to_np(ours).tolist() == theirs.numpy().tolist()
    elif isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, torch)
    else:
        assert ours == theirs and type(ours) is type(theirs)


# In-place ops on an expanded tensor (several elements share one memory location): PyTorch
# refuses those whose result differs between the elements (the last write would win) and
# allows the fills.
EXPANDED_INPLACE = [
    ("add_", lambda L, x: x.add_(1)),
    ("mul_", lambda L, x: x.mul_(L.arange(6.0).reshape(3, 2))),
    ("exp_", lambda L, x: x.exp_()),
    ("clamp_", lambda L, x: x.clamp_(0, 1)),
    ("copy_", lambda L, x: x.copy_(L.arange(6.0).reshape(3, 2))),
    ("scatter_", lambda L, x: x.scatter_(0, L.zeros(3, 2, dtype=L.long), 2.0)),
    ("index_add_", lambda L, x: x.index_add_(0, L.tensor([0]), L.ones(1, 2))),
    ("uniform_", lambda L, x: x.uniform_()),
    ("normal_", lambda L, x: x.normal_()),
    ("bernoulli_", lambda L, x: x.bernoulli_(0.5)),
    ("random_", lambda L, x: x.random_()),
    ("fill_", lambda L, x: x.fill_(2.0)),
    ("zero_", lambda L, x: x.zero_()),
    ("index_fill_", lambda L, x: x.index_fill_(0, L.tensor([0]), 3.0)),
    ("masked_fill_", lambda L, x: x.masked_fill_(L.ones(3, 2, dtype=L.bool), 4.0)),
]


@pytest.mark.parametrize("name,op", EXPANDED_INPLACE, ids=[c[0] for c in EXPANDED_INPLACE])
def test_inplace_on_expanded_tensor_matches_pytorch(name, op):
    torch = need_torch()
    results = []
    for lib in (torch, rt):
        base = lib.ones(2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PyTorch's deprecation of masked_fill_ here
                op(lib, base.expand(3, 2))
            results.append(("ok", to_np(base).tolist()))
        except RuntimeError as e:
            results.append(("raised", str(e)))
    theirs, ours = results
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] == "raised" or name not in ("uniform_", "normal_", "bernoulli_", "random_"):
        assert ours[1] == theirs[1]


@pytest.mark.parametrize("op", ["uniform_", "normal_", "bernoulli_", "random_"])
def test_random_fill_of_a_leaf_requiring_grad_raises(op):
    torch = need_torch()
    for lib in (torch, rt):
        x = lib.zeros(3, requires_grad=True)
        args = (0.5,) if op == "bernoulli_" else ()
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(x, op)(*args)
        with lib.no_grad():
            getattr(x, op)(*args)


def test_fills_of_a_tensor_expanded_on_several_dims_match_pytorch():
    """A memory location shared by filled and unfilled elements takes the fill (PyTorch's
    kernels write only the filled ones), whatever the order of the writes."""
    torch = need_torch()
    mask = [[[i * 8 + j * 4 + k == 13 for k in range(4)] for j in range(2)] for i in range(3)]
    results = []
    for lib in (torch, rt):
        a, b = lib.arange(2.0).reshape(1, 2, 1), lib.arange(2.0).reshape(1, 2, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a.expand(3, 2, 4).masked_fill_(lib.tensor(mask), 7.0)
            b.expand(3, 2, 4).index_fill_(1, lib.tensor([1]), -1.0)
        results.append((to_np(a).tolist(), to_np(b).tolist()))
    assert results[1] == results[0]


@pytest.mark.parametrize("entry", ["from_numpy", "tensor"])
def test_bool_arrays_with_other_bytes_read_as_pytorch(entry):
    """A bool array holding bytes other than 0 and 1 (a uint8 array viewed as bool): sums,
    casts, comparisons and negation agree with each other and with PyTorch's."""
    import numpy as np

    torch = need_torch()
    results = []
    for lib in (torch, rt):
        t = getattr(lib, entry)(np.array([0, 2, 255, 1], dtype=np.uint8).view(bool))
        results.append([to_np(v).tolist() for v in (t, t.sum(), t.int(), t == True, ~t)])  # noqa: E712
    assert results[1] == results[0]


def test_plain_bool_arrays_still_share_memory():
    import numpy as np

    a = np.array([True, False, True])
    t = rt.from_numpy(a)
    a[1] = True
    assert to_np(t).tolist() == [True, True, True]


@pytest.mark.parametrize("entry", ["from_numpy", "tensor"])
def test_non_native_byte_order_raises_as_pytorch(entry):
    import numpy as np

    torch = need_torch()
    for lib in (torch, rt):
        with pytest.raises(ValueError, match="byte order different from the native byte order"):
            getattr(lib, entry)(np.arange(3, dtype=">f4"))


# ---------------------------------------------------------------------------- fork()

_FORK_SCRIPT = r"""
import os, sys
import {lib} as torch
a = torch.randn(512, 512)
(a @ a).sum()  # the parent's kernels have started their threads
pid = os.fork()
if pid == 0:
    x = torch.randn(1000, 1000)
    y = (x @ x).sum() + torch.randn(10**6).exp().sum() + torch.randn(2**20).sort().values[0]
    os._exit(0 if bool(torch.isfinite(y)) else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""

_FORK_LOADER_SCRIPT = r"""
import {lib} as torch
from {lib}.utils.data import DataLoader, Dataset

class Products(Dataset):
    def __len__(self):
        return 6
    def __getitem__(self, i):
        x = torch.full((400, 400), float(i))
        return (x @ x).mean()

loader = DataLoader(Products(), batch_size=2, num_workers=2, multiprocessing_context="fork")
got = torch.cat([b for b in loader]).tolist()
assert got == [400.0 * i * i for i in range(6)], got
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork() on this platform")
@pytest.mark.parametrize("script", [_FORK_SCRIPT, _FORK_LOADER_SCRIPT], ids=["fork", "loader"])
def test_a_forked_child_runs_large_ops(script):
    """A child made by fork() after the parent's kernels started their threads runs large
    ops (on its one thread) instead of waiting for threads it does not have."""
    import os
    import signal
    import subprocess
    import sys

    if LIB_NAME == "torch" and script is _FORK_SCRIPT:
        pytest.skip("PyTorch's own OpenMP pool hangs in a child forked after it started "
                    "(PyTorch's DataLoader workers avoid it by using one thread)")
    code = script.replace("{lib}", LIB_NAME)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the hung child and its forked children
        proc.communicate()
        pytest.fail("the forked child hung")
    assert proc.returncode == 0, err[-2000:]


# ---------------------------------------------------------------------------- argument types

BOOL_DIMS = {
    "sum": lambda L, x: x.sum(True),
    "softmax": lambda L, x: x.softmax(True),
    "F.softmax": lambda L, x: L.nn.functional.softmax(x, True),
    "transpose": lambda L, x: x.transpose(True, 0),
    "cat": lambda L, x: L.cat([x, x], True),
    "stack": lambda L, x: L.stack([x, x], True),
    "cumsum": lambda L, x: x.cumsum(True),
    "unsqueeze": lambda L, x: x.unsqueeze(True),
    "argmax": lambda L, x: x.argmax(True),
    "flip": lambda L, x: x.flip(True),
    "amax": lambda L, x: x.amax(True),
    "logsumexp": lambda L, x: x.logsumexp(True),
    "size": lambda L, x: x.size(True),
    "select": lambda L, x: x.select(True, 0),
    "chunk": lambda L, x: x.chunk(2, True),
    "flatten": lambda L, x: x.flatten(True),
}


@pytest.mark.parametrize("name", sorted(BOOL_DIMS))
def test_a_bool_is_not_a_dimension(name):
    """PyTorch's argument parser refuses a bare bool where a dimension goes (it used to be
    taken as 0 or 1 here); inside a tuple of dims it is 0 or 1 there too."""
    torch = need_torch()
    with pytest.raises(TypeError):
        BOOL_DIMS[name](torch, torch.ones(2, 3))
    with pytest.raises(TypeError, match="bool"):
        BOOL_DIMS[name](rt, rt.ones(2, 3))
    np.testing.assert_array_equal(to_np(rt.ones(2, 3).mean((0, True))),
                                  torch.ones(2, 3).mean((0, True)).numpy())


@pytest.mark.parametrize("call, exc", [
    (lambda L: L.ones(2, 3).sum(2**64), ValueError),
    (lambda L: L.zeros(2**64), TypeError),
    (lambda L: L.zeros((2, 2**64)), TypeError),
    (lambda L: L.ones(2, 3).new_zeros(2**64, 2), TypeError),
])
def test_ints_beyond_int64_raise_as_pytorch(call, exc):
    torch = need_torch()
    with pytest.raises(exc) as theirs:
        call(torch)
    with pytest.raises(exc) as ours:
        call(rt)
    for e in (theirs, ours):
        assert "Overflow when unpacking long long" in str(e.value)
    if exc is TypeError:  # PyTorch's message for a size (then its C++ trace)
        first = [str(e.value).split("\n")[0] for e in (ours, theirs)]
        assert first[0].rstrip('"') in first[1], first


@pytest.mark.parametrize("name, call", [
    ("softmax_lastdim", lambda L: L.ones(2, 3, dtype=L.int32).softmax(1)),
    ("softmax", lambda L: L.ones(2, 3, dtype=L.int32).softmax(0)),
    ("log_softmax", lambda L: L.ones(2, 3, dtype=L.uint8).log_softmax(-1)),
    ("F.softmax_bool", lambda L: L.nn.functional.softmax(L.ones(2, dtype=L.bool), 0)),
])
def test_integer_softmax_raises_as_pytorch(name, call):
    torch = need_torch()
    with pytest.raises(NotImplementedError) as theirs:
        call(torch)
    with pytest.raises(NotImplementedError) as ours:
        call(rt)
    assert str(ours.value) == str(theirs.value)
    # With dtype= it computes; an empty integer input comes back unchanged.
    out = rt.ones(2, 3, dtype=rt.int32).softmax(1, dtype=rt.float32)
    np.testing.assert_allclose(to_np(out), np.full((2, 3), 1 / 3, np.float32), rtol=1e-6)
    empty = rt.ones(0, 3, dtype=rt.int16).log_softmax(0)
    assert empty.dtype == rt.int16 and tuple(empty.shape) == (0, 3)


@pytest.mark.parametrize("method, args", [("new_zeros", (2, 3)), ("new_ones", ((2, 3),)),
                                          ("new_empty", ([2, 3],)), ("new_full", ((2, 3), 7))])
def test_new_tensors_take_sizes_and_keywords_as_pytorch(method, args):
    torch = need_torch()
    for kwargs in ({}, {"dtype": "int64"}, {"dtype": "float64", "requires_grad": True}):
        got = getattr(rt.ones(1, dtype=rt.float16), method)(
            *args, **{k: getattr(rt, v) if k == "dtype" else v for k, v in kwargs.items()})
        want = getattr(torch.ones(1, dtype=torch.float16), method)(
            *args, **{k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()})
        assert tuple(got.shape) == tuple(want.shape) == (2, 3)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        assert got.requires_grad == want.requires_grad
        if method != "new_empty":
            np.testing.assert_array_equal(to_np(got.detach().float()),
                                          want.detach().float().numpy())
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        getattr(rt.ones(1), method)(*args, colour=1)


@pytest.mark.parametrize("call", [
    lambda L, x: x.flip((True,)),
    lambda L, x: x.roll(1, True),
    lambda L, x: x.roll(1, (True,)),
    lambda L, x: x.var(False, False),
    lambda L, x: x.amax((True, 0)),
    lambda L, x: L.zeros(),
    lambda L, x: L.randn(),
    lambda L, x: L.empty(2, size=(3,)),
    lambda L, x: L.max(()),
    lambda L, x: L.sum([1.0, 2.0]),
])
def test_argument_types_pytorch_refuses(call):
    """A bool first in a tuple of dims, ``var(bool, bool)``, a creation function without a
    size (or with two): ``TypeError`` in both."""
    torch = need_torch()
    with pytest.raises(TypeError):
        call(torch, torch.ones(2, 3))
    with pytest.raises(TypeError):
        call(rt, rt.ones(2, 3))


def test_what_pytorch_accepts_beside_them():
    torch = need_torch()
    for L in (torch, rt):
        x = L.arange(6.0).reshape(2, 3)
        got = [x.flip((0, True)), x.var(False), L.zeros(size=(2, 3)), L.rand(size=[4]).shape]
        if L is torch:
            want = got
        else:
            for g, w in zip(got, want):
                if isinstance(w, torch.Size):
                    assert tuple(g) == tuple(w)
                else:
                    np.testing.assert_allclose(to_np(g), w.numpy())


def test_empty_results_check_no_divisor_or_index():
    """PyTorch checks divisors and indices element by element: with no element to compute
    nothing is checked (an index into an empty dim is still refused)."""
    torch = need_torch()
    for L in (torch, rt):
        x = L.zeros(0, 4, dtype=L.int8)
        zero = L.zeros(4, dtype=L.int8)
        for r in (L.fmod(x, zero), L.remainder(x, zero), x // zero):
            assert tuple(r.shape) == (0, 4)
        y = L.zeros(2, 0)
        assert tuple(y[L.tensor([-1, 2, 7])].shape) == (3, 0)
        with pytest.raises(IndexError):
            L.zeros(0, 2)[L.tensor([5])]
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            L.fmod(L.ones(2, dtype=L.int8), L.zeros(2, dtype=L.int8))


@pytest.mark.parametrize("call", [
    lambda L: L.tensor([True, False]) ** L.tensor([True, True]),
    lambda L: True ** L.tensor([True]),
    lambda L: L.zeros(0, dtype=L.int8).split(-1),
    lambda L: L.ones(1).repeat(2, -1, 2),
    lambda L: L.zeros(2, 0).index_select(0, L.tensor([0, 2])),
])
def test_refused_as_pytorch_refuses(call):
    """Bool powers, a negative split size or repeat, an index past an empty result's dim:
    the exception PyTorch raises."""
    torch = need_torch()
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)):
        call(rt)


@pytest.mark.parametrize("call", [
    lambda L: L.tensor([True, False]) ** True,
    lambda L: L.tensor([True, False]) ** False,
    lambda L: L.tensor(5, dtype=L.int32).topk(0)[0],
    lambda L: L.tensor(5, dtype=L.int32).topk(1, largest=False)[1],
    lambda L: L.zeros(1, 1, 0, dtype=L.int8).roll(0, 5),
])
def test_accepted_as_pytorch_accepts(call):
    """A bool to the power 0 or 1, topk of a 0-d tensor, roll of an empty tensor (whose
    dims PyTorch does not read): PyTorch's values."""
    torch = need_torch()
    want, got = call(torch), call(rt)
    assert tuple(got.shape) == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(to_np(got), want.numpy())


def test_cat_promotes_over_the_skipped_empty_inputs():
    """Legacy 1-D empty inputs take no part in cat's shapes but do in its dtype."""
    torch = need_torch()
    for make in (
        lambda L: L.cat([L.zeros(0, dtype=L.bool), L.zeros(0, dtype=L.int64)], 2),
        lambda L: L.cat([L.zeros(0, dtype=L.int8), L.ones(2, 2, dtype=L.int16)]),
        lambda L: L.cat([L.zeros(0), L.ones(2, 2, dtype=L.int64)]),
    ):
        want, got = make(torch), make(rt)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(to_np(got), want.numpy())


def test_inference_tensors_refuse_in_place_updates_outside_inference_mode():
    """PyTorch's inference tensors: made in ``inference_mode`` (and their views), changed in
    place only inside it; a clone is a normal tensor."""
    torch = need_torch()
    for L in (torch, rt):
        with L.inference_mode():
            a = L.ones(3)
            a.add_(1)  # inside: allowed
        assert a.is_inference() and a[1:].is_inference()
        assert not L.ones(3).is_inference()
        for update in (lambda t: t.add_(1), lambda t: t.fill_(0), lambda t: t.uniform_(),
                       lambda t: t.__setitem__(0, 5.0), lambda t: t[1:].mul_(2)):
            with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
                update(a)
        if L is rt:
            # PyTorch writes the update, then raises; here nothing is written.
            np.testing.assert_array_equal(to_np(a), [2.0, 2.0, 2.0])
        b = a.clone()
        assert not b.is_inference()
        b.add_(1)
        np.testing.assert_array_equal(to_np(b), to_np(a) + 1)


class _HookError(Exception):
    pass


def _raise(exc: BaseException):
    raise exc


@pytest.mark.parametrize("exc", [ZeroDivisionError("in hook"), KeyError("k"), _HookError("own")])
@pytest.mark.parametrize("where", ["tensor_hook", "post_accumulate", "function", "node_hook"])
def test_exceptions_in_callbacks_reach_the_caller_unchanged(where, exc):
    # PyTorch re-raises the callback's own exception (type and object), and the engine stays
    # usable: the same graph shape backpropagates once the callback is gone
    x = rt.ones(3, requires_grad=True)
    handles = []
    if where == "tensor_hook":
        handles.append(x.register_hook(lambda g: _raise(exc)))
        y = (x * 2).sum()
    elif where == "post_accumulate":
        handles.append(x.register_post_accumulate_grad_hook(lambda t: _raise(exc)))
        y = (x * 2).sum()
    elif where == "node_hook":
        y = (x * 2).sum()
        handles.append(y.grad_fn.register_hook(lambda gi, go: _raise(exc)))
    else:

        class Bad(rt.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                raise exc

        y = Bad.apply(x).sum()
    with pytest.raises(type(exc)) as info:
        y.backward()
    assert info.value is exc
    for h in handles:
        h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


def _capsule(name):
    """A PyCapsule named `name` around a zeroed buffer (a forged or foreign capsule)."""
    import ctypes

    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    buf = ctypes.create_string_buffer(128)
    cap = new(ctypes.addressof(buf), name, None)
    return cap, buf


class _NotACapsule:
    def __dlpack__(self, **_):
        return 3

    def __dlpack_device__(self):
        return (1, 0)


@pytest.mark.parametrize("kind", ["consumed", "int", "forged", "not_a_capsule"])
def test_invalid_dlpack_inputs_raise_as_pytorch(kind):
    torch = need_torch()

    def arg():
        if kind == "consumed":
            cap = np.arange(4.0).__dlpack__()
            np.from_dlpack(_Capsule(cap))
            return cap, None
        if kind == "int":
            return 5, None
        if kind == "forged":
            return _capsule(b"not_dltensor")
        return _NotACapsule(), None

    for lib in (torch, rt):
        value, _keep = arg()
        with pytest.raises(RuntimeError, match="from_dlpack received an invalid capsule"):
            lib.from_dlpack(value)
    # The engine keeps working, and a fresh capsule imports (memory shared, as PyTorch).
    a = np.arange(6.0)
    t = rt.utils.dlpack.from_dlpack(a.__dlpack__())
    a[0] = 7.0
    assert t.tolist() == [7.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert np.from_dlpack(_Capsule(rt.utils.dlpack.to_dlpack(t))).tolist() == t.tolist()


class _Capsule:
    def __init__(self, cap):
        self.cap = cap

    def __dlpack__(self, **_):
        return self.cap

    def __dlpack_device__(self):
        return (1, 0)


# Outputs larger than the machine from kernels beyond creation and element-wise ops (inputs
# expanded from one element, so only the output is big). Each runs in a subprocess, so that
# a missing check (an abort, or the kernel's OOM kill) fails the test instead of the run.
HUGE_OUTPUTS = {
    "matmul": "L.ones(2**20, 1) @ L.ones(1, 2**20)",
    "bmm": "L.ones(1, 1, 1).expand(2**12, 2**12, 1) @ L.ones(1, 1, 2**12)",
    "conv1x1": "F.conv2d(L.ones(1, 1, 1, 1).expand(2**10, 1, 2**9, 2**9), L.ones(64, 1, 1, 1))",
    "conv3x3": "F.conv2d(L.ones(1, 1, 1, 1).expand(2**10, 1, 2**9, 2**9), L.ones(64, 1, 3, 3),"
    " padding=1)",
    "cumsum": "L.ones(1).expand(2**36).cumsum(0)",
    "cummax": "L.ones(1).expand(2**36).cummax(0)",
    "sort": "L.ones(1).expand(2**36).sort()",
    "index": "L.ones(10)[L.zeros(1, dtype=L.int64).expand(2**36)]",
    "gather": "L.ones(10).gather(0, L.zeros(1, dtype=L.int64).expand(2**36))",
    "unfold": "F.unfold(L.ones(1, 1, 1, 1).expand(1, 2**14, 2**9, 2**9), 3, padding=1)",
    "max_pool": "F.max_pool2d(L.ones(1, 1, 1, 1).expand(2**10, 2**10, 2**9, 2**9), 1)",
    "avg_pool": "F.avg_pool2d(L.ones(1, 1, 1, 1).expand(2**10, 2**10, 2**9, 2**9), 1)",
    "conv_transpose": "F.conv_transpose2d(L.ones(1, 1, 1, 1).expand(2**10, 64, 2**8, 2**8),"
    " L.ones(64, 64, 4, 4), stride=2)",
}

PYTORCH_KILLED = {"conv_transpose"}

_HUGE_SCRIPT = """
import {lib} as L
import {lib}.nn.functional as F
try:
    {call}
    print("no error")
except RuntimeError as e:
    print("RuntimeError:", str(e).split("DefaultCPUAllocator: ")[-1][:40])
print("after:", float(L.arange(4.0).sum()))
"""


@pytest.mark.parametrize("name", HUGE_OUTPUTS)
def test_huge_outputs_raise_pytorchs_allocator_error(name):
    import os
    import subprocess
    import sys

    need_torch()
    # The smallest of these outputs (conv1x1's) is 64 GiB of float32.
    _need_refused_allocation(2**36)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    outs = {}
    # PyTorch's own transposed convolution allocates in pieces and was killed for lack of
    # memory on a smaller case of this one; ours must raise the error its other kernels raise.
    libs = (LIB_NAME,) if name in PYTORCH_KILLED else ("torch", LIB_NAME)
    for lib in libs:
        code = _HUGE_SCRIPT.format(lib=lib, call=HUGE_OUTPUTS[name])
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
        )
        assert proc.returncode == 0, (lib, proc.returncode, proc.stderr[-2000:])
        outs[lib] = proc.stdout.split()
    assert outs[LIB_NAME] == outs.get("torch", outs[LIB_NAME])
    assert outs[LIB_NAME][:5] == ["RuntimeError:", "can't", "allocate", "memory:", "you"]
    assert outs[LIB_NAME][-2:] == ["after:", "6.0"]
