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
SHORT = {"copy": "copies", "new on ridge": "on ridge", "new off ridge": "off ridge", "ridge undefined": "undefined"}
NAME_LINE = 24  # characters of a model's name on one line of a panel title
TITLE_SIZE = 12  # panel titles (four or five lines): smaller than Plotly's 16, so two fit side by side


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
    """``name`` (a long one broken before its parenthesis) over its category fractions, two per line (one line is
    wider than a panel) in short words (the legend has the long ones), e.g. ``<b>MLP score network</b><br>
    <b>(generalising recipe)</b><br>copies 6% · on ridge 44%<br>off ridge 28% · undefined 22%``."""
    parts = [f"{SHORT.get(c, c)} {_percent(float(f))}" for c, f in zip(categories, fractions)]
    lines = [" · ".join(parts[i:i + 2]) for i in range(0, len(parts), 2)]
    head = name.split(" (", 1) if len(name) > NAME_LINE and " (" in name else [name]
    if len(head) == 2:
        head[1] = "(" + head[1]
    return "<br>".join([f"<b>{h}</b>" for h in head] + lines)


def side_by_side_figure(res, categories, *, max_frames: int = 100, max_points: int = 512, frame_ms: int = 80,
                        height: int = 460) -> go.Figure:
    """The two panels of a :class:`ridgeviz.views.side_by_side.SideBySide` result, animated together.

    ``res``: times (F,), xs (2, F, M, 2), category (2, M), fractions (2, C), ridges (F lists), eval_ridge,
    b_eval, data (N, 2), bounds, names; ``categories``: the C category names. At most ``max_frames`` frames
    and ``max_points`` particles per panel are drawn (the same particles in both panels). The legend stands right
    of the panels and the Play button under them, so at ``height`` 460 the whole figure fits a 1280x720 screen
    under the page's title.
    """
    F, M = res.xs.shape[1], res.xs.shape[2]
    pick_f = subsample(F, max_frames)
    pick_p = subsample(M, max_points)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=[panel_title(n, fr, categories) for n, fr in zip(res.names, res.fractions)])
    for ann in fig.layout.annotations:
        ann.font.size = TITLE_SIZE
    t_star = res.config.get("t_ridge")
    for col in (1, 2):
        x, y = lines_xy(res.eval_ridge)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"ridge at t* = {t_star:.2g}" if t_star else
                                 f"ridge at b = {res.b_eval:.2g}",
                                 showlegend=col == 1, hoverinfo="skip",
                                 line=dict(color=EVAL_RIDGE_COLOR, width=1.5, dash="dash")), 1, col)
        fig.add_trace(data_trace(res.data, showlegend=col == 1, size=10), 1, col)
    for name in categories:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(size=9, color=CATEGORY_COLORS[name])), 1, 1)
    # a legend entry of its own: the moving ridge is empty at the frames where p_t has none
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="ridge of p_t",
                             line=dict(color=RIDGE_COLOR, width=2.5)), 1, 1)
    moving = []
    for j, col in enumerate((1, 2)):
        moving.append(len(fig.data))
        fig.add_trace(go.Scatter(mode="lines", name="ridge of p_t", showlegend=False, hoverinfo="skip",
                                 line=dict(color=RIDGE_COLOR, width=2.5)), 1, col)
        moving.append(len(fig.data))
        fig.add_trace(go.Scatter(mode="markers", name=res.names[j], showlegend=False, hoverinfo="skip",
                                 marker=dict(size=5, color=res.category[j, pick_p], cmin=-0.5,
                                             cmax=len(categories) - 0.5, colorscale=category_colorscale(categories),
                                             line=dict(width=0))), 1, col)
    frames = [_frame(res, f, pick_p) for f in pick_f]
    last = len(frames) - 1  # it opens on the outcome; Play runs it from the noise
    for idx, trace in zip(moving, frames[last]):
        fig.data[idx].update({k: v for k, v in trace.items() if k != "type"})
    fig.frames = [go.Frame(name=str(i), data=d, traces=moving) for i, d in enumerate(frames)]
    animation_controls(fig, [f"{t:.3g}" for t in res.times[pick_f]], frame_ms=frame_ms, active=last)
    x, y = axis_ranges(res.bounds)
    for col in (1, 2):
        fig.update_xaxes(range=x, row=1, col=col, showticklabels=False)  # positions carry no message here
        fig.update_yaxes(range=y, row=1, col=col, scaleanchor="x" if col == 1 else "x2", scaleratio=1,
                         showticklabels=False)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=30, r=10, t=90, b=70),
                      legend=dict(x=1.02, y=1, xanchor="left", yanchor="top"), uirevision="side-by-side")
    return fig


def _frame(res, f: int, points: np.ndarray) -> list[dict]:
    rx, ry = lines_xy(res.ridges[f])
    out = []
    for j in (0, 1):
        pos = res.xs[j, f, points]
        out += [dict(type="scatter", x=rx, y=ry), dict(type="scatter", x=f32(pos[:, 0]), y=f32(pos[:, 1]))]
    return out
