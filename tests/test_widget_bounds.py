"""Every numeric widget of every page takes its bounds from the constraint that validates its config field, so the
two cannot diverge (they had: frames <= 200 against Integer(2, 400), p <= 4096 against 8192, K <= 256 against 512)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ridgeviz.app.fields import BOUND
from ridgeviz.models.factory import ModelConfig
from ridgeviz.models.kinds import config_kinds
from ridgeviz.utils.validation import Integer, Optional
from ridgeviz.views.random_features import RFConfig
from ridgeviz.views.trajectories import TrajectoryConfig

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py"))
BROWSER_INT = 2**53 - 1  # a browser's number input holds integers exactly up to here
# numeric widgets that set no config field of this change, and why
UNBOUND = {
    "traj_frame": "a frame of the result shown (bounded by the result)",
    "traj_follow": "a particle of the result shown (bounded by the result)",
    "data_dim": "the Data and bandwidth page's ridge dimension (bounded by the data's D; no config)",
    **dict.fromkeys(("sb_n", "sb_seed", "sb_dim", "sb_off", "sb_radius", "sb_T", "sb_tmin", "sb_steps"),
                    "the shared sidebar (app/sidebar.py), not part of this change"),
    **dict.fromkeys(("mlp_hidden", "mlp_depth", "mlp_steps", "mlp_batch", "mlp_lr", "mlp_ema", "mlp_seed"),
                    "the MLP form of app/training.py, not part of this change"),
}


def _pages():
    """Every page as a visitor opens it, and the Score model page once per model kind (each has its own panel)."""
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        if not page.startswith("0_"):
            at.switch_page(f"app_pages/{page}.py").run()
        yield page, at
        if page == "2_Score_model":
            for kind in config_kinds():
                next(w for w in at.radio if w.key == "model_kind").set_value(kind).run()
                yield f"{page} ({kind})", at


def _expected(cls, name, hi, none):
    c = cls.CONSTRAINTS[name]
    c = c.inner if isinstance(c, Optional) else c
    lo, top = (none if none is not None else c.lo), c.hi
    if isinstance(c, Integer) and top is not None:
        top = min(top, BROWSER_INT)
    if hi is not None:
        top = hi if top is None else min(top, hi)
    return lo, top


@pytest.fixture(scope="module")
def widgets():
    seen = {}
    for page, at in _pages():
        assert not at.exception and not at.error, (page, [e.value for e in (*at.exception, *at.error)])
        for w in at.number_input:
            seen[w.key] = (page, w.min, w.max)
        for w in at.slider:
            assert not isinstance(w.value, (int, float)), f"{page}: numeric slider {w.key}: bind it to a config"
    return seen


def test_every_numeric_widget_is_bound_to_its_config_field(widgets):
    loose = {k: page for k, (page, _, _) in widgets.items() if k not in BOUND and k not in UNBOUND}
    assert not loose, f"numeric widgets not bound to a config field (use ridgeviz.app.fields.field_input): {loose}"


def test_widget_bounds_equal_the_constraint_bounds(widgets):
    checked = 0
    for key, (page, lo, hi) in widgets.items():
        if key in BOUND:
            cls, name, data_hi, none = BOUND[key]
            want = _expected(cls, name, data_hi, none)
            assert (lo, hi) == want, f"{page}: {key} has bounds {(lo, hi)}; {cls.__name__}.{name} accepts {want}"
            checked += 1
    assert checked >= 20  # the Trajectories, Random features, Score model, home and MNIST forms


def test_the_bounds_that_had_diverged(widgets):
    assert widgets["traj_frames"][2] == TrajectoryConfig.CONSTRAINTS["frames"].hi == 400
    assert widgets["rf_p"][2] == widgets["rfm_p"][2] == RFConfig.CONSTRAINTS["features"].hi == 8192
    assert widgets["rf_K"][2] == widgets["rfm_K"][2] == RFConfig.CONSTRAINTS["time_features"].hi == 512
    assert widgets["model_normal"][1:] == (ModelConfig.CONSTRAINTS["normal"].lo, ModelConfig.CONSTRAINTS["normal"].hi)
