"""Shipped precomputed results (``assets/*.npz``): read once per server, used only for the request they answer.

One mechanism for every page that opens on a shipped result (Trajectories' demo, the Random features sweep, the
home page's side-by-side view, the MNIST latent page): each view says what a request is made from
(``made_from``: its settings, digests of its input files and data, the code fingerprint; see
:mod:`ridgeviz.utils.provenance`) and a shipped file answers the request exactly when it records the same. A file
whose settings and inputs match but whose code differs is stale, and a file that cannot be read (missing,
truncated, damaged) is refused: the page computes instead and the server log names the command that rebuilds it.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import streamlit as st

from ..utils.provenance import MADE_FROM
from ..utils.results import dumps, read_meta
from ..views.assets import rebuild_command
from .state import LOG

# a damaged file fails in whichever library reads it first: NumPy, zipfile or zlib
_UNREADABLE = (ValueError, OSError, KeyError, IndexError, zipfile.BadZipFile, EOFError, zlib.error)


def current(path: Path, reader, want: dict, rebuild: str | None = None):
    """``reader(path)``'s result when the file exists, reads, and records ``made_from == want``; else None.

    ``rebuild``: the command that remakes the file (by default the ``assets`` group that ships it)."""
    path = Path(path)
    if not path.exists():
        return None
    return _read(str(path), path.stat().st_mtime, dumps(want, sort_keys=True), rebuild or rebuild_command(path.name),
                 _reader=reader)


@st.cache_resource(show_spinner=False, max_entries=32)
def _read(path: str, mtime: float, want: str, rebuild: str, _reader=None):
    expected = json.loads(want)
    try:
        got = read_meta(path, path).get("made_from") or {}
        if got != expected:
            differ = [k for k in MADE_FROM if got.get(k) != expected.get(k)]
            if differ == ["code"]:  # made for this request, by other code
                LOG.warning("%s was made by other code; computing instead (rebuild it with `%s`)", path, rebuild)
            return None
        return _reader(path)
    except _UNREADABLE as exc:
        LOG.warning("ignoring %s (%s); computing instead (rebuild it with `%s`)", path, str(exc)[:200], rebuild)
        return None
