"""ridgeviz: see where a diffusion model's samples go relative to the ridge of the smoothed empirical density.

Implements He, Qiu & Tao, "Diffusion Model's Generalization Can Be Characterized by Inductive Biases toward a
Data-Dependent Ridge Manifold" (arXiv 2602.06021). The public API (``import ridgeviz as rv``) is re-exported
here and loaded on first use, so importing the package costs nothing and changes nothing (no torch import, no
environment variables): the app's home page stays fast, and the edges (app, command line) choose threads first.
"""

from __future__ import annotations

import importlib

from .utils.version import __version__ as __version__

# public name -> the module that defines it (the layers are described in docs/architecture.md)
_EXPORTS = {
    "ridgeviz.core.schedules": ("SCHEDULES", "Schedule", "ScheduleConfig", "get_schedule"),
    "ridgeviz.core.density": ("SmoothedEmpirical",),
    "ridgeviz.core.ridge": ("RidgeProjection", "local_frame", "project_to_ridge", "ridge_residual",
                            "suggest_ridge_dim"),
    "ridgeviz.core.tracing": ("ridge_fields", "trace_ridge", "trace_ridges"),
    "ridgeviz.core.sampling": ("SAMPLERS", "Trajectory", "prior_sample", "sample"),
    "ridgeviz.core.decomposition": ("ErrorDecomposition", "decompose_error", "trajectory_geometry"),
    "ridgeviz.core.vocabulary": ("PHASES", "CATEGORIES"),
    "ridgeviz.core.phases": ("PhaseLabels", "PhaseRule", "label_phases", "phase_sensitivity"),
    "ridgeviz.core.laws": ("RidgeLaws", "ridge_laws"),
    "ridgeviz.core.outcomes": ("OutcomeRule", "classify_samples", "outcomes"),
    "ridgeviz.models.score": ("ExactScore", "InjectedErrorScore", "model_error"),
    "ridgeviz.models.mlp": ("MLPScore",),
    "ridgeviz.models.training": ("Cancelled", "TrainConfig", "TrainResult", "train_mlp"),
    "ridgeviz.models.random_features": ("RandomFeatureModel", "RandomFeatureScore", "fit_random_features"),
    "ridgeviz.models.rf_moments": ("Quadrature", "feature_moments"),
    "ridgeviz.models.rf_analysis": ("bias_optimisation_split", "inter_mode_mass", "tau_sweep"),
    "ridgeviz.models.checkpoints": ("load_model", "save_model"),
    "ridgeviz.models.factory": ("ModelConfig", "build_model"),
    "ridgeviz.models.recipes": ("load_generalising_model",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ridgeviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
