"""Shipped precomputed results (``assets/*.npz``): read once per server, and used only when they answer the question.

One mechanism for every page that opens on a shipped result (Trajectories' demo, the Random features sweep, the
home page's side-by-side view): the file's recorded ``config`` must equal, key by key, what this code would record
for the default settings (settings, checkpoints and the code fingerprint). Otherwise the page computes instead and
the server log names the command that rebuilds the file, so a stale file is never shown.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from .state import LOG


def current(path: Path, reader, want: dict, rebuild: str):
    """``reader(path)``'s result (an object with a ``config`` dict) if the file exists, reads, and records ``want``
    (every key equal after a JSON round trip); else None. ``rebuild``: the command that remakes the file."""
    if not path.exists():
        return None
    return _read(str(path), path.stat().st_mtime, json.dumps(want, sort_keys=True), rebuild, _reader=reader)


@st.cache_resource(show_spinner=False)
def _read(path: str, mtime: float, want: str, rebuild: str, _reader=None):
    try:
        res = _reader(path)
    except (ValueError, OSError, KeyError) as exc:
        LOG.warning("ignoring %s: %s", path, exc)
        return None
    expected = json.loads(want)
    got = json.loads(json.dumps({k: res.config.get(k) for k in expected}, sort_keys=True))
    if got != expected:
        differ = sorted(k for k in expected if got[k] != expected[k])
        LOG.warning("%s was made by other %s; computing instead (rebuild it with `%s`)", path, ", ".join(differ),
                    rebuild)
        return None
    return res
