"""User data from files and uploads: ``.csv``, ``.npy`` and ``.npz`` read into a validated ``(N, D)`` float64 array.

Nothing is unpickled and nothing is allocated before it is priced: a ``.npy`` header (or an ``.npz`` member's) is
parsed here, by this module, and the array it declares is checked against the element and memory limits
(:mod:`ridgeviz.utils.limits`) before a byte of it is read; an ``.npz`` member's declared size is checked before
it is inflated, and at most that much is inflated. A ``.csv`` is parsed line by line, its limits checked as the
rows arrive. A path must name a regular file, read with a byte cap (:mod:`ridgeviz.utils.files`). Every malformed
file (a damaged header, a broken zip, a truncated or bit-flipped stream) gives a ``ValueError`` that names the file
and says what is wrong; the result goes through :func:`validate_array`. This module never imports streamlit.
"""

from __future__ import annotations

import ast
import io
import itertools
import math
import os
import zipfile

import numpy as np

from ..utils.files import read_capped, regular_file
from ..utils.limits import BudgetError, require_elements
from ..utils.validation import Array, Integer, check

MAX_FILE_BYTES = 50 * 2**20
_NPY_MAGIC = b"\x93NUMPY"
_HEADER_LENGTH = {1: ("<H", 2, "latin1"), 2: ("<I", 4, "latin1"), 3: ("<I", 4, "utf8")}
_MAX_HEADER = 10_000
MAX_POINTS, MAX_DIM = 200_000, 4096  # the default limits of validate_array


def validate_array(arr, *, name: str = "data", max_points: int = MAX_POINTS, max_dim: int = MAX_DIM) -> np.ndarray:
    """Check user data and return it as a float64 C-contiguous copy of shape ``(N, D)``.

    Requires real numbers (integers are converted; bool, complex, strings and objects are refused), exactly two
    dimensions, ``2 <= N <= max_points``, ``1 <= D <= max_dim``, ``N * D`` within the element limit, and every value
    finite (and at most 1e150 in magnitude). Each failure raises a ``ValueError`` whose message starts with ``name``.
    """
    a = check(name, arr, Array((None, None), at_least=(2, 1), label="(N, D)"))
    n, d = a.shape
    check(f"{name}: the number of points (rows)", n, Integer(2, max_points))
    check(f"{name}: the number of dimensions (columns)", d, Integer(1, max_dim))
    require_elements(n * d, name, "the number of points or dimensions")
    return np.array(a, dtype=np.float64, order="C", copy=True)


def load_array_file(path_or_bytes, filename: str, *, max_bytes: int = MAX_FILE_BYTES, name: str | None = None,
                    **limits) -> np.ndarray:
    """Read a .csv, .npy or .npz file into a validated ``(N, D)`` float64 array.

    path_or_bytes: a filesystem path, raw bytes (e.g. ``UploadedFile.getvalue()``) or a binary file object.
    filename: used for its extension and in messages; ``name`` (default: ``filename``) starts every message (the
    command line passes its option, e.g. ``"--data"``).
    .csv: comma separated numbers; one leading header row of non-numeric names is skipped; ``#`` comments and
    blank lines are ignored; any other text cell is an error naming its line and column.
    .npy: plain numbers only (object and pickled arrays are refused); .npz: the array named "data", else the only
    array in the archive. Files larger than ``max_bytes`` are refused before they are parsed; ``limits``
    (``max_points``, ``max_dim``) go to :func:`validate_array`.
    """
    name = filename if name is None else name
    if isinstance(path_or_bytes, (str, os.PathLike)):
        regular_file(path_or_bytes, name)  # a device or a FIFO is named as such, whatever its extension
    ext = os.path.splitext(str(filename))[1].lower()
    if ext not in (".csv", ".npy", ".npz"):
        raise ValueError(f"{name}: unsupported file extension {ext or '(none)'!r}; use .csv, .npy or .npz")
    raw = _read_limited(path_or_bytes, filename, name, max_bytes)
    if ext == ".csv":
        arr = _parse_csv(raw, name, limits.get("max_points", MAX_POINTS), limits.get("max_dim", MAX_DIM))
    elif ext == ".npy":
        arr = _parse_npy(raw, name)
    else:
        arr = _parse_npz(raw, name)
    return validate_array(arr, name=name, **limits)


def _read_limited(src, filename: str, name: str, max_bytes: int) -> bytes:
    """The file's bytes, refusing more than ``max_bytes`` (checked before reading where possible)."""
    try:
        if isinstance(src, (bytes, bytearray, memoryview)):
            raw, size = bytes(src), len(src)
        elif isinstance(src, (str, os.PathLike)):
            return read_capped(src, name, max_bytes)  # regular files only, refused beyond max_bytes
        elif hasattr(src, "read"):
            raw = src.read(max_bytes + 1)
            size = f"more than {max_bytes}"
        else:
            raise ValueError(f"{name}: expected a path, bytes or a binary file object; got {type(src).__name__}")
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {filename} ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise ValueError(f"{name}: {filename} is {size} bytes; the limit is {max_bytes} bytes")
    return raw


# -- .npy / .npz ------------------------------------------------------------------------------------------
def _parse_npy(raw: bytes, name: str) -> np.ndarray:
    """An array from ``.npy`` bytes: header parsed and priced here, data viewed without a pickle or a copy."""
    if not raw.startswith(_NPY_MAGIC):
        hint = " (it looks like a Python pickle, which is refused)" if raw[:1] == b"\x80" else ""
        raise ValueError(f"{name} is not a valid .npy file{hint}")
    shape, fortran, dtype, offset = _npy_header(raw, name)
    count = math.prod(shape)
    require_elements(count, name, "the size of the array", itemsize=dtype.itemsize)
    if len(raw) - offset < count * dtype.itemsize:
        raise ValueError(f"{name} is truncated: its header declares shape {shape} of {dtype} "
                         f"({count * dtype.itemsize} bytes) but {len(raw) - offset} bytes follow")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return data.reshape(shape, order="F" if fortran else "C")


def _npy_header(raw: bytes, name: str):
    """``(shape, fortran_order, dtype, data offset)`` of ``.npy`` bytes; ``ValueError`` for anything malformed."""
    version = raw[6] if len(raw) > 7 else None
    if version not in _HEADER_LENGTH:
        raise ValueError(f"{name}: unsupported or corrupt .npy version {raw[6:8]!r}")
    fmt, size, encoding = _HEADER_LENGTH[version]
    start = 8 + size
    if len(raw) < start:
        raise ValueError(f"{name} is truncated inside its .npy header")
    length = int.from_bytes(raw[8:start], "little")
    if length > _MAX_HEADER or len(raw) < start + length:
        raise ValueError(f"{name}: the .npy header is corrupt (declares {length} bytes)")
    try:
        header = ast.literal_eval(raw[start:start + length].decode(encoding))
        shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
        dtype = np.dtype(descr)
    except Exception:  # untrusted text: literal_eval and np.dtype raise many kinds of errors
        raise ValueError(f"{name}: the .npy header is corrupt (not a dict of shape, fortran_order and descr)") \
            from None
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape) and len(shape) <= 32):
        raise ValueError(f"{name}: the .npy header declares an invalid shape {str(shape)[:60]}")
    if not isinstance(fortran, bool):
        raise ValueError(f"{name}: the .npy header is corrupt (fortran_order is {fortran!r})")
    if dtype.hasobject:
        raise ValueError(f"{name} contains a pickled or object array, which is refused for safety; "
                         "save plain numbers with np.save(..., allow_pickle=False)")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{name} holds a structured array ({str(dtype)[:60]}); save a plain (N, D) array of numbers")
    if dtype.itemsize == 0:
        raise ValueError(f"{name}: the .npy header declares an empty dtype {dtype}")
    return shape, fortran, dtype, start + length


def _parse_npz(raw: bytes, name: str) -> np.ndarray:
    """The array named 'data' in ``.npz`` bytes, else the only one; declared sizes checked before inflating."""
    if not raw.startswith(b"PK"):
        raise ValueError(f"{name} is not a valid .npz file")
    damaged = f"{name} could not be read as .npz: the archive is damaged"
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        members = {info.filename.removesuffix(".npy"): info for info in zf.infolist()}
    except Exception as exc:  # zipfile, zlib, bz2 and lzma raise many kinds of errors for damaged archives
        raise ValueError(f"{damaged} ({type(exc).__name__})") from None
    with zf:
        keys = list(members)
        if "data" in members:
            info = members["data"]
        elif len(members) == 1:
            info = members[keys[0]]
        else:
            raise ValueError(f"{name} holds {len(keys)} arrays {keys[:10]}; expected one, or one named 'data'")
        require_elements(info.file_size / 8, f"{name} (member {info.filename})", "the size of the array")
        try:
            with zf.open(info) as fh:
                member = fh.read(info.file_size + 1)
        except Exception as exc:
            raise ValueError(f"{damaged} ({type(exc).__name__})") from None
    if len(member) > info.file_size:
        raise ValueError(f"{name}: member {info.filename} inflates beyond its declared size; the archive is damaged")
    return _parse_npy(member, f"{name} (member {info.filename})")


# -- .csv ---------------------------------------------------------------------------------------------------
def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _content_lines(raw: bytes, filename: str):
    """``(line number, text)`` of each line with data, comments (``#``) and blank lines left out, decoded one line at
    a time (no list of every line is ever built: that took about 65x the file's size for short lines)."""
    text = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline=None)
    try:
        for i, line in enumerate(text, start=1):
            body = line.split("#", 1)[0]
            if body.strip():
                yield i, body.rstrip("\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{filename} is not UTF-8 text: {exc}") from None


def _parse_csv(raw: bytes, filename: str, max_points: int = MAX_POINTS, max_dim: int = MAX_DIM) -> np.ndarray:
    """Parse comma-separated numbers with an optional header row of names; text cells are errors, not NaN.

    Streaming: lines go one by one to NumPy's parser, and the limits (``max_points`` rows, ``max_dim`` columns, the
    element limit) are checked as rows arrive, so a file beyond them is refused as soon as a row crosses one,
    before its values are all held."""
    lines = _content_lines(raw, filename)
    first = next(lines, None)
    if first is None:
        raise ValueError(f"{filename} contains no data rows")
    first_line, text = first
    cells = [c.strip() for c in text.split(",")]
    if not all(_is_number(c) for c in cells):
        if any(_is_number(c) for c in cells):
            bad = next(j for j, c in enumerate(cells, start=1) if not _is_number(c))
            raise ValueError(f"{filename}: line {first_line}, column {bad} is not a number: {cells[bad - 1]!r} "
                             "(a header row must contain only names)")
        first = next(lines, None)  # a header of names
        if first is None:
            raise ValueError(f"{filename} contains a header but no data rows")
    width = first[1].count(",") + 1
    check(f"{filename}: the number of dimensions (columns)", width, Integer(1, max_dim))

    def rows():
        n = 0
        for _, body in itertools.chain([first], lines):
            n += 1
            if n > max_points:
                raise BudgetError(f"{filename}: the number of points (rows) must be at most {max_points:,}; the file "
                                 "has more")
            if n == 1 or n % 4096 == 0:
                require_elements(n * width, filename, "the number of rows or columns")
            yield body

    try:
        return np.loadtxt(rows(), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except BudgetError:  # a limit crossed while parsing (raised by rows() above)
        raise
    except ValueError:
        raise ValueError(_csv_error(_content_lines(raw, filename), first[0], filename)) from None


def _csv_error(rows, start: int, filename: str) -> str:
    """Locate the first unreadable cell from line ``start`` on (slow path, used only to word the error)."""
    width = None
    for line_no, ln in rows:
        if line_no < start:
            continue
        cells = [c.strip() for c in ln.split(",")]
        for j, c in enumerate(cells, start=1):
            if not _is_number(c):
                what = "is empty" if c == "" else f"is not a number: {c!r}"
                if any(sep in c for sep in (";", "\t", " ")):
                    what += " (values must be separated by commas)"
                return f"{filename}: line {line_no}, column {j} {what}"
        width = len(cells) if width is None else width
        if len(cells) != width:
            return f"{filename}: line {line_no} has {len(cells)} columns; earlier rows have {width}"
    return f"{filename} could not be parsed as comma-separated numbers"
