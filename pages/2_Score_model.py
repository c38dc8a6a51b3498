"""Score model: exact, injected error, MLP, random features or a checkpoint; its error against the exact score."""

import numpy as np
import streamlit as st

from ridgeviz.app import ui
from ridgeviz.models.factory import ModelConfig
from ridgeviz.viz import figures as viz

ui.page_setup("Score model")
st.title("Score model")
X, source, sched_cfg = ui.sidebar()
current = ui.model_config()
KINDS = {"exact": "exact score", "injected": "exact + injected error", "mlp": "MLP network",
         "random-features": "random features", "checkpoint": "load a checkpoint"}
kind = ui.persistent(st.radio, "model", "model_kind", current.kind, options=list(KINDS), format_func=KINDS.get,
                     horizontal=True)
max_dim = max(X.shape[1] - 1, 0)


def train_live(train_cfg, every: int = 25):
    """Train the MLP with a progress bar, live loss and error curves, and a Cancel button.

    Any widget use during training (Cancel included) makes Streamlit stop the script at its next element
    update; that interruption is turned into the trainer's ``Cancelled`` so the model so far is returned and
    kept, and the interruption is re-raised afterwards so Streamlit reruns as asked.
    """
    from ridgeviz.models.training import Cancelled, train_mlp

    st.button("Cancel training", key="mlp_cancel")
    bar = st.progress(0.0, text="training")
    loss_box, err_box = st.columns(2)
    loss_box, err_box = loss_box.empty(), err_box.empty()
    losses, errors, interrupted = [], {"steps": [], "normal": [], "tangential": []}, []

    def callback(step, loss, info):
        losses.append(loss)
        if "error_normal" in info:
            errors["steps"].append(step)
            errors["normal"].append(float(np.mean(info["error_normal"])))
            errors["tangential"].append(float(np.mean(info["error_tangential"])))
        if step % every and step != train_cfg.steps:
            return True
        try:
            bar.progress(step / train_cfg.steps, text=f"step {step} / {train_cfg.steps}, loss {loss:.4g}")
            loss_box.plotly_chart(viz.curves_figure(np.arange(1, len(losses) + 1), {"loss": np.array(losses)},
                                                    x_title="step", log_x=False, log_y=True, height=280,
                                                    title="DSM loss"), key=f"mlp_loss_{step}")
            if errors["steps"]:
                err_box.plotly_chart(viz.curves_figure(np.array(errors["steps"]), {
                    "normal": np.array(errors["normal"]), "tangential": np.array(errors["tangential"])},
                    x_title="step", log_x=False, height=280, title="mean error vs the exact score"),
                    key=f"mlp_err_{step}")
        except Exception:  # ordinary errors are not cancellations
            raise
        except BaseException as exc:  # Streamlit's rerun/stop request: stop training, keep the model
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            interrupted.append(exc)
            raise Cancelled("cancelled from the page") from None
        return True

    result = train_mlp(X, sched_cfg.schedule(), train_cfg, callback=callback)
    bar.empty()
    st.session_state["mlp_result"] = {"losses": result.losses, "eval_steps": result.eval_steps,
                                      "normal": result.error_normal.mean(1) if result.error_normal.size else [],
                                      "tangential": result.error_tangential.mean(1) if result.error_tangential.size
                                      else [], "status": result.status, "message": result.message,
                                      "seconds": result.seconds, "device": result.device}
    if result.status != "diverged":
        ui.adopt_model("mlp", result.model, f"MLP ({result.steps_done} steps, {result.status})")
    if interrupted:
        raise interrupted[0]
    return result


def mlp_section():
    try:
        from ridgeviz.models.training import TrainConfig
    except ImportError:
        st.info("MLP training needs ridgeviz.training, which this build does not have yet.")
        return
    import torch

    st.markdown("A time-conditioned MLP trained by denoising score matching on the sidebar's data and schedule.")
    base = TrainConfig()  # the widgets start from the library's tested defaults
    with st.form("mlp_form"):
        c = st.columns(5)
        hidden = ui.persistent(c[0].number_input, "hidden width", "mlp_hidden", base.hidden, min_value=8, max_value=1024)
        depth = ui.persistent(c[1].number_input, "hidden layers", "mlp_depth", base.depth, min_value=1, max_value=8)
        prediction = ui.persistent(c[2].selectbox, "prediction", "mlp_pred", base.prediction,
                                   options=["epsilon", "x0", "score"])
        weighting = ui.persistent(c[3].selectbox, "loss weight", "mlp_weight", base.weighting, options=["1", "h", "h2"],
                                  format_func={"1": "1", "h": "h_t", "h2": "h_t²"}.get)
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        device = ui.persistent(c[4].selectbox, "device", "mlp_device", "auto", options=devices)
        c = st.columns(5)
        steps = ui.persistent(c[0].number_input, "steps", "mlp_steps", base.steps, min_value=10, max_value=200_000)
        batch = ui.persistent(c[1].number_input, "batch size", "mlp_batch", base.batch_size, min_value=8, max_value=8192)
        lr = ui.persistent(c[2].number_input, "learning rate", "mlp_lr", base.lr, min_value=1e-6, max_value=10.0,
                           format="%.1e")
        ema = ui.persistent(c[3].number_input, "EMA decay (0: off)", "mlp_ema", float(base.ema), min_value=0.0,
                            max_value=0.9999, format="%.4f")
        seed = ui.persistent(c[4].number_input, "seed", "mlp_seed", 0, min_value=0, max_value=2**31 - 1)
        train = st.form_submit_button("Train", type="primary")
    if train:
        cfg = TrainConfig(hidden=int(hidden), depth=int(depth), prediction=prediction, weighting=weighting,
                          steps=int(steps), batch_size=int(batch), lr=float(lr), ema=float(ema), seed=int(seed),
                          device=device, eval_every=max(int(steps) // 20, 1), ridge_dim=min(1, max_dim))
        train_live(cfg)
    last = st.session_state.get("mlp_result")
    if last:
        if last["status"] == "diverged":
            st.error(f"Training diverged: {last['message']}")
        elif last["status"] == "cancelled":
            st.warning(f"Training was cancelled ({last['message']}); the model so far is in use.")
        c = st.columns(2)
        c[0].plotly_chart(viz.curves_figure(np.arange(1, len(last["losses"]) + 1), {"loss": last["losses"]},
                                            x_title="step", log_x=False, log_y=True, height=280, title="DSM loss"),
                          key="mlp_loss_final")
        if len(last["eval_steps"]):
            c[1].plotly_chart(viz.curves_figure(last["eval_steps"], {"normal": last["normal"],
                                                                     "tangential": last["tangential"]},
                                                x_title="step", log_x=False, height=280,
                                                title="mean error vs the exact score"), key="mlp_err_final")
        st.caption(f"{len(last['losses'])} steps in {last['seconds']:.1f} s on {last['device']}.")


def rf_section():
    import math

    from ridgeviz.views.random_features import RFConfig

    st.markdown("The paper's random-feature model, its readout trained by gradient flow for a time τ (closed "
                "form). The **Random features** page compares τ values.")
    taus = [0.1, 1.0, 10.0, 100.0, 1000.0, math.inf]
    with st.form("rf_model_form"):
        c = st.columns(4)
        p = ui.persistent(c[0].number_input, "features p", "rfm_p", 512, min_value=8, max_value=4096)
        K = ui.persistent(c[1].number_input, "time frequencies K", "rfm_K", 16, min_value=0, max_value=256)
        seed = ui.persistent(c[2].number_input, "seed", "rfm_seed", 0, min_value=0, max_value=2**31 - 1)
        tau = ui.persistent(c[3].select_slider, "training time τ", "rfm_tau", math.inf, options=taus,
                            format_func=lambda v: "∞" if math.isinf(v) else f"{v:g}")
        fit = st.form_submit_button("Fit", type="primary")
    if fit:
        cfg = RFConfig(int(p), int(K), int(seed), taus=(tau,))
        with st.spinner("computing the feature moments and the gradient flow"):
            model = ui.rf_models(X, sched_cfg, cfg)[tau]
        ui.adopt_model("random-features", model, f"random features, p = {cfg.features}, K = {cfg.time_features}, "
                       f"τ = {'∞' if math.isinf(tau) else f'{tau:g}'}")


def checkpoint_section():
    from ridgeviz.models import checkpoints as rio

    if not hasattr(rio, "load_model"):
        st.info("Loading checkpoints needs ridgeviz.io.load_model, which this build does not have yet.")
        return
    shipped = ui.shipped_checkpoints()
    if shipped:
        c = st.columns([3, 1])
        name = c[0].selectbox("shipped checkpoints", list(shipped), key="model_shipped")
        if c[1].button("Load", key="model_load_shipped"):
            ui.adopt_model("checkpoint", ui.load_shipped(str(shipped[name])), name)
    up = st.file_uploader("or upload a ridgeviz checkpoint (.safetensors; pickles and .pt files are refused)",
                          type=["safetensors"], key="model_file")
    if up is not None:
        digest = ui.weights_key(up.getvalue())
        if st.session_state.get("model_file_digest") != digest:
            model = rio.load_model(up.getvalue())  # a bad file raises ValueError with a clear message
            ui.adopt_model("checkpoint", model, up.name)
            st.session_state["model_file_digest"] = digest
    cfg = ui.model_config()
    if cfg.kind == "checkpoint":
        for warning in ui.checkpoint_warnings(ui.model_object(cfg), X, sched_cfg):
            st.warning(warning)


with ui.guard("the model"):
    if kind == "exact":
        st.markdown("The exact score of p_t: it **memorises** (its samples collapse onto the training points).")
        ui.set_model(ModelConfig("exact", dim=min(current.dim, max_dim)))
    elif kind == "injected":
        st.markdown("The exact score plus an error of fixed size along the ridge's normal and tangent spaces: "
                    "the normal part sets the **align** distance, the tangential part drives the **slide**.")
        c = st.columns(3)
        normal = ui.persistent(c[0].slider, "normal error", "model_normal", current.normal, min_value=0.0,
                               max_value=3.0, step=0.05)
        tangential = ui.persistent(c[1].slider, "tangential error", "model_tangential", current.tangential,
                                   min_value=0.0, max_value=3.0, step=0.05)
        dim = ui.persistent(c[2].number_input, "ridge dimension d", "model_dim", current.dim, min_value=0,
                            max_value=max_dim)
        ui.set_model(ModelConfig("injected", int(dim), float(normal), float(tangential)))
    elif kind == "mlp":
        mlp_section()
    elif kind == "random-features":
        rf_section()
    else:
        checkpoint_section()

with ui.guard("the model's error"):
    cfg = ui.model_config()
    label = st.session_state.get("model_label") if cfg.kind not in ("exact", "injected") else ""
    st.success(f"Model used by the Trajectories page: **{cfg.label()}**" + (f" — {label}" if label else ""))
    model = ui.model_object(cfg)
    profile = ui.error_profile(X, sched_cfg, cfg, min(cfg.dim, max_dim), _model=model)
    fig = viz.error_profile_figure(profile)
    st.plotly_chart(fig, key="model_profile")
    st.caption("Mean norm of the score error against the exact score of p_t, split into the parts normal and "
               "tangential to the ridge, at points drawn from p_t.")
    ui.export_row("score_model", fig, csv=profile, config=ui.config_dict(model=cfg, schedule=sched_cfg))
    ui.model_download(cfg)
