"""``torch.profiler`` / ``torch.autograd.profiler``: recorded ranges (names, nesting, counts,
consistent times), PyTorch's schedule, the step state machine, the chrome trace and the
summary table."""

import json
import os
import time
import warnings

import pytest
from conftest import LIB_NAME, need_torch, rt

profiler = rt.profiler
ProfilerAction = profiler.ProfilerAction
IS_RUSTORCH = LIB_NAME == "rustorch"


def _named(events, name):
    return [e for e in events if e.name == name]


def _busy(us=200):
    """Spin for ``us`` microseconds so ranges have measurable length."""
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        continue


def _check_times(events):
    """Every duration is non-negative, children lie within their parent and their totals
    add up to at most the parent's; self time is total minus the children's."""
    for e in events:
        assert e.cpu_time_total >= 0
        assert e.time_range.end >= e.time_range.start
        kids = e.cpu_children
        assert e.cpu_time_total + 1e-3 >= sum(c.cpu_time_total for c in kids)
        assert e.self_cpu_time_total == pytest.approx(
            e.cpu_time_total - sum(c.cpu_time_total for c in kids), abs=1e-3)
        for c in kids:
            assert c.cpu_parent is e
            assert c.time_range.start >= e.time_range.start - 1e-3
            assert c.time_range.end <= e.time_range.end + 1e-3


def _user_events(events):
    """The record_function ranges (PyTorch also records aten:: ops and python frames)."""
    return [e for e in events if not e.name.startswith(("aten::", "cuda", "[memory]"))]


def test_record_function_ranges_nesting_and_counts():
    with profiler.profile(activities=[profiler.ProfilerActivity.CPU]) as prof:
        with profiler.record_function("outer"):
            for _ in range(3):
                with profiler.record_function("inner"):
                    _busy()
                    with profiler.record_function("leaf"):
                        _busy()
        with profiler.record_function("after"):
            _busy()
    events = prof.events()
    (outer,) = _named(events, "outer")
    inner = _named(events, "inner")
    leaf = _named(events, "leaf")
    assert len(inner) == 3 and len(leaf) == 3 and len(_named(events, "after")) == 1
    assert [c.name for c in outer.cpu_children if c.name == "inner"] == ["inner"] * 3
    for i in inner:
        assert i.cpu_parent is outer
        assert [c.name for c in i.cpu_children if c.name == "leaf"] == ["leaf"]
    assert outer.cpu_parent is None
    assert _named(events, "after")[0].cpu_parent is None
    _check_times(events)
    assert outer.cpu_time_total >= sum(i.cpu_time_total for i in inner)
    assert outer.cpu_time_total >= 6 * 200  # six busy waits of 200us inside
    # key averages: one row per name, counts and totals added up
    avgs = {a.key: a for a in prof.key_averages()}
    assert avgs["inner"].count == 3 and avgs["leaf"].count == 3 and avgs["outer"].count == 1
    assert avgs["inner"].cpu_time_total == pytest.approx(sum(i.cpu_time_total for i in inner))
    assert avgs["inner"].cpu_time == pytest.approx(avgs["inner"].cpu_time_total / 3)


def test_record_function_as_decorator_and_outside_profiler():
    @profiler.record_function("decorated")
    def f(x):
        return x + 1

    assert f(1) == 2  # no profiler running: nothing recorded, no error
    with profiler.record_function("lonely") as r:
        assert r is not None
    with profiler.profile() as prof:
        for i in range(4):
            assert f(i) == i + 1
    names = [e.name for e in prof.events()]
    assert names.count("decorated") == 4
    assert "lonely" not in names


def test_range_recorded_when_body_raises():
    with profiler.profile() as prof:
        with pytest.raises(ValueError):
            with profiler.record_function("boom"):
                raise ValueError("x")
        with profiler.record_function("next"):
            pass
    events = prof.events()
    assert len(_named(events, "boom")) == 1
    (nxt,) = _named(events, "next")
    assert nxt.cpu_parent is None  # the failed range was closed


def test_module_forward_and_optimizer_step_ranges():
    nn = rt.nn
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = rt.optim.SGD(model.parameters(), lr=0.1)
    x = rt.ones(3, 4)
    with profiler.profile(with_modules=True) as prof:
        for _ in range(2):
            with profiler.record_function("train_step"):
                opt.zero_grad()
                model(x).sum().backward()
                opt.step()
    events = prof.events()
    steps = _named(events, "Optimizer.step#SGD.step")
    assert len(steps) == 2  # PyTorch's name for the step range
    for s in steps:
        assert s.cpu_parent is not None and s.cpu_parent.name == "train_step"
    _check_times(events)
    if IS_RUSTORCH:
        # rustorch records module calls as ranges named after the class (PyTorch shows
        # their aten ops instead)
        seq = _named(events, "Sequential")
        assert len(seq) == 2 and len(_named(events, "Linear")) == 4
        assert len(_named(events, "ReLU")) == 2
        for s in seq:
            assert sorted(c.name for c in s.cpu_children) == ["Linear", "Linear", "ReLU"]
            assert s.cpu_parent.name == "train_step"
        import rustorch.nn.modules.module as module_mod
        import rustorch.optim.optimizer as optimizer_mod

        assert module_mod._profiler_range is None  # hooks off once the profiler stops
        assert optimizer_mod._profiler_range is None
        with profiler.record_function("not_recorded"):
            model(x)
        assert len(prof.events()) == len(events)


@pytest.mark.parametrize("kwargs", [
    dict(wait=1, warmup=1, active=2),
    dict(wait=1, warmup=1, active=2, repeat=2),
    dict(wait=0, warmup=2, active=1, repeat=3, skip_first=2),
    dict(wait=2, warmup=1, active=3, skip_first=1),
    dict(wait=0, warmup=0, active=1),
    dict(wait=3, warmup=0, active=2, repeat=1),
    dict(wait=5, warmup=1, active=1, skip_first=3, skip_first_wait=1),
])
def test_schedule_matches_pytorch(kwargs):
    torch = need_torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = profiler.schedule(**kwargs)
        ref = torch.profiler.schedule(**kwargs)
    assert [mine(i).name for i in range(20)] == [ref(i).name for i in range(20)]


def test_schedule_golden_and_errors():
    s = profiler.schedule(wait=1, warmup=1, active=2, repeat=1)
    A = ProfilerAction
    assert [s(i) for i in range(6)] == [A.NONE, A.WARMUP, A.RECORD, A.RECORD_AND_SAVE,
                                        A.NONE, A.NONE]
    with pytest.raises(AssertionError):
        profiler.schedule(wait=0, warmup=1, active=0)
    with pytest.raises(AssertionError):
        s(-1)
    with pytest.warns(UserWarning, match="warmup"):
        profiler.schedule(wait=0, warmup=0, active=1)


def test_profile_step_schedule_cycles_and_trace_ready():
    ready = []

    def on_ready(p):
        steps = [e for e in p.events() if e.name == "ProfilerStep*"]  # PyTorch's wildcard
        ready.append(sorted(e.trace_name for e in steps))

    sched = profiler.schedule(wait=1, warmup=1, active=2, repeat=2)
    with profiler.profile(schedule=sched, on_trace_ready=on_ready) as prof:
        for _ in range(10):
            with profiler.record_function("work"):
                pass
            prof.step()
    # two cycles: steps 2-3 and 6-7 recorded, each saved once
    assert ready == [["ProfilerStep#2", "ProfilerStep#3"], ["ProfilerStep#6", "ProfilerStep#7"]]
    events = prof.events()  # the last cycle's events
    work = _named(events, "work")
    assert len(work) == 2
    assert sorted(w.cpu_parent.trace_name for w in work) == ["ProfilerStep#6", "ProfilerStep#7"]
    assert [a.count for a in prof.key_averages() if a.key == "ProfilerStep*"] == [2]


def test_profile_start_stop_and_trace_ready_at_stop():
    calls = []
    prof = profiler.profile(on_trace_ready=lambda p: calls.append(len(p.events())))
    prof.start()
    with profiler.record_function("a"):
        pass
    prof.step()  # no schedule: still recording, no ProfilerStep ranges
    with profiler.record_function("b"):
        pass
    prof.stop()
    assert len(calls) == 1
    names = [e.name for e in prof.events()]
    assert "a" in names and "b" in names
    assert not any(n.startswith("ProfilerStep") for n in names)


def _traced(**kwargs):
    with profiler.profile(**kwargs) as prof:
        with profiler.record_function("traced_outer"):
            with profiler.record_function("traced_inner"):
                _busy(50)
    return prof


def test_chrome_trace_and_tensorboard_handler(tmp_path):
    # PyTorch saves a trace once per profile: the handler and export get one each.
    _traced(on_trace_ready=profiler.tensorboard_trace_handler(str(tmp_path / "tb"), "worker0"))
    prof = _traced()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    data = json.loads(path.read_text())
    assert isinstance(data["traceEvents"], list)
    by_name = {e["name"]: e for e in data["traceEvents"] if e.get("ph") == "X"}
    outer, inner = by_name["traced_outer"], by_name["traced_inner"]
    assert outer["dur"] >= inner["dur"] >= 0
    assert outer["ts"] <= inner["ts"]
    assert inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"] + 1
    files = os.listdir(tmp_path / "tb")
    assert len(files) == 1 and files[0].startswith("worker0.")
    assert files[0].endswith(".pt.trace.json")
    tb = json.loads((tmp_path / "tb" / files[0]).read_text())
    assert "traced_inner" in {e.get("name") for e in tb["traceEvents"]}


def test_table_columns_and_rows():
    with profiler.profile() as prof:
        with profiler.record_function("table_outer"):
            for _ in range(2):
                with profiler.record_function("table_inner"):
                    _busy(100)
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
    lines = table.splitlines()
    header = lines[1]
    cols = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg",
            "# of Calls"]
    for col in cols:
        assert col in header
    positions = [header.index(c) for c in ["Self CPU %", "CPU total %", "CPU time avg",
                                           "# of Calls"]]
    assert positions == sorted(positions)
    assert lines[0].startswith("---") and lines[2].startswith("---")
    rows = {line.split()[0]: line.split() for line in lines[3:] if line.strip()
            and not line.startswith(("---", "Self CPU"))}
    assert rows["table_outer"][-1] == "1" and rows["table_inner"][-1] == "2"
    assert rows["table_outer"][3] == "100.00%"  # outer's total is the whole recorded time
    # sorted by total time: the outer range comes before the inner one
    names = [r.split()[0] for r in lines[3:]]
    assert names.index("table_outer") < names.index("table_inner")
    assert lines[-1].startswith("Self CPU time total:")
    limited = prof.key_averages().table(sort_by="cpu_time_total", row_limit=1)
    assert "table_outer" in limited and "table_inner" not in limited


def test_legacy_autograd_profiler():
    ap = rt.autograd.profiler
    with ap.profile(use_cuda=False) as prof:
        with ap.record_function("legacy_outer"):
            with ap.record_function("legacy_inner"):
                _busy(50)
    events = prof.function_events
    (outer,) = _named(events, "legacy_outer")
    (inner,) = _named(events, "legacy_inner")
    assert inner.cpu_parent is outer
    _check_times(_user_events(events))
    assert "legacy_outer" in prof.key_averages().table(sort_by="self_cpu_time_total")
    assert prof.self_cpu_time_total >= outer.cpu_time_total - 1e-3
    assert "legacy_inner" in str(prof)


def test_legacy_profiler_not_reentrant_and_unfinished():
    ap = rt.autograd.profiler
    prof = ap.profile()
    with prof:
        with pytest.raises(RuntimeError):
            prof.__enter__()
    p2 = ap.profile()  # not run yet: empty results, as PyTorch's
    assert len(p2.key_averages()) == 0
    assert p2.self_cpu_time_total == 0
