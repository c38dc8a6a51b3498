"""The one model factory: a frozen :class:`ModelConfig` (a cache key) and the score model it stands for.

The closed-form models (exact score, exact score plus injected error) are built from the config; trained models
(MLP, random features, loaded checkpoints) are held by the caller, identified in the config by ``key`` (a hash
of their weights), and checked against the data and schedule they are used with.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.density import SmoothedEmpirical
from ..utils.validation import Integer, Options, Real, validate_fields
from .score import ExactScore, InjectedErrorScore

MODEL_KINDS = ("exact", "injected", "mlp", "random-features", "checkpoint")
CLOSED_FORM = ("exact", "injected")


@dataclass(frozen=True)
class ModelConfig:
    """Which score model: ``exact``, ``injected`` (normal / tangential magnitudes) or a trained one.

    ``key`` identifies trained or loaded weights (a hash of their bytes), so results computed with different
    weights never share a cache entry; it is empty for the closed-form models.
    """

    kind: str = "injected"
    dim: int = 1
    normal: float = 0.5
    tangential: float = 0.5
    key: str = ""

    def __post_init__(self):
        validate_fields(self, {"kind": Options(MODEL_KINDS), "dim": Integer(0, None), "normal": Real(),
                               "tangential": Real()})

    def label(self) -> str:
        if self.kind == "injected":
            return f"exact + injected error (normal {self.normal:g}, tangential {self.tangential:g})"
        return {"exact": "exact score (memorises)", "mlp": "MLP score network",
                "random-features": "random-feature model", "checkpoint": "loaded checkpoint"}[self.kind]


def check_model(model, dens: SmoothedEmpirical) -> None:
    """Refuse a trained model that does not fit this data and schedule (different D or schedule)."""
    D = getattr(model, "D", None)
    if D is not None and D != dens.D:
        raise ValueError(f"model: it was made for D = {D} dimensions; the data have D = {dens.D}")
    sched = getattr(model, "schedule", None)
    if sched is not None and sched != dens.schedule:
        raise ValueError(f"model: it was made for the schedule {sched.name!r} (T={sched.T:g}, t_min={sched.t_min:g});"
                         " choose that schedule in the sidebar, or train a model for this one")


def build_model(cfg: ModelConfig, dens: SmoothedEmpirical, trained=None):
    """The score model for ``cfg`` on ``dens``: the exact or injected-error model built here, or ``trained`` (an
    MLP, random-feature or loaded model the caller holds) checked against the data and schedule."""
    if cfg.kind in CLOSED_FORM:
        if cfg.kind == "exact":
            return ExactScore(dens)
        if cfg.dim >= dens.D:
            raise ValueError(f"dim: the ridge dimension must be < D = {dens.D}; got {cfg.dim}")
        return InjectedErrorScore(dens, dim=cfg.dim, normal=cfg.normal, tangential=cfg.tangential)
    if trained is None:
        raise ValueError(f"model kind {cfg.kind!r} needs trained weights; none are loaded")
    check_model(trained, dens)
    return trained
