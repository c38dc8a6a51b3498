"""The 2-D score models the experiments compare, built from small specs inside worker processes.

A spec is a dict: ``{"kind": "exact"}``, ``{"kind": "null"}``, ``{"kind": "shipped"}`` (the shipped generalising
MLP, :data:`GENERALISING_ASSET`), ``{"kind": "mlp", **overrides}`` (the generalising recipe
:data:`GENERALISING_RECIPE` with some fields changed: training length, width, weight decay) or
``{"kind": "rf", "p": ..., "tau": ...}`` (the paper's random-feature model; :func:`rf_models` fits every tau
from one set of moments).

**The generalising recipe** (ridgeviz's, found by the sweep in the ``generalisation`` experiment): an
:class:`~ridgeviz.models.MLPScore` of width 64 and depth 4 that predicts the clean point (``x0``), trained by
denoising score matching with the loss weight ``h_t^2`` (small times count little) for 1,000 AdamW steps
(batch 256, learning rate 5e-3 with a cosine decay). Longer training, more width or the weight ``h_t`` drive it
to copy the training points like the exact score; much shorter training leaves its samples off the ridge.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.density import SmoothedEmpirical
from ..models.score import ExactScore
from ..utils.paths import ASSETS
from .common import NullScore

GENERALISING_RECIPE = dict(hidden=64, depth=4, prediction="x0", weighting="h2", steps=1000, batch_size=256,
                           lr=5e-3, lr_schedule="cosine", weight_decay=0.0)
#: The MLP trained by :data:`GENERALISING_RECIPE` on the 13-point set (seed 0); ``rv.load_model`` reads it.
GENERALISING_ASSET = ASSETS / "mlp_thirteen_generalises.safetensors"


def recipe_config(seed: int, device: str = "cpu", **overrides):
    """The :class:`~ridgeviz.models.TrainConfig` of the generalising recipe (fields in ``overrides`` replaced)."""
    from ..models.training import TrainConfig

    cfg = {**GENERALISING_RECIPE, **overrides}
    return TrainConfig(**cfg, seed=seed, device=device, eval_every=cfg["steps"], eval_times=2, probe_size=16)


def train_recipe(X, schedule, seed: int, device: str = "cpu", **overrides):
    """Train the generalising recipe on ``X: (N, 2)``; returns the :class:`~ridgeviz.models.MLPScore`."""
    from ..models.training import train_mlp

    return train_mlp(X, schedule, recipe_config(seed, device, **overrides)).check().model


def load_generalising_model():
    """The shipped generalising MLP (13-point set, OU schedule); ``ValueError`` if the asset is missing."""
    from ..models.checkpoints import load_model

    if not GENERALISING_ASSET.is_file():
        raise ValueError(f"the shipped model {GENERALISING_ASSET.name} is missing; rebuild it with "
                         "`python scripts/make_generalising_model.py`")
    return load_model(GENERALISING_ASSET, "mlp")


def rf_models(X, schedule, p: int, taus, seed: int, K: int = 16) -> dict:
    """Random-feature models with ``p`` features (frozen weights from ``seed``) fitted at each tau: ``{tau: model}``."""
    import torch

    from ..models.random_features import RandomFeatureModel, feature_moments, fit_random_features

    rf = RandomFeatureModel(X.shape[1], p, K, schedule.T, generator=torch.Generator().manual_seed(seed))
    moments = feature_moments(rf, X, schedule)
    return {tau: fit_random_features(rf, X, schedule, tau, moments=moments) for tau in taus}


def build(spec: dict, X, schedule, seed: int):
    """The score model of ``spec`` for the training set ``X: (N, D)`` (trained with ``seed`` when it learns)."""
    kind = spec["kind"]
    if kind == "exact":
        return ExactScore(SmoothedEmpirical(X, schedule))
    if kind == "null":
        return NullScore(schedule)
    if kind == "shipped":
        model = load_generalising_model()
        check_same_data(model, X)
        return model
    if kind == "mlp":
        return train_recipe(X, schedule, seed, **{k: v for k, v in spec.items() if k != "kind"})
    if kind == "rf":
        return rf_models(X, schedule, spec["p"], [spec.get("tau", math.inf)], seed)[spec.get("tau", math.inf)]
    raise ValueError(f"model spec: unknown kind {kind!r}")


def check_same_data(model, X) -> None:
    """Raise ``ValueError`` unless ``model`` was trained on ``X: (N, D)`` (by its dataset fingerprint)."""
    from ..data.datasets import dataset_fingerprint

    if getattr(model, "dataset_fingerprint", None) != dataset_fingerprint(np.asarray(X, dtype=np.float64)):
        raise ValueError("model: the shipped model was trained on a different dataset")


def label(spec: dict) -> str:
    """A short human label for a spec."""
    kind = spec["kind"]
    if kind in ("exact", "null"):
        return {"exact": "exact score", "null": "null (A = 0)"}[kind]
    if kind == "shipped":
        return f"shipped MLP ({GENERALISING_ASSET.name})"
    if kind == "rf":
        tau = spec.get("tau", math.inf)
        return f"random features p={spec['p']}, tau={'inf' if math.isinf(tau) else f'{tau:g}'}"
    changed = {k: v for k, v in spec.items() if k != "kind" and GENERALISING_RECIPE.get(k) != v}
    if not changed:
        return "MLP, generalising recipe"
    names = {"steps": "steps", "hidden": "width", "weight_decay": "weight decay", "weighting": "weight",
             "prediction": "prediction"}
    return "MLP recipe, " + ", ".join(f"{names.get(k, k)} {v:g}" if isinstance(v, (int, float)) else
                                      f"{names.get(k, k)} {v}" for k, v in changed.items())
