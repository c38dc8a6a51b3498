"""Bandwidth views: the diffusion time as a kernel bandwidth, classical bandwidth rules, memorisation.

Rescaled by ``1/alpha_t``, the smoothed empirical density ``p_t`` is a Gaussian kernel density estimate of the
training set with bandwidth ``b(t) = sqrt(h_t) / alpha_t`` (increasing in t for every preset). So a classical
bandwidth ``b`` corresponds to the time ``t`` with ``b(t) = b``; this module finds it, computes the classical
choices (Scott's and Silverman's rules, scikit-learn's cross-validated ``KernelDensity``), and measures how the
ridge and the fraction of memorising samples change across bandwidths. The Data and bandwidth page's animation
is :func:`bandwidth_sweep` (ridges, memorisation, suggested dimension at ~100 times) plus
:func:`bandwidth_fields` (density and eigengap fields per time, quantised to bytes so the browser gets them
compactly), both computed once per dataset and schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..core.density import SmoothedEmpirical
from ..core.ridge import suggest_ridge_dim
from ..core.schedules import Schedule, get_schedule
from ..core.tracing import Plane, data_plane, default_bounds, ridge_fields, trace_ridges_projected
from ..utils.validation import POSITIVE, Integer, Options, check

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


def polyline_length(lines) -> float:
    """Total length of a list of ``(n, 2)`` polylines."""
    return float(sum(np.linalg.norm(np.diff(line, axis=0), axis=1).sum() for line in lines))


def kde_density(X: np.ndarray, b_min: float, b_max: float) -> SmoothedEmpirical:
    """The smoothed empirical density in data units, indexed by the bandwidth ``b`` instead of t.

    ``p_t(x) = alpha_t^{-D} q_{b(t)}(x / alpha_t)`` with ``q_b = (1/N) sum_i N(.; x_i, b^2 I)`` the Gaussian KDE
    of bandwidth ``b = sigma_t / alpha_t``. ``q_b`` is the smoothed empirical density of the EDM schedule
    (``alpha = 1``, ``sigma = t``) at time ``b``, so one density object serves every schedule. The ridge is
    equivariant under the scaling (the Hessian scales by ``alpha_t^{-2}``), so the ridge of ``p_t`` is
    ``alpha_t`` times the ridge of ``q_{b(t)}``, and the scale-free eigengap ``h (l_d - l_{d+1})`` is the same
    at corresponding points.
    """
    edm = get_schedule("edm", T=float(b_max) * 1.01, t_min=float(b_min) * 0.99)
    return SmoothedEmpirical(np.asarray(X, dtype=np.float64), edm)


@dataclass
class BandwidthSweep:
    """Ridges, memorisation and the suggested ridge dimension across the slider's times (F, increasing).

    Positions are in **data units** ``x / alpha_t`` (plane coordinates for D > 2); multiply by ``alpha`` for the
    diffusion's own coordinates.
    """

    times: np.ndarray  # (F,)
    bandwidth: np.ndarray  # (F,) b(t) = sqrt(h_t)/alpha_t
    sqrt_h: np.ndarray  # (F,)
    ridges: list  # F lists of (n, 2) polylines, plane coordinates in data units
    ridge_length: np.ndarray  # (F,) in data units
    memorised: np.ndarray  # (F,)
    marks: dict  # rule -> (bandwidth, time or None)
    plane: Plane
    bounds: tuple  # data units
    data: np.ndarray  # (N, 2) the training points in the plane
    alpha: np.ndarray | None = None  # (F,)
    suggested: np.ndarray | None = None  # (F,) suggested ridge dimension at each time


def sweep_times(schedule: Schedule, n: int, marks: dict) -> np.ndarray:
    """``n`` geometric times from t_min to T plus the in-range mark times, sorted increasing."""
    base = np.geomspace(schedule.t_min, schedule.T, n)
    extra = [t for _, t in marks.values() if t is not None]
    return np.unique(np.concatenate([base, np.asarray(extra, dtype=np.float64)]))


def _suggested_dims(dens: SmoothedEmpirical, bandwidths: np.ndarray, seed: int, n: int = 256) -> np.ndarray:
    """Suggested ridge dimension at each bandwidth, from ``n`` seeded samples ``x_i + b z`` of ``q_b``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for b in bandwidths:
        idx = torch.randint(dens.N, (n,), generator=g)
        pts = dens.data[idx] + float(b) * torch.randn((n, dens.D), generator=g, dtype=dens.dtype)
        out.append(suggest_ridge_dim(dens, pts, float(b))[0])
    return np.array(out, dtype=np.int64)


def bandwidth_sweep(X: np.ndarray, schedule: Schedule, dim: int = 1, n_times: int = 100, grid: int = 18,
                    seed: int = 0, callback=None) -> BandwidthSweep:
    """Classical bandwidth marks, and the ridge, memorising fraction and suggested dim at each slider time.

    The ridges of all times are one batched SCMS run on :func:`kde_density` (data units). ``callback(stage,
    fraction)`` reports progress.
    """
    report = callback or (lambda stage, fraction: None)
    X = np.asarray(X, dtype=np.float64)
    dim = check("dim", dim, Integer(0, X.shape[1] - 1))
    plane = data_plane(X)
    report("classical bandwidths", 0.0)
    marks = {name: (b, time_for_bandwidth(schedule, b)) for name, b in classical_bandwidths(X, seed).items()}
    times = sweep_times(schedule, n_times, marks)
    bw = np.asarray(kde_bandwidth(schedule, times), dtype=np.float64)
    dens = kde_density(X, bw.min(), bw.max())
    data2 = plane.project(X)
    bounds = default_bounds(data2)
    report("tracing the ridge at every bandwidth", 0.1)
    ridges = trace_ridges_projected(dens, bw, dim, plane, bounds, grid=grid)
    report("memorisation and ridge dimension", 0.8)
    memorised = np.array([memorisation_fraction(X, b, seed=seed) for b in bw])
    suggested = _suggested_dims(dens, bw, seed)
    report("done", 1.0)
    return BandwidthSweep(times, bw, np.sqrt(np.asarray(schedule.h(times))), ridges,
                          np.array([polyline_length(r) for r in ridges]), memorised, marks, plane,
                          tuple(map(float, bounds)), data2, np.asarray(schedule.alpha(times), dtype=np.float64),
                          suggested)


UNITS = ("data", "diffusion")
GAP_DECADES = 3  # the eigengap colour scale spans 10^-3 .. 1


@dataclass
class BandwidthFields:
    """The density and eigengap fields of every slider time on one ``n x n`` grid, quantised to bytes.

    ``units``: "data" (grid in ``x / alpha_t``, where the training points sit on their own density) or
    "diffusion" (grid in x; the density's centres are ``alpha_t x_i``). ``density: (F, n, n)`` uint8,
    ``round(255 p / max p)`` per time; ``gap: (F, n, n)`` uint8, 0 where the ridge is undefined (scaled gap
    below ``GAP_TOL``), else ``1 + round(254 (log10 g + 3) / 3)`` of the scaled gap ``g = h (l_d - l_{d+1})``
    clipped to ``[1e-3, 1]``. Arrays are indexed ``[f, iy, ix]``.
    """

    units: str
    xs: np.ndarray  # (n,)
    ys: np.ndarray  # (n,)
    density: np.ndarray  # (F, n, n) uint8
    gap: np.ndarray  # (F, n, n) uint8


def gap_code(scaled_gap: np.ndarray, undefined: np.ndarray) -> np.ndarray:
    """Scaled eigengaps -> uint8 codes (see :class:`BandwidthFields`); ``gap_value`` inverts it for codes >= 1."""
    u = (np.log10(np.clip(scaled_gap, 10.0 ** -GAP_DECADES, 1.0)) + GAP_DECADES) / GAP_DECADES
    return np.where(undefined, 0, 1 + np.round(254 * u)).astype(np.uint8)


def gap_value(code) -> np.ndarray:
    """The scaled gap a code >= 1 stands for (NaN for 0, the undefined code)."""
    code = np.asarray(code, dtype=np.float64)
    return np.where(code >= 1, 10.0 ** ((code - 1) / 254 * GAP_DECADES - GAP_DECADES), np.nan)


def bandwidth_fields(X: np.ndarray, sweep: BandwidthSweep, dim: int = 1, units: str = "data", n: int = 40,
                     callback=None) -> BandwidthFields | None:
    """Density and eigengap fields at every time of ``sweep`` (2-D data; None for D > 2).

    The grid covers ``sweep.bounds`` in the chosen units; in diffusion units the point x is evaluated as
    ``q_b(x / alpha_t)`` (:func:`kde_density`), so both views are exact and share the ridge computation.
    """
    check("units", units, Options(UNITS))
    X = np.asarray(X, dtype=np.float64)
    if X.shape[1] != 2:
        return None
    report = callback or (lambda stage, fraction: None)
    dens = kde_density(X, sweep.bandwidth.min(), sweep.bandwidth.max())
    F = len(sweep.times)
    density, gap = np.zeros((F, n, n), np.uint8), np.zeros((F, n, n), np.uint8)
    xs = ys = None
    for f, (b, a) in enumerate(zip(sweep.bandwidth, sweep.alpha)):
        scale = 1.0 if units == "data" else 1.0 / float(a)
        field = ridge_fields(dens, float(b), dim, bounds=tuple(v * scale for v in sweep.bounds), n=n)
        if xs is None:
            xs, ys = field.xs / scale, field.ys / scale
        density[f] = np.round(255 * np.exp(field.log_prob - np.nanmax(field.log_prob)))
        gap[f] = gap_code(field.scaled_gap, field.undefined)
        if f % 10 == 0:
            report("density and eigengap fields", f / F)
    report("done", 1.0)
    return BandwidthFields(units, xs, ys, density, gap)


def shown_geometry(sweep: BandwidthSweep, units: str = "data") -> dict:
    """What the figure draws in the chosen units: ridges per frame, the training points, axis labels.

    In data units the crosses ``x_i`` sit still; in the diffusion's coordinates the ridge is ``alpha_t`` times
    the data-unit ridge and the crosses move to the centres ``alpha_t x_i`` of ``p_t`` (a list, one per frame).
    """
    check("units", units, Options(UNITS))
    if units == "data":
        return {"ridges": sweep.ridges, "data": sweep.data,
                "labels": tuple(f"{label} / α_t" for label in sweep.plane.labels)}
    ridges = [[float(a) * line for line in lines] for a, lines in zip(sweep.alpha, sweep.ridges)]
    return {"ridges": ridges, "data": [float(a) * sweep.data for a in sweep.alpha], "labels": sweep.plane.labels}


@dataclass
class DensityView:
    """The data page at one time: fields on a grid (2-D data only) and the suggested ridge dimension."""

    t: float
    field: object  # ridgeviz.core.tracing.RidgeField or None for D > 2
    suggested_dim: int
    gaps: np.ndarray  # (D-1,) median scaled gaps h (l_k - l_{k+1})


def density_view(X: np.ndarray, schedule: Schedule, t: float, dim: int = 1, n: int = 48, bounds=None,
                 seed: int = 0) -> DensityView:
    """Log-density, residual and eigengap fields of ``p_t`` on an ``n x n`` grid, and the suggested ridge dim.

    The suggestion is :func:`ridgeviz.core.ridge.suggest_ridge_dim` at 256 points drawn from ``p_t``.
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


def sweep_table(sweep: BandwidthSweep) -> dict:
    """The per-time numbers of a sweep as equal-length columns (the page's CSV export)."""
    cols = {"t": sweep.times, "bandwidth": sweep.bandwidth, "sqrt_h": sweep.sqrt_h, "memorised": sweep.memorised,
            "ridge_length": sweep.ridge_length}
    if sweep.alpha is not None:
        cols["alpha"] = sweep.alpha
    if sweep.suggested is not None:
        cols["suggested_dim"] = sweep.suggested
    return cols


def default_index(sweep: BandwidthSweep) -> int:
    """The slider step shown first: Scott's time if it is on the schedule, else the middle step."""
    return int(np.searchsorted(sweep.times, default_time(sweep)))


def default_time(sweep: BandwidthSweep) -> float:
    """Scott's time if it is on the schedule, else the middle of the slider."""
    t = sweep.marks.get(RULES[0], (None, None))[1]
    return float(t) if t is not None else float(sweep.times[len(sweep.times) // 2])
