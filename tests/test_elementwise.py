"""Elementwise ops: arithmetic with broadcasting and promotion, comparisons, bitwise,
unary math, activations, clamp/where/maximum/minimum/lerp."""

import math
import operator

import numpy as np
import pytest
from conftest import (
    LAYOUTS,
    NP_DTYPES,
    assert_matches_torch,
    assert_values,
    check_op,
    dtype_name,
    make_tensor,
    need_nn,
    need_torch,
    rand_array,
    rt,
    to_np,
    torch_or_none,
)

# Every test here runs on each device of conftest.DEVICES (CUDA runs skip without a GPU).
pytestmark = pytest.mark.usefixtures("device")

BCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((0, 4), (4,)),
    ((), (3,)),
    ((2, 3), ()),
    ((1,), (0,)),
]

# ---------------------------------------------------------------- binary arithmetic ---


def _np_floordiv(a, b):
    return np.floor_divide(a, b)


def _np_truediv(a, b):
    out = np.true_divide(a, b)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        out = out.astype(np.float32)
    return out


BINARY = {
    "add": (operator.add, np.add),
    "sub": (operator.sub, np.subtract),
    "mul": (operator.mul, np.multiply),
    "truediv": (operator.truediv, _np_truediv),
    "floordiv": (operator.floordiv, _np_floordiv),
    "mod": (operator.mod, np.mod),
    "pow": (operator.pow, np.power),
}


def _operands(op, sa, sb, dtype):
    a = rand_array(sa, dtype, seed=1, positive=(op == "pow" and dtype.startswith("float")))
    b = rand_array(sb, dtype, seed=2, positive=op in ("truediv", "floordiv", "mod"))
    if op == "pow":
        if dtype.startswith("float"):
            b = rand_array(sb, dtype, seed=2, low=-2.0, high=2.0)
        else:
            b = rand_array(sb, dtype, seed=2, low=0, high=4)
            a = rand_array(sa, dtype, seed=1, low=-3 if dtype != "uint8" else 0, high=4)
    if op in ("floordiv", "mod") and dtype != "uint8":
        b = b * np.where(rand_array(sb, "bool", seed=3), 1, -1).astype(b.dtype)  # mixed signs
    return a, b


@pytest.mark.parametrize("shapes", BCAST_SHAPES, ids=[f"{a}-{b}" for a, b in BCAST_SHAPES])
@pytest.mark.parametrize("dtype",
                         ["float32", "float64", "int64", "int32", "int16", "int8", "uint8"])
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_tensor_tensor(op, dtype, shapes):
    fn, np_fn = BINARY[op]
    a, b = _operands(op, *shapes, dtype)
    expected = "float32" if (op == "truediv" and dtype not in ("float32", "float64")) else dtype
    check_op(lambda lib, x, y: fn(x, y), a, b, np_fn=np_fn, out_dtype=expected)


@pytest.mark.parametrize("layout", LAYOUTS[1:])
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_non_contiguous(op, layout):
    fn, np_fn = BINARY[op]
    a, b = _operands(op, (3, 4), (3, 4), "float32")
    check_op(lambda lib, x, y: fn(x, y), a, b, np_fn=np_fn, layout=layout)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_binary_grad_with_broadcasting(op):
    fn, np_fn = BINARY[op]
    a, b = _operands(op, (2, 1, 4), (3, 1), "float64")
    check_op(lambda lib, x, y: fn(x, y), a, b, np_fn=np_fn, grad=True)


@pytest.mark.parametrize(
    "name, np_fn",
    [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.true_divide),
     ("pow", np.power), ("maximum", np.maximum), ("minimum", np.minimum),
     ("remainder", np.mod), ("floor_divide", np.floor_divide)],
)
def test_named_binary_functions_and_methods(name, np_fn):
    a = rand_array((3, 4), "float32", positive=True)
    b = rand_array((4,), "float32", seed=9, positive=True)
    check_op(lambda lib, x, y: getattr(lib, name)(x, y), a, b, np_fn=np_fn)
    check_op(lambda lib, x, y: getattr(x, name)(y), a, b, np_fn=np_fn)


def test_add_sub_alpha():
    a, b = rand_array((3,), "float32"), rand_array((3,), "float32", seed=2)
    check_op(lambda lib, x, y: lib.add(x, y, alpha=2), a, b, np_fn=lambda x, y: x + 2 * y)
    check_op(lambda lib, x, y: x.sub(y, alpha=0.5), a, b, np_fn=lambda x, y: x - 0.5 * y)


def test_div_rounding_mode():
    a = np.array([-7.0, -3.5, 3.5, 7.0], np.float32)
    b = np.array([2.0, 2.0, -2.0, 3.0], np.float32)
    check_op(lambda lib, x, y: lib.div(x, y, rounding_mode="floor"), a, b,
             np_fn=lambda x, y: np.floor(x / y))
    check_op(lambda lib, x, y: x.div(y, rounding_mode="trunc"), a, b,
             np_fn=lambda x, y: np.trunc(x / y))


def test_fmod_keeps_the_dividends_sign():
    a = np.array([-7.0, -3.5, 3.5, 7.0, 5.25, -0.0], np.float32)
    b = np.array([2.0, 2.0, -2.0, 3.0, -1.5, 3.0], np.float32)
    check_op(lambda lib, x, y: lib.fmod(x, y), a, b, np_fn=np.fmod)
    check_op(lambda lib, x, y: x.fmod(y), a, b, np_fn=np.fmod)
    check_op(lambda lib, x: x.fmod(2.5), a, np_fn=lambda x: np.fmod(x, np.float32(2.5)))
    ai = np.array([-7, -3, 3, 7, 9], np.int64)
    bi = np.array([2, 2, -2, 3, -4], np.int64)
    check_op(lambda lib, x, y: lib.fmod(x, y), ai, bi, np_fn=np.fmod, out_dtype="int64")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        rt.fmod(rt.tensor([1, 2]), rt.tensor([1, 0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_atan2_values_quadrants_and_gradient(dtype):
    y = np.array([[0.0, -0.0, 1.0, -1.0, 2.5, np.inf, np.nan],
                  [1.0, 1.0, -3.0, -3.0, 0.0, -np.inf, 1.0]], np.float64)
    x = np.array([0.0, -1.0, 0.0, -2.0, -np.inf, 1.0, 3.0], np.float64)  # broadcast
    check_op(lambda lib, a, b: lib.atan2(a, b), y, x, dtype=dtype, np_fn=np.arctan2)
    check_op(lambda lib, a, b: a.arctan2(b), y, x, dtype=dtype)
    # the 16-bit floats compute in float32 and round once
    for half in ("float16", "bfloat16"):
        check_op(lambda lib, a, b, h=half: lib.atan2(a.to(getattr(lib, h)), b.to(getattr(lib, h)))
                 .float(), y, x, dtype="float32")
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4))
    if dtype == "float64":
        check_op(lambda lib, p, q: lib.atan2(p, q), a, b, grad=True)


def test_atan2_promotes_integers_in_place_and_refuses_numbers():
    yi = np.array([1, -2, 3, 0], np.int64)
    xi = np.array([2, 2, -1, 0], np.int32)
    check_op(lambda lib, a, b: lib.atan2(a, b), yi, xi,
             np_fn=lambda a, b: np.arctan2(a, b).astype(np.float32))
    check_op(lambda lib, a, b: a.clone().atan2_(b), np.array([1.0, -2.0], np.float32),
             np.array([3.0, 0.5], np.float32), np_fn=np.arctan2)
    with pytest.raises(TypeError):
        rt.atan2(rt.tensor([1.0]), 2.0)
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        rt.tensor([1, 2]).atan2_(rt.tensor([1, 1]))


# ---------------------------------------------------------------- scalars -------------

SCALARS = [2, 3, 2.5, -1.5, 0.5]


@pytest.mark.parametrize(
    "op, dtype, scalar",
    [
        (op, dtype, scalar)
        for op in BINARY
        for dtype in ["float32", "float64", "int64", "int32"]
        for scalar in SCALARS
        # integers to negative integer powers are an error in PyTorch
        if not (op == "pow" and dtype.startswith("int") and isinstance(scalar, int) and scalar < 0)
    ],
)
def test_binary_tensor_scalar_and_reverse(op, dtype, scalar):
    fn, np_fn = BINARY[op]
    is_int = dtype.startswith("int")
    a = rand_array((3, 4), dtype, positive=True)
    # result dtype: a Python scalar never upcasts within a category; a float scalar turns
    # an integer tensor into the default float dtype; true division always gives floats.
    float_result = isinstance(scalar, float) or op == "truediv"
    expected = ("float32" if is_int else dtype) if float_result else dtype
    scalar_np = np.asarray(scalar, dtype=np.float64 if isinstance(scalar, float) else np.int64)

    def ref(x, rev=False):
        xs = x.astype(np.float64) if float_result else x
        s = scalar_np.astype(xs.dtype)
        out = np_fn(s, xs) if rev else np_fn(xs, s)
        return out

    check_op(lambda lib, x: fn(x, scalar), a, np_fn=ref, out_dtype=expected,
             rtol=1e-5, atol=1e-5)
    if op == "pow" and is_int and isinstance(scalar, int):
        b = rand_array((3, 4), dtype, low=0, high=4)
    else:
        b = a
    check_op(lambda lib, x: fn(scalar, x), b, np_fn=lambda x: ref(x, rev=True),
             out_dtype=expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make, op, expected",
    [
        (lambda L: L.tensor([1, 2, 3]), lambda L, x: x + 2.5, "float32"),
        (lambda L: L.tensor([1, 2, 3]), lambda L, x: x * 1.0, "float32"),
        (lambda L: L.tensor([1, 2, 3]), lambda L, x: x / 2, "float32"),
        (lambda L: L.tensor([1, 2, 3]), lambda L, x: x // 2, "int64"),
        (lambda L: L.tensor([1, 2, 3]), lambda L, x: x ** 2, "int64"),
        (lambda L: L.tensor([1, 2, 3]), lambda L, x: x ** 0.5, "float32"),
        (lambda L: L.tensor([1.0, 2.0]), lambda L, x: x * 2.5, "float32"),
        (lambda L: L.tensor([1.0, 2.0], dtype=L.float64), lambda L, x: x + 1, "float64"),
        (lambda L: L.tensor([1, 2], dtype=L.int32), lambda L, x: x + 2, "int32"),
        (lambda L: L.tensor([1, 2], dtype=L.uint8), lambda L, x: x + 1, "uint8"),
        (lambda L: L.tensor([True, False]), lambda L, x: x + 1, "int64"),
        (lambda L: L.tensor([True, False]), lambda L, x: x * 2.5, "float32"),
        (lambda L: L.tensor([True, False]), lambda L, x: x & True, "bool"),
        (lambda L: L.tensor([1.0]), lambda L, x: x + L.tensor([1.0], dtype=L.float64), "float64"),
        (lambda L: L.tensor([1], dtype=L.int32), lambda L, x: x + L.tensor([1]), "int64"),
        (lambda L: L.tensor([1]), lambda L, x: x + L.tensor([1.0]), "float32"),
        (lambda L: L.tensor([1]), lambda L, x: x * L.tensor([1.0], dtype=L.float64), "float64"),
        (lambda L: L.tensor([1], dtype=L.uint8), lambda L, x: x + L.tensor([1]), "int64"),
        (lambda L: L.tensor([1], dtype=L.uint8), lambda L, x: x + L.tensor([1], dtype=L.int32),
         "int32"),
        (lambda L: L.tensor([True]), lambda L, x: x + L.tensor([1], dtype=L.int32), "int32"),
        (lambda L: L.tensor([True]), lambda L, x: x + L.tensor([1.0], dtype=L.float64), "float64"),
        (lambda L: L.tensor([1], dtype=L.int32), lambda L, x: x / L.tensor([2], dtype=L.int32),
         "float32"),
        (lambda L: L.tensor([1, 2]), lambda L, x: x / L.tensor([2, 4]), "float32"),
        (lambda L: L.tensor([1.0, 2.0]), lambda L, x: x < 1.5, "bool"),
        # a 0-d tensor only takes part in promotion if it is of a higher category
        (lambda L: L.tensor([1.0, 2.0]), lambda L, x: x + L.tensor(1.5, dtype=L.float64),
         "float32"),
        (lambda L: L.tensor([1, 2], dtype=L.int32), lambda L, x: x + L.tensor(1), "int32"),
        (lambda L: L.tensor([1, 2]), lambda L, x: x + L.tensor(1.5, dtype=L.float64), "float64"),
        # int8 and int16: uint8 and int8 hold neither each other and meet in int16
        (lambda L: L.tensor([1], dtype=L.int8), lambda L, x: x + L.tensor([1], dtype=L.uint8),
         "int16"),
        (lambda L: L.tensor([1], dtype=L.uint8), lambda L, x: x * L.tensor([1], dtype=L.int8),
         "int16"),
        (lambda L: L.tensor([1], dtype=L.int8), lambda L, x: x + L.tensor([1], dtype=L.int16),
         "int16"),
        (lambda L: L.tensor([1], dtype=L.int16), lambda L, x: x + L.tensor([1], dtype=L.int32),
         "int32"),
        (lambda L: L.tensor([1], dtype=L.int8), lambda L, x: x + 300, "int8"),
        (lambda L: L.tensor([1], dtype=L.int8), lambda L, x: x + L.tensor(7), "int8"),
        (lambda L: L.tensor([1], dtype=L.int16), lambda L, x: x * 2.5, "float32"),
        (lambda L: L.tensor([True]), lambda L, x: x + L.tensor([1], dtype=L.int8), "int8"),
        (lambda L: L.tensor([1], dtype=L.int16), lambda L, x: x + L.tensor([1.0], dtype=L.float16),
         "float16"),
        (lambda L: L.tensor([1], dtype=L.int8), lambda L, x: x / 2, "float32"),
    ],
)
def test_type_promotion(make, op, expected):
    out = op(rt, make(rt))
    assert dtype_name(out.dtype) == expected
    if torch_or_none is not None:
        assert_matches_torch(out, op(torch_or_none, make(torch_or_none)))


def test_python_scalar_keeps_float32_values():
    x = rt.tensor([0.1, 0.2], dtype=rt.float32)
    y = x * 2.5
    assert y.dtype == rt.float32
    assert np.array_equal(to_np(y), np.array([0.1, 0.2], np.float32) * np.float32(2.5))


def test_integer_division_semantics():
    # floor division and Python-style modulo (sign of the divisor) for negative integers
    a = np.array([-7, -3, 3, 7, 0, -1], np.int64)
    b = np.array([2, -2, -3, 3, 5, 4], np.int64)
    check_op(lambda lib, x, y: x // y, a, b, np_fn=np.floor_divide, out_dtype="int64")
    check_op(lambda lib, x, y: x % y, a, b, np_fn=np.mod, out_dtype="int64")
    check_op(lambda lib, x, y: x / y, a, b, np_fn=lambda x, y: (x / y).astype(np.float32),
             out_dtype="float32")


def test_float_division_by_zero():
    a = np.array([1.0, -1.0, 0.0], np.float32)
    b = np.zeros(3, np.float32)
    check_op(lambda lib, x, y: x / y, a, b, np_fn=np.true_divide)


def test_uint8_wraps_around():
    a = np.array([3, 250], np.uint8)
    check_op(lambda lib, x: x + 10, a, np_fn=lambda x: x + np.uint8(10), out_dtype="uint8")
    check_op(lambda lib, x: x - 5, a, np_fn=lambda x: x - np.uint8(5), out_dtype="uint8")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
def test_unary_minus_and_pos(dtype):
    a = rand_array((3, 4), dtype)
    check_op(lambda lib, x: -x, a, np_fn=np.negative, out_dtype=dtype)
    check_op(lambda lib, x: +x, a, np_fn=lambda x: x, out_dtype=dtype)


# ---------------------------------------------------------------- comparisons ---------

CMP = [
    (operator.eq, np.equal, "eq"), (operator.ne, np.not_equal, "ne"),
    (operator.lt, np.less, "lt"), (operator.le, np.less_equal, "le"),
    (operator.gt, np.greater, "gt"), (operator.ge, np.greater_equal, "ge"),
]


@pytest.mark.parametrize("shapes", BCAST_SHAPES[:6])
@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("op, np_op, name", CMP, ids=[c[2] for c in CMP])
def test_comparisons(op, np_op, name, dtype, shapes):
    a = rand_array(shapes[0], dtype, seed=1, low=0 if dtype != "bool" else None, high=3)
    b = rand_array(shapes[1], dtype, seed=2, low=0 if dtype != "bool" else None, high=3)
    check_op(lambda lib, x, y: op(x, y), a, b, np_fn=np_op, out_dtype="bool")
    check_op(lambda lib, x, y: getattr(lib, name)(x, y), a, b, np_fn=np_op, out_dtype="bool")
    if dtype != "bool":
        check_op(lambda lib, x: op(x, 1), a, np_fn=lambda x: np_op(x, 1), out_dtype="bool")
        check_op(lambda lib, x: op(1.5, x), a, np_fn=lambda x: np_op(1.5, x), out_dtype="bool")


def test_comparison_mixed_dtypes_and_nan():
    a = np.array([1.0, np.nan, 2.0], np.float32)
    b = np.array([1, 1, 3], np.int64)
    for op, np_op, _ in CMP:
        check_op(lambda lib, x, y, op=op: op(x, y), a, b, np_fn=np_op, out_dtype="bool")


def test_equal_whole_tensor():
    a = rt.tensor([1.0, 2.0])
    assert rt.equal(a, rt.tensor([1.0, 2.0])) is True
    assert rt.equal(a, rt.tensor([1.0, 3.0])) is False
    assert rt.equal(a, rt.tensor([1.0, 2.0, 3.0])) is False


# ---------------------------------------------------------------- bitwise -------------

BITWISE = [(operator.and_, np.bitwise_and), (operator.or_, np.bitwise_or),
           (operator.xor, np.bitwise_xor)]


@pytest.mark.parametrize("dtype", ["bool", "int64", "int32", "int16", "int8", "uint8"])
@pytest.mark.parametrize("op, np_op", BITWISE, ids=["and", "or", "xor"])
def test_bitwise(op, np_op, dtype):
    a = rand_array((3, 4), dtype, seed=1, low=0 if dtype != "bool" else None, high=16)
    b = rand_array((4,), dtype, seed=2, low=0 if dtype != "bool" else None, high=16)
    check_op(lambda lib, x, y: op(x, y), a, b, np_fn=np_op, out_dtype=dtype)


@pytest.mark.parametrize("dtype", ["bool", "int64", "int32", "int16", "int8", "uint8"])
def test_invert(dtype):
    a = rand_array((3, 4), dtype, low=0 if dtype != "bool" else None, high=16)
    check_op(lambda lib, x: ~x, a, np_fn=np.invert, out_dtype=dtype)
    if dtype == "bool":
        check_op(lambda lib, x: lib.logical_not(x), a, np_fn=np.logical_not, out_dtype="bool")


# ---------------------------------------------------------------- unary math ----------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# name -> (numpy reference, domain: None | "positive" | "unit" (inside (-1, 1)) | "gt1"
# (above 1), differentiable)
UNARY = {
    "abs": (np.abs, None, True),
    "neg": (np.negative, None, True),
    "exp": (np.exp, None, True),
    "log": (np.log, "positive", True),
    "log1p": (np.log1p, "positive", True),
    "expm1": (np.expm1, None, True),
    "sqrt": (np.sqrt, "positive", True),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "positive", True),
    "sin": (np.sin, None, True),
    "cos": (np.cos, None, True),
    "tan": (np.tan, None, True),
    "asin": (np.arcsin, "unit", True),
    "acos": (np.arccos, "unit", True),
    "atan": (np.arctan, None, True),
    "arcsin": (np.arcsin, "unit", True),
    "arccos": (np.arccos, "unit", True),
    "arctan": (np.arctan, None, True),
    "sinh": (np.sinh, None, True),
    "cosh": (np.cosh, None, True),
    "asinh": (np.arcsinh, None, True),
    "acosh": (np.arccosh, "gt1", True),
    "atanh": (np.arctanh, "unit", True),
    "arcsinh": (np.arcsinh, None, True),
    "arccosh": (np.arccosh, "gt1", True),
    "arctanh": (np.arctanh, "unit", True),
    "log2": (np.log2, "positive", True),
    "log10": (np.log10, "positive", True),
    "exp2": (np.exp2, None, True),
    "tanh": (np.tanh, None, True),
    "sigmoid": (_sigmoid, None, True),
    "relu": (lambda x: np.maximum(x, 0).astype(x.dtype), None, True),
    "sign": (np.sign, None, True),
    "floor": (np.floor, None, False),
    "ceil": (np.ceil, None, False),
    "round": (np.round, None, False),
}


def _in_domain(a, domain):
    """``a`` mapped into the op's domain ("unit": inside (-1, 1); "gt1": above 1)."""
    if domain == "unit":
        return np.asarray(np.tanh(a) * 0.95, a.dtype)
    if domain == "gt1":
        return np.asarray(np.abs(a) + 1.05, a.dtype)
    return a


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_function_and_method(name, dtype, layout):
    np_fn, domain, _ = UNARY[name]
    a = _in_domain(rand_array((3, 4), dtype, positive=domain == "positive"), domain)
    a = a * (3 if name == "round" else 1)
    check_op(lambda lib, x: getattr(lib, name)(x), a, np_fn=np_fn, layout=layout,
             out_dtype=dtype)
    check_op(lambda lib, x: getattr(x, name)(), a, np_fn=np_fn, layout=layout, out_dtype=dtype)


@pytest.mark.parametrize("name", [n for n, v in UNARY.items() if v[2]])
def test_unary_grad(name):
    np_fn, domain, _ = UNARY[name]
    a = _in_domain(rand_array((2, 3), "float64", positive=domain == "positive"), domain)
    check_op(lambda lib, x: getattr(lib, name)(x), a, np_fn=np_fn, grad=True)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_zero_size_and_0d(name):
    np_fn = UNARY[name][0]
    for shape in [(0,), (2, 0), ()]:
        a = _in_domain(rand_array(shape, "float32", positive=True), UNARY[name][1])
        check_op(lambda lib, x: getattr(lib, name)(x), a, np_fn=np_fn)


@pytest.mark.parametrize("name", ["abs", "neg", "sign", "floor", "ceil", "round", "relu"])
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_unary_int_keeps_dtype(name, dtype):
    a = rand_array((3, 4), dtype)
    check_op(lambda lib, x: getattr(lib, name)(x), a, np_fn=UNARY[name][0], out_dtype=dtype)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "sigmoid", "tanh", "tan", "atan",
                                  "log2", "log10", "cosh"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_unary_int_promotes_to_float32(name, dtype):
    a = rand_array((3, 4), dtype, positive=True)
    check_op(lambda lib, x: getattr(lib, name)(x), a,
             np_fn=lambda x: UNARY[name][0](x.astype(np.float32)), out_dtype="float32")


def test_round_half_to_even_and_decimals():
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 3.7], np.float32)
    check_op(lambda lib, x: lib.round(x), a, np_fn=np.round)
    b = np.array([1.2345, -2.5551, 0.125, 12.3449, 1e-4], np.float64)
    for d in (0, 1, 2, 3):
        check_op(lambda lib, x, d=d: lib.round(x, decimals=d), b,
                 np_fn=lambda x, d=d: np.round(x, d))
        check_op(lambda lib, x, d=d: x.round(decimals=d), b, np_fn=lambda x, d=d: np.round(x, d))


def test_special_values():
    a = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e30], np.float32)
    # (sign is left out: torch.sign(nan) is 0, NumPy's is nan)
    for name in ["exp", "tanh", "sigmoid", "abs", "relu", "floor", "expm1"]:
        check_op(lambda lib, x, n=name: getattr(lib, n)(x), a, np_fn=UNARY[name][0])
    check_op(lambda lib, x: lib.isnan(x), a, np_fn=np.isnan, out_dtype="bool")
    check_op(lambda lib, x: lib.isinf(x), a, np_fn=np.isinf, out_dtype="bool")
    check_op(lambda lib, x: x.isnan(), a, np_fn=np.isnan, out_dtype="bool")
    check_op(lambda lib, x: x.isinf(), a, np_fn=np.isinf, out_dtype="bool")
    check_op(lambda lib, x: lib.isfinite(x), a, np_fn=np.isfinite, out_dtype="bool")


def test_isnan_isinf_on_ints():
    a = np.array([1, 2, 3], np.int64)
    check_op(lambda lib, x: lib.isnan(x), a, np_fn=np.isnan, out_dtype="bool")
    check_op(lambda lib, x: lib.isinf(x), a, np_fn=np.isinf, out_dtype="bool")


def test_sigmoid_is_stable_for_large_inputs():
    a = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    out = check_op(lambda lib, x: lib.sigmoid(x), a, np_fn=_sigmoid)
    assert np.isfinite(to_np(out)).all()


def test_float32_sigmoid_tail_is_pytorchs(device):
    """Where ``e^{-x}`` overflows float32 (x below -88.72) PyTorch's sigmoid is exactly 0;
    just above it the result is a tiny positive number; NaN stays NaN, +inf gives 1."""
    torch = need_torch()
    a = np.array([-np.inf, -1e4, -200.0, -100.0, -88.8, -88.5, -87.0, -80.0, 20.0, np.inf,
                  np.nan], np.float32)
    ours = rt.sigmoid(rt.tensor(a, device=device)).cpu().numpy()
    theirs = torch.sigmoid(torch.tensor(a)).numpy()
    np.testing.assert_array_equal(ours[:5], theirs[:5])
    assert (ours[5:7] > 0).all() and (ours[5:7] < 2e-38).all()
    np.testing.assert_allclose(ours[7:], theirs[7:], rtol=1e-6)


# ---------------------------------------------------------------- activations ---------

SQRT2 = math.sqrt(2.0)


def _gelu(x):
    erf = np.vectorize(math.erf)
    return (0.5 * x * (1.0 + erf(x / SQRT2))).astype(x.dtype)


def _gelu_tanh(x):
    return (0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))).astype(x.dtype)


def _softplus(x, beta=1.0, threshold=20.0):
    bx = beta * x
    out = np.where(bx > threshold, x, np.log1p(np.exp(np.minimum(bx, threshold))) / beta)
    return out.astype(x.dtype)


ACTIVATIONS = [
    ("gelu", {}, _gelu),
    ("gelu", {"approximate": "none"}, _gelu),
    ("gelu", {"approximate": "tanh"}, _gelu_tanh),
    ("silu", {}, lambda x: x * _sigmoid(x)),
    ("softplus", {}, _softplus),
    ("softplus", {"beta": 2.0}, lambda x: _softplus(x, 2.0)),
    ("softplus", {"beta": 0.5, "threshold": 1.0}, lambda x: _softplus(x, 0.5, 1.0)),
    ("relu", {}, lambda x: np.maximum(x, 0)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, kwargs, ref", ACTIVATIONS,
                         ids=[f"{a[0]}{a[1]}" for a in ACTIVATIONS])
def test_nn_functional_activations(name, kwargs, ref, dtype):
    need_nn()
    a = rand_array((4, 5), dtype) * 3
    check_op(lambda lib, x: getattr(lib.nn.functional, name)(x, **kwargs), a, np_fn=ref,
             out_dtype=dtype, layout="transposed")
    if dtype == "float64":
        check_op(lambda lib, x: getattr(lib.nn.functional, name)(x, **kwargs), a, np_fn=ref,
                 grad=True)


GRAD_ACTIVATIONS = [("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {})]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("name, kwargs", GRAD_ACTIVATIONS,
                         ids=[f"{a[0]}{a[1]}" for a in GRAD_ACTIVATIONS])
def test_activation_gradients_match_pytorch(name, kwargs, dtype, device):
    """GELU's and SiLU's backward (one fused pass, as PyTorch's `gelu_backward` and
    `silu_backward`) over the whole range, with a transposed input and a gradient broadcast
    from one row; and their second derivatives (`create_graph=True` takes the tensor-op
    form), against PyTorch's."""
    torch = need_torch()
    x = np.concatenate([np.linspace(-12, 12, 97), rand_array((95,), "float64", seed=3) * 3])
    x = x.reshape(8, 24).T  # [24, 8], transposed in memory
    g = rand_array((1, 8), "float64", seed=4)
    grads = {}
    for lib in (rt, torch):
        dev = device if lib is rt else "cpu"
        xt = make_tensor(lib, np.ascontiguousarray(x.T), dtype).to(dev).t().requires_grad_()
        gt = make_tensor(lib, g, dtype).to(dev).expand(24, 8)
        f = getattr(lib.nn.functional, name)
        (dx,) = lib.autograd.grad(f(xt, **kwargs), [xt], gt)
        grads[lib] = [dx]
        if dtype == "float64":
            (dx2,) = lib.autograd.grad(f(xt, **kwargs), [xt], gt, create_graph=True)
            grads[lib] += [dx2.detach(), lib.autograd.grad(dx2.sum(), [xt])[0]]
    tol = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12), "bfloat16": (1e-2, 1e-2)}[dtype]
    for ours, theirs in zip(grads[rt], grads[torch]):
        assert_matches_torch(ours.cpu(), theirs.detach(), rtol=tol[0], atol=tol[1])


# ---------------------------------------------------------------- clamp & co ----------

CLAMP = [
    ({"min": -0.5}, lambda x: np.maximum(x, -0.5)),
    ({"max": 0.5}, lambda x: np.minimum(x, 0.5)),
    ({"min": -0.5, "max": 0.5}, lambda x: np.clip(x, -0.5, 0.5)),
    ({"min": 0.5, "max": -0.5}, lambda x: np.full_like(x, -0.5)),  # min > max: all max
]


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("kwargs, ref", CLAMP, ids=["min", "max", "both", "min>max"])
def test_clamp_scalar_bounds(kwargs, ref, layout):
    a = rand_array((3, 4), "float32")
    check_op(lambda lib, x: lib.clamp(x, **kwargs), a, np_fn=ref, layout=layout)
    check_op(lambda lib, x: x.clamp(**kwargs), a, np_fn=ref, layout=layout)
    check_op(lambda lib, x: lib.clip(x, **kwargs), a, np_fn=ref, layout=layout)
    check_op(lambda lib, x: x.clip(**kwargs), a, np_fn=ref, layout=layout)
    check_op(lambda lib, x: lib.clamp(x, **kwargs), a.astype(np.float64), np_fn=ref, grad=True)


def test_clamp_positional_and_tensor_bounds():
    a = rand_array((3, 4), "float64")
    lo = rand_array((4,), "float64", seed=5) - 0.5
    hi = lo + 1.0
    check_op(lambda lib, x: lib.clamp(x, -0.3, 0.3), a, np_fn=lambda x: np.clip(x, -0.3, 0.3))
    check_op(lambda lib, x, lo_, hi_: lib.clamp(x, min=lo_, max=hi_), a, lo, hi,
             np_fn=lambda x, lo_, hi_: np.clip(x, lo_, hi_), grad=True)
    check_op(lambda lib, x, lo_: x.clamp(min=lo_), a, lo, np_fn=np.maximum, grad=True)
    check_op(lambda lib, x, hi_: x.clamp(max=hi_), a, hi, np_fn=np.minimum, grad=True)


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_clamp_int(dtype):
    a = rand_array((3, 4), dtype)
    check_op(lambda lib, x: x.clamp(-2, 3), a, np_fn=lambda x: np.clip(x, -2, 3), out_dtype=dtype)
    check_op(lambda lib, x: x.clamp(min=0), a, np_fn=lambda x: np.maximum(x, 0), out_dtype=dtype)


@pytest.mark.parametrize(
    "shapes", [((3, 4), (3, 4), (3, 4)), ((3, 1), (1, 4), (4,)), ((4,), (3, 4), ()),
               ((0, 4), (4,), (1,))]
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_where(shapes, dtype):
    c = rand_array(shapes[0], "bool", seed=1)
    x = rand_array(shapes[1], dtype, seed=2)
    y = rand_array(shapes[2], dtype, seed=3)
    check_op(lambda lib, c_, x_, y_: lib.where(c_, x_, y_), c, x, y, np_fn=np.where,
             out_dtype=dtype)
    check_op(lambda lib, c_, x_, y_: x_.where(c_, y_), c, x, y, np_fn=np.where, out_dtype=dtype)


def test_where_scalar_and_grad():
    c = rand_array((3, 4), "bool", seed=1)
    x = rand_array((3, 4), "float32", seed=2)
    check_op(lambda lib, c_, x_: lib.where(c_, x_, 0.0), c, x,
             np_fn=lambda c_, x_: np.where(c_, x_, np.float32(0)), out_dtype="float32")
    check_op(lambda lib, c_, x_: lib.where(c_, -1.5, x_), c, x,
             np_fn=lambda c_, x_: np.where(c_, np.float32(-1.5), x_), out_dtype="float32")
    x64 = x.astype(np.float64)
    y64 = rand_array((4,), "float64", seed=4)
    check_op(lambda lib, x_, y_: lib.where(x_ > 0, x_, y_), x64, y64,
             np_fn=lambda x_, y_: np.where(x_ > 0, x_, y_), grad=True)


@pytest.mark.parametrize("case", ["scalar", "one_element", "broadcast", "transposed"])
def test_where_and_lerp_over_large_broadcast_and_strided_operands(case):
    """Operands past the size the threads share, in the layouts the three-operand kernel
    treats apart: a number or a one-element tensor (folded into a two-operand loop), a
    broadcast column, transposed views (strided runs); values and gradients as PyTorch's."""
    c = rand_array((96, 400), "bool", seed=1)
    x = rand_array((96, 400), "float32", seed=2)
    y = {"scalar": 0.5, "one_element": rand_array((1, 1), "float32", seed=3),
         "broadcast": rand_array((96, 1), "float32", seed=3),
         "transposed": rand_array((400, 96), "float32", seed=3)}[case]
    t = case == "transposed"

    def where(lib, c_, x_, *y_):
        other = y_[0].t() if t else (y_[0] if y_ else y)
        return lib.where(c_, x_, other)

    def lerp(lib, x_, *y_):
        end = y_[0].t() if t else (y_[0] if y_ else lib.full_like(x_, y))
        return lib.lerp(x_, end.expand_as(x_), lib.full_like(x_, 0.3) if t else 0.7)

    args = () if case == "scalar" else (y,)
    ref_y = (y.T if t else y) if args else np.float32(y)
    check_op(where, c, x, *args, np_fn=lambda c_, x_, *_: np.where(c_, x_, ref_y),
             out_dtype="float32", grad=True, dtype="float32")
    check_op(lerp, x, *args, out_dtype="float32", grad=True, dtype="float32")


def test_where_mixed_dtype_promotes():
    c = rand_array((4,), "bool")
    x = rand_array((4,), "int64")
    y = rand_array((4,), "float32")
    check_op(lambda lib, c_, x_, y_: lib.where(c_, x_, y_), c, x, y,
             np_fn=lambda c_, x_, y_: np.where(c_, x_, y_).astype(np.float32),
             out_dtype="float32")


@pytest.mark.parametrize("name, np_fn", [("maximum", np.maximum), ("minimum", np.minimum)])
@pytest.mark.parametrize("shapes", BCAST_SHAPES[:5])
def test_maximum_minimum(name, np_fn, shapes):
    a = rand_array(shapes[0], "float64", seed=1)
    b = rand_array(shapes[1], "float64", seed=2)
    check_op(lambda lib, x, y: getattr(lib, name)(x, y), a, b, np_fn=np_fn, grad=True)
    ai = rand_array(shapes[0], "int32", seed=1)
    bi = rand_array(shapes[1], "int64", seed=2)
    check_op(lambda lib, x, y: getattr(lib, name)(x, y), ai, bi, np_fn=np_fn, out_dtype="int64")


def test_maximum_propagates_nan():
    a = np.array([1.0, np.nan, 3.0, np.nan], np.float32)
    b = np.array([np.nan, 2.0, 1.0, np.nan], np.float32)
    check_op(lambda lib, x, y: lib.maximum(x, y), a, b, np_fn=np.maximum)
    check_op(lambda lib, x, y: lib.minimum(x, y), a, b, np_fn=np.minimum)


@pytest.mark.parametrize("weight", [0.0, 0.25, 0.5, 0.75, 1.0, 1.5])
def test_lerp_scalar_weight(weight):
    s = rand_array((3, 4), "float64", seed=1)
    e = rand_array((4,), "float64", seed=2)
    ref = lambda s_, e_: s_ + weight * (e_ - s_)  # noqa: E731
    check_op(lambda lib, s_, e_: lib.lerp(s_, e_, weight), s, e, np_fn=ref, grad=True)
    check_op(lambda lib, s_, e_: s_.lerp(e_, weight), s.astype(np.float32), e.astype(np.float32),
             np_fn=ref)


def test_lerp_tensor_weight():
    s = rand_array((3, 4), "float64", seed=1)
    e = rand_array((3, 4), "float64", seed=2)
    w = rand_array((4,), "float64", seed=3, low=0.0, high=1.0)
    check_op(lambda lib, s_, e_, w_: lib.lerp(s_, e_, w_), s, e, w,
             np_fn=lambda s_, e_, w_: s_ + w_ * (e_ - s_), grad=True)


def test_pow_forms():
    a = rand_array((3, 4), "float64", positive=True)
    b = rand_array((3, 4), "float64", seed=4, low=-1, high=2)
    check_op(lambda lib, x, y: lib.pow(x, y), a, b, np_fn=np.power, grad=True)
    check_op(lambda lib, x: lib.pow(x, 3), a, np_fn=lambda x: x**3, grad=True)
    check_op(lambda lib, x: lib.pow(2.0, x), a, np_fn=lambda x: 2.0**x, grad=True)
    check_op(lambda lib, x: x.pow(0.5), a, np_fn=np.sqrt, grad=True)
    neg = -a
    check_op(lambda lib, x: x**2, neg, np_fn=lambda x: x**2, grad=True)  # negative base


@pytest.mark.skipif(torch_or_none is None, reason="PyTorch (the oracle) is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("exponent", [2, 3, -2, 0.5, -0.5, -1, 2.0])
def test_pow_by_a_number_gives_pytorchs_bits(dtype, exponent):
    """The exponents PyTorch computes as products, roots and reciprocals (x·x·x for 3,
    1/(x·x) for −2, …) give its bits, on a strided view past the threading threshold, with
    its PowBackward0 gradient; zeros, infinities, NaN and negative bases included. (0.5 and
    −0.5 are our `sqrt` and `rsqrt`, which round correctly: PyTorch's vector `sqrt` is
    off by an ulp on about 0.6% of float64 elements here, so those compare to 1 ulp.)"""
    torch = torch_or_none
    a = rand_array((300, 200), dtype, seed=5, low=-3, high=3)
    a[0, :6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30]
    x = rt.tensor(a).t().requires_grad_()
    tx = torch.tensor(a).t().requires_grad_()
    y, ty = x**exponent, tx**exponent
    if exponent in (0.5, -0.5):
        root = x.sqrt() if exponent == 0.5 else x.rsqrt()
        np.testing.assert_array_equal(to_np(y), to_np(root))
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(to_np(y), ty.detach().numpy(), rtol=eps, equal_nan=True)
    else:
        np.testing.assert_array_equal(to_np(y), ty.detach().numpy())
    assert y.grad_fn.name() == "PowBackward0"
    g = rand_array((200, 300), dtype, seed=6)
    y.backward(rt.tensor(g))
    ty.backward(torch.tensor(g))
    # (At −0.0 PyTorch's own gradient of x ** 0.5 is −inf on contiguous input and +inf on
    # strided input; ours is −inf on both.)
    keep = ~((a.T == 0) & np.signbit(a.T))
    np.testing.assert_allclose(to_np(x.grad)[keep], tx.grad.numpy()[keep], rtol=1e-6,
                               equal_nan=True)


def test_elementwise_result_is_a_new_tensor():
    a = rand_array((3, 4), "float32")
    x = make_tensor(rt, a).t()
    y = x.exp()
    y.zero_()
    assert_values(to_np(x), a.T)


@pytest.mark.skipif(torch_or_none is None, reason="PyTorch (the oracle) is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gamma_functions_match_torch(dtype):
    torch = torch_or_none
    # (no negative integers: they are poles, where PyTorch's polygamma returns rounding noise)
    a = np.concatenate([np.linspace(-4.7, 12.5, 70), [1e-6, 30.0, 150.0, 1e4, np.inf, np.nan]])
    special = np.array([0.0, -0.0, -1.0, -2.0, 1.0, 2.0])
    # (float64: PyTorch's trigamma is good to ~1e-10; ours, from ζ, to ~1e-14 of mpmath)
    rtol = 1e-5 if dtype == "float32" else 1e-9
    for values, ns in [(a, (0, 1, 2, 3)), (special, ())]:
        x = rt.tensor(values, dtype=getattr(rt, dtype))
        tx = torch.tensor(values, dtype=getattr(torch, dtype))
        pairs = [(x.lgamma(), tx.lgamma()), (rt.digamma(x), torch.digamma(tx))]
        pairs += [(rt.polygamma(n, x), torch.polygamma(n, tx)) for n in ns]
        for got, want in pairs:
            np.testing.assert_allclose(to_np(got), want.numpy(), rtol=rtol, atol=rtol)
    with pytest.raises(RuntimeError, match="negative n"):
        rt.polygamma(-1, x)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_small_signed_ints_wrap_and_divide_as_torch(dtype):
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    a = np.array([hi, lo, -7, 7, 0, lo], NP_DTYPES[dtype])
    b = np.array([2, -1, 2, -2, 3, 1], NP_DTYPES[dtype])
    with np.errstate(over="ignore"):
        check_op(lambda lib, x: x + 1, a, np_fn=lambda x: x + x.dtype.type(1), out_dtype=dtype)
        check_op(lambda lib, x: x * 3, a, np_fn=lambda x: x * x.dtype.type(3), out_dtype=dtype)
        check_op(lambda lib, x: -x, a, np_fn=np.negative, out_dtype=dtype)
        check_op(lambda lib, x: x.abs(), a, np_fn=np.abs, out_dtype=dtype)
    check_op(lambda lib, x, y: x // y, a[2:5], b[2:5], np_fn=np.floor_divide, out_dtype=dtype)
    check_op(lambda lib, x, y: x % y, a[2:5], b[2:5], np_fn=np.mod, out_dtype=dtype)
    check_op(lambda lib, x: x.sum(), a, np_fn=lambda x: x.astype(np.int64).sum(),
             out_dtype="int64")
    check_op(lambda lib, x: x.sort().values, a, np_fn=np.sort, out_dtype=dtype)
    check_op(lambda lib, x: x.max(), a, np_fn=np.max, out_dtype=dtype)
    check_op(lambda lib, x, y: x & y, a, b, np_fn=np.bitwise_and, out_dtype=dtype)
    check_op(lambda lib, x, y: x ^ y, a, b, np_fn=np.bitwise_xor, out_dtype=dtype)
    m = a.reshape(2, 3)
    with np.errstate(over="ignore"):
        check_op(lambda lib, x: x @ x.t(), m, np_fn=lambda x: x @ x.T, out_dtype=dtype)


@pytest.mark.parametrize("make", [
    lambda L: L.tensor(1.0) - L.tensor(True),
    lambda L: L.tensor([1, 2]) - True,
    lambda L: True - L.tensor([1.0]),
    lambda L: L.sub(L.tensor([1.0]), L.tensor([True]), alpha=2),
    lambda L: L.tensor([True]) - L.tensor([False]),
])
def test_subtraction_with_a_bool_raises(make):
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with") as ours:
        make(rt)
    if torch_or_none is not None:
        with pytest.raises(RuntimeError) as theirs:
            make(torch_or_none)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "uint8"])
@pytest.mark.parametrize(
    "name",
    ["logical_not_", "logical_and_", "logical_or_", "logical_xor_", "bitwise_not_",
     "bitwise_and_", "bitwise_or_", "bitwise_xor_"],
)
def test_logical_and_bitwise_in_place_keep_dtype(name, dtype):
    # PyTorch's in-place logical ops write 0/1 in self's dtype; bitwise ones refuse floats
    a_np, b_np = np.array([0, 1, 2, 0, 3]), np.array([1, 0, 2, 0, 1])
    a = rt.tensor(a_np).to(getattr(rt, dtype))
    b = rt.tensor(b_np).to(getattr(rt, dtype))
    if name.startswith("bitwise") and dtype == "float32":
        with pytest.raises(RuntimeError):
            getattr(a, name)(*([] if name == "bitwise_not_" else [b]))
        return
    np_dtype = np.bool_ if dtype == "bool" else getattr(np, dtype)
    a_ref, b_ref = a_np.astype(np_dtype), b_np.astype(np_dtype)
    ref = {
        "logical_not_": lambda: np.logical_not(a_ref),
        "logical_and_": lambda: np.logical_and(a_ref, b_ref),
        "logical_or_": lambda: np.logical_or(a_ref, b_ref),
        "logical_xor_": lambda: np.logical_xor(a_ref, b_ref),
        "bitwise_not_": lambda: np.invert(a_ref),
        "bitwise_and_": lambda: np.bitwise_and(a_ref, b_ref),
        "bitwise_or_": lambda: np.bitwise_or(a_ref, b_ref),
        "bitwise_xor_": lambda: np.bitwise_xor(a_ref, b_ref),
    }[name]().astype(np_dtype)
    out = getattr(a, name)(*([] if name.endswith("not_") else [b]))
    assert out is a and a.dtype == getattr(rt, dtype)
    np.testing.assert_array_equal(a.numpy(), ref)
