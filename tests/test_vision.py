"""rustorch.vision: MNIST / FashionMNIST IDX readers, CIFAR batch reader, transforms.

Every data file is written by the test itself (small IDX files, gzipped or not, in both
supported layouts; small CIFAR pickles), so nothing is downloaded.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct

import numpy as np
import pytest
from conftest import LIB_NAME, assert_values, rt, to_np

if not hasattr(rt, "vision"):
    pytest.skip(f"{LIB_NAME} has no vision package (torchvision is separate)",
                allow_module_level=True)

datasets = rt.vision.datasets
transforms = rt.vision.transforms


# ---------------------------------------------------------------------------- IDX files


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">I", (type_code << 8) | arr.ndim)
    header += b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path: str, payload: bytes, gz: bool) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if gz:
        path += ".gz"
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)
    return path


def make_mnist(root, n_train=7, n_test=3, gz=True, layout="flat", cls="MNIST", seed=0):
    rng = np.random.default_rng(seed)
    folder = root if layout == "flat" else os.path.join(root, cls, "raw")
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), idx_bytes(images), gz)
        write(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), idx_bytes(labels), gz)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["flat", "torchvision"])
@pytest.mark.parametrize("cls", ["MNIST", "FashionMNIST"])
def test_mnist_reader(tmp_path, gz, layout, cls):
    root = str(tmp_path)
    arrays = make_mnist(root, gz=gz, layout=layout, cls=cls)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = getattr(datasets, cls)(root, train=train)
        images, labels = arrays[key]
        assert len(ds) == len(images)
        assert tuple(ds.data.shape) == images.shape and str(ds.data.dtype).endswith("uint8")
        assert str(ds.targets.dtype).endswith("int64")
        assert_values(to_np(ds.data), images)
        assert_values(to_np(ds.targets), labels.astype(np.int64))
        img, target = ds[1]
        assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
        assert_values(img, images[1])
        assert type(target) is int and target == int(labels[1])
    assert len(ds.classes) == 10
    if cls == "FashionMNIST":
        assert ds.classes[9] == "Ankle boot"
    assert ds.class_to_idx[ds.classes[3]] == 3
    text = repr(ds)
    assert text.startswith(f"Dataset {cls}\n    Number of datapoints: 3\n")
    assert "Split: Test" in text


def test_mnist_transforms_and_dataloader(tmp_path):
    root = str(tmp_path)
    arrays = make_mnist(root, n_train=10)
    ds = datasets.MNIST(
        root, transform=transforms.ToTensor(), target_transform=lambda t: t + 100
    )
    x, y = ds[0]
    assert isinstance(x, rt.Tensor) and tuple(x.shape) == (1, 28, 28)
    assert str(x.dtype).endswith("float32")
    expected = arrays["train"][0][0].astype(np.float32)[None] / np.float32(255)
    assert_values(to_np(x), expected, rtol=0, atol=0)
    assert y == int(arrays["train"][1][0]) + 100
    assert "Transform: ToTensor()" in repr(ds)
    loader = rt.utils.data.DataLoader(ds, batch_size=4)
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (4, 1, 28, 28) and str(yb.dtype).endswith("int64")
    # reassigning data/targets (e.g. to subset) is honoured by __getitem__
    ds.data = ds.data[:5]
    ds.targets = ds.targets[:5]
    assert len(ds) == 5
    assert_values(to_np(ds[4][0]), arrays["train"][0][4].astype(np.float32)[None] / 255.0)


def test_mnist_errors_name_the_file(tmp_path):
    root = str(tmp_path)
    with pytest.raises(RuntimeError, match="train-images-idx3-ubyte") as info:
        datasets.MNIST(root)
    assert "download=True" in str(info.value)

    make_mnist(root, gz=False)
    # swap images and labels magic: a label file where images are expected
    images_path = os.path.join(root, "train-images-idx3-ubyte")
    labels = np.zeros(7, np.uint8)
    write(images_path, idx_bytes(labels), gz=False)
    with pytest.raises(RuntimeError) as info:
        datasets.MNIST(root)
    assert "train-images-idx3-ubyte: expected magic 2051, got 2049" in str(info.value)

    # truncated data
    full = idx_bytes(np.zeros((7, 28, 28), np.uint8))
    write(images_path, full[:-10], gz=False)
    with pytest.raises(RuntimeError, match=r"expected 5488 bytes of data .* got 5478"):
        datasets.MNIST(root)

    # image / label count mismatch
    write(images_path, idx_bytes(np.zeros((6, 28, 28), np.uint8)), gz=False)
    with pytest.raises(RuntimeError, match="holds 6 images but .* holds 7 labels"):
        datasets.MNIST(root)

    # a corrupt gzip file
    os.remove(images_path)
    with open(images_path + ".gz", "wb") as f:
        f.write(b"not a gzip file")
    with pytest.raises(RuntimeError, match=r"train-images-idx3-ubyte.gz: cannot read file"):
        datasets.MNIST(root)


def test_read_idx_file_other_types(tmp_path):
    from rustorch.vision.datasets.mnist import read_idx_file

    arr = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    path = write(str(tmp_path / "x.idx"), idx_bytes(arr, 0x0C), gz=False)
    out = read_idx_file(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    assert_values(out, arr)
    farr = np.linspace(-1, 1, 6).astype(np.float32).reshape(2, 3)
    path = write(str(tmp_path / "f.idx"), idx_bytes(farr, 0x0D), gz=True)
    assert_values(read_idx_file(path), farr)


# ---------------------------------------------------------------------------- CIFAR


def write_cifar(root, protocol=2, n=4, base="cifar-10-batches-py", train_files=None,
                test_files=("test_batch",), meta=("batches.meta", "label_names"),
                label_key="labels", seed=0):
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, base)
    os.makedirs(folder, exist_ok=True)
    train_files = train_files or [f"data_batch_{i}" for i in range(1, 6)]
    written = {}
    for name in list(train_files) + list(test_files):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        entry = {"batch_label": f"batch {name}", label_key: labels, "data": data,
                 "filenames": [f"img_{i}.png" for i in range(n)]}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(entry, f, protocol=protocol)
        written[name] = (data, labels)
    with open(os.path.join(folder, meta[0]), "wb") as f:
        pickle.dump({meta[1]: [f"class{i}" for i in range(10)], "num_vis": 3072}, f,
                    protocol=protocol)
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_reader(tmp_path, protocol):
    root = str(tmp_path)
    written = write_cifar(root, protocol=protocol)
    ds = datasets.CIFAR10(root, train=True)
    assert len(ds) == 20
    assert ds.data.shape == (20, 32, 32, 3) and ds.data.dtype == np.uint8
    first, labels = written["data_batch_1"]
    assert_values(ds.data[0], first[0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert ds.targets[:4] == labels
    img, target = ds[2]
    assert img.shape == (32, 32, 3) and target == labels[2]
    assert ds.classes[0] == "class0" and ds.class_to_idx["class9"] == 9
    test = datasets.CIFAR10(root, train=False, transform=transforms.ToTensor())
    x, _ = test[0]
    assert tuple(x.shape) == (3, 32, 32)
    expected = written["test_batch"][0][0].reshape(3, 32, 32).astype(np.float32) / 255
    assert_values(to_np(x), expected, rtol=1e-6, atol=1e-7)


def test_cifar100_reader(tmp_path):
    root = str(tmp_path)
    write_cifar(root, base="cifar-100-python", train_files=["train"], test_files=["test"],
                meta=("meta", "fine_label_names"), label_key="fine_labels")
    ds = datasets.CIFAR100(root, train=False)
    assert len(ds) == 4 and len(ds.classes) == 10


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_reader_refuses_code_and_names_bad_files(tmp_path):
    root = str(tmp_path)
    write_cifar(root)
    path = os.path.join(root, "cifar-10-batches-py", "data_batch_3")
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((1, 3072), np.uint8), "labels": [Exploit()]}, f)
    with pytest.raises(RuntimeError, match="data_batch_3: not a valid CIFAR batch file") as info:
        datasets.CIFAR10(root)
    assert "refusing to load global" in str(info.value)

    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(RuntimeError, match=r"data_batch_3: expected 'data' to be a uint8 N x 3072"):
        datasets.CIFAR10(root)

    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, f)
    with pytest.raises(RuntimeError, match="data_batch_3: expected 2 labels"):
        datasets.CIFAR10(root)

    with open(path, "wb") as f:
        f.write(b"\x80\x02}q\x00(X\x04\x00\x00")  # truncated pickle
    with pytest.raises(RuntimeError, match="data_batch_3: not a valid CIFAR batch file"):
        datasets.CIFAR10(root)

    os.remove(path)
    with pytest.raises(RuntimeError, match="data_batch_3 is missing"):
        datasets.CIFAR10(root)


# ---------------------------------------------------------------------------- transforms


def test_to_tensor():
    hw = np.arange(12, dtype=np.uint8).reshape(3, 4)
    t = transforms.ToTensor()(hw)
    assert tuple(t.shape) == (1, 3, 4) and str(t.dtype).endswith("float32")
    assert_values(to_np(t), hw[None].astype(np.float32) / np.float32(255), rtol=0, atol=0)
    hwc = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    t = transforms.ToTensor()(hwc)
    assert tuple(t.shape) == (3, 5, 6)
    assert_values(to_np(t), hwc.transpose(2, 0, 1).astype(np.float32) / 255, rtol=1e-7)
    f = transforms.ToTensor()(np.ones((2, 2), np.float64) * 3)
    assert str(f.dtype).endswith("float64") and float(to_np(f).max()) == 3.0  # no scaling
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        transforms.ToTensor()(rt.zeros(1, 2, 2))
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional"):
        transforms.ToTensor()(np.zeros(3, np.uint8))
    torch = pytest.importorskip("torch")
    ref = torch.from_numpy(hwc.transpose(2, 0, 1).copy()).float().div(255)
    assert_values(to_np(transforms.ToTensor()(hwc)), ref.numpy(), rtol=0, atol=0)


def test_normalize_compose_lambda():
    x = rt.ones(2, 3, 3)
    norm = transforms.Normalize((0.5, 0.25), (0.5, 2.0))
    out = to_np(norm(x))
    assert_values(out[0], np.ones((3, 3), np.float32))
    assert_values(out[1], np.full((3, 3), 0.375, np.float32))
    assert_values(to_np(x), np.ones((2, 3, 3), np.float32)), "not in place by default"
    assert repr(norm) == "Normalize(mean=(0.5, 0.25), std=(0.5, 2.0))"
    with pytest.raises(ValueError, match="std evaluated to zero"):
        transforms.Normalize((0.0,), (0.0,))(rt.ones(1, 2, 2))
    with pytest.raises(TypeError, match="Input tensor should be a float tensor"):
        transforms.Normalize((0.0,), (1.0,))(rt.ones(1, 2, 2).to(rt.int64))
    pipe = transforms.Compose(
        [
            transforms.ToTensor(),
            transforms.Normalize((0.5,), (0.5,)),
            transforms.Lambda(lambda t: t * 2),
        ]
    )
    img = np.full((2, 2), 255, np.uint8)
    assert_values(to_np(pipe(img)), np.full((1, 2, 2), 2.0, np.float32))
    assert repr(pipe) == (
        "Compose(\n    ToTensor()\n    Normalize(mean=(0.5,), std=(0.5,))\n    Lambda()\n)"
    )
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        transforms.Lambda(3)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad(mode):
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = transforms.Pad((1, 2), fill=7, padding_mode=mode)(img)
    np_mode = {"constant": "constant", "edge": "edge", "reflect": "reflect",
               "symmetric": "symmetric"}[mode]
    kwargs = {"constant_values": 7} if mode == "constant" else {}
    assert_values(out, np.pad(img, ((2, 2), (1, 1)), mode=np_mode, **kwargs))
    out4 = transforms.Pad([1, 2, 3, 4])(img)
    assert out4.shape == (3 + 2 + 4, 4 + 1 + 3)
    t = transforms.Pad(1)(rt.ones(2, 3, 3))
    assert tuple(t.shape) == (2, 5, 5) and float(to_np(t)[0, 0, 0]) == 0.0
    with pytest.raises(ValueError, match="Padding must be an int or a 1, 2, or 4 element tuple"):
        transforms.Pad((1, 2, 3))


def test_random_flip_and_crop():
    img = np.arange(20, dtype=np.uint8).reshape(4, 5)
    assert_values(transforms.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    assert_values(transforms.RandomHorizontalFlip(p=0.0)(img), img)
    t = rt.from_numpy(np.arange(6, dtype=np.float32).reshape(1, 2, 3))
    assert_values(to_np(transforms.RandomHorizontalFlip(p=1.0)(t)), to_np(t)[..., ::-1])

    crop = transforms.RandomCrop(3, padding=1)
    rt.manual_seed(0)
    a = crop(img)
    rt.manual_seed(0)
    b = crop(img)
    assert a.shape == (3, 3) and (a == b).all()
    padded = np.pad(img, 1)
    found = any(
        (padded[i:i + 3, j:j + 3] == a).all() for i in range(padded.shape[0] - 2)
        for j in range(padded.shape[1] - 2)
    )
    assert found
    big = transforms.RandomCrop((6, 7), pad_if_needed=True)(img)
    assert big.shape == (6, 7)
    tc = transforms.RandomCrop(2)(rt.ones(3, 4, 4))
    assert tuple(tc.shape) == (3, 2, 2)
    with pytest.raises(ValueError, match="Required crop size"):
        transforms.RandomCrop(9)(img)
    seen = set()
    flip = transforms.RandomHorizontalFlip()
    for _ in range(40):
        seen.add(bool((flip(img) == img).all()))
    assert seen == {True, False}


# ---------------------------------------------------------------------------- download code


def test_download_helpers_offline(tmp_path):
    """download_url / extract_archive / check_integrity on file:// URLs (no network)."""
    import hashlib

    from rustorch.vision.datasets.utils import check_integrity, download_url, extract_archive

    src = tmp_path / "src"
    src.mkdir()
    payload = idx_bytes(np.arange(6, dtype=np.uint8))
    archive = src / "labels-idx1-ubyte.gz"
    with gzip.open(archive, "wb") as f:
        f.write(payload)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    dest = tmp_path / "dest"
    path = download_url(archive.as_uri(), str(dest), md5=md5)
    assert check_integrity(path, md5) and not check_integrity(path, "0" * 32)
    out = extract_archive(path)
    assert open(out, "rb").read() == payload
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        download_url(archive.as_uri(), str(tmp_path / "other"), md5="0" * 32)


def test_download_is_skipped_when_files_exist(tmp_path):
    root = str(tmp_path)
    make_mnist(root, layout="torchvision", cls="FashionMNIST")
    ds = datasets.FashionMNIST(root, download=True)  # would need the network otherwise
    assert len(ds) == 7
    write_cifar(root)
    assert len(datasets.CIFAR10(root, download=True)) == 20


# ---------------------------------------------------------------------------- SVHN (.mat)


def test_svhn_reader(tmp_path):
    sio = pytest.importorskip("scipy.io", reason="SVHN's .mat files are read with SciPy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)  # the files' H x W x C x N
    y = np.array([[10], [1], [9], [10], [3]], dtype=np.uint8)
    sio.savemat(str(tmp_path / "test_32x32.mat"), {"X": x, "y": y})
    ds = datasets.SVHN(str(tmp_path), split="test")
    assert len(ds) == 5 and ds.data.shape == (5, 3, 32, 32)
    assert ds.labels.tolist() == [0, 1, 9, 0, 3]  # label 10 is the digit 0
    img, target = ds[2]
    assert_values(img, x[:, :, :, 2])
    assert target == 9
    t, _ = datasets.SVHN(str(tmp_path), split="test", transform=transforms.ToTensor())[4]
    assert_values(to_np(t), x[:, :, :, 4].transpose(2, 0, 1).astype(np.float32) / 255,
                  rtol=1e-6, atol=1e-7)
    assert "Split: test" in repr(ds)
    with pytest.raises(ValueError, match="Unknown value 'dev' for argument split"):
        datasets.SVHN(str(tmp_path), split="dev")
    with pytest.raises(RuntimeError, match="train_32x32.mat is missing"):
        datasets.SVHN(str(tmp_path), split="train")
    sio.savemat(str(tmp_path / "extra_32x32.mat"), {"X": x[:16], "y": y})
    with pytest.raises(RuntimeError, match="expected 'X' to be a 32 x 32 x 3 x N uint8 array"):
        datasets.SVHN(str(tmp_path), split="extra")


# ---------------------------------------------------------------------------- LSUN (LMDB)


def _write_lmdb(path, images):
    lmdb = pytest.importorskip("lmdb", reason="LSUN's databases are read with lmdb")
    from PIL import Image

    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, arr in enumerate(images):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")  # lossless, so pixels compare exactly
            txn.put(f"{i:040x}".encode(), buf.getvalue())
    env.close()


def test_lsun_reader(tmp_path):
    pytest.importorskip("PIL", reason="LSUN's images are decoded with Pillow")
    rng = np.random.default_rng(1)
    bedrooms = [rng.integers(0, 256, (6, 8, 3), dtype=np.uint8) for _ in range(3)]
    towers = [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(2)]
    _write_lmdb(tmp_path / "bedroom_val_lmdb", bedrooms)
    _write_lmdb(tmp_path / "tower_val_lmdb", towers)
    ds = datasets.LSUN(str(tmp_path), classes=["bedroom_val", "tower_val"])
    assert len(ds) == 5 and ds.classes == ["bedroom_val", "tower_val"]
    for i, (arr, label) in enumerate([(b, 0) for b in bedrooms] + [(t, 1) for t in towers]):
        img, target = ds[i]
        assert target == label
        assert_values(np.asarray(img), arr)
    with pytest.raises(IndexError):
        ds[5]
    assert "Classes: ['bedroom_val', 'tower_val']" in repr(ds)
    # (lmdb opens a database once per process: the single-class reader gets its own.)
    _write_lmdb(tmp_path / "single", towers)
    single = datasets.LSUNClass(str(tmp_path / "single"), transform=transforms.ToTensor())
    t, none = single[1]
    assert none is None and len(single) == 2
    assert_values(to_np(t), towers[1].transpose(2, 0, 1).astype(np.float32) / 255,
                  rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("classes, message", [
    ("dev", "Unknown value 'dev' for argument classes"),
    (["attic_train"], "Unknown value 'attic' for LSUN class"),
    (["bedroom_dev"], "Unknown value 'dev' for postfix"),
    (5, "Expected type str or Iterable for argument classes"),
])
def test_lsun_rejects_bad_classes(tmp_path, classes, message):
    with pytest.raises(ValueError, match=message):
        datasets.LSUN(str(tmp_path), classes=classes)
