"""The MNIST latent page's default view, precomputed: the shipped digits and VAE, the default experiment.

:func:`build_default` runs :func:`ridgeviz.views.mnist.run_latent` on the shipped subset's ones encoded by the
shipped VAE, with the page's default settings, and stores the :class:`~ridgeviz.views.mnist.LatentRun` as a
compressed ``.npz`` (no pickles). :func:`shipped_default` returns it only when it answers the question asked:
same settings, same latents (by content) and made by this code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import numpy as np

from ..core.schedules import ScheduleConfig
from ..data.mnist import DigitsSpec
from ..latent.analysis import RidgeDeviation
from ..utils.paths import ASSETS
from ..utils.provenance import code_fingerprint
from .mnist import LatentConfig, LatentRun
from .trajectories import ExplorerResult

PATH = ASSETS / "mnist_default_view.npz"
FORMAT = 1
CODE = ("ridgeviz.core", "ridgeviz.latent", "ridgeviz.models.score", "ridgeviz.models.factory", "ridgeviz.models.kinds",
        "ridgeviz.views.mnist", "ridgeviz.views.trajectories", "ridgeviz.views.mnist_default")
DEFAULT_SPEC = DigitsSpec()


def eval_times(schedule: str, n: int = 10) -> list[float]:
    """Candidate times for the on/off-ridge split: the preset's geometric grid with ``n`` steps (t_min last)."""
    return [float(t) for t in ScheduleConfig(schedule, steps=n, grid="geometric").times()]


# the split at t = 0.1, where the ridge is defined at most samples (at t_min = 1e-3 it is defined at none: each
# sample sits in one training latent's isotropic blob)
DEFAULT_CONFIG = LatentConfig(schedule=ScheduleConfig("ou", steps=100), t_eval=eval_times("ou")[5])


def latents_digest(X: np.ndarray) -> str:
    a = np.ascontiguousarray(X, dtype=np.float64)
    return hashlib.sha256(f"{a.shape}".encode() + a.tobytes()).hexdigest()[:16]


def _config_from(d: dict) -> LatentConfig:
    return LatentConfig(**{**d, "schedule": ScheduleConfig(**d["schedule"])})


def run_to_npz(run: LatentRun, digest: str) -> bytes:
    """``run`` as a compressed ``.npz``: arrays, the tracked trajectories' own npz bytes, JSON metadata."""
    dev = run.deviation
    meta = {"format": FORMAT, "config": dataclasses.asdict(run.config), "dim": run.dim,
            "suggested_dim": run.suggested_dim, "eval_index": run.eval_index, "stats": run.stats,
            "deviation": {"dim": dev.dim, "gap_tol": dev.gap_tol}, "galleries": list(run.galleries),
            "latents": digest, "code": code_fingerprint(CODE)}
    arrays = {"gaps": run.gaps, "final": run.final.astype(np.float32), "codes": run.codes, "nn_index": run.nn_index,
              "nn_distance": run.nn_distance, "nn_ratio": run.nn_ratio, "dev_times": dev.times, "dev_h": dev.h,
              "dev_residual": dev.residual, "dev_scaled_gap": dev.scaled_gap,
              "dev_normal_curvature": dev.normal_curvature,
              "trajectories": np.frombuffer(run.trajectories.to_npz_bytes(), dtype=np.uint8)}
    arrays.update({f"gallery_{i}": np.asarray(v) for i, v in enumerate(run.galleries.values())})
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta, default=float).encode(), dtype=np.uint8), **arrays)
    return buf.getvalue()


def run_from_npz(source) -> tuple[LatentRun, dict]:
    """Inverse of :func:`run_to_npz`: ``(run, meta)``."""
    with np.load(source, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"MNIST view file: format {meta.get('format')} is not {FORMAT}")
        dev = RidgeDeviation(meta["deviation"]["dim"], z["dev_times"], z["dev_h"], z["dev_residual"],
                             z["dev_scaled_gap"], z["dev_normal_curvature"], meta["deviation"]["gap_tol"])
        galleries = {name: z[f"gallery_{i}"] for i, name in enumerate(meta["galleries"])}
        traj = ExplorerResult.from_npz(io.BytesIO(z["trajectories"].tobytes()))
        run = LatentRun(_config_from(meta["config"]), meta["dim"], meta["suggested_dim"], z["gaps"], dev,
                        meta["eval_index"], z["final"].astype(np.float64), z["codes"], z["nn_index"],
                        z["nn_distance"], z["nn_ratio"], galleries, traj, meta["stats"])
    return run, meta


def shipped_default(X: np.ndarray, cfg: LatentConfig, path=PATH) -> LatentRun | None:
    """The shipped run when it answers ``cfg`` on these latents ``X: (N, D)`` and was made by this code."""
    if cfg != DEFAULT_CONFIG or not path.exists():
        return None
    try:
        run, meta = run_from_npz(path)
    except (ValueError, OSError, KeyError):
        return None
    if meta["latents"] != latents_digest(X) or meta["code"] != code_fingerprint(CODE):
        return None
    return run


def build_default(out=ASSETS, log=print):
    """Compute the default view and write ``mnist_default_view.npz`` into ``out``; returns its path."""
    from ..data.mnist import load_digits
    from ..latent.vae import encode_latents, load_vae, shipped_vae_path
    from .mnist import run_latent

    vae = load_vae(shipped_vae_path(DEFAULT_SPEC.classes))[0]
    X = encode_latents(vae, load_digits(DEFAULT_SPEC).pixels())
    run = run_latent(X, DEFAULT_CONFIG)
    path = out / PATH.name
    path.write_bytes(run_to_npz(run, latents_digest(X)))
    log(f"{path.name}: {len(X)} latents, {run.config.samples} samples, counts {run.stats['final']['counts']}")
    return [path]
