"""Side by side: two score models sampled in lockstep from the same noise; copies, new samples on the ridge, off it.

The home page's view: memorisation (the exact score of p_t copies its training points) beside generalisation
(a learned model puts new samples on the ridge). Both models start from the same prior draw ``x_T`` and see the
same Euler-Maruyama noise (one seeded generator each, consumed identically), so every difference between the
panels comes from the scores.

Each final sample gets one category by ridgeviz's one outcome rule (:mod:`ridgeviz.core.outcomes`, the rule of
``reproduce``'s generalisation table): a **copy** (within ``s_min / 6`` of a training point), **new on ridge**
(within ``sqrt(h_*) / 2`` of the ridge ``R_{t_*}`` at the small time ``t_*`` where ``sqrt(h_*)`` is a third of the
median spacing of the points), **new off ridge**, or **ridge undefined** (its projection ends in the isotropic
blob around an isolated point). The dashed curve is that ridge in data units (``R_{t_*} / alpha_*``: the ridge of
the data's Gaussian KDE at bandwidth ``b_* = sigma_* / alpha_*``), with the tube drawn at ``tube / alpha_*``.
This module imports no torch until :func:`run_side_by_side` is called (the home page loads the
shipped result without it).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..models.kinds import LOADED, kind_label, trained_kinds
from ..utils import provenance
from ..utils.paths import ASSETS
from ..utils.provenance import file_digest, provenance_of
from ..utils.results import as_float, read_result, write_result
from ..utils.validation import SEED, Integer, Options, validate_fields

CATEGORIES = ("copy", "new on ridge", "new off ridge", "ridge undefined")  # = core.outcomes.CATEGORIES
EXACT = "exact"
SAMPLERS = ("em", "euler", "heun", "ddim")
RESULT_KIND, RESULT_FORMAT = "side by side", 3
CODE = ("ridgeviz.core", "ridgeviz.models.score", "ridgeviz.models.mlp", "ridgeviz.models.random_features",
        "ridgeviz.models.rf_features", "ridgeviz.models.rf_kernels", "ridgeviz.models.checkpoints",
        "ridgeviz.models.kinds", "ridgeviz.models.factory", "ridgeviz.data.datasets", "ridgeviz.views.side_by_side")


def shipped_pairs() -> dict[str, list[str]]:
    """``{preset dataset: [checkpoint file, ...]}`` of the shipped score checkpoints (from their JSON sidecars)."""
    out: dict[str, list[str]] = {}
    for path in sorted(ASSETS.glob("*.json")):
        meta = json.loads(path.read_text())
        data = meta.get("dataset") or {}
        if meta.get("kind") in trained_kinds() and data.get("kind") == "preset":
            if path.with_suffix(".safetensors").is_file():
                out.setdefault(data["name"], []).append(path.with_suffix(".safetensors").name)
    return out


@dataclass(frozen=True)
class SideBySideConfig:
    """Which two models, on which preset dataset, and how the reverse runs are made.

    ``left`` / ``right``: ``"exact"`` or the file name of a shipped checkpoint in ``assets/`` trained on
    ``dataset`` (its own schedule is used; the exact score uses the same schedule).
    """

    dataset: str = "thirteen"
    left: str = EXACT
    right: str = "mlp_thirteen_ou.safetensors"
    particles: int = 512
    steps: int = 200
    sampler: str = "em"
    seed: int = 0
    frames: int = 100

    # what each field accepts besides ``dataset`` (a preset) and the two models (the widgets' bounds come from here)
    CONSTRAINTS: ClassVar[dict] = {"particles": Integer(2, 4096), "steps": Integer(2, 2000),
                                   "sampler": Options(SAMPLERS), "seed": SEED, "frames": Integer(2, 200)}

    def __post_init__(self):
        from ..data.datasets import MODE_SETS

        validate_fields(self, {"dataset": Options(tuple(MODE_SETS)), **self.CONSTRAINTS})
        for side in ("left", "right"):
            name = getattr(self, side)
            if name == EXACT:
                continue
            if not (isinstance(name, str) and name.endswith(".safetensors") and "/" not in name
                    and (ASSETS / name).is_file()):
                raise ValueError(f"{side} must be 'exact' or a shipped checkpoint in assets/; got {name!r}")
            if name not in shipped_pairs().get(self.dataset, []):
                raise ValueError(f"{side}: {name} was not trained on the preset {self.dataset!r}")


# The home page's pair: the exact score beside the learned model that generalises. The lead switches this one
# constant (and rebuilds the shipped view: python -m ridgeviz assets home) when a better model is shipped.
HOME = SideBySideConfig(dataset="thirteen", right="mlp_thirteen_generalises.safetensors")


@dataclass
class SideBySide:
    """The two panels' data: positions at the animation frames, final categories, the ridges drawn.

    times: (F,) frame times; xs: (2, F, M, 2) float16 positions (left, right); category: (2, M) int8 codes into
    ``CATEGORIES``; fractions: (2, 4); ridges: F lists of (n, 2) polylines of ``R_t^1`` (diffusion coordinates);
    eval_ridge: polylines of the outcome rule's ridge ``R_{t_*} / alpha_*``, the KDE's ridge at bandwidth ``b_eval``,
    with its tube half-width ``tube`` (data units); data: (N, 2); bounds; names: the two
    models' labels; config: settings, code and checkpoint fingerprints.
    """

    times: np.ndarray
    xs: np.ndarray
    category: np.ndarray
    fractions: np.ndarray
    ridges: list
    eval_ridge: list
    b_eval: float
    tube: float
    data: np.ndarray
    bounds: tuple
    names: tuple
    config: dict

    def to_npz_bytes(self) -> bytes:
        """The result in ridgeviz's one result-file format (:mod:`ridgeviz.utils.results`)."""
        meta = {"b_eval": self.b_eval, "tube": self.tube, "bounds": self.bounds, "names": self.names,
                "config": self.config}
        return write_result(RESULT_KIND, RESULT_FORMAT, {"times": self.times, "xs": self.xs.astype(np.float16),
                                                         "category": self.category, "fractions": self.fractions,
                                                         "data": self.data}, meta,
                            {"ridges": self.ridges, "eval_ridge": [self.eval_ridge]},
                            made_from=provenance_of(self.config))

    @classmethod
    def from_npz(cls, source) -> "SideBySide":
        """Inverse of :meth:`to_npz_bytes`; ``source`` is a path, bytes or a file object."""
        f = read_result(source, RESULT_KIND, RESULT_FORMAT, "side-by-side file")
        a, m = f.arrays, f.meta
        try:
            return cls(times=a["times"], xs=a["xs"], category=a["category"], fractions=a["fractions"],
                       ridges=f.polylines["ridges"], eval_ridge=f.polylines["eval_ridge"][0], data=a["data"],
                       b_eval=m["b_eval"], tube=m["tube"], bounds=tuple(m["bounds"]), names=tuple(m["names"]),
                       config=m["config"])
        except (KeyError, IndexError) as exc:
            raise ValueError(f"side-by-side file: it lacks {exc}") from None


def checkpoint_digest(name: str) -> str:
    """SHA-256 (16 hex digits) of a shipped checkpoint's bytes; ``"exact"`` for the exact score."""
    return EXACT if name == EXACT else file_digest(ASSETS / name)


def made_from(cfg: SideBySideConfig) -> dict:
    """What a result for ``cfg`` records: the settings, both checkpoints' bytes and this code."""
    return provenance.made_from(dataclasses.asdict(cfg), {"left": checkpoint_digest(cfg.left),
                                                          "right": checkpoint_digest(cfg.right)}, CODE)


def model_label(name: str) -> str:
    """How a model is named in the panel titles: its kind's label (the model-kind registry) and how it was made,
    from the checkpoint's sidecar: ``"MLP score network (generalising recipe)"``, ``"MLP score network (12,000
    steps)"``, ``"random-feature model (τ = 10)"``; the file name when the sidecar says nothing of either."""
    if name == EXACT:
        return kind_label(EXACT)
    try:
        meta = json.loads((ASSETS / name).with_suffix(".json").read_text())
        label = kind_label(meta["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        return name.removesuffix(".safetensors")
    recipe = (meta.get("recipe") or {}).get("name")
    steps = (meta.get("training") or {}).get("steps")
    if isinstance(recipe, str):
        detail = recipe.split(" (")[0]
    elif "tau" in meta:
        tau = as_float(meta["tau"])
        detail = "τ = ∞" if tau == float("inf") else f"τ = {tau:g}"
    else:
        detail = f"{steps:,} steps" if isinstance(steps, int) else name.removesuffix(".safetensors")
    return f"{label} ({detail})"


def _load(name: str, dens):
    from ..models.checkpoints import load_model
    from ..models.factory import ModelConfig, build_model

    if name == EXACT:
        return build_model(ModelConfig(EXACT), dens)
    return build_model(ModelConfig(LOADED), dens, load_model(ASSETS / name))


def run_side_by_side(cfg: SideBySideConfig = HOME, callback=None) -> SideBySide:
    """Sample both models from the same noise, trace the moving ridge, classify the final samples."""
    import torch

    from ..core.density import SmoothedEmpirical, as_numpy
    from ..core.outcomes import OutcomeRule, classify_samples
    from ..core.sampling import prior_sample, sample
    from ..core.tracing import default_bounds, trace_ridges
    from ..data.datasets import MODE_SETS
    from .trajectories import frame_indices

    report = callback or (lambda stage, fraction: None)
    X = np.array(MODE_SETS[cfg.dataset], dtype=np.float64)
    sched = _schedule(cfg)
    dens = SmoothedEmpirical(X, sched)
    times = sched.time_grid(cfg.steps)
    frames = frame_indices(len(times), cfg.frames)
    panels = []
    for j, name in enumerate((cfg.left, cfg.right)):
        report(f"sampling: {model_label(name)}", 0.4 * j)
        g = torch.Generator().manual_seed(cfg.seed)  # the same x_T and the same noise for both models
        traj = sample(_load(name, dens), prior_sample(sched, cfg.particles, 2, g), times, cfg.sampler, generator=g)
        panels.append(as_numpy(traj.xs)[frames])
    bounds = default_bounds(X)
    report("tracing the ridge", 0.8)
    ridges = trace_ridges(dens, times[frames], 1, bounds=bounds, grid=18)
    rule = OutcomeRule.for_data(X, sched)
    a_star = float(sched.alpha(rule.t_ridge))
    eval_ridge = [line / a_star for line in trace_ridges(dens, [rule.t_ridge], 1, bounds=bounds, grid=24)[0]]
    b_eval, tube = float(sched.sigma(rule.t_ridge)) / a_star, rule.tube / a_star
    category = np.stack([classify_samples(dens, p[-1], rule) for p in panels])
    fractions = np.stack([np.bincount(c, minlength=len(CATEGORIES)) / len(c) for c in category])
    report("done", 1.0)
    return SideBySide(times=times[frames], xs=np.stack(panels).astype(np.float16), category=category,
                      fractions=fractions, ridges=ridges, eval_ridge=eval_ridge, b_eval=b_eval, tube=float(tube),
                      data=X, bounds=tuple(map(float, bounds)), names=(model_label(cfg.left), model_label(cfg.right)),
                      config=made_from(cfg) | {"schedule": sched.name, "b_eval": b_eval,
                                               "rule": rule.describe(), "t_ridge": rule.t_ridge})


def _schedule(cfg: SideBySideConfig):
    """The schedule of the pair: the checkpoints' own (they must agree), OU for two exact scores."""
    from ..core.schedules import get_schedule
    from ..models.checkpoints import schedule_from_config

    found = set()
    for name in (cfg.left, cfg.right):
        if name != EXACT:
            meta = json.loads((ASSETS / name).with_suffix(".json").read_text())
            found.add(schedule_from_config(meta.get("schedule")))
    if len(found) > 1:
        raise ValueError("left, right: the two checkpoints were trained under different schedules")
    return found.pop() if found else get_schedule("ou")
