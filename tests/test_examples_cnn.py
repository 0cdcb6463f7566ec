"""Smoke tests of the convolutional examples: each runs for a few batches in a subprocess.

``examples/lenet.py``, ``cnn.py``, ``conv_autoencoder.py`` and ``dcgan.py`` are run on a small
``--limit`` of real Fashion-MNIST images (on the CPU), and the final figure each prints is
checked to be finite and in a sane range; the pictures must have been written (the loss
curves only where matplotlib is installed). Skipped when the dataset is not installed at
/usr/share/datasets/fashion-mnist (or at ``$RUSTORCH_FASHION_MNIST``).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LIB_NAME, rt

DATA = os.environ.get("RUSTORCH_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte"]


def _have_fashion_mnist(root: str) -> bool:
    for folder in (root, os.path.join(root, "FashionMNIST", "raw")):
        if all(os.path.exists(os.path.join(folder, f)) or
               os.path.exists(os.path.join(folder, f + ".gz")) for f in FILES):
            return True
    return False


if LIB_NAME != "rustorch":
    pytest.skip("the examples import rustorch itself", allow_module_level=True)
if not _have_fashion_mnist(DATA):
    pytest.skip(f"Fashion-MNIST not found at {DATA}", allow_module_level=True)

NUMBER = r"([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))"


def run_example(name: str, out: Path, *args: str) -> str:
    """Run ``examples/<name>`` on the CPU for one short epoch; returns its stdout."""
    env = dict(os.environ)
    # The rustorch this test session imported (the repository's python/ folder, or an install).
    package_root = str(Path(rt.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, str(EXAMPLES / name), "--data", DATA, "--device", "cpu",
           "--epochs", "1", "--out", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited with {proc.returncode}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def final_value(stdout: str, label: str) -> float:
    """The number after ``label`` on the example's last line starting with "Final"."""
    finals = [line for line in stdout.splitlines() if line.startswith("Final")]
    assert finals, f"no final line in the output:\n{stdout[-2000:]}"
    match = re.search(re.escape(label) + r"\s*:?\s*" + NUMBER, finals[-1])
    assert match is not None, f"no {label!r} in {finals[-1]!r}"
    value = float(match.group(1))
    assert math.isfinite(value), f"{label} is {value}"
    return value


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def assert_loss_curve(path: Path, stdout: str) -> None:
    if "matplotlib is not installed" in stdout:
        assert not path.exists()
    else:
        assert_png(path)


def test_lenet(tmp_path):
    out = run_example("lenet.py", tmp_path, "--limit", "640", "--test-limit", "512")
    assert "Using cpu device" in out
    accuracy = final_value(out, "Final test accuracy")
    assert 0.0 <= accuracy <= 100.0
    assert_loss_curve(tmp_path / "lenet_loss.png", out)


def test_cnn(tmp_path):
    out = run_example("cnn.py", tmp_path, "--limit", "320", "--batch-size", "32",
                      "--test-limit", "256")
    accuracy = final_value(out, "Final test accuracy")
    assert 20.0 <= accuracy <= 100.0  # Adam learns well past chance (10%) in 10 batches
    assert_loss_curve(tmp_path / "cnn_loss.png", out)


def test_conv_autoencoder(tmp_path):
    out = run_example("conv_autoencoder.py", tmp_path, "--limit", "3200", "--test-limit", "512")
    mse = final_value(out, "Final test MSE")
    assert 0.0 < mse < 0.12  # pixels in [0, 1]; ~0.18 after 10 batches, ~0.06 after these 50
    assert_png(tmp_path / "conv_autoencoder_samples.png")


def test_dcgan(tmp_path):
    out = run_example("dcgan.py", tmp_path, "--limit", "320", "--ngf", "16", "--ndf", "16")
    loss_d = final_value(out, "Loss_D")
    loss_g = final_value(out, "Loss_G")
    d_x = final_value(out, "D(x)")
    assert 0.0 < loss_d < 10.0 and 0.0 < loss_g < 20.0
    assert 0.0 <= d_x <= 1.0
    assert_png(tmp_path / "dcgan_samples.png")
    assert_loss_curve(tmp_path / "dcgan_loss.png", out)
