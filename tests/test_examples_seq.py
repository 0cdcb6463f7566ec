"""Smoke tests of the sequence examples, run like the convolutional ones (a subprocess, a
few batches of real Fashion-MNIST on the CPU; skipped without the dataset)."""

from __future__ import annotations

import pytest
from test_examples_cnn import assert_loss_curve, final_value, run_example


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn(tmp_path, cell):
    out = run_example("rnn.py", tmp_path, "--cell", cell, "--limit", "1280", "--test-limit", "512")
    assert "Using cpu device" in out
    accuracy = final_value(out, "Final test accuracy")
    assert 25.0 <= accuracy <= 100.0  # 20 Adam steps learn well past chance (10%)
    assert_loss_curve(tmp_path / f"rnn_{cell}_loss.png", out)
