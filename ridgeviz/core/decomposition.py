"""Along a trajectory: the model's score error and each step's motion split into normal and tangential parts.

At step ``k`` the frame (Hessian eigenvectors of ``log p_t`` for ridge dimension ``dim``) is taken at the
trajectory point ``xs[k]``. The error is ``e = s_theta - grad log p_t`` (the smoothed *empirical* score, the
data-dependent reference); ``e_perp = P_perp e`` and ``e_par = e - e_perp``. The same split is applied to the
step's drift (its deterministic part: DESIGN.md says to decide align versus slide on the drift, since an SDE
step is dominated by noise) and to the raw displacement. The distance to the ridge is ``|x - proj(x)|`` by
SCMS when ``D <= 3`` (``distance="auto"``) and the residual proxy ``h_t |P_perp grad log p_t|`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..utils.limits import frame_points
from ..utils.validation import Options, check
from .density import SmoothedEmpirical, as_numpy
from .ridge import GAP_TOL, _check_dim, local_frame, project_to_ridge
from .sampling import Trajectory

DISTANCE_KINDS = ("auto", "projection", "proxy")


@dataclass
class TrajectoryGeometry:
    """Ridge geometry along a trajectory with ``K`` steps and ``M`` samples (NumPy float64 arrays)."""

    times: np.ndarray  # (K+1,)
    h: np.ndarray  # (K+1,)
    distance: np.ndarray  # (K+1, M) distance to the ridge
    distance_kind: str  # "projection" or "proxy"
    residual: np.ndarray  # (K+1, M) |P_perp grad log p_t|
    scaled_gap: np.ndarray  # (K+1, M) h_t (l_d - l_{d+1})
    undefined: np.ndarray  # (K+1, M) bool, normal space ill-defined
    drift_normal: np.ndarray  # (K, M) |P_perp drift_k|
    drift_tangential: np.ndarray  # (K, M) |P_par drift_k|
    step_normal: np.ndarray  # (K, M) |P_perp (x_{k+1} - x_k)|
    step_tangential: np.ndarray  # (K, M)


@dataclass
class ErrorDecomposition(TrajectoryGeometry):
    """:class:`TrajectoryGeometry` plus the score error norms at every trajectory point, ``(K+1, M)`` each."""

    error_normal: np.ndarray = None
    error_tangential: np.ndarray = None
    error_total: np.ndarray = None

    def summary(self, quantiles=(0.1, 0.5, 0.9)) -> dict[str, np.ndarray]:
        """Mean and quantiles over samples per time: ``{name: (1 + len(quantiles), K+1)}``."""
        return {name: _bands(getattr(self, name), quantiles)
                for name in ("error_normal", "error_tangential", "distance")}


def _bands(a: np.ndarray, quantiles) -> np.ndarray:
    return np.vstack([a.mean(axis=1), np.quantile(a, quantiles, axis=1)])


def _resolve_distance(kind: str, D: int) -> str:
    kind = check("distance", kind, Options(DISTANCE_KINDS))
    return ("projection" if D <= 3 else "proxy") if kind == "auto" else kind


def _frames_at(dens, traj, dim, rows: slice):
    """Local frames at all samples of the trajectory steps ``rows`` in one batched pass."""
    xs = traj.xs[rows].to(dens.dtype).to(dens.device)
    n, M, D = xs.shape
    t = torch.as_tensor(np.repeat(traj.times[rows], M), dtype=dens.dtype, device=dens.device)
    return local_frame(dens, xs.reshape(n * M, D), t, dim), xs.reshape(n * M, D), t


def trajectory_geometry(dens: SmoothedEmpirical, traj: Trajectory, dim: int, *, distance: str = "auto",
                        gap_tol: float = GAP_TOL, extra=None, chunk_steps: int = 64):
    """Distance to the ridge, residual, gap and the normal/tangential split of drift and displacement.

    ``extra(frame, x, t) -> tuple of (n*M,) tensors`` lets callers compute more per-point quantities from the
    same frames (the error decomposition does). Returns ``(TrajectoryGeometry, list of stacked extras)``.
    """
    dim = _check_dim(dens, dim)
    kind = _resolve_distance(distance, dens.D)
    K1, M, _ = traj.xs.shape
    chunk_steps = max(1, min(chunk_steps, frame_points(dens.D) // max(M, 1)))  # memory bounded at any D
    cols = {k: [] for k in ("distance", "residual", "gap", "undef", "dn", "dt", "sn", "st")}
    extras = []
    steps = (traj.xs[1:] - traj.xs[:-1]).to(dens.dtype).to(dens.device)
    drifts = traj.drifts.to(dens.dtype).to(dens.device)
    for start in range(0, K1, chunk_steps):
        rows = slice(start, min(K1, start + chunk_steps))
        frame, x, t = _frames_at(dens, traj, dim, rows)
        cols["residual"].append(frame.residual)
        cols["gap"].append(frame.scaled_gap)
        cols["undef"].append(frame.undefined(gap_tol))
        if kind == "projection":
            proj = project_to_ridge(dens, x, t, dim, tol=1e-5, max_iter=100, gap_tol=gap_tol)
            cols["distance"].append((proj.points - x).norm(dim=-1))
        else:
            cols["distance"].append(frame.h * frame.residual)
        # split the drift and displacement of the steps that start at these points
        last = min(rows.stop, K1 - 1)
        if last > rows.start:
            m = (last - rows.start) * M
            sub = _subframe(frame, m)
            for key, vec in (("d", drifts[rows.start:last]), ("s", steps[rows.start:last])):
                nrm, tan = sub.split(vec.reshape(m, -1))
                cols[key + "n"].append(nrm.norm(dim=-1))
                cols[key + "t"].append(tan.norm(dim=-1))
        if extra is not None:
            extras.append(extra(frame, x, t))
    cat = {k: as_numpy(torch.cat(v)) if v else np.zeros(0) for k, v in cols.items()}
    full, part = (K1, M), (K1 - 1, M)
    geo = TrajectoryGeometry(
        traj.times.copy(), np.asarray(dens.schedule.h(traj.times), dtype=np.float64),
        cat["distance"].reshape(full), kind, cat["residual"].reshape(full), cat["gap"].reshape(full),
        cat["undef"].astype(bool).reshape(full), cat["dn"].reshape(part), cat["dt"].reshape(part),
        cat["sn"].reshape(part), cat["st"].reshape(part))
    stacked = [as_numpy(torch.cat(parts)).reshape(full) for parts in zip(*extras)] if extras else []
    return geo, stacked


def _subframe(frame, m: int):
    """The first ``m`` points of a frame (the ones that start a step)."""
    return type(frame)(frame.dim, frame.score[:m], frame.eigenvalues[:m], frame.eigenvectors[:m], frame.h[:m])


def decompose_error(model, dens: SmoothedEmpirical, traj: Trajectory, dim: int, *, distance: str = "auto",
                    gap_tol: float = GAP_TOL) -> ErrorDecomposition:
    """Score error ``s_theta - grad log p_t`` split into normal/tangential norms at every trajectory point.

    Returns an :class:`ErrorDecomposition` whose arrays are ``(K+1, M)`` (per point) or ``(K, M)`` (per step).
    Identity: ``error_normal**2 + error_tangential**2 == error_total**2``.
    """

    def error_parts(frame, x, t):
        e = torch.as_tensor(model(x, t), dtype=dens.dtype, device=dens.device) - frame.score
        nrm, tan = frame.split(e)
        return nrm.norm(dim=-1), tan.norm(dim=-1), e.norm(dim=-1)

    geo, (en, et, etot) = trajectory_geometry(dens, traj, dim, distance=distance, gap_tol=gap_tol,
                                              extra=error_parts)
    return ErrorDecomposition(**vars(geo), error_normal=en, error_tangential=et, error_total=etot)
