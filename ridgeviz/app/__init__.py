"""The Streamlit app layer: the only package that imports streamlit (session state, sidebar, compute, export)."""

from ..utils.threads import prepare_process

prepare_process()  # the app is an edge: torch's OpenMP policy must be set before torch loads
