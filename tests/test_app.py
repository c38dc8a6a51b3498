"""AppTest: a smoke test generated for every page of the explorer, and interaction tests (no browser needed)."""

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import ridgeviz as rv

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py"))
TIMEOUT = 120


def open_page(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


def assert_clean(at: AppTest):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def widget(at: AppTest, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


def chart_spec(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


# -- every page --------------------------------------------------------------------------------------------------
def test_every_page_file_is_in_the_navigation():
    from ridgeviz.app.nav import PAGES as NAV

    assert sorted(p.file[:-3] for p in NAV) == PAGES
    assert [p.title for p in NAV][0] == "Home"


@pytest.mark.parametrize("page", PAGES)
def test_page_smoke(page):
    """Each page opens on its defaults with a title, no exception and no error box."""
    at = open_page(None if page.startswith("0_") else page)
    assert_clean(at)
    assert at.title and at.title[0].value


# -- home -----------------------------------------------------------------------------------------------------------
def test_home_opens_on_the_side_by_side_view():
    at = open_page()
    assert_clean(at)
    spec = chart_spec(at)
    titles = [a["text"] for a in spec["layout"]["annotations"][:2]]
    assert "exact score" in titles[0] and "copies" in titles[0]
    assert "MLP score network" in titles[1] and "generalising recipe" in titles[1]  # the model's name, not its file
    assert "on ridge" in titles[1] and len(spec["frames"]) >= 50
    assert spec["layout"]["sliders"][0]["active"] == len(spec["frames"]) - 1  # it opens on the outcome
    assert "samples go" in at.title[0].value


def test_home_compares_another_pair_on_run_and_goes_back():
    at = open_page()
    widget(at, "selectbox", "home_dataset").set_value("two-points").run()
    widget(at, "selectbox", "home_right").set_value("rf_two_points_tauinf.safetensors")
    at.button(key="home_run").click().run()
    assert_clean(at)
    assert "random-feature model" in chart_spec(at)["layout"]["annotations"][1]["text"]
    assert "τ = ∞" in chart_spec(at)["layout"]["annotations"][1]["text"]
    at.button(key="home_default").click().run()
    assert "home_cfg" not in at.session_state


def test_projector_mode_enlarges_fonts_on_every_page():
    at = open_page()
    small = chart_spec(at)["layout"].get("font", {}).get("size", 12)
    widget(at, "toggle", "presentation").set_value(True).run()
    assert_clean(at)
    assert chart_spec(at)["layout"]["font"]["size"] > small
    at.switch_page("app_pages/2_Score_model.py").run()
    assert widget(at, "toggle", "presentation").value is True
    assert chart_spec(at)["layout"]["font"]["size"] > 12


def test_sidebar_choice_is_mirrored_in_the_url():
    at = open_page("3_Trajectories")
    widget(at, "selectbox", "sb_name").set_value("two-points").run()
    assert_clean(at)
    assert at.query_params["set"] == "two-points"


def test_link_reopens_the_same_sidebar_state_and_bad_values_are_reported():
    at = open_page(set="square", steps="40", T="oops")  # the link is read on the first page a session opens
    assert any("T=oops" in w.value for w in at.warning)
    at.switch_page("app_pages/3_Trajectories.py").run()
    assert widget(at, "selectbox", "sb_name").value == "square"
    assert widget(at, "number_input", "sb_steps").value == 40


def test_impossible_schedule_gives_a_message_not_a_traceback():
    at = open_page("3_Trajectories")
    widget(at, "number_input", "sb_tmin").set_value(20.0).run()  # t_min > T = 10
    assert not at.exception
    assert any("T must be a finite number in (20" in e.value for e in at.sidebar.error)  # T > t_min = 20


# -- data and bandwidth ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_page():
    return open_page("1_Data_and_bandwidth", set="three-points")


def test_data_page_smoke(data_page):
    assert_clean(data_page)
    notes = [str(m.value)[:300] for m in list(data_page.info) + list(data_page.warning)]
    assert len(data_page.get("plotly_chart")) == 1, notes  # e.g. "does not start by itself" on a slow machine
    assert any("Classical bandwidths" in c.value for c in data_page.caption)


def test_data_page_scrubs_the_bandwidth_in_the_browser_with_100_frames(data_page):
    """The time slider belongs to the figure (client-side frames): no Streamlit widget for t is left."""
    spec = chart_spec(data_page)
    steps = spec["layout"]["sliders"][0]["steps"]
    assert len(spec["frames"]) == len(steps) >= 100
    assert not data_page.select_slider and not data_page.slider
    sched = rv.get_schedule("ou")
    t = float(steps[40]["label"].split()[0])
    title = spec["frames"][40]["layout"]["title"]["text"]
    assert f"√h_t = {np.sqrt(float(sched.h(t))):.3g}" in title


def test_data_page_units_toggle_switches_to_the_diffusion_coordinates(data_page):
    assert chart_spec(data_page)["layout"]["xaxis"]["title"]["text"] == "x1 / α_t"
    widget(data_page, "toggle", "data_units").set_value(False).run()
    assert_clean(data_page)
    assert chart_spec(data_page)["layout"]["xaxis"]["title"]["text"] == "x1"
    widget(data_page, "toggle", "data_units").set_value(True).run()


def test_data_page_persists_across_pages(data_page):
    data_page.switch_page("app_pages/3_Trajectories.py").run()
    data_page.switch_page("app_pages/1_Data_and_bandwidth.py").run()
    assert widget(data_page, "selectbox", "sb_name").value == "three-points"


# -- score model ----------------------------------------------------------------------------------------------------
def test_score_model_opens_on_the_shipped_generalising_mlp():
    at = open_page("2_Score_model")
    assert_clean(at)
    assert widget(at, "radio", "model_kind").value == "checkpoint"
    assert any("shipped generalising MLP" in s.value for s in at.success)
    assert len(at.get("plotly_chart")) == 1  # its error profile
    from ridgeviz.views.trajectories import generalising_config

    assert at.session_state["model_cfg"] == generalising_config()


def test_score_model_smoke_and_injected_error_inputs_set_the_session_model():
    at = open_page("2_Score_model")
    widget(at, "radio", "model_kind").set_value("injected").run()
    assert_clean(at)
    assert len(at.get("plotly_chart")) == 1
    widget(at, "number_input", "model_normal").set_value(1.0).run()
    assert_clean(at)
    cfg = at.session_state["model_cfg"]
    assert (cfg.kind, cfg.normal, cfg.tangential) == ("injected", 1.0, 0.5)
    assert at.query_params["normal"] == "1"


def test_score_model_exact_choice():
    at = open_page("2_Score_model")
    widget(at, "radio", "model_kind").set_value("exact").run()
    assert_clean(at)
    assert at.session_state["model_cfg"].kind == "exact"
    assert any("exact score" in s.value for s in at.success)


# -- trajectories ---------------------------------------------------------------------------------------------------
def test_trajectories_smoke_loads_the_demo_without_computing():
    from ridgeviz.views.trajectories import generalising_config

    at = open_page("3_Trajectories")
    assert_clean(at)
    assert [c.key for c in at.get("plotly_chart")] == ["traj_chart", "traj_laws"]  # the animation, the laws
    assert len(at.dataframe) == 1  # the sensitivity of the phase shares to the thresholds
    assert any("What each phase colour encodes" in m.value and "to a training point" in m.value for m in at.markdown)
    assert any("Where the samples end" in m.value and "new on ridge" in m.value for m in at.markdown)
    res = at.session_state["traj_result"]
    assert res.xs.shape[1] == 512 and at.session_state["traj_key"][-1] == generalising_config()
    # the shipped generalising MLP: many of its samples end new on the ridge, few are copies
    assert res.outcome["fractions"]["new on ridge"] > 0.35 > res.outcome["fractions"]["copy"]


def test_trajectories_live_loop_reruns_a_quick_change_and_waits_for_run_on_a_slow_one():
    at = open_page("3_Trajectories")
    at.button(key="traj_next").click().run()
    assert at.session_state["traj_frame"] == 1
    widget(at, "number_input", "sb_steps").set_value(10).run()  # 512 particles x 10 steps: quick, reruns by itself
    assert_clean(at)
    assert at.session_state["traj_result"].xs.shape[0] == 11 and not at.warning
    widget(at, "number_input", "sb_steps").set_value(400).run()  # 512 x 400: slow, waits for Run
    assert any("settings changed" in w.value for w in at.warning)
    assert at.session_state["traj_result"].xs.shape[0] == 11


def test_trajectories_step_button_and_run_with_small_settings():
    at = open_page("3_Trajectories")
    widget(at, "number_input", "sb_steps").set_value(10).run()
    widget(at, "number_input", "traj_particles").set_value(8)
    widget(at, "number_input", "traj_frames").set_value(4)
    at.button[[b.label for b in at.button].index("Run")].click().run()
    assert_clean(at)
    res = at.session_state["traj_result"]
    assert res.xs.shape == (11, 8, 2) and len(res.frames) == 4


def test_score_model_trains_a_small_mlp_and_makes_it_current():
    pytest.importorskip("ridgeviz.models.training")
    at = open_page("2_Score_model")
    widget(at, "radio", "model_kind").set_value("mlp").run()
    widget(at, "number_input", "mlp_steps").set_value(40)
    widget(at, "number_input", "mlp_hidden").set_value(16)
    at.button[[b.label for b in at.button].index("Train")].click().run()
    assert_clean(at)
    job = at.session_state["mlp_job"]
    job.thread.join(timeout=TIMEOUT)  # training runs in a background thread; the page adopts it on a rerun
    at.run()
    assert_clean(at)
    cfg = at.session_state["model_cfg"]
    assert cfg.kind == "mlp" and cfg.key in at.session_state["model_objects"]
    assert len(at.session_state["mlp_result"]["losses"]) == 40
    assert any("MLP" in s.value for s in at.success)


def test_training_runs_in_the_background_and_cancel_keeps_the_model_so_far():
    at = open_page("2_Score_model")
    widget(at, "radio", "model_kind").set_value("mlp").run()
    widget(at, "number_input", "mlp_steps").set_value(200_000)
    widget(at, "number_input", "mlp_hidden").set_value(16)
    at.button[[b.label for b in at.button].index("Train")].click().run()  # returns while the thread trains
    assert_clean(at)
    job = at.session_state["mlp_job"]
    assert job.thread.is_alive() and at.session_state["model_cfg"].kind != "mlp"
    at.button(key="mlp_cancel").click().run()
    job.thread.join(timeout=TIMEOUT)
    at.run()
    assert_clean(at)
    assert at.session_state["mlp_result"]["status"] == "cancelled"
    assert 0 < len(at.session_state["mlp_result"]["losses"]) < 200_000
    assert at.session_state["model_cfg"].kind == "mlp"
    assert any("cancelled" in w.value for w in at.warning)


# -- random features ------------------------------------------------------------------------------------------------
def test_random_features_page_switches_to_two_points_and_shows_the_sweep():
    at = open_page("4_Random_features")
    assert_clean(at)
    assert any("Run" in i.value for i in at.info)
    at.button(key="rf_use_two_points").click().run()
    assert_clean(at)
    assert widget(at, "selectbox", "sb_name").value == "two-points"
    assert len(at.get("plotly_chart")) == 2
    sweep = at.session_state["rf_result"]
    assert sweep.taus[-1] == float("inf") and sweep.finals.shape[1] == 128


def test_random_features_model_can_become_the_current_model():
    at = open_page("4_Random_features", set="two-points")
    at.button(key="rf_adopt").click().run()
    assert_clean(at)
    cfg = at.session_state["model_cfg"]
    assert cfg.kind == "random-features" and cfg.key in at.session_state["model_objects"]
    at.switch_page("app_pages/3_Trajectories.py").run()
    assert "random-feature model" in at.caption[0].value


# -- robustness -----------------------------------------------------------------------------------------------------
def _guarded_script():
    import streamlit as st

    from ridgeviz.app.state import guard

    class OutOfMemoryError(RuntimeError):  # the name torch.cuda uses
        pass

    with guard("the GPU step"):
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with guard("the input"):
        raise ValueError("particles must be an integer in [1, 4096]; got 0")
    with guard("the bug"):
        raise KeyError("boom")
    st.write("still alive")


def test_guard_turns_errors_into_messages_and_the_page_goes_on():
    at = AppTest.from_function(_guarded_script, default_timeout=TIMEOUT).run()
    assert not at.exception
    messages = [e.value for e in at.error]
    assert "GPU ran out of memory" in messages[0]
    assert messages[1] == "particles must be an integer in [1, 4096]; got 0"
    assert "Unexpected error" in messages[2] and "KeyError" in messages[2]
    assert at.markdown[-1].value == "still alive"


def test_score_model_fits_a_random_feature_model_at_infinite_tau():
    at = open_page("2_Score_model", set="two-points")
    widget(at, "radio", "model_kind").set_value("random-features").run()
    widget(at, "number_input", "rfm_p").set_value(32)
    at.button[[b.label for b in at.button].index("Fit")].click().run()
    assert_clean(at)
    cfg = at.session_state["model_cfg"]
    assert cfg.kind == "random-features"
    assert at.session_state["model_objects"][cfg.key].tau == float("inf")
