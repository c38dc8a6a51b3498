"""The laws figure, the sensitivity table rows and the colour key (ridgeviz.viz.laws)."""

import numpy as np

from ridgeviz.core.vocabulary import PHASE_COLORS, PHASE_MEANINGS, PHASES
from ridgeviz.viz.laws import law_figure, phase_key_markdown, sensitivity_rows


def test_law_figure_has_an_identity_line_and_one_point_per_sample_time():
    rng = np.random.default_rng(0)
    t = np.geomspace(1.0, 1e-3, 50).repeat(4)
    laws = {"t": t, "normal_predicted": rng.random(200), "normal_measured": rng.random(200),
            "tangential_predicted": rng.random(200), "tangential_measured": rng.random(200) - 0.5}
    fig = law_figure(laws, {"normal_rms_ratio": 0.97, "tangential_mean_ratio": float("nan")})
    lines = [tr for tr in fig.data if tr.mode == "lines"]
    points = [tr for tr in fig.data if tr.mode == "markers"]
    assert len(lines) == 2 and len(points) == 2
    for line in lines:
        assert list(line.x) == list(line.y)  # the identity
    assert points[1].y.min() >= lines[1].x[0] - 1e-6  # the identity spans the measured range
    for tr, key in zip(points, ("normal", "tangential")):
        np.testing.assert_allclose(tr.x, laws[f"{key}_predicted"], rtol=1e-6)
        np.testing.assert_allclose(tr.marker.color, np.log10(t))
    titles = [a.text for a in fig.layout.annotations]
    assert "0.97" in titles[0] and "n/a" in titles[1]
    assert len(law_figure({}).data) == 4  # an empty result still draws


def test_sensitivity_rows_are_percentages_with_readable_names():
    table = {"threshold": ["default", "slide_ratio"], "factor": [1.0, 2.0], "value": [None, 2.0]}
    table.update({p: [0.2, 0.1] if p != "no ridge" else [0.2, 0.6] for p in PHASES})
    rows = sensitivity_rows(table)
    assert rows[0]["threshold"] == "the rule as set" and rows[0]["scaled by"] == "-" and rows[0]["value"] == "-"
    assert rows[1]["scaled by"] == "x 2" and rows[1]["slide"] == "10.0%" and rows[1]["no ridge"] == "60.0%"


def test_colour_key_names_every_phase_with_its_colour_and_meaning():
    text = phase_key_markdown()
    for p in PHASES:
        assert PHASE_COLORS[p] in text and PHASE_MEANINGS[p] in text
    assert len(set(PHASE_COLORS.values())) == len(PHASES)
