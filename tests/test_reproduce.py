"""``reproduce`` at tiny size: the directional claims hold and the report lists files that exist."""

import json
import re
import subprocess
import sys

import pytest

from ridgeviz.reproduce import EXPERIMENTS, reproduce

CORE = ["injection", "reach", "highdim"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    return out, reproduce(CORE, out, mode="tiny", progress=lambda *_: None)


def test_directional_claims_hold(run):
    _, done = run
    for name in CORE:
        assert done[name].checks, name
        for claim, ok in done[name].checks.items():
            assert ok, f"{name}: {claim}"


def test_injection_numbers_are_directional(run):
    _, done = run
    num = done["injection"].numbers
    frac = num["tangential"]["fraction_right"]
    assert frac[2.0] > frac[0.0]
    offs = num["normal"]["mean_abs_offset_in_window"]
    assert offs[2.0] > offs[0.5] > offs[0.0]


def test_report_lists_existing_files(run):
    out, _ = run
    report = (out / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert links, "report has no figure links"
    for link in links:
        assert (out / link).is_file(), link
    for name in CORE:
        payload = json.loads((out / name / "numbers.json").read_text())
        assert set(payload) == {"settings", "numbers", "checks"}


def test_unknown_experiment_and_mode_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        reproduce(["nope"], tmp_path)
    with pytest.raises(ValueError, match="mode"):
        reproduce(CORE, tmp_path, mode="huge")


def test_command_line_lists_experiments():
    res = subprocess.run([sys.executable, "-m", "ridgeviz", "reproduce", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for name in EXPERIMENTS:
        assert name in res.stdout
