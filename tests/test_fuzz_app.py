"""Hostile links and extreme settings in the app: nothing heavy starts by itself, errors are sentences.

A link such as ``?kind=highdim&dim=256`` used to start 21-24 GB of ridge work on the Data and Score model pages
with no button; every page now opens within seconds and shows the estimate (with a button, or a refusal with
what to reduce). The MNIST page has no free-path input; heavy computations queue behind a per-server cap.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py"))


def open_page(page, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page and not page.startswith("0_"):
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def texts(at: AppTest) -> str:
    return " ".join(e.value for kind in ("info", "warning", "error", "caption") for e in getattr(at, kind))


@pytest.mark.parametrize("page", PAGES)
def test_a_high_dimensional_link_starts_nothing_heavy(page):
    start = time.perf_counter()
    at = open_page(page, kind="highdim", set="thirteen", dim="256")
    assert not at.exception, [e.value for e in at.exception]
    assert time.perf_counter() - start < 90
    if page.startswith(("1_Data", "2_")):  # these pages compute on load when it is cheap: here they must not
        words = texts(at)
        assert "does not start by itself" in words or "would take about" in words, words
    for e in at.error:
        assert "alloc" not in e.value.lower() and "Traceback" not in e.value


@pytest.mark.parametrize("query", [
    dict(kind="noisy", n="1000000000"), dict(kind="highdim", dim="-5"), dict(steps="1000000000000"),
    dict(T="1e308"), dict(t_min="5e-324"), dict(kind="upload"), dict(schedule="nope"), dict(grid="spiral"),
    dict(kind="ring", radius="nan"), dict(model="injected", normal="1e308"), dict(noise="inf", kind="noisy"),
])
def test_hostile_link_parameters_give_messages_not_exceptions(query):
    at = open_page("1_Data_and_bandwidth", **query)  # the shared sidebar reads the link on every page
    assert not at.exception, (query, [e.value for e in at.exception])


def test_link_error_sizes_are_clamped_to_the_sliders_range():
    from ridgeviz.app.links import INJECTED_ERROR_RANGE

    at = open_page("", model="injected", tangential="-1", normal="-2")  # the link is read on the first page
    assert "tangential=-1 (clamped to 0)" in texts(at)
    at.switch_page("app_pages/3_Trajectories.py")
    at.run()
    assert not at.exception
    cfg = at.session_state["model_cfg"]
    assert (cfg.kind, cfg.normal, cfg.tangential) == ("injected", INJECTED_ERROR_RANGE[0], INJECTED_ERROR_RANGE[0])
    cfg = open_page("3_Trajectories", model="injected", tangential="1e308", normal="0.5").session_state["model_cfg"]
    assert (cfg.normal, cfg.tangential) == (0.5, INJECTED_ERROR_RANGE[1])


def test_the_mnist_page_has_no_free_path(monkeypatch):
    monkeypatch.delenv("RIDGEVIZ_MNIST_FOLDERS", raising=False)
    at = open_page("6_MNIST_latent")
    assert not at.exception
    assert not [w for w in at.text_input if "folder" in (w.label or "").lower()]
    source = next(w for w in at.sidebar.selectbox if w.key == "mn_source")
    assert "folder" not in source.options and "download" not in source.options


def test_mnist_folders_come_only_from_the_operators_list(monkeypatch, tmp_path):
    from ridgeviz.app import mnist as mn

    monkeypatch.setenv("RIDGEVIZ_MNIST_FOLDERS", str(tmp_path))
    assert "folder" in mn.sources() and mn.allowed_folders() == [str(tmp_path.resolve())]
    at = open_page("6_MNIST_latent")
    next(w for w in at.sidebar.selectbox if w.key == "mn_source").set_value("folder").run()
    assert not at.exception
    choice = next(w for w in at.sidebar.selectbox if w.key == "mn_folder_choice")
    assert choice.options == [str(tmp_path.resolve())]  # a select box of the allowed folders, nothing typed


def test_heavy_computations_queue_behind_the_cap():
    from ridgeviz.app.admission import Busy, HeavyQueue

    q = HeavyQueue(1)
    order = []

    def second():
        t = q.submit("session 2", "x", "the second", 1.0)
        q.wait(t, 30, poll=0.05)
        order.append("second")
        q.release(t)

    first = q.submit("session 1", "x", "the first", 1.0)
    worker = threading.Thread(target=second)
    worker.start()
    time.sleep(0.2)
    order.append("first done")  # the second waits while the first holds the only slot
    q.release(first)
    worker.join(5)
    assert order == ["first done", "second"] and q.load() == (0, 0)
    first = q.submit("session 1", "x", "the first", 1.0)
    with pytest.raises(Busy, match="server is busy"):
        q.wait(q.submit("session 2", "x", "the second", 1.0), 0.1, poll=0.01)


def test_error_boxes_never_show_an_allocator_message():
    from ridgeviz.app.budget import readable
    from ridgeviz.utils.limits import BudgetError

    raw = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you "
                       "tried to allocate 1649267441664 bytes.")
    text = readable(raw, "the bandwidth views")
    assert text.startswith("There is not enough memory for the bandwidth views") and "alloc" not in text
    assert readable(MemoryError(), "x").startswith("There is not enough memory")
    assert readable(BudgetError("would need about 2 TB; reduce the points"), "x") is None
    assert readable(ValueError("t must be a number"), "x") is None
