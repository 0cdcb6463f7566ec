"""``torch.amp.GradScaler`` (and the deprecated ``torch.cuda.amp.GradScaler``).

Matched: the constructor (including disabling itself with PyTorch's warning when
``device="cuda"`` and CUDA is unavailable), ``scale`` (tensors or nested lists/tuples/
iterables of them), ``unscale_`` (grads multiplied by the float32 reciprocal computed in
float64, inf/nan detection, FP16-grad ValueError), ``step`` (skipped when an inf/nan grad
was found; the per-optimizer READY/UNSCALED/STEPPED checks and their errors), ``update``
(backoff on inf, growth after ``growth_interval`` clean steps, or an explicit
``new_scale``), the getters/setters, ``state_dict``/``load_state_dict`` and pickling.

Differs: the scale update runs in Python (one ``.item()`` per optimizer and step) instead
of PyTorch's fused ``_amp_foreach_non_finite_check_and_unscale_`` / ``_amp_update_scale_``
kernels; the growth tracker is a Python int. Optimizers with
``_step_supports_amp_scaling`` get no special path.
"""

from __future__ import annotations

import struct
import warnings
from collections import abc, defaultdict
from enum import Enum
from typing import Any

import rustorch

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _refresh_per_optimizer_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


def _to_float32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


class GradScaler:
    """Dynamic loss scaling for mixed precision, as ``torch.amp.GradScaler``: multiply the
    loss by ``scale`` before ``backward``, then ``step`` unscales the grads and skips the
    optimizer step when any is inf/nan, and ``update`` halves the scale after such a step or
    doubles it after ``growth_interval`` clean ones."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        if self._device == "cuda" and enabled and not rustorch.cuda.is_available():
            warnings.warn(
                "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                stacklevel=2,
            )
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: rustorch.Tensor | None = None  # created by the first scale()
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: int | None = None
            self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(
                _refresh_per_optimizer_state)

    # -- internals ----------------------------------------------------------------------

    def _check_scale_growth_tracker(self, funcname: str) -> rustorch.Tensor:
        fix = ("This may indicate your script did not use scaler.scale(loss or outputs) "
               "earlier in the iteration.")
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale

    def _lazy_init_scale_growth_tracker(self, dev: Any) -> None:
        self._scale = rustorch.full((), self._init_scale, dtype=rustorch.float32, device=dev)
        self._growth_tracker = self._init_growth_tracker

    def _unscale_grads_(self, optimizer: Any, inv_scale: float,
                        allow_fp16: bool) -> dict[str, bool]:
        """Multiply every grad by ``inv_scale``; per device, whether any was inf/nan."""
        found: dict[str, bool] = {}
        with rustorch.no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    grad = param.grad
                    if grad is None:
                        continue
                    if not allow_fp16 and grad.dtype == rustorch.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    key = str(grad.device)
                    if inv_scale != 1.0:
                        grad.mul_(inv_scale)
                    bad = not bool(rustorch.isfinite(grad).all().item())
                    found[key] = found.get(key, False) or bad
        return found

    # -- the public API -----------------------------------------------------------------

    def scale(self, outputs: Any) -> Any:
        """``outputs`` times the current scale (a tensor, or lists/tuples/iterables of
        them); unchanged when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, rustorch.Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            assert self._scale is not None
            return outputs * self._scale.to(outputs.device)

        def apply_scale(val: Any) -> Any:
            if isinstance(val, rustorch.Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(val.device)
                assert self._scale is not None
                return val * self._scale.to(val.device)
            if isinstance(val, abc.Iterable):
                iterable = map(apply_scale, val)
                if isinstance(val, (list, tuple)):
                    return type(val)(iterable)
                return iterable
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def unscale_(self, optimizer: Any) -> None:
        """Divide ``optimizer``'s grads by the scale in place (once per ``update``), e.g.
        before gradient clipping."""
        if not self._enabled:
            return
        scale = self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = _to_float32(1.0 / float(scale.item()))  # float64 reciprocal, to float32
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless ``unscale_`` ran) and call ``optimizer.step`` unless a grad was
        inf/nan; returns what ``step`` returned, or None when skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not any(state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale: float | rustorch.Tensor | None = None) -> None:
        """Adjust the scale for the next iteration: ``new_scale`` if given; otherwise
        ``scale * backoff_factor`` if any optimizer saw inf/nan grads this iteration, else
        ``scale * growth_factor`` after ``growth_interval`` consecutive clean iterations."""
        if not self._enabled:
            return
        scale = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, float):
                scale.fill_(new_scale)
            else:
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                          "torch.FloatTensor with requires_grad=False.")
                if new_scale.device.type != scale.device.type:
                    raise AssertionError(reason)
                if new_scale.numel() != 1:
                    raise AssertionError(reason)
                if new_scale.requires_grad is True:
                    raise AssertionError(reason)
                scale.fill_(float(new_scale.reshape(()).item()))
        else:
            found_infs = [
                found for state in self._per_optimizer_states.values()
                for found in state["found_inf_per_device"].values()
            ]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            assert self._growth_tracker is not None
            current = float(scale.item())
            if any(found_infs):
                scale.fill_(current * self._backoff_factor)
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    scale.fill_(current * self._growth_factor)
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)

    def get_scale(self) -> float:
        """The current scale (``init_scale`` before the first ``scale``; 1.0 when
        disabled)."""
        if self._enabled:
            return self._init_scale if self._scale is None else float(self._scale.item())
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if self._enabled:
            return (self._init_growth_tracker if self._growth_tracker is None
                    else int(self._growth_tracker))
        return 0

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval``,
        ``_growth_tracker`` (empty when disabled), PyTorch's keys."""
        if self._enabled:
            return {
                "scale": self.get_scale(),
                "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker(),
            }
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved "
                "from a disabled instance of GradScaler."
            )
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker = int(state_dict["_growth_tracker"])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError(
                    "A GradScaler instance may only be pickled at the beginning "
                    "of an iteration, or at the end after scaler.update()."
                )
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
            state["_per_optimizer_states"] = dict(state["_per_optimizer_states"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._enabled:
            self._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)


class CudaGradScaler(GradScaler):
    """``torch.cuda.amp.GradScaler``: ``GradScaler("cuda", ...)`` with PyTorch's
    FutureWarning that it is deprecated."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        warnings.warn(
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. "
            "Please use `torch.amp.GradScaler('cuda', args...)` instead.",
            FutureWarning, stacklevel=2,
        )
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval,
                         enabled=enabled)
