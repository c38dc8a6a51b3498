"""What an experiment produces (:class:`Experiment`), how it is run (:class:`Context`), and small figure helpers.

Every experiment module defines ``run(ctx: Context) -> Experiment``. The context carries the size (``mode``:
"tiny" for the tests, "quick" for minutes on two CPU cores, "full"), the base seed and the one
:class:`~ridgeviz.experiments.executor.Executor` that runs the independent seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .checks import Check
from .executor import Executor

MODES = ("tiny", "quick", "full")
# series colours, none of them a phase or outcome colour (ridgeviz.core.vocabulary): a colour keeps one meaning
COLORS = ("#283593", "#C51B8A", "#00796B", "#827717", "#37474F", "#880E4F", "#5D4037", "#111111")


@dataclass
class Context:
    """How to run: ``mode`` (one of :data:`MODES`), base ``seed`` and the ``executor`` for independent runs."""

    mode: str = "quick"
    seed: int = 0
    executor: Executor = field(default_factory=lambda: Executor(1))

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {self.mode!r}")

    def seeds(self, n: int) -> list[int]:
        """``n`` independent seeds derived from the base seed (run k uses ``1000 * seed + k``)."""
        return [1000 * self.seed + k for k in range(n)]

    def pick(self, sizes: dict):
        """The entry of ``sizes`` (keyed by mode) for this run's mode."""
        return sizes[self.mode]


@dataclass
class Experiment:
    """What one experiment produced: settings, figures, tables, numbers, checks (with controls), notes."""

    name: str
    title: str
    settings: dict
    figures: list = field(default_factory=list)  # (file stem, go.Figure, caption)
    tables: list = field(default_factory=list)  # (caption, header list, rows)
    numbers: dict = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: list = field(default_factory=list)
    arrays: dict = field(default_factory=dict)  # name -> array, written to arrays.npz

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def line_figure(title, xlabel, ylabel, series, log_x=False, log_y=False, bands=None) -> go.Figure:
    """Lines ``series = [(name, x, y), ...]``; ``bands = {name: (lo, hi)}`` draws a shaded interval under a line."""
    fig = go.Figure()
    for i, (name, x, y) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        if bands and name in bands:
            lo, hi = bands[name]
            fig.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=list(hi) + list(lo)[::-1], fill="toself",
                                     line=dict(width=0), fillcolor=color, opacity=0.2, showlegend=False,
                                     hoverinfo="skip", legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=color)))
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, template="plotly_white",
                      xaxis_type="log" if log_x else "linear", yaxis_type="log" if log_y else "linear",
                      width=760, height=440)
    return fig


def points_trace(x, name, color=COLORS[0], size=3, show=True, symbol="circle") -> go.Scatter:
    x = np.asarray(x)
    return go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name=name, showlegend=show, legendgroup=name,
                      marker=dict(size=size, color=color, symbol=symbol, opacity=0.6 if symbol == "circle" else 1))


def panel_grid(titles, cols) -> go.Figure:
    rows = math.ceil(len(titles) / cols)
    return make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.05,
                         vertical_spacing=0.1 if rows > 1 else 0.15)


def square_axes(fig, i, cols, bounds) -> None:
    """Fixed ranges and equal scales for the ``i``-th panel (row-major) of a subplot grid."""
    rc = dict(row=i // cols + 1, col=i % cols + 1)
    fig.update_xaxes(range=list(bounds[:2]), **rc)
    fig.update_yaxes(range=list(bounds[2:]), scaleanchor=f"x{i + 1 if i else ''}", scaleratio=1, **rc)
