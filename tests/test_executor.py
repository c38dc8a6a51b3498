"""The executor of ``reproduce``: local processes and Dask give the same results in task order; a failed task or a
killed worker is retried once and named; an interrupted run resumes from the stored results; workers die with
their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ridgeviz.experiments.executor import Executor, Task, TaskFailed
from ridgeviz.experiments.task_store import TaskStore, task_digest

ROOT = Path(__file__).resolve().parents[1]


def _draw(seed: int, n: int) -> dict:
    """A seeded computation whose result depends only on its arguments (float64 arithmetic on a torch draw)."""
    x = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return {"seed": seed, "mean": float(x.mean()), "values": x.numpy()[:3].copy(),
            "threads": torch.get_num_threads(), "pid": os.getpid()}


def _die_once(marker: str, value: int) -> int:
    """Kill this worker process the first time (no marker yet); return ``value`` the second time."""
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def _fail_until(marker: str, failures: int, value: int) -> int:
    """Raise while ``marker`` counts fewer than ``failures`` attempts; then return ``value``."""
    path = Path(marker)
    n = int(path.read_text()) if path.exists() else 0
    path.write_text(str(n + 1))
    if n < failures:
        raise RuntimeError(f"attempt {n + 1} fails on purpose")
    return value


def _count_runs(marker_dir: str, key: int) -> int:
    Path(marker_dir, f"ran-{key}-{time.perf_counter_ns()}").write_text("")
    return key * key


@pytest.fixture(scope="module", autouse=True)
def _by_value():
    """Dask workers cannot import this test module: ship its functions by value."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


TASKS = [Task(_draw, {"seed": s, "n": 1000}) for s in (5, 1, 3, 2)]


def _numbers(results):
    return [(r["seed"], r["mean"], r["values"].tolist()) for r in results]


def test_local_and_dask_executors_give_the_same_results_in_task_order():
    with Executor(1) as serial:
        ref = serial.map(TASKS)
    with Executor(2) as pool:
        local = pool.map(TASKS)
    with Executor(2, "dask") as dask:
        distributed = dask.map(TASKS)
        assert len(dask.stats) == len(TASKS) and all(s["wall_s"] >= 0 and s["peak_rss_mib"] > 0 for s in dask.stats)
    assert [r["seed"] for r in ref] == [5, 1, 3, 2]
    # the same float64 arithmetic on the same seeds: equal to the last bit on one machine; compared with a
    # tolerance far below any reported digit so that a BLAS code path chosen per process cannot fail it
    for other in (local, distributed):
        for (s1, m1, v1), (s2, m2, v2) in zip(_numbers(ref), _numbers(other)):
            assert s1 == s2 and m1 == pytest.approx(m2, rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(v1, v2, rtol=1e-12)
    assert {r["threads"] for r in local + distributed} == {1}  # workers run torch single-threaded
    assert len({r["pid"] for r in distributed} - {os.getpid()}) >= 1  # ran in worker processes


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_a_killed_worker_is_retried_once_and_named(tmp_path, kind):
    tasks = [Task(_die_once, {"marker": str(tmp_path / "m"), "value": 7}), Task(_draw, {"seed": 0, "n": 10})]
    with Executor(2, kind) as ex:
        out = ex.map(tasks)
    assert out[0] == 7 and out[1]["seed"] == 0
    assert (tmp_path / "m").read_text() == "died" and len(ex.retried) >= 1
    assert any(name.startswith("_die_once(") for name in ex.retried)


def test_a_failing_task_is_retried_once_then_reported_by_name(tmp_path):
    with Executor(1) as ex:
        assert ex.map([Task(_fail_until, {"marker": str(tmp_path / "a"), "failures": 1, "value": 3})]) == [3]
        assert ex.retried == ["_fail_until(failures=1, value=3)"]  # named by its short arguments
        with pytest.raises(TaskFailed, match=r"_fail_until\(.*failures=2.*failed twice"):
            ex.map([Task(_fail_until, {"marker": str(tmp_path / "b"), "failures": 2, "value": 3})])


def test_an_interrupted_run_resumes_and_skips_completed_tasks(tmp_path):
    store, marks = tmp_path / "store", tmp_path / "marks"
    marks.mkdir()
    tasks = [Task(_count_runs, {"marker_dir": str(marks), "key": k}) for k in range(4)]
    bad = Task(_fail_until, {"marker": str(tmp_path / "f"), "failures": 5, "value": 0})
    with Executor(1, store=store, code="c1") as ex:  # the run stops at the task that keeps failing
        with pytest.raises(TaskFailed):
            ex.map(tasks[:2] + [bad] + tasks[2:])
    ran, stored = len(list(marks.iterdir())), len(list(store.glob("*.npz")))
    assert 2 <= stored <= ran <= 4  # the tasks finished before the failure was handled are stored
    with Executor(1, store=store, code="c1") as ex:
        assert ex.map(tasks) == [0, 1, 4, 9]
        assert sum(s["cached"] for s in ex.stats) == stored
    assert len(list(marks.iterdir())) == ran + 4 - stored  # only the missing tasks ran
    with Executor(1, store=store, code="c2") as ex:  # other code: nothing is reused
        ex.map(tasks[:1])
    assert len(list(marks.iterdir())) == ran + 5 - stored
    # a damaged file is not valid: the task runs again
    digest = task_digest(tasks[3].fn_name, tasks[3].kwargs, "c1")
    TaskStore(store).path(digest).write_bytes(b"truncated")
    with Executor(1, store=store, code="c1") as ex:
        assert ex.map(tasks) == [0, 1, 4, 9] and [s["cached"] for s in ex.stats] == [True, True, True, False]
    assert not list(store.glob("*.tmp"))  # writes are atomic: no temporary file left behind


def test_stored_results_round_trip_without_pickle(tmp_path):
    store = TaskStore(tmp_path)
    value = [{"a": np.arange(3.0), "b": (1, 2.5, "x"), "c": {1.0: float("inf")}, "d": None},
             torch.ones(2, dtype=torch.float32)]
    store.save("abc", "t", value)
    found, back = store.load("abc")
    assert found and back[0]["b"] == (1, 2.5, "x") and back[0]["c"] == {1.0: float("inf")}
    np.testing.assert_array_equal(back[0]["a"], np.arange(3.0))
    assert back[1].dtype == np.float32
    assert store.load("other") == (False, None)
    with pytest.raises(TypeError, match="configs and seeds"):
        task_digest("f", {"x": object()}, "c")
    # an array argument is named by its content (shape, dtype, bytes)
    a = np.arange(6.0).reshape(2, 3)
    assert task_digest("f", {"x": a}, "c") == task_digest("f", {"x": a.copy()}, "c")
    assert task_digest("f", {"x": a}, "c") != task_digest("f", {"x": a.T}, "c")


def test_executor_arguments_are_checked():
    with pytest.raises(ValueError, match="workers"):
        Executor(0)
    with pytest.raises(ValueError, match="executor"):
        Executor(1, "spark")
    with pytest.raises(ValueError, match="scheduler"):
        Executor(1, "local", scheduler="tcp://127.0.0.1:1")


def test_command_line_sizes_and_executor_flags(tmp_path, capsys):
    from ridgeviz.cli import main

    assert main(["reproduce", "laws", "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path)]) == 2
    assert "scheduler" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # one size at a time
        main(["reproduce", "laws", "--full", "--tiny", "--out", str(tmp_path)])
    assert exc.value.code == 2
    res = subprocess.run([sys.executable, "-m", "ridgeviz", "reproduce", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert all(flag in res.stdout for flag in ("--full", "--executor", "--scheduler", "--fresh"))


def test_the_text_bar_prints_a_line_per_twentieth_off_a_terminal(capsys):
    from ridgeviz.experiments.executor import _text_bar

    for done in range(0, 101):
        _text_bar(done, 100, 0)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 21 and lines[-1].endswith("100/100 tasks") and lines[0].startswith("[....")


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_sigterm_on_reproduce_leaves_no_worker_behind(tmp_path, kind):
    import psutil

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "ridgeviz", "reproduce", "laws", "--tiny", "--workers", "2",
                             "--executor", kind, "--out", str(tmp_path)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.5)
        workers = _children(proc.pid)
    assert len(workers) >= 2, "the workers did not start"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    end = time.time() + 20
    while alive and time.time() < end:
        time.sleep(0.5)
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"orphaned workers: {alive}"
    assert proc.returncode != 0


def test_reproduce_writes_task_statistics(tmp_path):
    from ridgeviz.experiments.runner import reproduce

    reproduce(["laws"], tmp_path, mode="tiny", workers=1, progress=lambda *_: None)
    stats = json.loads((tmp_path / "tasks.json").read_text())
    assert stats["ran"] >= 1 and stats["stored"] == 0
    assert all(r["wall_s"] > 0 and r["cpu_s"] > 0 and r["peak_rss_mib"] > 10 for r in stats["tasks"])
    reproduce(["laws"], tmp_path, mode="tiny", workers=1, progress=lambda *_: None)  # again: all stored
    again = json.loads((tmp_path / "tasks.json").read_text())
    assert again["ran"] == 0 and again["stored"] == stats["ran"]
    assert (tmp_path / "laws" / "numbers.json").read_text() != ""
