"""Heavy work at a lower CPU priority than serving pages, so that a class's views stay quick while the slots run.

On Linux a thread's niceness is its own (``setpriority`` on the thread's id), so a heavy computation in one
session's script thread gives way to the threads that draw other sessions' pages, and the training worker process
gives way to the server. Raising the priority back needs a privilege most servers lack (``CAP_SYS_NICE``), so a
thread may stay at the lower priority until its script run ends (Streamlit starts a new thread for the next run).
Elsewhere (macOS, Windows) this does nothing. ``RIDGEVIZ_HEAVY_NICE`` sets the niceness (default 10; 0 keeps heavy
work at the pages' priority, for a server with cores to spare).
"""

from __future__ import annotations

import contextlib
import os
import threading

ENV_VAR = "RIDGEVIZ_HEAVY_NICE"
BACKGROUND_NICE = 10  # Linux's scheduler then gives an ordinary thread ~10x the CPU of a heavy one on a busy core


def heavy_nice() -> int:
    """The niceness of heavy work: ``RIDGEVIZ_HEAVY_NICE`` (0-19), default :data:`BACKGROUND_NICE`."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return BACKGROUND_NICE
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise ValueError(f"{ENV_VAR}={raw!r}: expected a whole number from 0 (the pages' priority) to 19 (lowest)")
    return value


def _thread_nice() -> int | None:
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (AttributeError, OSError):
        return None


@contextlib.contextmanager
def background():
    """Run the block with this thread at niceness :func:`heavy_nice` (or its own, when higher)."""
    nice = heavy_nice()
    before = _thread_nice() if os.name == "posix" and hasattr(os, "setpriority") else None
    lowered = False
    if before is not None and before < nice:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            lowered = True
    try:
        yield
    finally:
        if lowered:
            with contextlib.suppress(OSError):  # needs CAP_SYS_NICE; without it the rest of this run stays low
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), before)


def lower_process() -> None:
    """This whole process at niceness :func:`heavy_nice` (a heavy worker process; there is no way back)."""
    nice = heavy_nice()
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(max(0, nice - os.nice(0)))
