"""Two score models animated in lockstep: one slider and one Play button drive both panels in the browser.

Particles keep one colour for the whole animation, their final category (copy / new on ridge / new off ridge /
ridge undefined), so
a viewer can watch where each group comes from; frames carry positions and the moving ridge only. Imports no
torch (the home page draws the shipped result with NumPy and Plotly alone).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.vocabulary import OUTCOME_COLORS
from .style import RIDGE_COLOR, animation_controls, axis_ranges, data_trace, f32, lines_xy, subsample

CATEGORY_COLORS = OUTCOME_COLORS
EVAL_RIDGE_COLOR = "rgba(60, 60, 60, 0.45)"


def category_colorscale(names) -> list:
    """Discrete colourscale for integer codes 0..len(names)-1 (use cmin=-0.5, cmax=len(names)-0.5)."""
    n = len(names)
    scale = []
    for i, name in enumerate(names):
        scale += [[i / n, CATEGORY_COLORS[name]], [(i + 1) / n, CATEGORY_COLORS[name]]]
    return scale


def _percent(f: float) -> str:
    return "<1%" if 0 < f < 0.005 else ">99%" if 0.995 <= f < 1 else f"{100 * f:.0f}%"


def panel_title(name: str, fractions, categories) -> str:
    """``name`` over its category fractions, two per line (one line is wider than a panel), e.g.
    ``copies 6% · new on ridge 44%<br>new off ridge 28% · ridge undefined 22%``."""
    parts = [f"{'copies' if c == 'copy' else c} {_percent(float(f))}" for c, f in zip(categories, fractions)]
    lines = [" · ".join(parts[i:i + 2]) for i in range(0, len(parts), 2)]
    return "<br>".join([f"<b>{name}</b>", *lines])


def side_by_side_figure(res, categories, *, max_frames: int = 100, max_points: int = 512, frame_ms: int = 80,
                        height: int = 620) -> go.Figure:
    """The two panels of a :class:`ridgeviz.views.side_by_side.SideBySide` result, animated together.

    ``res``: times (F,), xs (2, F, M, 2), category (2, M), fractions (2, C), ridges (F lists), eval_ridge,
    b_eval, data (N, 2), bounds, names; ``categories``: the C category names. At most ``max_frames`` frames
    and ``max_points`` particles per panel are drawn (the same particles in both panels).
    """
    F, M = res.xs.shape[1], res.xs.shape[2]
    pick_f = subsample(F, max_frames)
    pick_p = subsample(M, max_points)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06,
                        subplot_titles=[panel_title(n, fr, categories) for n, fr in zip(res.names, res.fractions)])
    for col in (1, 2):
        x, y = lines_xy(res.eval_ridge)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"ridge at b = {res.b_eval:.2g} (the counts' ridge)",
                                 showlegend=col == 1, hoverinfo="skip",
                                 line=dict(color=EVAL_RIDGE_COLOR, width=1.5, dash="dash")), 1, col)
        fig.add_trace(data_trace(res.data, showlegend=col == 1, size=10), 1, col)
    for name in categories:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(size=9, color=CATEGORY_COLORS[name])), 1, 1)
    moving = []
    for j, col in enumerate((1, 2)):
        moving.append(len(fig.data))
        fig.add_trace(go.Scatter(mode="lines", name="ridge of p_t", showlegend=col == 1, hoverinfo="skip",
                                 line=dict(color=RIDGE_COLOR, width=2.5)), 1, col)
        moving.append(len(fig.data))
        fig.add_trace(go.Scatter(mode="markers", name=res.names[j], showlegend=False, hoverinfo="skip",
                                 marker=dict(size=5, color=res.category[j, pick_p], cmin=-0.5,
                                             cmax=len(categories) - 0.5, colorscale=category_colorscale(categories),
                                             line=dict(width=0))), 1, col)
    frames = [_frame(res, f, pick_p) for f in pick_f]
    for idx, trace in zip(moving, frames[0]):
        fig.data[idx].update({k: v for k, v in trace.items() if k != "type"})
    fig.frames = [go.Frame(name=str(i), data=d, traces=moving) for i, d in enumerate(frames)]
    animation_controls(fig, [f"{t:.3g}" for t in res.times[pick_f]], frame_ms=frame_ms)
    x, y = axis_ranges(res.bounds)
    for col in (1, 2):
        fig.update_xaxes(range=x, row=1, col=col)
        fig.update_yaxes(range=y, row=1, col=col, scaleanchor="x" if col == 1 else "x2", scaleratio=1)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=40, r=20, t=104, b=150),
                      legend=dict(orientation="h", x=0, y=-0.3, yanchor="top"), uirevision="side-by-side")
    return fig


def _frame(res, f: int, points: np.ndarray) -> list[dict]:
    rx, ry = lines_xy(res.ridges[f])
    out = []
    for j in (0, 1):
        pos = res.xs[j, f, points]
        out += [dict(type="scatter", x=rx, y=ry), dict(type="scatter", x=f32(pos[:, 0]), y=f32(pos[:, 1]))]
    return out
