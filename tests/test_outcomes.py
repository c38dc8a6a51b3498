"""The one outcome rule (core/outcomes.py): its constants against brute-force loops, and its categories on
points whose outcome is known by construction, on five points in general position."""

import itertools
import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.outcomes import (
    CATEGORIES,
    COPY,
    OFF,
    ON,
    UNDEFINED,
    OutcomeRule,
    _time_of_bandwidth,
    classify_samples,
    fractions,
    spacings,
)
from ridgeviz.core.ridge import local_frame, project_to_ridge

X = np.array([[0.0, 0.0], [1.1, 0.4], [2.3, -0.2], [-0.7, 1.9], [3.1, 2.6]])  # general position, not collinear


@pytest.fixture(scope="module")
def setting():
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(X, sched)
    return sched, dens, OutcomeRule.for_data(X, sched)


def test_spacings_against_a_loop():
    expected = [min(math.dist(p, q) for j, q in enumerate(X) if j != i) for i, p in enumerate(X)]
    np.testing.assert_allclose(spacings(X), expected, rtol=1e-15)


@pytest.mark.parametrize("name", ["ou", "vp-cosine", "ve"])
def test_time_of_bandwidth_inverts_sigma_over_alpha(name):
    sched = rv.get_schedule(name)
    lo = float(sched.sigma(sched.t_min) / sched.alpha(sched.t_min))
    for b in (2 * lo, 0.1, 0.5):
        t = _time_of_bandwidth(sched, b)
        assert float(sched.sigma(t) / sched.alpha(t)) == pytest.approx(b, rel=1e-9)


def test_rule_constants(setting):
    sched, _, rule = setting
    pairs = [math.dist(p, q) for p, q in itertools.combinations(X, 2)]
    assert rule.copy_radius == pytest.approx(min(pairs) / 6, rel=1e-14)
    med = float(np.median(spacings(X)))
    assert float(sched.sigma(rule.t_ridge) / sched.alpha(rule.t_ridge)) == pytest.approx(med / 3, rel=1e-9)
    assert rule.tube == pytest.approx(math.sqrt(float(sched.h(rule.t_ridge))) / 2, rel=1e-14)
    assert "copy" in rule.describe() and f"{rule.t_ridge:.3g}" in rule.describe()


def test_categories_of_points_known_by_construction(setting):
    sched, dens, rule = setting
    rng = np.random.default_rng(0)
    copies = X + 0.2 * rule.copy_radius * rng.standard_normal(X.shape)
    a = float(sched.alpha(rule.t_ridge))
    # on the ridge: the projections of the midpoints of neighbouring points, back in data units
    mid = torch.as_tensor(a * (X[[0, 0, 1]] + X[[1, 3, 2]]) / 2)
    proj = project_to_ridge(dens, mid, rule.t_ridge, 1, tol=1e-8, max_iter=500)
    assert bool(proj.on_ridge.all())
    on = proj.points.numpy() / a
    far = np.array([[60.0, -40.0], [-50.0, 70.0]])  # one point's isotropic blob: no ridge statement
    codes = classify_samples(dens, np.vstack([copies, on, far]), rule)
    assert codes[:5].tolist() == [COPY] * 5
    assert codes[5:8].tolist() == [ON] * 3
    assert codes[8:].tolist() == [UNDEFINED] * 2
    # the same ridge points pushed off it along the local normal by three tubes are no longer on it
    frame = local_frame(dens, proj.points, rule.t_ridge, 1)
    normal = frame.eigenvectors[:, :, 1].numpy()  # in 2-D the normal space is the second eigenvector
    off = (proj.points.numpy() + 3 * rule.tube * normal) / a
    codes_off = classify_samples(dens, off, rule)
    assert ON not in codes_off.tolist() and COPY not in codes_off.tolist()
    assert set(codes_off.tolist()) <= {OFF, UNDEFINED}


def test_codes_follow_their_samples_and_fractions_sum_to_one(setting):
    _, dens, rule = setting
    final = np.random.default_rng(3).uniform(-1, 4, size=(40, 2))
    codes = classify_samples(dens, final, rule)
    perm = np.random.default_rng(4).permutation(40)
    np.testing.assert_array_equal(classify_samples(dens, final[perm], rule), codes[perm])
    f = fractions(codes)
    assert list(f) == list(CATEGORIES) and sum(f.values()) == pytest.approx(1.0)
    assert len(set(codes.tolist())) >= 2  # a uniform cloud over the data is not all one category
