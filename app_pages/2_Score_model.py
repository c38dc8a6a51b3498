"""Score model: exact, injected error, MLP, random features or a checkpoint; its error against the exact score."""

import math

import streamlit as st

from ridgeviz.app import budget, compute, training
from ridgeviz.app import models as md
from ridgeviz.app.export import config_dict
from ridgeviz.app.fields import field_input
from ridgeviz.app.figures import show
from ridgeviz.app.sidebar import sidebar
from ridgeviz.app.state import guard, persistent
from ridgeviz.models.factory import ModelConfig
from ridgeviz.models.kinds import LOADED, config_kinds, kind_label
from ridgeviz.views.budget import profile_cost, rf_cost
from ridgeviz.views.random_features import DEFAULT_TAUS, RFConfig
from ridgeviz.viz import figures as viz
from ridgeviz.viz.figures import tau_text

st.title("Score model")
X, source, sched_cfg = sidebar()
current = md.model_config()
kind = persistent(st.radio, "model", "model_kind", current.kind, options=list(config_kinds()), format_func=kind_label,
                  horizontal=True)
max_dim = max(X.shape[1] - 1, 0)

with guard("the model"):
    if kind == "exact":
        st.markdown("The exact score of p_t: it **memorises** (its samples collapse onto the training points).")
        md.set_model(ModelConfig("exact", dim=min(current.dim, max_dim)))
    elif kind == "injected":
        st.markdown("The exact score plus an error of fixed size along the ridge's normal and tangent spaces: "
                    "the normal part sets the **align** distance, the tangential part drives the **slide**.")
        c = st.columns(3)
        start = current if current.kind == "injected" else md.FALLBACK_MODEL  # 0.5 and 0.5 from another model
        v = {f: field_input(c[i], ModelConfig, f, f"{f} error", f"model_{f}", float(getattr(start, f)), step=0.05)
             for i, f in enumerate(("normal", "tangential"))}
        v["dim"] = field_input(c[2], ModelConfig, "dim", "ridge dimension d", "model_dim", current.dim, hi=max_dim)
        md.set_model(ModelConfig("injected", **v))
    elif kind == "mlp":
        st.markdown("A time-conditioned MLP trained by denoising score matching on the sidebar's data and schedule.")
        training.collect()
        training.shipped_recipe_button(X, sched_cfg)
        cfg = training.train_form(max_dim, X.shape)
        if cfg is not None:
            training.start(X, sched_cfg.schedule(), cfg)
        training.live_panel()
        training.last_result()
    elif kind == "random-features":
        st.markdown("The paper's random-feature model, its readout trained by gradient flow for a time τ (closed "
                    "form). The **Random features** page compares τ values.")
        with st.form("rf_model_form"):
            c = st.columns(4)
            p = field_input(c[0], RFConfig, "features", "features p", "rfm_p")
            K = field_input(c[1], RFConfig, "time_features", "time frequencies K", "rfm_K")
            seed = field_input(c[2], RFConfig, "seed", "seed", "rfm_seed")
            tau = persistent(c[3].select_slider, "training time τ", "rfm_tau", math.inf, options=list(DEFAULT_TAUS),
                             format_func=tau_text)
            fit = st.form_submit_button("Fit", type="primary")
        cfg = RFConfig(int(p), int(K), int(seed), taus=(tau,))
        cost = rf_cost(X.shape, cfg, fit_only=True)
        budget.caption(cost, "Fitting these random features: estimated", "random-feature fit")
        if fit:
            budget.require(cost, "Fitting these random features", "p or K", "random-feature fit")
            with budget.queued("the random-feature fit", cost, "random-feature fit"), st.spinner("fitting"):
                model = compute.rf_models(X, sched_cfg, cfg)[tau]
            md.adopt_model("random-features", model, f"random features, p = {cfg.features}, "
                           f"K = {cfg.time_features}, τ = {tau_text(tau)}")
    elif kind == LOADED:
        shipped = md.shipped_checkpoints()
        if shipped:
            c = st.columns([3, 1])
            names = list(shipped)
            name = c[0].selectbox("shipped checkpoints", names, key="model_shipped",
                                  index=names.index(md.GENERALISING_FILE) if md.GENERALISING_FILE in names else 0)
            if c[1].button("Load", key="model_load_shipped"):
                md.adopt_checkpoint(md.load_shipped(str(shipped[name])), name, X)
        up = st.file_uploader("or upload a ridgeviz checkpoint (.safetensors; pickles and .pt files are refused)",
                              type=["safetensors"], key="model_file")
        if up is not None:
            md.adopt_upload(up, X)
        if md.model_config().kind == LOADED:
            for warning in md.checkpoint_warnings(md.model_object(md.model_config()), X, sched_cfg):
                st.warning(warning)
    elif ModelConfig(kind).closed_form:  # a registered closed-form kind without a panel of its own
        md.set_model(ModelConfig(kind, dim=min(current.dim, max_dim)))
    else:
        st.info(f"Load a checkpoint of the {kind_label(kind)} under “{kind_label(LOADED)}”.")

with guard("the model's error"):
    cfg, fallback = md.model_for(X, sched_cfg)
    st.success(f"Model used by the Trajectories page: **{md.model_label(cfg)}**" + (f" ({fallback})" * bool(fallback)))
    model = md.model_object(cfg, X)
    cost = profile_cost(X.shape, cfg, model)
    if not budget.gate(("profile", compute.data_key(X), sched_cfg, cfg), cost, "the model's error profile",
                       "the number of points or the dimension (sidebar)", "error profile",
                       ready=compute.profile_ready(X, sched_cfg, cfg, min(cfg.dim, max_dim))):
        st.stop()
    with budget.queued("the model's error profile", cost, "error profile"):
        profile = compute.error_profile(X, sched_cfg, cfg, min(cfg.dim, max_dim), _model=model)
    show(viz.error_profile_figure(profile), "model_profile", export="score_model", csv=profile,
         config=config_dict(model=cfg, schedule=sched_cfg))
    st.caption("Mean norm of the score error against the exact score of p_t at points drawn from p_t: the total over "
               "every point, its parts normal and tangential to the ridge over the points where the ridge is defined. "
               "Where it is undefined (grey: one blob at large t, an isotropic blob around each isolated point at "
               "small t) the frame's directions are arbitrary, and so would be the split: an injected tangential 0.5 "
               "read about 0.1 below t = 0.003 when those points were counted. A log axis when a spike would flatten "
               "the curves.")
    md.model_download(cfg)
