"""Export row under a figure: the figure as HTML, the data as CSV/NPZ, the configuration as JSON.

Every payload is produced lazily (only when its button is pressed). The CSV and table writers are UI-free
(:mod:`ridgeviz.app.io`).
"""

from __future__ import annotations

import dataclasses
import json

import streamlit as st

from .io import band_columns, csv_bytes

__all__ = ["band_columns", "config_dict", "csv_bytes", "export_row"]


def export_row(prefix: str, fig, *, csv: dict | None = None, npz=None, config: dict | None = None) -> None:
    """Download buttons: figure as standalone HTML, data as CSV and/or NPZ, configuration as JSON (lazy)."""
    with st.expander("Export"):
        cols = st.columns(4)
        cols[0].download_button("Figure (HTML)", lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                                file_name=f"{prefix}.html", mime="text/html", on_click="ignore", key=f"{prefix}_html")
        if csv is not None:
            cols[1].download_button("Data (CSV)", lambda: csv_bytes(csv), file_name=f"{prefix}.csv",
                                    mime="text/csv", on_click="ignore", key=f"{prefix}_csv")
        if npz is not None:
            cols[2].download_button("Data (NPZ)", npz, file_name=f"{prefix}.npz", mime="application/octet-stream",
                                    on_click="ignore", key=f"{prefix}_npz")
        if config is not None:
            cols[3].download_button("Configuration (JSON)", json.dumps(config, indent=2, default=str),
                                    file_name=f"{prefix}.json", mime="application/json", on_click="ignore",
                                    key=f"{prefix}_json")


def config_dict(**parts) -> dict:
    """Configs (dataclasses or plain values) as one JSON-able dict."""
    return {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}
