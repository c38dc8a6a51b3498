"""Shared drawing helpers: colours, compact arrays, animation controls, the projector (presentation) style.

Imports only NumPy and Plotly, so figures built from shipped arrays (the home page) never load torch.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

TRAIL_COLOR = "rgba(90, 90, 90, 0.35)"
RIDGE_COLOR = "#7B3FA0"  # purple: distinct from the phase, outcome and quantity colours
DATA_COLOR = "#111111"
# The third colour set: quantities drawn as curves (errors, distances, schedule curves). Phases and outcomes have
# their own sets (ridgeviz.core.vocabulary); a curve never borrows one of their colours, so a colour keeps one
# meaning on every page (tests/test_viz.py checks that the three sets are apart).
QUANTITY_COLORS = {"normal": "#283593", "tangential": "#C51B8A", "distance": "#00796B", "memorising": "#C51B8A",
                   "ridge length": "#283593", "alpha": "#00796B", "sigma": "#827717", "bandwidth": "#37474F",
                   "samples": "#37474F", "inter-mode": "#827717"}
LINE_COLOR = QUANTITY_COLORS
# dash patterns: the normal and tangential curves differ in dash too, so they stay apart where they overlap
QUANTITY_DASH = {"normal": "solid", "tangential": "dash", "distance": "solid"}


def rgba(color: str, alpha: float) -> str:
    """``"#RRGGBB"`` with opacity ``alpha`` as a CSS ``rgba(...)`` string."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


BAND_FILL = {k: rgba(QUANTITY_COLORS[k], 0.15) for k in ("normal", "tangential", "distance")}
UNDEFINED_GREY = "#d9d9d9"
OUTCOME_RIDGE_COLOR = "rgba(60, 60, 60, 0.55)"  # the outcome rule's ridge at t* (dashed), as on the home page
PRESENTATION_SCALE = 1.6  # fonts, markers and lines in projector mode


def f32(a) -> np.ndarray:
    """A float array as float32 (NaN kept as a gap): Plotly sends it as a compact base64 typed array."""
    return np.asarray(a, dtype=np.float32)


def lines_xy(lines) -> tuple[np.ndarray, np.ndarray]:
    """Polylines ``[(n, 2), ...]`` as one x and one y float32 array separated by NaN."""
    if not len(lines):
        return f32([]), f32([])
    parts = []
    for line in lines:
        parts += [np.asarray(line, dtype=np.float64), np.full((1, 2), np.nan)]
    xy = np.vstack(parts)[:-1]
    return f32(xy[:, 0]), f32(xy[:, 1])


def ridge_trace(lines, name="ridge of p_t", color=RIDGE_COLOR, width=2.5, showlegend=True):
    """One Scatter trace drawing all ridge polylines (NaN-separated)."""
    x, y = lines_xy(lines)
    return go.Scatter(x=x, y=y, mode="lines", name=name, line=dict(color=color, width=width), showlegend=showlegend)


def data_trace(data, showlegend=True, size=8):
    """The training points ``(N, 2)`` as black crosses."""
    return go.Scatter(x=data[:, 0], y=data[:, 1], mode="markers", name="training points", showlegend=showlegend,
                      marker=dict(symbol="x", size=size, color=DATA_COLOR))


def axis_ranges(bounds) -> tuple[list, list]:
    """``(x0, x1, y0, y1)`` -> ``([x0, x1], [y0, y1])``."""
    return [bounds[0], bounds[1]], [bounds[2], bounds[3]]


def subsample(n: int, cap: int, keep=()) -> np.ndarray:
    """At most ``cap`` evenly spaced indices of ``range(n)`` (first and last kept), plus the indices ``keep``."""
    if n <= cap:
        return np.arange(n)
    idx = np.linspace(0, n - 1, cap).round().astype(int)
    return np.unique(np.concatenate([idx, np.asarray(list(keep), dtype=int)]))


def animation_controls(fig, labels, *, active: int = 0, frame_ms: int = 80, redraw: bool = False,
                       prefix: str = "t = ", buttons: bool = True, y: float = -0.04, readout: bool = True,
                       gap: int | None = None) -> None:
    """A Play/Pause pair and a slider with one step per frame (frames named ``"0"``, ``"1"``, ...).

    ``labels`` are the steps' tick labels (the frame's t, say): Plotly writes every n-th of them, n chosen so that
    they do not collide. ``readout``: the slider also writes ``prefix`` and the current step's label above itself
    (off where the figure writes the frame's time itself). ``y``: the slider's top in paper units, and ``gap`` the
    pixels between there and the slider (room for the axis labels above it; default 30 with the readout, else 8).
    Moving the slider or playing animates in the browser
    only (no server round trip). ``redraw`` must be True when frames change non-scatter traces (contours,
    heatmaps) or layout titles.
    """
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": redraw}, "transition": {"duration": 0}}
    play = {"frame": {"duration": frame_ms, "redraw": redraw}, "fromcurrent": True, "transition": {"duration": 0},
            "mode": "immediate"}
    gap = (30 if readout else 8) if gap is None else gap
    menus = [dict(type="buttons", direction="left", showactive=False, x=0.0, y=y, xanchor="left",
                  yanchor="top", pad=dict(r=8, t=gap - 4 if gap > 8 else 4),
                  buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                           dict(label="❚❚", method="animate", args=[[None], still])])] if buttons else []
    fig.update_layout(
        updatemenus=menus,
        sliders=[dict(active=active, x=0.2 if buttons else 0.0, len=0.8 if buttons else 1.0, y=y, yanchor="top",
                      pad=dict(t=gap, b=10),
                      currentvalue=dict(prefix=prefix, visible=readout, xanchor="right",
                                        font=dict(size=13, color="#222")),
                      font=dict(color="#444444"), minorticklen=0,
                      steps=[dict(method="animate", label=str(label), args=[[str(i)], still])
                             for i, label in enumerate(labels)])])


def stamp_trace(x: float, y: float, text: str = "") -> go.Scatter:
    """A text trace at data position ``(x, y)`` (its upper-left corner: text above and to the right) whose frames set
    ``text`` to the frame's time: Plotly redraws a text trace in a scatter-only animation, not a layout title, so
    the time shows on screen and in a still exported from any frame. Its font is the figure's (projector mode
    scales it)."""
    return go.Scatter(x=[x], y=[y], mode="text", text=[text], textposition="top right", cliponaxis=False,
                      showlegend=False, hoverinfo="skip", name="time", textfont=dict(color="#222222"))


def present(fig, scale: float = PRESENTATION_SCALE, height: int | None = None, margin_scale: float | None = None):
    """Projector style, in place: fonts, marker sizes and line widths times ``scale``; returns ``fig``.

    Applied to the base traces and layout (frames carry data, not sizes, so the animation keeps the style). The
    margins grow with the text that sits in them (titles, subplot titles, legends, sliders), by ``margin_scale``
    (default ``scale``: enough whatever the margin holds), so larger text does not spill out of the figure; the
    height grows by at most a quarter, or is ``height`` when given (a page that must fit one screen).
    """
    base = fig.layout.font.size or 12
    fig.update_layout(font=dict(size=round(base * scale)))
    for ann in fig.layout.annotations or ():
        ann.font.size = round((ann.font.size or base) * scale)
    for slider in fig.layout.sliders or ():
        slider.currentvalue.font.size = round((slider.currentvalue.font.size or 13) * scale)
    if fig.layout.title.font.size:
        fig.layout.title.font.size = round(fig.layout.title.font.size * scale)
    if fig.layout.legend.font.size:
        fig.layout.legend.font.size = round(fig.layout.legend.font.size * scale)
    margin = fig.layout.margin
    for side in ("t", "b", "l", "r"):
        if getattr(margin, side) is not None:
            setattr(margin, side, round(getattr(margin, side) * (margin_scale or scale)))
    for trace in fig.data:
        marker, line = getattr(trace, "marker", None), getattr(trace, "line", None)
        if isinstance(getattr(marker, "size", None), (int, float)):  # bars and histograms have no marker size
            marker.size = marker.size * scale
        if isinstance(getattr(line, "width", None), (int, float)):
            line.width = line.width * scale
    if height is not None:
        fig.layout.height = height
    elif fig.layout.height:
        fig.layout.height = round(fig.layout.height * min(scale, 1.25))
    return fig
