"""Controlled error injection on a curved ridge: the normal error sets the distance to the ridge (align), the
tangential error moves samples along it to other training points (slide).

The model is the exact score plus an error of fixed size along the local normal (``e_n``) or tangent (``e_t``)
of the 1-D ridge (:class:`~ridgeviz.models.InjectedErrorScore`); every run starts from the same seeded prior draw
and uses the probability-flow ODE, so a run with error differs from the error-free run only by the error.
Statistics, per seed:

- **align**: the mean distance to the ridge ``R_t^1`` (SCMS projection, where the ridge is defined) over
  snapshot times ``t`` in the window, with the error minus without it;
- **slide**: the fraction of samples whose final nearest training point differs from the error-free run's.

Each claim is checked on the error it names, with the other error of the same size as the negative control.
Set: ``arc`` (a curved ridge, points in general position); the error acts only for ``t <= 1``, where the ridge is
defined (:class:`SwitchedError`). The authors' (+-3, 0) is kept with the error acting throughout: there the normal
and tangential coordinates decouple exactly (every training point has y = 0), so "normal error moves no mass" is
forced by symmetry and labelled so.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..core.density import SmoothedEmpirical, as_numpy
from ..core.outcomes import nearest_training
from ..core.ridge import project_to_ridge
from ..core.schedules import get_schedule
from ..data.datasets import MODE_SETS
from ..models.score import ExactScore, InjectedErrorScore
from .checks import interval, make_check
from .common import GENERAL_SETS, reverse_run
from .executor import Task
from .result import Context, Experiment, line_figure

# name -> (points, symmetric, t_on, checks)
SETS = {"arc": (GENERAL_SETS["arc"], False, 1.0, ("align", "slide")),
        "two-points (authors')": (MODE_SETS["two-points"], True, 10.0, ("slide",))}
SIZES = {"tiny": dict(M=64, steps=60, seeds=3, levels=[0.0, 0.5], snapshots=3),
         "quick": dict(M=128, steps=100, seeds=5, levels=[0.0, 0.25, 0.5, 1.0], snapshots=4),
         "full": dict(M=512, steps=200, seeds=10, levels=[0.0, 0.125, 0.25, 0.5, 1.0], snapshots=8)}
WINDOW = (0.05, 0.5)
ALIGN_THRESHOLD, SLIDE_THRESHOLD = 0.05, 0.3


class SwitchedError:
    """The exact score for ``t > t_on`` and the exact score plus the injected error for ``t <= t_on``.

    Injecting only while the ridge is defined keeps the error from acting during the long early stretch where
    ``p_t`` is nearly one Gaussian (there a constant error of size e simply translates every sample by about
    ``e (T - t)``, which says nothing about the ridge).
    """

    def __init__(self, dens, normal: float, tangential: float, t_on: float):
        self.exact, self.injected = ExactScore(dens), InjectedErrorScore(dens, 1, normal, tangential)
        self.schedule, self.t_on = dens.schedule, float(t_on)

    def __call__(self, x, t):
        on = torch.as_tensor(t, dtype=torch.float64) <= self.t_on
        if on.ndim == 0:
            return (self.injected if bool(on) else self.exact)(x, t)
        return torch.where(on.to(x.device)[:, None], self.injected(x, t), self.exact(x, t))


def _mean_distance(dens, traj, ks) -> float:
    """Mean distance to the ridge over the samples whose projection lands where the ridge is defined."""
    out = []
    for k in ks:
        x = traj.xs[k]
        proj = project_to_ridge(dens, x, float(traj.times[k]), 1, tol=1e-5, max_iter=100)
        ok = as_numpy(proj.on_ridge).astype(bool)
        d = as_numpy((proj.points - x).norm(dim=-1))
        out.append(d[ok].mean() if ok.any() else math.nan)
    return float(np.nanmean(out)) if np.isfinite(out).any() else math.nan


def injection_task(set_name: str, seed: int, cfg: dict) -> dict:
    """Runs of one seed at every error size, normal and tangential: distances and moved fractions."""
    start = time.process_time()
    X, _, t_on, _ = SETS[set_name]
    X, sched = np.array(X), get_schedule("ou")
    dens = SmoothedEmpirical(X, sched)
    base = reverse_run(ExactScore(dens), sched, cfg["M"], 2, cfg["steps"], seed, method="euler")
    times = base.times
    inside = np.flatnonzero((times >= WINDOW[0]) & (times <= WINDOW[1]))
    ks = inside[np.linspace(0, len(inside) - 1, cfg["snapshots"]).round().astype(int)]
    base_nn = nearest_training(X, as_numpy(base.final))[0]
    base_d = _mean_distance(dens, base, ks)
    out = {"distance": {}, "moved": {}}
    for kind in ("normal", "tangential"):
        for e in cfg["levels"]:
            if e == 0:
                tr = base
            else:
                model = SwitchedError(dens, e if kind == "normal" else 0.0, e if kind == "tangential" else 0.0, t_on)
                tr = reverse_run(model, sched, cfg["M"], 2, cfg["steps"], seed, method="euler")
            out["distance"][f"{kind}/{e:g}"] = (_mean_distance(dens, tr, ks) if e else base_d) - base_d
            out["moved"][f"{kind}/{e:g}"] = float(np.mean(nearest_training(X, as_numpy(tr.final))[0] != base_nn))
    out["cpu_seconds"] = time.process_time() - start
    return out


def _cell(value: float, signed: bool) -> str:
    """A table cell; n/a where no sample's projection landed where the ridge is defined (the mean is NaN)."""
    if not math.isfinite(value):
        return "n/a (ridge undefined)"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def run(ctx: Context) -> Experiment:
    """Exact score plus injected normal or tangential error on a curved ridge: align and slide, with controls."""
    cfg = ctx.pick(SIZES)
    seeds = ctx.seeds(cfg["seeds"])
    ex = Experiment("injection", "Controlled error injection on a curved ridge: normal error sets the distance, "
                    "tangential error slides", {"sets": list(SETS), "schedule": "ou", "sampler":
                                                "euler (probability-flow ODE)", "particles": cfg["M"],
                                                "steps": cfg["steps"], "seeds": seeds, "error sizes": cfg["levels"],
                                                "window": list(WINDOW), "snapshots in the window": cfg["snapshots"]})
    jobs = [(s, seed) for s in SETS for seed in seeds]
    results = ctx.executor.map([Task(injection_task, dict(set_name=s, seed=seed, cfg=cfg)) for s, seed in jobs])
    top, rows = f"{max(cfg['levels']):g}", []
    for s, (_, symmetric, t_on, names) in SETS.items():
        runs = [r for (s_, _), r in zip(jobs, results) if s_ == s]
        stat = {q: {k: interval([r[q][k] for r in runs]) for k in runs[0][q]} for q in ("distance", "moved")}
        ex.numbers[s] = {q: {k: {"mean": v[0], "interval": [v[1], v[2]]} for k, v in d.items()}
                         for q, d in stat.items()}
        rows += [[s, f"{e:g}"] + [_cell(stat[q][f"{kind}/{e:g}"][0], signed=q == "distance")
                                  for q in ("distance", "moved") for kind in ("normal", "tangential")]
                 for e in cfg["levels"]]
        ex.checks += _checks(s, runs, top, symmetric, names)
        ex.settings[f"{s}: error acts for t <="] = t_on
        ex.figures.append((f"response_{s.split()[0]}", line_figure(
            f"{s}: response to injected error (95% intervals over seeds)", "error size",
            "distance increase / fraction moved",
            [(f"{q}: {kind} error", cfg["levels"], [stat[q][f"{kind}/{e:g}"][0] for e in cfg["levels"]])
             for q in ("distance", "moved") for kind in ("normal", "tangential")],
            bands={f"{q}: {kind} error": ([stat[q][f"{kind}/{e:g}"][1] for e in cfg["levels"]],
                                          [stat[q][f"{kind}/{e:g}"][2] for e in cfg["levels"]])
                   for q in ("distance", "moved") for kind in ("normal", "tangential")}),
            f"{s}: increase of the mean distance to the ridge (t in {list(WINDOW)}) and fraction of samples that end "
            "at another training point, against the size of the normal or tangential error."))
    ex.tables.append(("Response to the injected error, mean over seeds", ["set", "error size",
                      "distance increase: normal error", "distance increase: tangential error",
                      "moved: normal error", "moved: tangential error"], rows))
    ex.notes.append(f"Thresholds (ridgeviz): align > {ALIGN_THRESHOLD} in distance, slide > {SLIDE_THRESHOLD} of "
                    "the samples moved. Claim tested (the paper's abstract: samples reach the ridge, the normal "
                    "error sets how close they stay, the tangential error moves them along it). The linear law "
                    "for the align level is the 'laws' experiment's.")
    return ex


def _checks(s, runs, top, symmetric, names) -> list:
    def values(q, key):
        return [r[q][key] for r in runs]

    out = []
    if "align" in names:
        out.append(make_check(f"{s}: a normal error of size {top} holds samples away from the ridge (align)",
                              "increase of the mean distance to the ridge, t in the window",
                              values("distance", f"normal/{top}"), f"a tangential error of size {top}",
                              values("distance", f"tangential/{top}"), direction=">", threshold=ALIGN_THRESHOLD,
                              symmetric=symmetric, why="an error of the same size that the statistic would also "
                              "count if any error moved samples off the ridge, whatever its direction"))
    if "slide" in names:
        out.append(make_check(f"{s}: a tangential error of size {top} moves samples to other training points (slide)",
                              "fraction whose final nearest training point changed",
                              values("moved", f"tangential/{top}"), f"a normal error of size {top}",
                              values("moved", f"normal/{top}"), direction=">", threshold=SLIDE_THRESHOLD,
                              symmetric=symmetric, why="an error of the same size that would also move samples to "
                              "other points if any perturbation of the flow did, whatever its direction"))
    return out
