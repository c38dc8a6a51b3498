"""Datasets: the 2-D mode sets of the authors' code, generated clouds, high-dimensional embeddings, user uploads.

Everything returned is a float64 array of shape ``(N, D)``: N training points in R^D, the ``x_1..x_N`` of the
smoothed empirical density ``p_t(x) = (1/N) sum_i N(x; alpha_t x_i, h_t I)``. Generated sets are described by a
frozen, hashable :class:`DatasetSpec` (a cache key) and are deterministic given its ``seed``. User data
(uploads and files) is read and validated by :mod:`ridgeviz.data.uploads`. This module never imports streamlit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np

from ..utils.validation import Array, Integer, Options, Real, check, validate_fields
from .uploads import load_array_file, validate_array  # re-exported: their old home

__all__ = [
    "MODE_SETS", "KINDS", "SKLEARN_NAMES", "DatasetSpec", "make_dataset", "embed_in_subspace",
    "validate_array", "load_array_file", "dataset_fingerprint",
]


def _pts(*xy: tuple[float, float]) -> np.ndarray:
    arr = np.array(xy, dtype=np.float64)
    arr.setflags(write=False)  # shared module constants: callers get copies from make_dataset
    return arr


_SQUARE = ((0.0, 0.0), (5.0, 0.0), (0.0, 5.0), (5.0, 5.0))

#: The 2-D mode sets of the authors' code and ridgeviz's ``thirteen``, name -> (N, 2) read-only float64 array.
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
_SIZE = Real(0.0, 1e6)  # a noise level, in output units
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
        validate_fields(self, {"kind": Options(KINDS)})
        names = {"ring": ("ring", ""), "sklearn": SKLEARN_NAMES}.get(self.kind, tuple(MODE_SETS))
        validate_fields(self, {"name": Options(names), "n": Integer(2, _MAX_N), "dim": Integer(2, _MAX_DIM),
                               "seed": Integer(0, 2**32 - 1), "noise": _SIZE, "offsubspace_noise": _SIZE,
                               "radius": Real(0, 1e6, lo_open=True)})
        if self.kind == "ring":
            object.__setattr__(self, "name", "ring")  # one canonical cache key


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
    points = check("points", points, Array((None, None)))
    d = points.shape[1]
    dim, offsubspace_noise = check("dim", dim, Integer(d, 2**16)), check("offsubspace_noise", offsubspace_noise, _SIZE)
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((int(dim), d)))
    basis = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    X = points @ basis.T
    if offsubspace_noise > 0:
        E = offsubspace_noise * rng.standard_normal(X.shape)
        X = X + (E - (E @ basis) @ basis.T)
    return np.ascontiguousarray(X), np.ascontiguousarray(basis)


def dataset_fingerprint(X: np.ndarray) -> str:
    """SHA-256 hex digest of the shape and the float64 C-contiguous bytes of X (N, D); ties checkpoints to data."""
    a = np.ascontiguousarray(X, dtype=np.float64)
    h = hashlib.sha256(f"float64{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()
