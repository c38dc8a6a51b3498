"""The one model factory: a frozen :class:`ModelConfig` (a cache key) and the score model it stands for.

The closed-form kinds of the registry (:mod:`ridgeviz.models.kinds`: the exact score, the exact score plus
injected error) are built from the config; trained models (MLP, random features, loaded checkpoints) are held by
the caller, identified in the config by ``key`` (a hash of their weights), and checked against the data and
schedule they are used with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..core.density import SmoothedEmpirical
from ..utils.validation import Integer, Options, validate_fields
from .kinds import LOADED, config_kinds, get_kind, kind_label, model_dimension
from .score import MAGNITUDE


@dataclass(frozen=True)
class ModelConfig:
    """Which score model: a registered kind (``exact``, ``injected`` with its normal / tangential magnitudes, a
    trained one) or ``checkpoint`` (:data:`~ridgeviz.models.kinds.LOADED`, a model loaded from a file).

    ``key`` identifies trained or loaded weights (a hash of their bytes), so results computed with different
    weights never share a cache entry; it is empty for the closed-form models.
    """

    kind: str = "injected"
    dim: int = 1
    normal: float = 0.5
    tangential: float = 0.5
    key: str = ""

    # what each field accepts (the app's widgets take their bounds from here); kind: a registered kind or LOADED
    CONSTRAINTS: ClassVar[dict] = {"dim": Integer(0, None), "normal": MAGNITUDE, "tangential": MAGNITUDE}

    def __post_init__(self):
        validate_fields(self, {"kind": Options(config_kinds()), **self.CONSTRAINTS})

    @property
    def closed_form(self) -> bool:
        """Whether the model is built from this config alone (no trained weights)."""
        return self.kind != LOADED and get_kind(self.kind).closed_form

    def label(self) -> str:
        """The kind's label, with the fields that set a closed-form model (``normal 0.5, tangential 0.5``)."""
        fields = get_kind(self.kind).label_fields if self.closed_form else ()
        extra = ", ".join(f"{f} {getattr(self, f):g}" for f in fields)
        return kind_label(self.kind) + (f" ({extra})" if extra else "")


def check_model(model, dens: SmoothedEmpirical) -> None:
    """Refuse a trained model that does not fit this data and schedule (different D or schedule)."""
    D = model_dimension(model)
    if D is not None and D != dens.D:
        raise ValueError(f"model: it was made for D = {D} dimensions; the data have D = {dens.D}")
    sched = getattr(model, "schedule", None)
    if sched is not None and sched != dens.schedule:
        raise ValueError(f"model: it was made for the schedule {sched.name!r} (T={sched.T:g}, t_min={sched.t_min:g});"
                         " choose that schedule in the sidebar, or train a model for this one")


def build_model(cfg: ModelConfig, dens: SmoothedEmpirical, trained=None):
    """The score model for ``cfg`` on ``dens``: a closed-form kind built here by its registry record, or
    ``trained`` (an MLP, random-feature or loaded model the caller holds) checked against the data and schedule."""
    if cfg.closed_form:
        return get_kind(cfg.kind).build(cfg, dens)
    if trained is None:
        raise ValueError(f"model kind {cfg.kind!r} needs trained weights; none are loaded")
    check_model(trained, dens)
    return trained
