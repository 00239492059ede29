"""The app server's memory allocator: few malloc arenas for many session threads.

Streamlit runs each browser session's script in a thread of its own, and
glibc gives each new thread a malloc arena of its own (up to eight per core).
Memory freed in an arena is seldom handed back to the system, so a server that
once served a few sessions at the same time keeps each of their peaks. Two
arenas keep the server near its working size: in the four-user load test
(``tests/test_app_load.py``) the memory kept after the sessions went from
210-450 MB to 70-170 MB with the trim below.

The same knob is glibc's ``MALLOC_ARENA_MAX`` environment variable; an
operator who set it keeps their own value. Threads the server started before
the app was imported keep their arenas, so :func:`release_free_memory` also
hands freed pages back (glibc's ``malloc_trim``) after page runs: about 40 ms
for a gigabyte of freed, fragmented heap, in a thread of its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import threading
import time

logger = logging.getLogger("hotspot_env.app")

#: glibc's ``mallopt`` parameter for the arena limit (``M_ARENA_MAX`` in malloc.h).
M_ARENA_MAX = -8

#: Arenas for the app server: one for the main thread, one shared by the sessions.
SERVER_ARENAS = 2

#: Shortest time between two trims (s): page runs come in bursts.
TRIM_INTERVAL_S = 5.0

_trim_lock = threading.Lock()
_last_trim = -float("inf")


@functools.cache
def _libc_function(name: str):
    """The C library's function ``name``, or None when it has none (not glibc).

    Looked up once: ``find_library`` runs ``ldconfig`` in a subprocess, which a
    call after every page run must not repeat.
    """
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on.

    Parameters
    ----------
    arenas : int
        The most arenas the process may have.

    Returns
    -------
    bool
        True when the cap was set; False when ``MALLOC_ARENA_MAX`` is set
        (the operator's value stands) or the C library is not glibc (macOS,
        musl), which has nothing to cap.
    """
    mallopt = _libc_function("mallopt")
    if os.environ.get("MALLOC_ARENA_MAX") or mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    done = bool(mallopt(M_ARENA_MAX, int(arenas)))
    if done:
        logger.info("malloc arenas capped at %d for the session threads", arenas)
    return done


def release_free_memory(min_interval_s: float = TRIM_INTERVAL_S) -> threading.Thread | None:
    """Hand the heap's freed pages back to the system, at most once per ``min_interval_s``.

    Parameters
    ----------
    min_interval_s : float
        Shortest time since the last trim; a call within it does nothing.

    Returns
    -------
    threading.Thread or None
        The thread doing the trim (``malloc_trim`` releases the interpreter
        lock), or None when it was too soon or the C library is not glibc.
    """
    global _last_trim
    with _trim_lock:
        now = time.monotonic()
        if now - _last_trim < min_interval_s:
            return None
        _last_trim = now
    trim = _libc_function("malloc_trim")
    if trim is None:
        return None
    thread = threading.Thread(target=trim, args=(0,), name="hotspot-env-trim", daemon=True)
    thread.start()
    return thread
