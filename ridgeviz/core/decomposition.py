"""Along a trajectory: the ridge geometry, and the score error and each step's motion split normal / tangential.

The frame (Hessian eigenvectors of ``log p_t`` for ridge dimension ``dim``) is taken at the trajectory point
``xs[k]`` (``frame="point"``, cheap) or at its SCMS ridge projection (``frame="projection"``, the 2-D
option). The error is ``e = s_theta - grad log p_t`` (the smoothed *empirical* score, the data-dependent
reference); ``e_perp = P_perp e`` and ``e_par = e - e_perp``. The same split is applied to each step's drift
(its deterministic part) and to the raw displacement.

**Distance to the ridge.** ``distance="projection"`` (``"auto"`` when ``D <= 3``): ``|x - proj(x)|`` by SCMS, kept
only where the projection converged to a point with ``l_{d+1} < 0`` and where the ridge is defined both at the
sample and at its projection (scaled eigengap ``>= gap_tol``); NaN elsewhere, and such points count as
*undefined*. Projections skipped: SCMS runs only from points whose scaled gap at the sample is at least
``PROJECT_GAP_FRACTION = 0.5`` of ``gap_tol``; below it the point is undefined whatever its projection (the gap at
the sample enters the test), and half leaves the sensitivity table's halved ``gap_tol`` exact. Where it is skipped
``distance_all`` and the per-step normal/tangential splits are NaN (as wherever a ridge point is missing) and the
"ridge point" is the sample itself. In the default 2-D run this skips 59% of the
sample-steps (``p_t`` one blob at large t, isolated points at small t), which are also the slowest to project.
``distance="proxy"`` (``"auto"`` when ``D > 3``): ``h_t |P_perp grad log p_t|``. The proxy is a
**lower bound** on the distance to first order *where the ridge frame does not turn between the sample and the
ridge*: there the offset is ``u = H_perp^{-1} P_perp g`` and every normal eigenvalue of the Hessian is
``>= -1/h_t`` (``H = -I/h + (alpha^2/h^2) Cov_w``, ``Cov_w >= 0``), so ``|u| >= h_t |P_perp g|``, with equality only
where the posterior has no spread along the normal. Where the frame turns, ``P_perp(x)`` leaks part of the
(often much larger) tangential gradient into the residual and the proxy can exceed the distance. Measured against
SCMS along EM and ODE trajectories of the exact score (OU, 128 samples, 100 steps): on a 40-point ring the proxy
was at most 1.002 x the distance; on the 6-point and 13-point sets and a noisy parabola it was below the
distance at 80-98% of the points (median ratio 0.66-0.97) and above it, by up to 1.9x, at the rest.

**What the phase rule reads** (:mod:`ridgeviz.core.phases`), per step ``k`` and computed from the scores that
drove the sampler (``traj.scores``, so no model is needed): the tangential part of the driving error
``|P_par e|`` (``error_push``), the exact score's own tangential part ``|P_par grad log p_t|`` (``exact_pull``),
and the relaxation of the normal offset over the step in e-folds (``relaxation``; see :func:`relaxation_efolds`).

**Reusing the sampler's scores** (the contract in :class:`~ridgeviz.core.sampling.Trajectory`): when the
analysed model is the one that produced ``traj.scores`` (``traj.score_model is model``), its score at the K
stepped points is taken from the trajectory and the model is evaluated only at the final positions, which the
sampler never evaluated; any other model is evaluated at every point.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..utils.limits import frame_points
from ..utils.validation import POSITIVE, Options, check
from .density import SmoothedEmpirical, as_numpy
from .outcomes import nearest_points
from .ridge import GAP_TOL, check_ridge_dim, local_frame, project_to_ridge
from .sampling import Trajectory, scores_for, step_coefficients

DISTANCE_KINDS = ("auto", "projection", "proxy")
FRAME_KINDS = ("point", "projection")
DISTANCE_NOTES = {
    "projection": "|x - proj(x)| by SCMS, where it converged to a ridge point with a defined normal space",
    "proxy": "residual proxy h_t |P_perp grad log p_t| (to first order a lower bound on the distance where the "
             "ridge frame does not turn; not a bound in general)",
}
# differences between a model's score and the exact score below this fraction of their size are rounding (two
# code paths computing the same exact score), not error
ROUNDING = 1e-10
#: SCMS runs only from points whose scaled gap is at least this fraction of ``gap_tol`` (module docstring).
PROJECT_GAP_FRACTION = 0.5


@dataclass
class TrajectoryGeometry:
    """Ridge geometry along a trajectory with ``K`` steps and ``M`` samples (NumPy float64 arrays).

    Per point ``(K+1, M)``: ``distance`` (NaN where undefined), ``distance_all`` (the same before masking by the
    eigengap), ``residual``, ``scaled_gap`` (at the point), ``ridge_gap`` (the smaller of the scaled gaps at the
    point and at its projection), ``on_ridge`` (SCMS reached a ridge point; always true for the proxy),
    ``undefined``. Per step ``(K, M)``: normal / tangential norms of the drift and of the displacement, and the
    phase rule's inputs ``relaxation``, ``error_push``, ``exact_pull`` (module docstring).
    """

    times: np.ndarray  # (K+1,)
    h: np.ndarray  # (K+1,)
    distance: np.ndarray  # (K+1, M)
    distance_kind: str  # "projection" or "proxy"
    residual: np.ndarray  # (K+1, M) |P_perp grad log p_t| at the point
    scaled_gap: np.ndarray  # (K+1, M) h_t (l_d - l_{d+1}) at the point
    undefined: np.ndarray  # (K+1, M) bool
    drift_normal: np.ndarray  # (K, M) |P_perp drift_k|
    drift_tangential: np.ndarray  # (K, M) |P_par drift_k|
    step_normal: np.ndarray  # (K, M) |P_perp (x_{k+1} - x_k)|
    step_tangential: np.ndarray  # (K, M)
    distance_all: np.ndarray = None  # (K+1, M)
    ridge_gap: np.ndarray = None  # (K+1, M)
    on_ridge: np.ndarray = None  # (K+1, M) bool
    relaxation: np.ndarray = None  # (K, M) e-folds of the normal offset over step k
    error_push: np.ndarray = None  # (K, M) |P_par e| of the driving model's error at xs[k]
    exact_pull: np.ndarray = None  # (K, M) |P_par grad log p_t| at xs[k]
    level: np.ndarray = None  # (K, M) normal offset the step's linear recursion settles at (normal_level)
    pull_along: np.ndarray = None  # (K, M) B |P_par grad log p_t| (balance of the tangential parts)
    push_against: np.ndarray = None  # (K, M) B x the error's tangential push against the pull (signed)
    push_across: np.ndarray = None  # (K, M) B x the error's tangential push across the pull's direction
    pull_all: np.ndarray = None  # (K, M) the same three for the whole exact score and error (balance)
    push_against_all: np.ndarray = None  # (K, M)
    push_across_all: np.ndarray = None  # (K, M)
    nn_distance: np.ndarray = None  # (K+1, M) d_1: distance of x / alpha_t to the nearest training point
    nn_ratio: np.ndarray = None  # (K+1, M) d_1 / d_2 (nearest_points)
    nn_blob: np.ndarray = None  # (K+1, M) bool: inside the nearest training point's round blob (nearest_points)
    nn_resolved: np.ndarray = None  # (K+1, M) bool: the nearest training point is a mode of p_t of its own
    gap_tol: float = GAP_TOL
    frame: str = "point"
    ridge_points: np.ndarray = None  # (K+1, M, D) the SCMS projections (distance="projection" only)

    def subset(self, samples) -> "TrajectoryGeometry":
        """The same geometry for the samples ``samples`` (an index array or slice over M)."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[:, samples] for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), np.ndarray)
                                            and getattr(self, f.name).ndim >= 2})

    def defined(self, gap_tol: float | None = None) -> np.ndarray:
        """``(K+1, M)`` bool: the ridge is defined at the point and at its projection for ``gap_tol``."""
        tol = self.gap_tol if gap_tol is None else gap_tol
        return (self.ridge_gap >= tol) & self.on_ridge


@dataclass
class ErrorDecomposition(TrajectoryGeometry):
    """:class:`TrajectoryGeometry` plus the analysed model's score error norms at every point, ``(K+1, M)`` each."""

    error_normal: np.ndarray = None
    error_tangential: np.ndarray = None
    error_total: np.ndarray = None

    def summary(self, quantiles=(0.1, 0.5, 0.9)) -> dict[str, np.ndarray]:
        """Mean and quantiles over the samples where the ridge is defined, per time: ``{name: (1+Q, K+1)}``.

        Undefined points (no normal space, or no converged projection) are left out; a time at which no sample
        is defined gives NaN.
        """
        return {name: masked_bands(getattr(self, name), ~self.undefined, quantiles)
                for name in ("error_normal", "error_tangential", "distance")}

    def mean_where_defined(self) -> dict[str, float]:
        """Means over every defined point: ``{"error_normal", "error_tangential", "error_total", "distance"}``."""
        ok = ~self.undefined
        return {name: float(getattr(self, name)[ok].mean()) if ok.any() else float("nan")
                for name in ("error_normal", "error_tangential", "error_total", "distance")}


def masked_bands(a: np.ndarray, ok: np.ndarray, quantiles) -> np.ndarray:
    """Per row of ``a: (K+1, M)``, mean and ``quantiles`` over the entries where ``ok``: ``(1+Q, K+1)``."""
    vals = np.where(ok, a, np.nan)
    out = np.full((1 + len(quantiles), a.shape[0]), np.nan)
    rows = ok.any(axis=1)
    if rows.any():
        out[0, rows] = np.nanmean(vals[rows], axis=1)
        out[1:, rows] = np.nanquantile(vals[rows], quantiles, axis=1)
    return out


def _resolve(kind: str, choices, name: str) -> str:
    return check(name, kind, Options(tuple(choices)))


def _resolve_distance(kind: str, D: int) -> str:
    _resolve(kind, DISTANCE_KINDS, "distance")
    return ("projection" if D <= 3 else "proxy") if kind == "auto" else kind


def relaxation_efolds(A: float, B: float, lam: torch.Tensor) -> torch.Tensor:
    """E-folds by which one sampler step shrinks a normal offset, relative to the ridge's own dilation.

    Linearised near the ridge, the offset ``u`` along a normal eigenvector with eigenvalue ``lam`` obeys
    ``u' = (1 + A + B lam) u + B e_perp`` for a step ``drift = A x + B s`` (``step_coefficients``), while the ridge
    itself is dilated by ``1 + A``. The co-moving offset is multiplied by ``rho = 1 + B lam / (1 + A)``; this
    returns ``-log|rho|`` (negative where the offset grows, e.g. ``lam >= 0``). ``lam: (M,)``.
    """
    return -torch.log(torch.abs(1.0 + B * lam / (1.0 + A)).clamp_min(1e-300))


def normal_level(frame, e: torch.Tensor, A, B, q) -> torch.Tensor:
    """The normal offset a step's linear recursion settles at: ``(m,)``, ``inf`` where it does not relax.

    Along each normal eigenvector ``v_j`` (eigenvalue ``l_j``) the offset obeys ``c' = (1 + A + B l_j) c + B e_j``
    plus noise of variance ``q`` (:mod:`ridgeviz.core.laws`); its fixed point is ``c_j* = B e_j / (-A - B l_j)`` with
    stationary variance ``q / (1 - (1 + A + B l_j)^2)``. The level is ``sqrt(sum_j c_j*^2 + Var_j*)``: about
    ``h_t |e_perp|`` for the probability-flow ODE and ``sqrt(h_t / 2)`` per normal direction for the SDE's noise.
    ``e: (m, D)`` the error; ``A, B, q: (m,)``.
    """
    vn, lam = frame.eigenvectors[:, :, frame.dim:], frame.eigenvalues[:, frame.dim:]
    rho = 1.0 + A[:, None] + B[:, None] * lam
    rate = -(A[:, None] + B[:, None] * lam)  # 1 - rho
    c = B[:, None] * torch.einsum("mdk,md->mk", vn, e) / rate
    var = q[:, None] / (1.0 - rho**2)
    ok = (rate > 0) & (rho.abs() < 1)
    return torch.where(ok.all(dim=1), (c**2 + var).sum(dim=1).sqrt(), torch.full_like(A, float("inf")))


def balance(pull: torch.Tensor, push: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """How the exact score's pull and the error's push share a motion: three ``(m,)`` tensors from ``(m, D)``.

    ``along = |pull|``, ``against = -<push, u>`` with ``u`` the pull's direction (positive where the error opposes
    the pull) and ``across = |push - <push, u> u|`` (the push across the pull's direction). Where there is no pull,
    ``u`` is minus the push's direction. Applied to the tangential parts ``P_par grad log p_t`` (the pull toward the
    modes of ``p_t`` on the ridge, which become the training points) and ``P_par e``, or to the whole vectors
    (inside one training point's round blob, where the ridge is undefined and the pull goes straight to the point).
    """
    along = pull.norm(dim=-1)
    u = torch.where((along > 0)[:, None], pull / along.clamp_min(1e-300)[:, None],
                    -push / push.norm(dim=-1).clamp_min(1e-300)[:, None])
    par = (push * u).sum(-1)
    return along, -par, (push - par[:, None] * u).norm(dim=-1)


def _step_table(traj: Trajectory, sched, rows: range):
    return [step_coefficients(traj.method, sched, float(traj.times[k]), float(traj.times[k + 1])) for k in rows]


def _norms(frame, vec):
    nrm, tan = frame.split(vec)
    return nrm.norm(dim=-1), tan.norm(dim=-1)


class _Columns(dict):
    def add(self, key, value):
        self.setdefault(key, []).append(value)


def _analysed_scores(model, traj, rows: slice, x, t, K: int, dens):
    """The analysed model's scores at the chunk's points, reusing the sampler's where the tag allows."""
    start, stop = rows.start, rows.stop
    stored = scores_for(model, traj, slice(start, min(stop, K)), dens.dtype, dens.device)
    if stored is None:
        return torch.as_tensor(model(x, t), dtype=dens.dtype, device=dens.device)
    M = traj.xs.shape[1]
    parts = [stored.reshape(-1, stored.shape[-1])]
    if stop > K:  # the final positions: the sampler never evaluated the model there
        parts.append(torch.as_tensor(model(x[(K - start) * M:], t[(K - start) * M:]), dtype=dens.dtype,
                                     device=dens.device))
    return torch.cat(parts)


def _chunk(dens, traj, dim, rows: slice, kind, frame_kind, gap_tol, model, coeffs, cols):
    K1, M, D = traj.xs.shape
    K = K1 - 1
    xs = traj.xs[rows].to(dens.dtype).to(dens.device)
    n = xs.shape[0]
    x = xs.reshape(n * M, D)
    t = torch.as_tensor(np.repeat(traj.times[rows], M), dtype=dens.dtype, device=dens.device)
    at_point = local_frame(dens, x, t, dim)
    frame, ok = at_point, torch.ones(n * M, dtype=torch.bool, device=dens.device)
    cols.add("residual", at_point.residual)
    cols.add("gap", at_point.scaled_gap)
    if kind == "projection":
        # SCMS only where the ridge could be defined at the sample (module docstring, "Projections skipped")
        need = at_point.scaled_gap >= PROJECT_GAP_FRACTION * gap_tol
        points, ok, rgap = x.clone(), torch.zeros_like(need), at_point.scaled_gap.clone()
        if need.any():
            proj = project_to_ridge(dens, x[need], t[need], dim, tol=1e-5, max_iter=100, gap_tol=gap_tol)
            points[need], ok[need] = proj.points, proj.converged & proj.concave
            rgap[need] = torch.minimum(rgap[need], proj.scaled_gap)
        cols.add("dist", torch.where(ok, (points - x).norm(dim=-1), torch.full_like(t, float("nan"))))
        cols.add("rgap", rgap)
        cols.add("proj", points)
        if frame_kind == "projection":
            frame = local_frame(dens, points, t, dim)
    else:
        cols.add("dist", at_point.h * at_point.residual)
        cols.add("rgap", at_point.scaled_gap)
    cols.add("on", ok)
    nan = torch.where(ok, torch.zeros_like(t), torch.full_like(t, float("nan")))  # NaN where the frame is missing
    if model is not None:
        e = _analysed_scores(model, traj, rows, x, t, K, dens) - at_point.score
        en, et = _norms(frame, e)
        cols.add("en", en + nan)
        cols.add("et", et + nan)
        cols.add("etot", e.norm(dim=-1))
    m = (min(rows.stop, K) - rows.start) * M  # points of this chunk that start a step
    if m > 0:
        steps = slice(rows.start, rows.start + m // M)
        sub, sub_ok = _subframe(frame, m), nan[:m]
        for key, vec in (("d", traj.drifts[steps]), ("s", traj.xs[steps.start + 1:steps.stop + 1] - traj.xs[steps])):
            nrm, tan = _norms(sub, vec.to(dens.dtype).to(dens.device).reshape(m, D))
            cols.add(key + "n", nrm + sub_ok)
            cols.add(key + "t", tan + sub_ok)
        driving = traj.scores[steps].to(dens.dtype).to(dens.device).reshape(m, D)
        exact = at_point.score[:m]
        e = driving - exact
        e = torch.where(e.norm(dim=-1, keepdim=True) <= ROUNDING * (driving.norm(dim=-1, keepdim=True)
                                                                      + exact.norm(dim=-1, keepdim=True)),
                        torch.zeros_like(e), e)
        cols.add("push", _norms(sub, e)[1] + sub_ok)
        cols.add("pull", _norms(sub, exact)[1] + sub_ok)
        A, B, q = (torch.as_tensor(np.repeat([c[i] for c in coeffs[steps]], M), dtype=dens.dtype, device=dens.device)
                   for i in range(3))
        cols.add("relax", relaxation_efolds(A, B, sub.eigenvalues[:, dim]) + sub_ok)
        cols.add("level", normal_level(sub, e, A, B, q) + sub_ok)
        for key, v in zip(("along", "against", "across"), balance(*(sub.split(v)[1] for v in (exact, e)))):
            cols.add(key, B * v + sub_ok)
        for key, v in zip(("along_all", "against_all", "across_all"), balance(exact, e)):
            cols.add(key, B * v)
    return frame, x, t


def trajectory_geometry(dens: SmoothedEmpirical, traj: Trajectory, dim: int, *, distance: str = "auto",
                        gap_tol: float = GAP_TOL, frame: str = "point", extra=None, chunk_steps: int = 1024,
                        model=None):
    """Distance to the ridge, residual, gaps, the normal/tangential split of drift and displacement, phase inputs.

    ``extra(frame, x, t) -> tuple of (n*M,) tensors`` lets callers compute more per-point quantities from the
    same frames. ``model`` (optional) adds the analysed model's error norms. Returns ``(TrajectoryGeometry,
    list of stacked extras)``, or ``(ErrorDecomposition, extras)`` when ``model`` is given.
    """
    dim = check_ridge_dim(dens, dim)
    kind = _resolve_distance(distance, dens.D)
    frame_kind = _resolve(frame, FRAME_KINDS, "frame")
    if frame_kind == "projection" and kind != "projection":
        raise ValueError("frame: the frame at the ridge projection needs distance='projection' (SCMS)")
    gap_tol = check("gap_tol", gap_tol, POSITIVE)
    K1, M, _ = traj.xs.shape
    chunk_steps = max(1, min(chunk_steps, frame_points(dens.D) // max(M, 1)))  # memory bounded at any D
    coeffs = np.empty(K1 - 1, dtype=object)
    coeffs[:] = _step_table(traj, dens.schedule, range(K1 - 1))
    cols, extras = _Columns(), []
    for start in range(0, K1, chunk_steps):
        rows = slice(start, min(K1, start + chunk_steps))
        fr, x, t = _chunk(dens, traj, dim, rows, kind, frame_kind, gap_tol, model, coeffs, cols)
        if extra is not None:
            extras.append(extra(fr, x, t))
    cat = {k: as_numpy(torch.cat(v)) for k, v in cols.items()}
    nn_distance, nn_ratio, nn_blob, nn_resolved = nearest_points(dens, traj)
    full, part = (K1, M), (K1 - 1, M)
    on = cat["on"].astype(bool).reshape(full)
    ridge_gap = cat["rgap"].reshape(full)
    undefined = ~((ridge_gap >= gap_tol) & on)
    dist_all = cat["dist"].reshape(full)
    per_step = {k: cat[k].reshape(part) if k in cat else np.zeros(part)
                for k in ("dn", "dt", "sn", "st", "relax", "push", "pull", "level", "along", "against", "across",
                          "along_all", "against_all", "across_all")}
    fields = dict(times=traj.times.copy(), h=np.asarray(dens.schedule.h(traj.times), dtype=np.float64),
                  distance=np.where(undefined, np.nan, dist_all), distance_kind=kind,
                  residual=cat["residual"].reshape(full), scaled_gap=cat["gap"].reshape(full), undefined=undefined,
                  drift_normal=per_step["dn"], drift_tangential=per_step["dt"], step_normal=per_step["sn"],
                  step_tangential=per_step["st"], distance_all=dist_all, ridge_gap=ridge_gap, on_ridge=on,
                  relaxation=per_step["relax"], error_push=per_step["push"], exact_pull=per_step["pull"],
                  level=per_step["level"], pull_along=per_step["along"], push_against=per_step["against"],
                  push_across=per_step["across"], pull_all=per_step["along_all"],
                  push_against_all=per_step["against_all"], push_across_all=per_step["across_all"],
                  gap_tol=float(gap_tol), frame=frame_kind, nn_distance=nn_distance, nn_ratio=nn_ratio,
                  nn_blob=nn_blob, nn_resolved=nn_resolved,
                  ridge_points=cat["proj"].reshape(K1, M, -1) if "proj" in cat else None)
    stacked = [as_numpy(torch.cat(parts)).reshape(full) for parts in zip(*extras)] if extras else []
    if model is None:
        return TrajectoryGeometry(**fields), stacked
    return ErrorDecomposition(**fields, error_normal=cat["en"].reshape(full), error_tangential=cat["et"].reshape(full),
                              error_total=cat["etot"].reshape(full)), stacked


def _subframe(frame, m: int):
    """The first ``m`` points of a frame (the ones that start a step)."""
    return type(frame)(frame.dim, frame.score[:m], frame.eigenvalues[:m], frame.eigenvectors[:m], frame.h[:m])


def decompose_error(model, dens: SmoothedEmpirical, traj: Trajectory, dim: int, *, distance: str = "auto",
                    gap_tol: float = GAP_TOL, frame: str = "point", chunk_steps: int = 1024) -> ErrorDecomposition:
    """Score error ``s_theta - grad log p_t`` split into normal/tangential norms at every trajectory point.

    Returns an :class:`ErrorDecomposition` whose arrays are ``(K+1, M)`` (per point) or ``(K, M)`` (per step).
    Identity: ``error_normal**2 + error_tangential**2 == error_total**2`` where the frame is defined. If ``traj``
    was sampled with ``model`` itself (``traj.score_model is model``) the sampler's scores are reused and the
    model is evaluated only at the ``M`` final positions.
    """
    return trajectory_geometry(dens, traj, dim, distance=distance, gap_tol=gap_tol, frame=frame, model=model,
                               chunk_steps=chunk_steps)[0]
