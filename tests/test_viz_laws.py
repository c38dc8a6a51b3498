"""The laws figure, the sensitivity table rows and the colour key (ridgeviz.viz.laws)."""

import numpy as np

from ridgeviz.core.vocabulary import PHASE_COLORS, PHASE_MEANINGS, PHASES
from ridgeviz.viz.laws import law_figure, phase_key_markdown, sensitivity_rows


def _r2(law, without, baseline, ceiling=1.0):
    entry = lambda v: {"pooled": v + 0.01, "median": v, "q25": v - 0.1, "q75": v + 0.1, "samples": 9}  # noqa: E731
    return {"law": entry(law), "without error": entry(without), "baseline": entry(baseline),
            "noise ceiling": entry(ceiling)}


def test_law_figure_has_an_identity_line_one_point_per_sample_time_and_r2_in_the_titles():
    rng = np.random.default_rng(0)
    t = np.geomspace(1.0, 1e-3, 50).repeat(4)
    laws = {"t": t, "normal_predicted": rng.random(200), "normal_measured": rng.random(200),
            "tangential_predicted": rng.random(200), "tangential_measured": rng.random(200) - 0.5}
    agreement = {"normal": _r2(0.97, -1.31, 0.23), "tangential": _r2(0.88, -8.5, 0.76, ceiling=0.4),
                 "error_share": 0.87}
    fig = law_figure(laws, agreement, title="ring, ODE")
    lines = [tr for tr in fig.data if tr.mode == "lines"]
    points = [tr for tr in fig.data if tr.mode == "markers"]
    assert len(lines) == 2 and len(points) == 2
    for line, tr in zip(lines, points):
        assert list(line.x) == list(line.y)  # the identity
        assert line.x[0] <= min(tr.x.min(), tr.y.min()) + 1e-6 and line.x[1] >= max(tr.x.max(), tr.y.max()) - 1e-6
    for tr, key in zip(points, ("normal", "tangential")):
        np.testing.assert_allclose(tr.x, laws[f"{key}_predicted"], rtol=1e-6)
        np.testing.assert_allclose(tr.y, laws[f"{key}_measured"], rtol=1e-6)
        np.testing.assert_allclose(tr.marker.color, np.log10(t))
    normal, tangential = (a.text for a in fig.layout.annotations[:2])
    assert "Align law" in normal and "Slide law" in tangential
    for text, values in ((normal, ("0.97", "-1.31", "0.23", "0.98")), (tangential, ("0.88", "-8.50", "0.76"))):
        assert "R\u00b2 per sample (median)" in text and "pooled" in text
        assert all(v in text for v in values), (text, values)
    assert "noise ceiling 0.41" in tangential and "noise ceiling" not in normal  # the SDE's ceiling, when below 1
    assert "87%" in tangential and "ratio" not in normal + tangential
    assert fig.layout.title.text == "ring, ODE"


def test_law_figure_draws_without_results():
    fig = law_figure({})
    assert len(fig.data) == 4 and "not computed" in fig.layout.annotations[0].text
    partial = law_figure({}, {"normal": {"law": {"median": float("nan"), "pooled": None}}})
    assert "law n/a" in partial.layout.annotations[0].text


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
