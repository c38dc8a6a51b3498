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
from .schedules import T_FLOOR, T_SLACK


@dataclass
class Trajectory:
    """Positions at every grid time of a reverse run: ``xs: (K+1, M, D)``, ``times: (K+1,)`` decreasing.

    ``drifts: (K, M, D)`` is the deterministic part of each step's displacement (model score and schedule;
    the whole step for deterministic samplers); ``scores: (K, M, D)`` the model score at ``(xs[k], times[k])``.

    ``score_model`` tags the scores with the model object that produced them (``sample`` sets it; ``None`` for a
    trajectory read from a file or assembled by hand). The contract: whoever needs ``model(xs[k], times[k])`` for
    ``k < K`` may take ``scores[k]`` instead of calling the model *if and only if* ``score_model is model``;
    any other model (or an untagged trajectory) is evaluated afresh (see :func:`scores_for`).
    """

    xs: torch.Tensor
    times: np.ndarray
    method: str
    drifts: torch.Tensor
    scores: torch.Tensor
    score_model: object = None

    @property
    def K(self) -> int:
        return self.xs.shape[0] - 1

    @property
    def final(self) -> torch.Tensor:
        return self.xs[-1]

    def subset(self, samples) -> "Trajectory":
        """The same run restricted to ``samples`` (an index array or slice over M); the score tag is kept."""
        return Trajectory(self.xs[:, samples], self.times, self.method, self.drifts[:, samples],
                          self.scores[:, samples], self.score_model)

    def steps(self, rows: slice) -> "Trajectory":
        """The grid times ``rows`` (a slice with step 1) and the steps between them; the score tag is kept."""
        start, stop, _ = rows.indices(self.xs.shape[0])
        return Trajectory(self.xs[start:stop], self.times[start:stop], self.method,
                          self.drifts[start:max(stop - 1, start)], self.scores[start:max(stop - 1, start)],
                          self.score_model)


def scores_for(model, traj: Trajectory, rows: slice, dtype=torch.float64, device=None) -> torch.Tensor | None:
    """The sampler's stored scores ``(n, M, D)`` at the steps ``rows`` if ``model`` produced them, else None.

    ``rows`` must lie within the K stepped points (the last position has no stored score). This is the one
    place the score tag is read: a different model (or an untagged trajectory) gets None and is re-evaluated.
    """
    if model is None or traj.score_model is not model:
        return None
    start, stop, _ = rows.indices(traj.xs.shape[0])
    if stop > traj.scores.shape[0]:
        return None
    return traj.scores[start:stop].to(dtype=dtype, device=device)


def _score(model, x, t):
    s = torch.as_tensor(model(x, t), dtype=x.dtype, device=x.device)
    if s.shape != x.shape:
        raise ValueError(f"model: returned scores of shape {tuple(s.shape)} for points of shape {tuple(x.shape)}")
    return s


def _noise(shape, generator, like):
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(device=like.device, dtype=like.dtype)


def em_step(model, sched, x, t, t_next, generator):
    """Euler-Maruyama on the reverse SDE (as in the authors' code; for OU ``x + (x + 2 s) dt + sqrt(2 dt) z``)."""
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


def step_coefficients(method: str, sched, t: float, t_next: float) -> tuple[float, float, float]:
    """``(A, B, q)`` with ``drift = A x + B s(x, t)`` and per-coordinate noise variance ``q`` for one step.

    EM: ``A = -f dt``, ``B = g^2 dt``, ``q = g^2 dt``; Euler: ``A = -f dt``, ``B = g^2 dt / 2``, ``q = 0``;
    DDIM: ``A = alpha'/alpha - 1``, ``B = alpha' h / alpha - sigma' sigma`` (primes at ``t_next``), ``q = 0``;
    Heun: the trapezoidal averages ``A = -(f + f') dt / 2``, ``B = (g^2 + g'^2) dt / 4`` (exact to first order in
    ``dt``; its corrector evaluates the score a second time at the predicted point). The error decomposition
    uses ``B``: the part of a step the model's error causes is ``B e``.
    """
    if method not in SAMPLERS:
        raise ValueError(f"method: unknown sampler {method!r}; choose one of {sorted(SAMPLERS)}")
    dt = t - t_next
    f, g2 = float(sched.f(t)), float(sched.g2(t))
    if method == "em":
        return -f * dt, g2 * dt, g2 * dt
    if method == "euler":
        return -f * dt, 0.5 * g2 * dt, 0.0
    if method == "heun":
        f2, g22 = float(sched.f(t_next)), float(sched.g2(t_next))
        return -0.5 * (f + f2) * dt, 0.25 * (g2 + g22) * dt, 0.0
    a, a2, h = float(sched.alpha(t)), float(sched.alpha(t_next)), float(sched.h(t))
    return a2 / a - 1.0, a2 * h / a - float(sched.sigma(t_next)) * np.sqrt(h), 0.0


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
    times = np.asarray(check("times", times, Array((None,), at_least=(2,), lo=T_FLOOR, hi=sched.T * (1 + T_SLACK),
                                                   label="(K+1,)")))
    if not np.all(np.diff(times) < 0):
        raise ValueError("times must be strictly decreasing (from T down to t_min)")
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
    return Trajectory(torch.stack(xs), times, method, torch.stack(drifts), torch.stack(scores), model)
