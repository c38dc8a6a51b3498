"""The MNIST latent page's caches: digits, the shipped VAE, latents, the experiment, a VAE trained here.

Digits and latents are cached by their spec (cross-session: they come from files on the server); a VAE trained
in a session stays in that session (``st.session_state["mn_vae"]``) and is never shared.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import streamlit as st

from ..core.sampling import SAMPLER_LABELS
from ..core.schedules import SCHEDULES, ScheduleConfig
from ..data.mnist import ENV_VAR, DigitsSpec, load_digits
from ..latent.analysis import PAPER_DIM
from ..latent.vae import encode_latents, load_vae, shipped_vae_path
from ..utils.threads import configure_threads
from ..views.budget import latent_cost
from ..views.mnist import CHOICES, LatentConfig, model_label, run_latent
from ..views.mnist_default import DEFAULT_CONFIG, PATH, eval_times, made_from, run_from_npz
from . import budget, shipped
from .budget import slot
from .fields import field_input
from .state import persistent, progress_callback

configure_threads()
SHIPPED = "shipped"
ENV_FOLDERS = "RIDGEVIZ_MNIST_FOLDERS"  # folders the operator allows the app to read MNIST from (os.pathsep list)
_ALL_SOURCES = {"auto": f"shipped subset (or ${ENV_VAR})", "folder": "MNIST IDX files in an allowed folder",
                "download": "download the official MNIST files (into an allowed folder)",
                "digits8": "scikit-learn 8x8 digits"}


def allowed_folders() -> list[str]:
    """The folders the operator lists in ``RIDGEVIZ_MNIST_FOLDERS``: the only ones the app reads or writes.

    A visitor picks one of them by name; no typed path ever reaches the server's disk.
    """
    raw = os.environ.get(ENV_FOLDERS, "")
    return [str(Path(p).expanduser().resolve()) for p in raw.split(os.pathsep) if p.strip()]


def sources() -> dict:
    """The digit sources this server offers (folders and downloads only with an operator's allow-list)."""
    return {k: v for k, v in _ALL_SOURCES.items() if allowed_folders() or k not in ("folder", "download")}


def folder_choice(source: str):
    """For "folder" / "download": one of the allowed folders (a select box, never a free path); else None."""
    if source not in ("folder", "download"):
        return None
    return persistent(st.selectbox, "MNIST folder (set by the operator)", "mn_folder_choice",
                      allowed_folders()[0], options=allowed_folders())


SOURCES = _ALL_SOURCES




@st.cache_data(show_spinner=False, max_entries=8)
def digits(spec: DigitsSpec):
    return load_digits(spec)


@st.cache_resource(show_spinner=False)
def shipped_vae(path: str):
    """A shipped VAE, loaded once per server (read-only)."""
    return load_vae(path)[0]


@st.cache_data(show_spinner=False, max_entries=8)
def latents(_vae, vae_key: str, spec: DigitsSpec) -> np.ndarray:
    """The VAE's latent means of the digits of ``spec`` (``vae_key`` names the VAE in the cache key)."""
    return encode_latents(_vae, digits(spec).pixels())


@st.cache_data(show_spinner=False, max_entries=8)
def _experiment(X: np.ndarray, cfg: LatentConfig, _progress=None):
    with slot("the latent experiment"):
        return run_latent(X, cfg, progress=_progress)


def experiment(X: np.ndarray, cfg: LatentConfig):
    """The latent experiment (cached by the latents' content and the config), with a progress bar."""
    bar, callback = progress_callback("latent experiment")
    try:
        with budget.queued("the latent experiment"):
            return _experiment(X, cfg, _progress=callback)
    finally:
        bar.empty()


def train_vae_here(spec: DigitsSpec, epochs: int) -> None:
    """Train a VAE for this session (kept in st.session_state, never shared between sessions)."""
    from ..latent.vae import VAETrainConfig, train_vae

    bar = st.progress(0.0, text="training the VAE")

    def progress(e, loss, info):
        bar.progress((e + 1) / epochs, text=f"training the VAE: epoch {e + 1}/{epochs}, loss {loss:.1f} nats")

    with slot("the VAE training"):
        res = train_vae(digits(spec).pixels(), VAETrainConfig(epochs=epochs), callback=progress)
    bar.empty()
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in res.vae.state_dict().values())).hexdigest()
    st.session_state["mn_vae"] = (f"session:{digest[:16]}", res.vae)


def session_vae(data, classes=()):
    """``(key, vae)`` for these digits: this session's VAE, else the shipped one for ``classes`` (the ones' VAE
    for the digit 1, the all-digit VAE otherwise); ValueError when none fits."""
    key, vae = st.session_state.get("mn_vae", (SHIPPED, None))
    if vae is None or (data.shape != (28, 28) and key.startswith(SHIPPED)):
        if data.shape != (28, 28):
            raise ValueError(f"The shipped VAE reads 28x28 images; these are {data.shape[0]}x{data.shape[1]}. "
                             "Train a VAE on them in the sidebar.")
        path = shipped_vae_path(classes)
        key, vae = f"{SHIPPED}:{path.name}", shipped_vae(str(path))
    if vae.config.input_dim != data.images[0].size:
        raise ValueError("The VAE of this session was trained on other images; train one on these digits.")
    return key, vae


def current(run_key: tuple, X: np.ndarray, cfg: LatentConfig, run: bool, images: np.ndarray):
    """The run to show and whether it is stale: computed on Run, else kept, else the shipped default view.

    ``run_key = (vae key, digits spec, cfg)``; ``images``: the digits' pixels (uint8). The shipped view answers a
    request made from the same settings, the same digits and the same shipped VAE file by this code
    (:mod:`ridgeviz.app.shipped`), so the page opens on results without computing on every machine.
    """
    if run:
        st.session_state["mn_result"] = (run_key, experiment(X, cfg))
    stored_key, res = st.session_state.get("mn_result", (None, None))
    if res is None or stored_key[:2] != run_key[:2]:
        found = None
        if run_key[0].startswith(SHIPPED):
            want = made_from(cfg, images, shipped_vae_path(run_key[1].classes))
            found = shipped.current(PATH, lambda path: run_from_npz(path)[0], want)
        if found is None:
            return None, False
        st.session_state["mn_result"] = stored_key, res = run_key, found
    return res, stored_key != run_key


def settings_form(latent_dim: int, n: int = 200) -> tuple[LatentConfig, bool]:
    """The experiment's settings form; returns its config and whether Run was pressed (refused, with what to
    reduce, when the estimate for ``n`` training latents is above the limits)."""
    L = LatentConfig
    with st.form("mn_form"):
        c = st.columns(4)
        v = {"model": persistent(c[0].selectbox, "score model", "mn_model", L.model, options=list(CHOICES),
                                 format_func=model_label),
             "normal": field_input(c[1], L, "normal", "normal error", "mn_normal"),
             "tangential": field_input(c[2], L, "tangential", "tangential error", "mn_tangential"),
             "samples": field_input(c[3], L, "samples", "samples", "mn_samples", step=100)}
        c = st.columns(4)
        sched = persistent(c[0].selectbox, "schedule", "mn_sched", "ou", options=sorted(SCHEDULES))
        steps = field_input(c[1], ScheduleConfig, "steps", "steps", "mn_steps", L.schedule.steps, step=10)
        v["sampler"] = persistent(c[2].selectbox, "sampler", "mn_sampler", L.sampler, options=list(SAMPLER_LABELS),
                                  format_func=SAMPLER_LABELS.get)
        v["seed"] = field_input(c[3], L, "seed", "seed", "mn_seed")
        c = st.columns(4)
        v["mlp_steps"] = field_input(c[0], L, "mlp_steps", "MLP training steps", "mn_mlp_steps", step=100,
                                     help="DSM steps, batch 1024 (MLP model only)")
        v["mlp_lr"] = field_input(c[1], L, "mlp_lr", "MLP learning rate", "mn_mlp_lr", format="%.0e",
                                  help="the authors' code uses 1e-4 with many more steps")
        c = st.columns(4)
        v["dim"] = field_input(c[0], L, "dim", f"ridge dimension d (0: suggested; authors' code {PAPER_DIM})",
                               "mn_dim", 0, hi=latent_dim - 1, none=0) or None
        times = eval_times(sched)
        default_t = DEFAULT_CONFIG.t_eval if DEFAULT_CONFIG.t_eval in times else times[-1]  # where the ridge exists
        v["t_eval"] = persistent(c[1].selectbox, "split on/off ridge at t =", "mn_teval", default_t, options=times,
                                 format_func=lambda t: f"{t:.3g}")
        v["on"] = field_input(c[2], L, "on", "on-ridge: residual/max <", "mn_on")
        v["off"] = field_input(c[3], L, "off", "off-ridge: residual/max >", "mn_off")
        run = st.form_submit_button("Run", type="primary")
    cfg = LatentConfig(schedule=ScheduleConfig(name=sched, steps=steps), **v)
    cost = latent_cost((n, latent_dim), cfg)
    budget.caption(cost, "These settings: estimated", "latent experiment")
    if run:
        budget.require(cost, "This latent experiment", "the samples, the steps, the MLP steps or the digits",
                       "latent experiment")
    return cfg, run
