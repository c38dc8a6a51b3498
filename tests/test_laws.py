"""The align and slide laws against measurement on a ring (a curved ridge), with negative controls that fail them.

Tolerances. After alignment the laws are linearised about the ridge point; what they leave out is second order in
the offset over the scale on which the Hessian varies (``sqrt(h_t)``), and the offsets compared are at most about
``0.3 sqrt(h_t)``, so the deterministic (ODE) comparisons get 5% for the normal offset. The slide law leaves out
the exact score's own tangential pull, which on a ring of 40 points is not zero once ``sqrt(h_t)`` approaches the
spacing of the points (it slows samples down near each point): 10%. For the SDE, the measured offset of one sample
is one draw of a noisy process, so the RMS over samples is compared (15%, about three standard errors of an RMS
over a few hundred sample-times that are correlated in time), and the mean displacement within four standard
errors of its noise, ``sqrt(sum_k (a_k/a_{k+1})^2 q_k / n)``, computed from the sampler's noise variance ``q``.
"""

import numpy as np
import pytest
from ridge_cases import SIX, VortexScore, ring, run

import ridgeviz as rv
from ridgeviz.core.laws import _last_true, ridge_laws
from ridgeviz.core.sampling import step_coefficients


@pytest.fixture(scope="module")
def ring_dens(ou):
    return rv.SmoothedEmpirical(ring(), ou)


@pytest.fixture(scope="module")
def ode(ring_dens):
    model = VortexScore(ring_dens, 1.0, 1.0)
    traj = run(ring_dens, model, 64, 200, "euler")
    return traj, rv.decompose_error(model, ring_dens, traj, 1)


@pytest.fixture(scope="module")
def sde(ring_dens):
    model = VortexScore(ring_dens, 1.0, 1.0)
    traj = run(ring_dens, model, 128, 200, "em")
    return traj, rv.decompose_error(model, ring_dens, traj, 1)


def _arc_length(law, traj) -> np.ndarray:
    """Arc travelled counter-clockwise around the ring's centre by each sample over its compared steps: radius
    times the change of angle (angles do not change under the dilation), a measurement independent of the law's
    bookkeeping."""
    ok = law._valid()
    xs = traj.xs.numpy()
    theta = np.unwrap(np.arctan2(xs[..., 1], xs[..., 0]), axis=0)
    radius = np.linalg.norm(xs, axis=-1)
    return np.where(ok[:-1] & ok[1:], radius[:-1] * np.diff(theta, axis=0), 0.0).sum(0)


def test_ode_align_law_on_a_ring(ring_dens, ode):
    traj, dec = ode
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    ok = law._valid()
    assert ok.sum() > 1000 and ok.any(0).sum() > 16
    assert law.agreement()["normal_rms_ratio"] == pytest.approx(1.0, abs=0.05)
    per_sample = law.normal_measured[ok] / law.normal_predicted[ok]
    assert np.quantile(per_sample, [0.05, 0.95]) == pytest.approx([1.0, 1.0], abs=0.05)
    # negative control: the law of an error-free model misses the offset the normal error sets
    control = ridge_laws(ring_dens, traj, 1, geometry=dec, error_scale=0.0)
    assert abs(control.agreement()["normal_rms_ratio"] - 1.0) > 0.2


def test_ode_slide_law_on_a_ring(ring_dens, ode):
    traj, dec = ode
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    agree = law.agreement()
    assert agree["tangential_predicted_mean"] > 0.1  # samples do circulate
    assert agree["tangential_mean_ratio"] == pytest.approx(1.0, abs=0.1)
    arcs = _arc_length(law, traj)
    cols = law._valid().any(0)
    end = _last_true(law._valid())[cols]
    predicted = law.tangential_predicted[end, np.flatnonzero(cols)]
    assert arcs[cols].mean() == pytest.approx(predicted.mean(), rel=0.1)
    control = ridge_laws(ring_dens, traj, 1, geometry=dec, error_scale=0.0)
    assert control.agreement()["tangential_predicted_mean"] == 0.0 < arcs[cols].mean()


def test_sde_laws_on_a_ring(ring_dens, sde):
    traj, dec = sde
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    agree = law.agreement()
    assert agree["points"] > 2000
    assert agree["normal_rms_ratio"] == pytest.approx(1.0, abs=0.15)
    ok = law._valid()
    cols = np.flatnonzero(ok.any(0))
    end = _last_true(ok)[cols]
    measured = law.tangential_measured[end, cols]
    predicted = law.tangential_predicted[end, cols]
    alpha = np.asarray(ring_dens.schedule.alpha(traj.times))
    q = np.array([step_coefficients("em", ring_dens.schedule, traj.times[k], traj.times[k + 1])[2]
                  for k in range(len(traj.times) - 1)])
    noise = ((alpha[:-1] / alpha[1:]) ** 2 * q)[:, None] * (ok[:-1] & ok[1:])
    se = np.sqrt(noise.sum(0)[cols].mean() / len(cols))
    assert abs(measured.mean() - predicted.mean()) < 4 * se + 0.1 * predicted.mean()
    assert predicted.mean() > 4 * se  # the check above is not vacuous: the displacement stands out of the noise


def test_slide_law_fails_where_the_exact_pull_matters(ou):
    """Negative control: on six points in general position the exact score's pull toward the training points moves
    samples along the ridge as much as the error does, so the law (error only) does not describe the motion."""
    dens = rv.SmoothedEmpirical(SIX, ou)
    model = rv.InjectedErrorScore(dens, 1, normal=0.0, tangential=0.5)
    traj = run(dens, model, 128, 200, "em")
    law = ridge_laws(dens, traj, 1)
    agree = law.agreement()
    assert agree["points"] > 200
    assert abs(agree["tangential_mean_ratio"] - 1.0) > 0.3, agree


def test_points_for_the_figure_are_a_seeded_subsample(ring_dens, ode):
    traj, dec = ode
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    pts = law.points(max_points=300, seed=4)
    assert set(pts) == {"t", "normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured"}
    assert all(len(v) == 300 and v.dtype == np.float32 and np.isfinite(v).all() for v in pts.values())
    again = law.points(max_points=300, seed=4)
    assert all(np.array_equal(pts[k], again[k]) for k in pts)
    assert set(np.round(pts["t"], 6)) <= set(np.round(traj.times.astype(np.float32), 6))


def test_start_must_match_the_samples(ring_dens, ode):
    traj, dec = ode
    with pytest.raises(ValueError, match="start"):
        ridge_laws(ring_dens, traj, 1, geometry=dec, start=np.zeros(3, dtype=int))
    # a sample that never starts contributes nothing
    start = np.full(traj.xs.shape[1], len(traj.times))
    law = ridge_laws(ring_dens, traj, 1, geometry=dec, start=start)
    assert law.agreement()["points"] == 0 and np.isnan(law.normal_predicted).all()


def test_sde_prediction_starts_at_the_measured_offset(ring_dens, sde):
    """At each sample's first compared step the predicted RMS offset is the measured offset itself: the noise before
    it is already in that offset, so the predicted spread starts at zero (carrying it over would count it twice)."""
    traj, dec = sde
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    cols = np.flatnonzero(law.start < len(traj.times))
    rows = law.start[cols]
    assert len(cols) > 50
    pred, mean = law.normal_predicted[rows, cols], law.normal_mean[rows, cols]
    np.testing.assert_allclose(pred, mean, rtol=1e-12)  # no variance yet
    later = law._valid() & (np.arange(len(traj.times))[:, None] > law.start)
    assert (law.normal_predicted[later] > law.normal_mean[later]).mean() > 0.9  # the SDE's noise adds spread after
