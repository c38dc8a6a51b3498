"""ridgeviz: see where a diffusion model's samples go relative to the ridge of the smoothed empirical density.

Implements He, Qiu & Tao, "Diffusion Model's Generalization Can Be Characterized by Inductive Biases toward a
Data-Dependent Ridge Manifold" (arXiv 2602.06021). The public API is re-exported here.
"""

from .decomposition import ErrorDecomposition, decompose_error, trajectory_geometry
from .density import SmoothedEmpirical
from .models import ExactScore, InjectedErrorScore, model_error
from .phases import PHASES, PhaseLabels, PhaseRule, label_phases
from .ridge import RidgeProjection, local_frame, project_to_ridge, ridge_residual, suggest_ridge_dim
from .sampling import SAMPLERS, Trajectory, prior_sample, sample
from .schedules import SCHEDULES, Schedule, get_schedule
from .tracing import ridge_fields, trace_ridge, trace_ridges

__version__ = "0.1.0"
