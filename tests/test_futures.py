"""rustorch.futures against torch.futures: the same scenarios, the same outcomes."""

from __future__ import annotations

import pytest
import rustorch

torch = pytest.importorskip("torch")


def scenario(futures) -> list:
    """What a user sees of a module's futures: values, chaining, callbacks, errors."""
    out = []

    def outcome(f):
        try:
            return ("value", f())
        except Exception as e:  # noqa: BLE001 - the outcome is compared
            return (type(e).__name__, str(e).split("\n")[0])

    f = futures.Future()
    out.append(f.done())
    calls = []
    f.add_done_callback(lambda fut: calls.append(fut.value()))
    g = f.then(lambda fut: fut.value() * 10)
    out.append(g.done())
    f.set_result(4)
    out += [f.done(), f.wait(), f.value(), calls, g.done(), g.wait()]
    out.append(outcome(lambda: f.set_result(5)))
    later = []
    f.add_done_callback(lambda fut: later.append(fut.value() + 1))
    out.append(later)
    h = futures.Future()
    bad = h.then(lambda fut: 1 / 0)
    h.set_result(1)
    out.append(outcome(bad.wait))
    e = futures.Future()
    e.set_exception(ValueError("bad"))
    out += [e.done(), outcome(e.wait), outcome(e.value)]
    out.append(outcome(lambda: e.then(lambda fut: fut.value()).wait()))
    a, b = futures.Future(), futures.Future()
    both = futures.collect_all([a, b])
    out.append(both.done())
    a.set_result("a")
    out.append(both.done())
    b.set_result("b")
    out += [both.done(), [x.value() for x in both.wait()], futures.wait_all([a, b])]
    return out


def test_futures_match_pytorch():
    ours, theirs = scenario(rustorch.futures), scenario(torch.futures)
    assert ours == theirs
    assert rustorch.futures.__all__ == torch.futures.__all__


def test_set_exception_needs_an_exception():
    for futures in (rustorch.futures, torch.futures):
        with pytest.raises(AssertionError, match="x is of type <class 'str'>, not an Exception"):
            futures.Future().set_exception("x")
