"""The session's score model: its config (from the URL on first use), trained objects, loading and download.

Closed-form models (exact, injected error) are a :class:`~ridgeviz.models.factory.ModelConfig` alone; trained
or loaded models are kept in this session (``st.session_state["model_objects"]``, one at a time) under a
random key that their config carries, so a cache keyed by the config never mixes two sessions' weights.

A session starts with the shipped generalising MLP (:func:`default_model`: a loaded checkpoint whose key is the
digest of the file, read once per server and shared read-only), whose new samples end on the ridge; on data or a
schedule it was not trained for, the pages use the exact score with injected error instead and say so
(:func:`model_for`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import streamlit as st

from ..models.factory import ModelConfig
from ..models.kinds import LOADED, closed_form_kinds
from ..models.recipes import GENERALISING_ASSET
from ..utils.paths import ASSETS
from ..views.trajectories import generalising_config
from . import io as app_io
from .links import write_query_params
from .state import store

FALLBACK_MODEL = ModelConfig()  # exact score + injected error (normal 0.5, tangential 0.5): any data, any schedule
GENERALISING_FILE = GENERALISING_ASSET.name
GENERALISING_LABEL = f"the shipped generalising MLP ({GENERALISING_ASSET.stem})"
checkpoint_warnings = app_io.checkpoint_warnings


def default_model() -> ModelConfig:
    """The model a session starts with: the shipped generalising MLP, or the fallback when its file is missing."""
    return generalising_config() if GENERALISING_ASSET.is_file() else FALLBACK_MODEL


def is_default_mlp(cfg: ModelConfig) -> bool:
    return cfg.kind == LOADED and GENERALISING_ASSET.is_file() and cfg == generalising_config()


def model_config() -> ModelConfig:
    """This session's model choice (from the URL on first use: a closed-form kind with its errors, or a shipped
    checkpoint named by ``model=checkpoint&file=<name>``)."""
    if "model_cfg" not in st.session_state:
        cfg = default_model()
        qp = store().pop("qp_model", None)
        if qp and qp.get("model") == LOADED and qp.get("file") in shipped_checkpoints():  # e.g. the lecture's links
            return adopt_model(LOADED, load_shipped(str(shipped_checkpoints()[qp["file"]])), qp["file"])
        if qp and qp.get("model") in closed_form_kinds():
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
    write_query_params()


def model_for(X, sched_cfg) -> tuple[ModelConfig, str | None]:
    """The model the pages use on data ``X`` under ``sched_cfg``: this session's choice, except that the default
    shipped MLP gives way to the fallback on data or a schedule it was not trained for; ``(config, why or None)``."""
    cfg = model_config()
    if not is_default_mlp(cfg):
        return cfg, None
    if checkpoint_warnings(model_object(cfg), X, sched_cfg):
        return FALLBACK_MODEL, (f"{GENERALISING_LABEL} was trained on the 13 points under OU (T = 10, t_min = 0.001); "
                                f"with these data or this schedule the page uses {FALLBACK_MODEL.label()} instead")
    return cfg, None


def model_object(cfg: ModelConfig, X=None):
    """The trained model for ``cfg`` held by this session (None for the closed-form models); with the page's data
    ``X``, a loaded closed-form checkpoint of other points is refused (:func:`check_same_data`)."""
    if cfg.closed_form:
        return None
    if is_default_mlp(cfg):
        return load_shipped(str(GENERALISING_ASSET))
    obj = st.session_state.get("model_objects", {}).get(cfg.key)
    if obj is None:
        raise ValueError("the selected trained model is no longer loaded; choose it again on the Score model page")
    if X is not None:
        check_same_data(obj, X)
    return obj


def check_same_data(model, data) -> None:
    """Refuse a closed-form model (exact score, injected error: it carries its own ``dens``) whose training points
    are not ``data: (N, D)``: it would sample its own points while the page's density, ridge and price describe
    others."""
    import numpy as np

    own = getattr(model, "dens", None)
    if own is None:
        return
    mine, data = np.asarray(own.data.detach().cpu().numpy(), dtype=np.float64), np.asarray(data, dtype=np.float64)
    if mine.shape != data.shape or not np.allclose(mine, data, rtol=1e-6, atol=1e-12):  # float32 storage: 6e-8
        raise ValueError(f"This closed-form checkpoint is the score of its own {mine.shape[0]:,} points in "
                         f"{mine.shape[1]} dimensions, not of the sidebar's data ({data.shape[0]:,} x {data.shape[1]})"
                         ": it is not used. Load its points as the dataset first (Data and bandwidth page), or "
                         "choose another model.")


def model_label(cfg: ModelConfig) -> str:
    """The model's name and, for a trained model, how it was made."""
    if is_default_mlp(cfg):
        return GENERALISING_LABEL
    extra = st.session_state.get("model_label") if not cfg.closed_form else ""
    return cfg.label() + (f" — {extra}" if extra else "")


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


def model_download(cfg: ModelConfig) -> None:
    """A download button for the current model: a checkpoint for trained models, the JSON config otherwise."""
    if cfg.closed_form:
        st.download_button("Download this model (JSON config)", json.dumps(dataclasses.asdict(cfg), indent=2),
                           file_name=f"model_{cfg.kind}.json", mime="application/json", on_click="ignore",
                           key="model_download")
        return
    model = model_object(cfg)
    st.download_button("Download this model (.safetensors)", lambda: app_io.model_bytes(model),
                       file_name=f"model_{cfg.kind}.safetensors", mime="application/octet-stream",
                       on_click="ignore", key="model_download")


def shipped_checkpoints() -> dict:
    """``{file name: path}`` of the score-model checkpoints under ``assets/``."""
    return app_io.shipped_checkpoints(ASSETS)


@st.cache_resource(show_spinner=False)
def load_shipped(path: str):
    """A shipped checkpoint, loaded once per server (read-only, the same for every session)."""
    from ..models import checkpoints

    return checkpoints.load_model(path)


def adopt_checkpoint(model, name: str, X) -> ModelConfig:
    """Make a loaded checkpoint current. A closed-form one (exact or injected error) is the score of its own
    training points: it is refused unless they are this page's data (``X``), so a run never samples one dataset
    while the page describes, and prices, another."""
    check_same_data(model, X)
    return adopt_model(LOADED, model, name)


def adopt_upload(uploaded, X) -> None:
    """Load an uploaded checkpoint (a bad file raises ValueError) and make it current, once per file."""
    from ..models import checkpoints

    digest = hashlib.sha256(uploaded.getvalue()).hexdigest()[:16]
    if st.session_state.get("model_file_digest") != digest:
        adopt_checkpoint(checkpoints.load_model(uploaded.getvalue()), uploaded.name, X)
        st.session_state["model_file_digest"] = digest
