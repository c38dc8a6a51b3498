"""Where final samples end: copies of training points, new samples on the ridge, new samples off it.

The one outcome rule of ridgeviz (:class:`OutcomeRule`), used by the home page, the Trajectories page's last frame,
the lecture and ``reproduce``, so all of them report the same kind of number. For final samples ``x`` (data units,
at the last time of the sampler's grid):

- *copy*: the sample is closer to its nearest training point than a third of the distance to the second nearest,
  ``d_1 / d_2 < 1/3`` (the memorisation criterion of the literature: Yoon et al., "Diffusion probabilistic models
  generalize when they fail to memorize", 2023; Gu et al., "On memorization in diffusion models", 2023), **or**
  closer than ``r_noise``, the distance that the noise left at the last time explains alone: the 99% quantile of
  ``(sqrt(h_tmin) / alpha_tmin) chi_D`` (where the smoothed empirical density is one Gaussian of variance
  ``h_tmin`` about ``alpha_tmin x_i``, the exact score's samples end at that distance from their point). Neither
  depends on the closest pair of training points, so dense data is judged like sparse data. A rule tied to the
  smallest spacing (a sixth of it, ridgeviz's earlier rule) read the exact score's samples on a 24-point noisy
  curve as new: they end a median 0.057 from their point, beyond its radius of 0.033;
- *new on ridge*: not a copy, and ``alpha_* x`` lies within ``tube = sqrt(h_*) / 2`` of the 1-dimensional ridge
  ``R_{t_*}`` (SCMS projection converged where the ridge is defined and concave), at the time ``t_*`` where that
  ridge is **best defined over the training set**: among the data-unit bandwidths ``sigma_t / alpha_t`` from
  ``s_med / 3`` (``s_med``: the median nearest-neighbour spacing; the ridge then just bridges neighbouring points)
  up to the data scale, the one with the largest median scaled eigengap ``h_t (l_1 - l_2)`` at the centres
  ``alpha_t x_i`` (:func:`ridge_time`). For a few scattered points that is about one spacing, where the ridge
  bridges neighbours; for points along a noisy curve it is a bandwidth of the order of the noise, where the ridge
  is the smooth curve they scatter about, not the zigzag between neighbours;
- *ridge undefined*: not a copy, and the projection ends where the normal space is undefined (the isotropic blob
  around an isolated point), so no ridge statement can be made there;
- *new off ridge*: everything else.

**What "on the ridge" can and cannot say.** For a few scattered points in 2-D the ridge at ``t_*`` runs close to
the segments between nearest neighbours: a sampler that interpolates between neighbours lands on it as well as a
learned model does (on points along a noisy curve it does not: there the ridge smooths over the zigzag). "On the
ridge" is therefore judged against an **informative null**
(:func:`turned_offsets`): the same samples with each one's offset from its nearest training point turned to a
random direction, same length. The null keeps the copies and the spread and removes any preferred direction; a
model whose new samples go *along* the ridge beats it, an isotropic kernel sampler does not
(:mod:`ridgeviz.core.references` has both reference samplers: the kernel sampler, the floor, and the
nearest-neighbour interpolator, the ceiling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from ..utils.validation import NON_NEGATIVE, POSITIVE, Integer, Real, validate_fields
from .density import SmoothedEmpirical, as_numpy
from .ridge import project_to_ridge
from .vocabulary import CATEGORIES

COPY, ON, OFF, UNDEFINED = range(4)
#: the literature's nearest/second-nearest ratio below which a sample is a copy
COPY_RATIO = 1 / 3
#: the quantile of the terminal noise's distance distribution below which a sample is a copy whatever the ratio
NOISE_QUANTILE = 0.99
#: bandwidths probed for ``t_*`` and the most training points that probe each
PROBES, PROBE_POINTS = 16, 2000


def nearest_training(train, z, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest and second-nearest rows of ``train: (N, D)`` (N >= 2) for each row of ``z: (M, D)``.

    Returns ``(index, distance, second_distance)``, each ``(M,)``. The two candidates come from one matrix
    product per chunk; their Euclidean distances are then recomputed directly (no cancellation for copies).
    """
    X = torch.from_numpy(np.array(train, dtype=np.float64))  # a copy: read-only inputs stay untouched
    Q = torch.from_numpy(np.array(z, dtype=np.float64))
    if X.ndim != 2 or Q.ndim != 2 or X.shape[1] != Q.shape[1] or len(X) < 2:
        raise ValueError(f"train (N >= 2, D) and z (M, D) must share D; got {tuple(X.shape)} and {tuple(Q.shape)}")
    sq = (X * X).sum(-1)
    k = min(3, len(X))  # a third candidate guards the order of near-ties, which the recomputation settles
    top = [torch.addmm(sq.expand(len(q), -1), q, X.T, alpha=-2).topk(k, dim=1, largest=False).indices
           for q in Q.split(chunk)]
    top = torch.cat(top) if top else torch.zeros(0, k, dtype=torch.long)
    dist = (Q[:, None, :] - X[top]).norm(dim=-1)  # (M, k), exact
    order = dist.argsort(dim=1)
    dist, top = dist.gather(1, order), top.gather(1, order)
    return top[:, 0].numpy(), dist[:, 0].numpy(), dist[:, 1].numpy()


#: inside one training point's round blob when its posterior weight is at least this share of its and the second
#: nearest point's together
BLOB_SHARE = 0.95


def nearest_points(dens: SmoothedEmpirical, traj) -> tuple[np.ndarray, ...]:
    """Where every trajectory point stands among the training points, in data units (``x / alpha_t``), each
    ``(K+1, M)``: the distance ``d_1`` to the nearest one, the ratio ``d_1 / d_2`` to the second nearest (the copy
    criterion of :mod:`ridgeviz.core.outcomes`; 1 with a single training point) and whether it lies inside the
    nearest point's round blob (its posterior weight ``>= BLOB_SHARE`` of the two: ``(d_2^2 - d_1^2) / (2 b_t^2)
    >= log(BLOB_SHARE / (1 - BLOB_SHARE))`` with ``b_t = sqrt(h_t) / alpha_t``), where ``p_t`` is locally one
    round Gaussian, the ridge is undefined and the exact score pulls straight to that point; and whether that point
    is a mode of ``p_t`` of its own (``b_t`` below half its distance to its own nearest neighbour: two equal
    Gaussians farther apart than twice their width have two modes), so that the exact pull heads to it."""
    K1, M, D = traj.xs.shape
    alpha = np.asarray(dens.schedule.alpha(traj.times), dtype=np.float64)
    b2 = (np.asarray(dens.schedule.h(traj.times), dtype=np.float64) / alpha**2)[:, None]
    z = (as_numpy(traj.xs.to(torch.float64)) / alpha[:, None, None]).reshape(K1 * M, D)
    X = as_numpy(dens.data)
    if dens.N < 2:
        ones = np.ones((K1, M), dtype=bool)
        return np.linalg.norm(z - X[0], axis=1).reshape(K1, M), np.ones((K1, M)), ones, ones
    idx, d1, d2 = nearest_training(X, z)
    d1, d2 = d1.reshape(K1, M), d2.reshape(K1, M)
    blob = (d2**2 - d1**2) / (2 * b2) >= np.log(BLOB_SHARE / (1 - BLOB_SHARE))
    resolved = np.sqrt(b2) < nearest_training(X, X)[2][idx].reshape(K1, M) / 2
    return d1, d1 / np.maximum(d2, 1e-300), blob, resolved


def spacings(X) -> np.ndarray:
    """Distance from each training point of ``X: (N, D)`` to its nearest other point: ``(N,)``."""
    X = np.asarray(X, dtype=np.float64)
    return nearest_training(X, X)[2] if len(X) >= 2 else np.full(len(X), np.inf)


def terminal_noise_radius(schedule, D: int, t_final: float | None = None, quantile: float = NOISE_QUANTILE) -> float:
    """``quantile`` of ``(sqrt(h_t) / alpha_t) chi_D`` at ``t_final`` (default ``t_min``), in data units: the distance
    from its training point at which the exact score leaves a sample when the sampler stops (module docstring)."""
    t = schedule.t_min if t_final is None else float(t_final)
    return float(math.sqrt(float(schedule.h(t))) / float(schedule.alpha(t)) * stats.chi.ppf(quantile, D))


@dataclass(frozen=True)
class OutcomeRule:
    """The copy criterion, the ridge time ``t_*`` and the tube width of the outcome rule (module docstring).

    ``noise_radius``: distances below it are copies whatever the ratio; ``copy_ratio``: the nearest/second-nearest
    ratio below which a sample is a copy; ``t_ridge``, ``tube``: the ridge ``R_{t_*}^dim`` and the width about it.
    """

    noise_radius: float
    t_ridge: float
    tube: float
    copy_ratio: float = COPY_RATIO
    dim: int = 1

    def __post_init__(self):
        validate_fields(self, {"noise_radius": NON_NEGATIVE, "t_ridge": POSITIVE, "tube": POSITIVE,
                               "copy_ratio": Real(0, 1, lo_open=True, hi_open=True), "dim": Integer(0, None)})

    @classmethod
    def for_data(cls, X, schedule, t_final: float | None = None) -> OutcomeRule:
        """The rule for training points ``X: (N, D)`` (N >= 2, not all equal) sampled under ``schedule`` down to
        ``t_final`` (default ``t_min``)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2 or X.shape[1] < 2:
            raise ValueError(f"X: the outcome rule needs at least 2 training points in D >= 2 dimensions as an "
                             f"(N, D) array; got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X: the training points must be finite")
        s = spacings(X)
        s_med = float(np.median(s))
        if not s_med > 0:
            raise ValueError("X: more than half of the training points repeat another one (median spacing 0); the "
                             "outcome rule needs distinct neighbours")
        t = ridge_time(X, schedule, s_med)
        return cls(terminal_noise_radius(schedule, X.shape[1], t_final), t, math.sqrt(float(schedule.h(t))) / 2)

    def is_copy(self, d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
        """``(M,)`` bool: copies among samples at distances ``d1`` and ``d2`` from their two nearest points."""
        d1, d2 = np.asarray(d1, dtype=np.float64), np.asarray(d2, dtype=np.float64)
        return (d1 < self.copy_ratio * d2) | (d1 < self.noise_radius)

    def describe(self) -> str:
        return (f"copy: nearest training point nearer than {self.copy_ratio:.2g} x the second nearest (the "
                f"literature's rule) or than {self.noise_radius:.3g} (the noise left at the last time); new on "
                f"ridge: within {self.tube:.3f} of R_t^{self.dim} at t* = {self.t_ridge:.3g}")


def _time_of_bandwidth(schedule, b: float) -> float:
    """The time at which the data-unit bandwidth ``sigma_t / alpha_t`` equals ``b`` (bisection in log t over the
    schedule's range; it grows with t for every preset), so the rule suits any data scale under any schedule."""
    lo, hi = math.log(schedule.t_min), math.log(schedule.T)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        t = math.exp(mid)
        lo, hi = (mid, hi) if float(schedule.sigma(t) / schedule.alpha(t)) < b else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def ridge_time(X: np.ndarray, schedule, s_med: float, dim: int = 1, probes: int = PROBES) -> float:
    """``t_*``: among the times whose data-unit bandwidth ``sigma_t / alpha_t`` runs from ``s_med / 3`` to the data
    scale, the one where the ``dim``-ridge is best defined over the training set (the largest median scaled eigengap
    at the centres ``alpha_t x_i``; at most :data:`PROBE_POINTS` evenly spaced points probe it)."""
    from .ridge import local_frame
    from .scale import data_scale

    X = X[np.linspace(0, len(X) - 1, min(len(X), PROBE_POINTS)).round().astype(int)]
    dens = SmoothedEmpirical(X, schedule)
    lo = s_med / 3
    hi = max(lo, data_scale(X))
    best, best_t = -1.0, _time_of_bandwidth(schedule, lo)
    for b in np.geomspace(lo, hi, probes) if hi > lo else [lo]:
        t = _time_of_bandwidth(schedule, float(b))
        gap = float(np.median(as_numpy(local_frame(dens, float(schedule.alpha(t)) * dens.data, t, dim).scaled_gap)))
        if gap > best * (1 + 1e-9):  # the smaller bandwidth wins a tie
            best, best_t = gap, t
    return best_t


def classify_samples(dens: SmoothedEmpirical, final, rule: OutcomeRule) -> np.ndarray:
    """Codes into :data:`CATEGORIES` for the final samples ``final: (M, D)``: ``(M,)`` int8."""
    X = as_numpy(dens.data)
    final = np.asarray(final, dtype=np.float64)
    if final.ndim != 2 or final.shape[1] != X.shape[1]:
        raise ValueError(f"final: expected (M, {X.shape[1]}) samples; got shape {final.shape}")
    codes = np.full(len(final), OFF, dtype=np.int8)
    if len(final) == 0:
        return codes
    _, d1, d2 = nearest_training(X, final)
    a = float(dens.schedule.alpha(rule.t_ridge))
    q = torch.as_tensor(a * final)
    proj = project_to_ridge(dens, q, rule.t_ridge, rule.dim, tol=1e-5, max_iter=200)
    dist = as_numpy((proj.points - q).norm(dim=-1))
    on = as_numpy(proj.on_ridge).astype(bool) & (dist <= rule.tube)
    codes[as_numpy(proj.undefined).astype(bool)] = UNDEFINED
    codes[on] = ON
    codes[rule.is_copy(d1, d2)] = COPY
    return codes


def fractions(codes) -> dict[str, float]:
    codes = np.asarray(codes)
    return {name: float(np.mean(codes == k)) if codes.size else math.nan for k, name in enumerate(CATEGORIES)}


def turned_offsets(X, z, seed: int) -> np.ndarray:
    """The direction-randomised null of ``z: (M, D)``: each sample's offset from its nearest training point in
    ``X: (N, D)`` turned to a uniformly random direction, same length (seeded). Keeps the distance to the nearest
    point (so the copies and the spread) and removes any preferred direction."""
    X, z = np.asarray(X, dtype=np.float64), np.asarray(z, dtype=np.float64)
    idx, d1, _ = nearest_training(X, z)
    u = np.random.default_rng(seed).standard_normal(z.shape)
    u /= np.linalg.norm(u, axis=1, keepdims=True).clip(1e-300)
    return X[idx] + d1[:, None] * u


@dataclass(frozen=True)
class Outcomes:
    """A sample set's outcome ``codes: (M,)`` and those of its direction-randomised null ``null_codes: (M,)``."""

    codes: np.ndarray
    null_codes: np.ndarray

    def fractions(self) -> dict[str, float]:
        return fractions(self.codes)

    def along_ridge(self) -> float:
        """Share new on the ridge minus the null's: what the samples' *directions* add to landing on the ridge."""
        return fractions(self.codes)["new on ridge"] - fractions(self.null_codes)["new on ridge"]


def outcomes(dens: SmoothedEmpirical, final, rule: OutcomeRule, seed: int = 0) -> Outcomes:
    """Codes of ``final: (M, D)`` and of its direction-randomised null (:func:`turned_offsets`, ``seed``)."""
    final = np.asarray(final, dtype=np.float64)
    null = turned_offsets(as_numpy(dens.data), final, seed)
    return Outcomes(classify_samples(dens, final, rule), classify_samples(dens, null, rule))
