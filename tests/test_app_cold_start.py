# ruff: noqa: F811 - pytest fixtures are imported from tests.app_server
"""The first visit to Explore on a new server: what a newcomer sees, and when.

Two fresh ``streamlit run app.py`` processes share one empty analysis cache:

* ``first_run``: nothing cached yet, the demo analysis runs (once per install);
* ``cold_process``: a new process, the demo analysis is on disk.

Each opens Explore as soon as the server answers and records the seconds to
the page title, the progress bar, the map's first overlay and an idle page, and
the seconds from starting the server to the map.
The figures go to ``test-artifacts/cold_start.json`` (the committed copy is
``benchmarks/app-cold-start.json``); no figure is asserted (the machine's load
decides them), but the order of events and the cache's use are.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.app_server import (
    ARTIFACTS,
    assert_no_exception,
    map_frame,
    running_server,
    wait_idle,
    wait_overlay,
)
from tests.browser import block_external, chromium_available

pytestmark = [pytest.mark.slow, pytest.mark.browser]


#: Sets ``window.__sawProgress`` once a Streamlit progress bar is in the page.
_WATCH_PROGRESS = """
window.__sawProgress = false;
new MutationObserver((_, observer) => {
  if (document.querySelector('[data-testid="stProgress"]')) {
    window.__sawProgress = true;
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def _first_visit(browser, server) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    blocked = block_external(context)
    errors: list[str] = []
    # Whether a progress bar ever showed, watched by the page itself: waiting for
    # one that never comes would add its timeout to the map's time.
    context.add_init_script(_WATCH_PROGRESS)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    try:
        t0 = time.perf_counter()
        page.goto(server.url + "/")
        page.get_by_role("heading", name="Explore", level=1).wait_for(timeout=180_000)
        t_title = time.perf_counter() - t0
        frame = map_frame(page, timeout=180_000)
        wait_overlay(frame, timeout=180_000)
        t_map = time.perf_counter() - t0
        wait_idle(page, timeout=180_000)
        t_idle = time.perf_counter() - t0
        assert_no_exception(page)
        # The progress bar comes with the title (it may be gone at once when the
        # analysis is already in memory, so only a first run must show it).
        shown_progress = bool(page.evaluate("window.__sawProgress === true"))
        page.get_by_text("How this map was made").click()
        note = page.get_by_text("The demo analysis was").or_(
            page.get_by_text("The analysis was run for this server process"))
        note.first.wait_for(timeout=30_000)
        from_disk = "loaded from this computer's cache" in note.first.inner_text()
        assert blocked == [] and errors == [], (blocked, errors)
        return {"title_s": round(t_title, 2), "map_s": round(t_map, 2),
                "idle_s": round(t_idle, 2), "progress_bar_with_title": shown_progress,
                "analysis_from_cache": from_disk}
    finally:
        context.close()


def test_cold_first_page_figures(browser, tmp_path):
    if not chromium_available():
        pytest.fail("chromium is missing: run 'make test' (installs Debian's chromium)")
    cache = tmp_path / "analysis-cache"
    figures: dict[str, dict] = {}
    for name in ("first_run", "cold_process"):
        folder = tmp_path / name
        folder.mkdir()
        start = time.perf_counter()
        with running_server(folder, cache) as server:
            ready = time.perf_counter() - start
            figures[name] = {"server_ready_s": round(ready, 2), **_first_visit(browser, server)}
        # The server imports the first page's code before it answers: the whole wait
        # from `streamlit run` to the map is recorded too.
        figures[name]["start_to_map_s"] = round(ready + figures[name]["map_s"], 2)
    figures["load_average_1min"] = round(os.getloadavg()[0], 1)  # the machine's business
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cold_start.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    first, cold = figures["first_run"], figures["cold_process"]
    assert first["progress_bar_with_title"], "a first run must show its progress at once"
    # The shell comes first: the title before the map, on both visits.
    assert first["title_s"] < first["map_s"] and cold["title_s"] < cold["map_s"], figures
    # The first run made the cache; the new process used it (no second analysis).
    assert list((cache / "analyses").glob("*.pickle")), "the demo analysis was not kept"
    assert not first["analysis_from_cache"] and cold["analysis_from_cache"], figures
