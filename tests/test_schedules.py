"""Schedules: presets against finite differences and closed forms, time grids, terminal closeness, bad input."""

import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.schedules import GRID_KINDS, SCHEDULES, Schedule

PRESETS = sorted(SCHEDULES)


def _interior(s: Schedule, n: int = 60) -> np.ndarray:
    """Times strictly inside (t_min, T), geometric and uniform, so central differences stay in the domain."""
    lo, hi = s.t_min * 1.01, s.T * 0.99
    return np.unique(np.concatenate([np.geomspace(lo, hi, n), np.linspace(lo, hi, n)]))


@pytest.mark.parametrize("name", PRESETS)
def test_h_is_sigma_squared_and_coefficients_finite(name):
    s = rv.get_schedule(name)
    t = np.concatenate([s.time_grid(200), _interior(s)])
    a, h, sig = s.alpha(t), s.h(t), s.sigma(t)
    np.testing.assert_allclose(h, sig**2, rtol=1e-14)
    assert np.all(np.isfinite(a / h)) and np.all(a / h > 0)
    assert np.all(h > 0) and np.all(a > 0)
    np.testing.assert_allclose(s.snr(t), a**2 / h, rtol=1e-14)


@pytest.mark.parametrize("name", PRESETS)
def test_drift_and_dh_match_central_differences(name):
    s = rv.get_schedule(name)
    t = _interior(s)
    eps = 1e-5 * t  # truncation ~eps^2, rounding ~1e-16/eps: both well below rtol
    fd_f = (s.log_alpha(t + eps) - s.log_alpha(t - eps)) / (2 * eps)
    fd_dh = (s.h(t + eps) - s.h(t - eps)) / (2 * eps)
    np.testing.assert_allclose(s.f(t), fd_f, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s.dh(t), fd_dh, rtol=1e-6, atol=1e-10 * np.abs(s.h(t)).max())
    # g^2 = dh/dt - 2 f h is a variance rate: never negative
    assert np.all(s.g2(t) >= 0)
    assert np.all(s.g2(s.time_grid(100)) >= 0)


@pytest.mark.parametrize("name", PRESETS)
def test_numpy_torch_and_float_agree(name):
    s = rv.get_schedule(name)
    t = _interior(s, 10)
    tt = torch.tensor(t, dtype=torch.float64)
    for fn in ("alpha", "sigma", "h", "f", "dh", "g2"):
        out_np, out_t = getattr(s, fn)(t), getattr(s, fn)(tt)
        assert isinstance(out_t, torch.Tensor)
        np.testing.assert_allclose(out_t.numpy(), out_np * np.ones_like(t), rtol=1e-13, err_msg=fn)
        np.testing.assert_allclose(float(getattr(s, fn)(float(t[3]))), out_np[3] if np.ndim(out_np) else out_np,
                                   rtol=1e-13, err_msg=fn)


def test_ou_closed_form():
    s = rv.get_schedule("ou")
    assert (s.T, s.t_min, s.grid) == (10.0, 1e-3, "geometric")
    t = s.time_grid(50)
    np.testing.assert_allclose(s.alpha(t), np.exp(-t), rtol=1e-14)
    np.testing.assert_allclose(s.h(t), 1 - np.exp(-2 * t), rtol=1e-12)
    np.testing.assert_allclose(s.f(t), -1.0)
    np.testing.assert_allclose(s.g2(t), 2.0, rtol=1e-12)
    assert s.prior_variance() == pytest.approx(1 - math.exp(-20), rel=1e-15)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("kind", GRID_KINDS)
@pytest.mark.parametrize("steps", [1, 7, 200])
def test_time_grid_shape_order_endpoints(name, kind, steps):
    s = rv.get_schedule(name)
    g = s.time_grid(steps, kind=kind)
    assert g.shape == (steps + 1,) and g.dtype == np.float64
    assert np.all(np.diff(g) < 0)
    assert g[0] == s.T and g[-1] == s.t_min


def test_geometric_grid_has_constant_ratio_and_others_their_formula():
    s = rv.get_schedule("ou", T=5.0, t_min=1e-4)
    K = 40
    g = s.time_grid(K)
    np.testing.assert_allclose(g[1:] / g[:-1], (1e-4 / 5.0) ** (1 / K), rtol=1e-12)
    np.testing.assert_allclose(s.time_grid(K, kind="uniform"), np.linspace(5.0, 1e-4, K + 1), rtol=1e-13)
    k = np.arange(K + 1) / K
    for rho in (7.0, 3.0):
        ref = (5.0 ** (1 / rho) + k * (1e-4 ** (1 / rho) - 5.0 ** (1 / rho))) ** rho
        np.testing.assert_allclose(s.time_grid(K, kind="karras", rho=rho), ref, rtol=1e-12)
    assert rv.get_schedule("edm").time_grid(10)[1] == pytest.approx(
        (80 ** (1 / 7) + 0.1 * (2e-3 ** (1 / 7) - 80 ** (1 / 7))) ** 7, rel=1e-12)


@pytest.mark.parametrize("name", PRESETS)
def test_terminal_closeness_against_direct_float64(name):
    s = rv.get_schedule(name)
    data = np.random.default_rng(0).normal(size=(17, 3)) * 2.0
    out = s.terminal_closeness(data)
    a_T = math.exp(float(s.log_alpha(s.T)))
    h_T = float(s.h(s.T))
    direct = sum(a_T**2 * sum(v * v for v in row) / (2 * h_T) for row in data.tolist()) / len(data)
    assert out["kl_bound"] == pytest.approx(direct, rel=1e-12)
    assert out["snr_T"] == pytest.approx(a_T**2 / h_T, rel=1e-12)
    assert out["alpha_T"] == pytest.approx(a_T, rel=1e-12) and out["sigma_T"] == pytest.approx(math.sqrt(h_T))


def test_kl_bound_is_exact_for_one_point():
    # for N = 1, p_T = N(a x, h I) and KL(N(a x, h I) || N(0, h I)) = a^2 |x|^2 / (2 h) exactly
    s = rv.get_schedule("vp-linear", T=0.3)
    x = np.array([[1.5, -2.0]])
    a, h = float(s.alpha(0.3)), float(s.h(0.3))
    mu = a * x[0]
    kl_gauss = 0.5 * (mu @ mu) / h  # KL between equal-covariance Gaussians
    assert s.terminal_closeness(x)["kl_bound"] == pytest.approx(kl_gauss, rel=1e-13)


@pytest.mark.parametrize("kwargs, param", [
    (dict(name="ou", t_min=0.0), "t_min"),
    (dict(name="ou", t_min=-1e-3), "t_min"),
    (dict(name="ou", T=1e-3, t_min=1e-3), "T"),
    (dict(name="ou", T=0.5, t_min=1.0), "T"),
    (dict(name="ou", T=float("nan")), "T"),
    (dict(name="ou", t_min=float("nan")), "t_min"),
    (dict(name="ou", T=float("inf")), "T"),
    (dict(name="ou", T="10"), "T"),
    (dict(name="ou", T=True), "T"),
    (dict(name="no-such-schedule"), "name"),
    (dict(name="ou", grid="spiral"), "grid"),
    (dict(name="ou", sigma_min=0.1), "sigma_min"),
    (dict(name="ve", sigma_minn=0.1), "sigma_minn"),
    (dict(name="ve", sigma_min=float("nan")), "sigma_min"),
    (dict(name="ve", sigma_min=5.0, sigma_max=1.0), "sigma_min"),
    (dict(name="vp-linear", beta_min=30.0), "beta_min"),
    (dict(name="vp-cosine", T=1.0), "T"),
    (dict(name="rectified-flow", T=1.5), "T"),
])
def test_bad_schedule_parameters_raise_naming_them(kwargs, param):
    with pytest.raises(ValueError, match=rf"\b{param}\b"):
        rv.get_schedule(**kwargs)


@pytest.mark.parametrize("kwargs, param", [
    (dict(steps=0), "steps"),
    (dict(steps=-3), "steps"),
    (dict(steps=2.5), "steps"),
    (dict(steps=10, kind="spiral"), "kind"),
    (dict(steps=10, kind="karras", rho=0.0), "rho"),
])
def test_bad_time_grid_parameters_raise_naming_them(kwargs, param):
    with pytest.raises(ValueError, match=rf"\b{param}\b"):
        rv.get_schedule("ou").time_grid(**kwargs)


def test_schedule_dataclass_validates_and_hashes():
    with pytest.raises(ValueError, match="name"):
        Schedule("nope", 1.0, 0.1)
    a, b = rv.get_schedule("ve", sigma_max=10), rv.get_schedule("ve", sigma_max=10.0)
    assert a == b and hash(a) == hash(b)
    assert a.param("sigma_max") == 10.0 and a.param("sigma_min") == 0.01
    assert rv.get_schedule("ve") != a
