"""The GPU scripts run on the CPU (``--device cpu --tiny``), so they cannot rot while no device is lent: each
prints its JSON report, every device difference it measures is finite, and the CPU-only run compares nothing it
cannot (no speed-up, no CUDA entries)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, tmp_path: Path) -> dict:
    out = tmp_path / f"{script}.json"
    flag = "--out" if script == "gpu_check" else "--json"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), "--device", "cpu", "--tiny",
                          flag, str(out), *args], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(out.read_text())


def _finite_numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _finite_numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_gpu_check_runs_on_the_cpu(tmp_path):
    report = _run("gpu_check", tmp_path=tmp_path)
    assert report["device"] == "cpu" and report["tiny"] and report["rf_p"] == 32
    assert set(report["mlp"]) == {"cpu"} and report["mlp"]["cpu"]["status"] == "completed"
    assert report["random_features"]["cpu"]["nodes"] > 0 and report["vae"]["cpu"]["final_loss"] > 0
    assert all(math.isfinite(v) for v in _finite_numbers(report))


def test_gpu_core_runs_on_the_cpu(tmp_path):
    report = _run("gpu_core", tmp_path=tmp_path)
    assert report["device"] == "cpu" and report["M"] == 40
    checks = report["checks"]
    assert {"frame_t0.05", "frame_t0.5", "frame_t0.05_float32", "scms_2d"} <= set(checks)
    assert not any("tf32" in k for k in checks)  # TF32 exists only on CUDA
    # the CPU compared with itself in float64: identical; float32 against float64: small but not zero
    assert checks["frame_t0.5"]["score_rel_diff"] == 0.0 and checks["scms_2d"]["points_max_abs_diff"] == 0.0
    assert 0 < checks["frame_t0.5_float32"]["score_rel_diff"] < 1e-3
    assert all(math.isfinite(v) for v in _finite_numbers(report))
