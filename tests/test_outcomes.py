"""The one outcome rule (core/outcomes.py) and its reference samplers (core/references.py): constants against
brute-force loops, categories on points known by construction, and the rule's discrimination on sets in general
position generated here (the exact score reads as copies; the kernel sampler has no direction along the ridge)."""

import math

import numpy as np
import pytest
import torch
from ridge_cases import noisy_curve, run, scattered, wobbly_loop
from scipy import stats

import ridgeviz as rv
from ridgeviz.core.outcomes import (
    CATEGORIES,
    COPY,
    COPY_RATIO,
    OFF,
    ON,
    PROBES,
    UNDEFINED,
    OutcomeRule,
    _time_of_bandwidth,
    classify_samples,
    fractions,
    outcomes,
    spacings,
    terminal_noise_radius,
    turned_offsets,
)
from ridgeviz.core.references import interpolator_samples, kernel_samples, nearest_other
from ridgeviz.core.ridge import local_frame, project_to_ridge
from ridgeviz.core.scale import data_scale

X = np.array([[0.0, 0.0], [1.1, 0.4], [2.3, -0.2], [-0.7, 1.9], [3.1, 2.6]])  # general position, not collinear


@pytest.fixture(scope="module")
def setting():
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(X, sched)
    return sched, dens, OutcomeRule.for_data(X, sched)


def test_spacings_and_nearest_other_against_a_loop():
    Y = scattered(9, seed=2)
    expected = [min(math.dist(p, q) for j, q in enumerate(Y) if j != i) for i, p in enumerate(Y)]
    np.testing.assert_allclose(spacings(Y), expected, rtol=1e-13)
    nn = [min((j for j in range(len(Y)) if j != i), key=lambda j: math.dist(Y[i], Y[j])) for i in range(len(Y))]
    assert nearest_other(Y).tolist() == nn


@pytest.mark.parametrize("name", ["ou", "vp-cosine", "ve"])
def test_time_of_bandwidth_inverts_sigma_over_alpha(name):
    sched = rv.get_schedule(name)
    lo = float(sched.sigma(sched.t_min) / sched.alpha(sched.t_min))
    for b in (2 * lo, 0.1, 0.5):
        t = _time_of_bandwidth(sched, b)
        assert float(sched.sigma(t) / sched.alpha(t)) == pytest.approx(b, rel=1e-9)


@pytest.mark.parametrize("D", [1, 2, 5, 32])
def test_terminal_noise_radius_is_the_quantile_of_the_final_spread(D):
    sched = rv.get_schedule("ou")
    b = math.sqrt(float(sched.h(sched.t_min))) / float(sched.alpha(sched.t_min))
    r = terminal_noise_radius(sched, D)
    # Monte Carlo of |N(0, b^2 I_D)|: 99% of the draws fall inside (binomial 3-sigma band at n = 200,000)
    z = np.random.default_rng(D).standard_normal((200_000, D)) * b
    inside = np.mean(np.linalg.norm(z, axis=1) < r)
    assert abs(inside - 0.99) < 3 * math.sqrt(0.99 * 0.01 / 200_000)
    if D == 2:
        assert r == pytest.approx(b * math.sqrt(-2 * math.log(0.01)), rel=1e-12)  # chi_2 in closed form


def _ridge_time_reference(Y, sched):
    """t* by a plain loop: the median scaled eigengap h (l_1 - l_2) at every centre, from numpy's eigvalsh of the
    density's Hessian, at each probed bandwidth; the first maximum wins."""
    s_med = float(np.median(spacings(Y)))
    lo, hi = s_med / 3, max(s_med / 3, data_scale(Y))
    dens = rv.SmoothedEmpirical(Y, sched)
    best, best_t = -1.0, None
    for b in np.geomspace(lo, hi, PROBES):
        t = _time_of_bandwidth(sched, float(b))
        a, h = float(sched.alpha(t)), float(sched.h(t))
        gaps = []
        for y in Y:
            H = dens.hessian(torch.as_tensor(a * y[None]), t)[0].numpy()
            lam = np.linalg.eigvalsh(H)[::-1]
            gaps.append(h * (lam[0] - lam[1]))
        g = float(np.median(gaps))
        if g > best * (1 + 1e-9):
            best, best_t = g, t
    return best_t


@pytest.mark.parametrize("Y", [X, scattered(12, seed=5), wobbly_loop(20, seed=4)], ids=["five", "scatter", "loop"])
def test_rule_constants_against_loops(Y):
    sched = rv.get_schedule("ou")
    rule = OutcomeRule.for_data(Y, sched)
    assert rule.noise_radius == pytest.approx(terminal_noise_radius(sched, 2), rel=1e-14)
    assert rule.t_ridge == pytest.approx(_ridge_time_reference(Y, sched), rel=1e-9)
    assert rule.tube == pytest.approx(math.sqrt(float(sched.h(rule.t_ridge))) / 2, rel=1e-14)
    text = rule.describe()
    assert "copy" in text and f"{rule.t_ridge:.3g}" in text and f"{rule.noise_radius:.3g}" in text


def test_copy_criterion_against_a_loop(setting):
    _, _, rule = setting
    z = np.random.default_rng(1).uniform(-1, 4, size=(300, 2))
    z[:40] = X[np.arange(40) % 5] + 0.05 * np.random.default_rng(2).standard_normal((40, 2))
    expected = []
    for p in z:
        d = sorted(math.dist(p, q) for q in X)
        expected.append(d[0] < COPY_RATIO * d[1] or d[0] < rule.noise_radius)
    _, d1, d2 = rv.core.outcomes.nearest_training(X, z)
    assert rule.is_copy(d1, d2).tolist() == expected
    assert 0 < sum(expected) < len(z)


def test_categories_of_points_known_by_construction(setting):
    sched, dens, rule = setting
    rng = np.random.default_rng(0)
    copies = X + 0.2 * rule.noise_radius * rng.standard_normal(X.shape)
    a = float(sched.alpha(rule.t_ridge))
    # on the ridge: projections of the midpoints of neighbouring points, back in data units (not copies: d1 ~ d2)
    mid = torch.as_tensor(a * (X[[0, 0, 1]] + X[[1, 3, 2]]) / 2)
    proj = project_to_ridge(dens, mid, rule.t_ridge, 1, tol=1e-8, max_iter=500)
    assert bool(proj.on_ridge.all())
    on = proj.points.numpy() / a
    far = np.array([[60.0, -40.0], [-50.0, 70.0]])  # far from every ridge point: new, never on the ridge
    codes = classify_samples(dens, np.vstack([copies, on, far]), rule)
    assert codes[:5].tolist() == [COPY] * 5
    assert codes[5:8].tolist() == [ON] * 3
    assert set(codes[8:].tolist()) <= {OFF, UNDEFINED}
    # the same ridge points pushed off it along the local normal by three tubes are no longer on it
    frame = local_frame(dens, proj.points, rule.t_ridge, 1)
    off = (proj.points.numpy() + 3 * rule.tube * frame.eigenvectors[:, :, 1].numpy()) / a
    codes_off = classify_samples(dens, off, rule)
    back = project_to_ridge(dens, torch.as_tensor(a * off), rule.t_ridge, 1, tol=1e-8, max_iter=500)
    far_from_ridge = (back.points - a * torch.as_tensor(off)).norm(dim=-1).numpy() > rule.tube
    assert far_from_ridge.any() and ON not in codes_off[far_from_ridge].tolist()
    assert COPY not in codes_off.tolist()


def test_codes_follow_their_samples_and_fractions_sum_to_one(setting):
    _, dens, rule = setting
    final = np.random.default_rng(3).uniform(-1, 4, size=(40, 2))
    codes = classify_samples(dens, final, rule)
    perm = np.random.default_rng(4).permutation(40)
    np.testing.assert_array_equal(classify_samples(dens, final[perm], rule), codes[perm])
    f = fractions(codes)
    assert list(f) == list(CATEGORIES) and sum(f.values()) == pytest.approx(1.0)
    assert len(set(codes.tolist())) >= 2


@pytest.mark.parametrize("bad, match", [
    (np.zeros((1, 2)), "at least 2"), (np.zeros((5, 1)), "D >= 2"), (np.array([[0.0, np.nan], [1.0, 1.0]]), "finite"),
    (np.zeros((4, 2)), "median spacing 0"),
])
def test_for_data_refuses_degenerate_data(bad, match):
    with pytest.raises(ValueError, match=match):
        OutcomeRule.for_data(bad, rv.get_schedule("ou"))


@pytest.mark.parametrize("kwargs, param", [
    (dict(noise_radius=float("nan")), "noise_radius"), (dict(noise_radius=-1.0), "noise_radius"),
    (dict(t_ridge=0.0), "t_ridge"), (dict(tube=float("inf")), "tube"), (dict(copy_ratio=1.0), "copy_ratio"),
    (dict(copy_ratio=float("nan")), "copy_ratio"), (dict(dim=-1), "dim"),
])
def test_rule_fields_are_validated(kwargs, param):
    args = dict(noise_radius=0.1, t_ridge=0.1, tube=0.1) | kwargs
    with pytest.raises(ValueError, match=param):
        OutcomeRule(**args)


# -- the null and the reference samplers -----------------------------------------------------------------------------
def test_turned_offsets_keep_the_distance_and_lose_the_direction():
    Y = scattered(10, seed=3)
    idx = np.random.default_rng(0).integers(10, size=4000)
    offsets = np.array([0.3, 0.0])  # every sample displaced the same way: a strongly preferred direction
    z = Y[idx] + offsets
    null = turned_offsets(Y, z, seed=1)
    np.testing.assert_allclose(np.linalg.norm(null - Y[idx], axis=1), 0.3, rtol=1e-12)
    u = (null - Y[idx]) / 0.3
    assert np.abs(u.mean(axis=0)).max() < 4 / math.sqrt(4000)  # uniform directions: mean ~ 0 (4 sigma)
    angle = np.arctan2(u[:, 1], u[:, 0])
    assert stats.kstest((angle + np.pi) / (2 * np.pi), "uniform").pvalue > 1e-3


def test_kernel_sampler_matches_the_distances_and_the_interpolator_lies_on_segments():
    Y = scattered(14, seed=9)
    d = np.random.default_rng(0).uniform(0.0, 0.4, size=500)
    z = kernel_samples(Y, d, 2000, seed=2)
    _, d1, _ = rv.core.outcomes.nearest_training(Y, z)
    assert stats.ks_2samp(d1, d).pvalue > 1e-3  # the rejection keeps each sample's own centre nearest
    w = interpolator_samples(Y, 2000, seed=3)
    nn = nearest_other(Y)
    on_segment = [min(_segment_distance(p, Y[i], Y[nn[i]]) for i in range(len(Y))) for p in w]
    assert max(on_segment) < 1e-12
    with pytest.raises(ValueError, match="distances"):
        kernel_samples(Y, [np.nan], 5, 0)
    with pytest.raises(ValueError, match="M"):
        interpolator_samples(Y, 0, 0)


def _segment_distance(p, a, b) -> float:
    u = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return float(np.linalg.norm(p - (a + u * (b - a))))


# -- discrimination on sets in general position generated here (held-out style) ------------------------
@pytest.fixture(scope="module")
def general():
    sched = rv.get_schedule("ou")
    out = {}
    for name, Y in {"scatter": scattered(), "loop": wobbly_loop(), "curve": noisy_curve()}.items():
        dens = rv.SmoothedEmpirical(Y, sched)
        final = run(dens, rv.ExactScore(dens), 160, 100).final.numpy()
        out[name] = (dens, OutcomeRule.for_data(Y, sched), final)
    return out


@pytest.mark.parametrize("name", ["scatter", "loop", "curve"])
def test_the_exact_score_reads_as_copies_and_the_kernel_sampler_does_not(general, name):
    """Sanity of the copy criterion: the exact score memorises (a theorem), so it must read >= 0.9 copies; the
    control, a kernel sampler at the recipe-like spread of 0.1-0.5, would read as copies too if the criterion
    called everything near the data a copy."""
    dens, rule, final = general[name]
    assert fractions(classify_samples(dens, final, rule))["copy"] >= 0.9
    Y = dens.data.numpy()
    kernel = kernel_samples(Y, np.linspace(0.1, 0.5, 50), 400, seed=0)
    assert fractions(classify_samples(dens, kernel, rule))["copy"] < 0.7


def test_a_rule_tied_to_the_closest_pair_reads_the_exact_score_as_new_on_the_loop(general):
    """The negative control of the change: a copy radius of s_min / 6 (the earlier rule) misses most of the exact
    score's copies on a dense noisy loop, where the criterion used now catches them."""
    dens, rule, final = general["loop"]
    Y = dens.data.numpy()
    _, d1, d2 = rv.core.outcomes.nearest_training(Y, final)
    assert np.mean(d1 < spacings(Y).min() / 6) < 0.6
    assert np.mean(rule.is_copy(d1, d2)) >= 0.9


@pytest.mark.parametrize("name", ["scatter", "loop"])
def test_direction_along_the_ridge_separates_the_interpolator_from_the_kernel_sampler(general, name):
    """The null turns each offset at random: the kernel sampler (no preferred direction) gains nothing from its
    directions; the interpolator, whose offsets point to a neighbour, does on the scattered set."""
    dens, rule, _ = general[name]
    Y = dens.data.numpy()
    interp = interpolator_samples(Y, 600, seed=1)
    _, d1, _ = rv.core.outcomes.nearest_training(Y, interp)
    kernel = outcomes(dens, kernel_samples(Y, d1, 600, seed=1), rule, seed=1).along_ridge()
    along = outcomes(dens, interp, rule, seed=1).along_ridge()
    assert abs(kernel) < 0.06
    if name == "scatter":
        assert along > 0.15
