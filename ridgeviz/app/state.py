"""Session state of the app: persistent widgets, the store, error guards, progress bars, kept results.

Shared choices live in ``st.session_state["_store"]``: widgets forget their state when the page changes, the
store does not. Per-session objects (uploads, trained models, results) live in ``st.session_state`` under
page-prefixed keys and never in a cross-session cache keyed by name.
"""

from __future__ import annotations

import contextlib
import logging

import streamlit as st

LOG = logging.getLogger("ridgeviz.app")


def store() -> dict:
    """This session's remembered widget values and last valid configs (survives page switches)."""
    return st.session_state.setdefault("_store", {})


def restore_widgets() -> None:
    """Re-assign each remembered widget key before any widget is drawn.

    This stops Streamlit from resetting a widget when the same key appears on another page (the documented way
    to keep widget values across pages).
    """
    for key in list(store()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def persistent(widget, label: str, key: str, default, options=None, **kwargs):
    """Render ``widget`` (e.g. ``st.slider``) whose value survives page switches and option changes.

    Number widgets with ``min_value``/``max_value`` start clamped into that range.
    """
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if options is None and (lo is not None or hi is not None):
        value = st.session_state.get(key, store().get(key, default))
        value = min(max(value, lo if lo is not None else value), hi if hi is not None else value)
        if st.session_state.get(key) != value:
            st.session_state[key] = value
    _init(key, default, options)
    value = widget(label, options, key=key, **kwargs) if options is not None else widget(label, key=key, **kwargs)
    store()[key] = value
    return value


def _init(key: str, default, options=None):
    """Start widget ``key`` from the store (or ``default``); reset it if it is no longer a valid option."""
    value = store().get(key, default)
    if options is not None and value not in options:
        value = default if default in options else options[0]
    if key not in st.session_state or (options is not None and st.session_state[key] not in options):
        st.session_state[key] = value


@contextlib.contextmanager
def guard(what: str = "this view"):
    """Turn errors into messages: ValueError -> st.error with its text; anything else is logged, then shown.

    Streamlit's own control flow (rerun, stop, page switch) derives from BaseException and passes through.
    """
    try:
        yield
    except ValueError as exc:
        st.error(f"{exc}")
    except MemoryError:
        st.error(f"Out of memory while computing {what}; try fewer particles, steps or data points.")
    except Exception as exc:  # noqa: BLE001 - the page must stay usable whatever happens
        if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError, without importing torch.cuda
            st.error(f"The GPU ran out of memory while computing {what}; try a smaller problem or the CPU.")
        else:
            LOG.exception("unexpected error in %s", what)
            st.error(f"Unexpected error while computing {what}: {type(exc).__name__}: {exc}. "
                     "The details were logged; the session is still usable.")


def progress_callback(label: str):
    """A progress bar and a ``callback(stage, fraction)`` that drives it (for long computations)."""
    bar = st.progress(0.0, text=label)

    def callback(stage: str, fraction: float) -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=f"{label}: {stage}")

    return bar, callback


def computed(prefix: str, key, compute, *, run: bool, preload, label: str):
    """The page's result for ``key``, kept in the session as ``{prefix}_result`` / ``{prefix}_key``.

    ``compute(progress_callback)`` runs when Run was pressed, or at once when ``key`` changed and ``preload()``
    says a shipped precomputed result fits these settings. Returns ``(result or None, stale)``; ``stale`` means
    the settings changed since the result was computed.
    """
    if run or (key != st.session_state.get(f"{prefix}_key") and preload()):
        bar, callback = progress_callback(label)
        st.session_state[f"{prefix}_result"] = compute(callback)
        st.session_state[f"{prefix}_key"] = key
        bar.empty()
    result, made_for = st.session_state.get(f"{prefix}_result"), st.session_state.get(f"{prefix}_key")
    return result, result is not None and key != made_for, made_for


def step(key: str, delta: int, last: int) -> None:
    """Button callback: move the integer widget ``key`` by ``delta``, within ``[0, last]``."""
    st.session_state[key] = min(max(int(st.session_state.get(key, 0)) + delta, 0), last)


def follow_selected(chart_key: str, target_key: str):
    """An ``on_select`` callback: copy the clicked particle of chart ``chart_key`` into widget ``target_key``."""

    def callback() -> None:
        from ..viz.figures import selected_particle

        picked = selected_particle(st.session_state.get(chart_key))
        if picked is not None:
            st.session_state[target_key] = picked

    return callback
