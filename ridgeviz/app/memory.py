"""Giving freed memory back to the system after heavy work, so that a server's resident memory falls back after a
class has gone.

A heavy computation allocates and frees hundreds of MB (particles x frames x training points). glibc's allocator
keeps freed blocks in its per-thread arenas for reuse, so without a trim the server's resident size stays near its
peak long after every session has closed. :func:`give_back` asks glibc to return what is free at the top of every
arena (``malloc_trim``); elsewhere (another C library, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def give_back() -> bool:
    """Return the allocator's free memory to the system; True where that was possible (glibc)."""
    trim = _trim()
    if trim is None:
        return False
    trim(ctypes.c_size_t(0))
    return True
