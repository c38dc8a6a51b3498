"""Figures and tables of the phase rule: the align and slide laws predicted against measured, the sensitivity of
the phase shares to the rule's thresholds, and the words for each colour. Arrays in, figure or rows out.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.vocabulary import PHASE_COLORS, PHASE_MEANINGS, PHASES

IDENTITY_COLOR = "#444444"
THRESHOLD_WORDS = {"default": "the rule as set", "tube": "tube floor", "tube_sigmas": "tube width in sqrt(h_t)",
                   "align_halflives": "align half-lives", "slide_ratio": "slide ratio", "gap_tol": "eigengap tolerance"}


def _ratio_text(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"


def law_figure(laws: dict, agreement: dict | None = None, height: int = 420) -> go.Figure:
    """Predicted (x) against measured (y) normal offset and tangential displacement, one point per sample-time.

    ``laws``: ``{"t", "normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured"}``, each
    ``(P,)`` (``RidgeLaws.points``); ``agreement``: ``RidgeLaws.agreement()`` for the panel titles. Points are
    coloured by log10 of the time; a dashed identity line marks agreement. Returns a two-panel figure.
    """
    agreement = agreement or {}
    titles = (f"align law: normal offset (measured / predicted RMS {_ratio_text(agreement.get('normal_rms_ratio'))})",
              f"slide law: displacement along the ridge (ratio {_ratio_text(agreement.get('tangential_mean_ratio'))})")
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.12)
    t = np.asarray(laws.get("t", []), dtype=np.float64)
    color = np.log10(t) if len(t) else t
    for col, key in ((1, "normal"), (2, "tangential")):
        x = np.asarray(laws.get(f"{key}_predicted", []), dtype=np.float32)
        y = np.asarray(laws.get(f"{key}_measured", []), dtype=np.float32)
        finite = np.concatenate([x, y])
        lo, hi = (float(np.nanmin(finite)), float(np.nanmax(finite))) if finite.size else (0.0, 1.0)
        lo = min(lo, 0.0)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = predicted",
                                 line=dict(color=IDENTITY_COLOR, dash="dash", width=1), showlegend=col == 1), 1, col)
        fig.add_trace(go.Scattergl(x=x, y=y, mode="markers", name=f"{key} (one point per sample and time)",
                                   showlegend=False, customdata=t,
                                   hovertemplate="t = %{customdata:.3g}<br>predicted %{x:.3g}<br>measured %{y:.3g}"
                                                 "<extra></extra>",
                                   marker=dict(size=4, opacity=0.6, color=color, colorscale="Viridis",
                                               showscale=col == 2, colorbar=dict(title="log10 t", len=0.8))),
                      1, col)
        fig.update_xaxes(title_text="predicted by the linearised law", row=1, col=col)
        fig.update_yaxes(title_text="measured", row=1, col=col)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=60, b=50),
                      legend=dict(orientation="h", x=0, y=-0.2))
    return fig


def sensitivity_rows(table: dict) -> list[dict]:
    """Rows for a table of phase shares (percent) with each threshold halved and doubled.

    ``table``: ``PhaseSensitivity.table()`` (``threshold``, ``factor``, ``value`` and one list per phase).
    """
    rows = []
    for i, name in enumerate(table.get("threshold", [])):
        value = table["value"][i]
        row = {"threshold": THRESHOLD_WORDS.get(name, name),
               "scaled by": "-" if name == "default" else f"x {table['factor'][i]:g}",
               "value": "-" if value is None or not np.isfinite(value) else f"{value:.3g}"}
        row.update({p: f"{100 * table[p][i]:.1f}%" for p in PHASES if p in table})
        rows.append(row)
    return rows


def phase_key_markdown() -> str:
    """One line per phase: a coloured square, the name and exactly what the colour encodes (Markdown)."""
    return "\n".join(f"- <span style='color:{PHASE_COLORS[p]}'>&#9632;</span> **{p}**: {PHASE_MEANINGS[p]}"
                     for p in PHASES)


def shares_text(shares: dict) -> str:
    """``{"reach": 0.07, ...}`` as ``"reach 7%, align 6%, ..."`` in the order of :data:`PHASES`."""
    return ", ".join(f"{p} {100 * shares[p]:.0f}%" for p in PHASES if p in shares)
