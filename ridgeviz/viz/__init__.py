"""Plotly figure builders: arrays in, figures out (no streamlit, no torch).

``write_images({path: figure})`` and ``figure_image(figure, "png" | "svg")`` export static images through
kaleido and the system's Chromium (:mod:`ridgeviz.viz.export`).
"""

from .export import figure_image, write_images

__all__ = ["figure_image", "write_images"]
