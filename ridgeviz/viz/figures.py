"""Plotly figure builders: arrays in, ``go.Figure`` out. No streamlit, no torch, no arithmetic beyond drawing.

The trajectory animation lives in :mod:`ridgeviz.viz.trajectories` (re-exported here); this module holds the
model pages' curves, the random-feature sweep and the small helpers other figures share.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import (
    DATA_COLOR,
    LINE_COLOR,
    QUANTITY_DASH,
    RIDGE_COLOR,
    UNDEFINED_GREY,
    axis_ranges,
    data_trace,
    f32,
    lines_xy,
    ridge_trace,
    subsample,
)
from .trajectories import phase_colorscale, trajectory_figure

# re-exported: other viz modules and experiments draw with the same helpers
_r, _lines_xy, _pad = f32, lines_xy, axis_ranges
__all__ = ["DATA_COLOR", "RIDGE_COLOR", "phase_colorscale", "subsample", "trajectory_figure"]


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


SPIKE_RATIO = 30.0  # a curve whose largest value is this many times its median is drawn on a log axis


def needs_log(*curves) -> bool:
    """Whether curves (arrays, NaN allowed) need a log axis: positive, and a spike ``SPIKE_RATIO`` times their
    median would flatten the rest on a linear one."""
    v = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in curves])
    v = v[np.isfinite(v)]
    return bool(len(v)) and bool((v > 0).any()) and float(v.max()) > SPIKE_RATIO * float(np.median(v[v > 0]))


def error_profile_figure(profile: dict, title="score error of the model against the exact score",
                         height: int = 380) -> go.Figure:
    """Mean normal, tangential and total error norms against t (``views.trajectories.error_profile`` output).

    Normal and tangential are means over the points where the ridge is defined; times where it is undefined at
    most points are shaded (the split has no meaning there). A log axis when a spike (at ``t_min``, say) would
    flatten the curves."""
    t = np.asarray(profile["times"], dtype=np.float64)
    fig = go.Figure()
    for key, color, dash, width in (("normal", "normal", QUANTITY_DASH["normal"], 2.5),
                                    ("tangential", "tangential", QUANTITY_DASH["tangential"], 2.5),
                                    ("total", "bandwidth", "dot", 1.5)):
        fig.add_trace(go.Scatter(x=t, y=f32(profile[key]), name=key, mode="lines",
                                 line=dict(color=LINE_COLOR[color], dash=dash, width=width)))
    undefined = np.asarray(profile.get("undefined", np.zeros_like(t))) > 0.5
    for lo, hi in _runs(t, undefined):
        fig.add_vrect(x0=lo, x1=hi, fillcolor=UNDEFINED_GREY, opacity=0.5, line_width=0, layer="below")
    if undefined.any():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="ridge undefined at most points",
                                 marker=dict(symbol="square", size=12, color=UNDEFINED_GREY)))
    log_y = needs_log(profile["normal"], profile["tangential"], profile["total"])
    lo, hi = np.log10(t.min()), np.log10(t.max())
    fig.update_xaxes(type="log", title_text="t", dtick=1, range=[lo - 0.2, hi + 0.2])  # corner labels kept apart
    fig.update_yaxes(type="log" if log_y else "linear", title_text="mean |error|" + (" (log)" if log_y else ""),
                     rangemode="tozero" if not log_y else None, dtick=1 if log_y else None)
    fig.update_layout(title=title, height=height, template="plotly_white", margin=dict(t=50, b=40),
                      legend=dict(orientation="h", x=0, y=-0.22, yanchor="top"))
    return fig


def _runs(t: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Spans ``(t_lo, t_hi)`` of consecutive ``t`` where ``mask``, widened half a step each side (log spacing)."""
    out, start = [], None
    for i, m in enumerate(np.append(mask, False)):
        if m and start is None:
            start = i
        elif not m and start is not None:
            lo, hi = t[start], t[i - 1]
            step = np.sqrt(t[1] / t[0]) if len(t) > 1 and t[0] > 0 else 1.0
            out.append((float(min(lo, hi) / step), float(max(lo, hi) * step)))
            start = None
    return out


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
                        subplot_titles=("mean error along the trajectories", "inter-mode mass"))
    # colour: normal or tangential; line and marker: bias (solid, circles) or optimisation (dotted, squares)
    for key, name, color, dash, symbol in (
            ("bias_normal", "bias, normal", LINE_COLOR["normal"], "solid", "circle"),
            ("bias_tangential", "bias, tangential", LINE_COLOR["tangential"], "solid", "circle"),
            ("opt_normal", "optimisation, normal", LINE_COLOR["normal"], "dot", "square"),
            ("opt_tangential", "optimisation, tangential", LINE_COLOR["tangential"], "dot", "square")):
        y = np.asarray(getattr(sweep, key), dtype=np.float64)
        fig.add_trace(go.Scatter(x=x, y=np.where(y > 0, y, np.nan), name=name, mode="lines+markers",
                                 marker=dict(symbol=symbol, size=8), line=dict(color=color, dash=dash)), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=sweep.inter_mode, name="inter-mode mass", mode="lines+markers",
                             line=dict(color=LINE_COLOR["inter-mode"])), 1, 2)
    for col in (1, 2):
        fig.update_xaxes(type="log", tickvals=x, ticktext=labels, tickangle=0, title_text="training time τ", row=1,
                         col=col)
    fig.update_yaxes(type="log", dtick=1, title_text="mean |error|", row=1, col=1)
    fig.update_yaxes(range=[0, 1.1], tickvals=[0, 0.5, 1], title_text="fraction", row=1, col=2)
    fig.update_layout(height=420, template="plotly_white", margin=dict(t=50),
                      legend=dict(orientation="h", x=0, y=-0.25, yanchor="top"))
    return fig


def cloud_figure(data, samples, lines=(), bounds=None, title="") -> go.Figure:
    """Final samples ``(M, 2)`` over the training points ``(N, 2)`` and the ridge polylines."""
    fig = go.Figure([go.Scatter(x=samples[:, 0], y=samples[:, 1], mode="markers", name="samples",
                                marker=dict(size=4, color=LINE_COLOR["samples"], opacity=0.6)),
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
