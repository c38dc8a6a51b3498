"""``reproduce``: the check logic with controls, the explicit registry, the executor, the outcome rule, the shipped
generalising model, and the tiny run end to end (every check carries a negative control; the report lists files
that exist)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ridgeviz.core.density import SmoothedEmpirical
from ridgeviz.core.outcomes import COPY, OFF, ON, UNDEFINED, OutcomeRule, classify_samples
from ridgeviz.core.schedules import get_schedule
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.experiments.checks import interval, make_check
from ridgeviz.experiments.common import GENERAL_SETS, reverse_run
from ridgeviz.experiments.executor import Executor, Task
from ridgeviz.experiments.models2d import label
from ridgeviz.experiments.registry import EXPERIMENTS, ORDER
from ridgeviz.experiments.rf_dynamics import WeightedQuadrature
from ridgeviz.experiments.runner import reproduce
from ridgeviz.models.random_features import RandomFeatureModel
from ridgeviz.models.rf_moments import Quadrature, feature_moments

CHECK_KEYS = {"claim", "statistic", "value", "control", "control_value", "passed", "control_failed", "interval",
              "control_interval", "seeds", "control_seeds", "direction", "threshold", "model_holds", "symmetric"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    return out, reproduce([], out, mode="tiny", workers=1, progress=lambda *_: None)


# -- the check logic --------------------------------------------------------------------------------------------
def test_interval_is_the_student_t_interval():
    v = np.array([0.2, 0.4, 0.3, 0.5, 0.1])
    m, lo, hi = interval(v)
    half = 2.7764451051977987 * v.std(ddof=1) / math.sqrt(5)  # t_{0.975, 4}
    assert m == pytest.approx(0.3) and lo == pytest.approx(0.3 - half) and hi == pytest.approx(0.3 + half)
    assert interval([0.7])[1:] == (-math.inf, math.inf)  # one seed decides nothing
    assert math.isnan(interval([math.nan, math.nan])[0])


@pytest.mark.parametrize("model,control,holds,fails", [
    ([0.9, 0.92, 0.91], [0.1, 0.12, 0.11], True, True),    # the model holds the claim, the control fails it
    ([0.9, 0.92, 0.91], [0.9, 0.93, 0.91], True, False),   # both hold it: the claim says nothing (no pass)
    ([0.1, 0.12, 0.11], [0.1, 0.12, 0.11], False, True),   # neither holds it
    ([0.4, 0.9, 0.6], [0.1, 0.12, 0.11], False, True),     # the model's interval straddles the threshold
    ([0.9, 0.92, 0.91], [0.3, 0.9, 0.6], True, False),     # the control's interval straddles it: not a failure
])
def test_a_check_passes_only_when_the_model_holds_and_the_control_fails(model, control, holds, fails):
    c = make_check("claim", "stat", model, "ctrl", control, direction=">", threshold=0.5, why="w")
    assert (c.model_holds, c.control_failed, c.passed) == (holds, fails, holds and fails)
    flipped = make_check("claim", "stat", [-v for v in model], "ctrl", [-v for v in control], direction="<",
                         threshold=-0.5)
    assert (flipped.model_holds, flipped.control_failed) == (holds, fails)
    with pytest.raises(ValueError, match="direction"):
        make_check("c", "s", model, "k", control, direction=">=", threshold=0.5)


# -- registry and executor --------------------------------------------------------------------------------------
def test_the_registry_is_explicit_and_importing_any_experiment_first_changes_nothing():
    assert list(EXPERIMENTS) == list(ORDER) and len(set(EXPERIMENTS)) == len(EXPERIMENTS)
    assert all((fn.__doc__ or "").strip() for fn in EXPERIMENTS.values())
    code = ("import ridgeviz.experiments.mnist, ridgeviz.experiments.generalisation; "
            "from ridgeviz.experiments.registry import EXPERIMENTS, ORDER; print(','.join(EXPERIMENTS))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ",".join(ORDER)


def _square(x):
    return {"x": x, "square": x * x, "torch_threads": torch.get_num_threads()}


def test_processes_and_the_serial_executor_give_the_same_results_in_task_order():
    tasks = [Task(_square, {"x": x}) for x in (3, 1, 2)]
    with Executor(1) as serial:
        a = serial.map(tasks)
    with Executor(2) as pool:
        b = pool.map(tasks)
    assert [r["square"] for r in a] == [9, 1, 4] and [r["square"] for r in b] == [9, 1, 4]
    assert {r["torch_threads"] for r in b} == {1}  # workers run torch single-threaded
    with pytest.raises(ValueError, match="workers"):
        Executor(0)


# -- the outcome rule (copies / new on the ridge / off it) ----------------------------------------------------------
def test_outcome_rule_on_points_whose_answer_is_known():
    X, sched = np.asarray(GENERAL_SETS["thirteen"]), get_schedule("ou")
    dens, rule = SmoothedEmpirical(X, sched), OutcomeRule.for_data(X, sched)
    assert 0.1 < rule.noise_radius < 0.2 and 0.03 < rule.t_ridge < 0.5
    mid = 0.5 * (X[0] + X[1])  # the midpoint of a pair lies on the bridge between them
    normal = np.array([-(X[1] - X[0])[1], (X[1] - X[0])[0]]) / np.linalg.norm(X[1] - X[0])
    beside = mid + 3 * rule.tube * normal  # three tubes off the bridge
    codes = classify_samples(dens, np.vstack([X[:3] + 0.01, mid, beside]), rule)
    assert codes.tolist()[:4] == [COPY, COPY, COPY, ON] and codes[4] in (OFF, UNDEFINED)


def test_the_shipped_generalising_model_is_the_recipe_trained_with_seed_0():
    import ridgeviz as rv
    from ridgeviz.models.recipes import GENERALISING_ASSET, GENERALISING_RECIPE, train_recipe

    shipped = rv.load_model(GENERALISING_ASSET)
    assert GENERALISING_ASSET.stat().st_size < 5 * 2**20
    assert {k: shipped.config["training"][k] for k in GENERALISING_RECIPE} == GENERALISING_RECIPE
    X, sched = MODE_SETS["thirteen"], get_schedule("ou")
    fresh = train_recipe(X, sched, seed=0)
    # Same machine, same kernels: the same bits. Another CPU family or BLAS code path rounds float32 sums in another
    # order (about 6e-8 relative per operation), and 1,000 AdamW steps carry that along: measured here under MKL's
    # AVX2 and generic paths and ATen's generic kernels, each tensor's largest change was at most 9.4e-7 of its
    # largest weight (an AMD EPYC: 2.4e-7 absolute, weights up to about 1). 1e-5 leaves 10x room and still catches a
    # change of recipe: a learning rate 2e-5 higher moved them by 3.7e-5, one step fewer by 1.5e-3.
    for k, v in fresh.state_dict().items():
        ref = shipped.state_dict()[k]
        assert float((v - ref).abs().max()) <= 1e-5 * float(ref.abs().max()), k
    # where the samples end, the same noise for both: those kernel changes moved final samples by at most 4e-6, and
    # the sample nearest an outcome threshold was 6e-5 from it (the tube's edge); a CPU that puts one or two right on
    # an edge may flip them, nothing more
    dens, rule = SmoothedEmpirical(X, sched), OutcomeRule.for_data(X, sched)
    codes = [classify_samples(dens, reverse_run(m, sched, 512, 2, 100, 0).final.numpy(), rule)
             for m in (shipped, fresh)]
    assert int((codes[0] != codes[1]).sum()) <= 2
    counts = np.bincount(codes[0], minlength=4)  # measured 140 / 249 / 109 / 14: every outcome occurs, so equal
    assert counts.min() >= 5 and counts[ON] >= 0.3 * 512  # codes say something (and most are new on the ridge)


# -- the tiny run end to end ------------------------------------------------------------------------------------------
def test_every_experiment_ran_and_checks_carry_negative_controls(run):
    out, done = run
    assert list(done) == list(ORDER)
    for name, ex in done.items():
        payload = json.loads((out / name / "numbers.json").read_text())
        assert set(payload) == {"settings", "numbers", "checks"}
        assert len(payload["checks"]) == len(ex.checks)
        for c in payload["checks"]:
            assert CHECK_KEYS <= set(c), (name, CHECK_KEYS - set(c))
            assert c["control"] and c["control"] != c["claim"], (name, c["claim"])
            assert c["passed"] == (c["model_holds"] and c["control_failed"]), (name, c["claim"])
            assert c["seeds"] >= 3 and c["control_seeds"] >= 3
            assert c["why"].strip(), (name, c["claim"])  # why the control could have passed
    assert sum(len(ex.checks) for ex in done.values()) >= 15


def test_checks_on_the_authors_collinear_points_are_labelled_as_forced_by_symmetry(run):
    checks = [c for ex in run[1].values() for c in ex.checks]
    collinear = [c for c in checks if "two-points" in c.claim]
    assert collinear and all(c.symmetric for c in collinear)
    assert not any(c.symmetric for c in checks if "two-points" not in c.claim)
    report = (run[0] / "report.md").read_text()
    assert report.count("*(forced by symmetry)*") == len(collinear)


def test_generalisation_places_the_learned_model_between_the_floor_and_the_ceiling(run):
    ex = run[1]["generalisation"]
    models = ex.numbers["thirteen"]["models"]
    exact, recipe = models[label({"kind": "exact"})], models[label({"kind": "mlp"})]
    kernel = models["kernel sampler (floor)"]
    assert exact["copy"]["mean"] > 0.9 and recipe["copy"]["mean"] < 0.6
    assert recipe["along the ridge"]["mean"] > 0.1 > abs(kernel["along the ridge"]["mean"])
    sanity = [c for c in ex.checks if c.sanity]
    assert sanity and all("exact score" in c.claim for c in sanity)
    for row in models.values():  # the four categories partition the samples
        assert sum(row[k]["mean"] for k in ("copy", "new on ridge", "new off ridge", "ridge undefined")) == \
            pytest.approx(1.0)


def test_mnist_reports_the_authors_dimension_as_undefined(run):
    ex = run[1]["mnist"]
    lat = ex.numbers["latent"]
    assert 1 <= lat["suggested_dim"] < 25 and lat["active_dimensions"] < 25
    assert len(lat["kl_per_dimension"]) == 32
    undefined = next(c for c in ex.checks if "d = 25" in c.claim)
    assert undefined.value < 0.1 and undefined.control_value > 0.5


def test_report_lists_existing_files_and_one_check_table_per_experiment(run):
    out, done = run
    report = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert links and all((out / link).is_file() for link in links)
    for name, ex in done.items():
        assert f"{name}/numbers.json" in links and f"| {name} |" in report
        assert all(f"{name}/{stem}.html" in links for stem, _, _ in ex.figures)
    assert report.count("| claim | statistic (claim) |") == sum(bool(ex.checks) for ex in done.values())
    assert (out / "plotly.min.js").stat().st_size > 1e6


def test_weighted_moments_match_a_direct_evaluation_of_the_weighted_loss():
    """tr(A U A^T) - 2 tr(A V^T) + c from the moments equals sum over the rule's nodes of w h_t^k |A f - a x|^2."""
    sched, X = get_schedule("ou"), np.array(MODE_SETS["two-points"])
    rf = RandomFeatureModel(2, 24, 3, sched.T, generator=torch.Generator().manual_seed(1))
    rule = Quadrature(min_panels=8, refine=2, radial_nodes=3, directions=4)
    A = torch.randn(2, 24, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t, wt = rule.time_rule(sched.T, rf.K, sched.t_min)
    z, wz = rule.noise_rule(2, len(t))
    for power in (0, 1, 2):
        m = feature_moments(rf, X, sched, WeightedQuadrature(**vars(rule), power=power, schedule=sched))
        direct = 0.0
        for x in X:  # the slow, obvious sum: every time node, every noise node, through the public features
            for k in range(len(t)):
                a, s = math.exp(-t[k]), math.sqrt(-math.expm1(-2 * t[k]))
                pts = torch.as_tensor(a * x + s * z[k])
                err = rf.features(pts, float(t[k])) @ A.T - torch.as_tensor(a * x)
                direct += wt[k] * s ** (2 * power) * float((torch.as_tensor(wz) * (err ** 2).sum(-1)).sum())
        assert m.loss(A) * 2 == pytest.approx(direct / len(X), rel=1e-10)


def _numbers_close(a, b, path=""):
    """Every number of two ``numbers.json`` payloads agrees (see the test below for the tolerance)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _numbers_close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _numbers_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9, nan_ok=True), path
    else:
        assert a == b, path


def test_tiny_run_on_a_two_worker_dask_cluster_gives_the_local_numbers(run, tmp_path):
    """The same tasks with the same seeds on a LocalCluster of 2 workers and in one local process. On one machine
    the bits agree; the tolerance (1e-6 relative) only allows for BLAS kernels chosen per process, far below the
    two digits the report prints; pass/fail of every check must be identical."""
    out, done = run
    dask_done = reproduce([], tmp_path, mode="tiny", workers=2, executor="dask", progress=lambda *_: None)
    for name in done:
        local = json.loads((out / name / "numbers.json").read_text())
        distributed = json.loads((tmp_path / name / "numbers.json").read_text())
        _numbers_close(local, distributed, name)
        assert [c.passed for c in done[name].checks] == [c.passed for c in dask_done[name].checks]
    stats = json.loads((tmp_path / "tasks.json").read_text())
    assert stats["executor"] == "dask" and stats["ran"] >= 10


def test_unknown_experiment_and_mode_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        reproduce(["nope"], tmp_path)
    with pytest.raises(ValueError, match="mode"):
        reproduce(["injection"], tmp_path, mode="huge")


def test_command_line_lists_experiments_and_runs_one(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ridgeviz", "reproduce", "--help"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0 and all(name in res.stdout for name in EXPERIMENTS)
    res = subprocess.run([sys.executable, "-m", "ridgeviz", "reproduce", "injection", "--tiny", "--workers", "1",
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "negative controls fail their claim" in res.stdout and (tmp_path / "report.md").is_file()


# -- interruptions -----------------------------------------------------------------------------------------------------
ROOT = str(Path(__file__).resolve().parents[1])


def _workers(pid: int) -> list[int]:
    """Living worker processes (multiprocessing's spawn_main) whose parent is ``pid``, from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z" and b"spawn_main" in cmd:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def test_sigterm_on_reproduce_stops_the_workers_and_leaves_the_output_as_it_was(tmp_path):
    out = tmp_path / "reproduction"
    out.mkdir()
    (out / "report.md").write_text("an earlier run\n")
    argv = ["reproduce", "generalisation", "--tiny", "--workers", "2", "--seed", "1", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "ridgeviz", *argv], cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait(lambda: len(_workers(proc.pid)) == 2 or proc.poll() is not None, 240), "no workers started"
        workers = _workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and "terminated" in err, err
    assert _wait(lambda: not any(_alive(w) for w in workers), 10), "orphan workers"
    assert [p.name for p in out.iterdir()] == ["report.md"] and (out / "report.md").read_text() == "an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reproduction"]  # no staged folder left behind


def test_workers_die_with_their_parent_even_on_sigkill():
    code = ("import functools, time\nfrom ridgeviz.experiments.executor import Executor, Task\n"
            "with Executor(2) as ex:\n    ex.map([Task(functools.partial(time.sleep, 300))] * 2)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert _wait(lambda: len(_workers(proc.pid)) == 2, 120), "no workers started"
        workers = _workers(proc.pid)
        time.sleep(1.0)  # let the workers run their initializer (it asks for the parent-death signal)
        proc.kill()
        proc.wait(30)
    finally:
        proc.kill()
    assert _wait(lambda: not any(_alive(w) for w in workers), 10), "orphan workers"
