"""Reach / align / held / slide / to a training point: labels along reverse trajectories, from the paper's mechanisms.

The paper (arXiv 2602.06021, abstract): samples first enter a neighbourhood of the ridge; then their *distance*
to it is controlled by the *normal* component of the training error; finally their *motion along* it is
controlled by the *tangential* component. ridgeviz's rule makes each colour carry that cause, decides it on
windows of steps so that a colour does not flicker, and makes the colours predict where samples end.

**Linearised near the ridge.** Every sampler step is ``x' = x + A x + B s(x, t) + sqrt(q) z``
(:func:`~ridgeviz.core.sampling.step_coefficients`; OU and EM: ``A = dt``, ``B = 2 dt``, ``q = 2 dt``). Write the
model score as ``s = grad log p_t + e``: the error ``e`` is known exactly along any trajectory, because the exact
score is (``e = traj.scores - grad log p_t``), so the rule works for every model (exact, injected, MLP, random
features, loaded checkpoints) without evaluating it. With ``l_j < 0`` the normal Hessian eigenvalues,

* normal: each normal coordinate obeys ``c' = (1 + A + B l_j) c + B e_j`` (+ noise): the offset relaxes toward
  the **level** ``sqrt(sum_j c_j*^2 + Var_j*)`` with ``c_j* = B e_j / (-A - B l_j)`` (about ``h_t |e_perp|``) and
  the SDE's stationary spread (about ``sqrt(h_t / 2)`` per normal direction):
  :func:`~ridgeviz.core.decomposition.normal_level`;
* tangential: the sample moves along the ridge by ``B (P_par grad log p_t + e_par)``: the exact score's own
  **pull** toward the modes of ``p_t`` on the ridge (which become the training points as t -> 0: memorisation)
  plus the **push** of the tangential error (:func:`~ridgeviz.core.decomposition.tangential_balance`).

**The rule**, per sample, steps ``k = 0..K`` in reverse time (``t_0 = T`` to ``t_K = t_min``); ``W`` is the
window, ``window x K`` steps (at least 3):

1. **no ridge** wherever the ridge is undefined: scaled eigengap ``h_t (l_d - l_{d+1}) < gap_tol`` at the sample
   or at its SCMS projection, or the projection did not converge to a ridge point. Such steps keep their place in
   the order below.
2. **reach** until the first step ``k_r`` where the ridge is defined and the distance to it is within the tube
   ``max(tube_fraction x data scale, tube_sigmas x sqrt(h_t))`` (``sqrt(h_t)`` is the ridge's own width).
3. **align** from ``k_r`` while the measured offset is relaxing toward its level: with ``d`` the distance to the
   ridge (running median over ``W`` defined steps, so the SDE's noise does not end it early) and ``L`` the level,
   align ends at the first step where the excess ``d - L`` has fallen to ``2^-align_halflives`` of the excess at
   ``k_r``. A sample that arrives within ``settle x L`` of the ridge has nothing to relax: its align is empty.
   So align is where the offset measurably shrinks, whatever the sampler: under the ODE the offset of an exact
   score's sample halves while ``h_t`` falls about fourfold; under the SDE samples mostly arrive at their noise
   level and align is short or empty.
4. after align, by the **net** motion along the ridge over the window ``W`` around each step (sums of the pull
   ``a``, the push against it ``b`` and across it ``c``; net ``n = (a - b, c)``, gross ``g = a + |b| + c``):
   **held** where the push cancels the pull, ``|n| <= g / 2`` (the opposing push between a third and three times
   the pull, for ``hold_ratio = 3``): how a learned model keeps a new sample between training points; otherwise
   **to a training point** where the net motion goes the pull's way (``a - b >= c``, ``a - b > 0``): the exact
   score's memorising motion; otherwise **slide**: net motion along the ridge driven by the error. Runs shorter
   than ``W`` steps are merged into their longer neighbour, so a label does not flicker; the last position takes
   the last step's label.

Labels are monotone in reach -> align -> {held, slide, to a training point}. The exact score has ``e = 0``: it is
never held and never slides. An error with no tangential part never slides and is never held.

**Defaults** (ridgeviz's): ``tube_sigmas = 1`` and ``tube_fraction = 0.1``; ``align_halflives = 1`` (the excess
offset halves); ``settle = 2`` (within twice the level is arrived); ``hold_ratio = 3`` (held while neither side
outweighs the other threefold); ``window = 0.05`` (a twentieth of the run); ``gap_tol = 0.05`` (ridge.GAP_TOL).
:func:`phase_sensitivity` tabulates the phase shares with each threshold halved and doubled; what was measured
with them is in docs/rules.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d

from ..utils.validation import POSITIVE, Optional, Real, validate_fields
from .decomposition import TrajectoryGeometry, trajectory_geometry
from .density import SmoothedEmpirical, as_numpy
from .outcomes import COPY_RATIO
from .ridge import GAP_TOL
from .scale import data_scale
from .vocabulary import PHASES

REACH, ALIGN, HELD, SLIDE, TO_POINT, NO_RIDGE = range(6)
AFTER_ALIGN = (HELD, SLIDE, TO_POINT)
THRESHOLDS = ("tube", "tube_sigmas", "settle", "align_halflives", "hold_ratio", "approach", "window", "gap_tol")


@dataclass(frozen=True)
class PhaseRule:
    """Thresholds of the phase rule (module docstring). ``tube=None``: ``tube_fraction x data_scale(data)``."""

    tube: float | None = None
    tube_fraction: float = 0.1
    tube_sigmas: float = 1.0
    settle: float = 2.0
    align_halflives: float = 1.0
    hold_ratio: float = 3.0
    approach: float = 0.2
    window: float = 0.05
    gap_tol: float = GAP_TOL

    def __post_init__(self):
        validate_fields(self, {"tube": Optional(POSITIVE), "tube_fraction": POSITIVE, "tube_sigmas": POSITIVE,
                               "settle": Real(1.0, None), "align_halflives": POSITIVE,
                               "hold_ratio": Real(1.0, None, lo_open=True),
                               "approach": Real(0.0, 1.0, lo_open=True, hi_open=True), "window": Real(0.0, 1.0),
                               "gap_tol": POSITIVE})

    def tube_width(self, data) -> float:
        """The tube's absolute floor: ``tube``, or ``tube_fraction x data_scale(data)``."""
        return float(self.tube) if self.tube is not None else self.tube_fraction * data_scale(as_numpy(data))

    def tube_at(self, data, h) -> np.ndarray:
        """Tube width at bandwidths ``h: (K+1,)``: ``max(tube_width(data), tube_sigmas x sqrt(h_t))``."""
        return np.maximum(self.tube_width(data), self.tube_sigmas * np.sqrt(np.asarray(h, dtype=np.float64)))

    def window_steps(self, K: int) -> int:
        """The window in steps for a run of ``K`` steps: ``window x K`` rounded to an odd number, at least 3."""
        w = max(3, int(round(self.window * K)))
        return w + 1 - w % 2

    def scaled(self, threshold: str, factor: float) -> "PhaseRule":
        """This rule with one of :data:`THRESHOLDS` multiplied by ``factor``, clipped to its domain (``settle >= 1``,
        ``hold_ratio > 1``, ``window <= 1``)."""
        if threshold == "tube":
            if self.tube is not None:
                return dataclasses.replace(self, tube=self.tube * factor)
            return dataclasses.replace(self, tube_fraction=self.tube_fraction * factor)
        if threshold not in THRESHOLDS:
            raise ValueError(f"threshold: unknown {threshold!r}; choose one of {THRESHOLDS}")
        value = getattr(self, threshold) * factor
        if threshold == "settle":
            value = max(value, 1.0)
        if threshold == "hold_ratio":
            value = max(value, 1.0 + 1e-9)
        if threshold == "window":
            value = min(value, 1.0)
        if threshold == "approach":
            value = min(value, 0.99)
        return dataclasses.replace(self, **{threshold: value})

    def describe(self, data) -> str:
        """The rule in one paragraph, with its numbers (printed under every phase figure)."""
        return (f"reach: until the distance to the ridge is <= max({self.tube_width(data):.3g}, "
                f"{self.tube_sigmas:g} x sqrt(h_t)); align: while the distance is still relaxing toward the level "
                f"the normal error sets (until its excess over that level has halved {self.align_halflives:g} "
                f"time(s); empty when it starts within {self.settle:g} x the level); then, from the net motion along "
                f"the ridge over {self.window:g} of the run: held where the error's push cancels the exact pull "
                f"(within a factor {self.hold_ratio:g}), to a training point where the pull wins, slide where the "
                f"error wins; no ridge where h_t x eigengap < {self.gap_tol:g} or SCMS found no ridge point")


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
        """Shares among the labels after reach where the ridge is defined (align, held, slide, to a training point)."""
        codes = self.labels[(self.labels != REACH) & (self.labels != NO_RIDGE)]
        n = max(codes.size, 1)
        return {PHASES[c]: float((codes == c).sum() / n) for c in (ALIGN, *AFTER_ALIGN)}

    def reach_times(self) -> np.ndarray:
        """Time at which each sample reached the tube (NaN if never): ``(M,)``."""
        out = np.full(self.reach_step.shape, np.nan)
        ok = self.reach_step < len(self.times)
        out[ok] = self.times[self.reach_step[ok]]
        return out

    def dominant(self) -> np.ndarray:
        """Each sample's most frequent label after align among held / slide / to a training point, over the steps
        where its nearest training point is a mode of ``p_t`` of its own (before that the exact pull heads to a
        mode that merges several points): ``(M,)`` codes, ``-1`` where it has none."""
        resolved = self.geometry.nn_resolved if self.geometry.nn_resolved is not None else True
        labels = np.where(resolved, self.labels, -1)
        counts = np.stack([(labels == c).sum(axis=0) for c in AFTER_ALIGN])
        return np.where(counts.sum(axis=0) > 0, np.asarray(AFTER_ALIGN)[counts.argmax(axis=0)], -1)

    def switches(self) -> np.ndarray:
        """Per sample, how often the label changes among held / slide / to a training point after align (steps
        without a ridge skipped): ``(M,)``."""
        out = np.zeros(self.labels.shape[1], dtype=np.int64)
        for m in range(self.labels.shape[1]):
            seq = self.labels[:, m][np.isin(self.labels[:, m], AFTER_ALIGN)]
            out[m] = int((seq[1:] != seq[:-1]).sum())
        return out

    def summary(self) -> dict:
        rt = self.reach_times()
        frac = self.fractions()
        return {"tube": self.tube, "reached": float(np.mean(np.isfinite(rt))),
                "reach_time_median": float(np.nanmedian(rt)) if np.isfinite(rt).any() else None,
                "shares": self.shares(), "in_tube_shares": self.in_tube_shares(),
                "median_switches": float(np.median(self.switches())),
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


def _window_sum(values: np.ndarray, ok: np.ndarray, w: int) -> np.ndarray:
    """Centred sums over ``w`` rows of ``values: (K, M)`` where ``ok`` (zero elsewhere)."""
    return uniform_filter1d(np.where(ok, np.nan_to_num(values), 0.0), size=w, axis=0, mode="nearest") * w


def _align_end(geo: TrajectoryGeometry, rule: PhaseRule, defined: np.ndarray, reach: np.ndarray, w: int):
    """The first step after align per sample (module docstring, rule 3): ``(M,)``."""
    K1 = defined.shape[0]
    level = np.nan_to_num(_with_last(geo.level), nan=np.inf)
    dist = np.where(defined, geo.distance_all, np.nan)
    smooth = median_filter(np.nan_to_num(dist, nan=np.inf), size=(w, 1), mode="nearest")
    smooth = np.where(np.isfinite(smooth), smooth, np.nan_to_num(dist, nan=np.inf))
    cols = np.arange(defined.shape[1])
    r = np.minimum(reach, K1 - 1)
    with np.errstate(invalid="ignore", over="ignore"):  # inf levels (no relaxation) and inf distances (undefined)
        excess0 = smooth[r, cols] - level[r, cols]
        arrived = (reach >= K1) | (smooth[r, cols] <= rule.settle * level[r, cols]) | ~np.isfinite(excess0)
        target = level + (2.0 ** -rule.align_halflives) * np.where(arrived, 0.0, excess0)[None, :]
        done = defined & (smooth <= target)
    return np.where(arrived, reach, _first_true(done, reach))


def _window_change(d: np.ndarray, w: int) -> np.ndarray:
    """Per step ``k`` of ``d: (K+1, M)``, the ratio of ``d`` at the window's end to ``d`` at its start (steps
    ``k - w // 2`` and ``k + 1 + w // 2``, clipped to the run): ``(K, M)``."""
    K1 = d.shape[0]
    k = np.arange(K1 - 1)
    lo, hi = np.clip(k - w // 2, 0, K1 - 1), np.clip(k + 1 + w // 2, 0, K1 - 1)
    return d[hi] / np.maximum(d[lo], 1e-300)


def _classify(a, b, c, ok, geo: TrajectoryGeometry, rule: PhaseRule, w: int) -> np.ndarray:
    """Held / slide / to a training point from per-step pull ``a``, push against it ``b`` and across it ``c``
    (``(K, M)`` each, used where ``ok``), summed over the window: ``(K, M)`` codes (module docstring, rule 4)."""
    a, b, c = (_window_sum(v, ok, w) for v in (a, b, c))
    net_par = a - b
    gross = a + np.abs(b) + c
    half = (rule.hold_ratio - 1.0) / (rule.hold_ratio + 1.0)  # |a - b| <= half (a + b) <=> b / a in [1/r, r]
    at_point = geo.nn_ratio[:-1] < COPY_RATIO
    approaching = _window_change(geo.nn_distance, w) < 1.0 - rule.approach
    held = (gross > 0) & (np.hypot(net_par, c) <= half * gross) & ~at_point & ~approaching
    to_point = ((net_par >= c) & (net_par > 0)) | (gross == 0) | at_point | (approaching & (net_par > -c))
    return np.where(held, HELD, np.where(to_point, TO_POINT, SLIDE)).astype(np.int8)


def _post_align(geo: TrajectoryGeometry, rule: PhaseRule, defined: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    """Codes after align per step, ``(K, M)``: on the ridge from the tangential balance, and inside one training
    point's round blob (ridge undefined there) from the balance of the whole vectors; and where the latter applies."""
    ok = defined[:-1] & np.isfinite(geo.pull_along) & np.isfinite(geo.push_against)
    on = _classify(geo.pull_along, geo.push_against, geo.push_across, ok, geo, rule, w)
    blob = ~defined[:-1] & (geo.nn_blob[:-1] if geo.nn_blob is not None else False)
    off = _classify(geo.pull_all, geo.push_against_all, geo.push_across_all, blob, geo, rule, w)
    return np.where(ok, on, off), blob


def _merge_short_runs(labels: np.ndarray, mask: np.ndarray, w: int) -> np.ndarray:
    """Within each column, runs of one label shorter than ``w`` rows (among the rows where ``mask``) are merged into
    the longer neighbouring run (the earlier one on a tie), shortest first, until every run is at least ``w`` long
    or one run is left, so a label does not flicker. ``labels: (K, M)``."""
    out = labels.copy()
    for m in range(labels.shape[1]):
        rows = np.flatnonzero(mask[:, m])
        if len(rows) < 2:
            continue
        seq = out[rows, m]
        starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
        runs = [[int(seq[a]), int(n)] for a, n in zip(starts, np.diff(np.r_[starts, len(seq)]))]
        while len(runs) > 1:
            i = min(range(len(runs)), key=lambda j: runs[j][1])
            if runs[i][1] >= w:
                break
            left = runs[i - 1][1] if i > 0 else -1
            right = runs[i + 1][1] if i + 1 < len(runs) else -1
            j = i - 1 if left >= right else i + 1
            runs[j][1] += runs[i][1]
            del runs[i]
            merged = [runs[0]]
            for r in runs[1:]:
                if r[0] == merged[-1][0]:
                    merged[-1][1] += r[1]
                else:
                    merged.append(r)
            runs = merged
        out[rows, m] = np.repeat([r[0] for r in runs], [r[1] for r in runs])
    return out


def labels_from_geometry(geo: TrajectoryGeometry, rule: PhaseRule, tube: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rule of the module docstring on precomputed geometry: ``(labels (K+1, M), reach_step, aligned_step)``.

    ``tube: (K+1,)`` the tube width at each time (:meth:`PhaseRule.tube_at`).
    """
    K1, M = geo.distance_all.shape
    w = rule.window_steps(K1 - 1)
    defined = geo.defined(rule.gap_tol)
    inside = np.nan_to_num(geo.distance_all, nan=np.inf) <= np.asarray(tube)[:, None]
    reach_step = _first_true(defined & inside, np.zeros(M, int))
    aligned_step = _align_end(geo, rule, defined, reach_step, w)
    k = np.arange(K1)[:, None]
    after, blob = _post_align(geo, rule, defined, w)
    labelled = (defined[:-1] | blob) & (k[:-1] >= aligned_step)
    after = _merge_short_runs(after, labelled, w)
    labels = np.where(k < reach_step, REACH, np.where(k < aligned_step, ALIGN, _with_last(after)))
    labels = labels.astype(np.int8)
    labels[~defined & ~(_with_last(blob) & (k >= aligned_step))] = NO_RIDGE
    return labels, reach_step, aligned_step


def label_phases(dens: SmoothedEmpirical, traj, dim: int, *, rule: PhaseRule | None = None,
                 geometry: TrajectoryGeometry | None = None) -> PhaseLabels:
    """Label every step of ``traj`` (module docstring): codes into :data:`PHASES`.

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

    def largest_move(self) -> dict[str, float]:
        """Per threshold, the largest change of any phase's share when it is halved or doubled."""
        base = self.shares[0]
        out: dict[str, float] = {}
        for (name, _, _), row in zip(self.rows[1:], self.shares[1:]):
            out[name] = max(out.get(name, 0.0), float(np.abs(row - base).max()))
        return out


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
