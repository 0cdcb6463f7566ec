"""``rustorch.vision.ops``: ``roi_pool`` / ``RoIPool``.

torchvision is not installed here (its PyPI wheels are CUDA builds), so the reference is
torchvision's algorithm restated: each box's bins computed in the input's precision with
NumPy (corners scaled and rounded half away from zero, bins ``floor(i·bh) .. ceil((i+1)·bh)``
of the box, clipped to the input), and each bin's maximum taken with PyTorch ops, whose
autograd gives the reference gradient (inputs have no ties, so the argmax is unique).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import current_device, rt, to_np, torch_or_none

if not hasattr(rt, "vision"):
    pytest.skip("the oracle has no vision package (torchvision is separate)",
                allow_module_level=True)

ops = rt.vision.ops
torch = torch_or_none
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (reference)")
pytestmark = pytest.mark.usefixtures("device")

BOXES = [
    [0, 1.0, 1.0, 6.0, 5.0],
    [1, 0.0, 0.0, 9.0, 7.0],  # the whole image
    [0, 3.6, 2.4, 3.6, 2.4],  # one pixel
    [1, 6.0, 4.0, 14.0, 12.0],  # partly outside: empty bins
    [0, 7.5, 0.5, 2.5, 6.5],  # x2 < x1: one column wide
    [1, -3.0, -2.0, 2.0, 3.0],  # partly before the origin
]


def _bins(box, size, scale, oh, ow, dtype):
    """torchvision's bins of one box, in ``dtype``'s precision."""
    t = np.dtype(dtype).type
    h, w = size

    def rnd(v):  # C's round: half away from zero
        v = float(t(t(v) * t(scale)))
        return int(np.sign(v) * np.floor(abs(v) + 0.5))

    x1, y1, x2, y2 = (rnd(v) for v in box[1:])
    rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
    bh, bw = t(t(rh) / t(oh)), t(t(rw) / t(ow))
    out = []
    for i in range(oh):
        h0 = min(max(int(np.floor(t(t(i) * bh))) + y1, 0), h)
        h1 = min(max(int(np.ceil(t(t(i + 1) * bh))) + y1, 0), h)
        for j in range(ow):
            w0 = min(max(int(np.floor(t(t(j) * bw))) + x1, 0), w)
            w1 = min(max(int(np.ceil(t(t(j + 1) * bw))) + x1, 0), w)
            out.append((i, j, h0, h1, w0, w1))
    return out


def _reference(x, boxes, oh, ow, scale):
    """The torch reference: each bin's maximum (0 when empty), differentiable."""
    n, c, h, w = x.shape
    rows = []
    for box in boxes:
        b = int(box[0])
        out = x.new_zeros(c, oh, ow)
        for i, j, h0, h1, w0, w1 in _bins(box, (h, w), scale, oh, ow, x.detach().numpy().dtype):
            if h1 > h0 and w1 > w0:
                out[:, i, j] = x[b, :, h0:h1, w0:w1].amax(dim=(1, 2))
        rows.append(out)
    return torch.stack(rows)


def _distinct(shape, dtype, seed=0):
    """Values without ties (a permutation), so each bin's argmax is unique."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 20.0).astype(dtype)


@needs_torch
@pytest.mark.parametrize("dtype, tol", [("float32", 1e-6), ("float64", 1e-12)])
@pytest.mark.parametrize("size, scale", [((3, 3), 1.0), ((2, 4), 0.5), ((1, 1), 1.0),
                                         ((5, 2), 0.7)])
def test_roi_pool_matches_the_reference(dtype, tol, size, scale):
    xa = _distinct((2, 3, 8, 10), dtype)
    boxes = np.array(BOXES, dtype)
    x = rt.tensor(xa, device=current_device(), requires_grad=True)
    out = ops.roi_pool(x, rt.tensor(boxes, device=current_device()), size, scale)
    xt = torch.tensor(xa, requires_grad=True)
    want = _reference(xt, boxes, *size, scale)
    assert tuple(out.shape) == tuple(want.shape) == (len(BOXES), 3, *size)
    np.testing.assert_allclose(to_np(out), want.detach().numpy(), rtol=tol, atol=tol)
    g = _distinct(tuple(want.shape), dtype, seed=1)
    out.backward(rt.tensor(g, device=current_device()))
    want.backward(torch.tensor(g))
    np.testing.assert_allclose(to_np(x.grad), xt.grad.numpy(), rtol=tol, atol=tol)


@needs_torch
def test_roi_pool_list_of_boxes_and_module():
    xa = _distinct((2, 2, 6, 7), "float32", seed=2)
    per_image = [np.array([[0.0, 0.0, 4.0, 3.0], [1.0, 2.0, 6.0, 5.0]], np.float32),
                 np.array([[2.0, 1.0, 5.0, 5.0]], np.float32)]
    x = rt.tensor(xa, device=current_device())
    got = ops.roi_pool(x, [rt.tensor(b, device=current_device()) for b in per_image], 2)
    flat = np.concatenate([np.c_[np.full((len(b), 1), i, np.float32), b]
                           for i, b in enumerate(per_image)])
    want = _reference(torch.tensor(xa), flat, 2, 2, 1.0)
    np.testing.assert_allclose(to_np(got), want.numpy(), rtol=1e-6)
    pool = ops.RoIPool((2, 2), 1.0)
    assert repr(pool) == "RoIPool(output_size=(2, 2), spatial_scale=1.0)"
    np.testing.assert_allclose(to_np(pool(x, rt.tensor(flat, device=current_device()))),
                               want.numpy(), rtol=1e-6)
    assert repr(ops.RoIPool(7, 0.25)) == "RoIPool(output_size=7, spatial_scale=0.25)"


def test_roi_pool_half_precision_follows_float32():
    xa = _distinct((1, 2, 6, 6), "float32", seed=3)
    boxes = rt.tensor([[0, 0.0, 0.0, 5.0, 5.0], [0, 1.0, 2.0, 3.0, 4.0]],
                      device=current_device())
    x = rt.tensor(xa, device=current_device())
    want = ops.roi_pool(x, boxes, 3)
    for dtype in (rt.float16, rt.bfloat16):
        got = ops.roi_pool(x.to(dtype), boxes.to(dtype), 3)
        assert got.dtype == dtype
        np.testing.assert_allclose(to_np(got.float()), to_np(want.to(dtype).float()))


def test_roi_pool_gradcheck_and_recorded_backward():
    dev = current_device()
    x = rt.tensor(_distinct((2, 2, 6, 7), "float64", seed=4), device=dev, requires_grad=True)
    boxes = rt.tensor([[0, 0.0, 0.0, 4.0, 3.0], [1, 1.0, 1.0, 6.0, 5.0],
                       [1, 5.0, 4.0, 9.0, 9.0]], dtype=rt.float64, device=dev)
    assert rt.autograd.gradcheck(lambda t: ops.roi_pool(t, boxes, (2, 3)), (x,), eps=1e-6)
    # The backward recorded for create_graph gives the kernel's gradient, and is itself
    # differentiable (in the output's gradient).
    out = ops.roi_pool(x, boxes, (2, 3))
    g = rt.tensor(_distinct(tuple(out.shape), "float64", seed=5), device=dev, requires_grad=True)
    (gx,) = rt.autograd.grad(out, x, g, create_graph=True)
    (plain,) = rt.autograd.grad(ops.roi_pool(x, boxes, (2, 3)), x, g.detach())
    # (equal up to the order of a GPU kernel's atomic additions)
    np.testing.assert_allclose(to_np(gx.detach()), to_np(plain), rtol=1e-12, atol=1e-12)
    (gg,) = rt.autograd.grad(gx.sum(), g)
    # Each output's gradient lands once where its bin is not empty.
    full = np.zeros((3, 2, 2, 3))
    for r, box in enumerate(to_np(boxes)):
        for i, j, h0, h1, w0, w1 in _bins(box, (6, 7), 1.0, 2, 3, "float64"):
            full[r, :, i, j] = float(h1 > h0 and w1 > w0)
    assert full.min() == 0.0  # the last box has empty bins
    np.testing.assert_array_equal(to_np(gg), full)


def test_roi_pool_batch_index_outside_the_batch_pools_nothing():
    x = rt.ones(1, 1, 4, 4, device=current_device(), requires_grad=True)
    boxes = rt.tensor([[3, 0.0, 0.0, 3.0, 3.0], [-1, 0.0, 0.0, 3.0, 3.0],
                       [0.7, 0.0, 0.0, 1.0, 1.0]], device=current_device())
    out = ops.roi_pool(x, boxes, 2)
    np.testing.assert_array_equal(to_np(out[:2]), np.zeros((2, 1, 2, 2), np.float32))
    np.testing.assert_array_equal(to_np(out[2]), np.ones((1, 2, 2), np.float32))  # index 0
    out.sum().backward()
    assert to_np(x.grad).sum() == 4.0


def test_roi_pool_errors():
    x = rt.zeros(1, 2, 4, 4, device=current_device())
    with pytest.raises(AssertionError, match=r"Tensor\[K, 5\]"):
        ops.roi_pool(x, rt.zeros(3, 4, device=current_device()), 2)
    with pytest.raises(AssertionError, match=r"List\[Tensor\[L, 4\]\]"):
        ops.roi_pool(x, [rt.zeros(3, 5, device=current_device())], 2)
    with pytest.raises(AssertionError, match="boxes is expected to be"):
        ops.roi_pool(x, np.zeros((3, 5)), 2)
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'input' to have the "
                       "same type as tensor for argument #2 'rois'"):
        ops.roi_pool(x, rt.zeros(1, 5, dtype=rt.float64, device=current_device()), 2)
    with pytest.raises(NotImplementedError, match="roi_pool_forward_kernel.*Long"):
        ops.roi_pool(x.long(), rt.zeros(1, 5, dtype=rt.int64, device=current_device()), 2)
    with pytest.raises(RuntimeError, match="expected a 4-D input"):
        ops.roi_pool(x[0], rt.zeros(1, 5, device=current_device()), 2)
