"""``torch.compile``: rustorch's returns the model or function itself (it runs eagerly);
the calling forms and argument checks are PyTorch's."""

import pytest
from conftest import LIB_NAME, rt, to_np

IS_RUSTORCH = LIB_NAME == "rustorch"


def _f(x):
    return x * 2 + 1


def test_compiled_function_and_decorators_compute_the_same():
    x = rt.arange(4.0)
    expected = to_np(_f(x))
    g = rt.compile(_f, backend="eager")

    @rt.compile(backend="eager", fullgraph=False, dynamic=None)
    def k(x):
        return x * 2 + 1

    for fn in (g, k):
        assert (to_np(fn(x)) == expected).all()


@pytest.mark.skipif(not IS_RUSTORCH, reason="PyTorch's default backend (Inductor) compiles "
                    "for tens of seconds")
def test_bare_decorator():
    @rt.compile
    def h(x):
        return x * 2 + 1

    assert (to_np(h(rt.arange(3.0))) == [1.0, 3.0, 5.0]).all()
    assert h.__name__ == "h"


def test_compiled_module_computes_the_same():
    rt.manual_seed(0)
    model = rt.nn.Linear(3, 2)
    compiled = rt.compile(model, backend="eager")
    x = rt.ones(4, 3)
    assert (to_np(compiled(x)) == to_np(model(x))).all()


@pytest.mark.skipif(not IS_RUSTORCH, reason="PyTorch wraps the model (OptimizedModule)")
def test_returns_the_object_itself():
    model = rt.nn.Linear(3, 2)
    assert rt.compile(model) is model
    assert rt.compile(_f, mode="max-autotune") is _f
    assert rt.compile(options={"x": 1})(_f) is _f
    assert rt.compile(_f, disable=True) is _f
    assert "eager" in rt.compile.__doc__
    assert list(rt.compile(model).state_dict()) == ["weight", "bias"]


def test_mode_and_options_together_raise():
    with pytest.raises(RuntimeError, match="Either mode or options"):
        rt.compile(_f, mode="default", options={"a": 1})


@pytest.mark.skipif(not IS_RUSTORCH, reason="only checked on rustorch: in PyTorch the "
                    "check sits in TorchDynamo, whose import is slow")
def test_not_callable_raises_like_pytorch():
    with pytest.raises(AssertionError, match="A callable function is expected"):
        rt.compile(3)
