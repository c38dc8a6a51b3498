"""The Random features view: architectural bias against optimisation error along trajectories, as tau varies.

For the random-feature model trained for time tau (:func:`ridgeviz.random_features.fit_random_features`), the
score error along the tau model's own reverse trajectories splits as

    s_tau - grad log p_t = (s_inf - grad log p_t)  +  (s_tau - s_inf)
                           architectural bias         optimisation error

and each part is split into its normal and tangential norms in the ridge frame at the trajectory point
(:func:`ridgeviz.random_features.bias_optimisation_split`). Summaries average the norms over samples and over
the steps where the ridge is defined. The inter-mode mass (:func:`ridgeviz.random_features.inter_mode_mass`)
is the fraction of final samples farther than the tube width (0.1 x the data scale, as in the phase rule)
from every training point. Every tau starts from the same prior draw and noise seed. UI-free: the page
reaches it through a cached wrapper in :mod:`ridgeviz.ui`.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..core.density import SmoothedEmpirical, as_numpy
from ..core.sampling import SAMPLERS, prior_sample, sample
from ..core.schedules import ScheduleConfig
from ..core.tracing import data_plane, default_bounds
from ..data.datasets import data_scale
from ..models.random_features import RandomFeatureModel, feature_moments, fit_random_features
from ..models.rf_analysis import bias_optimisation_split, inter_mode_mass, parse_taus  # noqa: F401 (parse_taus: the page imports it from here)
from ..utils.provenance import code_fingerprint
from .trajectories import MAX_POINTS, VIEW_CODE

DEFAULT_TAUS = (0.1, 1.0, 10.0, 100.0, 1000.0, math.inf)
CODE = VIEW_CODE + ("ridgeviz.models.random_features", "ridgeviz.views.random_features")  # the shipped sweep's


@dataclass(frozen=True)
class RFConfig:
    """Random-feature sweep settings: p features, K time frequencies, seed, particles, sampler steps and the taus.

    The sweep samples on the sidebar schedule's grid kind with its own (smaller) number of ``steps``.
    """

    features: int = 512
    time_features: int = 16
    seed: int = 0
    particles: int = 128
    steps: int = 100
    sampler: str = "em"
    dim: int = 1
    taus: tuple = DEFAULT_TAUS
    tube_fraction: float = 0.1

    def __post_init__(self):
        for name, lo, hi in (("features", 1, 8192), ("time_features", 0, 512), ("seed", 0, 2**31 - 1),
                             ("particles", 1, 4096), ("steps", 2, 5000), ("dim", 0, 1024)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an integer in [{lo}, {hi}]; got {v!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler: unknown {self.sampler!r}; choose one of {sorted(SAMPLERS)}")
        taus = tuple(float(t) for t in self.taus)
        if not taus or any(not (t >= 0) for t in taus):
            raise ValueError(f"taus must be a non-empty list of numbers >= 0 (inf allowed); got {self.taus!r}")
        object.__setattr__(self, "taus", tuple(sorted(set(taus))))
        if not (math.isfinite(self.tube_fraction) and self.tube_fraction > 0):
            raise ValueError(f"tube_fraction must be positive; got {self.tube_fraction!r}")


@dataclass
class RFSweep:
    """Per tau (n of them, increasing, inf last): mean error norms, inter-mode mass and final samples."""

    taus: np.ndarray  # (n,)
    bias_normal: np.ndarray  # (n,)
    bias_tangential: np.ndarray  # (n,)
    opt_normal: np.ndarray  # (n,)
    opt_tangential: np.ndarray  # (n,)
    inter_mode: np.ndarray  # (n,)
    finals: np.ndarray  # (n, M, 2) final samples in the data's plane
    data: np.ndarray  # (N, 2)
    axis_labels: tuple
    config: dict  # the configs, the tube width and the view bounds

    def to_npz_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {k: getattr(self, k) for k in ("taus", "bias_normal", "bias_tangential", "opt_normal",
                                                "opt_tangential", "inter_mode", "finals", "data")}
        meta = json.dumps({"axis_labels": list(self.axis_labels), "config": self.config}).encode()
        np.savez_compressed(buf, meta=np.frombuffer(meta, dtype=np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz(cls, source) -> "RFSweep":
        with np.load(source, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            arrays = {k: z[k] for k in z.files if k != "meta"}
        return cls(**arrays, axis_labels=tuple(meta["axis_labels"]), config=meta["config"])

    def table(self) -> dict:
        """Columns for CSV export (tau as a number; inf stays inf)."""
        return {k: getattr(self, k) for k in ("taus", "bias_normal", "bias_tangential", "opt_normal",
                                              "opt_tangential", "inter_mode")}


def fit_models(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: RFConfig) -> dict:
    """``{tau: RandomFeatureScore}`` for every tau of ``cfg`` (one set of moments, closed-form gradient flow)."""
    X = np.array(X, dtype=np.float64)  # a writable copy (torch warns about read-only arrays)
    sched = sched_cfg.schedule()
    rf = RandomFeatureModel(X.shape[1], cfg.features, cfg.time_features, sched.T,
                            generator=torch.Generator().manual_seed(cfg.seed))
    moments = feature_moments(rf, X, sched)
    return {tau: fit_random_features(rf, X, sched, tau, moments=moments) for tau in set(cfg.taus) | {math.inf}}


def rf_tau_sweep(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: RFConfig, models: dict | None = None,
                 callback=None) -> RFSweep:
    """Bias / optimisation split, inter-mode mass and final samples for each tau of ``cfg`` (see module doc).

    ``models``: ``{tau: score model}`` (from :func:`fit_models`) must include ``inf``; ``callback(stage, frac)``.
    """
    X = np.asarray(X, dtype=np.float64)
    if cfg.particles * (cfg.steps + 1) * len(cfg.taus) > MAX_POINTS:
        raise ValueError(f"particles x steps x taus must be at most {MAX_POINTS:,}; got {cfg.particles} x "
                         f"{cfg.steps + 1} x {len(cfg.taus)}")
    sched = sched_cfg.schedule()
    dens = SmoothedEmpirical(X, sched)
    if cfg.dim >= dens.D:
        raise ValueError(f"dim: the ridge dimension must be < D = {dens.D}; got {cfg.dim}")
    models = models or fit_models(X, sched_cfg, cfg)
    report = callback or (lambda stage, frac: None)
    plane = data_plane(X)
    tube = cfg.tube_fraction * data_scale(X)
    times = sched.time_grid(cfg.steps)
    rows, finals = [], []
    for i, tau in enumerate(cfg.taus):
        report(f"tau = {tau:g}", i / len(cfg.taus))
        g = torch.Generator().manual_seed(cfg.seed)
        x_T = prior_sample(sched, cfg.particles, dens.D, generator=g)
        traj = sample(models[tau], x_T, times, cfg.sampler, generator=g)
        if not torch.isfinite(traj.xs).all():
            raise ValueError(f"the random-feature model at tau = {tau:g} produced non-finite samples")
        m = bias_optimisation_split(models[tau], models[math.inf], dens, traj, cfg.dim).mean_where_defined()
        rows.append((m["bias_normal"], m["bias_tangential"], m["optimisation_normal"],
                     m["optimisation_tangential"], inter_mode_mass(traj.final, X, tube)))
        finals.append(plane.project(as_numpy(traj.final)))
    report("done", 1.0)
    cols = np.array(rows).T
    data2 = plane.project(X)
    return RFSweep(np.array(cfg.taus), *cols, np.array(finals), data2, plane.labels,
                   {"schedule": asdict(sched_cfg), "rf": {**asdict(cfg), "taus": [str(t) for t in cfg.taus]},
                    "tube": tube, "bounds": list(map(float, default_bounds(data2))), "code": code_fingerprint(CODE)})
