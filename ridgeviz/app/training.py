"""Live MLP training for the Score model page: a background thread trains, a fragment shows its progress.

The trainer runs in a thread owned by this session (a :class:`TrainingJob` in ``st.session_state``), so the
page script never blocks and every rerun, the Cancel button's included, returns at once. The trainer's callback
only appends to plain lists and reads a ``threading.Event``: no Streamlit call happens off the script thread,
and Streamlit's own control flow is never intercepted. While the job runs, a fragment redraws the progress bar
and the live loss / error curves twice a second; when the job ends the page adopts the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from ..models.training import TrainConfig, TrainResult, train_mlp
from ..utils.threads import configure_threads
from ..viz import figures as viz
from .figures import show
from .models import adopt_model
from .state import LOG, persistent

configure_threads()
JOB = "mlp_job"
POLL_SECONDS = 0.5


@dataclass
class TrainingJob:
    """One DSM run in a background thread: its config, the curves so far, a cancel flag, the outcome."""

    config: TrainConfig
    cancel: threading.Event = field(default_factory=threading.Event)
    losses: list = field(default_factory=list)
    evals: dict = field(default_factory=lambda: {"steps": [], "normal": [], "tangential": []})
    result: TrainResult | None = None
    error: str = ""
    thread: threading.Thread | None = None
    collected: bool = False

    def callback(self, step: int, loss: float, info: dict) -> bool:
        """The trainer's per-step callback: record the curves; ``False`` (stop) once Cancel was pressed."""
        self.losses.append(float(loss))
        if "error_normal" in info:
            self.evals["steps"].append(step)
            self.evals["normal"].append(float(np.mean(info["error_normal"])))
            self.evals["tangential"].append(float(np.mean(info["error_tangential"])))
        return not self.cancel.is_set()

    def run(self, X: np.ndarray, schedule) -> None:
        try:
            self.result = train_mlp(X, schedule, self.config, callback=self.callback)
        except Exception as exc:  # noqa: BLE001 - reported on the page by collect()
            LOG.exception("MLP training failed")
            self.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


def train_form(max_dim: int) -> TrainConfig | None:
    """The MLP's settings (started from the library's tested defaults); a config when Train was pressed."""
    import torch

    base = TrainConfig()
    with st.form("mlp_form"):
        c = st.columns(5)
        hidden = persistent(c[0].number_input, "hidden width", "mlp_hidden", base.hidden, min_value=8, max_value=1024)
        depth = persistent(c[1].number_input, "hidden layers", "mlp_depth", base.depth, min_value=1, max_value=8)
        prediction = persistent(c[2].selectbox, "prediction", "mlp_pred", base.prediction,
                                options=["epsilon", "x0", "score"])
        weighting = persistent(c[3].selectbox, "loss weight", "mlp_weight", base.weighting, options=["1", "h", "h2"],
                               format_func={"1": "1", "h": "h_t", "h2": "h_t²"}.get)
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        device = persistent(c[4].selectbox, "device", "mlp_device", "auto", options=devices)
        c = st.columns(5)
        steps = persistent(c[0].number_input, "steps", "mlp_steps", base.steps, min_value=10, max_value=200_000)
        batch = persistent(c[1].number_input, "batch size", "mlp_batch", base.batch_size, min_value=8, max_value=8192)
        lr = persistent(c[2].number_input, "learning rate", "mlp_lr", base.lr, min_value=1e-6, max_value=10.0,
                        format="%.1e")
        ema = persistent(c[3].number_input, "EMA decay (0: off)", "mlp_ema", float(base.ema), min_value=0.0,
                         max_value=0.9999, format="%.4f")
        seed = persistent(c[4].number_input, "seed", "mlp_seed", 0, min_value=0, max_value=2**31 - 1)
        if not st.form_submit_button("Train", type="primary"):
            return None
    return TrainConfig(hidden=int(hidden), depth=int(depth), prediction=prediction, weighting=weighting,
                       steps=int(steps), batch_size=int(batch), lr=float(lr), ema=float(ema), seed=int(seed),
                       device=device, eval_every=max(int(steps) // 20, 1), ridge_dim=min(1, max_dim))


def start(X: np.ndarray, schedule, cfg: TrainConfig) -> TrainingJob:
    """Start training in a background thread of this session (a running job of the session is cancelled)."""
    old = st.session_state.get(JOB)
    if old is not None:
        old.cancel.set()
    job = TrainingJob(cfg)
    job.thread = threading.Thread(target=job.run, args=(np.array(X, copy=True), schedule), daemon=True,
                                  name="ridgeviz-mlp-training")
    st.session_state[JOB] = job
    job.thread.start()
    return job


def running() -> bool:
    job = st.session_state.get(JOB)
    return job is not None and not job.done


def collect() -> None:
    """Once a job has ended: keep its curves, adopt its model (unless it diverged), report its status."""
    job = st.session_state.get(JOB)
    if job is None or not job.done or job.collected:
        return
    job.collected = True
    if job.result is None:
        st.session_state["mlp_result"] = None
        st.error(f"Training failed: {job.error}")
        return
    r = job.result
    st.session_state["mlp_result"] = {
        "losses": r.losses, "eval_steps": r.eval_steps, "status": r.status, "message": r.message,
        "normal": r.error_normal.mean(1) if r.error_normal.size else [], "seconds": r.seconds, "device": r.device,
        "tangential": r.error_tangential.mean(1) if r.error_tangential.size else []}
    if r.status != "diverged":
        adopt_model("mlp", r.model, f"MLP ({r.steps_done} steps, {r.status})")


def live_panel() -> None:
    """Progress bar, live curves and a Cancel button, redrawn by a fragment while the job runs."""
    if running():
        st.fragment(_live, run_every=POLL_SECONDS)()


def _live() -> None:
    job = st.session_state[JOB]
    if job.done:
        st.rerun()  # the whole page: collect() adopts the model
    n, total = len(job.losses), job.config.steps
    st.progress(min(n / total, 1.0), text=f"training: step {n} / {total}" + (
        f", loss {job.losses[-1]:.4g}" if n else ""))
    st.button("Cancel training", key="mlp_cancel", on_click=job.cancel.set)
    _curves(job.losses, job.evals["steps"], job.evals["normal"], job.evals["tangential"], "live")


def _curves(losses, eval_steps, normal, tangential, suffix: str) -> None:
    c = st.columns(2)
    if len(losses):
        with c[0]:
            show(viz.curves_figure(np.arange(1, len(losses) + 1), {"loss": np.asarray(losses)}, x_title="step",
                                   log_x=False, log_y=True, height=280, title="DSM loss"), f"mlp_loss_{suffix}",
                 export="mlp_loss" if suffix == "final" else None)
    if len(eval_steps):
        with c[1]:
            show(viz.curves_figure(np.asarray(eval_steps), {"normal": np.asarray(normal),
                                                            "tangential": np.asarray(tangential)},
                                   x_title="step", log_x=False, height=280, title="mean error vs the exact score"),
                 f"mlp_err_{suffix}", export="mlp_error" if suffix == "final" else None)


def last_result() -> None:
    """The last run's status and curves (after it ended)."""
    last = st.session_state.get("mlp_result")
    if not last or running():
        return
    if last["status"] == "diverged":
        st.error(f"Training diverged: {last['message']}")
    elif last["status"] == "cancelled":
        st.warning(f"Training was cancelled ({last['message']}); the model so far is in use.")
    _curves(last["losses"], last["eval_steps"], last["normal"], last["tangential"], "final")
    st.caption(f"{len(last['losses'])} steps in {last['seconds']:.1f} s on {last['device']}.")
