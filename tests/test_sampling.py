"""Samplers: trajectory contract, seeding, memorisation, closed-form ODE solutions, injected-error experiments."""

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.sampling import SAMPLERS
from ridgeviz.data.datasets import MODE_SETS


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("method", sorted(SAMPLERS))
def test_trajectory_contract_and_seeding(thirteen, method):
    sched = thirteen.schedule
    times = sched.time_grid(12)
    model = rv.ExactScore(thirteen)
    x_T = rv.prior_sample(sched, 7, 2, _gen(0))
    calls = []
    traj = rv.sample(model, x_T, times, method, generator=_gen(1), callback=lambda k, t, x: calls.append((k, t)))
    assert traj.xs.shape == (13, 7, 2) and traj.K == 12 and traj.method == method
    assert traj.drifts.shape == (12, 7, 2) and traj.scores.shape == (12, 7, 2)
    assert traj.xs.dtype == torch.float64
    np.testing.assert_array_equal(traj.times, times)
    torch.testing.assert_close(traj.xs[0], x_T, rtol=0, atol=0)  # a copy of the input, no arithmetic: exact anywhere
    assert torch.equal(traj.final, traj.xs[-1]) and torch.isfinite(traj.xs).all()
    assert [k for k, _ in calls] == list(range(12)) and [t for _, t in calls] == list(times[1:])
    # scores are the model at (xs[k], t_k)
    torch.testing.assert_close(traj.scores[5], model(traj.xs[5], float(times[5])), rtol=1e-12, atol=1e-12)
    again = rv.sample(model, x_T, times, method, generator=_gen(1))
    assert torch.equal(again.xs, traj.xs)
    other = rv.sample(model, x_T, times, method, generator=_gen(2))
    if method == "em":
        assert not torch.allclose(other.xs[1:], traj.xs[1:])
        # the drift is the deterministic part; the rest of the step is noise with variance g^2 dt
        noise = traj.xs[1:] - traj.xs[:-1] - traj.drifts
        assert noise.abs().max() > 0
    else:
        assert torch.equal(other.xs, traj.xs)
        torch.testing.assert_close(traj.xs[1:] - traj.xs[:-1], traj.drifts, rtol=0, atol=1e-12)


def test_prior_sample_is_seeded_with_the_prior_variance():
    sched = rv.get_schedule("ve")
    a, b = rv.prior_sample(sched, 4000, 3, _gen(5)), rv.prior_sample(sched, 4000, 3, _gen(5))
    assert torch.equal(a, b) and a.shape == (4000, 3)
    assert a.var().item() == pytest.approx(sched.prior_variance(), rel=0.05)


@pytest.mark.parametrize("name", ["two-points", "thirteen"])
def test_exact_score_sde_memorises(ou, name):
    data = MODE_SETS[name]
    dens = rv.SmoothedEmpirical(data, ou)
    times = ou.time_grid(200)
    traj = rv.sample(rv.ExactScore(dens), rv.prior_sample(ou, 200, 2, _gen(0)), times, "em", generator=_gen(1))
    final = traj.final.numpy()
    a, h = float(ou.alpha(ou.t_min)), float(ou.h(ou.t_min))
    dist = np.linalg.norm(final[:, None, :] - a * data[None], axis=-1)
    # p_{t_min} is a mixture of N(a x_i, h I): every sample sits in one blob, within a few sqrt(h) of it
    assert dist.min(1).max() < 5 * np.sqrt(h)
    assert len(np.unique(dist.argmin(1))) >= min(len(data), 8)  # and many training points are hit


def _single_point_solution(sched, x1, x_T, times):
    """Probability-flow ODE for one data point: ``x_t - alpha_t x_1 = (sigma_t / sigma_T)(x_T - alpha_T x_1)``."""
    a, s = sched.alpha(times), sched.sigma(times)
    return a[:, None, None] * x1[None] + (s / s[0])[:, None, None] * (x_T.numpy() - a[0] * x1)[None]


def _ode_error(name, method, K):
    sched = rv.get_schedule(name)
    x1 = np.array([[1.0, -2.0]])
    x_T = rv.prior_sample(sched, 5, 2, _gen(1))
    times = sched.time_grid(K)
    ref = _single_point_solution(sched, x1, x_T, times)
    traj = rv.sample(rv.ExactScore(rv.SmoothedEmpirical(x1, sched)), x_T, times, method)
    offset = np.linalg.norm(ref - sched.alpha(times)[:, None, None] * x1[None], axis=-1)
    return float((np.linalg.norm(traj.xs.numpy() - ref, axis=-1) / offset).max())  # relative to |x_t - a x_1|


@pytest.mark.parametrize("name", ["ou", "vp-linear", "vp-cosine"])
def test_probability_flow_ode_converges_to_closed_form(name):
    heun = [_ode_error(name, "heun", K) for K in (100, 200)]
    euler = [_ode_error(name, "euler", K) for K in (100, 200)]
    assert heun[1] < 5e-3 and euler[1] < 0.2 and heun[1] < euler[1] / 20
    # orders of convergence: halving the step divides Heun's error by ~4 and Euler's by ~2
    assert 3.5 < heun[0] / heun[1] < 4.5
    assert 1.8 < euler[0] / euler[1] < 2.2


@pytest.mark.parametrize("name", ["edm", "rectified-flow"])
@pytest.mark.parametrize("method", ["euler", "heun"])
def test_ode_is_exact_when_the_solution_is_linear_in_t(name, method):
    # sigma = t and x_t - alpha_t x_1 is linear in t: Euler and Heun integrate it exactly
    assert _ode_error(name, method, 30) < 1e-11


@pytest.mark.parametrize("name", ["ou", "ve", "vp-linear", "vp-cosine", "edm", "rectified-flow"])
def test_ddim_is_exact_for_one_training_point(name):
    assert _ode_error(name, "ddim", 15) < 1e-11


def _bridge_runs(dens, kind, sizes, M=300, K=120):
    sched = dens.schedule
    times = sched.time_grid(K)
    x_T = rv.prior_sample(sched, M, 2, _gen(0))
    runs = []
    for e in sizes:
        kw = {"normal": e} if kind == "normal" else {"tangential": e}
        model = rv.InjectedErrorScore(dens, dim=1, **kw)
        runs.append(rv.sample(model, x_T, times, "em", generator=_gen(3)))
    return times, runs


def test_tangential_error_slides_samples_along_the_bridge(two_points):
    sizes = [0.0, 0.5, 1.0, 2.0]
    _, runs = _bridge_runs(two_points, "tangential", sizes)
    right = [float((tr.final[:, 0] > 0).double().mean()) for tr in runs]
    assert all(b > a for a, b in zip(right, right[1:])), right
    assert 0.35 < right[0] < 0.65 and right[-1] > 0.95


def test_normal_error_aligns_but_does_not_slide(two_points):
    sizes = [0.0, 0.5, 1.0, 2.0]
    times, runs = _bridge_runs(two_points, "normal", sizes)
    right = [float((tr.final[:, 0] > 0).double().mean()) for tr in runs]
    # the x-dynamics do not see y (the y^2 term cancels in the softmax): same seed, same sides
    assert max(right) - min(right) <= 2 / 300, right
    k = int(np.argmin(np.abs(times - 0.5)))
    mean_abs_y = [float(tr.xs[k, :, 1].abs().mean()) for tr in runs]
    assert all(b > a for a, b in zip(mean_abs_y, mean_abs_y[1:])), mean_abs_y


def test_injected_error_has_the_requested_normal_and_tangential_norms(thirteen):
    model = rv.InjectedErrorScore(thirteen, dim=1, normal=0.7, tangential=1.3)
    x = torch.randn(300, 2, generator=_gen(4), dtype=torch.float64) * 3
    for t in (0.05, 0.3, 1.0, 5.0):
        frame = rv.local_frame(thirteen, x, t, 1)
        e = model.error(x, t)
        torch.testing.assert_close(model(x, t) - thirteen.score(x, t), e, rtol=1e-12, atol=1e-12)
        nrm, tan = frame.split(e)
        ok = ~frame.undefined()
        if ok.any():
            torch.testing.assert_close(nrm.norm(dim=-1)[ok], torch.full((int(ok.sum()),), 0.7, dtype=torch.float64))
            torch.testing.assert_close(tan.norm(dim=-1)[ok], torch.full((int(ok.sum()),), 1.3, dtype=torch.float64))
        # everywhere (also where the frame is undefined) the error has norm sqrt(0.7^2 + 1.3^2)
        torch.testing.assert_close(e.norm(dim=-1), torch.full((300,), float(np.hypot(0.7, 1.3)), dtype=torch.float64))


@pytest.mark.parametrize("kwargs, param", [
    (dict(method="rk4"), "method"),
    (dict(times=np.array([1.0])), "times"),
    (dict(times=np.array([0.1, 0.5, 1.0])), "times"),
    (dict(times=np.array([1.0, 0.5, 0.0])), "times"),
    (dict(times=np.array([1.0, np.nan, 0.1])), "times"),
    (dict(times=np.ones((2, 2))), "times"),
    (dict(x_T=np.zeros(2)), "x_T"),
    (dict(x_T=np.array([[0.0, np.inf]])), "x_T"),
])
def test_bad_arguments_raise(two_points, kwargs, param):
    args = dict(x_T=np.zeros((3, 2)), times=np.array([1.0, 0.5, 0.1]), method="em")
    args.update(kwargs)
    with pytest.raises(ValueError, match=param):
        rv.sample(rv.ExactScore(two_points), args["x_T"], args["times"], args["method"])
    with pytest.raises(ValueError, match="schedule"):
        rv.sample(lambda x, t: x, np.zeros((3, 2)), np.array([1.0, 0.5]))


# -- the step coefficients and the score tag -------------------------------------------------------------------------
def _coefficient_error(method, schedule, steps):
    """Largest relative difference between a sampler's drift and ``A x + B s`` over a run of ``steps`` steps."""
    from ridgeviz.core.sampling import step_coefficients

    sched = rv.get_schedule(schedule)
    dens = rv.SmoothedEmpirical(MODE_SETS["three-points"], sched)
    model = rv.InjectedErrorScore(dens, 1, normal=0.2, tangential=0.4)
    times = sched.time_grid(steps)
    traj = rv.sample(model, rv.prior_sample(sched, 5, 2, _gen(0)), times, method, generator=_gen(1))
    worst = 0.0
    for k in range(steps):
        A, B, q = step_coefficients(method, sched, float(times[k]), float(times[k + 1]))
        dt = times[k] - times[k + 1]
        assert q == (pytest.approx(float(sched.g2(times[k])) * dt) if method == "em" else 0.0)
        rel = ((A * traj.xs[k] + B * traj.scores[k] - traj.drifts[k]).norm() / traj.drifts[k].norm()).item()
        worst = max(worst, rel)
    return worst


@pytest.mark.parametrize("method", ["em", "euler", "ddim"])
@pytest.mark.parametrize("schedule", ["ou", "vp-cosine", "edm"])
def test_step_coefficients_reproduce_the_drift(method, schedule):
    """``drift = A x + B s`` exactly for EM, Euler and DDIM."""
    assert _coefficient_error(method, schedule, 30) < 1e-12


@pytest.mark.parametrize("schedule", ["ou", "vp-cosine", "edm"])
def test_heun_coefficients_are_first_order(schedule):
    """Heun's corrector re-evaluates the score: its trapezoidal ``A, B`` are right to first order in the step."""
    coarse, fine = _coefficient_error("heun", schedule, 30), _coefficient_error("heun", schedule, 120)
    assert fine < 0.6 * coarse


def test_the_score_tag_names_the_model_and_survives_subsets(thirteen):
    from ridgeviz.core.sampling import scores_for

    model = rv.ExactScore(thirteen)
    traj = rv.sample(model, rv.prior_sample(thirteen.schedule, 6, 2, _gen(0)), thirteen.schedule.time_grid(8),
                     "euler")
    assert traj.score_model is model
    sub = traj.subset([1, 3])
    assert sub.score_model is model and sub.xs.shape == (9, 2, 2) and torch.equal(sub.scores, traj.scores[:, [1, 3]])
    part = traj.steps(slice(2, 6))
    assert part.xs.shape[0] == 4 and part.scores.shape[0] == 3 and part.score_model is model
    assert torch.equal(scores_for(model, traj, slice(0, 8)), traj.scores)
    assert scores_for(rv.ExactScore(thirteen), traj, slice(0, 8)) is None  # an equal model, but another object
    assert scores_for(model, traj, slice(0, 9)) is None  # the final positions have no stored score
    with pytest.raises(ValueError, match="method"):
        from ridgeviz.core.sampling import step_coefficients

        step_coefficients("rk4", thirteen.schedule, 1.0, 0.5)
