"""Streamlit glue: page setup, the shared sidebar (dataset + schedule), cached wrappers, guards and exports.

The only library module that imports streamlit. Pages read widgets, build a frozen config, call a cached
wrapper here, build a figure with :mod:`ridgeviz.viz` and show it. Shared choices live in
``st.session_state["_store"]`` (widgets forget their state when the page changes, the store does not) and are
mirrored in ``st.query_params`` so a link reopens the same view. Per-session objects (uploads, trained models)
live in ``st.session_state`` under page-prefixed keys and never in a cross-session cache keyed by name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging

import numpy as np
import streamlit as st

from ..core.schedules import GRID_KINDS, SCHEDULES, ScheduleConfig
from ..data.datasets import KINDS, MODE_SETS, SKLEARN_NAMES, DatasetSpec, make_dataset
from ..models.factory import ModelConfig, build_model
from ..utils.paths import ASSETS
from ..utils.provenance import code_fingerprint
from ..utils.threads import configure_threads
from ..views import bandwidth as bw
from ..views import trajectories as ex
from . import io as app_io

configure_threads()  # one torch thread per process by default: see ridgeviz/threads.py

LOG = logging.getLogger("ridgeviz.ui")
DEMO_PATH = ASSETS / "demo_thirteen_ou.npz"
DEFAULT_SPEC = DatasetSpec("preset", "thirteen")
_, DEFAULT_SCHEDULE, DEFAULT_TRAJ, DEFAULT_MODEL = ex.demo_inputs()
UPLOAD = "upload"
HOME_FIGURE = dict(max_frames=60, trail_points=128)  # a lighter animation so the home page draws fast
_NOISE = {"preset": 0.0, "noisy": 0.3, "sklearn": 0.05, "ring": 0.1, "highdim": 0.0}


@dataclasses.dataclass(frozen=True)
class UploadRef:
    """An uploaded dataset of this session: file name and SHA-256 of its bytes (the cache identity)."""

    name: str
    digest: str


# -- page scaffolding ------------------------------------------------------------------------------------------
def page_setup(title: str) -> None:
    """Page config, the URL's query string (first run of a session), and widget state kept across pages.

    Re-assigning each remembered widget key before any widget is drawn stops Streamlit from resetting it when
    the same widget appears on another page (the documented way to keep widget values across pages).
    """
    st.set_page_config(page_title=f"{title} · ridgeviz", layout="wide")
    _load_query_params()
    for key in list(store()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


@contextlib.contextmanager
def guard(what: str = "this view"):
    """Turn errors into messages: ValueError -> st.error with its text; anything else is logged, then shown.

    Streamlit's own control flow (rerun, stop, page switch) derives from BaseException and passes through.
    """
    try:
        yield
    except ValueError as exc:
        st.error(f"{exc}")
    except MemoryError:
        st.error(f"Out of memory while computing {what}; try fewer particles, steps or data points.")
    except Exception as exc:  # noqa: BLE001 - the page must stay usable whatever happens
        if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch.cuda
            st.error(f"The GPU ran out of memory while computing {what}; try a smaller problem or the CPU.")
        else:
            LOG.exception("unexpected error in %s", what)
            st.error(f"Unexpected error while computing {what}: {type(exc).__name__}: {exc}. "
                     "The details were logged; the session is still usable.")


def persistent(widget, label: str, key: str, default, options=None, **kwargs):
    """Render ``widget`` (e.g. ``st.slider``) whose value survives page switches and option changes.

    Number widgets with ``min_value``/``max_value`` start clamped into that range.
    """
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if options is None and (lo is not None or hi is not None):
        value = st.session_state.get(key, store().get(key, default))
        value = min(max(value, lo if lo is not None else value), hi if hi is not None else value)
        if st.session_state.get(key) != value:
            st.session_state[key] = value
    _init(key, default, options)
    value = widget(label, options, key=key, **kwargs) if options is not None else widget(label, key=key, **kwargs)
    store()[key] = value
    return value


def store() -> dict:
    return st.session_state.setdefault("_store", {})


def _init(key: str, default, options=None):
    """Start widget ``key`` from the store (or ``default``); reset it if it is no longer a valid option."""
    value = store().get(key, default)
    if options is not None and value not in options:
        value = default if default in options else options[0]
    if key not in st.session_state or (options is not None and st.session_state[key] not in options):
        st.session_state[key] = value


# -- shared sidebar ----------------------------------------------------------------------------------------------
def sidebar() -> tuple[np.ndarray, object, ScheduleConfig]:
    """Dataset and schedule choices; returns ``(X (N, D), data source, ScheduleConfig)``."""
    with st.sidebar:
        st.header("Data")
        source = _data_widgets()
        st.header("Schedule")
        sched = _schedule_widgets()
    _write_query_params()
    return current_data(source), source, sched


def _data_widgets():
    kinds = list(KINDS) + ([UPLOAD] if "data_upload" in st.session_state else [])
    kind = persistent(st.selectbox, "source", "sb_kind", "preset", options=kinds,
                      help="preset: the paper's 2-D sets; highdim: a preset embedded in R^dim")
    if kind == UPLOAD:
        ref = st.session_state["data_upload"][0]
        st.caption(f"uploaded file **{ref.name}**")
        return ref
    names = list(SKLEARN_NAMES) if kind == "sklearn" else ["ring"] if kind == "ring" else list(MODE_SETS)
    name = persistent(st.selectbox, "set", "sb_name", "thirteen" if "thirteen" in names else names[0], options=names)
    kw = {}
    if kind != "preset":
        kw["n"] = persistent(st.number_input, "points", "sb_n", 200, min_value=2, max_value=5000, step=10)
        kw["noise"] = persistent(st.number_input, "noise", f"sb_noise_{kind}", _NOISE[kind], min_value=0.0,
                                 max_value=5.0, step=0.05)
        kw["seed"] = persistent(st.number_input, "seed", "sb_seed", 0, min_value=0, max_value=10_000)
    if kind == "highdim":
        kw["dim"] = persistent(st.number_input, "ambient dimension", "sb_dim", 10, min_value=3, max_value=256)
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
    steps = persistent(st.number_input, "steps", "sb_steps", 200, min_value=2, max_value=2000, step=10)
    try:
        cfg = ScheduleConfig(name, float(T), float(t_min), grid, int(steps))
    except ValueError as exc:
        st.error(str(exc))
        cfg = store().get("last_schedule", DEFAULT_SCHEDULE)
    store()["last_schedule"] = cfg
    return cfg


# -- query-string mirror -----------------------------------------------------------------------------------------
_QP = {"kind": "sb_kind", "set": "sb_name", "n": "sb_n", "seed": "sb_seed", "dim": "sb_dim",
       "off": "sb_off", "radius": "sb_radius", "schedule": "sb_sched", "T": "sb_T", "t_min": "sb_tmin",
       "grid": "sb_grid", "steps": "sb_steps"}
_QP_TYPES = {"sb_n": int, "sb_seed": int, "sb_dim": int, "sb_steps": int, "sb_off": float,
             "sb_radius": float, "sb_T": float, "sb_tmin": float}


def _load_query_params() -> None:
    """Once per session: seed the store from the URL's query string (bad values are reported and ignored)."""
    if st.session_state.get("_qp_loaded"):
        return
    st.session_state["_qp_loaded"] = True
    bad = []
    for qk, sk in _QP.items():
        if qk in st.query_params:
            raw = st.query_params[qk]
            try:
                store()[sk] = _QP_TYPES.get(sk, str)(raw)
            except ValueError:
                bad.append(f"{qk}={raw}")
    if "noise" in st.query_params:
        try:
            store()[f"sb_noise_{store().get('sb_kind', 'preset')}"] = float(st.query_params["noise"])
        except ValueError:
            bad.append(f"noise={st.query_params['noise']}")
    if "schedule" in st.query_params:
        store()["sb_sched_prev"] = store().get("sb_sched")
    extra = st.query_params.get("model")
    if extra:
        store()["qp_model"] = dict(st.query_params)
    if bad:
        st.warning("Ignored link parameters: " + ", ".join(bad))


def _write_query_params() -> None:
    want = {qk: str(store()[sk]) for qk, sk in _QP.items() if sk in store() and sk in st.session_state}
    noise = store().get(f"sb_noise_{store().get('sb_kind')}")
    if noise is not None:
        want["noise"] = str(noise)
    if want.get("kind") == UPLOAD:
        want = {k: v for k, v in want.items() if k not in ("kind", "set")}
    model = st.session_state.get("model_cfg")
    if model is not None and model.kind in ("exact", "injected"):
        want.update(model=model.kind, normal=f"{model.normal:g}", tangential=f"{model.tangential:g}")
    if {k: st.query_params.get(k) for k in want} != want:
        st.query_params.update(want)


# -- data ----------------------------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=32)
def dataset(spec: DatasetSpec) -> np.ndarray:
    return make_dataset(spec)


def current_data(source) -> np.ndarray:
    if isinstance(source, UploadRef):
        return st.session_state["data_upload"][1]
    return dataset(source)


def accept_upload(uploaded) -> bool:
    """Validate an uploaded file and make it this session's data (True if it is new); a bad file raises
    ``ValueError`` and the previous data stay."""
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


# -- models -------------------------------------------------------------------------------------------------------
def model_config() -> ModelConfig:
    """This session's model choice (from the URL on first use)."""
    if "model_cfg" not in st.session_state:
        cfg = DEFAULT_MODEL
        qp = store().pop("qp_model", None)
        if qp and qp.get("model") in ("exact", "injected"):
            try:
                cfg = ModelConfig(qp["model"], normal=float(qp.get("normal", 0.5)),
                                     tangential=float(qp.get("tangential", 0.5)))
            except ValueError as exc:
                st.warning(f"Ignored the link's model parameters: {exc}")
        st.session_state["model_cfg"] = cfg
    return st.session_state["model_cfg"]


def set_model(cfg: ModelConfig) -> None:
    """Make ``cfg`` this session's model (used by the Trajectories page) and update the link."""
    st.session_state["model_cfg"] = cfg
    _write_query_params()


def model_object(cfg: ModelConfig):
    """The trained model for ``cfg`` held by this session (None for the closed-form models)."""
    if cfg.kind in ("exact", "injected"):
        return None
    obj = st.session_state.get("model_objects", {}).get(cfg.key)
    if obj is None:
        raise ValueError("the selected trained model is no longer loaded; choose it again on the Score model page")
    return obj


def model_download(cfg: ModelConfig) -> None:
    """A download button for the current model: a checkpoint for trained models, the JSON config otherwise."""
    if cfg.kind in ("exact", "injected"):
        st.download_button("Download this model (JSON config)", json.dumps(dataclasses.asdict(cfg), indent=2),
                           file_name=f"model_{cfg.kind}.json", mime="application/json", on_click="ignore",
                           key="model_download")
        return
    from ..models import checkpoints as rio

    if not hasattr(rio, "save_model"):
        st.info("Saving trained models needs ridgeviz.io.save_model, which this build does not have yet.")
        return
    model = model_object(cfg)
    st.download_button("Download this model (.safetensors)", lambda: app_io.model_bytes(model),
                       file_name=f"model_{cfg.kind}.safetensors", mime="application/octet-stream",
                       on_click="ignore", key="model_download")


def adopt_model(kind: str, model, label: str = "") -> ModelConfig:
    """Keep a trained or loaded ``model`` in this session and make it the current model."""
    import uuid

    key = uuid.uuid4().hex[:16]  # per-session identity of these weights (a cache key part)
    objects = st.session_state.setdefault("model_objects", {})
    objects.clear()  # one trained model at a time per session keeps memory bounded
    objects[key] = model
    dim = getattr(getattr(model, "config", None), "ridge_dim", 1)
    cfg = ModelConfig(kind, dim=int(dim), normal=0.0, tangential=0.0, key=key)
    st.session_state["model_label"] = label
    set_model(cfg)
    return cfg


def shipped_checkpoints() -> dict:
    return app_io.shipped_checkpoints(ASSETS)


checkpoint_warnings = app_io.checkpoint_warnings


@st.cache_resource(show_spinner=False)
def load_shipped(path: str):
    """A shipped checkpoint, loaded once per server (read-only, the same for every session)."""
    from ..models import checkpoints as rio

    return rio.load_model(path)


def weights_key(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()[:16]


def follow_selected() -> None:
    """``on_select`` callback of the Trajectories chart: follow the clicked particle (runs before the widgets)."""
    from ..viz.figures import selected_particle

    picked = selected_particle(st.session_state.get("traj_chart"))
    if picked is not None:
        st.session_state["traj_follow"] = picked


# -- cached computations -----------------------------------------------------------------------------------------
class _Results:
    """A small thread-safe LRU of long computations, shared by the sessions of this server.

    ``st.cache_data`` cannot wrap a computation that drives a progress bar made outside it, so the long ones
    (trajectories, random-feature sweeps) are cached here, keyed like ``st.cache_data`` would be: the data's
    SHA-256 and the frozen configs (trained models carry a per-session key in their config).
    """

    def __init__(self, size: int = 8):
        import collections
        import threading

        self.size, self.items, self.lock = size, collections.OrderedDict(), threading.Lock()

    def get(self, key, compute):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = compute()  # outside the lock: other sessions stay responsive
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


@st.cache_resource(show_spinner=False)
def _results() -> _Results:
    return _Results()


def _trajectories(X, sched_cfg, traj_cfg, model_cfg, _model=None, _progress=None):
    return _results().get(("traj", app_io.data_key(X), sched_cfg, traj_cfg, model_cfg), lambda: ex.run_trajectories(
        X, sched_cfg, traj_cfg, _model, model_cfg, callback=_progress))


def demo_matches(X, sched_cfg, traj_cfg, model_cfg) -> bool:
    """Whether these inputs are the shipped demo's (so the file on disk answers them)."""
    return (DEMO_PATH.exists() and np.array_equal(X, MODE_SETS["thirteen"]) and sched_cfg == DEFAULT_SCHEDULE
            and traj_cfg == DEFAULT_TRAJ and model_cfg == DEFAULT_MODEL)


def _demo_file():
    """The demo result from disk if it is there and was made by this code with the current defaults, else None."""
    if not DEMO_PATH.exists():
        return None
    return _checked_demo(str(DEMO_PATH), DEMO_PATH.stat().st_mtime, code_fingerprint(ex.VIEW_CODE))


@st.cache_resource(show_spinner=False)
def _checked_demo(path: str, mtime: float, code: str):
    try:
        res = ex.ExplorerResult.from_npz(path)
    except (ValueError, OSError, KeyError) as exc:
        LOG.warning("ignoring %s: %s", path, exc)
        return None
    want = {"schedule": dataclasses.asdict(DEFAULT_SCHEDULE), "trajectories": dataclasses.asdict(DEFAULT_TRAJ),
            "model": dataclasses.asdict(DEFAULT_MODEL), "code": code}
    if all(res.config.get(k) == v for k, v in want.items()):
        return res
    LOG.warning("%s was made by other code or settings; computing the demo instead (regenerate the file with "
                "`python -m ridgeviz.explorer`)", path)
    return None


def trajectories(X, sched_cfg, traj_cfg, model_cfg, model=None, progress=None) -> ex.ExplorerResult:
    """The Trajectories result: the shipped demo file when the configuration is the default, else computed."""
    if demo_matches(X, sched_cfg, traj_cfg, model_cfg):
        res = _demo_file()
        if res is not None:
            return res
    return _trajectories(X, sched_cfg, traj_cfg, model_cfg, _model=model, _progress=progress)


@st.cache_resource(show_spinner=False)
def _demo_figure(mtime: float):
    from ..viz import figures as viz

    return viz.trajectory_figure(_demo_file(), **HOME_FIGURE)


def demo_figure():
    """The home page's animation (built once per server from the demo file)."""
    from ..viz import figures as viz

    if _demo_file() is not None:
        return _demo_figure(DEMO_PATH.stat().st_mtime)
    return viz.trajectory_figure(demo_result(), **HOME_FIGURE)


def demo_result() -> ex.ExplorerResult:
    """The home page's demo (from disk; computed once per server if the file is missing or stale)."""
    res = _demo_file()
    if res is None:
        bar, callback = progress_callback("preparing the demo (first run of this server only)")
        X, sched_cfg, traj_cfg, model_cfg = ex.demo_inputs()
        res = _trajectories(X, sched_cfg, traj_cfg, model_cfg, _progress=callback)
        bar.empty()
    return res


def computed(prefix: str, key, compute, *, run: bool, preload, label: str):
    """The page's result for ``key``, kept in the session as ``{prefix}_result`` / ``{prefix}_key``.

    ``compute(progress_callback)`` runs when Run was pressed, or at once when ``key`` changed and ``preload()``
    says a shipped precomputed result fits these settings. Returns ``(result or None, stale)``; ``stale`` means
    the settings changed since the result was computed.
    """
    if run or (key != st.session_state.get(f"{prefix}_key") and preload()):
        bar, callback = progress_callback(label)
        st.session_state[f"{prefix}_result"] = compute(callback)
        st.session_state[f"{prefix}_key"] = key
        bar.empty()
    result = st.session_state.get(f"{prefix}_result")
    return result, result is not None and key != st.session_state.get(f"{prefix}_key")


def progress_callback(label: str):
    """A progress bar and a ``callback(stage, fraction)`` that drives it (for long computations)."""
    bar = st.progress(0.0, text=label)

    def callback(stage: str, fraction: float) -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=f"{label}: {stage}")

    return bar, callback


@st.cache_data(show_spinner=False, max_entries=16)
def bandwidth_sweep(X, sched_cfg: ScheduleConfig, dim: int) -> bw.BandwidthSweep:
    return bw.bandwidth_sweep(X, sched_cfg.schedule(), dim)


@st.cache_data(show_spinner=False, max_entries=256)
def density_view(X, sched_cfg: ScheduleConfig, t: float, dim: int, bounds: tuple) -> bw.DensityView:
    return bw.density_view(X, sched_cfg.schedule(), t, dim, bounds=bounds)


@st.cache_data(show_spinner=False, max_entries=32)
def error_profile(X, sched_cfg, model_cfg, dim, _model=None) -> dict:
    from ..core.density import SmoothedEmpirical

    dens = SmoothedEmpirical(X, sched_cfg.schedule())
    model = build_model(model_cfg, dens, _model)
    times = np.geomspace(sched_cfg.schedule().t_min, sched_cfg.schedule().T, 40)
    return ex.error_profile(model, dens, times, dim)


data_key = app_io.data_key
band_columns = app_io.band_columns
csv_bytes = app_io.csv_bytes
bandwidth_label = bw.slider_label
default_time = bw.default_time


# -- random features ---------------------------------------------------------------------------------------------
RF_SWEEP_PATH = ASSETS / "rf_sweep_two_points.npz"


@st.cache_resource(show_spinner=False, max_entries=4)
def rf_models(X, sched_cfg, cfg) -> dict:
    """``{tau: RandomFeatureScore}``; shared read-only (keyed by the data's content and the configs)."""
    from ..views import random_features as rs

    return rs.fit_models(X, sched_cfg, cfg)


def _rf_sweep(X, sched_cfg, cfg, _progress=None):
    from ..views import random_features as rs

    return _results().get(("rf", app_io.data_key(X), sched_cfg, cfg), lambda: rs.rf_tau_sweep(
        X, sched_cfg, cfg, rf_models(X, sched_cfg, cfg), callback=_progress))


def rf_default_matches(X, sched_cfg, cfg) -> bool:
    from ..views import random_features as rs

    return (RF_SWEEP_PATH.exists() and np.array_equal(X, MODE_SETS["two-points"]) and sched_cfg == DEFAULT_SCHEDULE
            and cfg == rs.RFConfig())


def rf_sweep(X, sched_cfg, cfg, progress=None):
    """The Random features sweep: the shipped file for the paper's default, else computed (cached)."""
    from ..views import random_features as rs

    if rf_default_matches(X, sched_cfg, cfg):
        try:
            sweep = _rf_from_disk(str(RF_SWEEP_PATH), RF_SWEEP_PATH.stat().st_mtime)
            if sweep.config.get("code") == code_fingerprint(rs.CODE):
                return sweep
            LOG.warning("%s was made by other code; recomputing (regenerate: python -m ridgeviz.explorer)",
                        RF_SWEEP_PATH)
        except (ValueError, OSError, KeyError) as exc:
            LOG.warning("ignoring %s: %s", RF_SWEEP_PATH, exc)
    return _rf_sweep(X, sched_cfg, cfg, _progress=progress)


@st.cache_resource(show_spinner=False)
def _rf_from_disk(path: str, mtime: float):
    from ..views import random_features as rs

    return rs.RFSweep.from_npz(path)


def use_preset(name: str) -> None:
    """Button callback: switch the shared sidebar to a preset dataset (runs before the widgets are drawn)."""
    for key, value in (("sb_kind", "preset"), ("sb_name", name)):
        st.session_state[key] = store()[key] = value


# -- export ---------------------------------------------------------------------------------------------------------
def export_row(prefix: str, fig, *, csv: dict | None = None, npz=None, config: dict | None = None) -> None:
    """Download buttons: figure as standalone HTML, data as CSV and/or NPZ, configuration as JSON (lazy)."""
    with st.expander("Export"):
        cols = st.columns(4)
        cols[0].download_button("Figure (HTML)", lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                                file_name=f"{prefix}.html", mime="text/html", on_click="ignore", key=f"{prefix}_html")
        if csv is not None:
            cols[1].download_button("Data (CSV)", lambda: csv_bytes(csv), file_name=f"{prefix}.csv",
                                    mime="text/csv", on_click="ignore", key=f"{prefix}_csv")
        if npz is not None:
            cols[2].download_button("Data (NPZ)", npz, file_name=f"{prefix}.npz", mime="application/octet-stream",
                                    on_click="ignore", key=f"{prefix}_npz")
        if config is not None:
            cols[3].download_button("Configuration (JSON)", json.dumps(config, indent=2, default=str),
                                    file_name=f"{prefix}.json", mime="application/json", on_click="ignore",
                                    key=f"{prefix}_json")


def config_dict(**parts) -> dict:
    """Configs (dataclasses or plain values) as one JSON-able dict."""
    return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}
