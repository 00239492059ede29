"""Server start: get the first page's code and the demo ready before the first visitor.

A fresh server process pays, on its first page, for importing the analysis
stack and the map code (geopandas, rasterio, numba, folium, matplotlib, altair:
about 3 s of CPU) and for the demo analysis (a disk-cache load, or a full run
the very first time). The server's lifespan (:func:`warm_up`) imports
:data:`START_MODULES` before the server answers, then starts :func:`prepare`
in a background thread for the analyses; the pages find the modules imported
and the analyses in :mod:`hotspot_env.app.analysis_cache`'s memory. Nothing
here is required: a page that comes first simply waits on the same per-key lock.

Why before the server answers: imports hold the interpreter lock. Run while a
browser loads Streamlit's frontend and the page, they compete with the server
sending it and with the page's own work; done first, the page draws from code
already in memory (issue 18: first page interactive <= 5 s). The server then
answers a few seconds later, and the test records both figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

logger = logging.getLogger("hotspot_env.app")

#: Imported before the server answers: what loading a kept analysis imports
#: (the modules of its result classes), what the first page's map and charts
#: need. Not streamlit_folium itself: a component declared outside a script run
#: is not registered and its frame answers 404; the folium modules it imports
#: are most of its cost.
START_MODULES = (
    "hotspot_env.core.analysis", "hotspot_env.factors", "hotspot_env.models.forecast",
    "hotspot_env.models.rtm", "hotspot_env.interventions", "hotspot_env.temporal.trends",
    "hotspot_env.app.mapview", "hotspot_env.app.places", "hotspot_env.app.emptiness",
    "hotspot_env.temporal.timeslice", "folium.plugins", "folium.elements", "altair",
)

#: Modules only later pages need (Interventions, Co-design): imported once a
#: page has been drawn, so that they do not compete with the first one.
LATER_MODULES = ("hotspot_env.app.scenarios",)


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


def import_start_modules() -> None:
    """Import :data:`START_MODULES`; a failure is logged (the page shows it when it imports)."""
    try:
        _import(START_MODULES)
    except Exception:  # noqa: BLE001 - the server still starts; the page reports the error
        logger.exception("importing the app's modules at start failed")


def prepare(privacy_modes: tuple[str, ...] = ("internal", "public")) -> None:
    """Load the first mode's demo; once a page is drawn, :data:`LATER_MODULES` and the others.

    Unpickling holds the interpreter lock, so what the first page does not need
    waits until it is drawn (or :data:`FIRST_PAGE_TIMEOUT_S`).
    """
    try:
        from hotspot_env.inputs.demo import cached_demo

        cached_demo(privacy=privacy_modes[0])
        FIRST_PAGE_DRAWN.wait(FIRST_PAGE_TIMEOUT_S)
        _import(LATER_MODULES)
        for privacy in privacy_modes[1:]:
            cached_demo(privacy=privacy)
    except Exception:  # noqa: BLE001 - a page will run it again and show the error
        logger.exception("warming up the demo failed; the first page will retry")


@contextlib.asynccontextmanager
async def warm_up(app: Any) -> AsyncIterator[None]:
    """Lifespan of the ``st.App``: import :data:`START_MODULES`, then :func:`prepare` in a thread.

    The server answers only after the imports (a few seconds); the demo analysis
    is loaded (or, the very first time, run) in the background.
    """
    await asyncio.to_thread(import_start_modules)
    threading.Thread(target=prepare, name="hotspot-env-warm-up", daemon=True).start()
    yield
