"""Server start: get the demo ready before the first visitor asks for it.

A fresh server process pays, on its first page, for importing the analysis
stack (scipy, geopandas, rasterio, folium: about 3 s) and for the demo
analysis (a disk-cache load, or a full run the very first time). Started from
the server's lifespan, :func:`prepare` does both in a background thread; the
pages then find the modules imported and the analyses in
:mod:`hotspot_env.app.analysis_cache`'s memory. Nothing here is required: a page
that comes first simply waits on the same per-key lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

logger = logging.getLogger("hotspot_env.app")

#: Modules every first page needs. Not streamlit_folium: a component declared
#: before the runtime exists is not registered, and its frame answers 404.
MODULES = ("hotspot_env.core.analysis", "hotspot_env.app.mapview", "hotspot_env.app.places",
           "hotspot_env.app.emptiness", "hotspot_env.temporal.timeslice",
           "hotspot_env.app.scenarios", "altair")


#: Set when a page has been drawn. The public demo (for Co-design) is loaded
#: only then: unpickling it holds the interpreter lock for a second or more,
#: which would otherwise slow the first visitor's page while it draws its map.
FIRST_PAGE_DRAWN = threading.Event()

#: Longest wait for a first page before the remaining analyses are loaded anyway.
FIRST_PAGE_TIMEOUT_S = 60.0


def page_drawn() -> None:
    """Tell the warm-up that a page has been drawn (called at the end of each page)."""
    FIRST_PAGE_DRAWN.set()


def prepare(privacy_modes: tuple[str, ...] = ("internal", "public")) -> None:
    """Import :data:`MODULES`, load the first mode's demo, the others once a page is drawn."""
    import importlib

    try:
        for name in MODULES:
            importlib.import_module(name)
        from hotspot_env.inputs.demo import cached_demo

        for i, privacy in enumerate(privacy_modes):
            if i == 1:
                FIRST_PAGE_DRAWN.wait(FIRST_PAGE_TIMEOUT_S)
            cached_demo(privacy=privacy)
    except Exception:  # noqa: BLE001 - a page will run it again and show the error
        logger.exception("warming up the demo failed; the first page will retry")


@contextlib.asynccontextmanager
async def warm_up(app: Any) -> AsyncIterator[None]:
    """Lifespan of the ``st.App``: start :func:`prepare` in a daemon thread."""
    threading.Thread(target=prepare, name="hotspot-env-warm-up", daemon=True).start()
    yield
