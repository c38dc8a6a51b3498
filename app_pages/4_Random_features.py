"""Random features: architectural bias against optimisation error, and the inter-mode mass, as tau varies."""

import streamlit as st

from ridgeviz.app import budget, compute
from ridgeviz.app import models as md
from ridgeviz.app import sidebar as sb
from ridgeviz.app.fields import field_input
from ridgeviz.app.figures import show
from ridgeviz.app.io import data_key
from ridgeviz.app.state import computed, guard, persistent
from ridgeviz.data.datasets import DatasetSpec
from ridgeviz.models.rf_analysis import tau_label
from ridgeviz.views.budget import rf_cost
from ridgeviz.views.random_features import DEFAULT_TAUS, RFConfig, parse_taus
from ridgeviz.viz import figures as viz
from ridgeviz.viz.random_features import rf_cloud_animation


def switch_to_two_points() -> None:
    sb.use_preset("two-points")
    st.session_state["rf_switched"] = True


st.title("Random features")
X, source, sched_cfg = sb.sidebar()
st.markdown(
    "The paper's model `m_A(x,t) = A relu(W_x x + W_t φ(t) + b)/√p` with frozen random features, its readout "
    "trained by gradient flow for a time **τ** (closed form; τ = ∞ is the least-squares limit). Its score "
    "error splits into the **architectural bias** (the τ = ∞ model against the exact score) and the "
    "**optimisation error** (the τ model against the τ = ∞ one), each normal or tangential to the ridge. "
    "On the authors' two points (±3, 0) the normal bias vanishes by symmetry while a tangential error remains; "
    "off that symmetric case the bias has a real normal part (the reproduction's rf-dynamics experiment).")
if source != DatasetSpec("preset", "two-points"):
    st.button("Use the authors' two-point set (±3, 0) on every page", on_click=switch_to_two_points,
              key="rf_use_two_points", help="Changes the dataset in the sidebar, which every page shares.")
elif st.session_state.pop("rf_switched", False):
    st.success("The dataset is now the authors' two points (±3, 0) on every page (sidebar → Data → set); choose "
               "another set there to go back.")

with st.form("rf_form"):
    c = st.columns(6)
    v = {"features": field_input(c[0], RFConfig, "features", "features p", "rf_p"),
         "time_features": field_input(c[1], RFConfig, "time_features", "time frequencies K", "rf_K"),
         "seed": field_input(c[2], RFConfig, "seed", "seed", "rf_seed"),
         "particles": field_input(c[3], RFConfig, "particles", "particles", "rf_particles"),
         "steps": field_input(c[4], RFConfig, "steps", "sampler steps", "rf_steps")}
    taus_text = persistent(c[5].text_input, "training times τ", "rf_taus", ", ".join(map(tau_label, DEFAULT_TAUS)))
    run = st.form_submit_button("Run", type="primary")

with guard("the random-feature sweep"):
    cfg = RFConfig(**v, taus=parse_taus(taus_text), dim=min(1, X.shape[1] - 1))
    key = (data_key(X), sched_cfg, cfg)
    cost = rf_cost(X.shape, cfg)
    budget.caption(cost, "These settings: estimated", "random-feature sweep")
    if run:
        budget.require(cost, "This sweep", "p, K, the particles, the steps or the number of τ values",
                       "random-feature sweep")
    with budget.queued("the random-feature sweep", cost, "random-feature sweep"):
        sweep, stale, _ = computed(
            "rf", key, lambda progress: compute.rf_sweep(X, sched_cfg, cfg, progress=progress), run=run,
            preload=lambda: compute.shipped_rf_sweep(X, sched_cfg, cfg) is not None,
            label="fitting and sampling the random-feature models")
    example = sweep is None
    if example:
        sweep = compute.example_rf_sweep()
        st.info("Shown: the shipped sweep on the authors' two points (±3, 0) at the default settings (p = 512, "
                "K = 16, 128 particles, 100 steps). Press **Run** to compute these settings on the sidebar's data.")
    if sweep is not None:
        if stale and not example:
            st.warning("The settings changed since this sweep was computed; press **Run** to update it.")
        show(viz.rf_sweep_figure(sweep), "rf_sweep_chart", export="random_features", csv=sweep.table(),
             npz=sweep.to_npz_bytes, config=sweep.config)
        st.caption("Means over samples and over the steps where the ridge is defined (the optimisation error is "
                   "zero at τ = ∞ by definition); inter-mode mass: final samples farther than "
                   f"{sweep.config['tube']:.3g} from every training point.")
        _, labels = viz.tau_positions(sweep.taus)
        show(rf_cloud_animation(sweep, labels), "rf_cloud", export="random_features_cloud")
        c = st.columns([1, 3])
        i = persistent(c[0].selectbox, "model at τ", "rf_tau_pick", len(labels) - 1, options=list(range(len(labels))),
                       format_func=lambda j: labels[j])
        if not example and c[1].button(f"Use the model at τ = {labels[i]} on the Trajectories page", key="rf_adopt"):
            model = compute.rf_models(X, sched_cfg, cfg)[float(sweep.taus[i])]
            md.adopt_model("random-features", model, f"random features, p = {cfg.features}, τ = {labels[i]}")
            st.success("Done: the Trajectories page now samples with this model.")
