"""The guided lecture: its file, its figures and its page (AppTest; the real browser is in test_projector.py)."""

import json
from pathlib import Path

import browser_util as bu
import numpy as np
import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

from ridgeviz.core.vocabulary import CATEGORIES, OUTCOME_COLORS, PHASE_COLORS, PHASES
from ridgeviz.views import lecture as lv
from ridgeviz.viz.lecture import FIGURES, lecture_figure

ROOT = Path(__file__).resolve().parents[1]
PAGE = "app_pages/1_Lecture.py"
TINY = lv.LectureConfig(steps=30, particles=24, frames=6, ridge_frames=4, grid=12, followers=24, rf_features=32,
                        rf_time_features=4, rf_particles=16, rf_steps=20, taus=(0.1, 10.0, 1000.0))


@pytest.fixture(scope="module")
def shipped():
    return lv.Lecture.from_npz(lv.PATH)


@pytest.fixture(scope="module")
def tiny():
    from ridgeviz.views.lecture_build import build_lecture

    return build_lecture(TINY)


# -- the file ----------------------------------------------------------------------------------------------------
def test_the_file_round_trips_and_is_identified_by_what_made_it(tiny):
    back = lv.Lecture.from_npz(tiny.to_npz_bytes())
    assert set(back.arrays) == set(tiny.arrays) and set(back.polylines) == set(tiny.polylines)
    for name, a in tiny.arrays.items():
        np.testing.assert_array_equal(back[name], a)
    assert back.meta["config"]["settings"] == json.loads(json.dumps(back.meta["config"]["settings"]))
    assert lv.made_from(TINY) == {k: back.meta["config"][k] for k in ("settings", "inputs", "code")}
    assert lv.made_from(TINY) != lv.made_from(lv.LECTURE)


def test_outcome_fractions_are_the_shares_of_the_codes(tiny):
    for key in ("exact", "learned"):
        codes = tiny[f"{key}_codes"]
        np.testing.assert_allclose(tiny[f"{key}_fractions"], np.bincount(codes, minlength=4) / len(codes), atol=1e-12)
    assert tiny["learned_null"].sum() == pytest.approx(1.0)


def test_steps_three_four_and_six_start_from_the_same_noise(tiny):
    """The exact and learned runs share x_T (their first frame); the three error runs coincide until the error is
    switched on (their first frame is at that time)."""
    np.testing.assert_array_equal(tiny["exact_xs"][0], tiny["learned_xs"][0])
    xs = tiny["errors_xs"]
    np.testing.assert_array_equal(xs[0, 0], xs[1, 0])
    np.testing.assert_array_equal(xs[0, 0], xs[2, 0])
    assert tiny["errors_times"][0] <= TINY.error_on and not np.array_equal(xs[0, -1], xs[2, -1])


def test_the_followed_sample_reaches_aligns_and_moves_on(tiny):
    from ridgeviz.core.phases import AFTER_ALIGN, ALIGN, REACH

    labels = tiny["phases_labels"]
    first = {c: int(np.argmax(labels == c)) for c in (REACH, ALIGN)}
    assert (labels == REACH).any() and (labels == ALIGN).any() and first[REACH] < first[ALIGN]
    assert np.isin(labels[first[ALIGN]:], AFTER_ALIGN).any()


def test_the_optimisation_error_decays_with_tau_and_the_bias_does_not_depend_on_it(tiny):
    """Gradient flow shrinks every eigencomponent of W(tau) - W(inf) (exp(-2 tau U)), so at fixed points the
    optimisation error cannot grow with tau; the bias is measured at the same points for every tau."""
    for part in ("normal", "tangential"):
        opt = tiny[f"rf_opt_{part}"]
        assert np.all(np.diff(opt) <= 1e-9 * opt[0]) and opt[-1] < opt[0]
        np.testing.assert_allclose(tiny[f"rf_bias_{part}"], tiny[f"rf_bias_{part}"][0], rtol=1e-12)


def test_config_refuses_what_it_cannot_make():
    for bad in (dict(dataset="two-points"), dict(error=0.0), dict(error=5.0), dict(error_sampler="rk4"),
                dict(particles=1)):
        with pytest.raises(ValueError):
            lv.LectureConfig(**bad)


@pytest.mark.parametrize("raw, want", [("3", 3), (" 7 ", 7), ("0", 1), ("99", 7), ("-2", 1), ("abc", 1), (None, 1)])
def test_step_in_the_link_is_clamped(raw, want):
    assert lv.step_index(raw) == want


# -- the figures -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(FIGURES))
def test_every_step_has_one_figure_with_a_caption(shipped, key):
    fig = lecture_figure(shipped, key)
    spec = json.loads(pio.to_json(fig, validate=False))
    if spec.get("frames"):
        assert len(spec["frames"]) == len(spec["layout"]["sliders"][0]["steps"])
    text = lv.caption(shipped, key)
    assert text.endswith(".") and text.count(". ") == 0  # one sentence
    projected = lecture_figure(shipped, key, projector=True)
    assert projected.layout.height == fig.layout.height and projected.layout.font.size > fig.layout.font.size


def test_outcomes_and_phases_are_drawn_in_the_vocabulary_colours(shipped):
    learned = lecture_figure(shipped, "learned")
    assert {t.name: t.marker.color for t in learned.data if t.name in CATEGORIES} == OUTCOME_COLORS
    assert any("t*" in (t.name or "") and t.line.dash == "dash" for t in learned.data)  # the ridge it is judged on
    phases = lecture_figure(shipped, "phases")
    drawn = {t.name: t.line.color for t in phases.data if t.name in PHASES}
    assert drawn and all(PHASE_COLORS[name] == color for name, color in drawn.items())
    assert set(PHASE_COLORS.values()).isdisjoint(OUTCOME_COLORS.values())


def test_the_learned_step_opens_on_its_last_frame_and_plays_from_the_start(shipped):
    fig = lecture_figure(shipped, "learned")
    slider = fig.layout.sliders[0]
    assert slider.active == len(slider.steps) - 1
    np.testing.assert_allclose(fig.data[-1].x, shipped["learned_xs"][-1, :, 0].astype(np.float32))


# -- the page ----------------------------------------------------------------------------------------------------
def open_lecture(step=None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if step is not None:
        at.query_params["step"] = str(step)
    at.run()
    at.switch_page(PAGE)
    return at.run()


@pytest.mark.parametrize("step", range(1, len(lv.STEPS) + 1))
def test_every_step_renders_from_its_link(step):
    at = open_lecture(step)
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.title[0].value.startswith(f"{step} / {len(lv.STEPS)}")
    assert len(at.get("plotly_chart")) == 1 and at.query_params["step"] == str(step)
    assert not [b for b in at.button if b.label == "Run"]


def test_next_and_previous_move_and_write_the_step_into_the_link():
    at = open_lecture()
    assert at.title[0].value.startswith("1 /") and at.button(key="lecture_prev").disabled
    at.button(key="lecture_next").click().run()
    at.button(key="lecture_next").click().run()
    assert at.title[0].value.startswith("3 /") and at.query_params["step"] == "3"
    at.button(key="lecture_prev").click().run()
    assert at.title[0].value.startswith("2 /") and at.query_params["step"] == "2"
    at = open_lecture(len(lv.STEPS))
    assert at.button(key="lecture_next").disabled


def test_the_go_deeper_link_carries_data_schedule_and_model():
    from urllib.parse import parse_qs, urlparse

    from ridgeviz.app.links import page_url

    url = page_url("Trajectories", {"kind": "preset", "set": "thirteen", "model": "checkpoint",
                                    "file": lv.MODEL_FILE}, projector=True)
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.path == "Trajectories" and query["file"] == [lv.MODEL_FILE] and query["projector"] == ["1"]
    assert page_url("Lecture", {}) == "Lecture"


def test_a_shipped_checkpoint_in_the_link_becomes_the_session_model():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update({"model": "checkpoint", "file": lv.MODEL_FILE})
    at.run()
    at.switch_page("app_pages/3_Trajectories.py").run()
    assert not at.exception and not at.error
    assert at.session_state["model_cfg"].kind == "checkpoint" and at.session_state["model_label"] == lv.MODEL_FILE
    assert type(at.session_state["model_objects"][at.session_state["model_cfg"].key]).__name__ == "MLPScore"


def test_the_lecture_page_loads_no_torch():
    assert not bu.page_imports_torch(PAGE, {"step": "6"})


def test_steps_name_existing_pages():
    from ridgeviz.app.nav import PAGES

    assert {s.page for s in lv.STEPS} <= {p.url_path for p in PAGES}
    assert [p.title for p in PAGES][:2] == ["Home", "Lecture"]
