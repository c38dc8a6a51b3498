"""The Random features page's sample cloud: one frame per training time tau, scrubbed in the browser."""

from __future__ import annotations

import plotly.graph_objects as go

from .style import LINE_COLOR, animation_controls, data_trace, f32, stamp_trace


def rf_cloud_animation(sweep, labels, *, active: int | None = None, height: int = 540) -> go.Figure:
    """Final samples at each tau over the training points; the figure's own slider picks tau.

    ``sweep``: a :class:`ridgeviz.views.random_features.RFSweep` (finals (n, M, 2), data (N, 2), axis_labels,
    config["bounds"]); ``labels``: the n tau labels; ``active``: the tau shown first (default: the last, inf).
    Each frame writes its tau above the cloud (a text trace, so a still exported from any frame carries it).
    """
    n = len(sweep.finals)
    active = n - 1 if active is None else active
    x0, x1, y0, y1 = sweep.config["bounds"]
    fig = go.Figure([data_trace(sweep.data, size=10),
                     go.Scatter(x=f32(sweep.finals[active][:, 0]), y=f32(sweep.finals[active][:, 1]),
                                mode="markers", name="final samples", hoverinfo="skip",
                                marker=dict(size=5, color=LINE_COLOR["samples"], opacity=0.6)),
                     stamp_trace(x0 + 0.03 * (x1 - x0), y1, f"final samples at τ = {labels[active]}")])
    fig.frames = [go.Frame(name=str(i), traces=[1, 2], data=[
        dict(type="scatter", x=f32(sweep.finals[i][:, 0]), y=f32(sweep.finals[i][:, 1])),
        dict(type="scatter", text=[f"final samples at τ = {labels[i]}"])]) for i in range(n)]
    animation_controls(fig, labels, active=active, prefix="τ = ", buttons=False, y=0.0, gap=56)
    fig.update_xaxes(range=[x0, x1], title_text=sweep.axis_labels[0])
    fig.update_yaxes(range=[y0, y1], title_text=sweep.axis_labels[1], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, template="plotly_white", margin=dict(t=60, b=140), uirevision="rf-cloud",
                      legend=dict(orientation="h", x=0, y=0, yref="container", yanchor="bottom"))
    return fig
