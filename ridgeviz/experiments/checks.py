"""Checks with negative controls: a directional claim decided on 95% intervals over independent seeds.

A :class:`Check` states a claim as ``statistic > threshold`` (or ``<``), measured on the model under test and
on a **negative control**: a model or setting that *could have passed* the claim if the statistic were vacuous,
and must not (a direction-randomised null, a kernel sampler matched in distance, the nearest-neighbour
interpolator where the ridge is not the neighbour graph, the other kind of error, the same model where the effect
should vanish). Each check says *why* its control could have passed (``why``); a control that fails by
construction (samples collapsed at one point, a law that predicts 0, a frame that gives 1 for any field) proves
nothing and is not used. A check of a theorem (the exact score memorises) is marked ``sanity``: it shows that the
statistic works, and it is not counted as evidence. Each statistic comes from ``n`` independent seeds; its 95%
interval is the Student-t interval of the mean,

    mean +- t_{0.975, n-1} * sd / sqrt(n).

The model *holds* the claim when its whole interval lies on the claim's side of the threshold; the control
*fails* it when its whole interval lies on the other side. A check passes only when both happen, so a claim
that any model would satisfy (one that holds by construction or by symmetry) cannot pass. Checks whose result is
forced by the symmetry of the data (collinear points such as (+-3, 0)) carry ``symmetric=True`` and say so in
the report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

DIRECTIONS = (">", "<")


def interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the Student-t interval of the mean of ``values: (n,)`` (NaNs dropped; infinite for n < 2)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, -math.inf, math.inf
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def _side(lo: float, hi: float, direction: str, threshold: float) -> str:
    """``"holds"`` if the interval lies wholly on the claim's side, ``"fails"`` if wholly on the other, else
    ``"undecided"``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "undecided"
    if direction == ">":
        return "holds" if lo > threshold else "fails" if hi <= threshold else "undecided"
    return "holds" if hi < threshold else "fails" if lo >= threshold else "undecided"


@dataclass(frozen=True)
class Check:
    """One directional claim, its statistic on the model and on the negative control, and the verdict."""

    claim: str
    statistic: str
    direction: str
    threshold: float
    value: float
    interval: tuple
    seeds: int
    control: str
    control_value: float
    control_interval: tuple
    control_seeds: int
    model_holds: bool
    control_failed: bool
    passed: bool
    symmetric: bool = False
    note: str = ""
    why: str = ""
    sanity: bool = False

    def to_json(self) -> dict:
        out = asdict(self)
        out["interval"], out["control_interval"] = list(self.interval), list(self.control_interval)
        return out

    def row(self) -> list[str]:
        """The report's table row: claim, statistic, model, control, verdict."""
        verdict = "PASS" if self.passed else ("FAIL (control also holds)" if self.model_holds else "FAIL")
        tags = " *(forced by symmetry)*" if self.symmetric else ""
        tags += " *(sanity: a theorem, not evidence)*" if self.sanity else ""
        return [self.claim + tags, f"{self.statistic} {self.direction} {self.threshold:g}",
                _fmt(self.value, self.interval, self.seeds), self.control + (f" — could have passed: {self.why}"
                                                                             if self.why else ""),
                _fmt(self.control_value, self.control_interval, self.control_seeds)
                + (" (fails)" if self.control_failed else " (does not fail)"), verdict]


def _fmt(mean, ci, n) -> str:
    lo, hi = ci
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.3g} [{lo:.3g}, {hi:.3g}] (n={n})"


def make_check(claim: str, statistic: str, values, control: str, control_values, *, direction: str,
               threshold: float, why: str = "", symmetric: bool = False, note: str = "", sanity: bool = False) -> Check:
    """Decide ``statistic direction threshold`` on the model's per-seed ``values: (n,)`` and the control's.

    The model must hold the claim on its whole 95% interval and the control must fail it on its whole interval.
    ``why``: why the control could have passed if the statistic were vacuous (every check of ``reproduce`` gives
    one; the test suite checks it).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    m, lo, hi = interval(values)
    cm, clo, chi = interval(control_values)
    holds = _side(lo, hi, direction, threshold) == "holds"
    control_failed = _side(clo, chi, direction, threshold) == "fails"
    n = int(np.isfinite(np.asarray(values, dtype=float)).sum())
    cn = int(np.isfinite(np.asarray(control_values, dtype=float)).sum())
    return Check(claim, statistic, direction, float(threshold), m, (lo, hi), n, control, cm, (clo, chi), cn,
                 holds, control_failed, holds and control_failed, symmetric, note, why, sanity)


CHECK_HEADER = ["claim", "statistic (claim)", "model: mean [95% interval]", "control (and why it could have passed)",
                "control: mean [95% interval]", "verdict"]
