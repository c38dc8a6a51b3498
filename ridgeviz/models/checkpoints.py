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
import os
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..utils.files import atomic_write, read_capped, writable_target
from .kinds import KINDS, get_kind

META_KEY = "ridgeviz"
MAX_CHECKPOINT_BYTES = 200 * 2**20
# A header is refused from its length prefix above MAX_HEADER_BYTES, and after parsing above MAX_HEADER_ENTRIES
# tensors, before any entry is checked (a 600k-entry header took 8.5 s to refuse entry by entry). The shipped
# headers are under 2 kB; the deepest network the architecture limits allow (depth 256) has 515 tensors. With these
# caps and the point limit of exact checkpoints, the largest accepted files load in seconds (measured: 200,000 x 100
# float64 points, 160 MB, 2.2-2.6 s; an MLP of 176 MB, 1.2 s; a 10M-point checkpoint took 50 s before the limit).
MAX_HEADER_BYTES, MAX_HEADER_ENTRIES = 2**20, 1024
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+ and torch.save's zip container


def checkpoint_bytes(tensors: dict[str, torch.Tensor], config: dict) -> bytes:
    """Serialise ``tensors`` and a JSON-able ``config`` (must contain ``"kind"``) to safetensors bytes."""
    from ..utils.version import __version__

    if "kind" not in config:
        raise ValueError("config must name the model 'kind'")
    meta = {META_KEY: json.dumps({**config, "version": __version__}, sort_keys=True)}
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}  # no shared storage
    return st_save(clean, metadata=meta)


def save_checkpoint(path, tensors: dict[str, torch.Tensor], config: dict) -> Path:
    """Write ``path`` (``.safetensors``) and a readable ``.json`` copy of the config beside it, each whole or not at
    all (a temporary file in the same folder, then a rename). ``ValueError`` naming the path for a folder, a device
    or an unwritable place."""
    path = Path(path)
    writable_target(path, "checkpoint")  # "dir" must not become "dir.safetensors", nor /dev/null gain a suffix
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    data = checkpoint_bytes(tensors, config)
    atomic_write(path, data, "checkpoint")
    config_out = json.loads(_read_metadata(data)[META_KEY])
    atomic_write(path.with_suffix(".json"), json.dumps(config_out, indent=2, sort_keys=True) + "\n", "checkpoint")
    return path


_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _read_header(data: bytes) -> dict:
    """The safetensors header of ``data``, checked entry by entry: ``{name: {dtype, shape, data_offsets}}`` plus
    ``"__metadata__"`` (a dict of strings). Every declared shape must match its byte range inside the file, so
    nothing a header declares can be larger than the file itself."""
    if len(data) < 8:
        raise ValueError("checkpoint is truncated: fewer than 8 bytes")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise ValueError("checkpoint is not a safetensors file or is truncated (bad header length)")
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"checkpoint header declares {n:,} bytes; the limit is {MAX_HEADER_BYTES:,}")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"checkpoint header is corrupt: {str(exc)[:80]}") from None
    if not isinstance(header, dict):
        raise ValueError("checkpoint header is corrupt: not a JSON object")
    if len(header) > MAX_HEADER_ENTRIES + 1:  # the tensors and "__metadata__"
        raise ValueError(f"checkpoint header lists {len(header):,} entries; the limit is {MAX_HEADER_ENTRIES:,} "
                         "tensors")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("checkpoint header is corrupt: its metadata is not a map of strings")
    body = len(data) - 8 - n
    for name, entry in header.items():
        if name != "__metadata__" and not _entry_ok(entry, body):
            raise ValueError(f"checkpoint header is corrupt: tensor {name[:40]!r} is declared inconsistently "
                             "(dtype, shape and byte range disagree or lie outside the file)")
    return header


def _entry_ok(entry, body: int) -> bool:
    if not isinstance(entry, dict) or entry.get("dtype") not in _DTYPES:
        return False
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(type(k) is int and k >= 0 for k in shape)):
        return False
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(k) is int for k in offsets)):
        return False
    start, end = offsets
    return 0 <= start <= end <= body and end - start == math.prod(shape) * _DTYPES[entry["dtype"]]


def _read_metadata(data: bytes) -> dict:
    return _read_header(data).get("__metadata__", {})


def declared_shapes(header: dict) -> dict[str, tuple]:
    """``{tensor name: shape}`` as a checked header declares them (before any tensor is read)."""
    return {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}


def _source_bytes(source) -> bytes:
    """The bytes of a checkpoint path or upload, refusing more than :data:`MAX_CHECKPOINT_BYTES` (a path must be a
    regular file, read with that cap: not a device or a FIFO)."""
    if isinstance(source, (str, os.PathLike)):
        return read_capped(source, "checkpoint", MAX_CHECKPOINT_BYTES)
    if not isinstance(source, (bytes, bytearray, memoryview)):
        raise ValueError(f"checkpoint: expected a path or bytes; got {type(source).__name__}")
    data = bytes(source)
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise ValueError(f"checkpoint is {len(data) / 2**20:.1f} MiB; the limit is "
                         f"{MAX_CHECKPOINT_BYTES // 2**20} MiB")
    return data


def read_checkpoint_header(source, kind: str | tuple[str, ...] | None = None) -> tuple[bytes, dict, dict]:
    """``(bytes, checked header, config)`` of a checkpoint, without reading any tensor.

    Raises ``ValueError`` for a pickle or torch ``.pt`` file (refused, never loaded), a file that is not
    safetensors, a truncated or corrupt one, one without a ridgeviz config (a JSON object), or one whose ``kind``
    is not ``kind`` (a name or tuple of names).
    """
    data = _source_bytes(source)
    # a safetensors file starts with its header length (little-endian) then "{"; a header length of 0x..80
    # would otherwise look like the pickle opcode PROTO
    if (data[:1] == _PICKLE_MAGIC[0] or data[:4] == _PICKLE_MAGIC[1]) and data[8:9] != b"{":
        raise ValueError("this looks like a pickle / torch.save file; only .safetensors checkpoints are accepted "
                         "(pickles can run arbitrary code and are never loaded)")
    header = _read_header(data)
    meta = header.get("__metadata__", {})
    if META_KEY not in meta:
        raise ValueError("not a ridgeviz checkpoint: the safetensors metadata has no 'ridgeviz' config")
    try:
        config = json.loads(meta[META_KEY])
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"checkpoint config is corrupt JSON: {str(exc)[:80]}") from None
    if not isinstance(config, dict):
        raise ValueError(f"checkpoint config must be a JSON object; got a {type(config).__name__}")
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and config.get("kind") not in kinds:
        raise ValueError(f"checkpoint holds a {str(config.get('kind'))[:40]!r} model; expected "
                         f"{' or '.join(map(repr, kinds))}")
    return data, header, config


def _load_tensors(data: bytes) -> dict[str, torch.Tensor]:
    try:
        return st_load(data)
    except Exception as exc:  # safetensors raises several exception types for damaged data
        raise ValueError(f"checkpoint weights are corrupt or truncated: {str(exc)[:80]}") from None


def load_checkpoint(source, kind: str | tuple[str, ...] | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint from a path or bytes; returns ``(tensors, config)``. Errors as
    :func:`read_checkpoint_header`'s, and for damaged weights."""
    data, _, config = read_checkpoint_header(source, kind)
    return _load_tensors(data), config


def check_shapes(tensors: dict, expected: dict[str, tuple]) -> None:
    """Raise ``ValueError`` naming the first missing tensor or shape mismatch (``tensors``: tensors or shapes)."""
    for name, shape in expected.items():
        if name not in tensors:
            raise ValueError(f"checkpoint lacks tensor {name!r}")
        got = tuple(getattr(tensors[name], "shape", tensors[name]))
        if got != tuple(shape):
            raise ValueError(f"checkpoint tensor {name!r} has shape {got}; expected {tuple(shape)}")


# -- whole models: the registry (ridgeviz.models.kinds) says what each kind stores and how it comes back ---------

_RESERVED = ("kind", "version", "architecture", "schedule")
_MODEL_ATTRS = (("dataset_fingerprint", "dataset_fingerprint"), ("train_info", "training"))


def schedule_from_config(cfg):
    """Rebuild a checkpoint's schedule; ``ValueError`` if it is malformed."""
    from ..core.schedules import Schedule

    try:
        return Schedule.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"checkpoint schedule is invalid: {exc}") from None


def _model_state(model) -> tuple[dict, dict]:
    """``(tensors, config)`` of a score model of any registered kind."""
    kind = getattr(model, "kind", None)
    if kind not in KINDS:
        raise ValueError(f"model: cannot save a model of kind {str(kind)[:40]!r}; savable kinds are {tuple(KINDS)}")
    tensors, arch, extra = KINDS[kind].state(model)
    cfg = {"architecture": arch, **extra}
    # the JSON key "training" holds the model's train_info (nn.Module.training is torch's train/eval flag)
    for attr, key in _MODEL_ATTRS:
        if getattr(model, attr, None) is not None and key not in cfg:
            cfg[key] = getattr(model, attr)
    return tensors, {"kind": kind, "schedule": model.schedule.to_dict(), **cfg}


def save_model(path, model, extra_config: dict | None = None) -> Path:
    """Save a score model of any registered kind as safetensors + JSON config.

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


def _finite(tensors: dict) -> None:
    for name, v in tensors.items():
        if not v.is_floating_point() or not torch.isfinite(v).all():
            raise ValueError(f"checkpoint tensor {name!r} is not a finite floating-point array")


def load_model(source, kind: str | tuple[str, ...] | None = None):
    """Load a model saved by :func:`save_model` from a path or bytes; returns a ready score model.

    ``kind`` optionally restricts what is accepted. The header is read and checked first; the architecture is
    validated against the shapes the header declares (the kind's ``shapes`` hook) and against the work budget
    before any tensor is read or any module built. Every failure (pickle, not safetensors, truncated, corrupt,
    unknown or unexpected kind, missing, extra or mis-shaped tensors, non-finite weights, an architecture beyond
    the budget) is a ``ValueError``. The loaded model carries ``.config`` (the stored JSON).
    """
    data, header, config = read_checkpoint_header(source, kind)
    if config.get("kind") not in KINDS:
        raise ValueError(f"checkpoint holds a {str(config.get('kind'))[:40]!r} model; loadable kinds are "
                         f"{tuple(KINDS)}")
    record = get_kind(config["kind"])
    arch = config.get("architecture")
    if not isinstance(arch, dict):
        raise ValueError("checkpoint config has no 'architecture' object")
    schedule = schedule_from_config(config.get("schedule"))
    expected = record.shapes(arch, config)
    shapes = declared_shapes(header)
    check_shapes(shapes, expected)
    extra = sorted(set(shapes) - set(expected))
    if extra:
        raise ValueError(f"checkpoint has tensors the {record.name} model does not: {extra[:10]}")
    tensors = _load_tensors(data)
    _finite(tensors)
    model = record.restore(tensors, arch, config, schedule)
    model.config = config
    for attr, key in _MODEL_ATTRS:
        if key in config:
            setattr(model, attr, config[key])
    return model
