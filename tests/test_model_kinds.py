"""Shared checks over every registered model kind (as scikit-learn's check_estimator runs over every estimator).

Each kind of :data:`ridgeviz.models.kinds.KINDS` must follow the score contract, save and load to the same tensors
and refuse a checkpoint or a use that does not fit it. A new kind needs an example below (the first test fails
until it has one); the last test registers a toy kind, a class and a record and nothing else, and runs the same
checks over it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import ridgeviz as rv
from ridgeviz.data.datasets import MODE_SETS
from ridgeviz.models import kinds
from ridgeviz.models.checkpoints import load_checkpoint, load_model, save_checkpoint, save_model
from ridgeviz.models.factory import ModelConfig, build_model
from ridgeviz.models.kinds import KINDS, LOADED, ModelKind, arch_field
from ridgeviz.models.mlp import MLPScore
from ridgeviz.models.random_features import RandomFeatureModel, fit_random_features
from ridgeviz.models.rf_moments import Quadrature
from ridgeviz.utils.validation import Integer

DATA = MODE_SETS["thirteen"]  # 2-D, points in general position
QUICK = Quadrature(panels_per_period=0.5, radial_nodes=3, directions=3)
# identical weights give identical outputs unless a kernel takes another path; float32 networks round at ~1e-7
OUTPUT_RTOL, OUTPUT_ATOL = 1e-6, 1e-9


def _mlp(dens):
    return MLPScore(dens.schedule, dens.D, hidden=16, depth=2, data_var=3.0, generator=torch.Generator().manual_seed(1))


def _rf(dens):
    rf = RandomFeatureModel(dens.D, 24, 3, dens.schedule.T, generator=torch.Generator().manual_seed(2))
    return fit_random_features(rf, dens.data, dens.schedule, 3.0, quadrature=QUICK)


#: one small model of each registered kind, made from a density (its data and schedule)
EXAMPLES = {
    "exact": lambda dens: build_model(ModelConfig("exact"), dens),
    "injected": lambda dens: build_model(ModelConfig("injected", dim=1, normal=0.3, tangential=-0.7), dens),
    "mlp": _mlp,
    "random-features": _rf,
}


def queries(D: int, M: int = 7):
    g = torch.Generator().manual_seed(3)
    return torch.randn(M, D, dtype=torch.float64, generator=g) * 2, torch.linspace(0.02, 4.0, M, dtype=torch.float64)


def check_kind(name: str, make, tmp_path) -> None:
    """The shared checks for the kind ``name`` whose example ``make(dens)`` builds."""
    record = kinds.get_kind(name)
    sched = rv.get_schedule("ou")
    dens = rv.SmoothedEmpirical(DATA, sched)
    model = make(dens)
    _check_contract(record, model, dens)
    _check_config(record, model, dens)
    loaded = _check_round_trip(record, model, tmp_path)
    _check_refusals(record, loaded, tmp_path / f"{name}.safetensors")


def _check_contract(record, model, dens) -> None:
    assert model.kind == record.name and model.schedule == dens.schedule
    assert record.dimension(model) in (None, dens.D)
    x, t = queries(dens.D)
    for times in (t, 0.3):
        out = model(x, times)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == x.shape
        assert torch.isfinite(out).all()
    one = model(x[:1], t[:1])  # a query's score does not depend on the others in its batch
    torch.testing.assert_close(one, model(x, t)[:1], rtol=OUTPUT_RTOL, atol=OUTPUT_ATOL)


def _check_config(record, model, dens) -> None:
    assert ModelConfig(record.name).label().startswith(record.label)
    if record.closed_form:
        built = build_model(ModelConfig(record.name, dim=min(1, dens.D - 1)), dens)
        assert built.kind == record.name
        assert record.name in kinds.closed_form_kinds()
    else:
        with pytest.raises(ValueError, match="needs trained weights"):
            build_model(ModelConfig(record.name), dens)
        assert build_model(ModelConfig(LOADED), dens, model) is model


def _check_round_trip(record, model, tmp_path):
    path = save_model(tmp_path / f"{record.name}.safetensors", model, {"note": record.name})
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.kind == model.kind and loaded.schedule == model.schedule
    saved, arch, _ = record.state(model)
    again, arch_again, _ = record.state(loaded)
    assert set(again) == set(saved) and arch_again == arch
    for key in saved:  # the same bytes, read back on the same machine
        assert torch.equal(again[key].cpu(), saved[key].detach().cpu()), key
    x, t = queries(record.dimension(model) or 2)
    torch.testing.assert_close(loaded(x, t), model(x, t), rtol=OUTPUT_RTOL, atol=OUTPUT_ATOL)
    cfg = loaded.config
    assert cfg["kind"] == record.name and cfg["version"] == rv.__version__ and cfg["note"] == record.name
    assert cfg["architecture"] == json.loads(json.dumps(arch))
    assert json.loads(path.with_suffix(".json").read_text()) == cfg  # the readable copy beside the weights
    assert load_model(path.read_bytes()).kind == record.name  # an uploaded file's bytes work too
    return loaded


def _check_refusals(record, loaded, path) -> None:
    other = tuple(k for k in KINDS if k != record.name) or ("no-such-kind",)
    with pytest.raises(ValueError, match="expected"):
        load_model(path, kind=other)
    D = record.dimension(loaded) or 2
    far = rv.SmoothedEmpirical(torch.randn(5, D + 1, dtype=torch.float64), loaded.schedule)
    with pytest.raises(ValueError, match="D ="):
        build_model(ModelConfig(LOADED), far, loaded)
    later = rv.SmoothedEmpirical(DATA, rv.get_schedule("ou", T=5.0))
    with pytest.raises(ValueError, match="schedule"):
        build_model(ModelConfig(LOADED), later, loaded)
    tensors, config = load_checkpoint(path)
    name = next(k for k, v in tensors.items() if v.dim() >= 1)
    grown = {**tensors, name: torch.zeros(tensors[name].shape[0] + 1, *tensors[name].shape[1:])}
    with pytest.raises(ValueError, match="shape"):
        load_model(save_checkpoint(path.with_name("grown.safetensors"), grown, config))
    if "D" in config["architecture"]:
        claims = {**config, "architecture": {**config["architecture"], "D": D + 1}}
        with pytest.raises(ValueError):
            load_model(save_checkpoint(path.with_name("claims.safetensors"), tensors, claims))


def test_every_registered_kind_has_an_example():
    assert set(EXAMPLES) == set(KINDS), "add an example of each new kind to EXAMPLES"


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_shared_checks(name, tmp_path):
    check_kind(name, EXAMPLES[name], tmp_path)


def test_closed_form_is_the_registrys_notion():
    assert kinds.closed_form_kinds() == ("exact", "injected")
    assert ModelConfig("exact").closed_form and not ModelConfig(LOADED).closed_form
    with pytest.raises(ValueError, match="kind"):
        ModelConfig("toy-gaussian")
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(KINDS["exact"])
    with pytest.raises(ValueError, match="build"):
        replace(KINDS["exact"], build=None)


# -- a hypothetical new kind: a class and a record, nothing else -------------------------------------------------
class ToyGaussianScore:
    """The exact score of a Gaussian fit ``N(m, v I)`` of the data, noised: ``N(alpha_t m, (alpha_t^2 v + h_t) I)``."""

    kind = "toy-gaussian"

    def __init__(self, mean: torch.Tensor, var: torch.Tensor, schedule):
        self.mean, self.var, self.schedule = mean.to(torch.float64), var.to(torch.float64), schedule

    @property
    def D(self) -> int:
        return self.mean.shape[0]

    def __call__(self, x, t) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1).expand(x.shape[0])
        a, h = self.schedule.alpha(t)[:, None], self.schedule.h(t)[:, None]
        return -(x - a * self.mean) / (a * a * self.var + h)


TOY = ModelKind(
    "toy-gaussian", "Gaussian fit of the data (a toy)", True,
    state=lambda m: ({"mean": m.mean, "var": m.var}, {"D": m.D}, {}),
    shapes=lambda arch, config: {"mean": (arch_field(arch, "D", Integer(1, 64)),), "var": ()},
    restore=lambda tensors, arch, config, schedule: ToyGaussianScore(tensors["mean"], tensors["var"], schedule),
    build=lambda cfg, dens: ToyGaussianScore(dens.data.mean(0), dens.data.var(0, unbiased=False).mean(), dens.schedule))


def test_a_toy_kind_needs_a_class_and_a_record(monkeypatch, tmp_path):
    monkeypatch.setitem(KINDS, TOY.name, TOY)
    check_kind(TOY.name, lambda dens: build_model(ModelConfig(TOY.name), dens), tmp_path)
    assert TOY.name in kinds.closed_form_kinds() and ModelConfig(TOY.name).label() == TOY.label
    # against its closed form: the gradient of log N(x; alpha m, (alpha^2 v + h) I), by autograd
    dens = rv.SmoothedEmpirical(DATA, rv.get_schedule("ou"))
    model = build_model(ModelConfig(TOY.name), dens)
    x, t = queries(2)
    x.requires_grad_(True)
    a, h = dens.schedule.alpha(t)[:, None], dens.schedule.h(t)[:, None]
    data = torch.tensor(DATA, dtype=torch.float64)
    var = a * a * data.var(0, unbiased=False).mean() + h
    logp = (-((x - a * data.mean(0)) ** 2).sum(1, keepdim=True) / (2 * var)).sum()
    (grad,) = torch.autograd.grad(logp, x)
    torch.testing.assert_close(model(x.detach(), t), grad, rtol=1e-12, atol=1e-12)  # float64, a few operations


def test_the_app_offers_a_registered_kind_and_uses_it(monkeypatch):
    """The Score model page lists the toy kind (from the registry) and computes its error profile with it."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setitem(KINDS, TOY.name, TOY)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/2_Score_model.py").run()
    radio = next(w for w in at.radio if w.key == "model_kind")
    assert TOY.name in radio.options or TOY.label in radio.options
    radio.set_value(TOY.name).run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert at.session_state["model_cfg"].kind == TOY.name
    assert any(TOY.label in s.value for s in at.success) and len(at.get("plotly_chart")) == 1
