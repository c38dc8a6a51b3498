"""Checkpoints: safetensors weights with a JSON config in the file's metadata. Nothing is ever unpickled.

One ``.safetensors`` file holds the tensors and, under the metadata key ``"ridgeviz"``, a JSON object with at
least ``{"kind": ..., "version": ...}`` plus whatever the model needs to rebuild itself (architecture,
schedule, dataset fingerprint, training settings). :func:`save_checkpoint` also writes the same JSON beside the
weights (``<name>.json``) for people to read; loading uses only the embedded copy, so a single uploaded file
is enough.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

META_KEY = "ridgeviz"
MAX_CHECKPOINT_BYTES = 200 * 2**20
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+ and torch.save's zip container


def checkpoint_bytes(tensors: dict[str, torch.Tensor], config: dict) -> bytes:
    """Serialise ``tensors`` and a JSON-able ``config`` (must contain ``"kind"``) to safetensors bytes."""
    from ..utils.version import __version__

    if "kind" not in config:
        raise ValueError("config must name the model 'kind'")
    meta = {META_KEY: json.dumps({**config, "version": __version__}, sort_keys=True)}
    clean = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return st_save(clean, metadata=meta)


def save_checkpoint(path, tensors: dict[str, torch.Tensor], config: dict) -> Path:
    """Write ``path`` (``.safetensors``) and a readable ``.json`` copy of the config beside it."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = checkpoint_bytes(tensors, config)
    path.write_bytes(data)
    config_out = json.loads(_read_metadata(data)[META_KEY])
    path.with_suffix(".json").write_text(json.dumps(config_out, indent=2, sort_keys=True) + "\n")
    return path


def _read_metadata(data: bytes) -> dict:
    if len(data) < 8:
        raise ValueError("checkpoint is truncated: fewer than 8 bytes")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise ValueError("checkpoint is not a safetensors file or is truncated (bad header length)")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint header is corrupt: {exc}") from None
    if not isinstance(header, dict):
        raise ValueError("checkpoint header is corrupt: not a JSON object")
    return header.get("__metadata__") or {}


def load_checkpoint(source, kind: str | tuple[str, ...] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint from a path or bytes; returns ``(tensors, config)``.

    Raises ``ValueError`` with a clear message for a pickle or torch ``.pt`` file (refused, never loaded), a
    file that is not safetensors, a truncated or corrupt one, one without a ridgeviz config, or one whose
    ``kind`` is not ``kind`` (a name or tuple of names).
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise ValueError(f"checkpoint is {len(data) / 2**20:.1f} MiB; the limit is {MAX_CHECKPOINT_BYTES // 2**20} MiB")
    # a safetensors file starts with its header length (little-endian) then "{"; a header length of 0x..80
    # would otherwise look like the pickle opcode PROTO
    if (data[:1] == _PICKLE_MAGIC[0] or data[:4] == _PICKLE_MAGIC[1]) and data[8:9] != b"{":
        raise ValueError("this looks like a pickle / torch.save file; only .safetensors checkpoints are accepted "
                         "(pickles can run arbitrary code and are never loaded)")
    meta = _read_metadata(data)
    if META_KEY not in meta:
        raise ValueError("not a ridgeviz checkpoint: the safetensors metadata has no 'ridgeviz' config")
    try:
        config = json.loads(meta[META_KEY])
    except json.JSONDecodeError as exc:
        raise ValueError(f"checkpoint config is corrupt JSON: {exc}") from None
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and config.get("kind") not in kinds:
        raise ValueError(f"checkpoint holds a {config.get('kind')!r} model; expected {' or '.join(map(repr, kinds))}")
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises several exception types for damaged data
        raise ValueError(f"checkpoint weights are corrupt or truncated: {exc}") from None
    return tensors, config


def check_shapes(tensors: dict[str, torch.Tensor], expected: dict[str, tuple]) -> None:
    """Raise ``ValueError`` naming the first missing tensor or shape mismatch."""
    for name, shape in expected.items():
        if name not in tensors:
            raise ValueError(f"checkpoint lacks tensor {name!r}")
        if tuple(tensors[name].shape) != tuple(shape):
            raise ValueError(f"checkpoint tensor {name!r} has shape {tuple(tensors[name].shape)}; expected {tuple(shape)}")


# -- whole models --------------------------------------------------------------------------------------------

MODEL_KINDS = ("exact", "injected", "mlp", "random-features")
_RESERVED = ("kind", "version", "architecture", "schedule")


def schedule_from_config(cfg):
    """Rebuild a checkpoint's schedule; ``ValueError`` if it is malformed."""
    from ..core.schedules import Schedule

    try:
        return Schedule.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint schedule is invalid: {exc}") from None


def _frozen32(v: torch.Tensor) -> torch.Tensor:
    """Float32 when that is lossless (random features are drawn in float32), else the tensor as it is."""
    v32 = v.detach().to("cpu", torch.float32)
    return v32 if torch.equal(v32.to(v.dtype), v.detach().to("cpu")) else v


def _model_state(model) -> tuple[dict, dict]:
    """``(tensors, config)`` of any score model of :data:`MODEL_KINDS`."""
    from ..data.datasets import dataset_fingerprint

    kind = getattr(model, "kind", None)
    if kind not in MODEL_KINDS:
        raise ValueError(f"model: cannot save a model of kind {kind!r}; savable kinds are {MODEL_KINDS}")
    sched = model.schedule.to_dict()
    if kind in ("exact", "injected"):
        data = model.dens.data
        cfg = {"architecture": {"D": model.dens.D, "N": model.dens.N}, "dataset_fingerprint":
               dataset_fingerprint(data.cpu().numpy())}
        tensors = {"data": data}
        if kind == "injected":
            cfg["architecture"].update(dim=model.dim, normal=model.normal, tangential=model.tangential,
                                       gap_tol=model.gap_tol)
            tensors.update(direction=model.direction, normal_direction=model.normal_direction)
    elif kind == "mlp":
        tensors = {k: v for k, v in model.state_dict().items()}
        cfg = {"architecture": model.architecture()}
    else:
        rf = model.rf
        tensors = {"W_x": _frozen32(rf.W_x), "W_t": _frozen32(rf.W_t), "b": _frozen32(rf.b), "A0": rf.A0,
                   "A": model.A}
        cfg = {"architecture": {"D": rf.D, "features": rf.p, "time_features": rf.K, "T": rf.T,
                                "init_scale": rf.init_scale},
               "tau": "inf" if math.isinf(model.tau) else model.tau}
    # the JSON key "training" holds the model's train_info (nn.Module.training is torch's train/eval flag)
    for attr, key in (("dataset_fingerprint", "dataset_fingerprint"), ("train_info", "training")):
        if getattr(model, attr, None) is not None and key not in cfg:
            cfg[key] = getattr(model, attr)
    return tensors, {"kind": kind, "schedule": sched, **cfg}


def save_model(path, model, extra_config: dict | None = None) -> Path:
    """Save any score model (exact, injected, MLP, random features) as safetensors + JSON config.

    The config records kind, architecture, schedule, package version, the dataset fingerprint and training
    settings when the model carries them (``model.dataset_fingerprint``, ``model.train_info``), plus
    ``extra_config`` (JSON-able; it may not override kind, version, architecture or schedule).
    """
    tensors, config = _model_state(model)
    extra = dict(extra_config or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra_config may not set {clash}")
    return save_checkpoint(path, tensors, {**config, **extra})


def _arch_int(arch: dict, key: str, lo: int = 1) -> int:
    v = arch.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"checkpoint architecture field {key!r} must be an integer >= {lo}; got {v!r}")
    return v


def _finite(tensors: dict) -> None:
    for name, v in tensors.items():
        if not v.is_floating_point() or not torch.isfinite(v).all():
            raise ValueError(f"checkpoint tensor {name!r} is not a finite floating-point array")


def load_model(source, kind: str | tuple[str, ...] | None = None):
    """Load a model saved by :func:`save_model` from a path or bytes; returns a ready score model.

    ``kind`` optionally restricts what is accepted. Every failure (pickle, not safetensors, truncated, corrupt,
    unknown or unexpected kind, missing or mis-shaped tensors, non-finite weights) is a ``ValueError``.
    The loaded model carries ``.config`` (the stored JSON).
    """
    tensors, config = load_checkpoint(source, kind)
    kind_ = config.get("kind")
    if kind_ not in MODEL_KINDS:
        raise ValueError(f"checkpoint holds a {kind_!r} model; loadable kinds are {MODEL_KINDS}")
    arch = config.get("architecture")
    if not isinstance(arch, dict):
        raise ValueError("checkpoint config has no 'architecture' object")
    schedule = schedule_from_config(config.get("schedule"))
    D = _arch_int(arch, "D")
    if kind_ in ("exact", "injected"):
        model = _load_exact(tensors, arch, schedule, kind_, D)
    elif kind_ == "mlp":
        model = _load_mlp(tensors, arch, schedule, D)
    else:
        model = _load_rf(tensors, arch, config, schedule, D)
    model.config = config
    for attr, key in (("dataset_fingerprint", "dataset_fingerprint"), ("train_info", "training")):
        if key in config:
            setattr(model, attr, config[key])
    return model


def _load_exact(tensors, arch, schedule, kind, D):
    from ..core.density import SmoothedEmpirical
    from .score import ExactScore, InjectedErrorScore

    N = _arch_int(arch, "N")
    expected = {"data": (N, D)}
    if kind == "injected":
        expected.update(direction=(D,), normal_direction=(D,))
    check_shapes(tensors, expected)
    _finite(tensors)
    dens = SmoothedEmpirical(tensors["data"].to(torch.float64), schedule)
    if kind == "exact":
        return ExactScore(dens)
    try:
        return InjectedErrorScore(dens, _arch_int(arch, "dim", 0), float(arch["normal"]), float(arch["tangential"]),
                                  direction=tensors["direction"], normal_direction=tensors["normal_direction"],
                                  gap_tol=float(arch.get("gap_tol", 1e-3)))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint architecture of the injected model is incomplete: {exc}") from None


def _load_mlp(tensors, arch, schedule, D):
    from .mlp import MLPScore

    try:
        model = MLPScore(schedule, D, hidden=_arch_int(arch, "hidden"), depth=_arch_int(arch, "depth"),
                         time_features=_arch_int(arch, "time_features", 2), prediction=arch.get("prediction"),
                         data_var=float(arch.get("data_var", 1.0)))
    except TypeError as exc:
        raise ValueError(f"checkpoint MLP architecture is invalid: {exc}") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_shapes(tensors, expected)
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise ValueError(f"checkpoint has tensors the MLP does not: {extra}")
    _finite(tensors)
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})
    model.eval()
    return model


def _load_rf(tensors, arch, config, schedule, D):
    from .random_features import RandomFeatureModel, RandomFeatureScore

    p, K = _arch_int(arch, "features"), _arch_int(arch, "time_features", 0)
    check_shapes(tensors, {"W_x": (p, D), "W_t": (p, 2 * K + 1), "b": (p,), "A0": (D, p), "A": (D, p)})
    _finite(tensors)
    tau = config.get("tau")
    try:
        tau = float(tau)
        T, init_scale = float(arch["T"]), float(arch.get("init_scale", 1.0))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"checkpoint random-feature config is invalid (tau={tau!r}, T={arch.get('T')!r})") from None
    if not tau >= 0:
        raise ValueError(f"checkpoint random-feature tau must be >= 0 or 'inf'; got {tau!r}")
    rf = RandomFeatureModel.from_tensors(tensors["W_x"], tensors["W_t"], tensors["b"], tensors["A0"], T, init_scale)
    return RandomFeatureScore(rf, tensors["A"], schedule, tau)
