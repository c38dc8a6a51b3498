"""Two trivial samplers that every claim about a learned model is measured beside: the floor and the ceiling.

Neither learns anything about the ridge, so a statistic that one of them passes cannot, on its own, show that a
learned model generalises onto the ridge:

- :func:`kernel_samples`, the **floor**: an isotropic kernel sampler. Each sample is a training point chosen
  uniformly plus an offset of a length drawn from a given distribution (the learned model's own distances to the
  nearest training point, so the two match in spread and in copies) in a uniformly random direction. It has no
  preferred direction, so it must fail any check of "new samples go *along* the ridge".
- :func:`interpolator_samples`, the **ceiling**: the nearest-neighbour interpolator. Each sample lies uniformly on
  the segment from a training point chosen uniformly to its nearest neighbour. At the small time ``t_*`` of the
  outcome rule the ridge bridges neighbouring points, so in 2-D with few points these segments lie close to it:
  the interpolator puts new samples "on the ridge" as well as any model can, without knowing the density.
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import SEED, Integer, check


def _points(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2 or not np.isfinite(X).all():
        raise ValueError(f"X: at least 2 finite training points as an (N, D) array are needed; got shape {X.shape}")
    return X


def kernel_samples(X, distances, M: int, seed: int, rounds: int = 64) -> np.ndarray:
    """``M`` samples of the isotropic kernel sampler (module docstring) about ``X: (N, D)``: ``(M, D)``.

    ``distances: (n,)`` (n >= 1, finite, >= 0) is the distribution the offsets' lengths are drawn from with
    replacement (for example a model's distances to its nearest training point). A draw whose nearest training point
    is not its centre is drawn again (at most ``rounds`` times), so each sample's distance to its nearest point is
    the drawn length: the sampler matches the model in that distance, and its own direction-randomised null has its
    distribution.
    """
    X, M, seed = _points(X), check("M", M, Integer(1, None)), check("seed", seed, SEED)
    d = np.asarray(distances, dtype=np.float64).ravel()
    if d.size == 0 or not np.isfinite(d).all() or (d < 0).any():
        raise ValueError("distances: at least one finite, non-negative distance is needed")
    rng = np.random.default_rng(seed)
    out = np.empty((M, X.shape[1]))
    todo = np.arange(M)
    for _ in range(rounds):
        centre = rng.integers(len(X), size=len(todo))
        u = rng.standard_normal((len(todo), X.shape[1]))
        u /= np.linalg.norm(u, axis=1, keepdims=True).clip(1e-300)
        out[todo] = X[centre] + rng.choice(d, size=len(todo))[:, None] * u
        nearest = ((out[todo][:, None, :] - X[None]) ** 2).sum(-1).argmin(axis=1)
        todo = todo[nearest != centre]
        if len(todo) == 0:
            break
    return out


def interpolator_samples(X, M: int, seed: int) -> np.ndarray:
    """``M`` samples of the nearest-neighbour interpolator (module docstring) for ``X: (N, D)``: ``(M, D)``."""
    X, M, seed = _points(X), check("M", M, Integer(1, None)), check("seed", seed, SEED)
    rng = np.random.default_rng(seed)
    i = rng.integers(len(X), size=M)
    j = nearest_other(X)
    u = rng.uniform(0.0, 1.0, size=M)[:, None]
    return X[i] + u * (X[j[i]] - X[i])


def nearest_other(X) -> np.ndarray:
    """Index of each row's nearest *other* row of ``X: (N, D)`` (N >= 2): ``(N,)``. Chunked: memory ``O(N)``."""
    X = _points(X)
    out = np.empty(len(X), dtype=np.int64)
    chunk = max(1, 2**22 // len(X))
    for start in range(0, len(X), chunk):
        d = ((X[start:start + chunk, None, :] - X[None]) ** 2).sum(-1)
        d[np.arange(len(d)), np.arange(start, start + len(d))] = np.inf
        out[start:start + len(d)] = d.argmin(axis=1)
    return out
