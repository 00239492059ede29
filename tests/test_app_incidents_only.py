# ruff: noqa: F811 - pytest fixtures are imported from tests.app_server
"""The app on an incidents-only upload (a police.uk file): explained, non-empty shortlist.

A real West Yorkshire slice (tests/data, OGL v3) is uploaded on the Data page
with no layers; the Interventions and Co-design pages must say why nothing
is ranked, the step that fills the list, and list the places to audit.
Screenshots go to test-artifacts/ only (never to tracked files).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app_server import (  # noqa: F401 - fixtures
    app_server,
    assert_no_exception,
    make_session,
    screenshot,
    wait_idle,
)

pytestmark = pytest.mark.browser

SLICE = (Path(__file__).resolve().parent / "data" / "west_yorkshire"
         / "2018-07-west-yorkshire-street-leeds-centre.csv")


def test_incidents_only_upload_gives_an_explained_shortlist(browser, app_server):
    s = make_session(browser, app_server)
    try:
        page = s.open("data")
        page.get_by_text("My own data").click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            {"name": SLICE.name, "mimeType": "text/csv", "buffer": SLICE.read_bytes()})
        page.get_by_role("button", name="Analyse my data").click()
        page.get_by_text("Analysed.").wait_for(timeout=120_000)
        wait_idle(page)
        screenshot(page, "incidents_only_data", docs=False)

        page = s.open("interventions", page)
        page.get_by_text("Audit these places first").wait_for(timeout=60_000)
        wait_idle(page)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "no layers were given" in main
        assert "--place" in main and "OpenStreetMap extract" in main
        assert "places ranked by recorded incidents; start with A01" in main
        assert_no_exception(page)
        screenshot(page, "incidents_only_interventions", docs=False)

        page = s.open("co-design", page)
        page.get_by_text("Places to talk about").wait_for(timeout=60_000)
        wait_idle(page)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "start with A01" in main and "no layers were given" in main
        assert_no_exception(page)
        screenshot(page, "incidents_only_codesign", docs=False)
        assert s.errors == [], s.errors
        assert s.blocked == [], s.blocked
    finally:
        s.context.close()
