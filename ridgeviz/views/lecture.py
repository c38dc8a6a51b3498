"""The guided lecture: seven steps, each one figure that makes one point, from one precomputed file.

The steps tell the paper's story on the 13-point set under the OU schedule (the app's default data):

1. **smoothing**: the training points blurred by the diffusion's noise, at three bandwidths;
2. **ridge**: the ridge of ``p_t`` appears as the blur grows from nothing, and dissolves into one blob (in reverse
   time: it forms, then breaks up around the points), with its length against t;
3. **exact**: the exact score of ``p_t`` memorises (its samples end as copies of training points);
4. **learned**: the shipped generalising MLP (:func:`ridgeviz.models.recipes.load_generalising_model`) puts new
   samples on the ridge, judged by the one outcome rule (:mod:`ridgeviz.core.outcomes`) at its ``t*`` and beside the
   direction-randomised null (the same samples with their offsets from the nearest training point turned at random);
5. **phases**: one followed sample of that model (probability-flow ODE, so its path is not noise) coloured by its
   phase (:mod:`ridgeviz.core.phases`): reach, align, then held, slide or to a training point;
6. **errors**: the exact score plus a normal error beside the exact score plus a tangential error of the same size,
   from the same prior draw and the same noise, switched on at ``t = ERROR_ON`` where the ridge forms (before, the
   error would only push the round blob about); each sample is joined to where the error-free run put it;
7. **random features**: the architectural bias and the optimisation error of the paper's random-feature model
   over the training time tau, measured at the same points for every tau (the fully trained model's own
   trajectories), on the 13 points in general position rather than the authors' (+-3, 0), where the normal bias
   vanishes by symmetry and so says nothing.

Steps 3 and 4 start from the same noise, as on the home page. The file is written in the one result-file format
(:mod:`ridgeviz.utils.results`) and records what it was made from (:func:`made_from`), so the app shows it exactly
when it answers :data:`LECTURE`; ``python -m ridgeviz assets lecture`` rebuilds it. Reading it needs NumPy only (the
computation is in :mod:`ridgeviz.views.lecture_build`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import numpy as np

from ..utils import provenance
from ..utils.paths import ASSETS
from ..utils.provenance import file_digest, provenance_of
from ..utils.results import read_result, write_result
from ..utils.validation import SEED, Integer, Options, Real, validate_fields
from .side_by_side import SAMPLERS

RESULT_KIND, RESULT_FORMAT = "lecture", 1
PATH = ASSETS / "lecture.npz"
MODEL_FILE = "mlp_thirteen_generalises.safetensors"
# the code the file's numbers come from (the captions and the file's container, here, are not: its format is
# versioned by RESULT_FORMAT and its settings are recorded)
CODE = ("ridgeviz.core", "ridgeviz.models.score", "ridgeviz.models.mlp", "ridgeviz.models.checkpoints",
        "ridgeviz.models.kinds", "ridgeviz.models.random_features", "ridgeviz.models.rf_moments",
        "ridgeviz.models.rf_analysis", "ridgeviz.data.datasets", "ridgeviz.views.bandwidth",
        "ridgeviz.views.trajectories", "ridgeviz.views.lecture_build")


@dataclass(frozen=True)
class LectureConfig:
    """What the lecture's file is computed with (the 13 points, OU; every field is a setting of one step)."""

    dataset: str = "thirteen"
    steps: int = 200  # sampler steps of steps 3-6
    particles: int = 400  # samples of steps 3, 4 and 6
    seed: int = 0
    frames: int = 60  # animation frames of steps 3-6
    ridge_frames: int = 40  # frames of step 2
    grid: int = 64  # density grid of steps 1 and 2 (grid x grid)
    error: float = 2.0  # size of the injected normal or tangential error in step 6
    error_on: float = 0.5  # the time below which step 6's error acts
    error_sampler: str = "euler"  # step 6's sampler: the probability-flow ODE, so only the error moves samples apart
    followers: int = 256  # candidates for the followed sample of step 5
    rf_features: int = 512
    rf_time_features: int = 16
    rf_particles: int = 128
    rf_steps: int = 100
    taus: tuple = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)

    CONSTRAINTS: ClassVar[dict] = {
        "steps": Integer(10, 2000), "particles": Integer(2, 4096), "seed": SEED, "frames": Integer(2, 200),
        "ridge_frames": Integer(2, 200), "grid": Integer(8, 200), "error": Real(0.0, 3.0, lo_open=True),
        "error_on": Real(0.0, None, lo_open=True), "error_sampler": Options(SAMPLERS), "followers": Integer(1, 4096),
        "rf_features": Integer(1, 8192), "rf_time_features": Integer(0, 512), "rf_particles": Integer(1, 4096),
        "rf_steps": Integer(2, 5000)}

    def __post_init__(self):
        validate_fields(self, self.CONSTRAINTS)
        if self.dataset != "thirteen":
            raise ValueError(f"dataset: the lecture's shipped model is trained on 'thirteen'; got {self.dataset!r}")


LECTURE = LectureConfig()


class Step(NamedTuple):
    """One step: its key, its title (what the figure shows), and the full page that goes deeper."""

    key: str
    title: str
    page: str  # url path of the full page
    model: dict  # the model in that page's link ({} keeps the page's own)


STEPS = (
    Step("smoothing", "The data, blurred by noise", "Data_and_bandwidth", {}),
    Step("ridge", "The ridge appears, then dissolves", "Data_and_bandwidth", {}),
    Step("exact", "The exact score memorises", "Trajectories", {"model": "exact"}),
    Step("learned", "A learned model generalises", "Trajectories",
         {"model": "checkpoint", "file": MODEL_FILE}),
    Step("phases", "Reach, align, held", "Trajectories", {"model": "checkpoint", "file": MODEL_FILE}),
    Step("errors", "Normal error off, tangential along", "Trajectories",
         {"model": "injected", "normal": "0", "tangential": "2"}),
    Step("rf", "Random features: bias and error", "Random_features", {}),
)


def made_from(cfg: LectureConfig = LECTURE) -> dict:
    """What the lecture's file records: the settings, the shipped model's bytes and this code."""
    from ..data.datasets import MODE_SETS

    return provenance.made_from(dataclasses.asdict(cfg), {"data": provenance.array_digest(MODE_SETS[cfg.dataset]),
                                                          "model": file_digest(ASSETS / MODEL_FILE)}, CODE)


@dataclass
class Lecture:
    """The arrays of every step by name (``<step>_<what>``), their polylines and scalars (``meta``).

    Shared: ``data (N, 2)``, meta ``bounds`` (x0, x1, y0, y1, data units), ``rule`` (the outcome rule in words),
    ``t_ridge``, ``b_eval``, ``tube``. smoothing: ``density (3, G, G)`` in [0, 1], meta ``smoothing_b``,
    ``smoothing_t``. ridge: ``density (F, G, G)``, ``times (F,)``, ``length (F,)``, polylines ``ridges`` (F groups).
    exact / learned: ``xs (F, M, 2)`` float16, ``codes (M,)``, ``fractions (4,)``; learned also ``null (4,)``;
    polylines ``runs`` (the moving ridge at ``run_times (F,)``) and ``eval_ridge`` (one group). phases: ``path
    (K+1, 2)``, ``labels (K+1,)``, ``distance (K+1,)``, ``tube (K+1,)``, ``times (K+1,)``, meta ``phases_frames``
    (indices of the run's frames into K+1) and ``phases_code``. errors: ``xs (3, F, M, 2)`` (exact, normal,
    tangential) float16, ``times (F,)``, polylines ``error_ridges``. rf: ``taus (n,)`` and ``bias_normal``,
    ``bias_tangential``, ``opt_normal``, ``opt_tangential`` (n,).
    """

    arrays: dict
    meta: dict
    polylines: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def to_npz_bytes(self) -> bytes:
        return write_result(RESULT_KIND, RESULT_FORMAT, self.arrays, self.meta, self.polylines,
                            made_from=provenance_of(self.meta["config"]))

    @classmethod
    def from_npz(cls, source) -> "Lecture":
        f = read_result(source, RESULT_KIND, RESULT_FORMAT, "lecture file")
        if "config" not in f.meta:
            raise ValueError("lecture file: it lacks its config")
        return cls(f.arrays, f.meta, f.polylines)


def step_index(raw, default: int = 1) -> int:
    """The 1-based step a link asks for (``"3"``), clamped into ``1..len(STEPS)``; ``default`` if unreadable."""
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return default
    return min(max(value, 1), len(STEPS))


def percent(f: float) -> str:
    return "<1%" if 0 < f < 0.005 else ">99%" if 0.995 <= f < 1 else f"{100 * f:.0f}%"


def caption(lec: Lecture, key: str) -> str:
    """The one-sentence caption of step ``key``, with the file's own numbers."""
    m = lec.meta
    if key == "smoothing":
        return ("Diffusion blurs the 13 training points by Gaussian noise of width b = σ_t/α_t: one bump per point "
                "when b is small, one round blob when it is large; p_t is the blurred density.")
    if key == "ridge":
        return ("The ridge of p_t (purple) runs along the crests between neighbouring bumps: it forms as the blob "
                "splits and breaks up around each point as t → 0.")
    if key == "exact":
        return (f"Run backwards from noise, the exact score of p_t ends {percent(lec['exact_fractions'][0])} of its "
                "samples on a training point (red: copies): it memorises.")
    if key == "learned":
        f, null = lec["learned_fractions"], lec["learned_null"]
        return (f"From the same noise the shipped generalising MLP ends {percent(f[1])} of its samples new on the "
                f"ridge at t* (green) and copies {percent(f[0])}; turned at random about their nearest training "
                f"point, the same samples land on it only {percent(null[1])}.")
    if key == "phases":
        return ("One sample of that model: it reaches the tube around the ridge (blue), aligns as its distance "
                "relaxes (orange), then is held on the ridge between training points (pink).")
    if key == "errors":
        settings = m["config"]["settings"]
        return (f"The exact score plus an error of size {settings['error']:g} from t = {settings['error_on']:g} on, "
                "from the same start: a normal error holds samples beside the ridge, a tangential one carries them "
                "along it (grey: from the error-free position).")
    return ("Trained for longer (τ), the random-feature model loses its optimisation error (dashed) but keeps its "
            "architectural bias (solid), normal and tangential alike.")
