"""Build the score-model checkpoints the default 2-D views load instantly.

    python scripts/make_assets.py [--steps 12000] [--only mlp|rf]

1. ``assets/mlp_thirteen_ou.safetensors`` (+ ``.json``): the MLP score network on the 13-point set under the
   paper's OU schedule (T = 10, t_min = 1e-3), default :class:`ridgeviz.training.TrainConfig` except ``--steps``
   (seed 0, CPU), so its error is below the bound of the 30-second default.
2. ``assets/rf_two_points_tau{0.1,1,10,100,inf}.safetensors`` (+ ``.json``): the paper's random-feature model on
   (+-3, 0), p = 512 features, K = 16 frequencies, seed 0, readout initialised ``A0 ~ N(0, 1)``, moments by the
   default quadrature, closed-form gradient flow at each tau. Frozen weights are stored in float32 (lossless).

Deterministic on the CPU: the same options give the same files.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ridgeviz as rv  # noqa: E402
from ridgeviz.data.datasets import DatasetSpec, make_dataset  # noqa: E402
from ridgeviz.models.checkpoints import save_model  # noqa: E402
from ridgeviz.models.random_features import RandomFeatureModel, feature_moments, fit_random_features
from ridgeviz.models.rf_analysis import tau_label
from ridgeviz.models.training import TrainConfig, train_mlp  # noqa: E402

ASSETS = ROOT / "assets"
MLP_PATH = ASSETS / "mlp_thirteen_ou.safetensors"
RF_TAUS = (0.1, 1.0, 10.0, 100.0, math.inf)
RF_FEATURES, RF_FREQUENCIES, RF_SEED = 512, 16, 0


def rf_path(tau: float) -> Path:
    return ASSETS / f"rf_two_points_tau{tau_label(tau)}.safetensors"


def build_mlp(steps: int) -> None:
    spec = DatasetSpec("preset", "thirteen")
    cfg = TrainConfig(steps=steps, device="cpu")
    res = train_mlp(make_dataset(spec), rv.get_schedule("ou"), cfg).check()
    path = save_model(MLP_PATH, res.model, {"dataset": {"kind": spec.kind, "name": spec.name}})
    mid = (res.eval_times >= 0.05) & (res.eval_times <= 1.0)
    print(f"{path.name}: {res.steps_done} steps in {res.seconds:.1f} s, relative score error at t in [0.05, 1]: "
          f"max {res.error_relative[-1][mid].max():.3f}, {path.stat().st_size / 1024:.0f} KiB")


def build_rf() -> None:
    spec = DatasetSpec("preset", "two-points")
    X, sched = make_dataset(spec), rv.get_schedule("ou")
    rf = RandomFeatureModel(2, RF_FEATURES, RF_FREQUENCIES, sched.T, generator=torch.Generator().manual_seed(RF_SEED))
    start = time.perf_counter()
    moments = feature_moments(rf, X, sched)
    print(f"moments: {moments.nodes} nodes in {time.perf_counter() - start:.1f} s")
    for tau in RF_TAUS:
        model = fit_random_features(rf, X, sched, tau, moments=moments)
        path = save_model(rf_path(tau), model, {"dataset": {"kind": spec.kind, "name": spec.name}, "seed": RF_SEED})
        print(f"{path.name}: loss {moments.loss(model.A):.4f}, {path.stat().st_size / 1024:.0f} KiB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12000, help="MLP training steps")
    ap.add_argument("--only", choices=["mlp", "rf"], help="build only one kind")
    args = ap.parse_args(argv)
    ASSETS.mkdir(exist_ok=True)
    if args.only in (None, "mlp"):
        build_mlp(args.steps)
    if args.only in (None, "rf"):
        build_rf()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
