"""Phase labels: the documented rule against a per-sample loop, and the paper's causes on curved ridges and points in
general position, each claim beside a negative control that fails it."""

import numpy as np
import pytest
from ridge_cases import SIX, VortexScore, in_tube_share, min_collinearity, noisy_curve, old_rule_labels, ring, run

import ridgeviz as rv
from ridgeviz.core.phases import ALIGN, NO_RIDGE, PHASES, REACH, SLIDE, THRESHOLDS, TO_POINT, phase_sensitivity
from ridgeviz.core.scale import data_scale


@pytest.fixture(scope="module")
def small(thirteen):
    model = rv.InjectedErrorScore(thirteen, dim=1, normal=0.3, tangential=0.8)
    traj = run(thirteen, model, 24, 40)
    return traj, rv.decompose_error(model, thirteen, traj, 1, distance="projection")


def _reference_labels(geo, data, rule):
    """The rule of ridgeviz.core.phases written as a plain loop over samples and steps."""
    K1, M = geo.distance_all.shape
    floor = rule.tube if rule.tube is not None else rule.tube_fraction * data_scale(data)
    out = np.empty((K1, M), dtype=int)
    for m in range(M):
        ok = [geo.ridge_gap[k, m] >= rule.gap_tol and geo.on_ridge[k, m] for k in range(K1)]
        tube = [max(floor, rule.tube_sigmas * np.sqrt(geo.h[k])) for k in range(K1)]
        reach = next((k for k in range(K1) if ok[k] and geo.distance_all[k, m] <= tube[k]), K1)
        aligned, total = K1, 0.0
        for k in range(reach, K1):
            if total >= rule.align_halflives * np.log(2) - 1e-12:
                aligned = k
                break
            if k < K1 - 1 and ok[k]:
                total += max(geo.relaxation[k, m], 0.0)
        for k in range(K1):
            j = min(k, K1 - 2)
            slide = geo.error_push[j, m] > rule.slide_ratio * geo.exact_pull[j, m]
            out[k, m] = REACH if k < reach else ALIGN if k < aligned else SLIDE if slide else TO_POINT
            if not ok[k]:
                out[k, m] = NO_RIDGE
    return out


@pytest.mark.parametrize("rule", [rv.PhaseRule(), rv.PhaseRule(tube=0.05, slide_ratio=2.0, align_halflives=3.0),
                                  rv.PhaseRule(tube_fraction=0.3, tube_sigmas=0.2, gap_tol=0.01)])
def test_labels_follow_the_documented_rule(thirteen, small, rule):
    _, dec = small
    lab = rv.label_phases(thirteen, None, 1, rule=rule, geometry=dec)
    np.testing.assert_array_equal(lab.labels, _reference_labels(dec, thirteen.data.numpy(), rule))
    floor = rule.tube if rule.tube is not None else rule.tube_fraction * data_scale(thirteen.data.numpy())
    assert lab.tube == pytest.approx(floor)
    np.testing.assert_allclose(lab.tube_t, np.maximum(floor, rule.tube_sigmas * np.sqrt(dec.h)))
    text = rule.describe(thirteen.data)
    assert f"{floor:.3g}" in text and f"{rule.slide_ratio:g}" in text and f"{rule.gap_tol:g}" in text


def test_labels_are_monotone_and_fractions_sum_to_one(thirteen, small):
    traj, dec = small
    lab = rv.label_phases(thirteen, traj, 1, geometry=dec)
    assert lab.labels.shape == (41, 24) and set(np.unique(lab.labels)) <= set(range(len(PHASES)))
    stage = np.minimum(lab.labels, SLIDE)  # reach < align < {slide, to a training point}
    for m in range(24):
        seq = stage[:, m][lab.labels[:, m] != NO_RIDGE]
        assert np.all(np.diff(seq) >= 0), seq
    assert np.all(lab.reach_step <= lab.aligned_step)
    np.testing.assert_allclose(lab.fractions().sum(1), 1.0, rtol=1e-14)
    assert sum(lab.shares().values()) == pytest.approx(1.0)
    rt = lab.reach_times()
    np.testing.assert_array_equal(np.isnan(rt), lab.reach_step >= 41)
    assert np.all(np.isnan(rt) | np.isin(rt, traj.times))


def test_without_geometry_the_rule_reads_the_trajectory_scores(thirteen):
    model = rv.InjectedErrorScore(thirteen, dim=1, normal=0.5, tangential=0.5)
    traj = run(thirteen, model, 6, 12, "euler")
    fresh = rv.label_phases(thirteen, traj, 1)
    reused = rv.label_phases(thirteen, traj, 1, geometry=rv.decompose_error(model, thirteen, traj, 1))
    np.testing.assert_array_equal(fresh.labels, reused.labels)
    assert fresh.geometry.distance_kind == "projection"


def test_thresholds_move_the_phase_boundaries_the_right_way(thirteen, small):
    _, dec = small
    narrow = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=0.02, tube_sigmas=0.01), geometry=dec)
    wide = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(tube=0.5), geometry=dec)
    assert np.all(wide.reach_step <= narrow.reach_step) and np.any(wide.reach_step < narrow.reach_step)
    short = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(align_halflives=0.5), geometry=dec)
    long = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(align_halflives=4.0), geometry=dec)
    assert np.all(short.aligned_step <= long.aligned_step) and np.any(short.aligned_step < long.aligned_step)
    eager = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(slide_ratio=0.25), geometry=dec)
    strict = rv.label_phases(thirteen, None, 1, rule=rv.PhaseRule(slide_ratio=4.0), geometry=dec)
    assert (eager.labels == SLIDE).sum() > (strict.labels == SLIDE).sum()


def test_sensitivity_table_relabels_with_each_threshold_halved_and_doubled(thirteen, small):
    _, dec = small
    rule = rv.PhaseRule()
    sens = phase_sensitivity(thirteen.data, dec, rule)
    assert sens.rows[0][0] == "default" and sens.shares.shape == (1 + 2 * len(THRESHOLDS), len(PHASES))
    np.testing.assert_allclose(sens.shares.sum(1), 1.0)
    for i, (name, factor, _) in enumerate(sens.rows[1:], start=1):
        ref = rv.label_phases(thirteen, None, 1, rule=rule.scaled(name, factor), geometry=dec)
        np.testing.assert_allclose(sens.shares[i], list(ref.shares().values()))
    base = rv.label_phases(thirteen, None, 1, rule=rule, geometry=dec)
    np.testing.assert_allclose(sens.shares[0], list(base.shares().values()))
    table = sens.table()
    assert table["threshold"][0] == "default" and len(table["slide"]) == len(sens.rows)


# -- the paper's causes: points in general position (the "done when") ----------------------------------------
@pytest.fixture(scope="module")
def six():
    """OU, reverse SDE (EM), 200 steps, 256 samples: the exact score and injected errors on a 6-point set."""
    dens = rv.SmoothedEmpirical(SIX, rv.get_schedule("ou"))
    out = {}
    for name, (n, t) in {"exact": (0, 0), "tangential": (0, 0.5), "normal": (0.5, 0), "both": (0.5, 0.5)}.items():
        model = rv.ExactScore(dens) if n == t == 0 else rv.InjectedErrorScore(dens, 1, normal=n, tangential=t)
        traj = run(dens, model, 256, 200)
        dec = rv.decompose_error(model, dens, traj, 1)
        out[name] = (dec, rv.label_phases(dens, traj, 1, geometry=dec))
    return dens, out


def test_six_points_are_in_general_position():
    assert min_collinearity(SIX) > 0.29
    d = np.linalg.norm(SIX[:, None] - SIX[None], axis=-1)[np.triu_indices(6, 1)]
    assert len(np.unique(d.round(3))) == 15  # no two pairs at the same distance: no symmetry decides


def test_slide_responds_to_the_tangential_error_and_only_to_it(six):
    _, runs = six
    share = {name: in_tube_share(lab.labels, SLIDE) for name, (_, lab) in runs.items()}
    rise = share["tangential"] - share["exact"]
    assert share["exact"] == 0.0  # the exact score's pull toward the training points is not slide
    assert rise >= 0.15, share
    assert abs(share["normal"] - share["exact"]) < rise / 2, share
    # align is a real stage: at least 10% of the labels after reach with normal = tangential = 0.5
    assert in_tube_share(runs["both"][1].labels, ALIGN) >= 0.10
    assert in_tube_share(runs["both"][1].labels, TO_POINT) > 0  # the exact pull still wins near training points


def test_negative_control_a_rule_that_ignores_the_error_fails(six):
    """The first rule split the whole drift: it calls the exact score's motion slide and misses the error."""
    _, runs = six
    old = {name: in_tube_share(old_rule_labels(dec, lab.reach_step), 2) for name, (dec, lab) in runs.items()}
    assert old["exact"] > 0.5  # memorisation coloured slide
    assert old["tangential"] - old["exact"] < 0.15  # the "done when" rise fails


def test_noisy_curve_tangential_error_slides_normal_error_does_not(ou):
    dens = rv.SmoothedEmpirical(noisy_curve(), ou)
    share = {}
    for name, (n, t) in {"exact": (0, 0), "normal": (0.5, 0), "tangential": (0, 0.5)}.items():
        model = rv.ExactScore(dens) if n == t == 0 else rv.InjectedErrorScore(dens, 1, normal=n, tangential=t)
        traj = run(dens, model, 96, 120)
        share[name] = in_tube_share(rv.label_phases(dens, traj, 1).labels, SLIDE)
    assert share["exact"] == 0.0 and share["normal"] == 0.0
    assert share["tangential"] >= 0.1, share


def test_ring_circulating_error_slides_and_the_exact_score_does_not(ou):
    dens = rv.SmoothedEmpirical(ring(), ou)
    labels = {tau: rv.label_phases(dens, run(dens, VortexScore(dens, tau, 0.0), 64, 120), 1).labels
              for tau in (0.0, 0.5)}
    assert in_tube_share(labels[0.0], SLIDE) == 0.0
    assert in_tube_share(labels[0.5], SLIDE) >= 0.3


@pytest.mark.parametrize("kwargs, param", [
    (dict(tube=0.0), "tube"), (dict(tube=-1.0), "tube"), (dict(tube=float("nan")), "tube"),
    (dict(tube=float("inf")), "tube"), (dict(tube_fraction=0.0), "tube_fraction"),
    (dict(tube_sigmas=-1.0), "tube_sigmas"), (dict(align_halflives=0.0), "align_halflives"),
    (dict(slide_ratio=-1.0), "slide_ratio"), (dict(slide_ratio=float("inf")), "slide_ratio"),
    (dict(gap_tol=float("nan")), "gap_tol"), (dict(gap_tol=0.0), "gap_tol"), (dict(slide_ratio=True), "slide_ratio"),
])
def test_bad_rule_values_raise(kwargs, param):
    with pytest.raises(ValueError, match=param):
        rv.PhaseRule(**kwargs)


def test_scaling_an_unknown_threshold_raises():
    with pytest.raises(ValueError, match="threshold"):
        rv.PhaseRule().scaled("width", 2.0)
    assert rv.PhaseRule(tube=0.2).scaled("tube", 2.0).tube == pytest.approx(0.4)
    assert rv.PhaseRule().scaled("tube", 0.5).tube_fraction == pytest.approx(0.05)
