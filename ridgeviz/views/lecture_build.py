"""Computing the lecture's file (:mod:`ridgeviz.views.lecture`): every step's arrays, on the CPU, deterministically.

``python -m ridgeviz assets lecture`` calls :func:`build_lecture`; the app calls it only when the shipped file is
stale or missing. Each ``_step`` function adds its arrays, polylines and scalars to one dictionary.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.decomposition import decompose_error
from ..core.density import SmoothedEmpirical, as_numpy
from ..core.outcomes import ON as ON_RIDGE
from ..core.outcomes import OutcomeRule, classify_samples, fractions, outcomes
from ..core.phases import AFTER_ALIGN, ALIGN, HELD, REACH, label_phases
from ..core.sampling import prior_sample, sample
from ..core.schedules import get_schedule
from ..core.tracing import default_bounds, trace_ridges
from ..data.datasets import MODE_SETS
from ..utils.results import to_json
from .bandwidth import polyline_length, time_for_bandwidth
from .lecture import LECTURE, Lecture, LectureConfig, made_from
from .trajectories import frame_indices

SMOOTHING_B = (0.15, 0.6, 2.5)  # step 1's bandwidths: separate bumps, bumps joined along crests, one blob


class _Setup:
    """What every step shares: the points, the schedule and density, the outcome rule, the sampler's grid."""

    def __init__(self, cfg: LectureConfig):
        self.cfg = cfg
        self.X = np.array(MODE_SETS[cfg.dataset], dtype=np.float64)
        self.sched = get_schedule("ou")
        self.dens = SmoothedEmpirical(self.X, self.sched)
        self.rule = OutcomeRule.for_data(self.X, self.sched)
        self.bounds = tuple(float(b) for b in default_bounds(self.X))
        self.times = self.sched.time_grid(cfg.steps)
        self.frames = frame_indices(len(self.times), cfg.frames)

    def bandwidth(self, t: float) -> float:
        return float(self.sched.sigma(t) / self.sched.alpha(t))

    def grid(self) -> np.ndarray:
        n, (x0, x1, y0, y1) = self.cfg.grid, self.bounds
        gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def density(self, t: float) -> np.ndarray:
        """``p_t`` in data units (the KDE of bandwidth b(t)) on the grid, scaled to a maximum of 1: ``(G, G)``."""
        a = float(self.sched.alpha(t))
        logp = as_numpy(self.dens.log_prob(torch.as_tensor(a * self.grid()), t))
        p = np.exp(logp - logp.max())
        return p.reshape(self.cfg.grid, self.cfg.grid).astype(np.float16)

    def ridges(self, times) -> list:
        """The ridge ``R_t^1`` at each time, in data units (``/ alpha_t``)."""
        lines = trace_ridges(self.dens, times, 1, bounds=self.bounds, grid=24)
        return [[line / float(self.sched.alpha(t)) for line in group] for t, group in zip(times, lines)]

    def run(self, model, M: int, method: str = "em"):
        g = torch.Generator().manual_seed(self.cfg.seed)  # the same x_T and noise for every model
        return sample(model, prior_sample(self.sched, M, 2, g), self.times, method, generator=g)


def _smoothing(s: _Setup, out: dict) -> None:
    ts = [time_for_bandwidth(s.sched, b) for b in SMOOTHING_B]
    out["arrays"]["smoothing_density"] = np.stack([s.density(t) for t in ts])
    out["meta"] |= {"smoothing_b": list(SMOOTHING_B), "smoothing_t": ts}


def _ridge(s: _Setup, out: dict) -> None:
    lo = s.rule.t_ridge / 40
    times = np.geomspace(min(3.0, s.sched.T), max(lo, s.sched.t_min), s.cfg.ridge_frames)
    ridges = s.ridges(times)
    out["arrays"] |= {"ridge_density": np.stack([s.density(t) for t in times]), "ridge_times": times,
                      "ridge_length": np.array([polyline_length(r) for r in ridges])}
    out["polylines"]["ridge_ridges"] = ridges


def _exact_and_learned(s: _Setup, out: dict, model) -> None:
    from ..models.score import ExactScore

    for key, m in (("exact", ExactScore(s.dens)), ("learned", model)):
        final = as_numpy(s.run(m, s.cfg.particles).xs)
        res = outcomes(s.dens, final[-1], s.rule, s.cfg.seed)
        out["arrays"] |= {f"{key}_xs": final[s.frames].astype(np.float16), f"{key}_codes": res.codes,
                          f"{key}_fractions": np.array(list(res.fractions().values()))}
        if key == "learned":
            out["arrays"]["learned_null"] = np.array(list(fractions(res.null_codes).values()))
    out["arrays"]["run_times"] = np.asarray(s.times)[s.frames]
    out["polylines"]["runs"] = s.ridges(np.asarray(s.times)[s.frames])
    a = float(s.sched.alpha(s.rule.t_ridge))
    out["polylines"]["eval_ridge"] = [[line / a for line in s.ridges([s.rule.t_ridge])[0]]]


def _follow_score(labels: np.ndarray, code: int) -> float:
    """How well one sample of the run shows the phase story, for choosing the one to follow: it must reach, align
    and then be held, slide or go to a training point; ending new on the ridge counts most, then the shares of
    align and held, and each change of label counts against it (a story told in few runs reads at a glance)."""
    if not ((labels == REACH).any() and (labels == ALIGN).any() and np.isin(labels, AFTER_ALIGN).any()):
        return -math.inf
    changes = int((np.diff(labels) != 0).sum())
    return 2.0 * (code == ON_RIDGE) + (labels == ALIGN).mean() + (labels == HELD).mean() - 0.05 * changes


def _phases(s: _Setup, out: dict, model) -> None:
    traj = s.run(model, s.cfg.followers, method="euler")
    dec = decompose_error(model, s.dens, traj, dim=1)
    ph = label_phases(s.dens, traj, dim=1, geometry=dec)
    labels = as_numpy(ph.labels).astype(np.int8)
    codes = classify_samples(s.dens, as_numpy(traj.xs[-1]), s.rule)
    best = int(np.argmax([_follow_score(labels[:, m], int(codes[m])) for m in range(labels.shape[1])]))
    out["arrays"] |= {"phases_path": as_numpy(traj.xs)[:, best], "phases_labels": labels[:, best],
                      "phases_distance": np.asarray(dec.distance)[:, best],
                      "phases_tube": np.asarray(ph.tube_t),
                      "phases_times": np.asarray(traj.times)}
    out["meta"] |= {"phases_sample": best, "phases_code": int(codes[best])}


def _errors(s: _Setup, out: dict) -> None:
    from ..models.score import ExactScore, InjectedErrorScore

    times = np.asarray(s.times)
    k_on = int(np.argmax(times <= s.cfg.error_on))
    e = s.cfg.error
    models = (ExactScore(s.dens), InjectedErrorScore(s.dens, 1, normal=e), InjectedErrorScore(s.dens, 1, tangential=e))
    xs = []
    for m in models:
        g = torch.Generator().manual_seed(s.cfg.seed)
        head = sample(ExactScore(s.dens), prior_sample(s.sched, s.cfg.particles, 2, g), s.times[:k_on + 1],
                      s.cfg.error_sampler, generator=g)
        tail = sample(m, head.xs[-1], s.times[k_on:], s.cfg.error_sampler, generator=g)
        xs.append(as_numpy(tail.xs))
    frames = frame_indices(len(times) - k_on, s.cfg.frames)
    out["arrays"] |= {"errors_xs": np.stack(xs)[:, frames].astype(np.float16), "errors_times": times[k_on:][frames]}
    out["polylines"]["error_ridges"] = s.ridges(times[k_on:][frames])


def _rf(s: _Setup, out: dict) -> None:
    from ..models.random_features import RandomFeatureModel, fit_random_features
    from ..models.rf_analysis import bias_optimisation_split
    from ..models.rf_moments import feature_moments

    c = s.cfg
    rf = RandomFeatureModel(2, c.rf_features, c.rf_time_features, s.sched.T,
                            generator=torch.Generator().manual_seed(c.seed))
    moments = feature_moments(rf, s.X, s.sched)
    fit = {tau: fit_random_features(rf, s.X, s.sched, tau, moments=moments) for tau in (*c.taus, math.inf)}
    g = torch.Generator().manual_seed(c.seed)
    traj = sample(fit[math.inf], prior_sample(s.sched, c.rf_particles, 2, g), s.sched.time_grid(c.rf_steps), "em",
                  generator=g)
    rows = [bias_optimisation_split(fit[tau], fit[math.inf], s.dens, traj, 1).mean_where_defined() for tau in c.taus]
    out["arrays"]["rf_taus"] = np.array(c.taus)
    for name, part in (("bias_normal", "bias_normal"), ("bias_tangential", "bias_tangential"),
                       ("opt_normal", "optimisation_normal"), ("opt_tangential", "optimisation_tangential")):
        out["arrays"][f"rf_{name}"] = np.array([r[part] for r in rows])


def build_lecture(cfg: LectureConfig = LECTURE, callback=None) -> Lecture:
    """Compute every step of the lecture for ``cfg`` (about a minute on one CPU core)."""
    from ..models.checkpoints import load_model
    from ..utils.paths import ASSETS
    from .lecture import MODEL_FILE

    report = callback or (lambda stage, fraction: None)
    s = _Setup(cfg)
    model = load_model(ASSETS / MODEL_FILE, "mlp")
    a = float(s.sched.alpha(s.rule.t_ridge))
    out = {"arrays": {"data": s.X}, "polylines": {},
           "meta": {"bounds": s.bounds, "rule": s.rule.describe(), "t_ridge": s.rule.t_ridge,
                    "b_eval": s.bandwidth(s.rule.t_ridge), "tube": s.rule.tube / a}}
    steps = (("smoothing", lambda: _smoothing(s, out)), ("ridge", lambda: _ridge(s, out)),
             ("exact and learned", lambda: _exact_and_learned(s, out, model)),
             ("phases", lambda: _phases(s, out, model)), ("errors", lambda: _errors(s, out)),
             ("random features", lambda: _rf(s, out)))
    for i, (name, run) in enumerate(steps):
        report(name, i / len(steps))
        run()
    report("done", 1.0)
    out["meta"]["config"] = made_from(cfg) | to_json({"rule": s.rule.describe()})
    return Lecture(out["arrays"], to_json(out["meta"]), out["polylines"])
