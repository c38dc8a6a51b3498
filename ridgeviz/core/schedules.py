"""Forward noising schedules: alpha(t), sigma(t), h(t) = sigma(t)^2 and reverse-time grids.

A schedule describes the forward marginal ``x_t = alpha_t x_0 + sigma_t z`` of a linear SDE
``dX = f(t) X dt + g(t) dW`` with ``f = d log(alpha)/dt`` and ``g^2 = dh/dt - 2 f h``.
The smoothed empirical density at time t is the training set blurred by ``N(alpha_t x_i, h_t I)``,
so ``h_t`` is the bandwidth the whole tool is about.

Every function of t accepts a float, a NumPy array or a torch tensor and returns the same kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ..utils.validation import Array, Instance, Integer, Options, Real, check, validate_fields

MAX_STEPS = 5000  # time steps of one reverse run (a sampler keeps every step)
MAX_GRID_STEPS = 10**6  # steps of one time grid (8 MB); what a sampler may run is bounded by the work budget
# times: t_min >= 1e-9 keeps 1/h_t^2 (the Hessian's scale) within float64 for every preset; T <= 1e6
T_MIN_LO, T_HI = 1e-9, 1e6
RHO = Real(0.1, 100.0)  # Karras grid exponent (1/rho and t^rho stay representable)
T_SLACK = 1e-9  # relative tolerance on t <= T (a time grid's end point may be rounded)
T_FLOOR = 1e-12  # smallest time any model is evaluated at (below every allowed t_min)

GRID_KINDS = ("geometric", "uniform", "karras")


def _lib(t):
    """The array namespace matching ``t`` (torch for tensors, NumPy otherwise)."""
    return torch if isinstance(t, torch.Tensor) else np


def _as_array(t):
    return t if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)


@dataclass(frozen=True)
class Schedule:
    """A forward process: ``alpha(t)``, ``sigma(t)``, ``h(t)``, drift ``f(t)``, diffusion ``g2(t)``.

    Frozen and hashable (a cache key). ``params`` holds the preset's extra parameters as sorted
    ``(name, value)`` pairs; build one with :func:`get_schedule`.
    """

    name: str
    T: float
    t_min: float
    params: tuple = field(default=())
    grid: str = "geometric"

    def __post_init__(self):
        validate_fields(self, {"name": Options(tuple(SCHEDULES)), "t_min": Real(T_MIN_LO, T_HI),
                               "grid": Options(GRID_KINDS)})
        validate_fields(self, {"T": Real(self.t_min, T_HI, lo_open=True)})
        spec = SCHEDULES[self.name]
        for key, value in self.params:
            if key not in spec.defaults:
                raise ValueError(f"{key}: not a parameter of schedule {self.name!r} (has {sorted(spec.defaults)})")
            check(key, value, spec.domains.get(key, Real()))
        spec.validate(self)
        self._check_representable()

    def _check_representable(self) -> None:
        """alpha, h, f and g^2 finite at both ends, with alpha_T > 0 and h_{t_min} > 0 (else: which end to move)."""
        for key, t in (("T", self.T), ("t_min", self.t_min)):
            with np.errstate(all="ignore"):
                values = [float(v(np.float64(t))) for v in (self.alpha, self.h, self.f, self.g2)]
            if not all(math.isfinite(v) for v in values) or values[0] <= 0 or values[1] <= 0:
                raise ValueError(f"{key}: schedule {self.name!r} is not representable in float64 at {key} = {t:g} "
                                 f"(alpha = {values[0]:.3g}, h = {values[1]:.3g}); choose a "
                                 f"{'smaller T' if key == 'T' else 'larger t_min'}")

    # -- parameters -------------------------------------------------------------------------
    def param(self, key: str) -> float:
        return dict(self.params).get(key, SCHEDULES[self.name].defaults[key])

    # -- the process ------------------------------------------------------------------------
    def log_alpha(self, t):
        return SCHEDULES[self.name].log_alpha(self, _as_array(t))

    def alpha(self, t):
        return _lib(t).exp(self.log_alpha(t))

    def h(self, t):
        """Bandwidth ``h_t = sigma_t^2`` (variance of the Gaussian blur at time t)."""
        return SCHEDULES[self.name].h(self, _as_array(t))

    def sigma(self, t):
        return _lib(t).sqrt(self.h(t))

    def f(self, t):
        """Drift coefficient ``f(t) = d log(alpha_t) / dt`` of the forward SDE."""
        return SCHEDULES[self.name].f(self, _as_array(t))

    def dh(self, t):
        """``dh_t / dt``."""
        return SCHEDULES[self.name].dh(self, _as_array(t))

    def g2(self, t):
        """Squared diffusion ``g(t)^2 = dh/dt - 2 f h`` of the forward SDE."""
        return self.dh(t) - 2 * self.f(t) * self.h(t)

    def snr(self, t):
        """Signal-to-noise ratio ``alpha_t^2 / h_t``."""
        return self.alpha(t) ** 2 / self.h(t)

    def check_times(self, t, M: int, name: str = "t"):
        """``t``, a number or an ``(M,)`` array, as an ``(M,)`` array (tensor if given one) of times in
        ``[T_FLOOR, T]``.

        A documented extension of ``[t_min, T]``: the density and the models accept times below ``t_min`` (it only
        ends the samplers' grids) down to :data:`T_FLOOR` = 1e-12, where the bandwidth is still representable in
        float32 networks, but none above ``T`` (vp-cosine and rectified-flow end there). ``ValueError`` names ``name``.
        """
        return check(name, t, Array((M,), scalar=True, lo=T_FLOOR, hi=self.T * (1 + T_SLACK)))

    # -- grids ------------------------------------------------------------------------------
    def time_grid(self, steps: int, kind: str | None = None, rho: float = 7.0) -> np.ndarray:
        """Reverse-time grid of ``steps + 1`` times, strictly decreasing from ``T`` to ``t_min``.

        ``geometric`` (the authors' code's): ``t_k = T (t_min/T)^(k/K)``; ``uniform``; ``karras``:
        ``t_k = (T^(1/rho) + k/K (t_min^(1/rho) - T^(1/rho)))^rho`` (Karras et al.'s sigma grid
        applied to t; identical to it for the EDM schedule, where sigma = t).
        """
        kind = check("kind", kind or self.grid, Options(GRID_KINDS))
        steps = check("steps", steps, Integer(1, MAX_GRID_STEPS))
        rho = check("rho", rho, RHO)
        u = np.arange(steps + 1, dtype=np.float64) / steps
        if kind == "geometric":
            grid = self.T * (self.t_min / self.T) ** u
        elif kind == "uniform":
            grid = self.T + u * (self.t_min - self.T)
        else:
            a, b = self.T ** (1 / rho), self.t_min ** (1 / rho)
            grid = (a + u * (b - a)) ** rho
        grid[0], grid[-1] = self.T, self.t_min
        return grid

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able ``{"name", "T", "t_min", "params", "grid"}`` (the one serial form: checkpoints, files, reports)."""
        return {"name": self.name, "T": self.T, "t_min": self.t_min, "params": dict(self.params), "grid": self.grid}

    @classmethod
    def from_dict(cls, cfg) -> "Schedule":
        """Inverse of :meth:`to_dict`; a ``ValueError`` names what is missing or wrong."""
        check("schedule", cfg, Instance(dict, "a dict with name, T and t_min"))
        missing = sorted({"name", "T", "t_min"} - set(cfg))
        if missing:
            raise ValueError(f"schedule: missing {', '.join(missing)} (a schedule needs name, T and t_min)")
        params = check("schedule params", cfg.get("params") or {}, Instance(dict, "a dict of numbers"))
        return cls(str(cfg["name"]), check("T", cfg["T"], Real()), check("t_min", cfg["t_min"], Real()),
                   tuple(sorted((str(k), check(str(k), v, Real())) for k, v in params.items())),
                   str(cfg.get("grid", "geometric")))

    # -- diagnostics ------------------------------------------------------------------------
    def prior_variance(self) -> float:
        """Variance of the Gaussian prior ``N(0, h_T I)`` that samplers start from."""
        return float(self.h(self.T))

    def terminal_closeness(self, data) -> dict:
        """How close ``p_T`` is to the prior ``N(0, h_T I)`` for the given training set.

        By convexity of KL, ``KL(p_T || prior) <= (1/N) sum_i alpha_T^2 |x_i|^2 / (2 h_T)``
        (``kl_bound``, in nats). Also returns the SNR at T and ``alpha_T * rms|x|/sigma_T``.
        """
        x = np.asarray(data, dtype=np.float64)
        a2, hT = float(self.alpha(self.T)) ** 2, float(self.h(self.T))
        sq = float(np.mean(np.sum(x * x, axis=-1)))
        return {
            "kl_bound": a2 * sq / (2 * hT),
            "snr_T": a2 / hT,
            "signal_to_noise_radius": math.sqrt(a2 * sq / hT),
            "alpha_T": math.sqrt(a2),
            "sigma_T": math.sqrt(hT),
        }


@dataclass(frozen=True)
class _Preset:
    defaults: dict
    T: float
    t_min: float
    log_alpha: object
    h: object
    f: object
    dh: object
    grid: str = "geometric"
    validate: object = lambda s: None
    description: str = ""
    domains: dict = field(default_factory=dict)  # parameter name -> Constraint


def _exp(t, x):
    return _lib(t).exp(x)


# Ornstein-Uhlenbeck dX = -X dt + sqrt(2) dW (the authors' code's default).
def _ou_h(s, t):
    return -_lib(t).expm1(-2 * t)


# Variance exploding: alpha = 1, sigma = sigma_min (sigma_max / sigma_min)^t.
def _ve_h(s, t):
    smin, smax = s.param("sigma_min"), s.param("sigma_max")
    return smin**2 * _exp(t, 2 * t * math.log(smax / smin))


def _ve_validate(s):
    if not s.param("sigma_min") < s.param("sigma_max"):
        raise ValueError(f"sigma_min must be < sigma_max = {s.param('sigma_max')}; got {s.param('sigma_min')}")


# VP with linear beta(t) = beta_min + t (beta_max - beta_min).
def _vpl_log_alpha(s, t):
    b0, b1 = s.param("beta_min"), s.param("beta_max")
    return -0.5 * (b0 * t + 0.5 * (b1 - b0) * t * t)


def _vpl_beta(s, t):
    b0, b1 = s.param("beta_min"), s.param("beta_max")
    return b0 + t * (b1 - b0)


def _vp_validate(s):
    if not s.param("beta_min") < s.param("beta_max"):
        raise ValueError(f"beta_min must be < beta_max = {s.param('beta_max')}; got {s.param('beta_min')}")


# VP cosine (Nichol & Dhariwal): alpha_bar = cos^2(pi/2 (t+s)/(1+s)) / cos^2(pi/2 s/(1+s)).
def _cos_arg(s, t):
    off = s.param("s")
    return 0.5 * math.pi * (t + off) / (1 + off)


def _vpc_log_alpha(s, t):
    off = s.param("s")
    lib = _lib(t)
    return lib.log(lib.cos(_cos_arg(s, t))) - math.log(math.cos(0.5 * math.pi * off / (1 + off)))


def _vpc_f(s, t):
    return -_lib(t).tan(_cos_arg(s, t)) * 0.5 * math.pi / (1 + s.param("s"))


def _t_below_one(s):
    if s.T >= 1:
        raise ValueError(f"T must be < 1 for schedule {s.name!r} (alpha vanishes at t = 1); got {s.T}")


def _one_minus_alpha2(s, t):
    return -_lib(t).expm1(2 * s.log_alpha(t))


def _minus_2f_alpha2(s, t):
    return -2 * s.f(t) * _exp(t, 2 * s.log_alpha(t))


SCHEDULES: dict[str, _Preset] = {
    "ou": _Preset({}, 10.0, 1e-3, lambda s, t: -t, _ou_h, lambda s, t: -1.0 + 0 * t,
                  lambda s, t: 2 * _exp(t, -2 * t), description="Ornstein-Uhlenbeck (the authors' code's)"),
    "ve": _Preset({"sigma_min": 0.01, "sigma_max": 20.0}, 1.0, 1e-3, lambda s, t: 0 * t, _ve_h,
                  lambda s, t: 0 * t,
                  lambda s, t: 2 * math.log(s.param("sigma_max") / s.param("sigma_min")) * _ve_h(s, t),
                  validate=_ve_validate, description="variance exploding, geometric sigma",
                  domains={"sigma_min": Real(1e-6, 1e6), "sigma_max": Real(1e-6, 1e6)}),
    "edm": _Preset({}, 80.0, 2e-3, lambda s, t: 0 * t, lambda s, t: t * t, lambda s, t: 0 * t,
                   lambda s, t: 2 * t, grid="karras", description="EDM / Karras: alpha = 1, sigma = t"),
    "vp-linear": _Preset({"beta_min": 0.1, "beta_max": 20.0}, 1.0, 1e-3, _vpl_log_alpha, _one_minus_alpha2,
                         lambda s, t: -0.5 * _vpl_beta(s, t), _minus_2f_alpha2, validate=_vp_validate,
                         description="variance preserving, linear beta",
                         domains={"beta_min": Real(0.0, 1e3), "beta_max": Real(0.0, 1e3)}),
    "vp-cosine": _Preset({"s": 0.008}, 0.99, 1e-3, _vpc_log_alpha, _one_minus_alpha2, _vpc_f, _minus_2f_alpha2,
                         validate=_t_below_one, description="variance preserving, cosine alpha_bar",
                         domains={"s": Real(0.0, 1.0)}),
    "rectified-flow": _Preset({}, 0.999, 1e-3, lambda s, t: _lib(t).log1p(-t), lambda s, t: t * t,
                              lambda s, t: -1 / (1 - t), lambda s, t: 2 * t, validate=_t_below_one,
                              description="rectified flow: alpha = 1 - t, sigma = t"),
}


def get_schedule(name: str = "ou", T: float | None = None, t_min: float | None = None,
                 grid: str | None = None, **params) -> Schedule:
    """Build a preset schedule; unspecified ``T``, ``t_min`` and ``grid`` take the preset's defaults.

    >>> s = get_schedule("ou"); s.T, s.t_min
    (10.0, 0.001)
    """
    spec = SCHEDULES[check("name", name, Options(tuple(SCHEDULES)))]
    T, t_min = (default if v is None else check(key, v, Real()) for key, v, default in
                (("T", T, spec.T), ("t_min", t_min, spec.t_min)))
    clean = tuple(sorted((k, check(k, v, Real())) for k, v in params.items()))
    return Schedule(name, T, t_min, clean, spec.grid if grid is None else grid)


@dataclass(frozen=True)
class ScheduleConfig:
    """The user's schedule choice: preset ``name``, ``T``, ``t_min``, grid kind and number of ``steps``.

    None (or omitted) takes the preset's default and is stored as that value, so equal choices compare equal
    (it is a cache key). :meth:`schedule` builds the :class:`Schedule`, :meth:`times` the reverse-time grid.
    """

    name: str = "ou"
    T: float | None = None
    t_min: float | None = None
    grid: str | None = None
    steps: int = 200
    CONSTRAINTS: ClassVar[dict] = {"steps": Integer(2, MAX_STEPS)}  # T and t_min are checked against the preset

    def __post_init__(self):
        check("schedule", self.name, Options(tuple(SCHEDULES)))
        preset = SCHEDULES[self.name]
        object.__setattr__(self, "grid", check("grid", preset.grid if self.grid is None else self.grid,
                                               Options(GRID_KINDS)))
        for key in ("T", "t_min"):
            value = getattr(self, key)
            object.__setattr__(self, key, getattr(preset, key) if value is None else check(key, value, Real()))
        validate_fields(self, self.CONSTRAINTS)
        self.schedule()  # validates T and t_min against the preset

    @classmethod
    def of(cls, schedule: Schedule, steps: int = 200) -> "ScheduleConfig":
        """The config of a preset schedule with default parameters (``ValueError`` for custom parameters)."""
        if schedule.params:
            raise ValueError(f"schedule: custom parameters {dict(schedule.params)} have no ScheduleConfig")
        return cls(schedule.name, schedule.T, schedule.t_min, schedule.grid, steps)

    def schedule(self) -> Schedule:
        return get_schedule(self.name, T=self.T, t_min=self.t_min, grid=self.grid)

    def times(self) -> np.ndarray:
        """The reverse-time grid ``(steps + 1,)``, T -> t_min."""
        return self.schedule().time_grid(self.steps)
