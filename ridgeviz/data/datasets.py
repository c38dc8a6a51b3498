"""Datasets: the paper's 2-D mode sets, generated clouds, high-dimensional embeddings, user uploads.

Everything returned is a float64 array of shape ``(N, D)``: N training points in R^D, the ``x_1..x_N`` of the
smoothed empirical density ``p_t(x) = (1/N) sum_i N(x; alpha_t x_i, h_t I)``. Generated sets are described by a
frozen, hashable :class:`DatasetSpec` (a cache key) and are deterministic given its ``seed``. User data goes
through :func:`validate_array` (and :func:`load_array_file` for .csv/.npy/.npz), which refuse bad input with a
``ValueError`` that names the input and says what is wrong. This module never imports streamlit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import numbers
import os
import zipfile

import numpy as np

__all__ = [
    "MODE_SETS", "KINDS", "SKLEARN_NAMES", "DatasetSpec", "make_dataset", "embed_in_subspace",
    "validate_array", "load_array_file", "dataset_fingerprint",
]


def _pts(*xy: tuple[float, float]) -> np.ndarray:
    arr = np.array(xy, dtype=np.float64)
    arr.setflags(write=False)  # shared module constants: callers get copies from make_dataset
    return arr


_SQUARE = ((0.0, 0.0), (5.0, 0.0), (0.0, 5.0), (5.0, 5.0))

#: The paper's 2-D mode sets, name -> (N, 2) read-only float64 array.
MODE_SETS: dict[str, np.ndarray] = {
    "two-points": _pts((-3.0, 0.0), (3.0, 0.0)),
    "three-points": _pts((0.0, 0.0), (5.0, 0.0), (0.0, 5.0)),
    "square": _pts(*_SQUARE),
    "square-centre": _pts(*_SQUARE, (2.5, 2.5)),
    # right triangle plus the midpoint of its hypotenuse
    "triangle-side": _pts((0.0, 0.0), (5.0, 0.0), (0.0, 5.0), (2.5, 2.5)),
    "grid-3x3": _pts(*[(x, y) for x in (0.0, 2.5, 5.0) for y in (0.0, 2.5, 5.0)]),
    # Opening demo: two pairs and two triples (ridges bridge each group) plus three isolated points.
    "thirteen": _pts(
        (-3.2, 2.8), (-2.3, 3.2),                # pair, upper left
        (1.6, 2.4), (2.5, 3.0), (2.3, 1.9),      # triple, upper right
        (-3.0, -1.2), (-3.5, -2.0),              # pair, left
        (1.2, -2.7), (2.0, -3.3), (2.6, -2.5),   # triple, lower right
        (-0.2, 0.2), (3.8, -0.2), (-0.8, -3.7),  # isolated
    ),
}

KINDS = ("preset", "noisy", "sklearn", "ring", "highdim")
SKLEARN_NAMES = ("moons", "circles", "blobs", "swiss-roll")
_MAX_N = 100_000
_MAX_DIM = 1024
_SWISS_SCALE = 4.0 / (4.5 * math.pi)  # make_swiss_roll's radius is at most 4.5 pi: maps the roll into [-4, 4]^2


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A generated dataset, hashable so it can key a cache; vary it with ``dataclasses.replace``.

    kind: "preset" (a :data:`MODE_SETS` entry as is), "noisy" (n points = random mode + noise * N(0, I)),
        "sklearn" (moons, circles, blobs, swiss-roll), "ring" (n points evenly on a circle of ``radius``,
        plus noise), "highdim" (the preset -- or, when noise > 0, its noisy cloud -- isometrically embedded in
        a random 2-plane of R^dim, plus ``offsubspace_noise`` orthogonal to that plane).
    name: the mode-set name for preset/noisy/highdim, the generator name for sklearn; "ring" (or "") for ring.
    n: number of points for generated sets (ignored by preset, and by highdim when noise == 0), 2..100,000.
    noise: standard deviation of isotropic Gaussian noise, in output units (blobs: the cluster std).
    dim: ambient dimension D for highdim, 2..1024 (ignored by other kinds).
    seed: seed of ``np.random.default_rng`` and sklearn's ``random_state``, 0 <= seed < 2**32.
    offsubspace_noise: std of the noise added off the 2-plane (highdim only).
    radius: ring radius (ring only), > 0.
    """

    kind: str
    name: str
    n: int = 200
    noise: float = 0.0
    dim: int = 2
    seed: int = 0
    offsubspace_noise: float = 0.0
    radius: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}; got {self.kind!r}")
        if self.kind == "ring":
            if self.name not in ("ring", ""):
                raise ValueError(f"name must be 'ring' (or '') for kind 'ring'; got {self.name!r}")
            object.__setattr__(self, "name", "ring")  # one canonical cache key
        else:
            allowed = SKLEARN_NAMES if self.kind == "sklearn" else tuple(MODE_SETS)
            if self.name not in allowed:
                raise ValueError(f"name must be one of {list(allowed)} for kind {self.kind!r}; got {self.name!r}")
        self._set_int("n", 2, _MAX_N)
        self._set_int("dim", 2, _MAX_DIM)
        self._set_int("seed", 0, 2**32 - 1)
        self._set_float("noise", allow_zero=True)
        self._set_float("offsubspace_noise", allow_zero=True)
        self._set_float("radius", allow_zero=False)

    def _set_int(self, field: str, lo: int, hi: int) -> None:
        value = getattr(self, field)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{field} must be an integer; got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"{field} must be between {lo} and {hi}; got {value}")
        object.__setattr__(self, field, int(value))  # numpy ints -> int, so equal specs hash equal

    def _set_float(self, field: str, *, allow_zero: bool) -> None:
        value = getattr(self, field)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{field} must be a real number; got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{field} must be finite; got {value}")
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{field} must be {'>= 0' if allow_zero else '> 0'}; got {value}")
        object.__setattr__(self, field, float(value))


def make_dataset(spec: DatasetSpec) -> np.ndarray:
    """Build the dataset described by ``spec``; same spec, same numbers.

    Returns: (N, D) float64, C-contiguous, a fresh array the caller may modify. D = 2 except highdim (D = dim).
    """
    if spec.kind == "preset":
        return MODE_SETS[spec.name].copy()
    if spec.kind == "noisy":
        return _noisy_cloud(MODE_SETS[spec.name], spec.n, spec.noise, spec.seed)
    if spec.kind == "sklearn":
        return _sklearn(spec)
    if spec.kind == "ring":
        angle = 2.0 * np.pi * np.arange(spec.n) / spec.n
        X = spec.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return X + spec.noise * np.random.default_rng(spec.seed).standard_normal(X.shape)
    base = MODE_SETS[spec.name]
    if spec.noise > 0:
        base = _noisy_cloud(base, spec.n, spec.noise, spec.seed)
    X, _ = embed_in_subspace(base, spec.dim, spec.seed, spec.offsubspace_noise)
    return X


def _noisy_cloud(modes: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """n points, each a uniformly chosen row of ``modes`` (K, d) plus ``noise * N(0, I_d)``; returns (n, d)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(modes), size=n)
    return modes[idx] + noise * rng.standard_normal((n, modes.shape[1]))


def _sklearn(spec: DatasetSpec) -> np.ndarray:
    """sklearn.datasets generators at their native scale (swiss-roll rescaled into [-4, 4]^2)."""
    from sklearn import datasets  # imported lazily: it is slow to import and only this kind needs it

    n, noise, seed = spec.n, spec.noise, spec.seed
    if spec.name == "moons":
        X, _ = datasets.make_moons(n_samples=n, noise=noise, random_state=seed)
    elif spec.name == "circles":
        X, _ = datasets.make_circles(n_samples=n, noise=noise, random_state=seed)
    elif spec.name == "blobs":
        X, _ = datasets.make_blobs(n_samples=n, centers=3, cluster_std=noise, center_box=(-4.0, 4.0),
                                   random_state=seed)
    else:  # swiss-roll: the (x, z) plane of the roll; noise is divided so it is `noise` after rescaling
        X3, _ = datasets.make_swiss_roll(n_samples=n, noise=noise / _SWISS_SCALE, random_state=seed)
        X = _SWISS_SCALE * X3[:, [0, 2]]
    return np.ascontiguousarray(X, dtype=np.float64)


def embed_in_subspace(points: np.ndarray, dim: int, seed: int,
                      offsubspace_noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Place ``points`` isometrically in a random d-dimensional subspace of R^dim.

    The basis is the Q factor of a QR decomposition of a (dim, d) standard Gaussian matrix drawn with
    ``np.random.default_rng(seed)`` (signs fixed so diag(R) > 0, i.e. a Haar-random frame); the noise
    ``offsubspace_noise * N(0, I_dim)`` is drawn afterwards from the same generator and projected onto the
    orthogonal complement, so the same seed gives the same subspace for every noise level.

    points: (N, d) with d <= dim.
    Returns: X (N, dim) = points @ basis.T + noise_perp, and basis (dim, d) with orthonormal columns.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"points must be a 2-D array (N, d); got shape {points.shape}")
    d = points.shape[1]
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < d:
        raise ValueError(f"dim must be an integer >= the points' dimension {d}; got {dim!r}")
    if not (math.isfinite(offsubspace_noise) and offsubspace_noise >= 0):
        raise ValueError(f"offsubspace_noise must be finite and >= 0; got {offsubspace_noise}")
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((int(dim), d)))
    basis = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    X = points @ basis.T
    if offsubspace_noise > 0:
        E = offsubspace_noise * rng.standard_normal(X.shape)
        X = X + (E - (E @ basis) @ basis.T)
    return np.ascontiguousarray(X), np.ascontiguousarray(basis)


def validate_array(arr, *, name: str = "data", max_points: int = 200_000, max_dim: int = 4096) -> np.ndarray:
    """Check user data and return it as a float64 C-contiguous copy of shape (N, D).

    Requires a real numeric dtype (integer or float; not bool, complex, string or object), exactly two
    dimensions, 2 <= N <= max_points, 1 <= D <= max_dim, and every value finite. Each failure raises a
    ``ValueError`` whose message starts with ``name`` and says what was found.
    """
    try:
        a = np.asarray(arr)
    except (ValueError, TypeError) as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    kind = a.dtype.kind
    if kind == "b":
        raise ValueError(f"{name} must be numeric; got a boolean array (dtype {a.dtype})")
    if kind == "c":
        raise ValueError(f"{name} must be real-valued; got complex dtype {a.dtype}")
    if kind not in "iuf":
        raise ValueError(f"{name} must be numeric; got dtype {a.dtype} (strings, objects and records are refused)")
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D); got shape {a.shape}")
    n, d = a.shape
    if n < 2:
        raise ValueError(f"{name} must have at least 2 rows (points); got {n}")
    if d < 1:
        raise ValueError(f"{name} must have at least 1 column (dimension); got 0")
    if n > max_points:
        raise ValueError(f"{name} has {n} points (rows); the limit is {max_points}")
    if d > max_dim:
        raise ValueError(f"{name} has {d} dimensions (columns); the limit is {max_dim}")
    out = np.array(a, dtype=np.float64, order="C", copy=True)
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise ValueError(f"{name} contains {int(bad.sum())} non-finite values (NaN or inf), first at row {row}")
    return out


def load_array_file(path_or_bytes, filename: str, *, max_bytes: int = 50 * 2**20) -> np.ndarray:
    """Read a .csv, .npy or .npz file into a validated (N, D) float64 array.

    path_or_bytes: a filesystem path, raw bytes (e.g. ``UploadedFile.getvalue()``) or a binary file object.
    filename: used only for its extension and in messages.
    .csv: comma separated numbers; one leading header row of non-numeric names is skipped; ``#`` comments and
    blank lines are ignored; any other text cell is an error naming its line and column.
    .npy: loaded with ``allow_pickle=False`` (object/pickled arrays are refused).
    .npz: the array named "data", else the only array in the archive.
    Files larger than ``max_bytes`` are refused before they are parsed. The result goes through
    :func:`validate_array` with ``name=filename``.
    """
    ext = os.path.splitext(str(filename))[1].lower()
    if ext not in (".csv", ".npy", ".npz"):
        raise ValueError(f"{filename}: unsupported file extension {ext or '(none)'!r}; use .csv, .npy or .npz")
    raw = _read_limited(path_or_bytes, filename, max_bytes)
    if ext == ".csv":
        arr = _parse_csv(raw, filename)
    else:
        arr = _load_numpy(raw, filename, ext)
    return validate_array(arr, name=filename)


def _read_limited(src, filename: str, max_bytes: int) -> bytes:
    """Return the file's bytes, refusing more than ``max_bytes`` (checked before reading where possible)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        raw, size = bytes(src), len(src)
    elif isinstance(src, (str, os.PathLike)):
        size = os.path.getsize(src)
        if size > max_bytes:
            raise ValueError(f"{filename} is {size} bytes; the limit is {max_bytes} bytes")
        with open(src, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    elif hasattr(src, "read"):
        raw = src.read(max_bytes + 1)
        size = f"more than {max_bytes}"
    else:
        raise ValueError(f"{filename}: expected a path, bytes or a binary file object; got {type(src).__name__}")
    if len(raw) > max_bytes:
        raise ValueError(f"{filename} is {size} bytes; the limit is {max_bytes} bytes")
    return raw


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse_csv(raw: bytes, filename: str) -> np.ndarray:
    """Parse comma-separated numbers with an optional header row of names; text cells are errors, not NaN."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{filename} is not UTF-8 text: {exc}") from None
    stripped = ((i, ln.split("#", 1)[0]) for i, ln in enumerate(text.splitlines(), start=1))
    content = [(i, ln) for i, ln in stripped if ln.strip()]  # (line number, text) without comments/blanks
    if not content:
        raise ValueError(f"{filename} contains no data rows")
    first_line, first = content[0]
    cells = [c.strip() for c in first.split(",")]
    skip = 0
    if not all(_is_number(c) for c in cells):
        if any(_is_number(c) for c in cells):
            bad = next(j for j, c in enumerate(cells, start=1) if not _is_number(c))
            raise ValueError(f"{filename}: line {first_line}, column {bad} is not a number: {cells[bad - 1]!r} "
                             "(a header row must contain only names)")
        skip = 1  # a header of names
    body = [ln for _, ln in content[skip:]]
    if not body:
        raise ValueError(f"{filename} contains a header but no data rows")
    try:
        return np.loadtxt(io.StringIO("\n".join(body)), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise ValueError(_csv_error(content[skip:], filename)) from None


def _csv_error(rows: list[tuple[int, str]], filename: str) -> str:
    """Locate the first unreadable cell (slow path, used only to word the error)."""
    width = None
    for line_no, ln in rows:
        cells = [c.strip() for c in ln.split(",")]
        for j, c in enumerate(cells, start=1):
            if not _is_number(c):
                what = "is empty" if c == "" else f"is not a number: {c!r}"
                if any(sep in c for sep in (";", "\t", " ")):
                    what += " (values must be separated by commas)"
                return f"{filename}: line {line_no}, column {j} {what}"
        width = len(cells) if width is None else width
        if len(cells) != width:
            return f"{filename}: line {line_no} has {len(cells)} columns; earlier rows have {width}"
    return f"{filename} could not be parsed as comma-separated numbers"


def _load_numpy(raw: bytes, filename: str, ext: str) -> np.ndarray:
    """np.load without pickles; .npz picks the array named 'data' or the only array."""
    magic = b"\x93NUMPY" if ext == ".npy" else b"PK"
    if not raw.startswith(magic):
        hint = " (it looks like a Python pickle, which is refused)" if raw[:1] == b"\x80" else ""
        raise ValueError(f"{filename} is not a valid {ext} file{hint}")
    try:
        obj = np.load(io.BytesIO(raw), allow_pickle=False)
        if ext == ".npy":
            return obj
        with obj:
            keys = list(obj.files)
            if "data" in keys:
                return obj["data"]
            if len(keys) == 1:
                return obj[keys[0]]
            raise ValueError(f"{filename} holds {len(keys)} arrays {keys}; expected one, or one named 'data'")
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith(filename):
            raise
        if "pickle" in msg.lower() or "object arrays" in msg.lower():
            raise ValueError(f"{filename} contains a pickled or object array, which is refused for safety; "
                             "save plain numbers with np.save(..., allow_pickle=False)") from None
        raise ValueError(f"{filename} could not be read as {ext}: {msg}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{filename} could not be read as {ext}: {exc}") from None


def dataset_fingerprint(X: np.ndarray) -> str:
    """SHA-256 hex digest of the shape and the float64 C-contiguous bytes of X (N, D); ties checkpoints to data."""
    a = np.ascontiguousarray(X, dtype=np.float64)
    h = hashlib.sha256(f"float64{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()
