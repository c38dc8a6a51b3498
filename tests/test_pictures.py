"""Pictures that make the point: one palette per meaning, the Trajectories view ending on the outcome, the error as
a length, time stamps on every animated figure, stills of the frame shown, the live loop's prediction."""

import re
from pathlib import Path

import numpy as np
import pytest

import ridgeviz as rv
from ridgeviz.core.outcomes import OutcomeRule, classify_samples
from ridgeviz.core.schedules import ScheduleConfig
from ridgeviz.core.tracing import trace_ridges
from ridgeviz.core.vocabulary import CATEGORIES, OUTCOME_COLORS, PHASE_COLORS, PHASES
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models.factory import ModelConfig
from ridgeviz.views import trajectories as tj
from ridgeviz.viz import style

ROOT = Path(__file__).resolve().parents[1]
MIN_RGB_DISTANCE = 60  # Euclidean distance in 0-255 RGB: colours this far apart are told apart on a projector


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)


# -- one palette per meaning -----------------------------------------------------------------------------------------
def test_phases_outcomes_and_quantities_have_colour_sets_apart():
    phases, outcomes = set(PHASE_COLORS.values()), set(OUTCOME_COLORS.values())
    assert len(phases) == len(PHASES) and len(outcomes) == len(CATEGORIES) and not phases & outcomes
    meanings = [*phases, *outcomes, style.RIDGE_COLOR]
    for name, color in style.QUANTITY_COLORS.items():
        nearest = min(np.linalg.norm(_rgb(color) - _rgb(m)) for m in meanings)
        assert nearest >= MIN_RGB_DISTANCE, (name, color, nearest)
    q = style.QUANTITY_COLORS
    assert np.linalg.norm(_rgb(q["normal"]) - _rgb(q["tangential"])) >= MIN_RGB_DISTANCE
    assert style.QUANTITY_DASH["normal"] != style.QUANTITY_DASH["tangential"]


def test_no_code_hard_codes_a_phase_or_outcome_colour():
    """Only core/vocabulary.py names these colours; everything else reads them from there."""
    taken = {c.lower() for c in [*PHASE_COLORS.values(), *OUTCOME_COLORS.values()]}
    found = []
    for path in [*ROOT.glob("ridgeviz/**/*.py"), *ROOT.glob("app_pages/*.py"), ROOT / "app.py"]:
        if path.name == "vocabulary.py":
            continue
        for hit in re.findall(r"#[0-9A-Fa-f]{6}\b", path.read_text()):
            if hit.lower() in taken:
                found.append(f"{path.relative_to(ROOT)}: {hit}")
    assert not found


def test_the_docs_name_every_phase_and_outcome_colour():
    text = (ROOT / "docs" / "pages.md").read_text()
    (para,) = re.findall(r"\*\*Colours\.\*\*(.*?)\n\n", text, flags=re.S)
    for name in [*PHASES, *CATEGORIES]:
        assert name in para, name


# -- the Trajectories view: outcome, lengths ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run():
    X = MODE_SETS["thirteen"]
    cfg = tj.TrajectoryConfig(particles=48, frames=8, ridge_grid=10)
    sched = ScheduleConfig(steps=30)
    model = ModelConfig("injected", normal=0.0, tangential=0.5)
    return X, sched, tj.run_trajectories(X, sched, cfg, model_cfg=model)


def test_final_samples_carry_the_outcome_rule_of_the_home_page(run):
    X, sched_cfg, res = run
    sched = sched_cfg.schedule()
    dens = rv.SmoothedEmpirical(X, sched)
    rule = OutcomeRule.for_data(X, sched)
    codes = classify_samples(dens, res.xs[-1].astype(np.float64), rule)  # float32 positions: same categories
    assert np.mean(codes == res.outcomes) >= 0.97
    assert res.outcome["t_star"] == pytest.approx(rule.t_ridge)
    shares = res.outcome["fractions"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["copy"] == pytest.approx(np.mean(res.outcomes == CATEGORIES.index("copy")))


def test_the_outcome_ridge_is_the_home_pages_ridge_at_t_star_in_data_units(run):
    """Traced as the KDE's ridge at b* (data units) against the home page's route: R_{t*} traced in the diffusion's
    coordinates, divided by alpha_{t*}. Every point of one lies near the other."""
    X, sched_cfg, res = run
    sched = sched_cfg.schedule()
    t = res.outcome["t_star"]
    a = float(sched.alpha(t))
    bounds = tuple(a * v for v in res.bounds)
    ref = np.vstack([line / a for line in trace_ridges(rv.SmoothedEmpirical(X, sched), [t], 1, bounds=bounds,
                                                       grid=24)[0]])
    got = np.vstack(res.outcome_ridge)
    assert len(got) > 10 and len(ref) > 10
    gap = lambda p, q: np.sqrt(((p[:, None] - q[None]) ** 2).sum(-1)).min(1)  # noqa: E731
    spacing = (res.bounds[1] - res.bounds[0]) / 24
    assert np.median(gap(got, ref)) < 0.05 * spacing and np.median(gap(ref, got)) < 0.05 * spacing


def test_the_error_as_a_length_is_h_t_times_the_error(run):
    X, sched_cfg, res = run
    h = np.asarray(sched_cfg.schedule().h(res.times))
    np.testing.assert_allclose(res.h, h, rtol=1e-12)
    ok = np.isfinite(res.distance)  # the points where the ridge is defined (ExplorerResult: NaN exactly elsewhere)
    for part in ("normal", "tangential"):
        err = getattr(res, f"error_{part}").astype(np.float64)
        rows = ok.any(1)
        mean = np.array([np.mean(h[k] * err[k][ok[k]]) for k in np.flatnonzero(rows)])
        np.testing.assert_allclose(res.bands[f"length_{part}"][0][rows], mean, rtol=1e-5)
        assert np.isnan(res.bands[f"length_{part}"][0][~rows]).all()


def test_a_constant_error_becomes_a_length_that_shrinks_with_the_bandwidth(run):
    """The injected tangential 0.5: |e_par| = 0.5 where the ridge is defined, so h_t |e_par| = 0.5 h_t; the length
    is what the align law compares with the distance (a control: the raw norm stays at 0.5 at every t)."""
    _, _, res = run
    rows = np.isfinite(res.bands["error_tangential"][0])
    np.testing.assert_allclose(res.bands["error_tangential"][0][rows], 0.5, rtol=1e-6)
    np.testing.assert_allclose(res.bands["length_tangential"][0][rows], 0.5 * res.h[rows], rtol=1e-6)


def test_the_error_profile_splits_only_where_the_ridge_is_defined():
    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], rv.get_schedule("ou"))
    times = np.array([0.001, 0.017, 0.3, 10.0])
    inj = tj.error_profile(rv.InjectedErrorScore(dens, 1, normal=0.3, tangential=0.4), dens, times, 1, n=256)
    some = (inj["undefined"] > 0) & (inj["undefined"] < 1)
    assert some.any()  # a time where the ridge is defined at some points only: the mean counts those alone
    np.testing.assert_allclose(inj["normal"][inj["undefined"] < 1], 0.3, rtol=1e-6)
    np.testing.assert_allclose(inj["tangential"][inj["undefined"] < 1], 0.4, rtol=1e-6)
    assert np.isnan(inj["tangential"][inj["undefined"] == 1]).all()  # no defined point: no split
    np.testing.assert_allclose(inj["total"], 0.5, rtol=1e-9)


def test_the_default_model_is_the_shipped_generalising_mlp_named_by_its_file():
    from ridgeviz.models.kinds import LOADED
    from ridgeviz.models.recipes import GENERALISING_ASSET
    from ridgeviz.utils.provenance import file_digest

    cfg = tj.demo_inputs()[3]
    assert cfg.kind == LOADED and cfg.key == file_digest(GENERALISING_ASSET) and not cfg.closed_form


# -- time stamps, ticks and stills -----------------------------------------------------------------------------------
def _animated(run):
    from ridgeviz.views import bandwidth as bw
    from ridgeviz.viz.bandwidth import bandwidth_animation
    from ridgeviz.viz.random_features import rf_cloud_animation
    from ridgeviz.viz.trajectories import trajectory_figure

    X, sched_cfg, res = run
    sched = sched_cfg.schedule()
    sweep = bw.bandwidth_sweep(X, sched, 1, n_times=6, grid=8)
    band = bandwidth_animation(sweep, None, bw.schedule_curves(sched), bw.shown_geometry(sweep), active=2)
    cloud_sweep = type("S", (), dict(finals=np.stack([res.xs[-1]] * 3), data=res.data, axis_labels=("x1", "x2"),
                                     config={"bounds": res.bounds}))
    cloud = rf_cloud_animation(cloud_sweep, ["1", "10", "∞"])
    return {"trajectories": trajectory_figure(res), "bandwidth": band, "rf cloud": cloud}


def _frame_text(fig, f) -> str:
    """What frame ``f`` writes about itself: its layout title, or its text trace."""
    frame = fig.frames[f]
    if frame.layout is not None and frame.layout.title.text:
        return frame.layout.title.text
    texts = [d.text[0] for d in frame.data if getattr(d, "text", None) is not None]
    assert len(texts) == 1
    return texts[0]


def test_every_animated_figure_writes_its_frames_time_and_labels_its_ticks(run):
    for name, fig in _animated(run).items():
        slider = fig.layout.sliders[0]
        assert len(slider.steps) == len(fig.frames), name
        assert not (slider.font.color or "").replace(" ", "").endswith(",0)"), name  # ticks drawn, not hidden
        labels = [s.label for s in slider.steps]
        assert all(labels) and len(set(labels)) == len(labels), name
        texts = [_frame_text(fig, f) for f in range(len(fig.frames))]
        assert len(set(texts)) == len(texts), name  # every frame says which one it is
        for label, text in zip(labels[:-1], texts):  # the label's time or tau appears in the frame's own text
            assert label.split()[0] in text, (name, label, text)


def test_a_still_shows_the_frame_asked_for_with_its_time_and_no_controls(run):
    from ridgeviz.viz.export import frame_label, static_figure, still_frame

    figs = _animated(run)
    traj = figs["trajectories"]
    assert still_frame(traj) == traj.layout.sliders[0].active == 0
    for f in (3, -1):
        still = static_figure(traj, f)
        assert not still.layout.sliders and not still.layout.updatemenus and not still.frames
        stamp = traj.frames[f].traces[-1]
        assert still.data[stamp].text[0] == _frame_text(traj, f)
    assert frame_label(traj, -1) == "end" and frame_label(traj, 2) == traj.layout.sliders[0].steps[2].label
    band = figs["bandwidth"]
    assert static_figure(band).layout.title.text == _frame_text(band, 2)  # opens at the slider's active frame


def test_the_bandwidth_figure_puts_the_slider_under_the_density_and_names_each_curve_once(run):
    fig = _animated(run)["bandwidth"]
    slider = fig.layout.sliders[0]
    assert slider.y == pytest.approx(fig.layout.yaxis.domain[0])  # right under the density panels
    assert slider.y > fig.layout.yaxis3.domain[1]  # above the curve panels
    titles = [a.title.text for a in (fig.layout.yaxis3, fig.layout.yaxis4, fig.layout.yaxis5) if a.title.text]
    assert not any("ridge length" in (t or "") for t in titles)
    names = ("memorising fraction", "ridge length (data units, right axis)", "α_t", "σ_t", "b(t) = σ_t/α_t")
    curves = {tr.name: tr.line.color for tr in fig.data if tr.name in names}
    assert len(curves) == 5 and len(set(curves.values())) == 5  # one colour per quantity
    assert not set(curves.values()) & {*PHASE_COLORS.values(), *OUTCOME_COLORS.values()}


# -- the live loop ---------------------------------------------------------------------------------------------------
def test_the_live_loop_predicts_from_the_runs_measured_on_this_server():
    """A change reruns by itself only when its price, times the ratio measured over this server's runs of the same
    kind, is under LIVE_SECONDS: before any run the price alone decides; after runs that took a tenth of their
    price the same settings go live; after slow runs they wait for Run."""
    from ridgeviz.app import budget, compute
    from ridgeviz.app.admission import Calibration
    from ridgeviz.views.budget import trajectories_cost

    X, sched, cfg = MODE_SETS["thirteen"], ScheduleConfig(steps=100), tj.TrajectoryConfig(particles=256)
    price = trajectories_cost(X.shape, sched, cfg)
    q = budget.heavy_queue()
    saved = q.calibration
    try:
        q.calibration = Calibration()
        assert budget.estimate(price, "trajectories") == pytest.approx(price.seconds)  # none measured yet
        for _ in range(20):
            q.calibration.record("trajectories", 1.0, 0.1)  # each run here took a tenth of its price
        assert budget.estimate(price, "trajectories") == pytest.approx(0.1 * price.seconds, rel=1e-6)
        assert compute.live("trajectories", price) == (0.1 * price.seconds <= compute.LIVE_SECONDS)
        for _ in range(40):
            q.calibration.record("trajectories", 1.0, 200.0)  # slow runs (the ratio is capped at 200)
        assert not compute.live("trajectories", price)
    finally:
        q.calibration = saved
