"""The time-dependent log-density ridge of the smoothed empirical density (docs/rules.md).

For ridge dimension ``d`` the Hessian's eigenvalues in descending order ``l_1 >= ... >= l_D`` split
space into the tangent span ``v_1..v_d`` and the normal span ``v_{d+1}..v_D`` (projector ``P_perp``);

    R_t^d = { x : P_perp grad log p_t(x) = 0  and  l_{d+1}(x) < 0 }.

The normal space is only defined where the eigengap ``l_d - l_{d+1}`` is large; its scale-free form
``h_t (l_d - l_{d+1})`` is compared with ``gap_tol`` and points below it are *flagged* as
"ridge undefined here", never dropped. For ``d = 0`` (modes) the gap is ``-l_1``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import lapack

from ..utils.limits import frame_cost, frame_points, require
from ..utils.validation import POSITIVE, Array, Integer, Real, check
from .density import SmoothedEmpirical

# Scale-free eigengap h_t (l_d - l_{d+1}) below which the normal space is undefined. Measured on the two-point
# set under OU: the gap is 0.02 at t = 3 (p_t nearly one Gaussian), 0.17 at t = 2, 0.4-1.4 for t in [0.5, 1],
# and < 1e-4 near an isolated point at small t; 0.05 marks the ridge defined for t < ~2.5 there.
GAP_TOL = 0.05


def check_ridge_dim(dens: SmoothedEmpirical, dim: int) -> int:
    """``dim`` as an int if it is a ridge dimension of ``dens`` (``0 <= dim < D``); a ``ValueError`` naming it
    otherwise."""
    return check("dim", dim, Integer(0, dens.D - 1))


def _chunks(dens: SmoothedEmpirical, M: int):
    """Slices of at most :func:`~ridgeviz.utils.limits.frame_points` points: ridge work holds four ``(n, D, D)``
    buffers, so it goes by chunks of points whose size shrinks with D and memory stays bounded at any D."""
    m = frame_points(dens.D)
    return [slice(i, i + m) for i in range(0, M, m)] or [slice(0, 0)]


@dataclass
class LocalFrame:
    """Hessian spectrum and ridge frame at ``M`` points in ``D`` dimensions for ridge dimension ``dim``."""

    dim: int
    score: torch.Tensor  # (M, D) grad log p_t
    eigenvalues: torch.Tensor  # (M, D) descending
    eigenvectors: torch.Tensor  # (M, D, D) columns, matching eigenvalues
    h: torch.Tensor  # (M,) bandwidth at each point's time

    @property
    def tangent(self) -> torch.Tensor:
        """Tangent projector ``P_par = V_d V_d^T``: (M, D, D)."""
        v = self.eigenvectors[:, :, : self.dim]
        return v @ v.transpose(1, 2)

    @property
    def normal(self) -> torch.Tensor:
        """Normal projector ``P_perp = I - P_par``: (M, D, D)."""
        v = self.eigenvectors[:, :, self.dim:]
        return v @ v.transpose(1, 2)

    @property
    def eigengap(self) -> torch.Tensor:
        """``l_d - l_{d+1}`` (``-l_1`` for d = 0): (M,)."""
        if self.dim == 0:
            return -self.eigenvalues[:, 0]
        return self.eigenvalues[:, self.dim - 1] - self.eigenvalues[:, self.dim]

    @property
    def scaled_gap(self) -> torch.Tensor:
        """Scale-free eigengap ``h_t (l_d - l_{d+1})``: (M,)."""
        return self.h * self.eigengap

    def undefined(self, gap_tol: float = GAP_TOL) -> torch.Tensor:
        """True where the normal space is ill-defined (scaled gap below ``gap_tol``): (M,) bool."""
        return self.scaled_gap < gap_tol

    @property
    def concave(self) -> torch.Tensor:
        """``l_{d+1} < 0``: the ridge condition on the normal curvature, (M,) bool."""
        return self.eigenvalues[:, self.dim] < 0

    def split(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split vectors ``v: (M, D)`` into (normal part, tangential part), each (M, D)."""
        coords = torch.einsum("mdk,md->mk", self.eigenvectors, v)
        normal = torch.einsum("mdk,mk->md", self.eigenvectors[:, :, self.dim:], coords[:, self.dim:])
        return normal, v - normal

    @property
    def residual(self) -> torch.Tensor:
        """Ridge residual ``|P_perp grad log p_t|``: (M,)."""
        return self.split(self.score)[0].norm(dim=-1)


def local_frame(dens: SmoothedEmpirical, x, t, dim: int) -> LocalFrame:
    """Eigen-decompose the Hessian of ``log p_t`` at ``x: (M, D)`` (``t`` float or (M,))."""
    dim = check_ridge_dim(dens, dim)
    x = dens.as_points(x)
    require(frame_cost(x.shape[0], dens.N, dens.D), f"the ridge frame at {x.shape[0]} points",
            "the number of points (or compute the frame in chunks)", time=False)
    ev = dens.evaluate(x, t, hessian=True)
    vals, vecs = _eigh_descending(ev.hessian)
    _, h = dens.coefficients(t, x.shape[0])
    return LocalFrame(dim, ev.score, vals, vecs, h)


def _eigh_descending(H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues ``(M, D)`` in descending order and eigenvectors ``(M, D, D)`` (columns) of symmetric ``H``.

    For D = 2 the closed form ``l = m +- sqrt(((a-c)/2)^2 + b^2)``, ``v_1 = (cos th, sin th)`` with
    ``tan 2th = 2b/(a-c)``: one LAPACK call per 2x2 matrix was a quarter of the time of 2-D SCMS.
    """
    if H.shape[-1] == 2:
        a, b, c = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        mid, rad = 0.5 * (a + c), torch.hypot(0.5 * (a - c), b)
        th = 0.5 * torch.atan2(2 * b, a - c)
        cos, sin = torch.cos(th), torch.sin(th)
        vecs = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -1)
        return torch.stack([mid + rad, mid - rad], -1), vecs
    if H.device.type == "cpu" and H.dtype == torch.float64 and torch.get_num_threads() > 1:
        # LAPACK one matrix at a time: torch's batched eigh with more than one thread, and NumPy's with its
        # OpenBLAS threads, thrash on a busy two-core machine (2,000 32x32 matrices at load 6: torch 2 threads
        # 0.4-11 s depending on OMP_WAIT_POLICY, NumPy 6.6 s; this loop 0.6 s; torch with one thread 0.3 s)
        Hn = H.detach().numpy()
        vals, vecs = np.empty(Hn.shape[:2]), np.empty_like(Hn)
        for k in range(len(Hn)):
            w, v, _, _, info = lapack.dsyevr(Hn[k], lower=0)
            if info != 0:
                raise ValueError(f"eigendecomposition failed at point {k} (LAPACK info {info}); non-finite Hessian?")
            vals[k], vecs[k] = w, v
        vals, vecs = torch.from_numpy(vals), torch.from_numpy(vecs)
    else:
        vals, vecs = torch.linalg.eigh(H)  # ascending
    return vals.flip(-1), vecs.flip(-1)


def ridge_residual(dens: SmoothedEmpirical, x, t, dim: int) -> torch.Tensor:
    """``r(x, t) = |P_perp grad log p_t(x)|``: (M,). Multiply by ``h_t`` for a length. Computed in chunks."""
    x = dens.as_points(x)
    t = dens.times(t, x.shape[0])
    return torch.cat([local_frame(dens, x[c], t[c], dim).residual for c in _chunks(dens, x.shape[0])])


@dataclass
class RidgeProjection:
    """Result of :func:`project_to_ridge` for ``M`` starting points."""

    points: torch.Tensor  # (M, D) projected points
    converged: torch.Tensor  # (M,) bool: the stopping rule was met
    eigengap: torch.Tensor  # (M,) l_d - l_{d+1} at the final points
    scaled_gap: torch.Tensor  # (M,) h_t (l_d - l_{d+1})
    undefined: torch.Tensor  # (M,) bool: normal space ill-defined at the final point
    concave: torch.Tensor  # (M,) bool: l_{d+1} < 0 at the final point
    residual: torch.Tensor  # (M,) |P_perp grad log p_t| at the final points
    iterations: torch.Tensor  # (M,) iterations used

    @property
    def on_ridge(self) -> torch.Tensor:
        """Converged, with a defined normal space and negative normal curvature: (M,) bool."""
        return self.converged & ~self.undefined & self.concave


def project_to_ridge(dens: SmoothedEmpirical, x, t, dim: int, *, tol: float = 1e-6, max_iter: int = 300,
                     gap_tol: float = GAP_TOL) -> RidgeProjection:
    """Subspace-constrained mean shift onto ``R_t^dim`` from ``x: (M, D)``.

    For the Gaussian mixture the SCMS step is ``x <- x + P_perp(x) (alpha_t D(x,t) - x)``. A point
    stops when its normal step is small in scale-free terms: ``|P_perp (alpha D - x)| <= tol * sqrt(h_t)``
    (less than ``tol`` bandwidths) or ``|P_perp g| <= tol * |g|`` (the fraction of the gradient left in
    the normal space). Points still moving after ``max_iter`` are reported with ``converged = False``.
    """
    dim = check_ridge_dim(dens, dim)
    tol, max_iter = check("tol", tol, POSITIVE), check("max_iter", max_iter, Integer(1, 100_000))
    gap_tol = check("gap_tol", gap_tol, Real())
    x = dens.as_points(x).clone()
    M = x.shape[0]
    t_all = dens.times(t, M).clone()
    chunks = _chunks(dens, M)
    if len(chunks) > 1:  # independent points: project chunk by chunk so memory stays bounded at any D
        parts = [project_to_ridge(dens, x[c], t_all[c], dim, tol=tol, max_iter=max_iter, gap_tol=gap_tol)
                 for c in chunks]
        return RidgeProjection(*(torch.cat([getattr(p, f.name) for p in parts])
                                 for f in dataclasses.fields(RidgeProjection)))
    converged = torch.zeros(M, dtype=torch.bool, device=x.device)
    iters = torch.zeros(M, dtype=torch.long, device=x.device)
    # gap, scaled gap, l_{d+1}, residual at the final points (a converged point stops moving: its last frame is final)
    stats = torch.empty(4, M, dtype=x.dtype, device=x.device)
    for _ in range(max_iter):
        active = torch.nonzero(~converged).squeeze(-1)
        if active.numel() == 0:
            break
        frame = local_frame(dens, x[active], t_all[active], dim)
        g_perp, _ = frame.split(frame.score)
        step = frame.h[:, None] * g_perp  # = P_perp (alpha D - x)
        done = (step.norm(dim=-1) <= tol * frame.h.sqrt()) | (g_perp.norm(dim=-1) <= tol * frame.score.norm(dim=-1))
        x[active] = x[active] + torch.where(done[:, None], torch.zeros_like(step), step)
        iters[active[~done]] += 1
        converged[active[done]] = True
        stats[:, active[done]] = _frame_stats(frame, g_perp)[:, done]
    rest = torch.nonzero(~converged).squeeze(-1)
    if rest.numel():
        frame = local_frame(dens, x[rest], t_all[rest], dim)
        stats[:, rest] = _frame_stats(frame, frame.split(frame.score)[0])
    gap, scaled, lam, res = stats
    return RidgeProjection(x, converged, gap, scaled, scaled < gap_tol, lam < 0, res, iters)


def _frame_stats(frame: LocalFrame, g_perp: torch.Tensor) -> torch.Tensor:
    """``(4, M)``: eigengap, scaled gap, ``l_{d+1}`` and residual ``|P_perp g|`` of a frame."""
    return torch.stack([frame.eigengap, frame.scaled_gap, frame.eigenvalues[:, frame.dim], g_perp.norm(dim=-1)])


def suggest_ridge_dim(dens: SmoothedEmpirical, x, t) -> tuple[int, np.ndarray]:
    """Ridge dimension from the largest gap of the median Hessian spectrum at ``x: (M, D)``.

    Returns ``(d, gaps)`` with ``gaps[k-1] = median(l_k - l_{k+1})``, ``k = 1..D-1``, and ``d`` the
    argmax (1 <= d < D); for D = 1 the only choice is d = 0.
    """
    x = check("x", dens.as_points(x), Array((None, dens.D), at_least=(1, 1)))
    t = dens.times(t, x.shape[0])
    if dens.D == 1:
        return 0, np.zeros(0)
    lam = torch.cat([local_frame(dens, x[c], t[c], 0).eigenvalues for c in _chunks(dens, x.shape[0])])
    h = dens.coefficients(t, lam.shape[0])[1]
    gaps = (h[:, None] * (lam[:, :-1] - lam[:, 1:])).median(dim=0).values.cpu().numpy()
    return int(np.argmax(gaps)) + 1, gaps
