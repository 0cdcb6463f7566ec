"""A seeded slice of the API fuzzer (``benches/fuzz_api.py``; run it there for 10^5 calls
and more): random calls with random tensors and arguments on rustorch and PyTorch, each in
a guarded subprocess. No call may crash the process, panic, or succeed with values other
than PyTorch's."""

from __future__ import annotations

import pathlib
import sys

import pytest
from conftest import LIB_NAME, need_torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "benches"))
import fuzz_api  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1])
def test_fuzz_slice_never_crashes_panics_or_lies(seed):
    need_torch()
    result = fuzz_api.fuzz(seed, 1500, lib=LIB_NAME)
    counts = result["counts"]
    assert counts["ok"] > 1000, counts  # the calls really ran and mostly agree
    bad = [b for b in result["bad"] if b["kind"] in fuzz_api.NEVER]
    assert not bad, "\n".join(f"[{b['kind']}] {b['detail'][:300]} {b['case']}" for b in bad[:10])
