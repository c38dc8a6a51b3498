"""The work budget in the app: estimates beside the widgets, a button above the page-load budget, a queue.

- :func:`gate`: a computation estimated (``ridgeviz.views.budget``) below ``RIDGEVIZ_AUTO_SECONDS`` runs when the
  page opens or a link asks for it; above that it waits for a button showing the estimate; above the limits of
  ``ridgeviz.utils.limits`` it is refused with what to reduce. So a link such as ``?kind=highdim&dim=256`` never
  starts a long computation by itself.
- :func:`slot` / :func:`queued`: at most ``RIDGEVIZ_MAX_HEAVY`` heavy computations (default 2: the machine has
  two cores) run at once in this server; the others wait in line, and the page says so.
- :func:`readable`: an error box gets a sentence, never an allocator's message.
"""

from __future__ import annotations

import contextlib
import os
import threading

import streamlit as st

from ..utils.limits import BudgetError, Cost, exceeds, format_bytes, format_seconds, limits, require

__all__ = ["caption", "gate", "queued", "readable", "require", "slot", "in_slot", "upload_limits"]
from ..utils.validation import Integer, check
from ..views.budget import auto_seconds

ENV_HEAVY = "RIDGEVIZ_MAX_HEAVY"
WAIT_SECONDS = 900  # a computation waits at most this long for a slot, then the page says the server is busy


class Slots:
    """A counting semaphore for heavy computations, shared by every session of this server."""

    def __init__(self, n: int):
        self.n, self._sem, self._lock, self.busy = n, threading.BoundedSemaphore(n), threading.Lock(), 0

    @contextlib.contextmanager
    def hold(self, what: str):
        """Run the block in a slot (waiting for one); ``ValueError`` when none frees up in :data:`WAIT_SECONDS`."""
        if not self._sem.acquire(timeout=WAIT_SECONDS):
            raise ValueError(f"The server is busy with other long computations; {what} could not start within "
                             f"{WAIT_SECONDS // 60} minutes. Please try again later.")
        with self._lock:
            self.busy += 1
        try:
            yield
        finally:
            with self._lock:
                self.busy -= 1
            self._sem.release()

    @property
    def full(self) -> bool:
        return self.busy >= self.n


def max_heavy() -> int:
    raw = os.environ.get(ENV_HEAVY, "2").strip()
    try:
        value = int(raw)
    except ValueError:
        value = raw
    return check(ENV_HEAVY, value, Integer(1, 64))


@st.cache_resource(show_spinner=False)
def slots() -> Slots:
    return Slots(max_heavy())


def slot(what: str):
    """``with slot("the sweep"):`` the heavy part of a computation (inside cached functions too: no st calls)."""
    return slots().hold(what)


def in_slot(what: str, compute):
    """``compute()`` in a heavy slot."""
    with slot(what):
        return compute()


@contextlib.contextmanager
def queued(what: str):
    """Around a call that may compute: a note while this server's heavy slots are all taken (it then waits)."""
    note = st.empty()
    if slots().full:
        note.info(f"Queued: {what} starts when one of the computations already running on this server ends "
                  f"(at most {slots().n} at a time).")
    try:
        yield
    finally:
        note.empty()


def estimate_text(cost: Cost) -> str:
    """``"about 1.2 GB and 3 minutes (limits 4 GB, 10 minutes)"``."""
    lim = limits()
    return (f"about {format_bytes(cost.bytes)} and {format_seconds(cost.seconds)} (limits {format_bytes(lim.bytes)},"
            f" {format_seconds(lim.minutes * 60)})")


def caption(cost: Cost, what: str = "Estimated") -> None:
    """The estimate beside a form's widgets, in a caption (a warning when above the limits)."""
    text = f"{what}: {estimate_text(cost)}."
    if exceeds(cost):
        st.warning(text + " Above the limits: reduce the sizes.")
    else:
        st.caption(text)


def gate(key: str, cost: Cost, what: str, reduce: str) -> bool:
    """Whether to run ``what`` now: at once when cheap, on a button press above the page-load budget, never above
    the limits (a ``BudgetError`` with what to reduce). The press is remembered for this ``key``."""
    require(cost, what[0].upper() + what[1:], reduce)
    if cost.seconds <= auto_seconds():
        return True
    done = st.session_state.setdefault("_budget_pressed", set())
    if key in done:
        return True
    st.info(f"{what[0].upper() + what[1:]} would take {estimate_text(cost)}; it does not start by itself.")
    if st.button(f"Compute {what} (about {format_seconds(cost.seconds)})", key=f"budget_{abs(hash(key)) % 10**9}"):
        done.add(key)
        return True
    return False


def upload_limits() -> str:
    """The upload widget's limits in words."""
    lim = limits()
    return (f"at most 50 MB, 200,000 points, 4,096 dimensions and {lim.elements:,} values in all; larger data "
            f"needs RIDGEVIZ_MAX_ELEMENTS raised by the operator")


_ALLOCATOR = ("alloc", "out of memory", "not enough memory", "cannot allocate", "std::bad_alloc")


def readable(exc: BaseException, what: str) -> str | None:
    """A sentence for an error whose text is an allocator's (or None when the text is already meant for people)."""
    if isinstance(exc, BudgetError):
        return None
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or any(word in text for word in _ALLOCATOR):
        return (f"There is not enough memory for {what} with these settings (the limit per computation is "
                f"{format_bytes(limits().bytes)}); reduce the number of points, particles, steps or the dimension.")
    return None
