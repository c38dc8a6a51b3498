"""Score models. One contract for all: ``model(x, t) -> score`` with ``x: (M, D)``, ``t`` a float or ``(M,)``.

Every model also carries the ``schedule`` it belongs to (samplers read the drift from it). The error of
any model is "model minus exact" on the same inputs, so the decomposition treats all models alike.
"""

from __future__ import annotations

import torch

from ..core.density import SmoothedEmpirical
from ..core.ridge import GAP_TOL, check_ridge_dim, local_frame
from ..utils.validation import Array, Instance, Real, check

# injected error sizes, in score units (1/length): far beyond any score the density has, yet finite in every step
MAGNITUDE = Real(-1e6, 1e6)


class ExactScore:
    """The exact score ``grad log p_t`` of the smoothed empirical density: the memorising model."""

    kind = "exact"

    def __init__(self, dens: SmoothedEmpirical):
        self.dens = check("dens", dens, Instance(SmoothedEmpirical, "a SmoothedEmpirical density"))
        self.schedule = dens.schedule

    @property
    def D(self) -> int:
        """The dimension of the training points (the model takes no other)."""
        return self.dens.D

    def __call__(self, x, t) -> torch.Tensor:
        return self.dens.score(x, t)


def _unit_or_default(v: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """Normalise rows of ``v``; rows with (near) zero length take the matching row of ``fallback``."""
    n = v.norm(dim=-1, keepdim=True)
    ok = n > 1e-12
    return torch.where(ok, v / n.clamp_min(1e-300), fallback)


class InjectedErrorScore:
    """Exact score plus an error of fixed size along the local normal and tangent spaces of ``R_t^dim``.

    ``s(x,t) = grad log p_t(x) + normal * n_hat(x,t) + tangential * u_hat(x,t)`` where ``u_hat`` is the unit
    projection of a fixed reference direction ``direction`` onto the tangent space and ``n_hat`` the unit
    projection of ``normal_direction`` onto the normal space. Projecting fixed directions (rather than taking
    raw eigenvectors, whose signs are arbitrary) gives a consistent orientation: a tangential error pushes
    every sample the same way along the ridge. Defaults: the data's first principal axis for ``direction``
    and its last for ``normal_direction``. Where the normal space is undefined (scaled eigengap below
    ``gap_tol``, e.g. an isotropic blob around an isolated point) the reference directions are used
    unprojected, so the error keeps its orientation through such regions. Magnitudes are in score units
    (1/length), constant in t: the controlled experiment that isolates align (normal error) from slide
    (tangential error).
    """

    kind = "injected"

    def __init__(self, dens: SmoothedEmpirical, dim: int = 1, normal: float = 0.0, tangential: float = 0.0,
                 *, direction=None, normal_direction=None, gap_tol: float = GAP_TOL):
        check("dens", dens, Instance(SmoothedEmpirical, "a SmoothedEmpirical density"))
        self.dim = check_ridge_dim(dens, dim)
        self.dens, self.schedule, self.gap_tol = dens, dens.schedule, check("gap_tol", gap_tol, Real())
        self.normal, self.tangential = (check(k, v, MAGNITUDE) for k, v in (("normal", normal),
                                                                             ("tangential", tangential)))
        axes = _principal_axes(dens.data)
        self.direction = self._direction(direction, axes[:, 0], "direction")
        self.normal_direction = self._direction(normal_direction, axes[:, -1], "normal_direction")

    @property
    def D(self) -> int:
        """The dimension of the training points (the model takes no other)."""
        return self.dens.D

    def _direction(self, v, default, name):
        if v is not None:
            v = torch.as_tensor(check(name, v, Array((self.dens.D,)))).to(self.dens.dtype).to(self.dens.device)
        v = default if v is None else v
        if v.norm() == 0 or not torch.isfinite(v.norm()):
            raise ValueError(f"{name} must be a non-zero vector of length D = {self.dens.D}")
        return v / v.norm()

    def error(self, x, t) -> torch.Tensor:
        """The injected error alone: ``(M, D)``."""
        return self._error(local_frame(self.dens, x, t, self.dim))

    def _error(self, frame) -> torch.Tensor:
        M = frame.score.shape[0]
        ref_n, ref_t = self.normal_direction.expand(M, -1), self.direction.expand(M, -1)
        u_n, _ = frame.split(ref_n)
        _, u_t = frame.split(ref_t)
        # where the normal space is undefined (isotropic blob), or a reference direction is orthogonal to
        # its space, fall back to the fixed reference directions themselves
        flat = frame.undefined(self.gap_tol)[:, None]
        n_hat = torch.where(flat, ref_n, _unit_or_default(u_n, ref_n))
        t_hat = torch.where(flat, ref_t, _unit_or_default(u_t, ref_t)) if self.dim > 0 else torch.zeros_like(u_t)
        return self.normal * n_hat + self.tangential * t_hat

    def __call__(self, x, t) -> torch.Tensor:
        frame = local_frame(self.dens, x, t, self.dim)  # one pass gives the exact score and the frame
        return frame.score + self._error(frame)


def _principal_axes(data: torch.Tensor) -> torch.Tensor:
    """Principal axes of ``data: (N, D)`` as columns, by decreasing variance (sign fixed: largest entry > 0)."""
    x = data - data.mean(0)
    if data.shape[0] < 2 or not torch.any(x != 0):
        return torch.eye(data.shape[1], dtype=data.dtype, device=data.device)
    _, _, vh = torch.linalg.svd(x, full_matrices=True)
    axes = vh.T
    sign = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    return axes * sign


def model_error(model, dens: SmoothedEmpirical, x, t) -> torch.Tensor:
    """``s_theta(x, t) - grad log p_t(x)``: ``(M, D)`` in the density's dtype."""
    x = dens.as_points(x)
    return torch.as_tensor(model(x, t), dtype=dens.dtype, device=dens.device) - dens.score(x, t)


class NullScore:
    """The null model: the random-feature readout ``A = 0``, i.e. ``m_A = 0`` and score ``-x / h_t``.

    It knows nothing of the data (it is the exact score of a single point at the origin): every sample ends at
    the origin. The negative control for claims about copies and about the ridge.
    """

    kind = "null"

    def __init__(self, schedule):
        self.schedule = schedule

    def __call__(self, x, t) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        h = self.schedule.h(torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(x.shape[0]))
        return -x / h[:, None]
