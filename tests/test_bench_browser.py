"""The browser benchmark's command line (the benchmark itself drives Chromium for minutes and is not run here)."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_browser as bb  # noqa: E402


def test_only_selects_parts_and_all_is_every_part():
    assert bb.parser().parse_args(["--only", "lecture, live"]).only == {"lecture", "live"}
    assert bb.parser().parse_args(["--only", "all"]).only == set(bb.PARTS)
    assert bb.parser().parse_args([]).only == set(bb.PARTS)


@pytest.mark.parametrize("text", ["lectures", "", "lecture,,nope"])
def test_only_refuses_an_unknown_or_empty_part(text):
    with pytest.raises(argparse.ArgumentTypeError, match="--only"):
        bb.parse_parts(text)


def test_the_report_skips_parts_not_run(capsys):
    runs = [{"lecture_step_1": 0.5, "lecture_step_2": 0.7, "live_round_trip_1": 0.9},
            {"lecture_step_1": 0.4, "lecture_step_2": 1.1, "live_round_trip_1": 1.2}]
    bb.report(runs, {"lecture", "live"}, train_steps=4000)
    out = capsys.readouterr().out
    assert "step 2: 0.70-1.10 s" in out and "0.90-1.20 s" in out
    assert "home_warm" not in out and "watched training" not in out
