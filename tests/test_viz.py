"""Unit tests of the figure builders: frames, moving traces, phase colours, slider steps, size, static layers."""

import json
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from ridgeviz.core.vocabulary import PHASE_COLORS, PHASES
from ridgeviz.views.trajectories import ExplorerResult
from ridgeviz.viz import figures as viz
from ridgeviz.viz.bandwidth import group_marks

MOVING = ["ridge of p_t", "ridge at t* (outcome rule)", "trails", "particles", "outcomes"]
PARTICLES = 3  # index of the phase-coloured particles among a frame's traces (MOVING)


def fake_result(K=200, M=512, F=100, N=13, seed=0) -> ExplorerResult:
    """A synthetic result with the shapes of a real one (random walks, random phase codes, wiggly ridges)."""
    rng = np.random.default_rng(seed)
    times = 10.0 * (1e-4) ** (np.arange(K + 1) / K)
    xs = np.cumsum(rng.normal(scale=0.1, size=(K + 1, M, 2)), axis=0).astype(np.float32)
    labels = rng.integers(0, len(PHASES), size=(K + 1, M)).astype(np.int8)
    per = rng.random((K + 1, M)).astype(np.float32)
    band = np.vstack([per.mean(1), np.quantile(per, [0.1, 0.5, 0.9], axis=1)])
    frames = np.unique(np.linspace(0, K, F).round().astype(int))
    ridges = [[np.c_[np.linspace(-3, 3, 40), np.sin(np.linspace(0, 3, 40) + f)]] for f in range(len(frames))]
    fractions = np.stack([(labels == c).mean(1) for c in range(len(PHASES))], axis=1)
    h = 1 - np.exp(-2 * times)
    return ExplorerResult(times=times, xs=xs, labels=labels, distance=per, error_normal=per, error_tangential=per,
                          bands={"error_normal": band, "error_tangential": band, "distance": band,
                                 "length_normal": band * h, "length_tangential": band * h},
                          quantiles=(0.1, 0.5, 0.9), fractions=fractions, frames=frames, ridges=ridges,
                          data=rng.normal(size=(N, 2)), bounds=(-5.0, 5.0, -5.0, 5.0), axis_labels=("x1", "x2"),
                          rule_text="a rule", tube=0.3, distance_kind="projection", config={}, h=h,
                          outcomes=rng.integers(0, 4, size=M).astype(np.int8),
                          outcome_ridge=[np.c_[np.linspace(-3, 3, 20), np.zeros(20)]],
                          outcome={"t_star": 0.12, "tube": 0.2, "rule": "r", "fractions": {}})


@pytest.fixture(scope="module")
def res():
    return fake_result()


@pytest.fixture(scope="module")
def fig(res):
    return viz.trajectory_figure(res)


def _color_at(scale, value):
    """The colour a Plotly colourscale assigns at ``value`` in [0, 1] (last stop at or below it)."""
    return [c for stop, c in scale if stop <= value + 1e-12][-1]


def test_frame_count_and_slider_steps_match_the_frames(res, fig):
    assert len(fig.frames) == len(res.frames) + 1 == 101  # the phase frames, then the outcome
    steps = fig.layout.sliders[0].steps
    assert len(steps) == len(fig.frames)
    for i, (step, frame) in enumerate(zip(steps, fig.frames)):
        assert list(step.args[0]) == [frame.name] and step.method == "animate"
        assert step.label == (f"{res.times[res.frames[i]]:.3g}" if i < 100 else "end")
    assert fig.layout.updatemenus[0].buttons[0].args[0] is None  # Play
    assert list(fig.layout.updatemenus[0].buttons[1].args[0]) == [None]  # Pause


@pytest.mark.parametrize("cap", [2, 7, 40])
def test_frames_are_capped(res, cap):
    f = viz.trajectory_figure(res, max_frames=cap)
    assert len(f.frames) == cap + 1 == len(f.layout.sliders[0].steps)


def test_every_frame_updates_only_the_same_moving_traces(fig):
    moving = list(fig.frames[0].traces)
    assert [fig.data[i].name for i in moving[:5]] == MOVING and len(moving) == 8  # + 2 time markers, the time
    static = {i for i, tr in enumerate(fig.data) if tr.name == "training points"}
    for frame in fig.frames:
        assert list(frame.traces) == moving and len(frame.data) == len(moving)
        assert not static & set(frame.traces)


def test_particle_positions_and_colours_follow_the_result(res, fig):
    particles = fig.frames[0].traces[PARTICLES]
    scale = fig.data[particles].marker.colorscale
    cmin, cmax = fig.data[particles].marker.cmin, fig.data[particles].marker.cmax
    for f in (0, 37, 99):
        k = res.frames[f]
        tr = fig.frames[f].data[PARTICLES]
        np.testing.assert_array_equal(np.asarray(tr.x, dtype=np.float32), res.xs[k, :, 0])
        np.testing.assert_array_equal(np.asarray(tr.marker.color), res.labels[k])
        colours = [_color_at(scale, (c - cmin) / (cmax - cmin)) for c in np.asarray(tr.marker.color)[:50]]
        assert colours == [PHASE_COLORS[PHASES[c]] for c in res.labels[k, :50]]


def test_phase_legend_entries_carry_the_phase_colours(fig):
    legend = {tr.name: tr.marker.color for tr in fig.data if tr.name in PHASES and tr.mode == "markers"}
    assert legend == PHASE_COLORS


def test_the_last_frame_colours_every_sample_by_its_outcome_over_the_outcome_ridge(res, fig):
    from ridgeviz.core.vocabulary import CATEGORIES, OUTCOME_COLORS

    last = fig.frames[-1]
    outcomes = last.traces[MOVING.index("outcomes")]
    marker = fig.data[outcomes].marker
    np.testing.assert_array_equal(np.asarray(marker.color), res.outcomes)  # the same particles, every one
    colours = [_color_at(marker.colorscale, (c - marker.cmin) / (marker.cmax - marker.cmin)) for c in res.outcomes]
    assert colours == [OUTCOME_COLORS[CATEGORIES[c]] for c in res.outcomes]
    end = last.data[MOVING.index("outcomes")]
    np.testing.assert_array_equal(np.asarray(end.x, dtype=np.float32), res.xs[-1, :, 0])
    assert np.isnan(np.asarray(last.data[PARTICLES].x, dtype=np.float64)).all()  # no phase colour at the end
    np.testing.assert_allclose(np.asarray(last.data[1].x, dtype=np.float64)[:20], res.outcome_ridge[0][:, 0])
    assert np.isnan(np.asarray(fig.frames[0].data[MOVING.index("outcomes")].x, dtype=np.float64)).all()
    legend = {tr.name: tr.marker.color for tr in fig.data if tr.name in CATEGORIES}
    assert legend == OUTCOME_COLORS and not set(legend.values()) & set(PHASE_COLORS.values())


def test_each_frame_writes_its_time_and_the_slider_ticks_carry_it(res, fig):
    stamp = fig.frames[0].traces[-1]
    assert fig.data[stamp].mode == "text"
    for f in (0, 50, 99):
        assert fig.frames[f].data[-1].text[0].startswith(f"t = {res.times[res.frames[f]]:.3g}<br>")
    assert fig.frames[-1].data[-1].text[0].startswith(f"t = {res.times[-1]:.3g} (end)") and "t* = 0.12" in \
        fig.frames[-1].data[-1].text[0]
    slider = fig.layout.sliders[0]
    assert slider.font.color is None or not slider.font.color.endswith(", 0)")  # tick labels drawn, not hidden


def test_a_followed_path_is_drawn_in_the_colours_of_its_phases(res):
    f = viz.trajectory_figure(res, follow=7, max_frames=10)
    for c, name in enumerate(PHASES):
        (trace,) = [tr for tr in f.data if tr.name == f"particle 7: {name}"]
        assert trace.line.color == PHASE_COLORS[name]
        x = np.asarray(trace.x, dtype=np.float64)
        ends = np.flatnonzero(res.labels[1:, 7] == c) + 1  # step k -> k+1 coloured by the label at k+1
        np.testing.assert_allclose(x[1::3], res.xs[ends, 7, 0], rtol=1e-6)
        np.testing.assert_allclose(x[0::3], res.xs[ends - 1, 7, 0], rtol=1e-6)


def test_the_error_curves_are_lengths_on_a_log_axis_and_stay_apart(res, fig):
    from ridgeviz.viz.style import QUANTITY_DASH

    normal = [tr for tr in fig.data if (tr.name or "").startswith("normal error")]
    tangential = [tr for tr in fig.data if (tr.name or "").startswith("tangential error")]
    assert len(normal) == len(tangential) == 1
    np.testing.assert_allclose(normal[0].y, res.bands["length_normal"][0])
    assert normal[0].line.color != tangential[0].line.color
    assert normal[0].line.dash == QUANTITY_DASH["normal"] != tangential[0].line.dash == QUANTITY_DASH["tangential"]
    assert fig.layout.yaxis2.type == "log"


def test_trails_join_the_last_frames_of_each_trailed_particle(res):
    f = viz.trajectory_figure(res, trail=2, trail_points=512)
    fr = 10
    x = np.asarray(f.frames[fr].data[MOVING.index("trails")].x, dtype=np.float64)
    segments = np.append(x, np.nan).reshape(-1, 4)[:, :3]  # 3 positions and a NaN gap per particle
    steps = res.frames[[fr - 2, fr - 1, fr]]
    np.testing.assert_allclose(segments[5], res.xs[steps, 5, 0], rtol=1e-6)


def test_points_are_subsampled_and_a_followed_particle_is_kept(res):
    f = viz.trajectory_figure(res, max_points=100, follow=511, max_frames=5)
    shown = np.asarray(f.data[f.frames[0].traces[PARTICLES]].customdata)
    assert len(shown) <= 101 and 511 in shown
    assert any(tr.name == "particle 511" for tr in f.data)
    ring = f.frames[3].data[-1]  # the followed particle's current position moves with the frames
    assert (ring.x[0], ring.y[0]) == tuple(res.xs[res.frames[viz.subsample(len(res.frames), 5)[3]], 511])


def test_initial_frame_is_the_requested_one(res):
    f = viz.trajectory_figure(res, frame=12, max_frames=20)
    assert f.layout.sliders[0].active == 12
    particles = f.frames[0].traces[PARTICLES]
    np.testing.assert_array_equal(np.asarray(f.data[particles].x), np.asarray(f.frames[12].data[PARTICLES].x))
    assert viz.trajectory_figure(res, frame=-1, max_frames=20).layout.sliders[0].active == 20  # the outcome


def test_figure_json_for_512_particles_and_100_frames_is_under_5_mb(fig):
    size = len(pio.to_json(fig, validate=False))
    assert size < 5e6, size


def test_svg_scatter_only_and_fixed_axis_ranges(fig):
    assert {tr.type for tr in fig.data} == {"scatter"}
    assert tuple(fig.layout.xaxis.range) == (-5.0, 5.0) and tuple(fig.layout.yaxis.range) == (-5.0, 5.0)


def test_group_marks_joins_rules_with_equal_bandwidths():
    marks = {"Scott": (1.5, 0.6), "Silverman": (1.5, 0.6), "CV": (1.2, None)}
    assert group_marks(marks) == [("Scott = Silverman", 1.5, 0.6), ("CV", 1.2, None)]


def test_subsample_keeps_ends_and_requested_indices():
    idx = viz.subsample(1000, 10, keep=(3,))
    assert idx[0] == 0 and idx[-1] == 999 and 3 in idx and len(idx) == 11
    np.testing.assert_array_equal(viz.subsample(5, 10), np.arange(5))


def test_other_builders_accept_their_documented_inputs():
    rng = np.random.default_rng(1)
    t = np.geomspace(1e-3, 10, 20)
    fig = viz.curves_figure(t, {"a": t, "b": 2 * t}, markers={"m": 1.0})
    assert [tr.name for tr in fig.data] == ["a", "b"]
    prof = {"times": t, "normal": t, "tangential": t, "total": t}
    assert len(viz.error_profile_figure(prof).data) == 3
    cloud = viz.cloud_figure(rng.normal(size=(5, 2)), rng.normal(size=(30, 2)), [np.zeros((3, 2))], (-1, 1, -1, 1))
    assert [tr.name for tr in cloud.data] == ["samples", "ridge of p_t", "training points"]


def test_library_modules_do_not_import_streamlit():
    code = ("import sys, ridgeviz, ridgeviz.viz.figures, ridgeviz.views.trajectories, ridgeviz.views.bandwidth; "
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- projector style, static export, the tau cloud ---------------------------------------------------------------
def test_present_enlarges_fonts_markers_and_lines_but_not_the_frames(fig):
    import copy

    from ridgeviz.viz.style import present

    big = present(copy.deepcopy(fig), 2.0)
    assert big.layout.font.size == 2 * (fig.layout.font.size or 12)
    pairs = [(a, b) for a, b in zip(fig.data, big.data) if isinstance(a.marker.size, (int, float))]
    assert pairs and all(b.marker.size == 2 * a.marker.size for a, b in pairs)
    assert json.loads(pio.to_json(big))["frames"] == json.loads(pio.to_json(fig))["frames"]


def test_present_styles_every_page_figure_kind():
    """Bars, histograms and heatmaps have markers without a size (the MNIST page's figures): projector mode
    enlarges their fonts and leaves them whole."""
    from ridgeviz.viz.style import present

    fig = go.Figure([go.Bar(x=[1, 2], y=[3, 4]), go.Histogram(x=[1, 2, 2]), go.Heatmap(z=[[1, 2], [3, 4]]),
                     go.Scatter(x=[0], y=[0], marker=dict(size=5), line=dict(width=2))])
    big = present(fig, 2.0)
    assert big.layout.font.size == 24 and big.data[3].marker.size == 10 and big.data[3].line.width == 4


def test_static_figure_drops_frames_and_controls_and_keeps_the_data(fig):
    from ridgeviz.viz.export import FORMATS, figure_image, static_figure

    still = static_figure(fig)
    assert not still.frames and not still.layout.sliders and not still.layout.updatemenus
    assert len(still.data) == len(fig.data) and len(fig.frames) > 0  # the original is untouched
    end = static_figure(fig, -2)  # an animation's still at a frame: the frame's data on the base traces
    moving = fig.frames[-2].traces[PARTICLES]
    np.testing.assert_allclose(end.data[moving].x, fig.frames[-2].data[PARTICLES].x)
    assert not np.allclose(end.data[moving].x, still.data[moving].x)
    assert FORMATS == ("png", "svg")
    with pytest.raises(ValueError, match="fmt"):
        figure_image(fig, "gif")


def test_static_export_makes_a_png_and_an_svg_when_chromium_is_there(tmp_path):
    from ridgeviz.viz import export

    if export.available():
        pytest.skip(export.available())
    small = viz.curves_figure(np.arange(5), {"a": np.arange(5.0)})
    png = export.figure_image(small, "png", width=400, height=300)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 800  # scale 2
    assert export.figure_image(small, "svg", width=400, height=300).lstrip().startswith(b"<svg")
    paths = export.write_images({tmp_path / "a.png": small, tmp_path / "b.png": small})
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    (svg,) = export.write_images({tmp_path / "c": small}, "svg")  # no suffix: added (kaleido would write nothing)
    assert svg.name == "c.svg" and svg.read_bytes().lstrip().startswith(b"<svg")


def test_tau_cloud_has_one_frame_per_tau_on_its_own_slider():
    from types import SimpleNamespace

    from ridgeviz.viz.random_features import rf_cloud_animation

    rng = np.random.default_rng(2)
    sweep = SimpleNamespace(finals=rng.normal(size=(4, 30, 2)), data=rng.normal(size=(2, 2)),
                            axis_labels=("x1", "x2"), config={"bounds": (-3, 3, -3, 3)})
    cloud = rf_cloud_animation(sweep, ["0.1", "1", "10", "∞"])
    assert len(cloud.frames) == len(cloud.layout.sliders[0].steps) == 4 and cloud.layout.sliders[0].active == 3
    np.testing.assert_allclose(cloud.frames[1].data[0].x, sweep.finals[1][:, 0], rtol=1e-6)
    np.testing.assert_allclose(cloud.data[1].x, sweep.finals[3][:, 0], rtol=1e-6)


def test_panel_titles_never_round_a_share_to_all_or_nothing():
    from ridgeviz.viz.side_by_side import panel_title

    title = panel_title("m", [0.996, 0.002, 0.0, 0.002], ("copy", "new on ridge", "new off ridge", "ridge undefined"))
    assert title == "<b>m</b><br>copies >99% · on ridge <1%<br>off ridge 0% · undefined <1%"  # short names: 1280 px
    assert "copies 100%" in panel_title("m", [1.0, 0.0], ("copy", "new on ridge"))
