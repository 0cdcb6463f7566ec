"""torchvision as a test oracle for ``rustorch.vision`` (``test_vision_detection.py``).

:func:`load_torchvision` imports torchvision from ``sys.path`` (CI installs it with
``pip install --no-deps "torchvision==0.28.*"``) and returns the module, or ``None`` when
PyTorch or torchvision is missing or cannot be imported, or ``RUSTORCH_TEST_NO_TORCH`` is
set as in ``conftest.py`` (:func:`skip_reason` says why).

torchvision's detection code is pure Python over two compiled ops, ``nms`` and
``roi_align``. When its compiled library loads, it is used as is. When it does not (the
PyPI wheel is a CUDA build; without the CUDA runtime its ``_C`` library fails to load),
the ops are registered here before the import, so the Python code runs on the CPU:

* ``torchvision::nms``: the greedy scan of torchvision's CPU kernel (boxes by decreasing
  score, equal scores in input order; a box goes when its IoU with a kept one exceeds the
  threshold), with the IoU computed in the boxes' dtype;
* ``roi_align``: torchvision falls back to its pure-Python ``_roi_align`` (compiled with
  ``torch.compile``, about 13 s per new shape on a small CPU, and sampling every pixel of
  the input for adaptive grids, gigabytes for the mask targets). It is replaced by
  :func:`roi_align_reference`, the CPU kernel's arithmetic written with differentiable torch
  ops on a grid padded to the largest box's; samples more than a pixel outside the input
  count as 0, as in the kernel (torchvision's Python fallback clamps them instead, the one
  difference, for boxes reaching past the border). The Python fallback itself stays
  available as :data:`torchvision_python_roi_align` (uncompiled) to check the reference.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any, Callable, Optional

_state: dict[str, Any] = {}

# torchvision's pure-Python ``_roi_align`` (uncompiled), set when the reference ops are used
torchvision_python_roi_align: Optional[Callable[..., Any]] = None


def load_torchvision() -> Optional[ModuleType]:
    """The torchvision module ready to run its detection models on the CPU, or ``None``."""
    if "module" not in _state:
        module, reason = None, ""
        if os.environ.get("RUSTORCH_TEST_NO_TORCH", "") not in ("", "0"):
            _state["module"], _state["reason"] = None, "RUSTORCH_TEST_NO_TORCH hides PyTorch"
            return None
        try:
            import torch
        except ImportError:
            reason = "PyTorch is not installed (torchvision oracle)"
        else:
            spec = importlib.util.find_spec("torchvision")
            if spec is None or spec.origin is None:
                reason = ("torchvision is not installed (pip install --no-deps "
                          "'torchvision==0.28.*')")
            else:
                try:
                    module = _import_torchvision(torch, os.path.dirname(spec.origin))
                except Exception as exc:  # pragma: no cover - depends on the environment
                    reason = f"torchvision could not be imported: {type(exc).__name__}: {exc}"
        _state["module"], _state["reason"] = module, reason
    return _state["module"]


def skip_reason() -> str:
    """Why :func:`load_torchvision` returned ``None`` (empty when it did not)."""
    load_torchvision()
    return _state["reason"]


def _has_native_ops(torch: Any, package_dir: str) -> bool:
    try:
        torch.ops.torchvision.nms  # noqa: B018  (already registered by an earlier import)
        return True
    except (AttributeError, RuntimeError):
        pass
    for lib in glob.glob(os.path.join(package_dir, "_C*.so")) + glob.glob(
            os.path.join(package_dir, "_C*.pyd")):
        try:
            torch.ops.load_library(lib)
        except Exception:  # e.g. OSError: the CUDA runtime the wheel links against is absent
            return False
    try:
        torch.ops.torchvision.nms  # noqa: B018
        return True
    except (AttributeError, RuntimeError):
        return False


def _import_torchvision(torch: Any, package_dir: str) -> ModuleType:
    global torchvision_python_roi_align
    if "torchvision" in sys.modules or _has_native_ops(torch, package_dir):
        import torchvision

        return torchvision
    _register_reference_ops(torch)
    import torchvision
    import torchvision.extension

    # the package attribute torchvision.ops.roi_align is the function: take the module
    roi_align_module = sys.modules["torchvision.ops.roi_align"]

    # nms() asserts the extension is there; roi_align() keeps its own reference to the
    # real _has_ops (False), so it takes the Python path, now the reference below
    torchvision.extension._has_ops = lambda: True
    fallback = roi_align_module._roi_align
    torchvision_python_roi_align = getattr(fallback, "__wrapped__", fallback)
    roi_align_module._roi_align = roi_align_reference
    return torchvision


def _register_reference_ops(torch: Any) -> None:
    lib = torch.library.Library("torchvision", "DEF")
    _state["library"] = lib  # the registration lives as long as the Library object
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    # the others only need to exist for torchvision's meta registrations at import
    for name in ("roi_align", "_roi_align_backward", "ps_roi_align", "_ps_roi_align_backward",
                 "roi_pool", "_roi_pool_backward", "ps_roi_pool", "_ps_roi_pool_backward",
                 "qnms", "qroi_align", "deform_conv2d", "_deform_conv2d_backward"):
        lib.define(name + "(Tensor x) -> Tensor")
    lib.impl("nms", _nms_reference, "CPU")


def _nms_reference(dets: Any, scores: Any, iou_threshold: float) -> Any:
    import numpy as np
    import torch

    order = scores.argsort(descending=True, stable=True)
    d = dets[order]
    x1, y1, x2, y2 = d.unbind(1)
    area = (x2 - x1) * (y2 - y1)
    w = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    h = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    inter = w * h
    over = (inter / (area[:, None] + area[None] - inter) > iou_threshold).numpy()
    removed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if not removed[i]:
            keep.append(i)
            removed |= over[i]  # entries before i are already decided
    return order[torch.tensor(keep, dtype=torch.long)]


def roi_align_reference(input: Any, rois: Any, spatial_scale: float, pooled_height: int,
                        pooled_width: int, sampling_ratio: int, aligned: bool) -> Any:
    """torchvision's CPU ``roi_align`` kernel in torch ops (differentiable): per box and
    bin, the mean of ``grid_h x grid_w`` bilinear samples (``sampling_ratio``, or
    ``ceil(box side / bins)``); a sample more than one pixel outside the input is 0 and a
    sample within that pixel is clamped to the border."""
    import torch

    n_rois = rois.shape[0]
    _, channels, height, width = input.shape
    dtype = input.dtype
    if n_rois == 0:
        return input.new_zeros((0, channels, pooled_height, pooled_width))
    rois = rois.to(dtype)
    batch = rois[:, 0].long()
    offset = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * spatial_scale - offset
    start_h = rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - start_w
    roi_h = rois[:, 4] * spatial_scale - offset - start_h
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h = roi_h / pooled_height
    bin_w = roi_w / pooled_width
    if sampling_ratio > 0:
        grid_h = torch.full((n_rois,), float(sampling_ratio), dtype=dtype)
        grid_w = torch.full((n_rois,), float(sampling_ratio), dtype=dtype)
    else:
        grid_h = torch.ceil(roi_h / pooled_height)
        grid_w = torch.ceil(roi_w / pooled_width)
    count = (grid_h * grid_w).clamp(min=1)
    iy = torch.arange(max(int(grid_h.max()), 1)).to(dtype)
    ix = torch.arange(max(int(grid_w.max()), 1)).to(dtype)

    def coords(start, bin_size, grid, bins, steps, limit):
        # [K, bins, steps] sample positions and whether each sample counts
        pos = (start[:, None, None] + torch.arange(bins).to(dtype)[None, :, None]
               * bin_size[:, None, None]
               + (steps[None, None, :] + 0.5) * bin_size[:, None, None]
               / grid.clamp(min=1)[:, None, None])  # a 0-sample grid (aligned) has no samples
        used = (steps[None, :] < grid[:, None])[:, None, :] & (pos >= -1.0) & (pos <= limit)
        pos = pos.clamp(min=0)
        low = pos.floor().long()
        at_edge = low >= limit - 1
        low = torch.where(at_edge, limit - 1, low)
        high = torch.where(at_edge, limit - 1, low + 1)
        pos = torch.where(at_edge, low.to(dtype), pos)
        frac = pos - low.to(dtype)
        return low, high, frac, 1.0 - frac, used

    y_low, y_high, ly, hy, y_used = coords(start_h, bin_h, grid_h, pooled_height, iy, height)
    x_low, x_high, lx, hx, x_used = coords(start_w, bin_w, grid_w, pooled_width, ix, width)
    b_idx = batch[:, None, None, None, None, None]
    c_idx = torch.arange(channels)[None, :, None, None, None, None]

    def at(y, x):  # [K, C, PH, PW, IY, IX]
        return input[b_idx, c_idx, y[:, None, :, None, :, None], x[:, None, None, :, None, :]]

    def outer(wy, wx):
        return wy[:, None, :, None, :, None] * wx[:, None, None, :, None, :]

    val = (outer(hy, hx) * at(y_low, x_low) + outer(hy, lx) * at(y_low, x_high)
           + outer(ly, hx) * at(y_high, x_low) + outer(ly, lx) * at(y_high, x_high))
    used = y_used[:, None, :, None, :, None] & x_used[:, None, None, :, None, :]
    val = torch.where(used, val, torch.zeros((), dtype=dtype))
    return val.sum((-1, -2)) / count[:, None, None, None]
