"""Shared helpers for real-browser tests (Playwright driving Debian's Chromium).

Not a test module. Typical use::

    from playwright.sync_api import sync_playwright
    from tests.browser import block_external, launch_browser

    with sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page()
        blocked = block_external(page)
        page.goto(url)
        ...
        assert blocked == []

The machine running the tests has no internet access, so any request to
another host would hang or fail: :func:`block_external` aborts such requests at
once and records them, turning "the map is blank because Leaflet came from a
CDN" into a clear test failure.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Debian's Chromium; Playwright's own browser downloads are not available offline.
CHROMIUM_PATH = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Hosts a test page may talk to.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

#: URL schemes that never leave the browser.
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "file", "chrome", "chrome-extension"})


def chromium_available() -> bool:
    """Return True if the Chromium executable used by :func:`launch_browser` exists."""
    return Path(CHROMIUM_PATH).exists() or shutil.which("chromium") is not None


def launch_browser(playwright: Any, **kwargs: Any) -> Any:
    """Launch headless Chromium from ``/usr/bin/chromium``.

    Parameters
    ----------
    playwright : playwright.sync_api.Playwright
        The object yielded by ``sync_playwright()``.
    **kwargs
        Extra keyword arguments for ``playwright.chromium.launch``.

    Returns
    -------
    playwright.sync_api.Browser
    """
    return playwright.chromium.launch(
        executable_path=CHROMIUM_PATH,
        args=list(CHROMIUM_ARGS),
        **kwargs,
    )


def is_local_url(url: str) -> bool:
    """Return True if loading ``url`` stays on this machine.

    Parameters
    ----------
    url : str
        Any URL a page requested.

    Returns
    -------
    bool
        True for ``data:``, ``blob:``, ``about:`` (and similar) URLs and for
        URLs whose host is ``127.0.0.1`` or ``localhost``.
    """
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    host = (parts.hostname or "").lower()
    return host in LOCAL_HOSTS


def block_external(page_or_context: Any) -> list[str]:
    """Abort every request that would leave the machine, and record it.

    Parameters
    ----------
    page_or_context : playwright.sync_api.Page or BrowserContext
        Where to install the route (a context covers all its pages, including
        iframes such as Streamlit components).

    Returns
    -------
    list of str
        Filled in while the page runs with the URL of each aborted request;
        a test asserts it is empty.
    """
    blocked: list[str] = []

    def _handle(route: Any) -> None:
        url = route.request.url
        if is_local_url(url):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page_or_context.route("**/*", _handle)
    return blocked
