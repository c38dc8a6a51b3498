"""The query-string mirror: the sidebar's dataset and schedule (and a closed-form model) live in the URL.

A link therefore reopens the same view. The URL is read once per session (bad values are reported and
ignored; numbers outside a widget's range are clamped into it: the sidebar's widgets clamp their own, the model's
error sizes are clamped here) and rewritten after the sidebar is drawn. Projector mode travels as ``projector=1``
(written by the frame on every page while it is on, so a reload keeps it); a shipped checkpoint as
``model=checkpoint&file=<name in assets/>``. :func:`page_url` writes such a link (the lecture's "go deeper" links).
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from .state import store

UPLOAD = "upload"  # the sidebar's data kind for this session's uploaded file (never written to a link)
_QP = {"kind": "sb_kind", "set": "sb_name", "n": "sb_n", "seed": "sb_seed", "dim": "sb_dim",
       "off": "sb_off", "radius": "sb_radius", "schedule": "sb_sched", "T": "sb_T", "t_min": "sb_tmin",
       "grid": "sb_grid", "steps": "sb_steps"}
PROJECTOR, PRESENTATION = "projector", "presentation"  # the link's key and the session's (the sidebar toggle's)
_ON, _OFF = ("1", "true", "on", "yes"), ("0", "false", "off", "no")
INJECTED_ERROR_RANGE = (0.0, 3.0)  # the Score model page's sliders for the injected normal and tangential errors
_QP_TYPES = {"sb_n": int, "sb_seed": int, "sb_dim": int, "sb_steps": int, "sb_off": float,
             "sb_radius": float, "sb_T": float, "sb_tmin": float}


def load_query_params() -> None:
    """Once per session: seed the store from the URL's query string (bad values are reported and ignored)."""
    if st.session_state.get("_qp_loaded"):
        return
    st.session_state["_qp_loaded"] = True
    bad = []
    for qk, sk in _QP.items():
        if qk in st.query_params:
            raw = st.query_params[qk]
            try:
                store()[sk] = _QP_TYPES.get(sk, str)(raw)
            except ValueError:
                bad.append(f"{qk}={raw}")
    if "noise" in st.query_params:
        try:
            store()[f"sb_noise_{store().get('sb_kind', 'preset')}"] = float(st.query_params["noise"])
        except ValueError:
            bad.append(f"noise={st.query_params['noise']}")
    if "schedule" in st.query_params:
        store()["sb_sched_prev"] = store().get("sb_sched")
    if st.query_params.get("model"):
        store()["qp_model"] = _clamped_model(dict(st.query_params), bad)
    if PROJECTOR in st.query_params:
        raw = st.query_params[PROJECTOR].strip().lower()
        if raw in _ON + _OFF:
            store()[PRESENTATION] = raw in _ON
        else:
            bad.append(f"{PROJECTOR}={st.query_params[PROJECTOR]}")
    if bad:
        st.warning("Link parameters not used as given: " + ", ".join(bad))


def _clamped_model(qp: dict, bad: list) -> dict:
    """The link's model parameters with the error sizes clamped into the Score model page's slider range (a value
    out of range is clamped and reported, one that is not a number is left for the model page to refuse)."""
    lo, hi = INJECTED_ERROR_RANGE
    for key in ("normal", "tangential"):
        try:
            value = float(qp[key])
        except (KeyError, ValueError):
            continue
        clamped = min(max(value, lo), hi) if value == value else lo  # NaN: the range's start
        if clamped != value:
            bad.append(f"{key}={qp[key]} (clamped to {clamped:g})")
            qp[key] = str(clamped)
    return qp


def write_query_params() -> None:
    """Mirror the sidebar's current choices (and a closed-form model) in the URL."""
    want = {qk: str(store()[sk]) for qk, sk in _QP.items() if sk in store() and sk in st.session_state}
    noise = store().get(f"sb_noise_{store().get('sb_kind')}")
    if noise is not None:
        want["noise"] = str(noise)
    if want.get("kind") == UPLOAD:
        want = {k: v for k, v in want.items() if k not in ("kind", "set")}
    model = st.session_state.get("model_cfg")
    if model is not None and model.closed_form:
        want.update(model=model.kind, normal=f"{model.normal:g}", tangential=f"{model.tangential:g}")
    if {k: st.query_params.get(k) for k in want} != want:
        st.query_params.update(want)


def write_projector(on: bool) -> None:
    """Keep ``projector=1`` in the URL while projector mode is on (every page's frame calls this)."""
    if on and st.query_params.get(PROJECTOR) != "1":
        st.query_params[PROJECTOR] = "1"
    elif not on and PROJECTOR in st.query_params:
        del st.query_params[PROJECTOR]


def page_url(url_path: str, params: dict, projector: bool = False) -> str:
    """A relative link to the page at ``url_path`` with the query ``params`` (the keys :func:`load_query_params`
    reads), and ``projector=1`` when ``projector``."""
    query = {str(k): str(v) for k, v in params.items()} | ({PROJECTOR: "1"} if projector else {})
    return f"{url_path}?{urlencode(query)}" if query else url_path
