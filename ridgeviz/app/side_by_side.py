"""The home page's side-by-side view: the shipped result for the default pair, any other pair on request.

The default pair (:data:`ridgeviz.views.side_by_side.HOME`) is read from ``assets/side_by_side_home.npz`` when
that file was made from these settings and checkpoints by this code (:mod:`ridgeviz.app.shipped`), so opening the
home page loads no torch and computes nothing; its figure is built once per server. Another pair is computed on
Run (progress shown), in one of the server's heavy slots like every long computation, and kept for the server's
sessions.
"""

from __future__ import annotations

import functools

import streamlit as st

from ..utils.paths import ASSETS
from ..views import side_by_side as sbs
from ..viz.side_by_side import side_by_side_figure
from ..viz.style import present
from . import shipped
from .budget import in_slot
from .state import progress_callback

HOME_PATH = ASSETS / "side_by_side_home.npz"
FIGURE = dict(max_frames=80, max_points=400)  # what the browser gets: ~0.8 MB


@functools.cache
def _made_from(cfg: sbs.SideBySideConfig) -> dict:
    return sbs.made_from(cfg)  # reads the code's sources and both checkpoints: once per server and pair


def shipped_result(cfg: sbs.SideBySideConfig):
    """The shipped file's result when it answers ``cfg`` (the default pair), else None."""
    return shipped.current(HOME_PATH, sbs.SideBySide.from_npz, _made_from(cfg))


@st.cache_resource(show_spinner=False)
def shipped_pairs() -> dict:
    """:func:`ridgeviz.views.side_by_side.shipped_pairs`, read once per server (read-only)."""
    return sbs.shipped_pairs()


def result(cfg: sbs.SideBySideConfig) -> sbs.SideBySide:
    """The result for ``cfg``: the shipped file when it answers it (the default pair), else computed once per server
    (with progress)."""
    res = shipped_result(cfg)
    return res if res is not None else _computed(cfg)


def _computed(cfg):
    from .compute import shared_results

    def run():
        bar, callback = progress_callback("sampling both models from the same noise")
        try:
            return in_slot("the comparison", lambda: sbs.run_side_by_side(cfg, callback=callback))
        finally:
            bar.empty()

    return shared_results().get(("side-by-side", cfg), run)


def cost(cfg: sbs.SideBySideConfig):
    """The price of computing ``cfg`` (nothing for the shipped default pair)."""
    from ..utils.limits import Cost
    from ..views.budget import side_by_side_cost

    return Cost() if shipped_result(cfg) is not None else side_by_side_cost(cfg)


@st.cache_resource(show_spinner=False, max_entries=8)
def figure(cfg: sbs.SideBySideConfig, presentation: bool, _res=None):
    """The animated figure for ``cfg`` (built once per server and style; read-only)."""
    fig = side_by_side_figure(_res, sbs.CATEGORIES, **FIGURE)
    return present(fig, height=fig.layout.height, margin_scale=1.2) if presentation else fig  # fits 1280x720
