"""The heavy-work queue without a browser: admission, fairness, cancel, calibration, honest times (fake clocks)."""

import math
import subprocess
import sys
import threading

import pytest

from ridgeviz.app.admission import CANCELLED, DONE, QUEUED, RUNNING, Busy, Calibration, HeavyQueue, describe_seconds


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


def make(slots=2, **kw):
    clock = Clock()
    return HeavyQueue(slots, clock=clock, **kw), clock


def test_tickets_run_up_to_the_slots_then_wait_in_order():
    q, _ = make(2)
    a, b, c, d = (q.submit(s, "traj", f"job {s}", 10) for s in "abcd")
    assert [t.state for t in (a, b, c, d)] == [RUNNING, RUNNING, QUEUED, QUEUED]
    assert q.place(c) == 1 and q.place(d) == 2 and q.load() == (2, 2)
    q.release(b)
    assert b.state == DONE and c.state == RUNNING and d.state == QUEUED and q.place(d) == 1
    q.release(a)
    assert d.state == RUNNING and q.load() == (2, 0)


def test_one_running_job_per_session_without_blocking_other_sessions():
    q, _ = make(2)
    first = q.submit("s1", "training", "training", 10)
    second = q.submit("s1", "traj", "trajectories", 10)  # another kind from the same session: it queues behind
    other = q.submit("s2", "traj", "trajectories", 10)
    assert first.state == RUNNING and second.state == QUEUED
    assert other.state == RUNNING  # the free slot goes to the next session, not held for s1
    q.release(other)
    assert second.state == QUEUED and q.load() == (1, 1)  # a slot is free, but s1 already runs one
    q.release(first)
    assert second.state == RUNNING


def test_a_second_press_of_the_same_kind_replaces_the_first():
    q, _ = make(1)
    blocker = q.submit("other", "traj", "x", 10)
    old = q.submit("s1", "traj", "trajectories", 10)
    new = q.submit("s1", "traj", "trajectories", 10)
    assert old.state == CANCELLED and old.cancel.is_set() and new.state == QUEUED
    assert q.load() == (1, 1) and q.place(new) == 1
    q.release(blocker)
    running = q.submit("s1", "traj", "trajectories", 10)  # replaces the running one: its slot is freed at once
    assert new.state == CANCELLED and new.cancel.is_set() and running.state == RUNNING and q.load() == (1, 0)


def test_cancel_removes_a_queued_job_and_frees_a_running_slot_at_once():
    q, _ = make(1)
    running = q.submit("a", "traj", "x", 10)
    waiting = q.submit("b", "traj", "y", 10)
    behind = q.submit("c", "traj", "z", 10)
    q.cancel(waiting)
    assert waiting.state == CANCELLED and waiting not in q.waiting and q.place(behind) == 1
    with pytest.raises(Busy, match="cancelled"):
        q.wait(waiting, timeout=5)
    q.cancel(running)
    assert running.cancel.is_set() and behind.state == RUNNING  # the next one starts without waiting for release
    q.release(running)  # the cancelled computation notices later: nothing changes, nothing is measured
    assert behind.state == RUNNING and not q.calibration.measured("traj")


def test_a_blocked_wait_ends_at_once_when_its_ticket_is_cancelled():
    q = HeavyQueue(1)
    q.submit("a", "traj", "x", 10)
    waiting = q.submit("b", "traj", "y", 10)
    errors = []

    def wait():
        try:
            q.wait(waiting, timeout=60, poll=5.0)
        except Busy as exc:
            errors.append(str(exc))

    th = threading.Thread(target=wait)
    th.start()
    q.cancel(waiting, "cancelled on the page")
    th.join(2.0)  # the condition is notified: no poll period to sit out
    assert not th.is_alive() and "cancelled on the page" in errors[0]


def test_a_wait_times_out_with_a_message_and_leaves_the_queue():
    q, clock = make(1)
    q.submit("a", "traj", "x", 10)
    waiting = q.submit("b", "traj", "the sweep", 10)
    calls = []

    def on_wait(t):
        calls.append(q.place(t))
        clock.advance(30)

    with pytest.raises(Busy, match="could not start within about 1 minute"):
        q.wait(waiting, timeout=60, poll=0.001, on_wait=on_wait)
    assert calls and calls[0] == 1 and waiting.state == CANCELLED and q.load() == (1, 0)


def test_expected_start_follows_the_running_jobs_and_the_queue_ahead():
    q, clock = make(2)
    a = q.submit("a", "traj", "x", 100)  # ends at 100
    q.submit("b", "traj", "x", 40)  # ends at 40
    c = q.submit("c", "traj", "x", 30)  # starts at 40, ends at 70
    d = q.submit("d", "traj", "x", 10)  # starts at 70
    assert q.expected_start(c) == pytest.approx(40) and q.expected_start(d) == pytest.approx(70)
    assert q.remaining(d) == pytest.approx(80)
    clock.advance(20)
    assert q.expected_start(c) == pytest.approx(20)
    q.report(a, 0.5)  # a ran 20 s for half its work: 20 s left by its own rate, not 80 by its estimate
    assert q.expected_start(d) == pytest.approx(20)  # both slots free in 20 s: c takes one, d the other
    clock.advance(100)  # everything running is late: a late job is given a fifth of its estimate more
    q.report(a, 0.0)
    assert q.expected_start(c) == pytest.approx(0.2 * 40)


def test_a_request_that_would_wait_too_long_is_refused_at_once_with_its_place():
    q, _ = make(1, max_wait=100)
    q.submit("a", "traj", "x", 90)
    ok = q.submit("b", "traj", "y", 50)  # starts in 90 s: admitted
    with pytest.raises(Busy, match=r"place 2 in the queue\) would start in about 2 minutes"):
        q.submit("c", "traj", "the trajectories", 10)
    assert ok.state == QUEUED and q.load() == (1, 1)


def test_calibration_learns_the_measured_ratio_per_kind_and_prices_with_it():
    q, clock = make(1)
    assert q.calibration.ratio("traj") == 1.0 and not q.calibration.measured("traj")
    for _ in range(12):
        t = q.submit("a", "traj", "x", 10)
        clock.advance(30)  # this server takes 3x the price
        q.release(t)
    assert q.calibration.ratio("traj") == pytest.approx(3.0, rel=1e-6)
    assert q.calibration.ratio("training") == 1.0  # kinds are separate
    blocker = q.submit("b", "traj", "x", 10)
    assert blocker.seconds == pytest.approx(30) and q.remaining(blocker) == pytest.approx(30)
    waiting = q.submit("c", "traj", "x", 20)
    assert q.remaining(waiting) == pytest.approx(30 + 60)


def test_calibration_is_a_moving_average_of_log_ratios_within_bounds():
    cal = Calibration(alpha=0.5, lo=0.1, hi=10)
    cal.record("k", 10, 40)
    cal.record("k", 10, 10)
    assert cal.ratio("k") == pytest.approx(math.exp(0.5 * math.log(4)))
    cal.record("k", 1, 1e6)  # clamped at hi before averaging
    assert cal.ratio("k") == pytest.approx(math.exp(0.5 * 0.5 * math.log(4) + 0.5 * math.log(10)))
    for bad in ((0, 5), (5, 0), (float("nan"), 1), (1, float("inf"))):
        cal.record("other", *bad)
    assert not cal.measured("other")


def test_interrupted_runs_are_not_measured():
    q, clock = make(1)
    t = q.submit("a", "traj", "x", 10)
    clock.advance(1)
    q.cancel(t, "the page was left")
    q.release(t)
    assert not q.calibration.measured("traj") and q.load() == (0, 0)


def test_describe_seconds_rounds_as_a_person_would():
    assert [describe_seconds(s) for s in (0.2, 7.2, 42, 75, 150, 1000)] == [
        "about 1 s", "about 8 s", "about 45 s", "about 1 minute", "about 2 minutes", "about 17 minutes"]


def test_the_queue_modules_load_no_streamlit():
    code = "import sys; import ridgeviz.app.admission, ridgeviz.app.train_worker; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
