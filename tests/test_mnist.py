"""Tests for ridgeviz.mnist: the IDX reader on files written here, filters, sources, download and fallback."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from ridgeviz.data import mnist
from ridgeviz.data.mnist import (
    DigitsSpec,
    MnistDownloadError,
    download_mnist,
    load_digits,
    read_idx,
    read_mnist_folder,
    select,
)

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-10k"
TYPES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of ``arr``, written independently of the reader: header, then big-endian values."""
    arr = np.asarray(arr)
    head = bytes([0, 0, TYPES[arr.dtype.type], arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def fake_mnist(rng, n=30, classes=10):
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % classes).astype(np.uint8)
    return images, labels


def write_pair(folder: Path, images, labels, prefix="train", gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        data = idx_bytes(arr)
        name = f"{prefix}-{kind}" + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return folder


# -- the IDX reader ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", list(TYPES))
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(dtype, compress):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    data = idx_bytes(arr)
    out = read_idx(gzip.compress(data) if compress else data)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_read_idx_from_path_and_ndim(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels.idx"
    path.write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(path, ndim=1), labels)
    with pytest.raises(ValueError, match=r"labels.idx: expected an image file \(3 dimensions\)"):
        read_idx(path, ndim=3)


def _corrupt_cases():
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    gz = gzip.compress(good)
    crc_broken = bytearray(gz)
    crc_broken[-6] ^= 0xFF  # the CRC-32 trailer
    return {
        "empty": (b"", "too short for an IDX header"),
        "bad magic": (b"\x01\x02" + good[2:], "not an IDX file"),
        "unknown type": (b"\x00\x00\x07" + good[3:], "not an IDX file"),
        "zero dimensions": (b"\x00\x00\x08\x00" + good[4:], "not an IDX file"),
        "header truncated": (good[:9], "truncated inside the header"),
        "payload truncated": (good[:-5], "truncated: the header declares shape (2, 3, 4)"),
        "trailing bytes": (good + b"\x00\x00", "2 unexpected bytes after"),
        "empty array": (bytes([0, 0, 8, 1]) + (0).to_bytes(4, "big"), "empty array"),
        "gzip truncated": (gz[: len(gz) // 2], "gzip stream is corrupt or truncated"),
        "gzip crc": (bytes(crc_broken), "gzip stream is corrupt or truncated"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases()))
def test_read_idx_refuses_corrupt_files(tmp_path, case):
    data, message = _corrupt_cases()[case]
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="broken-idx3-ubyte.gz") as err:
        read_idx(path)
    assert message in str(err.value)


def test_read_idx_refuses_gzip_bombs():
    with pytest.raises(ValueError, match="inflates to more than 100 bytes"):
        read_idx(gzip.compress(bytes(1000)), max_bytes=100)


def test_read_idx_bad_source():
    with pytest.raises(ValueError, match="cannot read /nonexistent/train-images-idx3-ubyte"):
        read_idx("/nonexistent/train-images-idx3-ubyte")
    with pytest.raises(ValueError, match="character device, not a regular file"):
        read_idx("/dev/zero")  # refused before it is opened: it would read without end
    with pytest.raises(ValueError, match="expected a path or bytes"):
        read_idx(12)


# -- folders ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_read_mnist_folder(tmp_path, gz):
    images, labels = fake_mnist(np.random.default_rng(1))
    write_pair(tmp_path, images, labels, gz=gz)
    im, lab = read_mnist_folder(tmp_path)
    np.testing.assert_array_equal(im, images)
    np.testing.assert_array_equal(lab, labels)
    assert lab.dtype == np.int64


def test_read_mnist_folder_test_split_and_dotted_names(tmp_path):
    images, labels = fake_mnist(np.random.default_rng(2), n=12)
    (tmp_path / "t10k-images.idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels.idx1-ubyte").write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(read_mnist_folder(tmp_path, "test")[0], images)


def test_read_mnist_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_mnist_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"has no train-images-idx3-ubyte\[.gz\]"):
        read_mnist_folder(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        read_mnist_folder(tmp_path, "valid")
    images, labels = fake_mnist(np.random.default_rng(3), n=10)
    write_pair(tmp_path / "count", images, labels[:9])
    with pytest.raises(ValueError, match="holds 10 images but train-labels-idx1-ubyte.gz holds 9 labels"):
        read_mnist_folder(tmp_path / "count")
    write_pair(tmp_path / "label", images, labels + 5)
    with pytest.raises(ValueError, match="labels must be digits 0..9; found 14"):
        read_mnist_folder(tmp_path / "label")
    write_pair(tmp_path / "swap", images, labels)
    (tmp_path / "swap" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    with pytest.raises(ValueError, match="expected a label file"):
        read_mnist_folder(tmp_path / "swap")


# -- filters and specs -----------------------------------------------------------------------------------------
def select_reference(labels, classes, n):
    """Round-robin over the classes in ascending order, each class in file order, with explicit loops."""
    classes = sorted(set(labels)) if not classes else sorted(classes)
    queues = {c: [i for i, lab in enumerate(labels) if lab == c] for c in classes}
    total = sum(len(q) for q in queues.values())
    out, r = [], 0
    while len(out) < min(n, total):
        for c in classes:
            if r < len(queues[c]) and len(out) < n:
                out.append(queues[c][r])
        r += 1
    return sorted(out)


@pytest.mark.parametrize("classes,n", [((), 25), ((1, 7), 9), ((3,), 4), ((0, 1, 2), 1000), ((), 1)])
def test_select_matches_round_robin_reference(classes, n):
    labels = np.random.default_rng(4).integers(0, 10, size=200)
    labels[:30] = 7  # an unbalanced start must not bias the choice
    got = select(labels, classes, n)
    assert got.tolist() == select_reference(labels.tolist(), classes, n)
    counts = np.bincount(labels[got], minlength=10)[list(classes) or range(10)]
    if len(got) == n:
        assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("kwargs,message", [
    ({"source": "web"}, "source must be one of"), ({"classes": (10,)}, r"classes must be .*integer in \[0, 9\]"),
    ({"classes": ("a",)}, r"classes must be .*integer in \[0, 9\]"),
    ({"n": 0}, r"n must be None or an integer in \[1,"),
    ({"n": True}, r"n must be None or an integer in \[1,"), ({"split": "dev"}, "split must be one of"),
])
def test_spec_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DigitsSpec(**kwargs)


def test_spec_is_a_canonical_cache_key():
    assert DigitsSpec(classes=[3, 1, 1]) == DigitsSpec(classes=(1, 3))
    assert hash(DigitsSpec(classes=[3, 1])) == hash(DigitsSpec(classes=(1, 3)))


# -- sources ---------------------------------------------------------------------------------------------------
def test_shipped_subset_has_a_balanced_part_and_every_one_and_is_small():
    images, labels = mnist.load_subset()
    assert images.shape == (2927, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [200] + [1127] + [200] * 8  # all ones among the first 10,000
    assert mnist.SUBSET_PATH.stat().st_size < 512 * 1024
    with np.load(mnist.SUBSET_PATH, allow_pickle=False) as z:
        assert "CC BY-SA 3.0" in str(z["attribution"])
        balanced, index = z["balanced"], z["source_index"]
    assert np.bincount(labels[balanced]).tolist() == [200] * 10
    assert np.all(np.diff(index) > 0)  # file order, no duplicates


def test_auto_source_uses_env_folder_else_shipped(tmp_path, monkeypatch):
    images, labels = fake_mnist(np.random.default_rng(5), n=40)
    write_pair(tmp_path, images, labels)
    monkeypatch.setenv(mnist.ENV_VAR, str(tmp_path))
    d = load_digits(DigitsSpec(classes=(2,)))
    np.testing.assert_array_equal(d.images, images[labels == 2])
    assert str(tmp_path) in d.source
    monkeypatch.delenv(mnist.ENV_VAR)
    d = load_digits(DigitsSpec(classes=(1,), n=50))
    assert "shipped subset" in d.source and len(d.labels) == 50 and set(d.labels) == {1}
    px = d.pixels()
    assert px.shape == (50, 784) and px.dtype == np.float32 and 0 <= px.min() and px.max() <= 1
    with pytest.raises(ValueError, match="folder: name a folder"):
        load_digits(DigitsSpec("folder"))


def test_digits8_option():
    d = load_digits(DigitsSpec("digits8", classes=()))
    assert d.images.shape == (1797, 8, 8) and d.images.max() == 255 and d.shape == (8, 8)


def test_no_images_of_a_class(tmp_path):
    images, labels = fake_mnist(np.random.default_rng(6), n=20, classes=3)
    write_pair(tmp_path, images, labels)
    with pytest.raises(ValueError, match=r"classes: no images of classes \[9\]"):
        load_digits(DigitsSpec("folder", str(tmp_path), classes=(9,)))


# -- download --------------------------------------------------------------------------------------------------
def test_download_verifies_checksums(tmp_path):
    images, labels = fake_mnist(np.random.default_rng(7), n=20)
    mirror = write_pair(tmp_path / "mirror", images, labels)
    sums = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in mirror.iterdir()}
    target = tmp_path / "got"
    got = download_mnist(target, mirrors=(f"file://{tmp_path}/nowhere/", mirror.as_uri() + "/"), checksums=sums)
    np.testing.assert_array_equal(read_mnist_folder(got)[0], images)
    bad = {k: "0" * 32 for k in sums}
    with pytest.raises(MnistDownloadError, match="checksum mismatch") as err:
        download_mnist(tmp_path / "other", mirrors=(mirror.as_uri() + "/",), checksums=bad)
    assert "RIDGEVIZ_MNIST_DIR" in str(err.value) and not (tmp_path / "other").exists()


def test_download_offline_falls_back_to_the_shipped_subset(tmp_path):
    offline = (f"file://{tmp_path}/no-such-mirror/",)
    with pytest.raises(MnistDownloadError, match="could not download train-images-idx3-ubyte.gz"):
        download_mnist(tmp_path / "dl", mirrors=offline)
    d = load_digits(DigitsSpec("download", str(tmp_path / "dl"), classes=(1,)), mirrors=offline)
    assert "shipped subset" in d.source and "Falling back to the shipped subset" in d.note
    assert len(d.labels) == 1127  # every one among the first 10,000 training images


# -- real MNIST digits, when the shared folder is there ---------------------------------------------------------
@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason=f"real MNIST files not present at {SHARED_MNIST}")
def test_real_mnist_10k():
    images, labels = read_mnist_folder(SHARED_MNIST)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    sub_images, sub_labels = mnist.load_subset()
    with np.load(mnist.SUBSET_PATH, allow_pickle=False) as z:
        idx = z["source_index"]
    np.testing.assert_array_equal(sub_images, images[idx])  # the shipped subset is what the script says
    np.testing.assert_array_equal(sub_labels, labels[idx])
