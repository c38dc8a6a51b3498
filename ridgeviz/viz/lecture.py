"""The lecture's figures: one per step, each making one point, sized for a projector at 1280x720.

Arrays in (a :class:`ridgeviz.views.lecture.Lecture`), figures out; imports no torch. Phases and outcomes are drawn
in the colours of :mod:`ridgeviz.core.vocabulary`, the same as on every page. Animated steps open on the frame that
makes their point (the end of the run, or the time ``t*`` where the ridge is best defined); Play runs them from
the start.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.vocabulary import CATEGORIES, OUTCOME_COLORS, PHASE_COLORS, PHASES
from .side_by_side import EVAL_RIDGE_COLOR, category_colorscale
from .style import LINE_COLOR, RIDGE_COLOR, animation_controls, data_trace, f32, lines_xy, present, subsample

HEIGHT = 430  # figure height in pixels (the page's title, caption and buttons take the rest of a 720-pixel screen)
SEGMENT_COLOR = "rgba(90, 90, 90, 0.45)"
SAMPLE_COLOR = "#333333"


def _view(lec) -> tuple:
    """The square the planes show: the training points with a margin of 0.8 (samples beyond it are clipped)."""
    return _around(lec["data"], 0.8)


def _plane(fig, bounds, row: int | None = None, col: int | None = None, anchor: str = "x") -> None:
    """Equal-aspect axes over ``bounds`` without tick labels (positions carry no message here)."""
    where = {} if row is None else dict(row=row, col=col)
    fig.update_xaxes(range=[bounds[0], bounds[1]], showticklabels=False, showgrid=False, zeroline=False, **where)
    fig.update_yaxes(range=[bounds[2], bounds[3]], showticklabels=False, showgrid=False, zeroline=False,
                     scaleanchor=anchor, scaleratio=1, **where)


def _layout(fig, *, top: int = 40, bottom: int = 20, right: int = 20, legend: dict | None = None) -> go.Figure:
    fig.update_layout(height=HEIGHT, template="plotly_white", margin=dict(l=20, r=right, t=top, b=bottom),
                      legend=legend or dict(x=1.02, y=1, xanchor="left", yanchor="top"), font=dict(size=14))
    return fig


def _bytes(z) -> np.ndarray:
    """A density in [0, 1] as one byte per cell (sent to the browser as a typed array)."""
    return np.round(np.clip(np.asarray(z, dtype=np.float32), 0, 1) * 255).astype(np.uint8)


def _density(z, bounds) -> go.Heatmap:
    n = z.shape[-1]
    return go.Heatmap(x=f32(np.linspace(bounds[0], bounds[1], n)), y=f32(np.linspace(bounds[2], bounds[3], n)),
                      z=_bytes(z), zmin=0, zmax=255, colorscale="Blues", showscale=False, hoverinfo="skip")


def smoothing_figure(lec) -> go.Figure:
    """Step 1: the density at three bandwidths, the training points on top."""
    bounds, bs = lec.meta["bounds"], lec.meta["smoothing_b"]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.03, subplot_titles=[f"blur b = {b:g}" for b in bs])
    for i in range(3):
        fig.add_trace(_density(lec["smoothing_density"][i], bounds), 1, i + 1)
        fig.add_trace(data_trace(lec["data"], showlegend=i == 0, size=9), 1, i + 1)
        _plane(fig, _view(lec), 1, i + 1, "x" if i == 0 else f"x{i + 1}")
    return _layout(fig, legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top"), bottom=50)


def _t_labels(times) -> list[str]:
    return [f"{t:.2g}" for t in times]


def _animate(fig, times, active: int, redraw: bool = False, width: float = 1.0) -> None:
    """Play/Pause and a slider over ``times`` (:func:`~ridgeviz.viz.style.animation_controls`) in the leftmost
    ``width`` of the figure (under the plane, which has no axis text)."""
    animation_controls(fig, _t_labels(times), active=active, redraw=redraw, y=-0.02)
    buttons = min(0.2, 0.36 * width)
    fig.layout.sliders[0].update(x=buttons, len=width - buttons)


def ridge_figure(lec) -> go.Figure:
    """Step 2: the density and its ridge as t falls (animated), beside the ridge's length against t."""
    bounds, times, length = lec.meta["bounds"], lec["ridge_times"], lec["ridge_length"]
    ridges = lec.polylines["ridge_ridges"]
    active = int(np.argmax(length))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.1,
                        subplot_titles=("p_t (blue) and its ridge (purple)", "length of the ridge"))
    fig.add_trace(_density(lec["ridge_density"][active], bounds), 1, 1)
    x, y = lines_xy(ridges[active])
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="ridge of p_t", line=dict(color=RIDGE_COLOR, width=3),
                             hoverinfo="skip", showlegend=False), 1, 1)
    fig.add_trace(data_trace(lec["data"], size=9, showlegend=False), 1, 1)
    fig.add_trace(go.Scatter(x=f32(times), y=f32(length), mode="lines", name="ridge length", showlegend=False,
                             line=dict(color=RIDGE_COLOR, width=3)), 1, 2)
    fig.add_trace(go.Scatter(x=[times[active]], y=[length[active]], mode="markers", showlegend=False,
                             marker=dict(size=14, color=RIDGE_COLOR)), 1, 2)
    moving = [0, 1, 4]
    fig.frames = [go.Frame(name=str(f), traces=moving, data=[
        go.Heatmap(z=_bytes(lec["ridge_density"][f])), go.Scatter(x=lines_xy(ridges[f])[0], y=lines_xy(ridges[f])[1]),
        go.Scatter(x=[times[f]], y=[length[f]])]) for f in range(len(times))]
    _animate(fig, times, active, redraw=True, width=0.45)
    _plane(fig, _view(lec), 1, 1)
    _time_axis(fig, times)
    fig.update_yaxes(title_text="length (data units)", rangemode="tozero", row=1, col=2)
    return _layout(fig, bottom=90, top=40)


def _time_axis(fig, times, row: int = 1, col: int = 2) -> None:
    """A log axis of t running right to left (reverse time goes left to right), one label per decade."""
    lo, hi = np.log10(np.min(times)), np.log10(np.max(times))
    fig.update_xaxes(type="log", range=[hi, lo], dtick=1, title_text="t (reverse time →)", row=row, col=col)


def _frames_xy(xs, ridges, traces) -> list:
    out = []
    for f in range(xs.shape[0]):
        rx, ry = lines_xy(ridges[f])
        out.append(go.Frame(name=str(f), traces=traces, data=[go.Scatter(x=rx, y=ry),
                                                               go.Scatter(x=f32(xs[f, :, 0]), y=f32(xs[f, :, 1]))]))
    return out


def outcome_figure(lec, key: str) -> go.Figure:
    """Steps 3 and 4: one model's samples from noise to the end, each in the colour of its outcome."""
    xs, codes = lec[f"{key}_xs"], lec[f"{key}_codes"]
    ridges, last = lec.polylines["runs"], xs.shape[0] - 1
    fig = go.Figure()
    if key == "learned":
        x, y = lines_xy(lec.polylines["eval_ridge"][0])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"ridge at t* = {lec.meta['t_ridge']:.2g}",
                                 line=dict(color=EVAL_RIDGE_COLOR, width=2, dash="dash"), hoverinfo="skip"))
    shown = set(np.unique(np.asarray(codes, dtype=int)).tolist())
    for i, c in enumerate(CATEGORIES):  # the key names only the outcomes that occur
        if i in shown:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=c,
                                     marker=dict(size=10, color=OUTCOME_COLORS[c])))
    fig.add_trace(data_trace(lec["data"], size=11))
    moving = [len(fig.data), len(fig.data) + 1]
    rx, ry = lines_xy(ridges[last])
    fig.add_trace(go.Scatter(x=rx, y=ry, mode="lines", name="ridge of p_t", line=dict(color=RIDGE_COLOR, width=2.5),
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=f32(xs[last, :, 0]), y=f32(xs[last, :, 1]), mode="markers", showlegend=False,
                             hoverinfo="skip", marker=dict(size=6, color=codes, cmin=-0.5, cmax=len(CATEGORIES) - 0.5,
                                                           colorscale=category_colorscale(CATEGORIES),
                                                           line=dict(width=0))))
    fig.frames = _frames_xy(xs, ridges, moving)
    _animate(fig, lec["run_times"], last)
    _plane(fig, _view(lec))
    return _layout(fig, bottom=80, top=10)


def _phase_segments(x, y, labels, xaxis: str, yaxis: str, legend: bool) -> list:
    """One trace per phase: the path's segments that start in that phase (NaN-separated)."""
    out = []
    for code, name in enumerate(PHASES):
        ks = np.flatnonzero(labels[:-1] == code)
        if not len(ks):
            continue
        px = np.stack([x[ks], x[ks + 1], np.full(len(ks), np.nan)], axis=1).ravel()
        py = np.stack([y[ks], y[ks + 1], np.full(len(ks), np.nan)], axis=1).ravel()
        out.append(go.Scatter(x=f32(px), y=f32(py), mode="lines", name=name, legendgroup=name, showlegend=legend,
                              line=dict(color=PHASE_COLORS[name], width=4), xaxis=xaxis, yaxis=yaxis,
                              hoverinfo="skip"))
    return out


def phases_figure(lec) -> go.Figure:
    """Step 5: one sample's path in the plane and its distance to the ridge against t, coloured by phase."""
    path, labels = lec["phases_path"], lec["phases_labels"]
    times, dist, tube = lec["phases_times"], lec["phases_distance"], lec["phases_tube"]
    run_times, ridges = lec["run_times"], lec.polylines["runs"]
    idx = np.abs(np.log(times)[None, :] - np.log(run_times)[:, None]).argmin(axis=1)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.42, 0.58], horizontal_spacing=0.1,
                        subplot_titles=("the followed sample", "its distance to the ridge"))
    last = int(np.abs(np.log(run_times) - np.log(lec.meta["t_ridge"])).argmin())  # opens at t*: the ridge is there
    fig.add_trace(go.Scatter(x=lines_xy(ridges[last])[0], y=lines_xy(ridges[last])[1], mode="lines",
                             name="ridge of p_t", line=dict(color=RIDGE_COLOR, width=2.5), hoverinfo="skip"), 1, 1)
    fig.add_trace(data_trace(lec["data"], size=10), 1, 1)
    for trace in _phase_segments(path[:, 0], path[:, 1], labels, "x", "y", True):
        fig.add_trace(trace)
    fig.add_trace(go.Scatter(x=f32(times), y=f32(tube), mode="lines", name="tube", line=dict(color="#888", dash="dot",
                                                                                             width=2)), 1, 2)
    for trace in _phase_segments(times, dist, labels, "x2", "y2", False):
        fig.add_trace(trace)
    moving = [0, len(fig.data), len(fig.data) + 1]
    k = idx[last]
    fig.add_trace(go.Scatter(x=[path[k, 0]], y=[path[k, 1]], mode="markers", showlegend=False,
                             marker=dict(size=16, color="#111", line=dict(color="white", width=2))), 1, 1)
    fig.add_trace(go.Scatter(x=[times[k]], y=[dist[k]], mode="markers", showlegend=False,
                             marker=dict(size=14, color="#111", line=dict(color="white", width=2))), 1, 2)
    fig.frames = [go.Frame(name=str(f), traces=moving, data=[
        go.Scatter(x=lines_xy(ridges[f])[0], y=lines_xy(ridges[f])[1]),
        go.Scatter(x=[path[k, 0]], y=[path[k, 1]]), go.Scatter(x=[times[k]], y=[dist[k]])])
        for f, k in enumerate(idx)]
    _animate(fig, run_times, last, width=0.42)
    _plane(fig, _around(path[times <= 1.5], 1.5), 1, 1)
    shown = times[np.isfinite(dist) | (times <= 1.5)]
    _time_axis(fig, shown)
    fig.update_yaxes(title_text="distance", rangemode="tozero", row=1, col=2)
    # seven keys beside a 430-pixel figure: a smaller type keeps them all visible in projector mode too
    return _layout(fig, bottom=90, top=40, legend=dict(x=1.02, y=1, xanchor="left", yanchor="top",
                                                       font=dict(size=11), tracegroupgap=0))


def _around(points, margin: float) -> tuple:
    """A square box around ``points: (n, 2)`` with ``margin`` on every side."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 + margin
    return (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)


def errors_figure(lec, max_points: int = 80) -> go.Figure:
    """Step 6: a normal error (left) and a tangential error (right) from the same noise: each sample (dark) is
    joined to where the error-free run put it (hollow); at most ``max_points`` samples are drawn."""
    times = lec["errors_times"]
    xs = lec["errors_xs"][:, :, subsample(lec["errors_xs"].shape[2], max_points)]
    ridges = lec.polylines["error_ridges"]
    active = int(np.abs(np.log(times) - np.log(lec.meta["t_ridge"])).argmin())
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.04,
                        subplot_titles=("normal error: held off the ridge", "tangential error: moved along it"))
    moving = []
    for col in (1, 2):
        fig.add_trace(data_trace(lec["data"], showlegend=False, size=10), 1, col)
        moving += list(range(len(fig.data), len(fig.data) + 4))
        fig.add_trace(go.Scatter(mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color=RIDGE_COLOR, width=2.5)), 1, col)
        fig.add_trace(go.Scatter(mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color=SEGMENT_COLOR, width=1.5)), 1, col)
        fig.add_trace(go.Scatter(mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(size=8, color="rgba(0,0,0,0)", line=dict(color="#999", width=1.5))),
                      1, col)
        fig.add_trace(go.Scatter(mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(size=8, color=SAMPLE_COLOR)), 1, col)
    frames = [_error_frame(xs, ridges, f) for f in range(len(times))]
    for i, trace in zip(moving, frames[active]):
        fig.data[i].update(x=trace["x"], y=trace["y"])
    fig.frames = [go.Frame(name=str(f), traces=moving, data=[go.Scatter(**d) for d in data])
                  for f, data in enumerate(frames)]
    _animate(fig, times, active)
    for col in (1, 2):
        _plane(fig, _view(lec), 1, col, "x" if col == 1 else "x2")
    return _layout(fig, bottom=80, top=40)


def _error_frame(xs, ridges, f: int) -> list[dict]:
    rx, ry = lines_xy(ridges[f])
    out = []
    for j in (1, 2):
        a, b = xs[0, f].astype(np.float32), xs[j, f].astype(np.float32)
        seg = np.stack([a, b, np.full_like(a, np.nan)], axis=1).reshape(-1, 2)
        out += [dict(x=rx, y=ry), dict(x=seg[:, 0], y=seg[:, 1]), dict(x=a[:, 0], y=a[:, 1]),
                dict(x=b[:, 0], y=b[:, 1])]
    return out


def rf_figure(lec) -> go.Figure:
    """Step 7: architectural bias (solid) and optimisation error (dashed), normal and tangential, against tau."""
    taus = lec["rf_taus"]
    fig = go.Figure()
    for key, name, color, dash in (("bias_normal", "bias, normal", LINE_COLOR["normal"], "solid"),
                                   ("bias_tangential", "bias, tangential", LINE_COLOR["tangential"], "solid"),
                                   ("opt_normal", "optimisation error, normal", LINE_COLOR["normal"], "dash"),
                                   ("opt_tangential", "optimisation error, tangential", LINE_COLOR["tangential"],
                                    "dash")):
        fig.add_trace(go.Scatter(x=taus, y=lec[f"rf_{key}"], name=name, mode="lines+markers",
                                 line=dict(color=color, dash=dash, width=3), marker=dict(size=8)))
    fig.update_xaxes(type="log", title_text="training time τ", tickvals=taus, ticktext=[f"{t:g}" for t in taus])
    fig.update_yaxes(type="log", dtick=1, title_text="mean |error| along the trajectories")
    return _layout(fig, bottom=60, legend=dict(x=1.02, y=1, xanchor="left", yanchor="top", itemwidth=60))


FIGURES = {"smoothing": smoothing_figure, "ridge": ridge_figure, "exact": lambda lec: outcome_figure(lec, "exact"),
           "learned": lambda lec: outcome_figure(lec, "learned"), "phases": phases_figure, "errors": errors_figure,
           "rf": rf_figure}


PROJECTOR_MARGINS = 1.2  # the margins' growth in projector mode (they hold text and fixed-size controls)


def lecture_figure(lec, key: str, projector: bool = False) -> go.Figure:
    """The figure of step ``key`` (one of :data:`ridgeviz.views.lecture.STEPS`' keys), in projector style when
    ``projector`` (same height: the step fits a 1280x720 screen either way)."""
    if key not in FIGURES:
        raise ValueError(f"key: no lecture step {key!r}; the steps are {tuple(FIGURES)}")
    fig = FIGURES[key](lec)
    return present(fig, height=HEIGHT, margin_scale=PROJECTOR_MARGINS) if projector else fig
