"""Random-feature model: features, quadrature moments, closed-form gradient flow, gradient descent, the split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models.random_features import RandomFeatureModel, fit_random_features, gradient_descent, gradient_flow
from ridgeviz.models.rf_analysis import bias_optimisation_split, inter_mode_mass, split_error, tau_label, tau_sweep
from ridgeviz.models.rf_moments import Quadrature, feature_moments, monte_carlo_moments

THREE = np.array([[-3.0, 0.0], [3.0, 0.0], [0.5, 1.0]])
FINE = Quadrature(panels_per_period=6, time_nodes=6, refine=10, radial_nodes=16, directions=16)


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


def make_rf(p=32, K=4, D=2, seed=0, **kw):
    return RandomFeatureModel(D, p, K, 10.0, generator=torch.Generator().manual_seed(seed), **kw)


def test_features_match_explicit_formula():
    rf = make_rf(p=7, K=3)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.0, 0.3, 1.7, 5.0, 9.9], dtype=torch.float64)
    got = rf.features(x, t)
    for m in range(5):
        phi = [1.0] + [math.sin(2 * math.pi * k * t[m] / 10) for k in range(1, 4)] \
            + [math.cos(2 * math.pi * k * t[m] / 10) for k in range(1, 4)]
        for j in range(7):
            pre = sum(rf.W_x[j, d] * x[m, d] for d in range(2)) + sum(rf.W_t[j, q] * phi[q] for q in range(7)) + rf.b[j]
            assert got[m, j].item() == pytest.approx(max(pre.item(), 0.0) / math.sqrt(7), abs=1e-12)
    assert rf.W_x.dtype == torch.float64 and torch.equal(rf.W_x.float().double(), rf.W_x)  # float32-exact


def test_constructor_and_fit_validate_inputs(ou):
    with pytest.raises(ValueError, match="features"):
        RandomFeatureModel(2, 0, 4, 10.0)
    with pytest.raises(ValueError, match="T"):
        RandomFeatureModel(2, 8, 4, -1.0)
    rf = make_rf()
    with pytest.raises(ValueError, match="T"):
        fit_random_features(rf, THREE, rv.get_schedule("ou", T=5.0), 1.0)
    with pytest.raises(ValueError, match="data"):
        fit_random_features(rf, np.zeros((3, 3)), ou, 1.0)
    m = feature_moments(rf, THREE, ou, Quadrature(radial_nodes=2, directions=2, panels_per_period=0.5))
    with pytest.raises(ValueError, match="tau"):
        gradient_flow(m, rf.A0, -1.0)
    with pytest.raises(ValueError, match="radial_nodes"):
        Quadrature(radial_nodes=0)


@pytest.mark.parametrize("D", [1, 2, 3])
def test_noise_rule_integrates_gaussian_moments(D):
    z, w = Quadrature(radial_nodes=6, directions=6).noise_rule(D, 5)
    assert z.shape[0] == 5 and np.allclose(w.sum(), 1)
    for k in range(5):
        second = np.einsum("n,ni,nj->ij", w, z[k], z[k])
        assert np.allclose(second, np.eye(D), atol=1e-12)
        assert np.allclose(w @ (np.sum(z[k] ** 2, 1) ** 2), D * (D + 2), rtol=1e-12)  # E|z|^4
        assert np.allclose(w @ z[k], 0, atol=1e-12)


@pytest.mark.parametrize("interval,t0", [("t_min", 1e-3), ("zero", 0.0)])
def test_time_rule_resolves_the_highest_frequency(interval, t0):
    K, T = 64, 10.0
    t, w = Quadrature(interval=interval).time_rule(T, K, 1e-3)
    assert w.sum() == pytest.approx(T - t0, rel=1e-13) and t.min() > t0 and t.max() < T
    for k in (1, K // 2, K):  # int_t0^T sin(2 pi k t/T) dt = T (cos(2 pi k t0/T) - 1) / (2 pi k)
        exact = T * (math.cos(2 * math.pi * k * t0 / T) - 1) / (2 * math.pi * k)
        assert abs(w @ np.sin(2 * np.pi * k * t / T) - exact) < 1e-6 * T
    # products of features carry frequencies up to 2K: resolved to ~1e-3
    assert w @ np.sin(2 * np.pi * K * t / T) ** 2 == pytest.approx((T - t0) / 2, rel=2e-3)
    assert w @ np.sqrt(t) == pytest.approx(2 / 3 * (T**1.5 - t0**1.5), rel=1e-5)  # sqrt(h_t) ~ sqrt(2t) near 0
    with pytest.raises(ValueError, match="interval"):
        Quadrature(interval="half")


def test_quadrature_moments_converge_to_high_precision_reference(ou):
    rf = make_rf(p=64, K=32)
    data = MODE_SETS["two-points"]
    ref = feature_moments(rf, data, ou, FINE)
    fast = feature_moments(rf, data, ou)
    assert fast.nodes * 8 < ref.nodes and fast.quadrature["interval"] == "t_min"
    assert rel(fast.U, ref.U) <= 1e-3 and rel(fast.V, ref.V) <= 1e-3
    assert fast.c == pytest.approx(ref.c, rel=1e-9)
    # c has a closed form for OU: (1/N) sum |x_i|^2 int_t0^T e^{-2t} dt, t0 = t_min (the default) or 0
    assert ref.c == pytest.approx(9.0 * (math.exp(-2e-3) - math.exp(-20)) / 2, rel=1e-10)
    zero = feature_moments(rf, data, ou, Quadrature(interval="zero"))
    assert zero.c == pytest.approx(9.0 * (1 - math.exp(-20)) / 2, rel=1e-10)
    assert rel(zero.U, fast.U) > 1e-4  # the interval is a real setting: [0, t_min] carries weight


def test_moments_on_t_min_to_T_match_nested_adaptive_quadrature(ou):
    """D = 1: E_z[relu(u_j + s w_j z) relu(u_k + s w_k z)] by adaptive quadrature over z between the relu kinks
    (smooth pieces), then over t in [t_min, T]: an independent, slow reference for U, V and c."""
    from scipy import integrate
    from scipy.stats import norm

    rf = make_rf(p=3, K=1, D=1, seed=4)
    x = np.array([[1.5]])
    # in D = 1 the kinks limit a fixed z rule (no turning directions): error 1.2e-3 at 8 radial nodes, 3e-5 at 128
    quad = feature_moments(rf, x, ou, Quadrature(panels_per_period=8, time_nodes=8, radial_nodes=128))
    W, b_t, sq = rf.W_x[:, 0].numpy(), rf.W_t.numpy(), math.sqrt(rf.p)

    def relu_moments(t):  # E_z of f f^T and alpha x f, z ~ N(0, 1), by integrating over z between the kinks
        a, s = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
        u = W * a * x[0, 0] + b_t @ [1.0, math.sin(2 * math.pi * t / 10), math.cos(2 * math.pi * t / 10)] \
            + rf.b.numpy()
        k = np.sort(np.concatenate([[-40.0, 40.0], -u / (s * W)]))
        f = lambda z: np.maximum(u + s * W * z, 0) / sq  # noqa: E731
        ff = sum(integrate.quad_vec(lambda z: np.outer(f(z), f(z)).ravel() * norm.pdf(z), lo, hi,
                                    epsabs=1e-13)[0] for lo, hi in zip(k, k[1:]))
        fv = sum(integrate.quad_vec(lambda z: f(z) * norm.pdf(z), lo, hi, epsabs=1e-13)[0] for lo, hi in zip(k, k[1:]))
        return np.concatenate([ff, a * x[0, 0] * fv])

    ref = integrate.quad_vec(relu_moments, ou.t_min, 10.0, epsabs=1e-11, epsrel=1e-10,
                             points=[0.01, 0.1, 1.0])[0]
    assert np.linalg.norm(quad.U.numpy().ravel() - ref[:9]) <= 1e-4 * np.linalg.norm(ref[:9])
    assert np.linalg.norm(quad.V.numpy().ravel() - ref[9:]) <= 1e-4 * np.linalg.norm(ref[9:])
    assert quad.c == pytest.approx(2.25 * (math.exp(-2e-3) - math.exp(-20)) / 2, rel=1e-10)


def test_monte_carlo_estimates_the_same_moments(ou):
    rf = make_rf(p=16, K=2)
    ref = feature_moments(rf, THREE, ou)
    mc = monte_carlo_moments(rf, THREE, ou, n_times=400, n_noise=64, generator=torch.Generator().manual_seed(0))
    assert rel(mc.U, ref.U) < 0.02 and rel(mc.V, ref.V) < 0.03


def test_moment_loss_equals_direct_sampling_of_the_loss(ou):
    """L(A) from U, V, c against (1/(N D)) E_i E_t E_z |A f - alpha x_i|^2 * T by brute-force sampling."""
    rf = make_rf(p=16, K=2)
    m = feature_moments(rf, THREE, ou)
    A = rf.A0 + 0.3
    g = torch.Generator().manual_seed(3)
    n = 400_000
    i = torch.randint(3, (n,), generator=g)
    t = ou.t_min + torch.rand(n, generator=g, dtype=torch.float64) * (10 - ou.t_min)  # the loss's [t_min, T]
    x0 = torch.as_tensor(THREE)[i]
    a = ou.alpha(t)[:, None]
    xt = a * x0 + ou.sigma(t)[:, None] * torch.randn(n, 2, generator=g, dtype=torch.float64)
    direct = (10 - ou.t_min) * ((rf.features(xt, t) @ A.T - a * x0) ** 2).sum(1).mean() / 2
    assert m.loss(A) == pytest.approx(float(direct), rel=5e-3)


def test_closed_form_equals_gradient_descent(ou):
    rf = make_rf(p=32, K=4)
    q = Quadrature(panels_per_period=1, radial_nodes=4, directions=4)
    m = feature_moments(rf, THREE, ou, q)
    for tau in (0.5, 2.0):
        gd = gradient_descent(rf, THREE, ou, tau, lr=1e-3, quadrature=q)
        assert rel(gd, gradient_flow(m, rf.A0, tau)) <= 1e-3


def test_infinite_tau_is_the_least_squares_solution(ou):
    rf = make_rf(p=24, K=3, init_scale=0.0)
    q = Quadrature(panels_per_period=1, radial_nodes=4, directions=4)
    m = feature_moments(rf, THREE, ou, q)
    A_inf = fit_random_features(rf, THREE, ou, math.inf, moments=m).A
    # min_A sum_n w_n |A f_n - a_n|^2 over the quadrature nodes, by a dense least-squares solver
    from ridgeviz.models.rf_moments import node_blocks

    blocks = list(node_blocks(rf, torch.as_tensor(THREE), ou, q, 8192))
    F = torch.cat([b[0] for b in blocks])
    Y = torch.cat([b[2] * b[1].sqrt()[:, None] for b in blocks])
    lstsq = torch.linalg.lstsq(F, Y, driver="gelsd").solution.T
    assert rel(A_inf, lstsq) <= 1e-6
    # the flow starts at A0, its loss decreases with tau and approaches the limit
    assert torch.equal(gradient_flow(m, rf.A0, 0.0), rf.A0.to(m.U))
    losses = [m.loss(gradient_flow(m, rf.A0, tau)) for tau in (0.0, 0.1, 1.0, 10.0, 1e3, 1e6, math.inf)]
    assert all(a >= b - 1e-12 for a, b in zip(losses, losses[1:]))
    assert rel(gradient_flow(m, rf.A0, 1e9), A_inf) < 1e-6


def test_score_contract_and_pseudo_inverse_threshold(ou):
    rf = make_rf(p=24, K=3)
    m = feature_moments(rf, THREE, ou, Quadrature(panels_per_period=1, radial_nodes=4, directions=4))
    model = fit_random_features(rf, THREE, ou, 10.0, moments=m)
    x = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0.01, 5, 6, dtype=torch.float64)
    s = model(x, t)
    assert s.dtype == torch.float64 and s.shape == (6, 2)
    expected = (rf.features(x, t) @ model.A.T - x) / ou.h(t)[:, None]
    assert torch.allclose(s, expected, rtol=1e-13, atol=0)
    assert model.kind == "random-features" and model.schedule is ou
    # a threshold above every eigenvalue freezes the readout at A0
    assert torch.allclose(gradient_flow(m, rf.A0, math.inf, rcond=1.1), rf.A0, atol=1e-13, rtol=0)


def test_bias_plus_optimisation_is_total_at_every_point(two_points):
    rf = make_rf(p=32, K=4)
    data = MODE_SETS["two-points"]
    m = feature_moments(rf, data, two_points.schedule, Quadrature(panels_per_period=1, radial_nodes=4, directions=4))
    tau_model, inf_model = (fit_random_features(rf, data, two_points.schedule, tau, moments=m)
                            for tau in (1.0, math.inf))
    x = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2
    t = torch.linspace(0.01, 3.0, 40, dtype=torch.float64)
    parts = split_error(tau_model, inf_model, two_points, x, t, 1)
    assert torch.allclose(parts["bias"] + parts["optimisation"], parts["total"], atol=1e-12, rtol=0)
    for name in ("bias", "optimisation", "total"):
        assert torch.allclose(parts[name + "_normal"] + parts[name + "_tangential"], parts[name], atol=1e-12, rtol=0)
        assert torch.allclose(parts[name], torch.as_tensor(
            {"bias": inf_model(x, t), "optimisation": tau_model(x, t) - inf_model(x, t),
             "total": tau_model(x, t)}[name]) - (two_points.score(x, t) if name != "optimisation" else 0), atol=1e-10)
    # along a trajectory the norms come from the same vectors
    traj = rv.sample(tau_model, x[:8], two_points.schedule.time_grid(10), "euler")
    split = bias_optimisation_split(tau_model, inf_model, two_points, traj, 1)
    k = 4
    direct = split_error(tau_model, inf_model, two_points, traj.xs[k], float(traj.times[k]), 1)
    for name, arr in split.parts.items():
        assert np.allclose(arr[k], direct[name].norm(dim=-1).numpy(), atol=1e-10)


def test_two_points_normal_error_vanishes_quickly_tangential_remains(two_points):
    """The authors' case (+-3, 0): training removes the normal error fast; a tangential error stays.

    On these collinear points the normal direction is e_y everywhere and every target has y = 0, so the normal
    part of the tau = inf fit vanishes by symmetry: the last two assertions on the bias are forced by symmetry
    and say nothing about general data (the reproduction measures the split on points in general position).
    """
    rf = make_rf(p=256, K=16)
    data = MODE_SETS["two-points"]
    m = feature_moments(rf, data, two_points.schedule)
    models = {tau: fit_random_features(rf, data, two_points.schedule, tau, moments=m)
              for tau in (1.0, 10.0, 100.0, math.inf)}  # tau = 0 (the random readout) never meets the ridge
    sweep = tau_sweep(models, two_points, samples=64, steps=60)  # each model along its own trajectories
    mid = (sweep.times > 0.05) & (sweep.times < 2.0)  # where the ridge is defined (means exclude the rest)
    normal = {tau: np.nanmean(sweep.means[tau]["total_normal"][mid]) for tau in models}
    tangential = {tau: np.nanmean(sweep.means[tau]["total_tangential"][mid]) for tau in models}
    assert normal[1.0] > normal[10.0] > normal[100.0] > normal[math.inf] and normal[100.0] < 0.5 * normal[1.0]
    for tau in (10.0, 100.0, math.inf):
        assert tangential[tau] > 3 * normal[tau]
    assert tangential[100.0] > 0.5 * tangential[1.0]  # the tangential error barely moves while the normal one falls
    assert normal[math.inf] < 1e-2 * tangential[math.inf]  # forced by symmetry here (see the docstring)
    assert tangential[math.inf] > 0.3  # the architectural bias: a tangential error that training never removes
    assert set(sweep.inter_mode) == set(models) and all(0 <= v <= 1 for v in sweep.inter_mode.values())


def test_inter_mode_mass_and_labels():
    data = MODE_SETS["two-points"]
    samples = np.array([[3.0, 0.1], [-2.9, 0.0], [0.0, 0.0], [1.5, 0.0]])
    assert inter_mode_mass(samples, data) == 0.5  # radius 0.1 x data scale = 0.3
    assert inter_mode_mass(samples, data, radius=2.0) == 0.25 and inter_mode_mass(samples, data, radius=3.5) == 0.0
    with pytest.raises(ValueError, match="radius"):
        inter_mode_mass(samples, data, radius=0.0)
    assert [tau_label(t) for t in (0.1, 1.0, 10, math.inf)] == ["0.1", "1", "10", "inf"]


def test_rf_command_writes_checkpoints_and_split(tmp_path):
    import json

    from ridgeviz.cli import main
    from ridgeviz.models.checkpoints import load_model

    argv = ["rf", "--features", "32", "--time-features", "4", "--tau", "1", "inf", "--samples", "16",
            "--sample-steps", "20", "--out", str(tmp_path)]
    assert main(argv) == 0
    for label, tau in (("1", 1.0), ("inf", math.inf)):
        assert load_model(tmp_path / f"rf_two_points_tau{label}.safetensors", kind="random-features").tau == tau
    report = json.loads((tmp_path / "rf_split.json").read_text())
    assert report["taus"] == ["1", "inf"] and set(report["inter_mode_mass"]) == {"1", "inf"} == set(report["loss"])
    assert set(report["mean_error"]["inf"]) >= {"bias_normal", "optimisation_tangential", "total_normal"}
    assert len(report["times"]) == 21
    assert main(["rf", "--tau", "soon", "--out", str(tmp_path)]) == 2


def test_rf_command_and_page_pipeline_print_identical_numbers(tmp_path):
    """The command line and the Random features page run one sweep: equal settings give equal numbers."""
    import json

    from ridgeviz.cli import main
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.views.random_features import RFConfig, rf_tau_sweep

    assert main(["rf", "--dataset", "triangle-side", "--features", "48", "--time-features", "3", "--tau", "2",
                 "inf", "--samples", "24", "--sample-steps", "25", "--seed", "5", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "rf_split.json").read_text())
    cfg = RFConfig(48, 3, 5, 24, 25, taus=(2.0, math.inf))
    sweep = rf_tau_sweep(MODE_SETS["triangle-side"], ScheduleConfig(), cfg)
    for key, column in sweep.table().items():
        if key != "taus":
            assert report["table"][key] == [float(v) for v in column], key
    assert report["rf"] == sweep.config["settings"]["rf"] and report["rf"]["taus"] == [2.0, "inf"]
