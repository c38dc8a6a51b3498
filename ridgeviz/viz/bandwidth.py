"""The Data and bandwidth figure: one Plotly figure whose own slider scrubs the bandwidth in the browser.

Every slider step is a frame (no Streamlit rerun): the density ``p_t`` as filled contours, its ridge, the
eigengap field (grey where the ridge is undefined), and markers on the memorisation / ridge-length curve and on
the schedule's curves. Fields arrive as uint8 grids (:class:`ridgeviz.views.bandwidth.BandwidthFields`) and
positions as float32, both sent as base64 typed arrays; only what a frame changes is in the frame.
Imports no torch: arrays in, figure out.
"""

from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import (
    DATA_COLOR,
    LINE_COLOR,
    RIDGE_COLOR,
    UNDEFINED_GREY,
    animation_controls,
    axis_ranges,
    data_trace,
    f32,
    lines_xy,
)

GAP_TICKS = {1: "0.001", 86: "0.01", 170: "0.1", 255: "1"}  # codes of views.bandwidth.gap_code; 0 is grey
MARK_DASH = ("longdash", "dot", "longdashdot")
MARK_COLOR = "#9E9E9E"
# the schedule's curves and the sweep's two curves: one colour per quantity (viz/style.py, QUANTITY_COLORS)
CURVES = {"alpha": ("α_t", "alpha", "solid"), "sigma": ("σ_t", "sigma", "solid"),
          "bandwidth": ("b(t) = σ_t/α_t", "bandwidth", "dashdot")}
SLIDER_GAP = 76  # pixels between the density panels and their slider: the x tick labels and axis title


def group_marks(marks: dict) -> list[tuple[str, float, float | None]]:
    """``{rule: (b, t)}`` -> ``[(label, b, t)]`` with rules giving the same bandwidth joined ("Scott = Silverman")."""
    groups: dict = {}
    for name, (b, t) in marks.items():
        key = round(float(b), 12)
        if key in groups:
            groups[key][0] += " = " + name
        else:
            groups[key] = [name, float(b), t]
    return [tuple(v) for v in groups.values()]


def gap_colorscale() -> list:
    """Code 0 grey (ridge undefined), codes 1..255 Viridis (log10 of the scaled gap from -3 to 0)."""
    lo = 0.5 / 255
    scale = [[0.0, UNDEFINED_GREY], [lo, UNDEFINED_GREY]]
    colors = plotly.colors.sequential.Viridis
    return scale + [[lo + (1 - lo) * i / (len(colors) - 1), c] for i, c in enumerate(colors)]


def _marked(sweep) -> dict:
    """``{time: "Scott = Silverman"}`` of the classical bandwidths on the slider."""
    return {t: label for label, _, t in group_marks(sweep.marks) if t is not None}


def frame_label(sweep, f: int) -> str:
    """The readout of frame ``f`` on two lines: time, blur, bandwidth; suggested dimension, memorisation, ridge
    length and the classical rule marked at this step."""
    mark = _marked(sweep).get(float(sweep.times[f]))
    return (f"t = {sweep.times[f]:.3g} · √h_t = {sweep.sqrt_h[f]:.3g} · b = σ_t/α_t = {sweep.bandwidth[f]:.3g}<br>"
            f"suggested ridge dim {int(sweep.suggested[f])} · memorising {100 * sweep.memorised[f]:.0f}%"
            f" · ridge length {sweep.ridge_length[f]:.3g}" + (f" · ◆ {mark}" if mark else ""))


def _step_labels(sweep) -> list[str]:
    marked = _marked(sweep)
    return [f"{t:.3g}" + (" ◆" if float(t) in marked else "") for t in sweep.times]


def bandwidth_animation(sweep, fields, curves: dict, shown: dict, *, active: int = 0,
                        height: int = 860) -> go.Figure:
    """The animated bandwidth figure: the density and eigengap fields on top with their slider right under them,
    the memorisation / ridge-length curve and the schedule's curves below.

    ``sweep``: :class:`ridgeviz.views.bandwidth.BandwidthSweep` (times, bandwidth, memorised, ridge_length,
    marks, bounds; F frames); ``fields``: its :class:`BandwidthFields` (None for D > 2: data and ridge only);
    ``curves``: :func:`ridgeviz.views.bandwidth.schedule_curves`; ``shown``: :func:`shown_geometry` output
    (``ridges``: F lists of polylines, ``data``: (N, 2) or F arrays (N, 2) when the crosses move, ``labels``).
    ``active``: the frame shown first. Returns a figure with F frames and a slider of F steps.
    """
    F = len(sweep.times)
    fig = make_subplots(rows=2, cols=2, row_heights=[0.64, 0.36], horizontal_spacing=0.15, vertical_spacing=0.34,
                        specs=[[{}, {}], [{"secondary_y": True}, {}]],
                        subplot_titles=("density p<sub>t</sub> and its ridge", "eigengap (grey: no ridge)",
                                        "memorising, ridge length", "the schedule"))
    moving = []
    moving_data = isinstance(shown["data"], list)
    data0 = shown["data"][active] if moving_data else shown["data"]
    if fields is not None:
        moving.append(len(fig.data))
        fig.add_trace(go.Contour(x=f32(fields.xs), y=f32(fields.ys), z=fields.density[active], colorscale="Blues",
                                 showscale=False, zauto=False, zmin=0, zmax=255, hoverinfo="skip",
                                 contours=dict(coloring="fill", start=13, end=243, size=19),
                                 line=dict(width=0.5)), 1, 1)
        moving.append(len(fig.data))
        fig.add_trace(go.Heatmap(x=f32(fields.xs), y=f32(fields.ys), z=fields.gap[active], zauto=False, zmin=0,
                                 zmax=255, colorscale=gap_colorscale(), hoverinfo="skip",
                                 colorbar=dict(x=1.02, y=fig.layout.yaxis2.domain[0], yanchor="bottom",
                                               len=fig.layout.yaxis2.domain[1] - fig.layout.yaxis2.domain[0],
                                               thickness=14, tickvals=list(GAP_TICKS),
                                               ticktext=list(GAP_TICKS.values()))), 1, 2)
    for col in (1, 2):
        moving.append(len(fig.data))
        x, y = lines_xy(shown["ridges"][active])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="ridge of p_t", showlegend=col == 1,
                                 line=dict(color=RIDGE_COLOR, width=2.5)), 1, col)
        if moving_data:
            moving.append(len(fig.data))
        fig.add_trace(data_trace(data0, showlegend=col == 1), 1, col)
    moving += _curve_panels(fig, sweep, curves)
    frames = [_frame(sweep, fields, shown, f, moving_data, curves) for f in range(F)]
    for idx, trace in zip(moving, frames[active]):  # the figure opens on frame ``active``
        fig.data[idx].update({k: v for k, v in trace.items() if k != "type"})
    fig.frames = [go.Frame(name=str(f), data=d, traces=moving, layout=dict(title=dict(text=frame_label(sweep, f))))
                  for f, d in enumerate(frames)]
    animation_controls(fig, _step_labels(sweep), active=active, redraw=True, frame_ms=120,
                       y=fig.layout.yaxis.domain[0], gap=SLIDER_GAP)
    _layout(fig, sweep, shown, height, frame_label(sweep, active))
    return fig


def _frame(sweep, fields, shown, f, moving_data, curves) -> list[dict]:
    out = []
    if fields is not None:
        out += [dict(type="contour", z=fields.density[f]), dict(type="heatmap", z=fields.gap[f])]
    rx, ry = lines_xy(shown["ridges"][f])
    for _ in (1, 2):
        out.append(dict(type="scatter", x=rx, y=ry))
        if moving_data:
            d = shown["data"][f]
            out.append(dict(type="scatter", x=f32(d[:, 0]), y=f32(d[:, 1])))
    b, t = float(sweep.bandwidth[f]), float(sweep.times[f])
    lo, hi = _schedule_span(curves)
    out += [dict(type="scatter", x=[b, b], y=[0, 1]), dict(type="scatter", x=[t, t], y=[lo, hi])]
    return out


def _schedule_span(curves) -> tuple[float, float]:
    vals = np.concatenate([curves[k] for k in ("alpha", "sigma", "bandwidth")])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    return float(vals.min()), float(vals.max())


def _curve_panels(fig, sweep, curves) -> list[int]:
    """Memorisation and ridge length against b (row 2, col 1); alpha, sigma, b against t (row 2, col 2); the
    classical bandwidths as dashed grey lines named in the legend. Returns the indices of the two "now" markers."""
    fig.add_trace(go.Scatter(x=sweep.bandwidth, y=sweep.memorised, name="memorising fraction",
                             line=dict(color=LINE_COLOR["memorising"], width=2)), 2, 1)
    fig.add_trace(go.Scatter(x=sweep.bandwidth, y=sweep.ridge_length, name="ridge length (data units, right axis)",
                             line=dict(color=LINE_COLOR["ridge length"], dash="dot", width=2)), 2, 1, secondary_y=True)
    now = [len(fig.data)]
    fig.add_trace(go.Scatter(mode="lines", name="now", showlegend=False, hoverinfo="skip",
                             line=dict(color="#000", width=2)), 2, 1)
    for key, (name, color, dash) in CURVES.items():
        fig.add_trace(go.Scatter(x=curves["t"], y=curves[key], name=name,
                                 line=dict(color=LINE_COLOR[color], dash=dash, width=2)), 2, 2)
    now.append(len(fig.data))
    fig.add_trace(go.Scatter(mode="lines", name="now", showlegend=False, hoverinfo="skip",
                             line=dict(color="#000", width=2)), 2, 2)
    lo, hi = _schedule_span(curves)
    for j, (label, b, t) in enumerate(group_marks(sweep.marks)):
        line = dict(color=MARK_COLOR, dash=MARK_DASH[j % len(MARK_DASH)], width=1.5)
        fig.add_trace(go.Scatter(x=[b, b], y=[0, 1], mode="lines", name=f"◆ {label} (b = {b:.3g})", line=line,
                                 legendgroup=label, hoverinfo="name"), 2, 1)
        if t is not None:
            fig.add_trace(go.Scatter(x=[t, t], y=[lo, hi], mode="lines", name=label, line=line, legendgroup=label,
                                     showlegend=False, hoverinfo="name"), 2, 2)
    return now


def _layout(fig, sweep, shown, height, title) -> None:
    x, y = axis_ranges(sweep.bounds)
    for col in (1, 2):
        fig.update_xaxes(range=x, title_text=shown["labels"][0], row=1, col=col)
        fig.update_yaxes(range=y, title_text=shown["labels"][1] if col == 1 else None, row=1, col=col,
                         scaleanchor="x" if col == 1 else "x2", scaleratio=1)
    fig.update_xaxes(type="log", title_text="bandwidth b = σ_t / α_t", row=2, col=1)
    # the top ticks sit below the panel's top edge, clear of its title
    fig.update_yaxes(range=[0, 1.15], tickvals=[0, 0.5, 1], title_text="fraction", row=2, col=1, secondary_y=False)
    # the ridge length's axis is untitled (its ticks in the line's colour, its name in the legend): a title there
    # would sit beside the schedule panel and read as its label
    top = float(np.nanmax(sweep.ridge_length)) if np.isfinite(sweep.ridge_length).any() else 0.0
    fig.update_yaxes(row=2, col=1, secondary_y=True, range=[0, 1.15 * top if top > 0 else 1], showgrid=False,
                     tickfont=dict(color=LINE_COLOR["ridge length"]), nticks=4)
    fig.update_xaxes(type="log", title_text="t", row=2, col=2)
    fig.update_yaxes(type="log", row=2, col=2, side="right", title_text="α<sub>t</sub>, σ<sub>t</sub>, b(t)")
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=60, r=60, t=84, b=110),
                      legend=dict(orientation="h", x=0, y=0, yref="container", yanchor="bottom"),
                      uirevision="bandwidth",
                      title=dict(text=title, x=0.01, xanchor="left", y=1, yref="container", yanchor="top",
                                 pad=dict(t=30), font=dict(size=13, color=DATA_COLOR)))
