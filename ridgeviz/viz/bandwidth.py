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

from .style import DATA_COLOR, RIDGE_COLOR, UNDEFINED_GREY, animation_controls, axis_ranges, data_trace, f32, lines_xy

GAP_TICKS = {1: "0.001", 86: "0.01", 170: "0.1", 255: "1"}  # codes of views.bandwidth.gap_code; 0 is grey
MARK_DASH = ("dash", "dot", "dashdot")


def gap_colorscale() -> list:
    """Code 0 grey (ridge undefined), codes 1..255 Viridis (log10 of the scaled gap from -3 to 0)."""
    lo = 0.5 / 255
    scale = [[0.0, UNDEFINED_GREY], [lo, UNDEFINED_GREY]]
    colors = plotly.colors.sequential.Viridis
    return scale + [[lo + (1 - lo) * i / (len(colors) - 1), c] for i, c in enumerate(colors)]


def frame_label(sweep, f: int) -> str:
    """The readout of frame ``f``: time, blur, bandwidth, suggested dimension, memorisation, ridge length."""
    text = (f"t = {sweep.times[f]:.3g} · √h_t = {sweep.sqrt_h[f]:.3g} · b = σ_t/α_t = {sweep.bandwidth[f]:.3g}"
            f" · suggested ridge dim {int(sweep.suggested[f])} · memorising {100 * sweep.memorised[f]:.0f}%"
            f" · ridge length {sweep.ridge_length[f]:.3g}")
    return text


def _step_labels(sweep) -> list[str]:
    marked = {}
    for name, (_, t) in sweep.marks.items():
        if t is not None:
            marked[t] = f"{marked[t]} = {name}" if t in marked else name
    return [f"{t:.3g}" + (f" ◆ {marked[t]}" if t in marked else "") for t in sweep.times]


def bandwidth_animation(sweep, fields, curves: dict, shown: dict, *, active: int = 0,
                        height: int = 900) -> go.Figure:
    """The animated bandwidth figure.

    ``sweep``: :class:`ridgeviz.views.bandwidth.BandwidthSweep` (times, bandwidth, memorised, ridge_length,
    marks, bounds; F frames); ``fields``: its :class:`BandwidthFields` (None for D > 2: data and ridge only);
    ``curves``: :func:`ridgeviz.views.bandwidth.schedule_curves`; ``shown``: :func:`shown_geometry` output
    (``ridges``: F lists of polylines, ``data``: (N, 2) or F arrays (N, 2) when the crosses move, ``labels``).
    ``active``: the frame shown first. Returns a figure with F frames and a slider of F steps.
    """
    F = len(sweep.times)
    fig = make_subplots(rows=2, cols=2, row_heights=[0.6, 0.4], horizontal_spacing=0.1, vertical_spacing=0.17,
                        specs=[[{}, {}], [{"secondary_y": True}, {}]],
                        subplot_titles=("density p_t (filled contours of p_t / max p_t), its ridge",
                                        "eigengap h (l_d - l_d+1); grey: ridge undefined",
                                        "memorising samples and ridge length", "the schedule"))
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
                                 colorbar=dict(title="scaled gap", x=1.0, y=0.69, len=0.55,
                                               tickvals=list(GAP_TICKS), ticktext=list(GAP_TICKS.values()))), 1, 2)
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
    animation_controls(fig, _step_labels(sweep), active=active, redraw=True, frame_ms=120, y=-0.08)
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
    """Memorisation and ridge length against b (row 2, col 1); alpha, sigma, b against t (row 2, col 2).

    Returns the indices of the two "now" markers (vertical lines the frames move).
    """
    fig.add_trace(go.Scatter(x=sweep.bandwidth, y=sweep.memorised, name="memorising fraction",
                             line=dict(color="#E45756")), 2, 1)
    fig.add_trace(go.Scatter(x=sweep.bandwidth, y=sweep.ridge_length, name="ridge length (data units)",
                             line=dict(color="#4C78A8", dash="dot")), 2, 1, secondary_y=True)
    now = [len(fig.data)]
    fig.add_trace(go.Scatter(mode="lines", name="now", showlegend=False, hoverinfo="skip",
                             line=dict(color="#000", width=2)), 2, 1)
    for name, color in (("alpha", "#4C78A8"), ("sigma", "#E45756"), ("bandwidth", "#72B7B2")):
        fig.add_trace(go.Scatter(x=curves["t"], y=curves[name], name=f"{name}_t" if name != "bandwidth" else
                                 "b(t) = σ_t/α_t", line=dict(color=color)), 2, 2)
    now.append(len(fig.data))
    fig.add_trace(go.Scatter(mode="lines", name="now", showlegend=False, hoverinfo="skip",
                             line=dict(color="#000", width=2)), 2, 2)
    for j, (name, (b, t)) in enumerate(sweep.marks.items()):
        dash = MARK_DASH[j % len(MARK_DASH)]
        fig.add_vline(x=b, line=dict(color="#888", dash=dash), row=2, col=1, annotation_text=name,
                      annotation_font_size=10, annotation_position="top left" if j == 0 else "top right",
                      annotation_yshift=-14 * j)
        if t is not None:
            fig.add_vline(x=t, line=dict(color="#888", dash=dash), row=2, col=2)
    return now


def _layout(fig, sweep, shown, height, title) -> None:
    x, y = axis_ranges(sweep.bounds)
    for col in (1, 2):
        fig.update_xaxes(range=x, title_text=shown["labels"][0], row=1, col=col)
        fig.update_yaxes(range=y, title_text=shown["labels"][1], row=1, col=col,
                         scaleanchor="x" if col == 1 else "x2", scaleratio=1)
    fig.update_xaxes(type="log", title_text="bandwidth b = σ_t / α_t", row=2, col=1)
    fig.update_yaxes(range=[0, 1.02], title_text="fraction memorising", row=2, col=1, secondary_y=False)
    fig.update_yaxes(title_text="ridge length", row=2, col=1, secondary_y=True, rangemode="tozero", showgrid=False)
    fig.update_xaxes(type="log", title_text="t", row=2, col=2)
    fig.update_yaxes(type="log", row=2, col=2)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=60, r=30, t=90, b=130),
                      legend=dict(orientation="h", x=0, y=1.07, yanchor="bottom"), uirevision="bandwidth",
                      title=dict(text=title, x=0.01, xanchor="left", y=0.995, yanchor="top",
                                 font=dict(size=13, color=DATA_COLOR)))
