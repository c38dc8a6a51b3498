"""ridgeviz: see where a diffusion model's samples go relative to the ridge of the smoothed empirical density.

Implements He, Qiu & Tao, "Diffusion Model's Generalization Can Be Characterized by Inductive Biases toward a
Data-Dependent Ridge Manifold" (arXiv 2602.06021). The public API is re-exported here.
"""

import os

# torch's OpenMP threads spin while waiting; on a busy two-core machine that made small-tensor work 10-15x slower
# (measured: the default 2-D pipeline 20.3 s wall at load 9 with the default policy, 1.1 s with PASSIVE). It only
# takes effect if torch has not been imported yet; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .decomposition import ErrorDecomposition, decompose_error, trajectory_geometry
from .density import SmoothedEmpirical
from .models import ExactScore, InjectedErrorScore, model_error
from .phases import PHASES, PhaseLabels, PhaseRule, label_phases
from .ridge import RidgeProjection, local_frame, project_to_ridge, ridge_residual, suggest_ridge_dim
from .sampling import SAMPLERS, Trajectory, prior_sample, sample
from .schedules import SCHEDULES, Schedule, get_schedule
from .tracing import ridge_fields, trace_ridge, trace_ridges
from .io import load_model, save_model
from .models import MLPScore
from .random_features import (Quadrature, RandomFeatureModel, RandomFeatureScore, bias_optimisation_split,
                              feature_moments, fit_random_features, inter_mode_mass, tau_sweep)
from .training import Cancelled, TrainConfig, TrainResult, train_mlp

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "ErrorDecomposition",
    "ExactScore",
    "InjectedErrorScore",
    "MLPScore",
    "PHASES",
    "PhaseLabels",
    "PhaseRule",
    "Quadrature",
    "RandomFeatureModel",
    "RandomFeatureScore",
    "RidgeProjection",
    "SAMPLERS",
    "SCHEDULES",
    "Schedule",
    "SmoothedEmpirical",
    "TrainConfig",
    "TrainResult",
    "Trajectory",
    "bias_optimisation_split",
    "decompose_error",
    "feature_moments",
    "fit_random_features",
    "get_schedule",
    "inter_mode_mass",
    "label_phases",
    "load_model",
    "local_frame",
    "model_error",
    "prior_sample",
    "project_to_ridge",
    "ridge_fields",
    "ridge_residual",
    "sample",
    "save_model",
    "suggest_ridge_dim",
    "tau_sweep",
    "trace_ridge",
    "trace_ridges",
    "train_mlp",
    "trajectory_geometry",
]
