"""The phase rule's outputs outside the core: the Trajectories view's result and the command line's ``analyze``."""

import dataclasses
import json

import numpy as np
import pytest

import ridgeviz as rv
from ridgeviz.cli import main
from ridgeviz.core.laws import LAW_NAMES
from ridgeviz.core.phases import PHASES, phase_sensitivity
from ridgeviz.core.schedules import ScheduleConfig
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.views import trajectories as ex

SHORT = ScheduleConfig(steps=40)
SMALL = ex.TrajectoryConfig(particles=24, frames=6, ridge_grid=10)


@pytest.fixture(scope="module")
def result():
    return ex.run_trajectories(MODE_SETS["thirteen"], SHORT, SMALL)


def test_view_result_carries_the_rule_its_sensitivity_and_the_laws(result):
    X = MODE_SETS["thirteen"]
    sched = SHORT.schedule()
    dens = rv.SmoothedEmpirical(X, sched)
    model = rv.InjectedErrorScore(dens, 1, normal=0.5, tangential=0.5)
    import torch

    g = torch.Generator().manual_seed(SMALL.seed)
    traj = rv.sample(model, rv.prior_sample(sched, 24, 2, generator=g), SHORT.times(), "em", generator=g)
    dec = rv.decompose_error(model, dens, traj, 1)
    lab = rv.label_phases(dens, traj, 1, rule=SMALL.rule(), geometry=dec)
    np.testing.assert_array_equal(result.labels, lab.labels)
    np.testing.assert_allclose(result.tube_width, lab.tube_t)
    assert result.fractions.shape == (41, len(PHASES))
    sens = phase_sensitivity(X, dec, SMALL.rule()).table()
    for name in PHASES:
        np.testing.assert_allclose(result.sensitivity[name], sens[name])
    assert result.shares["all"] == pytest.approx(lab.shares()) and result.rule_text == SMALL.rule().describe(X)
    assert set(result.laws) == {"t", *LAW_NAMES} and len({len(v) for v in result.laws.values()}) == 1
    assert result.law_agreement["points"] >= len(result.laws["t"])
    # bands leave out the samples where the ridge is undefined: NaN where no sample is defined
    none_defined = dec.undefined.all(axis=1)
    assert none_defined.any() and np.isnan(result.bands["distance"][:, none_defined]).all()
    some = np.flatnonzero(~none_defined)[0]
    assert result.bands["error_normal"][0, some] == pytest.approx(dec.error_normal[some][~dec.undefined[some]].mean())


def test_rule_thresholds_of_the_view_reach_the_labels(result):
    loose = ex.run_trajectories(MODE_SETS["thirteen"], SHORT, dataclasses.replace(SMALL, hold_ratio=100.0,
                                                                                   align_halflives=0.25))
    strict = ex.run_trajectories(MODE_SETS["thirteen"], SHORT, dataclasses.replace(SMALL, hold_ratio=1.05))
    assert (loose.labels == PHASES.index("held")).sum() > (strict.labels == PHASES.index("held")).sum()
    assert "100" in loose.rule_text and "0.25" in loose.rule_text
    with pytest.raises(ValueError, match="align_halflives"):
        ex.TrajectoryConfig(align_halflives=0.0)


def test_cli_analyze_labels_decomposes_and_reports_the_rule(tmp_path):
    traj_file = tmp_path / "t.npz"
    assert main(["sample", "--dataset", "thirteen", "--particles", "12", "--steps", "30", "--normal", "0.5",
                 "--tangential", "0.5", "--out", str(traj_file)]) == 0
    out = tmp_path / "a.npz"
    assert main(["analyze", str(traj_file), "--laws", "--hold-ratio", "2", "--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    arrays = np.load(out)
    assert summary["phases"] == list(PHASES) and set(summary["phase_meanings"]) == set(PHASES)
    assert "factor 2" in summary["rule"] and summary["sensitivity"]["threshold"][0] == "default"
    undefined = arrays["undefined"]
    assert summary["means_where_defined"]["error_normal"] == pytest.approx(arrays["error_normal"][~undefined].mean())
    assert np.isnan(arrays["distance"][undefined]).all()
    assert "laws" in summary and all(f"law_{k}" in arrays.files for k in LAW_NAMES)
    # the labels are the library's on the same trajectory
    from ridgeviz.cli.core import load_trajectory

    traj, X, config = load_trajectory(traj_file)
    dens = rv.SmoothedEmpirical(X, rv.Schedule.from_dict(config["schedule"]))
    ref = rv.label_phases(dens, traj, 1, rule=rv.PhaseRule(hold_ratio=2.0))
    np.testing.assert_array_equal(arrays["labels"], ref.labels)
