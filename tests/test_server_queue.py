"""The server's queue on the pages (AppTest, no browser): one job per session, Cancel empties the queue, Compare
goes through the slots, refusals come at once; and prices by the model actually used."""

import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from ridgeviz.app.admission import CANCELLED, QUEUED
from ridgeviz.app.budget import heavy_queue

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120


def score_model_page(monkeypatch, steps: int, hidden: int = 16) -> AppTest:
    monkeypatch.setenv("RIDGEVIZ_TRAIN_SECONDS", "3600")  # a long run must be accepted here
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/2_Score_model.py")
    at.run()
    next(w for w in at.radio if w.key == "model_kind").set_value("mlp").run()
    next(w for w in at.number_input if w.key == "mlp_steps").set_value(steps)
    next(w for w in at.number_input if w.key == "mlp_hidden").set_value(hidden)
    return at


def press_train(at: AppTest) -> None:
    at.button[[b.label for b in at.button].index("Train")].click().run()
    assert not at.exception, [e.value for e in at.exception]


def wait_for(condition, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def fresh_queue():
    """Each test starts from an empty queue with nothing measured. The server's queue lives as long as the process,
    so the pages earlier tests opened (which compute, and train) leave their measured speeds in it, and those change
    the estimates these tests read."""
    heavy_queue.clear()
    yield
    heavy_queue.clear()


@pytest.fixture
def blocked_slots():
    """Every slot of the server taken by other sessions' long jobs (released after the test)."""
    q = heavy_queue()
    blockers = [q.submit(f"blocker-{i}", "blocker", "another visitor's job", 60.0) for i in range(q.slots)]
    assert q.load()[0] == q.slots
    yield q
    for t in blockers:
        q.cancel(t)


def test_a_second_train_press_in_one_session_replaces_the_first_job(monkeypatch):
    at = score_model_page(monkeypatch, 50_000)
    press_train(at)
    first = at.session_state["mlp_job"]
    wait_for(lambda: first.ticket is not None)
    press_train(at)
    second = at.session_state["mlp_job"]
    assert second is not first and first.cancel.is_set()
    wait_for(lambda: second.ticket is not None)
    q = second.queue
    mine = [t for t in q.running + q.waiting if t.session == second.session]
    assert mine == [second.ticket] and first.ticket.state == CANCELLED
    first.thread.join(TIMEOUT)
    assert not first.thread.is_alive()
    second.stop()
    second.thread.join(TIMEOUT)
    assert not second.thread.is_alive() and q.load()[0] == 0


def test_cancel_of_a_queued_training_removes_it_from_the_queue(monkeypatch, blocked_slots):
    q = blocked_slots
    at = score_model_page(monkeypatch, 40)
    press_train(at)
    job = at.session_state["mlp_job"]
    wait_for(lambda: job.ticket is not None)
    assert job.ticket.state == QUEUED and q.place(job.ticket) == 1
    at.run()
    assert any("number 1 in line" in i.value for i in at.info)  # the page says where it stands, at once
    at.button(key="mlp_cancel").click().run()
    assert job.ticket.state == CANCELLED and job.ticket not in q.waiting  # out of the queue at once
    job.thread.join(10)
    assert not job.thread.is_alive() and not job.losses
    said = [i.value for i in at.info]
    at.run()
    said += [i.value for i in at.info]
    assert any("cancelled before it started" in text for text in said)
    assert at.session_state["model_cfg"].kind != "mlp"


def test_a_training_longer_than_a_slot_allows_is_refused_with_the_steps_that_fit():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/2_Score_model.py")
    at.run()
    next(w for w in at.radio if w.key == "model_kind").set_value("mlp").run()
    next(w for w in at.number_input if w.key == "mlp_steps").set_value(50_000)  # the recipe's width: minutes
    at.button[[b.label for b in at.button].index("Train")].click().run()
    assert not at.exception
    assert any("at most about" in e.value and "steps fit" in e.value for e in at.error), [e.value for e in at.error]
    assert "mlp_job" not in at.session_state


def test_compare_on_home_goes_through_the_slots_and_a_long_wait_is_refused_at_once(monkeypatch, blocked_slots):
    monkeypatch.setattr(blocked_slots, "max_wait", 5.0)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    left = next(w for w in at.selectbox if w.key == "home_left")
    right = next(w for w in at.selectbox if w.key == "home_right")
    right.set_value(left.options[-1] if right.value != left.options[-1] else left.options[-2])
    at.button(key="home_run").click().run()
    assert not at.exception
    busy = [e.value for e in at.error if "server is busy" in e.value]
    assert busy and "place 1 in the queue" in busy[0]
    assert blocked_slots.load() == (blocked_slots.slots, 0)  # refused, not left waiting


# -- prices by the model actually used -------------------------------------------------------------------------------
def test_a_closed_form_checkpoint_is_priced_by_its_own_points_and_refused_on_other_data():
    import ridgeviz as rv
    from ridgeviz.app.models import check_same_data
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.data.datasets import MODE_SETS
    from ridgeviz.models.factory import ModelConfig
    from ridgeviz.utils.limits import density_cost
    from ridgeviz.views.budget import trajectories_cost
    from ridgeviz.views.trajectories import TrajectoryConfig

    page = MODE_SETS["thirteen"]
    big = np.random.default_rng(0).normal(size=(20_000, 2))
    ckpt = rv.ExactScore(rv.SmoothedEmpirical(big, rv.get_schedule("ou")))
    cfg, sched = TrajectoryConfig(particles=256), ScheduleConfig()
    own = trajectories_cost(page.shape, sched, cfg, ModelConfig("checkpoint", key="k"), ckpt)
    exact = trajectories_cost(page.shape, sched, cfg, ModelConfig("exact"))
    as_big = trajectories_cost(big.shape, sched, cfg, ModelConfig("exact"))
    # sampling is priced by the 20,000 points the model carries, the rest of the view by the page's 13
    extra = sched.steps * (density_cost(256, 20_000, 2).flops - density_cost(256, 13, 2).flops)
    assert own.flops - exact.flops == pytest.approx(extra, rel=1e-9)
    assert own.flops > 5 * exact.flops and as_big.flops > own.flops
    with pytest.raises(ValueError, match="its own 20,000 points"):
        check_same_data(ckpt, page)
    check_same_data(rv.ExactScore(rv.SmoothedEmpirical(page.astype(np.float32), rv.get_schedule("ou"))), page)


def test_a_network_is_priced_by_its_width():
    from ridgeviz.models.recipes import recipe_config
    from ridgeviz.views.budget import model_eval_cost, training_cost

    small, wide = (model_eval_cost(512, 13, 2, "mlp", arch={"kind": "mlp", "hidden": h, "depth": 4,
                                                             "time_features": 16}) for h in (32, 512))
    assert wide.flops > 50 * small.flops
    base = recipe_config()
    assert training_cost((13, 2), recipe_config(steps=2 * base.steps)).flops > 1.9 * training_cost((13, 2), base).flops


def test_the_live_loss_curve_is_thinned_to_bin_means():
    from ridgeviz.app.training import thin

    steps, means = thin(np.arange(10_000, dtype=float), 200)
    assert len(steps) == len(means) == 200
    np.testing.assert_allclose(means, [np.arange(i * 50, i * 50 + 50).mean() for i in range(200)], rtol=1e-12)
    np.testing.assert_allclose(steps, np.arange(200) * 50 + 25.5, rtol=1e-12)
    s, m = thin([3.0, 1.0], 200)
    assert list(s) == [1, 2] and list(m) == [3.0, 1.0]


def test_home_needs_no_slot(monkeypatch, blocked_slots):
    monkeypatch.setattr(blocked_slots, "max_wait", 0.0)  # any request for a slot would be refused at once
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and not at.error
    assert at.get("plotly_chart") and blocked_slots.load() == (blocked_slots.slots, 0)


def test_one_computation_per_key_is_shared_by_the_sessions_asking_for_it():
    import threading

    from ridgeviz.app.compute import _Results

    results, calls, release, out = _Results(), [], threading.Event(), []

    def compute():
        calls.append(1)
        release.wait(10)
        if len(calls) == 1:
            raise RuntimeError("the first session left")  # its waiters must not be stranded
        return "value"

    def ask():
        try:
            out.append(results.get("k", compute))
        except RuntimeError as exc:
            out.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert calls == [1]  # the others wait for the first instead of computing again
    release.set()
    for t in threads:
        t.join(10)
    assert calls == [1, 1] and sorted(out) == ["the first session left", "value", "value"]
