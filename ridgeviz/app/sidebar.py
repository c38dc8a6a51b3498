"""The shared sidebar: the dataset (preset, generator, upload) and the schedule, used by every 2-D page."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import streamlit as st

from ..core.schedules import GRID_KINDS, SCHEDULES, ScheduleConfig
from ..data.datasets import KINDS, MODE_SETS, SKLEARN_NAMES, DatasetSpec, make_dataset
from .links import UPLOAD, write_query_params
from .state import persistent, store

DEFAULT_SPEC = DatasetSpec("preset", "thirteen")
DEFAULT_SCHEDULE = ScheduleConfig()
SIZE_HELP = ("Larger sizes cost more: each page shows its estimate, asks before a long computation and refuses "
             "one above the server's limits (memory and time per computation; see docs/limits.md).")
_NOISE = {"preset": 0.0, "noisy": 0.3, "sklearn": 0.05, "ring": 0.1, "highdim": 0.0}


@dataclasses.dataclass(frozen=True)
class UploadRef:
    """An uploaded dataset of this session: file name and SHA-256 of its bytes (the cache identity)."""

    name: str
    digest: str


def sidebar() -> tuple[np.ndarray, object, ScheduleConfig]:
    """Dataset and schedule choices; returns ``(X (N, D), data source, ScheduleConfig)``."""
    with st.sidebar:
        st.header("Data")
        source = _data_widgets()
        st.header("Schedule")
        sched = _schedule_widgets()
    write_query_params()
    return current_data(source), source, sched


def _data_widgets():
    kinds = list(KINDS) + ([UPLOAD] if "data_upload" in st.session_state else [])
    kind = persistent(st.selectbox, "source", "sb_kind", "preset", options=kinds,
                      help="preset: the 2-D mode sets of the authors' code; highdim: a preset embedded in R^dim")
    if kind == UPLOAD:
        ref = st.session_state["data_upload"][0]
        st.caption(f"uploaded file **{ref.name}**")
        return ref
    names = list(SKLEARN_NAMES) if kind == "sklearn" else ["ring"] if kind == "ring" else list(MODE_SETS)
    name = persistent(st.selectbox, "set", "sb_name", "thirteen" if "thirteen" in names else names[0], options=names)
    kw = {}
    if kind != "preset":
        kw["n"] = persistent(st.number_input, "points", "sb_n", 200, min_value=2, max_value=5000, step=10,
                             help=SIZE_HELP)
        kw["noise"] = persistent(st.number_input, "noise", f"sb_noise_{kind}", _NOISE[kind], min_value=0.0,
                                 max_value=5.0, step=0.05)
        kw["seed"] = persistent(st.number_input, "seed", "sb_seed", 0, min_value=0, max_value=10_000)
    if kind == "highdim":
        kw["dim"] = persistent(st.number_input, "ambient dimension", "sb_dim", 10, min_value=3, max_value=256,
                               help=SIZE_HELP)
        kw["offsubspace_noise"] = persistent(st.number_input, "off-plane noise", "sb_off", 0.0, min_value=0.0,
                                             max_value=2.0, step=0.05)
    if kind == "ring":
        kw["radius"] = persistent(st.number_input, "radius", "sb_radius", 3.0, min_value=0.1, max_value=20.0)
    try:
        spec = DatasetSpec(kind, name, **kw)
    except ValueError as exc:
        st.error(str(exc))
        spec = store().get("last_spec", DEFAULT_SPEC)
    store()["last_spec"] = spec
    return spec


def _schedule_widgets() -> ScheduleConfig:
    names = sorted(SCHEDULES)
    name = persistent(st.selectbox, "schedule", "sb_sched", "ou", options=names,
                      format_func=lambda n: f"{n}: {SCHEDULES[n].description}")
    preset = SCHEDULES[name]
    if store().get("sb_sched_prev", name) != name:  # a new preset starts from its own T, t_min and grid
        for key, value in (("sb_T", preset.T), ("sb_tmin", preset.t_min), ("sb_grid", preset.grid)):
            st.session_state[key] = store()[key] = value
    store()["sb_sched_prev"] = name
    c1, c2 = st.columns(2)
    with c1:
        T = persistent(st.number_input, "T", "sb_T", preset.T, min_value=1e-3, format="%.4g")
    with c2:
        t_min = persistent(st.number_input, "t_min", "sb_tmin", preset.t_min, min_value=1e-6, format="%.2g")
    grid = persistent(st.selectbox, "time grid", "sb_grid", preset.grid, options=list(GRID_KINDS))
    steps = persistent(st.number_input, "steps", "sb_steps", 200, min_value=2, max_value=2000, step=10,
                       help=SIZE_HELP)
    try:
        cfg = ScheduleConfig(name, float(T), float(t_min), grid, int(steps))
    except ValueError as exc:
        st.error(str(exc))
        cfg = store().get("last_schedule", DEFAULT_SCHEDULE)
    store()["last_schedule"] = cfg
    return cfg


@st.cache_data(show_spinner=False, max_entries=32)
def dataset(spec: DatasetSpec) -> np.ndarray:
    return make_dataset(spec)


def current_data(source) -> np.ndarray:
    """The points ``(N, D)`` of a sidebar source: this session's upload or a (cached) generated set."""
    if isinstance(source, UploadRef):
        return st.session_state["data_upload"][1]
    return dataset(source)


def accept_upload(uploaded) -> bool:
    """Validate an uploaded file and make it this session's data (True if it is new).

    A bad file raises ``ValueError`` and the previous data stay.
    """
    from ..data.datasets import load_array_file

    raw = uploaded.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    prev = st.session_state.get("data_upload")
    if prev is not None and prev[0].digest == digest:
        return False
    X = load_array_file(raw, uploaded.name)  # ValueError: message, previous data untouched
    st.session_state["data_upload"] = (UploadRef(uploaded.name, digest), X)
    store()["sb_kind"] = UPLOAD
    st.session_state.pop("sb_kind", None)
    return True


def data_caption(X: np.ndarray, source) -> str:
    name = source.name if isinstance(source, UploadRef) else f"{source.kind}: {source.name}"
    return f"{name} · N = {X.shape[0]} points in D = {X.shape[1]}"


def use_preset(name: str) -> None:
    """Button callback: switch the shared sidebar to a preset dataset (runs before the widgets are drawn)."""
    for key, value in (("sb_kind", "preset"), ("sb_name", name)):
        st.session_state[key] = store()[key] = value
