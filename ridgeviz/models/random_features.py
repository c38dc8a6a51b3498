"""The paper's random-feature score model and its training by closed-form gradient flow.

The loss's moments ``U``, ``V``, ``c`` come from :mod:`ridgeviz.models.rf_moments` (deterministic quadrature).

Model (DESIGN.md "Score models"), with ``p`` frozen random features and ``K`` Fourier time frequencies::

    f(x, t)   = relu(W_x x + W_t phi(t) + b) / sqrt(p)                       (p,)
    phi(t)    = [1, sin(2 pi k t/T), cos(2 pi k t/T)]_{k=1..K}                (2K+1,)
    m_A(x, t) = A f(x, t),   score = (m_A(x, t) - x) / h_t                     m_A estimates alpha_t E[x_0|x_t]

with ``W_x ~ N(0, 1/D)``, ``W_t ~ N(0, 1/(2K+1))``, ``b ~ N(0, 1)`` frozen (drawn in float32 from the caller's
generator, kept in float64, so float32 storage is lossless) and the readout ``A`` (D, p) trained on

    L(A) = (1/(N D)) sum_i int_0^T E_z |m_A(alpha_t x_i + sqrt(h_t) z, t) - alpha_t x_i|^2 dt
         = (1/D) [tr(A U A^T) - 2 tr(A V^T) + c],
    U = (1/N) sum_i int_0^T E_z[f f^T] dt  (p, p),     V = (1/N) sum_i int_0^T E_z[alpha_t x_i f^T] dt  (D, p).

The time integral runs over the whole of ``[0, T]`` as in the authors' formulation: the integrand is bounded at
t = 0 (only the score ``(m_A - x)/h_t`` is singular there, and samplers stop at ``t_min``).

**Training time.** ``tau`` is gradient-flow time for ``D * L`` (the 1/D of L absorbed into tau), so
``dA/dtau = -2 (A U - V)`` and, from ``A(0) = A0``,

    A(tau) = (A0 - V U^+) expm(-2 tau U) + V U^+.

Gradient flow on ``L`` itself reaches the same matrix at time ``D * tau``. Because the features carry the
``1/sqrt(p)``, U's spectrum is O(T) whatever p is; in DESIGN.md's notation (``W = A/sqrt(p)`` on raw features,
raw moments ``p U`` and ``sqrt(p) V``) this is the same flow: ``W(tau) = (W0 - V_raw U_raw^+) expm(-2 tau U) +
V_raw U_raw^+``.

**Pseudo-inverse.** Eigenvalues of U at or below ``rcond * lambda_max`` are treated as zero at every tau (those
directions keep ``A0``; for finite tau they would move by at most ``2 tau |V q|``). U is ill-conditioned
(p = 2,000, K = 128, (+-3, 0): eigenvalues 7.4 down to 5e-9). Measured between the default quadrature and a 3x
finer one (benchmarks/bench_random_features.py): the weights of W(inf) change by 29% without a threshold, 17% at
the default ``RCOND = 1e-6`` (85 directions dropped; loss 0.369 against the exact least squares' 0.366), 10% at
1e-5 (loss 0.43), 4% at 3e-5 (loss 0.54); the fitted function ``|dA|_U / |A|_U`` changes by 2-3% at every
threshold, and W(tau) by 0.3% at tau = 100 and 1.6% at tau = 1000 (the authors' Monte Carlo moments: 25-105%).
The default removes only directions below the quadrature's resolution and keeps the least-squares fit: the
weights along the smallest eigenvalues are not determined by the data, the function they define is.
"""

from __future__ import annotations

import math

import torch

from ..core.schedules import Schedule
from ..data.datasets import dataset_fingerprint
from ..utils.limits import Cost, require
from ..utils.validation import NON_NEGATIVE, POSITIVE, Array, Instance, Integer, Real, check
from .rf_moments import DEFAULT_QUADRATURE, Moments, Quadrature, check_fit_inputs, feature_moments, node_blocks

RCOND = 1e-6
TAU = Real(0.0, None, inf=True)  # training time: >= 0, inf for the least-squares limit
READOUT_CHUNK = 2**17  # features held at a time by RandomFeatureModel.readout (1 MiB of float64: cache-sized)


class RandomFeatureModel:
    """Frozen random features ``f(x, t)``: ``W_x (p, D)``, ``W_t (p, 2K+1)``, ``b (p,)`` and the initial readout.

    ``RandomFeatureModel(D, features=p, time_features=K, T, generator=g)``; ``init_scale`` sets the initial
    readout ``A0 ~ N(0, init_scale^2)`` (D, p) (0 gives ``A0 = 0``). Everything is float64 on ``device``.
    Without a ``generator`` the weights come from a fresh generator seeded with 0 (the global RNG is never used).
    """

    kind = "random-features"

    def __init__(self, D: int, features: int, time_features: int, T: float, *, generator=None,
                 init_scale: float = 1.0, device=None):
        D, features, time_features = (check(k, v, Integer(lo, 2**20)) for k, v, lo in
                                      (("D", D, 1), ("features", features, 1), ("time_features", time_features, 0)))
        T, init_scale = check("T", T, Real(0, 1e6, lo_open=True)), check("init_scale", init_scale, Real(0, 1e6))
        q = 2 * time_features + 1
        require(Cost(8.0 * features * (2 * D + q + 1)), f"random features with p = {features}", "p (features)",
                time=False)
        self.D, self.p, self.K, self.T = D, features, time_features, T
        generator = generator if generator is not None else torch.Generator().manual_seed(0)

        def draw(*shape, std):
            return (torch.randn(shape, generator=generator, dtype=torch.float32) * std).double()

        self.W_x = draw(self.p, self.D, std=1 / math.sqrt(self.D))
        self.W_t = draw(self.p, q, std=1 / math.sqrt(q))
        self.b = draw(self.p, std=1.0)
        self.A0 = draw(self.D, self.p, std=float(init_scale))
        self.init_scale = float(init_scale)
        if device is not None:
            self.to(device)

    @classmethod
    def from_tensors(cls, W_x, W_t, b, A0, T: float, init_scale: float = 1.0) -> RandomFeatureModel:
        """Rebuild from stored weights (shapes ``(p, D)``, ``(p, 2K+1)``, ``(p,)``, ``(D, p)``)."""
        p, D = W_x.shape
        q = W_t.shape[1]
        if W_t.shape[0] != p or q % 2 != 1 or tuple(b.shape) != (p,) or tuple(A0.shape) != (D, p):
            raise ValueError("random-feature weights have inconsistent shapes")
        self = cls.__new__(cls)
        self.D, self.p, self.K, self.T, self.init_scale = D, p, (q - 1) // 2, float(T), float(init_scale)
        self.W_x, self.W_t, self.b, self.A0 = (v.to(torch.float64) for v in (W_x, W_t, b, A0))
        return self

    @property
    def device(self):
        return self.W_x.device

    def to(self, device) -> RandomFeatureModel:
        self.W_x, self.W_t, self.b, self.A0 = (v.to(device) for v in (self.W_x, self.W_t, self.b, self.A0))
        return self

    def time_embedding(self, t) -> torch.Tensor:
        """``phi(t) = [1, sin(2 pi k t/T), cos(2 pi k t/T)]_{k=1..K}`` for ``t: (M,)``: ``(M, 2K+1)``."""
        t = torch.as_tensor(t, dtype=torch.float64, device=self.device).reshape(-1)
        angle = (2 * math.pi / self.T) * t[:, None] * torch.arange(1, self.K + 1, dtype=torch.float64,
                                                                   device=self.device)
        return torch.cat([torch.ones_like(t)[:, None], angle.sin(), angle.cos()], dim=1)

    def time_rows(self, t, M: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The time part ``W_t phi(t) + b`` once per distinct time of ``t`` (float or ``(M,)``): ``(U, p)``, and
        each query's row as an ``(M,)`` index (None when all share one time, as a sampler's particles do)."""
        t = torch.as_tensor(t, dtype=torch.float64, device=self.device).reshape(-1)
        if t.numel() not in (1, M):
            raise ValueError(f"t must be a number or have shape ({M},); got {tuple(t.shape)}")
        inv = None
        if t.numel() > 1:
            t, inv = torch.unique(t, return_inverse=True)
            inv = inv if t.numel() > 1 else None
        return torch.addmm(self.b, self.time_embedding(t), self.W_t.T), inv

    def features(self, x, t) -> torch.Tensor:
        """``f(x, t) = relu(W_x x + W_t phi(t) + b)/sqrt(p)`` for ``x: (M, D)``, ``t`` float or ``(M,)``: ``(M, p)``."""
        x = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        base, inv = self.time_rows(t, x.shape[0])
        pre = torch.addmm(base if inv is None else base[inv], x, self.W_x.T)
        return pre.relu_().div_(math.sqrt(self.p))

    def readout(self, x, t, A: torch.Tensor) -> torch.Tensor:
        """``A f(x, t)`` for ``x: (M, D)``, ``t`` float or ``(M,)`` and ``A: (D', p)``: ``(M, D')``.

        Equal to ``features(x, t) @ A.T`` (up to rounding) without holding the ``(M, p)`` features: queries go in
        chunks whose features fit ``READOUT_CHUNK`` elements (cache-sized), the time part is computed once per
        distinct time, and ``1/sqrt(p)`` is folded into ``A`` (relu is positively homogeneous).
        """
        x = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        M = x.shape[0]
        base, inv = self.time_rows(t, M)
        As = (A.to(torch.float64) / math.sqrt(self.p)).T.contiguous()  # (p, D')
        out = x.new_empty(M, As.shape[1])
        m = max(1, READOUT_CHUNK // self.p)
        buf = x.new_empty(min(m, M), self.p)
        if inv is None:  # one time: [x, 1] @ [W_x^T; W_t phi + b], the bias inside the product (no extra pass)
            x, Wa = torch.cat([x, x.new_ones(M, 1)], 1), torch.cat([self.W_x.T, base], 0)
        for i in range(0, M, m):
            pre = buf[:min(m, M - i)]
            if inv is None:
                torch.mm(x[i:i + m], Wa, out=pre)
            else:
                torch.addmm(base[inv[i:i + m]], x[i:i + m], self.W_x.T, out=pre)
            torch.mm(pre.relu_(), As, out=out[i:i + m])
        return out


class RandomFeatureScore:
    """Score model ``(A f(x, t) - x)/h_t`` of a random-feature model with readout ``A: (D, p)``.

    Follows the score contract: ``model(x, t) -> (M, D)`` float64 on ``x``'s device. ``tau`` is the training
    time it was fitted at (``inf`` for the least-squares limit), kept for labels and checkpoints.
    """

    kind = "random-features"

    def __init__(self, rf: RandomFeatureModel, A: torch.Tensor, schedule, tau: float = math.inf):
        check("schedule", schedule, Instance(Schedule, "a ridgeviz Schedule"))
        A = torch.as_tensor(check("A", A, Array((rf.D, rf.p))))
        self.rf, self.A, self.schedule = rf, A.to(torch.float64).to(rf.device), schedule
        self.tau = check("tau", tau, TAU)

    def mean(self, x, t) -> torch.Tensor:
        """``m_A(x, t) = A f(x, t)``, the model's estimate of ``alpha_t E[x_0 | x_t = x]``: ``(M, D)``."""
        return self.rf.readout(x, t, self.A)

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
