"""What each view's pipeline costs, estimated from its config and the data's shape before anything runs.

One estimator per pipeline (:mod:`ridgeviz.utils.limits` prices the pieces): the app shows these numbers next to
its size widgets and runs a computation on page load only when it is cheap (:data:`AUTO_SECONDS`), otherwise
behind a button, and never above the limits; the command line refuses what is above them. Estimates are upper
bounds of the right order (the SCMS iteration count is an assumption: :data:`SCMS_ITERATIONS`), not timings.
"""

from __future__ import annotations

import math
import os

from ..utils.limits import Cost, density_cost, frame_cost, frame_points, mlp_cost, ridge_cost, sampling_cost
from ..utils.validation import Real, check

# SCMS steps assumed per projected point (the cap is 100-300). Measured on the bandwidth sweep's seeds (the 13-point
# set embedded in D = 2, 10, 32, 64; 12 times): means of 6.5-9.1 steps; at t = 0.5 alone, 21 for 2-D seeds.
# The sweep's estimate against its time here: D = 32, 34 s measured; D = 64: 72 s measured (the run).
SCMS_ITERATIONS = 10
ENV_AUTO = "RIDGEVIZ_AUTO_SECONDS"
DEFAULT_AUTO_SECONDS = 20.0  # estimated seconds a page may compute on load or on a link, without a button


def auto_seconds() -> float:
    """Estimated seconds a page may spend without a button press (``RIDGEVIZ_AUTO_SECONDS``, default 20)."""
    raw = os.environ.get(ENV_AUTO, "").strip()
    return DEFAULT_AUTO_SECONDS if not raw else check(ENV_AUTO, _number(raw), Real(0, 1e6))


def _number(raw: str):
    try:
        return float(raw)
    except ValueError:
        return raw


def trace_cost(N: int, D: int, times: int, grid: int) -> Cost:
    """Ridge polylines at ``times`` times from a ``grid x grid`` seed lattice (one SCMS batch, chunked).

    Chaining the projected points links each to its neighbours within 2.5 lattice spacings; the seeds on a line
    across the ridge all land near one point of it, so a frame holds about ``5 grid^3`` pairs (measured: 1.0 GB
    at grid = 200, 4.0 GB at grid = 400, one time).
    """
    return ridge_cost(times * grid * grid, N, D, SCMS_ITERATIONS) + Cost(80.0 * grid**3)


def trajectories_cost(N: int, D: int, steps: int, particles: int, frames: int, ridge_grid: int,
                      injected: bool = True) -> Cost:
    """The Trajectories view: sampling, the error decomposition at every point (a frame each, twice with a model
    that needs the frame), the SCMS distance for D <= 3, and ridge polylines at ``min(frames, steps + 1)`` times."""
    points = (steps + 1) * particles
    cost = sampling_cost(steps, particles, D, N, frame=injected)
    cost = cost + frame_cost(min(points, 512), N, D) * (2 * math.ceil(points / 512))
    if D <= 3:
        cost = cost + ridge_cost(points, N, D, SCMS_ITERATIONS)
    return cost + trace_cost(N, D, min(frames, steps + 1), ridge_grid)


def bandwidth_cost(N: int, D: int, n_times: int = 100, grid: int = 18, field_n: int = 40) -> Cost:
    """The Data and bandwidth view: ridges at about ``n_times + 3`` times, the suggested dimension at 256 points of
    each (in chunks), the cross-validated bandwidth (``N <= 2000``) and, for 2-D data, density and eigengap
    fields on ``field_n x field_n`` at every time."""
    F, n = n_times + 3, min(N, 2000)
    suggest = Cost(frame_cost(min(256, frame_points(D)), N, D).bytes, F * frame_cost(256, N, D).flops)
    cost = trace_cost(N, D, F, grid) + suggest + Cost(0, 30 * 5 * 20.0 * n * n * D)
    if D == 2:
        cost = cost + (frame_cost(field_n**2, N, D) + density_cost(field_n**2, N, D)) * F
    return cost


def training_cost(N: int, D: int, hidden: int, depth: int, steps: int, batch: int, time_features: int = 16,
                  eval_every: int = 500, probe: int = 128 * 8) -> Cost:
    """MLP training by DSM, with its periodic score-error evaluation on a probe set."""
    evals = math.ceil(steps / max(1, eval_every)) + 1
    return mlp_cost(D, hidden, depth, time_features, steps=steps, batch=batch) + frame_cost(probe, N, D) * evals


def rf_cost(N: int, D: int, features: int, time_features: int, particles: int, steps: int, taus: int) -> Cost:
    """The random-feature sweep: the feature moments once, then per tau a reverse run and the bias/optimisation
    split at every trajectory point."""
    from ..models.rf_moments import Quadrature

    moments = Quadrature().cost(N, D, features, time_features, 8192)
    points = (steps + 1) * particles
    per_tau = (Cost(8.0 * 3 * points * D, 4.0 * points * features * D)
               + frame_cost(min(points, 512), N, D) * math.ceil(points / 512))
    return moments + per_tau * taus


def latent_cost(N: int, D: int, samples: int, steps: int, record: int, tracked: int, model: str = "exact",
                mlp_steps: int = 0) -> Cost:
    """The MNIST latent run: optional MLP training, sampling, residuals at ``record`` times and the tracked
    decomposition."""
    cost = sampling_cost(steps, samples, D, N, frame=model == "injected")
    if model == "mlp":
        cost = cost + training_cost(N, D, 128, 4, mlp_steps, 1024, eval_every=mlp_steps, probe=256)
    return cost + frame_cost(min(samples, 512), N, D) * (record * math.ceil(samples / 512) + 2 * (steps + 1)
                                                          * math.ceil(min(tracked, samples) / 512))
