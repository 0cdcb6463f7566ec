"""The device API: tensors and modules on a GPU, mixed-device errors, memory statistics, out
of memory, events, pinned memory, the default device, TF32, and a training step on the GPU
against the CPU. GPU tests skip without one; the device-independent parts always run.

Compared with PyTorch (CPU oracle) where a value is involved; device behaviour follows
PyTorch's documented API and messages.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_torch, rt, to_np

HAS_GPU = rt.cuda.is_available()
needs_gpu = pytest.mark.skipif(
    not HAS_GPU, reason="CUDA is not available: no NVIDIA GPU and driver on this machine"
)


# ---- always -----------------------------------------------------------------------------------


def test_default_device_context_and_setter():
    assert rt.get_default_device() == rt.device("cpu")
    with rt.device("cpu"):
        assert rt.ones(2).device == rt.device("cpu")
    rt.set_default_device("cpu")
    assert rt.zeros(1).device.type == "cpu"
    rt.set_default_device(None)
    assert rt.get_default_device() == rt.device("cpu")


def test_tf32_switches_follow_pytorch_defaults():
    assert rt.backends.cuda.matmul.allow_tf32 is False
    assert rt.get_float32_matmul_precision() == "highest"
    rt.set_float32_matmul_precision("high")
    try:
        assert rt.backends.cuda.matmul.allow_tf32 is True
        assert rt.get_float32_matmul_precision() == "high"
    finally:
        rt.set_float32_matmul_precision("highest")
    assert rt.backends.cuda.matmul.allow_tf32 is False
    with pytest.raises(RuntimeError):
        rt.set_float32_matmul_precision("fastest")


def test_accelerator_api_agrees_with_cuda():
    assert rt.accelerator.is_available() == rt.cuda.is_available()
    assert rt.accelerator.device_count() == rt.cuda.device_count()
    acc = rt.accelerator.current_accelerator()
    assert (acc is None) == (not HAS_GPU)
    assert rt.accelerator.current_device_index() == rt.cuda.current_device()


def test_out_of_memory_error_is_a_runtime_error():
    assert issubclass(rt.cuda.OutOfMemoryError, RuntimeError)


def test_memory_queries_answer_without_touching_a_device():
    for f in (rt.cuda.memory_allocated, rt.cuda.memory_reserved, rt.cuda.max_memory_allocated):
        assert isinstance(f(0), int) and f(0) >= 0
    rt.cuda.empty_cache()
    rt.cuda.reset_peak_memory_stats(0)


def test_device_objects():
    assert rt.device("cuda", 1) == rt.device("cuda:1")
    assert rt.device(2) == rt.device("cuda:2")
    assert str(rt.device("cuda")) == "cuda"
    with pytest.raises(RuntimeError):
        rt.device("cuda:0", 1)
    with pytest.raises(RuntimeError):
        rt.device("cuda:x")


@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")
def test_without_gpu_pinning_and_loaders_say_why():
    with pytest.raises(RuntimeError):
        rt.ones(3).pin_memory()
    ds = rt.utils.data.TensorDataset(rt.arange(6.0))
    with pytest.warns(UserWarning, match="no accelerator"):
        batches = list(rt.utils.data.DataLoader(ds, batch_size=4, pin_memory=True))
    assert [b[0].tolist() for b in batches] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]


# ---- with a GPU -----------------------------------------------------------------------------


@needs_gpu
def test_round_trip_and_device_attributes():
    x = rt.arange(12.0).reshape(3, 4)
    g = x.cuda()
    assert g.is_cuda and g.device == rt.device("cuda:0") and g.get_device() == 0
    assert not x.is_cuda and x.get_device() == -1
    assert g.to("cuda") is g
    back = g.cpu()
    assert back.device.type == "cpu"
    assert back.tolist() == x.tolist()
    assert g.t().contiguous().cpu().tolist() == x.t().tolist()
    assert float(g.sum()) == 66.0 and g[1, 2].item() == 6.0


@needs_gpu
def test_mixed_devices_raise_pytorchs_error():
    a, b = rt.ones(3, device="cuda"), rt.ones(3)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        _ = a + b
    with pytest.raises(RuntimeError, match="cuda:0 and cpu"):
        _ = rt.ones(2, 3, device="cuda") @ rt.ones(3, 2)
    # A 0-d CPU tensor joins as a number, as in PyTorch.
    assert (a + rt.tensor(2.0)).cpu().tolist() == [3.0, 3.0, 3.0]


@needs_gpu
def test_numpy_of_cuda_tensor_raises():
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        rt.ones(2, device="cuda").numpy()


@needs_gpu
def test_default_device_cuda_creates_on_gpu():
    with rt.device("cuda"):
        assert rt.zeros(2).is_cuda and rt.tensor([1, 2]).is_cuda
        assert rt.randn(3).is_cuda and rt.arange(4).is_cuda
    assert not rt.zeros(2).is_cuda


@needs_gpu
def test_memory_statistics_follow_allocations():
    rt.cuda.synchronize()
    base = rt.cuda.memory_allocated()
    x = rt.empty(1 << 20, device="cuda")  # 4 MiB
    assert rt.cuda.memory_allocated() >= base + (4 << 20)
    assert rt.cuda.max_memory_allocated() >= rt.cuda.memory_allocated()
    assert rt.cuda.memory_reserved() >= rt.cuda.memory_allocated()
    del x
    assert rt.cuda.memory_allocated() == base
    rt.cuda.empty_cache()
    free, total = rt.cuda.mem_get_info()
    assert 0 < free <= total


@needs_gpu
def test_out_of_memory_raises_and_the_device_recovers():
    free, total = rt.cuda.mem_get_info()
    with pytest.raises(rt.cuda.OutOfMemoryError, match="CUDA out of memory"):
        rt.empty(2 * total // 4 + (1 << 30), 2, device="cuda")
    x = rt.ones(1000, device="cuda")
    assert float(x.sum()) == 1000.0


@needs_gpu
def test_events_time_work():
    start, end = rt.cuda.Event(enable_timing=True), rt.cuda.Event(enable_timing=True)
    start.record()
    x = rt.randn(1024, 1024, device="cuda")
    for _ in range(10):
        x = x @ x / 32.0
    end.record()
    end.synchronize()
    assert end.query()
    assert start.elapsed_time(end) > 0.0


@needs_gpu
def test_device_properties():
    p = rt.cuda.get_device_properties(0)
    assert p.name == rt.cuda.get_device_name(0)
    assert p.total_memory > 0 and p.multi_processor_count > 0
    assert rt.cuda.get_device_capability() == (p.major, p.minor)


@needs_gpu
def test_pinned_memory_and_loader_pinning():
    x = rt.arange(10.0)
    p = x.pin_memory()
    assert p.is_pinned() and not x.is_pinned() and p.tolist() == x.tolist()
    assert p.pin_memory() is p
    ds = rt.utils.data.TensorDataset(rt.arange(6.0), rt.arange(6))
    for xb, yb in rt.utils.data.DataLoader(ds, batch_size=4, pin_memory=True):
        assert xb.is_pinned() and yb.is_pinned()


@needs_gpu
def test_in_kernel_index_error_is_reported_at_the_next_read():
    x = rt.arange(5.0, device="cuda")
    idx = rt.tensor([1, 7], device="cuda")
    with pytest.raises(IndexError, match="out of bounds"):
        x[idx].cpu()
    # The device keeps working.
    assert x[rt.tensor([4], device="cuda")].cpu().tolist() == [4.0]


@needs_gpu
def test_dlpack_exports_the_device():
    g = rt.ones(3, device="cuda")
    assert g.__dlpack_device__() == (2, 0)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_types_on_gpu(dtype):
    torch = need_torch()
    a = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    d = getattr(rt, dtype)
    x = rt.tensor(a, device="cuda").to(d)
    tx = torch.tensor(a).to(getattr(torch, dtype))
    for f in (lambda t: t.exp(), lambda t: (t * 2 + 1).sum(1), lambda t: t @ t.t(),
              lambda t: t.softmax(-1)):
        got = f(x).float().cpu()
        want = f(tx).float()
        np.testing.assert_allclose(to_np(got), want.numpy(), rtol=2e-2, atol=2e-2)


@needs_gpu
def test_training_step_on_gpu_matches_cpu():
    """One SGD step and one Adam step of a small MLP from the same weights give the same
    parameters on the GPU as on the CPU."""
    for opt_name in ("SGD", "Adam"):
        rt.manual_seed(0)
        cpu_model = rt.nn.Sequential(rt.nn.Linear(20, 32), rt.nn.ReLU(), rt.nn.Linear(32, 5))
        gpu_model = rt.nn.Sequential(rt.nn.Linear(20, 32), rt.nn.ReLU(), rt.nn.Linear(32, 5))
        gpu_model.load_state_dict(cpu_model.state_dict())
        gpu_model.cuda()
        assert all(p.is_cuda for p in gpu_model.parameters())
        x, y = rt.randn(16, 20), rt.randint(0, 5, (16,))
        for model, xs, ys in ((cpu_model, x, y), (gpu_model, x.cuda(), y.cuda())):
            lr = 0.1 if opt_name == "SGD" else 1e-2
            opt = getattr(rt.optim, opt_name)(model.parameters(), lr=lr)
            for _ in range(3):
                opt.zero_grad()
                loss = rt.nn.functional.cross_entropy(model(xs), ys)
                loss.backward()
                opt.step()
        for pc, pg in zip(cpu_model.parameters(), gpu_model.parameters()):
            np.testing.assert_allclose(to_np(pg), to_np(pc), rtol=1e-4, atol=1e-5)
