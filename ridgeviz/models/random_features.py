"""The paper's random-feature score model, its training loss by deterministic quadrature, and gradient flow.

Model (DESIGN.md "Score models"), with ``p`` frozen random features and ``K`` Fourier time frequencies::

    f(x, t)   = relu(W_x x + W_t phi(t) + b) / sqrt(p)                       (p,)
    phi(t)    = [1, sin(2 pi k t/T), cos(2 pi k t/T)]_{k=1..K}                (2K+1,)
    m_A(x, t) = A f(x, t),   score = (m_A(x, t) - x) / h_t                     m_A estimates alpha_t E[x_0|x_t]

with ``W_x ~ N(0, 1/D)``, ``W_t ~ N(0, 1/(2K+1))``, ``b ~ N(0, 1)`` frozen (drawn in float32 from the caller's
generator, kept in float64, so float32 storage is lossless) and the readout ``A`` (D, p) trained on

    L(A) = (1/(N D)) sum_i int_0^T E_z |m_A(alpha_t x_i + sqrt(h_t) z, t) - alpha_t x_i|^2 dt
         = (1/D) [tr(A U A^T) - 2 tr(A V^T) + c],
    U = (1/N) sum_i int_0^T E_z[f f^T] dt  (p, p),     V = (1/N) sum_i int_0^T E_z[alpha_t x_i f^T] dt  (D, p).

The time integral runs over the whole of ``[0, T]`` as in the paper: the integrand is bounded at t = 0 (only
the score ``(m_A - x)/h_t`` is singular there, and samplers stop at ``t_min``).

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
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..core.schedules import Schedule
from ..data.datasets import dataset_fingerprint
from ..utils.limits import Cost, require
from ..utils.validation import NON_NEGATIVE, POSITIVE, SEED, Array, Instance, Integer, Real, check, validate_fields

RCOND = 1e-6
TAU = Real(0.0, None, inf=True)  # training time: >= 0, inf for the least-squares limit
READOUT_CHUNK = 2**17  # features held at a time by RandomFeatureModel.readout (1 MiB of float64: cache-sized)
U_BLOCK = 512  # column blocks of the symmetric U: only those on and above the diagonal are multiplied


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


# -- quadrature --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quadrature:
    """Deterministic rule for ``(1/N) sum_i int_0^T E_z[...] dt``.

    Time: ``[0, T]`` split into ``max(min_panels, ceil(panels_per_period * K))`` equal panels (each period
    ``T/K`` of the highest Fourier frequency spans ``panels_per_period`` panels; products of features carry
    frequencies up to 2K), ``time_nodes`` Gauss-Legendre nodes each; the first panel is split geometrically
    ``refine`` times (ratio 1/4) because ``sqrt(h_t)`` behaves like ``sqrt(t)`` at 0.

    Noise, ``z ~ N(0, I_D)`` in polar form ``z = r u``: ``radial_nodes`` generalised Gauss-Laguerre nodes in
    ``s = r^2/2`` (weight ``s^(D/2-1) e^-s``, exact for the chi distribution) times a set of unit directions
    that changes from one time node to the next: ``directions`` equally spaced angles offset by the golden
    ratio (D = 2), ``+-1`` (D = 1), or the ``+-`` columns of seeded random rotations (D >= 3, ``seed``). The
    relu kinks make any fixed rule converge slowly; turning the directions between time nodes makes the
    angular errors cancel in the time integral (measured: 2-4x fewer nodes than a tensor Gauss-Hermite grid
    at equal accuracy).
    """

    panels_per_period: float = 2.0
    time_nodes: int = 4
    min_panels: int = 64
    refine: int = 6
    radial_nodes: int = 8
    directions: int = 6
    seed: int = 0

    def __post_init__(self):
        validate_fields(self, {"panels_per_period": Real(0, 1e3, lo_open=True), "time_nodes": Integer(1, 64),
                               "min_panels": Integer(1, 10**6), "refine": Integer(0, 64),
                               "radial_nodes": Integer(1, 256), "directions": Integer(1, 4096), "seed": SEED})

    def cost(self, N: int, D: int, p: int, K: int, chunk_nodes: int) -> Cost:
        """Memory and work of :func:`feature_moments` (N points, p features, K frequencies): noise nodes, node blocks,
        U; per node ``2 p^2`` for U by matrix products (counted at 1/32) and ``2 p D`` (p = 2,000, K = 128: 10.8 s,
        estimated 26 s)."""
        n_t = max(self.min_panels, math.ceil(self.panels_per_period * K)) * self.time_nodes + self.refine + 1
        dirs = 2 if D == 1 else self.directions if D == 2 else 2 * D * math.ceil(self.directions / (2 * D))
        noise, n_z = n_t * self.radial_nodes * dirs * D + 3 * n_t * dirs * D, self.radial_nodes * dirs
        return Cost(8.0 * (noise + 4 * chunk_nodes * p + 2 * p * p), N * n_t * n_z * (p * p / 16 + 2.0 * p * D))

    def time_rule(self, T: float, K: int) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights on ``[0, T]``: ``(n_t,)`` each, weights summing to T."""
        n = max(self.min_panels, math.ceil(self.panels_per_period * K))
        edges = np.linspace(0.0, T, n + 1)
        first = edges[1] * 0.25 ** np.arange(self.refine, -1, -1)
        edges = np.concatenate([[0.0], first, edges[2:]])
        x, w = np.polynomial.legendre.leggauss(self.time_nodes)
        a, b = edges[:-1, None], edges[1:, None]
        return (0.5 * (a + b) + 0.5 * (b - a) * x).ravel(), (0.5 * (b - a) * w).ravel()

    def noise_rule(self, D: int, n_times: int) -> tuple[np.ndarray, np.ndarray]:
        """Nodes ``(n_times, n_z, D)`` and weights ``(n_z,)`` (summing to 1) for ``E_z``, one set per time node."""
        from scipy.special import roots_genlaguerre

        s, ws = roots_genlaguerre(self.radial_nodes, D / 2 - 1)
        r, ws = np.sqrt(2 * s), ws / ws.sum()
        k = np.arange(n_times)[:, None]
        if D == 1:
            u = np.broadcast_to(np.array([[1.0], [-1.0]]), (n_times, 2, 1))
        elif D == 2:
            angle = 2 * np.pi * (np.arange(self.directions)[None, :] + (k * _GOLDEN) % 1.0) / self.directions
            u = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        else:
            frames = math.ceil(self.directions / (2 * D))
            g = np.random.default_rng(self.seed).standard_normal((n_times, frames, D, D))
            q = np.linalg.qr(g)[0].reshape(n_times, frames * D, D)
            u = np.concatenate([q, -q], axis=1)
        z = r[None, :, None, None] * u[:, None, :, :]  # (n_times, radial, directions, D)
        return z.reshape(n_times, -1, D), np.repeat(ws, u.shape[1]) / u.shape[1]


_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass
class Moments:
    """Integrated feature moments ``U (p, p)``, ``V (D, p)`` and ``c = (1/N) sum_i int alpha_t^2 |x_i|^2 dt``."""

    U: torch.Tensor
    V: torch.Tensor
    c: float
    nodes: int
    quadrature: dict | None = None  # how they were computed (the rule's settings, or the Monte Carlo sizes)
    _eig: tuple | None = field(default=None, repr=False)

    def spectrum(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Eigenvalues (ascending, clamped at 0) and eigenvectors of U, computed once."""
        if self._eig is None:
            lam, Q = torch.linalg.eigh(0.5 * (self.U + self.U.T))
            self._eig = (lam.clamp_min(0), Q)
        return self._eig

    def loss(self, A: torch.Tensor) -> float:
        """``L(A) = (1/D)[tr(A U A^T) - 2 tr(A V^T) + c]``."""
        D = self.V.shape[0]
        return float(((A @ self.U * A).sum() - 2 * (A * self.V).sum() + self.c) / D)


def _check_fit_inputs(rf: RandomFeatureModel, data, schedule) -> torch.Tensor:
    x = torch.as_tensor(check("data", data, Array((None, rf.D), at_least=(1, 1)))).to(torch.float64).to(rf.device)
    if not math.isclose(schedule.T, rf.T, rel_tol=1e-12):
        raise ValueError(f"T: the features' period T = {rf.T} must equal the schedule's T = {schedule.T}")
    return x


def _node_blocks(rf, data, schedule, quadrature, chunk_nodes, reuse: bool = False):
    """Yield ``(sqrt(w) f, w, alpha_t x_i)`` for blocks of quadrature nodes: ``(n, p)``, ``(n,)``, ``(n, D)``.

    Each block is one batched product per time node, ``[sd z, 1] s @ [W_x^T; mu_t]`` with the node's scale
    ``s = sqrt(w / p)`` folded in (``relu(s u) = s relu(u)`` for ``s >= 0``), then an in-place relu: two passes
    over the block. ``reuse``: every block is written into one buffer (valid until the next block).
    """
    t, wt = quadrature.time_rule(rf.T, rf.K)
    dev = rf.device
    t, wt = (torch.as_tensor(a, dtype=torch.float64, device=dev) for a in (t, wt))
    alpha, sd = schedule.alpha(t), schedule.sigma(t)
    base = rf.time_embedding(t) @ rf.W_t.T + rf.b  # (n_t, p): the time part, shared by every point
    N, p, D = data.shape[0], rf.p, rf.D
    buf = None
    for xi in data:
        z, wz = (torch.as_tensor(a, dtype=torch.float64, device=dev) for a in quadrature.noise_rule(rf.D, len(t)))
        nz = len(wz)
        step = max(1, chunk_nodes // nz)
        mu = alpha[:, None] * (rf.W_x @ xi)[None, :] + base  # (n_t, p): pre-activation at z = 0
        for s in range(0, len(t), step):
            sl = slice(s, s + step)
            c = len(t[sl])
            w = (wt[sl, None] * wz[None, :]).reshape(-1) / N
            scale = (w.sqrt() / math.sqrt(p)).view(c, nz, 1)
            zs = torch.cat([sd[sl, None, None] * z[sl], z.new_ones(c, nz, 1)], 2).mul_(scale)  # (c, n_z, D+1)
            Wa = torch.cat([rf.W_x.T.expand(c, D, p), mu[sl, None, :]], 1)  # (c, D+1, p)
            if reuse:
                buf = zs.new_empty(step * nz, p) if buf is None else buf
                out = torch.bmm(zs, Wa, out=buf[:c * nz].view(c, nz, p))
            else:
                out = torch.bmm(zs, Wa)
            target = (alpha[sl, None] * xi[None, :]).repeat_interleave(nz, dim=0)
            yield out.view(c * nz, p).relu_(), w, target


def feature_moments(rf: RandomFeatureModel, data, schedule, quadrature: Quadrature = Quadrature(), *,
                    chunk_nodes: int = 8192) -> Moments:
    """``U``, ``V``, ``c`` of the loss by the deterministic :class:`Quadrature` (float64, on the model's device).

    ``data: (N, D)``. Cost: about ``(5/8) n_nodes p^2`` flops for U with ``n_nodes = N * n_t * n_z`` (only the
    blocks on and above the diagonal of the symmetric U are multiplied), in blocks of ``chunk_nodes`` nodes so
    memory stays at ``chunk_nodes * p`` floats.
    """
    x = _check_fit_inputs(rf, data, schedule)
    if isinstance(quadrature, Quadrature):
        require(quadrature.cost(x.shape[0], rf.D, rf.p, rf.K, chunk_nodes), "the feature moments",
                "p (features), K (time features) or the quadrature", time=False)
    U = torch.zeros(rf.p, rf.p, dtype=torch.float64, device=rf.device)
    V = torch.zeros(rf.D, rf.p, dtype=torch.float64, device=rf.device)
    c, nodes = 0.0, 0
    blocks = [(slice(i, i + U_BLOCK), slice(i, rf.p)) for i in range(0, rf.p, U_BLOCK)]
    for F, w, target in _node_blocks(rf, x, schedule, quadrature, chunk_nodes, reuse=True):
        for rows, cols in blocks:  # U[i, j:] for each row block i: the upper triangle of blocks and the diagonal
            U[rows, cols].addmm_(F[:, rows].T, F[:, cols])
        V.addmm_((target * w.sqrt()[:, None]).T, F)
        c += float((w * (target * target).sum(-1)).sum())
        nodes += len(w)
    U = torch.triu(U) + torch.triu(U, 1).T  # mirror the upper triangle: exactly symmetric
    return Moments(U, V, c, nodes, asdict(quadrature) if isinstance(quadrature, Quadrature) else None)


class _MonteCarloRule:
    """The authors' sampling as a rule for :func:`_node_blocks`: midpoints of equal time intervals, Gaussian draws."""

    def __init__(self, n_times: int, n_noise: int, generator):
        self.n_times, self.n_noise = n_times, n_noise
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def time_rule(self, T, K):
        return (np.arange(self.n_times) + 0.5) * T / self.n_times, np.full(self.n_times, T / self.n_times)

    def noise_rule(self, D, n_times):
        z = torch.randn((n_times, self.n_noise, D), generator=self.generator, dtype=torch.float64)
        return z.numpy(), np.full(self.n_noise, 1.0 / self.n_noise)


def monte_carlo_moments(rf: RandomFeatureModel, data, schedule, n_times: int, n_noise: int, *,
                        generator=None, chunk_nodes: int = 8192) -> Moments:
    """The authors' estimator: ``n_times`` equal time intervals (midpoints) x ``n_noise`` Gaussian draws per
    interval and training point (independent for each point). Same code path and cost per node as
    :func:`feature_moments`, so the two compare by node count; a baseline for the benchmark and the tests.
    """
    n_times, n_noise = check("n_times", n_times, Integer(1, 10**7)), check("n_noise", n_noise, Integer(1, 10**7))
    rule = _MonteCarloRule(n_times, n_noise, generator)
    m = feature_moments(rf, data, schedule, rule, chunk_nodes=chunk_nodes)
    m.quadrature = {"monte_carlo": {"n_times": n_times, "n_noise": n_noise}}
    return m


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
                        quadrature: Quadrature = Quadrature(), rcond: float = RCOND) -> RandomFeatureScore:
    """Train the readout by gradient flow for time ``tau`` (``float('inf')``: the least-squares limit).

    ``data: (N, D)`` training points; ``moments`` (from :func:`feature_moments`) is reused when given, so a
    sweep over tau pays for the quadrature once. Returns a :class:`RandomFeatureScore` for ``schedule``.
    """
    x = _check_fit_inputs(rf, data, schedule)
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
                     quadrature: Quadrature = Quadrature(), max_nodes_features: int = 2**26) -> torch.Tensor:
    """Plain gradient descent ``A <- A - lr * grad_A (D L)(A)`` from ``A0`` for ``ceil(tau/lr)`` steps: ``(D, p)``.

    The loss is evaluated at the quadrature nodes themselves (autograd through ``sum_n w_n |A f_n - a_n|^2``),
    an independent check of :func:`gradient_flow`; the step is shrunk so the steps add up to exactly ``tau``.
    Materialises every node's features, so it is meant for small ``p`` (refuses more than
    ``max_nodes_features`` floats).
    """
    tau, lr = check("tau", tau, POSITIVE), check("lr", lr, POSITIVE)
    x = _check_fit_inputs(rf, data, schedule)
    blocks = list(_node_blocks(rf, x, schedule, quadrature, 8192))
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
