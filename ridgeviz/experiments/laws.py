"""The align and slide laws, predicted against measured (a hook for :mod:`ridgeviz.core.laws`).

DESIGN.md's linearised laws near the ridge: the normal offset relaxes toward about ``h_t |e_perp|`` and the
displacement along the ridge accumulates like ``int g(t)^2 |e_par| dt``. Their implementation belongs to the
phase rule (``ridgeviz/core/laws.py``); this experiment draws its predicted-against-measured figure when that
module is present and says so when it is not.
"""

from __future__ import annotations

import importlib.util

from .result import Context, Experiment


def run(ctx: Context) -> Experiment:
    """The align and slide laws: predicted against measured (needs ridgeviz.core.laws)."""
    ex = Experiment("laws", "Align and slide laws: predicted against measured", {"module": "ridgeviz.core.laws"})
    if importlib.util.find_spec("ridgeviz.core.laws") is None:
        ex.notes.append("Not run: ridgeviz.core.laws (the align / slide laws of the phase rule) is not part of this "
                        "build yet. When it is, this experiment draws its predicted-against-measured figure here.")
        return ex
    ex.notes.append("ridgeviz.core.laws is present but this experiment does not yet call it.")
    return ex
