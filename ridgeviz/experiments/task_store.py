"""Results of finished tasks on disk, so that an interrupted ``reproduce`` resumes where it stopped.

One file per task, ``<folder>/<digest>.npz``, written atomically (a temporary file in the same folder, then
``os.replace``): a run killed mid-write leaves either the old file or none. The digest hashes the task's function
(module and name), its keyword arguments (configs and seeds, as canonical JSON) and the code fingerprint of the
``ridgeviz`` package (:mod:`ridgeviz.utils.provenance`), so a result made by other code or other settings is never
reused. A result is stored as JSON with its arrays beside it in the same ``.npz`` (no pickle: loading runs no code);
a file that does not load, or whose recorded digest differs, is treated as missing and the task runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = 1


def canonical(value) -> str:
    """Canonical JSON of a task's arguments (sorted keys; floats exact; inf/nan spelled out)."""
    return json.dumps(value, sort_keys=True, default=_default, allow_nan=True, separators=(",", ":"))


def _default(value):
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    # an input array (tasks should carry configs): named by its content, which is an input, never a computed float
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        return {"__array_sha256__": hashlib.sha256(a.tobytes()).hexdigest(), "shape": a.shape, "dtype": str(a.dtype)}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"task arguments must be JSON-able configs and seeds; got {type(value).__name__}")


def task_digest(fn_name: str, kwargs: dict, code: str) -> str:
    """SHA-256 (24 hex digits) of the function's name, its arguments and the code fingerprint."""
    return hashlib.sha256(f"{FORMAT}\n{fn_name}\n{canonical(kwargs)}\n{code}".encode()).hexdigest()[:24]


def _encode(value, arrays: list):
    """The JSON skeleton of ``value`` with every array moved to ``arrays`` (replaced by ``{"__array__": i}``)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"__array__": len(arrays) - 1}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return {"__items__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
        return {k: _encode(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {"__tuple__": [_encode(v, arrays) for v in value]} if isinstance(value, tuple) else \
            [_encode(v, arrays) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"task result: cannot store a {type(value).__name__} (results are numbers, strings, arrays)")


def _decode(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[f"arr_{value['__array__']}"]
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if set(value) == {"__items__"}:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__items__"]}
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


class TaskStore:
    """Per-task result files under ``folder`` (created on first write)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def path(self, digest: str) -> Path:
        return self.folder / f"{digest}.npz"

    def load(self, digest: str):
        """``(True, result)`` for a complete, valid stored result; ``(False, None)`` otherwise."""
        path = self.path(digest)
        if not path.is_file():
            return False, None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["__meta__"]))
                if meta.get("digest") != digest or meta.get("format") != FORMAT:
                    return False, None
                arrays = {k: z[k] for k in z.files if k.startswith("arr_")}
            return True, _decode(meta["result"], arrays)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return False, None

    def save(self, digest: str, name: str, result) -> None:
        """Write ``result`` atomically (temporary file, then ``os.replace``)."""
        arrays: list = []
        meta = {"format": FORMAT, "digest": digest, "task": name, "result": _encode(result, arrays)}
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".npz.tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(json.dumps(meta, allow_nan=True)),
                         **{f"arr_{i}": a for i, a in enumerate(arrays)})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(digest))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

