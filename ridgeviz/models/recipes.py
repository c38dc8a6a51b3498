"""Training recipes with a documented outcome; the generalising recipe and the shipped model it made.

**The generalising recipe** (ridgeviz's; found by the sweep of ``python -m ridgeviz reproduce generalisation``):
an :class:`~ridgeviz.models.MLPScore` of width 64 and depth 4 that predicts the clean point (``x0``), trained by
denoising score matching with the loss weight ``h_t^2`` (small times count little) for 1,000 AdamW steps (batch
256, learning rate 5e-3 with a cosine decay, no weight decay). On the 13-point set under OU its samples are
mostly new points on the ridge of the smoothed empirical density, with few copies of training points; longer
training or more width drive it toward copying like the exact score, much shorter training leaves its samples
off the ridge (the experiment's table gives the fractions with 95% intervals over seeds).

The model trained by this recipe on the 13-point set (seed 0, CPU) ships as :data:`GENERALISING_ASSET`
(``rv.load_model("assets/mlp_thirteen_generalises.safetensors")`` or :func:`load_generalising_model`); it is
rebuilt by ``python -m ridgeviz assets generalising``.
"""

from __future__ import annotations

from ..utils.paths import ASSETS

GENERALISING_RECIPE = {"hidden": 64, "depth": 4, "prediction": "x0", "weighting": "h2", "steps": 1000,
                       "batch_size": 256, "lr": 5e-3, "lr_schedule": "cosine", "weight_decay": 0.0}
GENERALISING_ASSET = ASSETS / "mlp_thirteen_generalises.safetensors"


def recipe_config(seed: int = 0, device: str = "cpu", **overrides):
    """The :class:`~ridgeviz.models.TrainConfig` of the generalising recipe, with the fields in ``overrides``
    replaced (a training length, a width, a weight decay)."""
    from .training import TrainConfig

    cfg = {**GENERALISING_RECIPE, **overrides}
    return TrainConfig(**cfg, seed=seed, device=device, eval_every=cfg["steps"], eval_times=2, probe_size=16)


def train_recipe(X, schedule, seed: int = 0, device: str = "cpu", **overrides):
    """Train the generalising recipe on ``X: (N, D)``; returns the :class:`~ridgeviz.models.MLPScore`."""
    from .training import train_mlp

    return train_mlp(X, schedule, recipe_config(seed, device, **overrides)).check().model


def load_generalising_model():
    """The shipped MLP of the generalising recipe (13-point set, OU schedule); ``ValueError`` if it is missing."""
    from .checkpoints import load_model

    if not GENERALISING_ASSET.is_file():
        raise ValueError(f"the shipped model {GENERALISING_ASSET.name} is missing; rebuild it with "
                         "`python -m ridgeviz assets generalising`")
    return load_model(GENERALISING_ASSET, "mlp")
