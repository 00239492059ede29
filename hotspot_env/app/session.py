"""Uploads in the app: limits, safe names and a private temporary folder per session.

A browser session's uploads are written only into its own temporary folder
(:class:`SessionFolder`), under a name built from a short allow-list of
characters (:func:`safe_filename`), so no file name typed by a user reaches
any other path. The folder records the browser session that owns it, and
:func:`sweep` removes every folder whose session has ended (the app runs it
every :data:`SWEEP_SECONDS` on a background thread, :func:`start_sweeper`),
as well as when the folder is garbage collected or the server exits. Limits
(:class:`UploadLimits`) refuse files that would exhaust the server, with
messages in plain words.

Nothing here imports Streamlit; the app keeps a :class:`SessionFolder` in the
session's own state and passes the uploaded bytes in.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import threading
import time
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from hotspot_env.errors import InputError

#: Accepted file suffixes per kind of upload.
SUFFIXES: dict[str, tuple[str, ...]] = {
    "incidents": (".csv", ".geojson", ".json", ".gpkg", ".parquet", ".geoparquet"),
    "layers": (".gpkg",),
    "osm": (".pbf", ".osm"),
}

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadLimits:
    """Largest uploads the app accepts.

    Attributes
    ----------
    max_bytes : mapping of str to int
        Largest file per kind (``incidents``, ``layers``, ``osm``), in bytes.
    max_features : int
        Most incidents, or features over all layers.
    max_vertices : int
        Most coordinates over all features of the layers.
    """

    max_bytes: Mapping[str, int] = field(default_factory=lambda: {
        "incidents": 50 * 1024**2, "layers": 100 * 1024**2, "osm": 100 * 1024**2})
    max_features: int = 250_000
    max_vertices: int = 3_000_000


#: The limits the app uses unless told otherwise.
DEFAULT_LIMITS = UploadLimits()


def _megabytes(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB" if n >= 1024**2 else f"{n / 1024:,.0f} KB"


def safe_filename(name: str, kind: str) -> str:
    """A file name safe to write: letters, digits, ``.``, ``_``, ``-``, a known suffix.

    Parameters
    ----------
    name : str
        The name the browser sent (may hold anything, including ``../`` or HTML).
    kind : {"incidents", "layers", "osm"}
        The kind of upload, which fixes the accepted suffixes.

    Returns
    -------
    str
        At most 80 characters, no path separators, no leading dot, ending in
        one of :data:`SUFFIXES` ``[kind]``.

    Raises
    ------
    InputError
        If the suffix is not one accepted for ``kind``.
    """
    if kind not in SUFFIXES:
        raise InputError(f"unknown kind of upload {kind!r}")
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    lower = base.lower()
    suffix = next((s for s in sorted(SUFFIXES[kind], key=len, reverse=True)
                   if lower.endswith(s)), None)
    if lower.endswith(".osm.pbf"):
        suffix = ".pbf"
    if suffix is None:
        raise InputError(
            f"this {kind} file must end in {', '.join(SUFFIXES[kind])}; got "
            f"{describe_name(name)!r}")
    stem = _SAFE.sub("_", base[: len(base) - len(suffix)]).strip("._-")[:72] or kind
    return f"{stem}{suffix}"


def describe_name(name: str, limit: int = 60) -> str:
    """A user-supplied name cut to ``limit`` characters, for messages (still escape it)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class SavedUpload:
    """One upload written to a session folder.

    Attributes
    ----------
    kind : str
        ``incidents``, ``layers`` or ``osm``.
    path : pathlib.Path
        Where it was written (inside the session folder).
    name : str
        The safe name shown to the user.
    sha256 : str
        Hash of the bytes.
    size : int
        Bytes.
    """

    kind: str
    path: Path
    name: str
    sha256: str
    size: int


#: Name prefix of every session folder (what :func:`sweep` looks for).
FOLDER_PREFIX = "hotspot_env_session_"
#: File in a session folder naming the browser session that owns it.
OWNER_FILE = ".owner"
#: Seconds between two sweeps of the app's background thread.
SWEEP_SECONDS = 30.0
#: A folder without an owner (made outside a browser session) goes after this long.
ORPHAN_SECONDS = 3600.0


class SessionFolder:
    """A private temporary folder for one browser session's uploads.

    Parameters
    ----------
    root : path-like, optional
        Parent folder (default: the system temporary folder).
    limits : UploadLimits, optional
        Limits applied by :meth:`save`.
    """

    def __init__(self, root: str | Path | None = None, limits: UploadLimits | None = None,
                 owner: str | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=root))
        self.limits = limits or DEFAULT_LIMITS
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)
        if owner is not None:  # the browser session whose end removes the folder
            (self.path / OWNER_FILE).write_text(str(owner), encoding="utf-8")

    def save(self, kind: str, name: str, data: bytes) -> SavedUpload:
        """Check and write one upload; a previous upload of the same kind is replaced.

        Parameters
        ----------
        kind : {"incidents", "layers", "osm"}
        name : str
            The name the browser sent (only its safe form is used).
        data : bytes
            The file's content.

        Raises
        ------
        InputError
            Wrong suffix, empty, or larger than the limit.
        """
        safe = safe_filename(name, kind)
        size = len(data)
        if size == 0:
            raise InputError(f"{safe} is empty: choose the file again")
        limit = int(self.limits.max_bytes[kind])
        if size > limit:
            raise InputError(
                f"{safe} is {_megabytes(size)}, more than the {_megabytes(limit)} the app "
                f"accepts for {kind}: cut it to the study area first, or use the command line "
                "(hotspot-env analyze), which has no such limit")
        folder = self.path / kind
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        target = folder / safe
        if target.resolve().parent != folder.resolve():  # pragma: no cover - defensive
            raise InputError("refusing an upload name that leaves the session folder")
        target.write_bytes(data)
        return SavedUpload(kind, target, safe, hashlib.sha256(data).hexdigest(), size)

    def cleanup(self) -> None:
        """Delete the folder and everything in it now."""
        self._finalizer()

    @property
    def alive(self) -> bool:
        """True until :meth:`cleanup` ran."""
        return self._finalizer.alive


def check_features(
    frames: Iterable[Any], what: str, limits: UploadLimits | None = None,
    count_vertices: bool = True,
) -> tuple[int, int]:
    """Refuse data with more features or vertices than the limits allow.

    Parameters
    ----------
    frames : iterable of GeoDataFrame
        The features (e.g. every layer of a GeoPackage).
    what : str
        What the data is, for the message ("incidents", "layers").
    limits : UploadLimits, optional
    count_vertices : bool
        Also count coordinates.

    Returns
    -------
    tuple of int
        Features and vertices counted.

    Raises
    ------
    InputError
        When a limit is exceeded.
    """
    limits = limits or DEFAULT_LIMITS
    n_features = 0
    n_vertices = 0
    for frame in frames:
        n_features += len(frame)
        if count_vertices and len(frame):
            n_vertices += int(np.sum(shapely.get_num_coordinates(
                np.asarray(frame.geometry.values))))
    if n_features > limits.max_features:
        raise InputError(
            f"the {what} hold {n_features:,} features, more than the {limits.max_features:,} "
            "the app accepts: cut them to the study area, or use the command line")
    if n_vertices > limits.max_vertices:
        raise InputError(
            f"the {what} hold {n_vertices:,} vertices, more than the {limits.max_vertices:,} "
            "the app accepts: simplify the geometries, or use the command line")
    return n_features, n_vertices


def upload_key(uploads: Iterable[SavedUpload | None], options: Mapping[str, Any]) -> str:
    """A cache key for an analysis of these uploads with these options.

    It is built from the uploads' hashes (not their paths or names), so only a
    session that has uploaded the same bytes can ever reach the same cached
    analysis.
    """
    h = hashlib.sha256()
    for upload in uploads:
        h.update(b"-" if upload is None else f"{upload.kind}:{upload.sha256}".encode())
        h.update(b"|")
    for key in sorted(options):
        h.update(f"{key}={options[key]!r};".encode())
    return h.hexdigest()


def sweep(is_active: Callable[[str], bool], root: str | Path | None = None,
          orphan_seconds: float = ORPHAN_SECONDS) -> list[Path]:
    """Remove the upload folders of browser sessions that have ended.

    Parameters
    ----------
    is_active : callable
        ``is_active(session_id)`` is True while that browser session is open
        (the app asks Streamlit's runtime).
    root : path-like, optional
        Parent of the session folders (default: the system temporary folder).
    orphan_seconds : float
        Folders without an owner file are removed once older than this.

    Returns
    -------
    list of Path
        The folders removed.
    """
    parent = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = []
    now = time.time()
    for folder in parent.glob(f"{FOLDER_PREFIX}*"):
        if not folder.is_dir():
            continue
        try:
            owner = (folder / OWNER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            owner = ""
        try:
            ended = (not is_active(owner)) if owner else (
                now - folder.stat().st_mtime > orphan_seconds)
        except FileNotFoundError:  # removed meanwhile by its own session
            continue
        if ended:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def start_sweeper(is_active: Callable[[str], bool], root: str | Path | None = None,
                  every: float = SWEEP_SECONDS) -> threading.Event:
    """Run :func:`sweep` every ``every`` seconds on a daemon thread.

    Returns
    -------
    threading.Event
        Set it to stop the thread.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                sweep(is_active, root)
            except Exception:  # pragma: no cover - never let the sweeper die
                logging.getLogger("hotspot_env").exception("upload sweep failed")

    threading.Thread(target=loop, name="hotspot_env-upload-sweeper", daemon=True).start()
    return stop
