"""The views' computations (ridgeviz.views: trajectories, bandwidth, random features) against slow references."""

import dataclasses
import io
import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.scale import data_scale
from ridgeviz.core.schedules import ScheduleConfig
from ridgeviz.core.tracing import data_plane, default_bounds, trace_ridges, trace_ridges_projected
from ridgeviz.data.datasets import MODE_SETS, embed_in_subspace
from ridgeviz.models.factory import ModelConfig
from ridgeviz.views import bandwidth as bw
from ridgeviz.views import trajectories as ex

SMALL = ex.TrajectoryConfig(particles=16, frames=6, ridge_grid=10)
SHORT = ScheduleConfig(steps=12)


# -- configs -------------------------------------------------------------------------------------------------------
def test_schedule_config_fills_preset_defaults_so_equal_choices_are_equal():
    assert ScheduleConfig() == ScheduleConfig("ou", 10.0, 1e-3, "geometric", 200)
    assert hash(ScheduleConfig()) == hash(ScheduleConfig("ou", T=10.0))
    assert ScheduleConfig("edm").grid == "karras"


@pytest.mark.parametrize("kwargs, field", [(dict(steps=1), "steps"), (dict(name="nope"), "schedule"),
                                           (dict(T=1e-4), "T"), (dict(grid="log"), "grid")])
def test_schedule_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ScheduleConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [(dict(particles=0), "particles"), (dict(sampler="rk4"), "sampler"),
                                           (dict(frames=1), "frames"), (dict(tube_fraction=-1.0), "tube_fraction")])
def test_trajectory_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ex.TrajectoryConfig(**kwargs)


@pytest.mark.parametrize("n, cap", [(1, 2), (5, 10), (201, 100), (201, 2), (1000, 37)])
def test_frame_indices_are_increasing_capped_and_keep_both_ends(n, cap):
    idx = ex.frame_indices(n, cap)
    assert idx[0] == 0 and idx[-1] == n - 1 and len(idx) <= max(cap, 1)
    assert np.all(np.diff(idx) > 0)
    if n <= cap:
        np.testing.assert_array_equal(idx, np.arange(n))


# -- the plane of high-dimensional data ------------------------------------------------------------------------------
def test_data_plane_is_identity_in_2d_and_an_isometry_of_an_embedded_plane():
    X2 = MODE_SETS["thirteen"]
    np.testing.assert_array_equal(data_plane(X2).project(X2), X2)
    XD, _ = embed_in_subspace(X2, 9, seed=3)
    plane = data_plane(XD)
    uv = plane.project(XD)
    d2 = np.linalg.norm(X2[:, None] - X2[None], axis=-1)
    duv = np.linalg.norm(uv[:, None] - uv[None], axis=-1)
    np.testing.assert_allclose(duv, d2, atol=1e-9)  # the data's plane is the embedding plane
    np.testing.assert_allclose(plane.project(plane.lift(uv)), uv, atol=1e-12)


def test_projected_ridge_of_embedded_data_matches_the_2d_ridge():
    sched = rv.get_schedule("ou")
    X2 = MODE_SETS["three-points"]
    XD, _ = embed_in_subspace(X2, 5, seed=1)
    t = 0.3
    lines2 = trace_ridges(rv.SmoothedEmpirical(X2, sched), [t], 1, grid=14)[0]
    plane = data_plane(XD)
    # the 2-D reference, expressed in the plane's coordinates by the (orthogonal) map fitted on the data
    A, *_ = np.linalg.lstsq(np.c_[X2, np.ones(len(X2))], plane.project(XD), rcond=None)
    ref = np.vstack(lines2) @ A[:2] + A[2]
    bounds = default_bounds(plane.project(XD))
    lines = trace_ridges_projected(rv.SmoothedEmpirical(XD, sched), [t], 1, plane, bounds, grid=14)[0]
    pts = np.vstack(lines)
    gap = np.min(np.linalg.norm(pts[:, None] - ref[None], axis=-1), axis=1)
    assert len(pts) > 20 and np.quantile(gap, 0.9) < 0.25


# -- bandwidths ------------------------------------------------------------------------------------------------------
def test_scott_and_silverman_match_scipy_factors_times_the_pooled_std():
    from scipy.stats import gaussian_kde

    X = np.random.default_rng(0).normal(size=(50, 3)) * [1.0, 2.0, 0.5]
    kde = gaussian_kde(X.T)
    sigma = math.sqrt(np.mean(np.var(X, axis=0, ddof=1)))
    assert bw.scott_bandwidth(X) == pytest.approx(kde.scotts_factor() * sigma)
    assert bw.silverman_bandwidth(X) == pytest.approx(kde.silverman_factor() * sigma)


def test_cv_bandwidth_maximises_a_hand_computed_held_out_likelihood():
    from scipy.special import logsumexp
    from sklearn.model_selection import KFold

    X = MODE_SETS["thirteen"]
    grid = bw.data_sigma(X) * np.logspace(-2.5, 0.5, 30)

    def held_out(b):
        total = 0.0
        for train, test in KFold(5, shuffle=True, random_state=0).split(X):
            d2 = ((X[test][:, None] - X[train][None]) ** 2).sum(-1)
            total += (logsumexp(-d2 / (2 * b * b), axis=1) - np.log(len(train) * 2 * np.pi * b * b)).sum()
        return total

    assert bw.cv_bandwidth(X) == pytest.approx(grid[np.argmax([held_out(b) for b in grid])])


@pytest.mark.parametrize("name", ["ou", "ve", "edm", "vp-linear", "vp-cosine", "rectified-flow"])
def test_time_for_bandwidth_inverts_b_of_t(name):
    sched = rv.get_schedule(name)
    lo, hi = float(bw.kde_bandwidth(sched, sched.t_min)), float(bw.kde_bandwidth(sched, sched.T))
    b = math.sqrt(lo * hi)
    t = bw.time_for_bandwidth(sched, b)
    assert float(bw.kde_bandwidth(sched, t)) == pytest.approx(b, rel=1e-7)
    assert bw.time_for_bandwidth(sched, lo / 2) is None and bw.time_for_bandwidth(sched, hi * 2) is None


def test_time_for_bandwidth_ou_closed_form():
    # OU: b(t) = sqrt(1 - e^{-2t}) / e^{-t} = sqrt(e^{2t} - 1)  =>  t = log(1 + b^2) / 2
    assert bw.time_for_bandwidth(rv.get_schedule("ou"), 0.7) == pytest.approx(0.5 * math.log(1.49), rel=1e-8)


def test_memorisation_fraction_matches_a_brute_force_count():
    X = MODE_SETS["square"]
    rng = np.random.default_rng(4)
    b = 0.8
    Y = X[rng.integers(len(X), size=500)] + b * rng.standard_normal((500, 2))
    d = np.sort(np.linalg.norm(Y[:, None] - X[None], axis=-1), axis=1)
    assert bw.memorisation_fraction(X, b, n_samples=500, seed=4) == pytest.approx(np.mean(d[:, 0] <= d[:, 1] / 3))
    assert bw.memorisation_fraction(X, 1e-4) == 1.0 and bw.memorisation_fraction(X, 1e4) < 0.1


def test_bandwidth_sweep_marks_are_on_the_slider_and_fields_are_consistent():
    sched = rv.get_schedule("ou")
    X = MODE_SETS["three-points"]
    sweep = bw.bandwidth_sweep(X, sched, 1, n_times=8, grid=10)
    assert np.all(np.diff(sweep.times) > 0) and len(sweep.ridges) == len(sweep.times)
    for b, t in sweep.marks.values():
        assert t in sweep.times.tolist() and float(bw.kde_bandwidth(sched, t)) == pytest.approx(b)
    np.testing.assert_allclose(sweep.sqrt_h, np.sqrt(sched.h(sweep.times)))
    view = bw.density_view(X, sched, 0.3, 1, n=12)
    assert view.field.log_prob.shape == (12, 12) and view.suggested_dim == 1


# -- error profile and the trajectory pipeline ------------------------------------------------------------------------
def test_error_profile_of_exact_is_zero_and_injected_has_the_injected_size():
    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], rv.get_schedule("ou"))
    times = np.array([0.05, 0.3, 1.0])
    exact = ex.error_profile(rv.ExactScore(dens), dens, times, 1, n=64)
    np.testing.assert_allclose(exact["total"], 0.0, atol=1e-12)
    inj = ex.error_profile(rv.InjectedErrorScore(dens, 1, normal=0.3, tangential=0.4), dens, times, 1, n=64)
    np.testing.assert_allclose(inj["total"], 0.5, rtol=1e-9)  # unit normal and tangent directions, orthogonal
    defined = inj["undefined"] == 0
    np.testing.assert_allclose(inj["normal"][defined], 0.3, rtol=1e-6)
    np.testing.assert_allclose(inj["tangential"][defined], 0.4, rtol=1e-6)


def test_run_trajectories_matches_a_direct_sampler_call_and_labels_it():
    X = MODE_SETS["thirteen"]
    res = ex.run_trajectories(X, SHORT, SMALL)
    sched = SHORT.schedule()
    dens = rv.SmoothedEmpirical(X, sched)
    g = torch.Generator().manual_seed(SMALL.seed)
    x_T = rv.prior_sample(sched, SMALL.particles, 2, generator=g)
    model = rv.InjectedErrorScore(dens, 1, normal=0.5, tangential=0.5)
    traj = rv.sample(model, x_T, SHORT.times(), "em", generator=g)
    np.testing.assert_allclose(res.xs, traj.xs.numpy().astype(np.float32))
    ref = rv.label_phases(dens, traj, 1, rule=SMALL.rule())
    np.testing.assert_array_equal(res.labels, ref.labels)
    np.testing.assert_allclose(res.fractions.sum(1), 1.0)
    assert len(res.frames) == len(res.ridges) == SMALL.frames and res.frames[-1] == SHORT.steps


def test_explorer_result_round_trips_through_npz():
    res = ex.run_trajectories(MODE_SETS["two-points"], SHORT, SMALL, model_cfg=ModelConfig("exact"))
    back = ex.ExplorerResult.from_npz(io.BytesIO(res.to_npz_bytes()))
    for f in dataclasses.fields(res):
        a, b = getattr(res, f.name), getattr(back, f.name)
        if f.name in ("ridges", "outcome_ridge"):
            a, b = (a, b) if f.name == "ridges" else ([a], [b])
            assert [len(x) for x in a] == [len(x) for x in b]
            for la, lb in zip(a, b):
                for pa, pb in zip(la, lb):
                    np.testing.assert_allclose(pa, pb, atol=1e-6)
        elif f.name == "bands":
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
        elif isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b, f.name


def test_run_trajectories_rejects_a_ridge_dimension_too_large():
    with pytest.raises(ValueError, match="dim"):
        ex.run_trajectories(MODE_SETS["two-points"], SHORT, dataclasses.replace(SMALL, dim=2))


# -- random-feature sweep ----------------------------------------------------------------------------------------------
def test_parse_taus_accepts_inf_and_names_bad_entries():
    from ridgeviz.views.random_features import parse_taus

    assert parse_taus("0.1, 1;inf") == (0.1, 1.0, math.inf)
    with pytest.raises(ValueError, match="'abc'"):
        parse_taus("1, abc")
    with pytest.raises(ValueError, match="taus"):
        parse_taus(" , ")


def test_rf_sweep_split_and_inter_mode_mass_against_direct_computations():
    """The sweep's bias and optimisation errors recomputed along the same trajectories by independent code paths:
    the bias as the tau = inf model's error (``decompose_error``), the optimisation error as the difference of the
    two models split in the core's local frame. Points in general position, so nothing vanishes by symmetry."""
    from ridgeviz.views import random_features as rs

    X = MODE_SETS["triangle-side"]
    cfg = rs.RFConfig(features=128, time_features=4, particles=32, steps=30, taus=(0.5, math.inf))
    models = rs.fit_models(X, SHORT, cfg)
    sweep = rs.rf_tau_sweep(X, SHORT, cfg, models)
    sched = SHORT.schedule()
    dens = rv.SmoothedEmpirical(X, sched)
    g = torch.Generator().manual_seed(cfg.seed)
    traj = rv.sample(models[0.5], rv.prior_sample(sched, 32, 2, generator=g), sched.time_grid(30), "em",
                     generator=g)  # the tau = 0.5 model along its own trajectories, as the sweep does
    dec = rv.decompose_error(models[math.inf], dens, traj, 1, distance="proxy")
    ok = ~dec.undefined
    assert ok.sum() > 50  # enough defined points for the means to mean something
    assert sweep.bias_normal[0] == pytest.approx(dec.error_normal[ok].mean(), rel=1e-9)
    assert sweep.bias_tangential[0] == pytest.approx(dec.error_tangential[ok].mean(), rel=1e-9)
    assert sweep.bias_normal[0] > 0.05  # a real normal bias off the symmetric case
    xs = traj.xs.reshape(-1, 2)
    t = torch.as_tensor(np.repeat(traj.times, 32))
    frame = rv.local_frame(dens, xs, t, 1)
    nrm, tan = frame.split(models[0.5](xs, t) - models[math.inf](xs, t))
    keep = ~frame.undefined().numpy()
    assert sweep.opt_normal[0] == pytest.approx(nrm.norm(dim=-1).numpy()[keep].mean(), rel=1e-9)
    assert sweep.opt_tangential[0] == pytest.approx(tan.norm(dim=-1).numpy()[keep].mean(), rel=1e-9)
    assert sweep.opt_normal[0] > 0.01 and sweep.opt_tangential[0] > 0.01  # tau = 0.5 is far from converged
    final = traj.final.numpy()
    far = np.min(np.linalg.norm(final[:, None] - X[None], axis=-1), axis=1) > 0.1 * data_scale(X)
    assert sweep.inter_mode[0] == pytest.approx(far.mean())
    back = rs.RFSweep.from_npz(io.BytesIO(sweep.to_npz_bytes()))
    np.testing.assert_array_equal(back.finals, sweep.finals)
    assert back.config == sweep.config


def test_run_trajectories_refuses_a_run_too_large_to_decompose():
    with pytest.raises(ValueError, match="particles x steps"):
        ex.run_trajectories(MODE_SETS["two-points"], ScheduleConfig(steps=2000),
                            dataclasses.replace(SMALL, particles=4096))
