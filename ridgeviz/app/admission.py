"""Admission of heavy work by measured cost: a queue in front of the server's slots, fair between sessions.

UI-free (no streamlit; :mod:`ridgeviz.app.budget` draws it) and driven by an injectable clock, so the rules are
tested without a browser or real time:

- **Calibrated estimates.** A price (:mod:`ridgeviz.views.budget`) is in reference seconds. Each kind of work
  keeps a running ratio measured/estimated over its recent runs on this server (:class:`Calibration`, a moving
  average of the log-ratio), so what the page says is what this machine, with its usual load, took lately.
- **The queue.** At most ``slots`` tickets run at once; the others wait in order of arrival. A ticket's
  expected start comes from the running jobs' remaining time (their calibrated estimate, or their own progress
  rate once they report progress) and the calibrated estimates of the tickets ahead of it.
- **Fairness.** One running job per session: a session's second ticket waits until its first ends, without
  holding back other sessions' tickets behind it. A new ticket of the same kind from the same session replaces
  the older one (a second press of a button is the newer wish).
- **Cancel.** Cancelling a waiting ticket removes it from the queue; cancelling a running one frees its slot at
  once and sets its ``cancel`` event, which the computation checks between steps.
- **Refusal at once.** A ticket whose expected start is more than ``max_wait`` seconds away is refused when it
  is submitted (:class:`Busy`, with its place and the time), never after a silent wait.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from dataclasses import dataclass, field

QUEUED, RUNNING, DONE, CANCELLED = "queued", "running", "done", "cancelled"


class Busy(ValueError):
    """A heavy request that cannot start soon enough (the queue is too long) or was cancelled while waiting."""


def describe_seconds(s: float) -> str:
    """``"about 40 s"`` / ``"about 3 minutes"``, rounded as a person would say it (never "0 s")."""
    if s < 10:
        return f"about {max(1, math.ceil(s))} s"
    if s < 60:
        return f"about {5 * math.ceil(s / 5)} s"
    return "about 1 minute" if s < 90 else f"about {round(s / 60)} minutes"


class Calibration:
    """Per kind of work, a running ratio of measured to estimated seconds (geometric moving average).

    ``alpha`` weighs the newest run; ratios are kept within ``[lo, hi]`` so one odd run cannot make estimates
    absurd. A kind never measured has ratio 1 (the price as computed).
    """

    def __init__(self, alpha: float = 0.4, lo: float = 0.02, hi: float = 200.0):
        self.alpha, self.lo, self.hi = alpha, lo, hi
        self._log: dict[str, float] = {}
        self.runs: dict[str, int] = {}
        self._lock = threading.Lock()

    def ratio(self, kind: str) -> float:
        with self._lock:
            return math.exp(self._log[kind]) if kind in self._log else 1.0

    def measured(self, kind: str) -> bool:
        return self.runs.get(kind, 0) > 0

    def seconds(self, kind: str, estimate: float) -> float:
        """``estimate`` (reference seconds) as seconds on this server, by the kind's measured ratio."""
        return max(0.0, float(estimate)) * self.ratio(kind)

    def record(self, kind: str, estimate: float, measured: float) -> None:
        """Fold one run (``estimate`` reference seconds that took ``measured`` seconds) into the kind's ratio."""
        if not (estimate > 0 and measured > 0 and math.isfinite(estimate) and math.isfinite(measured)):
            return
        r = math.log(min(max(measured / estimate, self.lo), self.hi))
        with self._lock:
            old = self._log.get(kind)
            self._log[kind] = r if old is None else (1 - self.alpha) * old + self.alpha * r
            self.runs[kind] = self.runs.get(kind, 0) + 1


@dataclass(eq=False)
class Ticket:
    """One request for a heavy slot: who asked, what, its estimate, and where it stands."""

    session: str
    kind: str
    what: str
    estimate: float  # reference seconds (the price)
    seconds: float  # calibrated seconds on this server, fixed when submitted
    submitted: float
    id: int = 0
    state: str = QUEUED
    started: float | None = None
    ended: float | None = None
    progress: float = 0.0  # 0..1, reported by the computation while it runs
    reason: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)


class HeavyQueue:
    """The server's heavy slots and the queue in front of them (thread-safe; ``clock`` injectable for tests)."""

    def __init__(self, slots: int, *, clock=time.monotonic, calibration: Calibration | None = None,
                 max_wait: float = 600.0):
        if slots < 1:
            raise ValueError(f"slots must be at least 1; got {slots}")
        self.slots, self.clock, self.max_wait = int(slots), clock, float(max_wait)
        self.calibration = calibration or Calibration()
        self.running: list[Ticket] = []
        self.waiting: list[Ticket] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)

    # -- requests ---------------------------------------------------------------------------------------------
    def submit(self, session: str, kind: str, what: str, estimate: float, *, replace: bool = True) -> Ticket:
        """Queue a request (it starts at once when a slot is free and its session has none running).

        With ``replace``, this session's other active tickets of the same ``kind`` are cancelled first. Raises
        :class:`Busy` (the ticket withdrawn) when its expected start is beyond ``max_wait``.
        """
        with self._cond:
            if replace:
                for old in [t for t in self.running + self.waiting if t.session == session and t.kind == kind]:
                    self._cancel(old, "replaced by a newer request of the same session")
            ticket = Ticket(session, kind, what, float(estimate), self.calibration.seconds(kind, estimate),
                            self.clock(), id=next(self._ids))
            self.waiting.append(ticket)
            self._admit()
            if ticket.state == QUEUED:
                start = self._expected_start(ticket)
                if start > self.max_wait:
                    place, ahead = self._place(ticket), len(self.waiting) - 1
                    self._cancel(ticket, "refused: the queue is too long")
                    raise Busy(f"The server is busy: {len(self.running)} computations are running and {ahead} "
                               f"waiting, so {what} (place {place} in the queue) would start in "
                               f"{describe_seconds(start)}, more than the {describe_seconds(self.max_wait)} "
                               "a request may wait. Please try again in a few minutes.")
            return ticket

    def wait(self, ticket: Ticket, timeout: float, *, poll: float = 0.5, on_wait=None) -> None:
        """Block until ``ticket`` runs. ``on_wait(ticket)`` is called every ``poll`` seconds of waiting (outside
        the lock: a page redraws its note there). Raises :class:`Busy` if the ticket is cancelled, or if it has
        not started within ``timeout`` seconds of this clock (it is then withdrawn)."""
        deadline = self.clock() + timeout
        while True:
            with self._cond:
                if ticket.state == RUNNING:
                    return
                if ticket.state != QUEUED:
                    raise Busy(f"{ticket.what[0].upper() + ticket.what[1:]} was cancelled"
                               + (f" ({ticket.reason})" if ticket.reason else "") + ".")
                if self.clock() >= deadline:
                    self._cancel(ticket, "waited too long")
                    raise Busy(f"The server is busy with other long computations; {ticket.what} could not start "
                               f"within {describe_seconds(timeout)}. Please try again later.")
                self._cond.wait(poll)
            if on_wait is not None and ticket.state == QUEUED:
                on_wait(ticket)

    def release(self, ticket: Ticket, *, measured: float | None = None, estimate: float | None = None) -> None:
        """The work of ``ticket`` has ended (or was abandoned): free its slot or its place in the queue.

        A run that completed (not cancelled) is folded into the calibration of its kind: ``measured`` seconds
        (default: the time it held the slot) against ``estimate`` reference seconds (default: its price).
        """
        with self._cond:
            if ticket.state == RUNNING:
                self.running.remove(ticket)
                ticket.state, ticket.ended = DONE, self.clock()
                took = ticket.ended - ticket.started if measured is None else measured
                self.calibration.record(ticket.kind, ticket.estimate if estimate is None else estimate, took)
            elif ticket.state == QUEUED:
                self._cancel(ticket, "abandoned")
            self._admit()
            self._cond.notify_all()

    def cancel(self, ticket: Ticket, reason: str = "cancelled") -> None:
        """Withdraw ``ticket``: out of the queue if waiting; its slot freed at once (and ``cancel`` set) if running."""
        with self._cond:
            self._cancel(ticket, reason)

    def cancel_session(self, session: str, reason: str = "cancelled") -> int:
        """Cancel every active ticket of ``session``; returns how many."""
        with self._cond:
            mine = [t for t in self.running + self.waiting if t.session == session]
            for t in mine:
                self._cancel(t, reason)
            return len(mine)

    def report(self, ticket: Ticket, fraction: float) -> None:
        """A running computation's progress (0..1): it refines the expected end of the tickets behind it."""
        if math.isfinite(fraction):
            ticket.progress = min(max(float(fraction), 0.0), 1.0)

    # -- what the page shows -------------------------------------------------------------------------------------
    def place(self, ticket: Ticket) -> int:
        """1-based place among the waiting tickets (0 once running or ended)."""
        with self._cond:
            return self._place(ticket)

    def expected_start(self, ticket: Ticket) -> float:
        """Seconds from now until ``ticket`` should start (0 when running)."""
        with self._cond:
            return self._expected_start(ticket) if ticket.state == QUEUED else 0.0

    def remaining(self, ticket: Ticket) -> float:
        """Seconds until ``ticket`` should end: its wait plus its calibrated run, less what it has done."""
        with self._cond:
            if ticket.state == QUEUED:
                return self._expected_start(ticket) + ticket.seconds
            return self._remaining(ticket) if ticket.state == RUNNING else 0.0

    def load(self) -> tuple[int, int]:
        """``(running, waiting)`` tickets now."""
        with self._cond:
            return len(self.running), len(self.waiting)

    def session_running(self, session: str) -> Ticket | None:
        with self._cond:
            return next((t for t in self.running if t.session == session), None)

    # -- internals (the lock held) -------------------------------------------------------------------------------
    def _cancel(self, ticket: Ticket, reason: str) -> None:
        if ticket.state == QUEUED:
            self.waiting.remove(ticket)
        elif ticket.state == RUNNING:
            self.running.remove(ticket)
        else:
            return
        ticket.state, ticket.reason, ticket.ended = CANCELLED, reason, self.clock()
        ticket.cancel.set()
        self._admit()
        self._cond.notify_all()

    def _admit(self) -> None:
        """Start waiting tickets in order while slots are free, skipping those whose session already runs one."""
        busy = {t.session for t in self.running}
        for t in list(self.waiting):
            if len(self.running) >= self.slots:
                break
            if t.session in busy:
                continue
            self.waiting.remove(t)
            t.state, t.started = RUNNING, self.clock()
            self.running.append(t)
            busy.add(t.session)
        self._cond.notify_all()

    def _place(self, ticket: Ticket) -> int:
        return self.waiting.index(ticket) + 1 if ticket.state == QUEUED else 0

    def _remaining(self, t: Ticket) -> float:
        """A running ticket's expected remaining seconds: from its own progress rate once it has reported enough,
        else its calibrated estimate less the time it has run (never below a fifth of it: it is late)."""
        elapsed = self.clock() - t.started
        if t.progress >= 0.05 and elapsed > 0:
            return elapsed * (1 - t.progress) / t.progress
        return max(t.seconds - elapsed, 0.2 * t.seconds)

    def _expected_start(self, ticket: Ticket) -> float:
        """Simulate the queue: slots free up as running jobs end; the tickets ahead take them in order."""
        ends = {t.session: self._remaining(t) for t in self.running}
        free = sorted(ends.values()) + [0.0] * (self.slots - len(self.running))
        heapq.heapify(free)
        for t in self.waiting:
            start = max(heapq.heappop(free), ends.get(t.session, 0.0))
            if t is ticket:
                return start
            ends[t.session] = start + t.seconds
            heapq.heappush(free, start + t.seconds)
        return 0.0
