"""Atomic writes: a failed run leaves nothing half-written.

Outputs are first written under a temporary name in the destination folder
(same file system, so the final ``os.replace`` is atomic) and renamed only
when complete. A whole set of outputs is written into a hidden staging folder
inside the destination (:func:`staged_folder`) and moved into place only when
every file is complete, so a run either leaves all its files or none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from hotspot_env.errors import OutputError

#: Prefix of the hidden staging folder a run writes into before its files move into place.
STAGING_PREFIX = ".hotspot_env-partial-"


def check_output_folder(folder: str | os.PathLike[str],
                        inputs: Iterable[object] = ()) -> Path:
    """Fail early if ``folder`` cannot become an output folder; create nothing.

    Called before an analysis starts so a bad ``--out`` is reported at once
    rather than after minutes of work.

    Parameters
    ----------
    folder : path
        The ``--out`` folder.
    inputs : iterable of path or None
        Input files and folders of the run (``None`` and in-memory objects are
        skipped): ``folder`` may hold none of them, since an output named like
        an input would overwrite it.
    """
    folder = Path(folder)
    check_inputs_outside(folder, inputs)
    if folder.exists():
        if not folder.is_dir():
            raise OutputError(f"output path {folder} is a file: pass a folder for --out")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {folder} is not writable: choose another --out")
        return folder
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot create output folder {folder}: {parent} is a file, not a "
                          "folder; choose another --out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create output folder {folder}: {parent} is not writable; "
                          "choose another --out")
    return folder


def check_inputs_outside(folder: str | os.PathLike[str], inputs: Iterable[object]) -> None:
    """Refuse an output ``folder`` that is, or contains, one of ``inputs``."""
    out = Path(folder).resolve()
    for item in inputs:
        if not isinstance(item, str | os.PathLike):
            continue
        path = Path(item).resolve()
        if path == out or out in path.parents:
            what = "is the input folder" if path == out else f"holds the input {path.name}"
            raise OutputError(f"--out {folder} {what}: outputs could overwrite it; choose "
                              "another --out (a new, empty folder)")


def prepare_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` if needed; refuse a path that is a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output path {folder} is a file: pass a folder for --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}; "
                          "choose another --out") from exc
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable: choose another --out")
    return folder


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``folder``; publish its files together.

    On success every file written under the staging folder is moved to the
    same relative path in ``folder`` (``manifest.json`` last, so a manifest
    always describes a complete set) and the staging folder is removed. On any
    error, nothing of the run is left: the staging folder is removed, files
    already moved are taken back and the files they replaced restored, and
    ``folder`` itself is removed again if this run created it and it is empty.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder = prepare_folder(folder)
    try:
        stage = Path(tempfile.mkdtemp(dir=folder, prefix=STAGING_PREFIX))
    except OSError as exc:
        raise OutputError(f"cannot write into output folder {folder}: {exc.strerror or exc}; "
                          "choose another --out") from exc
    backup = stage.with_name(stage.name + "-replaced")
    moved: list[tuple[Path, Path | None]] = []  # (final path, backup of the file it replaced)
    try:
        yield stage
        files = sorted(p for p in stage.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.name == "manifest.json")  # stable: manifest last
        for path in files:
            rel = path.relative_to(stage)
            final = folder / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if final.exists():
                old = backup / rel
                old.parent.mkdir(parents=True, exist_ok=True)
                os.replace(final, old)
            moved.append((final, old))
            os.replace(path, final)
    except BaseException:
        for final, old in reversed(moved):
            with contextlib.suppress(OSError):
                if final.exists():
                    final.unlink()
                if old is not None:
                    os.replace(old, final)
        _remove_empty_dirs(folder, [final for final, _ in moved])
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(backup, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when the failed run left it empty
        raise
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(backup, ignore_errors=True)


def _remove_empty_dirs(folder: Path, paths: list[Path]) -> None:
    """Remove sub-folders of ``folder`` that a rolled-back run created and left empty."""
    for path in paths:
        parent = path.parent
        while parent != folder and folder in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it into place on success.

    The temporary name keeps ``final``'s suffix so drivers that infer the format
    from it (GDAL, pandas) still work.
    """
    final = Path(final)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}.", suffix=final.suffix)
    os.close(fd)
    os.unlink(tmp)  # some drivers (GPKG) refuse to open an existing empty file
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(final: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically and return the final path."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(final)


def write_bytes(final: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes atomically and return the final path."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)
