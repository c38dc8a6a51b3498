"""Drawing the ridge: polylines from SCMS-projected seeds, residual / eigengap fields, and 2-D views of R^D.

Tracing many times at once is one batched SCMS run (each walker carries its own t), which is what makes a
ridge polyline per animation frame affordable. Converged points are linked by a minimum spanning tree over
a radius graph; the tree is cut into chains between its leaves and junctions, so branches (three modes
meeting) and gaps (separate ridges) come out as separate polylines, and a chain whose ends meet is closed.
Data with D > 2 are drawn in the plane of their first two principal axes (:class:`Plane`); the ridge is then
traced in R^D from seeds on that plane and projected back (:func:`trace_ridges_projected`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import cKDTree

from ..utils.validation import Integer, Real, Tuple, check
from .density import SmoothedEmpirical, as_numpy
from .ridge import GAP_TOL, local_frame, project_to_ridge


def default_bounds(data, margin: float = 0.15) -> tuple[float, float, float, float]:
    """A square-ish view box ``(x0, x1, y0, y1)`` around 2-D ``data: (N, 2)`` with a relative margin."""
    x = as_numpy(data)
    lo, hi = x.min(0), x.max(0)
    span = max(float((hi - lo).max()), 1.0)
    pad = margin * span + 1.0
    return (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)


GRID = Integer(2, 1000)  # points per side of a seed lattice or field grid
BOUNDS = Tuple(Real(-1e150, 1e150), 4, 4)


def check_bounds(bounds) -> tuple[float, float, float, float]:
    """A view box ``(x0, x1, y0, y1)``: four finite numbers with ``x0 < x1`` and ``y0 < y1``; else ``ValueError``."""
    b = check("bounds", bounds, BOUNDS)
    if not (b[0] < b[1] and b[2] < b[3]):
        raise ValueError(f"bounds must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1; got {b}")
    return b


def _grid(bounds, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = np.linspace(bounds[0], bounds[1], n)
    ys = np.linspace(bounds[2], bounds[3], n)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=1)


def _check_2d(dens: SmoothedEmpirical):
    if dens.D != 2:
        raise ValueError(f"ridge drawing needs 2-D data; got D = {dens.D} (project the data first)")


def chain_points(points: np.ndarray, link: float) -> list[np.ndarray]:
    """Order scattered ridge points ``(P, 2)`` into polylines; neighbours further apart than ``link`` are cut."""
    if len(points) < 2:
        return []
    tree = cKDTree(points)
    pairs = tree.query_pairs(link, output_type="ndarray")
    if len(pairs) == 0:
        return []
    d = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1) + 1e-12
    n = len(points)
    mst = minimum_spanning_tree(coo_matrix((d, (pairs[:, 0], pairs[:, 1])), shape=(n, n))).tocoo()
    adj: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(mst.row, mst.col):
        adj[i].append(j)
        adj[j].append(i)
    deg = np.array([len(a) for a in adj])
    seen: set[tuple[int, int]] = set()
    lines = []
    for start in np.flatnonzero((deg != 2) & (deg > 0)):
        for nb in adj[start]:
            if (start, nb) in seen:
                continue
            path, prev, cur = [start, nb], start, nb
            seen.update({(start, nb), (nb, start)})
            while deg[cur] == 2:
                nxt = adj[cur][0] if adj[cur][0] != prev else adj[cur][1]
                seen.update({(cur, nxt), (nxt, cur)})
                path.append(nxt)
                prev, cur = cur, nxt
            line = points[path]
            if len(path) > 3 and np.linalg.norm(line[0] - line[-1]) <= link and deg[path[0]] == deg[path[-1]] == 1:
                line = np.vstack([line, line[:1]])
            lines.append(line)
    return lines


def trace_ridges(dens: SmoothedEmpirical, times, dim: int = 1, *, bounds=None, seeds=None, grid: int = 24,
                 min_density: float = 1e-3, tol: float = 1e-5, max_iter: int = 200,
                 gap_tol: float = GAP_TOL) -> list[list[np.ndarray]]:
    """Polylines of the 2-D ridge ``R_t^dim`` at each time in ``times: (F,)``.

    Seeds are a ``grid x grid`` lattice over ``bounds`` (or ``seeds: (S, 2)``), projected by SCMS at every
    time in one batch. A point is kept when it is on the ridge (converged, defined gap, concave), inside
    ``bounds``, and where ``p_t`` is at least ``min_density`` times its largest value among the kept
    candidates (the mixture's ridge runs off to infinity along its axes; this stops the drawing where
    there is no mass). Returns one list of ``(n, 2)`` arrays per time.
    """
    _check_2d(dens)
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    bounds = default_bounds(dens.data) if bounds is None else check_bounds(bounds)
    grid = check("grid", grid, GRID)
    if seeds is None:
        _, _, seeds = _grid(bounds, grid)
        link = 2.5 * max(bounds[1] - bounds[0], bounds[3] - bounds[2]) / (grid - 1)
    else:
        seeds = as_numpy(seeds)
        link = 2.5 * max(bounds[1] - bounds[0], bounds[3] - bounds[2]) / max(np.sqrt(len(seeds)) - 1, 1)
    S = len(seeds)
    x0 = np.tile(seeds, (len(times), 1))
    t_all = np.repeat(times, S)
    proj = project_to_ridge(dens, x0, torch.as_tensor(t_all), dim, tol=tol, max_iter=max_iter, gap_tol=gap_tol)
    pts = as_numpy(proj.points)
    keep = as_numpy(proj.on_ridge).astype(bool)
    keep &= (pts[:, 0] >= bounds[0]) & (pts[:, 0] <= bounds[1]) & (pts[:, 1] >= bounds[2]) & (pts[:, 1] <= bounds[3])
    logp = np.full(len(pts), -np.inf)
    if keep.any():
        logp[keep] = as_numpy(dens.log_prob(pts[keep], torch.as_tensor(t_all[keep])))
    out = []
    for f in range(len(times)):
        sl = slice(f * S, (f + 1) * S)
        k, p, lp = keep[sl], pts[sl], logp[sl]
        if k.any():
            k &= lp >= lp[k].max() + np.log(min_density)
        out.append(chain_points(_dedupe(p[k], link * 1e-3), link))
    return out


def trace_ridge(dens: SmoothedEmpirical, t: float, dim: int = 1, **kwargs) -> list[np.ndarray]:
    """Polylines of the ridge at one time ``t``; see :func:`trace_ridges`."""
    return trace_ridges(dens, [t], dim, **kwargs)[0]


def _dedupe(points: np.ndarray, eps: float) -> np.ndarray:
    if len(points) < 2:
        return points
    q = np.round(points / max(eps, 1e-12)).astype(np.int64)
    _, idx = np.unique(q, axis=0, return_index=True)
    return points[np.sort(idx)]


def polylines_to_xy(lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate polylines into x and y arrays separated by NaN (one Plotly trace draws them all)."""
    if not lines:
        return np.array([]), np.array([])
    parts = []
    for line in lines:
        parts.extend([line, np.full((1, 2), np.nan)])
    xy = np.vstack(parts)[:-1]
    return xy[:, 0], xy[:, 1]


@dataclass
class RidgeField:
    """Fields of the ridge geometry on an ``n x n`` grid (arrays indexed ``[iy, ix]``)."""

    xs: np.ndarray  # (n,)
    ys: np.ndarray  # (n,)
    log_prob: np.ndarray  # (n, n)
    residual: np.ndarray  # (n, n) |P_perp grad log p_t|
    length_residual: np.ndarray  # (n, n) h_t |P_perp grad log p_t| (a distance)
    scaled_gap: np.ndarray  # (n, n) h_t (l_d - l_{d+1})
    undefined: np.ndarray  # (n, n) bool, scaled gap below gap_tol


def ridge_fields(dens: SmoothedEmpirical, t: float, dim: int = 1, *, bounds=None, n: int = 60,
                 gap_tol: float = GAP_TOL) -> RidgeField:
    """Residual, eigengap and log-density of ``p_t`` on a grid over ``bounds`` (2-D data only)."""
    _check_2d(dens)
    n = check("n", n, GRID)
    bounds = default_bounds(dens.data) if bounds is None else check_bounds(bounds)
    xs, ys, pts = _grid(bounds, n)
    frame = local_frame(dens, pts, t, dim)
    lp = dens.log_prob(pts, t)
    shape = (n, n)
    res = as_numpy(frame.residual)
    return RidgeField(xs, ys, as_numpy(lp).reshape(shape), res.reshape(shape),
                      (res * as_numpy(frame.h)).reshape(shape), as_numpy(frame.scaled_gap).reshape(shape),
                      as_numpy(frame.undefined(gap_tol)).astype(bool).reshape(shape))


# -- a 2-D view of R^D ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Plane:
    """A 2-D view of R^D: ``coords = (x - mean) @ basis``; identity for D = 2."""

    mean: np.ndarray  # (D,)
    basis: np.ndarray  # (D, 2) orthonormal columns
    labels: tuple[str, str]

    def project(self, x: np.ndarray) -> np.ndarray:
        """``x: (..., D)`` -> ``(..., 2)``."""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.basis

    def lift(self, uv: np.ndarray) -> np.ndarray:
        """``uv: (S, 2)`` -> points of the plane in R^D, ``(S, D)``."""
        return self.mean + np.asarray(uv, dtype=np.float64) @ self.basis.T


def data_plane(X: np.ndarray) -> Plane:
    """Identity view for 2-D data; the first two principal axes of ``X: (N, D)`` otherwise (signs fixed)."""
    X = np.asarray(X, dtype=np.float64)
    N, D = X.shape
    if D < 2:
        raise ValueError(f"data: the 2-D views need at least 2 dimensions; got D = {D}")
    if D == 2:
        return Plane(np.zeros(2), np.eye(2), ("x1", "x2"))
    mean = X.mean(0)
    _, sv, vh = np.linalg.svd(X - mean, full_matrices=False)
    basis = vh[:2].T if len(vh) >= 2 else np.eye(D)[:, :2]
    basis = basis * np.where(basis[np.abs(basis).argmax(0), [0, 1]] < 0, -1.0, 1.0)
    share = sv[:2] ** 2 / max(float((sv ** 2).sum()), 1e-300)
    return Plane(mean, basis, (f"PC1 ({100 * share[0]:.0f}% of variance)", f"PC2 ({100 * share[1]:.0f}%)"))


def trace_ridges_projected(dens: SmoothedEmpirical, times, dim: int, plane: Plane, bounds, grid: int = 20,
                           min_density: float = 1e-3) -> list[list[np.ndarray]]:
    """Ridge polylines at each time in plane coordinates, for any D.

    For D = 2 with the identity plane this is :func:`ridgeviz.tracing.trace_ridges`. Otherwise seeds on a
    ``grid x grid`` lattice of the plane are lifted to R^D, moved onto ``R_t^dim`` by SCMS, projected back, and
    chained; only converged on-ridge points where ``p_t`` has mass are kept (as in ``trace_ridges``).
    """
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    grid, bounds = check("grid", grid, GRID), check_bounds(bounds)
    if dens.D == 2 and np.allclose(plane.basis, np.eye(2)) and not plane.mean.any():
        return trace_ridges(dens, times, dim, bounds=bounds, grid=grid)
    u, v = np.linspace(bounds[0], bounds[1], grid), np.linspace(bounds[2], bounds[3], grid)
    seeds = plane.lift(np.stack(np.meshgrid(u, v), -1).reshape(-1, 2))
    S = len(seeds)
    t_all = np.repeat(times, S)
    proj = project_to_ridge(dens, np.tile(seeds, (len(times), 1)), torch.as_tensor(t_all), dim, tol=1e-5,
                            max_iter=200)
    keep = as_numpy(proj.on_ridge).astype(bool)
    pts = as_numpy(proj.points)
    uv = plane.project(pts)
    keep &= (uv[:, 0] >= bounds[0]) & (uv[:, 0] <= bounds[1]) & (uv[:, 1] >= bounds[2]) & (uv[:, 1] <= bounds[3])
    logp = np.full(len(pts), -np.inf)
    if keep.any():
        logp[keep] = as_numpy(dens.log_prob(pts[keep], torch.as_tensor(t_all[keep])))
    link = 2.5 * max(bounds[1] - bounds[0], bounds[3] - bounds[2]) / (grid - 1)
    out = []
    for f in range(len(times)):
        sl = slice(f * S, (f + 1) * S)
        k = keep[sl].copy()
        if k.any():
            k &= logp[sl] >= logp[sl][k].max() + math.log(min_density)
        out.append(chain_points(uv[sl][k], link))
    return out
