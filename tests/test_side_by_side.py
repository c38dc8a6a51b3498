"""Side by side: same noise for both models, the outcome split (core.outcomes), the home view (its shipped file:
test_shipped.py)."""

import dataclasses
import io
import json
from pathlib import Path

import browser_util as bu
import numpy as np
import plotly.io as pio
import pytest

from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.views import side_by_side as sbs
from ridgeviz.viz.side_by_side import side_by_side_figure

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(particles=48, steps=40, frames=8)


@pytest.fixture(scope="module")
def exact_pair():
    return sbs.run_side_by_side(sbs.SideBySideConfig("thirteen", sbs.EXACT, sbs.EXACT, **SMALL))


def test_both_panels_see_the_same_noise(exact_pair):
    np.testing.assert_array_equal(exact_pair.xs[0], exact_pair.xs[1])  # same model, same x_T and noise
    other = sbs.run_side_by_side(sbs.SideBySideConfig("thirteen", sbs.EXACT, sbs.EXACT, seed=1, **SMALL))
    assert np.abs(other.xs[0, -1].astype(float) - exact_pair.xs[0, -1]).max() > 0.1  # control: another seed


def test_exact_score_copies_its_training_points(exact_pair):
    assert exact_pair.fractions[0, 0] >= 0.9
    np.testing.assert_allclose(exact_pair.fractions.sum(1), 1.0)


def test_random_feature_model_puts_new_samples_between_the_two_points():
    res = sbs.run_side_by_side(sbs.SideBySideConfig("two-points", sbs.EXACT, "rf_two_points_tau10.safetensors",
                                                    **SMALL))
    assert res.fractions[0, 0] >= 0.9 and res.fractions[1, 0] <= 0.1 and res.fractions[1, 1] >= 0.5


def test_the_view_uses_the_one_outcome_rule(exact_pair):
    """The home page's counts come from core.outcomes, the rule of reproduce's generalisation table."""
    import ridgeviz as rv
    from ridgeviz.core import outcomes

    assert sbs.CATEGORIES == outcomes.CATEGORIES
    X = MODE_SETS["thirteen"]
    dens = rv.SmoothedEmpirical(X, rv.get_schedule("ou"))
    rule = outcomes.OutcomeRule.for_data(X, dens.schedule)
    codes = outcomes.classify_samples(dens, exact_pair.xs[0, -1].astype(np.float64), rule)
    agree = np.mean(codes == exact_pair.category[0])  # float16 storage may move a sample across a boundary
    assert agree >= 0.97
    assert exact_pair.tube == pytest.approx(rule.tube / float(dens.schedule.alpha(rule.t_ridge)))


def test_result_round_trips_through_npz(exact_pair):
    back = sbs.SideBySide.from_npz(io.BytesIO(exact_pair.to_npz_bytes()))
    np.testing.assert_array_equal(back.xs, exact_pair.xs)
    np.testing.assert_array_equal(back.category, exact_pair.category)
    assert len(back.ridges) == len(exact_pair.ridges) and back.names == exact_pair.names
    for a, b in zip(back.ridges, exact_pair.ridges):
        assert len(a) == len(b) and all(np.allclose(u, v, atol=1e-5) for u, v in zip(a, b))


def test_config_refuses_unknown_models_and_datasets():
    with pytest.raises(ValueError, match="right"):
        sbs.SideBySideConfig(right="../secrets.safetensors")
    with pytest.raises(ValueError, match="dataset"):
        sbs.SideBySideConfig(dataset="nope")
    with pytest.raises(ValueError, match="right: rf_two_points_tau10.safetensors was not trained on"):
        sbs.SideBySideConfig("thirteen", sbs.EXACT, "rf_two_points_tau10.safetensors")
    assert "thirteen" in sbs.shipped_pairs() and "two-points" in sbs.shipped_pairs()


def test_figure_moves_positions_only_and_keeps_final_colours(exact_pair):
    fig = side_by_side_figure(exact_pair, sbs.CATEGORIES, max_points=20)
    assert len(fig.frames) == len(fig.layout.sliders[0].steps) == len(exact_pair.times)
    moved = {tuple(f.traces) for f in fig.frames}
    assert len(moved) == 1
    spec = json.loads(pio.to_json(fig, validate=False))
    for frame in spec["frames"]:
        assert all("marker" not in d for d in frame["data"])  # colours are the base traces' (final category)
    particles = [t for t in fig.data if t.mode == "markers" and t.name in exact_pair.names]
    assert len(particles) == 2 and len(particles[0].marker.color) == 20
    assert "copies" in fig.layout.annotations[0].text


def test_home_page_path_loads_no_torch():
    assert not bu.page_imports_torch("app.py")


def test_home_constant_is_the_single_switch():
    assert dataclasses.replace(sbs.HOME) == sbs.HOME and sbs.HOME.left == sbs.EXACT
