"""Export row under a figure: the figure as HTML, PNG or SVG, the data as CSV/NPZ, the configuration as JSON.

Every payload is produced lazily, only when its button is pressed (PNG and SVG through kaleido and the system's
Chromium: :mod:`ridgeviz.viz.export`). The CSV and table writers are UI-free (:mod:`ridgeviz.app.io`).
"""

from __future__ import annotations

import dataclasses
import json

import streamlit as st

from ..viz import export as static
from .io import band_columns, csv_bytes

__all__ = ["band_columns", "config_dict", "csv_bytes", "export_row"]


def export_row(prefix: str, fig, *, csv: dict | None = None, npz=None, config: dict | None = None,
               still_frame: int | None = None) -> None:
    """Download buttons: the figure as standalone HTML, PNG and SVG; data as CSV and/or NPZ; configuration as JSON.

    Keys are ``{prefix}_html``, ``{prefix}_png``, ... (the browser tests press them). ``still_frame``: the
    animation frame the PNG and SVG show (default: the frame the figure opens at), stamped with its time.
    """
    with st.expander("Export"):
        label = static.frame_label(fig, still_frame)
        if label is not None:
            st.caption(f"PNG and SVG show the frame the figure opens at (slider at {label}), its time written on it; "
                       "the camera icon at the figure's top right saves what the figure shows now.")
        cols = st.columns(6)
        cols[0].download_button("Figure (HTML)", lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                                file_name=f"{prefix}.html", mime="text/html", on_click="ignore", key=f"{prefix}_html")
        missing = static.available()
        for col, fmt, mime in ((cols[1], "png", "image/png"), (cols[2], "svg", "image/svg+xml")):
            image = lambda fmt=fmt: static.figure_image(fig, fmt, frame=still_frame)  # noqa: E731 - lazy payload
            col.download_button(f"Figure ({fmt.upper()})", image, file_name=f"{prefix}.{fmt}", mime=mime,
                                on_click="ignore", key=f"{prefix}_{fmt}", disabled=missing is not None, help=missing)
        if csv is not None:
            cols[3].download_button("Data (CSV)", lambda: csv_bytes(csv), file_name=f"{prefix}.csv",
                                    mime="text/csv", on_click="ignore", key=f"{prefix}_csv")
        if npz is not None:
            cols[4].download_button("Data (NPZ)", npz, file_name=f"{prefix}.npz", mime="application/octet-stream",
                                    on_click="ignore", key=f"{prefix}_npz")
        if config is not None:
            cols[5].download_button("Configuration (JSON)", json.dumps(config, indent=2, default=str),
                                    file_name=f"{prefix}.json", mime="application/json", on_click="ignore",
                                    key=f"{prefix}_json")


def config_dict(**parts) -> dict:
    """Configs (dataclasses or plain values) as one JSON-able dict."""
    return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}
