"""What the 2-D experiments share: sets in general position, the null model, reverse runs, and the rule that
sorts final samples into copies, new samples on the ridge and new samples off it.

**Sets** (:data:`GENERAL_SETS`): no two of them has a symmetry that decides a normal / tangential statement.
``thirteen`` is the opening demo (two pairs, two triples, three isolated points); ``arc`` is nine points along a
curved arc (jittered radius and angle: a curved ridge); ``scatter`` is eleven points drawn uniformly in
``[-4, 4]^2`` with spacing > 0.7 (``numpy.random.default_rng(13)``, rounded to 0.1). In all three the origin,
where the null model puts every sample, lies away from the data's ridges.

**Outcome rule**: :mod:`ridgeviz.core.outcomes` (the same rule as the home page's side-by-side view).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.sampling import prior_sample, sample
from ..data.datasets import MODE_SETS


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


def reverse_run(model, schedule, M: int, D: int, steps: int, seed: int, method: str = "em"):
    """Reverse run from the seeded prior draw ``x_T``; models run with the same seed see the same noise."""
    g = torch.Generator().manual_seed(seed)
    return sample(model, prior_sample(schedule, M, D, g), schedule.time_grid(steps), method, generator=g)


def rotate_about_mean(X, points, seed: int) -> np.ndarray:
    """``points: (M, 2)`` rotated about the mean of ``X`` by a seeded uniform angle: the same radial spread with
    the ridge's directions scrambled (the chance level of landing in the tube)."""
    theta = np.random.default_rng(seed).uniform(0.0, 2 * np.pi)
    R = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    c = np.asarray(X, dtype=np.float64).mean(axis=0)
    return (np.asarray(points) - c) @ R.T + c
