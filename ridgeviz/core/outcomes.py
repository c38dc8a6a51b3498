"""Where final samples end: copies of training points, new samples on the ridge, new samples off it.

The one outcome rule of ridgeviz (its choice; :class:`OutcomeRule`), used by the home page's side-by-side view and
by ``reproduce``'s generalisation table, so both report the same kind of number. For final samples ``x`` at
``t_min``:

- *copy*: the nearest training point is closer than ``r_c = s_min / 6``, with ``s_min`` the smallest spacing
  between two training points (this implies the nearest-neighbour ratio ``d_1 / d_2 < 1/5``, stricter than the
  usual 1/3 rule; the exact score leaves its samples a median 0.055 from their point at ``t_min = 1e-3``);
- *new on ridge*: not a copy, and ``alpha_* x`` lies within ``tube = sqrt(h_*) / 2`` of the 1-dimensional ridge
  ``R_{t_*}`` (SCMS projection converged where the ridge is defined and concave), at the time ``t_*`` where the
  bandwidth in data units ``sigma_* / alpha_*`` is ``s_med / 3`` (``s_med``: the median nearest-neighbour
  spacing): a bandwidth at which the ridge bridges neighbouring points and is defined between them (in data units,
  so the rule suits data of any scale; ``alpha_*`` is close to 1 for closely spaced points);
- *ridge undefined*: not a copy, and the projection ends where the normal space is undefined (the isotropic blob
  around an isolated point), so no ridge statement can be made there;
- *new off ridge*: everything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .density import SmoothedEmpirical, as_numpy
from .ridge import project_to_ridge

CATEGORIES = ("copy", "new on ridge", "new off ridge", "ridge undefined")
COPY, ON, OFF, UNDEFINED = range(4)


def nearest_training(train, z, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest and second-nearest rows of ``train: (N, D)`` (N >= 2) for each row of ``z: (M, D)``.

    Returns ``(index, distance, second_distance)``, each ``(M,)``. The two candidates come from one matrix
    product per chunk; their Euclidean distances are then recomputed directly (no cancellation for copies).
    """
    X = torch.as_tensor(np.asarray(train, dtype=np.float64))
    Q = torch.as_tensor(np.asarray(z, dtype=np.float64))
    if X.ndim != 2 or Q.ndim != 2 or X.shape[1] != Q.shape[1] or len(X) < 2:
        raise ValueError(f"train (N >= 2, D) and z (M, D) must share D; got {tuple(X.shape)} and {tuple(Q.shape)}")
    sq = (X * X).sum(-1)
    top = [torch.addmm(sq.expand(len(q), -1), q, X.T, alpha=-2).topk(2, dim=1, largest=False).indices
           for q in Q.split(chunk)]
    top = torch.cat(top) if top else torch.zeros(0, 2, dtype=torch.long)
    dist = (Q[:, None, :] - X[top]).norm(dim=-1)  # (M, 2), exact
    order = dist.argsort(dim=1)
    dist, top = dist.gather(1, order), top.gather(1, order)
    return top[:, 0].numpy(), dist[:, 0].numpy(), dist[:, 1].numpy()


def spacings(X) -> np.ndarray:
    """Distance from each training point of ``X: (N, D)`` to its nearest other point: ``(N,)``."""
    d = np.linalg.norm(X[:, None] - X[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


@dataclass(frozen=True)
class OutcomeRule:
    """Copy radius, the ridge time ``t_*`` and the tube width of the outcome rule (module docstring)."""

    copy_radius: float
    t_ridge: float
    tube: float
    dim: int = 1

    @classmethod
    def for_data(cls, X, schedule) -> OutcomeRule:
        s = spacings(np.asarray(X, dtype=np.float64))
        t = _time_of_bandwidth(schedule, float(np.median(s)) / 3)
        return cls(float(s.min()) / 6, t, math.sqrt(float(schedule.h(t))) / 2)

    def describe(self) -> str:
        return (f"copy: nearest training point < {self.copy_radius:.3f}; on ridge: within {self.tube:.3f} of "
                f"R_t^{self.dim} at t = {self.t_ridge:.3g}")


def _time_of_bandwidth(schedule, b: float) -> float:
    """The time at which the data-unit bandwidth ``sigma_t / alpha_t`` equals ``b`` (bisection in log t over the
    schedule's range; it grows with t for every preset), so the rule suits any data scale under any schedule."""
    lo, hi = math.log(schedule.t_min), math.log(schedule.T)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        t = math.exp(mid)
        lo, hi = (mid, hi) if float(schedule.sigma(t) / schedule.alpha(t)) < b else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def classify_samples(dens: SmoothedEmpirical, final, rule: OutcomeRule) -> np.ndarray:
    """Codes into :data:`CATEGORIES` for the final samples ``final: (M, D)``: ``(M,)`` int8."""
    X = as_numpy(dens.data)
    final = np.asarray(final, dtype=np.float64)
    _, d1, _ = nearest_training(X, final)
    a = float(dens.schedule.alpha(rule.t_ridge))
    q = torch.as_tensor(a * final)
    proj = project_to_ridge(dens, q, rule.t_ridge, rule.dim, tol=1e-5, max_iter=200)
    dist = as_numpy((proj.points - q).norm(dim=-1))
    on = as_numpy(proj.on_ridge).astype(bool) & (dist <= rule.tube)
    undefined = as_numpy(proj.undefined).astype(bool)
    codes = np.full(len(final), OFF, dtype=np.int8)
    codes[undefined] = UNDEFINED
    codes[on] = ON
    codes[d1 < rule.copy_radius] = COPY
    return codes


def fractions(codes) -> dict[str, float]:
    codes = np.asarray(codes)
    return {name: float(np.mean(codes == k)) for k, name in enumerate(CATEGORIES)}


