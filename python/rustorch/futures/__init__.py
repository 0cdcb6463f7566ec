"""``rustorch.futures``: ``Future``, ``collect_all`` and ``wait_all``, as ``torch.futures``.

A ``Future`` holds the result of work that completes later: a collective started with
``async_op=True`` (``Work.get_future()``), or whatever sets it with ``set_result``. Waiting
on a future made by ``then`` drives its parent first, so chains built on a collective's
future complete when they are waited for, on the waiting thread (PyTorch's run on the thread
that completes the parent). Exceptions and messages are PyTorch's.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, List, Optional, TypeVar

__all__ = ["Future", "collect_all", "wait_all"]

T = TypeVar("T")
S = TypeVar("S")


class Future(Generic[T]):
    """The result of an asynchronous computation (``torch.futures.Future``)."""

    def __init__(self, *, devices: Optional[List[Any]] = None) -> None:
        self._done = False
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._callbacks: List[Callable[["Future[T]"], None]] = []
        # Completes the future by blocking on what it waits for, or polls it without blocking
        # (set for futures backed by a collective or chained by `then`).
        self._drive: Optional[Callable[[], None]] = None
        self._poll: Optional[Callable[[], bool]] = None

    def done(self) -> bool:
        """Whether the future has a result or an exception (never blocks)."""
        if not self._done and self._poll is not None and self._poll():
            self._complete()
        return self._done

    def _complete(self) -> None:
        if not self._done and self._drive is not None:
            try:
                self._drive()
            except Exception as e:  # noqa: BLE001 - stored as the future's outcome
                if not self._done:
                    self.set_exception(e)

    def wait(self) -> T:
        """Blocks until the future completes; returns its value or raises its exception."""
        self._complete()
        if not self._done:
            raise RuntimeError(
                "Future.wait: nothing will complete this future (no set_result was called)"
            )
        return self.value()

    def value(self) -> T:
        """The value of a completed future (raises its exception if it failed)."""
        if not self._done:
            raise RuntimeError("Future.value: the future has not completed yet")
        if self._error is not None:
            raise self._error
        return self._value

    def _finish(self, value: Any, error: Optional[BaseException]) -> None:
        if self._done:
            raise RuntimeError(
                "Attempting to mark a completed Future as complete again. Note that a Future "
                "can only be marked completed once."
            )
        self._value, self._error, self._done = value, error, True
        callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def set_result(self, result: T) -> None:
        """Completes the future with ``result`` and runs its callbacks."""
        self._finish(result, None)

    def set_exception(self, result: Exception) -> None:
        """Completes the future with the exception ``result``; ``wait`` raises it."""
        if not isinstance(result, Exception):
            raise AssertionError(f"{result} is of type {type(result)}, not an Exception.")
        self._finish(None, result)

    def add_done_callback(self, callback: Callable[["Future[T]"], None]) -> None:
        """Runs ``callback(self)`` when the future completes (at once if it has)."""
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def then(self, callback: Callable[["Future[T]"], S]) -> "Future[S]":
        """A future of ``callback(self)``, run when this one completes; an exception the
        callback raises completes it with PyTorch's ``RuntimeError`` naming it."""
        child: Future[S] = Future()

        def run(parent: Future[T]) -> None:
            try:
                child.set_result(callback(parent))
            except Exception as e:  # noqa: BLE001 - becomes the child's outcome
                err = RuntimeError(
                    f"Got the following error when running the callback: "
                    f"{type(e).__name__}: {e}"
                )
                err.__cause__ = e
                child.set_exception(err)

        self.add_done_callback(run)
        child._drive = self._complete
        child._poll = self.done
        return child


def collect_all(futures: List[Future]) -> Future[List[Future]]:
    """A future completed with the list of ``futures`` once all of them complete."""
    out: Future[List[Future]] = Future()
    futures = list(futures)

    def drive() -> None:
        for f in futures:
            f._complete()
        if all(f._done for f in futures) and not out._done:
            out.set_result(futures)

    out._drive = drive
    out._poll = lambda: all(f.done() for f in futures)
    return out


def wait_all(futures: List[Future]) -> List[Any]:
    """Waits for every future and returns their values (raising the first exception)."""
    return [f.wait() for f in collect_all(futures).wait()]
