"""The 2-D score models the experiments compare, built from small specs inside worker processes.

A spec is a dict: ``{"kind": "exact"}``, ``{"kind": "null"}``, ``{"kind": "shipped"}`` (the shipped generalising
MLP, :data:`~ridgeviz.models.recipes.GENERALISING_ASSET`), ``{"kind": "mlp", **overrides}`` (the generalising
recipe of :mod:`ridgeviz.models.recipes` with some fields changed: training length, width, weight decay) or
``{"kind": "rf", "p": ..., "tau": ...}`` (the paper's random-feature model; :func:`rf_models` fits every tau
from one set of moments).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.density import SmoothedEmpirical
from ..models.kinds import kind_label
from ..models.recipes import GENERALISING_ASSET, GENERALISING_RECIPE, load_generalising_model, train_recipe
from ..models.score import ExactScore, NullScore


def rf_models(X, schedule, p: int, taus, seed: int, K: int = 16) -> dict:
    """Random-feature models with ``p`` features (frozen weights from ``seed``) fitted at each tau: ``{tau: model}``."""
    import torch

    from ..models.random_features import RandomFeatureModel, fit_random_features
    from ..models.rf_moments import feature_moments

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
    """A short human label for a spec (the model kinds named as the registry names them)."""
    kind = spec["kind"]
    if kind == "exact":
        return kind_label("exact")
    if kind == "null":
        return "null (A = 0)"
    if kind == "shipped":
        return f"shipped {kind_label('mlp')} ({GENERALISING_ASSET.name})"
    if kind == "rf":
        tau = spec.get("tau", math.inf)
        return f"{kind_label('random-features')} p={spec['p']}, tau={'inf' if math.isinf(tau) else f'{tau:g}'}"
    changed = {k: v for k, v in spec.items() if k != "kind" and GENERALISING_RECIPE.get(k) != v}
    if not changed:
        return f"{kind_label('mlp')}, generalising recipe"
    names = {"steps": "steps", "hidden": "width", "weight_decay": "weight decay", "weighting": "weight",
             "prediction": "prediction"}
    return f"{kind_label('mlp')} recipe, " + ", ".join(f"{names.get(k, k)} {v:g}" if isinstance(v, (int, float)) else
                                      f"{names.get(k, k)} {v}" for k, v in changed.items())
