"""Showing a figure: projector mode, the chart itself, and its export row (HTML, PNG, SVG, data, config).

Projector mode (the sidebar's toggle, the same on every page, kept in the link as ``projector=1``) enlarges fonts,
markers and lines of figures (:func:`ridgeviz.viz.style.present`) and, through CSS the frame injects once per run,
the prose, captions, headings, buttons and widget labels. Figures cached across reruns are styled once when they are
built (the cached builders take the flag); any other figure is styled here, in place.
"""

from __future__ import annotations

import streamlit as st

from ..viz.style import present
from .export import export_row
from .links import PRESENTATION, write_projector
from .state import persistent

# projector mode's type sizes for what is not a figure (Streamlit's own elements, by their test ids)
PROJECTOR_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li
  { font-size: 1.3rem; line-height: 1.45; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.12rem; }
[data-testid="stWidgetLabel"] p, [data-testid="stWidgetLabel"] label { font-size: 1.15rem; }
[data-testid^="stBaseButton"] p, [data-testid="stExpander"] summary p { font-size: 1.15rem; }
[data-testid="stSidebarNavLink"] span { font-size: 1.1rem; }
[data-testid="stHeading"] h1 { font-size: 2.4rem; }
[data-testid="stHeading"] h2, [data-testid="stHeading"] h3 { font-size: 1.9rem; }
</style>"""
CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def presentation_toggle() -> None:
    """The sidebar's projector-mode switch (kept across pages and in the link) and, when on, its CSS."""
    with st.sidebar:
        on = persistent(st.toggle, "Projector mode", PRESENTATION, False,
                        help="larger fonts, markers and lines for lecture halls and slides (kept in the link)")
    write_projector(bool(on))
    if on:
        st.html(PROJECTOR_CSS)


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
