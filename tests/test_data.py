"""rustorch.utils.data: datasets, samplers, collation and the DataLoader (incl. workers)."""

from __future__ import annotations

import collections
import multiprocessing
import threading
import warnings

import numpy as np
import pytest
from conftest import LIB_NAME, assert_values, rt, to_np, torch_or_none

if not hasattr(rt, "utils") or not hasattr(rt.utils, "data"):
    pytest.skip(f"{LIB_NAME} has no utils.data", allow_module_level=True)

data = rt.utils.data
DataLoader = data.DataLoader
TensorDataset = data.TensorDataset
default_collate = data.default_collate


def tensors(n=10):
    x = rt.arange(n * 2 * 3).reshape(n, 2, 3).to(rt.float32)
    y = rt.arange(n)
    return x, y


def flat(batches):
    """All samples of a list of (x, y) batches, as NumPy arrays."""
    xs = np.concatenate([to_np(b[0]) for b in batches])
    ys = np.concatenate([to_np(b[1]) for b in batches])
    return xs, ys


class Squares(data.Dataset):
    """A map-style dataset defined at module level (picklable for worker processes)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == 13:
            raise KeyError("no item 13")
        return {"x": np.full(2, float(i), dtype=np.float32), "y": i * i}


class Stream(data.IterableDataset):
    """An iterable dataset that shards itself across workers with get_worker_info()."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __iter__(self):
        info = data.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


# ---------------------------------------------------------------------------- datasets


def test_tensor_dataset_subset_concat():
    x, y = tensors()
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    sx, sy = ds[3]
    assert_values(to_np(sx), to_np(x)[3]) and int(sy) == 3
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, rt.arange(3))
    sub = data.Subset(ds, [4, 2, 9])
    assert len(sub) == 3 and int(sub[1][1]) == 2
    cat = data.ConcatDataset([sub, ds])
    assert len(cat) == 13 and int(cat[3][1]) == 0 and int(cat[-1][1]) == 9
    assert len(sub + ds) == 13
    with pytest.raises(ValueError, match="absolute value of index should not exceed"):
        cat[-14]


def test_random_split_lengths_fractions_and_determinism():
    ds = list(range(10))
    rt.manual_seed(0)
    a, b = data.random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3
    assert sorted(list(a) + list(b)) == ds
    rt.manual_seed(0)
    a2, _ = data.random_split(ds, [7, 3])
    assert list(a2) == list(a)
    parts = data.random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = data.random_split(list(range(11)), [0.5, 0.5])
    assert [len(p) for p in parts] == [6, 5]
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        data.random_split(ds, [5, 6])
    g1 = rt.Generator().manual_seed(42)
    g2 = rt.Generator().manual_seed(42)
    first = [list(p) for p in data.random_split(ds, [5, 5], generator=g1)]
    second = [list(p) for p in data.random_split(ds, [5, 5], generator=g2)]
    assert first == second


# ---------------------------------------------------------------------------- samplers


def test_samplers():
    assert list(data.SequentialSampler(range(4))) == [0, 1, 2, 3]
    rt.manual_seed(1)
    perm = list(data.RandomSampler(range(20)))
    assert sorted(perm) == list(range(20)) and perm != list(range(20))
    draws = list(data.RandomSampler(range(5), replacement=True, num_samples=70))
    assert len(draws) == 70 and set(draws) <= set(range(5))
    more = list(data.RandomSampler(range(5), num_samples=12))
    assert len(more) == 12 and sorted(more[:5]) == list(range(5))
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        data.RandomSampler(range(5), num_samples=0)
    sub = list(data.SubsetRandomSampler([10, 20, 30]))
    assert sorted(sub) == [10, 20, 30]
    batches = list(data.BatchSampler(data.SequentialSampler(range(10)), 3, drop_last=False))
    assert batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert len(data.BatchSampler(range(10), 3, drop_last=True)) == 3
    assert list(data.BatchSampler(range(10), 3, drop_last=True)) == batches[:3]
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        data.BatchSampler(range(10), 0, False)


# ---------------------------------------------------------------------------- collate


def test_default_collate_types():
    out = default_collate([rt.tensor([1.0, 2.0]), rt.tensor([3.0, 4.0])])
    assert_values(to_np(out), np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    ints = default_collate([0, 1, 2])
    assert str(ints.dtype).endswith("int64") and to_np(ints).tolist() == [0, 1, 2]
    floats = default_collate([0.5, 1.5])
    assert str(floats.dtype).endswith("float64")
    bools = default_collate([True, False])
    assert str(bools.dtype).endswith("bool")
    assert default_collate(["a", "b"]) == ["a", "b"]
    arrays = default_collate([np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)])
    assert tuple(arrays.shape) == (2, 2, 2) and str(arrays.dtype).endswith("float32")
    scalars = default_collate([np.float32(1.0), np.float32(2.0)])
    assert str(scalars.dtype).endswith("float32") and tuple(scalars.shape) == (2,)
    tup = default_collate([(0, 1), (2, 3)])
    assert isinstance(tup, list) and to_np(tup[0]).tolist() == [0, 2]
    lst = default_collate([[0, 1], [2, 3]])
    assert isinstance(lst, list) and to_np(lst[1]).tolist() == [1, 3]
    dct = default_collate([{"a": 0, "b": "x"}, {"a": 100, "b": "y"}])
    assert to_np(dct["a"]).tolist() == [0, 100] and dct["b"] == ["x", "y"]
    Point = collections.namedtuple("Point", ["x", "y"])
    pt = default_collate([Point(0, 0), Point(1, 1)])
    assert isinstance(pt, Point) and to_np(pt.x).tolist() == [0, 1]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        default_collate([np.array(["a"]), np.array(["b"])])
    conv = data.default_convert([np.array([1, 2]), (np.float64(1.5), "s")])
    assert isinstance(conv[0], rt.Tensor) and isinstance(conv[1], list)


def test_default_collate_matches_pytorch():
    torch = torch_or_none
    if torch is None:
        pytest.skip("PyTorch is not installed")
    from torch.utils.data import default_collate as torch_collate

    samples = [
        {"img": np.arange(4, dtype=np.float32) * i, "label": i, "w": 0.5 * i, "name": f"s{i}"}
        for i in range(3)
    ]
    ours = default_collate(samples)
    theirs = torch_collate(samples)
    assert list(ours) == list(theirs)
    for key in ("img", "label", "w"):
        assert str(ours[key].dtype).replace(LIB_NAME, "torch") == str(theirs[key].dtype)
        assert_values(to_np(ours[key]), to_np(theirs[key]))
    assert ours["name"] == theirs["name"]


# ---------------------------------------------------------------------------- DataLoader


def test_dataloader_batching_and_len():
    x, y = tensors(10)
    ds = TensorDataset(x, y)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert isinstance(batches[0], list) and len(batches[0]) == 2
    assert [tuple(b[0].shape) for b in batches] == [(4, 2, 3), (4, 2, 3), (2, 2, 3)]
    assert str(batches[0][1].dtype).endswith("int64")
    xs, ys = flat(batches)
    assert_values(xs, to_np(x)) and ys.tolist() == list(range(10))
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(list(DataLoader(ds, batch_size=4, drop_last=True))) == 2
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 10 and isinstance(single[0], list)  # tuples become lists
    assert tuple(single[0][0].shape) == (2, 3)
    bs = list(DataLoader(ds, batch_sampler=[[0, 1], [5]]))
    assert [to_np(b[1]).tolist() for b in bs] == [[0, 1], [5]]
    custom = list(DataLoader(ds, batch_size=5, collate_fn=lambda b: len(b)))
    assert custom == [5, 5]
    seq = list(DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 6]))
    assert [to_np(b[1]).tolist() for b in seq] == [[9, 8, 7], [6]]


def test_dataloader_fast_path_matches_per_sample_collation():
    x, y = tensors(23)
    ds = TensorDataset(x, y)
    rt.manual_seed(5)
    fast = list(DataLoader(ds, batch_size=5, shuffle=True))
    rt.manual_seed(5)
    slow = list(DataLoader(ds, batch_size=5, shuffle=True, collate_fn=lambda b: default_collate(b)))
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert type(a) is type(b) and len(a) == len(b)
        for ta, tb in zip(a, b):
            assert ta.dtype == tb.dtype and tuple(ta.shape) == tuple(tb.shape)
            assert_values(to_np(ta), to_np(tb))
    sub = data.Subset(ds, [3, -1, 7, 0])
    fast = list(DataLoader(sub, batch_size=3))
    slow = list(DataLoader(sub, batch_size=3, collate_fn=lambda b: default_collate(b)))
    for a, b in zip(fast, slow):
        for ta, tb in zip(a, b):
            assert_values(to_np(ta), to_np(tb))


def test_dataloader_shuffle_determinism():
    x, y = tensors(50)
    ds = TensorDataset(x, y)

    def order(seed=None, generator=None):
        if seed is not None:
            rt.manual_seed(seed)
        loader = DataLoader(ds, batch_size=8, shuffle=True, generator=generator)
        return [i for b in loader for i in to_np(b[1]).tolist()]

    a, b, c = order(0), order(0), order(1)
    assert sorted(a) == list(range(50)) and a != list(range(50))
    assert a == b and a != c
    rt.manual_seed(3)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    epoch1 = [i for bt in loader for i in to_np(bt[1]).tolist()]
    epoch2 = [i for bt in loader for i in to_np(bt[1]).tolist()]
    assert epoch1 != epoch2, "each epoch reshuffles"
    g = order(generator=rt.Generator().manual_seed(7))
    rt.manual_seed(123)
    h = order(generator=rt.Generator().manual_seed(7))
    assert g == h and sorted(g) == list(range(50))


def test_dataloader_map_dataset_with_dicts_and_errors():
    loader = DataLoader(Squares(6), batch_size=4)
    batches = list(loader)
    assert tuple(batches[0]["x"].shape) == (4, 2)
    assert to_np(batches[1]["y"]).tolist() == [16, 25]
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(Squares(3), sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(Squares(3), batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(Squares(3), num_workers=-1)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(Squares(3), persistent_workers=True)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(Squares(3), prefetch_factor=2)
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    loader = DataLoader(Squares(3))
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader"):
        loader.batch_size = 2
    if rt.cuda.is_available():
        # With a GPU, pinning is possible and PyTorch says nothing.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(list(DataLoader(Squares(3), pin_memory=True))) == 3
    else:
        with pytest.warns(UserWarning, match="'pin_memory' argument is set as true"):
            assert len(list(DataLoader(Squares(3), pin_memory=True))) == 3


def test_dataloader_iterable_dataset():
    assert [to_np(b).tolist() for b in DataLoader(Stream(7), batch_size=3)] == [
        [0, 1, 2], [3, 4, 5], [6],
    ]
    assert len(DataLoader(Stream(7), batch_size=3)) == 3
    assert len(list(DataLoader(Stream(7), batch_size=3, drop_last=True))) == 2
    assert [int(v) for v in DataLoader(Stream(3), batch_size=None)] == [0, 1, 2]


@pytest.mark.parametrize("persistent", [False, True])
def test_dataloader_workers_preserve_order(persistent):
    x, y = tensors(37)
    ds = TensorDataset(x, y)
    expected = list(DataLoader(ds, batch_size=4))
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=persistent)
    for _ in range(2):  # two epochs (workers reused when persistent)
        got = list(loader)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert_values(to_np(a[0]), to_np(b[0]))
            assert_values(to_np(a[1]), to_np(b[1]))
    # a broken-off epoch does not leak into the next one
    it = iter(loader)
    next(it)
    assert len(list(loader)) == len(expected)


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_dataloader_workers_run_in_parallel_and_worker_info():
    seen = set()
    lock = threading.Lock()

    class Slow(data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            info = data.get_worker_info()
            assert info is not None and info.num_workers == 3
            with lock:
                seen.add(info.id)
            return i

    inits = []
    loader = DataLoader(Slow(), batch_size=2, num_workers=3, worker_init_fn=inits.append)
    out = [v for b in loader for v in to_np(b).tolist()]
    assert out == list(range(16))
    if LIB_NAME != "torch":  # PyTorch's workers are processes: this state stays there
        assert seen == {0, 1, 2}
        assert sorted(inits) == [0, 1, 2]
    assert data.get_worker_info() is None


def test_dataloader_worker_exception_propagates():
    loader = DataLoader(Squares(20), batch_size=4, num_workers=2)
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process"):
        list(loader)
    with pytest.raises(KeyError):
        list(DataLoader(Squares(20), batch_size=4))


def test_dataloader_iterable_dataset_with_workers():
    loader = DataLoader(Stream(10), batch_size=2, num_workers=2)
    values = sorted(v for b in loader for v in to_np(b).tolist())
    assert values == list(range(10))


@pytest.mark.skipif(
    "spawn" not in multiprocessing.get_all_start_methods(), reason="no spawn start method"
)
def test_dataloader_worker_processes():
    ctx = "spawn"
    loader = DataLoader(Squares(10), batch_size=3, num_workers=2, multiprocessing_context=ctx)
    batches = list(loader)
    assert [to_np(b["y"]).tolist() for b in batches] == [[0, 1, 4], [9, 16, 25], [36, 49, 64], [81]]
    assert tuple(batches[0]["x"].shape) == (3, 2)


def test_single_process_loader_starts_no_threads():
    before = threading.active_count()
    list(DataLoader(Squares(4), batch_size=2))
    assert threading.active_count() == before
