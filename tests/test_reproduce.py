"""``reproduce``: the check logic with controls, the explicit registry, the executor, the outcome rule, the shipped
generalising model, and the tiny run end to end (every check carries a negative control; the report lists files
that exist)."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from ridgeviz.core.density import SmoothedEmpirical
from ridgeviz.core.outcomes import COPY, OFF, ON, UNDEFINED, OutcomeRule, classify_samples
from ridgeviz.core.schedules import get_schedule
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.experiments.checks import interval, make_check
from ridgeviz.experiments.common import GENERAL_SETS, rotate_about_mean
from ridgeviz.experiments.executor import Executor, Task
from ridgeviz.experiments.registry import EXPERIMENTS, ORDER
from ridgeviz.experiments.rf_dynamics import WeightedQuadrature
from ridgeviz.experiments.runner import reproduce
from ridgeviz.models.random_features import RandomFeatureModel
from ridgeviz.models.rf_moments import Quadrature, feature_moments
from ridgeviz.models.score import NullScore

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
    c = make_check("claim", "stat", model, "ctrl", control, direction=">", threshold=0.5)
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
    assert 0.1 < rule.copy_radius < 0.2 and 0.03 < rule.t_ridge < 0.1
    mid = 0.5 * (X[0] + X[1])  # the midpoint of a pair lies on the bridge between them
    normal = np.array([-(X[1] - X[0])[1], (X[1] - X[0])[0]]) / np.linalg.norm(X[1] - X[0])
    beside = mid + 0.45 * normal  # the bridge is defined there but 0.45 > tube away
    isolated = X[12] + np.array([0.5, 0.0])  # beside an isolated point: the isotropic blob, no 1-D ridge there
    codes = classify_samples(dens, np.vstack([X[:3] + 0.01, mid, beside, isolated]), rule)
    assert codes.tolist() == [COPY, COPY, COPY, ON, OFF, UNDEFINED]
    # the null model knows nothing of the data: all its samples end at the origin, none a copy
    assert np.allclose(NullScore(sched)(torch.ones(3, 2), 0.5), -1 / float(sched.h(0.5)))
    # a rotation about the data mean keeps distances to the mean
    r = rotate_about_mean(X, X, seed=3)
    c = X.mean(0)
    assert np.allclose(np.linalg.norm(r - c, axis=1), np.linalg.norm(X - c, axis=1)) and not np.allclose(r, X)


def test_the_shipped_generalising_model_is_the_recipe_trained_with_seed_0():
    import ridgeviz as rv
    from ridgeviz.models.recipes import GENERALISING_ASSET, GENERALISING_RECIPE, train_recipe

    shipped = rv.load_model(GENERALISING_ASSET)
    assert GENERALISING_ASSET.stat().st_size < 5 * 2**20
    assert {k: shipped.config["training"][k] for k in GENERALISING_RECIPE} == GENERALISING_RECIPE
    fresh = train_recipe(MODE_SETS["thirteen"], get_schedule("ou"), seed=0)
    for k, v in fresh.state_dict().items():
        torch.testing.assert_close(shipped.state_dict()[k], v, rtol=0, atol=0)


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
    assert sum(len(ex.checks) for ex in done.values()) >= 15


def test_checks_on_the_authors_collinear_points_are_labelled_as_forced_by_symmetry(run):
    checks = [c for ex in run[1].values() for c in ex.checks]
    collinear = [c for c in checks if "two-points" in c.claim]
    assert collinear and all(c.symmetric for c in collinear)
    assert not any(c.symmetric for c in checks if "two-points" not in c.claim)
    report = (run[0] / "report.md").read_text()
    assert report.count("*(forced by symmetry)*") == len(collinear)


def test_generalisation_the_learned_model_generalises_beside_the_exact_score_and_the_null(run):
    ex = run[1]["generalisation"]
    models = ex.numbers["thirteen"]["models"]
    exact, null = models["exact score"], models["null (A = 0)"]
    recipe = models["MLP, generalising recipe"]
    assert exact["copy"]["mean"] > 0.9 and null["copy"]["mean"] < 0.05
    assert null["new on ridge"]["mean"] < 0.05
    assert recipe["new on ridge"]["mean"] > 0.3 and recipe["copy"]["mean"] < 0.3
    by_claim = {c.claim: c for c in ex.checks}
    for claim in ("thirteen: the exact score copies the training points",
                  "thirteen: the generalising recipe makes many new samples on the ridge",
                  "thirteen: the generalising recipe copies few training points"):
        assert by_claim[claim].passed, claim
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
