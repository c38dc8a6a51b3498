"""The one result-file format: a compressed ``.npz`` of arrays with JSON metadata, one NaN policy, one polyline packing.

Every view's result and every precomputed asset is written by :func:`write_result` and read by :func:`read_result`:

- the arrays by name (NumPy's ``.npz``; nothing is pickled, and reading never unpickles);
- ``meta``: the UTF-8 bytes of one JSON object holding ``kind`` (which result), ``format`` (its version, so a
  file written by other code is refused rather than misread), ``made_from`` when the result records what made it
  (:func:`ridgeviz.utils.provenance.made_from`: settings, input digests, code fingerprint) and the result's own
  fields;
- polylines (groups of ``(n, 2)`` arrays, e.g. one group of ridge curves per animation frame): all points in one
  ``(P, 2)`` float32 array and one ``(L + 1, 2)`` int64 table of ``(group, length)`` rows, the last row holding
  the number of groups, so empty groups survive (:func:`pack_polylines`).

**NaN policy** (:func:`to_json`, used for result files, exports, reports and JSON summaries alike): JSON has no
NaN or infinity. A NaN (an undefined value: a ratio with nothing to divide, a threshold row without a value) is
written as ``null``; an infinity is written as the string ``"inf"`` or ``"-inf"``, so that tau = infinity stays
infinity; :func:`as_float` reads any of them back as a float. Everything else becomes plain JSON (tuples and
arrays as lists, NumPy scalars as numbers, keys as strings).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

META = "meta"
# what a damaged or truncated .npz raises while it is read (NumPy, zipfile and zlib each have their own)
DAMAGED = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
_INF = {"inf": math.inf, "-inf": -math.inf}


def to_json(value):
    """``value`` as plain JSON values under the NaN policy of this module (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_json(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return value


def dumps(value, **kwargs) -> str:
    """JSON text of ``value`` under the NaN policy (strict JSON: no ``NaN`` or ``Infinity`` tokens)."""
    return json.dumps(to_json(value), allow_nan=False, **kwargs)


def as_float(value) -> float:
    """A number as :func:`to_json` wrote it (``null`` -> NaN, ``"inf"`` / ``"-inf"``, numbers) as a float."""
    if value is None:
        return math.nan
    return _INF[value] if isinstance(value, str) and value in _INF else float(value)


def pack_polylines(groups) -> tuple[np.ndarray, np.ndarray]:
    """Groups of polylines (a list of lists of ``(n, 2)`` arrays) -> points ``(P, 2)`` float32 and rows ``(L+1, 2)``."""
    lines = [np.asarray(line, np.float32).reshape(-1, 2) for lines in groups for line in lines]
    rows = [(g, len(line)) for g, lines in enumerate(groups) for line in lines] + [(len(groups), 0)]
    points = np.concatenate(lines) if lines else np.zeros((0, 2), np.float32)
    return points, np.array(rows, np.int64).reshape(-1, 2)


def unpack_polylines(points: np.ndarray, rows: np.ndarray) -> list:
    """Inverse of :func:`pack_polylines` (float64 polylines)."""
    rows = np.asarray(rows, np.int64).reshape(-1, 2)
    if len(rows) == 0 or rows[:-1, 1].sum() != len(points) or (rows[:-1, 0] >= rows[-1, 0]).any():
        raise ValueError("result file: its polyline table does not match its points")
    groups = [[] for _ in range(int(rows[-1, 0]))]
    start = 0
    for g, n in rows[:-1]:
        groups[int(g)].append(points[start:start + n].astype(np.float64))
        start += int(n)
    return groups


@dataclass
class ResultFile:
    """What :func:`read_result` returns: the arrays, the metadata and the unpacked polylines by name."""

    arrays: dict
    meta: dict
    polylines: dict = field(default_factory=dict)

    @property
    def made_from(self) -> dict | None:
        return self.meta.get("made_from")


def write_result(kind: str, version: int, arrays: dict, meta: dict, polylines: dict | None = None,
                 made_from: dict | None = None) -> bytes:
    """The bytes of a result file: ``arrays`` by name, ``meta`` (JSON-able), ``polylines`` ``{name: groups}``."""
    polylines = polylines or {}
    clash = sorted(({META} | {f"{n}_{p}" for n in polylines for p in ("points", "rows")}) & set(arrays))
    if clash:
        raise ValueError(f"result arrays may not be named {clash}")
    head = {"kind": kind, "format": version, "polylines": sorted(polylines)}
    if made_from is not None:
        head["made_from"] = made_from
    text = dumps({**meta, **head}).encode()
    packed = {f"{name}_{part}": a for name, groups in polylines.items()
              for part, a in zip(("points", "rows"), pack_polylines(groups))}
    buf = io.BytesIO()
    np.savez_compressed(buf, **{META: np.frombuffer(text, dtype=np.uint8)}, **arrays, **packed)
    return buf.getvalue()


def _open(source, what: str):
    """``np.load`` of a path, bytes or file object, every failure a ``ValueError`` naming ``what``."""
    try:
        z = np.load(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source, allow_pickle=False)
    except DAMAGED as exc:
        raise ValueError(f"{what}: not a readable .npz result file ({str(exc)[:80]})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{what}: a single .npy array, not a .npz result file")
    return z


def _meta(z, what: str) -> dict:
    try:
        meta = json.loads(bytes(z[META]).decode())
    except KeyError:
        raise ValueError(f"{what}: the file has no '{META}' (not a ridgeviz result)") from None
    except (*DAMAGED, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{what}: its metadata is damaged ({str(exc)[:80]})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{what}: its metadata is not a JSON object")
    return meta


def read_meta(source, what: str = "result file") -> dict:
    """Only the metadata of a result file (the arrays are not decompressed)."""
    with _open(source, what) as z:
        return _meta(z, what)


def read_result(source, kind: str, version: int, what: str = "result file") -> ResultFile:
    """Read a file written by :func:`write_result` with this ``kind`` and ``version``; a ``ValueError`` for any
    other kind or version, and for a damaged, truncated or foreign file."""
    with _open(source, what) as z:
        meta = _meta(z, what)
        if meta.get("kind") != kind or meta.get("format") != version:
            raise ValueError(f"{what}: holds {str(meta.get('kind'))[:40]!r} format {str(meta.get('format'))[:10]}; "
                             f"this code reads {kind!r} format {version} (rebuild or recompute it)")
        names = list(meta.get("polylines", []))
        try:
            arrays = {k: z[k] for k in z.files if k != META}
            lines = {n: unpack_polylines(arrays.pop(f"{n}_points"), arrays.pop(f"{n}_rows")) for n in names}
        except DAMAGED as exc:
            raise ValueError(f"{what}: its arrays are damaged or missing ({str(exc)[:80]})") from None
    for k in ("kind", "format", "polylines"):
        meta.pop(k)
    return ResultFile(arrays, meta, lines)
