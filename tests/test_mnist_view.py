"""The MNIST page's shipped default view: it round-trips, answers only its own question, and is up to date."""

import dataclasses
import io

import numpy as np

from ridgeviz.views import mnist_default as md


def test_shipped_default_view_round_trips_and_was_made_by_this_code():
    run, meta = md.run_from_npz(md.PATH)
    assert run.config == md.DEFAULT_CONFIG
    assert meta["code"] == md.code_fingerprint(md.CODE), "rebuild: python -m ridgeviz assets mnist-view"
    again, _ = md.run_from_npz(io.BytesIO(md.run_to_npz(run, meta["latents"])))
    np.testing.assert_array_equal(again.codes, run.codes)
    np.testing.assert_allclose(again.deviation.residual, run.deviation.residual)
    assert again.stats == run.stats and list(again.galleries) == list(run.galleries)
    assert again.trajectories.xs.shape == run.trajectories.xs.shape
    assert sum(run.stats["final"]["counts"].values()) == run.config.samples


def test_shipped_default_answers_only_the_default_on_the_same_latents():
    _, meta = md.run_from_npz(md.PATH)
    X = np.zeros((3, 32))  # other latents: refused by content
    assert md.shipped_default(X, md.DEFAULT_CONFIG) is None
    other = dataclasses.replace(md.DEFAULT_CONFIG, samples=40)
    assert md.shipped_default(X, other) is None
    assert md.eval_times("ou")[5] == md.DEFAULT_CONFIG.t_eval == 0.1  # where the ridge is defined
