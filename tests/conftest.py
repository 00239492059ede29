"""Shared fixtures: the real São Paulo data pair (carried in tests/data/) and small helpers."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def sao_paulo() -> dict[str, Path]:
    """Paths of the São Paulo homicides CSV and OSM extract in tests/data/ (see its README)."""
    paths = {"incidents": TEST_DATA / "sao_paulo_homicides.csv",
             "osm": TEST_DATA / "spo_osm.pbf"}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:  # a hard failure, not a skip: the files are part of the repository
        raise FileNotFoundError(f"test data missing: {missing}")
    return paths


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the OSM GeoParquet cache out of the user's home during tests."""
    from hotspot_env import settings

    monkeypatch.setattr(settings, "cache_folder", tmp_path_factory.getbasetemp() / "osm-cache")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the whole session.

    Playwright's sync API may run only once per thread, so every browser test
    (maps, app pages) shares this single instance.
    """
    from playwright.sync_api import sync_playwright

    from tests.browser import launch_browser

    with sync_playwright() as p:
        b = launch_browser(p)
        try:
            yield b
        finally:
            b.close()


def _tracked_changes() -> str | None:
    """``git status`` of the tracked files, or None outside a git checkout."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TRACKED_KEY] = _tracked_changes()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test wrote a tracked file (screenshots come from ``make screenshots``)."""
    before = session.config.stash.get(_TRACKED_KEY, None)
    after = _tracked_changes()
    if before is not None and after is not None and after != before:
        changed = sorted(set(after.splitlines()) - set(before.splitlines()))
        if os.environ.get("HOTSPOT_ENV_SCREENSHOTS") == "1":  # `make screenshots`: their job
            changed = [c for c in changed if not c[3:].startswith("docs/screenshots/")]
            if not changed:
                return
        session.config.get_terminal_writer().line(f"tests wrote tracked files: {changed}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TRACKED_KEY = pytest.StashKey[str | None]()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def served_dir(tmp_path) -> Iterator[tuple[Path, str]]:
    """``tmp_path`` served over HTTP on loopback: (folder, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def national_runs(tmp_path_factory) -> dict[str, Path]:
    """A small national run for the app's tests, once internal and once public.

    Two cities of the test country (1.5 km each) analysed region by region at
    100 m cells. Returns ``{"root", "internal", "public"}``: the runs' parent
    folder and the two run folders.
    """
    from hotspot_env.scale.country import country_tiles, write_country
    from hotspot_env.scale.regions import run_national

    root = tmp_path_factory.mktemp("national-app")
    country = root / "country"
    write_country(country, "test", 11, tiles=country_tiles("test", 11, n_cities=2),
                  block_m=500.0)
    runs = {"root": root}
    for mode in ("internal", "public"):
        run_national(country, root / mode, cell_size=100.0, privacy=mode)
        runs[mode] = root / mode
    return runs
