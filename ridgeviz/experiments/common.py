"""What the 2-D experiments share: sets in general position, the null model, reverse runs, and the rule that
sorts final samples into copies, new samples on the ridge and new samples off it.

**Sets** (:data:`GENERAL_SETS`): none has a symmetry that decides a normal / tangential statement.
``thirteen`` is the opening demo (two pairs, two triples, three isolated points); ``arc`` is nine points along a
curved arc (jittered radius and angle: a curved ridge); ``scatter`` is eleven points drawn uniformly in
``[-4, 4]^2`` with spacing > 0.7 (``numpy.random.default_rng(13)``, rounded to 0.1). Two denser sets along curves
(:data:`CURVE_SETS`), where the ridge at the outcome rule's ``t_*`` is the smooth curve the points scatter about
and not the zigzag between nearest neighbours: ``noisy-ring``, 48 points at uniform angles on a circle of radius 3
with radial noise 0.25 (``default_rng(104)``, rounded to 0.01), and ``open-curve``, 15 points on the parabola
``y = 0.3 x^2 - 2`` with noise 0.12 (``default_rng(103)``).

**Outcome rule**: :mod:`ridgeviz.core.outcomes` (the same rule as the home page's side-by-side view), with its
direction-randomised null; the reference samplers are :mod:`ridgeviz.core.references`.
"""

from __future__ import annotations

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
    "noisy-ring": _frozen([
        [1.41, -2.26], [-1.29, -3.39], [0.71, 3.29], [2.35, 2.36], [-2.14, 2.14], [0.06, -2.48], [-0.27, -2.92],
        [-2.68, 1.63], [-1.77, -2.28], [1.28, -2.55], [2.83, 1.25], [-3.44, -0.84], [0.11, -3.08], [1.39, -2.71],
        [0.55, 2.78], [-3.38, 0.34], [-2.07, 2.31], [-0.29, 3.00], [0.88, -2.81], [-2.68, -1.06], [-2.86, -1.18],
        [-0.35, 3.54], [-0.98, -2.90], [2.95, 1.18], [2.81, -0.51], [-3.12, -0.01], [0.99, 2.50], [-3.31, 0.81],
        [-0.65, -2.84], [1.44, -2.83], [2.11, -2.26], [0.32, -3.40], [-2.31, 2.22], [-0.93, 3.08], [-0.85, -2.51],
        [-2.69, 0.70], [-2.69, -0.66], [1.82, -2.11], [2.15, 1.81], [3.11, 0.94], [-0.04, 3.00], [-2.43, 1.79],
        [-0.80, 2.67], [2.18, -1.71], [-2.57, 0.73], [-1.96, 2.62], [-2.16, 2.13], [-2.45, -2.03]]),
    "open-curve": _frozen([[-2.78, 0.55], [-2.23, -0.52], [-1.93, -0.92], [-1.48, -1.29], [-1.33, -1.48],
                           [-1.31, -1.61], [-0.43, -2.01], [-0.43, -1.93], [-0.13, -1.81], [1.13, -1.58], [1.41, -1.35],
                           [1.68, -1.42], [2.50, -0.15], [2.52, -0.10], [3.22, 1.32]]),
}
#: sets along a curve, where "on the ridge" means more than "between nearest neighbours"
CURVE_SETS = ("noisy-ring", "open-curve")


def reverse_run(model, schedule, M: int, D: int, steps: int, seed: int, method: str = "em"):
    """Reverse run from the seeded prior draw ``x_T``; models run with the same seed see the same noise."""
    g = torch.Generator().manual_seed(seed)
    return sample(model, prior_sample(schedule, M, D, g), schedule.time_grid(steps), method, generator=g)
