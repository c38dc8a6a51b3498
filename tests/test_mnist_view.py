"""The MNIST page's shipped default view round-trips (that it answers the default request: test_shipped.py)."""

import io

import numpy as np

from ridgeviz.views import mnist_default as md


def test_shipped_default_view_round_trips():
    run, meta = md.run_from_npz(md.PATH)
    assert run.config == md.DEFAULT_CONFIG
    again, again_meta = md.run_from_npz(io.BytesIO(md.run_to_npz(run, meta["made_from"])))
    assert again_meta["made_from"] == meta["made_from"]
    np.testing.assert_array_equal(again.codes, run.codes)
    np.testing.assert_allclose(again.deviation.residual, run.deviation.residual)
    assert again.stats == run.stats and list(again.galleries) == list(run.galleries)
    assert again.trajectories.xs.shape == run.trajectories.xs.shape
    assert sum(run.stats["final"]["counts"].values()) == run.config.samples
    assert md.eval_times("ou")[5] == md.DEFAULT_CONFIG.t_eval == 0.1  # where the ridge is defined
