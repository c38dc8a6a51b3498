"""What a result was made from, so a shipped precomputed view answers a request only when it was made for it.

:func:`made_from` records a result's **inputs and the code that made them**: the settings (the JSON of its
configs), digests of its input files and data (bytes as they are on disk or as the user gave them: a checkpoint,
a VAE, the digits' pixels, the training points), and a fingerprint of the source code. A request is answered by
a shipped file exactly when its own :func:`made_from` is equal. Never digest numbers computed at run time (a VAE's
latents, a sampler's output): their last bits differ from one CPU family to another, so the shipped file would be
refused on a machine where it is right.

A code fingerprint hashes the source of named modules or whole packages (dotted names, e.g. ``"ridgeviz.core"``
or ``"ridgeviz.views.trajectories"``). A name that matches no file raises: hashing a missing file as empty bytes
would let a renamed module keep stale views valid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .paths import PACKAGE_ROOT
from .results import to_json

DIGITS = 16  # hex digits kept of each SHA-256
MADE_FROM = ("settings", "inputs", "code")


def source_files(name: str) -> list[Path]:
    """The ``.py`` files of module or package ``name`` (``ridgeviz.x.y``), sorted; ValueError if there are none."""
    parts = name.split(".")
    if parts[0] != "ridgeviz":
        raise ValueError(f"module {name!r}: only ridgeviz modules can be fingerprinted")
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return [base.with_suffix(".py")]
    if (base / "__init__.py").is_file():
        return sorted(base.rglob("*.py"))
    raise ValueError(f"module {name!r}: no such module or package under {PACKAGE_ROOT}")


def code_fingerprint(names) -> str:
    """SHA-256 (16 hex digits) of the sources of ``names`` (each file's path relative to the package and bytes)."""
    h = hashlib.sha256()
    for name in sorted(set(names)):
        for path in source_files(name):
            h.update(str(path.relative_to(PACKAGE_ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:DIGITS]


def bytes_digest(data: bytes) -> str:
    """SHA-256 (16 hex digits) of ``data``."""
    return hashlib.sha256(data).hexdigest()[:DIGITS]


def file_digest(path) -> str:
    """SHA-256 (16 hex digits) of a file's bytes (a checkpoint, a VAE, a data file)."""
    return bytes_digest(Path(path).read_bytes())


def array_digest(a) -> str:
    """SHA-256 (16 hex digits) of an input array's dtype, shape and bytes (training points as given, pixels)."""
    import numpy as np

    a = np.ascontiguousarray(a)
    return bytes_digest(f"{a.dtype.str}{a.shape}".encode() + a.tobytes())


def made_from(settings: dict, inputs: dict[str, str], code) -> dict:
    """``{"settings", "inputs", "code"}``: the JSON of the settings, the digests of the inputs by name and the
    fingerprint of the modules ``code`` (see the module docstring); plain JSON, so it compares after a file's
    round trip."""
    return to_json({"settings": settings, "inputs": dict(inputs), "code": code_fingerprint(code)})


def provenance_of(config: dict) -> dict | None:
    """The :func:`made_from` part of a result's ``config`` (which starts with it), or None if it has none."""
    return {k: config[k] for k in MADE_FROM} if all(k in config for k in MADE_FROM) else None
