"""Plotly figure builders: arrays in, ``go.Figure`` out. No streamlit, no torch, no arithmetic beyond drawing.

The trajectory animation follows the habits in ../shared/STYLE.md: SVG ``scatter`` (``scattergl`` does not
animate), fixed axis ranges, static layers (training points, curves, legend entries) drawn once, frames that
carry only the moving traces (ridge, trails, particles, time markers) as plain dicts of float32 arrays, capped
frames and points (subsampled here, not in the core), the same points in the same order in every frame.
"""

from __future__ import annotations

import textwrap

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.vocabulary import PHASE_COLORS, PHASES
from .style import (
    BAND_FILL,
    DATA_COLOR,
    LINE_COLOR,
    RIDGE_COLOR,
    TRAIL_COLOR,
    animation_controls,
    axis_ranges,
    data_trace,
    f32,
    lines_xy,
    ridge_trace,
    subsample,
)

# re-exported: other viz modules and experiments draw with the same helpers
_r, _lines_xy, _pad = f32, lines_xy, axis_ranges


def phase_colorscale() -> list:
    """Discrete colourscale mapping the integer phase codes 0..3 (with cmin=-0.5, cmax=3.5) to PHASE_COLORS."""
    n = len(PHASES)
    scale = []
    for i, name in enumerate(PHASES):
        scale += [[i / n, PHASE_COLORS[name]], [(i + 1) / n, PHASE_COLORS[name]]]
    return scale


def _trail_xy(xs: np.ndarray, frames: np.ndarray, f: int, trail: int, points: np.ndarray):
    """Each particle's last ``trail`` frame positions joined into segments separated by NaN."""
    steps = frames[np.clip(np.arange(f - trail, f + 1), 0, None)]
    seg = xs[steps][:, points].transpose(1, 0, 2)  # (M, trail+1, 2)
    seg = np.concatenate([seg, np.full((seg.shape[0], 1, 2), np.nan)], axis=1).reshape(-1, 2)[:-1]
    return _r(seg[:, 0]), _r(seg[:, 1])


def _pad(bounds) -> tuple[list, list]:
    return [bounds[0], bounds[1]], [bounds[2], bounds[3]]


def trajectory_figure(res, *, max_frames: int = 100, max_points: int = 512, trail: int = 3, trail_points: int = 192,
                      follow=None, frame: int = 0, frame_ms: int = 80, height: int = 640) -> go.Figure:
    """Animated reverse-time trajectories beside their error, distance and phase curves.

    ``res``: a :class:`ridgeviz.views.trajectories.ExplorerResult` (times (K+1,), xs (K+1, M, 2), labels (K+1, M),
    bands, fractions (K+1, 4), frames (F,), ridges (F lists), data (N, 2), bounds, rule_text). At most
    ``max_frames`` of the F ridge frames and ``max_points`` particles are drawn (``follow``, a particle index, is
    always kept and drawn with its whole path); ``trail_points`` of them carry a trail over the last ``trail``
    frames (trails are most of the figure's size). ``frame`` is the frame shown first (a slider step). Returns a
    figure whose frames each hold ``len(fig.frames[0].traces)`` moving traces.
    """
    K1, M, _ = res.xs.shape
    pick = subsample(len(res.frames), max_frames)
    frames = np.asarray(res.frames)[pick]
    ridges = [res.ridges[i] for i in pick]
    points = subsample(M, max_points, keep=() if follow is None else (follow,))
    frame = int(np.clip(frame, 0, len(frames) - 1))
    fig = make_subplots(rows=3, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1, vertical_spacing=0.07,
                        specs=[[{"rowspan": 3}, {}], [None, {}], [None, {}]],
                        subplot_titles=("particles, trails and the ridge of p_t", "score error norms (mean, 10-90%)",
                                        "distance to the ridge", "fraction of samples per phase"))
    # static layers, drawn once
    fig.add_trace(go.Scatter(x=res.data[:, 0], y=res.data[:, 1], mode="markers", name="training points",
                             marker=dict(symbol="x", size=9, color=DATA_COLOR, line=dict(width=1))), 1, 1)
    for name in PHASES:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(size=9, color=PHASE_COLORS[name])), 1, 1)
    times = np.asarray(res.times)
    _band_traces(fig, times, res.bands, "error_normal", "normal", "normal error", 1)
    _band_traces(fig, times, res.bands, "error_tangential", "tangential", "tangential error", 1)
    _band_traces(fig, times, res.bands, "distance", "distance", "distance to ridge", 2)
    tube = getattr(res, "tube_width", None)  # per time (max(floor, k sqrt(h_t))) when the result has it
    tx, ty = (times, _r(tube)) if tube is not None else ([times[0], times[-1]], [res.tube, res.tube])
    fig.add_trace(go.Scatter(x=tx, y=ty, mode="lines", name="tube width",
                             line=dict(color="#555", dash="dot", width=1)), 2, 2)
    for c, name in enumerate(PHASES):
        fig.add_trace(go.Scatter(x=times, y=res.fractions[:, c], mode="lines", stackgroup="phases", name=name,
                                 line=dict(width=0.5, color=PHASE_COLORS[name]), showlegend=False), 3, 2)
    if follow is not None:
        _follow_traces(fig, res, int(follow), times)
    # moving traces: their indices are what every frame updates
    moving_start = len(fig.data)
    fig.add_trace(go.Scatter(mode="lines", name="ridge of p_t", line=dict(color=RIDGE_COLOR, width=2.5)), 1, 1)
    fig.add_trace(go.Scatter(mode="lines", name="trails", line=dict(color=TRAIL_COLOR, width=1), hoverinfo="skip"),
                  1, 1)
    fig.add_trace(go.Scatter(mode="markers", name="particles", showlegend=False, customdata=points,
                             hovertemplate="particle %{customdata}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
                             marker=dict(size=6, colorscale=phase_colorscale(), cmin=-0.5, cmax=len(PHASES) - 0.5,
                                         line=dict(width=0))), 1, 1)
    tops = _curve_tops(res)
    for row in (1, 2, 3):
        fig.add_trace(go.Scatter(mode="lines", line=dict(color="#222", width=1.5), showlegend=False,
                                 hoverinfo="skip"), row, 2)
    if follow is not None:
        fig.add_trace(go.Scatter(mode="markers", name=f"particle {follow} now", showlegend=False, hoverinfo="skip",
                                 marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(color="#000", width=2.5))),
                      1, 1)
    moving = list(range(moving_start, len(fig.data)))
    trailed = points[subsample(len(points), trail_points)] if trail > 0 else points[:0]
    frame_dicts = [_frame(res, frames, ridges, f, trail, points, trailed, tops, moving, follow)
                   for f in range(len(frames))]
    for idx, trace in zip(moving, frame_dicts[frame]["data"]):
        fig.data[idx].update({k: v for k, v in trace.items() if k != "type"})
    fig.frames = [go.Frame(**fd) for fd in frame_dicts]
    animation_controls(fig, [f"{t:.3g}" for t in times[frames]], active=frame, frame_ms=frame_ms)
    _layout(fig, res, tops, height)
    return fig


def _band_traces(fig, times, bands, key, color, label, row):
    b = bands[key]
    fig.add_trace(go.Scatter(x=times, y=b[-1], mode="lines", line=dict(width=0), showlegend=False,
                             hoverinfo="skip"), row, 2)
    fig.add_trace(go.Scatter(x=times, y=b[1], mode="lines", line=dict(width=0), fill="tonexty",
                             fillcolor=BAND_FILL[color], showlegend=False, hoverinfo="skip"), row, 2)
    fig.add_trace(go.Scatter(x=times, y=b[0], mode="lines", name=label, line=dict(color=LINE_COLOR[color], width=2)),
                  row, 2)


def _follow_traces(fig, res, p, times):
    path = res.xs[:, p]
    fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines", name=f"particle {p}",
                             line=dict(color="#000", width=1.5, dash="dot")), 1, 1)
    for key, color, row in (("error_normal", "normal", 1), ("error_tangential", "tangential", 1),
                            ("distance", "distance", 2)):
        fig.add_trace(go.Scatter(x=times, y=getattr(res, key)[:, p], mode="lines", showlegend=False,
                                 name=f"particle {p}", line=dict(color=LINE_COLOR[color], width=1, dash="dot")), row, 2)


def _curve_tops(res) -> dict:
    err = max(float(np.nanmax(res.bands["error_normal"][-1])), float(np.nanmax(res.bands["error_tangential"][-1])))
    dist = max(float(np.nanmax(res.bands["distance"][-1])), res.tube)
    return {1: 1.05 * err if err > 0 else 1.0, 2: 1.05 * dist if dist > 0 else 1.0, 3: 1.0}


def _frame(res, frames, ridges, f, trail, points, trailed, tops, moving, follow=None) -> dict:
    k = int(frames[f])
    t = float(res.times[k])
    rx, ry = _lines_xy(ridges[f])
    tx, ty = _trail_xy(res.xs, frames, f, trail, trailed)
    pos = res.xs[k, points]
    data = [dict(type="scatter", x=rx, y=ry), dict(type="scatter", x=tx, y=ty),
            dict(type="scatter", x=_r(pos[:, 0]), y=_r(pos[:, 1]),
                 marker=dict(color=np.asarray(res.labels[k, points], dtype=np.int8)))]
    data += [dict(type="scatter", x=[t, t], y=[0, tops[row]]) for row in (1, 2, 3)]
    if follow is not None:
        data.append(dict(type="scatter", x=_r(res.xs[k, follow, :1]), y=_r(res.xs[k, follow, 1:])))
    return dict(name=str(f), data=data, traces=moving)


def _layout(fig, res, tops, height):
    x, y = _pad(res.bounds)
    fig.update_xaxes(range=x, title_text=res.axis_labels[0], row=1, col=1)
    fig.update_yaxes(range=y, title_text=res.axis_labels[1], row=1, col=1, scaleanchor="x", scaleratio=1)
    t0, t1 = float(res.times[0]), float(res.times[-1])
    for row in (1, 2, 3):
        fig.update_xaxes(type="log", range=[np.log10(t0), np.log10(t1)], row=row, col=2, showticklabels=row == 3,
                         title_text="reverse time t (T on the left)" if row == 3 else None)
        fig.update_yaxes(range=[0, tops[row]], row=row, col=2)
    rule = textwrap.wrap("phase rule: " + res.rule_text, 125)  # wrapped: one long line is cut off by the figure
    fig.update_layout(height=height + 14 * len(rule), margin=dict(l=50, r=20, t=96 + 14 * len(rule), b=110),
                      hovermode="closest", template="plotly_white", uirevision="trajectories",
                      legend=dict(orientation="h", x=0, y=1.06, yanchor="bottom", traceorder="normal"),
                      title=dict(text="<br>".join(rule), x=0.01, xanchor="left", y=0.995, yanchor="top",
                                 font=dict(size=11, color="#444")))


# -- models -----------------------------------------------------------------------------------------------------
def curves_figure(x, curves: dict, *, x_title="t", y_title="", log_x=True, log_y=False, title="",
                  markers: dict | None = None, height=360) -> go.Figure:
    """Line plot of ``{name: y (F,)}`` against ``x (F,)``; ``markers``: {label: x position} as vertical lines."""
    fig = go.Figure([go.Scatter(x=x, y=y, name=name, mode="lines") for name, y in curves.items()])
    for label, pos in (markers or {}).items():
        fig.add_vline(x=pos, line=dict(color="#888", dash="dot"), annotation_text=label, annotation_font_size=10)
    fig.update_xaxes(type="log" if log_x else "linear", title_text=x_title)
    fig.update_yaxes(type="log" if log_y else "linear", title_text=y_title)
    fig.update_layout(title=title, height=height, template="plotly_white", legend=dict(orientation="h", y=-0.25))
    return fig


def error_profile_figure(profile: dict, title="score error of the model against the exact score") -> go.Figure:
    """Mean normal, tangential and total error norms against t (``views.trajectories.error_profile`` output)."""
    return curves_figure(profile["times"], {"normal": profile["normal"], "tangential": profile["tangential"],
                                            "total": profile["total"]}, y_title="mean |error|", title=title)


def tau_text(tau: float) -> str:
    """A training time as shown in the app: ``∞``, ``0``, ``0.1``, ``1000``."""
    return "∞" if np.isinf(tau) else "0" if tau <= 0 else f"{tau:g}"


def tau_positions(taus) -> tuple[np.ndarray, list[str]]:
    """Positions of training times on a log axis: 0 and infinity sit one decade beyond the finite ones."""
    taus = np.asarray(taus, dtype=np.float64)
    finite = taus[np.isfinite(taus) & (taus > 0)]
    lo, hi = (finite.min(), finite.max()) if len(finite) else (1.0, 1.0)
    x = np.where(np.isinf(taus), hi * 10, np.where(taus <= 0, lo / 10, taus))
    labels = [tau_text(t) for t in taus]
    return x, labels


def rf_sweep_figure(sweep) -> go.Figure:
    """Architectural bias and optimisation error (normal, tangential) and the inter-mode mass against tau.

    ``sweep``: a :class:`ridgeviz.rf_sweep.RFSweep` (taus (n,), bias_normal, bias_tangential, opt_normal,
    opt_tangential, inter_mode: (n,)). Zeros (the optimisation error at tau = inf) are left off the log axis.
    """
    x, labels = tau_positions(sweep.taus)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1,
                        subplot_titles=("mean error norm along the trajectories", "inter-mode mass"))
    for key, name, color, dash in (("bias_normal", "bias, normal", LINE_COLOR["normal"], "solid"),
                                   ("bias_tangential", "bias, tangential", LINE_COLOR["tangential"], "solid"),
                                   ("opt_normal", "optimisation, normal", LINE_COLOR["normal"], "dash"),
                                   ("opt_tangential", "optimisation, tangential", LINE_COLOR["tangential"], "dash")):
        y = np.asarray(getattr(sweep, key), dtype=np.float64)
        fig.add_trace(go.Scatter(x=x, y=np.where(y > 0, y, np.nan), name=name, mode="lines+markers",
                                 line=dict(color=color, dash=dash)), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=sweep.inter_mode, name="inter-mode mass", mode="lines+markers",
                             line=dict(color="#54A24B")), 1, 2)
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=x, ticktext=labels, title_text="training time tau", row=1, col=col)
    fig.update_yaxes(type="log", title_text="mean |error|", row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="fraction of final samples", row=1, col=2)
    fig.update_layout(height=420, template="plotly_white", legend=dict(orientation="h", y=-0.22))
    return fig


def cloud_figure(data, samples, lines=(), bounds=None, title="") -> go.Figure:
    """Final samples ``(M, 2)`` over the training points ``(N, 2)`` and the ridge polylines."""
    fig = go.Figure([go.Scatter(x=samples[:, 0], y=samples[:, 1], mode="markers", name="samples",
                                marker=dict(size=4, color="#4C78A8", opacity=0.6)),
                     ridge_trace(list(lines)), data_trace(data)])
    if bounds is not None:
        x, y = _pad(bounds)
        fig.update_xaxes(range=x)
        fig.update_yaxes(range=y, scaleanchor="x", scaleratio=1)
    fig.update_layout(title=title, height=460, template="plotly_white")
    return fig


def selected_particle(event):
    """The particle index of the first selected particle in a ``st.plotly_chart`` selection event, or None.

    Only the particles trace carries ``customdata`` (the particle index), so other traces are ignored.
    """
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) or event else []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, list) and cd:
            cd = cd[0]
        if isinstance(cd, (int, float)) and not isinstance(cd, bool):
            return int(cd)
    return None
