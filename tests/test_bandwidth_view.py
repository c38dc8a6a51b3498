"""The Data and bandwidth view: data units as a KDE, byte-quantised fields, and the browser-side animation."""

import json

import numpy as np
import plotly.io as pio
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.tracing import ridge_fields
from ridgeviz.views import bandwidth as bw
from ridgeviz.viz.bandwidth import bandwidth_animation

RNG = np.random.default_rng(7)
X = RNG.normal(scale=1.5, size=(7, 2))  # points in general position: no symmetry decides anything
SCHED = rv.get_schedule("ou")


@pytest.fixture(scope="module")
def sweep():
    return bw.bandwidth_sweep(X, SCHED, 1, n_times=12, grid=10)


def test_data_units_density_is_the_kde_of_bandwidth_sigma_over_alpha():
    t = 0.4
    a, b = float(SCHED.alpha(t)), float(SCHED.sigma(t) / SCHED.alpha(t))
    dens, kde = rv.SmoothedEmpirical(X, SCHED), bw.kde_density(X, 0.01, 100.0)
    x = torch.as_tensor(RNG.normal(size=(20, 2)))
    # p_t(x) = alpha^-D q_b(x / alpha)
    np.testing.assert_allclose(dens.log_prob(x, t), kde.log_prob(x / a, b) - 2 * np.log(a), rtol=1e-10)
    wrong = kde.log_prob(x / a, float(SCHED.sigma(t))) - 2 * np.log(a)  # control: the blur sigma_t is not b
    assert (dens.log_prob(x, t) - wrong).abs().max() > 0.1


def test_ridge_in_data_units_is_the_ridge_of_p_t_scaled_by_alpha():
    t = 0.3
    a, b = float(SCHED.alpha(t)), float(SCHED.sigma(t) / SCHED.alpha(t))
    dens, kde = rv.SmoothedEmpirical(X, SCHED), bw.kde_density(X, 0.01, 100.0)
    proj = rv.project_to_ridge(kde, torch.as_tensor(RNG.normal(scale=1.5, size=(60, 2))), b, 1)
    y = proj.points[proj.on_ridge.bool()]
    assert len(y) > 10
    scale = dens.score(a * y, t).norm(dim=-1).mean()
    assert (rv.ridge_residual(dens, a * y, t, 1) / scale).max() < 1e-4
    assert (rv.ridge_residual(dens, y, t, 1) / scale).median() > 1e-2  # control: unscaled points are off it


def test_gap_codes_round_trip_and_mark_the_undefined():
    g = np.array([1e-4, 1e-3, 0.02, 0.5, 1.0, 7.0])
    code = bw.gap_code(g, np.zeros(len(g), bool))
    assert code.dtype == np.uint8 and code.min() >= 1
    np.testing.assert_allclose(bw.gap_value(code)[1:5], g[1:5], rtol=0.03)
    assert bw.gap_code(g, np.ones(len(g), bool)).max() == 0 and np.isnan(bw.gap_value(0))


def test_sweep_has_the_slider_times_marks_and_data_unit_geometry(sweep):
    assert len(sweep.times) >= 12 and np.all(np.diff(sweep.times) > 0)
    for _, t in sweep.marks.values():
        assert t is None or t in sweep.times.tolist()
    np.testing.assert_allclose(sweep.bandwidth, SCHED.sigma(sweep.times) / SCHED.alpha(sweep.times))
    np.testing.assert_allclose(sweep.alpha, SCHED.alpha(sweep.times))
    assert sweep.suggested.shape == sweep.times.shape and set(sweep.suggested) <= {1}
    shown = bw.shown_geometry(sweep, "diffusion")
    np.testing.assert_allclose(shown["data"][3], sweep.alpha[3] * X)
    assert bw.shown_geometry(sweep, "data")["data"] is sweep.data
    with pytest.raises(ValueError, match="units"):
        bw.shown_geometry(sweep, "pixels")


def test_diffusion_fields_equal_the_direct_fields_of_p_t(sweep):
    """The data-unit trick against the slow obvious route: p_t's own fields on the x grid, quantised."""
    fields = bw.bandwidth_fields(X, sweep, 1, "diffusion", n=14)
    dens = rv.SmoothedEmpirical(X, SCHED)
    for f in (2, 6, 9):
        ref = ridge_fields(dens, float(sweep.times[f]), 1, bounds=sweep.bounds, n=14)
        np.testing.assert_allclose(fields.xs, ref.xs, rtol=1e-12)
        dens_ref = np.round(255 * np.exp(ref.log_prob - ref.log_prob.max()))
        assert np.abs(fields.density[f].astype(int) - dens_ref).max() <= 1
        gap_ref = bw.gap_code(ref.scaled_gap, ref.undefined).astype(int)
        assert np.mean(np.abs(fields.gap[f].astype(int) - gap_ref) <= 1) > 0.97


def test_training_points_sit_on_their_own_density_in_data_units_only(sweep):
    data = bw.bandwidth_fields(X, sweep, 1, "data", n=30)
    diff = bw.bandwidth_fields(X, sweep, 1, "diffusion", n=30)
    f = int(np.argmin(np.abs(sweep.times - 0.6)))  # alpha_t = 0.55: the centres alpha_t x_i are far from x_i
    ix = np.abs(data.xs[None] - X[:, :1]).argmin(1)
    iy = np.abs(data.ys[None] - X[:, 1:]).argmin(1)
    on_data = data.density[f][iy, ix].astype(int)
    on_diff = diff.density[f][iy, ix].astype(int)
    assert np.median(on_data) > 200 and np.median(on_diff) < 0.7 * np.median(on_data)


def _spec(fig) -> dict:
    return json.loads(pio.to_json(fig, validate=False))


@pytest.mark.parametrize("units", bw.UNITS)
def test_animation_frames_match_slider_steps_and_carry_bytes(sweep, units):
    fields = bw.bandwidth_fields(X, sweep, 1, units, n=12)
    fig = bandwidth_animation(sweep, fields, bw.schedule_curves(SCHED), bw.shown_geometry(sweep, units), active=4)
    F = len(sweep.times)
    assert len(fig.frames) == len(fig.layout.sliders[0].steps) == F and fig.layout.sliders[0].active == 4
    moving = {tuple(fr.traces) for fr in fig.frames}
    assert len(moving) == 1
    names = [fig.data[i].name for i in moving.pop()]
    assert ("training points" in names) == (units == "diffusion")  # the crosses move only with alpha_t
    spec = _spec(fig)
    z = spec["frames"][0]["data"][0]["z"]
    assert z["dtype"] == "u1"  # one byte per grid cell, base64
    titles = {fr["layout"]["title"]["text"] for fr in spec["frames"]}
    assert len(titles) == F and fig.layout.title.text == spec["frames"][4]["layout"]["title"]["text"]
    assert spec["layout"]["sliders"][0]["steps"][0]["args"][1]["frame"]["redraw"] is True


def test_animation_without_fields_for_high_dimensional_data():
    Xh = np.c_[X, 0.1 * RNG.normal(size=(7, 2))]
    sw = bw.bandwidth_sweep(Xh, SCHED, 1, n_times=6, grid=8)
    assert bw.bandwidth_fields(Xh, sw, 1) is None
    fig = bandwidth_animation(sw, None, bw.schedule_curves(SCHED), bw.shown_geometry(sw), active=0)
    assert len(fig.frames) == len(sw.times) and not any(t.type in ("contour", "heatmap") for t in fig.data)
