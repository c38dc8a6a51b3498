"""What each view's pipeline costs, estimated from its config, the data's shape and the model actually used.

Every price of the app and the command line lives here and takes the config objects the computation takes
(:mod:`ridgeviz.utils.limits` prices the pieces). The app shows these numbers beside its size widgets, runs a
computation on page load only when it is cheap (:func:`auto_seconds`), otherwise behind a button, and never
above the limits; the command line refuses what is above them. A price is in reference seconds (operations at
:data:`ridgeviz.utils.limits.FLOPS_PER_SECOND`); the app turns it into seconds on its own server with the ratio
measured over recent runs (:mod:`ridgeviz.app.admission`). ``benchmarks/bench_estimates.py`` runs each priced
computation at several sizes and prints estimate against measured (peak memory and seconds).

A model prices its own evaluations (:func:`model_eval_cost`): a loaded exact checkpoint by its own training
points, a network by its width and depth, so a model that is heavier than the page's data is priced as such.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from ..models.kinds import closed_form_kinds
from ..utils.limits import Cost, density_cost, frame_cost, frame_points, mlp_cost, ridge_cost
from ..utils.validation import Real, check

if TYPE_CHECKING:  # type names only
    from ..core.schedules import ScheduleConfig
    from ..models.factory import ModelConfig
    from ..models.training import TrainConfig
    from ..views.mnist import LatentConfig
    from ..views.random_features import RFConfig
    from ..views.side_by_side import SideBySideConfig
    from ..views.trajectories import TrajectoryConfig

# SCMS steps assumed per projected point where the cap is not what runs (the cap is 100-300). Measured on the
# bandwidth sweep's seeds (the 13-point set embedded in D = 2, 10, 32, 64; 12 times): means of 6.5-9.1 steps.
SCMS_ITERATIONS = 10
ENV_AUTO = "RIDGEVIZ_AUTO_SECONDS"
DEFAULT_AUTO_SECONDS = 20.0  # estimated seconds a page may compute on load or on a link, without a button
PROFILE_TIMES, PROFILE_POINTS = 40, 256  # the Score model page's error profile: points drawn at each time
# Measured by benchmarks/bench_estimates.py (one thread, load about 3 on two cores):
SAMPLER_FLOPS = 2000.0  # per particle and step of a reverse run beyond the score: noise, update, bookkeeping
# (the exact score of 13 points, 8,000 particles x 200 steps: 4.7 s measured, 0.6 s by the score's count alone)
TRAIN_STEP_FLOPS = 4e6  # per DSM step beyond the network's products: autograd and Adam over ~10 tensors
# (1,000 steps of the 64 x 4 recipe: 6.0 s measured, 1.2 s by the products alone)
WRITE_FLOPS = 20.0  # per byte written to a compressed .npz (zlib at ~50 MB/s)


def trajectory_store(steps: int, particles: int, D: int) -> float:
    """Bytes of a reverse run that keeps every step: positions, drifts and scores, twice (when the run ends the
    per-step tensors and their stacked copies are alive together; measured: 2.0x the arrays at 8,000 x 201)."""
    return 2 * 3 * 8.0 * (steps + 1) * particles * D


def run_cost(steps: int, particles: int, D: int, per_step: Cost) -> Cost:
    """A reverse run of ``steps`` steps whose score evaluation costs ``per_step`` at ``particles`` points."""
    return Cost(trajectory_store(steps, particles, D) + per_step.bytes,
                (per_step.flops + SAMPLER_FLOPS * particles) * steps)


def auto_seconds() -> float:
    """Estimated seconds a page may spend without a button press (``RIDGEVIZ_AUTO_SECONDS``, default 20)."""
    raw = os.environ.get(ENV_AUTO, "").strip()
    return DEFAULT_AUTO_SECONDS if not raw else check(ENV_AUTO, _number(raw), Real(0, 1e6))


def _number(raw: str):
    try:
        return float(raw)
    except ValueError:
        return raw


# -- the model actually used ---------------------------------------------------------------------------------------
def model_arch(model) -> dict:
    """``{"kind", "N", "hidden", "depth", "time_features", "features"}`` of a score model object (what prices it):
    a closed-form model's own number of points, a network's width and depth, a random-feature model's p and K."""
    kind = getattr(model, "kind", "exact")
    dens, rf = getattr(model, "dens", None), getattr(model, "rf", None)
    out = {"kind": kind, "N": dens.N if dens is not None else None}
    if kind == "mlp":
        out.update(hidden=model.hidden, depth=model.depth, time_features=model.time_features)
    if rf is not None:
        out.update(features=rf.p, time_features=rf.K)
    return out


def model_eval_cost(M: int, N: int, D: int, kind: str = "exact", model=None, arch: dict | None = None) -> Cost:
    """One evaluation of a score model at ``M`` points, for data of ``N`` points in ``D`` dimensions.

    ``kind``: ``exact`` (a density pass), ``injected`` (a ridge frame), ``mlp`` / ``random-features`` /
    ``checkpoint``, priced by ``model`` (an object) or ``arch`` (a checkpoint's architecture, or
    :func:`model_arch`): a closed-form checkpoint costs a pass over *its own* points, a network its products.
    """
    arch = dict(arch or (model_arch(model) if model is not None else {}))
    kind = arch.get("kind", kind)
    N = arch.get("N") or N
    if kind == "injected":
        return frame_cost(M, N, D)
    if kind == "mlp" and "hidden" in arch:
        return Cost(0, mlp_cost(D, arch["hidden"], arch["depth"], arch["time_features"], steps=1, batch=M).flops / 3)
    if kind == "random-features" and "features" in arch:
        p, K = arch["features"], arch["time_features"]
        return Cost(8.0 * 3 * M * p, 4.0 * M * p * (2 * D + 2 * K + 1))
    return density_cost(M, N, D)  # the exact score (of the model's own points), or a model we cannot inspect


def _kind(model_cfg: ModelConfig | None) -> str:
    return "injected" if model_cfg is None else model_cfg.kind


# -- pages -----------------------------------------------------------------------------------------------------------
def trace_cost(N: int, D: int, times: int, grid: int) -> Cost:
    """Ridge polylines at ``times`` times from a ``grid x grid`` seed lattice (one SCMS batch, chunked).

    Chaining the projected points links each to its neighbours within 2.5 lattice spacings; the seeds on a line
    across the ridge all land near one point of it, so a frame holds about ``5 grid^3`` pairs (measured: 1.0 GB
    at grid = 200, 4.0 GB at grid = 400, one time).
    """
    return ridge_cost(times * grid * grid, N, D, SCMS_ITERATIONS) + Cost(80.0 * grid**3)


def trajectories_cost(shape: tuple, sched_cfg: ScheduleConfig, cfg: TrajectoryConfig,
                      model_cfg: ModelConfig | None = None, model=None) -> Cost:
    """The Trajectories view for data of ``shape = (N, D)``: sampling with the model used, the error
    decomposition at every point (a frame each, and the model's own frame when it needs one), the SCMS
    distance for D <= 3, and ridge polylines at ``min(frames, steps + 1)`` times."""
    N, D = shape
    steps, particles = sched_cfg.steps, cfg.particles
    points = (steps + 1) * particles
    kind = _kind(model_cfg)
    cost = run_cost(steps, particles, D, model_eval_cost(particles, N, D, kind, model))
    cost = cost + frame_cost(min(points, 512), N, D) * (2 * math.ceil(points / 512))
    if D <= 3:
        cost = cost + ridge_cost(points, N, D, SCMS_ITERATIONS)
    return cost + trace_cost(N, D, min(cfg.frames, steps + 1), cfg.ridge_grid)


def bandwidth_cost(shape: tuple, n_times: int = 100, grid: int = 18, field_n: int = 40) -> Cost:
    """The Data and bandwidth view: ridges at about ``n_times + 3`` times, the suggested dimension at 256 points of
    each (in chunks), the cross-validated bandwidth (``N <= 2000``) and, for 2-D data, density and eigengap
    fields on ``field_n x field_n`` at every time."""
    N, D = shape
    F, n = n_times + 3, min(N, 2000)
    suggest = Cost(frame_cost(min(256, frame_points(D)), N, D).bytes, F * frame_cost(256, N, D).flops)
    cost = trace_cost(N, D, F, grid) + suggest + Cost(0, 30 * 5 * 20.0 * n * n * D)
    if D == 2:
        cost = cost + (frame_cost(field_n**2, N, D) + density_cost(field_n**2, N, D)) * F
    return cost


def profile_cost(shape: tuple, model_cfg: ModelConfig, model=None, times: int = PROFILE_TIMES,
                 points: int = PROFILE_POINTS) -> Cost:
    """The Score model page's error profile: ``points`` draws of ``p_t`` at ``times`` times, the ridge frame at
    each (in chunks) and the model's score there."""
    N, D = shape
    M = times * points
    return (frame_cost(min(M, frame_points(D)), N, D) + Cost(0, frame_cost(M, N, D).flops)
            + Cost(0, model_eval_cost(M, N, D, model_cfg.kind, model).flops))


def training_cost(shape: tuple, cfg: TrainConfig) -> Cost:
    """MLP training by DSM, with its periodic score-error evaluation on the probe set."""
    N, D = shape
    evals = math.ceil(cfg.steps / max(1, cfg.eval_every)) + 1
    probe = cfg.probe_size * cfg.eval_times
    return (mlp_cost(D, cfg.hidden, cfg.depth, cfg.time_features, steps=cfg.steps, batch=cfg.batch_size)
            + Cost(0, TRAIN_STEP_FLOPS * cfg.steps) + frame_cost(probe, N, D) * evals)


def rf_cost(shape: tuple, cfg: RFConfig, *, fit_only: bool = False) -> Cost:
    """The random-feature sweep: the feature moments once, then per tau (and tau = inf) a reverse run and the
    bias/optimisation split at every trajectory point; ``fit_only``: the moments and the fits alone."""
    from ..models.rf_moments import Quadrature

    N, D = shape
    moments = Quadrature().cost(N, D, cfg.features, cfg.time_features, 8192)
    if fit_only:
        return moments
    points = (cfg.steps + 1) * cfg.particles
    arch = {"kind": "random-features", "features": cfg.features, "time_features": cfg.time_features}
    run = run_cost(cfg.steps, cfg.particles, D, model_eval_cost(cfg.particles, N, D, arch=arch))
    split = (model_eval_cost(min(points, 512), N, D, arch=arch) * (2 * math.ceil(points / 512))  # tau and inf
             + frame_cost(min(points, 512), N, D) * math.ceil(points / 512))  # against the exact score's frame
    return moments + (run + split) * (len(set(cfg.taus) | {math.inf}))


def latent_cost(shape: tuple, cfg: LatentConfig) -> Cost:
    """The MNIST latent run: optional MLP training, sampling, residuals at ``record`` times and the tracked
    decomposition."""
    from .mnist import latent_train_config

    N, D = shape
    steps, samples, tracked = cfg.schedule.steps, cfg.samples, min(cfg.tracked, cfg.samples)
    probe = min(N, 2048)  # the suggested dimension at the training latents (an even subsample)
    cost = frame_cost(min(probe, frame_points(D)), N, D) + Cost(0, frame_cost(probe, N, D).flops)
    if cfg.model == "mlp":
        cost = cost + training_cost(shape, latent_train_config(cfg.mlp_steps, cfg.mlp_lr))
    kind = cfg.model if cfg.model in closed_form_kinds() else "exact"
    cost = cost + run_cost(steps, samples, D, model_eval_cost(samples, N, D, kind))
    residuals = frame_cost(min(samples, 512), N, D) * (cfg.record * math.ceil(samples / 512))
    return cost + residuals + frame_cost(tracked, N, D) * (2 * (steps + 1))


def side_by_side_cost(cfg: SideBySideConfig) -> Cost:
    """The home page's comparison: two reverse runs of the pair's models on the preset, the ridge at
    ``frames`` times (grid 18) and at the outcome rule's time (grid 24), the final samples classified."""
    from ..data.datasets import MODE_SETS

    N, D = MODE_SETS[cfg.dataset].shape
    runs = Cost()
    for name in (cfg.left, cfg.right):
        arch = {"kind": "exact"} if name == "exact" else _shipped_arch(name)
        runs = runs + run_cost(cfg.steps, cfg.particles, D, model_eval_cost(cfg.particles, N, D, arch=arch))
    frames = min(cfg.frames, cfg.steps + 1)
    return runs + trace_cost(N, D, frames, 18) + trace_cost(N, D, 1, 24) + frame_cost(cfg.particles, N, D)


def _shipped_arch(name: str) -> dict:
    """The architecture recorded beside a shipped checkpoint (``assets/<name>.json``)."""
    import json

    from ..utils.paths import ASSETS

    config = json.loads((ASSETS / name).with_suffix(".json").read_text())
    return {"kind": config["kind"], **config["architecture"]}


# -- the command line -------------------------------------------------------------------------------------------
def sample_cost(shape: tuple, steps: int, particles: int, model_cfg: ModelConfig, model=None) -> Cost:
    """``python -m ridgeviz sample``: a reverse run keeping every step, then the arrays written to an ``.npz``."""
    N, D = shape
    run = run_cost(steps, particles, D, model_eval_cost(particles, N, D, model_cfg.kind, model))
    return run + Cost(0, WRITE_FLOPS * trajectory_store(steps, particles, D) / 2)


def ridge_command_cost(shape: tuple, points: int, max_iter: int, grid: int | None) -> Cost:
    """``python -m ridgeviz ridge``: the suggested dimension at the data, SCMS from ``points`` points, and for
    2-D data a traced ridge from a ``grid x grid`` lattice.

    SCMS is priced at its cap ``max_iter``: a point where the ridge is undefined or that converges slowly runs
    every iteration, and nothing can stop the command once started (measured: 1,000 random points on the 13-point
    set at t = 0.05 took 0.6x the cap's price; a price of ten iterations let a run go past 400 s)."""
    N, D = shape
    cost = frame_cost(min(N, frame_points(D)), N, D) + Cost(0, frame_cost(N, N, D).flops) \
        + ridge_cost(points, N, D, max_iter)
    if D == 2 and grid:
        cost = cost + trace_cost(N, D, 1, grid)
    return cost


def analyze_cost(shape: tuple, points: int, projection: bool) -> Cost:
    """``python -m ridgeviz analyze``: the decomposition at every trajectory point (and SCMS distances)."""
    N, D = shape
    cost = frame_cost(1, N, D) * points * 2
    if projection:
        cost = cost + ridge_cost(points, N, D, SCMS_ITERATIONS)
    return Cost(0, cost.flops)


__all__ = ["SCMS_ITERATIONS", "analyze_cost", "auto_seconds", "bandwidth_cost", "latent_cost", "model_arch",
           "model_eval_cost", "profile_cost", "rf_cost", "ridge_command_cost", "sample_cost", "side_by_side_cost",
           "trace_cost", "training_cost", "trajectories_cost"]
