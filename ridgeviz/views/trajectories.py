"""The explorer's computations, UI-free: one call per view, frozen configs in, plain arrays out.

The Streamlit pages reach these through cached wrappers in :mod:`ridgeviz.app.compute`; the command line and tests
call them directly. Data flow (docs/architecture.md): data + schedule -> density -> model -> sampler -> trajectory
-> decomposition / phases / ridge -> an :class:`ExplorerResult` of NumPy arrays, ready for :mod:`ridgeviz.viz`.

High-dimensional data (D > 2) are shown in the plane of the data's first two principal axes; the ridge is then
traced in R^D from seeds on that plane and projected back (``trace_ridges_projected``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ..core.decomposition import decompose_error, masked_bands
from ..core.density import SmoothedEmpirical, as_numpy
from ..core.laws import ridge_laws
from ..core.outcomes import OutcomeRule, classify_samples
from ..core.outcomes import fractions as outcome_fractions
from ..core.phases import PHASES, PhaseRule, label_phases, phase_sensitivity
from ..core.ridge import GAP_TOL, local_frame
from ..core.sampling import SAMPLERS, prior_sample, sample
from ..core.schedules import ScheduleConfig
from ..core.tracing import data_plane, default_bounds, trace_ridges_projected
from ..models.factory import ModelConfig, build_model
from ..models.kinds import LOADED
from ..models.recipes import GENERALISING_ASSET
from ..utils import provenance
from ..utils.limits import frame_points
from ..utils.provenance import array_digest, file_digest, provenance_of
from ..utils.results import read_result, to_json, write_result
from ..utils.validation import POSITIVE, SEED, Integer, Options, Real, check, validate_fields

# 2: five phases, per-time tube widths, the laws' points, the sensitivity table; 3: one file format; 4: the final
# samples' outcomes with the outcome rule's ridge, and the error as a length (bands "length_normal/tangential")
RESULT_FORMAT = 4
LAW_PARTICLES = 128  # particles whose align and slide laws are computed (the figure shows at most 4,000 points)
MAX_POINTS = 2_000_000  # trajectory points (particles x (steps + 1)) one Trajectories run may decompose
# what the shipped precomputed views depend on: a change to any of these files makes them stale
VIEW_CODE = ("ridgeviz.core", "ridgeviz.models.score", "ridgeviz.models.factory", "ridgeviz.models.kinds",
             "ridgeviz.models.mlp", "ridgeviz.models.checkpoints", "ridgeviz.data.datasets",
             "ridgeviz.views.trajectories", "ridgeviz.views.bandwidth")


@dataclass(frozen=True)
class TrajectoryConfig:
    """Sampling and labelling choices of the Trajectories view."""

    particles: int = 512
    sampler: str = "em"
    seed: int = 0
    dim: int = 1
    frames: int = 100
    tube_fraction: float = 0.1
    hold_ratio: float = 3.0
    ridge_grid: int = 20
    tube_sigmas: float = 1.0
    align_halflives: float = 1.0

    # what each field accepts (the page's widgets take their bounds from here: ridgeviz/app/fields.py)
    CONSTRAINTS: ClassVar[dict] = {
        "particles": Integer(1, 4096), "sampler": Options(tuple(SAMPLERS)), "seed": SEED, "dim": Integer(0, None),
        "frames": Integer(2, 400), "ridge_grid": Integer(4, 64), "tube_fraction": POSITIVE,
        "hold_ratio": Real(1.0, None, lo_open=True), "tube_sigmas": POSITIVE, "align_halflives": POSITIVE}

    def __post_init__(self):
        validate_fields(self, self.CONSTRAINTS)

    def rule(self) -> PhaseRule:
        """The phase rule these thresholds stand for (see :mod:`ridgeviz.core.phases`)."""
        return PhaseRule(tube_fraction=self.tube_fraction, tube_sigmas=self.tube_sigmas,
                         align_halflives=self.align_halflives, hold_ratio=self.hold_ratio)


def frame_indices(n_steps: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` increasing step indices in ``[0, n_steps)``, always the first and the last."""
    n_steps, max_frames = check("n_steps", n_steps, Integer(1, None)), check("max_frames", max_frames, Integer(2, None))
    if n_steps <= max_frames:
        return np.arange(n_steps)
    return np.unique(np.linspace(0, n_steps - 1, max_frames).round().astype(int))


@dataclass
class ExplorerResult:
    """Everything the Trajectories view draws, as NumPy arrays (plane coordinates for positions).

    times: (K+1,) reverse-time grid; xs: (K+1, M, 2) float32 positions; labels: (K+1, M) int8 codes into
    ``PHASES``; distance, error_normal, error_tangential: (K+1, M) float32; bands: name -> (1+Q, K+1) mean and
    quantiles over the samples where the ridge is defined (``ErrorDecomposition.summary``); fractions:
    (K+1, len(PHASES)); frames: (F,) step indices with a ridge each in ``ridges`` (F lists of (n, 2) polylines);
    data: (N, 2) training points in the plane; tube: the tube's absolute floor, tube_width: (K+1,) the tube at
    each time. laws: the align and slide laws' points, ``{"t", "normal_predicted", "normal_measured",
    "tangential_predicted", "tangential_measured"}`` each a list of P floats (``RidgeLaws.points``),
    law_agreement: their ``RidgeLaws.agreement()``; sensitivity: ``PhaseSensitivity.table()`` (plain JSON under
    the NaN policy of :mod:`ridgeviz.utils.results`: NaN as None); config: :func:`made_from` plus the phases;
    shares: ``{"all": ..., "in_tube": ...}`` phase shares over all sample-steps and over those after reach where
    the ridge is defined. outcomes: (M,) int8 codes into ``core.outcomes.CATEGORIES`` for the final samples (None
    when the outcome rule does not apply: fewer than two distinct neighbours); outcome_ridge: polylines of the
    outcome rule's ridge ``R_{t*} / alpha_{t*}`` in the plane (data units, as on the home page); outcome:
    ``{"t_star", "tube", "rule", "fractions"}``; h: (K+1,) the bandwidth ``h_t`` at each time. The bands hold,
    besides the error norms, ``length_normal`` and ``length_tangential``: the error as a length, ``h_t |e|``
    (= ``alpha_t |D_theta - D|``, how far the model's denoised point is off), which stays of the order of the
    distance to the ridge as t -> 0 where ``|e|`` itself grows like ``1 / h_t``.

    NaN means *undefined*, never a failure (a failure raises ``ValueError``): ``distance`` and the errors are NaN
    exactly where the ridge is undefined (duplicate points, data far closer together or further apart than the
    bandwidths, one isotropic blob): there ``labels`` is ``no ridge``, except after align inside one training
    point's round blob, where the phase rule reads held / slide / to a training point from the whole score
    (:mod:`ridgeviz.core.phases`); a band is NaN at a step where no sample has a defined ridge.
    """

    times: np.ndarray
    xs: np.ndarray
    labels: np.ndarray
    distance: np.ndarray
    error_normal: np.ndarray
    error_tangential: np.ndarray
    bands: dict
    quantiles: tuple
    fractions: np.ndarray
    frames: np.ndarray
    ridges: list
    data: np.ndarray
    bounds: tuple
    axis_labels: tuple
    rule_text: str
    tube: float
    distance_kind: str
    config: dict
    tube_width: np.ndarray = None
    laws: dict = field(default_factory=dict)
    law_agreement: dict = field(default_factory=dict)
    sensitivity: dict = field(default_factory=dict)
    shares: dict = field(default_factory=dict)
    outcomes: np.ndarray = None
    h: np.ndarray = None
    outcome_ridge: list = field(default_factory=list)
    outcome: dict = field(default_factory=dict)

    def to_npz_bytes(self) -> bytes:
        """The result in ridgeviz's one result-file format (:mod:`ridgeviz.utils.results`; no pickles)."""
        arrays = {k: getattr(self, k) for k in _ARRAYS}
        for k in ("tube_width", "outcomes", "h"):
            if getattr(self, k) is not None:
                arrays[k] = getattr(self, k)
        arrays.update({f"band_{k}": v for k, v in self.bands.items()})
        return write_result(RESULT_KIND, RESULT_FORMAT, arrays, {k: getattr(self, k) for k in _META},
                            {"ridges": self.ridges, "outcome_ridge": [self.outcome_ridge]},
                            made_from=provenance_of(self.config))

    @classmethod
    def from_npz(cls, source) -> "ExplorerResult":
        """Inverse of :meth:`to_npz_bytes`; ``source`` is a path, bytes or a file object."""
        f = read_result(source, RESULT_KIND, RESULT_FORMAT, "trajectories file")
        arrays, meta = f.arrays, f.meta
        bands = {k[5:]: arrays.pop(k) for k in list(arrays) if k.startswith("band_")}
        try:
            fields = {k: meta[k] for k in _META} | {k: arrays.get(k) for k in ("tube_width", "outcomes", "h")} | {
                k: arrays[k] for k in _ARRAYS}
        except KeyError as exc:
            raise ValueError(f"trajectories file: it lacks {exc}") from None
        fields.update(bounds=tuple(meta["bounds"]), axis_labels=tuple(meta["axis_labels"]),
                      quantiles=tuple(meta["quantiles"]))
        return cls(bands=bands, ridges=f.polylines["ridges"], outcome_ridge=f.polylines["outcome_ridge"][0], **fields)


RESULT_KIND = "trajectories"
_ARRAYS = ("times", "xs", "labels", "distance", "error_normal", "error_tangential", "fractions", "frames", "data")
_META = ("bounds", "axis_labels", "rule_text", "tube", "distance_kind", "config", "quantiles", "laws",
         "law_agreement", "sensitivity", "shares", "outcome")


def made_from(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: TrajectoryConfig, model_cfg: ModelConfig) -> dict:
    """What a Trajectories result for these inputs records (:func:`ridgeviz.utils.provenance.made_from`): the
    configs, the training points as given and this code. A trained model's per-session ``key`` is part of its
    config, so a result made with trained weights never answers another session's request."""
    return provenance.made_from({"schedule": dataclasses.asdict(sched_cfg), "trajectories": dataclasses.asdict(cfg),
                                 "model": dataclasses.asdict(model_cfg)}, {"data": array_digest(X)}, VIEW_CODE)


def run_trajectories(X: np.ndarray, sched_cfg: ScheduleConfig, cfg: TrajectoryConfig, model=None,
                     model_cfg: ModelConfig | None = None, quantiles=(0.1, 0.5, 0.9), callback=None) -> ExplorerResult:
    """Sample ``cfg.particles`` reverse trajectories and label, decompose and draw them.

    ``model`` follows the score contract (built from ``model_cfg`` by :func:`build_model` when None).
    ``callback(stage: str, fraction: float)`` reports progress. Returns an :class:`ExplorerResult`.
    """
    X = np.asarray(X, dtype=np.float64)
    if cfg.particles * (sched_cfg.steps + 1) > MAX_POINTS:
        raise ValueError(f"particles x steps must be at most {MAX_POINTS:,} (a Hessian is decomposed at every "
                         f"trajectory point); got {cfg.particles} x {sched_cfg.steps + 1}")
    plane = data_plane(X)
    sched = sched_cfg.schedule()
    dens = SmoothedEmpirical(X, sched)
    if cfg.dim >= dens.D:
        raise ValueError(f"dim: the ridge dimension must be < D = {dens.D}; got {cfg.dim}")
    model_cfg = model_cfg or ModelConfig()
    model = build_model(model_cfg, dens, model)
    report = callback or (lambda stage, frac: None)
    times = sched_cfg.times()
    g = torch.Generator().manual_seed(cfg.seed)
    x_T = prior_sample(sched, cfg.particles, dens.D, generator=g)
    report("sampling", 0.0)
    traj = sample(model, x_T, times, cfg.sampler, generator=g,
                  callback=lambda k, t, x: report("sampling", (k + 1) / (len(times) - 1)))
    if not torch.isfinite(traj.xs).all():
        raise ValueError("the sampler produced NaN or inf positions (the model's score is not finite)")
    report("decomposing the error", 0.0)
    dec = decompose_error(model, dens, traj, cfg.dim)  # reuses the sampler's scores (traj.score_model is model)
    rule = cfg.rule()
    phases = label_phases(dens, traj, cfg.dim, rule=rule, geometry=dec)
    report("the align and slide laws", 0.0)
    laws = _laws(dens, traj, cfg.dim, dec, phases.aligned_step, cfg.seed)
    frames = frame_indices(len(times), cfg.frames)
    data2 = plane.project(X)
    bounds = default_bounds(data2)
    report("tracing the ridge", 0.0)
    ridges = trace_ridges_projected(dens, times[frames], cfg.dim, plane, bounds, grid=cfg.ridge_grid)
    outcome = _outcomes(dens, as_numpy(traj.xs[-1]), plane, bounds)
    h = np.asarray(sched.h(torch.as_tensor(times)), dtype=np.float64)
    report("done", 1.0)
    f32 = np.float32
    xs = plane.project(as_numpy(traj.xs))
    if np.abs(xs).max() >= np.finfo(f32).max:
        raise ValueError(f"data: positions up to {np.abs(xs).max():.3g} exceed what the view stores (float32, "
                         "3.4e38); rescale the data")
    return ExplorerResult(
        times=times, xs=xs.astype(f32), labels=phases.labels.astype(np.int8),
        distance=dec.distance.astype(f32), error_normal=dec.error_normal.astype(f32),
        error_tangential=dec.error_tangential.astype(f32), bands=_bands(dec, h, quantiles), h=h,
        quantiles=tuple(quantiles), fractions=phases.fractions(), frames=frames, ridges=ridges, data=data2,
        bounds=tuple(map(float, bounds)), axis_labels=plane.labels, rule_text=rule.describe(dens.data),
        tube=float(phases.tube), distance_kind=dec.distance_kind, tube_width=phases.tube_t,
        laws=to_json(laws.points(seed=cfg.seed)), law_agreement=to_json(laws.agreement()),
        sensitivity=to_json(phase_sensitivity(X, dec, rule).table()),
        shares=to_json({"all": phases.shares(), "in_tube": phases.in_tube_shares()}), **outcome,
        config=made_from(X, sched_cfg, cfg, model_cfg) | {"phases": list(PHASES), "gap_tol": GAP_TOL})


def _bands(dec, h: np.ndarray, quantiles) -> dict:
    """The decomposition's bands plus the error as a length, ``h_t |e|`` (see :class:`ExplorerResult`)."""
    ok = ~np.asarray(dec.undefined, dtype=bool)
    return dec.summary(quantiles) | {f"length_{part}": masked_bands(h[:, None] * getattr(dec, f"error_{part}"), ok,
                                                                    quantiles) for part in ("normal", "tangential")}


def _outcomes(dens, final: np.ndarray, plane, bounds) -> dict:
    """Where the final samples ``(M, D)`` end by the one outcome rule (:mod:`ridgeviz.core.outcomes`), and that
    rule's ridge at ``t*`` in data units, ``R_{t*} / alpha_{t*}``, as the home page draws it (traced as the ridge of
    the data's Gaussian KDE at bandwidth ``sigma_{t*} / alpha_{t*}``, the same set). Empty when the rule does not
    apply (fewer than two distinct neighbours)."""
    from .bandwidth import kde_density

    X = as_numpy(dens.data)
    try:
        rule = OutcomeRule.for_data(X, dens.schedule)
    except ValueError:
        return {}
    codes = classify_samples(dens, final, rule)
    sched, t = dens.schedule, rule.t_ridge
    a, b = float(sched.alpha(t)), float(sched.sigma(t) / sched.alpha(t))
    lines = trace_ridges_projected(kde_density(X, b, b), [b], rule.dim, plane, bounds, grid=24)[0]
    return {"outcomes": codes, "outcome_ridge": lines,
            "outcome": to_json({"t_star": t, "tube": rule.tube / a, "rule": rule.describe(),
                                "fractions": outcome_fractions(codes)})}


def _laws(dens, traj, dim, dec, aligned_step, seed):
    """The align and slide laws on at most ``LAW_PARTICLES`` particles (a seeded choice), from their aligned step."""
    M = traj.xs.shape[1]
    cols = np.arange(M) if M <= LAW_PARTICLES else np.sort(
        np.random.default_rng(seed).choice(M, LAW_PARTICLES, replace=False))
    return ridge_laws(dens, traj.subset(cols), dim, geometry=dec.subset(cols), start=aligned_step[cols])


def error_profile(model, dens: SmoothedEmpirical, times, dim: int, n: int = 256, seed: int = 0) -> dict:
    """Mean norms of the model's score error ``e = s_theta - grad log p_t`` split along the ridge frame, per time.

    At each time in ``times: (F,)``, ``n`` points are drawn from ``p_t`` (``alpha_t x_i + sigma_t z``, seeded);
    ``e_perp = P_perp e`` and ``e_par = e - e_perp`` in the frame at the point. The normal and tangential means are
    over the points where the ridge is defined (NaN at a time where it is defined at none): where it is not (the
    round blob around an isolated training point at small t, one blob at large t) the frame's directions are
    arbitrary and so is the split; an injected tangential error of 0.5 read 0.1 there before. The total is over
    every point. Returns ``{"times", "normal", "tangential", "total", "undefined"}``, each ``(F,)``
    (``undefined``: fraction of points without a ridge frame).
    """
    times = np.asarray(times, dtype=np.float64)
    g = torch.Generator().manual_seed(seed)
    F = len(times)
    idx = torch.randint(dens.N, (F * n,), generator=g)
    t_all = torch.as_tensor(np.repeat(times, n), dtype=dens.dtype)
    sched = dens.schedule
    x = sched.alpha(t_all)[:, None] * dens.data[idx] + sched.sigma(t_all)[:, None] * torch.randn(
        (F * n, dens.D), generator=g, dtype=dens.dtype)
    parts, m = [], frame_points(dens.D)
    for i in range(0, F * n, m):  # chunks of points: memory stays bounded at any D
        frame = local_frame(dens, x[i:i + m], t_all[i:i + m], dim)
        err = torch.as_tensor(model(x[i:i + m], t_all[i:i + m]), dtype=dens.dtype) - frame.score
        if not torch.isfinite(err).all():
            raise ValueError("the model returned NaN or inf scores")
        nrm, tan = frame.split(err)
        parts.append(torch.stack([nrm.norm(dim=-1), tan.norm(dim=-1), err.norm(dim=-1),
                                  frame.undefined().to(dens.dtype)]))
    cols = as_numpy(torch.cat(parts, dim=1)).reshape(4, F, n)
    defined = cols[3] == 0
    count = defined.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal, tangential = ((np.where(defined, c, 0.0).sum(1) / count) for c in cols[:2])
    return {"times": times, "normal": np.where(count > 0, normal, np.nan),
            "tangential": np.where(count > 0, tangential, np.nan), "total": cols[2].mean(1),
            "undefined": cols[3].mean(1)}


def generalising_config() -> ModelConfig:
    """The shipped generalising MLP (:mod:`ridgeviz.models.recipes`) as a model choice: a loaded checkpoint whose
    ``key`` is the digest of the file's bytes, so a result made with it names the very weights."""
    stat = GENERALISING_ASSET.stat()
    return ModelConfig(LOADED, dim=1, normal=0.0, tangential=0.0, key=_digest(str(GENERALISING_ASSET),
                                                                               stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return file_digest(path)  # read again only when the file changed


def demo_inputs() -> tuple[np.ndarray, ScheduleConfig, TrajectoryConfig, ModelConfig]:
    """The Trajectories page's default view: the 13-point set, OU, 512 particles, EM, 200 steps and the shipped
    generalising MLP (:func:`generalising_config`), whose new samples end on the ridge (:func:`run_demo`)."""
    from ..data.datasets import MODE_SETS

    return MODE_SETS["thirteen"].copy(), ScheduleConfig(), TrajectoryConfig(), generalising_config()


def run_demo(callback=None) -> ExplorerResult:
    """The shipped default view (``assets/demo_thirteen_ou.npz``): :func:`demo_inputs` with the shipped MLP."""
    from ..models.recipes import load_generalising_model

    X, sched_cfg, cfg, model_cfg = demo_inputs()
    return run_trajectories(X, sched_cfg, cfg, load_generalising_model(), model_cfg, callback=callback)
