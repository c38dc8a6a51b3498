"""Showing a figure: projector mode, the chart itself, and its export row (HTML, PNG, SVG, data, config).

Projector mode (the sidebar's toggle, the same on every page) enlarges fonts, markers and lines
(:func:`ridgeviz.viz.style.present`). Figures cached across reruns are styled once when they are built (the
cached builders take the flag); any other figure is styled here, in place.
"""

from __future__ import annotations

import streamlit as st

from ..viz.style import present
from .export import export_row
from .state import persistent

PRESENTATION = "presentation"
CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def presentation_toggle() -> None:
    """The sidebar's projector-mode switch (kept across pages)."""
    with st.sidebar:
        persistent(st.toggle, "Projector mode", PRESENTATION, False,
                   help="larger fonts, markers and lines for lecture halls and slides")


def presentation() -> bool:
    return bool(st.session_state.get(PRESENTATION, False))


def show(fig, key: str, *, styled: bool = False, export: str | None = None, csv: dict | None = None, npz=None,
         config: dict | None = None, still_frame: int | None = None, **chart_kwargs):
    """Draw ``fig`` (styled for projector mode unless ``styled``) and, when ``export`` names it, its export row.

    Returns what ``st.plotly_chart`` returns (the selection state when ``on_select`` is given).
    """
    if presentation() and not styled:
        present(fig)
    chart_kwargs.setdefault("config", CONFIG)
    chart_kwargs.setdefault("theme", None)  # the figures carry their own template; no restyling in the browser
    event = st.plotly_chart(fig, key=key, **chart_kwargs)
    if export:
        export_row(export, fig, csv=csv, npz=npz, config=config, still_frame=still_frame)
    return event
