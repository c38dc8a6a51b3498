"""Seeded golden numbers for three full loops on the CPU: a refactor that changes results fails here.

In the style of diffusers' full-loop tests: each loop runs end to end with fixed seeds and small sizes, and a few
summary numbers are compared with the values recorded when they were last checked by hand. When a change is meant
to alter results, look at why, then record the new numbers with ``python tests/test_golden.py`` and paste them below.

The numbers were recorded on one machine; another CPU family rounds BLAS and torch kernels in another order, so the
tolerances are set from what such changes do (measured here under MKL's AVX2 and generic code paths and torch's
generic kernels, ``tests/test_portable.py``), with room to spare, and far below what a change of method does:

- the pipeline (float64; the sampler with fixed noise and the decomposition do not amplify rounding): at most
  4.4e-16 relative, held to 1e-8; its label counts are integers that change only if a statistic sits within
  rounding of a threshold, so they are compared exactly;
- the trained MLP (float32, 150 AdamW steps): at most 1.8e-7 absolute on scores and losses of order 1, held to
  ``1e-5 * |value| + 1e-6``;
- the random-feature sweep (float64, through a pseudo-inverse that keeps eigenvalues down to 1e-6 of the largest
  and so amplifies rounding): at most 1.3e-6 relative, held to 2e-5; the inter-mode masses are shares of 32
  samples, compared exactly.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
from ridgeviz.core.schedules import ScheduleConfig
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models.factory import ModelConfig
from ridgeviz.views.random_features import RFConfig, rf_tau_sweep
from ridgeviz.views.trajectories import TrajectoryConfig, run_trajectories

GOLDEN = {
    "pipeline": {
        "final_mean": [
            0.1337421671487391,
            1.8722592850681394
        ],
        "final_std": [
            2.5713358638356967,
            1.8135815459167042
        ],
        "label_counts": [
            296,
            3,
            71,
            35,
            2340,
            1159
        ],
        "error_normal_mean": 0.5000000000000001,
        "distance_mean": 0.7138562798500061,
        "defined": 1142
    },
    "training": {
        "loss_first": 1.1292059421539307,
        "loss_last": 0.6738952994346619,
        "loss_mean": 0.8160582145055135,
        "score": [
            [
                0.10319989919662476,
                0.5854297280311584
            ],
            [
                -0.5182129144668579,
                -0.43126338720321655
            ],
            [
                1.2954392433166504,
                0.0012610380072146654
            ]
        ]
    },
    "sweep": {
        "taus": [
            1.0,
            math.inf
        ],
        "bias_normal": [
            1.1457113789161333,
            3.286439410878287
        ],
        "bias_tangential": [
            2.9041799441790603,
            6.0388632104703275
        ],
        "opt_normal": [
            1.2352751186653839,
            0.0
        ],
        "opt_tangential": [
            1.7917287804070343,
            0.0
        ],
        "inter_mode": [
            0.5,
            0.875
        ]
    }
}


def pipeline() -> dict:
    """The Trajectories pipeline (sample, decompose, label, trace) on the 13 points with injected error."""
    res = run_trajectories(MODE_SETS["thirteen"], ScheduleConfig(steps=60),
                           TrajectoryConfig(particles=64, frames=8, ridge_grid=8),
                           model_cfg=ModelConfig("injected", 1, 0.5, 0.5))
    final = res.xs[-1].astype(np.float64)
    ok = np.isfinite(res.distance)
    return {"final_mean": final.mean(0).tolist(), "final_std": final.std(0).tolist(),
            "label_counts": np.bincount(res.labels.ravel(), minlength=len(rv.PHASES)).tolist(),
            "error_normal_mean": float(np.nanmean(res.bands["error_normal"][0])),
            "distance_mean": float(res.distance[ok].mean()), "defined": int(ok.sum())}


def training() -> dict:
    """Denoising score matching of a small MLP, and its score at three fixed points."""
    cfg = rv.TrainConfig(steps=150, hidden=32, depth=2, batch_size=64, seed=3, eval_every=150, device="cpu")
    res = rv.train_mlp(MODE_SETS["thirteen"], rv.get_schedule("ou"), cfg)
    x = torch.tensor([[0.5, -1.0], [2.0, 1.5], [-3.0, 0.25]], dtype=torch.float64)
    s = res.model(x, torch.tensor([0.05, 0.3, 1.0], dtype=torch.float64))
    return {"loss_first": float(res.losses[0]), "loss_last": float(res.losses[-1]),
            "loss_mean": float(np.mean(res.losses)), "score": s.numpy().tolist()}


def sweep() -> dict:
    """The random-feature tau sweep (moments, gradient flow, sampling, bias/optimisation split) on 3+1 points."""
    cfg = RFConfig(features=64, time_features=4, particles=32, steps=30, taus=(1.0, math.inf))
    table = rf_tau_sweep(MODE_SETS["triangle-side"], ScheduleConfig(), cfg).table()
    return {k: np.asarray(v, dtype=float).tolist() for k, v in table.items()}


def test_default_pipeline_golden_numbers():
    got, want = pipeline(), GOLDEN["pipeline"]
    for key in ("final_mean", "final_std", "error_normal_mean", "distance_mean"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-8, err_msg=key)
    assert got["label_counts"] == want["label_counts"] and got["defined"] == want["defined"]


def test_trained_model_golden_numbers():
    got, want = training(), GOLDEN["training"]
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_random_feature_sweep_golden_numbers():
    got, want = sweep(), GOLDEN["sweep"]
    for key in want:
        if key in ("taus", "inter_mode"):
            assert got[key] == want[key], key
        else:
            np.testing.assert_allclose(got[key], want[key], rtol=2e-5, atol=1e-12, err_msg=key)


if __name__ == "__main__":  # record new numbers (after checking why they changed)
    torch.set_num_threads(1)
    print(json.dumps({"pipeline": pipeline(), "training": training(), "sweep": sweep()}, indent=1))
