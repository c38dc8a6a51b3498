"""Architectural bias against optimisation error for the random-feature model, and the sweep over tau.

For the readout trained for time tau, the score error splits exactly as

    s_tau - grad log p_t = (s_inf - grad log p_t)  +  (s_tau - s_inf)
                           architectural bias         optimisation error

and each part splits into its normal and tangential components in the ridge frame at the trajectory point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.ridge import local_frame


def tau_label(tau: float) -> str:
    """Training time as it appears in file names: ``inf``, ``10``, ``0.1``."""
    tau = float(tau)
    return "inf" if math.isinf(tau) else (str(int(tau)) if tau.is_integer() else repr(tau))


# -- architectural bias versus optimisation error ------------------------------------------------------------


def _split(model_tau, model_inf, frame, x, t) -> dict[str, torch.Tensor]:
    s_tau = torch.as_tensor(model_tau(x, t)).to(frame.score)
    s_inf = torch.as_tensor(model_inf(x, t)).to(frame.score)
    out = {"bias": s_inf - frame.score, "optimisation": s_tau - s_inf, "total": s_tau - frame.score}
    for name in list(out):
        out[name + "_normal"], out[name + "_tangential"] = frame.split(out[name])
    return out


def split_error(model_tau, model_inf, dens, x, t, dim: int) -> dict[str, torch.Tensor]:
    """Error vectors at ``x: (M, D)``: ``bias = s_inf - grad log p_t``, ``optimisation = s_tau - s_inf``,
    ``total = s_tau - grad log p_t`` (so ``total = bias + optimisation`` exactly), and each one's
    ``<name>_normal`` / ``<name>_tangential`` parts in the ridge frame of dimension ``dim`` at ``x``.
    """
    return _split(model_tau, model_inf, local_frame(dens, x, t, dim), dens.as_points(x), t)


@dataclass
class BiasOptimisationSplit:
    """Norms of the split of :func:`split_error` along a trajectory: each ``(K+1, M)``; ``times: (K+1,)``."""

    times: np.ndarray
    parts: dict  # "bias_normal", "bias_tangential", "optimisation_normal", ... -> (K+1, M)
    undefined: np.ndarray  # (K+1, M) bool: the normal space is ill-defined there (eigengap below tolerance)

    def mean(self) -> dict[str, np.ndarray]:
        """Mean over the samples at each time where the ridge is defined: ``{name: (K+1,)}`` (NaN where none is)."""
        ok = ~self.undefined
        count = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {k: np.where(count > 0, np.where(ok, v, 0.0).sum(axis=1) / count, np.nan)
                    for k, v in self.parts.items()}

    def mean_where_defined(self) -> dict[str, float]:
        """Mean over every point (time and sample) where the ridge is defined: ``{name: float}`` (nan if none)."""
        ok = ~self.undefined
        return {k: float(v[ok].mean()) if ok.any() else math.nan for k, v in self.parts.items()}


_PART_NAMES = tuple(f"{a}_{b}" for a in ("bias", "optimisation", "total") for b in ("normal", "tangential"))


def bias_optimisation_split(model_tau, model_inf, dens, traj, dim: int) -> BiasOptimisationSplit:
    """Architectural bias and optimisation error, each split normal / tangential, at every point of ``traj``."""
    from ..core.decomposition import trajectory_geometry

    def parts(frame, x, t):
        vectors = _split(model_tau, model_inf, frame, x, t)
        return tuple(vectors[name].norm(dim=-1) for name in _PART_NAMES)

    geo, stacked = trajectory_geometry(dens, traj, dim, distance="proxy", extra=parts)
    return BiasOptimisationSplit(np.asarray(traj.times), dict(zip(_PART_NAMES, stacked)), geo.undefined)


def inter_mode_mass(samples, data, radius: float | None = None) -> float:
    """Fraction of ``samples: (M, D)`` farther than ``radius`` from every training point of ``data: (N, D)``.

    Default radius: ``0.1 x`` the data scale (the phase rule's default tube width), e.g. 0.3 for (+-3, 0).
    """
    from ..core.scale import data_scale

    s = torch.as_tensor(samples, dtype=torch.float64).cpu()
    d = torch.tensor(np.asarray(data.cpu() if isinstance(data, torch.Tensor) else data, dtype=np.float64))
    r = 0.1 * data_scale(d.numpy()) if radius is None else float(radius)
    if not r > 0:
        raise ValueError(f"radius must be > 0; got {radius!r}")
    return float((torch.cdist(s, d).min(dim=1).values > r).double().mean())


@dataclass
class TauSweep:
    """The sweep over training times tau (increasing, inf last), each model along its own trajectories.

    ``means[tau][part]``: ``(K+1,)`` mean norm over the samples where the ridge is defined at each time;
    ``overall[tau][part]``: the mean over every defined point; ``inter_mode[tau]``: fraction of final samples
    farther than the radius from every training point; ``finals[tau]``: ``(M, D)`` final samples.
    """

    taus: list
    times: np.ndarray  # (K+1,)
    means: dict
    overall: dict
    inter_mode: dict
    finals: dict

    def to_json(self) -> dict:
        """JSON-able summary; taus are keyed by :func:`tau_label` (``"0.1"``, ``"10"``, ``"inf"``)."""
        nan_none = lambda v: None if not math.isfinite(v) else v  # noqa: E731 (JSON has no NaN)
        return {"taus": [tau_label(t) for t in self.taus], "times": self.times.tolist(),
                "inter_mode_mass": {tau_label(t): v for t, v in self.inter_mode.items()},
                "mean_error": {tau_label(t): {k: nan_none(v) for k, v in m.items()} for t, m in self.overall.items()},
                "mean_error_by_time": {tau_label(t): {k: [nan_none(x) for x in v.tolist()] for k, v in m.items()}
                                       for t, m in self.means.items()}}


def tau_sweep(models: dict, dens, *, dim: int = 1, samples: int = 256, steps: int = 200, method: str = "em",
              seed: int = 0, radius: float | None = None, callback=None) -> TauSweep:
    """Sample each ``models[tau]`` (``models`` must contain ``inf``) and split its error along its own trajectories.

    Every tau starts from the same prior draw and uses the same noise: one generator seeded with ``seed`` draws
    ``x_T`` and then the sampler's noise, afresh for each tau. The one tau sweep of ridgeviz: the Random
    features page, the ``rf`` command and ``reproduce`` all call it, so equal settings give equal numbers.
    ``callback(stage, fraction)`` reports progress.
    """
    from ..core.sampling import prior_sample, sample

    if math.inf not in models:
        raise ValueError("models must include tau = inf (the architectural-bias reference)")
    sched = dens.schedule
    times = sched.time_grid(steps)
    report = callback or (lambda stage, frac: None)
    taus = sorted(models)
    means, overall, inter, finals = {}, {}, {}, {}
    for i, tau in enumerate(taus):
        report(f"tau = {tau:g}", i / len(taus))
        g = torch.Generator().manual_seed(seed)
        traj = sample(models[tau], prior_sample(sched, samples, dens.D, g), times, method, generator=g)
        if not torch.isfinite(traj.xs).all():
            raise ValueError(f"the model at tau = {tau:g} produced non-finite samples")
        split = bias_optimisation_split(models[tau], models[math.inf], dens, traj, dim)
        means[tau], overall[tau] = split.mean(), split.mean_where_defined()
        inter[tau] = inter_mode_mass(traj.final, dens.data, radius)
        finals[tau] = traj.final.detach().cpu().numpy()
    report("done", 1.0)
    return TauSweep(taus, np.asarray(times), means, overall, inter, finals)
