"""Fixtures for the app's browser tests: one Streamlit server and one Chromium per session.

Not a test module. Test modules import the fixtures::

    from tests.app_server import app_server, context  # noqa: F401

(the ``browser`` fixture lives in ``tests/conftest.py``: one Playwright per session)

``app_server`` starts ``streamlit run app.py`` on a free loopback port as a
subprocess, waits for ``/_stcore/health`` and stops it (and only it) at the
end. ``context`` is a fresh browser context per test with every request to
another host aborted and recorded; the test fails if any was attempted, if a
page raised a JavaScript error, or if Streamlit showed an exception.

Helpers wait for specific elements (a page's title, the map's image overlay,
the app being idle) rather than sleeping.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser import block_external, chromium_available

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"

#: Page name -> URL path (Explore is the default page, served at the root).
PAGES: dict[str, str] = {
    "explore": "", "interventions": "interventions", "co-design": "co-design",
    "transparency": "transparency", "data": "data",
}

#: Page name -> its title (h1).
TITLES: dict[str, str] = {
    "explore": "Explore", "interventions": "Interventions", "co-design": "Co-design",
    "transparency": "Transparency", "data": "Data",
}

#: How long a first page load may take (it runs the demo analysis).
FIRST_LOAD_MS = 150_000
LOAD_MS = 60_000

pytestmark = pytest.mark.browser


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AppServer:
    """A running ``streamlit run app.py``."""

    url: str
    process: subprocess.Popen
    log: Path
    warm: set[str] = field(default_factory=set)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


@contextlib.contextmanager
def running_server(folder: Path, cache: Path, address: str = "127.0.0.1",
                   env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free port with its log in ``folder``; stopped on exit.

    ``cache`` is the analysis cache folder (``HOTSPOT_ENV_CACHE_DIR``): the
    tests' own, never the user's. The server listens on ``address``; ``env``
    adds to (or overrides) its environment, e.g. ``HOTSPOT_ENV_ACCESS``.
    """
    port = free_port()
    log = folder / "server.log"
    full_env = dict(os.environ, PYTHONUNBUFFERED="1",
                    STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
                    HOTSPOT_ENV_CACHE_DIR=str(cache),
                    HOTSPOT_ENV_AUDIT_LOG=str(folder / "audit.jsonl"))  # not the user's home
    full_env.pop("HOTSPOT_ENV_ACCESS", None)  # by default the laptop run: no sign-in
    full_env.update(env or {})
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", address,
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=full_env,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield AppServer(url, process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the group we started, nothing else
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """``streamlit run app.py`` on a free port, for the whole test session."""
    if not chromium_available():
        pytest.fail("chromium is missing: run 'make test' (installs Debian's chromium)")
    with running_server(tmp_path_factory.mktemp("streamlit"),
                        tmp_path_factory.mktemp("analysis-cache")) as server:
        yield server


@dataclass
class Session:
    """A browser context (one user's session) and what it recorded."""

    context: Any
    server: AppServer
    blocked: list[str]
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def new_page(self) -> Any:
        """A page that records JavaScript and console errors, 4xx/5xx answers, and dialogs."""
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(
            f"{r.status} {r.url}"))

        def _dialog(d: Any) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", _dialog)
        return page

    def open(self, name: str, page: Any = None) -> Any:
        """Open an app page by name and wait until it has rendered.

        Without ``page``, a new tab loads the page's URL (a new Streamlit
        session); with ``page``, the sidebar link is clicked (same session).
        """
        if page is None or page.url == "about:blank":
            page = page or self.new_page()
            page.goto(f"{self.server.url}/{PAGES[name]}")
        else:  # navigate inside the app: a reload would start a new Streamlit session
            page.locator('[data-testid="stSidebarNav"] a', has_text=TITLES[name]).first.click()
        timeout = LOAD_MS if name in self.server.warm else FIRST_LOAD_MS
        page.get_by_role("heading", name=TITLES[name], level=1).wait_for(timeout=timeout)
        wait_idle(page, timeout=timeout)
        self.server.warm.add(name)
        assert_no_exception(page)
        return page


def make_session(browser: Any, server: AppServer) -> Session:
    """A new browser context with external requests blocked."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True)
    blocked = block_external(context)
    return Session(context, server, blocked)


@contextlib.contextmanager
def checked_session(browser: Any, server: AppServer) -> Iterator[Session]:
    """A fresh user session, closed on exit; then fails on external requests, JS errors,
    requests answered with an error and console errors."""
    s = make_session(browser, server)
    try:
        yield s
    finally:
        s.context.close()
    assert s.blocked == [], f"requests to other hosts were attempted: {s.blocked}"
    assert s.errors == [], f"JavaScript errors: {s.errors}"
    assert s.failed == [], f"requests answered with an error: {s.failed}"
    assert s.console_errors == [], f"console errors: {s.console_errors}"


@pytest.fixture
def session(browser: Any, app_server: AppServer) -> Iterator[Session]:
    """A fresh user session; fails on external requests, JS errors or dialogs."""
    with checked_session(browser, app_server) as s:
        yield s


def server_log_problems(server: AppServer) -> list[str]:
    """Lines of the server's log that report a problem: warnings, deprecations, tracebacks."""
    text = server.log.read_text(errors="replace")
    words = ("warning", "deprecat", "will be removed", "traceback", "error")
    return [line for line in text.splitlines() if any(w in line.lower() for w in words)]


def wait_idle(page: Any, timeout: float = LOAD_MS) -> None:
    """Wait until Streamlit has finished running the script (status widget gone, twice).

    A progress bar counts as busy: the app shows one only while it loads.
    """
    page.wait_for_function(
        """() => {
            const busy = document.querySelector('[data-testid="stStatusWidget"]')
                || document.querySelector('[data-stale="true"]')
                || document.querySelector('[data-testid="stSpinner"]')
                || document.querySelector('[data-testid="stProgress"]');
            const now = Date.now();
            if (busy) { window.__idleSince = 0; return false; }
            if (!window.__idleSince) { window.__idleSince = now; return false; }
            return now - window.__idleSince > 600;
        }""", timeout=timeout, polling=150)
    page.evaluate("() => { window.__idleSince = 0; }")


def assert_no_exception(page: Any) -> None:
    """Fail with the message if Streamlit shows an exception box."""
    boxes = page.locator('[data-testid="stException"]')
    if boxes.count():
        raise AssertionError(boxes.first.inner_text()[:2000])


def map_frame(page: Any, index: int = 0, timeout: float = LOAD_MS) -> Any:
    """The ``index``-th st_folium map's frame, once Leaflet and its overlay have loaded."""
    iframes = page.locator('iframe[title="streamlit_folium.st_folium"]')
    iframes.nth(index).wait_for(timeout=timeout)
    frame = iframes.nth(index).element_handle().content_frame()
    frame.wait_for_selector(".leaflet-container", timeout=timeout)
    return frame


def wait_overlay(frame: Any, timeout: float = LOAD_MS) -> None:
    """Wait until a raster image overlay in the map has decoded."""
    frame.wait_for_function(
        """() => Array.from(document.querySelectorAll('img.leaflet-image-layer'))
                   .some(img => img.complete && img.naturalWidth > 0)""",
        timeout=timeout)


def click_map(frame: Any, lat: float, lon: float, expect: Any = None, tries: int = 5) -> None:
    """Send a Leaflet click at a latitude/longitude (what a user's click produces).

    With ``expect`` (a locator), click again until it shows: right after the
    map appears, the component may not be listening yet.
    """
    for attempt in range(tries):
        frame.evaluate(
            """([lat, lon]) => {
                const m = Object.values(window).find(v => v instanceof L.Map);
                m.fire('click', {latlng: L.latLng(lat, lon)});
            }""", [lat, lon])
        if expect is None:
            return
        try:
            expect.wait_for(timeout=12_000)
            return
        except Exception:  # noqa: BLE001 - retried; the last attempt raises
            if attempt == tries - 1:
                raise


def screenshot(page: Any, name: str, docs: bool = True) -> Path:
    """Save the page to test-artifacts/ (tall), and to docs/screenshots/ (top).

    Tests never write tracked files: the README's pictures are refreshed only when
    ``HOTSPOT_ENV_SCREENSHOTS=1`` is set, which ``make screenshots`` does.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"app_{name}.png"
    size = page.viewport_size
    page.locator("h1").first.scroll_into_view_if_needed()
    if docs and os.environ.get("HOTSPOT_ENV_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size({"width": size["width"], "height": 2600})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path
