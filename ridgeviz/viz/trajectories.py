"""The Trajectories animation: particles coloured by phase, ending on the outcome, beside their lengths and phases.

Frames follow the habits of the other animations (SVG ``scatter`` only, fixed axis ranges, static layers drawn
once, frames that carry only the moving traces as float32 arrays, capped frames and points). What the picture says:

- during the run each particle has its **phase colour** (:data:`ridgeviz.core.vocabulary.PHASE_COLORS`); the
  **last frame** colours every sample by its **outcome** (copy / new on ridge / new off ridge / ridge undefined:
  :mod:`ridgeviz.core.outcomes`) over the outcome rule's ridge at ``t*`` in data units, as the home page does. At
  ``t_min`` the ridge is undefined around isolated points, so the phases end grey exactly where the result is;
  the outcome frame shows the result;
- the right-hand panel draws **lengths** on a log axis: the distance to the ridge and the score error as a length,
  ``h_t |e|`` (``= alpha_t |D_theta - D|``: how far the model's denoised point is off). The error itself grows like
  ``1 / h_t`` as t -> 0 (the MLP's tangential error reaches ~300 near ``t_min``) and would flatten every other
  curve; as a length it stays of the order of the distance to the ridge, and the align law says the normal offset
  settles near ``h_t |e_perp|``;
- a followed particle's path is drawn in its phase colours, segment by segment;
- the frame's time is written above the particles by a text trace (a scatter-only animation does not redraw
  layout titles), so the picture and its PNG/SVG export carry it.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.vocabulary import CATEGORIES, OUTCOME_COLORS, OUTCOME_MEANINGS, PHASE_COLORS, PHASES
from .style import (
    BAND_FILL,
    DATA_COLOR,
    LINE_COLOR,
    OUTCOME_RIDGE_COLOR,
    QUANTITY_DASH,
    RIDGE_COLOR,
    TRAIL_COLOR,
    animation_controls,
    axis_ranges,
    f32,
    lines_xy,
    stamp_trace,
    subsample,
)


def code_colorscale(names, colors) -> list:
    """Discrete colourscale for integer codes ``0..n-1`` (with ``cmin=-0.5, cmax=n-0.5``): code i -> colour of i."""
    n = len(names)
    scale = []
    for i, name in enumerate(names):
        scale += [[i / n, colors[name]], [(i + 1) / n, colors[name]]]
    return scale


def phase_colorscale() -> list:
    """The phase codes' colourscale (:data:`PHASE_COLORS`)."""
    return code_colorscale(PHASES, PHASE_COLORS)


def _trail_xy(xs: np.ndarray, frames: np.ndarray, f: int, trail: int, points: np.ndarray):
    """Each particle's last ``trail`` frame positions joined into segments separated by NaN."""
    steps = frames[np.clip(np.arange(f - trail, f + 1), 0, None)]
    seg = xs[steps][:, points].transpose(1, 0, 2)  # (M, trail+1, 2)
    seg = np.concatenate([seg, np.full((seg.shape[0], 1, 2), np.nan)], axis=1).reshape(-1, 2)[:-1]
    return f32(seg[:, 0]), f32(seg[:, 1])


LENGTH_NOTE = ("The error is drawn as a length, h_t·|e| (= α_t·|D_θ − D|, how far the model's denoised point is "
               "off): the error itself grows like 1/h_t as t → 0 and would flatten every other curve; as a length "
               "it stays of the order of the distance to the ridge, near which the align law puts the normal "
               "offset (about h_t·|e_⊥|).")
MAX_FRAMES = 100


def frame_count(res, max_frames: int = MAX_FRAMES) -> int:
    """How many frames (slider steps) :func:`trajectory_figure` draws for ``res``: the phase frames, then the
    outcome's when the result has one."""
    return min(len(res.frames), max_frames) + _has_outcome(res)


def outcome_text(outcome: dict) -> str:
    """``"copies 25% · new on ridge 51% · new off ridge 21% · ridge undefined 3%"`` from ``ExplorerResult.outcome``."""
    shares = (outcome or {}).get("fractions") or {}
    return " · ".join(f"{'copies' if k == 'copy' else k} {100 * float(v):.0f}%" for k, v in shares.items()
                      if v is not None)


def outcome_key_markdown() -> str:
    """One line per outcome colour: its swatch, name and meaning (:data:`OUTCOME_MEANINGS`)."""
    return "\n".join(f"- <span style='color:{OUTCOME_COLORS[c]}'>&#9670;</span> **{c}**: {OUTCOME_MEANINGS[c]}"
                     for c in CATEGORIES)


def _has_outcome(res) -> bool:
    return getattr(res, "outcomes", None) is not None and len(res.outcomes) == res.xs.shape[1]


def trajectory_figure(res, *, max_frames: int = MAX_FRAMES, max_points: int = 512, trail: int = 3,
                      trail_points: int = 192, follow=None, frame: int = 0, frame_ms: int = 80,
                      height: int = 700) -> go.Figure:
    """Animated reverse-time trajectories ending on the outcome, beside their lengths and phase shares.

    ``res``: a :class:`ridgeviz.views.trajectories.ExplorerResult` (times (K+1,), xs (K+1, M, 2), labels (K+1, M),
    bands, fractions, frames (F,), ridges (F lists), data (N, 2), bounds; outcomes (M,) and outcome_ridge when
    it has them). At most ``max_frames`` of the F ridge frames and ``max_points`` particles are drawn
    (``follow``, a particle index, is always kept and its whole path drawn in phase colours); ``trail_points`` of
    them carry a trail over the last ``trail`` frames. With outcomes, one more frame ends the animation: every
    sample in its outcome colour over the outcome rule's ridge. ``frame`` is the frame shown first (-1: the last).
    Every frame updates the same ``len(fig.frames[0].traces)`` moving traces.
    """
    M = res.xs.shape[1]
    pick = subsample(len(res.frames), max_frames)
    frames, ridges = np.asarray(res.frames)[pick], [res.ridges[i] for i in pick]
    points = subsample(M, max_points, keep=() if follow is None else (follow,))
    ending = _has_outcome(res)
    fig = make_subplots(rows=2, cols=2, column_widths=[0.5, 0.5], row_heights=[0.56, 0.44],
                        horizontal_spacing=0.1, vertical_spacing=0.2,
                        specs=[[{"rowspan": 2}, {}], [None, {}]], subplot_titles=("", *_panel_titles(res)))
    _static_layers(fig, res, ending)
    tops = _length_panel(fig, res)
    _share_panel(fig, res)
    if follow is not None:
        _follow_traces(fig, res, int(follow), pick)
    moving = _moving_traces(fig, res, points, follow, tops)
    trailed = points[subsample(len(points), trail_points)] if trail > 0 else points[:0]
    ctx = dict(res=res, frames=frames, ridges=ridges, trail=trail, points=points, trailed=trailed, tops=tops,
               follow=follow)
    frame_dicts = [_frame(ctx, f) for f in range(len(frames))] + ([_end_frame(ctx)] if ending else [])
    frame = int(frame) % len(frame_dicts) if frame < 0 else int(np.clip(frame, 0, len(frame_dicts) - 1))
    for idx, trace in zip(moving, frame_dicts[frame]):
        fig.data[idx].update({k: v for k, v in trace.items() if k != "type"})
    fig.frames = [go.Frame(name=str(i), data=d, traces=moving) for i, d in enumerate(frame_dicts)]
    labels = [f"{t:.3g}" for t in np.asarray(res.times)[frames]] + (["end"] if ending else [])
    animation_controls(fig, labels, active=frame, frame_ms=frame_ms, readout=False, y=0.0, gap=44)
    _layout(fig, res, tops, height)
    return fig


def _panel_titles(res) -> tuple[str, str]:
    what = "the error as a length, h<sub>t</sub>·|e|" if "length_normal" in res.bands else "the score error |e|"
    return f"distance to the ridge, and<br>{what}", "phase shares against t"


def _static_layers(fig, res, ending: bool) -> None:
    """Training points and the legend entries of the phase and outcome colours (drawn once)."""
    fig.add_trace(go.Scatter(x=res.data[:, 0], y=res.data[:, 1], mode="markers", name="training points",
                             legendgroup="drawn", legendgrouptitle_text="drawn",
                             marker=dict(symbol="x", size=9, color=DATA_COLOR, line=dict(width=1))), 1, 1)
    for name in PHASES:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup="phase",
                                 legendgrouptitle_text="phase (during)", marker=dict(size=9, color=PHASE_COLORS[name])),
                      1, 1)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="ridge of p_t", legendgroup="drawn",
                             line=dict(color=RIDGE_COLOR, width=2.5)), 1, 1)
    if ending:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="ridge at t* (outcome rule)",
                                 legendgroup="drawn", line=dict(color=OUTCOME_RIDGE_COLOR, width=2, dash="dash")), 1, 1)
        for name in CATEGORIES:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup="outcome",
                                     legendgrouptitle_text="outcome (end)",
                                     marker=dict(size=9, symbol="diamond", color=OUTCOME_COLORS[name])), 1, 1)


def _band(fig, times, band, color, name, dash="solid", fill=True) -> None:
    if fill:
        fig.add_trace(go.Scatter(x=times, y=band[-1], mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"), 1, 2)
        fig.add_trace(go.Scatter(x=times, y=band[1], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=BAND_FILL[color], showlegend=False, hoverinfo="skip"), 1, 2)
    fig.add_trace(go.Scatter(x=times, y=band[0], mode="lines", name=name, legendgroup="drawn",
                             line=dict(color=LINE_COLOR[color], width=2.5 if color == "distance" else 2, dash=dash)),
                  1, 2)


def _length_panel(fig, res) -> dict:
    """Distance to the ridge (mean and 10-90% band), the tube, and the error's normal and tangential parts."""
    times = np.asarray(res.times)
    prefix = "length_" if "length_normal" in res.bands else "error_"
    _band(fig, times, res.bands["distance"], "distance", "distance to the ridge")
    tube = getattr(res, "tube_width", None)
    tx, ty = (times, f32(tube)) if tube is not None else ([times[0], times[-1]], [res.tube, res.tube])
    fig.add_trace(go.Scatter(x=tx, y=ty, mode="lines", name="tube width", legendgroup="drawn",
                             line=dict(color="#555555", dash="dot", width=1)), 1, 2)
    sub = {"normal": "⊥", "tangential": "∥"}
    for part in ("normal", "tangential"):
        name = f"{part} error, " + (f"h<sub>t</sub>·|e<sub>{sub[part]}</sub>|" if prefix == "length_" else "|e|")
        _band(fig, times, res.bands[prefix + part], part, name, QUANTITY_DASH[part], fill=False)
    return {"lengths": _log_range(res, prefix)}


def _log_range(res, prefix: str) -> tuple[float, float]:
    """A log-axis range (decades) over the positive means and the distance band: a spike stays on the axis and
    the rest of each curve keeps its decades."""
    tube = getattr(res, "tube_width", None)
    vals = [res.bands["distance"][0], res.bands["distance"][-1], res.bands[prefix + "normal"][0],
            res.bands[prefix + "tangential"][0], np.atleast_1d(res.tube if tube is None else tube)]
    v = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in vals])
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return -3.0, 0.0
    hi = float(np.log10(v.max())) + 0.1
    lo = max(float(np.log10(v.min())) - 0.1, hi - 6.0)  # at most six decades: a curve at 1e-12 is 0 on a plot
    return lo, hi


def _share_panel(fig, res) -> None:
    times = np.asarray(res.times)
    for c, name in enumerate(PHASES):
        fig.add_trace(go.Scatter(x=times, y=res.fractions[:, c], mode="lines", stackgroup="phases", name=name,
                                 line=dict(width=0.5, color=PHASE_COLORS[name]), showlegend=False,
                                 hovertemplate=f"{name}: %{{y:.2f}}<extra></extra>"), 2, 2)


def _follow_traces(fig, res, p: int, pick) -> None:
    """The followed particle's whole path, each step in the colour of its phase, and its own lengths."""
    path, labels = res.xs[:, p], np.asarray(res.labels[:, p])
    for c, name in enumerate(PHASES):
        x, y = _segments(path, labels == c)
        if len(x):
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"particle {p}: {name}", showlegend=False,
                                     hoverinfo="skip", line=dict(color=PHASE_COLORS[name], width=3)), 1, 1)
    times = np.asarray(res.times)
    h = getattr(res, "h", None)
    scale = np.asarray(h)[:, None] if h is not None and "length_normal" in res.bands else 1.0
    for key, color in (("distance", "distance"), ("error_normal", "normal"), ("error_tangential", "tangential")):
        y = getattr(res, key)[:, [p]] * (1.0 if key == "distance" else scale)
        fig.add_trace(go.Scatter(x=times, y=f32(y[:, 0]), mode="lines", showlegend=False, hoverinfo="skip",
                                 name=f"particle {p}", line=dict(color=LINE_COLOR[color], width=1, dash="dot")), 1, 2)


def _segments(path: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The steps ``k -> k+1`` of ``path: (K+1, 2)`` whose end ``k+1`` has ``mask``, as NaN-separated segments."""
    ends = np.flatnonzero(mask[1:]) + 1
    if not len(ends):
        return f32([]), f32([])
    seg = np.stack([path[ends - 1], path[ends], np.full((len(ends), 2), np.nan)], axis=1).reshape(-1, 2)[:-1]
    return f32(seg[:, 0]), f32(seg[:, 1])


def _moving_traces(fig, res, points, follow, tops) -> list[int]:
    """The traces every frame updates; returns their indices."""
    start = len(fig.data)
    fig.add_trace(go.Scatter(mode="lines", name="ridge of p_t", showlegend=False, hoverinfo="skip",
                             line=dict(color=RIDGE_COLOR, width=2.5)), 1, 1)
    fig.add_trace(go.Scatter(mode="lines", name="ridge at t* (outcome rule)", showlegend=False, hoverinfo="skip",
                             line=dict(color=OUTCOME_RIDGE_COLOR, width=2, dash="dash")), 1, 1)
    fig.add_trace(go.Scatter(mode="lines", name="trails", showlegend=False, hoverinfo="skip",
                             line=dict(color=TRAIL_COLOR, width=1)), 1, 1)
    hover = "particle %{customdata}<br>(%{x:.2f}, %{y:.2f})<extra></extra>"
    fig.add_trace(go.Scatter(mode="markers", name="particles", showlegend=False, customdata=points,
                             hovertemplate=hover, marker=dict(size=6, colorscale=phase_colorscale(), cmin=-0.5,
                                                              cmax=len(PHASES) - 0.5, line=dict(width=0))), 1, 1)
    codes = res.outcomes[points] if _has_outcome(res) else np.zeros(len(points), np.int8)
    fig.add_trace(go.Scatter(mode="markers", name="outcomes", showlegend=False, customdata=points,
                             hovertemplate=hover, marker=dict(
                                 size=6, color=np.asarray(codes, dtype=np.int8), cmin=-0.5,
                                 cmax=len(CATEGORIES) - 0.5, colorscale=code_colorscale(CATEGORIES, OUTCOME_COLORS),
                                 line=dict(width=0))), 1, 1)
    for row in (1, 2):
        fig.add_trace(go.Scatter(mode="lines", line=dict(color="#222222", width=1.5), showlegend=False,
                                 hoverinfo="skip"), row, 2)
    x0, x1, y0, y1 = res.bounds
    fig.add_trace(stamp_trace(x0 + 0.03 * (x1 - x0), y1), 1, 1)
    if follow is not None:
        fig.add_trace(go.Scatter(mode="markers", name=f"particle {follow} now", showlegend=False, hoverinfo="skip",
                                 marker=dict(size=14, color="rgba(0, 0, 0, 0)", line=dict(color="#000", width=2.5))),
                      1, 1)
    return list(range(start, len(fig.data)))


def _hidden(n: int = 1) -> dict:
    """A trace's ``n`` points at NaN: drawn as nothing. (An empty array in a frame leaves the previous frame's
    points on screen in a scatter-only animation; NaN points keep the count and hide them.)"""
    return dict(type="scatter", x=f32(np.full(n, np.nan)), y=f32(np.full(n, np.nan)))


def _markers(t: float, tops: dict) -> list[dict]:
    lo, hi = tops["lengths"]
    return [dict(type="scatter", x=[t, t], y=[10.0 ** lo, 10.0 ** hi]), dict(type="scatter", x=[t, t], y=[0, 1])]


def _frame(ctx: dict, f: int) -> list[dict]:
    res, k = ctx["res"], int(ctx["frames"][f])
    t = float(res.times[k])
    rx, ry = lines_xy(ctx["ridges"][f])
    tx, ty = _trail_xy(res.xs, ctx["frames"], f, ctx["trail"], ctx["trailed"])
    pos = res.xs[k, ctx["points"]]
    n = len(ctx["points"])
    data = [dict(type="scatter", x=rx, y=ry), _hidden(), dict(type="scatter", x=tx, y=ty),
            dict(type="scatter", x=f32(pos[:, 0]), y=f32(pos[:, 1]),
                 marker=dict(color=np.asarray(res.labels[k, ctx["points"]], dtype=np.int8))), _hidden(n)]
    data += _markers(t, ctx["tops"]) + [dict(type="scatter", text=[f"t = {t:.3g}<br>colour: phase"])]
    if ctx["follow"] is not None:
        data.append(dict(type="scatter", x=f32(res.xs[k, ctx["follow"], :1]), y=f32(res.xs[k, ctx["follow"], 1:])))
    return data


def _end_frame(ctx: dict) -> list[dict]:
    """The last frame: the final samples in their outcome colours over the outcome rule's ridge at ``t*``."""
    res = ctx["res"]
    t = float(res.times[-1])
    pos = res.xs[-1, ctx["points"]]
    ox, oy = lines_xy(res.outcome_ridge)
    t_star = (res.outcome or {}).get("t_star")
    where = f", ridge at t* = {t_star:.3g}" if t_star is not None else ""
    n = len(ctx["points"])
    data = [_hidden(), dict(type="scatter", x=ox, y=oy), _hidden(), _hidden(n),
            dict(type="scatter", x=f32(pos[:, 0]), y=f32(pos[:, 1]))]
    data += _markers(t, ctx["tops"]) + [dict(type="scatter", text=[f"t = {t:.3g} (end)<br>colour: outcome{where}"])]
    if ctx["follow"] is not None:
        data.append(dict(type="scatter", x=f32(res.xs[-1, ctx["follow"], :1]), y=f32(res.xs[-1, ctx["follow"], 1:])))
    return data


def _layout(fig, res, tops, height) -> None:
    x, y = axis_ranges(res.bounds)
    two_d = tuple(res.axis_labels) == ("x1", "x2")
    fig.update_xaxes(range=x, title_text=None if two_d else res.axis_labels[0], row=1, col=1)
    fig.update_yaxes(range=y, title_text=None if two_d else res.axis_labels[1], row=1, col=1, scaleanchor="x",
                     scaleratio=1)
    t0, t1 = float(res.times[0]), float(res.times[-1])
    for row in (1, 2):
        fig.update_xaxes(type="log", range=[np.log10(t0), np.log10(t1)], row=row, col=2, dtick=1,
                         showticklabels=row == 2)
    fig.update_yaxes(type="log", range=list(tops["lengths"]), dtick=1, title_text="length (log)", row=1, col=2)
    fig.update_yaxes(range=[0, 1.08], tickvals=[0.5, 1], row=2, col=2)  # no 0 tick beside the t axis's first
    # the bottom margin holds the slider (just under the panels) and the legend (at the figure's foot)
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=64, b=250), hovermode="closest",
                      template="plotly_white", uirevision="trajectories",
                      legend=dict(orientation="h", x=0, y=0, yref="container", yanchor="bottom",
                                  traceorder="grouped", groupclick="toggleitem"))
