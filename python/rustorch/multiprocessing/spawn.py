"""``spawn`` and ``start_processes``: run ``fn(i, *args)`` in ``nprocs`` new processes and
report the first failure as an exception in the parent (``torch.multiprocessing.spawn``'s
contract).

A child that raises writes its traceback to a file the parent reads; the parent then ends
the other children (SIGTERM, then SIGKILL after a grace period) and raises
:class:`ProcessRaisedException` with that traceback, or :class:`ProcessExitedException` when a
child died without raising (an exit code or a signal).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import tempfile
import time
import warnings
from typing import Any, Callable, Optional

__all__ = [
    "ProcessContext",
    "ProcessException",
    "ProcessExitedException",
    "ProcessRaisedException",
    "SpawnContext",
    "spawn",
    "start_processes",
]


class ProcessException(Exception):
    """A child process of :func:`spawn` failed."""

    __slots__ = ["error_index", "error_pid"]

    def __init__(self, msg: str, error_index: int, error_pid: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self) -> tuple:
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """A child raised an exception; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A child exited with a nonzero code or was killed by a signal."""

    __slots__ = ["exit_code", "signal_name"]

    def __init__(
        self,
        msg: str,
        error_index: int,
        error_pid: int,
        exit_code: int,
        signal_name: Optional[str] = None,
    ) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self) -> tuple:
        return (
            type(self),
            (self.msg, self.error_index, self.error_pid, self.exit_code, self.signal_name),
        )


def _end_with_parent() -> None:
    """Asks Linux to send this process SIGINT when its parent dies (as PyTorch's children)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
        except (AttributeError, OSError):
            pass


def _wrap(fn: Callable[..., Any], i: int, args: tuple, error_file: str) -> None:
    """The child's entry: runs ``fn(i, *args)``; a raised exception's traceback goes to
    ``error_file`` and the process exits with code 1."""
    _end_with_parent()
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # the parent ended this process
    except Exception:
        import traceback

        with open(error_file, "wb") as fh:
            pickle.dump(traceback.format_exc(), fh)
        sys.exit(1)


class ProcessContext:
    """The children of one :func:`start_processes` call."""

    def __init__(self, processes: list, error_files: list[str]) -> None:
        self.error_files = error_files
        self.processes = processes
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self) -> list[int]:
        """The children's process ids."""
        return [int(p.pid) for p in self.processes]

    def _end_all(self, grace_seconds: float = 30.0) -> None:
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        deadline = time.monotonic() + grace_seconds
        for p in self.processes:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in self.processes:
            if p.is_alive():
                p.kill()
                p.join()

    def join(self, timeout: Optional[float] = None, grace_period: Optional[float] = None) -> bool:
        """Waits up to ``timeout`` seconds for a child to finish. Returns True once all have
        finished successfully, False while some still run; on the first failure ends the
        others and raises :class:`ProcessRaisedException` or
        :class:`ProcessExitedException`."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        error_index = None
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)
            p = self.processes[index]
            p.join()
            if p.exitcode != 0:
                error_index = index
                break
        if error_index is None:
            return not self.sentinels
        self._end_all(30.0 if grace_period is None else grace_period)
        failed = self.processes[error_index]
        pid = int(failed.pid)
        path = self.error_files[error_index]
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            code = int(failed.exitcode)
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"<Unknown signal {-code}>"
                raise ProcessExitedException(
                    f"process {error_index} terminated with signal {name}",
                    error_index,
                    pid,
                    code,
                    name,
                )
            raise ProcessExitedException(
                f"process {error_index} terminated with exit code {code}", error_index, pid, code
            )
        with open(path, "rb") as fh:
            original = pickle.load(fh)
        msg = f"\n\n-- Process {error_index} terminated with the following error:\n{original}"
        raise ProcessRaisedException(msg, error_index, pid)


class SpawnContext(ProcessContext):
    """Kept for code that names it (PyTorch deprecated it for :class:`ProcessContext`)."""


def start_processes(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> Optional[ProcessContext]:
    """Starts ``nprocs`` processes running ``fn(i, *args)`` with ``start_method``; joins
    them (raising on the first failure) when ``join``, else returns their
    :class:`ProcessContext`."""
    import rustorch.multiprocessing  # noqa: F401  (the tensor reductions)

    ctx = multiprocessing.get_context(start_method)
    error_files = []
    processes = []
    for i in range(nprocs):
        fd, path = tempfile.mkstemp(prefix="rustorch-spawn-", suffix=".err")
        os.close(fd)
        os.unlink(path)  # the child creates it only to report an error
        error_files.append(path)
        p = ctx.Process(target=_wrap, args=(fn, i, args, path), daemon=daemon)
        p.start()
        processes.append(p)
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    try:
        while not context.join():
            pass
    finally:
        for path in error_files:
            if os.path.exists(path):
                os.unlink(path)
    return None


def spawn(
    fn: Callable[..., Any],
    args: tuple = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> Optional[ProcessContext]:
    """Spawns ``nprocs`` processes that run ``fn(i, *args)`` (``torch.multiprocessing.spawn``);
    always with the ``spawn`` start method (another ``start_method`` warns, as PyTorch's; use
    :func:`start_processes` for others)."""
    if start_method != "spawn":
        warnings.warn(
            f"This method only supports start_method=spawn (got: {start_method}).\n"
            "To use a different start_method use:\n\t\t"
            " torch.multiprocessing.start_processes(...)",
            FutureWarning,
            stacklevel=2,
        )
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
