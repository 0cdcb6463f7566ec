"""``rustorch.vision.models.detection`` and the detection ops against torchvision itself.

torchvision comes from ``_torchvision_oracle.load_torchvision`` (its own Python code; its
compiled ``nms`` / ``roi_align`` replaced by references of the CPU kernels when its library
cannot load). The module skips when torchvision or PyTorch is not importable.

* State dicts: the keys, shapes and dtypes of ``maskrcnn_resnet50_fpn`` /
  ``fasterrcnn_resnet50_fpn`` are torchvision's; torchvision's state dict loads with
  ``strict=True``, and so do the pre-0.13 key layouts that torchvision upgrades on load.
* Eval: a small Mask R-CNN (``min_size=160``, few proposals and detections) with
  torchvision's weights, run on two images of different sizes; the transform's output, the
  FPN features, the RPN proposals and the final boxes / labels / scores / masks agree. The
  random weights give well-separated scores (checked), so top-k, NMS and the score
  ranking make the same discrete choices on both sides.
* Train: the five losses and a few gradient norms agree; the random sampling of anchors
  and proposals is made deterministic by budgets that take every candidate.
* Ops and building blocks (box utilities, ``AnchorGenerator``, ``BoxCoder``, ``Matcher``,
  ``MultiScaleRoIAlign``, ``FeaturePyramidNetwork``, ``FrozenBatchNorm2d``) on random
  inputs.

These tests import ``rustorch`` directly (not ``conftest.rt``), so they run the same under
``RUSTORCH_TEST_ORACLE=torch``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import rustorch
from _torchvision_oracle import load_torchvision, skip_reason
from rustorch.vision import ops as rops
from rustorch.vision.models import (
    ResNet50_Weights,
    get_model_weights,
    get_weight,
    list_models,
    resnet50,
)
from rustorch.vision.models import detection as rdet
from rustorch.vision.models.detection import _utils as rdet_utils
from rustorch.vision.models.detection.anchor_utils import AnchorGenerator
from rustorch.vision.models.detection.backbone_utils import _resnet_fpn_extractor
from rustorch.vision.models.detection.image_list import ImageList

tv = load_torchvision()
if tv is None:
    pytest.skip(skip_reason(), allow_module_level=True)

import torch  # noqa: E402  (torchvision implies PyTorch)

SMALL = dict(min_size=160, max_size=224, rpn_pre_nms_top_n_test=200, rpn_post_nms_top_n_test=40,
             box_detections_per_img=8, box_score_thresh=0.0)
SIZES = [(150, 200), (130, 170)]  # two images of different sizes (H, W)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """PyTorch's intra-op threads and rustorch's worker team oversubscribe a small machine:
    the references run on one thread here, and the setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_np(t) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    return np.array(t.detach().cpu().numpy(), copy=True)


def rt_from(t) -> rustorch.Tensor:
    return rustorch.from_numpy(to_np(t))


def rt_state(module) -> dict:
    return {k: rt_from(v) for k, v in module.state_dict().items()}


def assert_close(got, want, rtol=1e-4, atol=1e-5, scale=False):
    """Compare arrays; ``scale`` makes ``atol`` relative to the reference's largest entry."""
    got, want = to_np(got), to_np(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if scale and want.size:
        atol = atol * max(float(np.abs(want).max()), 1.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def images(seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.random((3, h, w), dtype=np.float32) for h, w in SIZES]
    return [torch.from_numpy(a) for a in arrays], [rustorch.from_numpy(a) for a in arrays]


# --------------------------------------------------------------------------------------
# state dicts


def _signature(sd) -> dict:
    return {k: (tuple(v.shape), str(v.dtype).rsplit(".", 1)[-1]) for k, v in sd.items()}


@pytest.mark.parametrize("name, meta_params", [
    ("maskrcnn_resnet50_fpn", 44401393), ("fasterrcnn_resnet50_fpn", 41755286)])
def test_state_dict_matches_torchvision(name, meta_params):
    ours = getattr(rdet, name)(weights=None, weights_backbone=None)
    theirs = getattr(tv.models.detection, name)(weights=None, weights_backbone=None)
    assert list(_signature(ours.state_dict()).items()) == \
        list(_signature(theirs.state_dict()).items())
    incompatible = ours.load_state_dict(rt_state(theirs), strict=True)
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    # the weights' num_params counts a frozen-batch-norm model: BatchNorm2d parameters aside
    frozen = sum(p.numel() for m in ours.modules() if not isinstance(m, rustorch.nn.BatchNorm2d)
                 for p in m.parameters(recurse=False))
    assert frozen == meta_params
    assert [n for n, p in ours.named_parameters() if not p.requires_grad] == \
        [n for n, p in theirs.named_parameters() if not p.requires_grad]


def _old_layout(sd: dict) -> dict:
    """The key names of checkpoints written before torchvision 0.13."""
    old = OrderedDict()
    for k, v in sd.items():
        parts = k.split(".")
        if k.startswith("rpn.head.conv.0.0."):
            k = "rpn.head.conv." + parts[-1]
        elif k.startswith("roi_heads.mask_head."):
            k = f"roi_heads.mask_head.mask_fcn{int(parts[2]) + 1}.{parts[-1]}"
        elif k.startswith(("backbone.fpn.inner_blocks.", "backbone.fpn.layer_blocks.")):
            k = ".".join(parts[:4] + parts[-1:])
        old[k] = v
    return old


def test_old_key_layouts_load():
    theirs = tv.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                       num_classes=3)
    ours = rdet.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3)
    old = _old_layout(theirs.state_dict())
    assert "rpn.head.conv.weight" in old and "roi_heads.mask_head.mask_fcn4.bias" in old
    assert "backbone.fpn.inner_blocks.3.weight" in old
    theirs.load_state_dict(old, strict=True)  # torchvision upgrades exactly these keys
    ours.load_state_dict({k: rt_from(v) for k, v in old.items()}, strict=True)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(to_np(ours.state_dict()[k]), to_np(v), err_msg=k)
    # a current state dict carries version 2 metadata: loaded as is
    ours.load_state_dict(ours.state_dict(), strict=True)


def test_frozen_batch_norm():
    bn = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for b in (bn.weight, bn.bias, bn.running_mean):
            b.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    ours, theirs = rops.FrozenBatchNorm2d(4), tv.ops.misc.FrozenBatchNorm2d(4)
    ours.load_state_dict(rt_state(bn), strict=True)  # num_batches_tracked is dropped
    theirs.load_state_dict(bn.state_dict(), strict=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == []
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 5)).astype(np.float32)
    assert_close(ours(rustorch.from_numpy(x)), theirs(torch.from_numpy(x)), rtol=1e-6, atol=1e-6)
    assert repr(ours) == repr(theirs)


# --------------------------------------------------------------------------------------
# eval: the whole model


class _Capture:
    """Forward hooks keeping each watched submodule's output."""

    def __init__(self, model, names):
        self.out = {}
        for name in names:
            getattr(model, name).register_forward_hook(self._hook(name))

    def _hook(self, name):
        def hook(module, args, output):
            self.out[name] = output
        return hook


@pytest.fixture(scope="module")
def eval_run():
    torch.manual_seed(0)
    theirs = tv.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                       **SMALL).eval()
    ours = rdet.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, **SMALL).eval()
    ours.load_state_dict(rt_state(theirs), strict=True)
    cap_t = _Capture(theirs, ["transform", "backbone", "rpn"])
    cap_r = _Capture(ours, ["transform", "backbone", "rpn"])
    imgs_t, imgs_r = images()
    with torch.no_grad():
        det_t = theirs(imgs_t)
    with rustorch.no_grad():
        det_r = ours(imgs_r)
    assert repr(ours.transform) == repr(theirs.transform)
    assert repr(ours.roi_heads.box_roi_pool) == repr(theirs.roi_heads.box_roi_pool)
    return cap_t.out, cap_r.out, det_t, det_r


def test_eval_transform(eval_run):
    out_t, out_r, _, _ = eval_run
    (il_t, _), (il_r, _) = out_t["transform"], out_r["transform"]
    assert [tuple(s) for s in il_r.image_sizes] == [tuple(s) for s in il_t.image_sizes]
    assert tuple(il_r.tensors.shape) == tuple(il_t.tensors.shape) == (2, 3, 160, 224)
    # rustorch's bilinear resize places samples in float64, PyTorch in float32: ~1e-5
    assert_close(il_r.tensors, il_t.tensors, rtol=1e-4, atol=1e-4)


def test_eval_fpn_features(eval_run):
    out_t, out_r, _, _ = eval_run
    feats_t, feats_r = out_t["backbone"], out_r["backbone"]
    assert list(feats_r) == list(feats_t) == ["0", "1", "2", "3", "pool"]
    for k in feats_t:
        assert_close(feats_r[k], feats_t[k], rtol=1e-4, atol=1e-4, scale=True)


def test_eval_rpn_proposals(eval_run):
    out_t, out_r, _, _ = eval_run
    (props_t, losses_t), (props_r, losses_r) = out_t["rpn"], out_r["rpn"]
    assert losses_r == {} and losses_t == {}
    for p_r, p_t in zip(props_r, props_t):
        assert tuple(p_r.shape) == tuple(p_t.shape) == (SMALL["rpn_post_nms_top_n_test"], 4)
        # pixels: the features' ~1e-5 relative difference, through exp() of the deltas
        assert_close(p_r, p_t, rtol=1e-4, atol=2e-2)


def _match(boxes_r, labels_r, boxes_t, labels_t):
    """For each reference detection, the index of ours with its label and the same box."""
    order = []
    for b, lab in zip(boxes_t, labels_t):
        err = np.abs(boxes_r - b).max(axis=1) + 1e9 * (labels_r != lab)
        j = int(err.argmin())
        assert err[j] < 5e-2 and j not in order, (b, lab)
        order.append(j)
    return order


def test_eval_detections(eval_run):
    _, _, det_t, det_r = eval_run
    for d_r, d_t, (h, w) in zip(det_r, det_t, SIZES):
        assert sorted(d_r) == sorted(d_t) == ["boxes", "labels", "masks", "scores"]
        assert d_r["labels"].dtype == rustorch.int64
        scores_t = to_np(d_t["scores"])
        n = SMALL["box_detections_per_img"]
        assert len(scores_t) == n and np.diff(scores_t).max() < -1e-4  # no near ties
        order = _match(to_np(d_r["boxes"]), to_np(d_r["labels"]), to_np(d_t["boxes"]),
                       to_np(d_t["labels"]))
        assert order == list(range(n))  # same ranking
        assert_close(d_r["boxes"], d_t["boxes"], rtol=1e-4, atol=2e-2)
        assert_close(d_r["scores"], d_t["scores"], rtol=1e-4, atol=1e-5)
        assert tuple(d_r["masks"].shape) == (n, 1, h, w)
        assert_close(d_r["masks"], d_t["masks"], rtol=1e-3, atol=1e-4)


# --------------------------------------------------------------------------------------
# train: losses and gradients

TRAIN = dict(min_size=160, max_size=224, rpn_pre_nms_top_n_train=200,
             rpn_post_nms_top_n_train=40,
             # budgets above the candidate counts: every anchor / proposal is sampled, so
             # the random permutations of the samplers do not matter
             rpn_batch_size_per_image=100_000, rpn_positive_fraction=0.5,
             box_batch_size_per_image=10_000, box_positive_fraction=0.5)
GRAD_PARAMS = ["roi_heads.box_predictor.cls_score.weight", "roi_heads.box_head.fc6.weight",
               "roi_heads.mask_predictor.mask_fcn_logits.weight", "roi_heads.mask_head.0.0.weight",
               "rpn.head.conv.0.0.weight", "rpn.head.bbox_pred.weight",
               "backbone.fpn.layer_blocks.0.0.weight", "backbone.body.layer4.2.conv3.weight",
               "backbone.body.layer2.0.conv1.weight"]


def _targets(lib):
    boxes = [[[20.0, 30.0, 90.0, 120.0], [100.0, 10.0, 180.0, 70.0]], [[40.0, 20.0, 130.0, 110.0]]]
    labels = [[1, 3], [2]]
    out = []
    for (h, w), bx, lab in zip(SIZES, boxes, labels):
        masks = np.zeros((len(bx), h, w), np.uint8)
        yy, xx = np.mgrid[:h, :w]
        for m, (x1, y1, x2, y2) in zip(masks, bx):
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            m[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = 1
        out.append({"boxes": lib.from_numpy(np.array(bx, np.float32)),
                    "labels": lib.from_numpy(np.array(lab, np.int64)),
                    "masks": lib.from_numpy(masks)})
    return out


@pytest.fixture(scope="module")
def train_run():
    torch.manual_seed(1)
    backbone_t = tv.models.detection.backbone_utils._resnet_fpn_extractor(
        tv.models.resnet50(norm_layer=tv.ops.misc.FrozenBatchNorm2d), 3)
    theirs = tv.models.detection.MaskRCNN(backbone_t, num_classes=5, **TRAIN).train()
    ours = rdet.MaskRCNN(_resnet_fpn_extractor(resnet50(norm_layer=rops.FrozenBatchNorm2d), 3),
                         num_classes=5, **TRAIN).train()
    ours.load_state_dict(rt_state(theirs), strict=True)
    imgs_t, imgs_r = images(1)
    losses_t = theirs(imgs_t, _targets(torch))
    losses_r = ours(imgs_r, _targets(rustorch))
    sum(losses_t.values()).backward()
    sum(losses_r.values()).backward()
    grads_t = {n: p.grad for n, p in theirs.named_parameters() if n in GRAD_PARAMS}
    grads_r = {n: p.grad for n, p in ours.named_parameters() if n in GRAD_PARAMS}
    frozen = ([n for n, p in theirs.named_parameters() if not p.requires_grad],
              [n for n, p in ours.named_parameters() if not p.requires_grad])
    return losses_t, losses_r, grads_t, grads_r, frozen


def test_train_losses(train_run):
    losses_t, losses_r, _, _, _ = train_run
    assert list(losses_r) == list(losses_t) == [
        "loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"]
    for k in losses_t:
        assert losses_r[k].dim() == 0
        assert_close(losses_r[k], losses_t[k], rtol=2e-4, atol=1e-6)


def test_train_gradients(train_run):
    _, _, grads_t, grads_r, (frozen_t, frozen_r) = train_run
    assert frozen_r == frozen_t and "backbone.body.layer1.0.conv1.weight" in frozen_r
    assert sorted(grads_r) == sorted(grads_t) == sorted(GRAD_PARAMS)
    for name in GRAD_PARAMS:
        g_r, g_t = to_np(grads_r[name]), to_np(grads_t[name])
        assert np.isfinite(g_r).all() and np.abs(g_t).max() > 0, name
        np.testing.assert_allclose(np.linalg.norm(g_r), np.linalg.norm(g_t), rtol=1e-3,
                                   err_msg=name)
        # element-wise, deep in the backbone a ReLU input within rounding of 0 can switch a
        # few entries: the difference is bounded as a whole
        assert np.linalg.norm(g_r - g_t) <= 5e-3 * np.linalg.norm(g_t), name


def test_train_target_checks():
    model = rdet.FasterRCNN(_resnet_fpn_extractor(resnet50(), 5), num_classes=3,
                            min_size=64, max_size=64).train()
    img = [rustorch.rand(3, 40, 50)]
    with pytest.raises(AssertionError, match="targets should not be none"):
        model(img)
    bad = [{"boxes": rustorch.tensor([[5.0, 5.0, 20.0, 20.0], [10.0, 10.0, 10.0, 30.0]]),
            "labels": rustorch.tensor([1, 2])}]
    with pytest.raises(AssertionError, match=r"positive height and width.*index 0"):
        model(img, bad)
    with pytest.raises(ValueError, match="num_classes should be None when box_predictor"):
        rdet.FasterRCNN(model.backbone, num_classes=3, box_predictor=rustorch.nn.Identity())


# --------------------------------------------------------------------------------------
# ops and building blocks


def _random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 3, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_box_utilities():
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 30), _random_boxes(rng, 20)
    for fmt in ("xyxy", "xywh", "cxcywh"):
        assert_close(rops.box_iou(rustorch.from_numpy(a), rustorch.from_numpy(b), fmt=fmt),
                     tv.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b), fmt=fmt),
                     rtol=1e-6, atol=1e-7)
        assert_close(rops.box_area(rustorch.from_numpy(a), fmt=fmt),
                     tv.ops.box_area(torch.from_numpy(a), fmt=fmt), rtol=1e-6)
    wide = a * 1.5 - 20
    assert_close(rops.clip_boxes_to_image(rustorch.from_numpy(wide), (70, 90)),
                 tv.ops.clip_boxes_to_image(torch.from_numpy(wide), (70, 90)), rtol=0, atol=0)
    assert_close(rops.clip_boxes_to_image(rustorch.from_numpy(wide.reshape(5, 6, 4)), (70, 90)),
                 tv.ops.clip_boxes_to_image(torch.from_numpy(wide.reshape(5, 6, 4)), (70, 90)),
                 rtol=0, atol=0)
    thin = a.copy()
    thin[::3, 2] = thin[::3, 0] + 0.5
    assert to_np(rops.remove_small_boxes(rustorch.from_numpy(thin), 1.0)).tolist() == \
        to_np(tv.ops.remove_small_boxes(torch.from_numpy(thin), 1.0)).tolist()
    # batched_nms: the coordinate trick (<= 4000 coordinates) and the per-class path
    for n in (300, 1500):
        boxes = _random_boxes(rng, n)
        scores = rng.permutation(n).astype(np.float32) / n
        idxs = rng.integers(0, 7, n)
        got = rops.batched_nms(rustorch.from_numpy(boxes), rustorch.from_numpy(scores),
                               rustorch.from_numpy(idxs), 0.5)
        want = tv.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                  torch.from_numpy(idxs), 0.5)
        assert got.dtype == rustorch.int64
        assert to_np(got).tolist() == to_np(want).tolist()
    empty = rops.batched_nms(rustorch.zeros(0, 4), rustorch.zeros(0), rustorch.zeros(0), 0.5)
    assert tuple(empty.shape) == (0,) and empty.dtype == rustorch.int64


def test_anchor_generator():
    sizes, ratios = ((16,), (32, 64)), ((0.5, 1.0, 2.0), (1.0, 3.0))
    ours, theirs = AnchorGenerator(sizes, ratios), tv.models.detection.anchor_utils.AnchorGenerator(
        sizes, ratios)
    assert ours.num_anchors_per_location() == theirs.num_anchors_per_location() == [3, 4]
    maps = [(12, 17), (6, 9)]
    anchors_r = ours(ImageList(rustorch.zeros(2, 3, 50, 70), [(50, 70), (40, 61)]),
                     [rustorch.zeros(2, 8, h, w) for h, w in maps])
    image_list_t = tv.models.detection.image_list.ImageList(torch.zeros(2, 3, 50, 70),
                                                            [(50, 70), (40, 61)])
    anchors_t = theirs(image_list_t, [torch.zeros(2, 8, h, w) for h, w in maps])
    assert len(anchors_r) == 2
    for got, want in zip(anchors_r, anchors_t):
        assert got.dtype == rustorch.float32
        assert_close(got, want, rtol=0, atol=0)


def test_box_coder_and_matcher():
    rng = np.random.default_rng(1)
    ref, props = _random_boxes(rng, 40), _random_boxes(rng, 40)
    for weights in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)):
        ours, theirs = rdet_utils.BoxCoder(weights), tv.models.detection._utils.BoxCoder(weights)
        enc_r = ours.encode([rustorch.from_numpy(ref[:25]), rustorch.from_numpy(ref[25:])],
                            [rustorch.from_numpy(props[:25]), rustorch.from_numpy(props[25:])])
        enc_t = theirs.encode([torch.from_numpy(ref[:25]), torch.from_numpy(ref[25:])],
                              [torch.from_numpy(props[:25]), torch.from_numpy(props[25:])])
        for got, want in zip(enc_r, enc_t):
            assert_close(got, want, rtol=1e-5, atol=1e-6)
        codes = (rng.standard_normal((40, 12)) * 2).astype(np.float32)  # 3 classes, some clamped
        dec_r = ours.decode(rustorch.from_numpy(codes), [rustorch.from_numpy(props)])
        dec_t = theirs.decode(torch.from_numpy(codes), [torch.from_numpy(props)])
        assert tuple(dec_r.shape) == (40, 3, 4)
        assert_close(dec_r, dec_t, rtol=1e-5, atol=1e-4)
    quality = rng.uniform(0, 1, (5, 60)).astype(np.float32)
    quality[2, 7] = quality[2, 9] = 1.5  # a tie for the best prediction of ground truth 2
    quality[3] *= 0.2  # a ground truth whose best match is of low quality
    for low_quality in (False, True):
        got = rdet_utils.Matcher(0.7, 0.3, low_quality)(rustorch.from_numpy(quality))
        want = tv.models.detection._utils.Matcher(0.7, 0.3, low_quality)(torch.from_numpy(quality))
        assert to_np(got).tolist() == to_np(want).tolist()
    with pytest.raises(ValueError, match="No ground-truth boxes"):
        rdet_utils.Matcher(0.7, 0.3)(rustorch.zeros(0, 4))


def test_balanced_sampler_counts():
    """The draws follow each library's generator; the counts and the candidates do not."""
    rng = np.random.default_rng(4)
    matched = [rng.integers(-1, 4, 300), rng.integers(-1, 2, 40), np.full(30, -1)]
    for batch, fraction in ((64, 0.25), (256, 0.5), (10, 1.0)):
        pos_r, neg_r = rdet_utils.BalancedPositiveNegativeSampler(batch, fraction)(
            [rustorch.from_numpy(m) for m in matched])
        pos_t, neg_t = tv.models.detection._utils.BalancedPositiveNegativeSampler(batch, fraction)(
            [torch.from_numpy(m) for m in matched])
        for m, p_r, n_r, p_t, n_t in zip(matched, pos_r, neg_r, pos_t, neg_t):
            assert p_r.dtype == n_r.dtype == rustorch.uint8
            p_r, n_r = to_np(p_r).astype(bool), to_np(n_r).astype(bool)
            assert p_r.sum() == to_np(p_t).sum() and n_r.sum() == to_np(n_t).sum()
            assert (m[p_r] >= 1).all() and (m[n_r] == 0).all()


def test_multiscale_roi_align():
    rng = np.random.default_rng(2)
    feats = OrderedDict((k, rng.standard_normal((2, 5, 64 // 2 ** i, 80 // 2 ** i))
                         .astype(np.float32)) for i, k in enumerate(["a", "b", "c", "d"]))
    boxes = [_random_boxes(rng, 9, 120.0) * [1.0, 0.8, 1.0, 0.8], _random_boxes(rng, 6, 150.0)]
    boxes = [np.minimum(b, [319, 255, 319, 255]).astype(np.float32) for b in boxes]
    shapes = [(256, 320), (240, 300)]
    ours = rops.MultiScaleRoIAlign(["a", "c", "d"], 5, 2)
    theirs = tv.ops.MultiScaleRoIAlign(["a", "c", "d"], 5, 2)
    got = ours(OrderedDict((k, rustorch.from_numpy(v)) for k, v in feats.items()),
               [rustorch.from_numpy(b) for b in boxes], shapes)
    want = theirs(OrderedDict((k, torch.from_numpy(v)) for k, v in feats.items()),
                  [torch.from_numpy(b) for b in boxes], shapes)
    assert ours.scales == theirs.scales
    assert repr(ours) == repr(theirs)
    assert_close(got, want, rtol=1e-5, atol=1e-5)
    # levels (and images) without boxes are routine in the detectors: empty roi_align calls
    few = [boxes[0][:2], np.zeros((0, 4), np.float32)]
    got = ours(OrderedDict((k, rustorch.from_numpy(v)) for k, v in feats.items()),
               [rustorch.from_numpy(b) for b in few], shapes)
    want = theirs(OrderedDict((k, torch.from_numpy(v)) for k, v in feats.items()),
                  [torch.from_numpy(b) for b in few], shapes)
    assert_close(got, want, rtol=1e-5, atol=1e-5)
    empty = rops.roi_align(rustorch.zeros(1, 3, 8, 8), rustorch.zeros(0, 5), (2, 3), 0.5, 2)
    assert tuple(empty.shape) == (0, 3, 2, 3)


def test_feature_pyramid_network():
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    theirs = tv.ops.FeaturePyramidNetwork([4, 8, 16], 6,
                                          extra_blocks=tv.ops.feature_pyramid_network.LastLevelMaxPool())
    ours = rops.FeaturePyramidNetwork([4, 8, 16], 6,
                                      extra_blocks=rops.feature_pyramid_network.LastLevelMaxPool())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(rt_state(theirs), strict=True)
    x = OrderedDict([("f0", rng.standard_normal((2, 4, 17, 23))), ("f1", rng.standard_normal(
        (2, 8, 9, 12))), ("f2", rng.standard_normal((2, 16, 5, 6)))])
    got = ours(OrderedDict((k, rustorch.from_numpy(v.astype(np.float32))) for k, v in x.items()))
    want = theirs(OrderedDict((k, torch.from_numpy(v.astype(np.float32))) for k, v in x.items()))
    assert list(got) == list(want) == ["f0", "f1", "f2", "pool"]
    for k in want:
        assert_close(got[k], want[k], rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------
# builders: weights from the hub cache, legacy arguments


def test_builders_weights_and_legacy_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert rdet.MaskRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"] == \
        tv.models.detection.MaskRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"]
    for ours_w, theirs_w in ((rdet.MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
                              tv.models.detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1),
                             (rdet.FasterRCNN_ResNet50_FPN_Weights.COCO_V1,
                              tv.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1)):
        assert ours_w.url == theirs_w.url
        assert {k: v for k, v in ours_w.meta.items()} == theirs_w.meta

    # weights_backbone: an ImageNet ResNet-50 file (BatchNorm2d layout) in the cache
    backbone_file = os.path.basename(ResNet50_Weights.IMAGENET1K_V1.url)
    rustorch.save(resnet50().state_dict(), str(checkpoints / backbone_file))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pretrained_backbone= must warn: turned into errors
        with pytest.raises(UserWarning, match="'pretrained_backbone' is deprecated"):
            rdet.fasterrcnn_resnet50_fpn(pretrained_backbone=True)
    model = rdet.fasterrcnn_resnet50_fpn(weights_backbone=ResNet50_Weights.IMAGENET1K_V1)
    assert isinstance(model.backbone.body.bn1, rops.FrozenBatchNorm2d)
    trainable = [n for n, p in model.backbone.body.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(("layer2", "layer3", "layer4")) for n in trainable)

    # weights=: the COCO file; eps 0 as torchvision's original checkpoints need
    state = model.state_dict()
    rustorch.save(state, str(checkpoints / os.path.basename(
        rdet.FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = rdet.fasterrcnn_resnet50_fpn(pretrained=True)
    messages = [str(w.message) for w in caught]
    assert any("'pretrained' is deprecated" in m for m in messages), messages
    assert any("equivalent to passing `weights=FasterRCNN_ResNet50_FPN_Weights.COCO_V1`" in m
               for m in messages), messages
    assert loaded.backbone.body.bn1.eps == 0.0
    np.testing.assert_array_equal(to_np(loaded.roi_heads.box_predictor.cls_score.weight),
                                  to_np(state["roi_heads.box_predictor.cls_score.weight"]))
    with pytest.raises(ValueError, match="expected value 91 but got 5"):
        rdet.fasterrcnn_resnet50_fpn(weights="DEFAULT", num_classes=5)
    with pytest.raises(RuntimeError, match="maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"):
        rdet.maskrcnn_resnet50_fpn(weights="COCO_V1")
    assert math.isclose(rdet_utils.BoxCoder((1.0,) * 4).bbox_xform_clip, math.log(1000 / 16))
    # the registry and the weights' preprocessing
    assert get_weight("MaskRCNN_ResNet50_FPN_Weights.COCO_V1") is \
        rdet.MaskRCNN_ResNet50_FPN_Weights.COCO_V1
    assert get_model_weights("fasterrcnn_resnet50_fpn") is rdet.FasterRCNN_ResNet50_FPN_Weights
    assert list_models(module=rdet) == ["fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn"]
    preset = rdet.MaskRCNN_ResNet50_FPN_Weights.DEFAULT.transforms()
    image = rustorch.tensor([[[0, 51], [255, 102]]], dtype=rustorch.uint8)
    assert repr(preset) == "ObjectDetection()"
    assert_close(preset(image), torch.tensor([[[0.0, 0.2], [1.0, 0.4]]]), rtol=1e-6)
