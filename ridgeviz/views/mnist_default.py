"""The MNIST latent page's default view, precomputed: the shipped digits and VAE, the default experiment.

:func:`build_default` runs :func:`ridgeviz.views.mnist.run_latent` on the shipped subset's ones encoded by the
shipped VAE, with the page's default settings, and stores the :class:`~ridgeviz.views.mnist.LatentRun` in the one
result-file format (:mod:`ridgeviz.utils.results`). The file records :func:`made_from` (settings, the digits'
pixels, the VAE file and this code); the app shows it for a request whose own :func:`made_from` is equal.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.schedules import ScheduleConfig
from ..data.mnist import DigitsSpec
from ..latent.analysis import RidgeDeviation
from ..utils import provenance
from ..utils.paths import ASSETS
from ..utils.provenance import array_digest, file_digest
from ..utils.results import read_result, write_result
from .mnist import LatentConfig, LatentRun
from .trajectories import ExplorerResult

PATH = ASSETS / "mnist_default_view.npz"
RESULT_KIND, FORMAT = "mnist latent run", 2
CODE = ("ridgeviz.core", "ridgeviz.latent", "ridgeviz.models.score", "ridgeviz.models.factory", "ridgeviz.models.kinds",
        "ridgeviz.views.mnist", "ridgeviz.views.trajectories", "ridgeviz.views.mnist_default")
DEFAULT_SPEC = DigitsSpec()


def eval_times(schedule: str, n: int = 10) -> list[float]:
    """Candidate times for the on/off-ridge split: the preset's geometric grid with ``n`` steps (t_min last)."""
    return [float(t) for t in ScheduleConfig(schedule, steps=n, grid="geometric").times()]


# the split at t = 0.1, where the ridge is defined at most samples (at t_min = 1e-3 it is defined at none: each
# sample sits in one training latent's isotropic blob)
DEFAULT_CONFIG = LatentConfig(schedule=ScheduleConfig("ou", steps=100), t_eval=eval_times("ou")[5])


def made_from(cfg: LatentConfig, images: np.ndarray, vae_path) -> dict:
    """What a run records (:func:`ridgeviz.utils.provenance.made_from`): the settings, the digits' pixels as loaded
    (``images``: uint8, any shape), the VAE file's bytes and this code. Not the latents: they are computed here,
    and their last bits differ between CPU families, while the file answers every machine that has these inputs."""
    return provenance.made_from(dataclasses.asdict(cfg), {"digits": array_digest(np.asarray(images, np.uint8)),
                                                          "vae": file_digest(vae_path)}, CODE)


def _config_from(d: dict) -> LatentConfig:
    return LatentConfig(**{**d, "schedule": ScheduleConfig(**d["schedule"])})


def run_to_npz(run: LatentRun, made: dict | None = None) -> bytes:
    """``run`` in ridgeviz's one result-file format: arrays, the tracked trajectories' own file, metadata."""
    dev = run.deviation
    meta = {"config": dataclasses.asdict(run.config), "dim": run.dim, "suggested_dim": run.suggested_dim,
            "eval_index": run.eval_index, "stats": run.stats, "deviation": {"dim": dev.dim, "gap_tol": dev.gap_tol},
            "galleries": list(run.galleries)}
    arrays = {"gaps": run.gaps, "final": run.final.astype(np.float32), "codes": run.codes, "nn_index": run.nn_index,
              "nn_distance": run.nn_distance, "nn_ratio": run.nn_ratio, "dev_times": dev.times, "dev_h": dev.h,
              "dev_residual": dev.residual, "dev_scaled_gap": dev.scaled_gap,
              "dev_normal_curvature": dev.normal_curvature,
              "trajectories": np.frombuffer(run.trajectories.to_npz_bytes(), dtype=np.uint8)}
    arrays.update({f"gallery_{i}": np.asarray(v) for i, v in enumerate(run.galleries.values())})
    return write_result(RESULT_KIND, FORMAT, arrays, meta, made_from=made)


def run_from_npz(source) -> tuple[LatentRun, dict]:
    """Inverse of :func:`run_to_npz`: ``(run, meta)``, the metadata with ``made_from`` when recorded."""
    f = read_result(source, RESULT_KIND, FORMAT, "MNIST view file")
    z, meta = f.arrays, f.meta
    try:
        dev = RidgeDeviation(meta["deviation"]["dim"], z["dev_times"], z["dev_h"], z["dev_residual"],
                             z["dev_scaled_gap"], z["dev_normal_curvature"], meta["deviation"]["gap_tol"])
        galleries = {name: z[f"gallery_{i}"] for i, name in enumerate(meta["galleries"])}
        traj = ExplorerResult.from_npz(z["trajectories"].tobytes())
        run = LatentRun(_config_from(meta["config"]), meta["dim"], meta["suggested_dim"], z["gaps"], dev,
                        meta["eval_index"], z["final"].astype(np.float64), z["codes"], z["nn_index"],
                        z["nn_distance"], z["nn_ratio"], galleries, traj, meta["stats"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"MNIST view file: it lacks or misstates {exc}") from None
    return run, meta


def build_default(out=ASSETS, log=print):
    """Compute the default view and write ``mnist_default_view.npz`` into ``out``; returns its path."""
    from ..data.mnist import load_digits
    from ..latent.vae import encode_latents, load_vae, shipped_vae_path
    from .mnist import run_latent

    vae_path, digits = shipped_vae_path(DEFAULT_SPEC.classes), load_digits(DEFAULT_SPEC)
    X = encode_latents(load_vae(vae_path)[0], digits.pixels())
    run = run_latent(X, DEFAULT_CONFIG)
    path = out / PATH.name
    path.write_bytes(run_to_npz(run, made_from(DEFAULT_CONFIG, digits.images, vae_path)))
    log(f"{path.name}: {len(X)} latents, {run.config.samples} samples, counts {run.stats['final']['counts']}")
    return [path]
