"""The align and slide laws: predicted against measured normal offset and motion along the ridge, per sample.

Linearised near the ridge (docs/rules.md, :mod:`ridgeviz.core.phases`), a sampler step
``x' = x + A x + B s + sqrt(q) z`` (:func:`~ridgeviz.core.sampling.step_coefficients`) with
``s = grad log p_t + e`` moves a sample as follows; everything is linearised about the ridge point ``pi`` under
the sample (its SCMS projection; with the residual proxy, one Newton step ``x - H_perp^{-1} P_perp g``).

**Align law (normal offset).** With ``u = x - pi`` and ``(l_j, v_j)`` the normal eigenpairs of the Hessian at
``pi``, each normal coordinate obeys

    c_j' = (1 + A + B l_j) c_j + <v_j, B e - b>,        Var_j' = (1 + A + B l_j)^2 Var_j + q

where ``b`` is the ridge's own normal motion over the step beyond the dilation ``1 + A`` (the ridge of a ring sits
``~h/(2R)`` inside the dilated circle and moves as ``h`` shrinks): the normal part, in the frame at ``pi``, of
``pi_{k+1} - (1 + A) pi_k`` with ``pi_{k+1}`` the SCMS projection of the next position (a property of ``p_t`` where
the sample is along the ridge, not of its offset), or one Newton step from ``pi`` at the next time where there is no
projection (the residual proxy). The Newton step is ill-conditioned where the normal curvature is small (a ridge
still forming): from the reach step it threw the ring's pooled R^2 to -5.7, the projections give 0.99 (ODE, 64
samples, 200 steps). The offset relaxes toward the level the normal error sets (about ``h_t |e_perp|``), with an SDE
noise spread of order ``sqrt(h_t)``. Started from the measured offset (``Var = 0`` there: it already holds the noise
before it), the law predicts the expected distance ``E|c|`` for ``c ~ N(mean, diag Var)`` (``normal_predicted``; the
folded-normal mean in codimension 1), which is what a least-squares comparison with one noisy measured distance
should use; ``normal_rms`` is ``sqrt(|mean|^2 + sum Var)``. The measured offset is the distance to the ridge. The
same recursion with ``e = 0`` is ``normal_without_error``.

**Slide law (motion along the ridge).** Co-moving with the ridge's dilation (``x -> x a_{k+1}/a_k``), the step
moves the sample along the ridge by

    P_par [ (d (1 + A) - 1) pi + d B grad log p_t(pi) ]   +   d B P_par e,       d = a_k / a_{k+1}

the exact score's own pull along the ridge (toward its modes, the training points as t -> 0; with the sampler's
dilation mismatch, which is ``O(dt^2)``) plus the push of the error. Summed from the start step as *vectors*, the
prediction is compared with the measured co-moving displacement ``sum_k P_par(pi_k) (d x_{k+1} - x_k)``. The law
without the error term keeps the pull, so it predicts motion too (the control is informative). Measured minus
predicted is, under the ODE, ``d B P_par (grad log p_t(x) - grad log p_t(pi))`` plus the dilation term at ``u``:
second order in the offset, since ``P_par H u = 0`` for a normal ``u``. So under the ODE the slide law is nearly
bookkeeping (it checks that the offset does not feed the motion along the ridge, and how the motion splits
between pull and error); under the SDE the measured displacement adds the sampler's noise, of accumulated variance
``sum d^2 q`` per tangent direction (``tangential_noise_var``). The error's share of the predicted motion is
``sum |d B P_par e| / (sum |d B P_par e| + sum |pull step|)`` over the compared steps
(:func:`ridgeviz.core.law_fit.fit_laws`).

**Start.** Each sample is followed from its ``start`` step while the ridge stays defined: by default the end of
its align phase (``start="aligned"``, :attr:`PhaseLabels.aligned_step`), or its first step in the tube
(``start="reach"``, :attr:`PhaseLabels.reach_step`), or any ``(M,)`` array of steps. The start step itself is not
compared (both sides equal the measurement there). The error ``e`` is the driving model's, read from the
trajectory (``traj.scores - grad log p_t``): no model is evaluated. Goodness of fit (R^2 per sample and pooled,
beside the law without its error term and a fitted baseline): :mod:`ridgeviz.core.law_fit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..utils.validation import Options, check
from .decomposition import ROUNDING, TrajectoryGeometry, trajectory_geometry
from .density import SmoothedEmpirical, as_numpy
from .law_fit import fit_laws, last_compared
from .ridge import GAP_TOL, check_ridge_dim, local_frame
from .sampling import Trajectory, step_coefficients

LAW_NAMES = ("normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured")
STARTS = ("aligned", "reach")
MC_DRAWS = 256  # antithetic pairs for the expected distance in codimension > 1


@dataclass
class RidgeLaws:
    """Predicted and measured quantities along a trajectory with ``K`` steps and ``M`` samples (module docstring).

    Per point ``(K+1, M)``, NaN outside each sample's followed steps (``start`` to the first undefined step):
    ``normal_measured`` (distance to the ridge), ``normal_predicted`` (expected distance under the law),
    ``normal_rms``, ``normal_mean`` (the law's mean offset without the noise spread), ``normal_without_error``
    (expected distance under the law with ``e = 0``), ``tangential_noise_var``, and the accumulated path lengths
    ``tangential_pull_path`` and ``tangential_error_path``. Per point ``(K+1, M, D)``: the accumulated vectors
    ``tangential_measured_vec``, ``tangential_pull_vec`` and ``tangential_error_vec``. ``compared: (K+1, M)``
    the followed steps after the start; ``start: (M,)`` (``K+1``: never); ``start_kind``: "aligned", "reach" or
    "given"; ``h: (K+1,)`` the bandwidths.
    """

    times: np.ndarray
    h: np.ndarray
    start: np.ndarray
    start_kind: str
    defined: np.ndarray
    compared: np.ndarray
    normal_measured: np.ndarray
    normal_predicted: np.ndarray
    normal_rms: np.ndarray
    normal_mean: np.ndarray
    normal_without_error: np.ndarray
    tangential_measured_vec: np.ndarray
    tangential_pull_vec: np.ndarray
    tangential_error_vec: np.ndarray
    tangential_noise_var: np.ndarray
    tangential_pull_path: np.ndarray
    tangential_error_path: np.ndarray
    distance_kind: str

    @property
    def tangential_predicted_vec(self) -> np.ndarray:
        """The slide law's predicted displacement, pull plus error: ``(K+1, M, D)``."""
        return self.tangential_pull_vec + self.tangential_error_vec

    @property
    def tangential_predicted(self) -> np.ndarray:
        """Length of the predicted displacement along the ridge: ``(K+1, M)``."""
        return np.linalg.norm(self.tangential_predicted_vec, axis=-1)

    @property
    def tangential_measured(self) -> np.ndarray:
        """The measured displacement's component along the predicted one (its length where none is predicted):
        ``(K+1, M)``; equal to :attr:`tangential_predicted` when the law holds."""
        pred, meas = self.tangential_predicted_vec, self.tangential_measured_vec
        n = np.linalg.norm(pred, axis=-1)
        along = np.einsum("kmd,kmd->km", meas, pred) / np.where(n > 0, n, 1.0)
        return np.where(n > 0, along, np.linalg.norm(meas, axis=-1))

    def agreement(self) -> dict:
        """Aggregate ratios and the goodness of fit (:func:`ridgeviz.core.law_fit.fit_laws`), as plain numbers.

        ``normal_rms_ratio``: ``sqrt(sum measured^2 / sum rms^2)`` over the compared sample-times;
        ``tangential_slope``: ``sum <measured, predicted> / sum |predicted|^2`` of each sample's displacement at
        its last compared step (1 when they agree); ``points``, ``samples``: what was compared; plus everything
        :func:`~ridgeviz.core.law_fit.fit_laws` returns (R^2 entries, ``error_share``, ``offset_widths``, ...).
        """
        ok = self.compared
        n2, p2 = np.sum(self.normal_measured[ok] ** 2), np.sum(self.normal_rms[ok] ** 2)
        meas = last_compared(self, self.tangential_measured_vec)
        pred = last_compared(self, self.tangential_predicted_vec)
        pp = float(np.sum(pred * pred))
        return {"normal_rms_ratio": float(np.sqrt(n2 / p2)) if p2 > 0 else math.nan,
                "tangential_slope": float(np.sum(meas * pred) / pp) if pp > 0 else math.nan,
                "points": int(ok.sum()), "samples": int(ok.any(0).sum()), **fit_laws(self)}

    def points(self, max_points: int = 4000, seed: int = 0) -> dict[str, np.ndarray]:
        """One entry per compared sample-time, at most ``max_points`` (seeded subsample), for the figure.

        Returns ``{"t", *LAW_NAMES}``, each ``(P,)`` float32.
        """
        k, m = np.nonzero(self.compared)
        if len(k) > max_points:
            pick = np.sort(np.random.default_rng(seed).choice(len(k), max_points, replace=False))
            k, m = k[pick], m[pick]
        out = {"t": self.times[k]}
        out.update({name: getattr(self, name)[k, m] for name in LAW_NAMES})
        return {key: np.asarray(v, dtype=np.float32) for key, v in out.items()}


def expected_distance(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``E|c|`` for ``c ~ N(mean, diag(var))``, ``mean, var: (M, n)``: ``(M,)``.

    ``n = 1``: the folded-normal mean ``s sqrt(2/pi) exp(-m^2 / 2 s^2) + m erf(m / (s sqrt 2))``; ``n > 1``: the
    average over :data:`MC_DRAWS` fixed antithetic pairs of standard-normal draws (seeded, so deterministic).
    """
    s = var.clamp_min(0.0).sqrt()
    if mean.shape[-1] == 1:
        m, s = mean[:, 0].abs(), s[:, 0]
        safe = s.clamp_min(1e-300)
        folded = safe * math.sqrt(2 / math.pi) * torch.exp(-0.5 * (m / safe) ** 2) + m * torch.erf(m / (safe * 2**0.5))
        return torch.where(s > 0, folded, m)
    z = torch.randn(MC_DRAWS, mean.shape[-1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = torch.cat([z, -z]).to(mean)
    return (mean[:, None, :] + s[:, None, :] * z).norm(dim=-1).mean(1)


def _first_undefined(undefined: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per sample the first step ``>= start`` where the ridge is undefined (``K+1`` if none): ``(M,)``."""
    rows = undefined.shape[0]
    hit = undefined & (np.arange(rows)[:, None] >= start[None, :])
    return np.where(hit.any(axis=0), hit.argmax(axis=0), rows)


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


def _error(dens, traj, k: int, x: torch.Tensor) -> torch.Tensor:
    """The driving model's error at ``xs[k]``: ``(M, D)`` (differences at the rounding level set to 0)."""
    s = traj.scores[k].to(dens.dtype).to(dens.device)
    exact = dens.score(x, float(traj.times[k]))
    e = s - exact
    tiny = e.norm(dim=-1, keepdim=True) <= ROUNDING * (s.norm(dim=-1, keepdim=True) + exact.norm(dim=-1, keepdim=True))
    return torch.where(tiny, torch.zeros_like(e), e)


def start_steps(dens: SmoothedEmpirical, traj: Trajectory, dim: int, geo: TrajectoryGeometry,
                start) -> tuple[np.ndarray, str]:
    """Each sample's start step ``(M,)`` and its kind: ``start`` one of :data:`STARTS` (from the phase rule's
    default labels) or ``None`` ("aligned"), or an ``(M,)`` array of steps ("given")."""
    M = geo.distance.shape[1]
    if start is None or isinstance(start, str):
        kind = check("start", start or "aligned", Options(STARTS))
        from .phases import label_phases

        labels = label_phases(dens, traj, dim, geometry=geo)
        return np.asarray(labels.aligned_step if kind == "aligned" else labels.reach_step, dtype=np.int64), kind
    steps = np.asarray(start)
    if steps.shape != (M,) or not np.issubdtype(steps.dtype, np.integer):
        raise ValueError(f"start must be 'aligned', 'reach' or integer steps of shape ({M},); got {steps.dtype} "
                         f"{steps.shape}")
    return steps.astype(np.int64), "given"


_KEYS = ("nm", "np", "nr", "nmean", "nw", "tv", "tpp", "tep")


def ridge_laws(dens: SmoothedEmpirical, traj: Trajectory, dim: int, *, start=None,
               geometry: TrajectoryGeometry | None = None, gap_tol: float = GAP_TOL) -> RidgeLaws:
    """Predicted and measured normal offset and displacement along the ridge along ``traj`` (module docstring).

    ``traj``: ``xs (K+1, M, D)`` with the driving scores; ``start``: "aligned" (default), "reach" or ``(M,)``
    steps; ``geometry`` of the same trajectory is reused (distance, ridge points). Cost: two Hessians per
    trajectory point (the frame at the ridge point and a Newton step at the next time).
    """
    dim = check_ridge_dim(dens, dim)
    geo = geometry if geometry is not None else trajectory_geometry(dens, traj, dim, gap_tol=gap_tol)[0]
    K1, M, D = traj.xs.shape
    start, kind = start_steps(dens, traj, dim, geo, start)
    alpha = np.asarray(dens.schedule.alpha(traj.times), dtype=np.float64)
    stop = _first_undefined(geo.undefined, start)
    shapes = {"u": (M, D), "u0": (M, D), "var": (M, D - dim), "meas": (M, D), "pull": (M, D), "err": (M, D),
              "tv": (M,), "tpp": (M,), "tep": (M,)}
    st = {key: torch.zeros(shape, dtype=dens.dtype, device=dens.device) for key, shape in shapes.items()}
    out = {key: np.full((K1, M), np.nan) for key in _KEYS}
    vec = {key: np.full((K1, M, D), np.nan) for key in ("meas", "pull", "err")}
    for k in range(K1):
        active = (k >= start) & (k < stop)
        if not active.any():
            continue
        x = traj.xs[k].to(dens.dtype).to(dens.device)
        pi = _ridge_points(dens, traj, geo, dim, k)
        frame = local_frame(dens, pi, float(traj.times[k]), dim)  # linearise about the ridge point
        first = torch.as_tensor(k == start, device=dens.device)[:, None]
        for key in ("u", "u0"):  # each sample starts from its measured offset, which already holds the noise
            st[key] = torch.where(first, x - pi, st[key])
        st["var"] = torch.where(first, torch.zeros_like(st["var"]), st["var"])
        _record(out, vec, st, frame, dim, k, active, x - pi)
        if k < K1 - 1:
            _step(dens, traj, geo, k, x, pi, frame, st, alpha[k] / alpha[k + 1], torch.as_tensor(active)[:, None])
    compared = np.isfinite(out["np"]) & (np.arange(K1)[:, None] > start)
    return RidgeLaws(traj.times.copy(), np.asarray(dens.schedule.h(traj.times), dtype=np.float64), start, kind,
                     ~geo.undefined, compared, out["nm"], out["np"], out["nr"], out["nmean"], out["nw"],
                     vec["meas"], vec["pull"], vec["err"], out["tv"], out["tpp"], out["tep"], geo.distance_kind)


def _record(out, vec, st, frame, dim, k, active, offset) -> None:
    """Write the state at step ``k`` into the outputs for the ``active: (M,)`` samples."""
    vn = frame.eigenvectors[:, :, dim:]
    coords = {key: torch.einsum("mdk,md->mk", vn, st[key]) for key in ("u", "u0")}
    mean = coords["u"].norm(dim=-1)  # the law's offset in the normal space at this ridge point
    values = {"nm": offset.norm(dim=-1), "np": expected_distance(coords["u"], st["var"]),
              "nr": (mean**2 + st["var"].sum(-1)).sqrt(), "nmean": mean,
              "nw": expected_distance(coords["u0"], st["var"]), "tv": st["tv"], "tpp": st["tpp"], "tep": st["tep"]}
    for key, v in values.items():
        out[key][k] = np.where(active, as_numpy(v), np.nan)
    for key in ("meas", "pull", "err"):
        vec[key][k] = np.where(active[:, None], as_numpy(st[key]), np.nan)


def _ridge_ahead(dens, traj, geo, k: int, pi: torch.Tensor, dim: int) -> torch.Tensor:
    """The ridge point at ``t_{k+1}`` near ``pi``: the SCMS projection of ``xs[k+1]`` where ``geo`` has a finite
    one, else one Newton step from ``pi`` at ``t_{k+1}``: ``(M, D)``."""
    ahead = None if geo.ridge_points is None else torch.as_tensor(geo.ridge_points[k + 1], dtype=dens.dtype,
                                                                   device=dens.device)
    ok = None if ahead is None else torch.isfinite(ahead).all(dim=-1, keepdim=True)
    if ok is not None and bool(ok.all()):
        return ahead
    newton = pi - _newton_offset(local_frame(dens, pi, float(traj.times[k + 1]), dim), dim)
    return newton if ok is None else torch.where(ok, ahead, newton)


def _step(dens, traj, geo, k, x, pi, frame, st, dilate, live) -> None:
    """Advance every law's state over step ``k`` for the ``live: (M, 1)`` samples (in place)."""
    dim = frame.dim
    t, t_next = float(traj.times[k]), float(traj.times[k + 1])
    A, B, q = step_coefficients(traj.method, dens.schedule, t, t_next)
    b = frame.split(_ridge_ahead(dens, traj, geo, k, pi, dim) - (1.0 + A) * pi)[0]  # the ridge's motion beyond (1 + A)
    e = _error(dens, traj, k, x)
    vn = frame.eigenvectors[:, :, dim:]  # (M, D, D-d)
    rho = 1.0 + A + B * frame.eigenvalues[:, dim:]
    for key, drive in (("u", B * e - b), ("u0", -b)):
        c = rho * torch.einsum("mdk,md->mk", vn, st[key]) + torch.einsum("mdk,md->mk", vn, drive)
        st[key] = torch.einsum("mdk,mk->md", vn, c)
    st["var"] = rho**2 * st["var"] + q
    x_next = traj.xs[k + 1].to(dens.dtype).to(dens.device)
    moves = {"meas": dilate * x_next - x, "pull": (dilate * (1.0 + A) - 1.0) * pi + dilate * B * frame.score,
             "err": dilate * B * e}
    moves = {key: frame.split(v)[1] for key, v in moves.items()}  # along the ridge at pi
    noise = torch.full_like(st["tv"], dilate**2 * q * dim)  # accumulated noise variance along the ridge (trace)
    adds = {**moves, "tv": noise, "tpp": moves["pull"].norm(dim=-1), "tep": moves["err"].norm(dim=-1)}
    for key, v in adds.items():
        mask = live if v.dim() == 2 else live[:, 0]
        st[key] = st[key] + torch.where(mask, v, torch.zeros_like(v))
