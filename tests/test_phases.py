"""Reach / align / slide labels: the documented rule against a per-sample loop, monotonicity, thresholds."""

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.phases import ALIGN, NO_RIDGE, PHASES, REACH, SLIDE
from ridgeviz.core.scale import data_scale


@pytest.fixture(scope="module")
def run(thirteen):
    sched = thirteen.schedule
    model = rv.InjectedErrorScore(thirteen, dim=1, normal=0.3, tangential=0.8)
    gen = torch.Generator().manual_seed(0)
    traj = rv.sample(model, rv.prior_sample(sched, 24, 2, gen), sched.time_grid(40), "em", generator=gen)
    return traj, rv.decompose_error(model, thirteen, traj, 1, distance="proxy")


def _reference_labels(geo, tube, slide_ratio, gap_tol):
    """The rule of ridgeviz.phases written as a plain loop over samples and steps."""
    K1, M = geo.distance.shape
    out = np.empty((K1, M), dtype=int)
    for m in range(M):
        reach = next((k for k in range(K1) if geo.scaled_gap[k, m] >= gap_tol and geo.distance[k, m] <= tube), K1)
        slide = K1
        for k in range(reach, K1):
            j = min(k, K1 - 2)  # the last point inherits the last step's drift
            if geo.drift_tangential[j, m] > slide_ratio * geo.drift_normal[j, m]:
                slide = k
                break
        for k in range(K1):
            out[k, m] = REACH if k < reach else ALIGN if k < slide else SLIDE
            if geo.scaled_gap[k, m] < gap_tol:
                out[k, m] = NO_RIDGE
    return out


@pytest.mark.parametrize("rule", [rv.PhaseRule(), rv.PhaseRule(tube=0.05, slide_ratio=2.0),
                                  rv.PhaseRule(tube_fraction=0.3, gap_tol=0.01)])
def test_labels_follow_the_documented_rule(thirteen, run, rule):
    _, dec = run
    lab = rv.label_phases(thirteen, None, 1, rule=rule, geometry=dec)
    tube = rule.tube if rule.tube is not None else rule.tube_fraction * data_scale(thirteen.data.numpy())
    assert lab.tube == pytest.approx(tube)
    np.testing.assert_array_equal(lab.labels, _reference_labels(dec, tube, rule.slide_ratio, rule.gap_tol))
    assert f"{tube:.3g}" in rule.describe(thirteen.data)


def test_labels_are_monotone_and_fractions_sum_to_one(thirteen, run):
    traj, dec = run
    lab = rv.label_phases(thirteen, traj, 1, geometry=dec)
    assert lab.labels.shape == (41, 24)
    assert set(np.unique(lab.labels)) <= set(range(len(PHASES)))
    for m in range(24):
        seq = lab.labels[:, m][lab.labels[:, m] != NO_RIDGE]
        assert np.all(np.diff(seq) >= 0), seq
    assert np.all(lab.reach_step <= lab.slide_step)
    frac = lab.fractions()
    assert frac.shape == (41, 4)
    np.testing.assert_allclose(frac.sum(1), 1.0, rtol=1e-14)
    rt = lab.reach_times()
    assert rt.shape == (24,)
    assert np.all(np.isnan(rt) | np.isin(rt, traj.times))
    np.testing.assert_array_equal(np.isnan(rt), lab.reach_step >= 41)
    assert 0 <= lab.summary()["reached"] <= 1


def test_geometry_reuse_matches_a_fresh_computation(thirteen):
    sched = thirteen.schedule
    gen = torch.Generator().manual_seed(1)
    model = rv.InjectedErrorScore(thirteen, dim=1, normal=0.5)
    traj = rv.sample(model, rv.prior_sample(sched, 6, 2, gen), sched.time_grid(12), "euler")
    fresh = rv.label_phases(thirteen, traj, 1)
    reused = rv.label_phases(thirteen, traj, 1, geometry=rv.decompose_error(model, thirteen, traj, 1))
    np.testing.assert_array_equal(fresh.labels, reused.labels)
    assert fresh.geometry.distance_kind == "projection"


def test_thresholds_move_the_phase_boundaries_the_right_way(thirteen, run):
    _, dec = run
    narrow = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=0.02), geometry=dec)
    wide = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=0.5), geometry=dec)
    # a wider tube is reached no later, and strictly earlier for some sample
    assert np.all(wide.reach_step <= narrow.reach_step) and np.any(wide.reach_step < narrow.reach_step)
    eager = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=0.5, slide_ratio=0.5), geometry=dec)
    strict = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=0.5, slide_ratio=5.0), geometry=dec)
    assert np.all(eager.slide_step <= strict.slide_step) and np.any(eager.slide_step < strict.slide_step)
    huge = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=1e6), geometry=dec)
    defined = dec.scaled_gap >= rv.PhaseRule().gap_tol
    np.testing.assert_array_equal(huge.reach_step, np.where(defined.any(0), defined.argmax(0), 41))


@pytest.mark.parametrize("kwargs, param", [
    (dict(tube=0.0), "tube"), (dict(tube=-1.0), "tube"), (dict(tube=float("nan")), "tube"),
    (dict(tube=float("inf")), "tube"), (dict(tube_fraction=0.0), "tube_fraction"),
    (dict(slide_ratio=-1.0), "slide_ratio"), (dict(slide_ratio=float("inf")), "slide_ratio"),
    (dict(gap_tol=float("nan")), "gap_tol"), (dict(gap_tol=0.0), "gap_tol"),
])
def test_bad_rule_values_raise(kwargs, param):
    with pytest.raises(ValueError, match=param):
        rv.PhaseRule(**kwargs)
