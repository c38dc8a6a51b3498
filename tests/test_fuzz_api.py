"""Property tests over the public API: any input gives a finite result or a ValueError that names a parameter.

hypothesis draws arrays of every dtype and shape (NaN, inf, 1e200, bool, complex, strings), times inside and
outside the schedule, schedule parameters and config fields. Each property also runs under a small work budget
(``RIDGEVIZ_MAX_MEMORY_GB=0.5``), so a request the library would allocate beyond it must be refused instead, and
with a deadline per example. Examples are few and small so each test takes seconds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS, DatasetSpec
from ridgeviz.models.training import TrainConfig
from ridgeviz.utils.limits import BudgetError
from ridgeviz.views.trajectories import TrajectoryConfig

# RIDGEVIZ_FUZZ_EXAMPLES=1000 runs a deeper search (the suite's default keeps each test to a few seconds)
FUZZ = settings(max_examples=int(os.environ.get("RIDGEVIZ_FUZZ_EXAMPLES", "40")), deadline=3000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def small_budget(monkeypatch):
    monkeypatch.setenv("RIDGEVIZ_MAX_MEMORY_GB", "0.5")


def names(exc: BaseException, allowed) -> bool:
    """The message starts with one of the parameter names (or says the budget refused the request)."""
    text = str(exc)
    return isinstance(exc, BudgetError) or any(text.startswith(n) for n in allowed)


def finite(*outputs) -> bool:
    return all(bool(torch.isfinite(torch.as_tensor(o)).all()) for o in outputs)


# -- strategies -------------------------------------------------------------------------------------------------
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([0.0, 1e200, -1e300]),
                   st.floats(-10, 10))
def _fits_float32(v: float) -> bool:
    with np.errstate(over="ignore"):  # the cast of a too-large value is the question, not a problem
        return bool(np.isfinite(np.float32(v)))


DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_, np.complex128])


@st.composite
def arrays(draw, max_dims=3, max_side=5):
    """Arrays of any real, bool or complex dtype and small shape, finite or not; sometimes lists or strings."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(["abc", None, [[1.0, 2.0], [3.0]], [["a", "b"], ["c", "d"]], {"x": 1}, 3.5]))
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    if np.issubdtype(dtype, np.floating):
        elements = VALUES.map(lambda v: v if dtype == np.float64 or _fits_float32(v) else np.inf)
        a = draw(hnp.arrays(dtype, shape, elements=elements))
    else:
        a = draw(hnp.arrays(dtype, shape))
    return torch.as_tensor(a) if kind == 1 and dtype not in (np.uint8,) else a


@st.composite
def points(draw, D):
    """Mostly well-formed ``(M, D)`` queries, sometimes anything."""
    if draw(st.booleans()):
        return draw(arrays())
    M = draw(st.integers(0, 6))
    return draw(hnp.arrays(np.float64, (M, D), elements=VALUES))


TIMES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e-300, 1e-3, 0.5, 9.99, 10.0]),
                  st.integers(-3, 20), st.lists(st.floats(0.01, 5), min_size=0, max_size=7), st.just("0.5"))


# -- the density ------------------------------------------------------------------------------------------------
DENSITY_NAMES = ("data", "schedule", "dtype", "device", "chunk_elements")
QUERY_NAMES = ("x", "t", "dim", "tol", "max_iter", "gap_tol")


@FUZZ
@given(data=arrays(max_dims=3, max_side=6), device=st.sampled_from([None, "cpu", "foo", "cuda:7", 3]))
def test_density_constructor(data, device):
    try:
        dens = rv.SmoothedEmpirical(data, rv.get_schedule("ou"), device=device)
    except ValueError as exc:
        assert names(exc, DENSITY_NAMES), exc
        return
    assert dens.data.ndim == 2 and finite(dens.data)


@FUZZ
@given(x=points(2), t=TIMES, what=st.sampled_from(["score", "log_prob", "denoise", "hessian", "posterior_weights"]),
       schedule=st.sampled_from(["ou", "vp-cosine", "rectified-flow", "edm"]))
def test_density_queries(x, t, what, schedule):
    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], rv.get_schedule(schedule))
    try:
        out = getattr(dens, what)(x, t)
    except ValueError as exc:
        assert names(exc, QUERY_NAMES), exc
        return
    assert finite(out)


@FUZZ
@given(x=points(3), t=TIMES, dim=st.one_of(st.integers(-2, 4), st.sampled_from([1.0, True, "1", None])),
       which=st.sampled_from(["residual", "project", "suggest", "frame"]))
def test_ridge_functions(x, t, dim, which):
    dens = rv.SmoothedEmpirical(np.random.default_rng(0).normal(size=(9, 3)), rv.get_schedule("ou"))
    try:
        if which == "residual":
            out = (rv.ridge_residual(dens, x, t, dim),)
        elif which == "project":
            p = rv.project_to_ridge(dens, x, t, dim, max_iter=20)
            out = (p.points, p.residual, p.eigengap)
        elif which == "suggest":
            out = (torch.as_tensor(rv.suggest_ridge_dim(dens, x, t)[1]),)
        else:
            f = rv.local_frame(dens, x, t, dim)
            out = (f.eigenvalues, f.residual)
    except ValueError as exc:
        assert names(exc, QUERY_NAMES), exc
        return
    assert finite(*out)


# -- schedules ---------------------------------------------------------------------------------------------------
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, 5e-324, -1.0, 0.0]),
                    st.integers(-5, 10**6), st.just("10"), st.none())


@FUZZ
@given(name=st.sampled_from(sorted(rv.SCHEDULES) + ["nope"]), T=NUMBERS, t_min=NUMBERS,
       params=st.dictionaries(st.sampled_from(["s", "sigma_min", "sigma_max", "beta_min", "beta_max", "rho"]),
                              NUMBERS, max_size=2),
       steps=st.one_of(st.integers(-2, 10**10), st.floats()), kind=st.sampled_from(["geometric", "uniform",
                                                                                     "karras", "spiral"]),
       rho=st.one_of(st.floats(), st.sampled_from([1e-300, 7.0, 1e300])))
def test_schedules_and_grids(name, T, t_min, params, steps, kind, rho):
    try:
        sched = rv.get_schedule(name, T=T, t_min=t_min, **{k: v for k, v in params.items() if v is not None})
    except ValueError as exc:
        assert names(exc, ("name", "T", "t_min", *params)), exc
        return
    t = np.geomspace(sched.t_min, sched.T, 17)
    assert all(np.isfinite(f(t)).all() for f in (sched.alpha, sched.h, sched.f, sched.g2))
    try:
        grid = sched.time_grid(steps, kind, rho)
    except ValueError as exc:
        assert names(exc, ("steps", "kind", "rho")), exc
        return
    assert np.isfinite(grid).all() and np.all(np.diff(grid) < 0)


# -- score models and the sampler ----------------------------------------------------------------------------------
@FUZZ
@given(normal=NUMBERS, tangential=NUMBERS, dim=st.integers(-1, 3), x=points(2), t=TIMES)
def test_injected_error_model(normal, tangential, dim, x, t):
    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], rv.get_schedule("ou"))
    try:
        model = rv.InjectedErrorScore(dens, dim, normal, tangential)
        out = model(x, t)
    except ValueError as exc:
        assert names(exc, ("dens", "dim", "normal", "tangential", "gap_tol", *QUERY_NAMES)), exc
        return
    assert finite(out)


@FUZZ
@given(x=points(2), t=TIMES, which=st.sampled_from(["mlp", "rf"]))
def test_network_models_t_shapes(x, t, which):
    sched = rv.get_schedule("ou")
    if which == "mlp":
        model = rv.MLPScore(sched, 2, hidden=8, depth=1, time_features=2)
    else:
        rf = rv.RandomFeatureModel(2, 8, 2, sched.T)
        model = rv.RandomFeatureScore(rf, torch.zeros(2, 8, dtype=torch.float64), sched)
    try:
        out = model(x, t)
    except ValueError as exc:
        assert names(exc, ("x", "t")), exc
        return
    assert finite(out)


@FUZZ
@given(bad_step=st.integers(0, 5), value=st.sampled_from([math.nan, math.inf, -math.inf]),
       method=st.sampled_from(sorted(rv.SAMPLERS)))
def test_sampler_stops_at_non_finite_scores(bad_step, value, method):
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(MODE_SETS["two-points"], sched)
    times = sched.time_grid(5)
    calls = []

    def model(x, t):
        calls.append(t)
        s = dens.score(x, t)
        return s if float(t) > times[bad_step] - 1e-12 or len(calls) < 2 else torch.full_like(s, value)

    model.schedule = sched
    try:
        traj = rv.sample(model, torch.zeros(3, 2), times, method, generator=torch.Generator().manual_seed(0))
    except ValueError as exc:
        assert str(exc).startswith("model:") and "step" in str(exc) and "t =" in str(exc), exc
        return
    assert finite(traj.xs)


@FUZZ
@given(samples=arrays(), radius=st.one_of(st.none(), NUMBERS))
def test_inter_mode_mass(samples, radius):
    try:
        v = rv.inter_mode_mass(samples, MODE_SETS["two-points"], radius)
    except ValueError as exc:
        assert names(exc, ("samples", "data", "radius")), exc
        return
    assert 0.0 <= v <= 1.0


# -- configs -------------------------------------------------------------------------------------------------------
ANY = st.one_of(NUMBERS, st.booleans(), st.text(max_size=4), st.lists(st.integers(0, 3), max_size=2))


@FUZZ
@given(field=st.sampled_from(["n", "noise", "dim", "seed", "offsubspace_noise", "radius"]), value=ANY,
       kind=st.sampled_from(["preset", "noisy", "ring", "highdim", "sklearn", "bogus"]))
def test_dataset_spec(field, value, kind):
    name = {"ring": "ring", "sklearn": "moons"}.get(kind, "two-points")
    try:
        DatasetSpec(kind, name, **{field: value})
    except ValueError as exc:
        assert names(exc, (field, "kind")), exc


@FUZZ
@given(cls=st.sampled_from([TrainConfig, TrajectoryConfig, rv.PhaseRule]), data=st.data())
def test_config_fields(cls, data):
    import dataclasses

    field = data.draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]))
    value = data.draw(ANY)
    try:
        cls(**{field: value})
    except ValueError as exc:
        assert names(exc, (field,)), exc


def test_train_mlp_refuses_a_dict_config():
    with pytest.raises(ValueError, match="^config must be a TrainConfig; got a dict"):
        rv.train_mlp(MODE_SETS["two-points"], rv.get_schedule("ou"), {"steps": 10})


# -- edges found by the held-out rounds  -----------------------------------------------------------------
@FUZZ
@given(bounds=st.one_of(st.lists(VALUES, min_size=0, max_size=6), st.sampled_from(["abcd", None, 3, (1, 0, 0, 1)])))
def test_trace_ridge_bounds(bounds):
    from ridgeviz.core.tracing import trace_ridge

    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], rv.get_schedule("ou"))
    try:
        lines = trace_ridge(dens, 0.5, bounds=bounds, grid=4)
    except ValueError as exc:
        assert names(exc, ["bounds"]), exc
        return
    assert all(np.isfinite(line).all() for line in lines)


@pytest.mark.parametrize("where", ["folder", "device", "missing-parent", "unwritable"])
def test_saving_a_model_to_an_impossible_place_names_the_path(where, tmp_path):
    model = rv.ExactScore(rv.SmoothedEmpirical(MODE_SETS["thirteen"], rv.get_schedule("ou")))
    target = {"folder": tmp_path, "device": "/dev/null", "missing-parent": "/proc/ridgeviz-nope/m",
              "unwritable": "/proc/m"}[where]
    with pytest.raises(ValueError, match=f"checkpoint: .*{target}"):
        rv.save_model(target, model)
    assert not list(tmp_path.glob("*.safetensors")) and not Path("/dev/null.safetensors").exists()
    path = rv.save_model(tmp_path / "m", model)  # a name without the suffix gets it, as documented
    assert path == tmp_path / "m.safetensors" and sorted(p.name for p in tmp_path.iterdir()) == ["m.json", path.name]


DEGENERATE = {"duplicates": np.array([[1.0, 2.0]] * 5), "two duplicated pairs": np.array([[1.0, 2.0]] * 3 +
                                                                                          [[0.0, 0.0]] * 2),
              "3 collinear": np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]),
              **{f"13 points x {s:g}": MODE_SETS["thirteen"] * s for s in (1e-8, 1e8, 1e100)}}


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_data_give_undefined_flags_or_a_message(name, monkeypatch):
    # a NaN in the Trajectories pipeline means "ridge undefined here" (label "no ridge", or after align inside a
    # training point's round blob one of the post-align labels), never a failure; what cannot be represented is
    # refused with a sentence
    from ridgeviz.core.phases import AFTER_ALIGN, NO_RIDGE
    from ridgeviz.core.schedules import ScheduleConfig
    from ridgeviz.models.factory import ModelConfig
    from ridgeviz.views.trajectories import run_trajectories

    monkeypatch.setenv("RIDGEVIZ_MAX_MEMORY_GB", "4")  # the run itself is small; the default budget prices it
    try:
        res = run_trajectories(DEGENERATE[name], ScheduleConfig(steps=20), TrajectoryConfig(particles=8, frames=3,
                               ridge_grid=4), model_cfg=ModelConfig("injected", 1, 0.5, 0.5))
    except ValueError as exc:
        assert str(exc).startswith("data: positions up to") and name.endswith("1e+100"), exc
        return
    assert np.isfinite(res.xs).all() and np.isfinite(res.times).all()
    undefined = np.isnan(res.distance)
    assert not ((res.labels == NO_RIDGE) & ~undefined).any()
    assert np.isin(res.labels[undefined], (NO_RIDGE, *AFTER_ALIGN)).all()
    for field in (res.error_normal, res.error_tangential):
        assert not (np.isnan(field) & ~undefined).any()
