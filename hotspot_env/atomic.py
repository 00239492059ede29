"""Atomic writes: a failed run leaves nothing half-written.

Outputs are first written under a temporary name in the destination folder
(same file system, so the final ``os.replace`` is atomic) and renamed only
when complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hotspot_env.errors import OutputError


def prepare_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` if needed; refuse a path that is a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"output path {folder} is a file: pass a folder for --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror}") from exc
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable: choose another --out")
    return folder


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
