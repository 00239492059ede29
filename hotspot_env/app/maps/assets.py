"""Leaflet copied from the ``xstatic-leaflet`` package next to the app, so maps load offline."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

#: What a vendored Leaflet holds, and the stamp naming its version.
_LEAFLET_FILES = ("leaflet.js", "leaflet.css", "leaflet.js.map")
_STAMP_FILE = ".xstatic-version"


def _leaflet_source() -> tuple[Path, str]:
    import xstatic.pkg.leaflet as xleaflet

    return Path(xleaflet.BASE_DIR), f"xstatic-leaflet {xleaflet.PACKAGE_VERSION}"


def _vendored_ok(dest: Path, stamp: str, src: Path) -> bool:
    try:
        if (dest / _STAMP_FILE).read_text(encoding="utf-8") != stamp:
            return False
    except OSError:
        return False
    needed = [dest / name for name in _LEAFLET_FILES if (src / name).exists()]
    needed += [dest / "images" / p.name for p in (src / "images").glob("*.png")]
    return all(p.is_file() for p in needed)


def vendor_assets(static_dir: str | os.PathLike[str]) -> Path:
    """Copy Leaflet's JS, CSS and images into ``static_dir/vendor/leaflet``.

    The files come from the installed ``xstatic-leaflet`` package. The call is
    idempotent and cheap when the same version is already in place (a stamp
    file is compared); otherwise the files are written to a temporary folder
    which is then renamed into place, so a browser never sees a half-copied
    folder and concurrent app processes do not clash.

    Parameters
    ----------
    static_dir : path-like
        The folder served as static files (for Streamlit: ``static/`` next to
        ``app.py``, served at ``/app/static/``).

    Returns
    -------
    pathlib.Path
        ``static_dir / "vendor" / "leaflet"``.
    """
    src, stamp = _leaflet_source()
    dest = Path(static_dir) / "vendor" / "leaflet"
    if _vendored_ok(dest, stamp, src):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".leaflet-tmp-", dir=dest.parent))
    try:
        tmp.chmod(0o755)
        for name in _LEAFLET_FILES:
            if (src / name).exists():
                shutil.copyfile(src / name, tmp / name)
        shutil.copytree(src / "images", tmp / "images")
        (tmp / _STAMP_FILE).write_text(stamp, encoding="utf-8")
        if dest.exists():
            old = dest.with_name(f".leaflet-old-{uuid.uuid4().hex}")
            try:
                dest.rename(old)
            except FileNotFoundError:  # another process moved it first
                pass
            else:
                shutil.rmtree(old, ignore_errors=True)
        try:
            tmp.rename(dest)
        except OSError:
            # Another process won the race; fine if what it wrote is complete.
            if not _vendored_ok(dest, stamp, src):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
