"""The smoothed empirical density ``p_t(x) = (1/N) sum_i N(x; alpha_t x_i, h_t I)`` in closed form.

Everything comes from one softmax over the training points (docs/rules.md has the mathematics):

    w_i(x,t) = softmax_i(-|x - alpha_t x_i|^2 / (2 h_t))        posterior weights
    D(x,t)   = sum_i w_i x_i                                     exact denoiser E[x_0 | x_t = x]
    score    = (alpha_t D - x) / h_t
    hessian  = -I/h_t + (alpha_t^2/h_t^2) Cov_w(x_i)            centred posterior covariance

Queries and data are processed in tiles, so memory stays bounded whatever N and M are; every large step is a
matrix product. How, and how accurately, is :mod:`ridgeviz.core.posterior`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..utils.limits import density_cost, require
from ..utils.validation import Array, Device, Instance, Integer, check
from .posterior import DIRECT_MAX_N, MOMENT_MAX_D, PosteriorMoments
from .schedules import Schedule


@dataclass
class DensityEval:
    """Everything one softmax pass gives at queries ``x: (M, D)``; unrequested fields are None."""

    log_prob: torch.Tensor  # (M,)
    score: torch.Tensor  # (M, D)
    denoised: torch.Tensor  # (M, D)
    hessian: torch.Tensor | None = None  # (M, D, D)
    weights: torch.Tensor | None = None  # (M, N)


class SmoothedEmpirical:
    """Smoothed empirical density of a training set under a schedule.

    Parameters
    ----------
    data : (N, D) array or tensor, the training points.
    schedule : a :class:`~ridgeviz.schedules.Schedule`.
    dtype : arithmetic dtype (float64 by default: the ridge's eigengaps need it).
    device : where the data live; queries are moved there. Default: the data's device.
    chunk_elements : bound on the elements of the largest temporary per tile (``m x n`` logits of ``m``
        queries against ``n`` training points; ``m x n x D`` on the centred path); 2**21 float64 = 16 MiB.

    Inputs are validated (:mod:`ridgeviz.utils.validation`): data and queries real, finite and at most
    ``1e150`` in magnitude; times ``t`` in ``[1e-12, T]`` (:meth:`Schedule.check_times`: below the schedule's
    ``t_min`` is allowed, above ``T`` is not: the vp-cosine and rectified-flow schedules end there). A result
    that still overflows float64 (a tiny bandwidth at a far query) raises a ``ValueError``, never NaN or inf.
    """

    def __init__(self, data, schedule: Schedule, *, dtype=torch.float64, device=None,
                 chunk_elements: int = 2**21):
        check("schedule", schedule, Instance(Schedule, "a ridgeviz Schedule"))
        x = torch.as_tensor(check("data", data, Array((None, None), at_least=(1, 1), label="(N, D)")))
        check("dtype", dtype, Instance(torch.dtype, "a torch floating-point dtype"))
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a torch floating-point dtype; got {dtype}")
        x = x.to(dtype=dtype, device=x.device if device is None else check("device", device, Device()))
        self.chunk_elements = check("chunk_elements", chunk_elements, Integer(1, None))
        self.data = x
        self.schedule = schedule
        self._centre = x.mean(0)
        self._post = PosteriorMoments(x - self._centre, self.chunk_elements)

    @property
    def N(self) -> int:
        return self.data.shape[0]

    @property
    def D(self) -> int:
        return self.data.shape[1]

    @property
    def device(self):
        return self.data.device

    @property
    def dtype(self):
        return self.data.dtype

    # -- inputs ----------------------------------------------------------------------------
    def as_points(self, x) -> torch.Tensor:
        """Queries as a ``(M, D)`` tensor in this density's dtype and device (validated: real, finite)."""
        x = check("x", x, Array((None, self.D), label=f"(M, {self.D})"))
        return torch.as_tensor(x).to(dtype=self.dtype, device=self.device)

    def times(self, t, M: int) -> torch.Tensor:
        """``t`` (a number or an ``(M,)`` array) as an ``(M,)`` tensor, validated to lie in ``[1e-12, T]``."""
        return torch.as_tensor(self.schedule.check_times(t, M)).to(dtype=self.dtype, device=self.device)

    def coefficients(self, t, M: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha_t, h_t)`` as ``(M,)`` tensors for ``t`` a float or an ``(M,)`` array."""
        t = self.times(t, M)
        return self.schedule.alpha(t), self.schedule.h(t)

    # -- the one pass ----------------------------------------------------------------------
    def evaluate(self, x, t, *, hessian: bool = False, weights: bool = False) -> DensityEval:
        """log p_t, score and denoiser (and optionally Hessian, weights) at ``x: (M, D)``."""
        x = self.as_points(x)
        M, D = x.shape
        a, h = self.coefficients(t, M)
        require(density_cost(M, self.N, D, hessian=hessian, weights=weights), f"the density at {M} points",
                "the number of query points", time=False)
        y = x - a[:, None] * self._centre  # queries centred at alpha c (step 1)
        # outputs are allocated once and filled tile by tile: keeping every tile's small results alive between
        # its large temporaries fragments the heap (measured: +2.8 GB peak RSS at N = 60,000, D = 32, M = 2,000)
        log_s, mean = x.new_empty(M), x.new_empty(M, D)
        cov = x.new_empty(M, D, D) if hessian else None
        w_out = x.new_empty(M, self.N) if weights else None
        post = self._post
        if weights or self.N <= DIRECT_MAX_N:  # few points: the direct centred sums are exact and cheapest
            redo, redo_cov = torch.ones(M, dtype=torch.bool, device=x.device), None
        else:
            redo, redo_cov = post.moments(y, a, h, hessian and D <= MOMENT_MAX_D, log_s, mean, cov)
            if hessian:
                redo_cov = ~redo if D > MOMENT_MAX_D else redo_cov & ~redo
        if redo.any():
            post.centred(torch.nonzero(redo).squeeze(1), y, a, h, hessian, log_s, mean, cov, w_out)
        if redo_cov is not None and redo_cov.any():  # the mean is fine, the moment covariance too inexact
            post.centred_cov(torch.nonzero(redo_cov).squeeze(1), y, a, h, mean, cov)
        log_prob = log_s - math.log(self.N) - 0.5 * D * torch.log(2 * math.pi * h)
        score = (a[:, None] * mean - y) / h[:, None]
        hess = None
        if hessian:
            eye = torch.eye(D, dtype=x.dtype, device=x.device)
            hess = cov.mul_((a * a / (h * h))[:, None, None]).sub_(eye / h[:, None, None])
        out = DensityEval(log_prob, score, mean + self._centre, hess, w_out)
        _check_finite((out.log_prob, out.score, out.denoised, hess, w_out), x, h)
        return out

    # -- convenience views of the one pass -------------------------------------------------
    def log_prob(self, x, t) -> torch.Tensor:
        """``log p_t(x)``: ``(M,)``."""
        return self.evaluate(x, t).log_prob

    def score(self, x, t) -> torch.Tensor:
        """``grad log p_t(x) = (alpha_t D(x,t) - x)/h_t``: ``(M, D)``."""
        return self.evaluate(x, t).score

    def denoise(self, x, t) -> torch.Tensor:
        """Exact denoiser ``E[x_0 | x_t = x] = sum_i w_i x_i``: ``(M, D)``."""
        return self.evaluate(x, t).denoised

    def hessian(self, x, t) -> torch.Tensor:
        """``grad^2 log p_t(x) = -I/h + (alpha^2/h^2) Cov_w``: ``(M, D, D)``, symmetric."""
        return self.evaluate(x, t, hessian=True).hessian

    def posterior_weights(self, x, t) -> torch.Tensor:
        """Posterior weights ``w_i(x, t)``: ``(M, N)``, rows sum to one."""
        return self.evaluate(x, t, weights=True).weights


def _check_finite(outputs, x, h) -> None:
    """A ``ValueError`` instead of NaN/inf outputs (float overflow: far queries at a tiny bandwidth)."""
    if all(o is None or bool(torch.isfinite(o).all()) for o in outputs):
        return
    raise ValueError(f"x, t: the density overflows float64 at these queries (|x| up to {float(x.abs().max()):.3g}, "
                     f"smallest h_t {float(h.min()):.3g}); rescale the data and queries or use larger times")


def as_numpy(x) -> np.ndarray:
    """A tensor or array as a float64 NumPy array on the CPU."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)
