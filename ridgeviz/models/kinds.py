"""The model-kind registry: one record per kind of score model, read by everything that names or stores a model.

A :class:`ModelKind` says what a kind is called, whether it is closed-form (built from the data and a
:class:`~ridgeviz.models.factory.ModelConfig` alone, nothing trained) and how its state goes into a checkpoint and
comes back: ``state(model) -> (tensors, architecture, extra config)``, ``shapes(architecture, config) -> {tensor
name: shape}`` (the architecture validated before any tensor is read), ``restore(tensors, architecture, config,
schedule) -> model`` and, for closed-form kinds, ``build(model_config, dens) -> model``. The factory, the
checkpoints, the app, the command line, the experiments and the tests all read :data:`KINDS`, and the shared
checks in ``tests/test_model_kinds.py`` run over every record. Adding a score model is therefore a class that
follows the contract (``model(x, t) -> (M, D)`` float64, a ``schedule`` and a ``kind`` attribute), a record
passed to :func:`register`, and a test against a closed form (docs/architecture.md). Importing this module loads
no torch (the hooks import what they need), so the home page can ask which kinds are trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..data.uploads import MAX_POINTS
from ..utils.limits import require_elements
from ..utils.validation import Integer, Real, check

#: The :class:`ModelConfig` kind of a model loaded from a checkpoint file (of any registered kind).
LOADED = "checkpoint"
LOADED_LABEL = "a loaded checkpoint"
MAX_D = 65536  # dimensions a checkpoint may declare


def _own_dimension(model) -> int | None:
    return getattr(model, "D", None)


@dataclass(frozen=True)
class ModelKind:
    """One kind of score model (see the module docstring for the hooks' signatures).

    ``label`` names the kind wherever people read it (app, command line, reports); ``label_fields`` are the
    :class:`ModelConfig` fields a closed-form kind shows beside it (``"normal 0.5, tangential 0.5"``);
    ``dimension(model)`` is the D a model is fixed to (None: any D).
    """

    name: str
    label: str
    closed_form: bool
    state: Callable
    shapes: Callable
    restore: Callable
    build: Callable | None = None
    label_fields: tuple = ()
    dimension: Callable = _own_dimension

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or self.name == LOADED:
            raise ValueError(f"name must be a non-empty string other than {LOADED!r}; got {self.name!r}")
        if self.closed_form and self.build is None:
            raise ValueError(f"model kind {self.name!r}: a closed-form kind needs a build(model_config, dens) hook")


KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> ModelKind:
    """Add ``kind`` to :data:`KINDS` (a name may be registered once); returns it."""
    if kind.name in KINDS:
        raise ValueError(f"model kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    return kind


def get_kind(name) -> ModelKind:
    """The record of ``name``; ``ValueError`` naming the registered kinds otherwise."""
    if name not in KINDS:
        raise ValueError(f"model kind {str(name)[:40]!r} is not registered; registered kinds are {tuple(KINDS)}")
    return KINDS[name]


def closed_form_kinds() -> tuple[str, ...]:
    """The kinds built from the data and a config alone (no weights): the exact score, the injected error, ..."""
    return tuple(name for name, k in KINDS.items() if k.closed_form)


def trained_kinds() -> tuple[str, ...]:
    """The kinds whose weights are trained (they come from training or from a checkpoint)."""
    return tuple(name for name, k in KINDS.items() if not k.closed_form)


def config_kinds() -> tuple[str, ...]:
    """Every value a ``ModelConfig.kind`` may take: the registered kinds and :data:`LOADED`."""
    return (*KINDS, LOADED)


def kind_label(name: str) -> str:
    """How the kind ``name`` (or :data:`LOADED`) is named for people."""
    return LOADED_LABEL if name == LOADED else get_kind(name).label


def model_dimension(model) -> int | None:
    """The dimension D a model is fixed to (None when it takes any D or its kind is unknown)."""
    kind = KINDS.get(getattr(model, "kind", None))
    return kind.dimension(model) if kind is not None else _own_dimension(model)


def arch_field(arch: dict, key: str, constraint, default=None):
    """A checkpoint's architecture field ``key`` checked by ``constraint`` (``ValueError`` naming it)."""
    return check(f"checkpoint architecture field {key!r}", arch.get(key, default), constraint)


def _dataset(model) -> dict:
    from ..data.datasets import dataset_fingerprint

    return {"dataset_fingerprint": dataset_fingerprint(model.dens.data.cpu().numpy())}


# -- the exact score and the exact score plus injected error (closed-form: the training points are the state) --
def _exact_state(model):
    return {"data": model.dens.data}, {"D": model.dens.D, "N": model.dens.N}, _dataset(model)


def _exact_shapes(arch, config):
    # the point and element limits of uploaded data, whatever the stored dtype (float16 halves the bytes, not the work)
    shapes = {"data": (arch_field(arch, "N", Integer(1, MAX_POINTS)), arch_field(arch, "D", Integer(1, MAX_D)))}
    require_elements(shapes["data"][0] * shapes["data"][1], "checkpoint data", "the number of points")
    return shapes


def _density(tensors, schedule):
    import torch

    from ..core.density import SmoothedEmpirical

    return SmoothedEmpirical(tensors["data"].to(torch.float64), schedule)


def _exact_restore(tensors, arch, config, schedule):
    from .score import ExactScore

    return ExactScore(_density(tensors, schedule))


def _exact_build(cfg, dens):
    from .score import ExactScore

    return ExactScore(dens)


def _injected_state(model):
    tensors, arch, extra = _exact_state(model)
    arch.update(dim=model.dim, normal=model.normal, tangential=model.tangential, gap_tol=model.gap_tol)
    return tensors | {"direction": model.direction, "normal_direction": model.normal_direction}, arch, extra


def _injected_shapes(arch, config):
    shapes = _exact_shapes(arch, config)
    D = shapes["data"][1]
    return shapes | {"direction": (D,), "normal_direction": (D,)}


def _injected_restore(tensors, arch, config, schedule):
    from .score import InjectedErrorScore

    dens = _density(tensors, schedule)
    return InjectedErrorScore(dens, arch_field(arch, "dim", Integer(0, dens.D - 1)), arch_field(arch, "normal", Real()),
                              arch_field(arch, "tangential", Real()), direction=tensors["direction"],
                              normal_direction=tensors["normal_direction"],
                              gap_tol=arch_field(arch, "gap_tol", Real(), 1e-3))


def _injected_build(cfg, dens):
    from .score import InjectedErrorScore

    if cfg.dim >= dens.D:
        raise ValueError(f"dim: the ridge dimension must be < D = {dens.D}; got {cfg.dim}")
    return InjectedErrorScore(dens, dim=cfg.dim, normal=cfg.normal, tangential=cfg.tangential)


# -- the MLP score network -------------------------------------------------------------------------------------
def _mlp_state(model):
    return dict(model.state_dict()), model.architecture(), {}


def _mlp_shapes(arch, config):
    from .mlp import check_architecture

    try:
        a = check_architecture({**arch, "data_var": arch.get("data_var", 1.0)})
    except ValueError as exc:
        raise ValueError(f"checkpoint architecture: {exc}") from None
    widths = [a["D"] + a["time_features"]] + [a["hidden"]] * a["depth"] + [a["D"]]
    shapes = {"data_var": ()}
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        shapes |= {f"net.{2 * i}.weight": (n_out, n_in), f"net.{2 * i}.bias": (n_out,)}
    return shapes


def _mlp_restore(tensors, arch, config, schedule):
    import torch

    from .mlp import MLPScore

    model = MLPScore(schedule, arch["D"], hidden=arch["hidden"], depth=arch["depth"],
                     time_features=arch["time_features"], prediction=arch["prediction"],
                     data_var=arch.get("data_var", 1.0))
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    return model.eval()


# -- the paper's random-feature model --------------------------------------------------------------------------
def _frozen32(v):
    """Float32 when that is lossless (random features are drawn in float32), else the tensor as it is."""
    import torch

    v32 = v.detach().to("cpu", torch.float32)
    return v32 if torch.equal(v32.to(v.dtype), v.detach().to("cpu")) else v


def _rf_state(model):
    rf = model.rf
    tensors = {"W_x": _frozen32(rf.W_x), "W_t": _frozen32(rf.W_t), "b": _frozen32(rf.b), "A0": rf.A0, "A": model.A}
    arch = {"D": rf.D, "features": rf.p, "time_features": rf.K, "T": rf.T, "init_scale": rf.init_scale}
    return tensors, arch, {"tau": "inf" if math.isinf(model.tau) else model.tau}


def _rf_shapes(arch, config):
    D = arch_field(arch, "D", Integer(1, MAX_D))
    p, K = arch_field(arch, "features", Integer(1, 2**20)), arch_field(arch, "time_features", Integer(0, 2**16))
    return {"W_x": (p, D), "W_t": (p, 2 * K + 1), "b": (p,), "A0": (D, p), "A": (D, p)}


def _rf_restore(tensors, arch, config, schedule):
    from .random_features import TAU, RandomFeatureModel, RandomFeatureScore

    tau = config.get("tau")
    tau = check("checkpoint random-feature tau", float(tau) if tau == "inf" else tau, TAU)
    T = arch_field(arch, "T", Real(0, 1e6, lo_open=True))
    init_scale = arch_field(arch, "init_scale", Real(0, 1e6), 1.0)
    rf = RandomFeatureModel.from_tensors(tensors["W_x"], tensors["W_t"], tensors["b"], tensors["A0"], T, init_scale)
    return RandomFeatureScore(rf, tensors["A"], schedule, tau)


register(ModelKind("exact", "exact score (memorises)", True, _exact_state, _exact_shapes, _exact_restore,
                   build=_exact_build))
register(ModelKind("injected", "exact + injected error", True, _injected_state, _injected_shapes,
                   _injected_restore, build=_injected_build, label_fields=("normal", "tangential")))
register(ModelKind("mlp", "MLP score network", False, _mlp_state, _mlp_shapes, _mlp_restore))
register(ModelKind("random-features", "random-feature model", False, _rf_state, _rf_shapes, _rf_restore,
                   dimension=lambda model: model.rf.D))
