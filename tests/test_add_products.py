"""The ``add*`` family against PyTorch: ``baddbmm``, ``addbmm``, ``addmv``, ``addr`` (a
product scaled by ``alpha`` added to ``beta·input``), ``addcmul`` and ``addcdiv``
(``input + value·t1·t2`` and ``input + value·t1/t2``), as functions, methods and in-place
methods: values and gradients in float64 and float32, integer coefficients, ``beta=0``,
dtype promotion, and PyTorch's errors."""

import numpy as np
import pytest
from conftest import (
    assert_same_error,
    assert_same_outcome,
    check_op,
    current_device,
    need_torch,
    rand_array,
    rt,
    to_np,
)

pytestmark = pytest.mark.usefixtures("device")

# (op, input shape, operand shapes)
PRODUCTS = [
    ("baddbmm", (2, 3, 5), (2, 3, 4), (2, 4, 5)),
    ("baddbmm", (5,), (2, 3, 4), (2, 4, 5)),  # the input broadcast
    ("addbmm", (3, 5), (2, 3, 4), (2, 4, 5)),
    ("addbmm", (1, 5), (3, 3, 4), (3, 4, 5)),
    ("addmv", (3,), (3, 4), (4,)),
    ("addmv", (), (3, 4), (4,)),
    ("addr", (3, 4), (3,), (4,)),
    ("addr", (4,), (3,), (4,)),
]
IDS = [f"{op}-{len(s)}d" for op, s, _, _ in PRODUCTS]
COEFFICIENTS = [(1, 1), (0.5, -2.0), (0, 1.5)]
PRODUCTS_BY_OP = [(op, (si, sa, sb)) for op, si, sa, sb in PRODUCTS]


@pytest.mark.parametrize("beta,alpha", COEFFICIENTS)
@pytest.mark.parametrize("op,si,sa,sb", PRODUCTS, ids=IDS)
def test_products_match_torch(op, si, sa, sb, beta, alpha):
    arrays = [rand_array(s, "float64", seed) for seed, s in enumerate((si, sa, sb))]
    check_op(lambda lib, c, a, b: getattr(lib, op)(c, a, b, beta=beta, alpha=alpha), *arrays,
             grad=True)
    for layout in ("contiguous", "transposed", "strided"):
        check_op(lambda lib, c, a, b: getattr(c, op)(a, b, beta=beta, alpha=alpha), *arrays,
                 dtype="float32", layout=layout)


@pytest.mark.parametrize("op,si,sa,sb", PRODUCTS, ids=IDS)
def test_a_zero_beta_ignores_nan_in_the_input_and_gives_it_a_zero_gradient(op, si, sa, sb):
    torch = need_torch()
    grads = []
    for lib in (rt, torch):
        c = lib.full(si, float("nan"), dtype=lib.float64)
        a, b = (lib.tensor(rand_array(s, "float64", i)) for i, s in ((1, sa), (2, sb)))
        if lib is rt:
            c, a, b = (t.to(current_device()) for t in (c, a, b))
        c.requires_grad_()
        out = getattr(lib, op)(c, a, b, beta=0, alpha=2)
        assert not np.isnan(to_np(out)).any()
        out.sum().backward()
        grads.append(to_np(c.grad))
    np.testing.assert_array_equal(grads[0], grads[1])
    assert (grads[0] == 0).all()


@pytest.mark.parametrize("beta,alpha", [(2, 3), (0.5, 1), (1.7, 2.7), (0, -1)])
@pytest.mark.parametrize("op,si,sa,sb", PRODUCTS, ids=IDS)
def test_integer_products_truncate_their_coefficients(op, si, sa, sb, beta, alpha):
    # PyTorch casts the coefficients to the integer type (addr refuses float ones).
    arrays = [rand_array(s, "int64", seed) for seed, s in enumerate((si, sa, sb))]

    def call(lib):
        c, a, b = (lib.tensor(x) for x in arrays)
        if lib is rt:
            c, a, b = (t.to(current_device()) for t in (c, a, b))
        return getattr(lib, op)(c, a, b, beta=beta, alpha=alpha)

    assert_same_outcome(call)


def test_addr_promotes_and_its_bool_sum_is_logical():
    check_op(lambda lib, c, a, b: lib.addr(c, a, b), rand_array((3, 4), "float32", 1),
             rand_array((3,), "float64", 2), rand_array((4,), "int64", 3))
    masks = [np.array(v, dtype=bool) for v in ([[1, 0], [0, 0], [1, 1]], [1, 0, 1], [0, 1])]
    for beta, alpha in ((True, True), (False, True), (True, False)):
        check_op(lambda lib, c, a, b, beta=beta, alpha=alpha: lib.addr(c, a, b, beta=beta,
                                                                       alpha=alpha), *masks)


BAD_PRODUCTS = [
    ("baddbmm", (2, 3, 5), (2, 3, 4), (3, 4, 5), {}),
    ("baddbmm", (2, 3, 5), (2, 3, 4), (2, 5, 5), {}),
    ("baddbmm", (2, 3, 4), (2, 3, 4), (2, 4, 5), {}),
    ("baddbmm", (2, 3, 5), (2, 3, 4), (2, 4, 5), {"b1": "float32"}),
    ("addbmm", (3, 5), (2, 3, 4), (2, 5, 5), {}),
    ("addbmm", (4, 5), (2, 3, 4), (2, 4, 5), {}),
    ("addbmm", (3, 5), (2, 3, 4), (2, 4, 5), {"c": "int64"}),
    ("addmv", (3,), (3, 4), (5,), {}),
    ("addmv", (4,), (3, 4), (4,), {}),
    ("addmv", (3,), (3, 4), (4, 1), {}),
    ("addmv", (1, 3), (3, 4), (4,), {}),
    ("addmv", (3,), (3, 4), (4,), {"b": "float32"}),
    ("addr", (3, 5), (3,), (4,), {}),
    ("addr", (3, 4), (3, 1), (4,), {}),
    ("addr", (3, 4), (3,), (4,), {"all": "int64", "beta": 0.5}),
    ("addr", (3, 4), (3,), (4,), {"all": "int64", "alpha": 2.0}),
]


@pytest.mark.parametrize("op,si,sa,sb,kw", BAD_PRODUCTS)
def test_product_errors_match_torch(op, si, sa, sb, kw):
    kw = dict(kw)
    common = kw.pop("all", "float64")
    dtypes = [kw.pop(k, common) for k in ("c", "b1", "b")]

    def call(lib):
        c, a, b = (lib.zeros(s, dtype=getattr(lib, d)) for s, d in zip((si, sa, sb), dtypes))
        if lib is rt:
            c, a, b = (t.to(current_device()) for t in (c, a, b))
        return getattr(lib, op)(c, a, b, **kw)

    assert_same_error(call)


@pytest.mark.parametrize("op", ["baddbmm", "addbmm", "addmv"])
def test_bool_products_are_refused_as_in_torch(op):
    if current_device() != "cpu":
        pytest.skip("PyTorch's message names its CPU kernel; compared on the CPU")
    shapes = dict(PRODUCTS_BY_OP)[op]
    assert_same_error(lambda lib: getattr(lib, op)(
        *(lib.zeros(s, dtype=lib.bool) for s in shapes)))

# (input, tensor1, tensor2) shapes: broadcasting every way
POINTWISE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((4,), (3, 1), (1, 4)), ((2, 1, 4), (3, 1), (4,)),
                    ((), (3,), ())]


@pytest.mark.parametrize("value", [1, 0.5, -2])
@pytest.mark.parametrize("shapes", POINTWISE_SHAPES, ids=str)
@pytest.mark.parametrize("op", ["addcmul", "addcdiv"])
def test_pointwise_match_torch(op, shapes, value):
    arrays = [rand_array(s, "float64", i, positive=i == 2) for i, s in enumerate(shapes)]
    check_op(lambda lib, c, a, b: getattr(lib, op)(c, a, b, value=value), *arrays, grad=True)
    check_op(lambda lib, c, a, b: getattr(c, op)(a, b, value=value), *arrays, dtype="float32",
             layout="strided")


def test_pointwise_gradcheck():
    x, a = (rt.tensor(rand_array((3, 4), "float64", i), requires_grad=True) for i in (1, 2))
    b = rt.tensor(rand_array((4,), "float64", 3, positive=True), requires_grad=True)
    assert rt.autograd.gradcheck(lambda x, a, b: rt.addcdiv(x, a, b, value=0.7), (x, a, b))
    assert rt.autograd.gradgradcheck(lambda x, a, b: rt.addcmul(x, a, b, value=-1.5),
                                     (x, a, b))


@pytest.mark.parametrize("op", ["addcmul", "addcdiv"])
@pytest.mark.parametrize("dtypes,value", [
    (("int64", "int64", "int64"), 2),
    (("int64", "int64", "int64"), 1.7),  # truncated to 1, as PyTorch casts it
    (("uint8", "uint8", "uint8"), 100),  # wraps
    (("int64", "float32", "float32"), 3),
    (("int64", "int64", "float32"), 3),
    (("float32", "float64", "float32"), 0.25),
    (("bool", "int64", "int64"), 1),
    (("bool", "bool", "bool"), 1),
    (("float32", "float32", "float32"), "x"),
])
def test_pointwise_dtypes_match_torch(op, dtypes, value):
    # Promotion over the three, integral coefficients truncated; addcdiv refuses two
    # integer operands and addcmul a bool result, with PyTorch's messages.
    arrays = [rand_array((3, 4), d if d != "bool" else "int64", i, positive=True)
              for i, d in enumerate(dtypes)]

    def call(lib):
        c, a, b = (lib.tensor(x).to(getattr(lib, d)) for x, d in zip(arrays, dtypes))
        if lib is rt:
            c, a, b = (t.to(current_device()) for t in (c, a, b))
        return getattr(lib, op)(c, a, b, value=value)

    if value == "x":
        assert_same_error(call)
    elif "bool" in dtypes and current_device() != "cpu":
        pytest.skip("PyTorch's message names its CPU kernel; compared on the CPU")
    else:
        # float32/float64 addcmul rounds once (a fused multiply-add) as PyTorch's: exact too
        assert_same_outcome(call)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_addcmul_and_lerp_round_as_pytorch_to_the_bit(dtype, layout):
    """addcmul is ``fma(value·t1, t2, self)`` and lerp ``fma(w, end − self, self)`` for
    ``|w| < 0.5``, else ``fma(−(end − self), 1 − w, end)``, as PyTorch's kernels (their
    compilers contract the product and the sum), the 16-bit types in float32 and rounded
    once; rounding each step differs from PyTorch in a fifth to a half of the elements."""
    torch = need_torch()
    g = np.random.default_rng(0)
    a, b, c = (g.standard_normal((64, 33)) for _ in range(3))
    w = g.standard_normal(33) * 0.6  # on both sides of ±0.5, broadcast

    def results(lib, dev):
        dt = getattr(lib, dtype)

        def t(x):
            x = lib.tensor(x, device=dev).to(dt)
            return x[:, ::2] if layout == "strided" else x

        x, y, z = t(a), t(b), t(c)
        wt = lib.tensor(w[::2] if layout == "strided" else w, device=dev).to(dt)
        return [lib.addcmul(x, y, z, value=0.3), lib.addcmul(x, y, z), x.addcmul(y, z, value=-2),
                lib.lerp(x, y, wt), lib.lerp(x, y, 0.3), lib.lerp(x, y, 0.75),
                x.clone().lerp_(y, wt), x.clone().addcmul_(y, z, value=0.7)]

    for ours, theirs in zip(results(rt, current_device()), results(torch, "cpu")):
        np.testing.assert_array_equal(to_np(ours), to_np(theirs))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_add_and_sub_with_alpha_round_as_pytorch_to_the_bit(dtype):
    """``add(x, y, alpha=a)`` is ``fma(a, y, x)`` in PyTorch (one rounding, ``sub`` with
    −a), out of place, in place (the one-pass ``p.add_(g, alpha=-lr)`` too), broadcast and
    with a number ``other``; two roundings differ from it in about a fifth of elements."""
    torch = need_torch()
    g = np.random.default_rng(1)
    a, b = g.standard_normal((50, 40)), g.standard_normal((50, 40))
    row = g.standard_normal(40)

    def results(lib, dev):
        x, y, r = (lib.tensor(v, device=dev).to(getattr(lib, dtype)) for v in (a, b, row))
        return [lib.add(x, y, alpha=0.3), lib.sub(x, y, alpha=-0.7), x.add(r, alpha=1.7),
                lib.add(x, 1.5, alpha=0.3), x.clone().add_(y, alpha=-0.01),
                x.clone().sub_(2.5, alpha=0.3), x[:, ::2].add(y[:, ::2], alpha=0.3)]

    for ours, theirs in zip(results(rt, current_device()), results(torch, "cpu")):
        np.testing.assert_array_equal(to_np(ours), to_np(theirs))


def test_addcmul_and_lerp_gradients_and_nodes_match_torch():
    x, a = (rt.tensor(rand_array((3, 4), "float64", i), requires_grad=True) for i in (1, 2))
    b = rt.tensor(rand_array((4,), "float64", 3), requires_grad=True)
    w = rt.tensor(rand_array((3, 1), "float64", 4), requires_grad=True)
    assert rt.autograd.gradcheck(lambda x, a, w: rt.lerp(x, a, w), (x, a, w))
    assert rt.autograd.gradgradcheck(lambda x, a, w: rt.lerp(x, a, w), (x, a, w))
    assert rt.autograd.gradcheck(lambda x, a: rt.lerp(x, a, 0.7), (x, a))
    names = [type(f.grad_fn).__name__ for f in (rt.addcmul(x, a, b), rt.lerp(x, a, w),
                                                 rt.lerp(x, a, 0.2))]
    assert names == ["AddcmulBackward0", "LerpBackward1", "LerpBackward0"]


@pytest.mark.parametrize("dtypes", [("float32", "float64", None), ("float64", "float16", None),
                                    ("int64", "float32", None), ("int32", "int32", None),
                                    ("bool", "bool", None), ("int64", "int64", "int64"),
                                    ("float32", "float32", "float64")])
def test_lerp_dtype_errors_match_torch(dtypes):
    """``end`` and a weight tensor must have self's float dtype: PyTorch's messages."""
    a, b, w = dtypes

    def call(lib):
        x, y = lib.zeros(2, dtype=getattr(lib, a)), lib.ones(2, dtype=getattr(lib, b))
        weight = 0.5 if w is None else lib.zeros(2, dtype=getattr(lib, w))
        return lib.lerp(x, y, weight)

    assert_same_error(call)


def test_pointwise_broadcast_errors_match_torch():
    assert_same_error(lambda lib: lib.addcmul(lib.zeros(3), lib.zeros(4), lib.zeros(3)))
    assert_same_error(lambda lib: lib.addcdiv(lib.zeros(3), lib.zeros(3), lib.zeros(2, 4)))


# (method, input shape, operand shapes, kwargs)
IN_PLACE = [
    ("baddbmm_", (2, 3, 5), (2, 3, 4), (2, 4, 5), {"beta": 0.5, "alpha": 2}),
    ("addbmm_", (3, 5), (2, 3, 4), (2, 4, 5), {"alpha": -1}),
    ("addmv_", (3,), (3, 4), (4,), {"beta": 2}),
    ("addr_", (3, 4), (3,), (4,), {"alpha": 3}),
    ("addmm_", (3, 5), (3, 4), (4, 5), {"beta": 0.5}),
    ("addcmul_", (3, 4), (3, 4), (4,), {"value": 2}),
    ("addcdiv_", (3, 4), (3, 1), (3, 4), {"value": -0.5}),
    ("lerp_", (3, 4), (3, 4), (4,), {}),
]


@pytest.mark.parametrize("method,si,sa,sb,kw", IN_PLACE, ids=[c[0] for c in IN_PLACE])
def test_in_place_forms_match_torch(method, si, sa, sb, kw):
    # The result is written into the input (same object back), and gradients flow through
    # the write to the input's history and to both operands.
    arrays = [rand_array(s, "float64", i, positive=i == 2) for i, s in enumerate((si, sa, sb))]

    def fn(lib, c, a, b):
        x = c * 1
        out = getattr(x, method)(a, b, **kw)
        assert out is x
        return x

    check_op(fn, *arrays, grad=True)


@pytest.mark.parametrize("method", ["addcmul_", "addcdiv_", "addr_"])
def test_in_place_forms_keep_the_input_dtype_as_torch(method):
    # A float result cannot go into an integer input; a wider float is rounded into it.
    for dtypes in (("int64", "float32"), ("float32", "float64")):
        shapes = ((3, 4), (3,), (4,)) if method == "addr_" else ((3, 4), (3, 4), (4,))

        def call(lib, dtypes=dtypes, shapes=shapes):
            c, a, b = (lib.ones(s, dtype=getattr(lib, d)) * 2
                       for s, d in zip(shapes, (dtypes[0], dtypes[1], dtypes[1])))
            if lib is rt:
                c, a, b = (t.to(current_device()) for t in (c, a, b))
            return getattr(c, method)(a, b)

        assert_same_outcome(call)


@pytest.mark.parametrize("op,si,sa,sb", PRODUCTS, ids=IDS)
def test_products_gradcheck(op, si, sa, sb):
    args = [rt.tensor(rand_array(s, "float64", i), requires_grad=True,
                      device=current_device()) for i, s in enumerate((si, sa, sb))]
    fn = lambda c, a, b: getattr(rt, op)(c, a, b, beta=0.5, alpha=-1.5)  # noqa: E731
    assert rt.autograd.gradcheck(fn, args)
    assert rt.autograd.gradgradcheck(fn, args)
