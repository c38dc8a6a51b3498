"""What the 2-D experiments share: sets in general position, the null model, reverse runs, and the rule that
sorts final samples into copies, new samples on the ridge and new samples off it.

**Sets** (:data:`GENERAL_SETS`): no two of them has a symmetry that decides a normal / tangential statement.
``thirteen`` is the opening demo (two pairs, two triples, three isolated points); ``arc`` is nine points along a
curved arc (jittered radius and angle: a curved ridge); ``scatter`` is eleven points drawn uniformly in
``[-4, 4]^2`` with spacing > 0.7 (``numpy.random.default_rng(13)``, rounded to 0.1). In all three the origin,
where the null model puts every sample, lies away from the data's ridges.

**Outcome rule** (ridgeviz's choice; :class:`OutcomeRule`), for final samples ``x`` at ``t_min``:

- *copy*: the nearest training point is closer than ``r_c = s_min / 6``, with ``s_min`` the smallest spacing
  between two training points (this implies the nearest-neighbour ratio ``d_1 / d_2 < 1/5``, stricter than the
  usual 1/3 rule; the exact score leaves its samples a median 0.055 from their point at ``t_min = 1e-3``);
- *new on ridge*: not a copy, and ``alpha_* x`` lies within ``tube = sqrt(h_*) / 2`` of the 1-dimensional ridge
  ``R_{t_*}`` (SCMS projection converged where the ridge is defined and concave), at the small time ``t_*``
  with ``sqrt(h_*) = s_med / 3`` (``s_med``: the median nearest-neighbour spacing): a bandwidth at which the
  ridge bridges neighbouring points and is defined between them;
- *ridge undefined*: not a copy, and the projection ends where the normal space is undefined (the isotropic blob
  around an isolated point), so no ridge statement can be made there;
- *new off ridge*: everything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.density import SmoothedEmpirical, as_numpy
from ..core.ridge import project_to_ridge
from ..core.sampling import prior_sample, sample
from ..data.datasets import MODE_SETS
from ..latent.analysis import nearest_training


def _frozen(rows) -> np.ndarray:
    arr = np.array(rows, dtype=np.float64)
    arr.setflags(write=False)
    return arr


GENERAL_SETS = {
    "thirteen": MODE_SETS["thirteen"],
    "arc": _frozen([[2.7, -2.0], [3.0, -0.5], [2.5, 0.7], [1.5, 1.6], [0.1, 1.9], [-1.2, 1.7], [-2.5, 0.8],
                    [-2.8, -0.9], [-2.8, -1.9]]),
    "scatter": _frozen([[2.9, 2.8], [2.5, -1.9], [-3.4, 3.6], [0.9, -4.0], [3.3, 3.9], [-1.7, 2.5], [-3.3, -0.5],
                        [2.5, -0.7], [0.1, -3.1], [2.5, 0.0], [3.8, 0.3]]),
}
CATEGORIES = ("copy", "new on ridge", "new off ridge", "ridge undefined")
COPY, ON, OFF, UNDEFINED = range(4)


class NullScore:
    """The null model: the random-feature readout ``A = 0``, i.e. ``m_A = 0`` and score ``-x / h_t``.

    It knows nothing of the data (it is the exact score of a single point at the origin): every sample ends at
    the origin. The negative control for claims about copies and about the ridge.
    """

    kind = "null"

    def __init__(self, schedule):
        self.schedule = schedule

    def __call__(self, x, t) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        h = self.schedule.h(torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(x.shape[0]))
        return -x / h[:, None]


def reverse_run(model, schedule, M: int, D: int, steps: int, seed: int, method: str = "em"):
    """Reverse run from the seeded prior draw ``x_T``; models run with the same seed see the same noise."""
    g = torch.Generator().manual_seed(seed)
    return sample(model, prior_sample(schedule, M, D, g), schedule.time_grid(steps), method, generator=g)


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
        h = (float(np.median(s)) / 3) ** 2
        return cls(float(s.min()) / 6, _time_of_bandwidth(schedule, h), math.sqrt(h) / 2)

    def describe(self) -> str:
        return (f"copy: nearest training point < {self.copy_radius:.3f}; on ridge: within {self.tube:.3f} of "
                f"R_t^{self.dim} at t = {self.t_ridge:.3g}")


def _time_of_bandwidth(schedule, h: float) -> float:
    """The time at which ``h_t = h`` (bisection in log t on the schedule's range)."""
    lo, hi = math.log(schedule.t_min), math.log(schedule.T)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(schedule.h(math.exp(mid))) < h else (lo, mid)
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


def rotate_about_mean(X, points, seed: int) -> np.ndarray:
    """``points: (M, 2)`` rotated about the mean of ``X`` by a seeded uniform angle: the same radial spread with
    the ridge's directions scrambled (the chance level of landing in the tube)."""
    theta = np.random.default_rng(seed).uniform(0.0, 2 * np.pi)
    R = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    c = np.asarray(X, dtype=np.float64).mean(axis=0)
    return (np.asarray(points) - c) @ R.T + c
