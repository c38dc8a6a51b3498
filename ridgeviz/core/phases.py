"""Reach / align / slide labels along reverse trajectories (DESIGN.md section 1).

The rule, per sample, with steps ``k = 0..K`` in reverse time (``t_0 = T`` down to ``t_K = t_min``):

1. **reach** lasts until the first step ``k_r`` at which the ridge is defined at the sample (scaled eigengap
   ``h_t (l_d - l_{d+1}) >= gap_tol``) and the sample is inside the tube: distance to the ridge
   ``<= tube``. The tube is an absolute width (default ``0.1 x`` the data scale, the RMS distance of the
   training points to their mean): for the exact score the ODE's normal offset shrinks like ``sqrt(h_t)``,
   so "reaching" is about the absolute distance falling, not the distance in bandwidth units.
2. **align** runs from ``k_r`` until the first step ``k_s >= k_r`` whose drift (the deterministic part of the
   step, never the noisy displacement) is mostly tangential: ``|P_par drift| > slide_ratio * |P_perp drift|``.
3. **slide** runs from ``k_s`` to the end.

Labels are monotone (reach -> align -> slide) by construction; a phase may be empty. Steps at which the
normal space is undefined are shown as **no ridge** (they keep their place in the order: such a step inside
the align phase is still counted as align when computing ``k_s``). The last position (``k = K``) has no step
after it and inherits the label of step ``K - 1``'s motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decomposition import TrajectoryGeometry, trajectory_geometry
from .density import SmoothedEmpirical, as_numpy
from .ridge import GAP_TOL
from .scale import data_scale

PHASES = ("reach", "align", "slide", "no ridge")
REACH, ALIGN, SLIDE, NO_RIDGE = range(4)
PHASE_COLORS = {"reach": "#4C78A8", "align": "#F58518", "slide": "#54A24B", "no ridge": "#9D9D9D"}


@dataclass(frozen=True)
class PhaseRule:
    """Thresholds of the phase rule. ``tube=None`` means ``tube_fraction x data_scale(training data)``."""

    tube: float | None = None
    tube_fraction: float = 0.1
    slide_ratio: float = 1.0
    gap_tol: float = GAP_TOL

    def __post_init__(self):
        if self.tube is not None and not (np.isfinite(self.tube) and self.tube > 0):
            raise ValueError(f"tube must be a positive finite width; got {self.tube!r}")
        for key in ("tube_fraction", "slide_ratio", "gap_tol"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{key} must be positive and finite; got {v!r}")

    def tube_width(self, data) -> float:
        return float(self.tube) if self.tube is not None else self.tube_fraction * data_scale(as_numpy(data))

    def describe(self, data) -> str:
        return (f"reach until distance to ridge <= {self.tube_width(data):.3g} where the ridge is defined "
                f"(h_t gap >= {self.gap_tol:g}); slide once |tangential drift| > {self.slide_ratio:g} x |normal drift|")


@dataclass
class PhaseLabels:
    """Phase per step and sample: ``labels: (K+1, M)`` with codes into :data:`PHASES`."""

    labels: np.ndarray
    times: np.ndarray  # (K+1,)
    reach_step: np.ndarray  # (M,) first step in the tube (K+1 if never)
    slide_step: np.ndarray  # (M,) first sliding step (K+1 if never)
    tube: float
    rule: PhaseRule
    geometry: TrajectoryGeometry

    def fractions(self) -> np.ndarray:
        """Fraction of samples in each phase at each time: ``(K+1, 4)``, rows sum to one."""
        return np.stack([(self.labels == c).mean(axis=1) for c in range(len(PHASES))], axis=1)

    def reach_times(self) -> np.ndarray:
        """Time at which each sample reached the tube (NaN if never): ``(M,)``."""
        K1 = len(self.times)
        out = np.full(self.reach_step.shape, np.nan)
        ok = self.reach_step < K1
        out[ok] = self.times[self.reach_step[ok]]
        return out

    def summary(self) -> dict:
        rt = self.reach_times()
        frac = self.fractions()
        return {"tube": self.tube, "reached": float(np.mean(np.isfinite(rt))),
                "reach_time_median": float(np.nanmedian(rt)) if np.isfinite(rt).any() else None,
                "final_fractions": dict(zip(PHASES, map(float, frac[-1])))}


def _first_true(mask: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per column, the first row index ``>= start`` where ``mask`` is true (``rows`` if none)."""
    rows = mask.shape[0]
    idx = np.arange(rows)[:, None]
    hit = mask & (idx >= start[None, :])
    return np.where(hit.any(axis=0), hit.argmax(axis=0), rows)


def label_phases(dens: SmoothedEmpirical, traj, dim: int, *, rule: PhaseRule | None = None,
                 geometry: TrajectoryGeometry | None = None) -> PhaseLabels:
    """Label every step of ``traj`` reach / align / slide / no ridge by the rule in this module's docstring.

    ``geometry`` (a :class:`TrajectoryGeometry` or :class:`ErrorDecomposition` of the same trajectory) is
    reused when given, so the ridge work is not done twice.
    """
    rule = rule or PhaseRule()
    geo = geometry if geometry is not None else trajectory_geometry(dens, traj, dim, gap_tol=rule.gap_tol)[0]
    tube = rule.tube_width(dens.data)
    K1, M = geo.distance.shape
    defined = geo.scaled_gap >= rule.gap_tol
    reach_step = _first_true(defined & (geo.distance <= tube), np.zeros(M, dtype=int))
    tangential = geo.drift_tangential > rule.slide_ratio * geo.drift_normal  # (K, M)
    tangential = np.vstack([tangential, tangential[-1:]])  # the last point inherits the last step
    slide_step = _first_true(tangential, reach_step)
    k = np.arange(K1)[:, None]
    labels = np.where(k < reach_step, REACH, np.where(k < slide_step, ALIGN, SLIDE)).astype(np.int8)
    labels[~defined] = NO_RIDGE
    return PhaseLabels(labels, geo.times, reach_step, slide_step, tube, rule, geo)
