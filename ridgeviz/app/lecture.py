"""The lecture page's state and caches: the step in the link, the shipped file, one figure per step and style.

The step lives in the link (``Lecture?step=3``) and in the session, so a reload or a shared link opens the same
step and leaving the page keeps it. The lecture's file (:mod:`ridgeviz.views.lecture`) is read once per server when
it answers :data:`~ridgeviz.views.lecture.LECTURE` (:mod:`ridgeviz.app.shipped`), so opening a step loads no torch;
a stale or missing file is recomputed once per server (about a minute). Each step's figure is built once per server
and style.
"""

from __future__ import annotations

import streamlit as st

from ..views import lecture as lv
from ..viz.lecture import lecture_figure
from . import shipped
from .figures import presentation
from .links import page_url
from .state import progress_callback

STEP = "lecture_step"


def current_step() -> int:
    """The 1-based step shown: the link's, else this session's last, else 1; the link is kept in step."""
    step = lv.step_index(st.query_params.get("step"), st.session_state.get(STEP, 1))
    st.session_state[STEP] = step
    if st.query_params.get("step") != str(step):
        st.query_params["step"] = str(step)
    return step


def go(delta: int) -> None:
    """Button callback: move ``delta`` steps (within the lecture) and write the step into the link."""
    step = min(max(st.session_state.get(STEP, 1) + delta, 1), len(lv.STEPS))
    st.session_state[STEP] = step
    st.query_params["step"] = str(step)


def lecture() -> lv.Lecture:
    """The lecture's arrays: the shipped file when it answers this code and settings, else computed once."""
    res = shipped.current(lv.PATH, lv.Lecture.from_npz, lv.made_from(lv.LECTURE))
    return res if res is not None else _computed()


def _computed() -> lv.Lecture:
    from ..views.lecture_build import build_lecture
    from .compute import shared_results

    def run():
        bar, callback = progress_callback("computing the lecture (the shipped file is out of date)")
        try:
            return build_lecture(lv.LECTURE, callback=callback)
        finally:
            bar.empty()

    return shared_results().get(("lecture", lv.LECTURE), run)


@st.cache_resource(show_spinner=False, max_entries=32)
def figure(key: str, projector: bool, _lec=None):
    """The figure of step ``key`` (built once per server and style; read-only)."""
    return lecture_figure(_lec, key, projector)


def full_page_link(step: lv.Step) -> str:
    """The link that opens the step's full page with the lecture's data, schedule and model."""
    return page_url(step.page, {"kind": "preset", "set": lv.LECTURE.dataset, **step.model},
                    projector=presentation())
