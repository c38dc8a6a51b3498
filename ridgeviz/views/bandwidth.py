"""Bandwidth views: the diffusion time as a kernel bandwidth, classical bandwidth rules, memorisation.

Rescaled by ``1/alpha_t``, the smoothed empirical density ``p_t`` is a Gaussian kernel density estimate of the
training set with bandwidth ``b(t) = sqrt(h_t) / alpha_t`` (increasing in t for every preset). So a classical
bandwidth ``b`` corresponds to the time ``t`` with ``b(t) = b``; this module finds it, computes the classical
choices (Scott's and Silverman's rules, scikit-learn's cross-validated ``KernelDensity``), and measures how the
ridge and the fraction of memorising samples change across bandwidths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..core.density import SmoothedEmpirical
from ..core.ridge import suggest_ridge_dim
from ..core.schedules import Schedule
from ..core.tracing import Plane, data_plane, default_bounds, ridge_fields, trace_ridges_projected
from ..utils.validation import POSITIVE, Integer, check

RULES = ("Scott", "Silverman", "CV (scikit-learn)")
MEMORISATION_RATIO = 1.0 / 3.0


def data_sigma(X: np.ndarray) -> float:
    """Pooled standard deviation ``sqrt(mean_j var(X[:, j]))`` of ``X: (N, D)`` (ddof = 1), 1.0 if zero."""
    X = np.asarray(X, dtype=np.float64)
    s = float(np.sqrt(np.mean(np.var(X, axis=0, ddof=1))))
    return s if s > 0 and math.isfinite(s) else 1.0


def scott_bandwidth(X: np.ndarray) -> float:
    """Scott's rule for an isotropic Gaussian kernel: ``sigma * N^(-1/(D+4))``."""
    N, D = np.shape(X)
    return data_sigma(X) * N ** (-1.0 / (D + 4))


def silverman_bandwidth(X: np.ndarray) -> float:
    """Silverman's rule: ``sigma * (N (D+2) / 4)^(-1/(D+4))``."""
    N, D = np.shape(X)
    return data_sigma(X) * (N * (D + 2) / 4.0) ** (-1.0 / (D + 4))


def cv_bandwidth(X: np.ndarray, seed: int = 0, max_points: int = 2000, n_grid: int = 30) -> float:
    """Bandwidth maximising the held-out log-likelihood of ``sklearn.neighbors.KernelDensity`` (k-fold CV).

    The grid is ``sigma * logspace(-2.5, 0.5, n_grid)``; folds = min(5, N); at most ``max_points`` rows are used
    (a seeded subsample) so the search stays interactive.
    """
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KernelDensity

    X = np.asarray(X, dtype=np.float64)
    if len(X) > max_points:
        X = X[np.random.default_rng(seed).choice(len(X), max_points, replace=False)]
    grid = data_sigma(X) * np.logspace(-2.5, 0.5, n_grid)
    search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": grid},
                          cv=KFold(min(5, len(X)), shuffle=True, random_state=seed))
    search.fit(X)
    return float(search.best_params_["bandwidth"])


def classical_bandwidths(X: np.ndarray, seed: int = 0) -> dict[str, float]:
    """``{rule name: bandwidth}`` for the names in :data:`RULES`."""
    return dict(zip(RULES, (scott_bandwidth(X), silverman_bandwidth(X), cv_bandwidth(X, seed))))


def kde_bandwidth(schedule: Schedule, t):
    """``b(t) = sqrt(h_t) / alpha_t``: the bandwidth of ``p_t`` in data units (t float or array)."""
    return schedule.sigma(t) / schedule.alpha(t)


def time_for_bandwidth(schedule: Schedule, b: float, tol: float = 1e-10) -> float | None:
    """The time ``t`` in ``[t_min, T]`` with ``b(t) = b`` (bisection in log t), or None if ``b`` is out of range."""
    b = check("b", b, POSITIVE)
    lo, hi = math.log(schedule.t_min), math.log(schedule.T)
    f = lambda u: float(kde_bandwidth(schedule, math.exp(u))) - b  # noqa: E731
    if f(lo) > 0 or f(hi) < 0:
        return None
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def memorisation_fraction(X: np.ndarray, b: float, n_samples: int = 2000, seed: int = 0,
                          ratio: float = MEMORISATION_RATIO) -> float:
    """Fraction of samples of the KDE with bandwidth ``b`` that memorise a training point.

    Samples are ``x_i + b z`` (i uniform, z standard normal): the exact model's output at time t, rescaled by
    ``1/alpha_t``, when ``b = b(t)``. A sample memorises when its nearest training point is closer than ``ratio``
    times the second nearest (the criterion of Yoon et al., 2023).
    """
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    Y = X[rng.integers(len(X), size=n_samples)] + b * rng.standard_normal((n_samples, X.shape[1]))
    d, _ = cKDTree(X).query(Y, k=2)
    return float(np.mean(d[:, 0] <= ratio * d[:, 1]))


def group_marks(marks: dict) -> list[tuple[str, float, float | None]]:
    """``{rule: (b, t)}`` -> ``[(label, b, t)]`` with rules giving the same bandwidth joined ("Scott = Silverman")."""
    groups: dict = {}
    for name, (b, t) in marks.items():
        key = round(float(b), 12)
        if key in groups:
            groups[key][0] += " = " + name
        else:
            groups[key] = [name, float(b), t]
    return [tuple(v) for v in groups.values()]


def polyline_length(lines) -> float:
    """Total length of a list of ``(n, 2)`` polylines."""
    return float(sum(np.linalg.norm(np.diff(line, axis=0), axis=1).sum() for line in lines))


@dataclass
class BandwidthSweep:
    """Ridges and memorisation across the slider's times (F of them, increasing)."""

    times: np.ndarray  # (F,)
    bandwidth: np.ndarray  # (F,) b(t) = sqrt(h_t)/alpha_t
    sqrt_h: np.ndarray  # (F,)
    ridges: list  # F lists of (n, 2) polylines, plane coordinates
    ridge_length: np.ndarray  # (F,)
    memorised: np.ndarray  # (F,)
    marks: dict  # rule -> (bandwidth, time or None)
    plane: Plane
    bounds: tuple
    data: np.ndarray  # (N, 2) the training points in the plane


def sweep_times(schedule: Schedule, n: int, marks: dict) -> np.ndarray:
    """``n`` geometric times from t_min to T plus the in-range mark times, sorted increasing."""
    base = np.geomspace(schedule.t_min, schedule.T, n)
    extra = [t for _, t in marks.values() if t is not None]
    return np.unique(np.concatenate([base, np.asarray(extra, dtype=np.float64)]))


def bandwidth_sweep(X: np.ndarray, schedule: Schedule, dim: int = 1, n_times: int = 32, grid: int = 18,
                    seed: int = 0) -> BandwidthSweep:
    """Classical bandwidth marks, and the ridge and memorising fraction at each slider time (one SCMS batch)."""
    X = np.asarray(X, dtype=np.float64)
    plane = data_plane(X)
    dens = SmoothedEmpirical(X, schedule)
    dim = check("dim", dim, Integer(0, dens.D - 1))
    marks = {name: (b, time_for_bandwidth(schedule, b)) for name, b in classical_bandwidths(X, seed).items()}
    times = sweep_times(schedule, n_times, marks)
    data2 = plane.project(X)
    bounds = default_bounds(data2)
    ridges = trace_ridges_projected(dens, times, dim, plane, bounds, grid=grid)
    bw = np.asarray(kde_bandwidth(schedule, times), dtype=np.float64)
    return BandwidthSweep(times, bw, np.sqrt(np.asarray(schedule.h(times))), ridges,
                          np.array([polyline_length(r) for r in ridges]),
                          np.array([memorisation_fraction(X, b, seed=seed) for b in bw]), marks, plane,
                          tuple(map(float, bounds)), data2)


@dataclass
class DensityView:
    """The data page at one time: fields on a grid (2-D data only) and the suggested ridge dimension."""

    t: float
    field: object  # ridgeviz.tracing.RidgeField or None for D > 2
    suggested_dim: int
    gaps: np.ndarray  # (D-1,) median scaled gaps h (l_k - l_{k+1})


def density_view(X: np.ndarray, schedule: Schedule, t: float, dim: int = 1, n: int = 48, bounds=None,
                 seed: int = 0) -> DensityView:
    """Log-density, residual and eigengap fields of ``p_t`` on an ``n x n`` grid, and the suggested ridge dim.

    The suggestion is :func:`ridgeviz.ridge.suggest_ridge_dim` at 256 points drawn from ``p_t``.
    """
    X = np.asarray(X, dtype=np.float64)
    dens = SmoothedEmpirical(X, schedule)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(X), (256,), generator=g)
    pts = float(schedule.alpha(t)) * dens.data[idx] + float(schedule.sigma(t)) * torch.randn(
        (256, dens.D), generator=g, dtype=dens.dtype)
    d, gaps = suggest_ridge_dim(dens, pts, t)
    field = None
    if dens.D == 2:
        field = ridge_fields(dens, t, dim, bounds=bounds or default_bounds(X), n=n)
    return DensityView(float(t), field, d, gaps)


def schedule_curves(schedule: Schedule, n: int = 200) -> dict:
    """alpha_t, sigma_t, SNR and b(t) on ``n`` geometric times from t_min to T: ``{name: (n,)}``."""
    t = np.geomspace(schedule.t_min, schedule.T, n)
    return {"t": t, "alpha": np.asarray(schedule.alpha(t)), "sigma": np.asarray(schedule.sigma(t)),
            "snr": np.asarray(schedule.snr(t)), "bandwidth": np.asarray(kde_bandwidth(schedule, t))}


def slider_label(sweep: BandwidthSweep):
    """``format_func`` for the time slider: t, sqrt(h_t) and the classical rules that land on this t."""
    marked = {t: name for name, _, t in group_marks(sweep.marks) if t is not None}
    lookup = dict(zip(sweep.times.tolist(), sweep.sqrt_h.tolist()))

    def fmt(t: float) -> str:
        tag = f" ◆ {marked[t]}" if t in marked else ""
        return f"t={t:.3g} · √h={lookup.get(t, float('nan')):.3g}{tag}"

    return fmt


def default_time(sweep: BandwidthSweep) -> float:
    """Scott's time if it is on the schedule, else the middle of the slider."""
    t = sweep.marks.get(RULES[0], (None, None))[1]
    return float(t) if t is not None else float(sweep.times[len(sweep.times) // 2])
