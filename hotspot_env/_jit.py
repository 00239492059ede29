"""Numba compilation with an on-disk cache where the user can write, or none at all.

Numba caches compiled kernels beside the source (``__pycache__``) or in the
user's cache folder. A user who can write neither (the package installed by
root, a service account whose home does not exist, a read-only container)
got "cannot cache function" at import. :func:`njit` instead caches in the first
writable folder of: ``NUMBA_CACHE_DIR`` if the user set it, the package's own
``__pycache__``, ``~/.cache/hotspot_env/numba``, a private folder in the
system's temporary folder; and compiles without a cache (a few seconds more per
run, same results) when none is writable.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numba

logger = logging.getLogger(__name__)

PACKAGE_CACHE = Path(__file__).resolve().parent / "__pycache__"


def writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` (created if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _private_temp_folder() -> Path | None:
    """``<tmp>/hotspot_env-numba-<uid>``, only if it is ours and closed to others.

    Numba's cache holds pickled code: a folder another user could write would
    let them run code as us, so a shared or foreign folder is never used.
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"hotspot_env-numba-{uid if uid is not None else 'u'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o077 or (
            uid is not None and info.st_uid != uid):
        return None
    return folder


def choose_cache_folder(candidates: Iterable[Path | None]) -> Path | None:
    """The first writable folder of ``candidates`` (``None`` entries skipped), else None."""
    for folder in candidates:
        if folder is not None and writable(folder):
            return folder
    return None


def _configure() -> bool:
    """Point numba's cache at a writable folder; False when there is none."""
    from hotspot_env import settings

    user_set = os.environ.get("NUMBA_CACHE_DIR")
    candidates = (make() for make in (  # lazily: the temporary folder is made only if needed
        lambda: Path(user_set) if user_set else None, lambda: PACKAGE_CACHE,
        lambda: settings.cache_folder / "numba", _private_temp_folder))
    folder = choose_cache_folder(candidates)
    if folder is None:
        logger.debug("no writable folder for numba's cache: kernels compile on every run")
        return False
    if folder != PACKAGE_CACHE:
        numba.config.CACHE_DIR = str(folder)  # read by numba when a function is decorated
        logger.debug("numba cache in %s (the package folder is not writable)", folder)
    return True


#: Whether compiled kernels are cached on disk (decided once, at import).
CACHE: bool = _configure()


def njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)`` with ``cache`` set to :data:`CACHE`."""
    return numba.njit(cache=CACHE, **options)
