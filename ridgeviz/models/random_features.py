"""The paper's random-feature score model and its training by closed-form gradient flow.

The frozen features live in :mod:`ridgeviz.models.rf_features`; the loss's moments ``U``, ``V``, ``c`` come from
:mod:`ridgeviz.models.rf_moments` (deterministic quadrature).

Model (the authors' code's formulation), with ``p`` frozen random features and ``K`` Fourier time frequencies::

    f(x, t)   = relu(W_x x + W_t phi(t) + b) / sqrt(p)                       (p,)
    phi(t)    = [1, sin(2 pi k t/T), cos(2 pi k t/T)]_{k=1..K}                (2K+1,)
    m_A(x, t) = A f(x, t),   score = (m_A(x, t) - x) / h_t                     m_A estimates alpha_t E[x_0|x_t]

with ``W_x ~ N(0, 1/D)``, ``W_t ~ N(0, 1/(2K+1))``, ``b ~ N(0, 1)`` frozen (drawn in float32 from the caller's
generator, kept in float64, so float32 storage is lossless) and the readout ``A`` (D, p) trained on

    L(A) = (1/(N D)) sum_i int_t0^T E_z |m_A(alpha_t x_i + sqrt(h_t) z, t) - alpha_t x_i|^2 dt
         = (1/D) [tr(A U A^T) - 2 tr(A V^T) + c],
    U = (1/N) sum_i int_t0^T E_z[f f^T] dt  (p, p),     V = (1/N) sum_i int_t0^T E_z[alpha_t x_i f^T] dt  (D, p).

The time integral runs over ``[t_min, T]`` by default, as in the authors' code (``t_min`` the schedule's, where the
samplers stop); ``Quadrature(interval="zero")`` integrates over ``[0, T]`` instead (the integrand is bounded at
t = 0; ridgeviz's earlier rule). The loss is unweighted: its floor, the exact denoiser's loss, is 0.2648 on
(+-3, 0) under OU with T = 10 and t_min = 1e-3 (the authors' code compares it with a floor weighted by 1/h_t^2,
0.3466; see docs/reproducing.md, Score models that learn).

**Training time.** ``tau`` is gradient-flow time for ``D * L`` (the 1/D of L absorbed into tau), so
``dA/dtau = -2 (A U - V)`` and, from ``A(0) = A0``,

    A(tau) = (A0 - V U^+) expm(-2 tau U) + V U^+.

Gradient flow on ``L`` itself reaches the same matrix at time ``D * tau``. Because the features carry the
``1/sqrt(p)``, U's spectrum is O(T) whatever p is; in the raw notation (``W = A/sqrt(p)`` on raw features,
raw moments ``p U`` and ``sqrt(p) V``) this is the same flow: ``W(tau) = (W0 - V_raw U_raw^+) expm(-2 tau U) +
V_raw U_raw^+``.

**Pseudo-inverse.** Eigenvalues of U at or below ``rcond * lambda_max`` are treated as zero at every tau (those
directions keep ``A0``; for finite tau they would move by at most ``2 tau |V q|``). U is ill-conditioned (p = 2,000, K
= 128, (+-3, 0): eigenvalues 7.4 down to 5e-9). Measured between the default quadrature and a 3x finer one
(benchmarks/bench_random_features.py, with the earlier [0, T] integral): the weights of W(inf) change by 29% without a
threshold, 17% at the default ``RCOND = 1e-6`` (85 directions dropped; loss 0.369 against the exact least squares'
0.366), 10% at 1e-5 (loss 0.43), 4% at 3e-5 (loss 0.54); the fitted function ``|dA|_U / |A|_U`` changes by 2-3% at
every threshold, and W(tau) by 0.3% at tau = 100 and 1.6% at tau = 1000 (the authors' Monte Carlo moments: 25-105%).
The default removes only directions below the quadrature's resolution and keeps the least-squares fit: the weights
along the smallest eigenvalues are not determined by the data, the function they define is.
"""

from __future__ import annotations

import math

import torch

from ..core.schedules import Schedule
from ..data.datasets import dataset_fingerprint
from ..utils.validation import NON_NEGATIVE, POSITIVE, Array, Instance, Options, Real, check
from .rf_features import RandomFeatureModel
from .rf_kernels import FusedWeights
from .rf_moments import DEFAULT_QUADRATURE, Moments, Quadrature, check_fit_inputs, feature_moments, node_blocks

RCOND = 1e-6
PRECISIONS = {"float64": torch.float64, "float32": torch.float32}  # the readout's arithmetic
TAU = Real(0.0, None, inf=True)  # training time: >= 0, inf for the least-squares limit


class RandomFeatureScore:
    """Score model ``(A f(x, t) - x)/h_t`` of a random-feature model with readout ``A: (D, p)``.

    Follows the score contract: ``model(x, t) -> (M, D)`` float64 on ``x``'s device. ``tau`` is the training
    time it was fitted at (``inf`` for the least-squares limit), kept for labels and checkpoints.
    ``precision``: ``"float64"`` (the default) or ``"float32"``, the dtype of the readout's arithmetic (the
    optional fast path; results are returned in float64 either way).
    """

    kind = "random-features"

    def __init__(self, rf: RandomFeatureModel, A: torch.Tensor, schedule, tau: float = math.inf,
                 precision: str = "float64"):
        check("schedule", schedule, Instance(Schedule, "a ridgeviz Schedule"))
        A = torch.as_tensor(check("A", A, Array((rf.D, rf.p))))
        self.rf, self.A, self.schedule = rf, A.to(torch.float64).to(rf.device), schedule
        self.tau = check("tau", tau, TAU)
        self.precision = check("precision", precision, Options(tuple(PRECISIONS)))
        self._fused = None  # (A, dtype, FusedWeights): the readout's weights prepared once for the fused loop

    def fused_weights(self):
        """The readout prepared for the fused loop (see :mod:`ridgeviz.models.rf_kernels`), or None off the CPU."""
        dtype = PRECISIONS[self.precision]
        if self.rf.device.type != "cpu":
            return None
        if self._fused is None or self._fused[0] is not self.A or self._fused[1] != dtype:
            As = (self.A / math.sqrt(self.rf.p)).T
            self._fused = (self.A, dtype, FusedWeights(self.rf.W_x, As, dtype) if As.shape[1] == 2 else None)
        return self._fused[2]

    def mean(self, x, t) -> torch.Tensor:
        """``m_A(x, t) = A f(x, t)``, the model's estimate of ``alpha_t E[x_0 | x_t = x]``: ``(M, D)``."""
        return self.rf.readout(x, t, self.A, PRECISIONS[self.precision], self.fused_weights())

    def __call__(self, x, t) -> torch.Tensor:
        x = torch.as_tensor(check("x", x, Array((None, self.rf.D)))).to(torch.float64)
        tt = torch.as_tensor(self.schedule.check_times(t, x.shape[0])).to(torch.float64).to(self.rf.device)
        h = self.schedule.h(tt)
        xd = x.to(self.rf.device)
        # the time term W_t phi(t) once per distinct time (once per step for a sampler), not once per particle
        s = (self.mean(xd, tt) - xd) / h[:, None]
        if not torch.isfinite(s).all():
            raise ValueError("x, t: the random-feature score overflows float64 at these queries")
        return s.to(x.device)


# -- training -----------------------------------------------------------------------------------------


def gradient_flow(moments: Moments, A0: torch.Tensor, tau: float, rcond: float = RCOND) -> torch.Tensor:
    """``A(tau) = (A0 - V U^+) expm(-2 tau U) + V U^+`` through the eigendecomposition of U: ``(D, p)``.

    Written as ``A0 Q e^{-2 tau L} Q^T + V Q g(L) Q^T`` with ``g(l) = (1 - e^{-2 tau l})/l`` (``1/l`` at
    tau = inf); eigenvalues ``<= rcond * max`` are set to zero (those directions keep ``A0``).
    """
    tau, rcond = check("tau", tau, TAU), check("rcond", rcond, NON_NEGATIVE)
    lam, Q = moments.spectrum()
    keep = lam > rcond * lam.max()
    lam_k = torch.where(keep, lam, torch.ones_like(lam))
    if math.isinf(tau):
        decay, g = (~keep).to(lam.dtype), torch.where(keep, 1 / lam_k, torch.zeros_like(lam))
    else:
        e = torch.expm1(-2 * tau * lam_k)
        decay = torch.where(keep, e + 1, torch.ones_like(lam))
        g = torch.where(keep, -e / lam_k, torch.zeros_like(lam))
    A0 = A0.to(Q)
    return ((A0 @ Q) * decay) @ Q.T + ((moments.V @ Q) * g) @ Q.T


def fit_random_features(rf: RandomFeatureModel, data, schedule, tau: float, *, moments: Moments | None = None,
                        quadrature: Quadrature = DEFAULT_QUADRATURE, rcond: float = RCOND) -> RandomFeatureScore:
    """Train the readout by gradient flow for time ``tau`` (``float('inf')``: the least-squares limit).

    ``data: (N, D)`` training points; ``moments`` (from :func:`feature_moments`) is reused when given, so a
    sweep over tau pays for the quadrature once. Returns a :class:`RandomFeatureScore` for ``schedule``.
    """
    x = check_fit_inputs(rf, data, schedule)
    if moments is None:
        moments = feature_moments(rf, x, schedule, quadrature)
    elif tuple(moments.U.shape) != (rf.p, rf.p) or tuple(moments.V.shape) != (rf.D, rf.p):
        raise ValueError(f"moments: U {tuple(moments.U.shape)} and V {tuple(moments.V.shape)} do not belong to a "
                         f"model with p = {rf.p} features in D = {rf.D} dimensions")
    model = RandomFeatureScore(rf, gradient_flow(moments, rf.A0, tau, rcond), schedule, tau)
    model.dataset_fingerprint = dataset_fingerprint(x.cpu().numpy())
    model.train_info = {"tau": "inf" if math.isinf(tau) else float(tau), "rcond": rcond, "nodes": moments.nodes,
                      "moments": moments.quadrature}
    return model


def gradient_descent(rf: RandomFeatureModel, data, schedule, tau: float, *, lr: float,
                     quadrature: Quadrature = DEFAULT_QUADRATURE, max_nodes_features: int = 2**26) -> torch.Tensor:
    """Plain gradient descent ``A <- A - lr * grad_A (D L)(A)`` from ``A0`` for ``ceil(tau/lr)`` steps: ``(D, p)``.

    The loss is evaluated at the quadrature nodes themselves (autograd through ``sum_n w_n |A f_n - a_n|^2``),
    an independent check of :func:`gradient_flow`; the step is shrunk so the steps add up to exactly ``tau``.
    Materialises every node's features, so it is meant for small ``p`` (refuses more than
    ``max_nodes_features`` floats).
    """
    tau, lr = check("tau", tau, POSITIVE), check("lr", lr, POSITIVE)
    x = check_fit_inputs(rf, data, schedule)
    blocks = list(node_blocks(rf, x, schedule, quadrature, 8192))
    F = torch.cat([b[0] for b in blocks])
    if F.numel() > max_nodes_features:
        raise ValueError(f"gradient descent would hold {F.numel()} floats; reduce p or the quadrature")
    target = torch.cat([b[2] * b[1].sqrt()[:, None] for b in blocks])
    steps = math.ceil(tau / lr)
    eta = tau / steps
    A = rf.A0.clone().requires_grad_(True)
    for _ in range(steps):
        loss = ((F @ A.T - target) ** 2).sum()  # = D * L(A) up to the constant
        (grad,) = torch.autograd.grad(loss, A)
        with torch.no_grad():
            A -= eta * grad
    return A.detach()
