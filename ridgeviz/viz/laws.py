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
# the predictors of ridgeviz.core.law_fit, as the figure names them
PREDICTOR_WORDS = {"law": "law", "without error": "no error term", "baseline": "baseline"}
# title, fitted baseline, x and y axis titles (short: the panels stand one above the other on a projector)
PANELS = {"normal": ("Align law: distance to the ridge", "c\u221ah_t", "predicted distance", "measured distance"),
          "tangential": ("Slide law: displacement along the ridge (exact pull + error)",
                         "c(\u221ah_start \u2212 \u221ah_t)", "predicted displacement",
                         "measured displacement")}


def _num(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"


def _r2_lines(part: dict | None, baseline: str) -> str:
    """Two title lines: median per-sample R^2 and pooled R^2 of the law, the law without error and the baseline."""
    if not part:
        return "R\u00b2 not computed"

    def get(pred: str, stat: str):
        return (part.get(pred) or {}).get(stat)

    median = ", ".join(f"{PREDICTOR_WORDS[p]} {_num(get(p, 'median'))}" for p in PREDICTOR_WORDS)
    pooled = ", ".join(f"{_num(get(p, 'pooled'))}" for p in PREDICTOR_WORDS)
    ceiling = get("noise ceiling", "pooled")
    below = ceiling is not None and np.isfinite(ceiling) and ceiling < 0.995  # only the SDE's noise lowers it
    tail = f"; noise ceiling {_num(ceiling)}" if below else ""
    return f"R\u00b2 per sample (median): {median}<br>pooled: {pooled} (baseline {baseline}){tail}"


def law_figure(laws: dict, agreement: dict | None = None, height: int = 900, title: str | None = None) -> go.Figure:
    """Predicted (x) against measured (y) distance to the ridge and displacement along it, one point per
    sample-time, with the identity line and R^2 in the panel titles.

    ``laws``: ``{"t", "normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured"}``, each
    ``(P,)`` (``RidgeLaws.points``); ``agreement``: ``RidgeLaws.agreement()`` (its ``normal`` and ``tangential``
    R^2 entries and ``error_share``). R^2 = 1 - SS_res / SS_tot about the measured mean (1: exact, 0: no better
    than the mean, negative: worse), per sample (median over samples) and pooled. Points are coloured by log10 t.
    The two panels are stacked, so each title has the figure's width (it stays whole on a 1280-pixel projector).
    """
    agreement = agreement or {}
    share = agreement.get("error_share")
    titles = [f"<b>{PANELS[k][0]}</b><br>{_r2_lines(agreement.get(k), PANELS[k][1])}" for k in PANELS]
    if share is not None and np.isfinite(share):
        titles[1] += f"<br>the error drives {100 * share:.0f}% of the predicted motion"
    fig = make_subplots(rows=2, cols=1, subplot_titles=titles, vertical_spacing=0.24)
    t = np.asarray(laws.get("t", []), dtype=np.float64)
    color = np.log10(t) if len(t) else t
    for row, key in ((1, "normal"), (2, "tangential")):
        x = np.asarray(laws.get(f"{key}_predicted", []), dtype=np.float32)
        y = np.asarray(laws.get(f"{key}_measured", []), dtype=np.float32)
        both = np.concatenate([x, y])
        both = both[np.isfinite(both)]
        lo, hi = (min(float(both.min()), 0.0), float(both.max())) if both.size else (0.0, 1.0)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = predicted",
                                 line=dict(color=IDENTITY_COLOR, dash="dash", width=1), showlegend=row == 1), row, 1)
        fig.add_trace(go.Scattergl(x=x, y=y, mode="markers", name=f"{key} (one point per sample and time)",
                                   showlegend=False, customdata=t,
                                   hovertemplate="t = %{customdata:.3g}<br>predicted %{x:.3g}<br>measured %{y:.3g}"
                                                 "<extra></extra>",
                                   marker=dict(size=4, opacity=0.6, color=color, colorscale="Viridis",
                                               showscale=row == 1,
                                               colorbar=dict(title=dict(text="log10 t", side="right"), len=0.35,
                                                             y=1.0, yanchor="top"))),
                      row, 1)
        fig.update_xaxes(title_text=PANELS[key][2], row=row, col=1)
        fig.update_yaxes(title_text=PANELS[key][3], row=row, col=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=70, r=20, t=170 if title else 130, b=60),
                      legend=dict(x=0.01, y=1.0, xanchor="left", yanchor="top", bgcolor="rgba(255,255,255,0.7)"),
                      title=dict(text=title, x=0.01, y=0.99, yanchor="top") if title else None)
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
