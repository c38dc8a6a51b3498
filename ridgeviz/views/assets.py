"""Every file the project ships under ``assets/`` and how to rebuild it: ``python -m ridgeviz assets [NAME ...]``.

Each entry names its files, says what they are, and builds them deterministically on the CPU: on one machine the
same code and options give the same bytes; another CPU family may change the last bits of the floats
(docs/testing.md, "The same results on any CPU"). Each file is written whole or not at all. The precomputed views
carry a fingerprint of the code that made them (:mod:`ridgeviz.utils.provenance`); the app recomputes a stale one,
and a test fails until it is rebuilt.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..utils.files import atomic_write
from ..utils.paths import ASSETS

RF_TAUS = (0.1, 1.0, 10.0, 100.0, math.inf)
RF_FEATURES, RF_FREQUENCIES, RF_SEED = 512, 16, 0
MLP_STEPS = 12_000


@dataclass(frozen=True)
class Asset:
    """A group of shipped files: ``build(out_folder, log)`` writes them and returns their paths.

    ``available()`` says whether its inputs are on this machine (the MNIST group needs MNIST's IDX files); a
    full rebuild skips, with a note, a group whose inputs are absent; naming it explicitly raises.
    """

    files: tuple
    description: str
    build: Callable
    available: Callable = lambda: True


def build_mlp(out: Path, log=print) -> list[Path]:
    """The MLP score network on the 13-point set under OU (default TrainConfig, MLP_STEPS steps, seed 0, CPU)."""
    from ..core.schedules import get_schedule
    from ..data.datasets import DatasetSpec, make_dataset
    from ..models.checkpoints import save_model
    from ..models.training import TrainConfig, train_mlp

    spec = DatasetSpec("preset", "thirteen")
    res = train_mlp(make_dataset(spec), get_schedule("ou"), TrainConfig(steps=MLP_STEPS, device="cpu")).check()
    path = save_model(out / "mlp_thirteen_ou.safetensors", res.model, {"dataset": {"kind": spec.kind,
                                                                                   "name": spec.name}})
    mid = (res.eval_times >= 0.05) & (res.eval_times <= 1.0)
    log(f"{path.name}: {res.steps_done} steps in {res.seconds:.1f} s, relative score error at t in [0.05, 1]: "
        f"max {res.error_relative[-1][mid].max():.3f}")
    return [path]


def build_generalising(out: Path, log=print) -> list[Path]:
    """The MLP of the generalising recipe (``models/recipes.py``) on the 13-point set under OU (seed 0, CPU)."""
    from ..core.schedules import get_schedule
    from ..data.datasets import MODE_SETS
    from ..models.checkpoints import save_model
    from ..models.recipes import GENERALISING_ASSET, GENERALISING_RECIPE, recipe_config
    from ..models.training import train_mlp

    res = train_mlp(MODE_SETS["thirteen"], get_schedule("ou"), recipe_config(0)).check()
    path = save_model(out / GENERALISING_ASSET.name, res.model,
                      {"dataset": {"kind": "preset", "name": "thirteen"},
                       "recipe": {"name": "generalising recipe (ridgeviz)", **GENERALISING_RECIPE}})
    log(f"{path.name}: {res.steps_done} steps in {res.seconds:.1f} s, final loss {res.losses[-1]:.4f}")
    return [path]


def build_rf(out: Path, log=print) -> list[Path]:
    """The random-feature model on (+-3, 0): p = 512, K = 16, seed 0, A0 ~ N(0, 1), each tau of RF_TAUS."""
    import torch

    from ..core.schedules import get_schedule
    from ..data.datasets import DatasetSpec, make_dataset
    from ..models.checkpoints import save_model
    from ..models.random_features import RandomFeatureModel, fit_random_features
    from ..models.rf_analysis import tau_label
    from ..models.rf_moments import feature_moments

    spec = DatasetSpec("preset", "two-points")
    X, sched = make_dataset(spec), get_schedule("ou")
    rf = RandomFeatureModel(2, RF_FEATURES, RF_FREQUENCIES, sched.T, generator=torch.Generator().manual_seed(RF_SEED))
    start = time.perf_counter()
    moments = feature_moments(rf, X, sched)
    log(f"moments: {moments.nodes} nodes in {time.perf_counter() - start:.1f} s")
    paths = []
    for tau in RF_TAUS:
        model = fit_random_features(rf, X, sched, tau, moments=moments)
        paths.append(save_model(out / f"rf_two_points_tau{tau_label(tau)}.safetensors", model,
                                {"dataset": {"kind": spec.kind, "name": spec.name}, "seed": RF_SEED}))
        log(f"{paths[-1].name}: loss {moments.loss(model.A):.4f}")
    return paths


def build_views(out: Path, log=print) -> list[Path]:
    """The Trajectories page's default view (the shipped generalising MLP) and the Random features page's default
    sweep, precomputed."""
    from ..core.schedules import ScheduleConfig
    from ..data.datasets import MODE_SETS
    from .random_features import RFConfig, rf_tau_sweep
    from .trajectories import run_demo

    demo = out / "demo_thirteen_ou.npz"
    atomic_write(demo, run_demo().to_npz_bytes())
    sweep = out / "rf_sweep_two_points.npz"
    atomic_write(sweep, rf_tau_sweep(MODE_SETS["two-points"].copy(), ScheduleConfig(), RFConfig()).to_npz_bytes())
    log(f"wrote {demo.name} and {sweep.name}")
    return [demo, sweep]


def build_home(out: Path, log=print) -> list[Path]:
    """The home page's side-by-side view of the default pair (``views.side_by_side.HOME``)."""
    from .side_by_side import HOME, run_side_by_side

    path = out / "side_by_side_home.npz"
    res = run_side_by_side(HOME)
    atomic_write(path, res.to_npz_bytes())
    log(f"{path.name}: {res.names[0]} vs {res.names[1]}, fractions {res.fractions.round(3).tolist()}")
    return [path]


def build_lecture_file(out: Path, log=print) -> list[Path]:
    """The lecture's seven steps (``views.lecture``), precomputed in one file."""
    from .lecture import PATH
    from .lecture_build import build_lecture

    path = out / PATH.name
    start = time.perf_counter()
    atomic_write(path, build_lecture().to_npz_bytes())
    log(f"{path.name}: seven steps in {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1e6:.2f} MB")
    return [path]


def _build_mnist(out: Path, log=print) -> list[Path]:
    from .mnist_assets import build_mnist

    return build_mnist(out, log)


def _mnist_available() -> bool:
    from .mnist_assets import source_available

    return source_available()


def build_mnist_view(out: Path, log=print) -> list[Path]:
    """The MNIST latent page's default run (``views.mnist_default``)."""
    from .mnist_default import build_default

    return build_default(out, log)


ASSET_GROUPS = {
    "mlp": Asset(("mlp_thirteen_ou.safetensors",), "MLP score network, 13 points, OU", build_mlp),
    "generalising": Asset(("mlp_thirteen_generalises.safetensors",), "MLP of the generalising recipe, 13 points, "
                          "OU (new samples on the ridge, few copies)", build_generalising),
    "rf": Asset(tuple(f"rf_two_points_tau{t}.safetensors" for t in ("0.1", "1", "10", "100", "inf")),
                "random features on (+-3, 0) at five training times", build_rf),
    "mnist": Asset(("mnist_subset.npz", "vae_mnist.safetensors", "vae_mnist_ones.safetensors"),
                   "MNIST digits (200 per class and every 1) and the two VAEs", _build_mnist, _mnist_available),
    "views": Asset(("demo_thirteen_ou.npz", "rf_sweep_two_points.npz"), "precomputed views of the Trajectories and "
                   "Random features pages", build_views),
    "home": Asset(("side_by_side_home.npz",), "the home page's side-by-side view (two models, same noise)",
                  build_home),
    "lecture": Asset(("lecture.npz",), "the guided lecture's seven steps (data, ridge, exact and learned "
                     "models, phases, injected errors, random features)", build_lecture_file),
    "mnist-view": Asset(("mnist_default_view.npz",), "the MNIST latent page's default view (shipped digits and VAE)",
                        build_mnist_view),
}


def rebuild_command(file_name: str) -> str:
    """The command that rebuilds the shipped file ``file_name`` (its group's, or every group's if it has none)."""
    group = next((name for name, a in ASSET_GROUPS.items() if file_name in a.files), None)
    return "python -m ridgeviz assets" + (f" {group}" if group else "")


def build_assets(names=None, out: Path = ASSETS, log=print) -> list[Path]:
    """Rebuild the groups ``names`` (all when None) into ``out``; returns the paths written."""
    everything = not names
    names = list(ASSET_GROUPS) if everything else list(names)
    unknown = [n for n in names if n not in ASSET_GROUPS]
    if unknown:
        raise ValueError(f"assets: unknown {unknown}; choose from {sorted(ASSET_GROUPS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        if everything and not ASSET_GROUPS[name].available():
            log(f"skipped {name}: its inputs are not on this machine (name it to see why)")
            continue
        written += ASSET_GROUPS[name].build(out, log)
    return written
