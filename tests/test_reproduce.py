"""``reproduce`` at tiny size: the directional claims hold, the numbers are consistent, the report lists files
that exist; the weighted random-feature moments against a direct evaluation of the weighted loss."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from ridgeviz.core.schedules import get_schedule
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.experiments.base import EXPERIMENTS, ORDER, reproduce
from ridgeviz.experiments.learned import WeightedQuadrature, gabriel_pairs, segment_coordinates
from ridgeviz.models.random_features import Quadrature, RandomFeatureModel, feature_moments

ALL = list(ORDER)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    return out, reproduce(ALL, out, mode="tiny", progress=lambda *_: None)


def test_registry_is_complete_and_in_the_papers_order():
    assert list(EXPERIMENTS) == ALL


@pytest.mark.parametrize("name", ALL)
def test_directional_claims_hold(run, name):
    ex = run[1][name]
    assert ex.checks, name
    failed = [claim for claim, ok in ex.checks.items() if not ok]
    assert not failed, f"{name}: {failed}"


def test_injection_numbers_are_directional(run):
    num = run[1]["injection"].numbers
    frac = num["tangential"]["fraction_right"]
    assert frac[2.0] > frac[0.0]
    offs = num["normal"]["mean_abs_offset_in_window"]
    assert offs[2.0] > offs[0.5] > offs[0.0]


def test_highdim_offset_matches_the_linear_prediction(run):
    normal = run[1]["highdim"].numbers["D8"]["normal"]
    assert normal["offset_slope_measured"] == pytest.approx(normal["offset_slope_predicted"], rel=0.1)


def test_opening_memorisation_numbers(run):
    ex = run[1]["opening"]
    copies = ex.numbers["copies"]
    assert copies["exact"] >= 0.9
    shipped = max(int(k) for k in copies if k != "exact")
    assert copies[str(shipped)] > copies["500"]  # the 12,000-step network copies more than a 500-step one
    tube = [s["within_tube"] for s in ex.numbers["snapshots"]["MLP"]]
    assert all(0 <= v <= 1 for v in tube) and tube[0] == 0.0


def test_modes_counts_add_up(run):
    ex = run[1]["modes"]
    M = ex.settings["particles"]
    for name in ex.settings["sets"]:
        for label, o in ex.numbers[name].items():
            near = sum(o["counts_near_modes"])
            assert near + round(o["inter_mode_mass"] * M) == M, (name, label)
            assert sum(o["split"].values()) == M and sum(o["split_gap_ignored"].values()) == M
            width = 1.5 / (len(o["segment_density"]))
            assert sum(o["segment_density"]) * width <= 1 + 1e-9
        assert ex.numbers[name]["exact"]["inter_mode_mass"] < ex.numbers[name]["inf"]["inter_mode_mass"]


def test_rf_dynamics_split(run):
    summary = run[1]["rf-dynamics"].numbers["summary"]
    assert set(summary) == {"1", "h_t", "h_t^2"}
    for rows in summary.values():
        assert rows["inf"]["optimisation_normal"] == rows["inf"]["optimisation_tangential"] == 0.0
        assert rows["inf"]["total_tangential"] == pytest.approx(rows["inf"]["bias_tangential"])


def test_mnist_counts_and_memorisation(run):
    ex = run[1]["mnist"]
    for m in ("exact", "mlp"):
        assert sum(ex.numbers[m]["counts"].values()) == ex.settings["samples"]
        assert sum(ex.numbers[m]["counts_gap_ignored"].values()) == ex.settings["samples"]
    assert ex.numbers["exact"]["copies"] > ex.numbers["mlp"]["copies"]


def test_report_lists_existing_files(run):
    out, done = run
    report = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert links, "report has no links"
    for link in links:
        assert (out / link).is_file(), link
    for name, ex in done.items():
        assert f"{name}/numbers.json" in links
        assert all(f"{name}/{stem}.html" in links for stem, _, _ in ex.figures)
        payload = json.loads((out / name / "numbers.json").read_text())
        assert set(payload) == {"settings", "numbers", "checks"}
        assert payload["checks"] == ex.checks
    for name in ALL:
        assert f"| {name} |" in report  # the summary table
    assert (out / "plotly.min.js").stat().st_size > 1e6  # every figure loads this copy (offline)


def test_weighted_moments_match_a_direct_evaluation_of_the_weighted_loss():
    """tr(A U A^T) - 2 tr(A V^T) + c from the moments equals sum over the rule's nodes of w h_t^k |A f - a x|^2."""
    sched, X = get_schedule("ou"), np.array(MODE_SETS["two-points"])
    rf = RandomFeatureModel(2, 24, 3, sched.T, generator=torch.Generator().manual_seed(1))
    rule = Quadrature(min_panels=8, refine=2, radial_nodes=3, directions=4)
    A = torch.randn(2, 24, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t, wt = rule.time_rule(sched.T, rf.K)
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
    base = feature_moments(rf, X, sched, rule)
    same = feature_moments(rf, X, sched, WeightedQuadrature(**vars(rule), power=0, schedule=sched))
    assert torch.equal(base.U, same.U) and torch.equal(base.V, same.V)


def test_segment_helpers():
    # a point on the circle blocks the pair: the square's diagonals, the centred square's sides, the hypotenuse
    assert set(gabriel_pairs(np.array(MODE_SETS["square"]))) == {(0, 1), (0, 2), (1, 3), (2, 3)}
    assert set(gabriel_pairs(np.array(MODE_SETS["square-centre"]))) == {(0, 4), (1, 4), (2, 4), (3, 4)}
    assert set(gabriel_pairs(np.array(MODE_SETS["three-points"]))) == {(0, 1), (0, 2)}
    s, d = segment_coordinates(np.array([[1.0, 2.0], [7.0, 0.0]]), np.zeros(2), np.array([5.0, 0.0]))
    assert s.tolist() == [0.2, 1.4] and d.tolist() == [2.0, 2.0]


def test_unknown_experiment_and_mode_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        reproduce(["nope"], tmp_path)
    with pytest.raises(ValueError, match="mode"):
        reproduce(["injection"], tmp_path, mode="huge")


def test_command_line_runs_and_lists_experiments(tmp_path):
    res = subprocess.run([sys.executable, "-m", "ridgeviz", "reproduce", "--help"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0
    for name in EXPERIMENTS:
        assert name in res.stdout
    # importing the experiments module first must register everything too (the two modules import each other)
    code = ("import ridgeviz.experiments.learned; from ridgeviz.experiments.base import EXPERIMENTS, ORDER; "
            "assert list(EXPERIMENTS) == list(ORDER), list(EXPERIMENTS)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, check=False).returncode == 0
    res = subprocess.run([sys.executable, "-m", "ridgeviz", "reproduce", "reach", "--tiny", "--out", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "directional claims reproduced" in res.stdout and (tmp_path / "report.md").is_file()
