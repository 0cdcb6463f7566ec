"""``rustorch.vision.models``: torchvision's architectures, names and weights handling.

torchvision is not a dependency, so the PyTorch references are compact re-definitions in
plain ``torch.nn`` (below) of ResNet-18, VGG-11-BN and MobileNetV2 with torchvision's module
structure: the rustorch state dict is copied into them (through NumPy, ``strict=True``) and
outputs and gradients are compared. Larger models are checked against torchvision's
published parameter counts and state-dict facts. These tests import ``rustorch`` directly
(not ``conftest.rt``), so they run the same under ``RUSTORCH_TEST_ORACLE=torch``.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import warnings

import numpy as np
import pytest
import rustorch
import rustorch.vision.models as models
from conftest import torch_or_none
from rustorch.vision.models import resnet as rt_resnet

torch = torch_or_none
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (reference)")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """PyTorch's intra-op threads and rustorch's spinning worker team oversubscribe a small
    machine (a 0.1 s reference backward took 19 s on 2 cores): the references run on one
    thread here, and the setting is restored afterwards."""
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------------------
# plain torch.nn references with torchvision's module names


def _torch_refs():  # built lazily: torch may be absent
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            inplanes = 64
            for i, planes in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                down = None
                if stride != 1 or inplanes != planes:
                    down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                         nn.BatchNorm2d(planes))
                layer = nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                      BasicBlock(planes, planes))
                setattr(self, f"layer{i + 1}", layer)
                inplanes = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class VGG11BN(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            layers, c = [], 3
            for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(True)]
                    c = v
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 49, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, num_classes),
            )

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    def cna(cin, cout, k=3, stride=1, groups=1):  # Conv2dNormActivation with ReLU6
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups,
                                       bias=False), nn.BatchNorm2d(cout), nn.ReLU6(True))

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride, t):
            super().__init__()
            hidden = inp * t
            self.use_res = stride == 1 and inp == oup
            layers = [cna(inp, hidden, 1)] if t != 1 else []
            layers += [cna(hidden, hidden, 3, stride, hidden),
                       nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            feats, c = [cna(3, 32, stride=2)], 32
            for t, cout, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                  (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
                for i in range(n):
                    feats.append(InvertedResidual(c, cout, s if i == 0 else 1, t))
                    c = cout
            feats.append(cna(c, 1280, 1))
            self.features = nn.Sequential(*feats)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    return {"resnet18": ResNet18, "vgg11_bn": VGG11BN, "mobilenet_v2": MobileNetV2}


# --------------------------------------------------------------------------------------
# helpers


def _np(t):
    return t.detach().cpu().numpy()


def _randomised_state(model, seed=0):
    """The model's state dict as NumPy, with BatchNorm statistics and affine parameters
    randomised so that eval-mode normalisation is not the identity."""
    rng = np.random.RandomState(seed)
    sd = {k: _np(v).copy() for k, v in model.state_dict().items()}
    for k, v in sd.items():
        if k.endswith("running_mean") or k.endswith(".bias") and v.ndim == 1:
            sd[k] = rng.uniform(-0.1, 0.1, v.shape).astype(v.dtype)
        elif k.endswith("running_var"):
            sd[k] = rng.uniform(0.5, 1.5, v.shape).astype(v.dtype)
        elif k.endswith(".weight") and v.ndim == 1:
            sd[k] = rng.uniform(0.5, 1.5, v.shape).astype(v.dtype)
    return sd


def _load_both(rt_model, torch_model, sd):
    rt_model.load_state_dict({k: rustorch.from_numpy(v) for k, v in sd.items()}, strict=True)
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)


def _close(got, want, rtol=1e-4, what=""):
    # The absolute floor is float32 rounding of the O(1) activations inside the network,
    # which an output of small scale inherits.
    scale = max(float(np.abs(want).max()), 1e-2)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def _shapes(sd):
    return sorted((k, tuple(int(s) for s in v.shape)) for k, v in sd.items())


# --------------------------------------------------------------------------------------
# numerics against the torch.nn references

_REF_CASES = [  # name, input size, input size of the float64 backward check (0: none)
    ("resnet18", 64, 64),
    ("vgg11_bn", 32, 0),
    # 48, not 32: at 32 the last stage's maps are 1x1, so batch-statistics BatchNorm
    # normalises two values and amplifies rounding ~1e8-fold (PyTorch itself moves by 2e-6
    # under a 1e-14 change of the input).
    ("mobilenet_v2", 64, 48),
]


@needs_torch
@pytest.mark.parametrize("name,size,train_size", _REF_CASES, ids=[c[0] for c in _REF_CASES])
def test_matches_torch_reference(name, size, train_size):
    rustorch.manual_seed(0)
    rt_model = getattr(models, name)()
    ref = _torch_refs()[name]()
    assert _shapes(rt_model.state_dict()) == _shapes(ref.state_dict())
    assert list(rt_model.state_dict()) == list(ref.state_dict())  # same order too
    _load_both(rt_model, ref, _randomised_state(rt_model))

    x = np.random.RandomState(1).randn(2, 3, size, size).astype(np.float32)
    rt_model.eval()
    ref.eval()
    with rustorch.no_grad():
        got = _np(rt_model(rustorch.from_numpy(x)))
    with torch.no_grad():
        want = _np(ref(torch.from_numpy(x)))
    assert got.shape == want.shape == (2, 1000)
    _close(got, want, what=f"{name} eval output")

    if not train_size:
        return
    # training mode: batch statistics, running-stat updates and gradients. In float64:
    # with batch 2 and 2x2 maps in the last stages, batch-statistics BatchNorm makes the
    # float32 gradients of deep stacks ill-conditioned (~1e-2 relative noise), while the
    # float64 ones agree to ~1e-12. Dropout is switched off (its masks differ).
    for m in list(rt_model.modules()) + list(ref.modules()):
        if type(m).__name__ == "Dropout":
            m.p = 0.0
    rt_model.double().train()
    ref.double().train()
    x64 = x[..., :train_size, :train_size].astype(np.float64)
    w = np.random.RandomState(2).randn(2, 1000)
    out_rt = rt_model(rustorch.from_numpy(x64))
    (out_rt * rustorch.from_numpy(w)).sum().backward()
    out_t = ref(torch.from_numpy(x64))
    (out_t * torch.from_numpy(w)).sum().backward()
    _close(_np(out_rt), _np(out_t), rtol=1e-9, what=f"{name} train output")
    rt_params = dict(rt_model.named_parameters())
    t_params = dict(ref.named_parameters())
    picks = [k for i, k in enumerate(t_params) if i % 17 == 0] + [list(t_params)[-1]]
    # some gradients are exactly zero in exact arithmetic (a BN bias followed by a batch-
    # statistics BN), so the absolute tolerance is relative to the largest gradient
    gscale = max(float(p.grad.abs().max()) for p in t_params.values())
    for k in picks:
        np.testing.assert_allclose(_np(rt_params[k].grad), _np(t_params[k].grad), rtol=1e-7,
                                   atol=1e-9 * gscale, err_msg=f"{name} grad {k}")
    rt_bufs = dict(rt_model.named_buffers())
    for k, v in ref.named_buffers():
        if k.endswith("running_mean") or k.endswith("running_var"):
            _close(_np(rt_bufs[k]), _np(v), rtol=1e-9, what=k)


# --------------------------------------------------------------------------------------
# structure facts of torchvision's models


_FACTS = [
    # builder, kwargs, parameters (torchvision's meta["num_params"]), state-dict entries,
    # some keys with their shapes
    ("resnet18", {}, 11_689_512, 122,
     {"layer2.0.downsample.1.running_var": (128,), "fc.weight": (1000, 512)}),
    ("resnet50", {}, 25_557_032, 320,
     {"layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer4.2.bn3.num_batches_tracked": (),
      "layer3.5.conv2.weight": (256, 256, 3, 3), "fc.weight": (1000, 2048)}),
    ("vgg16", {"init_weights": False}, 138_357_544, 32,
     {"features.28.weight": (512, 512, 3, 3), "classifier.0.weight": (4096, 25088),
      "classifier.6.bias": (1000,)}),
    ("alexnet", {}, 61_100_840, 16,
     {"features.10.weight": (256, 256, 3, 3), "classifier.1.weight": (4096, 9216)}),
    ("mobilenet_v2", {}, 3_504_872, 314,
     {"features.0.0.weight": (32, 3, 3, 3), "features.1.conv.0.0.weight": (32, 1, 3, 3),
      "features.17.conv.2.weight": (320, 960, 1, 1), "features.18.1.running_mean": (1280,),
      "classifier.1.weight": (1000, 1280)}),
    ("squeezenet1_1", {}, 1_235_496, 52,
     {"features.12.expand3x3.weight": (256, 64, 3, 3), "classifier.1.weight": (1000, 512, 1, 1)}),
    ("squeezenet1_0", {}, 1_248_424, 52, {"features.0.weight": (96, 3, 7, 7)}),
    ("inception_v3", {"init_weights": False}, 27_161_264, 580,
     {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Mixed_6b.branch7x7_2.conv.weight":
      (128, 128, 1, 7), "AuxLogits.conv1.conv.weight": (768, 128, 5, 5),
      "AuxLogits.fc.weight": (1000, 768), "Mixed_7c.branch_pool.bn.running_var": (192,)}),
]


@pytest.mark.parametrize("name,kwargs,n_params,n_entries,keys", _FACTS,
                         ids=[f[0] for f in _FACTS])
def test_torchvision_structure_facts(name, kwargs, n_params, n_entries, keys):
    model = models.get_model(name, **kwargs)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert n_params == models.get_model_weights(name).DEFAULT.meta["num_params"]
    sd = model.state_dict()
    assert len(sd) == n_entries
    for k, shape in keys.items():
        assert tuple(sd[k].shape) == shape, k
    if name == "resnet50":  # one small forward of a bigger model
        model.eval()
        with rustorch.no_grad():
            out = model(rustorch.randn(1, 3, 64, 64))
        assert tuple(out.shape) == (1, 1000)
        assert bool(rustorch.isfinite(out).all())


def test_resnet_constructor_arguments():
    m = rt_resnet.ResNet(rt_resnet.BasicBlock, [1, 1, 1, 1], num_classes=7,
                         zero_init_residual=True)
    assert tuple(m.fc.weight.shape) == (7, 512)
    assert float(m.layer1[0].bn2.weight.abs().sum()) == 0.0
    assert float(m.layer1[0].bn1.weight.sum()) == 64.0
    b = rt_resnet.ResNet(rt_resnet.Bottleneck, [1, 1, 1, 1], zero_init_residual=True,
                         replace_stride_with_dilation=[False, True, True], num_classes=3)
    assert float(b.layer2[0].bn3.weight.abs().sum()) == 0.0
    assert b.layer4[0].conv2.dilation == (2, 2) and b.layer4[0].conv2.stride == (1, 1)
    b.eval()
    with rustorch.no_grad():
        out = b(rustorch.randn(1, 3, 32, 32))
    assert tuple(out.shape) == (1, 3)
    # conv init: kaiming_normal_(fan_out, relu): std = sqrt(2 / (64 * 7 * 7))
    std = float(_np(m.conv1.weight).std())
    assert abs(std - (2.0 / (64 * 49)) ** 0.5) < 0.01
    rx = models.resnext50_32x4d(num_classes=2)
    assert rx.layer1[0].conv2.groups == 32 and tuple(rx.layer1[0].conv2.weight.shape) == (
        128, 4, 3, 3)
    with pytest.raises(ValueError, match="replace_stride_with_dilation"):
        rt_resnet.ResNet(rt_resnet.BasicBlock, [1, 1, 1, 1], replace_stride_with_dilation=[1])
    with pytest.raises(ValueError, match="BasicBlock only supports"):
        rt_resnet.ResNet(rt_resnet.BasicBlock, [1, 1, 1, 1], groups=2)
    gn = rt_resnet.ResNet(rt_resnet.BasicBlock, [1, 1, 1, 1],
                          norm_layer=lambda c: rustorch.nn.GroupNorm(4, c))
    assert isinstance(gn.bn1, rustorch.nn.GroupNorm)


def test_inception_v3_outputs():
    with pytest.warns(FutureWarning):
        net = models.inception_v3()  # init_weights=None warns, as torchvision
    # trunc_normal_(std=stddev, a=-2, b=2): the bounds are absolute, as in torchvision
    assert abs(float(_np(net.fc.weight).std()) - 0.1) < 0.005
    assert abs(float(_np(net.AuxLogits.fc.weight).std()) - 0.001) < 0.0001
    assert abs(float(_np(net.AuxLogits.conv1.conv.weight).std()) - 0.1) < 0.005  # quirk kept
    net.eval()
    with rustorch.no_grad():
        out = net(rustorch.randn(1, 3, 75, 75))  # torchvision's min_size
    assert isinstance(out, rustorch.Tensor) and tuple(out.shape) == (1, 1000)
    net.train()
    with rustorch.no_grad():
        res = net(rustorch.randn(2, 3, 299, 299))  # the auxiliary head needs 299x299
    assert isinstance(res, models.InceptionOutputs)
    assert tuple(res.logits.shape) == (2, 1000) and tuple(res.aux_logits.shape) == (2, 1000)
    assert models.inception.InceptionOutputs is models.inception._InceptionOutputs
    small = models.inception_v3(aux_logits=False, init_weights=False, num_classes=5)
    assert small.AuxLogits is None and not any(
        k.startswith("AuxLogits") for k in small.state_dict())


def test_squeezenet_and_mobilenet_arguments():
    with pytest.raises(ValueError, match="Unsupported SqueezeNet version"):
        models.squeezenet.SqueezeNet("2_0")
    net = models.squeezenet1_1(num_classes=10).eval()
    with rustorch.no_grad():
        assert tuple(net(rustorch.randn(1, 3, 17, 17)).shape) == (1, 10)  # min_size
    half = models.mobilenet_v2(width_mult=0.5, num_classes=4)
    assert tuple(half.features[0][0].weight.shape) == (16, 3, 3, 3)
    assert half.last_channel == 1280
    with pytest.raises(ValueError, match="inverted_residual_setting"):
        models.mobilenet_v2(inverted_residual_setting=[[1, 2]])


# --------------------------------------------------------------------------------------
# registry and weights enums


def test_registry_and_module_dict():
    names = models.list_models()
    for n in ("resnet18", "resnet152", "vgg11", "vgg19_bn", "alexnet", "squeezenet1_0",
              "squeezenet1_1", "mobilenet_v2", "inception_v3"):
        assert n in names
        assert callable(models.__dict__[n])
    assert models.list_models(include="vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn",
                                                     "vgg19_bn"]
    assert models.list_models(module=models.resnet, exclude="resne*") == [
        "wide_resnet101_2", "wide_resnet50_2"]
    assert models.get_model_weights("resnet18") is models.ResNet18_Weights
    assert models.get_model_weights(models.vgg16) is models.VGG16_Weights
    assert models.get_weight("ResNet50_Weights.IMAGENET1K_V2") is (
        models.ResNet50_Weights.DEFAULT)
    assert isinstance(models.get_model("squeezenet1_1", num_classes=3),
                      models.squeezenet.SqueezeNet)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        models.get_model("nope")


def test_weights_enums():
    W = models.ResNet18_Weights
    assert W.DEFAULT is W.IMAGENET1K_V1
    assert W.IMAGENET1K_V1.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert repr(W.DEFAULT) == "ResNet18_Weights.IMAGENET1K_V1"
    assert len(W.DEFAULT.meta["categories"]) == 1000
    assert W.DEFAULT.meta["categories"][:2] == ["tench", "goldfish"]
    assert models.VGG16_Weights.IMAGENET1K_V1.url.endswith("/vgg16-397923af.pth")
    assert models.VGG16_Weights.IMAGENET1K_FEATURES.meta["categories"] is None
    assert models.ResNet50_Weights.DEFAULT is models.ResNet50_Weights.IMAGENET1K_V2
    assert models.MobileNet_V2_Weights.DEFAULT.url.endswith("mobilenet_v2-7ebf99e0.pth")
    assert models.Inception_V3_Weights.DEFAULT.url.endswith("inception_v3_google-0cc3c7bd.pth")
    assert W.verify("IMAGENET1K_V1") is W.IMAGENET1K_V1
    assert W.verify("ResNet18_Weights.DEFAULT") is W.IMAGENET1K_V1
    assert W.verify(None) is None
    with pytest.raises(TypeError, match="expected ResNet18_Weights but received"):
        models.resnet18(weights=models.VGG11_Weights.DEFAULT)
    with pytest.raises(ValueError, match="Unknown weights 'IMAGENET9K'"):
        models.resnet18(weights="IMAGENET9K")


def test_weights_transforms_preset():
    preset = models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert preset.crop_size == [224] and preset.resize_size == [232]
    img = rustorch.rand(3, 240, 300)
    out = preset(img)
    assert tuple(out.shape) == (3, 224, 224)
    batch = (rustorch.rand(2, 3, 100, 120) * 255).to(rustorch.uint8)
    assert tuple(models.Inception_V3_Weights.DEFAULT.transforms()(batch).shape) == (
        2, 3, 299, 299)
    if torch is not None:  # resize (antialiased bilinear) -> center crop -> normalise
        t = torch.from_numpy(_np(img))[None]
        t = torch.nn.functional.interpolate(t, size=(232, 290), mode="bilinear",
                                            align_corners=False, antialias=True)
        t = t[..., 4:228, 33:257]
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        # (rustorch's and PyTorch's bilinear weights differ by ~3e-5 in float32)
        _close(_np(out), _np((t - mean) / std)[0], rtol=5e-4)


# --------------------------------------------------------------------------------------
# weights= loading from the hub cache (nothing is downloaded)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    return ckpt


def test_missing_weights_file_raises(torch_home):
    expected = os.path.join(str(torch_home), "squeezenet1_1-b8a52dc0.pth")
    with pytest.raises(RuntimeError) as info:
        models.squeezenet1_1(weights=models.SqueezeNet1_1_Weights.DEFAULT)
    assert expected in str(info.value) and "downloads nothing" in str(info.value)
    with pytest.raises(RuntimeError, match="resnet18-f37072fd.pth"):
        models.resnet18(weights="DEFAULT")


def test_weights_from_rustorch_save(torch_home):
    src = models.squeezenet1_1()
    rustorch.save(src.state_dict(), str(torch_home / "squeezenet1_1-b8a52dc0.pth"))
    loaded = models.squeezenet1_1(weights="IMAGENET1K_V1", progress=False)
    x = rustorch.randn(1, 3, 32, 32)
    src.eval()
    loaded.eval()
    with rustorch.no_grad():
        _close(_np(loaded(x)), _np(src(x)), rtol=1e-6)
    with pytest.raises(ValueError, match="The parameter 'num_classes' expected value 1000"):
        models.squeezenet1_1(weights="DEFAULT", num_classes=10)


def test_pretrained_legacy_keyword(torch_home):
    src = models.resnet18()
    rustorch.save(src.state_dict(), str(torch_home / "resnet18-f37072fd.pth"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = models.resnet18(pretrained=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any("'pretrained' is deprecated" in m for m in messages)
    assert any("weights=ResNet18_Weights.IMAGENET1K_V1" in m for m in messages)
    np.testing.assert_array_equal(_np(net.fc.weight), _np(src.fc.weight))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        models.squeezenet1_1(pretrained=False)
    assert any("equivalent to passing `weights=None`" in str(w.message) for w in caught)
    # as torchvision, pretrained=True means the legacy IMAGENET1K_V1 file, not DEFAULT
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="mobilenet_v2-b0353104"):
        models.mobilenet_v2(pretrained=True)


@needs_torch
@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_weights_from_pytorch_checkpoint(torch_home, zip_format):
    """torchvision's .pth files are PyTorch checkpoints (zip, or the legacy layout for the
    older ones): they load through weights= without PyTorch and without unpickling code."""
    src = models.squeezenet1_1()
    sd = {k: torch.from_numpy(v) for k, v in _randomised_state(src).items()}
    path = torch_home / "squeezenet1_1-b8a52dc0.pth"
    torch.save(sd, str(path), _use_new_zipfile_serialization=zip_format)
    loaded = models.squeezenet1_1(weights=models.SqueezeNet1_1_Weights.IMAGENET1K_V1).eval()
    for k, v in loaded.state_dict().items():
        np.testing.assert_array_equal(_np(v), sd[k].numpy(), err_msg=k)
    assert loaded.state_dict()["features.0.weight"].dtype == rustorch.float32


@needs_torch
def test_checkpoint_reader_dtypes_views_and_refusal():
    sd = {"f": torch.randn(3, 4), "t": torch.randn(4, 3).t(), "l": torch.arange(5),
          "h": torch.randn(2).half(), "b": torch.tensor([True, False]), "s": torch.tensor(2.5),
          "i8": torch.tensor([-128, 5, 127], dtype=torch.int8),
          "i16": torch.tensor([[-300], [32767]], dtype=torch.int16)}
    sd["v"] = sd["f"][1:, 2:]
    buf = io.BytesIO()
    torch.save(sd, buf)
    out = rustorch.load(io.BytesIO(buf.getvalue()))
    for k, v in sd.items():
        assert tuple(out[k].shape) == tuple(v.shape), k
        assert str(out[k].dtype).split(".")[-1] == str(v.dtype).split(".")[-1], k
        np.testing.assert_array_equal(_np(out[k]), v.numpy(), err_msg=k)
    buf = io.BytesIO()
    torch.save({"x": collections.deque([1])}, buf)  # not a plain state dict
    with pytest.raises(pickle.UnpicklingError, match="unsupported global 'collections.deque'"):
        rustorch.load(io.BytesIO(buf.getvalue()))
