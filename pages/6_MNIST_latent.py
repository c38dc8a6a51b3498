"""MNIST latent diffusion: where samples in the VAE's 32-dimensional latent go relative to the ridge of p_t."""

import dataclasses
import hashlib

import numpy as np
import streamlit as st

from ridgeviz.app import ui
from ridgeviz.core.sampling import SAMPLER_LABELS
from ridgeviz.core.schedules import SCHEDULES, ScheduleConfig
from ridgeviz.data.mnist import ENV_VAR, DigitsSpec, load_digits
from ridgeviz.latent.analysis import PAPER_DIM
from ridgeviz.latent.vae import SHIPPED_VAE, decode_latents, encode_latents, load_vae
from ridgeviz.views.mnist import LatentConfig, gallery_panels, run_latent
from ridgeviz.viz import figures as viz
from ridgeviz.viz.latent import deviation_figure, gallery_figure, spectrum_figure

SOURCES = {"auto": f"shipped subset (or ${ENV_VAR})", "folder": "MNIST IDX files in a folder",
           "download": "download the official MNIST files", "digits8": "scikit-learn 8x8 digits"}
MODELS = {"exact": "exact score (memorises)", "injected": "exact + injected normal/tangential error",
          "mlp": "MLP trained on the latents (DSM)"}


@st.cache_data(show_spinner=False, max_entries=8)
def digits(spec: DigitsSpec):
    return load_digits(spec)


@st.cache_resource(show_spinner=False)
def shipped_vae():
    return load_vae(SHIPPED_VAE)[0]


@st.cache_data(show_spinner=False, max_entries=8)
def latents(_vae, vae_key: str, spec: DigitsSpec) -> np.ndarray:
    return encode_latents(_vae, digits(spec).pixels())


@st.cache_data(show_spinner=False, max_entries=8)
def experiment(X: np.ndarray, cfg: LatentConfig, _progress=None):
    return run_latent(X, cfg, progress=_progress)


def train_vae_here(spec: DigitsSpec, epochs: int):
    """Train a VAE for this session (kept in st.session_state, never shared between sessions)."""
    from ridgeviz.latent.vae import VAETrainConfig, train_vae

    bar = st.progress(0.0, text="training the VAE")
    res = train_vae(digits(spec).pixels(), VAETrainConfig(epochs=epochs), callback=lambda e, loss, info: bar.progress(
        (e + 1) / epochs, text=f"training the VAE: epoch {e + 1}/{epochs}, loss {loss:.1f} nats"))
    bar.empty()
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in res.vae.state_dict().values())).hexdigest()
    st.session_state["mn_vae"] = (f"session:{digest[:16]}", res.vae)


ui.page_setup("MNIST latent")
st.title("MNIST latent diffusion")
st.markdown("An MLP VAE (784-400-200 -> 32) maps digits to a 32-dimensional latent; the smoothed empirical "
            "density p_t of the training latents, its ridge and the samples' residual live there. The paper "
            "(He, Qiu & Tao) uses the digit 1 and ridge dimension d = 25.")

with st.sidebar:
    st.header("Digits")
    source = ui.persistent(st.selectbox, "source", "mn_source", "auto", options=list(SOURCES), format_func=SOURCES.get)
    folder = ui.persistent(st.text_input, "MNIST folder", "mn_folder", "") if source in ("folder", "download") else ""
    st.session_state.setdefault("mn_classes", ui.store().get("mn_classes", [1]))
    classes = ui.store()["mn_classes"] = st.multiselect("digit classes (none = all)", list(range(10)), key="mn_classes")
    n_max = ui.persistent(st.number_input, "at most this many images (0 = all)", "mn_n", 0, min_value=0,
                          max_value=60000, step=100)
    st.header("Autoencoder")
    vae_epochs = ui.persistent(st.number_input, "epochs (training here)", "mn_vae_epochs", 40, min_value=1,
                               max_value=500)
    train_here = st.button("Train a VAE on these digits", key="mn_train_vae")

X = None
with ui.guard("the digits"):
    spec = DigitsSpec(source, folder or None, "train", tuple(classes), int(n_max) or None)
    data = digits(spec)
    if data.note:
        st.warning(data.note)
    if train_here:
        train_vae_here(spec, int(vae_epochs))
    key, vae = st.session_state.get("mn_vae", ("shipped", None))
    if vae is None or (data.shape != (28, 28) and key == "shipped"):
        if data.shape != (28, 28):
            st.info(f"The shipped VAE reads 28x28 images; these are {data.shape[0]}x{data.shape[1]}. "
                    "Train a VAE on them in the sidebar.")
            st.stop()
        key, vae = "shipped", shipped_vae()
    if vae.config.input_dim != data.images[0].size:
        st.info("The VAE of this session was trained on other images; train one on these digits.")
        st.stop()
    X = latents(vae, key, spec)
    st.caption(f"{len(X)} digits ({data.source}) -> latents of dimension {X.shape[1]}; VAE: "
               f"{'shipped (assets/vae_mnist.safetensors)' if key == 'shipped' else 'trained in this session'}.")
if X is None:  # the digits could not be loaded: the message is shown above
    st.stop()

with st.form("mn_form"):
    c = st.columns(4)
    model = ui.persistent(c[0].selectbox, "score model", "mn_model", "exact", options=list(MODELS),
                          format_func=MODELS.get)
    normal = ui.persistent(c[1].number_input, "normal error", "mn_normal", 0.0, min_value=0.0, max_value=50.0)
    tangential = ui.persistent(c[2].number_input, "tangential error", "mn_tangential", 0.0, min_value=0.0,
                               max_value=50.0)
    samples = ui.persistent(c[3].number_input, "samples", "mn_samples", 500, min_value=2, max_value=4000, step=100)
    c = st.columns(4)
    sched = ui.persistent(c[0].selectbox, "schedule", "mn_sched", "ou", options=sorted(SCHEDULES))
    steps = ui.persistent(c[1].number_input, "steps", "mn_steps", 100, min_value=10, max_value=1000, step=10)
    sampler = ui.persistent(c[2].selectbox, "sampler", "mn_sampler", "em", options=list(SAMPLER_LABELS),
                            format_func=SAMPLER_LABELS.get)
    seed = ui.persistent(c[3].number_input, "seed", "mn_seed", 0, min_value=0, max_value=2**31 - 1)
    c = st.columns(4)
    mlp_steps = ui.persistent(c[0].number_input, "MLP training steps", "mn_mlp_steps", 1000, min_value=10,
                              max_value=50000, step=100, help="DSM steps, batch 1024 (MLP model only)")
    mlp_lr = ui.persistent(c[1].number_input, "MLP learning rate", "mn_mlp_lr", 1e-3, min_value=1e-6, max_value=1e-1,
                           format="%.0e", help="the paper uses 1e-4 with many more steps")
    c = st.columns(4)
    dim = ui.persistent(c[0].number_input, f"ridge dimension d (0 = suggested; paper {PAPER_DIM})", "mn_dim", 0,
                        min_value=0, max_value=X.shape[1] - 1)
    preset = SCHEDULES[sched]
    rec = preset.T * (preset.t_min / preset.T) ** (np.arange(11) / 10)
    t_eval = ui.persistent(c[1].selectbox, "split on/off ridge at t =", "mn_teval", float(rec[-1]),
                           options=[float(t) for t in rec], format_func=lambda t: f"{t:.3g}")
    on = ui.persistent(c[2].number_input, "on-ridge: residual/max <", "mn_on", 0.5, min_value=0.01, max_value=1.0)
    off = ui.persistent(c[3].number_input, "off-ridge: residual/max >", "mn_off", 0.6, min_value=0.01, max_value=1.0)
    run = st.form_submit_button("Run", type="primary")

with ui.guard("the latent experiment"):
    cfg = LatentConfig(schedule=ScheduleConfig(sched, None, None, None, int(steps)), sampler=sampler,
                       samples=int(samples), model=model, normal=float(normal), tangential=float(tangential),
                       mlp_steps=int(mlp_steps), mlp_lr=float(mlp_lr),
                       dim=int(dim) or None, t_eval=float(t_eval), on=float(on), off=float(off), seed=int(seed))
    run_key = (key, spec, cfg)
    if run:
        bar, callback = ui.progress_callback("latent experiment")
        st.session_state["mn_result"] = (run_key, experiment(X, cfg, _progress=callback))
        bar.empty()
    stored_key, res = st.session_state.get("mn_result", (None, None))
    if res is None or stored_key[:2] != run_key[:2]:
        st.info("Press **Run** to sample in the latent and measure the samples against the ridge "
                "(a few seconds for the shipped subset of 200 ones).")
        st.stop()
    if stored_key != run_key:
        st.warning("The settings changed since these results were computed; press **Run** to update them.")
    s = res.stats
    counts = s["final"]["counts"]
    c = st.columns(5)
    c[0].metric("ridge dimension d", res.dim, help=f"suggested {res.suggested_dim}; the paper uses {PAPER_DIM}")
    for col, name in zip(c[1:], counts):
        col.metric(name, counts[name], help=f"at t = {s['final']['t']:.3g}")
    tabs = st.tabs(["Ridge deviation evolution", "On/off-ridge galleries", "Trajectories", "Spectrum", "Statistics"])
    with tabs[0]:
        value = st.radio("residual shown", ["normalised", "length"], horizontal=True, key="mn_value",
                         format_func={"normalised": "normalised by the batch maximum (paper)",
                                      "length": "as a length h_t r"}.get)
        fig = deviation_figure(res.deviation, value=value, thresholds=(cfg.on, cfg.off))
        st.plotly_chart(fig, key="mn_deviation")
        st.caption("Histogram of the ridge residual |P_perp grad log p_t| of the samples at each recorded time, T "
                   "down to t_min: reach (the residual falls), then align. Grey: the eigengap filter says the "
                   "normal space is undefined there (the residual is then meaningless).")
    with tabs[1]:
        panels = gallery_panels(res, lambda z: decode_latents(vae, z), data.pixels())
        st.plotly_chart(gallery_figure(panels, data.shape), key="mn_gallery")
        st.caption(f"Decoded final samples split at t = {s['final']['t']:.3g}; r: residual / batch max; nn: "
                   f"distance to the nearest training latent (its image below). Copies (nearest / second-nearest "
                   f"< 1/3): {100 * s['memorisation']['copies']:.0f}% of all samples.")
    with tabs[2]:
        traj_fig = viz.trajectory_figure(res.trajectories)
        st.plotly_chart(traj_fig, key="mn_traj")
        st.caption(f"{res.trajectories.xs.shape[1]} trajectories in the plane of the latents' first two principal "
                   f"axes (the {res.dim}-dimensional ridge is not drawn). Phase rule: {res.trajectories.rule_text}.")
    with tabs[3]:
        st.plotly_chart(spectrum_figure(res.gaps, res.dim, res.suggested_dim, PAPER_DIM, cfg.t_suggest),
                        key="mn_spectrum")
    with tabs[4]:
        st.json(s, expanded=False)
        ui.export_row("mnist_latent", fig, config={**s, "config": dataclasses.asdict(cfg)})
