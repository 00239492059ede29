"""The app opens a national run, lists its regions and shows the second one (browser test).

A server of its own is started with ``HOTSPOT_ENV_RUN_ROOTS`` naming the test
run's parent folder. On the Data page a folder outside it is refused in one
line; the run's folder lists both regions; picking the second one shows its
map overlay on Explore and its interventions on Interventions, with no
console error, JavaScript error or request to another host. Screenshots go
to test-artifacts/ (docs/screenshots/ only under ``make screenshots``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app_server import (
    AppServer,
    assert_no_exception,
    checked_session,
    map_frame,
    running_server,
    screenshot,
    wait_idle,
    wait_overlay,
)
from tests.browser import chromium_available

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def national_server(national_runs, tmp_path_factory) -> Iterator[AppServer]:
    """``streamlit run app.py`` allowed to open the test runs' folder only."""
    if not chromium_available():
        pytest.fail("chromium is missing: run 'make test' (installs Debian's chromium)")
    with running_server(tmp_path_factory.mktemp("streamlit-national"),
                        tmp_path_factory.mktemp("analysis-cache-national"),
                        env={"HOTSPOT_ENV_RUN_ROOTS": str(national_runs["root"])}) as server:
        yield server


def _open_folder(page, folder: str) -> None:
    page.get_by_label("Run folder on the server").fill(folder)
    page.get_by_role("button", name="Open the run").click()
    wait_idle(page)


def test_the_app_opens_a_national_run_and_shows_the_second_region(browser, national_server,
                                                                   national_runs):
    with checked_session(browser, national_server) as s:
        page = s.open("data")
        page.get_by_text("A national or regional run").click()
        wait_idle(page)
        _open_folder(page, str(national_runs["root"].parent))  # above the allowed folder
        page.get_by_text("is outside the folders this server may open").wait_for(timeout=30_000)

        _open_folder(page, str(national_runs["internal"]))
        page.get_by_text("Regions (2)").wait_for(timeout=30_000)
        wait_idle(page)
        box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').first
        box.locator("input").click()
        page.keyboard.type("city_01")  # the combobox filters its list as one types
        page.get_by_role("option", name="city_01").click()
        page.wait_for_function("""() => Array.from(document.querySelectorAll(
            '[data-testid="stSelectbox"] input')).some(i => i.value === 'city_01')""",
                               timeout=30_000)
        wait_idle(page)
        page.get_by_role("button", name="Show this region").click()
        page.get_by_text("Showing region city_01").wait_for(timeout=30_000)
        wait_idle(page)
        screenshot(page, "national_data")

        page = s.open("explore", page)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("Showing region").wait_for(timeout=60_000)
        assert "city_01" in main.inner_text() and "city_00" not in main.inner_text()
        frame = map_frame(page)
        wait_overlay(frame)
        assert frame.locator("img.leaflet-image-layer").count() >= 1
        assert_no_exception(page)
        screenshot(page, "national_explore")

        page = s.open("interventions", page)
        page.get_by_text("Ranked list", exact=True).wait_for(timeout=60_000)
        wait_idle(page)
        table = page.locator('[data-testid="stDataFrame"]')
        assert table.count() >= 1 and table.first.is_visible()
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "Work orders of this region" in text and "city_01" in text
        assert page.get_by_role("button", name="Printable work orders (HTML)").count() == 1
        assert_no_exception(page)
        screenshot(page, "national_interventions")

        # Co-design is always public: an internal run's region is refused there, in one line
        page = s.open("co-design", page)
        page.get_by_text("written in internal mode").wait_for(timeout=60_000)
        assert page.locator('iframe[title="streamlit_folium.st_folium"]').count() == 0
        assert_no_exception(page)

        page = s.open("transparency", page)
        page.get_by_text("The region's manifest record").wait_for(timeout=60_000)
        assert "city_01" in page.locator('[data-testid="stMain"]').inner_text()
        assert_no_exception(page)
