"""Handwritten digits for the latent-diffusion experiment: MNIST IDX files, the official download, a shipped subset.

Sources (:data:`SOURCES`), chosen by a frozen, hashable :class:`DigitsSpec` (a cache key):

- ``"auto"``: the folder named by ``spec.folder`` or the environment variable ``RIDGEVIZ_MNIST_DIR`` when one
  is given, else the shipped subset;
- ``"folder"``: MNIST's standard IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``;
  ``t10k-...`` for the test split) in that folder, gzip or raw;
- ``"download"``: the official files fetched into that folder (default ``~/.cache/ridgeviz/mnist``) and checked
  against their published MD5 sums; offline, the shipped subset is used and :attr:`Digits.note` says why;
- ``"shipped"``: ``assets/mnist_subset.npz`` beside the package (from the first 10,000 MNIST training images: the
  first 200 of each class plus all 1,127 ones, 2,927 digits; built by ``python -m ridgeviz assets mnist``), so the
  view and the ``mnist`` experiment work offline;
- ``"digits8"``: scikit-learn's 1,797 8x8 digits (bundled with scikit-learn), a small further option.

Filters: ``classes`` (the authors' code uses the digit 1) and ``n``, a cap on the count taken round-robin over the
classes in file order (balanced and deterministic). Images are ``uint8`` ``(N, H, W)``; :meth:`Digits.pixels`
gives the ``(N, H*W)`` float32 intensities in [0, 1] the autoencoder reads. Nothing here imports streamlit.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..utils.files import atomic_write, read_capped
from ..utils.paths import ASSETS
from ..utils.validation import Integer, Optional, Options, Tuple, check, validate_fields

SUBSET_PATH = ASSETS / "mnist_subset.npz"
ENV_VAR = "RIDGEVIZ_MNIST_DIR"
SOURCES = ("auto", "shipped", "folder", "download", "digits8")
SPLITS = {"train": "train", "test": "t10k"}
#: Published MD5 sums of the official files (the ones torchvision and others verify).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/",
           "http://yann.lecun.com/exdb/mnist/")
# IDX type byte -> big-endian dtype (the format's own table)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_IDX_BYTES = 256 * 2**20  # refuse to inflate more than this (a gzip bomb or a wrong file)


class MnistDownloadError(ValueError):
    """The official MNIST files could not be fetched or failed their checksum."""


# -- IDX ------------------------------------------------------------------------------------------------------
def _raw_bytes(source, name: str, max_bytes: int) -> bytes:
    """Bytes of a path or bytes-like ``source``, gunzipped when they start with the gzip magic."""
    if isinstance(source, (str, os.PathLike)):
        data = read_capped(source, name, max_bytes)  # regular files only (not /dev/zero, not a FIFO), capped
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise ValueError(f"{name}: expected a path or bytes; got {type(source).__name__}")
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            out = fh.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{name}: the gzip stream is corrupt or truncated ({exc})") from None
    if len(out) > max_bytes:
        raise ValueError(f"{name}: inflates to more than {max_bytes} bytes; not an MNIST file")
    return out


def read_idx(source, *, name: str | None = None, ndim: int | None = None,
             max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a native-endian array of its declared shape.

    IDX layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), a byte with the number of dimensions, one big-endian uint32 per dimension, then the values
    in C order. MNIST images have magic 2051 (uint8, 3 dims), labels 2049 (uint8, 1 dim).

    source: a path or the file's bytes. ``ndim``: the number of dimensions required (None: any).
    Raises ``ValueError`` naming the file for a bad magic number or type, a wrong number of dimensions, a
    zero dimension, a payload shorter (truncated) or longer than the header declares, or a corrupt gzip stream.
    """
    name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "IDX data")
    data = _raw_bytes(source, name, max_bytes)
    if len(data) < 4:
        raise ValueError(f"{name}: {len(data)} bytes is too short for an IDX header (truncated or empty file)")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or data[3] == 0:
        raise ValueError(f"{name}: not an IDX file (magic number 0x{magic:08x}; MNIST images have 0x00000803 = "
                         f"2051 and labels 0x00000801 = 2049)")
    dims_n = data[3]
    if ndim is not None and dims_n != ndim:
        kind = {1: "a label file (1 dimension)", 3: "an image file (3 dimensions)"}.get(ndim, f"{ndim} dimensions")
        raise ValueError(f"{name}: expected {kind}; the header (magic {magic}) declares {dims_n} dimensions")
    head = 4 + 4 * dims_n
    if len(data) < head:
        raise ValueError(f"{name}: truncated inside the header ({len(data)} of {head} header bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(dims_n))
    if 0 in dims:
        raise ValueError(f"{name}: the header declares an empty array of shape {dims}")
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(data) - head
    if body < expected:
        raise ValueError(f"{name}: truncated: the header declares shape {dims} ({expected} bytes of data) but "
                         f"only {body} bytes follow")
    if body > expected:
        raise ValueError(f"{name}: {body - expected} unexpected bytes after the {expected} bytes the header "
                         f"declares for shape {dims} (wrong or damaged file)")
    return np.frombuffer(data, dtype=dtype, offset=head).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    """The file for ``stem`` (e.g. ``train-images-idx3-ubyte``) in ``folder``: ``.gz``, raw, or the dotted variant."""
    dotted = stem.replace("-idx", ".idx")
    for cand in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        if (folder / cand).is_file():
            return folder / cand
    raise ValueError(f"folder {str(folder)!r} has no {stem}[.gz]; expected MNIST's standard IDX file names "
                     f"({stem}.gz or {stem})")


def read_mnist_folder(folder, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, H, W)`` uint8 and labels ``(N,)`` int64 from the IDX pair of ``split`` in ``folder``."""
    check("split", split, Options(tuple(SPLITS)))
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"folder {str(folder)!r} does not exist or is not a directory")
    prefix = SPLITS[split]
    img_path, lab_path = _find(folder, f"{prefix}-images-idx3-ubyte"), _find(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(img_path, ndim=3)
    labels = read_idx(lab_path, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise ValueError(f"{img_path.name}/{lab_path.name}: MNIST files hold uint8 values; got {images.dtype} "
                         f"images and {labels.dtype} labels")
    if len(images) != len(labels):
        raise ValueError(f"{img_path.name} holds {len(images)} images but {lab_path.name} holds {len(labels)} labels")
    if labels.max() > 9:
        raise ValueError(f"{lab_path.name}: labels must be digits 0..9; found {int(labels.max())}")
    return images, labels.astype(np.int64)


# -- download -------------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ridgeviz/mnist`` (``~/.cache/ridgeviz/mnist`` by default): where downloads go."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ridgeviz" / "mnist"


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def download_mnist(folder=None, split: str = "train", *, mirrors=MIRRORS, checksums=None,
                   timeout: float = 20.0) -> Path:
    """Fetch the official IDX pair of ``split`` into ``folder`` and verify each file's MD5; returns the folder.

    Files already present with the right checksum are kept. Each file is tried from every mirror in turn;
    a file that fails its checksum is never written. Raises :class:`MnistDownloadError` (a ``ValueError``)
    saying which files failed and why (offline, refused, checksum mismatch) and what to do instead.
    """
    check("split", split, Options(tuple(SPLITS)))
    checksums = MNIST_MD5 if checksums is None else checksums
    folder = Path(folder).expanduser() if folder is not None else default_cache_dir()
    prefix = SPLITS[split]
    for fname in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"):
        target = folder / fname
        if target.is_file() and _md5(read_capped(target, fname, MAX_IDX_BYTES)) == checksums[fname]:
            continue
        problems = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + fname
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    data = resp.read(MAX_IDX_BYTES)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problems.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            digest = _md5(data)
            if digest != checksums[fname]:
                problems.append(f"{url}: checksum mismatch (md5 {digest}, expected {checksums[fname]})")
                continue
            atomic_write(target, data, "download")
            break
        else:
            raise MnistDownloadError(
                f"could not download {fname} (no network access?): " + "; ".join(problems)
                + f". Put MNIST's IDX files in a folder and name it (--mnist-dir or {ENV_VAR}), or use the shipped "
                "subset.")
    return folder


# -- datasets -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DigitsSpec:
    """Which digits to load; hashable, so it keys a cache. See the module docstring for ``source``.

    folder: the MNIST folder for "folder"/"auto" (None: ``$RIDGEVIZ_MNIST_DIR``), the download target for
        "download" (None: :func:`default_cache_dir`). split: "train" or "test" (MNIST files only).
    classes: digit classes to keep, e.g. ``(1,)``; ``()`` keeps all. n: at most this many images (None: all),
        taken round-robin over the classes in file order.
    """

    source: str = "auto"
    folder: str | None = None
    split: str = "train"
    classes: tuple = (1,)
    n: int | None = None
    CONSTRAINTS: ClassVar[dict] = {"source": Options(SOURCES), "split": Options(tuple(SPLITS)),
                                   "classes": Tuple(Integer(0, 9), 0, 100), "n": Optional(Integer(1, 10**7))}

    def __post_init__(self):
        validate_fields(self, self.CONSTRAINTS)
        object.__setattr__(self, "classes", tuple(sorted(set(self.classes))))
        if self.folder is not None:
            object.__setattr__(self, "folder", str(self.folder))


@dataclasses.dataclass
class Digits:
    """Loaded digit images: ``images (N, H, W)`` uint8, ``labels (N,)`` int64, where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str  # e.g. "MNIST train IDX files in /data/mnist" or "shipped subset (assets/mnist_subset.npz)"
    note: str = ""  # why a fallback was taken, if one was

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:])

    def pixels(self) -> np.ndarray:
        """Intensities in [0, 1] as ``(N, H*W)`` float32 (the autoencoder's input)."""
        return (self.images.reshape(len(self.images), -1).astype(np.float32) / 255.0)


def select(labels: np.ndarray, classes=(), n: int | None = None) -> np.ndarray:
    """Indices (ascending) of at most ``n`` items of the given ``classes``, round-robin over the classes.

    The r-th item of every class comes before the (r+1)-th of any, so the counts differ by at most one
    unless a class runs out. ``labels: (N,)``; ``classes=()`` means every class present.
    """
    labels = np.asarray(labels)
    keep = np.isin(labels, classes) if len(classes) else np.ones(len(labels), bool)
    idx = np.flatnonzero(keep)
    if n is None or n >= len(idx):
        return idx
    lab = labels[idx]
    order = np.argsort(lab, kind="stable")
    rank = np.empty(len(idx), np.int64)
    starts = np.searchsorted(lab[order], lab[order], side="left")
    rank[order] = np.arange(len(idx)) - starts  # position of each item within its class
    chosen = idx[np.lexsort((lab, rank))[:n]]
    return np.sort(chosen)


def load_subset(path=SUBSET_PATH) -> tuple[np.ndarray, np.ndarray]:
    """The shipped subset: images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"the shipped MNIST subset {path} is missing; rebuild it with "
                         f"`python -m ridgeviz assets mnist` or point {ENV_VAR} at MNIST's IDX files")
    with np.load(path, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"].astype(np.int64)
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"{path} is damaged: images {images.dtype}{images.shape}, labels {labels.shape}")
    return images, labels


def load_digits8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (values 0..16) rescaled to uint8 0..255: ``(1797, 8, 8)``, labels ``(1797,)``."""
    from sklearn.datasets import load_digits  # lazy: slow import, bundled data (no network)

    d = load_digits()
    return np.rint(d.images * (255.0 / 16.0)).astype(np.uint8), d.target.astype(np.int64)


def load_digits(spec: DigitsSpec = DigitsSpec(), *, mirrors=MIRRORS) -> Digits:
    """Load and filter the digits described by ``spec`` (see :class:`DigitsSpec` and the module docstring)."""
    note = ""
    source, folder = spec.source, spec.folder
    if source == "auto":
        folder = folder or os.environ.get(ENV_VAR) or None
        source = "folder" if folder else "shipped"
    if source == "folder":
        folder = folder or os.environ.get(ENV_VAR)
        if not folder:
            raise ValueError(f"folder: name a folder with MNIST's IDX files (or set {ENV_VAR})")
        images, labels = read_mnist_folder(folder, spec.split)
        where = f"MNIST {spec.split} IDX files in {folder}"
    elif source == "download":
        try:
            got = download_mnist(folder, spec.split, mirrors=mirrors)
            images, labels = read_mnist_folder(got, spec.split)
            where = f"MNIST {spec.split} set downloaded to {got} (checksums verified)"
        except MnistDownloadError as exc:
            note = f"{exc} Falling back to the shipped subset."
            source = "shipped"
    if source == "shipped":
        images, labels = load_subset()
        where = f"shipped subset ({SUBSET_PATH.name}: {len(images)} MNIST training digits)"
    elif source == "digits8":
        images, labels = load_digits8()
        where = "scikit-learn 8x8 digits"
    idx = select(labels, spec.classes, spec.n)
    if len(idx) == 0:
        raise ValueError(f"classes: no images of classes {list(spec.classes)} in the {where}")
    return Digits(images[idx], labels[idx], where, note)
