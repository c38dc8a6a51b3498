"""Checkpoints: damaged, foreign, mis-shaped and pickle files are refused (round trips: test_model_kinds.py)."""

from __future__ import annotations

import io
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS, dataset_fingerprint
from ridgeviz.models.checkpoints import check_shapes, load_checkpoint, load_model, save_checkpoint, save_model
from ridgeviz.models.kinds import trained_kinds
from ridgeviz.models.mlp import MLPScore
from ridgeviz.models.random_features import RandomFeatureModel, fit_random_features
from ridgeviz.models.rf_moments import Quadrature

ASSETS = Path(__file__).resolve().parents[1] / "assets"
X = torch.randn(9, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
T = torch.linspace(0.01, 5.0, 9, dtype=torch.float64)
QUICK = Quadrature(panels_per_period=0.5, radial_nodes=3, directions=3)


def models(ou):
    dens = rv.SmoothedEmpirical(MODE_SETS["thirteen"], ou)
    mlp = MLPScore(ou, 2, hidden=16, depth=2, data_var=3.0, generator=torch.Generator().manual_seed(1))
    rf = RandomFeatureModel(2, 24, 3, ou.T, generator=torch.Generator().manual_seed(2))
    two = MODE_SETS["two-points"]
    return {"exact": rv.ExactScore(dens),
            "injected": rv.InjectedErrorScore(dens, 1, normal=0.3, tangential=-0.7),
            "mlp": mlp,
            "rf-finite": fit_random_features(rf, two, ou, 3.0, quadrature=QUICK),
            "rf-inf": fit_random_features(rf, two, ou, math.inf, quadrature=QUICK)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, ou):
    folder = tmp_path_factory.mktemp("ckpt")
    return {name: (m, save_model(folder / f"{name}.safetensors", m, {"note": name})) for name, m in models(ou).items()}


def test_random_features_keep_their_training_time_and_data(saved):
    """The round trip of every kind is checked in test_model_kinds.py; here what random features add to it."""
    for name in ("rf-finite", "rf-inf"):
        model, path = saved[name]
        loaded = load_model(path)
        assert loaded.tau == model.tau and "rcond" in loaded.config["training"]
        assert loaded.config["dataset_fingerprint"] == dataset_fingerprint(MODE_SETS["two-points"])
    assert load_model(saved["rf-inf"][1]).config["tau"] == "inf"


def test_exact_model_records_its_dataset(saved):
    cfg = load_model(saved["exact"][1]).config
    assert cfg["dataset_fingerprint"] == dataset_fingerprint(MODE_SETS["thirteen"])
    assert cfg["architecture"] == {"D": 2, "N": 13}


def test_damaged_files_are_refused(saved, tmp_path):
    data = saved["mlp"][1].read_bytes()
    with pytest.raises(ValueError, match="truncated"):
        load_model(data[:5])
    with pytest.raises(ValueError, match="corrupt|truncated"):
        load_model(data[: len(data) // 2])  # header intact, weights cut
    broken = bytearray(data)
    broken[8] = ord("#")  # the JSON header no longer parses
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bytes(broken))
    renamed = data.replace(b"net.0.bias", b"net.0.bia$")  # a damaged tensor name
    with pytest.raises(ValueError, match="lacks tensor 'net.0.bias'"):
        load_model(renamed)
    with pytest.raises(ValueError, match="not a safetensors|truncated"):
        load_model(b"hello, this is not a checkpoint at all")


def test_pickles_are_never_loaded(tmp_path, ou):
    buf = io.BytesIO()
    torch.save(MLPScore(ou, 2, hidden=4, depth=1).state_dict(), buf)
    with pytest.raises(ValueError, match="pickle"):
        load_model(buf.getvalue())
    with pytest.raises(ValueError, match="pickle"):
        load_model(pickle.dumps({"weights": [1, 2, 3]}))


def test_wrong_kind_and_foreign_files(saved):
    with pytest.raises(ValueError, match="expected 'mlp'"):
        load_model(saved["rf-inf"][1], kind="mlp")
    assert load_model(saved["rf-inf"][1], kind=("mlp", "random-features")).kind == "random-features"
    with pytest.raises(ValueError, match="no 'ridgeviz' config"):
        load_model(st_save({"w": torch.zeros(2)}))
    blob = st_save({"w": torch.zeros(2)}, metadata={"ridgeviz": json.dumps({"kind": "vae", "version": "0"})})
    with pytest.raises(ValueError, match="loadable kinds"):
        load_model(blob)


def _resave(path, tmp_path, edit_tensors=None, edit_config=None) -> Path:
    tensors, config = load_checkpoint(path)
    if edit_tensors:
        edit_tensors(tensors)
    if edit_config:
        edit_config(config)
    return save_checkpoint(tmp_path / "edited.safetensors", tensors, config)


def test_wrong_shapes_and_bad_values(saved, tmp_path):
    mlp, rf = saved["mlp"][1], saved["rf-inf"][1]

    def widen(t):
        t["net.0.weight"] = torch.zeros(17, t["net.0.weight"].shape[1])

    with pytest.raises(ValueError, match="net.0.weight.*shape"):
        load_model(_resave(mlp, tmp_path, widen))
    with pytest.raises(ValueError, match="'A' has shape"):
        load_model(_resave(rf, tmp_path, lambda t: t.update(A=torch.zeros(2, 5, dtype=torch.float64))))
    with pytest.raises(ValueError, match="lacks tensor 'W_t'"):
        load_model(_resave(rf, tmp_path, lambda t: t.pop("W_t")))
    with pytest.raises(ValueError, match="the mlp model does not"):
        load_model(_resave(mlp, tmp_path, lambda t: t.update(extra=torch.zeros(1))))
    with pytest.raises(ValueError, match="finite"):
        load_model(_resave(rf, tmp_path, lambda t: t["A"].fill_(math.nan)))
    with pytest.raises(ValueError, match="hidden"):
        load_model(_resave(mlp, tmp_path, edit_config=lambda c: c["architecture"].update(hidden="wide")))
    with pytest.raises(ValueError, match="schedule"):
        load_model(_resave(mlp, tmp_path, edit_config=lambda c: c["schedule"].update(name="nope")))
    with pytest.raises(ValueError, match="tau"):
        load_model(_resave(rf, tmp_path, edit_config=lambda c: c.update(tau="soon")))


def test_save_refuses_bad_requests(tmp_path, ou):
    with pytest.raises(ValueError, match="extra_config"):
        save_model(tmp_path / "m", MLPScore(ou, 2, hidden=4, depth=1), {"kind": "exact"})
    with pytest.raises(ValueError, match="cannot save"):
        save_model(tmp_path / "m", object())
    path = save_model(tmp_path / "m", MLPScore(ou, 2, hidden=4, depth=1))
    assert path.suffix == ".safetensors" and path.with_suffix(".json").exists()
    # the low-level helpers keep their behaviour
    check_shapes({"a": torch.zeros(2, 3)}, {"a": (2, 3)})
    with pytest.raises(ValueError, match="lacks"):
        check_shapes({}, {"a": (1,)})


def test_shipped_assets_load_and_are_small():
    mlp = load_model(ASSETS / "mlp_thirteen_ou.safetensors", kind="mlp")
    assert mlp.config["dataset_fingerprint"] == dataset_fingerprint(MODE_SETS["thirteen"])
    assert mlp.schedule == rv.get_schedule("ou")
    taus = []
    for path in sorted(ASSETS.glob("rf_two_points_tau*.safetensors")):
        model = load_model(path, kind="random-features")
        assert model.config["dataset_fingerprint"] == dataset_fingerprint(MODE_SETS["two-points"])
        taus.append(model.tau)
    assert sorted(taus) == [0.1, 1.0, 10.0, 100.0, math.inf]
    for path in [ASSETS / "mlp_thirteen_ou.safetensors", *ASSETS.glob("rf_two_points_tau*.safetensors")]:
        assert path.stat().st_size < 300 * 1024
        assert json.loads(path.with_suffix(".json").read_text())["kind"] in trained_kinds()
    x = torch.zeros(3, 2, dtype=torch.float64)
    assert torch.isfinite(mlp(x, 0.5)).all() and np.isfinite(model(x, 0.5).numpy()).all()
