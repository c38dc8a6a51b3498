"""The align and slide laws: predicted against measured normal offset and tangential displacement, per sample.

Linearised near the ridge (DESIGN.md section 1, :mod:`ridgeviz.core.phases`), a sampler step
``x' = x + A x + B s + sqrt(q) z`` (:func:`~ridgeviz.core.sampling.step_coefficients`) with
``s = grad log p_t + e`` moves a sample as follows.

**Align law (normal offset).** With ``u = x - proj(x)`` the offset from the ridge point under the sample and
``(l_j, v_j)`` the normal eigenpairs of the Hessian *at that ridge point*, each normal coordinate obeys

    c_j' = (1 + A + B l_j) c_j + <v_j, B e - b>,        Var_j' = (1 + A + B l_j)^2 Var_j + q

where ``b`` is the ridge's own normal motion over the step beyond the dilation ``1 + A`` (a Newton step from the
ridge point at the next time: the ridge of a ring, for instance, sits ``~h/(2R)`` inside the dilated circle and
moves as ``h`` shrinks). The offset relaxes at the rate set by the normal eigenvalues toward the level set by the
normal error (``B e_perp / (-B l)``, about ``h_t |e_perp|`` where ``l ~ -1/h_t``; the level drifts with t, so the
recursion's solution is compared, not the level), with an SDE noise spread of order ``sqrt(h_t)``. Started from
the measured offset vector (with ``Var = 0`` there: that offset already holds the noise before it), it predicts the
RMS offset ``sqrt(|c|^2 + sum_j Var_j)``; the measured one is the
distance to the ridge (SCMS; with the residual proxy the ridge point is one Newton step ``x - H_perp^{-1} P_perp g``).

**Slide law (tangential displacement).** Relative to the ridge's dilation (``x -> x a_{k+1}/a_k``), the error moves
a sample along the ridge by ``(a_k / a_{k+1}) B |e_par|`` per step, i.e. by about ``int c g(t)^2 |e_par| dt``
(``c = 1`` for the reverse SDE, ``1/2`` for the ODE): the predicted displacement. The measured one is the co-moving
displacement ``(a_k/a_{k+1}) x_{k+1} - x_k`` projected on the direction of the tangential error (where there is
none, on the exact score's tangential pull), summed. The two differ by the exact score's own pull (toward the
training points) and, for the SDE, by noise: the law holds where that pull is negligible (a uniform ring) and
fails where it is not (few points), which is what separates slide from memorisation.

Both laws follow each sample from the end of its align phase (the transient before it, while the ridge is still
forming around a sample that has just entered the tube, is not linear) while the ridge stays defined. The error
``e`` is the driving model's, read from the trajectory (``traj.scores - grad log p_t``): no model is evaluated.

**Measured agreement** (measured / predicted; tests/test_laws.py and the README; OU, 200 steps, a 40-point ring of
radius 3, errors ``(tau, nu)`` in ``{(1, 1), (0.5, 0.5), (1, 0)}`` along the counter-clockwise tangent and the
outward normal, 64 ODE / 128 SDE samples): :data:`RING_AGREEMENT`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .decomposition import ROUNDING, TrajectoryGeometry, trajectory_geometry
from .density import SmoothedEmpirical, as_numpy
from .ridge import GAP_TOL, check_ridge_dim, local_frame, project_to_ridge
from .sampling import Trajectory, step_coefficients

# measured in tests/test_laws.py (measured / predicted); the test's tolerances are justified there
RING_AGREEMENT = {
    "ODE (Euler), normal RMS offset": "0.999-1.001 (the law without the error term: 1.06-1.32)",
    "ODE (Euler), tangential displacement": "0.91-1.02 (arc length around the centre: 0.91-1.02)",
    "SDE (EM), normal RMS offset": "1.03-1.04 (seeds 1-2 as well: 0.98-1.10)",
    "SDE (EM), tangential displacement": "0.82-1.05 (seeds 1-2 as well: 0.44-1.09; the mean's noise is about 0.1 of "
                                         "the signal at errors (1, 1) and larger at (0.5, 0.5))",
}
LAW_NAMES = ("normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured")


@dataclass
class RidgeLaws:
    """Predicted and measured quantities ``(K+1, M)``, from each sample's ``start`` step while the ridge stays
    defined (NaN before ``start`` and from the first undefined step on: the linear laws need a ridge).

    ``normal_*``: RMS offset from the ridge (predicted) and the distance to it (measured, NaN where the ridge is
    undefined); ``normal_mean``: the predicted offset without the noise spread; ``tangential_*``: displacement
    along the ridge since ``start`` caused by the error (predicted) and actually made (measured). ``defined``:
    ``(K+1, M)`` the ridge is defined at the point; ``start: (M,)`` the first step of each sample (``K+1``: never).
    """

    times: np.ndarray
    start: np.ndarray
    defined: np.ndarray
    normal_predicted: np.ndarray
    normal_mean: np.ndarray
    normal_measured: np.ndarray
    tangential_predicted: np.ndarray
    tangential_measured: np.ndarray
    distance_kind: str

    def _valid(self, window=None) -> np.ndarray:
        """Sample-times where both laws and both measurements are finite (and ``t`` in ``window``)."""
        ok = np.isfinite(self.normal_predicted) & np.isfinite(self.normal_measured)
        ok &= np.isfinite(self.tangential_predicted) & np.isfinite(self.tangential_measured)
        if window is not None:
            ok &= ((self.times >= window[0]) & (self.times <= window[1]))[:, None]
        return ok

    def agreement(self, window=None) -> dict[str, float]:
        """Measured over predicted, aggregated over samples then times (``window = (t_lo, t_hi)`` optional).

        ``normal_rms_ratio``: ``sqrt(sum measured^2 / sum predicted^2)`` over defined sample-times;
        ``tangential_mean_ratio``: ``sum measured / sum predicted`` at each sample's last defined step (the
        accumulated displacement); ``points``: the number of sample-times compared.
        """
        ok = self._valid(window)
        n2 = np.nansum(np.where(ok, self.normal_measured, 0.0) ** 2)
        p2 = np.nansum(np.where(ok, self.normal_predicted, 0.0) ** 2)
        last = _last_true(ok)
        cols = np.flatnonzero(last >= 0)
        tm = self.tangential_measured[last[cols], cols].sum()
        tp = self.tangential_predicted[last[cols], cols].sum()
        return {"normal_rms_ratio": float(np.sqrt(n2 / p2)) if p2 > 0 else float("nan"),
                "tangential_mean_ratio": float(tm / tp) if tp > 0 else float("nan"),
                "tangential_predicted_mean": float(tp / max(len(cols), 1)),
                "tangential_measured_mean": float(tm / max(len(cols), 1)), "points": int(ok.sum())}

    def points(self, max_points: int = 4000, seed: int = 0) -> dict[str, np.ndarray]:
        """One entry per sample-time where both sides are defined, at most ``max_points`` (seeded subsample).

        Returns ``{"t", "normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured"}``,
        each ``(P,)`` float32.
        """
        ok = self._valid()
        k, m = np.nonzero(ok)
        if len(k) > max_points:
            pick = np.sort(np.random.default_rng(seed).choice(len(k), max_points, replace=False))
            k, m = k[pick], m[pick]
        out = {"t": self.times[k]}
        out.update({name: getattr(self, name)[k, m] for name in LAW_NAMES})
        return {key: np.asarray(v, dtype=np.float32) for key, v in out.items()}


def _first_undefined(undefined: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per sample the first step ``>= start`` where the ridge is undefined (``K+1`` if none): ``(M,)``."""
    rows = undefined.shape[0]
    hit = undefined & (np.arange(rows)[:, None] >= start[None, :])
    return np.where(hit.any(axis=0), hit.argmax(axis=0), rows)


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Per column the last row where ``mask`` holds (-1 if none)."""
    rows = mask.shape[0]
    rev = mask[::-1].argmax(axis=0)
    return np.where(mask.any(axis=0), rows - 1 - rev, -1)


def _first_undefined(undefined: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per sample the first step ``>= start`` where the ridge is undefined (``K+1`` if none): ``(M,)``."""
    rows = undefined.shape[0]
    hit = undefined & (np.arange(rows)[:, None] >= start[None, :])
    return np.where(hit.any(axis=0), hit.argmax(axis=0), rows)


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Per column the last row where ``mask`` holds (-1 if none)."""
    rows = mask.shape[0]
    rev = mask[::-1].argmax(axis=0)
    return np.where(mask.any(axis=0), rows - 1 - rev, -1)


def _start_offsets(dens, traj, dim, start, kind):
    """Offset vectors ``x - proj(x)`` at each sample's start step: ``(M, D)`` (zeros where it never starts)."""
    K1, M, D = traj.xs.shape
    u = torch.zeros(M, D, dtype=dens.dtype, device=dens.device)
    cols = np.flatnonzero(start < K1)
    if len(cols) == 0:
        return u
    x = traj.xs[start[cols], cols].to(dens.dtype).to(dens.device)
    t = torch.as_tensor(traj.times[start[cols]], dtype=dens.dtype, device=dens.device)
    if kind == "projection":
        u[cols] = x - project_to_ridge(dens, x, t, dim, tol=1e-5, max_iter=100).points
    else:
        u[cols] = _newton_offset(local_frame(dens, x, t, dim), dim)
    return u


def _newton_offset(frame, dim: int) -> torch.Tensor:
    """``x - proj(x) ~ H_perp^{-1} P_perp g`` (since ``P_perp g ~ H_perp (x - proj(x))``) to first order: ``(M, D)``."""
    vn = frame.eigenvectors[:, :, dim:]
    coords = torch.einsum("mdk,md->mk", vn, frame.score) / frame.eigenvalues[:, dim:]
    return torch.einsum("mdk,mk->md", vn, coords)


def _ridge_points(dens, traj, geo, dim, k: int) -> torch.Tensor:
    """The ridge points under ``xs[k]``: SCMS projections from ``geo``, else one Newton step: ``(M, D)``."""
    if geo.ridge_points is not None:
        return torch.as_tensor(geo.ridge_points[k], dtype=dens.dtype, device=dens.device)
    x = traj.xs[k].to(dens.dtype).to(dens.device)
    return x - _newton_offset(local_frame(dens, x, float(traj.times[k]), dim), dim)


def _unit(v: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    n = v.norm(dim=-1, keepdim=True)
    nf = fallback.norm(dim=-1, keepdim=True)
    return torch.where(n > 0, v / n.clamp_min(1e-300), fallback / nf.clamp_min(1e-300))


def _error(dens, traj, k: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The driving model's error at ``xs[k]`` and the exact score there, ``(M, D)`` each (rounding set to 0)."""
    s = traj.scores[k].to(dens.dtype).to(dens.device)
    exact = dens.score(x, float(traj.times[k]))
    e = s - exact
    tiny = e.norm(dim=-1, keepdim=True) <= ROUNDING * (s.norm(dim=-1, keepdim=True) + exact.norm(dim=-1, keepdim=True))
    return torch.where(tiny, torch.zeros_like(e), e), exact


def ridge_laws(dens: SmoothedEmpirical, traj: Trajectory, dim: int, *, start=None,
               geometry: TrajectoryGeometry | None = None, gap_tol: float = GAP_TOL,
               error_scale: float = 1.0) -> RidgeLaws:
    """Predicted and measured normal offset and tangential displacement along ``traj`` (module docstring).

    ``start: (M,)`` the step from which each sample is followed (default: the end of its align phase under the
    default :class:`~ridgeviz.core.phases.PhaseRule`: the laws describe the aligned sample, and the transient
    before it, while the ridge is still forming around a sample that has just entered the tube, is not
    linear); ``error_scale`` multiplies the error in the predictions (0: the laws of an error-free model, the
    negative control); ``geometry`` of the same trajectory is reused (distance, ridge
    points). The linearisation is about the ridge point under the sample (its SCMS projection): the normal
    eigenpairs there set the relaxation, and a Newton step from it at the next time gives the ridge's own motion
    ``b`` (beyond the dilation), which enters as ``u' = (1 + A + B l) u + B e_perp - b``. Cost: two Hessians
    per trajectory point.
    """
    dim = check_ridge_dim(dens, dim)
    geo = geometry if geometry is not None else trajectory_geometry(dens, traj, dim, gap_tol=gap_tol)[0]
    K1, M, D = traj.xs.shape
    if start is None:
        from .phases import label_phases

        start = label_phases(dens, traj, dim, geometry=geo).aligned_step
    start = np.asarray(start, dtype=np.int64)
    if start.shape != (M,):
        raise ValueError(f"start must have shape ({M},); got {start.shape}")
    alpha = np.asarray(dens.schedule.alpha(traj.times), dtype=np.float64)
    stop = _first_undefined(geo.undefined, start)
    u = torch.zeros(M, D, dtype=dens.dtype, device=dens.device)  # predicted offset vector
    var = torch.zeros(M, D - dim, dtype=dens.dtype, device=dens.device)
    tp, tm = torch.zeros(M, dtype=dens.dtype, device=dens.device), torch.zeros(M, dtype=dens.dtype, device=dens.device)
    out = {key: np.full((K1, M), np.nan) for key in ("np", "nm", "tp", "tm")}
    for k in range(K1):
        active = (k >= start) & (k < stop)
        if not active.any():
            continue
        x = traj.xs[k].to(dens.dtype).to(dens.device)
        pi = _ridge_points(dens, traj, geo, dim, k)
        first = torch.as_tensor(k == start, device=dens.device)[:, None]
        u = torch.where(first, x - pi, u)  # each sample starts from its measured offset vector
        var = torch.where(first, torch.zeros_like(var), var)  # ... which holds the noise before it: no spread yet
        for key, v in (("np", (u.norm(dim=-1) ** 2 + var.sum(-1)).sqrt()), ("nm", u.norm(dim=-1)), ("tp", tp),
                       ("tm", tm)):
            out[key][k] = np.where(active, as_numpy(v), np.nan)
        if k == K1 - 1:
            break
        u, var, dtp, dtm = _step(dens, traj, dim, k, x, pi, u, var, alpha[k] / alpha[k + 1], error_scale)
        live = torch.as_tensor(active, device=dens.device)
        tp, tm = tp + torch.where(live, dtp, torch.zeros_like(dtp)), tm + torch.where(live, dtm, torch.zeros_like(dtm))
    return RidgeLaws(traj.times.copy(), start, ~geo.undefined, out["np"], out["nm"], geo.distance.copy(),
                     out["tp"], out["tm"], geo.distance_kind)


def _step(dens, traj, dim, k, x, pi, u, var, dilate, error_scale):
    """One step of both laws for all samples: new offset and variance, predicted and measured tangential moves."""
    t, t_next = float(traj.times[k]), float(traj.times[k + 1])
    A, B, q = step_coefficients(traj.method, dens.schedule, t, t_next)
    frame = local_frame(dens, pi, t, dim)  # linearise about the ridge point
    ahead = local_frame(dens, pi, t_next, dim)
    b = frame.split(-_newton_offset(ahead, dim) - A * pi)[0]  # the ridge's normal motion beyond the dilation
    e, exact = _error(dens, traj, k, x)
    vn = frame.eigenvectors[:, :, dim:]  # (M, D, D-d)
    rho = 1.0 + A + B * frame.eigenvalues[:, dim:]
    c = rho * torch.einsum("mdk,md->mk", vn, u) + torch.einsum("mdk,md->mk", vn, B * error_scale * e - b)
    e_par = frame.split(e)[1]
    direction = _unit(e_par, frame.split(exact)[1])
    move = dilate * traj.xs[k + 1].to(dens.dtype).to(dens.device) - x
    return (torch.einsum("mdk,mk->md", vn, c), rho**2 * var + q, dilate * B * error_scale * e_par.norm(dim=-1),
            (move * direction).sum(-1))
