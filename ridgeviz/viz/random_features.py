"""The Random features page's sample cloud: one frame per training time tau, scrubbed in the browser."""

from __future__ import annotations

import plotly.graph_objects as go

from .style import animation_controls, axis_ranges, data_trace, f32


def rf_cloud_animation(sweep, labels, *, active: int | None = None, height: int = 520) -> go.Figure:
    """Final samples at each tau over the training points; the figure's own slider picks tau.

    ``sweep``: a :class:`ridgeviz.views.random_features.RFSweep` (finals (n, M, 2), data (N, 2), axis_labels,
    config["bounds"]); ``labels``: the n tau labels; ``active``: the tau shown first (default: the last, inf).
    """
    n = len(sweep.finals)
    active = n - 1 if active is None else active
    fig = go.Figure([data_trace(sweep.data, size=10),
                     go.Scatter(x=f32(sweep.finals[active][:, 0]), y=f32(sweep.finals[active][:, 1]),
                                mode="markers", name="final samples", hoverinfo="skip",
                                marker=dict(size=5, color="#4C78A8", opacity=0.6))])
    fig.frames = [go.Frame(name=str(i), traces=[1], data=[dict(type="scatter", x=f32(sweep.finals[i][:, 0]),
                                                               y=f32(sweep.finals[i][:, 1]))]) for i in range(n)]
    animation_controls(fig, labels, active=active, prefix="τ = ", buttons=False, y=-0.12)
    x, y = axis_ranges(sweep.config["bounds"])
    fig.update_xaxes(range=x, title_text=sweep.axis_labels[0])
    fig.update_yaxes(range=y, title_text=sweep.axis_labels[1], scaleanchor="x", scaleratio=1)
    fig.update_layout(height=height, template="plotly_white", margin=dict(t=50, b=130),
                      title="final samples at the training time τ of the slider", uirevision="rf-cloud")
    return fig
