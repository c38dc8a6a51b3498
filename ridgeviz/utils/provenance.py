"""Fingerprints of the code that made a file, so a shipped precomputed view made by other code is never shown.

A fingerprint hashes the source of named modules or whole packages (dotted names, e.g. ``"ridgeviz.core"`` or
``"ridgeviz.views.trajectories"``). A name that matches no file raises: hashing a missing file as empty bytes
would let a renamed module keep stale views valid.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .paths import PACKAGE_ROOT


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
    return h.hexdigest()[:16]
