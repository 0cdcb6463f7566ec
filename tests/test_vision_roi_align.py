"""``rustorch.vision.ops``: ``roi_align`` / ``RoIAlign`` and ``nms``, on each device.

The references restate torchvision's algorithms with NumPy in float64 (its kernels compute
in the input's precision, so float32 is compared with a float32-sized tolerance): RoI Align
samples each bin on a ``grid × grid`` lattice (``sampling_ratio``, or ``ceil(bin side)``),
each sample bilinear with torchvision's edge rules (more than a pixel outside: 0, counted;
within a pixel: clamped), the bin the samples' mean; ``aligned`` shifts the box by half a
pixel and lets it be thinner than one. Its gradient is checked against finite differences.
NMS is the greedy scan over boxes sorted by score. The whole Mask R-CNN pipeline is
compared with torchvision itself in ``test_vision_detection.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import current_device, rt, to_np

if not hasattr(rt, "vision"):
    pytest.skip("the oracle has no vision package (torchvision is separate)",
                allow_module_level=True)

ops = rt.vision.ops
pytestmark = pytest.mark.usefixtures("device")

BOXES = [
    [0, 1.0, 1.0, 6.0, 5.0],
    [1, 0.0, 0.0, 9.0, 7.0],  # the whole image
    [0, 3.6, 2.4, 3.6, 2.4],  # a point: the side becomes 1 (or 0 when aligned)
    [1, 6.0, 4.0, 14.0, 12.0],  # partly outside: samples past the edge count as 0
    [0, 7.5, 0.5, 2.5, 6.5],  # x2 < x1
    [1, -3.0, -2.0, 2.0, 3.0],  # partly before the origin
    [0, 0.25, 0.75, 8.5, 6.25],  # fractional corners
]


def _bilinear(plane, y, x):
    h, w = plane.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * plane[y0, x0] + hy * lx * plane[y0, x1]
            + ly * hx * plane[y1, x0] + ly * lx * plane[y1, x1])


def _roi_align_ref(x, boxes, oh, ow, scale, ratio, aligned):
    n, c = x.shape[:2]
    out = np.zeros((len(boxes), c, oh, ow))
    off = 0.5 if aligned else 0.0
    for r, box in enumerate(boxes):
        b = int(box[0])
        x0, y0, x1, y1 = (v * scale - off for v in box[1:])
        rw, rh = x1 - x0, y1 - y0
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / oh, rw / ow
        gh = ratio if ratio > 0 else max(math.ceil(bh), 0)
        gw = ratio if ratio > 0 else max(math.ceil(bw), 0)
        count = max(gh * gw, 1)
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    s = 0.0
                    for iy in range(gh):
                        yy = y0 + i * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            xx = x0 + j * bw + (ix + 0.5) * bw / gw
                            s += _bilinear(x[b, ch], yy, xx)
                    out[r, ch, i, j] = s / count
    return out


def _dev(a, **kw):
    return rt.tensor(a, device=current_device(), **kw)


@pytest.mark.parametrize("dtype, tol", [("float32", 2e-5), ("float64", 1e-12)])
@pytest.mark.parametrize("size, scale, ratio, aligned", [
    ((3, 3), 1.0, -1, False), ((2, 4), 0.5, 2, True), ((1, 1), 1.0, 0, True),
    ((5, 2), 0.7, 3, False), ((7, 7), 0.25, -1, True),
])
def test_roi_align_matches_the_reference(dtype, tol, size, scale, ratio, aligned):
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((2, 3, 8, 10)).astype(dtype)
    boxes = np.array(BOXES, dtype)
    x = _dev(xa, requires_grad=True)
    out = ops.roi_align(x, _dev(boxes), size, scale, ratio, aligned)
    want = _roi_align_ref(xa.astype(np.float64), boxes.astype(np.float64), *size, scale,
                          ratio, aligned)
    assert out.dtype == x.dtype and tuple(out.shape) == want.shape
    np.testing.assert_allclose(to_np(out), want, rtol=tol, atol=tol)
    # The gradient is the adjoint: <roi_align(x), g> = <x, grad>, for every x.
    g = rng.standard_normal(want.shape).astype(dtype)
    out.backward(_dev(g))
    grad = to_np(x.grad).astype(np.float64)
    probe = rng.standard_normal(xa.shape)
    lhs = (_roi_align_ref(probe, boxes.astype(np.float64), *size, scale, ratio, aligned)
           * g).sum()
    np.testing.assert_allclose((probe * grad).sum(), lhs, rtol=tol * 10, atol=tol * 10)


def test_roi_align_list_of_boxes_module_and_defaults():
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((2, 2, 6, 7)).astype(np.float32)
    per_image = [np.array([[0.0, 0.0, 4.0, 3.0], [1.0, 2.0, 6.0, 5.0]], np.float32),
                 np.array([[2.0, 1.0, 5.0, 5.5]], np.float32)]
    flat = np.concatenate([np.c_[np.full((len(b), 1), i, np.float32), b]
                           for i, b in enumerate(per_image)])
    x = _dev(xa)
    want = _roi_align_ref(xa.astype(np.float64), flat, 2, 2, 1.0, -1, False)
    got = ops.roi_align(x, [_dev(b) for b in per_image], 2)  # defaults: 1.0, -1, False
    np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-6)
    m = ops.RoIAlign((2, 2), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    assert repr(m) == ("RoIAlign(output_size=(2, 2), spatial_scale=0.5, sampling_ratio=2, "
                       "aligned=True)")
    np.testing.assert_allclose(
        to_np(m(x, _dev(flat))),
        _roi_align_ref(xa.astype(np.float64), flat, 2, 2, 0.5, 2, True), rtol=1e-5, atol=1e-6)


def test_roi_align_half_precision_follows_float32():
    rng = np.random.default_rng(2)
    x = _dev(rng.standard_normal((1, 2, 6, 6)).astype(np.float32))
    boxes = _dev(np.array([[0, 0.0, 0.0, 5.0, 5.0], [0, 1.0, 2.0, 3.0, 4.5]], np.float32))
    for dtype in (rt.float16, rt.bfloat16):
        xh, bh = x.to(dtype), boxes.to(dtype)
        got = ops.roi_align(xh, bh, 3, 1.0, 2)
        assert got.dtype == dtype
        want = ops.roi_align(xh.float(), bh.float(), 3, 1.0, 2).to(dtype)
        np.testing.assert_allclose(to_np(got.float()), to_np(want.float()))


def test_roi_align_gradcheck_and_double_backward():
    dev = current_device()
    rng = np.random.default_rng(3)
    x = rt.tensor(rng.standard_normal((2, 2, 5, 6)), device=dev, requires_grad=True)
    boxes = rt.tensor([[0, 0.3, 0.2, 4.1, 3.3], [1, 1.0, 1.5, 5.5, 4.0],
                       [1, 4.0, 3.0, 8.0, 7.0]], dtype=rt.float64, device=dev)

    def f(t):
        return ops.roi_align(t, boxes, (2, 3), 1.0, 2, True)

    assert rt.autograd.gradcheck(f, (x,), eps=1e-6)
    assert rt.autograd.gradgradcheck(lambda t: f(t) ** 2, (x,), eps=1e-6)
    # create_graph: the recorded gradient equals the plain one and is differentiable in the
    # output's gradient, whose gradient is roi_align itself (the two are adjoint).
    g = rt.tensor(rng.standard_normal((3, 2, 2, 3)), device=dev, requires_grad=True)
    (gx,) = rt.autograd.grad(f(x), x, g, create_graph=True)
    (plain,) = rt.autograd.grad(f(x), x, g.detach())
    # (equal up to the order of a GPU kernel's atomic additions)
    np.testing.assert_allclose(to_np(gx.detach()), to_np(plain), rtol=1e-12, atol=1e-12)
    w = rt.tensor(rng.standard_normal((2, 2, 5, 6)), device=dev)
    (gg,) = rt.autograd.grad((gx * w).sum(), g)
    np.testing.assert_allclose(to_np(gg), to_np(f(w)), rtol=1e-12, atol=1e-12)


def test_roi_align_garbage_boxes_stay_finite_and_bounded():
    """Boxes with NaN, huge or out-of-batch coordinates: no hang, no out-of-bounds read."""
    x = rt.ones(1, 1, 4, 4, device=current_device(), requires_grad=True)
    boxes = _dev(np.array([[0, float("nan"), 0.0, 3.0, 3.0], [0, -1e30, -1e30, 1e30, 1e30],
                           [3, 0.0, 0.0, 3.0, 3.0], [-1, 0.0, 0.0, 3.0, 3.0],
                           [0, 0.0, 0.0, 3.0, 3.0]], np.float32))
    out = ops.roi_align(x, boxes, 2)
    got = to_np(out)
    np.testing.assert_array_equal(got[2:4], np.zeros((2, 1, 2, 2), np.float32))
    np.testing.assert_allclose(got[4], np.ones((1, 2, 2)), rtol=1e-6)
    out.sum().backward()
    assert np.isfinite(to_np(x.grad)).all()


def _nms_ref(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: ties keep order
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep, removed = [], set()
    for a, i in enumerate(order):
        if i in removed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            w = max(min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]), 0.0)
            h = max(min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]), 0.0)
            inter = w * h
            if inter / (area[i] + area[j] - inter) > thr:
                removed.add(j)
    return keep


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n, thr", [(1, 0.5), (40, 0.5), (300, 0.3), (300, 0.7), (200, 0.0)])
def test_nms_matches_the_reference(dtype, n, thr):
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(1, 20, (n, 2))
    boxes = np.c_[xy, xy + wh].astype(dtype)
    boxes[::13] = boxes[0]  # identical boxes
    scores = rng.permutation(n).astype(dtype)  # no ties
    keep = ops.nms(_dev(boxes), _dev(scores), thr)
    assert keep.dtype == rt.int64 and keep.device.type == current_device()
    assert to_np(keep).tolist() == _nms_ref(boxes.astype(np.float64),
                                            scores.astype(np.float64), thr)


def test_nms_ties_empty_and_batched():
    boxes = _dev(np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30],
                           [21, 21, 31, 31]], np.float32))
    scores = _dev(np.array([0.5, 0.5, 0.9, 0.8], np.float32))
    assert to_np(ops.nms(boxes, scores, 0.5)).tolist() == [2, 0]
    empty = ops.nms(_dev(np.zeros((0, 4), np.float32)), _dev(np.zeros(0, np.float32)), 0.5)
    assert tuple(empty.shape) == (0,) and empty.dtype == rt.int64
    # batched_nms: boxes of different classes never suppress each other.
    idxs = _dev(np.array([0, 1, 0, 0]))
    assert sorted(to_np(ops.batched_nms(boxes, scores, idxs, 0.5)).tolist()) == [0, 1, 2]


def test_roi_align_and_nms_errors():
    x = rt.zeros(1, 2, 4, 4, device=current_device())
    with pytest.raises(AssertionError, match=r"Tensor\[K, 5\]"):
        ops.roi_align(x, rt.zeros(3, 4, device=current_device()), 2)
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'input' to have the "
                       "same type as tensor for argument #2 'rois'.*roi_align"):
        ops.roi_align(x, rt.zeros(1, 5, dtype=rt.float64, device=current_device()), 2)
    with pytest.raises(NotImplementedError, match="roi_align_forward_kernel.*Long"):
        ops.roi_align(x.long(), rt.zeros(1, 5, dtype=rt.int64, device=current_device()), 2)
    with pytest.raises(RuntimeError, match="roi_align: expected a 4-D input"):
        ops.roi_align(x[0], rt.zeros(1, 5, device=current_device()), 2)
    b = rt.zeros(3, 4, device=current_device())
    with pytest.raises(RuntimeError, match="boxes should be a 2d tensor, got 1D"):
        ops.nms(b[0], rt.zeros(3, device=current_device()), 0.5)
    with pytest.raises(RuntimeError, match="boxes should have 4 elements in dimension 1, got 3"):
        ops.nms(b[:, :3], rt.zeros(3, device=current_device()), 0.5)
    with pytest.raises(RuntimeError, match="same number of elements in dimension 0, got 3 and 2"):
        ops.nms(b, rt.zeros(2, device=current_device()), 0.5)
    with pytest.raises(RuntimeError, match="dets should have the same type as scores"):
        ops.nms(b, rt.zeros(3, dtype=rt.float64, device=current_device()), 0.5)
