"""Anomaly detection for the autograd engine, as PyTorch's ``torch.autograd.anomaly_mode``.

The mode is process-wide (kept in the Rust core, as PyTorch's ``AnomalyMode``). While it is
on with its NaN check, a backward function whose gradient holds NaN stops the backward pass
with PyTorch's ``RuntimeError`` ("Function 'DivBackward0' returned nan values in its 1th
output."). Differs from PyTorch: the forward call's traceback is not recorded, so no
"Error detected in …" warning with it accompanies the error.
"""

from __future__ import annotations

import warnings
from typing import Any

from .. import _C


class detect_anomaly:
    """Turns anomaly detection on inside the block and restores the previous mode after it
    (``torch.autograd.detect_anomaly``); warns, as PyTorch does, that it slows the engine."""

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = _C.is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = _C.is_anomaly_check_nan_enabled()
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and "
            "should only be enabled for debugging.",
            stacklevel=2,
        )

    def __enter__(self) -> None:
        _C._set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *args: Any) -> None:
        _C._set_anomaly_enabled(self.prev, self.prev_check_nan)


class set_detect_anomaly:
    """Sets anomaly detection on or off at once (``torch.autograd.set_detect_anomaly``); as
    a context manager it restores the previous mode on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = _C.is_anomaly_enabled()
        self.prev_check_nan = _C.is_anomaly_check_nan_enabled()
        _C._set_anomaly_enabled(bool(mode), bool(check_nan))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: Any) -> None:
        _C._set_anomaly_enabled(self.prev, self.prev_check_nan)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (``torch.is_anomaly_enabled``)."""
    return bool(_C.is_anomaly_enabled())


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks gradients for NaN
    (``torch.is_anomaly_check_nan_enabled``)."""
    return bool(_C.is_anomaly_check_nan_enabled())
