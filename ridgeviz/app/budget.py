"""The work budget in the app: calibrated estimates, a button above the page-load budget, a fair queue.

- :func:`gate`: a computation whose estimate on this server (its price, :mod:`ridgeviz.views.budget`, times the
  ratio measured over recent runs of its kind) is below ``RIDGEVIZ_AUTO_SECONDS`` runs when the page opens or a
  link asks for it; above that it waits for a button showing the estimate; above the limits of
  :mod:`ridgeviz.utils.limits` it is refused with what to reduce. A link never starts a long computation.
- :func:`slot` / :func:`queued`: at most ``RIDGEVIZ_MAX_HEAVY`` heavy computations (default 2: the machine has
  two cores) run at once in this server, one per session (:mod:`ridgeviz.app.admission`). The others wait in
  line; the page says at once where a request stands and when it should start and end, with a Cancel button, and
  refuses at once a request that would wait longer than ``RIDGEVIZ_MAX_WAIT_SECONDS`` (default 600).
- :func:`readable`: an error box gets a sentence, never an allocator's message.

A waiting page redraws its note every half second: each redraw is a point where Streamlit can stop the run, so
Cancel, another button or leaving the page withdraws the request from the queue at once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

import streamlit as st

from ..utils.limits import BudgetError, Cost, exceeds, format_bytes, format_seconds, limits
from ..utils.limits import require as require_reference
from ..utils.validation import Integer, Real, check
from ..views.budget import auto_seconds
from .admission import QUEUED, Busy, HeavyQueue, Ticket, describe_seconds
from .memory import give_back
from .priority import background

__all__ = ["caption", "estimate", "gate", "heavy_queue", "in_slot", "queued", "readable", "require",
           "slot", "upload_limits", "waiting_for_another"]

ENV_HEAVY, ENV_WAIT = "RIDGEVIZ_MAX_HEAVY", "RIDGEVIZ_MAX_WAIT_SECONDS"
WAIT_SECONDS = 900  # a request that has not started after this long is withdrawn with a message
TOLD_AFTER = 60.0  # a wait expected longer than this is shown as a warning, with the place and the time
SHOW_RUNNING = 3.0  # a running computation expected to take longer than this shows its own note and Cancel
DEFAULT_ESTIMATE = 10.0  # reference seconds for a computation its caller did not price
_LOCAL = threading.local()  # per script thread: the request the page is about to compute, the ticket it holds


def _env(name: str, default: str, constraint):
    raw = os.environ.get(name, default).strip() or default
    try:
        value = float(raw) if isinstance(constraint, Real) else int(raw)
    except ValueError:
        value = raw
    return check(name, value, constraint)


def max_heavy() -> int:
    return _env(ENV_HEAVY, "2", Integer(1, 64))


def max_wait() -> float:
    return _env(ENV_WAIT, "600", Real(0, 86400))


@st.cache_resource(show_spinner=False)
def heavy_queue() -> HeavyQueue:
    """This server's slots and queue (shared by every session)."""
    return HeavyQueue(max_heavy(), max_wait=max_wait())


def session_id() -> str:
    """This browser session's id (a thread's own id off the script thread)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else f"thread-{threading.get_ident()}"


# -- estimates -------------------------------------------------------------------------------------------------------
def estimate(cost: Cost, kind: str) -> float:
    """Seconds ``cost`` should take on this server: its price times the ratio measured for ``kind``."""
    return heavy_queue().calibration.seconds(kind, cost.seconds)


def estimate_text(cost: Cost, kind: str | None = None) -> str:
    """``"about 1.2 GB and 3 minutes here (limits 4 GB, 10 minutes)"``."""
    lim, cal = limits(), heavy_queue().calibration
    seconds = cost.seconds if kind is None else estimate(cost, kind)
    how = "" if kind is None else (" here" if cal.measured(kind) else " (not yet measured on this server)")
    return (f"about {format_bytes(cost.bytes)} and {format_seconds(seconds)}{how} (limits {format_bytes(lim.bytes)},"
            f" {format_seconds(lim.minutes * 60)})")


def require(cost: Cost, what: str, reduce: str, kind: str | None = None) -> Cost:
    """Refuse ``cost`` above the limits, its time as measured for ``kind`` on this server (a ``BudgetError``)."""
    if kind is not None:
        cost = Cost(cost.bytes, cost.flops * heavy_queue().calibration.ratio(kind))
    return require_reference(cost, what, reduce)


def caption(cost: Cost, what: str = "Estimated", kind: str | None = None) -> None:
    """The estimate beside a form's widgets, in a caption (a warning when above the limits)."""
    text = f"{what}: {estimate_text(cost, kind)}."
    ratio = heavy_queue().calibration.ratio(kind) if kind else 1.0
    if exceeds(Cost(cost.bytes, cost.flops * ratio)):
        st.warning(text + " Above the limits: reduce the sizes.")
    else:
        st.caption(text)


def gate(key, cost: Cost, what: str, reduce: str, kind: str | None = None, ready: bool = False) -> bool:
    """Whether to run ``what`` now: at once when cheap here or ``ready`` (this server already holds the result, so
    showing it costs nothing however busy the server is), on a button press above the page-load budget, never
    above the limits (a ``BudgetError`` with what to reduce). A press is remembered for this ``key``; after a
    Cancel the computation waits for a press again."""
    kind = kind or what
    require(cost, what[0].upper() + what[1:], reduce, kind)
    st.session_state.setdefault("_budget_gates", {})[what] = key
    held = key in st.session_state.get("_budget_held", set())
    if ready and not held:
        return True
    seconds = estimate(cost, kind)
    if seconds <= auto_seconds() and not held:
        return True
    done = st.session_state.setdefault("_budget_pressed", set())
    if key in done:
        return True
    if held:
        st.info(f"{what[0].upper() + what[1:]} was cancelled; it would take {estimate_text(cost, kind)}.")
    else:
        st.info(f"{what[0].upper() + what[1:]} would take {estimate_text(cost, kind)}; it does not start by itself.")
    if st.button(f"Compute {what} ({describe_seconds(seconds)})", key=f"budget_{abs(hash(key)) % 10**9}"):
        done.add(key)
        st.session_state.get("_budget_held", set()).discard(key)
        return True
    return False


# -- the queue on a page -------------------------------------------------------------------------------------------
@dataclass
class _Request:
    """What the page is about to compute (set by :func:`queued`), where its queue note is drawn, and the ticket
    that holds a slot for it (from its first :func:`slot` to the end of the ``queued`` block: the price covers
    the whole block, so the measured time does too)."""

    what: str
    kind: str
    seconds: float | None  # reference seconds (the price), None when the caller did not price it
    note: object  # st.empty()
    text: object = None
    drawn: bool = False
    ticket: Ticket | None = None
    on_cancel: object = None  # called by the Cancel button's callback (e.g. forget the request's settings)

    def show(self, level: str, message: str) -> None:
        if self.text is None:  # the note and its Cancel button, made once per run
            box = self.note.container()
            self.text = box.empty()
            box.button("Cancel", key=f"budget_cancel_{self.kind}", on_click=_cancel_pressed,
                       args=(self.what, self.on_cancel))
        getattr(self.text, level)(message)
        self.drawn = True


def _cancel_pressed(what: str, on_cancel=None) -> None:
    """The Cancel button. The run it interrupts has withdrawn its ticket (at its next redraw); an automatic
    computation now waits for a press instead of starting again."""
    key = st.session_state.get("_budget_gates", {}).get(what)
    if key is not None:
        st.session_state.setdefault("_budget_held", set()).add(key)
        st.session_state.get("_budget_pressed", set()).discard(key)
    if on_cancel is not None:
        on_cancel()
    st.toast(f"Cancelled {what}.")


@contextlib.contextmanager
def queued(what: str, cost: Cost | None = None, kind: str | None = None, on_cancel=None):
    """Around a call that may compute: its price for the queue, and a note (with Cancel) while it waits or runs.

    ``cost`` is the price of the whole block, ``kind`` names its kind of work (the calibration's key);
    ``on_cancel()`` runs when its Cancel button is pressed (before the next run of the page)."""
    prev = getattr(_LOCAL, "request", None)
    req = _Request(what, kind or what, None if cost is None else cost.seconds, st.empty(), on_cancel=on_cancel)
    _LOCAL.request = req
    ok = False
    try:
        yield
        ok = True
    finally:
        _LOCAL.request = prev
        if req.ticket is not None:
            _LOCAL.held = None
            (heavy_queue().release if ok else heavy_queue().cancel)(req.ticket)
            give_back()
        if req.drawn:
            req.note.empty()


def _wait_text(q: HeavyQueue, ticket: Ticket) -> tuple[str, str]:
    start = q.expected_start(ticket)
    own = q.session_running(ticket.session)
    if own is not None and own is not ticket:
        return "info", (f"Waiting for your own {own.what} to end (one long computation per session at a time): "
                        f"{ticket.what} should start in {describe_seconds(start)}.")
    running, waiting = q.load()
    message = (f"Queued: {ticket.what} is number {q.place(ticket)} in line ({running} running on this server, at "
               f"most {q.slots} at a time, {waiting} waiting). Expected to start in {describe_seconds(start)} and "
               f"to be done in {describe_seconds(start + ticket.seconds)}.")
    return ("warning" if start > TOLD_AFTER else "info"), message


def _in_cached_function() -> bool:
    try:
        from streamlit.runtime.caching.cached_message_replay import in_cached_function
    except ImportError:  # pragma: no cover - an older or newer Streamlit: do not draw
        return True
    return bool(in_cached_function.get())


@contextlib.contextmanager
def slot(what: str, *, kind: str | None = None, seconds: float | None = None, session: str | None = None):
    """``with slot("the sweep"):`` the heavy part of a computation, in one of this server's slots.

    The ticket's kind and price come from the enclosing :func:`queued` on this thread, which then keeps the slot
    until its block ends; without one (or with ``session``: a background thread) from ``kind``/``seconds``, and
    the slot is freed when this block ends. Reentrant on one thread. Raises
    :class:`~ridgeviz.app.admission.Busy` (a ``ValueError``) when the queue is too long or the request was
    cancelled. Yields the ticket (``ticket.cancel`` is set if it is cancelled).
    """
    held = getattr(_LOCAL, "held", None)
    if session is None and held is not None and held.active:
        yield held
        return
    req = getattr(_LOCAL, "request", None)
    owner = req if req is not None and session is None and req.ticket is None else None
    kind = kind or (owner.kind if owner else what)
    price = seconds if seconds is not None else (owner.seconds if owner and owner.seconds is not None
                                                 else DEFAULT_ESTIMATE)
    draw = owner is not None and not _in_cached_function()
    q = heavy_queue()
    ticket = q.submit(session or session_id(), kind, what, price)
    ok = False
    try:
        if ticket.state == QUEUED:
            show = (lambda t: owner.show(*_wait_text(q, t))) if draw else None
            if show:
                show(ticket)
            q.wait(ticket, WAIT_SECONDS, on_wait=show)
        if draw and ticket.seconds > SHOW_RUNNING:
            owner.show("info", f"Computing {what}: {describe_seconds(ticket.seconds)} expected on this server.")
        if session is None:
            _LOCAL.held = ticket
        if owner is not None:
            owner.ticket = ticket
        with background():  # below the pages' CPU priority: other sessions' views stay quick
            yield ticket
        ok = True
    finally:
        if owner is None or not ok:
            if session is None:
                _LOCAL.held = None
            if owner is not None:
                owner.ticket = None
            (q.release if ok else q.cancel)(ticket)
            give_back()  # what the computation freed goes back to the system, not kept in this thread's arena


def in_slot(what: str, compute):
    """``compute()`` in a heavy slot."""
    with slot(what):
        return compute()


def waiting_for_another(done: threading.Event) -> None:
    """Wait until another session's run of the same computation ends (``done`` set), with a note on the page; each
    redraw is a point where Streamlit can stop this run (Cancel, another button, leaving the page)."""
    req = getattr(_LOCAL, "request", None)
    draw = req is not None and not _in_cached_function()
    while not done.wait(0.5):
        if draw:
            req.show("info", f"Another visitor is computing {req.what} with these same settings; the result "
                             "appears here when it is done.")


def upload_limits() -> str:
    """The upload widget's limits in words."""
    lim = limits()
    return (f"at most 50 MB, 200,000 points, 4,096 dimensions and {lim.elements:,} values in all; larger data "
            f"needs RIDGEVIZ_MAX_ELEMENTS raised by the operator")


_ALLOCATOR = ("alloc", "out of memory", "not enough memory", "cannot allocate", "std::bad_alloc")


def readable(exc: BaseException, what: str) -> str | None:
    """A sentence for an error whose text is an allocator's (or None when the text is already meant for people)."""
    if isinstance(exc, (BudgetError, Busy)):
        return None
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or any(word in text for word in _ALLOCATOR):
        return (f"There is not enough memory for {what} with these settings (the limit per computation is "
                f"{format_bytes(limits().bytes)}); reduce the number of points, particles, steps or the dimension.")
    return None
