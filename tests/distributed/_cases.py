"""The case runner the rank programs share: each case's outcome ("ok" or its traceback) goes
into a dict that the program writes as JSON for tests/test_distributed.py."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Callable

import rustorch.distributed as dist


def case_runner(results: dict) -> Callable:
    """A decorator ``@case(name)`` that runs the function at once and records its outcome,
    then waits at a barrier so the ranks stay in step even when a case failed on one."""

    def case(name: str) -> Callable:
        def deco(f: Callable) -> Callable:
            try:
                f()
                results[name] = "ok"
            except Exception:  # noqa: BLE001 - reported per case
                results[name] = traceback.format_exc()
            dist.barrier()
            return f

        return deco

    return case


def write_results(results: dict) -> None:
    """Writes this rank's outcomes to ``<argv[1]>.<rank>`` for the test to read, waits for
    the other ranks and leaves the process group."""
    with open(f"{sys.argv[1]}.{dist.get_rank()}", "w") as f:
        json.dump(results, f)
    dist.barrier()
    dist.destroy_process_group()


def raises(kind: type, text: str, f: Callable) -> None:
    """Asserts that ``f()`` raises ``kind`` with ``text`` in its message."""
    try:
        f()
    except kind as e:
        assert text in str(e), (text, str(e))
        return
    raise AssertionError(f"no {kind.__name__} ({text})")
