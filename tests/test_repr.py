"""repr/str must be PyTorch's text, with 'rustorch' in place of 'torch'."""

import numpy as np
import pytest
from conftest import LIB_NAME, need_torch, rand_array, rt


def _t(data, dtype=None, requires_grad=False):
    """Builder: the same tensor in either library."""

    def build(L):
        kw = {} if dtype is None else {"dtype": getattr(L, dtype)}
        return L.tensor(data, requires_grad=requires_grad, **kw)

    return build


CASES = {
    "float_1d": _t([1.0, 2.0, 3.0]),
    "int_2d": _t([[1, 2], [3, 4]]),
    "float64": _t([1.0, 2.0], "float64"),
    "bool": _t([True, False]),
    "bool_2d": _t([[True], [False]]),
    "bool_scalar": _t(True),
    "int32": _t([1, 2], "int32"),
    "uint8": _t([1, 2, 255], "uint8"),
    "int_negative": _t([-5, 100000]),
    "int_all_negative": _t([-1, -1, -1]),
    "scalar_float": _t(3.5),
    "scalar_float64": _t(3.5, "float64"),
    "scalar_int": _t(7),
    "scalar_neg_zero": _t(-0.0),
    "empty": _t([]),
    "empty_2d": lambda L: L.zeros(0, 3),
    "empty_2d_b": lambda L: L.zeros(2, 0),
    "empty_int": lambda L: L.zeros(0, dtype=L.int64),
    "empty_float64": lambda L: L.zeros(0, dtype=L.float64),
    "requires_grad": _t([1.0, 2.0], requires_grad=True),
    "requires_grad_scalar": _t(2.5, requires_grad=True),
    "grad_fn_mul": lambda L: L.tensor([1.0, 2.0], requires_grad=True) * 2,
    "grad_fn_sum_float64": lambda L: L.tensor([1.0, 2.0], dtype=L.float64,
                                              requires_grad=True).sum(),
    "grad_fn_add": lambda L: L.tensor([1.0, 2.0], requires_grad=True) + 1,
    "zeros": lambda L: L.zeros(3),
    "ones_int": lambda L: L.ones(2, 3, dtype=L.int64),
    "negative_floats": _t([-1.5, 2.25, -3.0]),
    "fractions": _t([0.12345, 0.5]),
    "widths_2d": _t([[1.5, -20.25], [300.125, 4.0]]),
    "integral_floats_widths": _t([100.0, 1000.0]),
    "int_valued_and_frac": _t([1000.0, 10000.5]),
    "sci_mixed": _t([1e-5, 1.0, 1e5]),
    "sci_large": _t([1e10, 1.0]),
    "sci_big_single": _t([123456789.0]),
    "sci_small": _t([1e-10]),
    "sci_1e-4": _t([1e-4, 1.0]),
    "sci_1e-5": _t([1e-5, 1.0]),
    "sci_1e8": _t([1e8, 2e8]),
    "sci_1e16": _t([1e16]),
    "sci_ratio": _t([0.1, 100000.0]),
    "sci_half_1e8": _t([0.5, 1e8]),
    "nan_inf": _t([float("nan"), float("inf"), -float("inf"), 1.0]),
    "nan_only_int_valued": _t([1.0, float("nan")]),
    "3d": lambda L: L.arange(24.0).reshape(2, 3, 4),
    "3d_int": lambda L: L.arange(6).reshape(1, 2, 3),
    "4d": lambda L: L.arange(16).reshape(2, 2, 2, 2),
    "random_2d": lambda L: L.tensor(rand_array((4, 5), "float32", 3)),
    "random_float64": lambda L: L.tensor(rand_array((2, 3), "float64", 4)),
    "random_3d_neg": lambda L: L.tensor(rand_array((2, 2, 3), "float32", 5) * 100),
    "long_row_wraps": lambda L: L.arange(30.0) / 7,
    "1000_floats_not_summarised": lambda L: L.arange(1000.0),
    "1001_floats_summarised": lambda L: L.arange(1001.0),
    "2000_ints_summarised": lambda L: L.arange(2000),
    "summarised_2d": lambda L: L.arange(10000.0).reshape(100, 100),
    "summarised_2x1000": lambda L: L.arange(2000.0).reshape(2, 1000),
    "summarised_3d": lambda L: L.arange(3000).reshape(10, 10, 30),
    "summarised_bool": lambda L: L.arange(2000) % 3 == 0,
    "transposed": lambda L: L.arange(6.0).reshape(2, 3).t(),
    "strided": lambda L: L.arange(10)[::3],
    "expanded": lambda L: L.tensor([1.5, 2.5]).expand(3, 2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_repr_matches_pytorch(name):
    torch = need_torch()
    build = CASES[name]
    mine = build(rt)
    ref = build(torch)
    assert repr(mine).replace(LIB_NAME, "torch") == repr(ref)
    assert str(mine).replace(LIB_NAME, "torch") == str(ref)


# A few texts spelled out, so that the format is pinned even where PyTorch is absent.
GOLDEN = [
    (_t([1.0, 2.0, 3.0]), "tensor([1., 2., 3.])"),
    (_t([[1, 2], [3, 4]]), "tensor([[1, 2],\n        [3, 4]])"),
    (_t([1.0, 2.0], "float64"), "tensor([1., 2.], dtype=torch.float64)"),
    (_t([1, 2], "int32"), "tensor([1, 2], dtype=torch.int32)"),
    (_t([True, False]), "tensor([ True, False])"),
    (_t(3.5), "tensor(3.5000)"),
    (_t([]), "tensor([])"),
    (lambda L: L.zeros(0, 3), "tensor([], size=(0, 3))"),
    (_t([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda L: L.tensor([1.0, 2.0], requires_grad=True) * 2,
     "tensor([2., 4.], grad_fn=<MulBackward0>)"),
    (_t([-1.5, 2.25, -3.0]), "tensor([-1.5000,  2.2500, -3.0000])"),
    (_t([1e-5, 1.0, 1e5]), "tensor([1.0000e-05, 1.0000e+00, 1.0000e+05])"),
    (_t([[1.5, -20.25], [300.125, 4.0]]),
     "tensor([[  1.5000, -20.2500],\n        [300.1250,   4.0000]])"),
]


@pytest.mark.parametrize("build, text", GOLDEN, ids=[g[1].split("\n")[0] for g in GOLDEN])
def test_repr_golden(build, text):
    assert repr(build(rt)).replace(LIB_NAME, "torch") == text


def test_summarised_repr_shape():
    text = repr(rt.arange(1001.0))
    assert "..." in text
    assert text.count(",") == 6  # three items each side of the ellipsis
    assert "..." not in repr(rt.arange(1000.0))
    lines = repr(rt.zeros(1000, 3)).split("\n")
    assert "..." in lines[3] and len(lines) == 7


def test_dtype_and_size_repr():
    assert repr(rt.float32).replace(LIB_NAME, "torch") == "torch.float32"
    assert repr(rt.int64).replace(LIB_NAME, "torch") == "torch.int64"
    assert tuple(rt.zeros(2, 3).shape) == (2, 3)
    s = repr(rt.zeros(2, 3).shape).replace(LIB_NAME, "torch")
    assert s in ("torch.Size([2, 3])", "(2, 3)")


def test_repr_does_not_change_values():
    a = rand_array((3, 3), "float32")
    x = rt.tensor(a)
    repr(x)
    str(x.t())
    assert np.array_equal(x.numpy(), a)
