"""Error and drift decomposition along trajectories against per-point computations with local_frame."""

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.decomposition import _resolve_distance, trajectory_geometry

NORMAL, TANGENTIAL = 0.4, 0.9


@pytest.fixture(scope="module")
def run(thirteen):
    """An EM run with injected error on the 13-point set: 16 samples, 30 steps."""
    sched = thirteen.schedule
    model = rv.InjectedErrorScore(thirteen, dim=1, normal=NORMAL, tangential=TANGENTIAL)
    gen = torch.Generator().manual_seed(0)
    traj = rv.sample(model, rv.prior_sample(sched, 16, 2, gen), sched.time_grid(30), "em", generator=gen)
    return model, traj, rv.decompose_error(model, thirteen, traj, dim=1, distance="proxy")


def test_exact_score_has_zero_error(thirteen, run):
    _, traj, _ = run
    dec = rv.decompose_error(rv.ExactScore(thirteen), thirteen, traj, dim=1, distance="proxy")
    scale = np.abs(rv.ExactScore(thirteen)(traj.xs[-1], float(traj.times[-1])).numpy()).max()
    for name in ("error_normal", "error_tangential", "error_total"):
        assert getattr(dec, name).shape == (31, 16)
        assert getattr(dec, name).max() <= 1e-12 * scale, name


def test_pythagoras_and_injected_magnitudes(run):
    _, _, dec = run
    np.testing.assert_allclose(dec.error_normal**2 + dec.error_tangential**2, dec.error_total**2, rtol=1e-10)
    ok = ~dec.undefined
    assert ok.sum() > 50  # the check below is not vacuous
    np.testing.assert_allclose(dec.error_normal[ok], NORMAL, rtol=1e-9)
    np.testing.assert_allclose(dec.error_tangential[ok], TANGENTIAL, rtol=1e-9)
    np.testing.assert_allclose(dec.error_total, np.hypot(NORMAL, TANGENTIAL), rtol=1e-9)


def test_drift_and_step_split_match_per_point_frames(thirteen, run):
    _, traj, dec = run
    rng = np.random.default_rng(1)
    for k, m in zip(rng.integers(0, 30, 12), rng.integers(0, 16, 12)):
        t = float(traj.times[k])
        frame = rv.local_frame(thirteen, traj.xs[k, m:m + 1], t, 1)
        for vec, nrm_name, tan_name in ((traj.drifts[k, m], "drift_normal", "drift_tangential"),
                                        (traj.xs[k + 1, m] - traj.xs[k, m], "step_normal", "step_tangential")):
            P_perp = frame.normal[0]
            n = (P_perp @ vec).norm().item()
            tan = (vec - P_perp @ vec).norm().item()
            assert getattr(dec, nrm_name)[k, m] == pytest.approx(n, rel=1e-9, abs=1e-12)
            assert getattr(dec, tan_name)[k, m] == pytest.approx(tan, rel=1e-9, abs=1e-12)
        assert dec.residual[k, m] == pytest.approx(frame.residual.item(), rel=1e-9, abs=1e-12)
        assert dec.scaled_gap[k, m] == pytest.approx(frame.scaled_gap.item(), rel=1e-9, abs=1e-12)
        assert dec.distance[k, m] == pytest.approx(frame.h.item() * frame.residual.item(), rel=1e-9, abs=1e-12)


def test_projection_and_proxy_distances(thirteen, run):
    _, traj, proxy = run
    proj = rv.decompose_error(rv.ExactScore(thirteen), thirteen, traj, dim=1, distance="projection")
    assert proj.distance_kind == "projection" and proxy.distance_kind == "proxy"
    # "auto": SCMS projection in D <= 3, the residual proxy above
    assert _resolve_distance("auto", 2) == _resolve_distance("auto", 3) == "projection"
    assert _resolve_distance("auto", 4) == "proxy"
    assert proj.distance.shape == proxy.distance.shape == (31, 16)
    assert np.isfinite(proj.distance).all() and (proj.distance >= 0).all()
    k, m = 20, 3
    ref = rv.project_to_ridge(thirteen, traj.xs[k, m:m + 1], float(traj.times[k]), 1, tol=1e-5, max_iter=100)
    assert proj.distance[k, m] == pytest.approx((ref.points - traj.xs[k, m]).norm().item(), rel=1e-9, abs=1e-12)


def test_two_point_distances_are_the_normal_offset(two_points):
    # the data have no y-spread: the normal is the y axis, g_y = -y/h, and one SCMS step lands on the axis, so
    # both the projection distance and the proxy h |P_perp g| equal |y| exactly where the ridge is defined
    sched = two_points.schedule
    gen = torch.Generator().manual_seed(2)
    traj = rv.sample(rv.ExactScore(two_points), rv.prior_sample(sched, 8, 2, gen), sched.time_grid(20), "em",
                     generator=gen)
    y = traj.xs[:, :, 1].abs().numpy()
    for kind in ("projection", "proxy"):
        geo, _ = trajectory_geometry(two_points, traj, 1, distance=kind)
        ok = ~geo.undefined
        assert ok.sum() > 20
        np.testing.assert_allclose(geo.distance[ok], y[ok], rtol=1e-9, atol=1e-12, err_msg=kind)


def test_chunked_geometry_is_identical(thirteen, run):
    _, traj, dec = run
    geo, _ = trajectory_geometry(thirteen, traj, 1, distance="proxy", chunk_steps=4)
    for name in ("distance", "residual", "scaled_gap", "undefined", "drift_normal", "drift_tangential",
                 "step_normal", "step_tangential"):
        np.testing.assert_allclose(getattr(geo, name), getattr(dec, name), rtol=1e-12, atol=1e-14, err_msg=name)


def test_summary_and_shapes(run):
    _, traj, dec = run
    assert dec.times.shape == (31,) and dec.h.shape == (31,)
    for name in ("residual", "scaled_gap", "undefined"):
        assert getattr(dec, name).shape == (31, 16)
    for name in ("drift_normal", "drift_tangential", "step_normal", "step_tangential"):
        assert getattr(dec, name).shape == (30, 16)
    summ = dec.summary(quantiles=(0.25, 0.5, 0.75))
    assert set(summ) == {"error_normal", "error_tangential", "distance"}
    for name, bands in summ.items():
        assert bands.shape == (4, 31)
        np.testing.assert_allclose(bands[0], getattr(dec, name).mean(1))
        np.testing.assert_allclose(bands[2], np.median(getattr(dec, name), axis=1))


def test_bad_arguments(thirteen, run):
    model, traj, _ = run
    with pytest.raises(ValueError, match="distance"):
        rv.decompose_error(model, thirteen, traj, dim=1, distance="euclid")
    with pytest.raises(ValueError, match="dim"):
        rv.decompose_error(model, thirteen, traj, dim=2)
