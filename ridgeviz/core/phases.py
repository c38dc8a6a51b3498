"""Reach / align / slide labels along reverse trajectories, from the paper's mechanisms (DESIGN.md section 1).

The paper (arXiv 2602.06021, abstract): samples first enter a neighbourhood of the ridge; then their *distance*
to it is controlled by the *normal* component of the training error; finally their *motion along* it is
controlled by the *tangential* component. ridgeviz's rule makes each colour carry that cause.

**Derivation (linearised near the ridge).** Every sampler step is ``x' = x + A x + B s(x, t) (+ noise)``
(:func:`~ridgeviz.core.sampling.step_coefficients`; OU and EM: ``A = dt``, ``B = 2 dt``). Write the model score as
``s = grad log p_t + e``: the error ``e`` is known exactly along any trajectory, because the exact score is
(``e = traj.scores - grad log p_t``), so the rule works for every model — exact, injected, MLP, random features,
loaded checkpoints — without evaluating it. ``A x`` dilates space together with the ridge (the ridge of
``p_t`` scales with ``alpha_t``), so relative to the ridge only ``B s`` moves a sample. Near a ridge point, with
``u`` the normal offset and ``l`` a normal Hessian eigenvalue (``< 0``):

* normal: ``u' = (1 + A + B l) u + B e_perp``; the co-moving offset shrinks by ``rho = 1 + B l / (1 + A)`` per
  step toward the level set by ``e_perp`` (about ``h_t |e_perp|``, up to a slowly varying factor; see
  :mod:`ridgeviz.core.laws`). ``-log|rho|`` is the step's relaxation in e-folds;
* tangential: the sample moves along the ridge by ``B (P_par grad log p_t + e_par)``: the exact score's own
  pull (toward the modes of ``p_t`` on the ridge, which become the training points as t -> 0: memorisation)
  plus the push of the tangential error.

**The rule**, per sample, steps ``k = 0..K`` in reverse time (``t_0 = T`` to ``t_K = t_min``):

1. **no ridge** wherever the ridge is undefined: scaled eigengap ``h_t (l_d - l_{d+1}) < gap_tol`` at the
   sample or at its SCMS projection, or the projection did not converge to a ridge point (with the residual
   proxy, D > 3, only the gap at the sample). Such steps keep their place in the order below.
2. **reach** until the first step ``k_r`` where the ridge is defined and the distance to it is within the tube
   ``max(tube_fraction x data scale, tube_sigmas x sqrt(h_t))``. ``sqrt(h_t)`` is the ridge's own width (the
   normal profile of ``p_t`` about the ridge has standard deviation ``sqrt(h_t)``, exactly so for two points),
   and the SDE keeps samples about ``0.7 sqrt(h_t)`` from the ridge by its noise, so a purely absolute tube is
   reached only after the ridge has dissolved into isolated blobs; the absolute floor (``0.1`` x the RMS
   distance of the data to their mean) lets ODE samples, whose offset shrinks like ``sqrt(h_t)``, reach too.
3. **align** from ``k_r`` for ``align_halflives`` half-lives of the normal relaxation: until the sum of
   ``-log|rho|`` over the defined steps since ``k_r`` (with ``l = l_{d+1}``, the slowest normal direction)
   reaches ``align_halflives x log 2``. By then the offset the sample entered with has (at least) halved on its
   way to the level set by the normal error (and, for the SDE, the noise). The rate comes from the Hessian and
   the sampler only, so align lasts as long for every model; what the normal error sets is the level.
4. after align, each step by what moves the sample along the ridge: **slide** if the tangential error pushes
   harder than the exact score pulls, ``|P_par e| > slide_ratio x |P_par grad log p_t|`` (both multiply the same
   ``B``, so the ratio is the ratio of the two tangential motions); otherwise **to a training point** (the
   exact score's own tangential pull dominates: the memorising motion, which is *not* slide). The last
   position (``k = K``) has no step after it and takes step ``K - 1``'s label.

Labels are monotone in reach -> align -> {slide, to a training point}; after align a sample may switch between
the last two as the balance changes (e.g. pushed out of one training point's basin and captured by the next).
The exact score has ``e = 0`` and so never slides; an error with no tangential part never slides either.

**Defaults.** ``tube_sigmas = 1`` (one ridge width) and ``tube_fraction = 0.1``; ``align_halflives = 1``
(the half-life is the usual unit of a relaxation; near the ridge with OU and EM one half-life lasts while t
falls by a factor of about 2, with the ODE about 4); ``slide_ratio = 1`` (slide when the error's push exceeds
the exact pull: the natural break-even); ``gap_tol = 0.05`` (ridge.GAP_TOL). :func:`phase_sensitivity`
tabulates the phase shares with each threshold halved and doubled. Measured on ridgeviz's 6-point test set
(OU, EM, 200 steps, 256 samples; tests/test_phases.py): among the labels after reach, slide is 0 with the exact
score and 0.21 with a tangential error of 0.5; align is 0.45-0.49 of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .decomposition import TrajectoryGeometry, trajectory_geometry
from .density import SmoothedEmpirical, as_numpy
from .ridge import GAP_TOL
from .scale import data_scale

PHASES = ("reach", "align", "slide", "to a training point", "no ridge")
REACH, ALIGN, SLIDE, TO_POINT, NO_RIDGE = range(5)
PHASE_COLORS = {"reach": "#4C78A8", "align": "#F58518", "slide": "#54A24B", "to a training point": "#9D755D",
                "no ridge": "#9D9D9D"}
# what each colour encodes, in words (pages, README and CLI print these)
PHASE_MEANINGS = {
    "reach": "not yet inside the tube around the ridge",
    "align": "in the tube; the distance to the ridge is relaxing toward the level set by the normal error",
    "slide": "moving along the ridge because the tangential error pushes harder than the exact score pulls",
    "to a training point": "moving along the ridge under the exact score's own pull toward the training "
                           "points (memorisation), stronger than the tangential error",
    "no ridge": "the ridge is not defined here (eigengap too small, or no ridge point nearby)",
}
THRESHOLDS = ("tube", "tube_sigmas", "align_halflives", "slide_ratio", "gap_tol")


@dataclass(frozen=True)
class PhaseRule:
    """Thresholds of the phase rule (module docstring). ``tube=None``: ``tube_fraction x data_scale(data)``."""

    tube: float | None = None
    tube_fraction: float = 0.1
    tube_sigmas: float = 1.0
    align_halflives: float = 1.0
    slide_ratio: float = 1.0
    gap_tol: float = GAP_TOL

    def __post_init__(self):
        if self.tube is not None and not (np.isfinite(self.tube) and self.tube > 0):
            raise ValueError(f"tube must be a positive finite width; got {self.tube!r}")
        for key in ("tube_fraction", "tube_sigmas", "align_halflives", "slide_ratio", "gap_tol"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not (np.isfinite(v) and v > 0):
                raise ValueError(f"{key} must be positive and finite; got {v!r}")

    def tube_width(self, data) -> float:
        """The tube's absolute floor: ``tube``, or ``tube_fraction x data_scale(data)``."""
        return float(self.tube) if self.tube is not None else self.tube_fraction * data_scale(as_numpy(data))

    def tube_at(self, data, h) -> np.ndarray:
        """Tube width at bandwidths ``h: (K+1,)``: ``max(tube_width(data), tube_sigmas x sqrt(h_t))``."""
        return np.maximum(self.tube_width(data), self.tube_sigmas * np.sqrt(np.asarray(h, dtype=np.float64)))

    def scaled(self, threshold: str, factor: float) -> "PhaseRule":
        """This rule with one of :data:`THRESHOLDS` multiplied by ``factor``."""
        if threshold == "tube":
            if self.tube is not None:
                return dataclasses.replace(self, tube=self.tube * factor)
            return dataclasses.replace(self, tube_fraction=self.tube_fraction * factor)
        if threshold not in THRESHOLDS:
            raise ValueError(f"threshold: unknown {threshold!r}; choose one of {THRESHOLDS}")
        return dataclasses.replace(self, **{threshold: getattr(self, threshold) * factor})

    def describe(self, data) -> str:
        """The rule in one paragraph, with its numbers (printed under every phase figure)."""
        return (f"reach: until the distance to the ridge is <= max({self.tube_width(data):.3g}, "
                f"{self.tube_sigmas:g} x sqrt(h_t)); "
                f"align: for {self.align_halflives:g} half-life(s) of the normal offset's relaxation "
                f"(rate from the normal Hessian eigenvalue); then per step slide if |tangential error| > "
                f"{self.slide_ratio:g} x |tangential exact score|, else to a training point; "
                f"no ridge where h_t x eigengap < {self.gap_tol:g} or SCMS found no ridge point")


@dataclass
class PhaseLabels:
    """Phase per step and sample: ``labels: (K+1, M)`` with codes into :data:`PHASES`."""

    labels: np.ndarray
    times: np.ndarray  # (K+1,)
    reach_step: np.ndarray  # (M,) first step in the tube (K+1 if never)
    aligned_step: np.ndarray  # (M,) first step after align (K+1 if never)
    tube: float  # the tube's absolute floor (PhaseRule.tube_width)
    rule: PhaseRule
    geometry: TrajectoryGeometry
    tube_t: np.ndarray = None  # (K+1,) the tube width at each time (PhaseRule.tube_at)

    def fractions(self) -> np.ndarray:
        """Fraction of samples in each phase at each time: ``(K+1, P)``, rows sum to one."""
        return np.stack([(self.labels == c).mean(axis=1) for c in range(len(PHASES))], axis=1)

    def shares(self) -> dict[str, float]:
        """Share of all sample-steps in each phase."""
        return {p: float((self.labels == c).mean()) for c, p in enumerate(PHASES)}

    def in_tube_shares(self) -> dict[str, float]:
        """Shares among the labels after reach where the ridge is defined (align, slide, to a training point)."""
        codes = self.labels[(self.labels != REACH) & (self.labels != NO_RIDGE)]
        n = max(codes.size, 1)
        return {PHASES[c]: float((codes == c).sum() / n) for c in (ALIGN, SLIDE, TO_POINT)}

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
                "shares": self.shares(), "in_tube_shares": self.in_tube_shares(),
                "final_fractions": dict(zip(PHASES, map(float, frac[-1])))}


def _first_true(mask: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per column, the first row index ``>= start`` where ``mask`` is true (``rows`` if none)."""
    rows = mask.shape[0]
    idx = np.arange(rows)[:, None]
    hit = mask & (idx >= start[None, :])
    return np.where(hit.any(axis=0), hit.argmax(axis=0), rows)


def _with_last(per_step: np.ndarray) -> np.ndarray:
    """``(K, M)`` per-step values as ``(K+1, M)`` per point: the last point takes the last step's value."""
    return np.vstack([per_step, per_step[-1:]])


def labels_from_geometry(geo: TrajectoryGeometry, rule: PhaseRule, tube: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rule of the module docstring on precomputed geometry: ``(labels (K+1, M), reach_step, aligned_step)``.

    ``tube: (K+1,)`` the tube width at each time (:meth:`PhaseRule.tube_at`).
    """
    K1, M = geo.distance_all.shape
    defined = geo.defined(rule.gap_tol)
    inside = np.nan_to_num(geo.distance_all, nan=np.inf) <= np.asarray(tube)[:, None]
    reach_step = _first_true(defined & inside, np.zeros(M, int))
    k = np.arange(K1)[:, None]
    relax = np.where(defined[:-1] & (k[:-1] >= reach_step), np.clip(geo.relaxation, 0, None), 0.0)
    efolds = np.vstack([np.zeros((1, M)), np.cumsum(np.nan_to_num(relax), axis=0)])  # e-folds before point k
    aligned_step = _first_true(efolds >= rule.align_halflives * np.log(2.0), reach_step)
    slide = _with_last(geo.error_push > rule.slide_ratio * geo.exact_pull)
    labels = np.where(k < reach_step, REACH, np.where(k < aligned_step, ALIGN, np.where(slide, SLIDE, TO_POINT)))
    labels = labels.astype(np.int8)
    labels[~defined] = NO_RIDGE
    return labels, reach_step, aligned_step


def label_phases(dens: SmoothedEmpirical, traj, dim: int, *, rule: PhaseRule | None = None,
                 geometry: TrajectoryGeometry | None = None) -> PhaseLabels:
    """Label every step of ``traj`` reach / align / slide / to a training point / no ridge (module docstring).

    The error is read from the scores that drove the sampler (``traj.scores``), so no model is needed.
    ``geometry`` (a :class:`TrajectoryGeometry` or :class:`ErrorDecomposition` of the same trajectory) is reused
    when given, so the ridge work is not done twice; ``traj`` may then be None.
    """
    rule = rule or PhaseRule()
    geo = geometry if geometry is not None else trajectory_geometry(dens, traj, dim, gap_tol=rule.gap_tol)[0]
    tube_t = rule.tube_at(dens.data, geo.h)
    labels, reach_step, aligned_step = labels_from_geometry(geo, rule, tube_t)
    return PhaseLabels(labels, geo.times, reach_step, aligned_step, rule.tube_width(dens.data), rule, geo, tube_t)


@dataclass
class PhaseSensitivity:
    """Phase shares (over all sample-steps) under the rule and with each threshold scaled.

    ``rows``: ``(threshold, factor, value)`` with ``("default", 1, nan)`` first; ``shares: (R, len(PHASES))``.
    """

    rows: list
    shares: np.ndarray

    def table(self) -> dict[str, list]:
        """Columns for a table: threshold, factor, value and one column of shares per phase."""
        cols = {"threshold": [r[0] for r in self.rows], "factor": [r[1] for r in self.rows],
                "value": [r[2] for r in self.rows]}
        cols.update({p: self.shares[:, c].tolist() for c, p in enumerate(PHASES)})
        return cols


def phase_sensitivity(data, geometry: TrajectoryGeometry, rule: PhaseRule | None = None,
                      factors=(0.5, 2.0)) -> PhaseSensitivity:
    """Phase shares when each of :data:`THRESHOLDS` is multiplied by each of ``factors`` (default: halved, doubled).

    ``data: (N, D)`` sets the default tube width; ``geometry`` is reused, so this costs only the labelling.
    """
    rule = rule or PhaseRule()
    rows, shares = [("default", 1.0, float("nan"))], []
    variants = [rule] + [rule.scaled(name, f) for name in THRESHOLDS for f in factors]
    rows += [(name, float(f), _value(rule.scaled(name, f), name, data)) for name in THRESHOLDS for f in factors]
    for r in variants:
        labels = labels_from_geometry(geometry, r, r.tube_at(data, geometry.h))[0]
        shares.append([(labels == c).mean() for c in range(len(PHASES))])
    return PhaseSensitivity(rows, np.array(shares))


def _value(rule: PhaseRule, name: str, data) -> float:
    return rule.tube_width(data) if name == "tube" else float(getattr(rule, name))
