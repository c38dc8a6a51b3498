"""MNIST latent diffusion: where samples in the VAE's 32-dimensional latent go relative to the ridge of p_t."""

import dataclasses

import streamlit as st

from ridgeviz.app import mnist as mn
from ridgeviz.app.fields import field_input
from ridgeviz.app.figures import show
from ridgeviz.app.state import guard, persistent, store
from ridgeviz.data.mnist import DigitsSpec
from ridgeviz.latent.analysis import PAPER_DIM
from ridgeviz.latent.vae import VAETrainConfig, decode_latents
from ridgeviz.views.mnist import gallery_panels
from ridgeviz.viz import figures as viz
from ridgeviz.viz.latent import deviation_figure, gallery_figure, spectrum_figure

st.title("MNIST latent diffusion")
st.markdown("An MLP VAE (784-400-200 -> 32) maps digits to a 32-dimensional latent; the smoothed empirical "
            "density p_t of the training latents, its ridge and the samples' residual live there. The authors' "
            "code uses the digit 1 and ridge dimension d = 25.")

with st.sidebar:
    st.header("Digits")
    source = persistent(st.selectbox, "source", "mn_source", "auto", options=list(mn.sources()),
                        format_func=mn.SOURCES.get)
    folder = mn.folder_choice(source)
    st.session_state.setdefault("mn_classes", store().get("mn_classes", [1]))
    classes = store()["mn_classes"] = st.multiselect("digit classes (none = all)", list(range(10)), key="mn_classes")
    n_max = field_input(st, DigitsSpec, "n", "at most this many images (0 = all)", "mn_n", 0, none=0, step=100)
    st.header("Autoencoder")
    vae_epochs = field_input(st, VAETrainConfig, "epochs", "epochs (training here)", "mn_vae_epochs")
    train_here = st.button("Train a VAE on these digits", key="mn_train_vae")

X = None
with guard("the digits"):
    spec = DigitsSpec(source=source, folder=folder or None, classes=tuple(classes), n=int(n_max) or None)
    data = mn.digits(spec)
    if data.note:
        st.warning(data.note)
    if train_here:
        mn.train_vae_here(spec, int(vae_epochs))
    key, vae = mn.session_vae(data, spec.classes)
    X = mn.latents(vae, key, spec)
    st.caption(f"{len(X)} digits ({data.source}) -> latents of dimension {X.shape[1]}; VAE: "
               f"{'shipped (assets/' + key.split(':')[1] + ')' if key.startswith(mn.SHIPPED) else 'trained here'}.")
if X is None:  # the digits could not be loaded: the message is shown above
    st.stop()

with guard("the settings"):
    cfg, run = mn.settings_form(X.shape[1], len(X))

with guard("the latent experiment"):
    res, stale = mn.current((key, spec, cfg), X, cfg, run, data.images)
    if res is None:
        st.info("Press **Run** to sample in the latent and measure the samples against the ridge "
                "(a few seconds for the 1,127 ones of the shipped subset).")
        st.stop()
    if stale:
        st.warning("The settings changed since these results were computed; press **Run** to update them.")
    s = res.stats
    counts = s["final"]["counts"]
    c = st.columns(5)
    c[0].metric("ridge dimension d", res.dim, help=f"suggested {res.suggested_dim}; the authors' code uses {PAPER_DIM}")
    for col, name in zip(c[1:], counts):
        col.metric(name, counts[name], help=f"at t = {s['final']['t']:.3g}")
    tabs = st.tabs(["Ridge deviation evolution", "On/off-ridge galleries", "Trajectories", "Spectrum", "Statistics"])
    config = {**s, "config": dataclasses.asdict(res.config)}
    with tabs[0]:
        value = st.radio("residual shown", ["normalised", "length"], horizontal=True, key="mn_value",
                         format_func={"normalised": "normalised by the batch maximum (authors' code)",
                                      "length": "as a length h_t r"}.get)
        show(deviation_figure(res.deviation, value=value, thresholds=(res.config.on, res.config.off)),
             "mn_deviation", export="mnist_deviation", config=config)
        st.caption("Histogram of the ridge residual |P_perp grad log p_t| of the samples at each recorded time, T "
                   "down to t_min: reach (the residual falls), then align. Grey: the eigengap filter says the "
                   "normal space is undefined there (the residual is then meaningless).")
    with tabs[1]:
        panels = gallery_panels(res, lambda z: decode_latents(vae, z), data.pixels())
        show(gallery_figure(panels, data.shape), "mn_gallery", export="mnist_gallery")
        st.caption(f"Decoded final samples split at t = {s['final']['t']:.3g}; r: residual / batch max; nn: "
                   f"distance to the nearest training latent (its image below). Copies (nearest / second-nearest "
                   f"< 1/3): {100 * s['memorisation']['copies']:.0f}% of all samples.")
    with tabs[2]:
        show(viz.trajectory_figure(res.trajectories), "mn_traj", export="mnist_trajectories")
        st.caption(f"{res.trajectories.xs.shape[1]} trajectories in the plane of the latents' first two principal "
                   f"axes (the {res.dim}-dimensional ridge is not drawn). Phase rule: {res.trajectories.rule_text}.")
    with tabs[3]:
        show(spectrum_figure(res.gaps, res.dim, res.suggested_dim, PAPER_DIM, res.config.t_suggest), "mn_spectrum",
             export="mnist_spectrum")
    with tabs[4]:
        st.json(s, expanded=False)
