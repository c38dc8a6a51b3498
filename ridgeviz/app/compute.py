"""Cached computations: thin wrappers over the UI-free views, and the shipped precomputed results.

``st.cache_data`` holds arrays and results keyed by the data's content and frozen configs; models are passed as
``_model`` (not hashed; trained ones carry a per-session key in their config). The long computations, which
drive a progress bar made outside them, use a small LRU shared by the sessions of this server instead
(:func:`shared_results`). A shipped file answers a request only when it records the same inputs and code
(:mod:`ridgeviz.app.shipped`).
"""

from __future__ import annotations

import collections
import threading

import numpy as np
import streamlit as st

from ..core.schedules import ScheduleConfig
from ..models.factory import build_model
from ..utils.limits import Cost
from ..utils.paths import ASSETS
from ..utils.threads import configure_threads
from ..views import bandwidth as bw
from ..views import trajectories as tj
from ..views.budget import PROFILE_POINTS, PROFILE_TIMES
from ..viz.style import present
from . import shipped
from .budget import estimate, in_slot, waiting_for_another
from .io import data_key
from .state import progress_callback

configure_threads()  # one torch thread per process by default: see ridgeviz/utils/threads.py
DEMO_PATH = ASSETS / "demo_thirteen_ou.npz"
RF_SWEEP_PATH = ASSETS / "rf_sweep_two_points.npz"


class _Results:
    """A small thread-safe LRU of long computations, shared by the sessions of this server.

    One computation per key at a time: a session asking for a key that another session is computing waits for
    that result (its page shows a note and stays interruptible) instead of computing it again.
    """

    def __init__(self, size: int = 16):
        self.size, self.items, self.lock = size, collections.OrderedDict(), threading.Lock()
        self.flight: dict = {}

    def __contains__(self, key) -> bool:
        with self.lock:
            return key in self.items

    def get(self, key, compute):
        while True:
            with self.lock:
                if key in self.items:
                    self.items.move_to_end(key)
                    return self.items[key]
                done, mine = self.flight.get(key), False
                if done is None:
                    done, mine = self.flight.setdefault(key, threading.Event()), True
            if mine:
                return self._compute(key, compute, done)
            waiting_for_another(done)  # then look again: the other session's result, or our turn to compute

    def _compute(self, key, compute, done):
        try:
            value = compute()  # outside the lock: other sessions stay responsive
            with self.lock:
                self.items[key] = value
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
            return value
        finally:
            with self.lock:
                self.flight.pop(key, None)
            done.set()


@st.cache_resource(show_spinner=False)
def shared_results() -> _Results:
    """The LRU of long computations shared by the sessions of this server (side_by_side uses it too)."""
    return _Results()


# -- the live loop -----------------------------------------------------------------------------------------------
LIVE_SECONDS = 3.0  # a request predicted to take less than this here reruns by itself when a setting changes (the
# default 13 points, a few hundred particles and 100 steps take about 2 s on two busy cores: ridge tracing at every
# frame is most of it)


def live(kind: str, cost: Cost) -> bool:
    """Whether a changed setting reruns ``kind`` by itself (no Run): its time on this server (the price times the
    ratio measured over this server's recent runs of ``kind``, :func:`ridgeviz.app.budget.estimate`) is under
    :data:`LIVE_SECONDS`."""
    return estimate(cost, kind) <= LIVE_SECONDS


# -- trajectories -----------------------------------------------------------------------------------------------
def _trajectories(X, sched_cfg, traj_cfg, model_cfg, _model=None, _progress=None):
    return shared_results().get(("traj", data_key(X), sched_cfg, traj_cfg, model_cfg), lambda: in_slot(
        "the trajectories", lambda: tj.run_trajectories(X, sched_cfg, traj_cfg, _model, model_cfg, callback=_progress)))


def shipped_trajectories(X, sched_cfg, traj_cfg, model_cfg) -> tj.ExplorerResult | None:
    """The shipped precomputed result made from these inputs by this code (:mod:`ridgeviz.app.shipped`), or None."""
    return shipped.current(DEMO_PATH, tj.ExplorerResult.from_npz, tj.made_from(X, sched_cfg, traj_cfg, model_cfg))


def trajectories(X, sched_cfg, traj_cfg, model_cfg, model=None, progress=None) -> tj.ExplorerResult:
    """The Trajectories result: the shipped file when it answers these inputs, else computed (cached)."""
    res = shipped_trajectories(X, sched_cfg, traj_cfg, model_cfg)
    if res is not None:
        return res
    return _trajectories(X, sched_cfg, traj_cfg, model_cfg, _model=model, _progress=progress)


@st.cache_resource(show_spinner=False, max_entries=16)
def trajectory_figure(key, follow: int | None, frame: int, presentation: bool, _res=None):
    """The Trajectories animation of the result made for ``key`` (built once per server, view and style)."""
    from ..viz import figures as viz

    fig = viz.trajectory_figure(_res, follow=follow, frame=frame)
    return present(fig) if presentation else fig


def _long(key, label: str, compute):
    """``compute(progress_callback)`` once per server for ``key`` (LRU), with a progress bar while it runs here."""
    bars = []

    def run():
        bar, callback = progress_callback(label)
        bars.append(bar)
        return in_slot(label, lambda: compute(callback))  # at most RIDGEVIZ_MAX_HEAVY at once in this server

    try:
        return shared_results().get(key, run)
    finally:
        for bar in bars:
            bar.empty()


# -- data and bandwidth, model error ------------------------------------------------------------------------------
def _bandwidth_keys(X, sched_cfg: ScheduleConfig, dim: int, units: str) -> tuple:
    key = (data_key(X), sched_cfg, int(dim))
    return key, ("bw", *key), ("bw-fields", *key, units)


def bandwidth(X, sched_cfg: ScheduleConfig, dim: int, units: str, presentation: bool):
    """The Data and bandwidth page: ``(sweep, animated figure)``; computed once per dataset, schedule and d."""
    key, sweep_key, fields_key = _bandwidth_keys(X, sched_cfg, dim, units)
    sweep = _long(sweep_key, "tracing the ridge at every bandwidth (once per dataset and schedule)",
                  lambda cb: bw.bandwidth_sweep(X, sched_cfg.schedule(), int(dim), callback=cb))
    fields = _long(fields_key, "density and eigengap fields at every bandwidth",
                   lambda cb: bw.bandwidth_fields(X, sweep, int(dim), units, callback=cb))
    return sweep, _bandwidth_figure(key, units, presentation, _sweep=sweep, _fields=fields)


def bandwidth_ready(X, sched_cfg: ScheduleConfig, dim: int, units: str) -> bool:
    """Whether this server already holds :func:`bandwidth`'s result (showing it costs nothing, whatever the price)."""
    _, *keys = _bandwidth_keys(X, sched_cfg, dim, units)
    return all(k in shared_results() for k in keys)


@st.cache_resource(show_spinner=False, max_entries=8)
def _bandwidth_figure(key, units: str, presentation: bool, _sweep=None, _fields=None):
    from ..viz.bandwidth import bandwidth_animation

    fig = bandwidth_animation(_sweep, _fields, bw.schedule_curves(key[1].schedule()), bw.shown_geometry(_sweep, units),
                              active=bw.default_index(_sweep))
    return present(fig) if presentation else fig


def error_profile(X, sched_cfg, model_cfg, dim, _model=None) -> dict:
    """Mean normal / tangential / total error of the model against the exact score at 40 times (read-only)."""
    from ..core.density import SmoothedEmpirical

    def run():
        dens = SmoothedEmpirical(X, sched_cfg.schedule())
        model = build_model(model_cfg, dens, _model)
        times = np.geomspace(sched_cfg.schedule().t_min, sched_cfg.schedule().T, PROFILE_TIMES)
        return tj.error_profile(model, dens, times, dim, n=PROFILE_POINTS)

    return shared_results().get(_profile_key(X, sched_cfg, model_cfg, dim), lambda: in_slot("the error profile", run))


def _profile_key(X, sched_cfg, model_cfg, dim) -> tuple:
    return "profile", data_key(X), sched_cfg, model_cfg, int(dim)


def profile_ready(X, sched_cfg, model_cfg, dim) -> bool:
    """Whether this server already holds :func:`error_profile`'s result."""
    return _profile_key(X, sched_cfg, model_cfg, dim) in shared_results()


# -- random features ----------------------------------------------------------------------------------------------
def rf_models(X, sched_cfg, cfg) -> dict:
    """``{tau: RandomFeatureScore}``; shared read-only (keyed by the data's content and the configs)."""
    from ..views import random_features as rs

    return shared_results().get(("rf-models", data_key(X), sched_cfg, cfg),
                          lambda: in_slot("the random-feature fit", lambda: rs.fit_models(X, sched_cfg, cfg)))


def _rf_sweep(X, sched_cfg, cfg, _progress=None):
    from ..views import random_features as rs

    models = rf_models(X, sched_cfg, cfg)
    return shared_results().get(("rf", data_key(X), sched_cfg, cfg), lambda: in_slot(
        "the random-feature sweep", lambda: rs.rf_tau_sweep(X, sched_cfg, cfg, models, callback=_progress)))


def shipped_rf_sweep(X, sched_cfg, cfg):
    """The shipped sweep made from these inputs by this code (the authors' two points by default), or None."""
    from ..views import random_features as rs

    return shipped.current(RF_SWEEP_PATH, rs.RFSweep.from_npz, rs.made_from(X, sched_cfg, cfg))


def example_rf_sweep():
    """The shipped sweep on the authors' two points at the default settings (what the page shows before a Run on
    other data or settings), or None when the file does not answer that request."""
    from ..data.datasets import MODE_SETS
    from ..views import random_features as rs

    X = MODE_SETS["two-points"]
    return shipped.current(RF_SWEEP_PATH, rs.RFSweep.from_npz, rs.made_from(X, ScheduleConfig(), rs.RFConfig()))


def rf_sweep(X, sched_cfg, cfg, progress=None):
    """The Random features sweep: the shipped file when it answers these inputs, else computed (cached)."""
    sweep = shipped_rf_sweep(X, sched_cfg, cfg)
    return sweep if sweep is not None else _rf_sweep(X, sched_cfg, cfg, _progress=progress)
