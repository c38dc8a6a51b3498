"""Reverse-time samplers. All share one signature and return the whole :class:`Trajectory`.

The forward SDE is ``dX = f(t) X dt + g(t) dW`` (from the schedule); its reverse is
``dX = [f X - g^2 s(X, t)] dt + g dW_bar`` and the probability-flow ODE ``dX/dt = f X - g^2 s / 2``.
Steps go from ``t_k`` down to ``t_{k+1}`` with ``dt = t_k - t_{k+1} > 0``. Arithmetic is float64; noise is
drawn on the CPU from ``generator`` so a seed means the same numbers on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..utils.limits import Cost, require
from ..utils.validation import Array, Integer, Options, check


@dataclass
class Trajectory:
    """Positions at every grid time of a reverse run: ``xs: (K+1, M, D)``, ``times: (K+1,)`` decreasing.

    ``drifts: (K, M, D)`` is the deterministic part of each step's displacement (model score and schedule;
    the whole step for deterministic samplers); ``scores: (K, M, D)`` the model score at ``(xs[k], times[k])``.
    """

    xs: torch.Tensor
    times: np.ndarray
    method: str
    drifts: torch.Tensor
    scores: torch.Tensor

    @property
    def K(self) -> int:
        return self.xs.shape[0] - 1

    @property
    def final(self) -> torch.Tensor:
        return self.xs[-1]


def _score(model, x, t):
    s = torch.as_tensor(model(x, t), dtype=x.dtype, device=x.device)
    if s.shape != x.shape:
        raise ValueError(f"model: returned scores of shape {tuple(s.shape)} for points of shape {tuple(x.shape)}")
    return s


def _noise(shape, generator, like):
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def em_step(model, sched, x, t, t_next, generator):
    """Euler-Maruyama on the reverse SDE (the paper's; for OU ``x + (x + 2 s) dt + sqrt(2 dt) z``)."""
    dt = t - t_next
    s = _score(model, x, t)
    f, g2 = float(sched.f(t)), float(sched.g2(t))
    drift = -(f * x - g2 * s) * dt
    return x + drift + np.sqrt(g2 * dt) * _noise(x.shape, generator, x), drift, s


def _ode_velocity(sched, x, t, s):
    """``-dX/dt`` of the probability-flow ODE, i.e. the displacement per unit of reverse time."""
    return -(float(sched.f(t)) * x - 0.5 * float(sched.g2(t)) * s)


def euler_step(model, sched, x, t, t_next, generator):
    """Euler on the probability-flow ODE."""
    s = _score(model, x, t)
    drift = _ode_velocity(sched, x, t, s) * (t - t_next)
    return x + drift, drift, s


def heun_step(model, sched, x, t, t_next, generator):
    """Heun (trapezoidal predictor-corrector) on the probability-flow ODE."""
    dt = t - t_next
    s = _score(model, x, t)
    v1 = _ode_velocity(sched, x, t, s)
    x_pred = x + v1 * dt
    v2 = _ode_velocity(sched, x_pred, t_next, _score(model, x_pred, t_next))
    drift = 0.5 * (v1 + v2) * dt
    return x + drift, drift, s


def ddim_step(model, sched, x, t, t_next, generator):
    """Deterministic DDIM: predict ``x0 = (x + h s)/alpha`` and ``eps = -sigma s``, re-noise to ``t_next``."""
    s = _score(model, x, t)
    a, h = float(sched.alpha(t)), float(sched.h(t))
    x0, eps = (x + h * s) / a, -np.sqrt(h) * s
    x_new = float(sched.alpha(t_next)) * x0 + float(sched.sigma(t_next)) * eps
    return x_new, x_new - x, s


SAMPLERS = {"em": em_step, "euler": euler_step, "heun": heun_step, "ddim": ddim_step}
SAMPLER_LABELS = {"em": "reverse SDE (Euler-Maruyama)", "euler": "probability-flow ODE (Euler)",
                  "heun": "probability-flow ODE (Heun)", "ddim": "DDIM (deterministic)"}


def prior_sample(schedule, M: int, D: int, generator: torch.Generator | None = None,
                 dtype=torch.float64, device=None) -> torch.Tensor:
    """Draw ``x_T ~ N(0, h_T I)``: ``(M, D)``."""
    M, D = check("M", M, Integer(1, None)), check("D", D, Integer(1, None))
    require(Cost(8.0 * M * D), f"a prior draw of {M} x {D} numbers", "M", time=False)
    z = torch.randn((M, D), generator=generator, dtype=torch.float64)
    return (schedule.sigma(torch.tensor(schedule.T, dtype=torch.float64)) * z).to(dtype=dtype, device=device)


def sample(model, x_T, times, method: str = "em", *, generator: torch.Generator | None = None,
           schedule=None, callback=None) -> Trajectory:
    """Run a reverse sampler from ``x_T: (M, D)`` over ``times: (K+1,)`` (decreasing), keeping every step.

    ``model`` follows the score contract; its ``schedule`` attribute is used unless ``schedule`` is given.
    ``callback(k, t, x)`` is called after each step. Randomness comes only from ``generator``.
    """
    check("method", method, Options(tuple(SAMPLERS)))
    sched = schedule if schedule is not None else getattr(model, "schedule", None)
    if sched is None:
        raise ValueError("schedule: the model has no schedule; pass schedule=")
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or len(times) < 2 or not np.all(np.isfinite(times)):
        raise ValueError(f"times must be a 1-D finite array of at least 2 times; got shape {times.shape}")
    if not np.all(np.diff(times) < 0) or times[-1] <= 0:
        raise ValueError("times must be strictly decreasing and positive (from T down to t_min)")
    x = torch.as_tensor(check("x_T", x_T, Array((None, None)))).to(torch.float64)
    require(Cost(3 * 8.0 * len(times) * x.numel()), f"a trajectory of {len(times)} times x {x.shape[0]} samples",
            "the number of steps or samples", time=False)
    step = SAMPLERS[method]
    xs, drifts, scores = [x], [], []
    for k in range(len(times) - 1):
        x, drift, s = step(model, sched, x, float(times[k]), float(times[k + 1]), generator)
        if not (torch.isfinite(s).all() and torch.isfinite(x).all()):
            what = "returned non-finite scores" if not torch.isfinite(s).all() else "gave non-finite positions"
            raise ValueError(f"model: {what} at step {k} (t = {times[k]:.4g} -> {times[k + 1]:.4g}); sampling stopped")
        xs.append(x)
        drifts.append(drift)
        scores.append(s)
        if callback is not None:
            callback(k, float(times[k + 1]), x)
    return Trajectory(torch.stack(xs), times, method, torch.stack(drifts), torch.stack(scores))
