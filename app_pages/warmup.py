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

#: Modules that loading a kept analysis needs (unpickling imports the modules of
#: its result classes): imported first, then the first mode's demo is loaded.
ANALYSIS_MODULES = ("hotspot_env.core.analysis",)

#: Modules a first page needs to draw its map. Not streamlit_folium itself: a
#: component declared outside a script run is not registered and its frame
#: answers 404; the folium modules it imports are most of its cost.
MAP_MODULES = ("hotspot_env.app.mapview", "hotspot_env.app.places", "hotspot_env.app.emptiness",
               "hotspot_env.temporal.timeslice", "folium.plugins", "folium.elements")

#: Modules the pages need below their map (charts, scenarios): imported once a
#: page has been drawn, so that they do not compete with the first map.
LATER_MODULES = ("altair", "hotspot_env.app.scenarios")


#: Set when a page has been drawn. The public demo (for Co-design) is loaded
#: only then: unpickling it holds the interpreter lock for a second or more,
#: which would otherwise slow the first visitor's page while it draws its map.
FIRST_PAGE_DRAWN = threading.Event()

#: Longest wait for a first page before the remaining analyses are loaded anyway.
FIRST_PAGE_TIMEOUT_S = 60.0


def page_drawn() -> None:
    """Tell the warm-up that a page has been drawn (called at the end of each page)."""
    FIRST_PAGE_DRAWN.set()


def _import(names: tuple[str, ...]) -> None:
    import importlib

    for name in names:
        importlib.import_module(name)


def prepare(privacy_modes: tuple[str, ...] = ("internal", "public")) -> None:
    """Get the first page's analysis and map code ready, then the rest once a page is drawn.

    In order: :data:`ANALYSIS_MODULES`, the first mode's demo, :data:`MAP_MODULES`;
    after the first page (or :data:`FIRST_PAGE_TIMEOUT_S`), :data:`LATER_MODULES`
    and the other modes' demos. Imports and unpickling hold the interpreter lock,
    so whatever the first page does not need waits until it is drawn.
    """
    try:
        _import(ANALYSIS_MODULES)
        from hotspot_env.inputs.demo import cached_demo

        cached_demo(privacy=privacy_modes[0])
        _import(MAP_MODULES)
        FIRST_PAGE_DRAWN.wait(FIRST_PAGE_TIMEOUT_S)
        _import(LATER_MODULES)
        for privacy in privacy_modes[1:]:
            cached_demo(privacy=privacy)
    except Exception:  # noqa: BLE001 - a page will run it again and show the error
        logger.exception("warming up the demo failed; the first page will retry")


@contextlib.asynccontextmanager
async def warm_up(app: Any) -> AsyncIterator[None]:
    """Lifespan of the ``st.App``: start :func:`prepare` in a daemon thread."""
    threading.Thread(target=prepare, name="hotspot-env-warm-up", daemon=True).start()
    yield
