"""What keeps a class's views quick on a busy server: heavy work below the pages' CPU priority, and cached figures
handed to the browser without being converted again for every session."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest

from ridgeviz.app import budget
from ridgeviz.app.figures import prepared
from ridgeviz.app.priority import BACKGROUND_NICE, ENV_VAR, background, heavy_nice

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def in_thread(fn):
    """``fn()`` in a new thread (so that a niceness that cannot be raised back stays with that thread)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    if "error" in out:
        raise out["error"]
    return out["value"]


@linux
def test_background_lowers_this_thread_only(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    main_before = _nice()
    seen = {}

    def work():
        before = _nice()
        with background():
            seen["inside"] = _nice()
            seen["main"] = os.getpriority(os.PRIO_PROCESS, main_id)
        return before, _nice()

    main_id = threading.get_native_id()
    before, after = in_thread(work)
    assert seen["inside"] == max(before, BACKGROUND_NICE)
    assert seen["main"] == main_before == _nice()  # the thread serving pages keeps its priority
    assert after in (before, seen["inside"])  # raised back where the process may (CAP_SYS_NICE), else left low


@linux
def test_a_heavy_slot_runs_below_the_pages(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    budget.heavy_queue.clear()

    def work():
        with budget.slot("a test computation", kind="test", seconds=0.1, session="test-session"):
            return _nice()

    try:
        assert in_thread(work) == max(BACKGROUND_NICE, _nice())
    finally:
        budget.heavy_queue.clear()


@linux
def test_zero_keeps_heavy_work_at_the_pages_priority(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "0")

    def work():
        before = _nice()
        with background():
            return before, _nice()

    before, inside = in_thread(work)
    assert inside == before


@pytest.mark.parametrize("raw", ["ten", "-1", "20", "1.5"])
def test_a_bad_niceness_is_refused_in_words(monkeypatch, raw):
    monkeypatch.setenv(ENV_VAR, raw)
    with pytest.raises(ValueError, match=ENV_VAR):
        heavy_nice()


def test_the_niceness_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert heavy_nice() == BACKGROUND_NICE
    monkeypatch.setenv(ENV_VAR, " 3 ")
    assert heavy_nice() == 3


@linux
def test_the_training_worker_runs_below_the_server(tmp_path):
    env = {**os.environ, ENV_VAR: "7"}
    code = "from ridgeviz.app.priority import lower_process; import os; lower_process(); print(os.nice(0))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert int(out.stdout) == max(7, os.nice(0))
    bad = subprocess.run([sys.executable, "-m", "ridgeviz.app.train_worker", str(tmp_path)], capture_output=True,
                         text=True, timeout=60, env={**os.environ, ENV_VAR: "high"}, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and json.loads(bad.stdout)["status"] == "failed" and ENV_VAR in bad.stdout


def _figure():
    rng = np.random.default_rng(0)
    return go.Figure([go.Scatter(x=rng.normal(size=50), y=rng.normal(size=50), mode="markers")],
                     frames=[go.Frame(data=[go.Scatter(x=rng.normal(size=50), y=rng.normal(size=50))])
                             for _ in range(3)], layout=dict(title="t", height=300))


def test_a_prepared_figure_reaches_the_browser_as_the_figure_itself():
    fig = _figure()
    want = pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, True), validate=False)
    got = pio.to_json(plotly.tools.return_figure_from_figure_or_data(prepared(fig), True), validate=False)
    assert json.loads(got) == json.loads(want)


def test_a_prepared_figure_is_converted_once(monkeypatch):
    fig, calls = _figure(), []
    original = go.Figure.to_dict
    monkeypatch.setattr(go.Figure, "to_dict", lambda self: calls.append(1) or original(self))
    first, second = prepared(fig).to_dict(), prepared(fig).to_dict()
    assert first is second and len(calls) == 1


def _rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@linux
def test_memory_a_heavy_thread_freed_goes_back_to_the_system():
    """200 MB of small arrays (malloc'd, under glibc's mmap threshold) made and mostly freed in a worker thread stay
    resident in its arena until :func:`give_back` returns them."""
    from ridgeviz.app.memory import give_back

    kept = []

    def work():
        arrays = [np.ones(256) for _ in range(200_000)]
        kept.extend(arrays[::50])  # a few survivors keep the arena from shrinking by itself

    in_thread(lambda: work() or 0)
    before = _rss_mb()
    if not give_back():
        pytest.skip("not glibc: nothing to give back")
    assert _rss_mb() < before - 100, (before, _rss_mb())


def _data_page(set_name: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.query_params["set"] = set_name
    at.run()
    at.switch_page("app_pages/1_Data_and_bandwidth.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_result_the_server_holds_is_shown_however_busy_the_server_is(monkeypatch):
    """On a busy server the calibrated estimates grow past the page-load budget; a view that another session
    already computed must still open by itself (it costs nothing), while one not computed yet waits for a press."""
    monkeypatch.setenv("RIDGEVIZ_AUTO_SECONDS", "1000")
    assert _data_page("three-points").get("plotly_chart")  # computed once by a first visitor
    monkeypatch.setenv("RIDGEVIZ_AUTO_SECONDS", "0")  # every estimate is now above the budget
    second = _data_page("three-points")
    assert second.get("plotly_chart") and not any("does not start by itself" in i.value for i in second.info)
    other = _data_page("two-points")  # the control: not computed on this server yet
    assert not other.get("plotly_chart") and any("does not start by itself" in i.value for i in other.info)
