"""Live MLP training for the Score model page: a worker process trains, two slow fragments show its progress.

The trainer runs in a process of its own (:mod:`ridgeviz.app.train_worker`), started by a thread of this
session (a :class:`TrainingJob` in ``st.session_state``) once the server's queue gives it a slot
(:mod:`ridgeviz.app.admission`: one heavy job per session, a second Train press replaces the first). So the
trainer never shares the interpreter lock with the pages, and every rerun, the Cancel button's included,
returns at once. While it runs, a fragment redraws a progress bar once a second and another redraws the curves
(at most :data:`CURVE_POINTS` points each) every :data:`CURVE_SECONDS`; when the job ends the page adopts the model.

The estimate shown is the price of the run (:func:`ridgeviz.views.budget.training_cost`) at the rate measured on
this server by the last trainings, plus the worker's measured start-up; a run may hold its slot for at most
``RIDGEVIZ_TRAIN_SECONDS`` (default 120): longer requests are refused with the steps that fit, and a run that
overstays twice that is stopped (keeping the model so far). The form starts from ridgeviz's generalising recipe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from ..models.kinds import LOADED
from ..models.recipes import GENERALISING_ASSET, GENERALISING_RECIPE, recipe_config
from ..utils.limits import Cost, format_seconds
from ..utils.validation import Real, check
from ..views.budget import training_cost
from . import budget
from .admission import QUEUED, RUNNING, Busy, HeavyQueue, Ticket, describe_seconds
from .priority import heavy_nice
from .state import LOG, persistent

JOB, KIND, START_KIND = "mlp_job", "MLP training", "training start-up"
START_SECONDS = 3.0  # reference seconds for the worker's start (python, torch): calibrated by measured starts
PROGRESS_SECONDS, CURVE_SECONDS, CURVE_POINTS = 1.0, 5.0, 200
STOP_SECONDS = 15.0  # after a stop, the worker finishes its step and saves the model so far; then it is killed
ENV_TRAIN = "RIDGEVIZ_TRAIN_SECONDS"


def train_seconds_limit() -> float:
    """Seconds one training may hold a heavy slot (``RIDGEVIZ_TRAIN_SECONDS``, default 120)."""
    raw = os.environ.get(ENV_TRAIN, "").strip()
    try:
        value = float(raw) if raw else 120.0
    except ValueError:
        value = raw
    return check(ENV_TRAIN, value, Real(1, 86400))


def expected_seconds(q: HeavyQueue, cost: Cost) -> float:
    """Seconds a training priced ``cost`` should take here: start-up plus steps at the measured rate."""
    return q.calibration.seconds(START_KIND, START_SECONDS) + q.calibration.seconds(KIND, cost.seconds)


@dataclass
class TrainingJob:
    """One DSM run in a worker process, managed by a thread: its config, the curves so far, its ticket, outcome."""

    config: object  # a TrainConfig
    cost: Cost
    queue: HeavyQueue
    session: str
    cancel: threading.Event = field(default_factory=threading.Event)
    losses: list = field(default_factory=list)
    evals: dict = field(default_factory=lambda: {"steps": [], "normal": [], "tangential": []})
    ticket: Ticket | None = None
    result: dict | None = None
    model: object = None
    error: str = ""
    thread: threading.Thread | None = None
    collected: bool = False
    refused: bool = False  # the queue refused or withdrew it (its message says why)
    started: float | None = None  # when training (not start-up) began, time.monotonic()

    def stop(self) -> None:
        """Cancel: out of the queue at once if waiting; its slot freed at once and the worker told to stop."""
        self.cancel.set()
        if self.ticket is not None:
            self.queue.cancel(self.ticket, "cancelled on the page")

    def run(self, X: np.ndarray, schedule) -> None:
        try:
            self.ticket = self.queue.submit(self.session, KIND, "your MLP training", self.cost.seconds)
            if self.cancel.is_set():
                self.queue.cancel(self.ticket)
            self.queue.wait(self.ticket, budget.WAIT_SECONDS, poll=0.25)
            with tempfile.TemporaryDirectory(prefix="ridgeviz-train-") as tmp:
                self._train(Path(tmp), X, schedule)
        except Busy as exc:
            self.error, self.refused = str(exc), True
        except Exception as exc:  # noqa: BLE001 - reported on the page by collect()
            LOG.exception("MLP training failed")
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self.ticket is not None and self.ticket.state == RUNNING:
                self.queue.cancel(self.ticket, "ended")

    def _train(self, folder: Path, X: np.ndarray, schedule) -> None:
        np.save(folder / "data.npy", np.asarray(X, dtype=np.float64))
        (folder / "job.json").write_text(json.dumps({"schedule": schedule.to_dict(),
                                                     "config": dataclasses.asdict(self.config)}))
        heavy_nice()  # a bad RIDGEVIZ_HEAVY_NICE is reported here, in words, before a worker starts
        launched = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "ridgeviz.app.train_worker", str(folder)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                bufsize=1)
        watcher = threading.Thread(target=self._watch, args=(proc,), daemon=True)
        watcher.start()
        end = None
        for line in proc.stdout:
            msg = json.loads(line)
            if "ready" in msg:
                self.started = time.monotonic()
                self.queue.calibration.record(START_KIND, START_SECONDS, self.started - launched)
            elif "losses" in msg:
                self._progress(msg)
            elif "status" in msg:
                end = msg
        proc.wait()
        self.cancel.set()  # ends the watcher
        if end is None or end["status"] == "failed":
            self.error = (end or {}).get("message") or "the training process ended unexpectedly"
            return
        self._finish(folder, end)

    def _progress(self, msg: dict) -> None:
        self.losses.extend(msg["losses"])
        for step, normal, tangential in msg["evals"]:
            self.evals["steps"].append(step)
            self.evals["normal"].append(normal)
            self.evals["tangential"].append(tangential)
        self.queue.report(self.ticket, len(self.losses) / self.config.steps)

    def _watch(self, proc: subprocess.Popen) -> None:
        """Tell the worker to stop on Cancel or past twice the slot's time budget; kill it if it does not."""
        limit = 2 * train_seconds_limit()
        while proc.poll() is None:
            late = self.started is not None and time.monotonic() - self.started > limit
            if self.cancel.wait(0.2) or late:
                if late and not self.cancel.is_set():
                    LOG.warning("MLP training stopped at its time budget (%.0f s)", limit)
                with contextlib.suppress(OSError):  # the worker may have exited already
                    proc.stdin.write("stop\n")
                    proc.stdin.flush()
                try:
                    proc.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                return

    def _finish(self, folder: Path, end: dict) -> None:
        from ..models.checkpoints import load_model

        self.model = load_model(folder / "model.safetensors", "mlp")
        self.result = {**end, "losses": np.asarray(self.losses), "eval_steps": np.asarray(self.evals["steps"]),
                       "normal": np.asarray(self.evals["normal"]), "tangential": np.asarray(self.evals["tangential"])}
        steps = max(end["steps_done"], 1)
        if end["seconds"] > 0 and steps >= min(100, self.config.steps):  # the rate measured, cancelled runs too
            self.queue.calibration.record(KIND, self.cost.seconds * steps / self.config.steps, end["seconds"])

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


def train_form(max_dim: int, shape=(13, 2)):
    """The MLP's settings (started from ridgeviz's generalising recipe); a config when Train was pressed.

    ``shape``: the data's ``(N, D)``, for the estimate shown under the form (a run above the limits, or longer
    than a training may hold a slot, is refused with what to reduce).
    """
    import torch

    base = recipe_config(device="auto")
    st.caption(f"Defaults: ridgeviz's generalising recipe ({GENERALISING_RECIPE['hidden']} x "
               f"{GENERALISING_RECIPE['depth']}, x0 prediction, h_t² loss weight, {base.steps:,} steps): on the "
               "13-point set its samples are mostly new points on the ridge; much longer training or a wider "
               "network drive it toward copying the training points.")
    with st.form("mlp_form"):
        c = st.columns(5)
        hidden = persistent(c[0].number_input, "hidden width", "mlp_hidden", base.hidden, min_value=8, max_value=512)
        depth = persistent(c[1].number_input, "hidden layers", "mlp_depth", base.depth, min_value=1, max_value=6)
        prediction = persistent(c[2].selectbox, "prediction", "mlp_pred", base.prediction,
                                options=["epsilon", "x0", "score"])
        weighting = persistent(c[3].selectbox, "loss weight", "mlp_weight", base.weighting, options=["1", "h", "h2"],
                               format_func={"1": "1", "h": "h_t", "h2": "h_t²"}.get)
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        device = persistent(c[4].selectbox, "device", "mlp_device", "auto", options=devices)
        c = st.columns(5)
        steps = persistent(c[0].number_input, "steps", "mlp_steps", base.steps, min_value=10, max_value=50_000)
        batch = persistent(c[1].number_input, "batch size", "mlp_batch", base.batch_size, min_value=8, max_value=4096)
        lr = persistent(c[2].number_input, "learning rate", "mlp_lr", base.lr, min_value=1e-6, max_value=10.0,
                        format="%.1e")
        ema = persistent(c[3].number_input, "EMA decay (0: off)", "mlp_ema", float(base.ema), min_value=0.0,
                         max_value=0.9999, format="%.4f")
        seed = persistent(c[4].number_input, "seed", "mlp_seed", 0, min_value=0, max_value=2**31 - 1)
        pressed = st.form_submit_button("Train", type="primary")
    cfg = dataclasses.replace(base, hidden=int(hidden), depth=int(depth), prediction=prediction, weighting=weighting,
                              steps=int(steps), batch_size=int(batch), lr=float(lr), ema=float(ema), seed=int(seed),
                              device=device, eval_every=max(int(steps) // 20, 1), eval_times=8, probe_size=128,
                              ridge_dim=min(1, max_dim))
    cost = training_cost(shape, cfg)
    seconds, limit = expected_seconds(budget.heavy_queue(), cost), train_seconds_limit()
    measured = budget.heavy_queue().calibration.measured(KIND)
    st.caption(f"Training with these settings: {describe_seconds(seconds)} "
               + ("at the rate measured here" if measured else "(not yet measured on this server)")
               + f"; a training may run for {format_seconds(limit)}.")
    if not pressed:
        return None
    budget.require(cost, "Training with these settings", "the steps, the batch size, the width or the depth", KIND)
    if seconds > limit:
        train = budget.estimate(cost, KIND)
        fit = int(cfg.steps * (limit - (seconds - train)) / max(train, 1e-9))
        raise ValueError(f"Training {cfg.steps:,} steps with these settings would take {describe_seconds(seconds)} "
                         f"here; a training may hold a slot of this server for {format_seconds(limit)}, so at most "
                         f"about {max(fit, 0):,} steps fit. Reduce the steps, the batch size or the width.")
    return cfg


def start(X: np.ndarray, schedule, cfg) -> TrainingJob:
    """Start training (it queues for a slot); a job of this session still waiting or running is cancelled."""
    old = st.session_state.get(JOB)
    if old is not None:
        old.stop()
    job = TrainingJob(cfg, training_cost(X.shape, cfg), budget.heavy_queue(), budget.session_id())
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
    from .models import adopt_model

    job = st.session_state.get(JOB)
    if job is None or not job.done or job.collected:
        return
    job.collected = True
    if job.result is None:
        st.session_state["mlp_result"] = None
        if job.cancel.is_set() and not job.losses:
            st.info("Training was cancelled before it started.")
        else:
            st.error(job.error if job.refused else f"Training failed: {job.error}")
        return
    st.session_state["mlp_result"] = job.result
    r = job.result
    if r["status"] != "diverged":
        adopt_model("mlp", job.model, f"MLP ({r['steps_done']} steps, {r['status']})")


def shipped_recipe_button(X: np.ndarray, sched_cfg) -> None:
    """One click to the shipped model of the generalising recipe, where it was trained (13 points, OU)."""
    from . import models as md

    if not GENERALISING_ASSET.is_file():
        return
    model = md.load_shipped(str(GENERALISING_ASSET))
    if md.checkpoint_warnings(model, X, sched_cfg):
        return
    if st.button("Use the shipped model of this recipe (trained with seed 0; no waiting)", key="mlp_use_shipped"):
        md.adopt_model(LOADED, model, f"{GENERALISING_ASSET.name} (the generalising recipe, seed 0)")


def live_panel() -> None:
    """Progress (once a second) and the curves (every few seconds) with a Cancel button, while the job runs."""
    if running():
        st.fragment(_live_progress, run_every=PROGRESS_SECONDS)()
        st.fragment(_live_curves, run_every=CURVE_SECONDS)()


def _live_progress() -> None:
    job = st.session_state[JOB]
    if job.done:
        st.rerun()  # the whole page: collect() adopts the model
    q, t = job.queue, job.ticket
    if t is None or t.state == QUEUED:
        start = q.expected_start(t) if t is not None else 0.0
        own = "" if t is None or q.session_running(t.session) is None else " (after your own running computation)"
        st.info(f"Training is number {q.place(t) if t else 1} in line for this server's slots{own}; expected to "
                f"start in {describe_seconds(start)} and to be done in "
                f"{describe_seconds(start + expected_seconds(q, job.cost))}.")
    else:
        n, total = len(job.losses), job.config.steps
        text = "starting the training process" if job.started is None else f"training: step {n:,} / {total:,}"
        if n and job.started is not None:
            rate = n / max(time.monotonic() - job.started, 1e-9)
            text += f", loss {job.losses[-1]:.4g}, {rate:.0f} steps/s, {describe_seconds((total - n) / rate)} left"
        st.progress(min(n / total, 1.0), text=text)
    st.button("Cancel training", key="mlp_cancel", on_click=job.stop)


def _live_curves() -> None:
    job = st.session_state[JOB]
    _curves(job.losses, job.evals["steps"], job.evals["normal"], job.evals["tangential"], "live")


def thin(values, points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, means)`` of ``values`` in at most ``points`` equal bins (a loss curve the browser draws fast)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) <= points:
        return np.arange(1, len(v) + 1), v
    edges = np.linspace(0, len(v), points + 1).astype(int)
    return (edges[:-1] + edges[1:]) / 2 + 0.5, np.add.reduceat(v, edges[:-1]) / np.diff(edges)


def _curves(losses, eval_steps, normal, tangential, suffix: str) -> None:
    from ..viz import figures as viz
    from .figures import show

    c = st.columns(2)
    if len(losses):
        steps, loss = thin(losses)
        with c[0]:
            show(viz.curves_figure(steps, {"loss": loss}, x_title="step", log_x=False, log_y=True, height=280,
                                   title="DSM loss" + (f" (means over {len(losses) // len(steps)} steps)"
                                                       if len(steps) < len(losses) else "")),
                 f"mlp_loss_{suffix}", export="mlp_loss" if suffix == "final" else None)
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
