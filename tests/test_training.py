"""MLP score network and its denoising-score-matching training."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import ridgeviz as rv
import ridgeviz.models.training as training
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models.mlp import MLPScore
from ridgeviz.models.training import Cancelled, TrainConfig, dsm_loss, train_mlp
from ridgeviz.utils.device import resolve_device

THIRTEEN = MODE_SETS["thirteen"]
MID_BOUND = 0.2  # relative RMS score error of the default 2-D model at t in [0.05, 1] (DESIGN: "usable")
SHORT = TrainConfig(steps=12, eval_every=5, eval_times=3, probe_size=16, batch_size=32)


@pytest.fixture(scope="module")
def trained(ou):
    """The 2-D default: 13 points, OU schedule, default TrainConfig (about ten seconds on two cores)."""
    return train_mlp(THIRTEEN, ou)


def relative_error(model, dens, t: float, n: int = 2000, seed: int = 7) -> float:
    """``rms|s_theta - grad log p_t| / rms|grad log p_t|`` over fresh samples of ``p_t``."""
    g = torch.Generator().manual_seed(seed)
    s = dens.schedule
    x = s.alpha(t) * dens.data[torch.randint(dens.N, (n,), generator=g)] \
        + s.sigma(t) * torch.randn(n, dens.D, generator=g, dtype=torch.float64)
    exact = dens.score(x, t)
    return float(((model(x, t) - exact) ** 2).sum(1).mean().sqrt() / (exact**2).sum(1).mean().sqrt())


def test_default_model_is_usable_at_mid_times(trained, thirteen):
    assert trained.ok and trained.steps_done == TrainConfig().steps
    losses = trained.losses
    assert losses[-200:].mean() < 0.6 * losses[:50].mean()  # the DSM loss decreases
    mid = (trained.eval_times >= 0.05) & (trained.eval_times <= 1.0)
    assert mid.sum() >= 4 and trained.error_relative[-1][mid].max() < MID_BOUND
    assert trained.error_relative[-1][mid].mean() < trained.error_relative[0][mid].mean()
    for t in (0.05, 0.2, 1.0):  # on fresh samples, not only the probe it was tracked on
        assert relative_error(trained.model, thirteen, t) < MID_BOUND
    # normal and tangential means are consistent with the total: rms >= mean of each part
    assert trained.error_normal.shape == trained.error_tangential.shape == (len(trained.eval_steps), 8)
    assert np.all(trained.error_normal >= 0) and np.all(trained.error_tangential >= 0)


def test_score_contract_and_predictions(ou):
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0.01, 5.0, 7, dtype=torch.float64)
    for prediction in ("epsilon", "x0", "score"):
        model = MLPScore(ou, 2, hidden=16, depth=2, prediction=prediction, data_var=4.0)
        s = model(x, t)
        assert s.dtype == torch.float64 and s.shape == (7, 2)
        assert torch.equal(model(x, 0.3), model(x, torch.full((7,), 0.3)))
        # the raw network output, read by hand
        x32, t32 = x.float(), t.float()
        a, h = ou.alpha(t32), ou.h(t32)
        emb = model.time_embedding(t32)
        out = model.net(torch.cat([x32 / torch.sqrt(a * a * 4.0 + h)[:, None], emb], 1)).detach().double()
        a, h = ou.alpha(t), ou.h(t)
        expected = {"epsilon": -out / h.sqrt()[:, None], "x0": (a[:, None] * out - x) / h[:, None],
                    "score": out}[prediction]
        assert torch.allclose(s, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="prediction"):
        MLPScore(ou, 2, prediction="v")
    with pytest.raises(ValueError, match="x must have shape"):
        MLPScore(ou, 2)(torch.zeros(3, 3), 0.5)


def test_epsilon_loss_with_h_weighting_is_the_usual_one(ou):
    model = MLPScore(ou, 2, hidden=8, depth=1)
    g = torch.Generator().manual_seed(0)
    x0, z = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    t = torch.rand(64, generator=g) * 5 + 0.01
    a, sd = ou.alpha(t), ou.sigma(t)
    eps_hat = -model.score(a[:, None] * x0 + sd[:, None] * z, t) * sd[:, None]
    with torch.no_grad():
        assert float(dsm_loss(model, x0, t, z, "h")) == pytest.approx(float(((eps_hat - z) ** 2).mean()), rel=1e-5)
        assert float(dsm_loss(model, x0, t, z, "1")) == pytest.approx(
            float(((eps_hat - z) ** 2).mean(1).div(ou.h(t)).mean()), rel=1e-5)


def test_config_validation_names_the_field():
    for field, value in (("steps", 0), ("lr", -1.0), ("prediction", "v"), ("weighting", "h3"), ("ema", 1.0),
                         ("device", "tpu"), ("time_features", 5), ("batch_size", 2.5)):
        with pytest.raises(ValueError, match=field):
            TrainConfig(**{field: value})
    with pytest.raises(ValueError, match="ridge_dim"):
        train_mlp(THIRTEEN, rv.get_schedule("ou"), dataclasses.replace(SHORT, ridge_dim=2))
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="device"):
            resolve_device("cuda")


def test_same_seed_same_numbers_and_global_rng_untouched(ou):
    state = torch.random.get_rng_state()
    a = train_mlp(THIRTEEN, ou, SHORT)
    b = train_mlp(THIRTEEN, ou, SHORT)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert np.array_equal(a.losses, b.losses)
    c = train_mlp(THIRTEEN, ou, dataclasses.replace(SHORT, seed=1))
    assert not np.array_equal(a.losses, c.losses)
    assert list(a.eval_steps) == [5, 10, 12] and a.error_relative.shape == (3, 3)


def test_callback_cancels_between_steps(ou):
    seen = []

    def stop_at_4(step, loss, info):
        seen.append((step, loss, set(info)))
        return step < 4

    res = train_mlp(THIRTEEN, ou, SHORT, callback=stop_at_4)
    assert res.status == "cancelled" and res.steps_done == 4 and len(seen) == 4
    assert "error_relative" not in seen[0][2] and res.eval_steps[-1] == 4  # evaluated where it stopped

    def raise_cancel(step, loss, info):
        if step == 6:
            raise Cancelled("user pressed stop")
        return True

    res = train_mlp(THIRTEEN, ou, SHORT, callback=raise_cancel)
    assert res.status == "cancelled" and res.steps_done == 6 and res.message == "user pressed stop"
    assert torch.isfinite(res.model(torch.zeros(2, 2, dtype=torch.float64), 0.5)).all()


def test_nan_loss_stops_with_a_flag_and_finite_weights(ou, monkeypatch):
    real = training.dsm_loss

    def poisoned(model, x0, t, z, weighting="h"):
        loss = real(model, x0, t, z, weighting)
        poisoned.calls += 1
        return loss * math.nan if poisoned.calls >= 8 else loss

    poisoned.calls = 0
    monkeypatch.setattr(training, "dsm_loss", poisoned)
    res = train_mlp(THIRTEEN, ou, SHORT)
    assert res.status == "diverged" and not res.ok and "step 8" in res.message
    assert res.steps_done == 7
    assert all(torch.isfinite(p).all() for p in res.model.parameters())
    with pytest.raises(ValueError, match="loss became nan"):
        res.check()


def test_ema_returns_averaged_weights(ou):
    res = train_mlp(THIRTEEN, ou, dataclasses.replace(SHORT, ema=0.5))
    plain = train_mlp(THIRTEEN, ou, SHORT)
    assert np.array_equal(res.losses, plain.losses)  # EMA does not change the optimisation
    w_ema, w = res.model.net[0].weight, plain.model.net[0].weight
    assert not torch.equal(w_ema, w)


def test_train_command_writes_checkpoint_and_logs(tmp_path):
    import json

    from ridgeviz.cli import main
    from ridgeviz.models.checkpoints import load_model

    assert main(["train", "--steps", "30", "--eval-every", "10", "--out", str(tmp_path), "--quiet"]) == 0
    model = load_model(tmp_path / "mlp_thirteen_ou.safetensors", kind="mlp")
    assert model.config["training"]["steps"] == 30 and model.config["dataset"] == {"kind": "preset", "name": "thirteen"}
    # torch's train/eval flag stays a bool and the training record survives it (it once overwrote .training)
    assert model.train_info["steps"] == 30
    model.train()
    assert model.training is True and model.train_info["steps"] == 30
    model.eval()
    assert model.training is False and model.train_info["status"] == "completed"
    rows = np.loadtxt(tmp_path / "loss.csv", delimiter=",", skiprows=1)
    assert rows.shape == (30, 2) and np.array_equal(rows[:, 0], np.arange(1, 31))
    log = json.loads((tmp_path / "train_log.json").read_text())
    assert log["status"] == "completed" and log["eval_steps"] == [10, 20, 30]
    assert main(["train", "--dataset", "nope", "--out", str(tmp_path)]) == 2  # a clear error, no traceback
