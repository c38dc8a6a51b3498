"""Plotly figures of the MNIST latent view: arrays in, ``go.Figure`` out (no streamlit, no torch).

The trajectory animation in the latent's 2-D principal plane is :func:`ridgeviz.viz.trajectory_figure` applied
to ``LatentRun.trajectories``; this module adds the figures only the latent experiment has: the ridge deviation
evolution (residual histograms from T down to t_min), the Hessian spectrum behind the suggested ridge
dimension, and galleries of decoded on-/off-ridge samples beside their nearest training images.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..core.vocabulary import OUTCOME_COLORS, PHASE_COLORS
from .style import QUANTITY_COLORS

# one colour per meaning on every page (core/vocabulary.py, viz/style.py): "ridge undefined" is the phase colour of
# "no ridge", the on/off thresholds the outcome colours of on and off the ridge, other bars a quantity colour
DEFINED_COLOR, UNDEFINED_COLOR = QUANTITY_COLORS["samples"], PHASE_COLORS["no ridge"]
THRESHOLD_COLORS = (OUTCOME_COLORS["new on ridge"], OUTCOME_COLORS["new off ridge"])  # on / off
CHOSEN_COLOR, SUGGESTED_COLOR, GAP_COLOR = QUANTITY_COLORS["tangential"], QUANTITY_COLORS["distance"], "#90A4AE"


def deviation_figure(dev, *, value: str = "normalised", bins: int = 25, thresholds=(0.5, 0.6),
                     cols: int = 4, height: int | None = None) -> go.Figure:
    """Small multiples: the histogram of the residual at each recorded time (the ridge deviation evolution).

    ``dev``: a :class:`ridgeviz.latent_analysis.RidgeDeviation` (R times, M samples). ``value``: "normalised"
    (the residual over its batch maximum, the authors' code's view, with the on/off ``thresholds``) or "length"
    (``h_t r``). Samples whose normal space is undefined (eigengap filter) are stacked in grey.
    """
    edges, _ = dev.histograms(bins, value)
    v = getattr(dev, value)
    R = len(dev.times)
    rows = math.ceil(R / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"t = {t:.3g}" for t in dev.times],
                        horizontal_spacing=0.04, vertical_spacing=0.12 if rows > 1 else 0.2)
    centres, width = 0.5 * (edges[1:] + edges[:-1]), edges[1] - edges[0]
    for r in range(R):
        row, col = r // cols + 1, r % cols + 1
        for mask, name, color in ((~dev.undefined[r], "ridge defined", DEFINED_COLOR),
                                  (dev.undefined[r], "ridge undefined (small eigengap)", UNDEFINED_COLOR)):
            counts = np.histogram(v[r][mask], edges)[0]
            fig.add_trace(go.Bar(x=centres, y=counts, width=width, name=name, marker_color=color,
                                 legendgroup=name, showlegend=r == 0, hovertemplate="%{y} samples<extra></extra>"),
                          row, col)
        if value == "normalised":
            for thr, color in zip(thresholds, THRESHOLD_COLORS):
                fig.add_vline(x=thr, line=dict(color=color, dash="dot", width=1), row=row, col=col)
    xlabel = "residual / batch max" if value == "normalised" else "h_t |P_perp grad log p_t|"
    # tick marks outside both axes keep each panel's two "0" labels (x and y, at the corner) apart at any font size
    fig.update_xaxes(ticks="outside", ticklen=4, nticks=4)
    fig.update_yaxes(ticks="outside", ticklen=6, nticks=4)
    fig.update_layout(barmode="stack", template="plotly_white", height=height or 230 * rows + 90,
                      margin=dict(l=40, r=20, t=110, b=60), bargap=0,
                      title=dict(text=f"Ridge deviation evolution (d = {dev.dim}):<br>{xlabel}, T to t_min", x=0,
                                 yref="container", y=0.97, yanchor="top"),
                      legend=dict(orientation="h", x=0, y=-0.08, yanchor="top"))
    return fig


def spectrum_figure(gaps, dim: int, suggested: int, paper_dim: int | None = 25, t: float | None = None) -> go.Figure:
    """Median scale-free gaps ``h_t (l_k - l_{k+1})``, k = 1..D-1, with the chosen and suggested ``d`` marked."""
    gaps = np.asarray(gaps, dtype=np.float64)
    k = np.arange(1, len(gaps) + 1)
    colors = [CHOSEN_COLOR if i == dim else (GAP_COLOR if i != suggested else SUGGESTED_COLOR) for i in k]
    fig = go.Figure(go.Bar(x=k, y=gaps, marker_color=colors, hovertemplate="k = %{x}: %{y:.3g}<extra></extra>"))
    notes = [f"chosen d = {dim} (magenta)", f"suggested d = {suggested} (largest gap, teal)"]
    if paper_dim is not None:
        notes.append(f"authors' code: d = {paper_dim}")
    when = f" at t = {t:g}" if t is not None else ""
    fig.update_layout(template="plotly_white", height=300, margin=dict(l=50, r=20, t=60, b=50),
                      title=dict(text=f"Hessian spectrum gaps{when}: " + "; ".join(notes), x=0, font=dict(size=13)),
                      xaxis_title="k (gap between l_k and l_k+1)", yaxis_title="median h_t (l_k - l_k+1)")
    return fig


def _mosaic(rows, shape, pad: int = 2) -> np.ndarray:
    """Stack image rows ``[(k, H*W), ...]`` into one array with ``pad`` NaN pixels between images."""
    H, W = shape
    k = max(len(r) for r in rows)
    out = np.full((len(rows) * (H + pad) - pad, k * (W + pad) - pad), np.nan)
    for i, r in enumerate(rows):
        for j, img in enumerate(r):
            out[i * (H + pad): i * (H + pad) + H, j * (W + pad): j * (W + pad) + W] = np.asarray(img).reshape(H, W)
    return out


def gallery_figure(galleries: dict, shape=(28, 28), height: int | None = None) -> go.Figure:
    """Decoded samples (top row) above their nearest training images (bottom row), one panel per gallery.

    ``galleries``: title -> dict with ``samples (k, H*W)`` and ``nearest (k, H*W)`` intensities in [0, 1],
    and ``captions``: k strings shown under the columns (e.g. residual and distance to the nearest latent).
    Empty galleries keep their title, marked "(none to show)".
    """
    names = list(galleries)
    titles = [n if len(galleries[n]["samples"]) else f"{n} (none to show)" for n in names]
    fig = make_subplots(rows=len(names), cols=1, subplot_titles=titles, vertical_spacing=0.12)
    H, W = shape
    for i, name in enumerate(names, start=1):
        g = galleries[name]
        fig.update_xaxes(visible=False, row=i, col=1)
        fig.update_yaxes(visible=False, row=i, col=1)
        if len(g["samples"]) == 0:
            continue
        z = _mosaic([g["samples"], g["nearest"]], shape)
        fig.add_trace(go.Heatmap(z=z, colorscale="gray", zmin=0, zmax=1, showscale=False, hoverinfo="skip"), i, 1)
        for j, cap in enumerate(g["captions"]):
            fig.add_annotation(text=cap, x=j * (W + 2) + W / 2, y=2 * H + 2 + 1, yanchor="top", showarrow=False,
                               font=dict(size=10), row=i, col=1)
        # reversed image rows, with room below the mosaic for the captions
        fig.update_yaxes(range=[2 * H + 2 + 0.6 * H, -0.5], scaleanchor=f"x{i if i > 1 else ''}", row=i, col=1)
    fig.update_layout(template="plotly_white", height=height or 260 * len(names),
                      margin=dict(l=10, r=10, t=60, b=10),
                      title=dict(text="top: decoded samples; bottom: nearest training image (memorisation check)",
                                 x=0, font=dict(size=13)))
    return fig
