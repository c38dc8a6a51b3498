"""The MLP score network, trained by denoising score matching in :mod:`ridgeviz.models.training`."""

from __future__ import annotations

import math

import torch

from ..core.schedules import Schedule
from ..utils.limits import Cost, mlp_parameters, require
from ..utils.validation import Array, Instance, Integer, Options, Real, check

PREDICTIONS = ("epsilon", "x0", "score")
#: What an architecture may be (the constructor and the checkpoint reader check the same declaration).
ARCHITECTURE = {"D": Integer(1, 65536), "hidden": Integer(1, 65536), "depth": Integer(1, 256),
                "time_features": Integer(2, 4096), "prediction": Options(PREDICTIONS),
                "data_var": Real(0.0, 1e300, lo_open=True)}


def check_architecture(arch: dict) -> dict:
    """Validate an architecture ``{D, hidden, depth, time_features, prediction, data_var}`` and its weights' memory
    (the work budget) before any module is built; returns the converted values."""
    out = {key: check(key, arch.get(key), c) for key, c in ARCHITECTURE.items()}
    if out["time_features"] % 2:
        raise ValueError(f"time_features must be even (sin and cos pairs); got {out['time_features']}")
    p = mlp_parameters(out["D"], out["hidden"], out["depth"], out["time_features"])
    require(Cost(4.0 * p), f"an MLP with {p:,} weights", "hidden or depth", time=False)
    return out


class MLPScore(torch.nn.Module):
    """Time-conditioned MLP score network (float32), trained by denoising score matching (``ridgeviz.training``).

    Input ``c_in(t) x`` with ``c_in = 1/sqrt(alpha_t^2 data_var + h_t)`` (unit-scale inputs at every t, EDM's
    preconditioning) concatenated with a sinusoidal embedding of the normalised log time
    ``u = 2 log(t/t_min)/log(T/t_min) - 1``: ``[sin(pi k u), cos(pi k u)]_{k=1..time_features/2}``; ``depth``
    hidden SiLU layers of width ``hidden``; output ``D`` numbers read according to ``prediction``:

    - ``"epsilon"``: the noise, ``score = -eps_hat / sigma_t``;
    - ``"x0"``: the clean point, ``score = (alpha_t x0_hat - x) / h_t``;
    - ``"score"``: the score itself.

    Weights are drawn from ``generator`` (see :meth:`reset_parameters`). Follows the score contract:
    ``model(x, t) -> (M, D)`` float64 on ``x``'s device (no gradient), for
    ``x: (M, D)`` and ``t`` a float or ``(M,)``. :meth:`score` is the differentiable float32 path for training.
    """

    kind = "mlp"

    def __init__(self, schedule, D: int, *, hidden: int = 128, depth: int = 4, time_features: int = 16,
                 prediction: str = "epsilon", data_var: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        check("schedule", schedule, Instance(Schedule, "a ridgeviz Schedule"))
        arch = check_architecture({"D": D, "hidden": hidden, "depth": depth, "time_features": time_features,
                                   "prediction": prediction, "data_var": data_var})
        self.schedule, self.D, self.prediction = schedule, arch["D"], arch["prediction"]
        self.hidden, self.depth, self.time_features = arch["hidden"], arch["depth"], arch["time_features"]
        data_var = arch["data_var"]
        self.register_buffer("data_var", torch.tensor(float(data_var), dtype=torch.float32))
        freqs = math.pi * torch.arange(1, time_features // 2 + 1, dtype=torch.float32)
        self.register_buffer("freqs", freqs, persistent=False)
        widths = [self.D + self.time_features] + [self.hidden] * self.depth
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [torch.nn.Linear(a, b, device="meta"), torch.nn.SiLU()]
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(self.hidden, self.D, device="meta"))
        self.net.to_empty(device="cpu")
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default uniform(+-1/sqrt(fan_in)) initialisation, drawn from ``generator`` (seed 0 if None).

        The global random state is never used, so building a network never changes anyone else's numbers.
        """
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        with torch.no_grad():
            for layer in self.net:
                if isinstance(layer, torch.nn.Linear):
                    bound = 1 / math.sqrt(layer.in_features)
                    for p in (layer.weight, layer.bias):
                        p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)

    def architecture(self) -> dict:
        """Constructor arguments (with ``D``) that rebuild this network."""
        return {"D": self.D, "hidden": self.hidden, "depth": self.depth, "time_features": self.time_features,
                "prediction": self.prediction, "data_var": float(self.data_var)}

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """Sinusoidal features of the normalised log time, ``t: (M,)`` -> ``(M, time_features)``."""
        s = self.schedule
        u = 2 * torch.log(t / s.t_min) / math.log(s.T / s.t_min) - 1
        angle = u[:, None] * self.freqs
        return torch.cat([angle.sin(), angle.cos()], dim=1)

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Differentiable score for float32 ``x: (M, D)`` and ``t: (M,)`` on the network's device."""
        a, h = self.schedule.alpha(t), self.schedule.h(t)
        c_in = torch.rsqrt(a * a * self.data_var + h)
        out = self.net(torch.cat([x * c_in[:, None], self.time_embedding(t)], dim=1))
        if self.prediction == "epsilon":
            return -out / h.sqrt()[:, None]
        if self.prediction == "x0":
            return (a[:, None] * out - x) / h[:, None]
        return out

    def forward(self, x, t) -> torch.Tensor:
        x = torch.as_tensor(check("x", x, Array((None, self.D))))
        dev = self.freqs.device
        tt = torch.as_tensor(self.schedule.check_times(t, x.shape[0]))
        with torch.no_grad():
            s = self.score(x.to(dev, torch.float32), tt.to(dev, torch.float32))
        if not torch.isfinite(s).all():  # float32 overflow: far queries or tiny times
            raise ValueError(f"x, t: the network's score is not finite in float32 at these queries (|x| up to "
                             f"{float(x.abs().max()) if x.numel() else 0:.3g}, smallest t {float(tt.min()):.3g})")
        return s.to(device=x.device, dtype=torch.float64)
