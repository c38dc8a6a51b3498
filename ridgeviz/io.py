"""Checkpoints: safetensors weights with a JSON config in the file's metadata. Nothing is ever unpickled.

One ``.safetensors`` file holds the tensors and, under the metadata key ``"ridgeviz"``, a JSON object with at
least ``{"kind": ..., "version": ...}`` plus whatever the model needs to rebuild itself (architecture,
schedule, dataset fingerprint, training settings). :func:`save_checkpoint` also writes the same JSON beside the
weights (``<name>.json``) for people to read; loading uses only the embedded copy, so a single uploaded file
is enough.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

META_KEY = "ridgeviz"
MAX_CHECKPOINT_BYTES = 200 * 2**20
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+ and torch.save's zip container


def checkpoint_bytes(tensors: dict[str, torch.Tensor], config: dict) -> bytes:
    """Serialise ``tensors`` and a JSON-able ``config`` (must contain ``"kind"``) to safetensors bytes."""
    from . import __version__

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
    if data[:1] == _PICKLE_MAGIC[0] or data[:4] == _PICKLE_MAGIC[1]:
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
