"""``rustorch.cuda`` device discovery, and what CUDA device strings do without a GPU.

The extension opens the CUDA driver at run time, so on a machine without one it must import
quickly and answer "no GPU" instead of failing. Tests that need a GPU skip without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import LIB_NAME, rt

HAS_GPU = rt.cuda.is_available()
DRIVER_GPUS = rt.cuda.device_count()
needs_driver_gpu = pytest.mark.skipif(DRIVER_GPUS == 0, reason="needs a CUDA GPU and driver")
needs_no_gpu = pytest.mark.skipif(HAS_GPU, reason="checks the behaviour without a GPU")


def test_queries_agree():
    n = rt.cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert isinstance(rt.cuda.is_available(), bool)
    assert rt.cuda.is_available() == (n > 0)
    # Asking again gives the same answer (the driver is probed once).
    assert rt.cuda.device_count() == n


@needs_no_gpu
def test_no_gpu_here():
    assert rt.cuda.is_available() is False
    assert rt.cuda.device_count() == 0


@pytest.mark.skipif(DRIVER_GPUS > 0, reason="checks the behaviour without a GPU")
def test_get_device_name_without_gpu_raises():
    # PyTorch's CPU build raises AssertionError; a CUDA build without a driver RuntimeError.
    with pytest.raises((RuntimeError, AssertionError)):
        rt.cuda.get_device_name(0)
    with pytest.raises((RuntimeError, AssertionError)):
        rt.cuda.get_device_name()


@needs_no_gpu
def test_synchronize_without_gpu_raises():
    with pytest.raises((RuntimeError, AssertionError), match="CUDA|NVIDIA"):
        rt.cuda.synchronize()


def test_seeding_is_accepted():
    rt.cuda.manual_seed(0)
    rt.cuda.manual_seed_all(0)


def test_import_is_fast():
    """Importing the package, then asking for devices, stays quick without a GPU (the driver
    lookup is a failed dlopen, not a timeout)."""
    code = (
        "import time; t = time.perf_counter(); "
        f"import {LIB_NAME} as m; m.cuda.is_available(); m.cuda.device_count(); "
        "print(time.perf_counter() - t)"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    wall = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    inner = float(out.stdout.strip().splitlines()[-1])
    assert inner < 2.0, f"import + device query took {inner:.2f} s"
    assert wall < 10.0, f"the whole interpreter run took {wall:.2f} s"


def test_device_strings_parse():
    d = rt.device("cuda:0")
    assert d.type == "cuda" and d.index == 0
    assert str(d) == "cuda:0"
    assert repr(d) == "device(type='cuda', index=0)"
    d = rt.device("cuda")
    assert d.type == "cuda" and d.index is None
    assert rt.device("cuda", 1).index == 1
    assert rt.device("cuda:1") == rt.device("cuda", 1)
    with pytest.raises(RuntimeError):
        rt.device("gpu")


@needs_no_gpu
@pytest.mark.parametrize(
    "make",
    [
        lambda: rt.ones(2).to("cuda"),
        lambda: rt.ones(2).to("cuda:0"),
        lambda: rt.ones(2).to(rt.device("cuda:0")),
        lambda: rt.ones(2, device="cuda"),
        lambda: rt.zeros(2, device=rt.device("cuda", 0)),
    ],
    ids=["to-str", "to-indexed", "to-device", "ones-device", "zeros-device-obj"],
)
def test_cuda_tensors_raise_without_gpu(make):
    # PyTorch's CPU build says "not compiled with CUDA"; a CUDA build without a driver says
    # it found no NVIDIA driver.
    with pytest.raises((RuntimeError, AssertionError), match="CUDA|NVIDIA"):
        make()


def test_cpu_tensors_are_not_cuda():
    x = rt.ones(2)
    assert x.is_cuda is False
    assert x.device == rt.device("cpu")


@needs_driver_gpu
def test_device_names_with_gpu():
    for i in range(DRIVER_GPUS):
        name = rt.cuda.get_device_name(i)
        assert isinstance(name, str) and name
    assert rt.cuda.get_device_name() == rt.cuda.get_device_name(0)
    assert rt.cuda.get_device_name("cuda:0") == rt.cuda.get_device_name(0)
    with pytest.raises((RuntimeError, AssertionError)):
        rt.cuda.get_device_name(DRIVER_GPUS)
