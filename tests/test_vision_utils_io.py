"""rustorch.vision.utils (make_grid, save_image), rustorch.vision.io and the folder / fake /
KMNIST / EMNIST datasets.

References are NumPy layouts built by hand and Pillow itself; every file is written by the
test. PyTorch has no ``vision`` package, so ``rustorch.vision`` is imported explicitly and
the tests run the same way under ``RUSTORCH_TEST_ORACLE=torch``.
"""

from __future__ import annotations

import gzip
import io as pyio
import os
import struct
import zipfile

import numpy as np
import pytest
import rustorch
import rustorch.vision
from conftest import assert_values, to_np
from rustorch.vision import datasets, transforms, utils
from rustorch.vision import io as vio


def rt(a):
    return rustorch.tensor(np.ascontiguousarray(a))


def test_version_and_modules():
    assert isinstance(rustorch.vision.__version__, str) and rustorch.vision.__version__
    from rustorch.vision.io.image import ImageReadMode

    assert ImageReadMode is vio.ImageReadMode
    assert [m.value for m in ImageReadMode] == [0, 1, 2, 3, 4]
    assert ImageReadMode.RGBA is ImageReadMode.RGB_ALPHA


# ------------------------------------------------------------------------------ make_grid


def grid_ref(batch, nrow, padding, pad_value):
    b, c, h, w = batch.shape
    xmaps = min(nrow, b)
    ymaps = -(-b // xmaps)
    out = np.full((c, (h + padding) * ymaps + padding, (w + padding) * xmaps + padding),
                  pad_value, dtype=batch.dtype)
    for k in range(b):
        y, x = divmod(k, xmaps)
        top, left = y * (h + padding) + padding, x * (w + padding) + padding
        out[:, top:top + h, left:left + w] = batch[k]
    return out


@pytest.mark.parametrize("b,nrow,padding", [(5, 2, 2), (7, 8, 0), (9, 3, 3), (2, 1, 1)])
def test_make_grid_layout(b, nrow, padding):
    a = np.random.default_rng(b).random((b, 3, 4, 5)).astype(np.float32)
    out = utils.make_grid(rt(a), nrow=nrow, padding=padding, pad_value=0.25)
    assert_values(to_np(out), grid_ref(a, nrow, padding, 0.25), rtol=0, atol=0)
    # a list of images gives the same grid
    lst = utils.make_grid([rt(x) for x in a], nrow=nrow, padding=padding, pad_value=0.25)
    assert_values(to_np(lst), to_np(out), rtol=0, atol=0)


def test_make_grid_channels_and_single_image():
    a = np.random.default_rng(0).random((3, 1, 4, 4)).astype(np.float32)
    out = to_np(utils.make_grid(rt(a), nrow=2))  # 1 channel -> 3
    assert out.shape == (3, 14, 14)
    assert_values(out, grid_ref(np.repeat(a, 3, axis=1), 2, 2, 0.0), rtol=0, atol=0)
    single = to_np(utils.make_grid(rt(a[0])))  # 1 x H x W: repeated to 3 channels, no padding
    assert_values(single, np.repeat(a[0], 3, axis=0), rtol=0, atol=0)
    hw = to_np(utils.make_grid(rt(a[0, 0])))
    assert hw.shape == (3, 4, 4)
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        utils.make_grid(a)
    with pytest.raises(TypeError, match="got a list containing"):
        utils.make_grid([rt(a[0]), a[1]])


def test_make_grid_normalize():
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((4, 3, 2, 3)) * 3).astype(np.float32)
    out = to_np(utils.make_grid(rt(a), nrow=4, padding=0, normalize=True))
    ref = (a - a.min()) / (a.max() - a.min())
    assert_values(out, grid_ref(ref, 4, 0, 0.0), rtol=1e-5, atol=1e-6)
    out = to_np(utils.make_grid(rt(a), nrow=4, padding=0, normalize=True, value_range=(-1, 1)))
    ref = (np.clip(a, -1, 1) + 1) / 2
    assert_values(out, grid_ref(ref, 4, 0, 0.0), rtol=1e-5, atol=1e-6)
    out = to_np(utils.make_grid(rt(a), nrow=4, padding=0, normalize=True, scale_each=True))
    mins = a.min(axis=(1, 2, 3), keepdims=True)
    maxs = a.max(axis=(1, 2, 3), keepdims=True)
    assert_values(out, grid_ref((a - mins) / (maxs - mins), 4, 0, 0.0), rtol=1e-5, atol=1e-6)
    # the input is not modified
    assert np.array_equal(to_np(rt(a)), a)
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        utils.make_grid(rt(a), normalize=True, value_range=[0, 1])


def test_save_image(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    a = np.random.default_rng(2).random((3, 3, 5, 6)).astype(np.float32)
    path = str(tmp_path / "grid.png")
    utils.save_image(rt(a), path, nrow=2, padding=1)
    grid = grid_ref(a, 2, 1, 0.0)
    ref = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert_values(np.asarray(Image.open(path)), ref, rtol=0, atol=0)
    buf = pyio.BytesIO()
    utils.save_image(rt(a[0]), buf, format="png")
    buf.seek(0)
    ref = np.clip(a[0] * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert_values(np.asarray(Image.open(buf)), ref, rtol=0, atol=0)


# ------------------------------------------------------------------------------------ io


def test_png_round_trip_and_modes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    path = str(tmp_path / "a.png")
    Image.fromarray(rgba).save(path)
    M = vio.ImageReadMode
    img = vio.read_image(path)
    assert str(img.dtype).endswith("uint8") and tuple(img.shape) == (4, 5, 7)
    assert_values(to_np(img), rgba.transpose(2, 0, 1), rtol=0, atol=0)
    pil = Image.fromarray(rgba)
    for mode, pil_mode in ((M.RGB, "RGB"), (M.GRAY, "L"), (M.GRAY_ALPHA, "LA"),
                           (M.RGB_ALPHA, "RGBA"), ("rgb", "RGB")):
        out = to_np(vio.read_image(path, mode=mode))
        ref = np.asarray(pil.convert(pil_mode))
        ref = ref[:, :, None] if ref.ndim == 2 else ref
        assert_values(out, ref.transpose(2, 0, 1), rtol=0, atol=0)
    # decode from bytes, and from the path
    data = vio.read_file(path)
    assert data.dim() == 1 and int(data.shape[0]) == os.path.getsize(path)
    assert_values(to_np(vio.decode_image(data, M.RGB)), to_np(vio.read_image(path, M.RGB)))
    assert_values(to_np(vio.decode_png(data)), rgba.transpose(2, 0, 1), rtol=0, atol=0)
    assert_values(to_np(vio.decode_image(path)), rgba.transpose(2, 0, 1), rtol=0, atol=0)
    # write / encode PNG: lossless
    for c in (1, 3, 4):
        t = rt(rgba[:, :, :c].transpose(2, 0, 1))
        out_path = str(tmp_path / f"w{c}.png")
        vio.write_png(t, out_path, compression_level=9)
        back = np.asarray(Image.open(out_path))
        back = back[:, :, None] if back.ndim == 2 else back
        assert_values(back, rgba[:, :, :c], rtol=0, atol=0)
        enc = vio.encode_png(t)
        assert bytes(to_np(enc).tobytes()[:8]) == b"\x89PNG\r\n\x1a\n"
        assert_values(to_np(vio.decode_image(enc)), to_np(t), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="Input tensor dtype should be uint8"):
        vio.encode_png(rustorch.zeros(3, 2, 2))
    with pytest.raises(RuntimeError, match="The number of channels should be"):
        vio.encode_png(rustorch.zeros(5, 2, 2, dtype=rustorch.uint8))
    with pytest.raises(ValueError, match="Compression level should be between 0 and 9"):
        vio.encode_png(rustorch.zeros(1, 2, 2, dtype=rustorch.uint8), compression_level=10)
    with pytest.raises(RuntimeError, match="could not decode the image data"):
        vio.decode_image(rustorch.tensor([1, 2, 3], dtype=rustorch.uint8))
    with pytest.raises(ValueError, match="Unknown image read mode"):
        vio.read_image(path, mode="CMYK")


def test_palette_gray_and_jpeg(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).quantize(16)
    path = str(tmp_path / "p.png")
    pal.save(path)
    out = to_np(vio.read_image(path))  # palette expanded to RGB
    assert_values(out, np.asarray(pal.convert("RGB")).transpose(2, 0, 1), rtol=0, atol=0)
    gray = rng.integers(0, 256, (6, 8), dtype=np.uint8)
    gpath = str(tmp_path / "g.png")
    Image.fromarray(gray).save(gpath)
    assert_values(to_np(vio.read_image(gpath)), gray[None], rtol=0, atol=0)
    assert_values(to_np(vio.read_image(gpath, vio.ImageReadMode.RGB)),
                  np.repeat(gray[None], 3, axis=0), rtol=0, atol=0)
    smooth = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (16, 1))
    t = rt(np.stack([smooth, smooth.T, smooth[::-1]]))
    jpath = str(tmp_path / "a.jpg")
    vio.write_jpeg(t, jpath, quality=95)
    back = to_np(vio.read_image(jpath)).astype(int)
    assert back.shape == (3, 16, 16) and np.abs(back - to_np(t).astype(int)).mean() < 4
    ref = np.asarray(Image.open(jpath)).transpose(2, 0, 1)
    assert_values(to_np(vio.decode_jpeg(vio.read_file(jpath))), ref, rtol=0, atol=0)
    assert isinstance(vio.encode_jpeg([t, t]), list)
    with pytest.raises(ValueError, match="between 1 and 100"):
        vio.encode_jpeg(t, quality=0)


# ------------------------------------------------------------------------------ datasets


def make_folder(root, layout, ext=".png"):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(5)
    arrays = {}
    for cls, names in layout.items():
        for name in names:
            path = os.path.join(root, cls, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            arr = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
            Image.fromarray(arr).save(path)
            arrays[path] = arr
    return arrays


def test_image_folder(tmp_path):
    root = str(tmp_path)
    arrays = make_folder(root, {"dog": ["b.png", "a.PNG", "sub/c.png"], "cat": ["z.png"]})
    with open(os.path.join(root, "dog", "notes.txt"), "w") as f:
        f.write("not an image")
    ds = datasets.ImageFolder(root, transform=transforms.PILToTensor(),
                              target_transform=lambda t: t * 10)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    expected = [(os.path.join(root, "cat", "z.png"), 0), (os.path.join(root, "dog", "a.PNG"), 1),
                (os.path.join(root, "dog", "b.png"), 1),
                (os.path.join(root, "dog", "sub", "c.png"), 1)]
    assert ds.samples == expected and ds.imgs == expected and ds.targets == [0, 1, 1, 1]
    img, target = ds[3]
    assert target == 10
    assert_values(to_np(img), arrays[expected[3][0]].transpose(2, 0, 1), rtol=0, atol=0)
    assert len(ds) == 4 and "Number of datapoints: 4" in repr(ds)
    # is_valid_file instead of extensions
    only_b = datasets.ImageFolder(root, is_valid_file=lambda p: p.endswith("b.png"),
                                  allow_empty=True)
    assert [s[0] for s in only_b.samples] == [os.path.join(root, "dog", "b.png")]
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes cat"):
        datasets.ImageFolder(root, is_valid_file=lambda p: p.endswith("b.png"))
    os.makedirs(os.path.join(root, "empty"))
    with pytest.raises(FileNotFoundError, match="Supported extensions are: .jpg, .jpeg"):
        datasets.ImageFolder(root)
    assert len(datasets.ImageFolder(root, allow_empty=True)) == 4


def test_dataset_folder_helpers(tmp_path):
    from rustorch.vision.datasets.folder import (
        IMG_EXTENSIONS,
        find_classes,
        has_file_allowed_extension,
        make_dataset,
    )

    root = str(tmp_path)
    for cls, names in {"b": ["1.npy", "2.txt"], "a": ["3.npy"]}.items():
        os.makedirs(os.path.join(root, cls))
        for n in names:
            np.save(os.path.join(root, cls, n), np.arange(3)) if n.endswith(".npy") else \
                open(os.path.join(root, cls, n), "w").close()
    assert find_classes(root) == (["a", "b"], {"a": 0, "b": 1})
    assert has_file_allowed_extension("X.JPG", IMG_EXTENSIONS)
    samples = make_dataset(root, extensions=(".npy",))
    assert samples == [(os.path.join(root, "a", "3.npy"), 0), (os.path.join(root, "b", "1.npy"), 1)]
    with pytest.raises(ValueError, match="Both extensions and is_valid_file cannot be None"):
        make_dataset(root)
    with pytest.raises(ValueError, match="'class_to_index' must have at least one entry"):
        make_dataset(root, class_to_idx={}, extensions=".npy")
    ds = datasets.DatasetFolder(root, loader=np.load, extensions=(".npy",))
    assert ds.classes == ["a", "b"] and len(ds) == 2
    x, y = ds[1]
    assert y == 1 and x.tolist() == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        find_classes(os.path.join(root, "a"))


def test_fake_data_is_deterministic():
    ds = datasets.FakeData(size=6, image_size=(3, 5, 4), num_classes=3)
    assert len(ds) == 6
    rustorch.manual_seed(0)
    before = float(rustorch.rand(1))
    rustorch.manual_seed(0)
    img, target = ds[2]
    assert float(rustorch.rand(1)) == before  # the global RNG is left alone
    assert isinstance(img, np.ndarray) and img.shape == (5, 4, 3) and img.dtype == np.uint8
    assert type(target) is int and 0 <= target < 3
    img2, target2 = ds[2]
    assert np.array_equal(img, img2) and target == target2
    assert not np.array_equal(img, ds[3][0])
    shifted = datasets.FakeData(size=6, image_size=(3, 5, 4), num_classes=3, random_offset=1)
    assert np.array_equal(shifted[1][0], ds[2][0])
    # the image is what the float randn image becomes through mul(255) -> uint8
    noise = np.random.default_rng(2).standard_normal((3, 5, 4), dtype=np.float32)
    ref = rustorch.from_numpy(noise).mul(255).to(rustorch.uint8)
    assert_values(img, to_np(ref).transpose(1, 2, 0), rtol=0, atol=0)
    small = noise[np.abs(noise) < 1.0]  # in-range values: truncation of 255 * x
    assert (img.transpose(2, 0, 1)[np.abs(noise) < 1.0]
            == (small * 255).astype(np.int64) % 256).all()
    gray = datasets.FakeData(size=2, image_size=(1, 3, 3), transform=transforms.ToTensor())
    t, _ = gray[0]
    assert tuple(t.shape) == (1, 3, 3)
    with pytest.raises(IndexError, match="FakeData index out of range"):
        ds[6]
    targets = {datasets.FakeData(size=40, num_classes=4, image_size=(1, 1, 1))[i][1]
               for i in range(40)}
    assert targets == {0, 1, 2, 3}


def idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">I", (0x08 << 8) | arr.ndim)
    header += b"".join(struct.pack(">I", s) for s in arr.shape)
    return header + arr.tobytes()


def test_kmnist_reads_torchvision_layout(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(6)
    data = {}
    for prefix, n in (("train", 5), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(idx_bytes(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
        data[prefix] = (images, labels)
    ds = datasets.KMNIST(str(tmp_path), train=False)
    assert isinstance(ds, datasets.MNIST) and len(ds) == 3
    assert ds.classes[:3] == ["o", "ki", "su"]
    assert_values(to_np(ds.data), data["t10k"][0], rtol=0, atol=0)
    img, target = ds[2]
    assert_values(img, data["t10k"][0][2], rtol=0, atol=0) and target == int(data["t10k"][1][2])
    assert datasets.KMNIST.resources[0] == ("train-images-idx3-ubyte.gz",
                                            "bdb82020997e1d708af4cf47b453dcf7")


def test_emnist_splits_and_download_from_zip(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    labels = np.array([1, 26, 3, 4], np.uint8)
    # NIST's archive: gzip/emnist-<split>-<train|test>-...-ubyte.gz
    zpath = tmp_path / "gzip.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for part in ("train", "test"):
            zf.writestr(f"gzip/emnist-letters-{part}-images-idx3-ubyte.gz",
                        gzip.compress(idx_bytes(images)))
            zf.writestr(f"gzip/emnist-letters-{part}-labels-idx1-ubyte.gz",
                        gzip.compress(idx_bytes(labels)))
    md5 = __import__("hashlib").md5(zpath.read_bytes()).hexdigest()
    monkeypatch.setattr(datasets.EMNIST, "url", zpath.as_uri())
    monkeypatch.setattr(datasets.EMNIST, "md5", md5)
    root = tmp_path / "data"
    ds = datasets.EMNIST(str(root), split="letters", download=True)
    raw = root / "EMNIST" / "raw"
    assert (raw / "emnist-letters-train-images-idx3-ubyte").is_file()
    assert not (raw / "gzip").exists()
    assert ds.classes[0] == "N/A" and ds.classes[26] == "z" and len(ds.classes) == 27
    assert_values(to_np(ds.data), images, rtol=0, atol=0)  # as stored (transposed), as torchvision
    assert ds[1][1] == 26 and ds.class_to_idx["z"] == 26
    test = datasets.EMNIST(str(root), split="letters", train=False)
    assert len(test) == 4
    assert len(datasets.EMNIST.classes_split_dict["byclass"]) == 62
    assert len(datasets.EMNIST.classes_split_dict["balanced"]) == 47
    with pytest.raises(ValueError, match="Unknown value 'digit' for argument split"):
        datasets.EMNIST(str(root), split="digit")
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.EMNIST(str(root), split="digits")


def test_download_failure_is_a_runtime_error(tmp_path, monkeypatch):
    from rustorch.vision.datasets.utils import download_url

    missing = (tmp_path / "nowhere" / "x.gz").as_uri()
    with pytest.raises(RuntimeError, match="Error downloading file:"):
        download_url(missing, str(tmp_path / "dl"))
    assert not os.listdir(tmp_path / "dl")  # no partial file left behind
    monkeypatch.setattr(datasets.KMNIST, "mirrors", [(tmp_path / "nowhere").as_uri() + "/"])
    with pytest.raises(RuntimeError, match="Error downloading train-images-idx3-ubyte.gz"):
        datasets.KMNIST(str(tmp_path / "k"), download=True)
    monkeypatch.setattr(datasets.CIFAR10, "url", missing)
    with pytest.raises(RuntimeError, match="Error downloading"):
        datasets.CIFAR10(str(tmp_path / "c"), download=True)
