"""Denoising score matching for the MLP score network, with progress, cancellation and error tracking.

For a training point ``x_0``, a time ``t`` and noise ``z ~ N(0, I)``, ``x_t = alpha_t x_0 + sigma_t z`` and the
DSM loss is ``lambda(t) |s_theta(x_t, t) + z / sigma_t|^2 / D`` averaged over a batch; its minimiser over all
functions is the exact score of the smoothed empirical density, so the model's error against
:class:`~ridgeviz.models.ExactScore` is the quantity to watch. ``lambda(t)`` is ``1``, ``h_t`` (with epsilon
prediction: the usual ``|eps_hat - eps|^2``) or ``h_t^2``. Times are drawn log-uniformly on ``[t_min, T]``
(the authors' code's geometric grid) or uniformly.

Every ``eval_every`` steps the model's error ``e = s_theta - grad log p_t`` is measured on a fixed probe set
(``probe_size`` points drawn from ``p_t`` at each of ``eval_times`` times, geometric between 10 t_min and T/10) and
split into normal and tangential parts with :func:`ridgeviz.core.ridge.local_frame` (ridge dimension ``ridge_dim``).
The default config (13-point set, OU, 4,000 steps) trains in seconds on two CPU cores (docs/benchmarks.md has the
measured rate); its relative error ``rms|e| / rms|grad log p_t|`` over the probe at t in [0.05, 1] is at most 0.11,
and tests/test_training.py checks the bound 0.2 on fresh samples.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..core.density import SmoothedEmpirical
from ..core.ridge import local_frame
from ..data.datasets import dataset_fingerprint
from ..utils.device import DEVICES, resolve_device
from ..utils.limits import mlp_cost, require
from ..utils.validation import NON_NEGATIVE, SEED, Instance, Integer, Options, Real, check, validate_fields
from .mlp import ARCHITECTURE, PREDICTIONS, MLPScore

WEIGHTINGS = ("1", "h", "h2")
TIME_SAMPLINGS = ("log-uniform", "uniform")
LR_SCHEDULES = ("cosine", "constant")
STATUSES = ("completed", "cancelled", "diverged")


class Cancelled(Exception):
    """Raise from a training callback (or return ``False`` from it) to stop training between two steps."""


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a DSM run; frozen and hashable (a cache key). Vary with ``dataclasses.replace``.

    ``ema`` is the decay of an exponential moving average of the weights (0 turns it off; the returned model
    then holds the averaged weights). ``grad_clip`` is a max gradient norm (0: none). ``device``: ``"auto"``
    (CUDA when available), ``"cpu"`` or ``"cuda"``.
    """

    hidden: int = 128
    depth: int = 4
    time_features: int = 16
    prediction: str = "epsilon"
    weighting: str = "h"
    time_sampling: str = "log-uniform"
    steps: int = 4000
    batch_size: int = 256
    lr: float = 5e-3
    lr_schedule: str = "cosine"
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema: float = 0.0
    seed: int = 0
    device: str = "auto"
    eval_every: int = 500
    eval_times: int = 8
    probe_size: int = 128
    ridge_dim: int = 1

    def __post_init__(self):
        validate_fields(self, {
            "hidden": ARCHITECTURE["hidden"], "depth": ARCHITECTURE["depth"],
            "time_features": ARCHITECTURE["time_features"], "prediction": Options(PREDICTIONS),
            "steps": Integer(1, 10**7), "batch_size": Integer(1, 2**20), "seed": SEED, "eval_every": Integer(1, None),
            "eval_times": Integer(1, 1000), "probe_size": Integer(1, 100_000), "ridge_dim": Integer(0, None),
            "weighting": Options(WEIGHTINGS), "time_sampling": Options(TIME_SAMPLINGS),
            "lr_schedule": Options(LR_SCHEDULES), "device": Options(DEVICES), "lr": Real(0, 10, lo_open=True),
            "weight_decay": Real(0, 10), "grad_clip": NON_NEGATIVE, "ema": Real(0, 1, hi_open=True)})
        if self.time_features % 2:
            raise ValueError(f"time_features must be even; got {self.time_features}")


@dataclass
class TrainResult:
    """What a run produced: the model, the loss curve and the score error over time as training went on.

    ``losses: (steps_done,)``; ``eval_steps: (E,)``; ``eval_times: (n_t,)``; ``error_normal``,
    ``error_tangential``, ``error_relative``: ``(E, n_t)`` (mean normal / tangential error norms over the probe,
    and ``rms|e| / rms|grad log p_t|``). ``status`` is one of :data:`STATUSES`; ``message`` says why.
    """

    model: MLPScore
    config: TrainConfig
    losses: np.ndarray
    eval_steps: np.ndarray
    eval_times: np.ndarray
    error_normal: np.ndarray
    error_tangential: np.ndarray
    error_relative: np.ndarray
    status: str = "completed"
    message: str = ""
    seconds: float = 0.0
    device: str = "cpu"
    settings: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def steps_done(self) -> int:
        return len(self.losses)

    def check(self) -> "TrainResult":
        """Raise ``ValueError`` with the message if training diverged; return self otherwise."""
        if self.status == "diverged":
            raise ValueError(self.message)
        return self


class _Probe:
    """Fixed probe points ``x ~ p_t`` at a few times, with the exact score and ridge frame computed once."""

    def __init__(self, dens: SmoothedEmpirical, cfg: TrainConfig, generator: torch.Generator):
        s = dens.schedule
        lo, hi = min(10 * s.t_min, s.T), max(s.T / 10, s.t_min)
        self.times = np.geomspace(lo, hi, cfg.eval_times) if cfg.eval_times > 1 else np.array([math.sqrt(lo * hi)])
        n = cfg.probe_size
        t = torch.as_tensor(np.repeat(self.times, n), dtype=torch.float64)
        idx = torch.randint(dens.N, (len(t),), generator=generator)
        z = torch.randn((len(t), dens.D), generator=generator, dtype=torch.float64)
        data = dens.data.cpu()
        self.x = s.alpha(t)[:, None] * data[idx] + s.sigma(t)[:, None] * z
        self.t = t
        self.frame = local_frame(dens, self.x, t, cfg.ridge_dim)
        self.score_rms = self.frame.score.to("cpu").pow(2).sum(-1).reshape(-1, n).mean(1).sqrt().numpy()
        self.n = n

    def errors(self, model: MLPScore) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = model(self.x, self.t).to(self.frame.score) - self.frame.score
        nrm, tan = self.frame.split(e)

        def per_time(v):
            return v.to("cpu").reshape(-1, self.n).mean(1).numpy()

        rms = e.to("cpu").pow(2).sum(-1).reshape(-1, self.n).mean(1).sqrt().numpy()
        return per_time(nrm.norm(dim=-1)), per_time(tan.norm(dim=-1)), rms / self.score_rms


def _weight(kind: str, h: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(h) if kind == "1" else (h if kind == "h" else h * h)


def _draw_times(cfg: TrainConfig, schedule, n: int, generator) -> torch.Tensor:
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    lo, hi = schedule.t_min, schedule.T
    if cfg.time_sampling == "log-uniform":
        return lo * (hi / lo) ** u
    return lo + (hi - lo) * u


def dsm_loss(model: MLPScore, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor, weighting: str = "h"):
    """``mean lambda(t) |s(x_t, t) + z/sigma_t|^2 / D`` for ``x0, z: (B, D)``, ``t: (B,)`` (float32, one device)."""
    s = model.schedule
    a, h = s.alpha(t), s.h(t)
    sd = h.sqrt()
    xt = a[:, None] * x0 + sd[:, None] * z
    err = model.score(xt, t) + z / sd[:, None]
    return (_weight(weighting, h) * err.pow(2).mean(-1)).mean()


def train_mlp(data, schedule, config: TrainConfig = TrainConfig(), *, callback=None) -> TrainResult:
    """Train an :class:`~ridgeviz.models.MLPScore` on ``data: (N, D)`` by DSM under ``schedule``.

    ``callback(step, loss, info) -> bool | None`` is called after every step (``info``: ``lr``, ``seconds`` and,
    on evaluation steps, ``error_normal``/``error_tangential``/``error_relative`` arrays over
    ``eval_times``); returning ``False`` or raising :class:`Cancelled` stops training there (status
    ``"cancelled"``, the model so far is returned). A non-finite loss stops training with status
    ``"diverged"`` and the weights of the last evaluation. Batches are drawn on the CPU from ``seed``, so a seed
    gives the same batches on any device.
    """
    cfg = check("config", config, Instance(TrainConfig, "a TrainConfig"))
    dens = SmoothedEmpirical(data, schedule)
    check("ridge_dim", cfg.ridge_dim, Integer(0, dens.D - 1))
    require(mlp_cost(dens.D, cfg.hidden, cfg.depth, cfg.time_features, batch=cfg.batch_size),
            f"training an MLP with batch size {cfg.batch_size}", "hidden, depth or the batch size", time=False)
    device = resolve_device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = _Probe(dens, cfg, torch.Generator().manual_seed(cfg.seed + 1))
    data32 = dens.data.to(device, torch.float32)
    data_var = float((dens.data**2).mean())
    model = MLPScore(schedule, dens.D, hidden=cfg.hidden, depth=cfg.depth, time_features=cfg.time_features,
                     prediction=cfg.prediction, data_var=data_var if data_var > 0 else 1.0, generator=gen)
    model.to(device)
    ema = copy.deepcopy(model) if cfg.ema > 0 else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses, evals = [], []
    status, message = "completed", ""
    snapshot = _snapshot(model, ema)
    start = time.perf_counter()

    def evaluate(step):
        net = ema if ema is not None else model
        en, et, rel = probe.errors(net)
        evals.append((step, en, et, rel))
        return {"error_normal": en, "error_tangential": et, "error_relative": rel}

    for step in range(1, cfg.steps + 1):
        lr = _lr(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = dsm_loss(model, *_batch(cfg, data32, schedule, gen), cfg.weighting)
        value = float(loss.detach())
        if not math.isfinite(value):
            model.load_state_dict(snapshot[0])
            if ema is not None:
                ema.load_state_dict(snapshot[1])
            status = "diverged"
            message = (f"the loss became {value} at step {step}; kept the weights of step "
                       f"{evals[-1][0] if evals else 0}. Try a smaller learning rate (lr={cfg.lr:g}) or gradient "
                       "clipping")
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if ema is not None:
            _ema_update(ema, model, cfg.ema)
        losses.append(value)
        info = {"lr": lr, "seconds": time.perf_counter() - start}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            info.update(evaluate(step))
            snapshot = _snapshot(model, ema)
        if callback is not None:
            try:
                go_on = callback(step, value, info)
            except Cancelled as exc:
                go_on, message = False, str(exc)
            if go_on is False:
                status, message = "cancelled", message or f"cancelled after step {step}"
                break
    if status != "completed" and (not evals or evals[-1][0] != len(losses)):
        evaluate(len(losses))
    final = ema if ema is not None else model
    final.eval()
    final.dataset_fingerprint = dataset_fingerprint(dens.data.cpu().numpy())
    final.train_info = {**asdict(cfg), "steps_done": len(losses), "status": status}
    steps_e = np.array([e[0] for e in evals], dtype=int)
    stack = [np.array([e[k] for e in evals]) for k in (1, 2, 3)]
    return TrainResult(final, cfg, np.asarray(losses, dtype=np.float64), steps_e, probe.times, *stack,
                       status=status, message=message, seconds=time.perf_counter() - start, device=str(device),
                       settings=asdict(cfg))


def _batch(cfg: TrainConfig, data32: torch.Tensor, schedule, gen: torch.Generator):
    """``(x0, t, z)`` drawn on the CPU from ``gen`` (same numbers on any device), moved to the data's device."""
    idx = torch.randint(data32.shape[0], (cfg.batch_size,), generator=gen)
    t = _draw_times(cfg, schedule, cfg.batch_size, gen)
    z = torch.randn((cfg.batch_size, data32.shape[1]), generator=gen)
    dev = data32.device
    return data32[idx.to(dev)], t.to(dev, torch.float32), z.to(dev)


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)


def _snapshot(model, ema) -> tuple:
    """Copies of the weights (and EMA weights) to fall back on if the loss turns non-finite."""
    return copy.deepcopy(model.state_dict()), (copy.deepcopy(ema.state_dict()) if ema is not None else None)


def _lr(cfg: TrainConfig, step: int) -> float:
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / cfg.steps))
