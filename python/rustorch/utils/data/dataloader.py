"""``DataLoader``, matching ``torch.utils.data.DataLoader``.

Differences from PyTorch, all invisible in the batches produced:

* ``num_workers > 0`` loads in parallel with worker **threads** by default (rustorch's core
  keeps a native thread pool that does not survive ``fork``). Pass
  ``multiprocessing_context`` (``"spawn"``, ``"forkserver"``, ``"fork"`` or a context) to
  use worker processes instead, as PyTorch does. Either way batches come back in sampler
  order, at most ``prefetch_factor * num_workers`` ahead, and ``get_worker_info()``,
  ``worker_init_fn``, ``persistent_workers`` and ``timeout`` behave as in PyTorch.
* ``pin_memory=True`` copies each batch's tensors to page-locked memory when a GPU is
  available (as PyTorch's pin-memory thread does, but on the loading thread); with no
  accelerator it is ignored with PyTorch's warning.
* A :class:`TensorDataset` (or a :class:`Subset` of one) with the default collate function
  is batched by indexing each tensor once with the batch's indices instead of stacking
  per-sample views; the result is identical.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import queue
import random
import sys
import threading
import time
import traceback
import warnings
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

import rustorch
from rustorch.utils._misc import randint_list

from ._collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset, Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]

_MP_STATUS_CHECK_INTERVAL = 5.0


# ---------------------------------------------------------------------------- worker info


class WorkerInfo:
    r"""Information about the current DataLoader worker (``id``, ``num_workers``, ``seed``,
    ``dataset``), as returned by :func:`get_worker_info`."""

    id: int
    num_workers: int
    seed: int
    dataset: Dataset

    def __init__(self, **kwargs: Any) -> None:
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs.keys())
        self.__initialized = True

    def __setattr__(self, key: str, val: Any) -> None:
        if self.__dict__.get("_WorkerInfo__initialized", False):
            raise RuntimeError(
                f"Cannot assign attributes to {self.__class__.__name__} objects"
            )
        return super().__setattr__(key, val)

    def __repr__(self) -> str:
        items = [f"{k}={getattr(self, k)}" for k in self.__keys]
        return f"{self.__class__.__name__}({', '.join(items)})"


_worker_info: Optional[WorkerInfo] = None  # set in worker processes
_thread_worker_info = threading.local()  # set in worker threads


def get_worker_info() -> Optional[WorkerInfo]:
    r"""Return information about the current DataLoader worker, or ``None`` in the main
    process/thread. Use it in ``IterableDataset.__iter__`` or ``worker_init_fn`` to give
    each worker its share of the data."""
    info = getattr(_thread_worker_info, "info", None)
    if info is not None:
        return info
    return _worker_info


# ---------------------------------------------------------------------------- errors


class ExceptionWrapper:
    r"""Wraps an exception plus traceback to communicate it across threads/processes."""

    def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        r"""Reraise the wrapped exception in the current thread."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            # KeyError calls repr() on its argument (usually a dict key). This makes stack
            # traces unreadable. It will not be changed in Python
            # (https://bugs.python.org/issue2651), so we work around it.
            msg = _KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            # Some exceptions have first argument as non-str but explicitly
            # have message field
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            # If the exception takes multiple arguments or otherwise can't
            # be constructed, don't try to instantiate since we don't know how to
            raise RuntimeError(msg) from None
        raise exception


class _KeyErrorMessage(str):
    r"""str subclass that returns itself in repr"""

    def __repr__(self) -> str:
        return self


# ---------------------------------------------------------------------------- fetchers


def _pin(data: Any) -> Any:
    """``data`` with every tensor in it copied to page-locked memory (PyTorch's
    ``pin_memory`` of a batch: tensors, and sequences and mappings of them)."""
    from ... import Tensor

    if isinstance(data, Tensor):
        return data.pin_memory()
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_pin(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_pin(d) for d in data)
    if isinstance(data, dict):
        return {k: _pin(v) for k, v in data.items()}
    return data


class _DatasetKind:
    Map = 0
    Iterable = 1


class _InfiniteConstantSampler(Sampler):
    r"""Analogous to ``itertools.repeat(None, None)``; used as sampler for IterableDataset."""

    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


def _tensor_dataset_batch(dataset: Any, indices: Sequence[int]) -> Optional[list[Any]]:
    """Batch a TensorDataset (possibly behind Subsets) by indexing each tensor once.

    Returns exactly what ``default_collate([dataset[i] for i in indices])`` returns (a list
    of stacked tensors), or ``None`` when the dataset is not such a dataset.
    """
    idx = list(indices)
    ds = dataset
    while type(ds) is Subset:
        sub = ds.indices
        idx = [int(sub[i]) for i in idx]
        ds = ds.dataset
    if type(ds) is not TensorDataset or len(idx) == 0:
        return None
    n = len(ds)
    positions = np.asarray(idx, dtype=np.int64)
    if positions.min() < -n or positions.max() >= n:
        bad = next(i for i in idx if not -n <= i < n)
        raise IndexError(f"index {bad} is out of bounds for dimension 0 with size {n}")
    positions[positions < 0] += n
    index = rustorch.from_numpy(positions)
    return [t[index] for t in ds.tensors]


class _MapDatasetFetcher:
    def __init__(
        self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool
    ) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last

    def fetch(self, possibly_batched_index: Any) -> Any:
        if self.auto_collation:
            if self.collate_fn is default_collate:
                batch = _tensor_dataset_batch(self.dataset, possibly_batched_index)
                if batch is not None:
                    return batch
            getitems = getattr(self.dataset, "__getitems__", None)
            if getitems:
                data = getitems(possibly_batched_index)
            else:
                data = [self.dataset[idx] for idx in possibly_batched_index]
        else:
            data = self.dataset[possibly_batched_index]
        return self.collate_fn(data)


class _IterableDatasetFetcher:
    def __init__(
        self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool
    ) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, possibly_batched_index: Any) -> Any:
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if len(data) == 0 or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def _create_fetcher(
    kind: int, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool
) -> Any:
    if kind == _DatasetKind.Map:
        return _MapDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)
    return _IterableDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)


# ---------------------------------------------------------------------------- workers


class _ResumeIteration:
    r"""Dummy class used to resume the fetching when worker reuse is enabled."""


class _IterableDatasetStopIteration:
    r"""Dummy class used to signal the end of an IterableDataset."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


def _worker_loop(
    dataset_kind: int,
    dataset: Any,
    index_queue: Any,
    data_queue: Any,
    auto_collation: bool,
    collate_fn: Callable,
    drop_last: bool,
    base_seed: Optional[int],
    init_fn: Optional[Callable[[int], None]],
    worker_id: int,
    num_workers: int,
    is_process: bool,
) -> None:
    """Serve ``(send_idx, indices)`` tasks from ``index_queue`` until it yields ``None``."""
    global _worker_info
    seed = 0 if base_seed is None else base_seed + worker_id
    info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
    if is_process:
        _worker_info = info
        random.seed(seed)
        rustorch.manual_seed(seed)
        np.random.seed(seed & 0xFFFFFFFF)
    else:
        _thread_worker_info.info = info

    init_exception = None
    try:
        if init_fn is not None:
            init_fn(worker_id)
        fetcher = _create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
    except Exception:
        init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        fetcher = None

    iteration_end = False
    try:
        while True:
            r = index_queue.get()
            if r is None:
                break
            if isinstance(r, _ResumeIteration):
                # Acknowledge the main process
                data_queue.put((r, None))
                iteration_end = False
                if init_exception is None:
                    fetcher = _create_fetcher(
                        dataset_kind, dataset, auto_collation, collate_fn, drop_last
                    )
                continue
            idx, index = r
            data: Any
            if init_exception is not None:
                data = init_exception
                init_exception = None
            elif iteration_end:
                data = _IterableDatasetStopIteration(worker_id)
            else:
                try:
                    data = fetcher.fetch(index)  # type: ignore[union-attr]
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        # Set `iteration_end` so subsequent tasks are answered immediately
                        iteration_end = True
                    else:
                        # It is important that we don't store exc_info in a variable.
                        # `ExceptionWrapper` does the correct thing.
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            data_queue.put((idx, data))
            del data, idx, index, r  # save memory
    except KeyboardInterrupt:
        # Main process will raise KeyboardInterrupt anyways.
        pass
    finally:
        if not is_process:
            _thread_worker_info.info = None


# ---------------------------------------------------------------------------- iterators


class _BaseDataLoaderIter:
    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._profile_name = f"enumerate(DataLoader)#{self.__class__.__name__}.__next__"
        self._pin_memory = False
        if loader.pin_memory:
            from ... import cuda

            if cuda.is_available():
                self._pin_memory = True
            else:
                warnings.warn(
                    "'pin_memory' argument is set as true but no accelerator is found, "
                    "then device pinned memory won't be used.",
                    stacklevel=3,
                )

    def __iter__(self) -> _BaseDataLoaderIter:
        return self

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self) -> Any:
        return next(self._sampler_iter)  # may raise StopIteration

    def _next_data(self) -> Any:
        raise NotImplementedError

    def __next__(self) -> Any:
        data = self._next_data()
        if self._pin_memory:
            data = _pin(data)
        self._num_yielded += 1
        if (
            self._dataset_kind == _DatasetKind.Iterable
            and self._IterableDataset_len_called is not None
            and self._num_yielded > self._IterableDataset_len_called
        ):
            warn_msg = (
                f"Length of IterableDataset {self._dataset} was reported to be "
                f"{self._IterableDataset_len_called} (when accessing len(dataloader)), but "
                f"{self._num_yielded} samples have been fetched. "
            )
            if self._num_workers > 0:
                warn_msg += (
                    "For multiprocessing data-loading, this could be caused by not properly "
                    "configuring the IterableDataset replica at each worker. Please see "
                    "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset "
                    "for examples."
                )
            warnings.warn(warn_msg, stacklevel=2)
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self) -> Any:
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._dataset_fetcher = _create_fetcher(
            self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn,
            self._drop_last,
        )

    def _next_data(self) -> Any:
        index = self._next_index()  # may raise StopIteration
        return self._dataset_fetcher.fetch(index)  # may raise StopIteration


class _MultiWorkerDataLoaderIter(_BaseDataLoaderIter):
    """Workers (threads, or processes with a multiprocessing context) fetching in parallel.

    Tasks are handed round-robin to the workers' own index queues, at most
    ``prefetch_factor * num_workers`` outstanding, and results are reordered into sampler
    order -- PyTorch's ``_MultiProcessingDataLoaderIter`` protocol.
    """

    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor or 2
        self._persistent_workers = loader.persistent_workers
        self._in_order = loader.in_order
        ctx = loader.multiprocessing_context
        self._use_processes = ctx is not None
        if self._use_processes:
            if isinstance(ctx, str):
                ctx = multiprocessing.get_context(ctx)
            base_seed: Optional[int] = randint_list(2**31 - 1, 1, loader.generator)[0]
            self._data_queue: Any = ctx.Queue()
        else:
            base_seed = None
            self._data_queue = queue.Queue()
        self._worker_init_fn = loader.worker_init_fn

        self._index_queues: list[Any] = []
        self._workers: list[Any] = []
        for i in range(self._num_workers):
            index_queue = ctx.Queue() if self._use_processes else queue.Queue()
            args = (
                self._dataset_kind,
                self._dataset,
                index_queue,
                self._data_queue,
                self._auto_collation,
                self._collate_fn,
                self._drop_last,
                base_seed,
                self._worker_init_fn,
                i,
                self._num_workers,
                self._use_processes,
            )
            if self._use_processes:
                w = ctx.Process(target=_worker_loop, args=args, daemon=True)
            else:
                w = threading.Thread(
                    target=_worker_loop, args=args, daemon=True, name=f"DataLoaderWorker-{i}"
                )
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)
        self._shutdown = False
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        super()._reset(loader, first_iter)
        self._send_idx = 0  # idx of the next task to be sent to workers
        self._rcvd_idx = 0  # idx of the next task to be returned in __next__
        # information about data not yet yielded, i.e., tasks w/ indices in range
        # [rcvd_idx, send_idx). map: task idx => - (worker_id,) if data isn't fetched
        # (outstanding); - (worker_id, data) if data is already fetched (out-of-order)
        self._task_info: dict[int, tuple] = {}
        self._tasks_outstanding = 0
        self._workers_status = [True for _ in range(self._num_workers)]
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # resume the prefetching in case it was enabled
            for idx in range(self._num_workers):
                self._index_queues[idx].put(_ResumeIteration())
            resume_iteration_cnt = self._num_workers
            while resume_iteration_cnt > 0:
                return_idx, _return_data = self._get_data()
                if isinstance(return_idx, _ResumeIteration):
                    resume_iteration_cnt -= 1
        # prime the prefetch loop
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _get_data(self) -> tuple[Any, Any]:
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _MP_STATUS_CHECK_INTERVAL
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            try:
                return self._data_queue.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"DataLoader timed out after {self._timeout} seconds"
                    ) from None
                failed = [
                    w for i, w in enumerate(self._workers)
                    if self._workers_status[i] and not w.is_alive()
                ]
                if failed:
                    ids = ", ".join(str(getattr(w, "pid", None) or w.name) for w in failed)
                    self._shutdown_workers()
                    raise RuntimeError(
                        f"DataLoader worker (pid(s) {ids}) exited unexpectedly"
                    ) from None

    def _next_data(self) -> Any:
        while True:
            # If the worker responsible for `self._rcvd_idx` has already ended and was
            # unable to fulfill this task (due to exhausting an `IterableDataset`), we try
            # to advance `self._rcvd_idx` to find the next valid index.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    worker_id = info[0]
                    if len(info) == 2 or self._workers_status[worker_id]:  # has data or is active
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                # no valid `self._rcvd_idx` is found (i.e., didn't break)
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration

            # Now `self._rcvd_idx` is the batch index we want to fetch
            # Check if the next sample has already been generated
            if len(self._task_info[self._rcvd_idx]) == 2:
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

            if self._shutdown or self._tasks_outstanding <= 0:
                raise RuntimeError("DataLoader workers stopped before the data was fetched")
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._dataset_kind == _DatasetKind.Iterable:
                # Check for _IterableDatasetStopIteration
                if isinstance(data, _IterableDatasetStopIteration):
                    if self._persistent_workers:
                        self._workers_status[data.worker_id] = False
                    else:
                        self._mark_worker_as_unavailable(data.worker_id)
                    self._try_put_index()
                    continue

            if idx != self._rcvd_idx:
                # store out-of-order samples
                self._task_info[idx] += (data,)
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _try_put_index(self) -> None:
        max_tasks = self._prefetch_factor * self._num_workers
        if self._tasks_outstanding >= max_tasks:
            return
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # find the next active worker, if any
            worker_queue_idx = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_queue_idx]:
                break
        else:
            # not found (i.e., didn't break)
            return
        self._index_queues[worker_queue_idx].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_queue_idx,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data: Any, worker_idx: int) -> Any:
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _mark_worker_as_unavailable(self, worker_id: int) -> None:
        # Mark a worker as having finished its work e.g., due to exhausting an
        # `IterableDataset`, and ask it to exit.
        self._index_queues[worker_id].put(None)
        self._workers_status[worker_id] = False

    def _shutdown_workers(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        for q in self._index_queues:
            try:
                q.put(None)
            except Exception:  # pragma: no cover - queue already closed
                pass
        for w in self._workers:
            w.join(timeout=_MP_STATUS_CHECK_INTERVAL)
            if self._use_processes and w.is_alive():  # pragma: no cover - stuck worker
                w.terminate()
        if self._use_processes:
            for q in (*self._index_queues, self._data_queue):
                q.cancel_join_thread()
                q.close()

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


# ---------------------------------------------------------------------------- DataLoader


class DataLoader:
    r"""Combines a dataset and a sampler, and provides an iterable over the given dataset.

    Same arguments, defaults, validation errors and batching semantics as
    ``torch.utils.data.DataLoader`` (map-style and iterable-style datasets, automatic
    batching with ``batch_size``/``drop_last`` or ``batch_sampler``, ``batch_size=None``,
    ``shuffle`` via :class:`RandomSampler` (``generator`` or the global RNG), custom
    ``sampler`` / ``collate_fn``). See the module docstring for how ``num_workers``,
    ``pin_memory`` and the :class:`TensorDataset` fast path are handled.

    Args:
        dataset (Dataset): dataset from which to load the data.
        batch_size (int, optional): how many samples per batch to load (default: ``1``).
        shuffle (bool, optional): set to ``True`` to have the data reshuffled at every
            epoch (default: ``False``).
        sampler (Sampler or Iterable, optional): defines the strategy to draw samples.
        batch_sampler (Sampler or Iterable, optional): like :attr:`sampler`, but returns a
            batch of indices at a time. Mutually exclusive with :attr:`batch_size`,
            :attr:`shuffle`, :attr:`sampler`, and :attr:`drop_last`.
        num_workers (int, optional): how many workers to use for data loading.
        collate_fn (Callable, optional): merges a list of samples to form a mini-batch.
        pin_memory (bool, optional): accepted; no effect on CPU.
        drop_last (bool, optional): drop the last incomplete batch (default: ``False``).
        timeout (numeric, optional): seconds to wait for a batch from workers (0: forever).
        worker_init_fn (Callable, optional): called with each worker id in the worker.
        multiprocessing_context (str or context, optional): use worker processes.
        generator (Generator, optional): RNG used by :class:`RandomSampler` (and worker seeds).
        prefetch_factor (int, optional, keyword-only arg): batches loaded in advance by each
            worker (default: ``2`` when ``num_workers > 0``).
        persistent_workers (bool, optional): keep workers alive between epochs.
        pin_memory_device (str, optional): accepted; ignored.
        in_order (bool, optional): accepted; batches are always returned in order.
    """

    dataset: Dataset
    batch_size: Optional[int]
    num_workers: int
    pin_memory: bool
    drop_last: bool
    timeout: float
    sampler: Any
    prefetch_factor: Optional[int]
    _iterator: Optional[_BaseDataLoaderIter]
    __initialized = False

    def __init__(
        self,
        dataset: Dataset,
        batch_size: Optional[int] = 1,
        shuffle: Optional[bool] = None,
        sampler: Optional[Any] = None,
        batch_sampler: Optional[Any] = None,
        num_workers: int = 0,
        collate_fn: Optional[Callable[[list[Any]], Any]] = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Optional[Callable[[int], None]] = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: Optional[int] = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
                "to None."
            )
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(
                "multiprocessing_context can only be used with multi-process loading "
                f"(num_workers > 0), but got num_workers={num_workers}"
            )

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            elif sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, "
                    f"but got sampler={sampler}"
                )
            elif batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            # auto_collation with custom batch_sampler
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive "
                    "with batch_size, shuffle, sampler, and "
                    "drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None:
            # no auto_collation
            if drop_last:
                raise ValueError(
                    "batch_size=None option disables auto-batching "
                    "and is mutually exclusive with drop_last"
                )

        if sampler is None:  # give default samplers
            if self._dataset_kind == _DatasetKind.Iterable:
                # See NOTE [ Custom Samplers and IterableDataset ]
                sampler = _InfiniteConstantSampler()
            else:  # map-style
                if shuffle:
                    sampler = RandomSampler(dataset, generator=generator)  # type: ignore[arg-type]
                else:
                    sampler = SequentialSampler(dataset)  # type: ignore[arg-type]

        if batch_size is not None and batch_sampler is None:
            # auto_collation without custom batch_sampler
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator

        if collate_fn is None:
            if self._auto_collation:
                collate_fn = default_collate
            else:
                collate_fn = default_convert

        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers

        self.__initialized = True
        self._IterableDataset_len_called: Optional[int] = None
        self._iterator = None

    def _get_iterator(self) -> _BaseDataLoaderIter:
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        return _MultiWorkerDataLoaderIter(self)

    def __setattr__(self, attr: str, val: Any) -> None:
        if self.__initialized and attr in (
            "batch_size",
            "batch_sampler",
            "sampler",
            "drop_last",
            "dataset",
            "persistent_workers",
        ):
            raise ValueError(
                f"{attr} attribute should not be set after {self.__class__.__name__} is "
                "initialized"
            )
        super().__setattr__(attr, val)

    def __iter__(self) -> _BaseDataLoaderIter:
        # When using a single worker the returned iterator should be
        # created everytime to avoid resetting its state
        # However, in the case of a multiple workers iterator
        # the iterator is only created once in the lifetime of the
        # DataLoader object so that workers can be reused
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        # The actual sampler used for generating indices for `_DatasetFetcher`
        # (see _utils/fetch.py) to read data at each time. This would be
        # `.batch_sampler` if in auto-collation mode, and `.sampler` otherwise.
        if self._auto_collation:
            return self.batch_sampler
        return self.sampler

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            # NOTE [ IterableDataset and __len__ ]
            length = self._IterableDataset_len_called = len(self.dataset)  # type: ignore[assignment, arg-type]
            # IterableDataset doesn't allow custom sampler or batch_sampler
            if self.batch_size is not None:
                if self.drop_last:
                    length = length // self.batch_size
                else:
                    length = math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

