"""Files read and written safely: regular files only, a byte cap on every read, whole outputs or none.

Reading: a path must name a *regular* file (symlinks are followed); a device (``/dev/zero`` would read without end),
a FIFO (opening one for reading waits for a writer forever), a socket or a folder is refused from its ``stat``,
before it is opened. The file is then opened without blocking, checked again on the open descriptor (it cannot have
been swapped for a FIFO in between) and read up to a cap: more than ``max_bytes`` is refused, whatever the size
the file system reported. Every failure is a ``ValueError`` that starts with the caller's ``name`` (an option such
as ``--data``, or ``checkpoint``) and names the path.

Writing: :func:`atomic_write` and :func:`atomic_path` write to a temporary file in the target's folder and move it
into place with ``os.replace``, so a reader never sees a half-written file, and a full disk or an interrupted run
leaves the previous file (or none), never a truncated one; :func:`staged_folder` does the same for a whole run's
output folder. A target that exists but is not a regular file (``/dev/null``, a FIFO, a folder) is refused, so a
suffix is never appended to a device's name. Write errors are ``ValueError`` naming the path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
_CHUNK = 1 << 20


def _kind(mode: int) -> str:
    return next((label for test, label in _KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else
                "not a regular file")


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file (``0o666`` less the umask; mkstemp's own is ``0o600``)."""
    try:
        with open("/proc/self/status") as fh:
            umask = next((int(ln.split()[1], 8) for ln in fh if ln.startswith("Umask:")), 0o022)
    except OSError:
        umask = 0o022
    return 0o666 & ~umask


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def regular_file(path, name: str) -> Path:
    """``path`` as a Path after checking (without opening it) that it is a regular file; ``ValueError`` naming
    ``name`` and the path for a missing file, a folder, a device, a FIFO or a socket (symlinks followed)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {path} ({_reason(exc)})") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name}: cannot read {path}: it is {_kind(mode)}, not a regular file")
    return path


def open_regular(path, name: str, max_bytes: int):
    """A binary file object of the regular file ``path`` whose size is at most ``max_bytes`` (checked before it is
    opened and again on the open descriptor). The caller closes it (use it in a ``with`` block)."""
    path = regular_file(path, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {path} ({_reason(exc)})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{name}: cannot read {path}: it is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"{name}: {path} is {info.st_size:,} bytes; the limit is {max_bytes:,} bytes")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(path, name: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``; refused (``ValueError``) beyond ``max_bytes``, even when the file
    grows while it is read."""
    with open_regular(path, name, max_bytes) as fh:
        try:
            parts, total = [], 0
            while total <= max_bytes:
                block = fh.read(min(_CHUNK, max_bytes + 1 - total))
                if not block:
                    break
                parts.append(block)
                total += len(block)
        except OSError as exc:
            raise ValueError(f"{name}: cannot read {path} ({_reason(exc)})") from None
    if total > max_bytes:
        raise ValueError(f"{name}: {path} holds more than {max_bytes:,} bytes; the limit is {max_bytes:,} bytes")
    return b"".join(parts)


def writable_target(path, name: str) -> Path:
    """``path`` if it may be (over)written by a rename: absent or a regular file; ``ValueError`` otherwise."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise ValueError(f"{name}: {path} is a folder; name a file")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to {path} ({_reason(exc)})") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{name}: {path} is a folder; name a file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{name}: cannot write to {path}: it is {_kind(mode)}, not a regular file")
    return path


@contextlib.contextmanager
def atomic_path(path, name: str = "output"):
    """Yield a temporary path in ``path``'s folder; when the block ends without an error it replaces ``path``
    (``os.replace``), otherwise it is removed. For writers that want a file name (``np.savez``, plotly)."""
    path = writable_target(path, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode) if path.exists() else _new_file_mode())
        os.close(fd)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to {path} ({_reason(exc)})") from None
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to {path} ({_reason(exc)})") from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path, data: bytes | str, name: str = "output") -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` whole or not at all; returns the path."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path, name) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


@contextlib.contextmanager
def staged_folder(path, name: str = "--out"):
    """Yield a fresh temporary folder beside ``path`` to write a run's files into. When the block ends without an
    error, each file and folder written there takes the place of the one of the same name in ``path`` (others in
    ``path`` are kept); after an error or a signal the temporary folder is deleted and ``path`` is left as it was.
    So an interrupted run never leaves a folder that mixes its files with a previous run's."""
    given, path = Path(path), Path(path).resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: cannot write to {given}: it is {_kind(os.stat(path).st_mode)}, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to {given} ({_reason(exc)})") from None
    try:
        yield tmp
        _move_entries(tmp, path, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_entries(src: Path, dst: Path, name: str) -> None:
    """Move every top-level entry of ``src`` into ``dst``, replacing entries of the same name."""
    trash = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".old", dir=dst.parent))
    try:
        for entry in sorted(src.iterdir()):
            target = dst / entry.name
            if target.is_dir() and not target.is_symlink():
                os.replace(target, trash / entry.name)  # a folder cannot be replaced by a rename: move it aside
            os.replace(entry, target)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to {dst} ({_reason(exc)})") from None
    finally:
        shutil.rmtree(trash, ignore_errors=True)
