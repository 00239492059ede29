"""Shared fixtures: the real São Paulo data pair (read in place) and small helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sao_paulo() -> dict[str, Path]:
    """Paths of the São Paulo homicides CSV and OSM extract in ../shared/data."""
    paths = {"incidents": SHARED_DATA / "sao_paulo_homicides.csv",
             "osm": SHARED_DATA / "spo_osm.pbf"}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:  # a hard failure, not a skip: CI always has ../shared beside the clone
        raise FileNotFoundError(f"test data missing: {missing}; clone with ../shared beside it")
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
