"""The frozen random features of the paper's random-feature model (the model and its loss:
:mod:`ridgeviz.models.random_features`; their moments: :mod:`ridgeviz.models.rf_moments`).

Kept apart from the readout's training so that the moments and the model import the features, not each other.
"""

from __future__ import annotations

import math

import torch

from ..utils.limits import Cost, require
from ..utils.validation import Integer, Real, check
from .rf_kernels import FusedWeights, can_fuse, readout_fused, readout_tiled


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

    def readout(self, x, t, A: torch.Tensor, dtype: torch.dtype = torch.float64, weights=None) -> torch.Tensor:
        """``A f(x, t)`` for ``x: (M, D)``, ``t`` float or ``(M,)`` and ``A: (D', p)``: ``(M, D')`` float64.

        Equal to ``features(x, t) @ A.T`` up to the order of the sums, without holding the ``(M, p)`` features
        (:mod:`ridgeviz.models.rf_kernels`: a fused compiled loop for D = D' = 2 on the CPU, L2-sized tiles
        otherwise); the time part is computed once per distinct time and ``1/sqrt(p)`` is folded into ``A``
        (relu is positively homogeneous). ``dtype=torch.float32`` runs the arithmetic in float32 (the
        optional fast path; its error against float64 is in ``benchmarks/bench_rf_experiment.py``).
        ``weights``: a :class:`~ridgeviz.models.rf_kernels.FusedWeights` of ``A`` prepared once by the caller.
        """
        x = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        if x.shape[0] == 0:
            return torch.zeros(0, A.shape[0], dtype=torch.float64, device=self.device)
        if x.shape[0] == 0:
            return torch.zeros(0, A.shape[0], dtype=torch.float64, device=self.device)
        base, inv = self.time_rows(t, x.shape[0])
        As = (A.to(torch.float64) / math.sqrt(self.p)).T  # (p, D')
        if can_fuse(x, self.W_x, As, inv):
            weights = weights if weights is not None else FusedWeights(self.W_x, As, dtype)
            return readout_fused(x, base[0], weights).to(torch.float64)
        return readout_tiled(x.to(dtype), self.W_x.to(dtype), base.to(dtype), As.to(dtype), inv).to(torch.float64)
