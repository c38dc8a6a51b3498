"""Random features over several feature draws: one draw is not a result.

At p = 2,000 on (+-3, 0) the share of samples within 1.0 of a training point ranged 47-96% over 8 feature draws
(ridgeviz's draw study), so results are reported as a mean and a spread over draws. :func:`run_draw` is the unit of
work for an executor: one draw's frozen features, its moments once, the readout at every tau from one
eigendecomposition of U, and every tau sampled in lockstep by :func:`~ridgeviz.models.rf_sampler.em_finals_seeded`;
it takes settings and seeds, and returns the final samples (small). :func:`summarise_draws` turns the runs into
mean, standard deviation, minimum and maximum per tau of any statistic of the final samples.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..utils.validation import Integer, Options, check
from .random_features import PRECISIONS, RandomFeatureScore, fit_random_features
from .rf_analysis import tau_label
from .rf_features import RandomFeatureModel
from .rf_moments import DEFAULT_QUADRATURE, Quadrature, feature_moments
from .rf_sampler import em_finals_seeded


@dataclass
class DrawRun:
    """One feature draw: ``finals[tau label]`` ``(M, D)`` float32 final samples, ``loss[tau label]`` the readout's
    training loss, ``seconds`` the time of the moments, the readouts and the sampling."""

    draw: int
    taus: list
    finals: dict
    loss: dict
    seconds: dict = field(default_factory=dict)


def run_draw(data, schedule, *, p: int, K: int, taus, draw: int, samples: int, steps: int, seed: int = 0,
             quadrature: Quadrature = DEFAULT_QUADRATURE, precision: str = "float64") -> DrawRun:
    """Features drawn with seed ``draw``, fitted at every tau of ``taus`` on ``data: (N, D)``, each sampled from the
    prior draw of ``seed`` (``samples`` particles, ``steps`` EM steps on ``schedule``'s grid): a :class:`DrawRun`."""
    draw = check("draw", draw, Integer(0, 2**63 - 1))
    precision = check("precision", precision, Options(tuple(PRECISIONS)))
    X = np.asarray(data, dtype=np.float64)
    t0 = time.perf_counter()
    rf = RandomFeatureModel(X.shape[1], p, K, schedule.T, generator=torch.Generator().manual_seed(draw))
    moments = feature_moments(rf, X, schedule, quadrature)
    t1 = time.perf_counter()
    fitted = {tau: fit_random_features(rf, X, schedule, tau, moments=moments) for tau in taus}
    models = {tau: RandomFeatureScore(rf, m.A, schedule, tau, precision) for tau, m in fitted.items()}
    t2 = time.perf_counter()
    finals = em_finals_seeded(models, samples, steps, seed)
    t3 = time.perf_counter()
    return DrawRun(draw, [tau_label(t) for t in taus],
                   {tau_label(t): x.cpu().numpy().astype(np.float32) for t, x in finals.items()},
                   {tau_label(t): moments.loss(models[t].A) for t in taus},
                   {"moments": t1 - t0, "readouts": t2 - t1, "sampling": t3 - t2})


def summarise_draws(runs: list[DrawRun], statistic) -> dict:
    """``statistic(final (M, D) array, tau label) -> float`` over the draws: ``{tau label: {"mean", "std", "min",
    "max", "values"}}`` (``std`` with ddof 1; NaN for one draw)."""
    if not runs:
        raise ValueError("runs: give at least one draw")
    out = {}
    for lab in runs[0].taus:
        v = np.array([statistic(r.finals[lab], lab) for r in runs], dtype=np.float64)
        out[lab] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                    "min": float(v.min()), "max": float(v.max()), "values": v.tolist()}
    return out


def near_point_share(final, data, radius: float = 1.0) -> float:
    """Fraction of ``final: (M, D)`` within ``radius`` of a training point of ``data: (N, D)`` (the statistic of
    ridgeviz's draw study: within 1.0 of a point on (+-3, 0))."""
    d = np.linalg.norm(np.asarray(final, np.float64)[:, None, :] - np.asarray(data, np.float64)[None], axis=-1)
    return float((d.min(axis=1) <= radius).mean())
