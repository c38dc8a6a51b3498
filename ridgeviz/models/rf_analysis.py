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


def parse_taus(text, name: str = "taus") -> tuple:
    """Training times, sorted and unique: ``"0.1, 1; inf"`` or ``["0.1", "1", "inf"]`` -> ``(0.1, 1.0, inf)``.

    Entries are numbers >= 0 (``inf``, ``infinity`` and ``∞`` allowed), separated by commas or semicolons or
    given as separate tokens (the command line's ``--tau 0.1 1 inf``); a bad entry raises a ValueError naming
    ``name`` and the entry.
    """
    tokens = [text] if isinstance(text, str) else list(text)
    out = set()
    for item in (s.strip().lower() for tok in tokens for s in str(tok).replace(";", ",").split(",")):
        if not item:
            continue
        try:
            v = math.inf if item == "∞" else float(item)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not a number (use numbers >= 0 and 'inf')") from None
        if not v >= 0:
            raise ValueError(f"{name}: {item!r} must be >= 0")
        out.add(v)
    if not out:
        raise ValueError(f"{name}: give at least one training time")
    return tuple(sorted(out))


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
        """Mean over samples at each time: ``{name: (K+1,)}``."""
        return {k: v.mean(axis=1) for k, v in self.parts.items()}

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
    from ..data.datasets import data_scale

    s = torch.as_tensor(samples, dtype=torch.float64).cpu()
    d = torch.tensor(np.asarray(data.cpu() if isinstance(data, torch.Tensor) else data, dtype=np.float64))
    r = 0.1 * data_scale(d.numpy()) if radius is None else float(radius)
    if not r > 0:
        raise ValueError(f"radius must be > 0; got {radius!r}")
    return float((torch.cdist(s, d).min(dim=1).values > r).double().mean())


@dataclass
class TauSweep:
    """Per training time tau: mean split norms over samples at each time, and the inter-mode mass."""

    taus: list
    times: np.ndarray  # (K+1,)
    means: dict  # tau -> {part name: (K+1,)}
    inter_mode: dict  # tau -> fraction of final samples away from every training point

    def to_json(self) -> dict:
        """JSON-able form; taus are keyed by :func:`tau_label` (``"0.1"``, ``"10"``, ``"inf"``)."""
        return {"taus": [tau_label(t) for t in self.taus], "times": self.times.tolist(),
                "inter_mode_mass": {tau_label(t): v for t, v in self.inter_mode.items()},
                "mean_error": {tau_label(t): {k: v.tolist() for k, v in m.items()} for t, m in self.means.items()}}


def tau_sweep(models: dict, dens, *, dim: int = 1, samples: int = 256, steps: int = 200, method: str = "em",
              seed: int = 0, radius: float | None = None) -> TauSweep:
    """Sample each ``models[tau]`` (``models`` must contain ``inf``) from the same prior draw and noise seed,
    and split its error along its own trajectories into bias and optimisation parts.
    """
    from ..core.sampling import prior_sample, sample

    if math.inf not in models:
        raise ValueError("models must include tau = inf (the architectural-bias reference)")
    sched = dens.schedule
    x_T = prior_sample(sched, samples, dens.D, torch.Generator().manual_seed(seed))
    times = sched.time_grid(steps)
    means, inter = {}, {}
    for tau in sorted(models):
        traj = sample(models[tau], x_T, times, method, generator=torch.Generator().manual_seed(seed + 1))
        means[tau] = bias_optimisation_split(models[tau], models[math.inf], dens, traj, dim).mean()
        inter[tau] = inter_mode_mass(traj.final, dens.data, radius)
    return TauSweep(sorted(models), np.asarray(times), means, inter)
