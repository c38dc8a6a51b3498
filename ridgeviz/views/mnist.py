"""The MNIST latent experiment end to end: sample in the latent, then measure where the samples went.

:func:`run_latent` takes the training latents (the VAE's encoder means) and a frozen :class:`LatentConfig` (a
cache key) and returns a :class:`LatentRun`: the suggested and chosen ridge dimension with the spectrum behind the
suggestion, the ridge deviation evolution at the recorded times (:mod:`ridgeviz.latent.analysis`), the on/off-ridge
split with galleries and the memorisation check (nearest training latent), the error decomposition and phases of
a few tracked trajectories in the latents' principal plane (an
:class:`ridgeviz.views.trajectories.ExplorerResult`, drawn by
:func:`ridgeviz.viz.figures.trajectory_figure`), and a JSON-able dict of statistics. Score models: the exact score, the
exact score with injected normal/tangential error, or the MLP of :mod:`ridgeviz.models.training` trained on the latents.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import torch

from ..core.decomposition import decompose_error
from ..core.density import SmoothedEmpirical, as_numpy
from ..core.outcomes import nearest_training
from ..core.phases import PHASES, PhaseRule, label_phases
from ..core.ridge import GAP_TOL, check_ridge_dim
from ..core.sampling import SAMPLERS, Trajectory, prior_sample, sample
from ..core.schedules import ScheduleConfig
from ..core.tracing import data_plane
from ..latent.analysis import (
    CATEGORIES,
    OFF,
    OFF_THRESHOLD,
    ON,
    ON_THRESHOLD,
    PAPER_DIM,
    UNDEFINED,
    RidgeDeviation,
    classify,
    pick_gallery,
    record_steps,
    ridge_deviation,
    suggest_latent_dim,
)
from ..models.factory import ModelConfig, build_model
from ..models.kinds import closed_form_kinds, kind_label
from ..models.score import MAGNITUDE
from ..utils.validation import POSITIVE, SEED, Instance, Integer, Optional, Options, Real, validate_fields
from .trajectories import ExplorerResult, frame_indices

TRAINED_HERE = "mlp"  # the kind a run trains itself, by DSM on the latents
GIVEN = "given"  # a model passed to run_latent
CHOICES = (*closed_form_kinds(), TRAINED_HERE)  # what the page and the command line offer
MODELS = (*CHOICES, GIVEN)


def model_label(name: str) -> str:
    """How a ``LatentConfig.model`` choice is named for people."""
    if name == GIVEN:
        return "a score model passed in"
    return kind_label(name) + (" trained on the latents (DSM)" if name == TRAINED_HERE else "")


@dataclasses.dataclass(frozen=True)
class LatentConfig:
    """One latent-diffusion run; hashable (a cache key). Vary it with ``dataclasses.replace``.

    schedule: name, T, t_min, grid and ``steps`` of the reverse grid. model: "exact", "injected" (exact score
    plus ``normal`` / ``tangential`` error of those sizes along the ridge frame of dimension ``dim``), "mlp"
    (:class:`ridgeviz.models.MLPScore` trained on the latents by DSM for ``mlp_steps`` steps at learning rate
    ``mlp_lr``, batch 1024, see :func:`latent_train_config`) or "given" (a model passed to :func:`run_latent`).
    dim: ridge dimension; None takes the suggestion of :func:`ridgeviz.latent.analysis.suggest_latent_dim`
    (largest median scaled gap) at the training latents at time ``t_suggest``,
    which is always computed and reported beside the authors' code's 25. record: number of recorded times (T down
    to t_min).
    on/off: the authors' code's thresholds on the normalised residual at the recorded time nearest ``t_eval`` (None:
    the last, t_min, as in the authors' code). tracked: samples whose
    whole trajectories are decomposed, labelled and animated. gallery: images per on/off-ridge gallery.
    """

    schedule: ScheduleConfig = ScheduleConfig(steps=100)
    sampler: str = "em"
    samples: int = 500
    model: str = "exact"
    normal: float = 0.0
    tangential: float = 0.0
    mlp_steps: int = 1000
    mlp_lr: float = 1e-3
    dim: int | None = None
    t_suggest: float = 0.1
    record: int = 11
    gap_tol: float = GAP_TOL
    on: float = ON_THRESHOLD
    off: float = OFF_THRESHOLD
    t_eval: float | None = None
    tracked: int = 32
    gallery: int = 8
    seed: int = 0

    # what each field accepts (the page's widgets take their bounds from here)
    CONSTRAINTS: ClassVar[dict] = {
        "schedule": Instance(ScheduleConfig, "a ScheduleConfig"), "sampler": Options(tuple(SAMPLERS)),
        "model": Options(MODELS), "samples": Integer(2, 100_000), "record": Integer(2, 1000),
        "tracked": Integer(1, 4096), "gallery": Integer(1, 256), "seed": SEED, "mlp_steps": Integer(1, 10**6),
        "dim": Optional(Integer(0, None)), "normal": MAGNITUDE, "tangential": MAGNITUDE, "t_suggest": POSITIVE,
        "gap_tol": POSITIVE, "mlp_lr": Real(0, 10, lo_open=True), "on": Real(0, 1), "off": Real(0, 1),
        "t_eval": Optional(POSITIVE)}

    def __post_init__(self):
        validate_fields(self, self.CONSTRAINTS)
        classify(np.zeros(1), np.zeros(1, bool), np.ones(1, bool), self.on, self.off)  # validates thresholds


@dataclasses.dataclass
class LatentRun:
    """Everything the MNIST view and the ``mnist`` command show (NumPy arrays)."""

    config: LatentConfig
    dim: int
    suggested_dim: int
    gaps: np.ndarray  # (D-1,) median scaled gaps h (l_k - l_{k+1}) at t_suggest
    deviation: RidgeDeviation  # (R, M) residuals at the recorded times
    eval_index: int  # the recorded time at which samples are split on / off ridge
    final: np.ndarray  # (M, D) samples at t_min
    codes: np.ndarray  # (M,) into CATEGORIES, at times[eval_index]
    nn_index: np.ndarray  # (M,) training latent nearest to the denoised sample
    nn_distance: np.ndarray  # (M,)
    nn_ratio: np.ndarray  # (M,) nearest / second-nearest distance (< 1/3: a copy)
    galleries: dict  # category name -> (k,) sample indices
    trajectories: object  # ridgeviz.views.trajectories.ExplorerResult of the tracked samples (2-D PCA plane)
    stats: dict
    denoised: np.ndarray | None = None  # (M, D) the last denoising step x0 = (x + h s(x, t_min)) / alpha


def latent_train_config(steps: int = 1000, lr: float = 1e-3, *, dim: int = 1, seed: int = 0, device: str = "auto"):
    """DSM settings for the latent score network: Adam (no weight decay), batch 1024 as in the authors' code.

    The authors' code trains with learning rate 1e-4; at the few thousand steps an interactive run affords, 1e-3 with a
    cosine decay gets much closer to the exact score (measured on the shipped ones: relative error 0.18-0.55
    against 0.33-0.75 after 1,000 steps), so it is the default here. The training probe is kept small (4 times x
    64 points) because each evaluation needs Hessians in the latent.
    """
    from ..models.training import TrainConfig

    return TrainConfig(steps=steps, lr=lr, batch_size=1024, weight_decay=0.0, ridge_dim=dim, seed=seed,
                       device=device, eval_every=steps, eval_times=4, probe_size=64)


def _model(cfg: LatentConfig, dens, dim, model, report, info: dict):
    if cfg.model == TRAINED_HERE:
        from ..models.training import train_mlp

        def progress(step, loss, _):
            if step % 25 == 0 or step == cfg.mlp_steps:
                report("training the score network", step / cfg.mlp_steps)

        tcfg = latent_train_config(cfg.mlp_steps, cfg.mlp_lr, dim=dim, seed=cfg.seed)
        res = train_mlp(dens.data, dens.schedule, tcfg, callback=progress).check()
        info.update(steps=res.steps_done, lr=cfg.mlp_lr, batch_size=tcfg.batch_size, seconds=round(res.seconds, 2),
                    final_loss=float(res.losses[-1]), eval_times=res.eval_times.tolist(),
                    error_relative=res.error_relative[-1].tolist(), device=res.device)
        return res.model
    if cfg.model == GIVEN:
        if model is None:
            raise ValueError("model: config.model is 'given' but no model was passed")
        return model
    return build_model(ModelConfig(cfg.model, dim, cfg.normal, cfg.tangential), dens)


def run_latent(latents, cfg: LatentConfig = LatentConfig(), *, model=None, progress=None) -> LatentRun:
    """Sample in the latent and measure where the samples go relative to the ridge of ``p_t``.

    latents: (N, D) training latents (the VAE's encoder means). ``model``: a score model for
    ``cfg.model == "given"``. ``progress(stage: str, fraction: float)`` reports progress.
    """
    report = progress or (lambda stage, frac: None)
    X = np.asarray(latents, dtype=np.float64)
    sched = cfg.schedule.schedule()
    dens = SmoothedEmpirical(X, sched)
    if dens.N < 2:
        raise ValueError("latents: need at least 2 training latents")
    suggested, gaps = suggest_latent_dim(dens, cfg.t_suggest)
    dim = suggested if cfg.dim is None else check_ridge_dim(dens, cfg.dim)
    training = {}
    score = _model(cfg, dens, dim, model, report, training)
    times = cfg.schedule.times()
    g = torch.Generator().manual_seed(cfg.seed)
    traj = sample(score, prior_sample(sched, cfg.samples, dens.D, generator=g), times, cfg.sampler, generator=g,
                  callback=lambda k, t, x: report("sampling", (k + 1) / (len(times) - 1)))
    if not torch.isfinite(traj.xs).all():
        raise ValueError("the sampler produced NaN or inf positions (the model's score is not finite)")
    rec = record_steps(times, cfg.record)
    dev = ridge_deviation(dens, traj.xs[rec], times[rec], dim, gap_tol=cfg.gap_tol,
                          progress=lambda r, n: report("ridge residuals", (r + 1) / n))
    e = len(rec) - 1 if cfg.t_eval is None else int(np.abs(np.log(dev.times / cfg.t_eval)).argmin())
    codes = classify(dev.normalised[e], dev.undefined[e], dev.concave[e], cfg.on, cfg.off)
    final = as_numpy(traj.final)
    denoised = _denoise(score, sched, traj)
    nn_idx, nn_dist, nn_second = nearest_training(X, denoised)
    ratio = nn_dist / np.where(nn_second > 0, nn_second, 1.0)
    galleries = {CATEGORIES[c]: pick_gallery(codes, dev.normalised[e], c, cfg.gallery) for c in (ON, OFF, UNDEFINED)}
    report("decomposing tracked trajectories", 0.0)
    explorer = _tracked(dens, traj, score, dim, cfg)
    report("done", 1.0)
    stats = {**_stats(cfg, dens, dim, suggested, gaps, dev, e, codes, nn_dist, ratio, explorer),
             "training": training}
    return LatentRun(cfg, dim, suggested, gaps, dev, e, final, codes, nn_idx, nn_dist, ratio, galleries, explorer,
                     stats, denoised)


def _denoise(score, sched, traj) -> np.ndarray:
    """The last denoising step (Tweedie) with the model's own score: ``x0 = (x + h s(x, t)) / alpha`` at t_min.

    The memorisation check compares these with the training latents: at t_min the sampler leaves noise of
    ``sqrt(D h)`` (0.25 in 32 dimensions at t = 1e-3), about half the spacing of the ones' latents, so the raw
    samples would hide copies.
    """
    t = float(traj.times[-1])
    x = traj.final
    s = torch.as_tensor(score(x, t), dtype=x.dtype, device=x.device)
    return as_numpy((x + float(sched.h(t)) * s) / float(sched.alpha(t)))


def _tracked(dens, traj, score, dim, cfg):
    """Decompose, label and project the first ``cfg.tracked`` trajectories (an ExplorerResult, no ridge lines)."""
    m = min(cfg.tracked, traj.xs.shape[1])
    sub = Trajectory(traj.xs[:, :m], traj.times, traj.method, traj.drifts[:, :m], traj.scores[:, :m])
    dec = decompose_error(score, dens, sub, dim, distance="proxy", gap_tol=cfg.gap_tol)
    rule = PhaseRule(gap_tol=cfg.gap_tol)
    phases = label_phases(dens, sub, dim, rule=rule, geometry=dec)
    X = as_numpy(dens.data)
    plane = data_plane(X)
    data2, xs2 = plane.project(X), plane.project(as_numpy(sub.xs))
    lo, hi = np.minimum(data2.min(0), xs2[-1].min(0)), np.maximum(data2.max(0), xs2[-1].max(0))
    pad = 0.1 * (hi - lo).max() + 1e-9
    frames = frame_indices(len(sub.times), 60)
    f32, q = np.float32, (0.1, 0.5, 0.9)
    return ExplorerResult(
        times=sub.times, xs=xs2.astype(f32), labels=phases.labels.astype(np.int8), distance=dec.distance.astype(f32),
        error_normal=dec.error_normal.astype(f32), error_tangential=dec.error_tangential.astype(f32),
        bands=dec.summary(q), quantiles=q, fractions=phases.fractions(), frames=frames,
        ridges=[[] for _ in frames], data=data2, bounds=(lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad),
        axis_labels=plane.labels, rule_text=rule.describe(dens.data), tube=float(phases.tube),
        distance_kind=dec.distance_kind, config={"dim": dim, "tracked": m})


def _stats(cfg, dens, dim, suggested, gaps, dev, e, codes, nn_dist, ratio, explorer) -> dict:
    """The JSON-able statistics of a run."""
    counts = {name: int((codes == c).sum()) for c, name in enumerate(CATEGORIES)}
    rec_idx = [int(np.argmin(np.abs(np.log(explorer.times) - np.log(t)))) for t in dev.times]
    bands = explorer.bands
    return {
        "config": dataclasses.asdict(cfg), "N": dens.N, "D": dens.D, "dim": dim, "suggested_dim": suggested,
        "paper_dim": PAPER_DIM, "median_scaled_gaps": [float(v) for v in gaps],
        "evolution": dev.summary(),
        "normalised_histograms": dev.histograms(10)[1].tolist(),
        "final": {"t": float(dev.times[e]), "thresholds": [cfg.on, cfg.off], "counts": counts,
                  "fractions": {k: v / len(codes) for k, v in counts.items()}},
        "memorisation": {"nearest_distance_median": float(np.median(nn_dist)),
                         "nearest_distance_quantiles": [float(v) for v in np.quantile(nn_dist, (0.1, 0.5, 0.9))],
                         "copies": float(np.mean(ratio < 1 / 3)),
                         "copy_rule": "nearest / second-nearest training latent distance < 1/3"},
        "tracked": {"samples": int(explorer.xs.shape[1]), "phase_final_fractions":
                    dict(zip(PHASES, map(float, explorer.fractions[-1]))),
                    "error_normal_mean": [float(bands["error_normal"][0][k]) for k in rec_idx],
                    "error_tangential_mean": [float(bands["error_tangential"][0][k]) for k in rec_idx],
                    "rule": explorer.rule_text},
    }


def gallery_panels(run: LatentRun, decode, train_pixels) -> dict:
    """Inputs of :func:`ridgeviz.latent_viz.gallery_figure`: title -> ``{"samples", "nearest", "captions"}``.

    decode: ``z (k, D) -> images (k, P)`` in [0, 1] (the VAE decoder); train_pixels: ``(N, P)`` the training
    images whose encoder means are the latents (so ``train_pixels[nn_index]`` is the nearest training image).
    Captions give the normalised residual r and the distance to the nearest training latent.
    """
    rule = {"on ridge": f"r < {run.config.on:g} and l_d+1 < 0", "off ridge": f"r > {run.config.off:g} or l_d+1 >= 0",
            "ridge undefined": f"h_t (l_d - l_d+1) < {run.config.gap_tol:g}"}
    out, shown = {}, run.final if run.denoised is None else run.denoised
    for name, idx in run.galleries.items():
        n = int((run.codes == CATEGORIES.index(name)).sum())
        r, d = run.deviation.normalised[run.eval_index][idx], run.nn_distance[idx]
        out[f"{name} ({rule[name]}): {n} of {len(run.codes)} samples"] = {
            "samples": decode(shown[idx]) if len(idx) else np.zeros((0, np.shape(train_pixels)[1])),
            "nearest": np.asarray(train_pixels)[run.nn_index[idx]],
            "captions": [f"r {a:.2f}<br>nn {b:.2f}" for a, b in zip(r, d)]}
    return out
