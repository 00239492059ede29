"""Finished analyses kept on disk, so a fresh process need not run them again.

The app's first page waits for the demo analysis (a full :func:`pipeline.run`);
kept here after its first run, a new server process loads it in a fraction of
a second. An entry is keyed by everything that could change its result: the
package version, the package's own source, the input files' contents, the
options and :mod:`hotspot_env.settings`. Any change gives a new key, so a stale
entry is never read; an unreadable entry is treated as missing.

Entries are pickles in the user's cache folder (:data:`settings.cache_folder`,
or ``$HOTSPOT_ENV_CACHE_DIR``), never in the repository; they are written
atomically and read only from that folder, which only this user can write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from hotspot_env import settings
from hotspot_env._atomic import write_bytes
from hotspot_env._hashing import file_sha256

logger = logging.getLogger("hotspot_env")

T = TypeVar("T")

#: Folder under the cache folder holding the entries.
SUBFOLDER = "analyses"

_PACKAGE = Path(__file__).resolve().parents[1]

#: Entries already loaded or made in this process, with whether they came
#: from disk (a server warms them at start; its first page then finds them
#: here). Bounded: the demo has two.
_MEMORY: dict[str, tuple[Any, bool]] = {}
_MEMORY_ENTRIES = 4
#: One computation per key at a time: a warm-up thread and a first visitor
#: must not run the same analysis twice in parallel.
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def source_digest(package: Path = _PACKAGE) -> str:
    """SHA-256 over the package's ``.py`` files (names and contents), in sorted order.

    The version number alone misses edits made between releases; an entry made
    by other code must not be read.
    """
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


#: Settings that say where files live, not what an analysis computes.
_NOT_IN_KEY = frozenset({"cache_folder", "data_folder"})


def _settings_state() -> dict[str, str]:
    """The settings' public values (``repr``), which any stage may read."""
    return {name: repr(value) for name, value in sorted(vars(settings).items())
            if not name.startswith("_") and name not in _NOT_IN_KEY and not callable(value)
            and not isinstance(value, type(sys))}


def cache_key(files: Iterable[str | os.PathLike[str]], options: Mapping[str, Any]) -> str:
    """A hex key for an analysis of ``files`` with ``options`` by this code.

    Parameters
    ----------
    files : iterable of path
        Every input file; their contents (not names or times) enter the key.
    options : mapping
        Every option passed to the analysis; values enter the key by ``repr``.

    Returns
    -------
    str
        32 hex characters.
    """
    from hotspot_env import __version__

    parts = {
        "version": __version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "pickle": pickle.HIGHEST_PROTOCOL,
        "source": source_digest(),
        "files": [file_sha256(Path(f)) for f in files],
        "options": {k: repr(v) for k, v in sorted(options.items())},
        "settings": _settings_state(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def cache_folder() -> Path:
    """Where entries live: ``$HOTSPOT_ENV_CACHE_DIR`` or :data:`settings.cache_folder`."""
    root = os.environ.get("HOTSPOT_ENV_CACHE_DIR")
    return (Path(root) if root else Path(settings.cache_folder)) / SUBFOLDER


def cached(key: str, compute: Callable[[], T], folder: Path | None = None) -> tuple[T, bool]:
    """The entry under ``key``, or ``compute()`` stored under it.

    Parameters
    ----------
    key : str
        From :func:`cache_key`.
    compute : callable
        Makes the value when there is no readable entry.
    folder : Path, optional
        Default :func:`cache_folder`.

    Returns
    -------
    value, bool
        The value and whether it was read from disk rather than computed by
        this process (an entry held in memory keeps the answer of its load).
    """
    folder = folder or cache_folder()
    path = folder / f"{key}.pickle"
    memory_key = f"{folder}/{key}"
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(memory_key, threading.Lock())
    with lock:
        if memory_key not in _MEMORY:
            while len(_MEMORY) >= _MEMORY_ENTRIES:
                _MEMORY.pop(next(iter(_MEMORY)))
            _MEMORY[memory_key] = _load_or_compute(path, compute)
        return _MEMORY[memory_key]


def _load_or_compute(path: Path, compute: Callable[[], T]) -> tuple[T, bool]:
    if path.is_file():
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle), True
        except Exception as exc:  # noqa: BLE001 - a broken entry is recomputed, not fatal
            logger.warning("cached analysis %s unreadable (%s): running it again", path.name, exc)
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as exc:  # a read-only home still gets its analysis, just not cached
        logger.warning("could not keep the analysis in %s (%s)", path.parent, exc)
    return value, False


def forget() -> None:
    """Drop the entries held in this process (the files on disk stay)."""
    _MEMORY.clear()
