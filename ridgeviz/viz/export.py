"""Static images of figures (PNG, SVG) through kaleido 1.x, which drives the system's Chromium.

kaleido 1.x no longer bundles a browser: it starts a Chrome/Chromium it finds, or the one named by the
environment variable ``BROWSER_PATH`` (read by its browser launcher, choreographer). :func:`chromium_path`
picks ``RIDGEVIZ_CHROMIUM``, then ``BROWSER_PATH``, then Debian's ``/usr/bin/chromium``; the variable is set
only when an image is asked for (importing this module changes nothing). An animated figure is exported as one
still: the frame asked for (the one the page's slider shows), by default the frame its slider starts at, with
that frame's data, its time stamp (a text trace or the frame's title) and no slider or play buttons.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import plotly.graph_objects as go

FORMATS = ("png", "svg")
ENV_VAR = "RIDGEVIZ_CHROMIUM"
BROWSER_ENV = "BROWSER_PATH"  # choreographer's override, honoured by kaleido 1.x
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DEFAULT_WIDTH = 1200
DEFAULT_HEIGHT = 600
PNG_SCALE = 2  # PNGs at twice the layout size: sharp on slides and in papers


def chromium_path() -> str | None:
    """The browser kaleido will use: ``$RIDGEVIZ_CHROMIUM``, ``$BROWSER_PATH``, a system Chromium, or None."""
    for name in (ENV_VAR, BROWSER_ENV):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return value
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def available() -> str | None:
    """Why static export cannot work here (None when it can): kaleido missing, or no browser found."""
    if importlib.util.find_spec("kaleido") is None:
        return "static image export needs the kaleido package (pip install 'kaleido>=1')"
    if chromium_path() is None:
        return "static image export needs Chromium (apt-get install chromium) or $RIDGEVIZ_CHROMIUM"
    return None


def still_frame(fig: go.Figure, frame: int | None = None) -> int | None:
    """The frame a still of ``fig`` shows: ``frame`` (negative counts from the end), else the one its slider starts
    at; None for a figure without frames."""
    if not fig.frames:
        return None
    if frame is None:
        sliders = fig.layout.sliders
        frame = int(sliders[0].active or 0) if sliders else 0
    return int(frame) % len(fig.frames)


def static_figure(fig: go.Figure, frame: int | None = None) -> go.Figure:
    """A copy of ``fig`` without frames, sliders and play buttons, at animation frame :func:`still_frame`: the
    frame's traces on the base traces and its title when it has one (so the still carries the frame's time)."""
    still = go.Figure(data=fig.data, layout=fig.layout)
    still.layout.sliders, still.layout.updatemenus = (), ()  # update_layout(sliders=[]) would merge, not clear
    f = still_frame(fig, frame)
    if f is not None:
        shown = fig.frames[f]
        for idx, trace in zip(shown.traces, shown.data):
            still.data[idx].update({k: v for k, v in trace.to_plotly_json().items() if k != "type"})
        if shown.layout is not None and shown.layout.title.text:
            still.layout.title.text = shown.layout.title.text
    return still


def frame_label(fig: go.Figure, frame: int | None = None) -> str | None:
    """The slider label of the still's frame (its t, say), or None."""
    f = still_frame(fig, frame)
    sliders = fig.layout.sliders
    if f is None or not sliders or f >= len(sliders[0].steps):
        return None
    return str(sliders[0].steps[f].label)


def _size(fig: go.Figure, width: int | None, height: int | None) -> tuple[int, int]:
    return (width or fig.layout.width or DEFAULT_WIDTH, height or fig.layout.height or DEFAULT_HEIGHT)


def _use_chromium() -> None:
    reason = available()
    if reason:
        raise RuntimeError(reason)
    os.environ[BROWSER_ENV] = chromium_path()


def figure_image(fig: go.Figure, fmt: str = "png", *, width: int | None = None, height: int | None = None,
                 scale: float | None = None, frame: int | None = None) -> bytes:
    """``fig`` as PNG or SVG bytes (PNG at :data:`PNG_SCALE` times the layout size unless ``scale`` is given).

    ``frame``: draw an animated figure at that frame (e.g. -1, the end of reverse time) instead of as it opens.

    Raises ``ValueError`` for another format and ``RuntimeError`` when kaleido or Chromium is missing.
    """
    import plotly.io as pio

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}; got {fmt!r}")
    _use_chromium()
    w, h = _size(fig, width, height)
    return pio.to_image(static_figure(fig, frame), format=fmt, width=w, height=h,
                        scale=scale if scale is not None else (PNG_SCALE if fmt == "png" else 1))


def write_images(figures: dict, fmt: str = "png", *, scale: float | None = None) -> list[Path]:
    """Write ``{path: figure}`` as images with one Chromium for all of them; returns the paths written (the
    format's suffix is added to a path without it).

    This is what ``reproduce`` calls to put a PNG beside each HTML figure.
    """
    import plotly.io as pio

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}; got {fmt!r}")
    if not figures:
        return []
    _use_chromium()
    # kaleido writes nothing, silently, to a path without the format's suffix: add it
    paths = [Path(p) if Path(p).suffix == f".{fmt}" else Path(f"{p}.{fmt}") for p in figures]
    stills = [static_figure(f) for f in figures.values()]
    sizes = [_size(f, None, None) for f in stills]
    pio.write_images(stills, paths, format=fmt, width=[w for w, _ in sizes], height=[h for _, h in sizes],
                     scale=scale if scale is not None else (PNG_SCALE if fmt == "png" else 1))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"kaleido wrote no image to {', '.join(missing)}")
    return paths
