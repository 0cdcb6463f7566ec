"""``set_printoptions`` / ``get_printoptions`` / ``printoptions`` and ``Tensor.__format__``:
the text of tensors under each option must be PyTorch's under the same options."""

import math

import pytest
from conftest import LIB_NAME, need_torch, rand_array, rt

DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
            "sci_mode": None}


def _get(lib):
    """``get_printoptions`` lives in ``torch._tensor_str`` in PyTorch; we also expose it at
    the top level."""
    fn = getattr(lib, "get_printoptions", None)
    return fn() if fn is not None else lib._tensor_str.get_printoptions()


@pytest.fixture(autouse=True)
def _restore_defaults():
    """Every test starts and ends with the default options, in both libraries."""
    libs = [rt]
    torch = None
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        pass
    if torch is not None and torch is not rt:
        libs.append(torch)
    for lib in libs:
        lib.set_printoptions(profile="default")
    yield
    for lib in libs:
        lib.set_printoptions(profile="default", sci_mode=None)


TENSORS = {
    "mixed": lambda L: L.tensor([1.5, -20.123456, 300.0, 4e-3]),
    "small": lambda L: L.tensor([1e-5, 2.5e-6, 3.0]),
    "large": lambda L: L.tensor([1.2345e9, 2.0, -7.5]),
    "int_valued": lambda L: L.tensor([1.0, 100.0, 1000.0]),
    "int_valued_wide": lambda L: L.tensor([1.0, 1e6]),
    "ints": lambda L: L.arange(-5, 25).reshape(3, 10),
    "float64": lambda L: L.tensor(rand_array((3, 4), "float64", 1) * 50),
    "random_2d": lambda L: L.tensor(rand_array((5, 7), "float32", 2)),
    "long_row": lambda L: L.arange(40.0) / 3,
    "big_1d": lambda L: L.arange(2000.0) / 7,
    "big_2d": lambda L: L.arange(3000).reshape(30, 100),
    "big_3d": lambda L: L.arange(4096.0).reshape(16, 16, 16),
    "mid_1d": lambda L: L.arange(50),
    "scalar": lambda L: L.tensor(3.14159265),
    "nan_inf": lambda L: L.tensor([float("nan"), float("inf"), 1.25]),
    "zeros": lambda L: L.zeros(4),
    "grad": lambda L: L.tensor([0.5, 1.0], requires_grad=True) * 3,
}

OPTIONS = {
    "defaults": {},
    "precision2": {"precision": 2},
    "precision8": {"precision": 8},
    "precision0": {"precision": 0},
    "threshold10": {"threshold": 10},
    "threshold10_edge1": {"threshold": 10, "edgeitems": 1},
    "edge5": {"threshold": 20, "edgeitems": 5},
    "edge0": {"threshold": 10, "edgeitems": 0},
    "linewidth40": {"linewidth": 40},
    "linewidth200": {"linewidth": 200},
    "sci_true": {"sci_mode": True},
    "sci_false": {"sci_mode": False},
    "sci_true_precision2": {"sci_mode": True, "precision": 2},
    "profile_short": {"profile": "short"},
    "profile_full": {"profile": "full"},
    "profile_full_precision1": {"profile": "full", "precision": 1},
}


@pytest.mark.parametrize("opt", list(OPTIONS))
@pytest.mark.parametrize("name", list(TENSORS))
def test_repr_under_options_matches_pytorch(name, opt):
    torch = need_torch()
    kwargs = OPTIONS[opt]
    rt.set_printoptions(**kwargs)
    torch.set_printoptions(**kwargs)
    mine = TENSORS[name](rt)
    ref = TENSORS[name](torch)
    assert repr(mine).replace(LIB_NAME, "torch") == repr(ref)
    assert str(mine).replace(LIB_NAME, "torch") == str(ref)


# Texts spelled out, so the options are pinned where PyTorch is absent.
GOLDEN = [
    ({"precision": 2}, lambda L: L.tensor([1.12345]), "tensor([1.12])"),
    ({"threshold": 5}, lambda L: L.arange(10), "tensor([0, 1, 2,  ..., 7, 8, 9])"),
    ({"threshold": 5, "edgeitems": 1}, lambda L: L.arange(10), "tensor([0,  ..., 9])"),
    ({"sci_mode": True}, lambda L: L.tensor([1.5, 2.0]),
     "tensor([1.5000e+00, 2.0000e+00])"),
    ({"sci_mode": False}, lambda L: L.tensor([1e-5, 1.0]), "tensor([0.0000, 1.0000])"),
    ({"profile": "short"}, lambda L: L.tensor([1.0 / 3]), "tensor([0.33])"),
    ({"linewidth": 20}, lambda L: L.arange(6.0),
     "tensor([0., 1., 2.,\n        3., 4., 5.])"),
]


@pytest.mark.parametrize("kwargs, build, text", GOLDEN, ids=[g[2] for g in GOLDEN])
def test_repr_golden_under_options(kwargs, build, text):
    rt.set_printoptions(**kwargs)
    assert repr(build(rt)) == text


def test_full_profile_never_summarises():
    rt.set_printoptions(profile="full")
    text = repr(rt.arange(5000))
    assert "..." not in text and "4999" in text
    rt.set_printoptions(profile="default")
    assert "..." in repr(rt.arange(5000))


def test_get_printoptions_round_trip():
    assert _get(rt) == DEFAULTS
    rt.set_printoptions(precision=6, threshold=50, edgeitems=2, linewidth=120, sci_mode=True)
    opts = _get(rt)
    assert opts == {"precision": 6, "threshold": 50, "edgeitems": 2, "linewidth": 120,
                    "sci_mode": True}
    rt.set_printoptions(profile="default")
    # PyTorch: every call sets sci_mode (None unless given); the profile resets the rest.
    assert _get(rt) == DEFAULTS
    rt.set_printoptions(**opts)
    assert _get(rt) == opts
    rt.set_printoptions(profile="full")
    assert math.isinf(_get(rt)["threshold"])


def test_printoptions_context_manager_restores():
    cm = getattr(rt, "printoptions", None) or rt._tensor_str.printoptions
    x = rt.tensor([1.0 / 3])
    with cm(precision=1):
        assert repr(x) == "tensor([0.3])"
    assert repr(x) == "tensor([0.3333])"
    assert _get(rt) == DEFAULTS


def test_format_zero_dim_uses_item():
    x = rt.tensor(1.23456)
    assert f"{x:.2f}" == "1.23"
    assert f"{x:>10.3f}" == "     1.235"
    assert f"{rt.tensor(7):>4}" == "   7"
    assert f"{rt.tensor(7):b}" == "111"
    assert f"{rt.tensor(2.5, requires_grad=True):.1f}" == "2.5"
    assert "{:.3e}".format(rt.tensor(12345.0)) == "1.234e+04"


def test_format_empty_spec_is_str():
    x = rt.tensor([1.5, 2.0])
    assert f"{x}" == str(x) == "tensor([1.5000, 2.0000])"
    # A 0-d tensor formats its item() even with an empty spec (PyTorch's rule).
    assert f"{rt.tensor(2.5)}" == "2.5"
    assert str(rt.tensor(2.5)) == "tensor(2.5000)"


def test_format_spec_on_non_scalar_raises_like_pytorch():
    # PyTorch formats item() only for 0-d tensors; a one-element 1-d tensor with a spec
    # reaches object.__format__, which raises TypeError.
    with pytest.raises(TypeError):
        f"{rt.tensor([1.5]):.2f}"
    with pytest.raises(TypeError):
        f"{rt.tensor([1.5, 2.5]):.2f}"
