"""Ridge analysis in the MNIST latent: residual evolution, on/off-ridge split, memorisation check.

For reverse-time samples ``x_t`` in the latent ``R^D`` (D = 32) and ridge dimension ``d`` (the authors' code uses 25):

- the **ridge residual** ``r(x,t) = |P_perp grad log p_t(x)|``, reported three ways: raw (1/length), as a
  length ``h_t r`` (the size of the SCMS step), and **normalised by the batch maximum** at each recorded time,
  as the histograms of the authors' code do;
- the **curvature check** ``l_{d+1}(x) < 0`` and the **eigengap filter**: where the scale-free gap
  ``h_t (l_d - l_{d+1})`` is below ``gap_tol`` the normal space is undefined and the residual is rounding noise
  (near isolated latents at t = 1e-3); such samples are labelled "ridge undefined", never dropped;
- the **ridge deviation evolution**: the residual histogram at each recorded time from T = 10 down to 1e-3
  (reach, then align);
- the **on/off-ridge split** of the final samples by the thresholds of the authors' code: normalised residual ``< 0.5``
  with ``l_{d+1} < 0`` is on the ridge, ``> 0.6`` (or failing the curvature check) off it, in between
  neither; and the distance of each sample to its nearest training latent (the memorisation check).

The whole experiment (sampling, the split, galleries, tracked trajectories, statistics) is
:mod:`ridgeviz.views.mnist`.

The frame is the core's one implementation, :func:`ridgeviz.local_frame` (the Hessian from the posterior
moments as matrix products, :mod:`ridgeviz.core.posterior`; eigenvalues in descending order), taken in chunks of
queries so only ``chunk`` Hessians are held at a time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..core.density import SmoothedEmpirical, as_numpy
from ..core.ridge import GAP_TOL, check_ridge_dim, local_frame, suggest_ridge_dim
from ..utils.validation import Integer, Options, check

PAPER_DIM = 25  # the ridge dimension of the authors' code in the 32-dimensional latent
ON_THRESHOLD, OFF_THRESHOLD = 0.5, 0.6  # the authors' code's thresholds on the batch-max-normalised residual
CATEGORIES = ("on ridge", "between", "off ridge", "ridge undefined")
ON, BETWEEN, OFF, UNDEFINED = range(4)


@dataclasses.dataclass
class LatentFrames:
    """Residual and spectrum summaries at ``M`` points (float64 NumPy arrays, ``(M,)`` each)."""

    residual: np.ndarray  # |P_perp grad log p_t|
    scaled_gap: np.ndarray  # h_t (l_d - l_{d+1})
    normal_curvature: np.ndarray  # l_{d+1}
    h: float


def latent_frames(dens: SmoothedEmpirical, x, t: float, dim: int, *, chunk: int = 2048) -> LatentFrames:
    """Ridge residual ``|P_perp grad log p_t|``, scaled gap and ``l_{d+1}`` at ``x: (M, D)`` for one time ``t``.

    The summaries of :func:`ridgeviz.local_frame` (``.residual``, ``.scaled_gap``, ``.eigenvalues[:, d]``),
    ``chunk`` queries at a time.
    """
    dim = check_ridge_dim(dens, dim)
    x = dens.as_points(x)
    t = float(dens.schedule.check_times(t, 1)[0])
    chunk = check("chunk", chunk, Integer(1, None))
    res, gap, curv = [], [], []
    for i in range(0, x.shape[0], chunk):
        f = local_frame(dens, x[i:i + chunk], t, dim)
        res.append(as_numpy(f.residual))
        gap.append(as_numpy(f.scaled_gap))
        curv.append(as_numpy(f.eigenvalues[:, dim]))
    cat = (np.concatenate(v) if v else np.zeros(0) for v in (res, gap, curv))
    return LatentFrames(*cat, float(dens.schedule.h(t)))


def suggest_latent_dim(dens: SmoothedEmpirical, t: float, max_probe: int = 2048) -> tuple[int, np.ndarray]:
    """The ridge dimension the training latents suggest at time ``t``: :func:`~ridgeviz.core.ridge.suggest_ridge_dim`
    at ``alpha_t x_i`` for every training latent (an even subsample of at most ``max_probe``).

    The one probe the MNIST page and ``reproduce mnist`` share: with the ones' latent the median gaps after
    k = 1 and k = 3 are nearly tied (0.214 and 0.217 at t = 0.1), so a smaller probe flips the answer between them.
    """
    X = dens.data
    probe = X[:: -(-len(X) // max_probe)] * float(dens.schedule.alpha(t))
    return suggest_ridge_dim(dens, probe, t)


def record_steps(times, count: int = 11) -> np.ndarray:
    """Indices of ``count`` grid times spaced evenly in log t from ``times[0]`` to ``times[-1]`` (nearest, unique).

    With the authors' code's grid (T = 10, t_min = 1e-3, geometric, K a multiple of 10) these are exactly
    t = 10, 10^0.6, ..., 10^-3.
    """
    times = np.asarray(times, dtype=np.float64)
    count = check("count", count, Integer(2, None))
    targets = np.geomspace(times[0], times[-1], count)
    idx = np.abs(np.log(times)[None, :] - np.log(targets)[:, None]).argmin(1)
    return np.unique(idx)


@dataclasses.dataclass
class RidgeDeviation:
    """The residual of ``M`` samples at ``R`` recorded times (``(R, M)`` arrays): the ridge deviation evolution."""

    dim: int
    times: np.ndarray  # (R,) decreasing
    h: np.ndarray  # (R,)
    residual: np.ndarray  # (R, M) |P_perp grad log p_t|
    scaled_gap: np.ndarray  # (R, M)
    normal_curvature: np.ndarray  # (R, M) l_{d+1}
    gap_tol: float = GAP_TOL

    @property
    def length(self) -> np.ndarray:
        """``h_t r``: the residual as a length (the SCMS step), ``(R, M)``."""
        return self.h[:, None] * self.residual

    @property
    def normalised(self) -> np.ndarray:
        """``r / max(r over the batch)`` at each time, as the authors' code plots it: ``(R, M)`` in [0, 1]."""
        peak = self.residual.max(axis=1, keepdims=True)
        return self.residual / np.where(peak > 0, peak, 1.0)

    @property
    def undefined(self) -> np.ndarray:
        return self.scaled_gap < self.gap_tol

    @property
    def concave(self) -> np.ndarray:
        return self.normal_curvature < 0

    def histograms(self, bins: int = 25, value: str = "normalised") -> tuple[np.ndarray, np.ndarray]:
        """Histogram of ``value`` ("normalised" or "length") at each time: edges ``(bins+1,)``, counts ``(R, bins)``."""
        value = check("value", value, Options(("normalised", "length")))
        v = getattr(self, value)
        hi = 1.0 if value == "normalised" else float(v.max()) or 1.0
        edges = np.linspace(0.0, hi, bins + 1)
        return edges, np.stack([np.histogram(row, edges)[0] for row in v])

    def summary(self) -> list[dict]:
        """Per recorded time: median raw/length residual, fractions with undefined normal space and concave."""
        return [{"t": float(t), "h": float(h), "residual_median": float(np.median(r)),
                 "length_median": float(np.median(h * r)), "undefined": float(np.mean(u)),
                 "concave": float(np.mean(c))}
                for t, h, r, u, c in zip(self.times, self.h, self.residual, self.undefined, self.concave)]


def ridge_deviation(dens: SmoothedEmpirical, xs, times, dim: int, *, gap_tol: float = GAP_TOL,
                    progress=None) -> RidgeDeviation:
    """Residuals of the samples ``xs: (R, M, D)`` at their times ``times: (R,)`` (one batch per time).

    ``progress(r, R)`` is called after each time. Same numbers as :func:`ridgeviz.ridge_residual` per time.
    """
    xs = torch.as_tensor(xs).to(dens.dtype)
    times = np.asarray(times, dtype=np.float64)
    if xs.ndim != 3 or xs.shape[0] != len(times):
        raise ValueError(f"xs must be (R, M, D) with R = len(times) = {len(times)}; got {tuple(xs.shape)}")
    out = []
    for r, t in enumerate(times):
        out.append(latent_frames(dens, xs[r], float(t), dim))
        if progress is not None:
            progress(r, len(times))
    h = np.array([f.h for f in out])
    return RidgeDeviation(dim, times, h, *(np.stack([getattr(f, k) for f in out])
                                           for k in ("residual", "scaled_gap", "normal_curvature")), gap_tol)


def classify(normalised, undefined, concave, on: float = ON_THRESHOLD, off: float = OFF_THRESHOLD) -> np.ndarray:
    """Codes into :data:`CATEGORIES` per sample (all ``(M,)``): the authors' code's on/off-ridge split plus "undefined".

    on ridge: normalised residual ``< on`` and ``l_{d+1} < 0``; off ridge: ``> off`` or ``l_{d+1} >= 0``;
    between: neither; ridge undefined: the eigengap filter failed (checked first).
    """
    if not 0 < on <= off <= 1:
        raise ValueError(f"thresholds must satisfy 0 < on <= off <= 1; got on={on}, off={off}")
    normalised, undefined, concave = map(np.asarray, (normalised, undefined, concave))
    codes = np.full(normalised.shape, BETWEEN, dtype=np.int8)
    codes[(normalised < on) & concave] = ON
    codes[(normalised > off) | ~concave] = OFF
    codes[undefined] = UNDEFINED
    return codes


def pick_gallery(codes, values, category: int, count: int) -> np.ndarray:
    """Up to ``count`` indices of samples in ``category``, evenly spaced along their sorted ``values``.

    Spacing along the sorted residual shows the whole range of the group rather than its extremes.
    """
    members = np.flatnonzero(np.asarray(codes) == category)
    if len(members) == 0 or count < 1:
        return members[:0]
    members = members[np.argsort(np.asarray(values)[members], kind="stable")]
    take = np.unique(np.linspace(0, len(members) - 1, min(count, len(members))).round().astype(int))
    return members[take]


