# ruff: noqa: F811 - pytest fixtures are imported from tests.app_server
"""The app in a real browser: every page, the maps, downloads, privacy, XSS, isolation.

One Streamlit server and one Chromium serve the whole module (see
``tests/app_server.py``); each test has its own browser context, in which any
request to another host is aborted and fails the test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.app_server import (  # noqa: F401 - fixtures
    ARTIFACTS,
    REPO,
    app_server,
    assert_no_exception,
    click_map,
    make_session,
    map_frame,
    screenshot,
    session,
    wait_idle,
    wait_overlay,
)

pytestmark = pytest.mark.browser

XSS_IMG = "<img src=x onerror=window.__xss=1>"
XSS_SCRIPT = "<script>window.__xss=1</script>"


@pytest.fixture(scope="module")
def demo_grid():
    """The demo's grid and counts (core analysis only; the app's grid is the same)."""
    from hotspot_env.core.analysis import analyze
    from hotspot_env.inputs.demo import demo_incidents_path, demo_osm_path

    a = analyze(demo_incidents_path(), osm=demo_osm_path(), privacy="public")
    return a.grid, a.arrays["incidents"]


@pytest.fixture(scope="module")
def demo_internal_grid():
    """The grid and counts of the demo's internal run (Explore's default mode): finer than
    the public run's, whose cells are at least 100 m."""
    from hotspot_env.core.analysis import analyze
    from hotspot_env.inputs.demo import demo_incidents_path, demo_osm_path

    a = analyze(demo_incidents_path(), osm=demo_osm_path(), privacy="internal")
    return a.grid, a.arrays["incidents"]


def _centre_latlon(grid, row: int, col: int) -> tuple[float, float]:
    from hotspot_env.app.places import cell_centre_lonlat

    lon, lat = cell_centre_lonlat(grid, row, col)
    return lat, lon


def _download(page, button_text: str) -> bytes:
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name=button_text).click()
    return Path(info.value.path()).read_bytes()


def _no_xss(page) -> None:
    for frame in page.frames:
        assert frame.evaluate("() => typeof window.__xss") == "undefined", frame.url


# --------------------------------------------------------------------------- pages


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _shot(session, page, name: str) -> None:
    wait_idle(page)
    page.wait_for_timeout(400)  # let the map paint its overlay
    screenshot(page, name)
    assert_no_exception(page)
    assert session.dialogs == []


def test_explore_map_payload_and_click(session, demo_internal_grid):
    """Explore draws the map from local files, stays light, and explains a clicked cell."""
    grid, counts = demo_internal_grid
    sizes = {"http": 0, "ws": 0}
    page = session.new_page()

    def on_response(resp):
        try:
            sizes["http"] += len(resp.body())
        except Exception:  # noqa: BLE001 - redirects and aborted requests have no body
            pass

    def on_ws(ws):
        ws.on("framereceived", lambda payload: sizes.__setitem__(
            "ws", sizes["ws"] + len(payload if isinstance(payload, bytes | str) else b"")))

    page.on("response", on_response)
    page.on("websocket", on_ws)
    page = session.open("explore", page)
    frame = map_frame(page)
    wait_overlay(frame)
    assert frame.locator(".leaflet-hotspotBasemap-pane path").count() > 0
    assert frame.locator(".leaflet-overlay-pane path").count() > 0  # Gi* cells
    assert "Simulated incidents" in _main_text(page)
    wait_idle(page)
    figures = {"http_bytes": sizes["http"], "websocket_bytes": sizes["ws"],
               "total_bytes": sizes["http"] + sizes["ws"]}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "payload_explore.json").write_text(json.dumps(figures, indent=2))
    # The page's own data (map HTML and JSON over the websocket) stays under 2 MB;
    # HTTP is Streamlit's and Leaflet's static files (cached by the browser).
    assert sizes["ws"] < 2_000_000, figures

    row, col = np.unravel_index(np.argmax(np.where(grid.mask, counts, 0)), counts.shape)
    click_map(frame, *_centre_latlon(grid, row, col),
              expect=page.get_by_text(f"Cell {int(row * grid.n_cols + col)}"))
    wait_idle(page)
    main = _main_text(page)
    assert "Recorded incidents" in main
    assert str(int(counts[row, col])) in main  # internal mode: the exact count

    # The time slider: one month's hot spots replace the whole period's on the map.
    slider = page.locator('[data-testid="stSlider"]', has_text="Hot spots in one month")
    slider.locator('input[type="range"]').focus()
    page.keyboard.press("ArrowRight")
    page.get_by_text("recorded incidents in the study area").wait_for(timeout=60_000)
    wait_idle(page)
    frame = map_frame(page)
    frame.locator(".hotspot-legend", has_text="Gi* hot and cold spots, 20").wait_for(
        timeout=60_000)
    month = slider.locator('[data-testid="stSliderThumbValue"]').inner_text().strip()
    assert re.fullmatch(r"20\d\d-\d\d", month), month
    assert frame.locator(".hotspot-legend", has_text=f"spots, {month}").count() == 1
    _shot(session, page, "explore")


def test_data_page(session):
    page = session.open("data")
    assert "Simulated incidents" in _main_text(page)
    page.get_by_text("My own data").click()
    page.get_by_role("button", name="Analyse my data").wait_for(timeout=30_000)
    wait_idle(page)
    # Each uploader states the limit the page states (not Streamlit's 200 MB).
    main = _main_text(page)
    zones = re.findall(r"(\d+) ?MB per file", main)
    assert zones == ["50", "100", "100"], zones
    assert "incidents up to 50 MB" in main and "OSM up to 100 MB" in main
    _shot(session, page, "data")


# --------------------------------------------------------------------------- co-design


def test_codesign_hides_small_counts_and_exports_proposal(session, demo_grid):
    grid, counts = demo_grid
    small = np.argwhere(grid.mask & (counts >= 1) & (counts <= 4))
    row, col = small[len(small) // 2]
    page = session.open("co-design")
    assert "Simulated incidents" in _main_text(page)
    frame = map_frame(page)
    wait_overlay(frame)
    html = frame.content()
    # Gi* tooltips carry counts (field t1): never 1-4 in public mode.
    assert not re.search(r'"t1":\s*"[1-4]"', html)
    lat, lon = _centre_latlon(grid, row, col)
    click_map(frame, lat, lon, expect=page.get_by_text("recorded incidents:"))
    wait_idle(page)
    here = page.locator('[data-testid="stMain"]').inner_text()
    assert "recorded incidents: <5" in here
    assert not re.search(rf"recorded incidents: {int(counts[row, col])}\b", here)

    page.get_by_label("Why here? (a short note)").fill("More light by the bus stop, please")
    page.get_by_role("button", name="Add proposal").click()
    page.get_by_text("Proposals (1)").wait_for(timeout=30_000)
    wait_idle(page)
    data = _download(page, "Proposals (CSV)")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert len(rows) == 1
    assert rows[0]["note"] == "More light by the bus stop, please"
    assert abs(float(rows[0]["lat"]) - lat) < 1e-5 and abs(float(rows[0]["lon"]) - lon) < 1e-5
    assert int(rows[0]["cell_id"]) == int(row * grid.n_cols + col)
    geo = json.loads(_download(page, "Proposals (GeoJSON)"))
    assert geo["features"][0]["properties"]["proposal_id"] == "P001"
    _shot(session, page, "co-design")


# --------------------------------------------------------------------------- interventions


def test_budget_changes_the_list_and_csv_downloads(session):
    page = session.open("interventions")
    assert "has not run" not in _main_text(page), "the interventions stage must run on the demo"
    wait_overlay(map_frame(page))

    def metrics() -> tuple[str, str]:
        values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
        return values[0], values[1]

    before = metrics()
    data = _download(page, "Ranked list (CSV)")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert rows and {"type", "cost", "selected"} <= set(rows[0])
    chosen_before = sum(r["selected"].lower() == "true" for r in rows)
    assert f"{chosen_before:,}" == before[0]
    # the headline is the joint effect with its interval, as in the CLI and on the work orders
    assert "joint effect, overlaps combined" in _main_text(page)

    budget = page.locator('input[aria-label="Budget (USD per year)"]')
    current = float(budget.input_value().replace(",", ""))
    budget.fill(str(int(current / 4)))
    budget.press("Enter")
    page.wait_for_function(
        "(old) => document.querySelectorAll('[data-testid=\"stMetricValue\"]')[1]"
        "?.innerText !== old", arg=before[1], timeout=30_000)
    wait_idle(page)
    after = metrics()
    assert after != before
    typed = int(current / 4)
    assert budget.input_value() == f"{typed:,}", budget.input_value()  # read back grouped
    rows = list(csv.DictReader(io.StringIO(_download(page, "Ranked list (CSV)").decode())))
    assert sum(r["selected"].lower() == "true" for r in rows) < chosen_before
    assert page.get_by_role("button", name="Prepare printable work orders").count() == 1
    geo = json.loads(_download(page, "Sites (GeoJSON)"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == len(rows)
    _shot(session, page, "interventions")

    # Work orders: the printable sheet, then its PDF on Letter paper.
    page.get_by_role("button", name="Prepare printable work orders").click()
    page.get_by_role("button", name="Work orders (printable HTML)").wait_for(timeout=120_000)
    wait_idle(page)
    sheet = _download(page, "Work orders (printable HTML)").decode("utf-8")
    assert "type='checkbox'" not in sheet and "streetlight_upgrade</td>" not in sheet
    page.get_by_text("Letter", exact=True).click()
    page.get_by_role("button", name="Prepare the PDF (Letter)").click()
    page.get_by_role("button", name="Work orders (PDF, Letter)").wait_for(timeout=240_000)
    wait_idle(page)
    import pypdf

    pdf = pypdf.PdfReader(io.BytesIO(_download(page, "Work orders (PDF, Letter)")))
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (792, 612)  # Letter, landscape
    assert "Work orders" in pdf.pages[0].extract_text()
    printed = session.new_page()
    printed.set_viewport_size({"width": 1123, "height": 794})  # A4 landscape at 96 dpi
    printed.set_content(sheet)
    printed.emulate_media(media="print")
    printed.locator("section.district").first.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    printed.screenshot(path=str(ARTIFACTS / "app_work-orders-printed.png"))
    if os.environ.get("HOTSPOT_ENV_SCREENSHOTS") == "1":  # `make screenshots` only
        printed.screenshot(path=str(REPO / "docs" / "screenshots" / "work-orders-printed.png"))


# --------------------------------------------------------------------------- transparency


def test_flag_form_exports_csv(session):
    page = session.open("transparency")
    page.get_by_label("Or describe the place (street, landmark)").fill("Corner by the library")
    page.get_by_label("Why").fill("There is a new lamp here since May")
    page.get_by_role("button", name="Send flag").click()
    page.get_by_text("flag 1 recorded").wait_for(timeout=30_000)
    wait_idle(page)
    rows = list(csv.DictReader(io.StringIO(
        _download(page, "Download flags for review (CSV, 1)").decode("utf-8"))))
    assert rows[0]["reason"] == "There is a new lamp here since May"
    assert rows[0]["place"] == "Corner by the library"
    manifest = json.loads(_download(page, "Download manifest.json"))
    assert manifest["simulated_incidents"] is True
    _shot(session, page, "transparency")


def test_results_section_evaluates_a_simulated_ledger(session):
    """Transparency > Results: the demo's simulated ledger, public view, report download."""
    page = session.open("transparency")
    page.get_by_text("Results: did it work?").wait_for(timeout=60_000)
    page.get_by_text("Download the performance report (HTML)").wait_for(timeout=120_000)
    wait_idle(page)
    text = _main_text(page)
    assert "new streetlight" in text and "streetlight upgrade" in text
    report = _download(page, "Download the performance report (HTML)").decode("utf-8")
    assert "Did it work?" in report and "Simulated data" in report
    assert "Public version" in report
    ledger = list(csv.DictReader(io.StringIO(
        _download(page, "Download the done-ledger (CSV)").decode("utf-8"))))
    assert len(ledger) == 20 and all(row["done_date"] == "2024-01-15" for row in ledger)
    assert all(row["intervention_id"] in report for row in ledger)
    assert_no_exception(page)


# --------------------------------------------------------------------------- XSS, isolation


def _xss_csv() -> bytes:
    rng = np.random.default_rng(7)
    lon = 24.935 + rng.random(240) * 0.02
    lat = 60.163 + rng.random(240) * 0.012
    cats = [XSS_IMG, XSS_SCRIPT, "theft", "![x](http://example.org/x.png)"]
    lines = ["lon,lat,datetime,category"]
    for i in range(240):
        cat = cats[i % len(cats)].replace('"', '""')
        lines.append(f'{lon[i]:.6f},{lat[i]:.6f},2024-0{1 + i % 9}-1{i % 9}T2{i % 4}:00:00,'
                     f'"{cat}"')
    return ("\n".join(lines) + "\n").encode()


def test_xss_and_session_isolation(browser, app_server, demo_grid):
    """Hostile text in a note, a flag and an upload never runs; sessions never mix."""
    grid, counts = demo_grid
    a = make_session(browser, app_server)
    b = make_session(browser, app_server)
    try:
        # A: a proposal with a hostile note
        page = a.open("co-design")
        frame = map_frame(page)
        row, col = np.unravel_index(np.argmax(np.where(grid.mask, counts, 0)), counts.shape)
        click_map(frame, *_centre_latlon(grid, row, col),
                  expect=page.get_by_text("recorded incidents:"))
        wait_idle(page)
        page.get_by_label("Why here? (a short note)").fill(f"{XSS_IMG} {XSS_SCRIPT}")
        page.get_by_role("button", name="Add proposal").click()
        page.get_by_text("Proposals (1)").wait_for(timeout=30_000)
        wait_idle(page)
        frame = map_frame(page)
        frame.locator(".leaflet-overlay-pane path").first.wait_for(timeout=30_000)
        # hover every proposal marker so its tooltip (with the note) renders
        for marker in frame.locator("path.leaflet-interactive").all()[-3:]:
            marker.hover(force=True)
        _no_xss(page)

        # A: a flag with a hostile reason
        page = a.open("transparency", page)
        page.get_by_label("Or describe the place (street, landmark)").fill(XSS_SCRIPT)
        page.get_by_label("Why").fill(XSS_IMG)
        page.get_by_role("button", name="Send flag").click()
        page.get_by_text("flag 1 recorded").wait_for(timeout=30_000)
        wait_idle(page)
        _no_xss(page)

        # A: an upload whose name and categories are hostile
        page = a.open("data", page)
        page.get_by_text("My own data").click()
        wait_idle(page)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            {"name": f"{XSS_IMG}.csv", "mimeType": "text/csv", "buffer": _xss_csv()})
        page.get_by_role("button", name="Analyse my data").click()
        page.get_by_text("Analysed.").wait_for(timeout=120_000)
        wait_idle(page)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "Your data in this session" in main
        assert "Simulated incidents" not in main  # the demo's banner went with the demo
        assert "<img" not in page.locator('[data-testid="stMain"]').inner_html().replace(
            "&lt;img", "")
        _no_xss(page)
        page = a.open("explore", page)
        wait_overlay(map_frame(page))
        assert "Simulated incidents" not in page.locator('[data-testid="stMain"]').inner_text()
        _no_xss(page)
        screenshot(page, "explore_upload")

        # B: sees the demo, no upload, no proposal, no flag
        page_b = b.open("data")
        text = page_b.locator('[data-testid="stMain"]').inner_text()
        assert "Your data in this session" not in text and "onerror" not in text
        page_b = b.open("co-design", page_b)
        page_b.get_by_text("Proposals (0)").wait_for(timeout=30_000)
        page_b = b.open("transparency", page_b)
        page_b.get_by_role("button", name="Download flags for review (CSV, 0)").wait_for(
            timeout=30_000)
        page_b = b.open("explore", page_b)
        assert "Simulated incidents" in page_b.locator('[data-testid="stMain"]').inner_text()
        _no_xss(page_b)
        for s in (a, b):
            assert s.dialogs == [], s.dialogs
            assert s.errors == [], s.errors
            assert s.blocked == [], s.blocked
    finally:
        a.context.close()
        b.context.close()


# --------------------------------------------------------------------------- direct links, log


def test_direct_links_open_every_page_without_errors(session):
    """Typed or bookmarked URLs (/interventions...) load with no 404 and no console error.

    Streamlit probes ``/<page>/_stcore/health`` and ``/<page>/_stcore/host-config``
    on a deep link unless the page declares its base URL (app_pages/routes.py);
    the ``session`` fixture fails on any 4xx answer or console error.
    """
    from tests.app_server import PAGES

    for name, path in PAGES.items():
        page = session.open(name)  # a new tab loads the page's own URL
        assert page.url.rstrip("/").endswith(path), page.url
        page.close()
    assert session.failed == [] and session.console_errors == []


def test_server_log_is_clean(session):
    """After every page has run (this test comes last), the server log has no warning."""
    from tests.app_server import PAGES, server_log_problems

    page = session.open("explore")
    for name in PAGES:
        page = session.open(name, page)
    problems = server_log_problems(session.server)
    assert problems == [], session.server.log.read_text(errors="replace")[-6000:]


# --------------------------------------------------------------------------- projector


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720)], ids=["1920x1080", "1280x720"])
def test_codesign_fits_a_projector(session, size):
    """Co-design on a wall: the map fits the screen, type is large, sliders line up."""
    width, height = size
    page = session.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page = session.open("co-design", page)
    frame = map_frame(page)
    wait_overlay(frame)
    wait_idle(page)
    screenshot(page, f"co-design-{width}x{height}", docs=width == 1920)
    # The map, scrolled to under its heading, fits the screen whole.
    heading = page.get_by_role("heading", name="Click the map to propose something")
    heading.evaluate("h => h.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    box = page.locator('iframe[title="streamlit_folium.st_folium"]').first.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (box, size)
    # Sliders: every track on one line, whatever the length of its label.
    tracks = page.locator('[data-testid="stMain"] [data-testid="stSlider"] '
                          'input[type="range"]').locator("xpath=../..")  # the handles
    ys = [tracks.nth(i).bounding_box()["y"] for i in range(tracks.count())]
    assert len(ys) >= 3 and max(ys) - min(ys) < 3, ys
    thumb = tracks.first.bounding_box()
    assert thumb["width"] >= 24 and thumb["height"] >= 24, thumb  # large handles
    # Legends in the map and the "places to talk about" table: large type, nothing cut.
    legend_px = frame.locator(".hotspot-legend").first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")
    assert legend_px >= 19, legend_px
    cell = page.locator('[data-testid="stTable"] td').first
    assert cell.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 19
    cut = page.locator('[data-testid="stTable"] td').evaluate_all(
        "cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).length")
    assert cut == 0
