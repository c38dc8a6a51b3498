"""``python -m ridgeviz reproduce``: the paper's experiments, each check beside a negative control, and the report."""
