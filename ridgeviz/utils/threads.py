"""Threads for the app and the command line (the edges), chosen once; the library itself sets nothing.

On a two-core machine torch's two intra-op threads collapse when anything else is running: the default 2-D
pipeline (``benchmarks/bench_pipeline.py``) took 1.09 s with one thread and 102 s with two at load average 4
(``OMP_WAIT_POLICY=PASSIVE`` did not prevent it). A Streamlit server runs several sessions' work at once, so
the edges default to one thread; ``RIDGEVIZ_THREADS=N`` chooses another count (at most the machine's cores).

torch's OpenMP threads also spin while waiting; on a busy two-core machine that made small-tensor work 10-15x
slower (the default pipeline: 20.3 s wall at load 9 with the default policy, 1.1 s with PASSIVE). The policy
only takes effect before torch is first imported, so :func:`prepare_process` is the first thing the edges run.
"""

from __future__ import annotations

import os

from .validation import Integer, check

ENV_VAR = "RIDGEVIZ_THREADS"


def prepare_process() -> None:
    """Environment for torch's OpenMP runtime, set before torch loads (a user's own setting wins)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def thread_count() -> int:
    """The thread count asked for by ``RIDGEVIZ_THREADS`` (default 1); ValueError unless 1..cpu_count."""
    raw = os.environ.get(ENV_VAR, "1").strip()
    cores = os.cpu_count() or 1
    try:
        value = int(raw)
    except ValueError:
        value = raw
    try:
        return check(ENV_VAR, value, Integer(1, cores))
    except ValueError as exc:
        raise ValueError(f"{exc} (this machine has {cores} cores)") from None


def configure_threads() -> int:
    """Set torch's intra-op threads from ``RIDGEVIZ_THREADS`` (default 1); return the count in force."""
    n = thread_count()
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
