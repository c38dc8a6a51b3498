"""The align and slide laws judged per sample (:mod:`ridgeviz.core.laws`, :mod:`ridgeviz.core.law_fit`).

The paper's abstract: once samples are near the ridge, their distance to it is controlled by the normal component
of the score error and their motion along it by the tangential component. The linearised laws turn this into a
prediction for every sample and time: the align law predicts the normal offset from the model's own normal error
(read along the trajectory), the slide law the displacement along the ridge from the exact score's pull plus the
error's push. Judged by R^2 (per sample: median over samples; pooled over all sample-times), beside the law
without its error term and a fitted baseline (``c sqrt(h_t)``; along the ridge ``c (sqrt(h_start) - sqrt(h_t))``
in the direction the sample went), with the noise ceiling of the SDE, under the reverse SDE (EM) and the
probability-flow ODE (Euler), from the end of align and from reach.

**Cases.** Injected error (:class:`CirculatingError`: the exact score plus 1 along the counter-clockwise ridge
tangent and 1 along the outward normal about the set's centre, where the ridge is defined) on a ring of 40
points, the nine-point ``arc`` and three sets in general position generated here with seeded RNGs (not shipped
sets): ``random`` (12 points uniform in ``[-3.5, 3.5]^2``, spacing > 0.8), ``closed`` (24 points on an ellipse
with semi-axes 3.2 and 2.2 at random angles, noise 0.1) and ``open`` (16 points on ``y = 1.3 sin(0.9 x)``,
``x`` uniform in ``[-3.5, 3.5]``, noise 0.1). Learned models: the shipped generalising MLP (13 points), the
generalising recipe trained on each own set, and random features (tau = inf) on each own set; each learned
model's error is its own, measured along its trajectories.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..core.decomposition import decompose_error
from ..core.density import SmoothedEmpirical
from ..core.law_fit import FIT_R2
from ..core.laws import STARTS, ridge_laws
from ..core.ridge import local_frame
from ..core.schedules import get_schedule
from ..data.datasets import MODE_SETS
from ..viz.laws import law_figure
from .checks import interval, make_check
from .common import GENERAL_SETS, reverse_run
from .executor import Task
from .models2d import build
from .result import Context, Experiment


def _ring(n: int = 40, radius: float = 3.0) -> np.ndarray:
    angle = 2 * np.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def _random_points(n: int = 12, seed: int = 1701) -> np.ndarray:
    rng, pts = np.random.default_rng(seed), []
    while len(pts) < n:
        p = rng.uniform(-3.5, 3.5, 2)
        if all(np.linalg.norm(p - q) > 0.8 for q in pts):
            pts.append(p)
    return np.array(pts)


def _closed_curve(n: int = 24, seed: int = 1702) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angle = np.sort(rng.uniform(0, 2 * np.pi, n))
    return np.stack([3.2 * np.cos(angle), 2.2 * np.sin(angle)], 1) + 0.1 * rng.standard_normal((n, 2))


def _open_curve(n: int = 16, seed: int = 1703) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3.5, 3.5, n))
    return np.stack([x, 1.3 * np.sin(0.9 * x)], 1) + 0.1 * rng.standard_normal((n, 2))


SETS = {"ring": _ring(), "arc": np.array(GENERAL_SETS["arc"]), "random": _random_points(),
        "closed": _closed_curve(), "open": _open_curve(), "thirteen": np.array(MODE_SETS["thirteen"])}
CENTRES = {"arc": (0.0, -1.0)}  # the error circulates about this point (default: the set's mean)
# case -> (set, model spec); "injected" is the exact score plus CirculatingError(ERROR)
CASES = {"ring, injected": ("ring", {"kind": "injected"}), "arc, injected": ("arc", {"kind": "injected"}),
         "random, injected": ("random", {"kind": "injected"}), "closed, injected": ("closed", {"kind": "injected"}),
         "open, injected": ("open", {"kind": "injected"}), "thirteen, shipped MLP": ("thirteen", {"kind": "shipped"}),
         **{f"{s}, recipe MLP": (s, {"kind": "mlp"}) for s in ("random", "closed", "open")},
         **{f"{s}, random features": (s, {"kind": "rf"}) for s in ("random", "closed", "open")}}
SIZES = {"tiny": dict(M=24, steps=80, seeds=3, methods=("euler",), p=64, cases=["ring, injected"]),
         "quick": dict(M=32, steps=100, seeds=4, methods=("euler", "em"), p=256,
                       cases=[*list(CASES)[:6], "closed, recipe MLP", "open, random features"]),
         "full": dict(M=64, steps=200, seeds=5, methods=("euler", "em"), p=2000, cases=list(CASES))}
ERROR = (1.0, 1.0)  # (tangential, normal), score units
FITTED_HOLDS = 0.5  # ridgeviz's threshold: the law fits (R^2 > FIT_R2) more than half of the samples
METHOD_WORDS = {"euler": "ODE", "em": "SDE"}
PREDICTORS = ("law", "without error", "baseline", "noise ceiling")


class CirculatingError:
    """Exact score plus ``tangential`` along the counter-clockwise ridge tangent and ``normal`` along the outward
    normal (both oriented about ``centre``), where the ridge is defined (scaled gap >= ``gap_tol``)."""

    def __init__(self, dens, tangential: float, normal: float, centre, gap_tol: float = 0.05):
        self.dens, self.schedule = dens, dens.schedule
        self.tangential, self.normal, self.gap_tol = float(tangential), float(normal), gap_tol
        self.centre = torch.as_tensor(centre, dtype=dens.dtype)

    def __call__(self, x, t):
        frame = local_frame(self.dens, x, t, 1)
        r = self.dens.as_points(x) - self.centre
        ccw = torch.stack([-r[:, 1], r[:, 0]], -1)
        tangent, normal = frame.eigenvectors[:, :, 0], frame.eigenvectors[:, :, 1]
        tangent = tangent * torch.sign((tangent * ccw).sum(-1, keepdim=True))
        normal = normal * torch.sign((normal * r).sum(-1, keepdim=True))
        on = (~frame.undefined(self.gap_tol)).to(r.dtype)[:, None]
        return frame.score + on * (self.tangential * tangent + self.normal * normal)


def _model(case: str, dens, seed: int, p: int):
    set_name, spec = CASES[case]
    if spec["kind"] == "injected":
        return CirculatingError(dens, *ERROR, CENTRES.get(set_name, tuple(SETS[set_name].mean(0))))
    return build({**spec, "p": p} if spec["kind"] == "rf" else spec, SETS[set_name], dens.schedule, seed)


def laws_task(case: str, seed: int, M: int, steps: int, methods, p: int, figure: bool) -> dict:
    """One case and seed: the laws' fit per sampler and start (``RidgeLaws.agreement``), and figure points."""
    start = time.process_time()
    dens = SmoothedEmpirical(SETS[CASES[case][0]], get_schedule("ou"))
    model = _model(case, dens, seed, p)
    out = {}
    for method in methods:
        traj = reverse_run(model, dens.schedule, M, 2, steps, seed, method=method)
        dec = decompose_error(model, dens, traj, 1)
        for kind in STARTS:
            law = ridge_laws(dens, traj, 1, geometry=dec, start=kind)
            out[f"{method}/{kind}"] = law.agreement()
            if figure and kind == "aligned":
                out[f"{method}/points"] = law.points(max_points=1500, seed=seed)
    out["cpu_seconds"] = time.process_time() - start
    return out


def _values(runs, key: str, part: str, predictor: str, stat: str) -> list[float]:
    return [r[key][part][predictor][stat] for r in runs]


def _summary(runs, key: str) -> dict:
    """Mean and 95% interval over seeds of the pooled and median R^2 of every predictor, and the error share."""
    out = {}
    for part in ("normal", "tangential"):
        out[part] = {pred: {stat: dict(zip(("mean", "lo", "hi"), interval(_values(runs, key, part, pred, stat))))
                            for stat in ("pooled", "median", "fitted")} for pred in PREDICTORS}
    out["error_share"] = dict(zip(("mean", "lo", "hi"), interval([r[key]["error_share"] for r in runs])))
    out["samples"] = float(np.mean([r[key]["samples"] for r in runs]))
    out["offset_widths"] = {q: float(np.mean([r[key]["offset_widths"][q] for r in runs])) for q in ("median", "q90")}
    return out


def _cell(d: dict) -> str:
    pooled, median = d["pooled"]["mean"], d["median"]["mean"]
    return "n/a" if not (math.isfinite(pooled) or math.isfinite(median)) else f"{pooled:.2f} / {median:.2f}"


WHY = {"normal": "the law without its error term would pass if the offset were set by the relaxation of the start "
                 "offset and the ridge's own motion, not by the normal error (as under the SDE, where noise dominates)",
       "tangential": "the exact pull alone predicts motion along the ridge and would pass if the samples moved "
                     "toward training points without help from the error (as for the exact score)"}


def _checks(ex: Experiment, case: str, runs) -> None:
    key = "euler/aligned"
    for part, law in (("normal", "align law"), ("tangential", "slide law")):
        ex.checks.append(make_check(
            f"{case}, ODE: the {law} fits most samples' {'offsets' if part == 'normal' else 'displacements'}",
            f"share of samples with R^2 > {FIT_R2:g}", _values(runs, key, part, "law", "fitted"),
            "the same law without its error term", _values(runs, key, part, "without error", "fitted"),
            direction=">", threshold=FITTED_HOLDS, why=WHY[part]))


def run(ctx: Context) -> Experiment:
    """The align and slide laws judged per sample by R^2, beside the law without its error term and a baseline."""
    cfg = ctx.pick(SIZES)
    seeds = ctx.seeds(cfg["seeds"])
    ex = Experiment("laws", "Align and slide laws judged per sample (R^2)", {
        "cases": {c: CASES[c][0] + ": " + CASES[c][1]["kind"] for c in cfg["cases"]}, "schedule": "ou",
        "samplers": [METHOD_WORDS[m] for m in cfg["methods"]], "particles": cfg["M"], "steps": cfg["steps"],
        "seeds": seeds, "injected error": f"tangential {ERROR[0]:g}, normal {ERROR[1]:g}",
        "random features": f"p = {cfg['p']}, K = 16, tau = inf", "starts": list(STARTS),
        "laws": "ridgeviz.core.laws.ridge_laws, ridgeviz.core.law_fit.fit_laws"})
    jobs = [(c, seed) for c in cfg["cases"] for seed in seeds]
    results = ctx.executor.map([Task(laws_task, dict(case=c, seed=seed, M=cfg["M"], steps=cfg["steps"],
                                                     methods=cfg["methods"], p=cfg["p"], figure=seed == seeds[0]))
                                for c, seed in jobs])
    rows = {"normal": [], "tangential": []}
    for case in cfg["cases"]:
        runs = [r for (c, _), r in zip(jobs, results) if c == case]
        ex.numbers[case] = {key: _summary(runs, key) for key in runs[0] if "/" in key and "points" not in key}
        for key, s in ex.numbers[case].items():
            method, start = key.split("/")
            for part in rows:
                rows[part].append([case, METHOD_WORDS[method], start, *(_cell(s[part][p]) for p in PREDICTORS),
                                   f"{s[part]['law']['fitted']['mean']:.2f}", f"{s['error_share']['mean']:.2f}",
                                   "{median:.2f} / {q90:.2f}".format(**s["offset_widths"]), f"{s['samples']:.0f}"])
        _checks(ex, case, runs)
        _figures(ex, case, runs[0])
    header = ["case", "sampler", "from", *(f"{p}: pooled / median" for p in PREDICTORS),
              f"law: share of samples with R^2 > {FIT_R2:g}", "error share",
              "offset / sqrt(h_t): median / 90%", "samples"]
    for part, words in (("normal", "Align law (normal offset)"), ("tangential", "Slide law (displacement along "
                                                                               "the ridge)")):
        ex.tables.append((f"{words}: R^2 pooled over sample-times / median over samples, mean over seeds", header,
                          rows[part]))
    ex.notes += [f"Statistic (ridgeviz): the share of samples whose own R^2 exceeds {FIT_R2:g} (R^2 is unbounded "
                 f"below, so a share is steadier over seeds than a median); threshold {FITTED_HOLDS:g}.",
                 *(f"Why each {part} check's control could have passed: {why}." for part, why in WHY.items()),
                 "The checks are decided under the ODE. Under the SDE one sample's offset and displacement carry "
                 "the sampler's noise: every predictor that does not know the noise is bounded by the noise "
                 "ceiling (the R^2 an exact law would reach), and the tables show the laws near it; there the "
                 "error term's effect is mostly within the noise.",
                 "A check that fails with its control holding (the law without the error term fits as well) says "
                 "that the model's error there is too small to move its samples beyond what the error-free law "
                 "predicts: the law holds, the error term is not what it needs.",
                 "The laws are linearised about the ridge: where the offsets reach several ridge widths sqrt(h_t) "
                 "(column 'offset / sqrt(h_t)'), they claim little.",
                 "The baseline along the ridge is told the direction each sample went (which the laws are not); "
                 "under the SDE that direction includes where the noise took the sample, so it can beat the "
                 "noise ceiling, which bounds only predictors that do not know the noise."]
    return ex


def _figures(ex: Experiment, case: str, first: dict) -> None:
    for method in ("euler", "em"):
        if f"{method}/points" in first and (method == "euler" or "shipped" in case):
            ex.figures.append((f"laws_{case.replace(', ', '_').replace(' ', '_')}_{method}", law_figure(
                first[f"{method}/points"], first[f"{method}/aligned"], title=f"{case}, {METHOD_WORDS[method]}"),
                f"{case}, {METHOD_WORDS[method]}, first seed, from the end of align: predicted (x) against "
                "measured (y), one point per sample and time; titles give R^2."))
