"""Small helpers of the explorer's exports and checkpoints: table and CSV writers, model bytes, mismatch warnings.

UI-free: importing this module does not import streamlit (the app layer's UI modules use it).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # type names only: this module loads no torch (the home page imports it)
    from ..core.schedules import ScheduleConfig
    from ..views.trajectories import ExplorerResult


def data_key(X: np.ndarray) -> str:
    """SHA-256 of the data's shape and bytes: identifies a dataset in session keys (an input as the user gave it,
    never a computed float, so the key is the same on any CPU)."""
    a = np.ascontiguousarray(X, dtype=np.float64)
    return hashlib.sha256(f"{a.shape}".encode() + a.tobytes()).hexdigest()


def band_columns(res: ExplorerResult) -> dict:
    """Per-time table of the Trajectories curves: mean and quantiles of each band, and the phase fractions."""
    from ..core.phases import PHASES

    cols = {"t": res.times}
    names = ["mean"] + [f"q{int(round(100 * q))}" for q in res.quantiles]
    for key, band in res.bands.items():
        cols.update({f"{key}_{n}": band[j] for j, n in enumerate(names)})
    cols.update({f"fraction_{p.replace(' ', '_')}": res.fractions[:, c] for c, p in enumerate(PHASES)})
    return cols


def csv_bytes(columns: dict) -> bytes:
    """Columns of equal length as CSV text with a header row."""
    names = list(columns)
    table = np.column_stack([np.asarray(columns[n], dtype=np.float64) for n in names])
    lines = [",".join(names)] + [",".join(f"{v:.6g}" for v in row) for row in table]
    return ("\n".join(lines) + "\n").encode()


def shipped_checkpoints(assets) -> dict:
    """``{file name: path}`` of the score-model checkpoints in the folder ``assets`` (the VAE is not one)."""
    from pathlib import Path

    return {p.name: p for p in sorted(Path(assets).glob("*.safetensors")) if not p.name.startswith("vae")}


def model_bytes(model) -> bytes:
    """A trained model as the bytes of a ridgeviz checkpoint (``ridgeviz.io.save_model``)."""
    import tempfile
    from pathlib import Path

    from ..models import checkpoints as rio

    with tempfile.TemporaryDirectory() as tmp:
        path = rio.save_model(Path(tmp) / "model.safetensors", model, {})
        return Path(path).read_bytes()


def checkpoint_warnings(model, X, sched_cfg: ScheduleConfig) -> list[str]:
    """Mismatches between a loaded model and the sidebar's data and schedule, in words."""
    from ..data.datasets import dataset_fingerprint

    out = []
    fp = getattr(model, "dataset_fingerprint", None)
    if fp and fp != dataset_fingerprint(X):
        out.append("This checkpoint was trained on other data than the sidebar's dataset.")
    if getattr(model, "schedule", None) not in (None, sched_cfg.schedule()):
        s = model.schedule
        out.append(f"This checkpoint was trained under the schedule {s.name!r} (T={s.T:g}, t_min={s.t_min:g}); choose "
                   "it in the sidebar to sample with it.")
    return out
