"""Thread count for the app and the command line (the edges), chosen once; the library itself sets nothing.

On a two-core machine torch's two intra-op threads collapse when anything else is running: the default 2-D
pipeline (``benchmarks/bench_pipeline.py``) took 1.09 s with one thread and 102 s with two at load average 4
(``OMP_WAIT_POLICY=PASSIVE`` did not prevent it). A Streamlit server runs several sessions' work at once, so
the edges default to one thread; ``RIDGEVIZ_THREADS=N`` chooses another count.
"""

from __future__ import annotations

import os

ENV_VAR = "RIDGEVIZ_THREADS"


def configure_threads() -> int:
    """Set torch's intra-op threads from ``RIDGEVIZ_THREADS`` (default 1); return the count in force."""
    import torch

    raw = os.environ.get(ENV_VAR, "1")
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be a positive integer; got {raw!r}") from None
    if n < 1:
        raise ValueError(f"{ENV_VAR} must be a positive integer; got {raw!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
