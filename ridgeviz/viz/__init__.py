"""Plotly figure builders: arrays in, figures out (no streamlit, no torch)."""
