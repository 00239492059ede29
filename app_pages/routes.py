"""Deep links to the app's pages without console errors.

Opened at ``/interventions``, Streamlit's front end does not know whether
``/interventions`` is a page or the app's base URL, so it probes
``/interventions/_stcore/health`` and ``/interventions/_stcore/host-config``
first; both answer 404 and the browser logs two errors
(streamlit/streamlit#7074). The front end skips the probe when the page
declares its base URL in ``window.__streamlit``; these routes serve
Streamlit's own ``index.html`` for each page path with that declaration
added. Nothing else of Streamlit's serving changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

#: URL paths of the pages other than the default one (served at the root).
PAGE_PATHS: tuple[str, ...] = ("explore", "interventions", "co-design", "transparency", "data")

#: Declares the site root as the app's base URL (read by Streamlit's front end
#: before it connects; keys as in Streamlit's ``window.__streamlit`` config).
BASE_URL_SCRIPT = ("<script>window.__streamlit = Object.assign(window.__streamlit || {}, "
                   "{BACKEND_BASE_URL: window.location.origin + '/', "
                   "MAIN_PAGE_BASE_URL: window.location.origin + '/'});</script>")


@lru_cache(maxsize=1)
def page_html() -> str:
    """Streamlit's ``index.html`` with the base-URL declaration first in ``<head>``."""
    from streamlit import file_util

    html = (Path(file_util.get_static_dir()) / "index.html").read_text(encoding="utf-8")
    if "<head>" not in html:  # a Streamlit we do not know: serve it unchanged
        return html
    return html.replace("<head>", "<head>" + BASE_URL_SCRIPT, 1)


async def _page(request: Request) -> HTMLResponse:
    return HTMLResponse(page_html(), headers={"Cache-Control": "no-cache"})


def deep_link_routes(paths: Iterable[str]) -> list[Route]:
    """One GET route per page path (``/interventions``) serving :func:`page_html`."""
    return [Route(f"/{path}", _page, methods=["GET"]) for path in paths]
