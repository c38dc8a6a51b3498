"""The align and slide laws against closed forms and measurement, and their goodness of fit against a NumPy loop.

Tolerances. On the two points (±3, 0) the density factorises, ``p_t(x, y) = f(x) N(y; 0, h_t)``: the normal
coordinate obeys ``y' = (1 + A - B / h) y + B e_n`` exactly, the ridge is ``y = 0`` and the tangential score does
not depend on ``y``; what is left is the SCMS projection's own tolerance (1e-6 of a bandwidth), so 1e-6 in length.
On the ring the laws are linearised about the ridge; what they leave out is second order in the offset over the
scale on which the Hessian varies (``sqrt(h_t)``), with offsets of at most about ``0.3 sqrt(h_t)``: R^2 above 0.95.
"""

import numpy as np
import pytest
import torch
from ridge_cases import VortexScore, noisy_curve, ring, run
from scipy import stats

import ridgeviz as rv
from ridgeviz.core.law_fit import MIN_STEPS, per_sample_r_squared, r_squared, score
from ridgeviz.core.laws import expected_distance, ridge_laws
from ridgeviz.core.sampling import step_coefficients


class ConstantNormalError:
    """Exact score plus a constant ``(0, e_n)`` for ``t <= 0.5``: on (±3, 0) an error along the ridge's normal.
    (Switched off at larger t, where ``h_t -> 1`` and the level ``e_n h / (1 - h)`` it sets would be huge.)"""

    def __init__(self, dens, e_n: float):
        self.dens, self.schedule, self.e = dens, dens.schedule, torch.tensor([0.0, e_n], dtype=torch.float64)

    def __call__(self, x, t):
        on = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1) <= 0.5  # t: float or (M,)
        return self.dens.score(x, t) + on * self.e


@pytest.fixture(scope="module")
def two_points(ou):
    dens = rv.SmoothedEmpirical(np.array([[-3.0, 0.0], [3.0, 0.0]]), ou)
    return dens, ConstantNormalError(dens, 0.7)


def _given_start(traj, dec, t_start: float = 0.5) -> np.ndarray:
    """Each sample from its first step with ``t <= t_start`` where the ridge is defined (``K+1``: never)."""
    hit = ~dec.undefined & (traj.times <= t_start)[:, None]
    return np.where(hit.any(0), hit.argmax(0), len(traj.times))


def test_align_law_on_two_points_is_the_exact_normal_recursion(two_points):
    dens, model = two_points
    traj = run(dens, model, 64, 120, "euler")
    dec = rv.decompose_error(model, dens, traj, 1, gap_tol=1e-6)  # the frame is exactly (x, y) wherever l_x > l_y
    law = ridge_laws(dens, traj, 1, geometry=dec, start=_given_start(traj, dec))
    y = np.zeros(traj.xs.shape[1])
    for k in range(len(traj.times) - 1):  # the closed form, step by step from each sample's measured start
        y = np.where(law.start == k, traj.xs[k, :, 1].numpy(), y)
        rows = law.compared[k]
        np.testing.assert_allclose(law.normal_predicted[k, rows], np.abs(y[rows]), rtol=1e-9, atol=1e-12)
        A, B, _ = step_coefficients("euler", dens.schedule, traj.times[k], traj.times[k + 1])
        y = (1 + A - B / dens.schedule.h(traj.times[k])) * y + B * 0.7
    ok = law.compared
    assert ok.sum() > 200 and ok.any(0).sum() > 30
    np.testing.assert_allclose(law.normal_measured[ok], law.normal_predicted[ok], atol=1e-6)
    np.testing.assert_allclose(law.tangential_measured_vec[ok], law.tangential_predicted_vec[ok], atol=1e-6)
    assert np.abs(law.tangential_error_vec[ok]).max() < 1e-9  # the error is normal: it moves nothing along
    control = law.normal_without_error[ok]
    assert np.abs(control - law.normal_measured[ok]).max() > 0.1  # without e_n the offset would relax to 0


def test_sde_variance_on_two_points_is_the_closed_form(two_points):
    dens, model = two_points
    traj = run(dens, model, 16, 120, "em")
    dec = rv.decompose_error(model, dens, traj, 1, gap_tol=1e-6)
    law = ridge_laws(dens, traj, 1, geometry=dec, start=_given_start(traj, dec))
    var = np.zeros(traj.xs.shape[1])
    for k in range(len(traj.times) - 1):
        var = np.where(law.start == k, 0.0, var)
        rows = law.compared[k]
        got = law.normal_rms[k, rows] ** 2 - law.normal_mean[k, rows] ** 2
        np.testing.assert_allclose(got, var[rows], rtol=1e-8, atol=1e-14)
        A, B, q = step_coefficients("em", dens.schedule, traj.times[k], traj.times[k + 1])
        var = (1 + A - B / dens.schedule.h(traj.times[k])) ** 2 * var + q
    fit = law.agreement()
    assert fit["normal"]["noise ceiling"]["pooled"] < 0.9  # the SDE's noise is visible to the ceiling


@pytest.fixture(scope="module")
def ring_dens(ou):
    return rv.SmoothedEmpirical(ring(), ou)


@pytest.fixture(scope="module")
def ring_ode(ring_dens):
    model = VortexScore(ring_dens, 1.0, 1.0)
    traj = run(ring_dens, model, 48, 200, "euler")
    return traj, rv.decompose_error(model, ring_dens, traj, 1)


def _arc_length(law, traj) -> np.ndarray:
    """Arc travelled counter-clockwise around the ring's centre by each sample over its compared steps (radius
    times the change of angle, unchanged by the dilation): a measurement independent of the law's bookkeeping."""
    ok = law.compared | (np.arange(len(traj.times))[:, None] == law.start)
    xs = traj.xs.numpy()
    theta = np.unwrap(np.arctan2(xs[..., 1], xs[..., 0]), axis=0)
    radius = np.linalg.norm(xs, axis=-1)
    return np.where(ok[:-1] & ok[1:], radius[:-1] * np.diff(theta, axis=0), 0.0).sum(0)


def test_laws_fit_each_sample_on_a_ring_and_fail_without_the_error(ring_dens, ring_ode):
    traj, dec = ring_ode
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    fit = law.agreement()
    assert fit["samples"] >= 12 and fit["normal"]["law"]["samples"] >= 12
    for part in ("normal", "tangential"):
        assert fit[part]["law"]["median"] > 0.95 and fit[part]["law"]["pooled"] > 0.95, part
        assert fit[part]["without error"]["median"] < 0.5, part  # controls that could have passed (see experiment)
    assert fit["normal_rms_ratio"] == pytest.approx(1.0, abs=0.05)
    assert fit["error_share"] > 0.7  # on 40 points the error, not the exact pull, moves samples around
    cols = law.compared.any(0)
    predicted = np.linalg.norm(law.tangential_predicted_vec, axis=-1)
    last = len(traj.times) - 1 - law.compared[::-1].argmax(0)
    assert _arc_length(law, traj)[cols].mean() == pytest.approx(predicted[last[cols], np.flatnonzero(cols)].mean(),
                                                                rel=0.1)


def test_start_from_reach_is_earlier_and_both_are_reported(ring_dens, ring_ode):
    traj, dec = ring_ode
    aligned, reach = (ridge_laws(ring_dens, traj, 1, geometry=dec, start=s) for s in ("aligned", "reach"))
    assert aligned.start_kind == "aligned" and reach.start_kind == "reach"
    assert (reach.start <= aligned.start).all() and (reach.start < aligned.start).any()
    assert reach.agreement()["start"] == "reach"
    with pytest.raises(ValueError, match="start"):
        ridge_laws(ring_dens, traj, 1, geometry=dec, start="end")
    with pytest.raises(ValueError, match="start"):
        ridge_laws(ring_dens, traj, 1, geometry=dec, start=np.zeros(3, dtype=int))
    never = ridge_laws(ring_dens, traj, 1, geometry=dec, start=np.full(traj.xs.shape[1], len(traj.times)))
    assert never.agreement()["points"] == 0 and np.isnan(never.normal_predicted).all()


@pytest.fixture(scope="module")
def curve_dens(ou):
    return rv.SmoothedEmpirical(noisy_curve(), ou)


@pytest.mark.parametrize("method", ["euler", "em"])
def test_the_error_term_is_needed_in_general_position(curve_dens, method):
    """A noisy parabola of 24 points (general position, curved ridge), normal and tangential error 1: with its
    error term each law fits better than without (without the normal error the offset would relax toward the
    ridge; without the tangential error only the exact pull would move samples along it). Under the ODE the laws
    fit each sample; under the SDE the noise bounds every predictor (the noise ceiling), and the law stays within
    0.15 of it."""
    traj = run(curve_dens, VortexScore(curve_dens, 1.0, 1.0), 48, 200, method)
    fit = ridge_laws(curve_dens, traj, 1).agreement()
    assert fit["normal"]["law"]["samples"] >= 25
    for part in ("normal", "tangential"):
        law, control = fit[part]["law"], fit[part]["without error"]
        assert law["pooled"] > control["pooled"] + 0.15, (part, law, control)
    if method == "euler":
        assert fit["normal"]["law"]["median"] > 0.95 > 0.5 > fit["normal"]["without error"]["median"]
        assert fit["tangential"]["law"]["median"] > 0.6 > 0.0 > fit["tangential"]["without error"]["median"]
        assert fit["normal"]["law"]["median"] > fit["normal"]["baseline"]["median"] + 0.3
    else:
        assert fit["normal"]["law"]["pooled"] > fit["normal"]["noise ceiling"]["pooled"] - 0.15


def test_error_share_follows_the_tangential_error(curve_dens):
    """An error normal at the sample still has a small part along the ridge at the ridge point, where the law is
    linearised (the frame turns between the two), so its share is small, not zero; a tangential error's is large."""
    shares = [ridge_laws(curve_dens, run(curve_dens, VortexScore(curve_dens, tau, nu), 32, 200, "euler"), 1)
              .agreement()["error_share"] for tau, nu in ((0.0, 1.0), (1.0, 0.0))]
    assert shares[0] < 0.25 and shares[1] > 2 * shares[0], shares


def _r2_loop(y, p):
    """Textbook R^2 with Python loops: 1 - sum |y - p|^2 / sum |y - mean(y)|^2."""
    n, c = len(y), len(y[0])
    mean = [sum(y[i][j] for i in range(n)) / n for j in range(c)]
    ss_res = sum((y[i][j] - p[i][j]) ** 2 for i in range(n) for j in range(c))
    ss_tot = sum((y[i][j] - mean[j]) ** 2 for i in range(n) for j in range(c))
    return 1 - ss_res / ss_tot


@pytest.mark.parametrize("components", [None, 2])
def test_r_squared_matches_a_plain_loop(components):
    rng = np.random.default_rng(5)
    shape = (30, 7) if components is None else (30, 7, components)
    y = rng.standard_normal(shape).cumsum(0)
    p = y + 0.5 * rng.standard_normal(shape)
    mask = rng.random((30, 7)) < 0.6
    mask[:, 5] = False
    mask[:3, 5] = True  # fewer than MIN_STEPS: no per-sample R^2
    y[:, 6] = 1.25  # constant measured values: no per-sample R^2
    vec = (lambda a: a[..., None]) if components is None else (lambda a: a)
    each = per_sample_r_squared(y, p, mask)
    for m in range(7):
        rows = np.flatnonzero(mask[:, m])
        if m in (5, 6):
            assert np.isnan(each[m]) and len(rows) >= (0 if m == 6 else 1)
            continue
        assert len(rows) >= MIN_STEPS
        assert each[m] == pytest.approx(_r2_loop(vec(y)[rows, m].tolist(), vec(p)[rows, m].tolist()), rel=1e-10)
    pooled = _r2_loop(vec(y)[mask].tolist(), vec(p)[mask].tolist())
    assert r_squared(y[mask], p[mask]) == pytest.approx(pooled, rel=1e-10)
    s = score(y, p, mask)
    assert s["pooled"] == pytest.approx(pooled, rel=1e-10) and s["samples"] == 5
    assert s["median"] == pytest.approx(np.median(each[np.isfinite(each)]), rel=1e-12)
    assert r_squared(y[mask], y[mask]) == 1.0 and r_squared(y[mask], np.full_like(y[mask], y[mask].mean(0))) < 1e-12


def test_expected_distance_is_the_folded_normal_and_the_rice_mean():
    mean = torch.tensor([[0.0], [0.3], [-1.2], [2.0]], dtype=torch.float64)
    var = torch.tensor([[0.25], [0.04], [1.0], [0.0]], dtype=torch.float64)
    got = expected_distance(mean, var).numpy()
    ref = [stats.foldnorm(abs(m) / np.sqrt(v), scale=np.sqrt(v)).mean() if v > 0 else abs(m)
           for m, v in zip(mean[:, 0].tolist(), var[:, 0].tolist())]
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    mean2 = torch.tensor([[0.6, 0.8], [0.0, 0.2]], dtype=torch.float64)
    var2 = torch.full((2, 2), 0.09, dtype=torch.float64)
    rice = [stats.rice(float(m.norm()) / 0.3, scale=0.3).mean() for m in mean2]
    np.testing.assert_allclose(expected_distance(mean2, var2).numpy(), rice, rtol=0.03)  # 512 fixed draws


def test_baselines_are_least_squares_fits(ring_dens, ring_ode):
    from ridgeviz.core.law_fit import normal_baseline, tangential_baseline

    traj, dec = ring_ode
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    ok = law.compared
    pred, c = normal_baseline(law)
    s = np.broadcast_to(np.sqrt(law.h)[:, None], ok.shape)[ok]
    assert c == pytest.approx(np.linalg.lstsq(s[:, None], law.normal_measured[ok], rcond=None)[0][0], rel=1e-10)
    np.testing.assert_allclose(pred[ok], c * s)
    tpred, ct = tangential_baseline(law)
    shrink = np.sqrt(law.h[np.minimum(law.start, len(law.h) - 1)])[None, :] - np.sqrt(law.h)[:, None]
    np.testing.assert_allclose(np.linalg.norm(tpred, axis=-1)[ok], abs(ct) * shrink[ok], rtol=1e-10)
    for scale in (0.9, 1.1):  # the fitted constant minimises the residual
        assert np.sum((law.normal_measured[ok] - scale * c * s) ** 2) > np.sum((law.normal_measured[ok] - c * s) ** 2)


def test_sde_prediction_starts_at_the_measured_offset(ring_dens):
    """At each sample's start the prediction is the measured offset (the noise before it is already in it), so the
    spread starts at zero; after it the SDE's noise adds spread."""
    model = VortexScore(ring_dens, 1.0, 1.0)
    traj = run(ring_dens, model, 48, 200, "em")
    law = ridge_laws(ring_dens, traj, 1)
    cols = np.flatnonzero(law.start < len(traj.times))
    rows = law.start[cols]
    assert len(cols) > 20
    np.testing.assert_allclose(law.normal_predicted[rows, cols], law.normal_mean[rows, cols], rtol=1e-12)
    np.testing.assert_allclose(law.normal_predicted[rows, cols], law.normal_measured[rows, cols], rtol=0.05)
    assert (law.normal_rms[law.compared] > law.normal_mean[law.compared]).mean() > 0.9


def test_points_for_the_figure_are_a_seeded_subsample(ring_dens, ring_ode):
    traj, dec = ring_ode
    law = ridge_laws(ring_dens, traj, 1, geometry=dec)
    pts = law.points(max_points=300, seed=4)
    assert set(pts) == {"t", "normal_predicted", "normal_measured", "tangential_predicted", "tangential_measured"}
    assert all(len(v) == 300 and v.dtype == np.float32 and np.isfinite(v).all() for v in pts.values())
    again = law.points(max_points=300, seed=4)
    assert all(np.array_equal(pts[k], again[k]) for k in pts)
    assert set(np.round(pts["t"], 6)) <= set(np.round(traj.times.astype(np.float32), 6))


def test_reproduce_laws_tiny():
    from ridgeviz.experiments.executor import Executor
    from ridgeviz.experiments.laws import run as run_laws
    from ridgeviz.experiments.result import Context

    with Executor(1) as ex:
        exp = run_laws(Context("tiny", 0, ex))
    assert [c.passed for c in exp.checks] == [True, True]  # the ring's laws hold, their error-free controls fail
    assert all(c.why.strip() for c in exp.checks)  # each names why its control could have passed
    ring = exp.numbers["ring, injected"]
    assert set(ring) == {"euler/aligned", "euler/reach"}
    assert ring["euler/aligned"]["normal"]["law"]["median"]["mean"] > 0.9
    assert exp.figures and len(exp.tables) == 2
