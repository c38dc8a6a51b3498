"""The Random features view: architectural bias against optimisation error along trajectories, as tau varies.

For the random-feature model trained for time tau (:func:`ridgeviz.models.random_features.fit_random_features`),
the score error along the tau model's own reverse trajectories splits into the architectural bias
``s_inf - grad log p_t`` and the optimisation error ``s_tau - s_inf``, each normal and tangential
(:func:`ridgeviz.models.rf_analysis.tau_sweep`, the one sweep: the ``rf`` command calls this module too, so the
page and the command line print the same numbers for the same settings). Summaries average over the points
where the ridge is defined. The inter-mode mass is the fraction of final samples farther than the tube width
(0.1 x the data scale, as in the phase rule) from every training point. UI-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch

from ..core.density import SmoothedEmpirical
from ..core.sampling import SAMPLERS
from ..core.scale import data_scale
from ..core.schedules import ScheduleConfig
from ..core.tracing import data_plane, default_bounds
from ..models.random_features import RandomFeatureModel, fit_random_features
from ..models.rf_analysis import tau_sweep
from ..models.rf_moments import feature_moments
from ..utils import provenance
from ..utils.provenance import array_digest, provenance_of
from ..utils.results import read_result, to_json, write_result
from ..utils.validation import POSITIVE, SEED, Integer, Options, Real, validate_fields
from .trajectories import MAX_POINTS, VIEW_CODE

DEFAULT_TAUS = (0.1, 1.0, 10.0, 100.0, 1000.0, math.inf)
# what the shipped sweep depends on
CODE = VIEW_CODE + ("ridgeviz.models.random_features", "ridgeviz.models.rf_features", "ridgeviz.models.rf_kernels",
                    "ridgeviz.models.rf_moments", "ridgeviz.models.rf_analysis", "ridgeviz.views.random_features")


def parse_taus(text, name: str = "taus") -> tuple:
    """Training times, sorted and unique: ``"0.1, 1; inf"`` or ``["0.1", "1", "inf"]`` -> ``(0.1, 1.0, inf)``.

    Entries are numbers >= 0 (``inf``, ``infinity`` and ``∞`` allowed), separated by commas or semicolons or
    given as separate tokens (the command line's ``--tau 0.1 1 inf``); a bad entry raises a ValueError naming
    ``name`` and the entry.
    """
    tokens = [text] if isinstance(text, str) else list(text)
    out = set()
    for item in (s.strip().lower() for tok in tokens for s in str(tok).replace(";", ",").split(",")):
        if not item:
            continue
        try:
            v = math.inf if item == "∞" else float(item)
        except ValueError:
            raise ValueError(f"{name}: {item!r} is not a number (use numbers >= 0 and 'inf')") from None
        if not v >= 0:
            raise ValueError(f"{name}: {item!r} must be >= 0")
        out.add(v)
    if not out:
        raise ValueError(f"{name}: give at least one training time")
    return tuple(sorted(out))



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
    init_scale: float = 1.0

    # what each field accepts (the pages' widgets and the command line take their bounds from here)
    CONSTRAINTS: ClassVar[dict] = {
        "features": Integer(1, 8192), "time_features": Integer(0, 512), "seed": SEED, "particles": Integer(1, 4096),
        "steps": Integer(2, 5000), "dim": Integer(0, 1024), "sampler": Options(tuple(SAMPLERS)),
        "tube_fraction": POSITIVE, "init_scale": Real(0.0, None)}

    def __post_init__(self):
        validate_fields(self, self.CONSTRAINTS)
        if isinstance(self.taus, (str, bytes)) or not hasattr(self.taus, "__iter__"):
            raise ValueError(f"taus must be a list of numbers >= 0 (inf allowed); got {self.taus!r}")
        taus = tuple(parse_taus([str(t) for t in self.taus]))
        object.__setattr__(self, "taus", taus)


RESULT_KIND, RESULT_FORMAT = "random-feature sweep", 2
_ARRAYS = ("taus", "bias_normal", "bias_tangential", "opt_normal", "opt_tangential", "inter_mode", "finals", "data")


def made_from(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: RFConfig) -> dict:
    """What a sweep for these inputs records: the configs, the training points as given and this code."""
    return provenance.made_from({"schedule": asdict(sched_cfg), "rf": asdict(cfg)}, {"data": array_digest(X)}, CODE)


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
    config: dict  # made_from (settings, inputs, code), the tube width, the view bounds and the sweep's summary

    def to_npz_bytes(self) -> bytes:
        """The sweep in ridgeviz's one result-file format (:mod:`ridgeviz.utils.results`)."""
        return write_result(RESULT_KIND, RESULT_FORMAT, {k: getattr(self, k) for k in _ARRAYS},
                            {"axis_labels": self.axis_labels, "config": self.config},
                            made_from=provenance_of(self.config))

    @classmethod
    def from_npz(cls, source) -> "RFSweep":
        """Inverse of :meth:`to_npz_bytes`; ``source`` is a path, bytes or a file object."""
        f = read_result(source, RESULT_KIND, RESULT_FORMAT, "random-feature sweep file")
        try:
            return cls(**{k: f.arrays[k] for k in _ARRAYS}, axis_labels=tuple(f.meta["axis_labels"]),
                       config=f.meta["config"])
        except KeyError as exc:
            raise ValueError(f"random-feature sweep file: it lacks {exc}") from None

    def table(self) -> dict:
        """Columns for CSV export (tau as a number; inf stays inf)."""
        return {k: getattr(self, k) for k in ("taus", "bias_normal", "bias_tangential", "opt_normal",
                                              "opt_tangential", "inter_mode")}


def fit_models(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: RFConfig) -> dict:
    """``{tau: RandomFeatureScore}`` for every tau of ``cfg`` and inf (one set of moments, closed-form flow)."""
    X = np.array(X, dtype=np.float64)  # a writable copy (torch warns about read-only arrays)
    sched = sched_cfg.schedule()
    rf = RandomFeatureModel(X.shape[1], cfg.features, cfg.time_features, sched.T,
                            generator=torch.Generator().manual_seed(cfg.seed), init_scale=cfg.init_scale)
    moments = feature_moments(rf, X, sched)
    models = {tau: fit_random_features(rf, X, sched, tau, moments=moments) for tau in set(cfg.taus) | {math.inf}}
    for m in models.values():
        m.train_info["loss"] = moments.loss(m.A)
    return models


def rf_tau_sweep(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: RFConfig, models: dict | None = None,
                 callback=None) -> RFSweep:
    """Bias / optimisation split, inter-mode mass and final samples for each tau of ``cfg`` (see module doc).

    ``models``: ``{tau: score model}`` (from :func:`fit_models`) must include ``inf``; ``callback(stage, frac)``.
    """
    X = np.asarray(X, dtype=np.float64)
    if cfg.particles * (cfg.steps + 1) * len(cfg.taus) > MAX_POINTS:
        raise ValueError(f"particles x steps x taus must be at most {MAX_POINTS:,}; got {cfg.particles} x "
                         f"{cfg.steps + 1} x {len(cfg.taus)}")
    dens = SmoothedEmpirical(X, sched_cfg.schedule())
    if cfg.dim >= dens.D:
        raise ValueError(f"dim: the ridge dimension must be < D = {dens.D}; got {cfg.dim}")
    models = models or fit_models(X, sched_cfg, cfg)
    tube = cfg.tube_fraction * data_scale(X)
    sweep = tau_sweep({tau: models[tau] for tau in set(cfg.taus) | {math.inf}}, dens, dim=cfg.dim,
                      samples=cfg.particles, steps=cfg.steps, method=cfg.sampler, seed=cfg.seed, radius=tube,
                      callback=callback)
    plane = data_plane(X)
    taus = list(cfg.taus)
    cols = np.array([[sweep.overall[t][k] for k in ("bias_normal", "bias_tangential", "optimisation_normal",
                                                     "optimisation_tangential")] + [sweep.inter_mode[t]]
                     for t in taus]).T
    data2 = plane.project(X)
    return RFSweep(np.array(taus), *cols, np.array([plane.project(sweep.finals[t]) for t in taus]), data2,
                   plane.labels, made_from(X, sched_cfg, cfg) | to_json(
                       {"tube": tube, "bounds": default_bounds(data2), "summary": sweep.to_json()}))
