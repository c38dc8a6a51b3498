"""Showing a figure: projector mode, the chart itself, and its export row (HTML, PNG, SVG, data, config).

Projector mode (the sidebar's toggle, the same on every page, kept in the link as ``projector=1``) enlarges fonts,
markers and lines of figures (:func:`ridgeviz.viz.style.present`) and, through CSS the frame injects once per run,
the prose, captions, headings, buttons and widget labels. Figures cached across reruns are styled once when they are
built (the cached builders take the flag); any other figure is styled here, in place.

A cached figure is also read-only, so its plotly dict (``Figure.to_dict``, which copies every array and encodes it
for the browser: ~0.1 s of the server's CPU for the home page's animation) is made once per server and reused by
every session (:func:`prepared`).
"""

from __future__ import annotations

import plotly.graph_objects as go
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


class _Prepared(go.Figure):
    """An empty figure that hands ``st.plotly_chart`` a dict made earlier (what it asks a figure for)."""

    def __init__(self, spec: dict):
        super().__init__()
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


def prepared(fig: go.Figure) -> go.Figure:
    """``fig`` for ``st.plotly_chart`` with its dict made once (kept on the figure): for cached, read-only
    figures only; a figure changed after its first showing would keep showing its old dict."""
    spec = getattr(fig, "_ridgeviz_spec", None)
    if spec is None:
        spec = fig.to_dict()
        fig._ridgeviz_spec = spec  # plotly allows private attributes on a figure
    return _Prepared(spec)


def show(fig, key: str, *, styled: bool = False, export: str | None = None, csv: dict | None = None, npz=None,
         config: dict | None = None, still_frame: int | None = None, **chart_kwargs):
    """Draw ``fig`` and, when ``export`` names it, its export row.

    ``styled``: ``fig`` comes from a cached builder (styled for projector mode there, read-only, its dict made once
    per server); otherwise it is styled here for projector mode, in place.

    Returns what ``st.plotly_chart`` returns (the selection state when ``on_select`` is given).
    """
    if presentation() and not styled:
        present(fig)
    chart_kwargs.setdefault("config", CONFIG)
    chart_kwargs.setdefault("theme", None)  # the figures carry their own template; no restyling in the browser
    event = st.plotly_chart(prepared(fig) if styled else fig, key=key, **chart_kwargs)
    if export:
        export_row(export, fig, csv=csv, npz=npz, config=config, still_frame=still_frame)
    return event
